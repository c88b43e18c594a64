// A fake anywidget model driving the built grid bundle with synthetic
// "activation maximization" textures, for looking at the widget in a browser.
import widget from "../../actmax_widgets/static/grid.js";

const params = new URLSearchParams(location.search);
const theme = params.get("theme") ?? "light";
const scenario = params.get("scenario") ?? "running";
const count = Number(params.get("tiles") ?? 16);
const classes = params.get("labels") === "classes";
const MAX_STEPS = 200;
const CLASS_NAMES = [
  "Egyptian cat", "goldfish", "volcano", "monarch butterfly", "pizza", "tree frog", "jellyfish",
  "lighthouse", "peacock", "strawberry", "coral reef", "school bus", "daisy", "red panda",
  "espresso", "golden retriever", "bubble", "starfish", "cauliflower", "snail",
];

document.body.className = theme === "none" ? "" : `jp-${theme}`;

class FakeModel {
  constructor(state) {
    this.state = { ...state };
    this.listeners = new Map();
  }
  get(name) {
    return this.state[name];
  }
  set(name, value) {
    this.state[name] = value;
    for (const callback of this.listeners.get(`change:${name}`) ?? []) callback();
  }
  on(event, callback) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event).add(callback);
  }
  off(event, callback) {
    this.listeners.get(event)?.delete(callback);
  }
  save_changes() {}
  send() {}
}

function random(seed) {
  let t = seed * 0x9e3779b9;
  return () => {
    t = (t + 0x6d2b79f5) | 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

const SIZE = 160;

/** A colourful interference texture; `strength` 0..1 fades it in from grey noise. */
async function texture(seed, strength) {
  const rand = random(seed + 1);
  const waves = Array.from({ length: 5 }, () => ({
    fx: (rand() - 0.5) * 0.5, fy: (rand() - 0.5) * 0.5, phase: rand() * 6.28,
    color: [rand() * 2 - 1, rand() * 2 - 1, rand() * 2 - 1],
  }));
  const warp = 4 + rand() * 14;
  const noise = random(seed * 7 + Math.round(strength * 50));
  const canvas = new OffscreenCanvas(SIZE, SIZE);
  const context = canvas.getContext("2d");
  const image = context.createImageData(SIZE, SIZE);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const rgb = [0, 0, 0];
      const wx = x + warp * Math.sin(y * 0.09 + seed);
      const wy = y + warp * Math.cos(x * 0.08 + seed);
      for (const wave of waves) {
        const v = Math.sin(wave.fx * wx + wave.fy * wy + wave.phase);
        for (let c = 0; c < 3; c++) rgb[c] += v * wave.color[c];
      }
      const i = (y * SIZE + x) * 4;
      for (let c = 0; c < 3; c++) {
        const grey = 128 + (noise() - 0.5) * 40;
        const value = 128 + rgb[c] * 70;
        image.data[i + c] = grey + (value - grey) * strength;
      }
      image.data[i + 3] = 255;
    }
  }
  context.putImageData(image, 0, 0);
  const blob = await canvas.convertToBlob({ type: "image/png" });
  return new DataView(await blob.arrayBuffer());
}

const filters = Array.from({ length: count }, (_, i) => (classes ? [285, 1, 980, 323, 963][i % 5] + i * 3 : i * 9 + 3));
const dead = new Set([5, 11].filter((i) => i < count && !classes));
const targets = filters.map((_, i) => (dead.has(i) ? 0 : 2 + ((i * 37) % 23) / 3));

function activation(i, step) {
  if (dead.has(i)) return 0;
  return targets[i] * (1 - Math.exp(-step / (25 + i * 3))) + Math.sin(step * 0.7 + i) * 0.04;
}

function history(step) {
  const values = new Float32Array(step * count);
  for (let s = 0; s < step; s++) for (let i = 0; i < count; i++) values[s * count + i] = activation(i, s + 1);
  return new DataView(values.buffer);
}

async function snapshot(step) {
  const strength = Math.min(1, 0.15 + step / 120);
  const tiles = await Promise.all(filters.map((_, i) => texture(i + 1, dead.has(i) ? 0.05 : strength)));
  const tile_info = filters.map((filter, i) => ({
    filter,
    label: classes ? CLASS_NAMES[i % CLASS_NAMES.length] : String(filter),
    activation: activation(i, step),
    dead: dead.has(i),
  }));
  return { tiles, tile_info, history: history(step), history_steps: step };
}

function status(step, device = "CPU") {
  const left = Math.round((MAX_STEPS - step) / 6.1);
  return `step ${step}/${MAX_STEPS} · 6.1 steps/s · ${left} s left · ${device}`;
}

const model = new FakeModel({
  tiles: [], tile_info: [], history: new DataView(new ArrayBuffer(0)), history_steps: 0,
  layer_name: params.get("layer") ?? (classes ? "predictions" : "block4a_expand_conv"),
  layer_kind: classes ? "dense 1000 units" : "conv 144 ch",
  state: "idle", progress: 0, status: "", error: "", tile_size: 112, columns: 0, placeholder_count: count,
});

function setAll(values) {
  for (const [name, value] of Object.entries(values)) model.set(name, value);
}

window.model = model;
widget.render({ model, el: document.getElementById("cell") });

async function scenarioState() {
  switch (scenario) {
    case "idle":
      return { placeholder_count: 0 };
    case "compiling":
      return { state: "compiling", status: "compiling the optimization step… · CPU" };
    case "running":
      return { ...(await snapshot(80)), state: "running", progress: 0.4, status: status(80) };
    case "done":
      return { ...(await snapshot(200)), state: "done", progress: 1, status: "done · 200 steps in 32.8 s · 6.1 steps/s · CPU" };
    case "stopped":
      return { ...(await snapshot(64)), state: "stopped", progress: 0.32, status: "stopped at step 64/200 · images kept" };
    case "error":
      return {
        ...(await snapshot(12)), state: "error", progress: 0.06, status: "failed at step 12/200",
        error: "ResourceExhaustedError: OOM when allocating tensor with shape [64,144,112,112]\n  try fewer filters or a smaller input size",
      };
    default:
      return {};
  }
}

setAll(await scenarioState());

if (scenario === "live") {
  setAll({ state: "compiling", status: "compiling the optimization step… · CPU" });
  await new Promise((resolve) => setTimeout(resolve, 1500));
  for (let step = 5; step <= MAX_STEPS; step += 5) {
    setAll({ ...(await snapshot(step)), state: "running", progress: step / MAX_STEPS, status: status(step) });
    await new Promise((resolve) => setTimeout(resolve, 120));
  }
  setAll({ state: "done", status: "done · 200 steps in 32.8 s · CPU" });
}

if (params.has("zoom")) {
  await new Promise((resolve) => setTimeout(resolve, 50));
  document.querySelectorAll(".actmax-grid__tile[data-index]")[Number(params.get("zoom"))]?.click();
}
document.body.dataset.ready = "true";
