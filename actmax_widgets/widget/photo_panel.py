"""The widget's photo mode: "where does the network look in *my* photo?".

``PhotoPanel`` is the row under the controls with the upload button, and the thread that turns
the photo into what the grid shows beside each tile:

- a conv layer: where each tile's filter fires on the photo (``attribution.activation_maps``,
  upsampled and laid over the photo);
- a dense (class) layer: Grad-CAM and saliency of each tile's unit on the photo
  (``attribution.grad_cam`` / ``saliency_maps``);
- and, for a classifier, the model's top-5 predictions with their class names.

The maps follow the tiles on screen (the layer and filters of the latest Run), so a map always
sits beside the synthetic image of the same filter. They are computed off the kernel's main
thread, like a run (a photo takes a forward pass or a few gradients: under a second on the
embedded model, but longer than a click should block), the newest request replacing one still
waiting. The grid (``GridWidget``) gets PNG bytes: ``photo``, ``photo_views``, ``predictions``,
``photo_status``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import html
import threading

import ipywidgets as w
import numpy as np

from .. import attribution, catalogue, model_cut, photos, render

# The side the photo is computed at when the model takes any size: ImageNet's, at which most
# pretrained nets see objects at the scale they learned.
ANY_SIZE_SIDE = 224
# The photo and its heatmaps as sent to the browser: sharp in the enlarged view, yet 16 tiles'
# overlays stay around a megabyte per update.
DISPLAY_SIDE = 192
# Larger uploads are refused before decoding: a photo this heavy is a scan or not a photo, and
# the comm would carry it whole to the kernel for a model that looks at a few hundred pixels.
MAX_UPLOAD_BYTES = 20 * 2**20
_SIGNATURES = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG"}
ACCEPT = ".png,.jpg,.jpeg,image/png,image/jpeg"
TOP_K = 5


def check_upload(name, content) -> bytes:
    """``content`` of an uploaded file if it is a PNG or JPEG of at most ``MAX_UPLOAD_BYTES``;
    else a ValueError naming the file, what it is and what to upload instead."""
    content = bytes(content)
    if len(content) > MAX_UPLOAD_BYTES:
        raise ValueError(f"'{name}' is {len(content) / 2**20:.1f} MB, more than the "
                         f"{MAX_UPLOAD_BYTES // 2**20} MB accepted: upload a smaller PNG or JPEG "
                         "(the model sees a few hundred pixels per side).")
    if not any(content.startswith(signature) for signature in _SIGNATURES):
        raise ValueError(f"'{name}' is not a PNG or JPEG image (it starts {content[:8]!r}): "
                         "upload a photo saved as .png or .jpg.")
    return content


@dataclasses.dataclass(frozen=True)
class PhotoViews:
    """What the grid shows for one photo and one set of tiles (``compute_views``)."""

    photo_png: bytes
    views: list  # per distinct filter: {"filter", "layer", "kind", "heatmap": png[, "fires"][, "saliency": png]}
    predictions: list  # {"index", "name", "probability"}, best first; empty for a non-classifier
    status: str


def model_side(model):
    """``(height, width)`` the model sees a photo at: its own size, else ``ANY_SIZE_SIDE``."""
    size, _ = model_cut.input_image_size(model)
    if len(size) != 2:
        raise ValueError(f"Model '{model.name}' takes {len(size)}-D inputs: photo mode needs images (H, W, C).")
    return tuple(int(side) for side in size) if None not in size else (ANY_SIZE_SIDE, ANY_SIZE_SIDE)


def _display_size(size):
    """The model's size scaled so its longer side is ``DISPLAY_SIDE`` (same aspect, same crop)."""
    scale = DISPLAY_SIDE / max(size)
    return tuple(max(1, round(side * scale)) for side in size)


def _overlay(display, heat):
    """``heat`` (H, W) in 0..1 at the model's size, upsampled and laid over ``display``, as PNG."""
    heat = photos.fit_photo(np.asarray(heat, "float32")[..., None], display.shape[:2])[..., 0]
    return render.to_png(attribution.heatmap_overlay(display, np.clip(heat, 0.0, 1.0)))


def _normalized(maps):
    """Each map scaled to 0..1 by its own 99th percentile, clipped: saliency has no fixed scale,
    and scaled by its peak (a few pixels) the rest of the map would all look cold."""
    maps = np.asarray(maps, "float32")
    tops = np.percentile(maps.reshape(len(maps), -1), 99, axis=1).reshape(-1, 1, 1)
    return np.clip(np.divide(maps, tops, out=np.zeros_like(maps), where=tops > 0), 0.0, 1.0)


def is_classifier(model) -> bool:
    """True when the model's (single) output is a vector of class scores: top-5 make sense."""
    shape = tuple(model.outputs[0].shape) if len(model.outputs) == 1 else ()
    return len(shape) == 2 and (shape[-1] or 0) > 1


def compute_views(model, layer_info, targets, photo, *, labels=None) -> PhotoViews:
    """The overlays of ``photo`` (uint8 (H, W, 3)) for the tiles of ``targets`` of ``layer_info``.

    Grad-CAM and saliency of a softmax class are always of its logit, as Grad-CAM's authors
    take the score before the softmax (a probability rises by lowering the other classes, so its
    gradient is as much about them): "linear output (logits)" says what a Run maximizes and does
    not change the maps. ``labels`` (the widget's class names, e.g. passed by the user) name the
    predictions. ``targets`` may be empty (no tiles yet): then only the photo and the predictions.
    When the predictions or the maps fail, the rest still comes, with the reason as the status.
    """
    size = model_side(model)
    _, channels = model_cut.input_image_size(model)
    seen = photos.fit_photo(photos.load_photo(photo, channels=int(channels or 3)), size)
    display = photos.fit_photo(photo, _display_size(size)).round().clip(0, 255).astype("uint8")
    from .actmax_widget import readable_error

    predictions, failed = [], ""
    try:
        if is_classifier(model):
            predictions = [{"index": int(index), "name": str(labels[index] if labels and index < len(labels) else name),
                            "probability": float(probability)}
                           for index, name, probability in attribution.top_predictions(model, seen, k=TOP_K)]
    except Exception as error:  # noqa: BLE001 - the photo and maps stand; the status says why
        failed = f" (the top-{TOP_K} predictions failed: {readable_error(error)})"
    filters = list(dict.fromkeys(int(target) for target in targets))
    if not filters:
        return PhotoViews(render.to_png(display), [], predictions,
                          "Press Run: each tile will then show where its filter looks on this photo." + failed)
    try:
        views, status = _maps(model, layer_info, filters, seen, display)
    except Exception as error:  # noqa: BLE001 - the photo and predictions stand; the status says why
        views, status = [], f"The maps on your photo failed: {readable_error(error)}"
    return PhotoViews(render.to_png(display), views, predictions, status + failed)


def _maps(model, layer_info, filters, seen, display):
    """``(views, status)``: each filter's map of ``seen`` laid over ``display``. A view's ``kind``
    says what its heatmap is: ``activation``, ``grad-cam`` (then ``saliency`` too) or ``saliency``."""
    layer = layer_info.name
    if layer_info.kind == "conv2d":
        maps = attribution.activation_maps(model, layer, filters, seen)
        # "fires": False for a filter silent on the whole photo (its map is all 0, i.e. all blue).
        return ([{"filter": f, "layer": layer, "kind": "activation", "heatmap": _overlay(display, heat),
                  "fires": bool(heat.max() > 0)} for f, heat in zip(filters, maps)],
                f"Where each filter of {layer} fires on your photo (red: strongest)")
    if layer_info.kind != "dense":
        return [], f"{layer} is a {layer_info.kind} layer: its maps have no place on a 2-D photo."
    # One photo for many units: one map per unit, in one batched call each.
    saliency = _normalized(attribution.saliency_maps(model, layer, filters, seen, logits=True))
    try:
        cams = attribution.grad_cam(model, layer, filters, seen, logits=True)
    except ValueError as error:  # e.g. no conv or pooling layer before the unit: saliency alone
        # (the fix the message ends with, penultimate_layer=, is no setting of the widget)
        return ([{"filter": f, "layer": layer, "kind": "saliency", "heatmap": _overlay(display, sal)}
                 for f, sal in zip(filters, saliency)],
                f"Saliency of each unit of {layer} on your photo. No Grad-CAM: {str(error).split(': pass')[0]}.")
    return ([{"filter": f, "layer": layer, "kind": "grad-cam", "heatmap": _overlay(display, cam),
              "saliency": _overlay(display, sal)} for f, cam, sal in zip(filters, cams, saliency)],
            f"Grad-CAM of each unit of {layer} on your photo: the regions that raise its score")


def _maps_of(request):
    """What a request's maps depend on (not its steps, style, seed or linear output: see
    ``compute_views``)."""
    return request.layer, tuple(request.targets)


class _Latest:
    """One background thread running the newest submitted task; a task still waiting when a newer
    one comes is dropped (only the latest photo and tiles matter). A task that raises is handed
    to ``on_error`` and the thread goes on: dying, it would stay marked as running, and no later
    task would ever start (photo mode off for good)."""

    def __init__(self, name, on_error=None):
        self._name = name
        self._on_error = on_error
        self._lock = threading.Lock()
        self._pending = None
        self._thread = None
        self.closed = False

    def submit(self, task):
        with self._lock:
            if self.closed:
                return
            self._pending = task
            if self._thread is None:
                self._thread = threading.Thread(target=self._drain, name=self._name, daemon=True)
                self._thread.start()

    def _drain(self):
        while True:
            with self._lock:
                task, self._pending = self._pending, None
                if task is None:
                    self._thread = None
                    return
            try:
                task()
            except Exception as error:  # noqa: BLE001 - a worker has no caller to raise to
                with contextlib.suppress(Exception):  # a failing report must not end the loop either
                    if self._on_error is not None:
                        self._on_error(error)

    def wait(self, timeout=None):
        """Block until no task runs or waits (at most ``timeout`` seconds)."""
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def shutdown(self, timeout=None):
        with self._lock:
            self.closed = True
            self._pending = None
        self.wait(timeout)


class PhotoPanel:
    """The upload row of ``ActMaxWidget`` and the maps its grid shows for the photo."""

    def __init__(self, widget):
        self.widget = widget
        self.upload = w.FileUpload(accept=ACCEPT, multiple=False, description="Upload photo", icon="upload",
                                   tooltip="A PNG or JPEG: see where each filter fires on it",
                                   layout=w.Layout(width="150px"))
        self.clear = w.Button(description="Remove photo", icon="times", layout=w.Layout(width="140px"),
                              tooltip="Back to the synthetic images alone")
        self.message = w.HTML()
        self.box = w.HBox([w.HTML('<div style="text-align:right;padding-right:8px">My photo</div>',
                                  layout=w.Layout(width="118px")), self.upload, self.clear, self.message],
                          layout=w.Layout(align_items="center", flex_flow="row wrap"))
        self._photo = None
        self._request = None  # the run whose tiles the maps are for (None: no Run yet)
        self._generation = 0  # raised by every change: a late result for an older one is dropped
        self._worker = _Latest("actmax-photo", on_error=self._failed)
        self.upload.observe(lambda _: self._uploaded(), "value")
        self.clear.on_click(lambda _: self.set_photo(None))
        self._show_clear()

    @property
    def photo(self):
        """The photo as uint8 ``(H, W, 3)``, or None."""
        return self._photo

    def set_photo(self, photo, argument="photo"):
        """Show ``photo`` (path, bytes, PIL image or array; None removes it): ValueError/TypeError
        naming ``argument`` for what is not a photo, before anything changes."""
        array = None if photo is None else photos.load_photo(photo, channels=3, argument=argument)
        self._photo = None if array is None else array.round().clip(0, 255).astype("uint8")
        self.message.value = ""
        self._show_clear()
        self._refresh(photo_changed=True)

    def follow(self, request):
        """The grid now shows ``request``'s tiles (a Run): maps for its layer and filters (kept
        as they are when those are the same as the last run's)."""
        previous, self._request = self._request, request
        if previous is None or _maps_of(previous) != _maps_of(request):
            self._refresh(photo_changed=False)

    def wait(self, timeout=None):
        """Block until the maps for the current photo and tiles are on the grid."""
        self._worker.wait(timeout)

    def shutdown(self, timeout=None):
        self._worker.shutdown(timeout)

    def _show_clear(self):
        self.clear.layout.display = None if self._photo is not None else "none"

    def _uploaded(self):
        files = self.upload.value
        if not files:
            return
        upload = files[-1]
        name = str(upload.get("name") or "the file")
        try:
            content = check_upload(name, upload.get("content") or b"")
            self.set_photo(content, argument=name)
            self.message.value = (f'<span style="color:var(--jp-ui-font-color2,#757575)">'
                                  f'{html.escape(name)}</span>')
        except (TypeError, ValueError) as error:  # escaped: the message quotes the file's name
            self.message.value = (f'<span style="color:var(--jp-error-color1,#d32f2f)">'
                                  f'{html.escape(str(error))}</span>')
        finally:
            self.upload.value = ()  # the same file chosen again is a new upload

    def _refresh(self, photo_changed):
        """Clear what no longer holds at once, then compute the new maps in the background."""
        self._generation += 1
        generation, photo, request = self._generation, self._photo, self._request
        waiting = None if photo is None else "computing the maps on your photo…"
        self._publish(generation, photo=b"" if photo_changed or photo is None else None, views=[],
                      predictions=[] if photo_changed or photo is None else None, status=waiting or "")
        if photo is None:
            return
        widget = self.widget

        def task():
            if generation != self._generation:
                return
            try:
                info = catalogue.describe_layer(widget.model, request.layer) if request else None
                views = compute_views(widget.model, info, request.targets if request else (), photo,
                                      labels=widget.controls.labels)
            except Exception as error:  # noqa: BLE001 - a worker has no caller: the grid says it
                self._failed(error, generation)
                return
            self._publish(generation, photo=views.photo_png, views=views.views, predictions=views.predictions,
                          status=views.status)

        self._worker.submit(task)

    def _failed(self, error, generation=None):
        """The status says why the maps for ``generation`` (default: the current one) failed."""
        from .actmax_widget import readable_error

        self._publish(self._generation if generation is None else generation,
                      status=f"The maps on your photo failed: {readable_error(error)}")

    def _publish(self, generation, **traits):
        """Set the grid's photo traits given (None: leave as is) in one message, unless a newer
        photo or run has come meanwhile."""
        grid = self.widget.grid
        names = {"photo": "photo", "views": "photo_views", "predictions": "predictions", "status": "photo_status"}
        with self.widget._listener._lock, grid.hold_sync():
            if generation != self._generation:
                return
            for key, value in traits.items():
                if value is not None:
                    setattr(grid, names[key], value)
