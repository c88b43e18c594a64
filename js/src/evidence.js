// Evidence beside each synthetic image (issue #14): the natural patches that excite the
// filter most (each with its activation), the sanity badges (what each means in a tooltip),
// "Accentuate a photo", the grid's "Natural examples" toggle putting each filter's top patch
// under its tile, and the scan's status line with its Stop. Text from the kernel (image
// names, tooltips, status) only ever goes through textContent and attributes.
import { h } from "./dom.js";
import { formatActivation, toBytes } from "./format.js";
import { PngImage } from "./png_image.js";
import { showPixelsWhenSmall } from "./tiles.js";

const BADGE_NAMES = { superstimulus: "Superstimulus", specificity: "Specificity", noise: "Noise" };
const BUSY = new Set(["scanning", "accentuating"]);

/**
 * One tile's evidence entry with defaults, so a short or missing list never breaks rendering.
 * With the tile's `info` (and the tiles' `layer`), an entry of another filter (or layer) counts
 * as none: entries are matched by position, and the tiles can change without a run (an atlas's).
 */
export function evidenceEntry(evidence, index, info = null, layer = undefined) {
  const found = (Array.isArray(evidence) && evidence[index]) || {};
  const sameLayer = found.layer === undefined || layer === undefined || found.layer === layer;
  const entry = !info || (found.filter === info.filter && sameLayer) ? found : {};
  const list = (value) => (Array.isArray(value) ? value : []);
  return {
    patches: list(entry.patches),
    activations: list(entry.activations),
    sources: list(entry.sources),
    badges: list(entry.badges).filter((badge) => badge && typeof badge === "object"),
    accentuation: entry.accentuation && typeof entry.accentuation === "object" ? entry.accentuation : null,
  };
}

/** A PngImage for a natural patch: sharp pixels when it is small. */
function patchImage(attrs) {
  const image = new PngImage({ alt: "", ...attrs });
  showPixelsWhenSmall(image.element);
  return image;
}

function figure(caption) {
  const image = patchImage({ class: "actmax-evidence__patch-img" });
  const value = h("figcaption", { class: "actmax-evidence__patch-value" });
  const element = h("figure", { class: "actmax-evidence__patch" }, image.element, value);
  if (caption) value.textContent = caption;
  return { element, image, value };
}

/** The badges of one synthetic image: name and value, with what it means as a tooltip. */
export class BadgeRow {
  constructor() {
    this.element = h("div", { class: "actmax-evidence__badges", role: "list", "aria-label": "Sanity signals" });
  }

  update(badges) {
    this.element.replaceChildren(
      ...badges.map((badge) => {
        const name = BADGE_NAMES[badge.name] ?? String(badge.name ?? "");
        const level = badge.level === "warn" ? "warn" : "ok";
        const tooltip = String(badge.tooltip ?? "");
        return h(
          "span",
          {
            class: `actmax-evidence__badge actmax-evidence__badge--${level}`,
            role: "listitem",
            tabindex: 0,
            title: tooltip,
            "data-tooltip": tooltip,
            "aria-label": `${name} ${badge.text ?? ""}: ${tooltip}`,
          },
          h("span", { class: "actmax-evidence__badge-name" }, name),
          h("span", { class: "actmax-evidence__badge-text" }, String(badge.text ?? "")),
        );
      }),
    );
    this.element.hidden = badges.length === 0;
  }
}

/**
 * The enlarged view's evidence: the natural examples strip and "Accentuate a photo".
 * `onScan()` asks for the scan, `onAccentuate(buffer | null)` accentuates the shown filter in
 * an uploaded file's bytes or (null) the widget's current photo.
 */
export class EvidenceView {
  constructor({ onScan, onAccentuate }) {
    this.heading = h("h3", { class: "actmax-evidence__heading" });
    this.note = h("p", { class: "actmax-evidence__note" });
    this.scan = h("button", { type: "button", class: "actmax-grid__button actmax-evidence__scan" }, "Find natural examples");
    this.strip = h("div", { class: "actmax-evidence__strip", role: "list" });
    this.figures = [];
    this.fileInput = h("input", { type: "file", accept: "image/png,image/jpeg,image/*", hidden: true });
    this.upload = h(
      "button",
      { type: "button", class: "actmax-grid__button actmax-evidence__upload", title: "Upload a photo and raise this filter in it" },
      "Accentuate a photo…",
    );
    this.current = h(
      "button",
      { type: "button", class: "actmax-grid__button actmax-evidence__current", title: "Raise this filter in the widget's current photo" },
      "Accentuate the current photo",
    );
    this.accentText = h("p", { class: "actmax-evidence__accent-text" });
    this.accentImages = []; // made with the first accentuation: no empty images before
    this.accentResult = h("div", { class: "actmax-evidence__accent-result", hidden: true });
    this.accent = h(
      "div",
      { class: "actmax-evidence__accent" },
      h("div", { class: "actmax-evidence__accent-actions" }, this.upload, this.current, this.fileInput),
      this.accentText,
      this.accentResult,
    );
    this.element = h(
      "section",
      { class: "actmax-evidence" },
      h("div", { class: "actmax-evidence__head" }, this.heading, this.scan),
      this.note,
      this.strip,
      this.accent,
    );
    this.scan.addEventListener("click", () => onScan());
    this.upload.addEventListener("click", () => this.fileInput.click());
    this.current.addEventListener("click", () => onAccentuate(null));
    this.fileInput.addEventListener("change", async () => {
      const file = this.fileInput.files?.[0];
      this.fileInput.value = "";
      if (file) onAccentuate(await file.arrayBuffer());
    });
  }

  /** Shows `entry` (evidenceEntry) of `filter`; `state` is the scan's, `hasPhoto` whether the
   * widget holds a current photo, `accentuable` whether the layer's filters can be raised in a
   * photo (a conv layer: accentuation changes the photo where the filter looks). */
  update({ entry, filter, state, hasPhoto, accentuable = true }) {
    const count = entry.patches.length;
    const unit = accentuable ? `filter ${filter}` : `unit ${filter}`;
    this.heading.textContent = count
      ? `Natural ${accentuable ? "image patches" : "images"} that excite ${unit} most`
      : `Natural examples of ${unit}`;
    this.scan.hidden = count > 0 || BUSY.has(state);
    // A conv filter's figure above is the synthetic image's mean over positions; a patch's is
    // its strongest position's: said, so 0.48 under 0.18 is not read as "the photo wins".
    const patchNote = accentuable
      ? "Each patch is the part of a photo this filter sees at its strongest position, with the filter’s activation there (the activation above is the synthetic image’s mean over all positions)."
      : "Each image is a whole photo, with this unit’s activation on it.";
    this.note.textContent = count
      ? patchNote
      : BUSY.has(state)
        ? "Scanning natural images…"
        : "Not scanned yet: find the photos that excite this filter most, to compare with the synthetic image.";
    while (this.figures.length > count) {
      const gone = this.figures.pop();
      gone.image.clear();
      gone.element.remove();
    }
    while (this.figures.length < count) {
      const item = figure();
      item.element.setAttribute("role", "listitem");
      this.figures.push(item);
      this.strip.append(item.element);
    }
    this.figures.forEach((item, k) => {
      item.image.show(entry.patches[k]);
      const source = entry.sources[k] === undefined ? "" : String(entry.sources[k]);
      item.value.textContent = formatActivation(entry.activations[k]);
      item.element.title = `#${k + 1} · activation ${formatActivation(entry.activations[k])}${source ? ` · ${source}` : ""}`;
      item.image.element.alt = `Natural patch ${k + 1}${source ? ` from ${source}` : ""}`;
    });
    this.strip.hidden = count === 0;

    this.accent.hidden = !accentuable;
    this.current.hidden = !hasPhoto;
    this.upload.disabled = this.current.disabled = BUSY.has(state);
    const made = entry.accentuation;
    this.accentResult.hidden = !made;
    this.accentText.textContent = made
      ? `Filter ${filter} accentuated in your photo: activation ${formatActivation(made.start_activation)} → ${formatActivation(made.activation)}`
      : "Raise this filter in a photo of yours while keeping it close to the photo: shows what it looks for there.";
    if (!made) return;
    if (!this.accentImages.length) {
      this.accentImages = ["your photo", "accentuated", "where it changed"].map((caption) => figure(caption));
      this.accentResult.append(...this.accentImages.map((item) => item.element));
    }
    [made.photo, made.image, made.change].forEach((png, k) => this.accentImages[k].image.show(png));
  }

  destroy() {
    for (const item of [...this.figures, ...this.accentImages]) item.image.clear();
  }
}

/** The grid's line about the scan ("finding natural examples: 16 of 32 images…") and its Stop. */
export class EvidenceBar {
  constructor({ onStop }) {
    this.text = h("span", { class: "actmax-evidence__status-text" });
    this.stop = h(
      "button",
      { type: "button", class: "actmax-grid__button actmax-evidence__stop", title: "Stop scanning; the examples found so far are kept" },
      "Stop",
    );
    this.element = h("div", { class: "actmax-evidence__status", "aria-live": "polite", hidden: true }, this.text, this.stop);
    this.stop.addEventListener("click", () => onStop());
  }

  update(state, status) {
    this.element.hidden = !status;
    this.element.dataset.state = state;
    this.text.textContent = status;
    this.stop.hidden = state !== "scanning";
  }
}

/** The header's toggle: each filter's top natural patch under its tile. */
export function naturalToggle(onChange) {
  const button = h(
    "button",
    {
      type: "button",
      class: "actmax-grid__button actmax-evidence__toggle",
      "aria-pressed": "false",
      title: "Show each filter's top natural image patch under its tile",
    },
    "Natural examples",
  );
  button.addEventListener("click", () => onChange(button.getAttribute("aria-pressed") !== "true"));
  return {
    element: button,
    update(on) {
      button.setAttribute("aria-pressed", String(on));
    },
  };
}

// Each tile's patch element, kept with the tile it belongs to (the grid reuses tiles by index).
const underTiles = new Map();

/** Puts (or takes away) each tile's top natural patch and its activation under the tile. */
export function showNaturalPatches(tileGrid, evidence, on, layer = undefined) {
  const live = new Set();
  for (let i = 0; i < tileGrid.length; i++) {
    const tile = tileGrid.tile(i);
    live.add(tile);
    const entry = evidenceEntry(evidence, i, tile.info, layer);
    const shown = on && entry.patches.length > 0;
    let under = underTiles.get(tile);
    if (!under && !shown) continue;
    if (!under) {
      const image = patchImage({ class: "actmax-evidence__under-img" });
      const value = h("span", { class: "actmax-evidence__under-value" });
      const text = h("span", { class: "actmax-evidence__under-text" }, "natural", value);
      const element = h("span", { class: "actmax-evidence__under" }, image.element, text);
      under = { image, value, element };
      underTiles.set(tile, under);
      tile.button.append(element);
    }
    under.element.hidden = !shown;
    if (!shown) continue;
    under.image.show(entry.patches[0]);
    under.value.textContent = formatActivation(entry.activations[0]);
    under.element.title = `The natural patch that excites filter ${tile.info.filter} most` +
      (entry.sources[0] === undefined ? "" : ` (${entry.sources[0]})`);
  }
  for (const [tile, under] of underTiles) {
    if (!live.has(tile) && !tile.button.isConnected) {
      under.image.clear();
      underTiles.delete(tile);
    }
  }
}

/** The traits the evidence reads (`photo` is photo mode's: the widget's current photo). */
export const EVIDENCE_TRAITS = ["evidence", "show_natural", "evidence_state", "evidence_status", "photo"];

/**
 * The grid's evidence: the scan's status line (`bar`), the header's toggle (`toggle`), the
 * patches under the tiles, and the enlarged view's badges and evidence section, which it
 * places in `zoom` itself (badges above the dead-filter note, the section under the body).
 */
export class GridEvidence {
  constructor(model, tileGrid, zoom) {
    this.model = model;
    this.tileGrid = tileGrid;
    this.zoom = zoom;
    this.bar = new EvidenceBar({ onStop: () => model.send({ type: "evidence-stop" }) });
    this.toggle = naturalToggle((on) => {
      model.set("show_natural", on);
      model.save_changes();
    });
    this.badges = new BadgeRow();
    this.view = new EvidenceView({
      onScan: () => model.send({ type: "evidence-scan" }),
      onAccentuate: (buffer) => {
        const tile = tileGrid.tile(zoom.index);
        if (tile) model.send({ type: "accentuate", filter: tile.info.filter }, undefined, buffer ? [buffer] : []);
      },
    });
    zoom.deadNote.before(this.badges.element);
    zoom.element.firstElementChild.append(this.view.element);
  }

  update() {
    const model = this.model;
    this.bar.update(model.get("evidence_state") || "idle", model.get("evidence_status") || "");
    this.toggle.update(Boolean(model.get("show_natural")));
    this.toggle.element.disabled = this.tileGrid.length === 0;
    showNaturalPatches(this.tileGrid, model.get("evidence"), Boolean(model.get("show_natural")),
      model.get("layer_name"));
  }

  updateZoom() {
    const tile = this.tileGrid.tile(this.zoom.index);
    if (!tile) return;
    const entry = evidenceEntry(this.model.get("evidence"), this.zoom.index, tile.info, this.model.get("layer_name"));
    this.badges.update(entry.badges);
    this.view.update({
      entry,
      filter: tile.info.filter,
      state: this.model.get("evidence_state") || "idle",
      hasPhoto: Boolean(toBytes(this.model.get("photo"))?.byteLength),
      accentuable: !String(this.model.get("layer_kind") || "").startsWith("dense"),
    });
  }

  destroy() {
    this.view.destroy();
    showNaturalPatches(this.tileGrid, [], false);
  }
}
