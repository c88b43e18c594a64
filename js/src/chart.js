// The enlarged view's line chart of one tile's activation over steps, as inline SVG.
// Built once and updated in place, so a live run does not rebuild the DOM each frame.
import { s } from "./dom.js";

const WIDTH = 320;
const HEIGHT = 176;
const MARGIN = { left: 50, right: 12, top: 10, bottom: 38 };
const PLOT_W = WIDTH - MARGIN.left - MARGIN.right;
const PLOT_H = HEIGHT - MARGIN.top - MARGIN.bottom;

function niceStep(span, count) {
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const normalized = raw / magnitude;
  const nice = normalized < 1.5 ? 1 : normalized < 3 ? 2 : normalized < 7 ? 5 : 10;
  return nice * magnitude;
}

/** Rounded axis range and tick values that cover [min, max] with about `count` intervals. */
export function niceTicks(min, max, count = 4, integer = false) {
  if (min === max) {
    const pad = Math.abs(min) * 0.1 || 1;
    min -= pad;
    max += pad;
  }
  let step = niceStep(max - min, count);
  if (integer) step = Math.max(1, Math.round(step));
  const lo = Math.floor(min / step) * step;
  const hi = Math.ceil(max / step) * step;
  const ticks = [];
  for (let value = lo; value <= hi + step / 2; value += step) ticks.push(Number(value.toPrecision(12)));
  return { lo, hi, step, ticks };
}

function tickLabel(value, step) {
  if (value !== 0 && (Math.abs(value) >= 1e5 || Math.abs(step) < 1e-3)) return value.toExponential(1);
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  return value.toFixed(Math.min(decimals, 4));
}

export function createChart(titleText) {
  const grid = s("g", { class: "actmax-grid__chart-grid" });
  const yTicks = s("g", { class: "actmax-grid__chart-ticks" });
  const xTicks = s("g", { class: "actmax-grid__chart-ticks" });
  const area = s("path", { class: "actmax-grid__chart-area" });
  const line = s("path", { class: "actmax-grid__chart-line" });
  const dot = s("circle", { class: "actmax-grid__chart-dot", r: 3.5 });
  const empty = s(
    "text",
    { class: "actmax-grid__chart-empty", x: MARGIN.left + PLOT_W / 2, y: MARGIN.top + PLOT_H / 2, "text-anchor": "middle" },
    "No history yet",
  );
  const title = s("title", {}, titleText);
  const svg = s(
    "svg",
    { class: "actmax-grid__chart", viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": titleText },
    title,
    grid,
    s("path", {
      class: "actmax-grid__chart-axis",
      d: `M${MARGIN.left} ${MARGIN.top}V${MARGIN.top + PLOT_H}H${MARGIN.left + PLOT_W}`,
    }),
    area,
    line,
    dot,
    yTicks,
    xTicks,
    empty,
    s(
      "text",
      { class: "actmax-grid__chart-label", x: MARGIN.left + PLOT_W / 2, y: HEIGHT - 4, "text-anchor": "middle" },
      "step",
    ),
    s(
      "text",
      {
        class: "actmax-grid__chart-label",
        transform: `translate(11 ${MARGIN.top + PLOT_H / 2}) rotate(-90)`,
        "text-anchor": "middle",
      },
      "activation",
    ),
  );

  function update(values) {
    const points = [];
    values.forEach((value, step) => {
      if (Number.isFinite(value)) points.push([step + 1, value]);
    });
    grid.replaceChildren();
    yTicks.replaceChildren();
    xTicks.replaceChildren();
    const hasData = points.length > 0;
    empty.style.display = hasData ? "none" : "";
    for (const element of [area, line, dot]) element.style.display = hasData ? "" : "none";
    if (!hasData) return;

    const ys = points.map(([, value]) => value);
    const y = niceTicks(Math.min(...ys), Math.max(...ys), 4);
    const x = niceTicks(1, Math.max(2, values.length), 4, true);
    x.lo = 1;
    x.ticks = x.ticks.filter((tick) => tick >= 1);
    if (x.ticks[0] !== 1) x.ticks.unshift(1);
    const px = (step) => MARGIN.left + ((step - x.lo) / (x.hi - x.lo)) * PLOT_W;
    const py = (value) => MARGIN.top + PLOT_H - ((value - y.lo) / (y.hi - y.lo)) * PLOT_H;

    for (const tick of y.ticks) {
      const ty = py(tick).toFixed(1);
      grid.append(s("path", { d: `M${MARGIN.left} ${ty}H${MARGIN.left + PLOT_W}` }));
      yTicks.append(
        s("text", { x: MARGIN.left - 6, y: ty, dy: "0.32em", "text-anchor": "end" }, tickLabel(tick, y.step)),
      );
    }
    for (const tick of x.ticks) {
      xTicks.append(
        s("text", { x: px(tick).toFixed(1), y: MARGIN.top + PLOT_H + 14, "text-anchor": "middle" }, String(tick)),
      );
    }

    const path = points.map(([step, value], i) => `${i ? "L" : "M"}${px(step).toFixed(1)} ${py(value).toFixed(1)}`);
    line.setAttribute("d", path.join(""));
    const [firstStep] = points[0];
    const [lastStep, lastValue] = points[points.length - 1];
    const baseline = py(Math.min(Math.max(0, y.lo), y.hi)).toFixed(1);
    area.setAttribute("d", `${path.join("")}L${px(lastStep).toFixed(1)} ${baseline}L${px(firstStep).toFixed(1)} ${baseline}Z`);
    dot.setAttribute("cx", px(lastStep).toFixed(1));
    dot.setAttribute("cy", py(lastValue).toFixed(1));
  }

  return { element: svg, update };
}
