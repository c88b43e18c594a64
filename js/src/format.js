// Small value helpers shared by the tiles, the enlarged view and the saved grid.

/** Activation as shown to people: two decimals, exponent form for extremes, "—" if unknown. */
export function formatActivation(value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "—";
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude >= 1e4 || magnitude < 1e-2)) return value.toExponential(2);
  return value.toFixed(2);
}

/** A layer name reduced to characters that are safe in a download file name. */
export function fileSafe(name) {
  const cleaned = String(name ?? "")
    .replace(/[^A-Za-z0-9_.-]+/g, "_")
    .replace(/^[_.]+|_+$/g, "");
  return cleaned || "grid";
}

/** Bytes traits arrive as DataView (anywidget), but accept any binary view or buffer. */
export function toBytes(value) {
  if (!value) return null;
  if (value instanceof Uint8Array) return value;
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  return null;
}

export function bytesEqual(a, b) {
  if (a === b) return true;
  if (!a || !b || a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** One tile's description with defaults, so a short or missing tile_info never breaks rendering. */
export function tileInfo(infos, index) {
  const info = (Array.isArray(infos) && infos[index]) || {};
  const filter = Number.isInteger(info.filter) ? info.filter : index;
  return {
    filter,
    label: info.label === undefined || info.label === null ? String(filter) : String(info.label),
    activation: typeof info.activation === "number" ? info.activation : null,
    dead: Boolean(info.dead),
    copy: Number.isInteger(info.copy) ? info.copy : null,
    precomputed: Boolean(info.precomputed), // read from a built atlas, not computed by this run
  };
}

/** The label without a diverse copy's " · #2" suffix: the filter as text or its class name. */
export function labelName(info) {
  const suffix = ` · #${info.copy}`;
  return Number.isInteger(info.copy) && info.label.endsWith(suffix) ? info.label.slice(0, -suffix.length) : info.label;
}

/** "block3_conv1 · filter 12 · activation 1.23" — the tile tooltip. */
export function tileTitle(layer, info) {
  const parts = [layer || "layer", `filter ${info.filter}`, `activation ${formatActivation(info.activation)}`];
  const name = labelName(info);
  if (name !== String(info.filter)) parts.push(name);
  if (Number.isInteger(info.copy)) parts.push(`diverse copy #${info.copy}`);
  if (info.dead) parts.push("dead (never activates)");
  if (info.precomputed) parts.push("precomputed (from the atlas)");
  return parts.join(" · ");
}
