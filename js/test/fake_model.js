// The slice of anywidget's model API that the grid uses, with a way to push kernel updates.
import { vi } from "vitest";

export const DEFAULTS = {
  tiles: [],
  tile_info: [],
  layer_name: "",
  layer_kind: "",
  next_layer: "",
  history: new DataView(new ArrayBuffer(0)),
  history_steps: 0,
  state: "idle",
  progress: 0,
  status: "",
  run_id: 0,
  error: "",
  tile_size: 112,
  columns: 0,
  placeholder_count: 0,
  placeholder_labels: [],
  diverse_copies: 0,
};

export function fakeModel(initial = {}) {
  const state = { ...DEFAULTS, ...initial };
  const listeners = new Map();
  const notify = (name) => {
    for (const callback of listeners.get(`change:${name}`) ?? []) callback();
  };
  return {
    listeners,
    get: (name) => state[name],
    set(name, value) {
      state[name] = value;
      notify(name);
    },
    /** Several traits in one kernel message, as GridWidget.hold_sync() sends them: every value
     * is set before any listener runs. */
    update(values) {
      Object.assign(state, values);
      for (const name of Object.keys(values)) notify(name);
    },
    on(event, callback) {
      if (!listeners.has(event)) listeners.set(event, new Set());
      listeners.get(event).add(callback);
    },
    off(event, callback) {
      listeners.get(event)?.delete(callback);
    },
    save_changes: vi.fn(),
    send: vi.fn(),
  };
}

/** Blob URLs as happy-dom lacks them: `createObjectURL` hands out `blob:test/N` and the returned
 * Set holds the ones not yet revoked (a test of leaks checks its size). Call in beforeEach;
 * `vi.restoreAllMocks()` undoes it. */
export function trackObjectUrls() {
  const live = new Set();
  let counter = 0;
  vi.spyOn(URL, "createObjectURL").mockImplementation(() => {
    const url = `blob:test/${++counter}`;
    live.add(url);
    return url;
  });
  vi.spyOn(URL, "revokeObjectURL").mockImplementation((url) => live.delete(url));
  return live;
}
