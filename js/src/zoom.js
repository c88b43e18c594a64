// The enlarged view of one tile: a modal <dialog> inside the widget's DOM (so it keeps
// the widget's theme variables) with the large image, its numbers, the activation
// history chart, a download button, and the way to several diverse images of the filter
// (or back to its page). It follows the tile live while a run goes on.
import { createChart } from "./chart.js";
import { h, icon, ICONS } from "./dom.js";
import { formatActivation, labelName } from "./format.js";
import { showPixelsWhenSmall } from "./tiles.js";

let dialogCount = 0;

function iconButton(label, title, paths) {
  return h("button", { type: "button", class: "actmax-grid__icon-button", "aria-label": label, title }, icon(...paths));
}

export class ZoomView {
  /**
   * `onNavigate(delta)` moves to the previous/next tile, `onDownload()` saves the shown
   * tile, `onDiverse()` asks for diverse images of the shown tile's filter, `onPage()` for
   * the page of filters a diverse copy belongs to, and `onClose()` runs after the dialog
   * closed (to return focus to its tile).
   */
  constructor({ onNavigate, onDownload, onDiverse, onPage, onClose }) {
    const id = `actmax-grid-zoom-${++dialogCount}`;
    this.index = -1;
    this.onClose = onClose;
    this.title = h("span", { class: "actmax-grid__zoom-title", id: `${id}-title` });
    this.subtitle = h("span", { class: "actmax-grid__zoom-subtitle" });
    this.image = showPixelsWhenSmall(h("img", { class: "actmax-grid__zoom-img", alt: "" }));
    this.deadNote = h(
      "p",
      { class: "actmax-grid__zoom-dead" },
      "Dead filter: it never activated for any input tried, so there is nothing to maximize.",
    );
    this.activation = h("span", { class: "actmax-grid__zoom-value" });
    this.filter = h("dd", {});
    this.labelTerm = h("dt", {}, "Label");
    this.label = h("dd", {});
    this.layer = h("dd", {});
    this.copyTerm = h("dt", {}, "Copy");
    this.copy = h("dd", {});
    this.chart = createChart("Activation over optimization steps");
    this.closeButton = iconButton("Close", "Close (Esc)", ICONS.close);
    this.previous = iconButton("Previous filter", "Previous (←)", ICONS.previous);
    this.next = iconButton("Next filter", "Next (→)", ICONS.next);
    this.download = h(
      "button",
      { type: "button", class: "actmax-grid__button actmax-grid__button--primary" },
      icon(...ICONS.download),
      "Download PNG",
    );
    this.diverse = h("button", { type: "button", class: "actmax-grid__button actmax-grid__zoom-diverse" });
    this.diverseText = h("span", {});
    this.diverse.append(icon(...ICONS.diverse), this.diverseText);
    this.page = h(
      "button",
      {
        type: "button",
        class: "actmax-grid__button actmax-grid__zoom-page",
        title: "Run the page of filters this one is on",
      },
      icon(...ICONS.back),
      "Back to page",
    );

    this.element = h(
      "dialog",
      { class: "actmax-grid__dialog", "aria-labelledby": `${id}-title`, "aria-modal": "true" },
      h(
        "div",
        { class: "actmax-grid__zoom" },
        h(
          "div",
          { class: "actmax-grid__zoom-head" },
          h("div", { class: "actmax-grid__zoom-heading" }, this.title, this.subtitle),
          h("div", { class: "actmax-grid__zoom-nav" }, this.previous, this.next, this.closeButton),
        ),
        h(
          "div",
          { class: "actmax-grid__zoom-body" },
          h("div", { class: "actmax-grid__zoom-frame" }, this.image),
          h(
            "div",
            { class: "actmax-grid__zoom-side" },
            h(
              "div",
              { class: "actmax-grid__zoom-metric" },
              h("span", { class: "actmax-grid__zoom-metric-label" }, "activation"),
              this.activation,
            ),
            this.deadNote,
            h(
              "dl",
              { class: "actmax-grid__zoom-facts" },
              h("dt", {}, "Layer"),
              this.layer,
              h("dt", {}, "Filter"),
              this.filter,
              this.labelTerm,
              this.label,
              this.copyTerm,
              this.copy,
            ),
            h("div", { class: "actmax-grid__zoom-chart" }, this.chart.element),
            (this.actions = h("div", { class: "actmax-grid__zoom-actions" }, this.diverse, this.page, this.download)),
          ),
        ),
      ),
    );

    this.closeButton.addEventListener("click", () => this.close());
    this.previous.addEventListener("click", () => onNavigate(-1));
    this.next.addEventListener("click", () => onNavigate(1));
    this.download.addEventListener("click", () => onDownload());
    this.diverse.addEventListener("click", () => onDiverse());
    this.page.addEventListener("click", () => onPage());
    this.element.addEventListener("cancel", (event) => {
      event.preventDefault();
      this.close();
    });
    // A click on the backdrop lands on the <dialog> itself, outside the padded content.
    this.element.addEventListener("click", (event) => {
      if (event.target === this.element) this.close();
    });
    this.element.addEventListener("keydown", (event) => {
      // Keys stay inside the widget, so notebook shortcuts never fire behind the dialog.
      event.stopPropagation();
      if (event.key === "Escape") {
        event.preventDefault();
        this.close();
      } else if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
        event.preventDefault();
        onNavigate(event.key === "ArrowLeft" ? -1 : 1);
      }
    });
  }

  get isOpen() {
    return this.index >= 0;
  }

  open(index) {
    this.index = index;
    if (!this.element.open) {
      if (typeof this.element.showModal === "function" && this.element.isConnected) this.element.showModal();
      else this.element.setAttribute("open", "");
    }
    this.closeButton.focus();
  }

  /** Adds a button to the enlarged view's actions (after Download PNG). */
  addAction(button) {
    this.actions.append(button);
  }

  close() {
    if (!this.isOpen) return;
    const index = this.index;
    this.index = -1;
    if (typeof this.element.close === "function") this.element.close();
    this.element.removeAttribute("open");
    this.onClose(index);
  }

  /**
   * Shows `tile` ({ url, info }) of `count` tiles, with its activation `series`; a tile of
   * one filter offers `copies` diverse images of it (none when 0), a diverse copy its page.
   */
  update({ tile, count, layer, kind, series, copies = 0, previous = false }) {
    const { info } = tile;
    const name = labelName(info);
    const plain = name === String(info.filter);
    const copyMark = info.copy === null ? "" : ` · #${info.copy}`;
    this.title.textContent = (plain ? `Filter ${info.filter}` : name) + copyMark;
    this.subtitle.textContent = [layer, kind, previous && "previous layer"].filter(Boolean).join(" · ");
    if (tile.url && this.image.getAttribute("src") !== tile.url) this.image.src = tile.url;
    this.image.alt = `Visualization of ${layer || "layer"} filter ${info.filter}`;
    this.activation.textContent = formatActivation(info.activation);
    this.layer.textContent = layer || "—";
    this.filter.textContent = String(info.filter);
    this.label.textContent = name;
    this.labelTerm.hidden = this.label.hidden = plain;
    this.copy.textContent = `${info.copy} of ${count} diverse images`;
    this.copyTerm.hidden = this.copy.hidden = info.copy === null;
    this.diverse.hidden = info.copy !== null || copies < 1;
    this.diverseText.textContent = `${copies} diverse images`;
    this.diverse.title = `Run ${copies} different images of filter ${info.filter}, pushed apart from each other`;
    this.page.hidden = info.copy === null;
    this.deadNote.hidden = !info.dead;
    this.element.classList.toggle("actmax-grid__dialog--dead", info.dead);
    this.previous.disabled = count < 2;
    this.next.disabled = count < 2;
    this.chart.update(series);
  }
}
