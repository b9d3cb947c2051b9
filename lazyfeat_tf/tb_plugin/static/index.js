// Kernel drift tab (lazyfeat_tf): how much the empirical NTK moves along training.
// Loaded by TensorBoard in an iframe whose base href is "plugin/kernel_drift/": every URL below
// is relative, so --path_prefix and proxies work. No external resources, no HTML parsing of data:
// run names and every other string from the logdir are inserted with textContent / setAttribute.

import {
  CATEGORICAL, DASHES, centerMessage, divergingColor, domainOf, drawFrame, formatNumber, htmlEl,
  logTicks, pathData, scaleLin, scaleLog, sequentialColor, svgEl, svgText,
} from "./charts.js";

const REFRESH_MS = 30000;
const SERIES_BATCH = 25;       // runs per /series request (the backend accepts up to 32)
const URL_BUDGET = 6000;       // characters of run names per request
const CONCURRENCY = 3;
const GREY = "#9e9e9e";
const SPLIT_COLORS = {train: "#1565c0", test: "#ef6c00"};
const METRICS = {
  total: {label: "Kernel drift ‖Θₜ − Θ₀‖ / ‖Θ₀‖ (Frobenius)", short: "drift", log: true},
  alignment: {label: "Kernel-label alignment yᵀΘₜy / (‖Θₜ‖ ‖y‖²)", short: "alignment", log: false},
  effective_rank: {label: "Effective rank of Θₜ", short: "effective rank", log: false},
};

export async function render() {
  const app = new KernelDriftApp(document.body);
  await app.start();
  return app;
}

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function getJSON(url) {
  let response;
  try {
    response = await fetch(url, {headers: {Accept: "application/json"}, cache: "no-store"});
  } catch (e) {
    throw new HttpError(0, "TensorBoard is not reachable (" + e.message + ")");
  }
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) {
    throw new HttpError(response.status, (body && body.error) || `HTTP ${response.status}`);
  }
  return body;
}

// Natural order that reads decimals and exponents: "ash0.0359" < "ash0.129" < "ash1e+03".
const NUMBER_RE = /(\d+(?:\.\d+)?(?:e[+-]?\d+)?)/i;
function naturalCompare(a, b) {
  const pa = a.split(NUMBER_RE), pb = b.split(NUMBER_RE);
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    if (pa[i] === pb[i]) continue;
    if (i % 2 === 1) {
      const d = parseFloat(pa[i]) - parseFloat(pb[i]);
      if (d) return d;
    }
    const c = pa[i].localeCompare(pb[i], undefined, {sensitivity: "base"});
    if (c) return c;
  }
  return pa.length - pb.length || (a < b ? -1 : a > b ? 1 : 0);
}

// Marker shapes for the widths h in the collapse plot (hollow: overlapping points stay visible).
const SHAPES = ["circle", "square", "triangle", "diamond", "triangle-down", "cross"];
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

// Where to put a w x h legend inside the plot: the corner that hides the fewest data points
// (points, plus samples along the segments between consecutive points of each polyline).
function legendBox(inner, w, h, points, polylines = []) {
  const samples = points.slice();
  for (const line of polylines) {
    for (let i = 1; i < line.length; i++) {
      const [a, b] = [line[i - 1], line[i]];
      for (let k = 1; k < 8; k++) samples.push({px: a.px + ((b.px - a.px) * k) / 8, py: a.py + ((b.py - a.py) * k) / 8});
    }
  }
  points = samples;
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
    for (const p of points) {
      if (p.px >= x - 4 && p.px <= x + w + 4 && p.py >= y - 4 && p.py <= y + h + 4) count += 1;
    }
    if (count < bestCount) { bestCount = count; best = [x, y]; }
  }
  return {x: best[0], y: best[1], w, h};
}

function geoMean(values) {
  return Math.exp(values.reduce((s, v) => s + Math.log(v), 0) / values.length);
}

class KernelDriftApp {
  constructor(body) {
    this.body = body;
    this.runs = [];
    this.byName = new Map();
    this.selected = new Set();
    this.known = new Set();
    this.series = new Map();       // run -> {lastStep, include:Set, data}
    this.final = null;
    this.focusRun = null;
    this.focusStep = null;         // null: the last kept checkpoint
    this.eig = null;
    this.heat = null;
    this.split = "train";
    this.metric = "total";
    this.timeAxis = "t";           // "t" or "scaled": t / (alpha*sqrt(h))
    this.perLayer = false;
    this.sort = "name";
    this.filterText = "";
    this.renderCount = 0;
    this.chain = Promise.resolve();
    this.listSignature = "";
    this.banners = [];
    this.error = null;
    this.pendingRedraw = null;
  }

  async start() {
    await this.loadStyle();
    this.build();
    window.addEventListener("resize", () => this.scheduleRedraw());
    if (typeof ResizeObserver !== "undefined") {
      new ResizeObserver(() => this.scheduleRedraw()).observe(this.el.grid);
    }
    this.timer = setInterval(() => {
      if (this.el.auto.checked && !document.hidden) this.refresh();
    }, REFRESH_MS);
    await this.refresh();
  }

  loadStyle() {
    return new Promise((resolve) => {
      const link = htmlEl("link", {rel: "stylesheet", href: "./static/style.css"}, document.head);
      link.addEventListener("load", resolve);
      link.addEventListener("error", resolve);
      setTimeout(resolve, 3000);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // DOM skeleton

  build() {
    const root = htmlEl("div", {id: "kd-root", "data-ready": "false", "data-render-count": "0"});
    this.body.replaceChildren(root);
    this.root = root;
    const el = (this.el = {});

    const side = htmlEl("aside", {className: "kd-sidebar"}, root);
    htmlEl("h2", {}, side, "Runs");
    el.filter = htmlEl("input", {className: "kd-filter", type: "search", "aria-label": "Filter runs",
      placeholder: "Filter runs (regex): h64, seed0, ash0.1…"}, side);
    el.filter.addEventListener("input", () => {
      this.filterText = el.filter.value;
      this.applyFilter();
      this.update();
    });
    const selRow = htmlEl("div", {className: "kd-sel-row"}, side);
    el.all = htmlEl("button", {className: "kd-btn", type: "button", title: "Select every run shown"}, selRow, "All");
    el.none = htmlEl("button", {className: "kd-btn", type: "button", title: "Deselect every run shown"}, selRow, "None");
    el.only = htmlEl("button", {className: "kd-btn", type: "button", title: "Select exactly the runs shown"}, selRow, "Only shown");
    el.count = htmlEl("span", {className: "kd-count"}, selRow);
    el.all.addEventListener("click", () => this.selectShown("all"));
    el.none.addEventListener("click", () => this.selectShown("none"));
    el.only.addEventListener("click", () => this.selectShown("only"));
    const sortRow = htmlEl("div", {className: "kd-sort"}, side, "Sort by ");
    el.sort = htmlEl("select", {"aria-label": "Sort runs"}, sortRow);
    for (const [v, label] of [["name", "name"], ["ash", "α√h"], ["width", "h, then α√h"]]) {
      htmlEl("option", {value: v}, el.sort, label);
    }
    el.sort.addEventListener("change", () => { this.sort = el.sort.value; this.listSignature = ""; this.buildRunList(); });
    el.runlist = htmlEl("div", {className: "kd-runlist", role: "list"}, side);

    const main = htmlEl("main", {className: "kd-main"}, root);
    const bar = htmlEl("div", {className: "kd-toolbar"}, main);
    htmlEl("h1", {}, bar, "Kernel drift");
    const splitLabel = htmlEl("label", {}, bar, "Probes ");
    el.split = htmlEl("select", {"aria-label": "Probe split"}, splitLabel);
    el.split.addEventListener("change", () => { this.split = el.split.value; this.update(); });
    const metricLabel = htmlEl("label", {}, bar, "Curves ");
    el.metric = htmlEl("select", {"aria-label": "Quantity vs t"}, metricLabel);
    for (const [v, m] of Object.entries(METRICS)) htmlEl("option", {value: v}, el.metric, m.short);
    el.metric.addEventListener("change", () => {
      this.metric = el.metric.value;
      el.perLayer.disabled = this.metric !== "total";
      this.update();
    });
    const timeLabel = htmlEl("label", {title: "Rescaling t by α√h lines up the end of the linear (lazy-like) phase t₁ ~ α√h of feature-regime runs"}, bar, "Time ");
    el.time = htmlEl("select", {"aria-label": "Time axis"}, timeLabel);
    htmlEl("option", {value: "t"}, el.time, "t");
    htmlEl("option", {value: "scaled"}, el.time, "t / (α√h)");
    el.time.addEventListener("change", () => { this.timeAxis = el.time.value; this.update(); });
    const layerLabel = htmlEl("label", {title: "Also draw each layer's contribution (dashed)"}, bar);
    el.perLayer = htmlEl("input", {type: "checkbox"}, layerLabel);
    layerLabel.appendChild(document.createTextNode("per-layer curves"));
    el.perLayer.addEventListener("change", () => { this.perLayer = el.perLayer.checked; this.update(); });
    const autoLabel = htmlEl("label", {title: "Reload data every 30 s (runs still training)"}, bar);
    el.auto = htmlEl("input", {type: "checkbox"}, autoLabel);
    el.auto.checked = true;
    autoLabel.appendChild(document.createTextNode("auto refresh 30 s"));
    el.refresh = htmlEl("button", {className: "kd-btn", type: "button"}, bar, "Refresh");
    el.refresh.addEventListener("click", () => this.refresh());
    el.status = htmlEl("span", {className: "kd-status", role: "status"}, bar);

    el.banners = htmlEl("div", {className: "kd-banners"}, main);
    el.empty = htmlEl("div", {className: "kd-empty kd-hidden"}, main);
    el.grid = htmlEl("div", {className: "kd-grid"}, main);

    const drift = htmlEl("section", {className: "kd-card kd-wide", id: "kd-card-drift"}, el.grid);
    el.driftTitle = htmlEl("h3", {}, drift, METRICS.total.label + " vs physical time t");
    el.driftSub = htmlEl("div", {className: "kd-sub"}, drift);
    el.drift = svgEl("svg", {id: "kd-drift", role: "img", "aria-label": "Kernel drift vs t"}, drift);

    const collapse = htmlEl("section", {className: "kd-card", id: "kd-card-collapse"}, el.grid);
    htmlEl("h3", {}, collapse, "Final kernel drift vs α√h, grouped by width h");
    el.collapseSub = htmlEl("div", {className: "kd-sub"}, collapse);
    el.collapse = svgEl("svg", {id: "kd-collapse", role: "img", "aria-label": "Final drift vs alpha sqrt h"}, collapse);
    el.collapseNote = htmlEl("div", {className: "kd-note"}, collapse);

    const spec = htmlEl("section", {className: "kd-card", id: "kd-card-spectrum"}, el.grid);
    htmlEl("h3", {}, spec, "Kernel spectrum at a checkpoint");
    const controls = htmlEl("div", {className: "kd-controls"}, spec);
    const runLabel = htmlEl("label", {}, controls, "Run ");
    el.focus = htmlEl("select", {"aria-label": "Run for spectrum and heatmap"}, runLabel);
    el.focus.addEventListener("change", () => this.setFocus(el.focus.value));
    const stepLabel = htmlEl("label", {}, controls, "Checkpoint ");
    el.step = htmlEl("input", {type: "range", min: 0, max: 0, step: 1, value: 0,
      "aria-label": "Checkpoint"}, stepLabel);
    el.stepText = htmlEl("span", {}, controls);
    el.step.addEventListener("input", () => this.previewStep());
    el.step.addEventListener("change", () => this.commitStep());
    el.spectrum = svgEl("svg", {id: "kd-spectrum", role: "img", "aria-label": "Eigenvalue spectrum"}, spec);
    el.spectrumNote = htmlEl("div", {className: "kd-note"}, spec);

    const heat = htmlEl("section", {className: "kd-card", id: "kd-card-heatmap"}, el.grid);
    htmlEl("h3", {}, heat, "(Θₜ − Θ₀) / ‖Θ₀‖ on a subsample of train probes");
    el.heatSub = htmlEl("div", {className: "kd-sub"}, heat);
    el.heatmap = svgEl("svg", {id: "kd-heatmap", role: "img", "aria-label": "Kernel change heatmap"}, heat);
    el.heatNote = htmlEl("div", {className: "kd-note"}, heat);

    el.tooltip = htmlEl("div", {id: "kd-tooltip"}, this.body);
    this.hover = {};
    for (const name of ["drift", "collapse", "spectrum", "heatmap"]) this.attachHover(name);
  }

  // ---------------------------------------------------------------------------------------------
  // Serialized async work: refresh (timer/button) and updates (controls) never interleave.

  enqueue(task) {
    this.chain = this.chain.then(task).catch((e) => this.showError(e));
    return this.chain;
  }

  refresh() {
    if (this.refreshing) return this.chain;
    this.refreshing = true;
    return this.enqueue(async () => {
      this.setStatus("loading…");
      try {
        const runs = await getJSON("./runs");
        this.error = null;
        this.updateRuns(runs);
        await Promise.all([this.loadSeries(), this.loadFinal()]);
        this.drawMain();
        await this.loadFocus();
        this.drawFocus();
        this.setStatus(`updated ${new Date().toLocaleTimeString()}`);
      } catch (e) {
        this.showError(e);
      } finally {
        this.refreshing = false;
        this.markRendered();
      }
    });
  }

  // Re-draw after a control changed (fetching only what is missing).
  update() {
    clearTimeout(this.updateTimer);
    this.updateTimer = setTimeout(() => {
      this.enqueue(async () => {
        this.updateCount();
        this.drawMain();             // immediate feedback from the cache
        await this.loadSeries();
        this.drawMain();
        this.chooseFocus();
        await this.loadFocus();
        this.drawFocus();
        this.markRendered();
      });
    }, 40);
  }

  scheduleRedraw() {
    cancelAnimationFrame(this.pendingRedraw);
    this.pendingRedraw = requestAnimationFrame(() => {
      if (!this.runs.length) return;
      this.drawMain();
      this.drawFocus();
    });
  }

  markRendered() {
    this.renderCount += 1;
    this.root.setAttribute("data-render-count", String(this.renderCount));
    this.root.setAttribute("data-ready", "true");
  }

  setStatus(text) {
    this.el.status.textContent = text;
  }

  showError(e) {
    this.error = e;
    this.setStatus("error");
    this.renderBanners();
  }

  // ---------------------------------------------------------------------------------------------
  // Runs and selection

  updateRuns(resp) {
    this.runs = resp.runs || [];
    this.byName = new Map(this.runs.map((r) => [r.run, r]));
    this.samplesFlag = resp.samples_flag || "--samples_per_plugin=kernel_drift=0";
    for (const r of this.runs) {
      if (!this.known.has(r.run)) {
        this.known.add(r.run);
        if (r.has_kernel_data) this.selected.add(r.run);    // new runs start selected
      }
    }
    for (const name of [...this.selected]) if (!this.byName.has(name)) this.selected.delete(name);
    for (const name of [...this.series.keys()]) if (!this.byName.has(name)) this.series.delete(name);

    // Colour scale of alpha*sqrt(h), fixed over all runs so colours do not move with the selection.
    const ash = this.runs.filter((r) => r.metadata).map((r) => r.metadata.alpha_sqrt_h);
    this.ashDomain = domainOf(ash, true, [0.1, 10]);
    const widths = [...new Set(this.runs.filter((r) => r.metadata).map((r) => r.metadata.width))];
    widths.sort((a, b) => a - b);
    this.widthColor = new Map(widths.map((w, i) => [w, CATEGORICAL[i % CATEGORICAL.length]]));
    this.widthShape = new Map(widths.map((w, i) => [w, SHAPES[i % SHAPES.length]]));

    const splits = new Set();
    for (const r of this.runs) for (const s of r.splits || []) splits.add(s);
    const splitList = [...splits].sort((a, b) => (a === "train" ? -1 : b === "train" ? 1 : naturalCompare(a, b)));
    const current = [...this.el.split.options].map((o) => o.value).join("\n");
    if (current !== splitList.join("\n")) {
      this.el.split.replaceChildren();
      for (const s of splitList.length ? splitList : ["train"]) htmlEl("option", {value: s}, this.el.split, s);
    }
    if (splitList.length && !splitList.includes(this.split)) this.split = splitList[0];
    this.el.split.value = this.split;

    this.emptyMessage = resp.message || null;
    this.buildRunList();
    this.renderBanners();
  }

  ashColor(run) {
    const r = this.byName.get(run);
    if (!r || !r.metadata) return GREY;
    const [d0, d1] = this.ashDomain;
    const u = (Math.log10(r.metadata.alpha_sqrt_h) - Math.log10(d0)) / (Math.log10(d1) - Math.log10(d0) || 1);
    return sequentialColor(u);
  }

  sortedRuns() {
    const runs = this.runs.slice();
    const key = (r) => (r.metadata ? r.metadata.alpha_sqrt_h : Infinity);
    if (this.sort === "ash") runs.sort((a, b) => key(a) - key(b) || naturalCompare(a.run, b.run));
    else if (this.sort === "width") {
      const w = (r) => (r.metadata ? r.metadata.width : Infinity);
      runs.sort((a, b) => w(a) - w(b) || key(a) - key(b) || naturalCompare(a.run, b.run));
    } else runs.sort((a, b) => naturalCompare(a.run, b.run));
    // Runs without kernel data go last.
    runs.sort((a, b) => Number(!a.has_kernel_data) - Number(!b.has_kernel_data));
    return runs;
  }

  buildRunList() {
    const signature = JSON.stringify(this.runs.map((r) => [r.run, r.status, r.metadata, r.message])) + this.sort;
    if (signature !== this.listSignature) {
      this.listSignature = signature;
      const scroll = this.el.runlist.scrollTop;
      this.el.runlist.replaceChildren();
      this.rows = new Map();
      for (const r of this.sortedRuns()) {
        const row = htmlEl("label", {className: "kd-run" + (r.has_kernel_data ? "" : " kd-disabled"), role: "listitem"}, this.el.runlist);
        row.title = r.run;
        const box = htmlEl("input", {type: "checkbox"}, row);
        box.disabled = !r.has_kernel_data;
        box.addEventListener("change", () => {
          if (box.checked) this.selected.add(r.run); else this.selected.delete(r.run);
          this.update();
        });
        const swatch = htmlEl("span", {className: "kd-swatch"}, row);
        swatch.style.background = r.has_kernel_data ? this.ashColor(r.run) : "transparent";
        htmlEl("span", {className: "kd-run-name"}, row, r.run);
        let meta;
        if (!r.has_kernel_data) meta = "no kernel-drift data";
        else if (r.metadata) {
          meta = `α√h ${formatNumber(r.metadata.alpha_sqrt_h)} · h ${r.metadata.width} · seed ${r.metadata.seed}`;
          if (r.status !== "ok" && r.message) meta += " · " + r.message;
        } else meta = r.message || "no run metadata";
        htmlEl("span", {className: "kd-run-meta"}, row, meta);
        row.dataset.run = r.run;
        this.rows.set(r.run, {row, box, haystack: this.haystack(r)});
      }
      this.el.noMatch = htmlEl("div", {className: "kd-run-meta kd-hidden", style: "padding: 8px 12px"},
        this.el.runlist, "No run matches the filter.");
      this.el.runlist.scrollTop = scroll;
    }
    for (const [name, {box, row}] of this.rows) {
      box.checked = this.selected.has(name);
      row.classList.toggle("kd-focus", name === this.focusRun);
    }
    this.applyFilter();
  }

  // The filter matches the run name, or its metadata written as "h=64 ash=0.5 seed=0".
  haystack(r) {
    const hay = [r.run];
    if (r.metadata) hay.push(`h=${r.metadata.width} ash=${r.metadata.alpha_sqrt_h} seed=${r.metadata.seed}`);
    return hay;
  }

  matcher() {
    const text = this.filterText.trim();
    if (!text) return () => true;
    try {
      const re = new RegExp(text, "i");
      return (s) => re.test(s);
    } catch (e) {
      const lower = text.toLowerCase();
      return (s) => s.toLowerCase().includes(lower);
    }
  }

  applyFilter() {
    const match = this.matcher();
    this.visible = new Set();
    for (const [name, {row, haystack}] of this.rows || []) {
      const ok = haystack.some(match);
      row.classList.toggle("kd-hidden", !ok);
      if (ok) this.visible.add(name);
    }
    if (this.el.noMatch) this.el.noMatch.classList.toggle("kd-hidden", this.visible.size > 0 || !this.rows.size);
    this.updateCount();
  }

  // Runs drawn: selected, shown by the filter, with kernel data.
  drawnRuns() {
    return this.sortedRuns()
      .filter((r) => r.has_kernel_data && this.selected.has(r.run) && (!this.visible || this.visible.has(r.run)))
      .map((r) => r.run);
  }

  updateCount() {
    const withData = this.runs.filter((r) => r.has_kernel_data).length;
    const drawn = this.drawnRuns().length;
    this.el.count.textContent = `${drawn} / ${withData} drawn`;
  }

  selectShown(mode) {
    for (const r of this.runs) {
      if (!r.has_kernel_data) continue;
      const shown = !this.visible || this.visible.has(r.run);
      if (mode === "all" && shown) this.selected.add(r.run);
      else if (mode === "none" && shown) this.selected.delete(r.run);
      else if (mode === "only") { if (shown) this.selected.add(r.run); else this.selected.delete(r.run); }
    }
    for (const [name, {box}] of this.rows) box.checked = this.selected.has(name);
    this.update();
  }

  renderBanners() {
    const el = this.el.banners;
    el.replaceChildren();
    const add = (text, info = false, code = null) => {
      const b = htmlEl("div", {className: "kd-banner" + (info ? " kd-info" : ""), role: "note"}, el, text);
      if (code) { b.appendChild(document.createTextNode(" ")); htmlEl("code", {}, b, code); }
      return b;
    };
    if (this.error) {
      add(`Could not load kernel-drift data: ${this.error.message}. The tab retries at the next refresh.`);
    }
    const empty = this.emptyMessage && !this.runs.some((r) => r.has_kernel_data);
    this.el.empty.classList.toggle("kd-hidden", !empty);
    this.el.grid.classList.toggle("kd-hidden", Boolean(empty));
    if (empty) {
      this.el.empty.replaceChildren();
      htmlEl("div", {}, this.el.empty, this.emptyMessage);
      htmlEl("div", {}, this.el.empty,
        "Inside a tf.summary writer: write_run_metadata(alpha=…, alpha_sqrt_h=…, width=…, seed=…) once, " +
        "then write_drift_record(record, step) at each kernel checkpoint (lazyfeat_tf.tb_plugin.summary).");
      return;
    }
    const noData = this.runs.filter((r) => !r.has_kernel_data);
    if (noData.length) {
      add(`${noData.length} run${noData.length > 1 ? "s have" : " has"} no kernel-drift data (greyed out in the run list).`, true);
    }
    const pending = this.runs.filter((r) => ["waiting", "incomplete", "initial_only"].includes(r.status));
    if (pending.length) {
      const names = pending.slice(0, 3).map((r) => r.run).join(", ") + (pending.length > 3 ? ", …" : "");
      add(`${pending.length} run${pending.length > 1 ? "s have" : " has"} no checkpoint with t > 0 yet ` +
        `(still starting or half-written): ${names}. They appear when their first checkpoints arrive.`, true);
    }
    const noMeta = this.runs.filter((r) => r.status === "no_metadata");
    if (noMeta.length) {
      add(`${noMeta.length} run${noMeta.length > 1 ? "s lack" : " lacks"} run metadata (alpha, h; ` +
        "write_run_metadata): drawn in grey and left out of the collapse plot.", true);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Data loading

  neededInclude() {
    const inc = new Set();
    if (this.perLayer && this.metric === "total") inc.add("layers");
    if (this.metric === "alignment") inc.add("alignment");
    if (this.metric === "effective_rank") inc.add("effective_rank");
    return inc;
  }

  async loadSeries() {
    const need = this.neededInclude();
    const stale = [];
    for (const name of this.drawnRuns()) {
      const r = this.byName.get(name);
      const cached = this.series.get(name);
      if (!cached || cached.lastStep !== r.last_step || [...need].some((x) => !cached.include.has(x))) {
        stale.push(name);
      }
    }
    if (!stale.length) return;
    const batches = [];
    let batch = [], chars = 0;
    for (const name of stale) {
      const size = encodeURIComponent(name).length + 5;
      if (batch.length && (batch.length >= SERIES_BATCH || chars + size > URL_BUDGET)) {
        batches.push(batch); batch = []; chars = 0;
      }
      batch.push(name); chars += size;
    }
    if (batch.length) batches.push(batch);
    const fetchBatch = async (names) => {
      const include = new Set(need);
      for (const n of names) for (const x of (this.series.get(n) || {include: []}).include) include.add(x);
      let url = "./series?" + names.map((n) => "run=" + encodeURIComponent(n)).join("&");
      if (include.size) url += "&include=" + [...include].join(",");
      const resp = await getJSON(url);
      for (const s of resp.series) {
        const r = this.byName.get(s.run);
        this.series.set(s.run, {lastStep: r ? r.last_step : null, include, data: s});
      }
    };
    let next = 0;
    const worker = async () => { while (next < batches.length) await fetchBatch(batches[next++]); };
    await Promise.all(Array.from({length: Math.min(CONCURRENCY, batches.length)}, worker));
  }

  async loadFinal() {
    this.final = await getJSON("./final");
  }

  chooseFocus() {
    const drawn = this.drawnRuns();
    const hasArrays = (n) => {
      const r = this.byName.get(n);
      return r && ((r.eigenvalue_splits || []).length || r.has_heatmap);
    };
    if (!this.focusRun || !drawn.includes(this.focusRun)) {
      const candidate = drawn.find(hasArrays) || drawn[0] || null;
      if (candidate !== this.focusRun) { this.focusRun = candidate; this.focusStep = null; }
    }
    // Focus selector: the drawn runs.
    const sel = this.el.focus;
    const opts = drawn.join("\n");
    if (sel.dataset.opts !== opts) {
      sel.replaceChildren();
      for (const n of drawn) htmlEl("option", {value: n}, sel, n);
      sel.dataset.opts = opts;
    }
    if (this.focusRun) sel.value = this.focusRun;
    for (const [name, {row}] of this.rows || []) row.classList.toggle("kd-focus", name === this.focusRun);
  }

  async loadFocus() {
    this.chooseFocus();
    const run = this.focusRun;
    if (!run) { this.eig = null; this.heat = null; return; }
    const r = this.byName.get(run);
    const q = "run=" + encodeURIComponent(run) + (this.focusStep !== null ? "&step=" + this.focusStep : "");
    const key = `${run}\n${this.focusStep}\n${r ? r.last_step : ""}`;
    if (this.focusKey === key && this.eig && this.heat) return;
    const [eig, heat] = await Promise.all([
      getJSON("./eigenvalues?" + q).catch((e) => ({error: e.message})),
      getJSON("./heatmap?" + q).catch((e) => ({error: e.message})),
    ]);
    this.eig = eig;
    this.heat = heat;
    this.focusKey = key;
  }

  setFocus(run) {
    if (!run || run === this.focusRun) return;
    this.focusRun = run;
    this.focusStep = null;
    this.enqueue(async () => {
      this.chooseFocus();
      await this.loadFocus();
      this.drawFocus();
      this.markRendered();
    });
  }

  focusSteps() {
    const src = this.eig && this.eig.steps && this.eig.steps.length ? this.eig : this.heat;
    return src && src.steps ? {steps: src.steps, t: src.t} : {steps: [], t: []};
  }

  previewStep() {
    const {steps, t} = this.focusSteps();
    const i = Number(this.el.step.value);
    if (steps.length) this.el.stepText.textContent = `step ${steps[i]} · t = ${formatNumber(t[i])}`;
  }

  commitStep() {
    const {steps} = this.focusSteps();
    const i = Number(this.el.step.value);
    if (!steps.length) return;
    this.focusStep = i === steps.length - 1 ? null : steps[i];
    this.enqueue(async () => {
      await this.loadFocus();
      this.drawFocus();
      this.markRendered();
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Charts

  chartWidth(svg, fallback = 600) {
    const w = svg.parentElement ? svg.parentElement.clientWidth - 22 : fallback;
    return Math.max(260, w || fallback);
  }

  drawMain() {
    this.drawDrift();
    this.drawCollapse();
  }

  drawFocus() {
    this.drawSpectrum();
    this.drawHeatmap();
  }

  drawDrift() {
    const svg = this.el.drift;
    svg.replaceChildren();
    const metric = METRICS[this.metric];
    this.el.driftTitle.textContent = metric.label + (this.timeAxis === "scaled" ? " vs t / (α√h)" : " vs physical time t");
    const width = this.chartWidth(svg, 900);
    const height = 360;
    const margin = {left: 62, right: 118, top: 12, bottom: 38};
    const drawn = this.drawnRuns();
    const lines = [];
    const layerNames = [];
    let missingSplit = 0;
    let noMeta = 0;
    // Many curves: thinner and lighter, so that bundles stay readable.
    const crowd = drawn.length > 60 ? 2 : drawn.length > 15 ? 1 : 0;
    const baseWidth = [1.8, 1.3, 0.9][crowd];
    this.curveOpacity = [0.95, 0.8, 0.55][crowd];
    for (const run of drawn) {
      const cached = this.series.get(run);
      if (!cached) continue;
      const s = cached.data;
      const split = s.splits[this.split];
      if (!split) { missingSplit += 1; continue; }
      const color = this.ashColor(run);
      let xs = s.t;
      if (this.timeAxis === "scaled") {
        const r = this.byName.get(run);
        if (!r || !r.metadata) { noMeta += 1; continue; }
        const k = r.metadata.alpha_sqrt_h;
        xs = s.t.map((t) => (t === null ? null : t / k));
      }
      const ys = split[this.metric];
      if (ys) lines.push({run, xs, t: s.t, ys, steps: s.steps, color, layer: null, dash: "", width: baseWidth});
      if (this.perLayer && this.metric === "total" && split.layers) {
        for (const layer of Object.keys(split.layers).sort(naturalCompare)) {
          if (!layerNames.includes(layer)) layerNames.push(layer);
          lines.push({run, xs, t: s.t, ys: split.layers[layer], steps: s.steps, color, layer,
            dash: DASHES[1 + (layerNames.indexOf(layer) % (DASHES.length - 1))], width: baseWidth * 0.8});
        }
      }
    }
    const xVals = [], yVals = [];
    for (const l of lines) {
      for (let i = 0; i < l.xs.length; i++) {
        const xv = l.xs[i], yv = l.ys[i];
        if (xv > 0 && yv !== null && (!metric.log || yv > 0)) { xVals.push(xv); yVals.push(yv); }
      }
    }
    const x = scaleLog(...domainOf(xVals, true), margin.left, width - margin.right);
    const y = (metric.log ? scaleLog : scaleLin)(...domainOf(yVals, metric.log), height - margin.bottom, margin.top);
    const xLabel = this.timeAxis === "scaled" ? "t / (α√h)  (log)" : "physical time t (log)";
    const {plot, inner} = drawFrame(svg, {width, height, margin, x, y, xLabel,
      yLabel: metric.short + (metric.log ? " (log)" : "")});
    const points = [];
    if (!xVals.length) {
      let msg;
      if (!drawn.length) {
        msg = this.visible && this.visible.size === 0 && this.runs.length
          ? "No run matches the filter." : "No run selected: tick runs in the list on the left.";
      }
      else if (!lines.length && missingSplit) msg = `The selected runs have no '${this.split}' probes.`;
      else if (!lines.length && noMeta) msg = "t / (α√h) needs run metadata (alpha, h), which the selected runs lack.";
      else if (drawn.some((r) => !this.series.get(r))) msg = "Loading…";
      else msg = "No checkpoint with t > 0 in the selected runs yet.";
      centerMessage(svg, inner, msg);
    }
    for (const l of lines) {
      const d = pathData(l.xs, l.ys, x, y);
      if (!d) continue;
      svgEl("path", {d, class: "kd-curve", stroke: l.color, "stroke-width": l.width,
        "stroke-dasharray": l.dash || null, "stroke-opacity": this.curveOpacity * (l.layer ? 0.8 : 1),
        "data-run": l.run, "data-layer": l.layer}, plot);
      for (let i = 0; i < l.xs.length; i++) {
        const xv = l.xs[i], yv = l.ys[i];
        if (xv === null || yv === null || !x.valid(xv) || !y.valid(yv)) continue;
        points.push({px: x(xv), py: y(yv), line: l, i, d});
      }
    }
    // Legend: colour bar for alpha*sqrt(h), dash styles for layers.
    this.drawColorbar(svg, width - margin.right + 26, margin.top + 4, height - margin.top - margin.bottom - 8);
    if (layerNames.length) {
      const items = [["total", ""], ...layerNames.map((n, i) => [n, DASHES[1 + (i % (DASHES.length - 1))]])];
      const itemWidth = (name) => 34 + Math.max(28, name.length * 6.2);
      const box = legendBox(inner, 8 + items.reduce((a, [n]) => a + itemWidth(n), 0), 18, points);
      const g = svgEl("g", {}, svg);
      svgEl("rect", {x: box.x, y: box.y, width: box.w, height: box.h, fill: "#fff", "fill-opacity": 0.85,
        stroke: "#e0e0e0"}, g);
      let lx = box.x + 6;
      for (const [name, dash] of items) {
        svgEl("line", {x1: lx, x2: lx + 22, y1: box.y + 9, y2: box.y + 9, stroke: "#424242", "stroke-width": 1.4,
          "stroke-dasharray": dash || null}, g);
        svgText(g, lx + 26, box.y + 13, name, {"font-size": 11});
        lx += itemWidth(name);
      }
    }
    const nDrawn = new Set(lines.map((l) => l.run)).size;
    const parts = [`${nDrawn} run${nDrawn === 1 ? "" : "s"} · ${this.split} probes`];
    if (this.metric === "total") parts.push("log-log");
    if (noMeta && this.timeAxis === "scaled") parts.push(`${noMeta} run(s) without metadata not drawn`);
    parts.push("hover for values, click a curve for its spectrum and heatmap");
    this.el.driftSub.textContent = parts.join(" · ");
    this.hover.drift = {points, plot, kind: "drift"};
  }

  drawColorbar(svg, x0, y0, h) {
    const g = svgEl("g", {class: "kd-colorbar"}, svg);
    const [d0, d1] = this.ashDomain;
    const n = 48;
    for (let i = 0; i < n; i++) {
      const u0 = i / n;
      svgEl("rect", {x: x0, y: y0 + h - (i + 1) * (h / n), width: 12, height: h / n + 0.6,
        fill: sequentialColor(u0 + 0.5 / n)}, g);
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
    if (this.runs.some((r) => r.has_kernel_data && !r.metadata)) {
      svgEl("rect", {x: x0, y: y0 + h + 8, width: 12, height: 8, fill: GREY}, g);
      svgText(g, x0 + 16, y0 + h + 16, "no metadata", {"font-size": 10, fill: "#616161"});
    }
  }

  drawCollapse() {
    const svg = this.el.collapse;
    svg.replaceChildren();
    const width = this.chartWidth(svg, 420);
    const height = 300;
    const margin = {left: 56, right: 12, top: 12, bottom: 38};
    const drawn = new Set(this.drawnRuns());
    const pts = [];
    let noSplit = 0;
    for (const p of (this.final && this.final.points) || []) {
      if (!drawn.has(p.run)) continue;
      const d = p.drift[this.split];
      if (!d) { noSplit += 1; continue; }
      if (d.value !== null && d.value > 0) pts.push({...p, value: d.value, tLast: d.t});
    }
    const x = scaleLog(...domainOf(pts.map((p) => p.alpha_sqrt_h), true, [0.1, 10]), margin.left, width - margin.right);
    const y = scaleLog(...domainOf(pts.map((p) => p.value), true), height - margin.bottom, margin.top);
    const {plot, inner} = drawFrame(svg, {width, height, margin, x, y, xLabel: "α√h (log)",
      yLabel: "final drift (log)"});
    const points = [];
    if (!pts.length) {
      centerMessage(svg, inner, drawn.size ? "No finished checkpoint with drift > 0 among the selected runs." : "No run selected.");
    } else {
      // Crossover alpha*sqrt(h) = 1 between the feature and lazy regimes.
      if (x.domain[0] < 1 && x.domain[1] > 1) {
        svgEl("line", {x1: x(1), x2: x(1), y1: inner.top, y2: inner.bottom, stroke: "#9e9e9e",
          "stroke-dasharray": "2 3"}, plot);
        svgText(plot, x(1) + 4, inner.bottom - 6, "α√h = 1", {"font-size": 10.5, fill: "#757575"});
      }
      // Reference slope -1 (lazy regime), through the points with alpha*sqrt(h) >= 10 (else the
      // lazy-most third of the points).
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
      const byWidth = new Map();
      for (const p of pts) {
        if (!byWidth.has(p.width)) byWidth.set(p.width, []);
        byWidth.get(p.width).push(p);
      }
      const widths = [...byWidth.keys()].sort((a, b) => a - b);
      for (const w of widths) {
        const color = this.widthColor.get(w) || GREY;
        const group = new Map();
        for (const p of byWidth.get(w)) {
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
        const shape = this.widthShape.get(w) || "circle";
        for (const p of byWidth.get(w)) {
          const px = x(p.alpha_sqrt_h), py = y(p.value);
          svgEl("path", {d: markerPath(shape, px, py, 3.6), fill: color, "fill-opacity": 0.12, stroke: color,
            "stroke-width": 1.3, class: "kd-point", "data-run": p.run}, plot);
          points.push({px, py, p, color});
        }
      }
      // Legend of widths, in the emptiest corner.
      const box = legendBox(inner, 80, widths.length * 15 + 6, points);
      const g = svgEl("g", {}, svg);
      svgEl("rect", {x: box.x, y: box.y, width: box.w, height: box.h, fill: "#fff", "fill-opacity": 0.85,
        stroke: "#e0e0e0"}, g);
      widths.forEach((w, k) => {
        const c = this.widthColor.get(w) || GREY;
        svgEl("path", {d: markerPath(this.widthShape.get(w) || "circle", box.x + 10, box.y + 10 + 15 * k, 3.6),
          fill: c, "fill-opacity": 0.12, stroke: c, "stroke-width": 1.3}, g);
        svgText(g, box.x + 19, box.y + 14 + 15 * k, `h = ${w}`, {"font-size": 11});
      });
    }
    const skipped = this.final && this.final.skipped ? this.final.skipped.filter((s) => drawn.has(s.run)) : [];
    this.el.collapseSub.textContent = `${pts.length} run${pts.length === 1 ? "" : "s"} · ${this.split} probes · last checkpoint of each run; lines: geometric mean over seeds`;
    const notes = [];
    if (skipped.length) notes.push(`${skipped.length} selected run(s) not shown: ${skipped.slice(0, 2).map((s) => s.reason).join("; ")}.`);
    if (noSplit) notes.push(`${noSplit} run(s) without '${this.split}' probes.`);
    this.el.collapseNote.textContent = notes.join(" ");
    this.hover.collapse = {points, plot, kind: "collapse"};
  }

  updateStepControl() {
    const {steps, t} = this.focusSteps();
    const slider = this.el.step;
    slider.max = String(Math.max(0, steps.length - 1));
    slider.disabled = steps.length < 2;
    const shown = this.eig && this.eig.step !== undefined && this.eig.step !== null ? this.eig.step
      : this.heat && this.heat.step !== undefined ? this.heat.step : null;
    const i = shown === null ? steps.length - 1 : Math.max(0, steps.indexOf(shown));
    slider.value = String(Math.max(0, i));
    this.el.stepText.textContent = steps.length ? `step ${steps[i]} · t = ${formatNumber(t[i])}` : "no checkpoint";
  }

  drawSpectrum() {
    const svg = this.el.spectrum;
    svg.replaceChildren();
    this.updateStepControl();
    const width = this.chartWidth(svg, 420);
    const height = 264;
    const margin = {left: 56, right: 12, top: 12, bottom: 38};
    const eig = this.eig;
    const series = [];
    const splitOrder = (obj) => Object.entries(obj).sort(([a], [b]) => (a === "train" ? -1 : b === "train" ? 1 : naturalCompare(a, b)));
    if (eig && eig.eigenvalues) {
      for (const [split, values] of splitOrder(eig.eigenvalues)) {
        series.push({split, values, dash: "", label: `${split}, t = ${formatNumber(eig.t_step)}`, t: eig.t_step, step: eig.step});
      }
      if (eig.initial && eig.initial.eigenvalues) {
        for (const [split, values] of splitOrder(eig.initial.eigenvalues)) {
          const label = eig.initial.t === 0 ? `${split}, t = 0 (Θ₀)` : `${split}, first kept t = ${formatNumber(eig.initial.t)}`;
          series.push({split, values, dash: "5 3", label, t: eig.initial.t, step: eig.initial.step});
        }
      }
    }
    const xs = [], ys = [];
    for (const s of series) s.values.forEach((v, i) => { xs.push(i + 1); ys.push(v); });
    const x = scaleLog(...domainOf(xs, true, [1, 10]), margin.left, width - margin.right);
    const y = scaleLog(...domainOf(ys, true), height - margin.bottom, margin.top);
    const {plot, inner} = drawFrame(svg, {width, height, margin, x, y, xLabel: "eigenvalue index i (log)",
      yLabel: "λᵢ of Θ (log)"});
    const points = [];
    if (!series.length) {
      const msg = !this.focusRun ? "No run selected." : eig && eig.error ? eig.error : (eig && eig.message) || "No eigenvalues.";
      centerMessage(svg, inner, msg);
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
        points.push({px, py, s, i, v, color});
      });
    }
    if (series.length) {
      const polylines = series.map((s) => points.filter((p) => p.s === s));
      const box = legendBox(inner, 160, series.length * 14 + 6, [], polylines);
      const g = svgEl("g", {}, svg);
      svgEl("rect", {x: box.x, y: box.y, width: box.w, height: box.h, fill: "#fff", "fill-opacity": 0.85,
        stroke: "#e0e0e0"}, g);
      series.forEach((s, k) => {
        const ly = box.y + 13 + 14 * k;
        svgEl("line", {x1: box.x + 6, x2: box.x + 24, y1: ly - 4, y2: ly - 4,
          stroke: SPLIT_COLORS[s.split] || CATEGORICAL[5], "stroke-width": 1.6, "stroke-dasharray": s.dash || null}, g);
        svgText(g, box.x + 28, ly, s.label, {"font-size": 10.5});
      });
    }
    const note = [];
    if (eig && eig.message && series.length) note.push(eig.message);
    this.el.spectrumNote.textContent = note.join(" ");
    this.hover.spectrum = {points, plot, kind: "spectrum"};
  }

  drawHeatmap() {
    const svg = this.el.heatmap;
    svg.replaceChildren();
    const width = this.chartWidth(svg, 420);
    const heat = this.heat;
    const size = Math.max(120, Math.min(width - 110, 250));
    const height = size + 20;
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    const x0 = Math.max(8, (width - size - 90) / 2), y0 = 8;
    const points = [];
    if (!heat || !heat.values) {
      const msg = !this.focusRun ? "No run selected." : heat && heat.error ? heat.error : (heat && heat.message) || "No heatmap.";
      svgText(svg, width / 2, height / 2, msg, {"text-anchor": "middle", class: "kd-chart-msg"});
      this.el.heatSub.textContent = this.focusRun ? this.focusRun : "";
      this.el.heatNote.textContent = "";
      this.hover.heatmap = {points, kind: "heatmap"};
      return;
    }
    const values = heat.values;
    const m = values.length, n = values[0].length;
    const vmax = heat.abs_max > 0 ? heat.abs_max : 1;
    const canvas = document.createElement("canvas");
    canvas.width = n;
    canvas.height = m;
    const ctx = canvas.getContext("2d");
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        const v = values[i][j];
        ctx.fillStyle = v === null ? "#bdbdbd" : divergingColor(v / vmax);
        ctx.fillRect(j, i, 1, 1);
      }
    }
    svgEl("image", {x: x0, y: y0, width: size, height: size, href: canvas.toDataURL("image/png"),
      preserveAspectRatio: "none", style: "image-rendering: pixelated", class: "kd-heat-image"}, svg);
    svgEl("rect", {x: x0, y: y0, width: size, height: size, fill: "none", stroke: "#bdbdbd"}, svg);
    // Colour bar.
    const cx = x0 + size + 16;
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
    this.el.heatSub.textContent = `${heat.run} · step ${heat.step} · t = ${formatNumber(heat.t_step)} · ${m}×${n} probes`;
    this.el.heatNote.textContent = "Rows and columns: the fixed train-probe subsample; colour scale symmetric at ± max |entry| of this checkpoint.";
    this.hover.heatmap = {kind: "heatmap", grid: {x0, y0, size, m, n, values}};
  }

  // ---------------------------------------------------------------------------------------------
  // Hover and click

  attachHover(name) {
    const svg = this.el[name];
    const toLocal = (evt) => {
      const rect = svg.getBoundingClientRect();
      const vb = svg.viewBox.baseVal;
      const sx = vb && vb.width ? vb.width / rect.width : 1;
      const sy = vb && vb.height ? vb.height / rect.height : 1;
      return [(evt.clientX - rect.left) * sx, (evt.clientY - rect.top) * sy];
    };
    svg.addEventListener("mousemove", (evt) => {
      const [mx, my] = toLocal(evt);
      this.onHover(name, mx, my, evt);
    });
    svg.addEventListener("mouseleave", () => this.clearHover(name));
    svg.addEventListener("click", (evt) => {
      if (name !== "drift" && name !== "collapse") return;
      const [mx, my] = toLocal(evt);
      const hit = this.nearest(this.hover[name], mx, my);
      if (hit) this.setFocus(name === "drift" ? hit.line.run : hit.p.run);
    });
  }

  nearest(h, mx, my, radius = 18) {
    if (!h || !h.points) return null;
    let best = null, bestD = radius * radius;
    for (const p of h.points) {
      const d = (p.px - mx) ** 2 + (p.py - my) ** 2;
      if (d < bestD) { bestD = d; best = p; }
    }
    return best;
  }

  clearHover(name) {
    this.el.tooltip.style.display = "none";
    const h = this.hover[name];
    if (h && h.overlay) { h.overlay.remove(); h.overlay = null; }
  }

  showTooltip(evt, title, lines) {
    const tt = this.el.tooltip;
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

  runLines(run) {
    const r = this.byName.get(run);
    if (!r || !r.metadata) return [["no run metadata", true]];
    const m = r.metadata;
    return [[`α√h = ${formatNumber(m.alpha_sqrt_h)} · α = ${formatNumber(m.alpha)} · h = ${m.width} · seed ${m.seed}`, true]];
  }

  onHover(name, mx, my, evt) {
    const h = this.hover[name];
    if (!h) return;
    if (name === "heatmap") {
      const g = h.grid;
      if (!g) return;
      const j = Math.floor(((mx - g.x0) / g.size) * g.n), i = Math.floor(((my - g.y0) / g.size) * g.m);
      if (i < 0 || j < 0 || i >= g.m || j >= g.n) { this.clearHover(name); return; }
      const v = g.values[i][j];
      this.showTooltip(evt, `probe ${i} × probe ${j}`, [[`(Θₜ − Θ₀)ᵢⱼ / ‖Θ₀‖ = ${formatNumber(v, 4)}`, false],
        [`${this.heat.run} · t = ${formatNumber(this.heat.t_step)}`, true]]);
      return;
    }
    const hit = this.nearest(h, mx, my);
    if (h.overlay) { h.overlay.remove(); h.overlay = null; }
    if (!hit) { this.el.tooltip.style.display = "none"; return; }
    if (name === "drift") {
      const l = hit.line;
      h.overlay = svgEl("g", {}, h.plot);
      svgEl("path", {d: hit.d, class: "kd-highlight", stroke: l.color, "stroke-dasharray": l.dash || null}, h.overlay);
      svgEl("circle", {cx: hit.px, cy: hit.py, r: 4.5, fill: l.color, class: "kd-dot-hl"}, h.overlay);
      const what = l.layer ? `layer ${l.layer}` : METRICS[this.metric].short;
      this.showTooltip(evt, l.run, [
        ...this.runLines(l.run),
        [`t = ${formatNumber(l.t[hit.i], 4)} · step ${l.steps[hit.i]}` +
          (this.timeAxis === "scaled" ? ` · t/(α√h) = ${formatNumber(l.xs[hit.i], 4)}` : ""), false],
        [`${what} (${this.split}) = ${formatNumber(l.ys[hit.i], 4)}`, false],
        ["click: spectrum and heatmap of this run", true],
      ]);
    } else if (name === "collapse") {
      const p = hit.p;
      h.overlay = svgEl("circle", {cx: hit.px, cy: hit.py, r: 6, fill: hit.color, class: "kd-dot-hl"}, h.plot);
      this.showTooltip(evt, p.run, [
        ...this.runLines(p.run),
        [`final drift (${this.split}) = ${formatNumber(p.value, 4)}`, false],
        [`at t = ${formatNumber(p.tLast, 4)}`, true],
      ]);
    } else if (name === "spectrum") {
      const s = hit.s;
      h.overlay = svgEl("circle", {cx: hit.px, cy: hit.py, r: 4.5, fill: hit.color, class: "kd-dot-hl"}, h.plot);
      this.showTooltip(evt, `λ${hit.i + 1} (${s.split} probes)`, [
        [`${formatNumber(hit.v, 4)} at step ${s.step}, t = ${formatNumber(s.t, 4)}`, false],
        [this.focusRun || "", true],
      ]);
    }
  }
}
