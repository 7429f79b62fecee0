// Small SVG charts with no library: line charts (metric vs step) and a scatter (quality vs latency).
const NS = "http://www.w3.org/2000/svg";
const W = 420, H = 220, M = { top: 12, right: 14, bottom: 34, left: 52 };
export const COLORS = ["#6639ba", "#1a7f37", "#bc4c00", "#0969da"];

function el(name, attrs = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function extent(values) {
  let lo = Math.min(...values), hi = Math.max(...values);
  if (!isFinite(lo) || !isFinite(hi)) return [0, 1];
  if (lo === hi) { const pad = Math.abs(lo) * 0.1 || 1; lo -= pad; hi += pad; }
  return [lo, hi];
}

function ticks([lo, hi], count = 4) {
  const step = niceStep((hi - lo) / count);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

function niceStep(raw) {
  const power = 10 ** Math.floor(Math.log10(raw || 1));
  const unit = raw / power;
  return (unit <= 1 ? 1 : unit <= 2 ? 2 : unit <= 5 ? 5 : 10) * power;
}

export function fmt(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  const a = Math.abs(value);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return value.toExponential(1);
  return String(+value.toPrecision(4));
}

function frame(svg, xs, ys, xLabel, yLabel, { logX = false } = {}) {
  const tx = logX ? (v) => Math.log10(Math.max(v, 1e-9)) : (v) => v;
  const xDomain = extent(xs.map(tx)), yDomain = extent(ys);
  const x = (v) => M.left + ((tx(v) - xDomain[0]) / (xDomain[1] - xDomain[0])) * (W - M.left - M.right);
  const y = (v) => H - M.bottom - ((v - yDomain[0]) / (yDomain[1] - yDomain[0])) * (H - M.top - M.bottom);
  const axes = el("g", { class: "axes" });
  axes.append(el("line", { x1: M.left, y1: H - M.bottom, x2: W - M.right, y2: H - M.bottom }));
  axes.append(el("line", { x1: M.left, y1: M.top, x2: M.left, y2: H - M.bottom }));
  for (const t of ticks(yDomain)) {
    axes.append(el("line", { class: "grid", x1: M.left, x2: W - M.right, y1: y(t), y2: y(t) }));
    axes.append(el("text", { x: M.left - 6, y: y(t) + 4, "text-anchor": "end" }, fmt(t)));
  }
  const xTicks = logX ? ticks(xDomain).map((p) => 10 ** p) : ticks(xDomain);
  for (const t of xTicks) {
    axes.append(el("text", { x: x(t), y: H - M.bottom + 15, "text-anchor": "middle" }, fmt(t)));
  }
  axes.append(el("text", { class: "label", x: (M.left + W - M.right) / 2, y: H - 4, "text-anchor": "middle" }, xLabel));
  axes.append(el("text", { class: "label", x: 12, y: (M.top + H - M.bottom) / 2, "text-anchor": "middle",
    transform: `rotate(-90 12 ${(M.top + H - M.bottom) / 2})` }, yLabel));
  svg.append(axes);
  return { x, y };
}

function figure(container, key, title) {
  let fig = container.querySelector(`figure[data-chart="${key}"]`);
  if (!fig) {
    fig = document.createElement("figure");
    fig.className = "chart";
    fig.dataset.chart = key;
    container.append(fig);
  }
  fig.replaceChildren();
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title });
  svg.append(el("title", {}, title));
  const caption = document.createElement("figcaption");
  caption.textContent = title;
  fig.append(caption, svg);
  return { fig, svg, caption };
}

/** lines: [{name, points: [[x, y], …]}]; draws (or redraws) the chart `key` inside `container`. */
export function lineChart(container, key, { title, lines, xLabel = "step", yLabel = "" }) {
  const drawn = lines.filter((line) => line.points.length);
  if (!drawn.length) return null;
  const { fig, svg, caption } = figure(container, key, title);
  const points = drawn.flatMap((line) => line.points);
  const { x, y } = frame(svg, points.map((p) => p[0]), points.map((p) => p[1]), xLabel, yLabel);
  drawn.forEach((line, i) => {
    const color = COLORS[i % COLORS.length];
    const d = line.points.map(([px, py], j) => `${j ? "L" : "M"}${x(px).toFixed(1)},${y(py).toFixed(1)}`).join("");
    svg.append(el("path", { class: "line", d, stroke: color, "data-series": line.name }));
    if (line.points.length < 30) {
      for (const [px, py] of line.points) svg.append(el("circle", { cx: x(px), cy: y(py), r: 2.5, fill: color }));
    }
    const last = line.points[line.points.length - 1];
    const legend = document.createElement("span");
    legend.className = "legend";
    legend.dataset.color = String(i % COLORS.length);
    legend.textContent = `${line.name} ${fmt(last[1])}`;
    caption.append(" ", legend);
  });
  return fig;
}

/** points: [{name, x, y}]; quality (y) against latency (x, log scale when it spans a decade). */
export function scatterChart(container, key, { title, points, xLabel, yLabel }) {
  const shown = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  if (!shown.length) return null;
  const { fig, svg } = figure(container, key, title);
  const xs = shown.map((p) => p.x);
  const logX = Math.min(...xs) > 0 && Math.max(...xs) / Math.min(...xs) > 10;
  const { x, y } = frame(svg, xs, shown.map((p) => p.y), xLabel + (logX ? " (log)" : ""), yLabel, { logX });
  shown.forEach((p, i) => {
    const color = COLORS[i % COLORS.length];
    const group = el("g", { class: "point" });
    group.append(el("circle", { cx: x(p.x), cy: y(p.y), r: 5, fill: color }));
    group.append(el("text", { x: x(p.x) + 7, y: y(p.y) - 6 }, p.name));
    group.append(el("title", {}, `${p.name}: ${fmt(p.y)} at ${fmt(p.x)}`));
    svg.append(group);
  });
  return fig;
}
