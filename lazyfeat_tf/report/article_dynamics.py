"""The article figures about fluctuations and dynamics: "var / ensembles" (h Var[F] and ensemble
averages vs h) and "time dynamics (a)-(c)" (kernel change, alpha^2 L(t), t1; and the appendix's
||F_t - F_0|| vs t / t1), the latter two from the runs' metrics.jsonl."""

import math

import numpy as np

from lazyfeat_tf.report.article_common import ArticleDrawn, family_rows, format_fit, no_data, percent
from lazyfeat_tf.report.family import DRIFT_KEYS, values
from lazyfeat_tf.report.figures import (ash_colors, drift_panel, ensemble_vs_width_panel, fluctuation_panels,
                                        t1_panel)
from lazyfeat_tf.report.summary import markdown_table
from lazyfeat_tf.rundir import RunDir

# ----------------------------------------------------------------------------------------------
# var / ensembles


def needs_fluctuations(members, settings):
    """The note when no family has fluctuations (see `Family.fluctuations`), else None."""
    if any(m.family.fluctuations(settings.n_boot) for m in members):
        return None
    seeds = max(m.family.max_seeds for m in members)
    widths = max(len(m.family.widths) for m in members)
    return (f"skipped, needs a family with >= 2 seeds at the same (alpha, h) for >= 2 widths (at most {seeds} "
            f"seed(s) per point and {widths} width(s) here).")


def _fluctuation_table(family, fluct):
    """Per alpha*sqrt(h): the slope of delta F vs h with its CI, h Var[F] at the smallest and largest
    width, and the ensemble's and single nets' errors at the largest width (markdown lines)."""
    ensembles = family.ensembles()
    rows = []
    for x, item in sorted(fluct.items()):
        w = max(item["widths"])
        cell = ensembles.get((w, x))
        ensemble = "-" if cell is None else (f"{percent(cell['ensemble'])} vs {percent(cell['single'])} "
                                             f"({cell['n']} nets)")
        rows.append([f"{x:g}", format_fit(item["fit"], "widths"), f"{item['h_var'][0]:.3g} -> {item['h_var'][-1]:.3g}",
                     f"h = {w}: {ensemble}"])
    median = float(np.median([item["fit"]["slope"] for item in fluct.values()]))
    header = ["alpha*sqrt(h)", "delta F ~ h^slope (article: -1/2)", "h Var[F], smallest -> largest h",
              "ensemble vs single nets"]
    return median, markdown_table(header, rows) + ["", f"Median slope over alpha*sqrt(h): {median:.3f}."]


def fluctuations_vs_h(members, settings):
    """h Var[F] vs h per alpha*sqrt(h) (Var over seeds, mean over test points), delta F vs h with the
    fitted slope of each alpha*sqrt(h) in the legend, and the ensemble average's test error (%) next to
    the single nets' vs h; one row per family with fluctuations. Numbers: {family label: {"delta_F":
    {alpha*sqrt(h): fit (`fits.fit_fluctuations`)}, "median_slope": float}}."""
    shown = [m for m in members if m.family.fluctuations(settings.n_boot)]
    fig, rows = family_rows(shown, 3, width=5.0, height=4.0)
    numbers, lines = {}, []
    for (ax_h_var, ax_delta, ax_ensemble), m in zip(rows, shown):
        fluct = m.family.fluctuations(settings.n_boot)
        fluctuation_panels(ax_h_var, ax_delta, m.family, fluct)
        ensemble_vs_width_panel(ax_ensemble, m.family, m.family.ensembles(), scale=100)
        ax_ensemble.set_ylabel("test error (%)")
        median, table = _fluctuation_table(m.family, fluct)
        numbers[m.label] = {"delta_F": {x: item["fit"] for x, item in fluct.items()}, "median_slope": median}
        lines += ["", f"{m.label}:", ""] + table
    return ArticleDrawn(fig, numbers, lines)


# ----------------------------------------------------------------------------------------------
# time dynamics


def needs_dynamics(members, settings):
    """The note when no family has kernel drift or t1, else None."""
    if any(m.family.drift_key() or m.family.has("t1") for m in members):
        return None
    return "skipped, no run has kernel drift or t1 (config.kernels.track was off and no run reached alpha^2 L < 1/2)."


def _one_run_per_alpha(family):
    """(h, seed, {alpha*sqrt(h): (row, metrics records with t > 0)}): the runs of one seed (the
    smallest) at one width (the one with the most alpha*sqrt(h), the largest of those)."""
    width = max(family.widths, key=lambda w: (sum((w, x) in family.cells for x in family.ash), w))
    seed = min(r["seed"] for r in family.rows if r["width"] == width)
    runs = {}
    for x in family.ash:
        row = next((r for r in family.cells.get((width, x), []) if r["seed"] == seed), None)
        records = [] if row is None else [r for r in RunDir(row["path"]).read_metrics()
                                          if isinstance(r.get("t"), (int, float)) and r["t"] > 0]
        if records:
            runs[x] = (row, records)
    return width, seed, runs


def _series(records, key):
    """(t, value) arrays of the records with a finite positive `key`."""
    pairs = [(r["t"], r[key]) for r in records if isinstance(r.get(key), (int, float)) and r[key] > 0
             and math.isfinite(r[key])]
    return np.array([p[0] for p in pairs], float), np.array([p[1] for p in pairs], float)


def _time_panels(ax_t, ax_scaled, ax_output, family):
    """(b) alpha^2 L vs t and vs t / (alpha sqrt h), (d) ||F_t - F_0|| vs t / t1, one curve per
    alpha*sqrt(h) of one run each; returns notes."""
    width, seed, runs = _one_run_per_alpha(family)
    if not runs:
        for ax in (ax_t, ax_scaled, ax_output):
            no_data(ax, "no metrics.jsonl records")
        return ["no run has metrics.jsonl records with t > 0: panels (b) and (d) are empty."]
    colors = ash_colors(np.array(family.ash))
    without_t1 = 0
    for x, (row, records) in runs.items():
        t, loss = _series(records, "train_loss_unscaled")
        label = rf"$\alpha\sqrt{{h}}$ = {x:g}"
        ax_t.plot(t, loss, "-", color=colors[x], lw=1.2, label=label)
        ax_scaled.plot(t / x, loss, "-", color=colors[x], lw=1.2)
        t, change = _series(records, "output_change_test")
        if row.get("t1") is None:
            without_t1 += 1
        elif len(t):
            ax_output.plot(t / row["t1"], change, "-", color=colors[x], lw=1.2)
    for ax, xlabel in ((ax_t, "t"), (ax_scaled, r"$t / (\alpha\sqrt{h})$")):
        ax.axhline(0.5, color="gray", ls=":", lw=1)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(r"$\alpha^2 L(t)$ (dotted: 1/2, which defines $t_1$)")
    ax_t.set_title(f"(b) alpha^2 L vs t (h = {width}, seed {seed})")
    ax_scaled.set_title("(b) vs t / (alpha sqrt h)")
    ax_output.set_xlabel(r"$t / t_1$")
    ax_output.set_ylabel(r"$\|F_t - F_0\|$ (test set, rms)")
    ax_output.set_title("(d) appendix: output change vs t / t1")
    for ax in (ax_t, ax_scaled, ax_output):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(alpha=0.3, lw=0.5)
    ax_t.legend(fontsize=6, ncol=2)
    return [f"{without_t1} run(s) of panel (d) have no t1 and are not drawn."] if without_t1 else []


def _dynamics_lines(m, key, fits, t1_level, settings):
    """The summary lines of one family: the fits with their ranges and the article's values."""
    ranges = settings.ranges()
    article = {"kernel_drift_feature": "about -4/3", "kernel_drift_lazy": "-1", "t1_feature": "0: flat at about 3",
               "t1_lazy": "-1"}
    what = {"kernel_drift": f"kernel change ({DRIFT_KEYS[key]}) vs alpha*sqrt(h)" if key else None,
            "t1": "t1 / (alpha*sqrt(h)) vs alpha*sqrt(h)"}
    lines = [f"- {m.label}:"]
    for name, expected in article.items():
        quantity, regime = name.rsplit("_", 1)
        if name in fits:
            lines.append(f"  - {what[quantity]}, {regime} regime (alpha*sqrt(h) {ranges[regime]}): "
                         f"{format_fit(fits[name])}; article: {expected}")
    if t1_level is not None:
        lines.append(f"  - t1 / (alpha*sqrt(h)) in the feature regime: mean {t1_level:.3g} (article: about 3)")
    if len(lines) == 1:
        lines.append("  - no exponent could be fitted (see the notes)")
    return lines


def time_dynamics(members, settings):
    """One row per family with kernel drift or t1: (a) the kernel change (`Family.drift_key`) vs
    alpha*sqrt(h) with power laws fitted in the feature (<= feature_max) and lazy (>= lazy_min)
    regimes, (b) alpha^2 L(t) vs t and vs t / (alpha sqrt h) and (d) ||F_t - F_0|| vs t / t1 (one seed
    at one width, from metrics.jsonl), (c) t1 / (alpha sqrt h) vs alpha*sqrt(h) with its regime fits.
    Numbers: {family label: {"kernel_drift_feature", "kernel_drift_lazy", "t1_feature", "t1_lazy": fit
    (`fits.fit_power_law`, those fitted), "drift_key", "t1_level_feature": mean t1 / (alpha sqrt h)
    at alpha*sqrt(h) <= feature_max or None}}."""
    shown = [m for m in members if m.family.drift_key() or m.family.has("t1")]
    fig, rows = family_rows(shown, 5, width=4.2, height=3.8)
    numbers, lines, notes = {}, [], []
    for (ax_drift, ax_t, ax_scaled, ax_t1, ax_output), m in zip(rows, shown):
        family, fits, row_notes = m.family, {}, []
        key = family.drift_key()
        if key:
            drift_fits, drift_notes = drift_panel(ax_drift, family, settings,
                                                  "(a) kernel change (article: -4/3 feature, -1 lazy)")
            fits.update({f"kernel_drift_{name}": fit for name, fit in drift_fits.items()})
            row_notes += [f"(a) {note}" for note in drift_notes]
        else:
            no_data(ax_drift, "no kernel drift (config.kernels.track was off)")
        row_notes += _time_panels(ax_t, ax_scaled, ax_output, family)
        t1_level = None
        if family.has("t1"):
            t1_fits, t1_notes = t1_panel(ax_t1, family, settings, "(c) t1 / (alpha sqrt h) (article: ~3, then -1)")
            fits.update({f"t1_{name}": fit for name, fit in t1_fits.items()})
            row_notes += [f"(c) {note}" for note in t1_notes]
            ash, times = values(family.rows, "alpha_sqrt_h"), values(family.rows, "t1")
            feature = (ash <= settings.feature_max) & np.isfinite(times)
            t1_level = float(np.mean(times[feature] / ash[feature])) if feature.any() else None
        else:
            no_data(ax_t1, "no run has t1")
        numbers[m.label] = {**fits, "drift_key": key, "t1_level_feature": t1_level}
        lines += _dynamics_lines(m, key, fits, t1_level, settings)
        notes += [f"{m.label}: {note}" if len(shown) > 1 else note for note in row_notes]
    return ArticleDrawn(fig, numbers, lines, notes)
