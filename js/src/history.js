import { toBytes } from "./format.js";

/**
 * One tile's activation over steps from the `history` trait: float32 little-endian,
 * row-major (steps, tiles). Reads at most the rows that are really present, so a
 * `history_steps` that runs ahead of the bytes never reads past the end.
 */
export function historySeries(history, steps, tileCount, index) {
  const bytes = toBytes(history);
  if (!bytes || tileCount <= 0 || index < 0 || index >= tileCount) return [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const available = Math.floor(bytes.byteLength / 4 / tileCount);
  const rows = steps > 0 ? Math.min(steps, available) : available;
  const series = new Array(rows);
  for (let step = 0; step < rows; step++) {
    series[step] = view.getFloat32((step * tileCount + index) * 4, true);
  }
  return series;
}
