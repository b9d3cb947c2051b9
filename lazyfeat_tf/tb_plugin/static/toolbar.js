// The toolbar above the charts: probe split, quantity, time axis, per-layer curves, auto refresh,
// the refresh button and the status line.

import {htmlEl} from "./charts.js";
import {METRICS} from "./state.js";

export class Toolbar {
  // onChange(): a control changed the state (redraw); onRefresh(): reload everything.
  constructor(main, state, {onChange, onRefresh}) {
    const bar = htmlEl("div", {className: "kd-toolbar"}, main);
    htmlEl("h1", {}, bar, "Kernel drift");
    this.split = htmlEl("select", {"aria-label": "Probe split"}, htmlEl("label", {}, bar, "Probes "));
    this.split.addEventListener("change", () => { state.split = this.split.value; onChange(); });
    const metric = htmlEl("select", {"aria-label": "Quantity vs t"}, htmlEl("label", {}, bar, "Curves "));
    for (const [v, m] of Object.entries(METRICS)) htmlEl("option", {value: v}, metric, m.short);
    metric.addEventListener("change", () => {
      state.metric = metric.value;
      perLayer.disabled = state.metric !== "total";
      onChange();
    });
    const timeLabel = htmlEl("label", {title: "Rescaling t by α√h lines up the end of the linear (lazy-like) phase t₁ ~ α√h of feature-regime runs"}, bar, "Time ");
    const time = htmlEl("select", {"aria-label": "Time axis"}, timeLabel);
    htmlEl("option", {value: "t"}, time, "t");
    htmlEl("option", {value: "scaled"}, time, "t / (α√h)");
    time.addEventListener("change", () => { state.timeAxis = time.value; onChange(); });
    const perLayer = checkbox(bar, "per-layer curves", "Also draw each layer's contribution (dashed)");
    perLayer.addEventListener("change", () => { state.perLayer = perLayer.checked; onChange(); });
    this.auto = checkbox(bar, "auto refresh 30 s", "Reload data every 30 s (runs still training)");
    this.auto.checked = true;
    const refresh = htmlEl("button", {className: "kd-btn", type: "button"}, bar, "Refresh");
    refresh.addEventListener("click", () => onRefresh());
    this.status = htmlEl("span", {className: "kd-status", role: "status"}, bar);
  }

  // The split options (when they changed) and the current split.
  setSplits(splits, current) {
    const options = [...this.split.options].map((o) => o.value).join("\n");
    if (options !== splits.join("\n")) {
      this.split.replaceChildren();
      for (const s of splits.length ? splits : ["train"]) htmlEl("option", {value: s}, this.split, s);
    }
    this.split.value = current;
  }

  setStatus(text) {
    this.status.textContent = text;
  }
}

function checkbox(bar, text, title) {
  const label = htmlEl("label", {title}, bar);
  const box = htmlEl("input", {type: "checkbox"}, label);
  label.appendChild(document.createTextNode(text));
  return box;
}
