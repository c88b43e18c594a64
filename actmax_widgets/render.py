"""From arrays to pictures: PNG bytes, labelled grids, GIFs. numpy and Pillow only."""
from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def to_uint8(image) -> np.ndarray:
    """An image as ``uint8`` ``(H, W, 3)``; float images are taken to be in ``[0, 255]``."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = np.clip(np.round(image), 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    if image.ndim == 2 + 1 and image.shape[-1] not in (3, 4):
        image = np.repeat(image.mean(axis=-1, keepdims=True).astype(np.uint8), 3, axis=-1)
    return image


def from_range(image, input_range) -> np.ndarray:
    """An image in ``input_range`` mapped linearly to uint8 0..255 (no contrast stretch)."""
    low, high = (float(v) for v in input_range)
    scaled = (np.asarray(image, "float32") - low) / (high - low) * 255.0
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


def with_alpha(image, alpha, background=255) -> np.ndarray:
    """``image`` faded towards ``background`` (255 white, 0 black) where ``alpha`` ((H, W) in
    [0, 1], e.g. MACO's ``ActMaxResult.alpha``) is low: uint8 (H, W, min(C, 3)) (colour stays
    (H, W, 3), a 1-channel image (H, W, 1)), the feature alone."""
    image = to_uint8(image)[..., :3].astype("float32")
    alpha = np.asarray(alpha, "float32")
    if alpha.shape != image.shape[:2]:
        raise ValueError(f"alpha has shape {alpha.shape}; the image is {image.shape[:2]}: pass one "
                         "(H, W) mask per image, as ActMaxResult.alpha holds.")
    alpha = np.clip(alpha, 0.0, 1.0)[..., None]
    return np.round(image * alpha + float(background) * (1.0 - alpha)).astype(np.uint8)


def to_png(image) -> bytes:
    """PNG bytes of one image (what the widget sends to the browser)."""
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(image)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _font(size):
    # matplotlib (a dependency) ships DejaVu Sans, which has the "·" and "—" of our captions;
    # Pillow's built-in font does not.
    try:
        from matplotlib import font_manager

        return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)
    except (ImportError, OSError, ValueError):
        return ImageFont.load_default(size=size)


def labelled_grid(images, labels=None, cols=None, title=None, tile_size=None, margin=8,
                  background=(255, 255, 255), text_colour=(40, 40, 40)) -> np.ndarray:
    """Images in a grid with a caption under each and an optional title; ``(H, W, 3)`` uint8.

    ``tile_size`` resizes each image (nearest neighbour up, so pixels stay visible on a handout).
    """
    images = [to_uint8(image)[..., :3] for image in images]
    if not images:
        raise ValueError("No images to put in a grid.")
    n = len(images)
    cols = cols or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    h, w = images[0].shape[:2]
    if tile_size:
        scale = tile_size / max(h, w)
        h, w = int(round(h * scale)), int(round(w * scale))
    label_height = 0 if labels is None else max(14, h // 9) + 6
    title_height = 0 if title is None else max(18, w // 7) + 10
    canvas = Image.new("RGB", (cols * w + (cols + 1) * margin,
                               title_height + rows * (h + label_height) + (rows + 1) * margin), background)
    draw = ImageDraw.Draw(canvas)
    if title is not None:
        size = title_height - 10
        while size > 9 and draw.textlength(str(title), font=_font(size)) > canvas.width - 2 * margin:
            size -= 1  # a long title shrinks to the grid's width rather than being cut off
        draw.text((margin, margin // 2 + 2), _fit(draw, str(title), _font(size), canvas.width - 2 * margin),
                  fill=text_colour, font=_font(size))
    font = _font(max(11, label_height - 8))
    for index, image in enumerate(images):
        row, col = divmod(index, cols)
        left = margin + col * (w + margin)
        top = title_height + margin + row * (h + label_height + margin)
        tile = Image.fromarray(image)
        if tile.size != (w, h):
            tile = tile.resize((w, h), Image.NEAREST if w > tile.size[0] else Image.LANCZOS)
        canvas.paste(tile, (left, top))
        if labels is not None:
            text = _fit(draw, str(labels[index]), font, w)
            text_w = draw.textlength(text, font=font)
            draw.text((left + (w - text_w) / 2, top + h + 2), text, fill=text_colour, font=font)
    return np.asarray(canvas)


# Grids of a small net's images (MNIST 28 px, CIFAR 32 px) are enlarged to at least this size, by
# a whole factor so every pixel stays a sharp square: at their own size a caption such as
# "Egyptian cat" does not fit under a tile and the strokes are too small to see on a handout.
READABLE_TILE = 96


def readable_tile_size(images):
    """The ``tile_size`` for ``labelled_grid`` that makes small images readable, else None."""
    side = max(np.asarray(images[0]).shape[:2]) if len(images) else READABLE_TILE
    return side * math.ceil(READABLE_TILE / side) if side < READABLE_TILE else None


def _fit(draw, text, font, width):
    if draw.textlength(text, font=font) <= width:
        return text
    while len(text) > 1 and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def save_png(image, path):
    """Write one image (e.g. a grid) as a PNG file."""
    Image.fromarray(to_uint8(image)).save(path, format="PNG")


ANIMATION_FORMATS = {".gif": "GIF", ".webp": "WEBP"}


def animation_bytes(frames, image_format="GIF", duration_ms=80) -> bytes:
    """Frames as the bytes of a looping animated GIF or WebP (the last frame held longer, so the
    finished images can be seen before the loop starts again)."""
    frames = [Image.fromarray(to_uint8(frame)[..., :3]) for frame in frames]
    if not frames:
        raise ValueError("No frames to write.")
    durations = [duration_ms] * (len(frames) - 1) + [max(duration_ms, 1500)]
    buffer = io.BytesIO()
    extra = {"lossless": True} if image_format == "WEBP" else {}
    frames[0].save(buffer, format=image_format, save_all=True, append_images=frames[1:],
                   duration=durations, loop=0, **extra)
    return buffer.getvalue()


def animation_format(path) -> str:
    """Pillow's format for an animation file: WebP for a ``.webp`` path, else GIF."""
    suffix = str(path).lower().rsplit(".", 1)[-1] if "." in str(path) else ""
    return ANIMATION_FORMATS.get(f".{suffix}", "GIF")


def save_gif(frames, path, duration_ms=80):
    """Write frames as a looping animation: WebP for a ``.webp`` path, else GIF."""
    data = animation_bytes(frames, animation_format(path), duration_ms)  # before opening: a failure keeps the file
    with open(path, "wb") as file:
        file.write(data)
