// actmax_widgets' live filter grid: an anywidget front-end for GridWidget.
// Header (layer, status, progress, Save grid), the thumbnail grid, and an enlarged
// view per tile. Every model value is read in one coalesced update per message.
import { RunClock } from "./clock.js";
import { h, icon, ICONS } from "./dom.js";
import { EVIDENCE_TRAITS, GridEvidence } from "./evidence.js";
import { GifDownloads } from "./gif.js";
import { historySeries } from "./history.js";
import { canvasToBlob, composeGrid, downloadBlob, gridFileName, tileFileName } from "./save.js";
import { TileGrid } from "./tiles.js";
import { ZoomView } from "./zoom.js";
import { PHOTO_TRAITS, PhotoView } from "./photo.js";

const TRAITS = [
  "tiles",
  "tile_info",
  "layer_name",
  "layer_kind",
  "next_layer",
  "history",
  "history_steps",
  "state",
  "progress",
  "status",
  "run_id",
  "error",
  "tile_size",
  "columns",
  "placeholder_count",
  "placeholder_labels",
  "diverse_copies",
  ...EVIDENCE_TRAITS,
  ...PHOTO_TRAITS,
];

const STATE_LABELS = {
  idle: "",
  preparing: "Preparing",
  compiling: "Compiling",
  running: "Running",
  done: "Done",
  stopped: "Stopped",
  error: "Error",
};

const BUSY_STATES = new Set(["preparing", "compiling", "running"]);

const EMPTY_HINTS = {
  idle: "Choose a layer and filters, then press Run",
  done: "The run finished without images.",
  stopped: "Stopped before the first snapshot.",
};

function render({ model, el }) {
  const layerName = h("span", { class: "actmax-grid__layer" });
  const layerKind = h("span", { class: "actmax-grid__kind" });
  const saveButton = h(
    "button",
    { type: "button", class: "actmax-grid__button", title: "Download all tiles with their labels as one PNG" },
    icon(...ICONS.download),
    "Save grid",
  );
  const gifs = new GifDownloads(model);
  const gridGif = gifs.button("GIF", "Download the run as an animated GIF of the whole grid", () => ({}));
  const stateBadge = h("span", { class: "actmax-grid__state" });
  const statusText = h("span", { class: "actmax-grid__status-text" });
  // Outside the live region: a screen reader should not read out every second.
  const elapsed = h("span", { class: "actmax-grid__elapsed", title: "Time since Run" });
  const statusLine = h(
    "div",
    { class: "actmax-grid__status" },
    h("span", { class: "actmax-grid__status-live", "aria-live": "polite", "aria-atomic": "true" }, stateBadge, statusText),
    elapsed,
  );
  const clock = new RunClock(() => {
    elapsed.textContent = clock.text();
  });
  // Shown when the picker has moved to another layer: the tiles keep their own layer's name.
  const staleNote = h("div", { class: "actmax-grid__stale", role: "note", hidden: true });
  const progressFill = h("div", { class: "actmax-grid__progress-fill" });
  const progress = h(
    "div",
    {
      class: "actmax-grid__progress",
      role: "progressbar",
      "aria-label": "Optimization progress",
      "aria-valuemin": 0,
      "aria-valuemax": 100,
      "aria-valuenow": 0,
    },
    progressFill,
  );
  const errorMessage = h("div", { class: "actmax-grid__error-message" });
  const errorBox = h(
    "div",
    { class: "actmax-grid__error", role: "alert", hidden: true },
    h("strong", { class: "actmax-grid__error-title" }, "The optimization failed"),
    errorMessage,
  );
  const emptyHint = h("div", { class: "actmax-grid__empty", hidden: true });
  const grid = new TileGrid((index) => openZoom(index));
  const photo = new PhotoView({ onToggle: () => update() });
  const zoom = new ZoomView({
    onNavigate: (delta) => {
      if (grid.length) openZoom((zoom.index + delta + grid.length) % grid.length);
    },
    onDownload: () => {
      const tile = grid.tile(zoom.index);
      if (tile?.blob) downloadBlob(tile.blob, tileFileName(model.get("layer_name"), tile.info.filter, tile.info.copy));
    },
    // Python changes the controls and starts the run; the new tiles arrive as traits.
    onDiverse: () => ask("diverse"),
    onPage: () => ask("page"),
    onClose: (index) => grid.tile(index)?.button.focus(),
  });
  const evidence = new GridEvidence(model, grid, zoom);

  zoom.addAction(
    gifs.button("Download GIF", "Download this image's growth over the run as an animated GIF", () =>
      grid.tile(zoom.index) ? { position: zoom.index } : null,
    ),
  );

  const root = h(
    "div",
    { class: "actmax-grid", "data-state": "idle", "data-lm-suppress-shortcuts": "true" },
    h(
      "div",
      { class: "actmax-grid__header" },
      h("div", { class: "actmax-grid__heading" }, layerName, layerKind),
      h("div", { class: "actmax-grid__header-actions" }, gridGif, saveButton),
    ),
    statusLine,
    progress,
    evidence.bar.element,
    staleNote,
    errorBox,
    emptyHint,
    photo.element,
    grid.element,
    zoom.element,
  );
  el.append(root);
  saveButton.before(evidence.toggle.element); // with the grid's other actions
  // Plain keys typed in the widget are the widget's: a notebook in command mode would
  // otherwise take "b", "a" or "d d" on a focused tile as cell commands. Chords such as
  // Ctrl+S still reach the notebook.
  root.addEventListener("keydown", (event) => {
    if (!event.ctrlKey && !event.metaKey && !event.altKey) event.stopPropagation();
  });

  // What was asked of the kernel and not yet answered: said at once, as a busy kernel (a
  // step being finished, a cell running) may take seconds to start the run.
  let asked = null;

  function ask(type) {
    const tile = grid.tile(zoom.index);
    if (!tile) return;
    model.send({ type, filter: tile.info.filter });
    const what =
      type === "diverse" ? `${model.get("diverse_copies")} diverse images of filter ${tile.info.filter}` : "its page of filters";
    asked = { runId: model.get("run_id"), state: model.get("state"), error: model.get("error"), text: `starting ${what}…` };
    zoom.close();
    update();
  }

  function openZoom(index) {
    if (!grid.tile(index)) return;
    zoom.open(index);
    updateZoom();
  }

  function updateZoom() {
    if (!zoom.isOpen) return;
    const tile = grid.tile(zoom.index);
    if (!tile) {
      zoom.close();
      return;
    }
    zoom.update({
      tile,
      count: grid.length,
      layer: model.get("layer_name"),
      kind: model.get("layer_kind"),
      previous: root.dataset.stale === "true",
      series: historySeries(model.get("history"), model.get("history_steps"), grid.length, zoom.index),
      copies: model.get("diverse_copies") || 0,
    });
    evidence.updateZoom();
    photo.updateZoom(zoom, tile, model);
  }

  function update() {
    const state = STATE_LABELS[model.get("state")] === undefined ? "idle" : model.get("state");
    const layer = model.get("layer_name") || "";
    const pngs = model.get("tiles") || [];
    root.dataset.state = state;
    root.style.setProperty("--actmax-tile-size", `${Math.max(32, model.get("tile_size") || 112)}px`);
    const columns = model.get("columns") || 0;
    grid.element.style.gridTemplateColumns = columns > 0 ? `repeat(${columns}, var(--actmax-tile-size))` : "";

    layerName.textContent = layer || "Activation maximization";
    layerKind.textContent = model.get("layer_kind") || "";
    layerKind.hidden = !layerKind.textContent;

    // The kernel's answer (a new run, the old one stopped or failed, or the request refused
    // with an error while the grid already showed one) replaces the request.
    const answered = asked && (asked.runId !== model.get("run_id") || asked.state !== state || asked.error !== model.get("error"));
    if (answered) asked = null;
    root.dataset.asked = String(Boolean(asked));
    stateBadge.textContent = asked ? "Starting" : STATE_LABELS[state];
    stateBadge.hidden = !stateBadge.textContent;
    statusText.textContent = asked ? asked.text : model.get("status") || "";
    const waiting = BUSY_STATES.has(state);
    clock.update(model.get("run_id") || 0, waiting);
    elapsed.textContent = clock.text();
    // The live region itself stays rendered (announcements need it); it collapses when empty.
    progress.hidden = state === "idle" && !statusText.textContent;

    const percent = Math.round(Math.min(1, Math.max(0, model.get("progress") || 0)) * 100);
    progress.setAttribute("aria-valuenow", String(percent));
    progress.className = `actmax-grid__progress actmax-grid__progress--${state}`;
    progressFill.style.width = `${percent}%`;

    errorBox.hidden = state !== "error";
    errorMessage.textContent = model.get("error") || "No details were reported.";

    grid.update(pngs, model.get("tile_info") || [], layer);
    grid.showPlaceholders(waiting ? model.get("placeholder_count") || 0 : 0, model.get("placeholder_labels") || []);
    evidence.update();
    photo.update(model, grid);
    const next = model.get("next_layer") || "";
    const stale = Boolean(next) && next !== layer && pngs.length > 0 && !waiting;
    root.dataset.stale = String(stale);
    staleNote.hidden = !stale;
    staleNote.textContent = stale ? `These tiles are from ${layer}, the previous layer. Press Run to show ${next}.` : "";
    const hint = EMPTY_HINTS[state];
    emptyHint.hidden = !(pngs.length === 0 && hint);
    emptyHint.textContent = hint || "";
    saveButton.disabled = pngs.length === 0;
    gifs.update(state, pngs.length);
    updateZoom();
  }

  // One message from the kernel changes several traits; render once for all of them.
  let scheduled = false;
  let destroyed = false;
  function scheduleUpdate() {
    if (scheduled) return;
    scheduled = true;
    queueMicrotask(() => {
      scheduled = false;
      if (!destroyed) update();
    });
  }

  async function saveGrid() {
    const tiles = [];
    for (let i = 0; i < grid.length; i++) {
      const tile = grid.tile(i);
      if (tile.blob) tiles.push({ blob: tile.blob, info: tile.info });
    }
    if (!tiles.length) return;
    saveButton.disabled = true;
    try {
      const shown = getComputedStyle(grid.element).gridTemplateColumns.split(" ").filter(Boolean).length;
      const canvas = await composeGrid({
        tiles,
        layer: model.get("layer_name"),
        kind: model.get("layer_kind"),
        columns: model.get("columns") || shown,
        fontFamily: getComputedStyle(root).fontFamily,
      });
      downloadBlob(await canvasToBlob(canvas), gridFileName(model.get("layer_name")));
    } finally {
      saveButton.disabled = grid.length === 0;
    }
  }

  saveButton.addEventListener("click", () => {
    saveGrid().catch((error) => console.error("actmax_widgets: could not save the grid", error));
  });
  for (const trait of TRAITS) model.on(`change:${trait}`, scheduleUpdate);
  update();

  return () => {
    destroyed = true;
    clock.stop();
    for (const trait of TRAITS) model.off(`change:${trait}`, scheduleUpdate);
    gifs.destroy();
    zoom.close();
    photo.destroy();
    grid.destroy();
    evidence.destroy();
    root.remove();
  };
}

export default { render };
