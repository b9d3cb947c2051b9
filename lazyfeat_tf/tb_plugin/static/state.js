// State of the Kernel drift tab: the runs /runs listed, the selection and the controls' values,
// and the /series and /final data loaded so far.

import {CATEGORICAL, domainOf, formatNumber, sequentialColor} from "./charts.js";

export const GREY = "#9e9e9e";
export const SPLIT_COLORS = {train: "#1565c0", test: "#ef6c00"};
export const METRICS = {
  total: {label: "Kernel drift ‖Θₜ − Θ₀‖ / ‖Θ₀‖ (Frobenius)", short: "drift", log: true},
  alignment: {label: "Kernel-label alignment yᵀΘₜy / (‖Θₜ‖ ‖y‖²)", short: "alignment", log: false},
  effective_rank: {label: "Effective rank of Θₜ", short: "effective rank", log: false},
};

// Natural order that reads decimals and exponents: "ash0.0359" < "ash0.129" < "ash1e+03".
const NUMBER_RE = /(\d+(?:\.\d+)?(?:e[+-]?\d+)?)/i;
export function naturalCompare(a, b) {
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

// Order of probe splits: "train" first, then natural order.
export function splitCompare(a, b) {
  return a === "train" ? -1 : b === "train" ? 1 : naturalCompare(a, b);
}

export class TabState {
  constructor() {
    this.runs = [];
    this.byName = new Map();
    this.selected = new Set();
    this.known = new Set();
    this.visible = null;           // runs shown by the run-list filter (null: all)
    this.series = new Map();       // run -> {lastStep, include: Set, data}
    this.final = null;
    this.splits = [];
    this.split = "train";
    this.metric = "total";
    this.timeAxis = "t";           // "t" or "scaled": t / (alpha*sqrt(h))
    this.perLayer = false;
    this.sort = "name";
    this.ashDomain = [0.1, 10];
    this.widthIndex = new Map();   // width h -> index of its colour and marker
    this.emptyMessage = null;
    this.error = null;
  }

  // Takes a /runs answer: new runs with kernel data start selected, vanished runs are dropped.
  setRuns(resp) {
    this.runs = resp.runs || [];
    this.byName = new Map(this.runs.map((r) => [r.run, r]));
    for (const r of this.runs) {
      if (!this.known.has(r.run)) {
        this.known.add(r.run);
        if (r.has_kernel_data) this.selected.add(r.run);
      }
    }
    for (const name of [...this.selected]) if (!this.byName.has(name)) this.selected.delete(name);
    for (const name of [...this.series.keys()]) if (!this.byName.has(name)) this.series.delete(name);

    // Colour scale of alpha*sqrt(h), fixed over all runs so colours do not move with the selection.
    const withMetadata = this.runs.filter((r) => r.metadata);
    this.ashDomain = domainOf(withMetadata.map((r) => r.metadata.alpha_sqrt_h), true, [0.1, 10]);
    const widths = [...new Set(withMetadata.map((r) => r.metadata.width))].sort((a, b) => a - b);
    this.widthIndex = new Map(widths.map((w, i) => [w, i]));

    const splits = new Set();
    for (const r of this.runs) for (const s of r.splits || []) splits.add(s);
    this.splits = [...splits].sort(splitCompare);
    if (this.splits.length && !this.splits.includes(this.split)) this.split = this.splits[0];
    this.emptyMessage = resp.message || null;
  }

  ashColor(run) {
    const r = this.byName.get(run);
    if (!r || !r.metadata) return GREY;
    const [d0, d1] = this.ashDomain;
    const u = (Math.log10(r.metadata.alpha_sqrt_h) - Math.log10(d0)) / (Math.log10(d1) - Math.log10(d0) || 1);
    return sequentialColor(u);
  }

  widthColor(width) {
    const i = this.widthIndex.get(width);
    return i === undefined ? GREY : CATEGORICAL[i % CATEGORICAL.length];
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

  // Runs drawn: selected, shown by the filter, with kernel data.
  drawnRuns() {
    return this.sortedRuns()
      .filter((r) => r.has_kernel_data && this.selected.has(r.run) && (!this.visible || this.visible.has(r.run)))
      .map((r) => r.run);
  }

  // The optional /series fields the controls need.
  neededInclude() {
    const inc = new Set();
    if (this.perLayer && this.metric === "total") inc.add("layers");
    if (this.metric === "alignment") inc.add("alignment");
    if (this.metric === "effective_rank") inc.add("effective_rank");
    return inc;
  }

  // Drawn runs whose series are missing, older than their last checkpoint, or lack a field.
  staleSeries() {
    const need = this.neededInclude();
    return this.drawnRuns().filter((name) => {
      const cached = this.series.get(name);
      return !cached || cached.lastStep !== this.byName.get(name).last_step ||
        [...need].some((x) => !cached.include.has(x));
    });
  }

  // The fields to request for `names`: what the controls need and what their cache already has.
  includeFor(names) {
    const include = this.neededInclude();
    for (const n of names) for (const x of (this.series.get(n) || {include: []}).include) include.add(x);
    return include;
  }

  storeSeries(seriesList, include) {
    for (const s of seriesList) {
      const r = this.byName.get(s.run);
      this.series.set(s.run, {lastStep: r ? r.last_step : null, include, data: s});
    }
  }

  // Tooltip line [text, muted] with a run's metadata.
  metadataLines(run) {
    const r = this.byName.get(run);
    if (!r || !r.metadata) return [["no run metadata", true]];
    const m = r.metadata;
    return [[`α√h = ${formatNumber(m.alpha_sqrt_h)} · α = ${formatNumber(m.alpha)} · h = ${m.width} · seed ${m.seed}`, true]];
  }
}
