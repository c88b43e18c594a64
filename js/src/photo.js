// Photo mode: the user's photo beside the synthetic images. A bar above the tiles shows the
// photo (as the model sees it), the model's top-5 predictions and what the maps mean; each tile
// gets a second thumbnail, its filter's heatmap laid over the photo; the enlarged view shows
// photo, heatmap (and saliency for a dense unit) and synthetic image side by side, each named.
// Class names and file names are user data: text only, never HTML.
import { h } from "./dom.js";
import { labelName, toBytes } from "./format.js";
import { PngImage } from "./png_image.js";
import { showPixelsWhenSmall } from "./tiles.js";

export const PHOTO_TRAITS = ["photo", "photo_views", "predictions", "photo_status"];

/** "62%", "0.4%" or "<0.1%": a probability as people read it. */
export function formatProbability(value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "—";
  const percent = value * 100;
  if (percent >= 9.95) return `${Math.round(percent)}%`;
  if (percent >= 0.1) return `${percent.toFixed(1)}%`;
  return "<0.1%";
}

/** The photo views of the tiles' layer, by filter (a view of another layer is stale). */
export function viewsByFilter(views, layer) {
  const byFilter = new Map();
  for (const view of Array.isArray(views) ? views : []) {
    if (view && Number.isInteger(view.filter) && view.layer === layer) byFilter.set(view.filter, view);
  }
  return byFilter;
}

/** A conv filter that does not fire anywhere on the photo (its map is all cold). */
function silent(view) {
  return view.fires === false;
}

/** What the enlarged view's heatmap shows, by the view's kind. */
function heatCaption(view, what) {
  if (view.kind === "grad-cam") return `Grad-CAM: where the photo shows ${what}`;
  if (view.kind === "saliency") return `Saliency: the pixels that change ${what} most`;
  if (silent(view)) return `${what[0].toUpperCase()}${what.slice(1)} does not fire anywhere on your photo`;
  return `Where ${what} fires on your photo`;
}

function figure(image, caption) {
  return h("figure", { class: "actmax-photo__figure" }, h("span", { class: "actmax-photo__frame" }, image), caption);
}

export class PhotoView {
  /** `onToggle()` runs when "Show on the tiles" changes (the grid re-renders its tiles). */
  constructor({ onToggle } = {}) {
    // Filled on the first photo: a widget without one has no photo elements at all.
    this.element = h("section", { class: "actmax-photo", "aria-label": "Your photo", hidden: true });
    this.onToggle = onToggle;
    this.bar = null;
    this.strip = null;
    this.tiles = []; // per tile index: { button, thumb, image }
  }

  buildBar() {
    const bar = {
      photo: new PngImage({ class: "actmax-photo__img", alt: "Your photo, as the model sees it" }),
      status: h("p", { class: "actmax-photo__status" }),
      predictions: h("ol", { class: "actmax-photo__predictions", "aria-label": "The model's top predictions on your photo" }),
      toggle: h("input", { type: "checkbox", checked: true }),
    };
    bar.predictionsBox = h(
      "div",
      { class: "actmax-photo__predictions-box" },
      h("span", { class: "actmax-photo__predictions-title" }, "The model sees"),
      bar.predictions,
    );
    bar.thumb = h(
      "figure",
      { class: "actmax-photo__thumb" },
      h("span", { class: "actmax-photo__frame" }, bar.photo.element),
      h("figcaption", {}, "Your photo"),
    );
    this.element.append(
      bar.thumb,
      h(
        "div",
        { class: "actmax-photo__info" },
        bar.status,
        bar.predictionsBox,
        h("label", { class: "actmax-photo__toggle" }, bar.toggle, "Show on the tiles"),
      ),
    );
    bar.toggle.addEventListener("change", () => this.onToggle?.());
    return bar;
  }

  buildStrip(zoom) {
    const strip = {
      photo: new PngImage({ class: "actmax-photo__zoom-img", alt: "Your photo" }),
      heat: new PngImage({ class: "actmax-photo__zoom-img" }),
      saliency: new PngImage({ class: "actmax-photo__zoom-img" }),
      synthetic: showPixelsWhenSmall(h("img", { class: "actmax-photo__zoom-img", draggable: "false" })),
      heatCaption: h("figcaption", {}),
      saliencyCaption: h("figcaption", {}),
      syntheticCaption: h("figcaption", {}),
    };
    strip.saliencyFigure = figure(strip.saliency.element, strip.saliencyCaption);
    strip.element = h(
      "div",
      { class: "actmax-photo__strip" },
      figure(strip.photo.element, h("figcaption", {}, "Your photo")),
      figure(strip.heat.element, strip.heatCaption),
      strip.saliencyFigure,
      figure(strip.synthetic, strip.syntheticCaption),
    );
    zoom.element.querySelector(".actmax-grid__zoom-body")?.before(strip.element);
    return strip;
  }

  get showOnTiles() {
    return this.bar ? this.bar.toggle.checked : true;
  }

  /** The bar and the tiles' photo thumbnails, from the model's photo traits. */
  update(model, grid) {
    const photo = toBytes(model.get("photo"));
    const hasPhoto = Boolean(photo && photo.byteLength);
    const status = model.get("photo_status") || "";
    // A status alone (the photo could not be shown: why) keeps the bar, without a picture.
    this.element.hidden = !hasPhoto && !status;
    if (!this.element.hidden && !this.bar) this.bar = this.buildBar();
    if (this.bar) this.updateBar(this.bar, model, hasPhoto ? photo : null);
    const views = hasPhoto && this.showOnTiles ? viewsByFilter(model.get("photo_views"), model.get("layer_name") || "") : new Map();
    this.updateTiles(grid, views);
  }

  updateBar(bar, model, photo) {
    bar.photo.show(photo);
    bar.thumb.hidden = !photo;
    bar.status.textContent = model.get("photo_status") || "";
    const predictions = photo && Array.isArray(model.get("predictions")) ? model.get("predictions") : [];
    bar.predictions.replaceChildren(
      ...predictions.map((p) =>
        h(
          "li",
          { class: "actmax-photo__prediction" },
          h("span", { class: "actmax-photo__class" }, String(p.name ?? p.index)),
          h("span", { class: "actmax-photo__probability" }, formatProbability(p.probability)),
        ),
      ),
    );
    bar.predictionsBox.hidden = predictions.length === 0;
  }

  updateTiles(grid, views) {
    while (this.tiles.length > grid.length) this.removeThumb(this.tiles.pop());
    let shown = 0;
    for (let i = 0; i < grid.length; i++) {
      const tile = grid.tile(i);
      const view = views.get(tile.info.filter);
      let thumb = this.tiles[i];
      if (thumb && thumb.button !== tile.button) {
        this.removeThumb(thumb);
        thumb = this.tiles[i] = undefined;
      }
      if (!view) {
        if (thumb) this.removeThumb(thumb);
        this.tiles[i] = undefined;
        continue;
      }
      if (!thumb) thumb = this.tiles[i] = this.addThumb(tile.button);
      thumb.image.show(view.heatmap);
      thumb.image.element.alt = silent(view) ? `${labelName(tile.info)} does not fire on your photo` : `Where ${labelName(tile.info)} fires on your photo`;
      thumb.tag.textContent = silent(view) ? "photo · silent" : "photo";
      shown++;
    }
    grid.element.classList.toggle("actmax-photo--tiles", shown > 0);
  }

  addThumb(button) {
    const image = new PngImage({ class: "actmax-grid__img actmax-photo__tile-img" });
    const tag = h("span", { class: "actmax-grid__act actmax-photo__tag" }, "photo");
    const thumb = h("span", { class: "actmax-grid__thumb actmax-photo__tile-thumb" }, image.element, tag);
    button.querySelector(".actmax-grid__thumb")?.after(thumb);
    button.classList.add("actmax-photo__tile");
    return { button, thumb, image, tag };
  }

  removeThumb(thumb) {
    if (!thumb) return;
    thumb.image.clear();
    thumb.thumb.remove();
    thumb.button.classList.remove("actmax-photo__tile");
  }

  /**
   * The enlarged view of `tile`: photo, heatmap (+ saliency for a dense unit) and synthetic image
   * side by side, above the view's own body; hidden without a map for the tile.
   */
  updateZoom(zoom, tile, model) {
    const photo = toBytes(model.get("photo"));
    const view =
      tile && photo && photo.byteLength ? viewsByFilter(model.get("photo_views"), model.get("layer_name") || "").get(tile.info.filter) : undefined;
    zoom.element.classList.toggle("actmax-photo__dialog", Boolean(view));
    if (!view && !this.strip) return;
    const strip = this.strip || (this.strip = this.buildStrip(zoom));
    strip.element.hidden = !view;
    if (!view) {
      for (const image of [strip.photo, strip.heat, strip.saliency]) image.clear();
      return;
    }
    const name = labelName(tile.info);
    const what = name === String(tile.info.filter) ? `filter ${tile.info.filter}` : `‘${name}’`;
    const withSaliency = view.kind === "grad-cam" && Boolean(toBytes(view.saliency)?.byteLength);
    strip.photo.show(photo);
    strip.heat.show(view.heatmap);
    strip.saliency.show(withSaliency ? view.saliency : null);
    strip.saliencyFigure.hidden = !withSaliency;
    strip.heatCaption.textContent = heatCaption(view, what);
    strip.saliencyCaption.textContent = `Saliency: the pixels that change ${what} most`;
    strip.syntheticCaption.textContent = `Synthetic: what excites ${what} most`;
    strip.heat.element.alt = strip.heatCaption.textContent;
    strip.saliency.element.alt = strip.saliencyCaption.textContent;
    strip.synthetic.alt = strip.syntheticCaption.textContent;
    if (tile.url && strip.synthetic.getAttribute("src") !== tile.url) strip.synthetic.src = tile.url;
  }

  destroy() {
    while (this.tiles.length) this.removeThumb(this.tiles.pop());
    this.bar?.photo.clear();
    if (this.strip) for (const image of [this.strip.photo, this.strip.heat, this.strip.saliency]) image.clear();
    this.strip?.element.remove();
    this.element.remove();
  }
}
