// The grid is never silent and never stale: a run says at once that it works (placeholders
// for the requested tiles, a state badge, time ticking in the browser), and tiles kept from
// another layer are said to be that layer's.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { formatElapsed, RunClock } from "../src/clock.js";
import widget from "../src/grid.js";
import { fakeModel, trackObjectUrls } from "./fake_model.js";


const png = (i) => new DataView(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, i]).buffer);
const tiles = (count) => Array.from({ length: count }, (_, i) => png(i));
const infos = (count) => Array.from({ length: count }, (_, i) => ({ filter: i, label: String(i), activation: 1 }));
// Renders are coalesced in a microtask.
const settle = () => Promise.resolve().then(() => Promise.resolve());

let el;
let cleanup;

function mount(model) {
  cleanup = widget.render({ model, el });
  const root = el.querySelector(".actmax-grid");
  return {
    root,
    text: (selector) => root.querySelector(selector)?.textContent,
    placeholders: () => [...root.querySelectorAll(".actmax-grid__tile--placeholder")],
    tileButtons: () => [...root.querySelectorAll(".actmax-grid__tile[data-index]")],
  };
}

beforeEach(() => {
  el = document.createElement("div");
  document.body.append(el);
  trackObjectUrls();
});

afterEach(() => {
  cleanup?.();
  cleanup = undefined;
  el.remove();
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("a run that is preparing", () => {
  it("shows the badge, the status and a captioned placeholder per requested tile", () => {
    const model = fakeModel({
      layer_name: "block6d_add",
      state: "preparing",
      status: "preparing the model for layer block6d_add…",
      run_id: 1,
      placeholder_count: 4,
      placeholder_labels: ["2 · #1", "2 · #2", "2 · #3", "2 · #4"],
    });
    const { root, text, placeholders } = mount(model);
    expect(text(".actmax-grid__state")).toBe("Preparing");
    expect(text(".actmax-grid__status-text")).toBe("preparing the model for layer block6d_add…");
    expect(placeholders().map((p) => p.querySelector(".actmax-grid__label").textContent)).toEqual([
      "2 · #1",
      "2 · #2",
      "2 · #3",
      "2 · #4",
    ]);
    expect(root.querySelector(".actmax-grid__empty").hidden).toBe(true);
    expect(root.querySelector(".actmax-grid__progress").classList).toContain("actmax-grid__progress--preparing");
  });

  it("ticks the elapsed time every second from the new run, and stops when it ends", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "performance"] });
    const model = fakeModel({ state: "done", status: "done: old run", run_id: 3 });
    const { text } = mount(model);
    expect(text(".actmax-grid__elapsed")).toBe("");
    model.update({ state: "preparing", status: "preparing the model for layer x…", run_id: 4 });
    await settle();
    expect(text(".actmax-grid__elapsed")).toBe("0 s");
    vi.advanceTimersByTime(3000);
    expect(text(".actmax-grid__elapsed")).toBe("3 s");
    model.update({ state: "running", status: "step 5/64" }); // same run: the clock goes on
    await settle();
    vi.advanceTimersByTime(62_000);
    expect(text(".actmax-grid__elapsed")).toBe("1 min 05 s");
    model.update({ state: "done", status: "done: 64 steps × 4 filters in 65.2 s" });
    await settle();
    expect(text(".actmax-grid__elapsed")).toBe("");
    expect(vi.getTimerCount()).toBe(0);
  });

  it("keeps the elapsed time out of the live region, which would read it out every second", () => {
    const model = fakeModel({ state: "compiling", status: "compiling…", run_id: 1 });
    const { root } = mount(model);
    expect(root.querySelector("[aria-live] .actmax-grid__elapsed")).toBeNull();
    expect(root.querySelector("[aria-live]").textContent).toContain("compiling…");
  });
});

describe("tiles of a previous layer", () => {
  const done = {
    layer_name: "block4c_add",
    layer_kind: "add 112 ch",
    state: "done",
    status: "done: 64 steps × 2 filters",
    tiles: tiles(2),
    tile_info: infos(2),
  };

  it("keep their layer's name, are marked and say which layer Run will show", async () => {
    const model = fakeModel(done);
    const { root, text, tileButtons } = mount(model);
    expect(root.dataset.stale).toBe("false");
    expect(root.querySelector(".actmax-grid__stale").hidden).toBe(true);
    model.update({ next_layer: "block6d_add" });
    await settle();
    expect(text(".actmax-grid__layer")).toBe("block4c_add");
    expect(root.dataset.stale).toBe("true");
    const note = root.querySelector(".actmax-grid__stale");
    expect(note.hidden).toBe(false);
    expect(note.textContent).toBe(
      "These tiles are from block4c_add, the previous layer. Press Run to show block6d_add.",
    );
    tileButtons()[0].click();
    expect(text(".actmax-grid__zoom-subtitle")).toBe("block4c_add · add 112 ch · previous layer");
    expect(text(".actmax-grid__zoom-facts")).toContain("block4c_add");
  });

  it("are no longer marked once a run of the new layer starts", async () => {
    const model = fakeModel({ ...done, next_layer: "block6d_add" });
    const { root } = mount(model);
    model.update({ layer_name: "block6d_add", next_layer: "", tiles: [], tile_info: [], state: "preparing", run_id: 1 });
    await settle();
    expect(root.dataset.stale).toBe("false");
    expect(root.querySelector(".actmax-grid__stale").hidden).toBe(true);
  });
});

describe("labels", () => {
  it("give the full class name as a tooltip where two lines cannot hold it", () => {
    const model = fakeModel({
      tiles: tiles(1),
      tile_info: [{ filter: 285, label: "Egyptian cat", activation: 1 }],
    });
    const [button] = mount(model).tileButtons();
    expect(button.querySelector(".actmax-grid__label").title).toBe("Egyptian cat");
  });
});

describe("clock", () => {
  it("formats seconds and minutes", () => {
    expect([0, 7.9, 59, 60, 65, 754].map(formatElapsed)).toEqual(["0 s", "7 s", "59 s", "1 min 00 s", "1 min 05 s", "12 min 34 s"]);
  });

  it("restarts for a new run id and does not tick when idle", () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    let now = 0;
    const ticks = vi.fn();
    const clock = new RunClock(ticks, () => now);
    clock.update(1, false);
    expect(clock.text()).toBe("");
    clock.update(2, true);
    now = 4000;
    vi.advanceTimersByTime(1000);
    expect(ticks).toHaveBeenCalledTimes(1);
    expect(clock.text()).toBe("4 s");
    clock.update(3, true);
    expect(clock.text()).toBe("0 s");
    clock.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("asking for diverse images", () => {
  it("says at once that it starts them, until the kernel answers with the new run", async () => {
    const model = fakeModel({
      layer_name: "conv2d",
      state: "stopped",
      status: "stopped at 40 steps × 2 filters",
      run_id: 5,
      tiles: tiles(2),
      tile_info: infos(2),
      diverse_copies: 4,
    });
    const { root, text, tileButtons } = mount(model);
    tileButtons()[1].click();
    root.querySelector(".actmax-grid__zoom-diverse").click();
    expect(model.send).toHaveBeenCalledWith({ type: "diverse", filter: 1 });
    expect(text(".actmax-grid__state")).toBe("Starting");
    expect(text(".actmax-grid__status-text")).toBe("starting 4 diverse images of filter 1…");
    expect(root.dataset.asked).toBe("true");
    model.update({ tiles: [], tile_info: [], state: "preparing", status: "preparing the model for layer conv2d…", run_id: 6 });
    await settle();
    expect(text(".actmax-grid__state")).toBe("Preparing");
    expect(text(".actmax-grid__status-text")).toBe("preparing the model for layer conv2d…");
    expect(root.dataset.asked).toBe("false");
  });

  it("stops saying it starts when the kernel refuses the request while an error shows", async () => {
    const model = fakeModel({
      layer_name: "conv2d", state: "error", error: "ValueError: an earlier failure", run_id: 5,
      tiles: tiles(2), tile_info: infos(2), diverse_copies: 4,
    });
    const { root, text, tileButtons } = mount(model);
    tileButtons()[0].click();
    root.querySelector(".actmax-grid__zoom-diverse").click();
    expect(text(".actmax-grid__state")).toBe("Starting");
    model.update({ error: "ValueError: There is no filter 9" });  // state stays "error", no new run
    await settle();
    expect(root.dataset.asked).toBe("false");
    expect(text(".actmax-grid__state")).not.toBe("Starting");
  });
});
