import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { evidenceEntry } from "../src/evidence.js";
import widget from "../src/grid.js";
import { fakeModel, trackObjectUrls } from "./fake_model.js";

/** Stand-in PNG bytes: the PNG signature plus a payload that identifies the image. */
function png(...payload) {
  return new DataView(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...payload]).buffer);
}

const tiles = (count) => Array.from({ length: count }, (_, i) => png(i));
const infos = (count) => Array.from({ length: count }, (_, i) => ({ filter: i * 2, label: String(i * 2), activation: 1 + i }));

const BADGES = [
  { name: "superstimulus", text: "1.8×", level: "ok", tooltip: "Activation ÷ the best natural patch's: above 1, a superstimulus." },
  { name: "specificity", text: "#7 of 12", level: "warn", tooltip: "Rank of this filter among the layer's channels on this image." },
];

/** Per tile i: three patches with activations 3+i, 2+i, 1+i from images a, b, c. */
function evidence(count, extra = {}) {
  return Array.from({ length: count }, (_, i) => ({
    filter: i * 2,
    patches: [png(50, i), png(51, i), png(52, i)],
    activations: [3 + i, 2 + i, 1 + i],
    sources: [`a${i}.jpg`, `b${i}.jpg`, `c${i}.jpg`],
    badges: BADGES,
    accentuation: null,
    ...extra,
  }));
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

let el;
let cleanup;

function mount(initial) {
  const model = fakeModel({ layer_name: "conv", tiles: tiles(4), tile_info: infos(4), state: "done", ...initial });
  cleanup = widget.render({ model, el });
  const query = (selector) => [...el.querySelectorAll(selector)];
  return {
    model,
    query,
    open: async (index) => {
      query(".actmax-grid__tile[data-index]")[index].click();
      await flush();
      return el.querySelector(".actmax-grid__dialog");
    },
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
  vi.restoreAllMocks();
});

describe("enlarged view", () => {
  it("shows the tile's natural patches with their activations beside the synthetic image", async () => {
    const { open } = mount({ evidence: evidence(4) });
    const dialog = await open(1);
    const patches = [...dialog.querySelectorAll(".actmax-evidence__strip .actmax-evidence__patch")];
    expect(patches).toHaveLength(3);
    expect(patches.map((p) => p.querySelector("figcaption").textContent)).toEqual(["4.00", "3.00", "2.00"]);
    expect(patches.every((p) => p.querySelector("img").getAttribute("src").startsWith("blob:"))).toBe(true);
    expect(patches[1].title).toBe("#2 · activation 3.00 · b1.jpg");
    expect(dialog.querySelector(".actmax-evidence__heading").textContent).toBe(
      "Natural image patches that excite filter 2 most",
    );
    expect(dialog.querySelector(".actmax-evidence__scan").hidden).toBe(true);
  });

  it("shows the sanity badges with what each means as a tooltip", async () => {
    const { open } = mount({ evidence: evidence(4) });
    const dialog = await open(0);
    const badges = [...dialog.querySelectorAll(".actmax-evidence__badge")];
    expect(badges.map((b) => b.textContent)).toEqual(["Superstimulus1.8×", "Specificity#7 of 12"]);
    expect(badges[0].title).toBe(BADGES[0].tooltip);
    expect(badges[0].dataset.tooltip).toBe(BADGES[0].tooltip);
    expect(badges[1].getAttribute("aria-label")).toBe(`Specificity #7 of 12: ${BADGES[1].tooltip}`);
    expect(badges.map((b) => b.className.includes("--warn"))).toEqual([false, true]);
    expect(badges[0].getAttribute("tabindex")).toBe("0"); // the tooltip is reachable by keyboard
  });

  it("follows the tile when the view moves to the next one and when evidence arrives", async () => {
    const { model, open } = mount({ evidence: [] });
    const dialog = await open(0);
    expect(dialog.querySelectorAll(".actmax-evidence__strip .actmax-evidence__patch")).toHaveLength(0);
    expect(dialog.querySelector(".actmax-evidence__badges").hidden).toBe(true);
    const scan = dialog.querySelector(".actmax-evidence__scan");
    expect(scan.hidden).toBe(false);
    scan.click();
    expect(model.send).toHaveBeenCalledWith({ type: "evidence-scan" });
    model.update({ evidence: evidence(4), evidence_state: "done" });
    await flush();
    expect(dialog.querySelectorAll(".actmax-evidence__strip .actmax-evidence__patch")).toHaveLength(3);
    dialog.querySelector("[aria-label='Next filter']").click();
    await flush();
    expect(dialog.querySelector(".actmax-evidence__strip figcaption").textContent).toBe("4.00");
  });

  it("keeps image names and tooltips as text", async () => {
    const attack = "<img src=x onerror=alert(1)>";
    const { open } = mount({
      evidence: evidence(4, { sources: [attack, attack, attack], badges: [{ name: attack, text: attack, tooltip: attack }] }),
    });
    const dialog = await open(0);
    expect(dialog.querySelectorAll("img[onerror]")).toHaveLength(0);
    expect(dialog.querySelector(".actmax-evidence__badge").textContent).toBe(attack + attack);
    expect(dialog.querySelector(".actmax-evidence__strip .actmax-evidence__patch").title).toContain(attack);
  });

  it("accentuates the current photo or an uploaded one, and shows the result", async () => {
    const { model, open } = mount({ evidence: evidence(4) });
    const dialog = await open(2);
    const current = dialog.querySelector(".actmax-evidence__current");
    expect(current.hidden).toBe(true); // no current photo
    model.update({ photo: png(9) });
    await flush();
    expect(current.hidden).toBe(false);
    current.click();
    expect(model.send).toHaveBeenLastCalledWith({ type: "accentuate", filter: 4 }, undefined, []);

    const input = dialog.querySelector("input[type=file]");
    const file = new File([new Uint8Array([1, 2, 3])], "cat.png", { type: "image/png" });
    Object.defineProperty(input, "files", { value: [file], configurable: true });
    input.dispatchEvent(new Event("change"));
    await vi.waitFor(() => expect(model.send).toHaveBeenCalledTimes(2));
    const [content, , buffers] = model.send.mock.calls[1];
    expect(content).toEqual({ type: "accentuate", filter: 4 });
    expect([...new Uint8Array(buffers[0])]).toEqual([1, 2, 3]);

    const made = { filter: 4, photo: png(1), image: png(2), change: png(3), activation: 2.5, start_activation: 0.5 };
    model.update({ evidence: evidence(4).map((entry, i) => (i === 2 ? { ...entry, accentuation: made } : entry)) });
    await flush();
    expect(dialog.querySelector(".actmax-evidence__accent-text").textContent).toBe(
      "Filter 4 accentuated in your photo: activation 0.50 → 2.50",
    );
    const shown = [...dialog.querySelectorAll(".actmax-evidence__accent-result figure")];
    expect(shown.map((f) => f.textContent)).toEqual(["your photo", "accentuated", "where it changed"]);
    expect(shown.every((f) => f.querySelector("img").getAttribute("src"))).toBe(true);
  });

  it("offers accentuation only on a conv layer (it changes a photo where the filter looks)", async () => {
    const { model, open } = mount({ evidence: evidence(4), layer_kind: "dense 4 units" });
    const dialog = await open(0);
    expect(dialog.querySelector(".actmax-evidence__accent").hidden).toBe(true);
    expect(dialog.querySelector(".actmax-evidence__note").textContent).toBe(
      "Each image is a whole photo, with this unit’s activation on it.",
    );
    model.update({ layer_kind: "conv 8 ch" });
    await flush();
    expect(dialog.querySelector(".actmax-evidence__accent").hidden).toBe(false);
    expect(dialog.querySelector(".actmax-evidence__note").textContent).toContain(
      "the activation above is the synthetic image’s mean over all positions",
    );
  });
});

describe("grid", () => {
  it("the toggle puts each tile's top natural patch and its activation under the tile", async () => {
    const { model, query } = mount({ evidence: evidence(4) });
    const toggle = query(".actmax-evidence__toggle")[0];
    expect(toggle.textContent).toBe("Natural examples");
    expect(toggle.getAttribute("aria-pressed")).toBe("false");
    expect(query(".actmax-evidence__under")).toHaveLength(0); // made when first shown
    toggle.click();
    expect(model.get("show_natural")).toBe(true);
    expect(model.save_changes).toHaveBeenCalled();
    await flush();
    expect(toggle.getAttribute("aria-pressed")).toBe("true");
    const tileButtons = query(".actmax-grid__tile[data-index]");
    const under = tileButtons.map((b) => b.querySelector(".actmax-evidence__under"));
    expect(under.every((u) => !u.hidden)).toBe(true);
    expect(under.map((u) => u.textContent)).toEqual(["natural3.00", "natural4.00", "natural5.00", "natural6.00"]);
    expect(under[1].title).toBe("The natural patch that excites filter 2 most (a1.jpg)");
    toggle.click();
    await flush();
    expect(under.every((u) => u.hidden)).toBe(true);
  });

  it("says how the scan goes, with a Stop while it scans", async () => {
    const { model, query } = mount({ evidence_state: "scanning", evidence_status: "finding natural examples: 16 of 32 images scanned…" });
    const [bar] = query(".actmax-evidence__status");
    expect(bar.hidden).toBe(false);
    expect(bar.textContent).toContain("16 of 32 images");
    const stop = bar.querySelector(".actmax-evidence__stop");
    expect(stop.hidden).toBe(false);
    stop.click();
    expect(model.send).toHaveBeenCalledWith({ type: "evidence-stop" });
    model.update({ evidence_state: "stopped", evidence_status: "natural examples: stopped after 16 images" });
    await flush();
    expect(stop.hidden).toBe(true);
    expect(bar.textContent).toContain("stopped after 16 images");
  });

  it("never shows an entry under a tile of another filter or layer (the tiles changed, the evidence not yet)", async () => {
    const shifted = evidence(4).map((entry) => ({ ...entry, filter: entry.filter + 1 }));
    const { model, query, open } = mount({ evidence: shifted, show_natural: true });
    await flush();
    expect(query(".actmax-evidence__under").filter((u) => !u.hidden)).toHaveLength(0);
    const dialog = await open(1);
    expect(dialog.querySelectorAll(".actmax-evidence__strip .actmax-evidence__patch")).toHaveLength(0);
    expect(dialog.querySelector(".actmax-evidence__badges").hidden).toBe(true);
    model.update({ evidence: evidence(4, { layer: "other_conv" }) });
    await flush();
    expect(query(".actmax-evidence__under").filter((u) => !u.hidden)).toHaveLength(0);
    model.update({ evidence: evidence(4, { layer: "conv" }) });
    await flush();
    expect(query(".actmax-evidence__under").filter((u) => !u.hidden)).toHaveLength(4);
  });

  it("a tile without evidence shows nothing under it", () => {
    expect(evidenceEntry(undefined, 3)).toEqual({ patches: [], activations: [], sources: [], badges: [], accentuation: null });
  });
});
