// Heatmap of (Theta_t - Theta_0) / ||Theta_0|| on the train-probe subsample at the focus
// checkpoint, with a symmetric diverging colour bar.

import {chartCard, chartWidth, divergingColor, formatNumber, svgEl, svgText} from "./charts.js";
import {onPointer} from "./hover.js";

export class HeatmapChart {
  constructor(grid, tooltip) {
    this.card = chartCard(grid, {id: "kd-card-heatmap", title: "(Θₜ − Θ₀) / ‖Θ₀‖ on a subsample of train probes",
      svgId: "kd-heatmap", label: "Kernel change heatmap"});
    this.svg = this.card.svg;
    this.tooltip = tooltip;
    this.grid = null;  // {x0, y0, size, m, n, values} of the drawn matrix
    onPointer(this.svg, {move: (x, y, evt) => this.hover(x, y, evt), leave: () => tooltip.hide()});
  }

  // focus: {run, heat} (focus.js); heat is a /heatmap answer, or {error}.
  draw({run, heat}) {
    this.heat = heat;
    const svg = this.svg;
    svg.replaceChildren();
    const width = chartWidth(svg, 420);
    const size = Math.max(120, Math.min(width - 110, 250));
    const height = size + 20;
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    this.grid = null;
    if (!heat || !heat.values) {
      const msg = !run ? "No run selected." : heat && heat.error ? heat.error : (heat && heat.message) || "No heatmap.";
      svgText(svg, width / 2, height / 2, msg, {"text-anchor": "middle", class: "kd-chart-msg"});
      this.card.head.textContent = run || "";
      this.card.note.textContent = "";
      return;
    }
    const values = heat.values;
    const m = values.length, n = values[0].length;
    const vmax = heat.abs_max > 0 ? heat.abs_max : 1;
    const x0 = Math.max(8, (width - size - 90) / 2), y0 = 8;
    svgEl("image", {x: x0, y: y0, width: size, height: size, href: matrixImage(values, vmax),
      preserveAspectRatio: "none", style: "image-rendering: pixelated", class: "kd-heat-image"}, svg);
    svgEl("rect", {x: x0, y: y0, width: size, height: size, fill: "none", stroke: "#bdbdbd"}, svg);
    drawColorbar(svg, x0 + size + 16, y0, size, vmax);
    this.card.head.textContent = `${heat.run} · step ${heat.step} · t = ${formatNumber(heat.t_step)} · ${m}×${n} probes`;
    this.card.note.textContent = "Rows and columns: the fixed train-probe subsample; colour scale symmetric at ± max |entry| of this checkpoint.";
    this.grid = {x0, y0, size, m, n, values};
  }

  hover(mx, my, evt) {
    const g = this.grid;
    if (!g) return;
    const j = Math.floor(((mx - g.x0) / g.size) * g.n), i = Math.floor(((my - g.y0) / g.size) * g.m);
    if (i < 0 || j < 0 || i >= g.m || j >= g.n) { this.tooltip.hide(); return; }
    this.tooltip.show(evt, `probe ${i} × probe ${j}`, [
      [`(Θₜ − Θ₀)ᵢⱼ / ‖Θ₀‖ = ${formatNumber(g.values[i][j], 4)}`, false],
      [`${this.heat.run} · t = ${formatNumber(this.heat.t_step)}`, true],
    ]);
  }
}

// PNG data URL of the matrix, one pixel per entry (missing entries grey).
function matrixImage(values, vmax) {
  const canvas = document.createElement("canvas");
  canvas.width = values[0].length;
  canvas.height = values.length;
  const ctx = canvas.getContext("2d");
  values.forEach((row, i) => row.forEach((v, j) => {
    ctx.fillStyle = v === null ? "#bdbdbd" : divergingColor(v / vmax);
    ctx.fillRect(j, i, 1, 1);
  }));
  return canvas.toDataURL("image/png");
}

function drawColorbar(svg, cx, y0, size, vmax) {
  const nb = 40;
  for (let k = 0; k < nb; k++) {
    const u = 1 - (2 * (k + 0.5)) / nb;
    svgEl("rect", {x: cx, y: y0 + k * (size / nb), width: 12, height: size / nb + 0.6, fill: divergingColor(u)}, svg);
  }
  svgEl("rect", {x: cx, y: y0, width: 12, height: size, fill: "none", stroke: "#bdbdbd"}, svg);
  for (const [u, label] of [[1, "+" + formatNumber(vmax, 2)], [0, "0"], [-1, "−" + formatNumber(vmax, 2)]]) {
    const py = y0 + (1 - (u + 1) / 2) * size;
    svgEl("line", {x1: cx + 12, x2: cx + 16, y1: py, y2: py, stroke: "#9e9e9e"}, svg);
    svgText(svg, cx + 19, py + 4, label, {"font-size": 10.5, fill: "#616161"});
  }
}
