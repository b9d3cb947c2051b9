// Minimal SVG charting for the Kernel drift tab: scales, ticks, axes, colour maps.
// Plain DOM APIs only; every string from data goes through textContent / setAttribute.

export const SVG_NS = "http://www.w3.org/2000/svg";

export function svgEl(tag, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  }
  if (parent) parent.appendChild(node);
  return node;
}

export function svgText(parent, x, y, text, attrs = {}) {
  const node = svgEl("text", {x, y, ...attrs}, parent);
  node.textContent = text;
  return node;
}

export function htmlEl(tag, attrs = {}, parent = null, text = null) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "className") node.className = v;
    else if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  }
  if (text !== null) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

// ---------------------------------------------------------------------------------------------
// Scales

export function scaleLog(d0, d1, r0, r1) {
  const l0 = Math.log10(d0), l1 = Math.log10(d1);
  const span = l1 - l0 || 1;
  const f = (v) => r0 + ((Math.log10(v) - l0) / span) * (r1 - r0);
  f.invert = (p) => 10 ** (l0 + ((p - r0) / (r1 - r0)) * span);
  f.domain = [d0, d1];
  f.range = [r0, r1];
  f.isLog = true;
  f.valid = (v) => Number.isFinite(v) && v > 0;
  return f;
}

export function scaleLin(d0, d1, r0, r1) {
  const span = d1 - d0 || 1;
  const f = (v) => r0 + ((v - d0) / span) * (r1 - r0);
  f.invert = (p) => d0 + ((p - r0) / (r1 - r0)) * span;
  f.domain = [d0, d1];
  f.range = [r0, r1];
  f.isLog = false;
  f.valid = (v) => Number.isFinite(v);
  return f;
}

// Domain covering `values` (non-finite ignored; non-positive ignored for log), padded.
export function domainOf(values, log, fallback = log ? [0.1, 1] : [0, 1]) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v) || (log && v <= 0)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!(lo <= hi)) return fallback.slice();
  if (log) {
    if (hi / lo < 1.5) { lo /= 2; hi *= 2; }
    const pad = (Math.log10(hi) - Math.log10(lo)) * 0.04;
    return [lo / 10 ** pad, hi * 10 ** pad];
  }
  if (hi === lo) { const d = Math.abs(hi) * 0.1 || 1; lo -= d; hi += d; }
  const pad = (hi - lo) * 0.05;
  return [lo - pad, hi + pad];
}

// ---------------------------------------------------------------------------------------------
// Ticks and number formatting

const SUPERSCRIPT = {"-": "\u207b", "0": "\u2070", "1": "\u00b9", "2": "\u00b2", "3": "\u00b3",
  "4": "\u2074", "5": "\u2075", "6": "\u2076", "7": "\u2077", "8": "\u2078", "9": "\u2079"};

export function pow10Label(e) {
  return "10" + String(e).split("").map((c) => SUPERSCRIPT[c] || c).join("");
}

export function logTicks(d0, d1) {
  const e0 = Math.floor(Math.log10(d0)), e1 = Math.ceil(Math.log10(d1));
  const decades = e1 - e0;
  const step = decades > 12 ? Math.ceil(decades / 8) : 1;
  const major = [], minor = [];
  for (let e = e0; e <= e1; e++) {
    const base = 10 ** e;
    if (base >= d0 * 0.999 && base <= d1 * 1.001 && (e - e0) % step === 0) {
      major.push({v: base, label: Math.abs(e) <= 2 ? formatPlain(base) : pow10Label(e)});
    }
    if (decades <= 8) {
      for (let m = 2; m <= 9; m++) {
        const v = m * base;
        if (v >= d0 && v <= d1) minor.push({v, label: decades <= 1 && (m === 2 || m === 5) ? formatPlain(v) : null});
      }
    }
  }
  // Narrow ranges: promote labelled minors so that an axis always has >= 2 labels.
  if (major.length < 2) {
    for (const t of minor) if (t.label) major.push(t);
    if (major.length < 2) {
      for (const v of [d0, Math.sqrt(d0 * d1), d1]) major.push({v, label: formatNumber(v)});
    }
  }
  return {major, minor: minor.filter((t) => !major.some((m) => m.v === t.v))};
}

export function linTicks(d0, d1, n = 5) {
  const span = d1 - d0;
  if (!(span > 0)) return {major: [{v: d0, label: formatNumber(d0)}], minor: []};
  const raw = span / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => span / s <= n) || 10 * mag;
  const major = [];
  for (let v = Math.ceil(d0 / step) * step; v <= d1 + step * 1e-9; v += step) {
    const r = Math.abs(v) < step * 1e-9 ? 0 : v;
    major.push({v: r, label: formatPlain(r)});
  }
  return {major, minor: []};
}

function formatPlain(v) {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(0).replace("e+", "e");
  return String(Number(v.toPrecision(4)));
}

export function formatNumber(v, digits = 3) {
  if (v === null || v === undefined || Number.isNaN(v)) return "n/a";
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(digits - 1).replace("e+", "e");
  return String(Number(v.toPrecision(digits)));
}

// ---------------------------------------------------------------------------------------------
// Frame: axes, grid, labels. Returns {plot, x, y, inner} where `plot` is a clipped group.

let clipCounter = 0;

export function drawFrame(svg, {width, height, margin, x, y, xLabel, yLabel}) {
  const m = margin;
  const inner = {left: m.left, top: m.top, right: width - m.right, bottom: height - m.bottom};
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  const grid = svgEl("g", {class: "kd-grid-lines"}, svg);
  const axes = svgEl("g", {class: "kd-axis"}, svg);
  const xt = x.isLog ? logTicks(...x.domain) : linTicks(...x.domain, Math.max(2, Math.floor((inner.right - inner.left) / 80)));
  const yt = y.isLog ? logTicks(...y.domain) : linTicks(...y.domain, Math.max(2, Math.floor((inner.bottom - inner.top) / 45)));
  for (const t of xt.minor) {
    const px = x(t.v);
    svgEl("line", {x1: px, x2: px, y1: inner.top, y2: inner.bottom, class: "kd-gridline"}, grid);
  }
  for (const t of yt.minor) {
    const py = y(t.v);
    svgEl("line", {x1: inner.left, x2: inner.right, y1: py, y2: py, class: "kd-gridline"}, grid);
  }
  for (const t of xt.major) {
    const px = x(t.v);
    if (px < inner.left - 0.5 || px > inner.right + 0.5) continue;
    svgEl("line", {x1: px, x2: px, y1: inner.top, y2: inner.bottom, class: "kd-gridline kd-major"}, grid);
    svgEl("line", {x1: px, x2: px, y1: inner.bottom, y2: inner.bottom + 4}, axes);
    if (t.label) svgText(axes, px, inner.bottom + 16, t.label, {"text-anchor": "middle"});
  }
  for (const t of yt.major) {
    const py = y(t.v);
    if (py < inner.top - 0.5 || py > inner.bottom + 0.5) continue;
    svgEl("line", {x1: inner.left, x2: inner.right, y1: py, y2: py, class: "kd-gridline kd-major"}, grid);
    svgEl("line", {x1: inner.left - 4, x2: inner.left, y1: py, y2: py}, axes);
    if (t.label) svgText(axes, inner.left - 7, py + 4, t.label, {"text-anchor": "end"});
  }
  svgEl("rect", {x: inner.left, y: inner.top, width: inner.right - inner.left,
    height: inner.bottom - inner.top, fill: "none", stroke: "#bdbdbd"}, axes);
  if (xLabel) {
    svgText(svg, (inner.left + inner.right) / 2, height - 6, xLabel,
      {"text-anchor": "middle", class: "kd-axis-label"});
  }
  if (yLabel) {
    svgText(svg, 0, 0, yLabel, {"text-anchor": "middle", class: "kd-axis-label",
      transform: `translate(13 ${(inner.top + inner.bottom) / 2}) rotate(-90)`});
  }
  const id = `kd-clip-${++clipCounter}`;
  const defs = svgEl("defs", {}, svg);
  const clip = svgEl("clipPath", {id}, defs);
  svgEl("rect", {x: inner.left - 3, y: inner.top - 3, width: inner.right - inner.left + 6,
    height: inner.bottom - inner.top + 6}, clip);
  const plot = svgEl("g", {"clip-path": `url(#${id})`}, svg);
  return {plot, inner};
}

// "M x y L x y ..." through the valid points; a gap wherever a point is missing/invalid.
export function pathData(xs, ys, x, y) {
  let d = "";
  let pen = false;
  for (let i = 0; i < xs.length; i++) {
    const xv = xs[i], yv = ys[i];
    if (xv === null || yv === null || !x.valid(xv) || !y.valid(yv)) { pen = false; continue; }
    d += (pen ? "L" : "M") + x(xv).toFixed(1) + " " + y(yv).toFixed(1);
    pen = true;
  }
  return d;
}

export function centerMessage(svg, inner, text) {
  svgText(svg, (inner.left + inner.right) / 2, (inner.top + inner.bottom) / 2, text,
    {"text-anchor": "middle", class: "kd-chart-msg"});
}

// ---------------------------------------------------------------------------------------------
// Cards and legends

// A card of the chart grid: a title, a header line (class `header`: a subtitle, or controls), the
// chart's svg and, if `note`, a note under it.
export function chartCard(grid, {id, title, svgId, label, header = "kd-sub", note = true, wide = false}) {
  const section = htmlEl("section", {className: "kd-card" + (wide ? " kd-wide" : ""), id}, grid);
  const heading = htmlEl("h3", {}, section, title);
  const head = htmlEl("div", {className: header}, section);
  const svg = svgEl("svg", {id: svgId, role: "img", "aria-label": label}, section);
  return {heading, head, svg, note: note ? htmlEl("div", {className: "kd-note"}, section) : null};
}

// Width available to a chart in its card.
export function chartWidth(svg, fallback = 600) {
  const w = svg.parentElement ? svg.parentElement.clientWidth - 22 : fallback;
  return Math.max(260, w || fallback);
}

// Where to put a w x h legend inside the plot: the corner that hides the fewest data points
// (points, plus samples along the segments between consecutive points of each polyline).
export function legendBox(inner, w, h, points, polylines = []) {
  const samples = points.slice();
  for (const line of polylines) {
    for (let i = 1; i < line.length; i++) {
      const [a, b] = [line[i - 1], line[i]];
      for (let k = 1; k < 8; k++) samples.push({px: a.px + ((b.px - a.px) * k) / 8, py: a.py + ((b.py - a.py) * k) / 8});
    }
  }
  const pad = 6;
  const xs = [inner.right - w - pad, inner.left + pad, (inner.left + inner.right - w) / 2];
  const ys = [inner.top + pad, inner.bottom - h - pad, (inner.top + inner.bottom - h) / 2];
  const corners = [];  // corners first (preferred on ties), then edge middles, then the centre
  for (const [i, j] of [[0, 0], [1, 0], [0, 1], [1, 1], [0, 2], [1, 2], [2, 0], [2, 1], [2, 2]]) {
    corners.push([xs[i], ys[j]]);
  }
  let best = corners[0], bestCount = Infinity;
  for (const [x, y] of corners) {
    let count = 0;
    for (const p of samples) {
      if (p.px >= x - 4 && p.px <= x + w + 4 && p.py >= y - 4 && p.py <= y + h + 4) count += 1;
    }
    if (count < bestCount) { bestCount = count; best = [x, y]; }
  }
  return {x: best[0], y: best[1], w, h};
}

// The white box of a legend at `box` (from legendBox); returns the group to draw its entries in.
export function legendFrame(svg, box) {
  const g = svgEl("g", {}, svg);
  svgEl("rect", {x: box.x, y: box.y, width: box.w, height: box.h, fill: "#fff", "fill-opacity": 0.85,
    stroke: "#e0e0e0"}, g);
  return g;
}

// ---------------------------------------------------------------------------------------------
// Colour maps

const PLASMA = ["#0d0887", "#41049d", "#6a00a8", "#8f0da4", "#b12a90", "#cc4778", "#e16462",
  "#f2844b", "#fca636", "#fcce25", "#f0f921"];

function hexToRgb(h) {
  return [parseInt(h.slice(1, 3), 16), parseInt(h.slice(3, 5), 16), parseInt(h.slice(5, 7), 16)];
}

function interpolate(stops, u) {
  u = Math.min(1, Math.max(0, u));
  const p = u * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(p));
  const f = p - i;
  const a = hexToRgb(stops[i]), b = hexToRgb(stops[i + 1]);
  const c = a.map((av, k) => Math.round(av + (b[k] - av) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

// Sequential map used for alpha*sqrt(h): plasma truncated so that the light end stays visible.
export function sequentialColor(u) {
  return interpolate(PLASMA, 0.82 * u);
}

// Diverging blue-white-red for signed values in [-1, 1].
export function divergingColor(u) {
  const stops = ["#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7", "#fddbc7", "#f4a582",
    "#d6604d", "#b2182b"];
  return interpolate(stops, (u + 1) / 2);
}

export const CATEGORICAL = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
  "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];

export const DASHES = ["", "7 4", "2 3", "9 3 2 3", "1 2", "12 4", "4 2 1 2", "3 5"];
