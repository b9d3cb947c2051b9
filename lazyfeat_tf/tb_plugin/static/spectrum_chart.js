// Top eigenvalues of the kernel at the focus checkpoint (solid) and at t = 0 (dashed), per split,
// on log-log axes. The card's header holds the focus controls (focus.js).

import {
  CATEGORICAL, centerMessage, domainOf, drawFrame, formatNumber, legendBox, legendFrame,
  pathData, scaleLog, svgEl, svgText,
} from "./charts.js";
import {PointChart} from "./hover.js";
import {SPLIT_COLORS, splitCompare} from "./state.js";

const HEIGHT = 264;
const MARGIN = {left: 56, right: 12, top: 12, bottom: 38};

export class SpectrumChart extends PointChart {
  constructor(grid, tooltip) {
    super(grid, {id: "kd-card-spectrum", title: "Kernel spectrum at a checkpoint", svgId: "kd-spectrum",
      label: "Eigenvalue spectrum", header: "kd-controls"}, tooltip);
    this.controls = this.card.head;
  }

  // focus: {run, eig} (focus.js); eig is an /eigenvalues answer, or {error}.
  draw({run, eig}) {
    this.run = run;
    const svg = this.svg;
    const width = this.clear(420);
    const series = spectra(eig);
    const xs = [], ys = [];
    for (const s of series) s.values.forEach((v, i) => { xs.push(i + 1); ys.push(v); });
    const x = scaleLog(...domainOf(xs, true, [1, 10]), MARGIN.left, width - MARGIN.right);
    const y = scaleLog(...domainOf(ys, true), HEIGHT - MARGIN.bottom, MARGIN.top);
    const {plot, inner} = drawFrame(svg, {width, height: HEIGHT, margin: MARGIN, x, y,
      xLabel: "eigenvalue index i (log)", yLabel: "λᵢ of Θ (log)"});
    this.plot = plot;
    if (!series.length) {
      centerMessage(svg, inner, !run ? "No run selected." : eig && eig.error ? eig.error : (eig && eig.message) || "No eigenvalues.");
    }
    for (const s of series) {
      const color = SPLIT_COLORS[s.split] || CATEGORICAL[5];
      const idx = s.values.map((_, i) => i + 1);
      svgEl("path", {d: pathData(idx, s.values, x, y), stroke: color, "stroke-width": 1.6, fill: "none",
        "stroke-dasharray": s.dash || null, class: "kd-curve", "data-split": s.split}, plot);
      s.values.forEach((v, i) => {
        if (!y.valid(v)) return;
        const px = x(i + 1), py = y(v);
        if (!s.dash) svgEl("circle", {cx: px, cy: py, r: 2.2, fill: color}, plot);
        this.points.push({px, py, s, i, v, color});
      });
    }
    if (series.length) this.drawLegend(svg, inner, series);
    this.card.note.textContent = eig && eig.message && series.length ? eig.message : "";
  }

  drawLegend(svg, inner, series) {
    const polylines = series.map((s) => this.points.filter((p) => p.s === s));
    const box = legendBox(inner, 160, series.length * 14 + 6, [], polylines);
    const g = legendFrame(svg, box);
    series.forEach((s, k) => {
      const ly = box.y + 13 + 14 * k;
      svgEl("line", {x1: box.x + 6, x2: box.x + 24, y1: ly - 4, y2: ly - 4,
        stroke: SPLIT_COLORS[s.split] || CATEGORICAL[5], "stroke-width": 1.6, "stroke-dasharray": s.dash || null}, g);
      svgText(g, box.x + 28, ly, s.label, {"font-size": 10.5});
    });
  }

  highlight(hit) {
    return svgEl("circle", {cx: hit.px, cy: hit.py, r: 4.5, fill: hit.color, class: "kd-dot-hl"}, this.plot);
  }

  describe(hit) {
    const s = hit.s;
    return [`λ${hit.i + 1} (${s.split} probes)`, [
      [`${formatNumber(hit.v, 4)} at step ${s.step}, t = ${formatNumber(s.t, 4)}`, false],
      [this.run || "", true],
    ]];
  }
}

// The spectra of an /eigenvalues answer: at the chosen checkpoint, then at the first one (dashed).
function spectra(eig) {
  const series = [];
  if (!eig || !eig.eigenvalues) return series;
  const bySplit = (obj) => Object.entries(obj).sort(([a], [b]) => splitCompare(a, b));
  for (const [split, values] of bySplit(eig.eigenvalues)) {
    series.push({split, values, dash: "", label: `${split}, t = ${formatNumber(eig.t_step)}`, t: eig.t_step, step: eig.step});
  }
  if (eig.initial && eig.initial.eigenvalues) {
    for (const [split, values] of bySplit(eig.initial.eigenvalues)) {
      const label = eig.initial.t === 0 ? `${split}, t = 0 (Θ₀)` : `${split}, first kept t = ${formatNumber(eig.initial.t)}`;
      series.push({split, values, dash: "5 3", label, t: eig.initial.t, step: eig.initial.step});
    }
  }
  return series;
}
