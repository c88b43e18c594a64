import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import widget from "../src/grid.js";
import { formatProbability, viewsByFilter } from "../src/photo.js";
import { fakeModel, trackObjectUrls } from "./fake_model.js";

/** Stand-in PNG bytes: the PNG signature plus a payload that identifies the picture. */
function png(...payload) {
  return new DataView(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...payload]).buffer);
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

function tiles(filters, labels = filters.map(String)) {
  return {
    tiles: filters.map((f) => png(f, 0)),
    tile_info: filters.map((f, i) => ({ filter: f, label: labels[i], activation: 1.5, dead: false })),
  };
}

function views(layer, filters, extra = {}) {
  return filters.map((f) => ({ filter: f, layer, heatmap: png(f, 1), ...extra }));
}

const PHOTO = {
  photo: png(9, 9),
  photo_status: "Where each filter of conv_b fires on your photo (red: strongest)",
  predictions: [
    { index: 285, name: "Egyptian cat", probability: 0.62 },
    { index: 281, name: "tabby", probability: 0.2 },
  ],
};

let el;
let cleanup;
let liveUrls;

function mount(model) {
  cleanup = widget.render({ model, el });
  const root = el.querySelector(".actmax-grid");
  return {
    root,
    bar: () => root.querySelector(".actmax-photo"),
    photoThumbs: () => [...root.querySelectorAll(".actmax-photo__tile-thumb img")],
    tileButtons: () => [...root.querySelectorAll(".actmax-grid__tile[data-index]")],
    strip: () => root.querySelector(".actmax-photo__strip"),
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

/** The captions of the enlarged view's pictures, for the first tile of `model`'s grid. */
async function enlargedCaptions(model) {
  const { tileButtons, strip } = mount(model);
  await flush();
  tileButtons()[0].click();
  return [...strip().querySelectorAll("figure")].filter((f) => !f.hidden).map((f) => f.textContent);
}

describe("formatting", () => {
  it("writes probabilities as people read them", () => {
    expect(formatProbability(0.623)).toBe("62%");
    expect(formatProbability(0.0412)).toBe("4.1%");
    expect(formatProbability(0.0004)).toBe("<0.1%");
    expect(formatProbability(undefined)).toBe("—");
  });

  it("keeps only the views of the tiles' layer, by filter", () => {
    const byFilter = viewsByFilter([...views("conv_a", [1]), ...views("conv_b", [2, 3])], "conv_b");
    expect([...byFilter.keys()]).toEqual([2, 3]);
  });
});

describe("without a photo", () => {
  it("adds no photo elements at all", async () => {
    const { root, bar } = mount(fakeModel({ layer_name: "conv_b", ...tiles([0, 1]) }));
    await flush();
    expect(bar().hidden).toBe(true);
    expect(root.querySelectorAll(".actmax-photo img, .actmax-photo__tile-thumb")).toHaveLength(0);
  });
});

describe("photo bar", () => {
  it("shows the photo, what the maps mean and the top predictions, best first", async () => {
    const { bar } = mount(fakeModel({ layer_name: "conv_b", ...tiles([0, 1]), ...PHOTO }));
    await flush();
    expect(bar().hidden).toBe(false);
    expect(bar().querySelector(".actmax-photo__img").getAttribute("src")).toMatch(/^blob:/);
    expect(bar().querySelector("figcaption").textContent).toBe("Your photo");
    expect(bar().querySelector(".actmax-photo__status").textContent).toBe(PHOTO.photo_status);
    const items = [...bar().querySelectorAll(".actmax-photo__prediction")].map((li) => li.textContent);
    expect(items).toEqual(["Egyptian cat62%", "tabby20%"]);
  });

  it("renders a hostile class name as text", async () => {
    window.alert = vi.fn();
    const hostile = "<img src=x onerror=alert(1)>";
    const { bar } = mount(fakeModel({ ...PHOTO, predictions: [{ index: 0, name: hostile, probability: 1 }] }));
    await flush();
    expect(bar().querySelector(".actmax-photo__class").textContent).toBe(hostile);
    expect([...bar().querySelectorAll("img")].every((img) => img.getAttribute("src") !== "x")).toBe(true);
    expect(window.alert).not.toHaveBeenCalled();
  });

  it("says why when the photo could not be shown at all (a status, no picture)", async () => {
    const status = "The maps on your photo failed: ValueError: photo mode needs images";
    const { bar } = mount(fakeModel({ photo_status: status }));
    await flush();
    expect(bar().hidden).toBe(false);
    expect(bar().querySelector(".actmax-photo__thumb").hidden).toBe(true);
    expect(bar().querySelector(".actmax-photo__status").textContent).toBe(status);
  });

  it("hides the predictions for a model that has none", async () => {
    const { bar } = mount(fakeModel({ ...PHOTO, predictions: [] }));
    await flush();
    expect(bar().querySelector(".actmax-photo__predictions-box").hidden).toBe(true);
  });
});

describe("tiles on the photo", () => {
  it("puts each tile's map beside its synthetic image, matched by filter", async () => {
    const model = fakeModel({ layer_name: "conv_b", ...tiles([4, 7]), ...PHOTO, photo_views: views("conv_b", [7, 4]) });
    const { root, photoThumbs, tileButtons } = mount(model);
    await flush();
    expect(photoThumbs()).toHaveLength(2);
    expect(root.querySelector(".actmax-grid__tiles").classList.contains("actmax-photo--tiles")).toBe(true);
    const [first] = tileButtons();
    const thumbs = first.querySelectorAll(".actmax-grid__thumb");
    expect(thumbs).toHaveLength(2); // synthetic first, then the photo
    expect(thumbs[1].classList.contains("actmax-photo__tile-thumb")).toBe(true);
    expect(thumbs[1].textContent).toBe("photo");
    expect(thumbs[1].querySelector("img").alt).toBe("Where 4 fires on your photo");
  });

  it("says so on a tile whose filter does not fire on the photo, and in its enlarged view", async () => {
    const model = fakeModel({
      layer_name: "conv_b",
      ...tiles([0, 1]),
      ...PHOTO,
      photo_views: [...views("conv_b", [0], { fires: true }), ...views("conv_b", [1], { fires: false })],
    });
    const { root, photoThumbs, tileButtons } = mount(model);
    await flush();
    expect([...root.querySelectorAll(".actmax-photo__tag")].map((tag) => tag.textContent)).toEqual(["photo", "photo · silent"]);
    expect(photoThumbs()[1].alt).toBe("1 does not fire on your photo");
    tileButtons()[1].click();
    expect(root.querySelectorAll(".actmax-photo__figure figcaption")[1].textContent).toBe(
      "Filter 1 does not fire anywhere on your photo",
    );
  });

  it("shows no map of another layer (a new run's maps not there yet)", async () => {
    const model = fakeModel({ layer_name: "conv_b", ...tiles([0, 1]), ...PHOTO, photo_views: views("conv_b", [0, 1]) });
    const { photoThumbs } = mount(model);
    await flush();
    model.update({ layer_name: "conv_c" });
    await flush();
    expect(photoThumbs()).toHaveLength(0);
    model.update({ photo_views: views("conv_c", [0, 1]) });
    await flush();
    expect(photoThumbs()).toHaveLength(2);
  });

  it("'Show on the tiles' off removes the maps; removing the photo frees every URL", async () => {
    const model = fakeModel({ layer_name: "conv_b", ...tiles([0, 1]), ...PHOTO, photo_views: views("conv_b", [0, 1]) });
    const { root, photoThumbs, tileButtons } = mount(model);
    await flush();
    const toggle = root.querySelector(".actmax-photo__toggle input");
    toggle.checked = false;
    toggle.dispatchEvent(new Event("change"));
    expect(photoThumbs()).toHaveLength(0);
    expect(tileButtons()[0].classList.contains("actmax-photo__tile")).toBe(false);
    toggle.checked = true;
    toggle.dispatchEvent(new Event("change"));
    expect(photoThumbs()).toHaveLength(2);
    model.update({ photo: new DataView(new ArrayBuffer(0)), photo_views: [], predictions: [], photo_status: "" });
    await flush();
    expect(photoThumbs()).toHaveLength(0);
    expect(root.querySelector(".actmax-photo").hidden).toBe(true);
    expect(liveUrls.size).toBe(2); // only the two synthetic tiles' own images
  });

  it("updates a map in place and revokes the URL it replaces", async () => {
    const model = fakeModel({ layer_name: "conv_b", ...tiles([0]), ...PHOTO, photo_views: views("conv_b", [0]) });
    const { photoThumbs } = mount(model);
    await flush();
    const before = photoThumbs()[0].getAttribute("src");
    model.update({ photo_views: [{ filter: 0, layer: "conv_b", heatmap: png(0, 2) }] });
    await flush();
    expect(photoThumbs()[0].getAttribute("src")).not.toBe(before);
    expect(liveUrls.has(before)).toBe(false);
  });
});

describe("enlarged view", () => {
  it("shows photo, heatmap and synthetic image side by side, each named", async () => {
    const model = fakeModel({ layer_name: "conv_b", ...tiles([0, 5]), ...PHOTO, photo_views: views("conv_b", [0, 5]) });
    const { root, tileButtons, strip } = mount(model);
    await flush();
    tileButtons()[1].click();
    const figures = [...strip().querySelectorAll("figure")].filter((f) => !f.hidden);
    expect(figures.map((f) => f.querySelector("figcaption").textContent)).toEqual([
      "Your photo",
      "Where filter 5 fires on your photo",
      "Synthetic: what excites filter 5 most",
    ]);
    expect(figures.every((f) => /^blob:/.test(f.querySelector("img").getAttribute("src")))).toBe(true);
    expect(figures[2].querySelector("img").getAttribute("src")).toBe(tileButtons()[1].querySelector("img").getAttribute("src"));
    expect(root.querySelector(".actmax-grid__dialog").classList.contains("actmax-photo__dialog")).toBe(true);
  });

  it("a class unit adds its saliency and names the class", async () => {
    const model = fakeModel({
      layer_name: "predictions",
      ...tiles([285], ["Egyptian cat"]),
      ...PHOTO,
      photo_views: views("predictions", [285], { kind: "grad-cam", saliency: png(1, 2, 3) }),
    });
    expect(await enlargedCaptions(model)).toEqual([
      "Your photo",
      "Grad-CAM: where the photo shows ‘Egyptian cat’",
      "Saliency: the pixels that change ‘Egyptian cat’ most",
      "Synthetic: what excites ‘Egyptian cat’ most",
    ]);
  });

  it("a class unit with saliency alone (no conv layer before it) names it so", async () => {
    const model = fakeModel({
      layer_name: "predictions",
      ...tiles([3], ["three"]),
      ...PHOTO,
      photo_views: views("predictions", [3], { kind: "saliency" }),
    });
    expect(await enlargedCaptions(model)).toEqual([
      "Your photo",
      "Saliency: the pixels that change ‘three’ most",
      "Synthetic: what excites ‘three’ most",
    ]);
  });

  it("is the plain enlarged view for a tile without a map", async () => {
    const model = fakeModel({ layer_name: "conv_b", ...tiles([0, 1]), ...PHOTO, photo_views: views("conv_b", [0]) });
    const { root, tileButtons, strip } = mount(model);
    await flush();
    tileButtons()[0].click();
    expect(strip().hidden).toBe(false);
    root.querySelector(".actmax-grid__zoom-nav button[aria-label='Next filter']").click();
    await flush();
    expect(strip().hidden).toBe(true);
    expect(root.querySelector(".actmax-grid__dialog").classList.contains("actmax-photo__dialog")).toBe(false);
  });
});
