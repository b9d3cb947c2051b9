// Hover and click on the charts: the shared tooltip, pointer coordinates in viewBox units, and the
// base of the charts whose hover picks the nearest drawn point.

import {chartCard, chartWidth, htmlEl} from "./charts.js";

export class Tooltip {
  constructor(parent) {
    this.el = htmlEl("div", {id: "kd-tooltip"}, parent);
  }

  // `lines`: [text, muted] pairs under the title, next to the pointer and inside the window.
  show(evt, title, lines) {
    const tt = this.el;
    tt.replaceChildren();
    htmlEl("div", {className: "kd-tt-title"}, tt, title);
    for (const [text, muted] of lines) htmlEl("div", {className: muted ? "kd-tt-muted" : ""}, tt, text);
    tt.style.display = "block";
    const pad = 14;
    let left = evt.clientX + pad, top = evt.clientY + pad;
    const w = tt.offsetWidth, hgt = tt.offsetHeight;
    if (left + w > window.innerWidth - 4) left = evt.clientX - w - pad;
    if (top + hgt > window.innerHeight - 4) top = evt.clientY - hgt - pad;
    tt.style.left = `${Math.max(4, left)}px`;
    tt.style.top = `${Math.max(4, top)}px`;
  }

  hide() {
    this.el.style.display = "none";
  }
}

// Calls move(x, y, evt), leave() and click(x, y) (if given) with pointer positions in the svg's
// viewBox units.
export function onPointer(svg, {move, leave, click = null}) {
  const toLocal = (evt) => {
    const rect = svg.getBoundingClientRect();
    const vb = svg.viewBox.baseVal;
    const sx = vb && vb.width ? vb.width / rect.width : 1;
    const sy = vb && vb.height ? vb.height / rect.height : 1;
    return [(evt.clientX - rect.left) * sx, (evt.clientY - rect.top) * sy];
  };
  svg.addEventListener("mousemove", (evt) => move(...toLocal(evt), evt));
  svg.addEventListener("mouseleave", () => leave());
  if (click) svg.addEventListener("click", (evt) => click(...toLocal(evt)));
}

// The point ({px, py, ...}) nearest to (mx, my) within `radius`, or null.
export function nearest(points, mx, my, radius = 18) {
  let best = null, bestD = radius * radius;
  for (const p of points) {
    const d = (p.px - mx) ** 2 + (p.py - my) ** 2;
    if (d < bestD) { bestD = d; best = p; }
  }
  return best;
}

// A chart card (charts.js chartCard `card` options) whose hover highlights the nearest drawn point.
// Subclasses set `points` and `plot` when they draw and define highlight(hit) -> overlay element,
// describe(hit) -> [title, lines] and, to pick a run by clicking, runOf(hit).
export class PointChart {
  constructor(grid, card, tooltip, onPick = null) {
    this.card = chartCard(grid, card);
    const svg = (this.svg = this.card.svg);
    this.tooltip = tooltip;
    this.points = [];
    this.plot = null;
    this.overlay = null;
    onPointer(svg, {
      move: (x, y, evt) => this.hover(x, y, evt),
      leave: () => { this.tooltip.hide(); this.removeOverlay(); },
      click: onPick && ((x, y) => {
        const hit = nearest(this.points, x, y);
        if (hit) onPick(this.runOf(hit));
      }),
    });
  }

  // Empties the chart; returns the width to draw it at.
  clear(fallbackWidth) {
    this.svg.replaceChildren();
    this.points = [];
    return chartWidth(this.svg, fallbackWidth);
  }

  hover(x, y, evt) {
    const hit = nearest(this.points, x, y);
    this.removeOverlay();
    if (!hit) { this.tooltip.hide(); return; }
    this.overlay = this.highlight(hit);
    this.tooltip.show(evt, ...this.describe(hit));
  }

  removeOverlay() {
    if (this.overlay) { this.overlay.remove(); this.overlay = null; }
  }
}
