// The run selector of the sidebar: a filter box (regex on names and metadata), select all / none /
// only shown, a sort order, and one checkbox row per run with its colour and metadata.

import {formatNumber, htmlEl} from "./charts.js";

export class RunList {
  // onChange(): the selection or the filter changed (redraw).
  constructor(side, state, onChange) {
    this.state = state;
    this.onChange = onChange;
    this.rows = new Map();         // run -> {row, box, haystack}
    this.signature = "";
    this.filterText = "";
    htmlEl("h2", {}, side, "Runs");
    const filter = htmlEl("input", {className: "kd-filter", type: "search", "aria-label": "Filter runs",
      placeholder: "Filter runs (regex): h64, seed0, ash0.1…"}, side);
    filter.addEventListener("input", () => {
      this.filterText = filter.value;
      this.applyFilter();
      onChange();
    });
    const selRow = htmlEl("div", {className: "kd-sel-row"}, side);
    for (const [mode, label, title] of [["all", "All", "Select every run shown"],
      ["none", "None", "Deselect every run shown"], ["only", "Only shown", "Select exactly the runs shown"]]) {
      const button = htmlEl("button", {className: "kd-btn", type: "button", title}, selRow, label);
      button.addEventListener("click", () => this.selectShown(mode));
    }
    this.count = htmlEl("span", {className: "kd-count"}, selRow);
    const sortRow = htmlEl("div", {className: "kd-sort"}, side, "Sort by ");
    const sort = htmlEl("select", {"aria-label": "Sort runs"}, sortRow);
    for (const [v, label] of [["name", "name"], ["ash", "α√h"], ["width", "h, then α√h"]]) {
      htmlEl("option", {value: v}, sort, label);
    }
    sort.addEventListener("change", () => { state.sort = sort.value; this.signature = ""; this.render(this.focusRun); });
    this.list = htmlEl("div", {className: "kd-runlist", role: "list"}, side);
  }

  // Rebuilds the rows when the runs changed, then syncs checkboxes, focus and filter.
  render(focusRun) {
    const state = this.state;
    const signature = JSON.stringify(state.runs.map((r) => [r.run, r.status, r.metadata, r.message])) + state.sort;
    if (signature !== this.signature) {
      this.signature = signature;
      const scroll = this.list.scrollTop;
      this.list.replaceChildren();
      this.rows = new Map();
      for (const r of state.sortedRuns()) this.rows.set(r.run, this.buildRow(r));
      this.noMatch = htmlEl("div", {className: "kd-run-meta kd-hidden", style: "padding: 8px 12px"},
        this.list, "No run matches the filter.");
      this.list.scrollTop = scroll;
    }
    for (const [name, {box}] of this.rows) box.checked = state.selected.has(name);
    this.markFocus(focusRun);
    this.applyFilter();
  }

  buildRow(r) {
    const row = htmlEl("label", {className: "kd-run" + (r.has_kernel_data ? "" : " kd-disabled"), role: "listitem"}, this.list);
    row.title = r.run;
    const box = htmlEl("input", {type: "checkbox"}, row);
    box.disabled = !r.has_kernel_data;
    box.addEventListener("change", () => {
      if (box.checked) this.state.selected.add(r.run); else this.state.selected.delete(r.run);
      this.onChange();
    });
    const swatch = htmlEl("span", {className: "kd-swatch"}, row);
    swatch.style.background = r.has_kernel_data ? this.state.ashColor(r.run) : "transparent";
    htmlEl("span", {className: "kd-run-name"}, row, r.run);
    htmlEl("span", {className: "kd-run-meta"}, row, runMeta(r));
    row.dataset.run = r.run;
    // The filter matches the run name, or its metadata written as "h=64 ash=0.5 seed=0".
    const haystack = [r.run];
    if (r.metadata) haystack.push(`h=${r.metadata.width} ash=${r.metadata.alpha_sqrt_h} seed=${r.metadata.seed}`);
    return {row, box, haystack};
  }

  markFocus(run) {
    this.focusRun = run;
    for (const [name, {row}] of this.rows) row.classList.toggle("kd-focus", name === run);
  }

  applyFilter() {
    const match = matcher(this.filterText);
    const visible = new Set();
    for (const [name, {row, haystack}] of this.rows) {
      const ok = haystack.some(match);
      row.classList.toggle("kd-hidden", !ok);
      if (ok) visible.add(name);
    }
    this.state.visible = visible;
    if (this.noMatch) this.noMatch.classList.toggle("kd-hidden", visible.size > 0 || !this.rows.size);
    this.updateCount();
  }

  updateCount() {
    const withData = this.state.runs.filter((r) => r.has_kernel_data).length;
    this.count.textContent = `${this.state.drawnRuns().length} / ${withData} drawn`;
  }

  selectShown(mode) {
    const {runs, selected, visible} = this.state;
    for (const r of runs) {
      if (!r.has_kernel_data) continue;
      const shown = !visible || visible.has(r.run);
      if (mode === "all" && shown) selected.add(r.run);
      else if (mode === "none" && shown) selected.delete(r.run);
      else if (mode === "only") { if (shown) selected.add(r.run); else selected.delete(r.run); }
    }
    for (const [name, {box}] of this.rows) box.checked = selected.has(name);
    this.onChange();
  }
}

function runMeta(r) {
  if (!r.has_kernel_data) return r.status === "unreadable" ? r.message : "no kernel-drift data";
  if (!r.metadata) return r.message || "no run metadata";
  const meta = `α√h ${formatNumber(r.metadata.alpha_sqrt_h)} · h ${r.metadata.width} · seed ${r.metadata.seed}`;
  return r.status !== "ok" && r.message ? meta + " · " + r.message : meta;
}

// Case-insensitive regex test, or substring test when the text is not a valid regex.
function matcher(text) {
  text = text.trim();
  if (!text) return () => true;
  try {
    const re = new RegExp(text, "i");
    return (s) => re.test(s);
  } catch (e) {
    const lower = text.toLowerCase();
    return (s) => s.toLowerCase().includes(lower);
  }
}
