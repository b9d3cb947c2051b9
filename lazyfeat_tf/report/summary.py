"""summary.md: the runs gathered, and per family the fitted exponents with their confidence intervals,
tables of test errors and the notes of the figures that could not be drawn."""

import os

import numpy as np

from lazyfeat_tf.report.family import values
from lazyfeat_tf.report.fits import LEVEL
from lazyfeat_tf.report.runs import is_diverged, is_reported, is_unconverged
from lazyfeat_tf.results import DIVERGED


def _ci(fit):
    return "n/a (< 3 seeds)" if fit["ci"] is None else f"[{fit['ci'][0]:.3f}, {fit['ci'][1]:.3f}]"


def markdown_table(header, rows):
    """The lines of a markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def _fmt(value, spec=".3f"):
    return "-" if value is None or not np.isfinite(value) else format(value, spec)


def _unconverged_markdown(rows, include_unconverged):
    """The runs of `rows` that stopped before every training margin reached 1: whether they are in the
    means, figures and fits, and a table of where each stopped ([] when there is none)."""
    unconverged = [row for row in rows if is_unconverged(row)]
    if not unconverged:
        return []
    if include_unconverged:
        where = "included in the means, figures and fits by --include_unconverged: not the article's protocol"
    else:
        where = "left out of the means, figures and fits; --include_unconverged keeps them in"
    table = [[f"`{row['run']}`", row["status"], row["steps"], _fmt(row["train_error"], ".4f"),
              _fmt(row["test_error"], ".4f")] for row in unconverged]
    title = f"{len(unconverged)} runs did not converge (stopped before every training margin reached 1; {where}):"
    return ["", title, ""] + markdown_table(["run", "status", "steps", "train error", "test error"], table)


def header(workdir, gathered, include_unconverged=False):
    """The title, the counts of runs by status and the run directories that were left out (or, with
    `include_unconverged`, kept in although they did not converge)."""
    statuses = {}
    for row in gathered.rows:
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=str))
    unfinished = gathered.unfinished
    unfinished_note = f"; {len(unfinished)} run directories without results (unfinished)" if unfinished else ""
    lines = [f"# Report of {workdir}", "",
             f"{len(gathered.rows)} finished runs (status: {counts}){unfinished_note}. Table: `runs.csv`."]
    diverged = [row["run"] for row in gathered.rows if is_diverged(row)]
    if diverged:
        lines += ["", f"{len(diverged)} runs diverged (status {DIVERGED}: no error rate; left out of the "
                  "means, figures and fits):"]
        lines += [f"- `{run}`" for run in diverged]
    lines += _unconverged_markdown(gathered.rows, include_unconverged)
    if not any(is_reported(row, include_unconverged) for row in gathered.rows):
        lines += ["", "No run is left to draw: no mean, figure or fit below."]
    if gathered.invalid:
        lines += ["", f"{len(gathered.invalid)} run directories skipped (their files cannot be used):"]
        lines += [f"- `{os.path.relpath(path, workdir)}`: {reason}" for path, reason in gathered.invalid]
    return lines


def family_header(label, family, where=None):
    """The section title of a family (with its subdirectory `where`, if any) and what it holds."""
    seeds = sorted({len(v) for v in family.cells.values()})
    contents = (f"{len(family.rows)} runs; widths h = {', '.join(str(w) for w in family.widths)}; "
                f"alpha*sqrt(h) = {', '.join(f'{x:g}' for x in family.ash)}; seeds per point: "
                f"{'-'.join(str(s) for s in (seeds[0], seeds[-1])) if len(seeds) > 1 else seeds[0]}.")
    return ["", f"## {label}" + (f" (`{where}/`)" if where else ""), "", contents]


def _fits_markdown(fits, settings):
    lines = ["", f"### Fitted exponents ({LEVEL:.0%} bootstrap confidence intervals)", ""]
    lazy, feature = (f"{name}, alpha*sqrt(h) {text}" for name, text in settings.ranges().items())
    expected = {
        "kernel_drift_lazy": ("kernel drift vs alpha*sqrt(h)", lazy, "-1"),
        "kernel_drift_feature": ("kernel drift vs alpha*sqrt(h)", feature, "-a, a < 2 (a -> 2 as depth grows)"),
        "t1_feature": ("t1/(alpha*sqrt(h)) vs alpha*sqrt(h)", feature, "0 (t1 ~ sqrt(h) alpha)"),
        "t1_lazy": ("t1/(alpha*sqrt(h)) vs alpha*sqrt(h)", lazy, "-1 (t1 = O(1): linear dynamics)"),
    }
    rows = []
    for name, (quantity, regime, paper) in expected.items():
        if name in fits:
            fit = fits[name]
            rows.append([quantity, regime, f"{fit['slope']:.3f}", _ci(fit), fit["n"], paper])
    delta = sorted((float(k.split("@")[1]), v) for k, v in fits.items() if k.startswith("delta_F_vs_h@"))
    for x, fit in delta:
        rows.append(["delta F vs h", f"alpha*sqrt(h) = {x:g}", f"{fit['slope']:.3f}", _ci(fit),
                     f"{fit['n']} widths", "-1/2"])
    if delta:
        median = float(np.median([fit["slope"] for _, fit in delta]))
        rows.append(["delta F vs h", "median over alpha*sqrt(h)", f"{median:.3f}", "", "", "-1/2"])
    if not rows:
        return lines + ["No exponent could be fitted (see the notes)."]
    thin = [f"- warning: the {name.replace('_', ' ')} fit (alpha*sqrt(h) {settings.ranges()[name.rsplit('_', 1)[1]]}) "
            f"rests on {fits[name]['distinct']} distinct values of alpha*sqrt(h); extend the sweep's range or move "
            "--lazy_min / --feature_max" for name in expected if name in fits and fits[name]["distinct"] < 3]
    table = markdown_table(["quantity", "regime", "exponent", "CI", "points", "expected (article)"], rows)
    return lines + table + ([""] + thin if thin else [])


def _error_tables(family, with_frozen):
    """Test errors by (alpha*sqrt(h), h): of the nets, of the ensembles, of the frozen kernels."""
    header_row = ["alpha*sqrt(h)"] + [f"h={w}" for w in family.widths]
    table = []
    for x in family.ash:
        cells = []
        for w in family.widths:
            errors = values(family.cells.get((w, x), []), "test_error")
            cells.append(f"{errors.mean():.4f} ({len(errors)})" if len(errors) else "-")
        table.append([f"{x:g}"] + cells)
    md = ["", "### Test error (mean over seeds)", ""] + markdown_table(header_row, table)
    md += ["", "(in parentheses: the number of seeds)"]
    ensemble = family.ensembles()
    if ensemble:
        md += ["", "### Ensemble average of the seeds' test outputs: test error (single nets' mean)", ""]
        table = [[f"{x:g}"] + [f"{ensemble[(w, x)]['ensemble']:.4f} ({ensemble[(w, x)]['single']:.4f})"
                               if (w, x) in ensemble else "-" for w in family.widths] for x in family.ash]
        md += markdown_table(header_row, table)
    if with_frozen:
        w = family.widths[-1]
        md += ["", f"### Frozen-kernel predictors at h = {w} (mean test error)", ""]
        table = []
        for x in family.ash:
            cell = family.cells.get((w, x), [])
            table.append([f"{x:g}"] + [_fmt(np.nanmean(values(cell, k)) if cell else None, ".4f")
                                       for k in ("test_error", "init_kernel_test_error",
                                                 "final_kernel_test_error")])
        md += markdown_table(["alpha*sqrt(h)", "network", "frozen Theta_0", "frozen Theta_T"], table)
    return md


def family_markdown(family, fits, figures, notes, settings):
    """The body of a family's section: exponents, tables, the figures drawn and the notes."""
    md = _fits_markdown(fits, settings) + _error_tables(family, "frozen_kernels" in figures)
    md += ["", "Figures: " + ", ".join(f"`{name}.png`/`.pdf`" for name in figures)]
    if notes:
        md += ["", "Notes:"] + [f"- {note}" for note in notes]
    return md


def article_markdown(drawn, out):
    """The "Article figures" section of summary.md: per figure of `drawn`
    (`article.draw_article_figures`), its title, its files (relative to `out`), its numbers and its
    notes ([] when no article figure was asked for)."""
    if not drawn:
        return []
    md = ["", "## Article figures", ""]
    for name, item in drawn.items():
        md += ["", f"### {item['title']}", ""]
        if item["files"]:
            md.append("Files: " + ", ".join(f"`{os.path.relpath(path, out)}`" for path in item["files"]))
        else:
            md.append(f"`{name}`: not drawn.")
        md += [""] + item["lines"]
        if item["notes"]:
            md += ["", "Notes:"] + [f"- {note}" for note in item["notes"]]
    return md
