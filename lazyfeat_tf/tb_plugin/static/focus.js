// The focus of the spectrum and heatmap cards: one drawn run and one of its kept checkpoints
// (run selector and checkpoint slider), with their /eigenvalues and /heatmap answers.

import {fetchCheckpoint} from "./api.js";
import {formatNumber, htmlEl} from "./charts.js";

export class Focus {
  // onRun(run): the user chose a run; onStep(): the user chose a checkpoint (data to reload).
  constructor(controls, {onRun, onStep}) {
    this.run = null;
    this.step = null;              // null: the last kept checkpoint
    this.eig = null;
    this.heat = null;
    this.key = null;               // what eig and heat were loaded for
    const runLabel = htmlEl("label", {}, controls, "Run ");
    this.select = htmlEl("select", {"aria-label": "Run for spectrum and heatmap"}, runLabel);
    this.select.addEventListener("change", () => onRun(this.select.value));
    const stepLabel = htmlEl("label", {}, controls, "Checkpoint ");
    this.slider = htmlEl("input", {type: "range", min: 0, max: 0, step: 1, value: 0,
      "aria-label": "Checkpoint"}, stepLabel);
    this.stepText = htmlEl("span", {}, controls);
    this.slider.addEventListener("input", () => this.previewStep());
    this.slider.addEventListener("change", () => { if (this.commitStep()) onStep(); });
  }

  // Keeps the run if it is still drawn, else takes the first drawn run with arrays; fills the
  // run selector with the drawn runs.
  choose(drawn, byName) {
    const hasArrays = (n) => {
      const r = byName.get(n);
      return r && ((r.eigenvalue_splits || []).length || r.has_heatmap);
    };
    if (!this.run || !drawn.includes(this.run)) {
      const candidate = drawn.find(hasArrays) || drawn[0] || null;
      if (candidate !== this.run) { this.run = candidate; this.step = null; }
    }
    const opts = drawn.join("\n");
    if (this.select.dataset.opts !== opts) {
      this.select.replaceChildren();
      for (const n of drawn) htmlEl("option", {value: n}, this.select, n);
      this.select.dataset.opts = opts;
    }
    if (this.run) this.select.value = this.run;
  }

  // Focuses `run` at its last checkpoint; false if it already had the focus.
  set(run) {
    if (!run || run === this.run) return false;
    this.run = run;
    this.step = null;
    return true;
  }

  async load(byName) {
    const run = this.run;
    if (!run) { this.eig = null; this.heat = null; return; }
    const r = byName.get(run);
    const key = `${run}\n${this.step}\n${r ? r.last_step : ""}`;
    if (this.key === key && this.eig && this.heat) return;
    [this.eig, this.heat] = await fetchCheckpoint(run, this.step);
    this.key = key;
  }

  steps() {
    const src = this.eig && this.eig.steps && this.eig.steps.length ? this.eig : this.heat;
    return src && src.steps ? {steps: src.steps, t: src.t} : {steps: [], t: []};
  }

  // The slider over the kept checkpoints, at the one shown.
  updateStepControl() {
    const {steps, t} = this.steps();
    this.slider.max = String(Math.max(0, steps.length - 1));
    this.slider.disabled = steps.length < 2;
    const shown = this.eig && this.eig.step !== undefined && this.eig.step !== null ? this.eig.step
      : this.heat && this.heat.step !== undefined ? this.heat.step : null;
    const i = shown === null ? steps.length - 1 : Math.max(0, steps.indexOf(shown));
    this.slider.value = String(Math.max(0, i));
    this.stepText.textContent = steps.length ? `step ${steps[i]} · t = ${formatNumber(t[i])}` : "no checkpoint";
  }

  previewStep() {
    const {steps, t} = this.steps();
    const i = Number(this.slider.value);
    if (steps.length) this.stepText.textContent = `step ${steps[i]} · t = ${formatNumber(t[i])}`;
  }

  // Takes the slider's checkpoint; false if there is none.
  commitStep() {
    const {steps} = this.steps();
    const i = Number(this.slider.value);
    if (!steps.length) return false;
    this.step = i === steps.length - 1 ? null : steps[i];
    return true;
  }
}
