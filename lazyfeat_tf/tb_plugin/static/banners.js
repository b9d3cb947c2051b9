// Banners above the charts (load errors, runs without data, pending or unreadable runs), and the
// empty-logdir explanation that replaces the charts.

import {htmlEl} from "./charts.js";

// els: {banners, empty, grid} elements of the main area.
export function renderBanners(els, state) {
  els.banners.replaceChildren();
  const add = (text, info = false) => htmlEl("div", {className: "kd-banner" + (info ? " kd-info" : ""), role: "note"}, els.banners, text);
  if (state.error) {
    add(`Could not load kernel-drift data: ${state.error.message}. The tab retries at the next refresh.`);
  }
  const runs = state.runs;
  const empty = state.emptyMessage && !runs.some((r) => r.has_kernel_data);
  els.empty.classList.toggle("kd-hidden", !empty);
  els.grid.classList.toggle("kd-hidden", Boolean(empty));
  if (empty) {
    els.empty.replaceChildren();
    htmlEl("div", {}, els.empty, state.emptyMessage);
    htmlEl("div", {}, els.empty,
      "Inside a tf.summary writer: write_run_metadata(alpha=…, alpha_sqrt_h=…, width=…, seed=…) once, " +
      "then write_drift_record(record, step) at each kernel checkpoint (lazyfeat_tf.tb_plugin.summary).");
    return;
  }
  const unreadable = runs.filter((r) => r.status === "unreadable");
  if (unreadable.length) {
    add(`${runsHave(unreadable)} kernel-drift data this version cannot read (malformed, or written by a ` +
      `newer lazyfeat_tf), skipped: ${names(unreadable)}.`);
  }
  const noData = runs.filter((r) => !r.has_kernel_data);
  if (noData.length) add(`${runsHave(noData)} no kernel-drift data (greyed out in the run list).`, true);
  const pending = runs.filter((r) => ["waiting", "incomplete", "initial_only"].includes(r.status));
  if (pending.length) {
    add(`${runsHave(pending)} no checkpoint with t > 0 yet (still starting or half-written): ` +
      `${names(pending)}. They appear when their first checkpoints arrive.`, true);
  }
  const noMeta = runs.filter((r) => r.status === "no_metadata");
  if (noMeta.length) {
    add(`${noMeta.length} run${noMeta.length > 1 ? "s lack" : " lacks"} run metadata (alpha, h; ` +
      "write_run_metadata): drawn in grey and left out of the collapse plot.", true);
  }
}

function runsHave(runs) {
  return `${runs.length} run${runs.length > 1 ? "s have" : " has"}`;
}

function names(runs) {
  return runs.slice(0, 3).map((r) => r.run).join(", ") + (runs.length > 3 ? ", …" : "");
}
