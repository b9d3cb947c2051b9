// Kernel drift (or alignment, effective rank) vs physical time t: one curve per drawn run coloured
// by alpha*sqrt(h), dashed per-layer curves on demand, a colour bar of alpha*sqrt(h).

import {
  DASHES, centerMessage, domainOf, drawFrame, formatNumber, legendBox, legendFrame,
  logTicks, pathData, scaleLin, scaleLog, sequentialColor, svgEl, svgText,
} from "./charts.js";
import {PointChart} from "./hover.js";
import {GREY, METRICS, naturalCompare} from "./state.js";

const HEIGHT = 360;
const MARGIN = {left: 62, right: 118, top: 12, bottom: 38};

export class DriftChart extends PointChart {
  constructor(grid, tooltip, onPick) {
    super(grid, {id: "kd-card-drift", title: METRICS.total.label + " vs physical time t", svgId: "kd-drift",
      label: "Kernel drift vs t", note: false, wide: true}, tooltip, onPick);
  }

  draw(state) {
    this.state = state;
    const svg = this.svg;
    const width = this.clear(900);
    const metric = METRICS[state.metric];
    const scaled = state.timeAxis === "scaled";
    this.card.heading.textContent = metric.label + (scaled ? " vs t / (α√h)" : " vs physical time t");
    const drawn = state.drawnRuns();
    const found = curves(state, drawn);
    const xVals = [], yVals = [];
    for (const l of found.lines) {
      for (let i = 0; i < l.xs.length; i++) {
        const xv = l.xs[i], yv = l.ys[i];
        if (xv > 0 && yv !== null && (!metric.log || yv > 0)) { xVals.push(xv); yVals.push(yv); }
      }
    }
    const x = scaleLog(...domainOf(xVals, true), MARGIN.left, width - MARGIN.right);
    const y = (metric.log ? scaleLog : scaleLin)(...domainOf(yVals, metric.log), HEIGHT - MARGIN.bottom, MARGIN.top);
    const {plot, inner} = drawFrame(svg, {width, height: HEIGHT, margin: MARGIN, x, y,
      xLabel: scaled ? "t / (α√h)  (log)" : "physical time t (log)",
      yLabel: metric.short + (metric.log ? " (log)" : "")});
    if (!xVals.length) centerMessage(svg, inner, emptyMessage(state, drawn, found));
    this.plot = plot;
    this.points = drawCurves(plot, found, x, y);
    drawColorbar(svg, state, width - MARGIN.right + 26, MARGIN.top + 4, HEIGHT - MARGIN.top - MARGIN.bottom - 8);
    if (found.layerNames.length) drawLayerLegend(svg, inner, found.layerNames, this.points);
    const nDrawn = new Set(found.lines.map((l) => l.run)).size;
    const parts = [`${nDrawn} run${nDrawn === 1 ? "" : "s"} · ${state.split} probes`];
    if (state.metric === "total") parts.push("log-log");
    if (found.noMeta && scaled) parts.push(`${found.noMeta} run(s) without metadata not drawn`);
    parts.push("hover for values, click a curve for its spectrum and heatmap");
    this.card.head.textContent = parts.join(" · ");
  }

  runOf(hit) {
    return hit.line.run;
  }

  highlight(hit) {
    const l = hit.line;
    const g = svgEl("g", {}, this.plot);
    svgEl("path", {d: hit.d, class: "kd-highlight", stroke: l.color, "stroke-dasharray": l.dash || null}, g);
    svgEl("circle", {cx: hit.px, cy: hit.py, r: 4.5, fill: l.color, class: "kd-dot-hl"}, g);
    return g;
  }

  describe(hit) {
    const l = hit.line, state = this.state;
    const what = l.layer ? `layer ${l.layer}` : METRICS[state.metric].short;
    return [l.run, [
      ...state.metadataLines(l.run),
      [`t = ${formatNumber(l.t[hit.i], 4)} · step ${l.steps[hit.i]}` +
        (state.timeAxis === "scaled" ? ` · t/(α√h) = ${formatNumber(l.xs[hit.i], 4)}` : ""), false],
      [`${what} (${state.split}) = ${formatNumber(l.ys[hit.i], 4)}`, false],
      ["click: spectrum and heatmap of this run", true],
    ]];
  }
}

// The curves of the drawn runs, the layer names met, and how many runs could not be drawn.
function curves(state, drawn) {
  const lines = [], layerNames = [];
  let missingSplit = 0, noMeta = 0;
  // Many curves: thinner and lighter, so that bundles stay readable.
  const crowd = drawn.length > 60 ? 2 : drawn.length > 15 ? 1 : 0;
  const baseWidth = [1.8, 1.3, 0.9][crowd];
  for (const run of drawn) {
    const cached = state.series.get(run);
    if (!cached) continue;
    const s = cached.data;
    const split = s.splits[state.split];
    if (!split) { missingSplit += 1; continue; }
    const color = state.ashColor(run);
    let xs = s.t;
    if (state.timeAxis === "scaled") {
      const r = state.byName.get(run);
      if (!r || !r.metadata) { noMeta += 1; continue; }
      xs = s.t.map((t) => (t === null ? null : t / r.metadata.alpha_sqrt_h));
    }
    const common = {run, xs, t: s.t, steps: s.steps, color};
    const ys = split[state.metric];
    if (ys) lines.push({...common, ys, layer: null, dash: "", width: baseWidth});
    if (state.perLayer && state.metric === "total" && split.layers) {
      for (const layer of Object.keys(split.layers).sort(naturalCompare)) {
        if (!layerNames.includes(layer)) layerNames.push(layer);
        lines.push({...common, ys: split.layers[layer], layer, dash: layerDash(layerNames.indexOf(layer)),
          width: baseWidth * 0.8});
      }
    }
  }
  return {lines, layerNames, missingSplit, noMeta, opacity: [0.95, 0.8, 0.55][crowd]};
}

function layerDash(i) {
  return DASHES[1 + (i % (DASHES.length - 1))];
}

function emptyMessage(state, drawn, {lines, missingSplit, noMeta}) {
  if (!drawn.length) {
    return state.visible && state.visible.size === 0 && state.runs.length
      ? "No run matches the filter." : "No run selected: tick runs in the list on the left.";
  }
  if (!lines.length && missingSplit) return `The selected runs have no '${state.split}' probes.`;
  if (!lines.length && noMeta) return "t / (α√h) needs run metadata (alpha, h), which the selected runs lack.";
  if (drawn.some((r) => !state.series.get(r))) return "Loading…";
  return "No checkpoint with t > 0 in the selected runs yet.";
}

// Draws the curves; returns their points for hovering.
function drawCurves(plot, {lines, opacity}, x, y) {
  const points = [];
  for (const l of lines) {
    const d = pathData(l.xs, l.ys, x, y);
    if (!d) continue;
    svgEl("path", {d, class: "kd-curve", stroke: l.color, "stroke-width": l.width,
      "stroke-dasharray": l.dash || null, "stroke-opacity": opacity * (l.layer ? 0.8 : 1),
      "data-run": l.run, "data-layer": l.layer}, plot);
    for (let i = 0; i < l.xs.length; i++) {
      const xv = l.xs[i], yv = l.ys[i];
      if (xv === null || yv === null || !x.valid(xv) || !y.valid(yv)) continue;
      points.push({px: x(xv), py: y(yv), line: l, i, d});
    }
  }
  return points;
}

// Dash styles of the layers, in one row, where the legend hides the fewest points.
function drawLayerLegend(svg, inner, layerNames, points) {
  const items = [["total", ""], ...layerNames.map((n, i) => [n, layerDash(i)])];
  const itemWidth = (name) => 34 + Math.max(28, name.length * 6.2);
  const box = legendBox(inner, 8 + items.reduce((a, [n]) => a + itemWidth(n), 0), 18, points);
  const g = legendFrame(svg, box);
  let lx = box.x + 6;
  for (const [name, dash] of items) {
    svgEl("line", {x1: lx, x2: lx + 22, y1: box.y + 9, y2: box.y + 9, stroke: "#424242", "stroke-width": 1.4,
      "stroke-dasharray": dash || null}, g);
    svgText(g, lx + 26, box.y + 13, name, {"font-size": 11});
    lx += itemWidth(name);
  }
}

// Colour bar of alpha*sqrt(h) (log scale), with a grey swatch for runs without metadata.
function drawColorbar(svg, state, x0, y0, h) {
  const g = svgEl("g", {class: "kd-colorbar"}, svg);
  const [d0, d1] = state.ashDomain;
  const n = 48;
  for (let i = 0; i < n; i++) {
    svgEl("rect", {x: x0, y: y0 + h - (i + 1) * (h / n), width: 12, height: h / n + 0.6,
      fill: sequentialColor(i / n + 0.5 / n)}, g);
  }
  svgEl("rect", {x: x0, y: y0, width: 12, height: h, fill: "none", stroke: "#bdbdbd"}, g);
  const s = scaleLog(d0, d1, y0 + h, y0);
  for (const t of logTicks(d0, d1).major) {
    const py = s(t.v);
    svgEl("line", {x1: x0 + 12, x2: x0 + 16, y1: py, y2: py, stroke: "#9e9e9e"}, g);
    svgText(g, x0 + 19, py + 4, t.label, {"font-size": 10.5, fill: "#616161"});
  }
  svgText(g, 0, 0, "α√h  (feature ↓  lazy ↑)", {"font-size": 11, fill: "#616161",
    "text-anchor": "middle", transform: `translate(${x0 - 8} ${y0 + h / 2}) rotate(-90)`});
  if (state.runs.some((r) => r.has_kernel_data && !r.metadata)) {
    svgEl("rect", {x: x0, y: y0 + h + 8, width: 12, height: 8, fill: GREY}, g);
    svgText(g, x0 + 16, y0 + h + 16, "no metadata", {"font-size": 10, fill: "#616161"});
  }
}
