// "Download GIF": the kernel keeps a few frames of every image over the run
// (ActMaxResult.save_gif); the front end asks for an animation and saves the bytes it gets back.
// The request names the tile's position, not its filter: diverse copies share a filter.
import { h, icon, ICONS } from "./dom.js";
import { fileSafe } from "./format.js";
import { downloadBlob } from "./save.js";

const FINISHED = new Set(["done", "stopped"]);

export function gifFileName(layer, filter = null) {
  return `actmax_${fileSafe(layer)}${filter === null ? "" : `_filter${filter}`}.gif`;
}

export class GifDownloads {
  /** `model`: the grid's anywidget model (sends requests, receives the bytes). */
  constructor(model) {
    this.model = model;
    this.buttons = [];
    this.onMessage = (content, buffers) => this.receive(content, buffers);
    model.on("msg:custom", this.onMessage);
  }

  /** A button that asks for the animation `request()` describes ({position} or {} for the grid). */
  button(text, title, request) {
    const button = h("button", { type: "button", class: "actmax-grid__button actmax-grid__gif", title }, icon(...ICONS.download), text);
    button.dataset.title = title;
    button.addEventListener("click", () => {
      const asked = request();
      if (!asked) return;
      button.disabled = true;
      button.dataset.waiting = "true";
      this.model.send({ type: "gif", ...asked });
    });
    this.buttons.push(button);
    return button;
  }

  /** Enabled once a run has finished (or was stopped) with images: frames exist only then. */
  update(state, tileCount) {
    for (const button of this.buttons) {
      if (button.dataset.waiting === "true") continue;
      button.disabled = !(FINISHED.has(state) && tileCount > 0);
    }
  }

  receive(content, buffers) {
    if (!content || content.type !== "gif") return;
    for (const button of this.buttons) {
      delete button.dataset.waiting;
      button.disabled = false;
      // A refusal (no frames kept) is said on the button that asked, as its tooltip and label.
      button.title = content.error ? content.error : button.dataset.title;
      button.classList.toggle("actmax-grid__gif--refused", Boolean(content.error));
    }
    if (content.error || !buffers?.length) return;
    downloadBlob(new Blob([buffers[0]], { type: "image/gif" }), gifFileName(this.model.get("layer_name"), content.filter ?? null));
  }

  destroy() {
    this.model.off("msg:custom", this.onMessage);
  }
}
