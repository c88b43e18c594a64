// "Save grid" and "Download PNG": compose the tiles with their labels onto one canvas
// and hand the browser a file. Drawn with fixed light colours so a saved grid reads
// the same on slides whatever theme it was saved from.
import { fileSafe, formatActivation } from "./format.js";

const PAD = 20;
const GAP = 12;
const TITLE_H = 46;
const CAPTION_H = 34;
const MIN_CELL = 96;
const MAX_CELL = 256;

/** Canvas size and the top-left corner of every cell, for `count` tiles in `columns` columns. */
export function gridLayout(count, columns, cell) {
  const cols = Math.max(1, Math.min(columns || Math.ceil(Math.sqrt(count)), count || 1));
  const rows = Math.max(1, Math.ceil(count / cols));
  const cells = [];
  for (let i = 0; i < count; i++) {
    const col = i % cols;
    const row = Math.floor(i / cols);
    cells.push({ x: PAD + col * (cell + GAP), y: PAD + TITLE_H + row * (cell + CAPTION_H + GAP) });
  }
  return {
    width: PAD * 2 + cols * cell + (cols - 1) * GAP,
    height: PAD * 2 + TITLE_H + rows * (cell + CAPTION_H) + (rows - 1) * GAP,
    cells,
  };
}

export function gridFileName(layer) {
  return `actmax_${fileSafe(layer)}.png`;
}

export function tileFileName(layer, filter, copy = null) {
  return `actmax_${fileSafe(layer)}_filter${filter}${copy === null ? "" : `_copy${copy}`}.png`;
}

/** Offers `blob` as a download named `filename`. */
export function downloadBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.style.display = "none";
  document.body.append(link);
  link.click();
  link.remove();
  // Revoke later: some browsers start reading the URL only after click() returns.
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
}

async function decode(blob) {
  if (typeof createImageBitmap === "function") return createImageBitmap(blob);
  const url = URL.createObjectURL(blob);
  try {
    const image = new Image();
    image.src = url;
    await image.decode();
    return image;
  } finally {
    URL.revokeObjectURL(url);
  }
}

function fitText(context, text, width) {
  if (context.measureText(text).width <= width) return text;
  let end = text.length;
  while (end > 0 && context.measureText(`${text.slice(0, end)}…`).width > width) end--;
  return `${text.slice(0, end)}…`;
}

/**
 * Draws the grid onto a new canvas. `tiles` is [{ blob, info }] with info from tileInfo().
 * Cells are as large as the PNGs themselves (clamped), so the file keeps their resolution.
 */
export async function composeGrid({ tiles, layer, kind, columns, fontFamily }) {
  const images = await Promise.all(tiles.map((tile) => decode(tile.blob)));
  const natural = Math.max(...images.map((image) => image.width || 0), MIN_CELL);
  const cell = Math.min(MAX_CELL, natural);
  const layout = gridLayout(tiles.length, columns, cell);
  const canvas = document.createElement("canvas");
  canvas.width = layout.width;
  canvas.height = layout.height;
  const context = canvas.getContext("2d");
  const font = fontFamily || "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif";

  context.fillStyle = "#ffffff";
  context.fillRect(0, 0, layout.width, layout.height);
  context.textBaseline = "alphabetic";
  context.fillStyle = "#1f2328";
  context.font = `600 18px ${font}`;
  const title = layer || "actmax";
  context.fillText(fitText(context, title, layout.width - PAD * 2), PAD, PAD + 20);
  if (kind) {
    const titleWidth = context.measureText(title).width;
    context.font = `13px ${font}`;
    context.fillStyle = "#656d76";
    context.fillText(kind, PAD + titleWidth + 10, PAD + 20);
  }

  tiles.forEach(({ info }, i) => {
    const { x, y } = layout.cells[i];
    context.save();
    context.beginPath();
    context.roundRect?.(x, y, cell, cell, 8) ?? context.rect(x, y, cell, cell);
    context.clip();
    context.imageSmoothingQuality = "high";
    context.globalAlpha = info.dead ? 0.35 : 1;
    context.drawImage(images[i], x, y, cell, cell);
    context.restore();

    const right = info.dead ? "dead" : formatActivation(info.activation);
    context.textAlign = "right";
    context.font = `12px ${font}`;
    context.fillStyle = info.dead ? "#cf222e" : "#656d76";
    context.fillText(right, x + cell, y + cell + 19);
    const rightWidth = context.measureText(right).width;
    context.textAlign = "left";
    context.font = `500 13px ${font}`;
    context.fillStyle = "#1f2328";
    context.fillText(fitText(context, info.label, cell - rightWidth - 8), x, y + cell + 19);
  });
  images.forEach((image) => image.close?.());
  return canvas;
}

export function canvasToBlob(canvas) {
  return new Promise((resolve, reject) =>
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("canvas is empty"))), "image/png"),
  );
}
