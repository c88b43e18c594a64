import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { niceTicks } from "../src/chart.js";
import { fileSafe, formatActivation, tileTitle } from "../src/format.js";
import widget from "../src/grid.js";
import { fakeModel, trackObjectUrls } from "./fake_model.js";
import { PIXELATED_UP_TO, showPixelsWhenSmall } from "../src/tiles.js";
import { historySeries } from "../src/history.js";
import { gridFileName, gridLayout, tileFileName } from "../src/save.js";


/** Stand-in PNG bytes: the PNG signature plus a payload that identifies the frame. */
function png(...payload) {
  const bytes = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...payload]);
  return new DataView(bytes.buffer);
}

function tiles(count, frame = 0) {
  return Array.from({ length: count }, (_, i) => png(i, frame));
}

function infos(count, extra = {}) {
  return Array.from({ length: count }, (_, i) => ({
    filter: i * 2,
    label: String(i * 2),
    activation: i + 0.25,
    dead: false,
    ...extra,
  }));
}

function historyOf(rows) {
  return new DataView(new Float32Array(rows.flat()).buffer);
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

let el;
let cleanup;
let liveUrls;

function mount(model) {
  cleanup = widget.render({ model, el });
  return {
    root: el.querySelector(".actmax-grid"),
    tileButtons: () => [...el.querySelectorAll(".actmax-grid__tile[data-index]")],
    dialog: () => el.querySelector(".actmax-grid__dialog"),
    progress: () => el.querySelector("[role=progressbar]"),
  };
}

beforeEach(() => {
  el = document.createElement("div");
  document.body.append(el);
  liveUrls = trackObjectUrls();
});

afterEach(() => {
  cleanup?.();
  cleanup = undefined;
  el.remove();
  vi.restoreAllMocks();
});

describe("tiles", () => {
  it("renders one button with an image, label and tooltip per PNG", async () => {
    const model = fakeModel({ layer_name: "conv2d", tiles: tiles(16), tile_info: infos(16) });
    const { tileButtons } = mount(model);
    const buttons = tileButtons();
    expect(buttons).toHaveLength(16);
    expect(buttons[3].tagName).toBe("BUTTON");
    expect(buttons[3].querySelector("img").getAttribute("src")).toMatch(/^blob:/);
    expect(buttons[3].querySelector(".actmax-grid__label").textContent).toBe("6");
    expect(buttons[3].title).toBe("conv2d · filter 6 · activation 3.25");
    expect(buttons[3].getAttribute("aria-label")).toBe("conv2d, filter 6");
    expect(liveUrls.size).toBe(16);
  });

  it("updates in place, re-encoding only changed PNGs and revoking replaced URLs", async () => {
    const model = fakeModel({ tiles: tiles(8), tile_info: infos(8) });
    const { tileButtons } = mount(model);
    const before = tileButtons();
    const images = before.map((button) => button.querySelector("img"));
    const firstSources = images.map((img) => img.getAttribute("src"));

    const next = tiles(8);
    next[2] = png(2, 99);
    model.update({ tiles: next, tile_info: infos(8, { activation: 5 }) });
    await flush();

    const after = tileButtons();
    after.forEach((button, i) => expect(button).toBe(before[i]));
    expect(images[2].getAttribute("src")).not.toBe(firstSources[2]);
    expect(images[0].getAttribute("src")).toBe(firstSources[0]);
    expect(liveUrls.has(firstSources[2])).toBe(false);
    expect(after[0].querySelector(".actmax-grid__act").textContent).toBe("5.00");
  });

  it("holds exactly one Blob URL per tile after hundreds of updates", async () => {
    const model = fakeModel({ tiles: tiles(16), tile_info: infos(16) });
    mount(model);
    for (let frame = 1; frame <= 300; frame++) {
      model.update({ tiles: tiles(16, frame), tile_info: infos(16) });
      await flush();
    }
    expect(URL.createObjectURL).toHaveBeenCalledTimes(16 * 301);
    expect(liveUrls.size).toBe(16);
  });

  it("renders once per kernel message, however many traits it changes", async () => {
    const model = fakeModel({ tiles: tiles(4), tile_info: infos(4) });
    mount(model);
    const calls = URL.createObjectURL.mock.calls.length;
    model.update({ tiles: tiles(4, 1), tile_info: infos(4), progress: 0.5, status: "step 1" });
    model.update({ tiles: tiles(4, 2), tile_info: infos(4) });
    await flush();
    expect(URL.createObjectURL.mock.calls.length - calls).toBe(4);
  });

  it("grows and shrinks the grid, revoking URLs of removed tiles", async () => {
    const model = fakeModel({ tiles: tiles(4), tile_info: infos(4) });
    const { tileButtons } = mount(model);
    model.update({ tiles: tiles(6), tile_info: infos(6) });
    await flush();
    expect(tileButtons()).toHaveLength(6);
    model.update({ tiles: tiles(2), tile_info: infos(2) });
    await flush();
    expect(tileButtons()).toHaveLength(2);
    expect(liveUrls.size).toBe(2);
  });

  it("marks dead filters with a class, a badge and the accessible name", () => {
    const info = infos(4);
    info[1].dead = true;
    const model = fakeModel({ layer_name: "conv2d", tiles: tiles(4), tile_info: info });
    const { tileButtons } = mount(model);
    const dead = tileButtons()[1];
    expect(dead.classList.contains("actmax-grid__tile--dead")).toBe(true);
    expect(tileButtons()[0].classList.contains("actmax-grid__tile--dead")).toBe(false);
    expect(dead.querySelector(".actmax-grid__badge").textContent).toBe("dead");
    expect(dead.getAttribute("aria-label")).toContain("dead");
    expect(dead.querySelector("img").getAttribute("src")).toMatch(/^blob:/);
  });

  it("shows class-name labels and uses them in the tooltip", () => {
    const model = fakeModel({
      layer_name: "predictions",
      tiles: tiles(1),
      tile_info: [{ filter: 285, label: "Egyptian cat", activation: 12.5, dead: false }],
    });
    const [button] = mount(model).tileButtons();
    expect(button.querySelector(".actmax-grid__label").textContent).toBe("Egyptian cat");
    expect(button.title).toBe("predictions · filter 285 · activation 12.50 · Egyptian cat");
    expect(button.getAttribute("aria-label")).toBe("predictions, filter 285, Egyptian cat");
  });

  it("draws a small net's 28-32 px images with visible pixels, larger ones smoothed", () => {
    const loaded = (width) => {
      const img = showPixelsWhenSmall(document.createElement("img"));
      Object.defineProperty(img, "naturalWidth", { value: width });
      img.dispatchEvent(new Event("load"));
      return img.classList.contains("actmax-grid__img--pixels");
    };
    expect([loaded(28), loaded(32), loaded(PIXELATED_UP_TO), loaded(96), loaded(0)]).toEqual([true, true, true, false, false]);
  });

  it("applies tile_size and columns", async () => {
    const model = fakeModel({ tiles: tiles(4), tile_info: infos(4), tile_size: 150, columns: 2 });
    const { root } = mount(model);
    expect(root.style.getPropertyValue("--actmax-tile-size")).toBe("150px");
    expect(root.querySelector(".actmax-grid__tiles").style.gridTemplateColumns).toContain("repeat(2");
    model.set("columns", 0);
    await flush();
    expect(root.querySelector(".actmax-grid__tiles").style.gridTemplateColumns).toBe("");
  });
});

describe("untrusted text", () => {
  it("renders a hostile layer name, label and error as text", async () => {
    const hostile = "<img src=x onerror=alert(1)>";
    window.alert = vi.fn();
    const model = fakeModel({
      layer_name: hostile,
      layer_kind: hostile,
      tiles: tiles(2),
      tile_info: infos(2, { label: hostile }),
      state: "error",
      error: hostile,
    });
    const { root, tileButtons } = mount(model);
    await flush();
    expect(root.querySelector(".actmax-grid__layer").textContent).toBe(hostile);
    expect(root.querySelector(".actmax-grid__kind").textContent).toBe(hostile);
    expect(root.querySelector(".actmax-grid__error-message").textContent).toBe(hostile);
    expect(tileButtons()[0].querySelector(".actmax-grid__label").textContent).toBe(hostile);
    expect(tileButtons()[0].title).toContain(hostile);
    expect([...root.querySelectorAll("img")].every((img) => img.getAttribute("src") !== "x")).toBe(true);
    expect(root.querySelectorAll("img")).toHaveLength(2 + 1); // two tiles + the enlarged view
    tileButtons()[0].click();
    expect(root.querySelector(".actmax-grid__zoom-title").textContent).toBe(hostile);
    expect(window.alert).not.toHaveBeenCalled();
  });
});

describe("header", () => {
  it("shows layer, kind, status in a polite live region and a progress bar", async () => {
    const model = fakeModel({ layer_name: "block1_conv1", layer_kind: "conv 64 ch", tiles: tiles(2), tile_info: infos(2) });
    const { root, progress } = mount(model);
    model.update({ state: "running", progress: 0.4, status: "step 80/200 · 6.1 steps/s" });
    await flush();
    expect(root.querySelector(".actmax-grid__layer").textContent).toBe("block1_conv1");
    expect(root.querySelector(".actmax-grid__kind").textContent).toBe("conv 64 ch");
    const live = root.querySelector("[aria-live=polite]");
    expect(live.textContent).toContain("step 80/200 · 6.1 steps/s");
    expect(progress().getAttribute("aria-valuenow")).toBe("40");
    expect(progress().classList.contains("actmax-grid__progress--running")).toBe(true);
    expect(root.dataset.state).toBe("running");
  });

  it.each([
    ["done", "actmax-grid__progress--done"],
    ["error", "actmax-grid__progress--error"],
    ["stopped", "actmax-grid__progress--stopped"],
  ])("colours the progress bar for %s", async (state, className) => {
    const model = fakeModel({ tiles: tiles(2), tile_info: infos(2), state: "running", progress: 0.3 });
    const { progress } = mount(model);
    model.update({ state, progress: state === "done" ? 1 : 0.3 });
    await flush();
    expect(progress().classList.contains(className)).toBe(true);
    expect(progress().classList.contains("actmax-grid__progress--running")).toBe(false);
    expect(progress().getAttribute("aria-valuenow")).toBe(state === "done" ? "100" : "30");
  });

  it("shows the error in an alert box only in the error state", async () => {
    const model = fakeModel({ state: "running" });
    const { root } = mount(model);
    const box = root.querySelector(".actmax-grid__error");
    expect(box.hidden).toBe(true);
    model.update({ state: "error", error: "ResourceExhaustedError: OOM" });
    await flush();
    expect(box.hidden).toBe(false);
    expect(box.getAttribute("role")).toBe("alert");
    expect(box.textContent).toContain("ResourceExhaustedError: OOM");
  });

  it("disables Save grid until there are tiles", async () => {
    const model = fakeModel();
    const { root } = mount(model);
    const save = [...root.querySelectorAll("button")].find((b) => b.textContent.includes("Save grid"));
    expect(save.disabled).toBe(true);
    model.update({ tiles: tiles(2), tile_info: infos(2) });
    await flush();
    expect(save.disabled).toBe(false);
  });
});

describe("empty and compiling states", () => {
  it("shows a hint when idle without tiles", () => {
    const { root } = mount(fakeModel());
    const hint = root.querySelector(".actmax-grid__empty");
    expect(hint.hidden).toBe(false);
    expect(hint.textContent).toBe("Choose a layer and filters, then press Run");
  });

  it("shows placeholder tiles while compiling, replaced by the first snapshot", async () => {
    const model = fakeModel({ state: "compiling", placeholder_count: 8 });
    const { root, tileButtons } = mount(model);
    expect(root.querySelectorAll(".actmax-grid__tile--placeholder")).toHaveLength(8);
    expect(root.querySelector(".actmax-grid__empty").hidden).toBe(true);
    model.update({ state: "running", tiles: tiles(8), tile_info: infos(8) });
    await flush();
    expect(root.querySelectorAll(".actmax-grid__tile--placeholder")).toHaveLength(0);
    expect(tileButtons()).toHaveLength(8);
  });
});

describe("enlarged view", () => {
  function running() {
    return fakeModel({
      layer_name: "conv2d",
      layer_kind: "conv 8 ch",
      state: "running",
      tiles: tiles(3),
      tile_info: infos(3),
      history: historyOf([
        [0.1, 0.2, 0.3],
        [0.5, 0.7, 0.9],
      ]),
      history_steps: 2,
    });
  }

  it("opens with Enter, moves focus inside, and closes with Escape back to the tile", async () => {
    const { tileButtons, dialog } = mount(running());
    const tile = tileButtons()[1];
    tile.focus();
    tile.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true, cancelable: true }));
    expect(dialog().open).toBe(true);
    expect(dialog().contains(document.activeElement)).toBe(true);
    expect(dialog().querySelector(".actmax-grid__zoom-title").textContent).toBe("Filter 2");
    expect(dialog().querySelector(".actmax-grid__zoom-value").textContent).toBe("1.25");
    expect(dialog().querySelector(".actmax-grid__zoom-img").getAttribute("src")).toBe(
      tile.querySelector("img").getAttribute("src"),
    );

    document.activeElement.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true, cancelable: true }));
    expect(dialog().open).toBe(false);
    expect(document.activeElement).toBe(tile);
  });

  it("keeps Enter on a tile away from notebook shortcuts", () => {
    const { tileButtons } = mount(running());
    const notebook = vi.fn();
    document.addEventListener("keydown", notebook);
    tileButtons()[0].dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true, cancelable: true }));
    document.removeEventListener("keydown", notebook);
    expect(notebook).not.toHaveBeenCalled();
    expect(el.querySelector(".actmax-grid").hasAttribute("data-lm-suppress-shortcuts")).toBe(true);
  });

  it("keeps plain keys from notebook command mode but lets chords through", () => {
    const { tileButtons } = mount(running());
    const notebook = vi.fn();
    document.addEventListener("keydown", notebook);
    tileButtons()[0].dispatchEvent(new KeyboardEvent("keydown", { key: "d", bubbles: true }));
    tileButtons()[0].dispatchEvent(new KeyboardEvent("keydown", { key: "s", ctrlKey: true, bubbles: true }));
    document.removeEventListener("keydown", notebook);
    expect(notebook).toHaveBeenCalledOnce();
    expect(notebook.mock.calls[0][0].ctrlKey).toBe(true);
  });

  it("closes with its close button", () => {
    const { tileButtons, dialog } = mount(running());
    tileButtons()[0].click();
    expect(dialog().open).toBe(true);
    dialog().querySelector("[aria-label=Close]").click();
    expect(dialog().open).toBe(false);
    expect(document.activeElement).toBe(tileButtons()[0]);
  });

  it("charts the tile's activation history with labelled axes", () => {
    const { tileButtons, dialog } = mount(running());
    tileButtons()[2].click();
    const chart = dialog().querySelector("svg.actmax-grid__chart");
    const texts = [...chart.querySelectorAll("text")].map((t) => t.textContent);
    expect(texts).toContain("step");
    expect(texts).toContain("activation");
    const line = chart.querySelector(".actmax-grid__chart-line").getAttribute("d");
    expect(line.match(/[ML]/g)).toHaveLength(2);
  });

  it("follows the run live and navigates with the arrow keys", async () => {
    const model = running();
    const { tileButtons, dialog } = mount(model);
    tileButtons()[0].click();
    const oldSource = dialog().querySelector(".actmax-grid__zoom-img").getAttribute("src");
    model.update({
      tiles: tiles(3, 1),
      tile_info: infos(3, { activation: 7 }),
      history: historyOf([
        [0.1, 0.2, 0.3],
        [0.5, 0.7, 0.9],
        [0.6, 0.8, 1.0],
      ]),
      history_steps: 3,
    });
    await flush();
    expect(dialog().querySelector(".actmax-grid__zoom-value").textContent).toBe("7.00");
    expect(dialog().querySelector(".actmax-grid__zoom-img").getAttribute("src")).not.toBe(oldSource);
    const line = dialog().querySelector(".actmax-grid__chart-line").getAttribute("d");
    expect(line.match(/[ML]/g)).toHaveLength(3);

    dialog().dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowRight", bubbles: true }));
    expect(dialog().querySelector(".actmax-grid__zoom-title").textContent).toBe("Filter 2");
    dialog().dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowLeft", bubbles: true }));
    dialog().dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowLeft", bubbles: true }));
    expect(dialog().querySelector(".actmax-grid__zoom-title").textContent).toBe("Filter 4");
  });

  it("closes when its tile disappears", async () => {
    const model = running();
    const { tileButtons, dialog } = mount(model);
    tileButtons()[2].click();
    model.update({ tiles: tiles(1), tile_info: infos(1) });
    await flush();
    expect(dialog().open).toBe(false);
  });

  it("downloads the shown tile as a PNG named after layer and filter", () => {
    const { tileButtons, dialog } = mount(running());
    const clicked = vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function () {
      clicked.lastName = this.download;
    });
    tileButtons()[1].click();
    [...dialog().querySelectorAll("button")].find((b) => b.textContent.includes("Download PNG")).click();
    expect(clicked).toHaveBeenCalledOnce();
    expect(clicked.lastName).toBe("actmax_conv2d_filter2.png");
  });
});

describe("diverse images from the enlarged view", () => {
  function diverseButton(dialog) {
    return dialog.querySelector(".actmax-grid__zoom-diverse");
  }

  function pageButton(dialog) {
    return dialog.querySelector(".actmax-grid__zoom-page");
  }

  it("asks the kernel for N diverse images of the shown filter and closes", () => {
    const model = fakeModel({ layer_name: "conv2d", tiles: tiles(3), tile_info: infos(3), diverse_copies: 4 });
    const { tileButtons, dialog } = mount(model);
    tileButtons()[2].click();
    const button = diverseButton(dialog());
    expect(button.hidden).toBe(false);
    expect(button.textContent).toBe("4 diverse images");
    expect(pageButton(dialog()).hidden).toBe(true);
    button.focus();
    expect(document.activeElement).toBe(button); // reachable from the keyboard: a real <button>
    button.click();
    expect(model.send).toHaveBeenCalledExactlyOnceWith({ type: "diverse", filter: 4 });
    expect(dialog().open).toBe(false);
  });

  it("follows the kernel's number of copies and is hidden when nothing would answer", async () => {
    const model = fakeModel({ tiles: tiles(2), tile_info: infos(2) });
    const { tileButtons, dialog } = mount(model);
    tileButtons()[0].click();
    expect(diverseButton(dialog()).hidden).toBe(true);
    model.set("diverse_copies", 6);
    await flush();
    expect(diverseButton(dialog()).hidden).toBe(false);
    expect(diverseButton(dialog()).textContent).toBe("6 diverse images");
  });

  it("shows a diverse copy's number and offers the way back to its page instead", () => {
    const copies = [1, 2, 3, 4].map((copy) => ({
      filter: 12,
      label: `12 · #${copy}`,
      activation: copy,
      dead: false,
      copy,
    }));
    const model = fakeModel({ layer_name: "conv2d", tiles: tiles(4), tile_info: copies, diverse_copies: 4 });
    const { tileButtons, dialog } = mount(model);
    expect(tileButtons()[1].querySelector(".actmax-grid__label").textContent).toBe("12 · #2");
    expect(tileButtons()[1].getAttribute("aria-label")).toBe("conv2d, filter 12, copy 2");
    tileButtons()[1].click();
    expect(dialog().querySelector(".actmax-grid__zoom-title").textContent).toBe("Filter 12 · #2");
    expect(dialog().querySelector(".actmax-grid__zoom-facts").textContent).toContain("2 of 4 diverse images");
    expect(diverseButton(dialog()).hidden).toBe(true);
    pageButton(dialog()).click();
    expect(model.send).toHaveBeenCalledExactlyOnceWith({ type: "page", filter: 12 });
  });

  it("keeps a class name apart from the copy number", () => {
    const info = [{ filter: 285, label: "Egyptian cat · #3", activation: 1, dead: false, copy: 3 }];
    const { tileButtons, dialog } = mount(fakeModel({ tiles: tiles(1), tile_info: info }));
    tileButtons()[0].click();
    expect(dialog().querySelector(".actmax-grid__zoom-title").textContent).toBe("Egyptian cat · #3");
    expect(tileButtons()[0].title).toBe("layer · filter 285 · activation 1.00 · Egyptian cat · diverse copy #3");
    expect(tileFileName("fc", 285, 3)).toBe("actmax_fc_filter285_copy3.png");
  });
});

describe("cleanup", () => {
  it("stops listening, revokes every URL and removes its DOM", () => {
    const model = fakeModel({ tiles: tiles(5), tile_info: infos(5) });
    mount(model);
    cleanup();
    cleanup = undefined;
    expect([...model.listeners.values()].every((set) => set.size === 0)).toBe(true);
    expect(liveUrls.size).toBe(0);
    expect(el.querySelector(".actmax-grid")).toBeNull();
  });
});

describe("helpers", () => {
  it("reads one tile's column from the float32 history", () => {
    const history = historyOf([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    expect(historySeries(history, 3, 2, 1)).toEqual([2, 4, 6]);
    expect(historySeries(history, 10, 2, 0)).toEqual([1, 3, 5]);
    expect(historySeries(history, 2, 2, 0)).toEqual([1, 3]);
    expect(historySeries(null, 3, 2, 0)).toEqual([]);
  });

  it("formats activations", () => {
    expect(formatActivation(1.234)).toBe("1.23");
    expect(formatActivation(0)).toBe("0.00");
    expect(formatActivation(123456)).toBe("1.23e+5");
    expect(formatActivation(null)).toBe("—");
    expect(formatActivation(Number.NaN)).toBe("—");
  });

  it("builds tooltips and file names", () => {
    expect(tileTitle("dense", { filter: 3, label: "3", activation: 1, dead: true })).toBe(
      "dense · filter 3 · activation 1.00 · dead (never activates)",
    );
    expect(fileSafe("block1/conv 1")).toBe("block1_conv_1");
    expect(fileSafe("<img>")).toBe("img");
    expect(gridFileName("block1_conv1")).toBe("actmax_block1_conv1.png");
    expect(tileFileName("", 7)).toBe("actmax_grid_filter7.png");
  });

  it("chooses round axis ticks", () => {
    const { lo, hi, ticks } = niceTicks(0.13, 3.9, 4);
    expect(lo).toBe(0);
    expect(hi).toBe(4);
    expect(ticks).toEqual([0, 1, 2, 3, 4]);
    expect(niceTicks(2, 2).ticks.length).toBeGreaterThan(1);
  });

  it("lays out the saved grid in rows", () => {
    const layout = gridLayout(5, 2, 100);
    expect(layout.cells).toHaveLength(5);
    expect(layout.cells[1].x).toBeGreaterThan(layout.cells[0].x);
    expect(layout.cells[2].y).toBeGreaterThan(layout.cells[0].y);
    expect(layout.cells[2].x).toBe(layout.cells[0].x);
    expect(layout.width).toBeGreaterThan(200);
  });
});
