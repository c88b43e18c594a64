// "Download GIF" in the grid's header and the enlarged view: asks the kernel, saves the bytes.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import widget from "../src/grid.js";
import { gifFileName } from "../src/gif.js";
import { fakeModel, trackObjectUrls } from "./fake_model.js";

const png = (i) => new DataView(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, i]).buffer);
const infos = (n) => Array.from({ length: n }, (_, i) => ({ filter: i * 3, label: String(i * 3), activation: 1, dead: false }));
const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

let el;
let cleanup;
let downloads;

function mount(values) {
  const model = fakeModel({ layer_name: "block <2>/conv", tiles: [png(0), png(1)], tile_info: infos(2), ...values });
  cleanup = widget.render({ model, el });
  const reply = (content, buffers = []) => {
    for (const callback of model.listeners.get("msg:custom") ?? []) callback(content, buffers);
  };
  return { model, reply, gridGif: el.querySelector(".actmax-grid__header .actmax-grid__gif") };
}

beforeEach(() => {
  el = document.createElement("div");
  document.body.append(el);
  downloads = [];
  trackObjectUrls();
  vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function click() {
    downloads.push(this.download);
  });
});

afterEach(() => {
  cleanup?.();
  el.remove();
  vi.restoreAllMocks();
});

describe("Download GIF", () => {
  it("is offered only once a run has finished or was stopped", async () => {
    const { model, gridGif } = mount({ state: "running" });
    await flush();
    expect(gridGif.disabled).toBe(true);
    model.set("state", "stopped");
    await flush();
    expect(gridGif.disabled).toBe(false);
  });

  it("asks the kernel for the whole grid and saves what comes back under the layer's name", async () => {
    const { model, reply, gridGif } = mount({ state: "done" });
    await flush();
    gridGif.click();
    expect(model.send).toHaveBeenCalledWith({ type: "gif" });
    expect(gridGif.disabled).toBe(true); // until the answer arrives
    reply({ type: "gif", filter: null }, [new DataView(new Uint8Array([71, 73, 70]).buffer)]);
    expect(downloads).toEqual([gifFileName("block <2>/conv")]);
    expect(downloads[0]).not.toMatch(/[<>/]/);
    expect(gridGif.disabled).toBe(false);
  });

  it("asks for the enlarged tile by its position and names the file after its filter", async () => {
    const { model, reply } = mount({ state: "done" });
    await flush();
    el.querySelectorAll(".actmax-grid__tile[data-index]")[1].click();
    const zoomGif = el.querySelector(".actmax-grid__zoom-actions .actmax-grid__gif");
    zoomGif.click();
    expect(model.send).toHaveBeenCalledWith({ type: "gif", position: 1 });
    reply({ type: "gif", filter: 3 }, [new DataView(new Uint8Array([71]).buffer)]);
    expect(downloads[0]).toMatch(/_filter3\.gif$/);
  });

  it("shows a refusal on the button instead of downloading", async () => {
    const { reply, gridGif } = mount({ state: "done" });
    await flush();
    gridGif.click();
    reply({ type: "gif", error: "This result kept no frames of its run: run with keep_frames > 0." });
    expect(downloads).toEqual([]);
    expect(gridGif.title).toMatch(/kept no frames/);
    expect(gridGif.disabled).toBe(false);
  });
});
