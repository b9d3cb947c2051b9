// The collapse plot: final kernel drift of each drawn run vs alpha*sqrt(h), one colour and marker
// per width h, geometric means over seeds joined by lines, and the lazy-regime slope -1.

import {
  centerMessage, domainOf, drawFrame, formatNumber, legendBox, legendFrame,
  pathData, scaleLog, svgEl, svgText,
} from "./charts.js";
import {PointChart} from "./hover.js";

const HEIGHT = 300;
const MARGIN = {left: 56, right: 12, top: 12, bottom: 38};
// Marker shapes for the widths h (hollow: overlapping points stay visible).
const SHAPES = ["circle", "square", "triangle", "diamond", "triangle-down", "cross"];

export class CollapseChart extends PointChart {
  constructor(grid, tooltip, onPick) {
    super(grid, {id: "kd-card-collapse", title: "Final kernel drift vs α√h, grouped by width h",
      svgId: "kd-collapse", label: "Final drift vs alpha sqrt h"}, tooltip, onPick);
  }

  draw(state) {
    this.state = state;
    const svg = this.svg;
    const width = this.clear(420);
    const drawn = new Set(state.drawnRuns());
    const pts = [];
    let noSplit = 0;
    for (const p of (state.final && state.final.points) || []) {
      if (!drawn.has(p.run)) continue;
      const d = p.drift[state.split];
      if (!d) { noSplit += 1; continue; }
      if (d.value !== null && d.value > 0) pts.push({...p, value: d.value, tLast: d.t});
    }
    const x = scaleLog(...domainOf(pts.map((p) => p.alpha_sqrt_h), true, [0.1, 10]), MARGIN.left, width - MARGIN.right);
    const y = scaleLog(...domainOf(pts.map((p) => p.value), true), HEIGHT - MARGIN.bottom, MARGIN.top);
    const {plot, inner} = drawFrame(svg, {width, height: HEIGHT, margin: MARGIN, x, y, xLabel: "α√h (log)",
      yLabel: "final drift (log)"});
    this.plot = plot;
    if (!pts.length) {
      centerMessage(svg, inner, drawn.size ? "No finished checkpoint with drift > 0 among the selected runs." : "No run selected.");
    } else {
      drawReferences(plot, inner, x, y, pts);
      const widths = [...new Set(pts.map((p) => p.width))].sort((a, b) => a - b);
      for (const w of widths) this.drawWidth(plot, x, y, pts.filter((p) => p.width === w));
      this.drawWidthLegend(svg, inner, widths);
    }
    const skipped = state.final && state.final.skipped ? state.final.skipped.filter((s) => drawn.has(s.run)) : [];
    this.card.head.textContent = `${pts.length} run${pts.length === 1 ? "" : "s"} · ${state.split} probes · last checkpoint of each run; lines: geometric mean over seeds`;
    const notes = [];
    if (skipped.length) notes.push(`${skipped.length} selected run(s) not shown: ${skipped.slice(0, 2).map((s) => s.reason).join("; ")}.`);
    if (noSplit) notes.push(`${noSplit} run(s) without '${state.split}' probes.`);
    this.card.note.textContent = notes.join(" ");
  }

  // The points of one width: markers, and a line through the geometric means over seeds.
  drawWidth(plot, x, y, pts) {
    const {color, shape} = this.widthStyle(pts[0].width);
    const group = new Map();
    for (const p of pts) {
      const k = p.alpha_sqrt_h.toPrecision(6);
      if (!group.has(k)) group.set(k, []);
      group.get(k).push(p);
    }
    const means = [...group.values()].map((g) => [geoMean(g.map((p) => p.alpha_sqrt_h)), geoMean(g.map((p) => p.value))]);
    means.sort((a, b) => a[0] - b[0]);
    if (means.length > 1) {
      svgEl("path", {d: pathData(means.map((m) => m[0]), means.map((m) => m[1]), x, y), stroke: color,
        "stroke-width": 1.4, fill: "none", "stroke-opacity": 0.8, class: "kd-curve"}, plot);
    }
    for (const p of pts) {
      const px = x(p.alpha_sqrt_h), py = y(p.value);
      svgEl("path", {d: markerPath(shape, px, py, 3.6), fill: color, "fill-opacity": 0.12, stroke: color,
        "stroke-width": 1.3, class: "kd-point", "data-run": p.run}, plot);
      this.points.push({px, py, p, color});
    }
  }

  // Legend of widths, in the emptiest corner.
  drawWidthLegend(svg, inner, widths) {
    const box = legendBox(inner, 80, widths.length * 15 + 6, this.points);
    const g = legendFrame(svg, box);
    widths.forEach((w, k) => {
      const {color, shape} = this.widthStyle(w);
      svgEl("path", {d: markerPath(shape, box.x + 10, box.y + 10 + 15 * k, 3.6),
        fill: color, "fill-opacity": 0.12, stroke: color, "stroke-width": 1.3}, g);
      svgText(g, box.x + 19, box.y + 14 + 15 * k, `h = ${w}`, {"font-size": 11});
    });
  }

  widthStyle(width) {
    const i = this.state.widthIndex.get(width);
    return {color: this.state.widthColor(width), shape: i === undefined ? "circle" : SHAPES[i % SHAPES.length]};
  }

  runOf(hit) {
    return hit.p.run;
  }

  highlight(hit) {
    return svgEl("circle", {cx: hit.px, cy: hit.py, r: 6, fill: hit.color, class: "kd-dot-hl"}, this.plot);
  }

  describe(hit) {
    const p = hit.p;
    return [p.run, [
      ...this.state.metadataLines(p.run),
      [`final drift (${this.state.split}) = ${formatNumber(p.value, 4)}`, false],
      [`at t = ${formatNumber(p.tLast, 4)}`, true],
    ]];
  }
}

// The crossover alpha*sqrt(h) = 1 and a slope -1 (lazy regime) through the points with
// alpha*sqrt(h) >= 10 (else the lazy-most third of the points).
function drawReferences(plot, inner, x, y, pts) {
  if (x.domain[0] < 1 && x.domain[1] > 1) {
    svgEl("line", {x1: x(1), x2: x(1), y1: inner.top, y2: inner.bottom, stroke: "#9e9e9e",
      "stroke-dasharray": "2 3"}, plot);
    svgText(plot, x(1) + 4, inner.bottom - 6, "α√h = 1", {"font-size": 10.5, fill: "#757575"});
  }
  const sorted = pts.slice().sort((a, b) => a.alpha_sqrt_h - b.alpha_sqrt_h);
  const lazy = sorted.filter((p) => p.alpha_sqrt_h >= 10);
  const top = lazy.length ? lazy : sorted.slice(Math.floor(sorted.length * 2 / 3));
  if (top.length && sorted.length >= 3) {
    const x0 = geoMean(top.map((p) => p.alpha_sqrt_h)), y0 = geoMean(top.map((p) => p.value));
    const [a, b] = x.domain;
    svgEl("path", {d: `M${x(a)} ${y(y0 * x0 / a)}L${x(b)} ${y(y0 * x0 / b)}`, stroke: "#757575",
      "stroke-dasharray": "6 4", fill: "none", "stroke-width": 1}, plot);
    const lx = x(b) - 70, ly = y(y0 * x0 / x.invert(x(b) - 70)) - 8;
    svgText(plot, lx, Math.max(inner.top + 12, ly), "∝ (α√h)⁻¹", {"font-size": 11, fill: "#616161"});
  }
}

function geoMean(values) {
  return Math.exp(values.reduce((s, v) => s + Math.log(v), 0) / values.length);
}

function markerPath(shape, x, y, r) {
  switch (shape) {
    case "square": return `M${x - r} ${y - r}h${2 * r}v${2 * r}h${-2 * r}Z`;
    case "triangle": return `M${x} ${y - 1.2 * r}L${x + 1.1 * r} ${y + 0.8 * r}L${x - 1.1 * r} ${y + 0.8 * r}Z`;
    case "triangle-down": return `M${x} ${y + 1.2 * r}L${x + 1.1 * r} ${y - 0.8 * r}L${x - 1.1 * r} ${y - 0.8 * r}Z`;
    case "diamond": return `M${x} ${y - 1.3 * r}L${x + 1.3 * r} ${y}L${x} ${y + 1.3 * r}L${x - 1.3 * r} ${y}Z`;
    case "cross": return `M${x - r} ${y}h${2 * r}M${x} ${y - r}v${2 * r}`;
    default: return `M${x - r} ${y}a${r} ${r} 0 1 0 ${2 * r} 0a${r} ${r} 0 1 0 ${-2 * r} 0Z`;
  }
}
