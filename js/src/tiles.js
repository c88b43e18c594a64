// The thumbnail grid. DOM nodes are kept per index and updated in place; an <img>
// gets a new Blob URL only when its PNG bytes really changed, and the URL it
// replaces is revoked at once, so hundreds of live updates neither flicker nor leak.
import { h } from "./dom.js";
import { bytesEqual, formatActivation, labelName, tileInfo, tileTitle, toBytes } from "./format.js";

// Images this small (an MNIST or CIFAR net's own 28-32 px) are drawn with visible pixels when
// enlarged: smoothing them blurs the very strokes a filter responds to. Larger images, scaled
// by a fraction, stay smooth (nearest-neighbour would make their pixels uneven).
export const PIXELATED_UP_TO = 48;

export function showPixelsWhenSmall(img) {
  img.addEventListener("load", () => {
    img.classList.toggle("actmax-grid__img--pixels", img.naturalWidth > 0 && img.naturalWidth <= PIXELATED_UP_TO);
  });
  return img;
}

function createTile(index) {
  const img = showPixelsWhenSmall(h("img", { class: "actmax-grid__img", alt: "", draggable: "false" }));
  const badge = h("span", { class: "actmax-grid__badge", "aria-hidden": "true" }, "dead");
  const label = h("span", { class: "actmax-grid__label" });
  const activation = h("span", { class: "actmax-grid__act", "aria-hidden": "true" });
  const atlas = h("span", { class: "actmax-grid__atlas", "aria-hidden": "true" }, "atlas");
  const button = h(
    "button",
    { type: "button", class: "actmax-grid__tile", "data-index": index },
    h("span", { class: "actmax-grid__thumb" }, img, badge, atlas, activation),
    h("span", { class: "actmax-grid__caption" }, label),
  );
  return { button, img, label, activation, bytes: null, blob: null, url: null, info: null };
}

function createPlaceholder() {
  const label = h("span", { class: "actmax-grid__label" });
  const bar = h("span", { class: "actmax-grid__bar" });
  const element = h(
    "div",
    { class: "actmax-grid__tile actmax-grid__tile--placeholder", "aria-hidden": "true" },
    h("span", { class: "actmax-grid__thumb" }),
    h("span", { class: "actmax-grid__caption" }, label, bar),
  );
  return { element, label, bar };
}

export class TileGrid {
  /** `onOpen(index)` is called when a tile is clicked or activated with Enter. */
  constructor(onOpen) {
    this.tiles = [];
    this.placeholders = [];
    this.element = h("div", { class: "actmax-grid__tiles", role: "group", "aria-label": "Filter visualizations" });
    this.element.addEventListener("click", (event) => {
      const button = event.target.closest?.(".actmax-grid__tile[data-index]");
      if (button) onOpen(Number(button.dataset.index));
    });
    this.element.addEventListener("keydown", (event) => {
      const button = event.target.closest?.(".actmax-grid__tile[data-index]");
      if (!button || event.key !== "Enter") return;
      // Handled here (not via the button's implicit click) so a notebook's own
      // Enter shortcut never sees it.
      event.preventDefault();
      event.stopPropagation();
      onOpen(Number(button.dataset.index));
    });
  }

  get length() {
    return this.tiles.length;
  }

  tile(index) {
    return this.tiles[index];
  }

  update(pngs, infos, layer) {
    const count = pngs.length;
    while (this.tiles.length > count) this.removeTile(this.tiles.pop());
    if (count > 0) this.showPlaceholders(0);
    for (let i = 0; i < count; i++) {
      if (i === this.tiles.length) {
        this.tiles.push(createTile(i));
        this.element.append(this.tiles[i].button);
      }
      this.updateTile(this.tiles[i], toBytes(pngs[i]), tileInfo(infos, i), layer);
    }
  }

  updateTile(tile, bytes, info, layer) {
    if (bytes && !bytesEqual(bytes, tile.bytes)) {
      const blob = new Blob([bytes], { type: "image/png" });
      const url = URL.createObjectURL(blob);
      tile.img.src = url;
      if (tile.url) URL.revokeObjectURL(tile.url);
      Object.assign(tile, { bytes, blob, url });
    }
    tile.info = info;
    tile.label.textContent = info.label;
    tile.label.title = info.label; // long class names are clamped to two lines
    tile.activation.textContent = info.activation === null ? "" : formatActivation(info.activation);
    tile.button.title = tileTitle(layer, info);
    const name = labelName(info);
    tile.button.setAttribute(
      "aria-label",
      `${layer || "layer"}, filter ${info.filter}` +
        (name !== String(info.filter) ? `, ${name}` : "") +
        (info.copy !== null ? `, copy ${info.copy}` : "") +
        (info.dead ? ", dead" : "") +
        (info.precomputed ? ", precomputed from the atlas" : ""),
    );
    tile.button.classList.toggle("actmax-grid__tile--dead", info.dead);
    tile.button.classList.toggle("actmax-grid__tile--precomputed", info.precomputed);
  }

  removeTile(tile) {
    if (tile.url) URL.revokeObjectURL(tile.url);
    tile.button.remove();
  }

  /**
   * Shimmering stand-ins for the requested tiles while the run prepares, so the grid shows at
   * once what is coming and the page does not jump when the tiles arrive; captioned with
   * `labels` (the filters) where given.
   */
  showPlaceholders(count, labels = []) {
    if (this.tiles.length > 0) count = 0;
    while (this.placeholders.length > count) this.placeholders.pop().element.remove();
    while (this.placeholders.length < count) {
      const placeholder = createPlaceholder();
      this.placeholders.push(placeholder);
      this.element.append(placeholder.element);
    }
    this.placeholders.forEach(({ label, bar }, i) => {
      label.textContent = labels[i] ?? "";
      label.hidden = !label.textContent;
      bar.hidden = !label.hidden;
    });
  }

  destroy() {
    while (this.tiles.length) this.removeTile(this.tiles.pop());
    this.showPlaceholders(0);
  }
}

