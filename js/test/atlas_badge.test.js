// Tiles read from a built atlas (ActMaxWidget(model, atlas=DIR)) carry tile_info.precomputed:
// they show an "atlas" badge and say so in their tooltip and accessible name; computed tiles
// do not, and a tile that stops being precomputed loses the badge.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { TileGrid } from "../src/tiles.js";

const png = (i) => new DataView(new Uint8Array([0x89, 0x50, 0x4e, 0x47, i]).buffer);

beforeEach(() => {
  let counter = 0;
  vi.spyOn(URL, "createObjectURL").mockImplementation(() => `blob:test/${++counter}`);
  vi.spyOn(URL, "revokeObjectURL").mockImplementation(() => {});
});
afterEach(() => vi.restoreAllMocks());

describe("precomputed tiles", () => {
  it("badges the atlas's tiles only, in the tooltip and the accessible name too", () => {
    const grid = new TileGrid(() => {});
    const infos = [
      { filter: 0, label: "0", activation: 1, precomputed: true },
      { filter: 1, label: "1", activation: 2 },
    ];
    grid.update([png(0), png(1)], infos, "conv1");
    const [atlas, computed] = [grid.tile(0).button, grid.tile(1).button];
    expect(atlas.classList.contains("actmax-grid__tile--precomputed")).toBe(true);
    expect(atlas.querySelector(".actmax-grid__atlas").textContent).toBe("atlas");
    expect(atlas.title).toBe("conv1 · filter 0 · activation 1.00 · precomputed (from the atlas)");
    expect(atlas.getAttribute("aria-label")).toBe("conv1, filter 0, precomputed from the atlas");
    expect(computed.classList.contains("actmax-grid__tile--precomputed")).toBe(false);
    expect(computed.title).not.toContain("atlas");

    grid.update([png(0), png(1)], [{ filter: 0, label: "0", activation: 1 }, infos[1]], "conv1");
    expect(grid.tile(0).button.classList.contains("actmax-grid__tile--precomputed")).toBe(false);
  });
});
