"""Gather run directories into a table, the article's figures and fitted exponents.

    python -m launch.report --workdir=DIR [--out=DIR/report]

Every directory under DIR that holds `results.json` and `config.json` is a run (a sweep's
`DIR/runs/*`, `launch.demo`'s directories, ...). Runs are split into families that share everything
but alpha, the width h and the seed (architecture, data, loss, dynamics: `FAMILY_KEYS`); each family
gets its figures (in `out/`, or `out/family-<i>/` when there are several). Written to `out`:

- `runs.csv`: one row per run (`CSV_COLUMNS`, then the family fields);
- `test_error_collapse.{png,pdf}`: test error vs alpha and vs alpha*sqrt(h), one curve per width
  (mean and standard deviation over seeds): the curves collapse against alpha*sqrt(h) (finding 1);
- `kernel_drift.{png,pdf}`: ||Theta_T - Theta_0||_F / ||Theta_0||_F (test probes, else train) vs
  alpha*sqrt(h), with power laws fitted separately in the lazy (alpha*sqrt(h) >= `lazy_min`) and
  feature (<= `feature_max`) regimes, pooled over widths (finding 4: slope -1 lazy, -a, a < 2,
  feature);
- `fluctuations.{png,pdf}`: h*Var[F] and delta F = sqrt(Var[F]) vs h, where Var[F] is the variance of
  the test output F(x) over seeds averaged over the test points x; slopes of delta F vs h per
  alpha*sqrt(h) (finding 3: -1/2);
- `ensemble.{png,pdf}`: the test error of the ensemble average (mean of the seeds' test outputs at the
  same (alpha, h)) next to the single nets', vs alpha*sqrt(h) and vs h (finding 3);
- `t1.{png,pdf}`: t1 / (alpha*sqrt(h)) vs alpha*sqrt(h) (finding 4: flat in the feature regime);
- `frozen_kernels.{png,pdf}`: the test errors of the frozen-kernel predictors on Theta_0 and Theta_T
  next to the network's, one panel per width (finding 2);
- `summary.md`: the fitted exponents with bootstrap confidence intervals, tables of test errors, and a
  note for every figure that could not be drawn (data absent, e.g. a single seed).

Fits are least squares of log y on log x; confidence intervals are percentile bootstraps (runs
resampled with replacement; for delta F, seeds resampled within each width) with a fixed seed, so a
report is reproducible. Matplotlib is used through `matplotlib.figure.Figure` (Agg canvas): no
pyplot state and no backend change for the caller.
"""

import csv
import json
import math
import os

import numpy as np

from lazyfeat_tf.errors import UserError

FAMILY_KEYS = (
    "model.kind", "model.depth", "model.activation", "model.softplus_beta", "model.use_bias", "model.beta",
    "data.name", "data.source", "data.n_train", "data.n_test", "data.seed", "data.pca", "data.whiten",
    "data.dim", "loss.name", "loss.soft_hinge_beta", "dynamics.kind", "dynamics.tau",
    "dynamics.learning_rate", "dynamics.momentum", "dynamics.batch_size", "dtype",
)
CSV_COLUMNS = (
    "run", "width", "alpha", "alpha_sqrt_h", "seed", "status", "converged", "train_error", "test_error",
    "train_loss", "test_loss", "t", "t1", "steps", "wall_time", "relative_weight_change",
    "kernel_drift_train", "kernel_drift_test", "init_kernel_test_error", "final_kernel_test_error",
    "n_params",
)
FIGURE_FORMATS = ("png", "pdf")
LEVEL = 0.95


class ReportError(UserError):
    """Nothing to report on; the message is one line."""


# ----------------------------------------------------------------------------------------------
# Gathering


def _get(tree, dotted):
    for part in dotted.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return None
        tree = tree[part]
    return tree


def _read_json(path):
    with open(path) as f:
        return json.load(f)


def _key(x):
    """Grouping key of a float (alpha*sqrt(h) from alpha and h differs in the last bits)."""
    return float(f"{x:.6g}")


def gather(workdir, exclude=()):
    """(rows, unfinished): one dict per finished run under `workdir`, and the unfinished run dirs.

    A row holds the results (`CSV_COLUMNS`), the family fields, `path` and `family` (a JSON string).
    """
    rows, unfinished = [], []
    exclude = {os.path.abspath(p) for p in exclude}
    for root, dirs, files in os.walk(workdir):
        dirs[:] = sorted(d for d in dirs if os.path.join(os.path.abspath(root), d) not in exclude)
        if "config.json" not in files:
            continue
        dirs[:] = []  # a run directory holds no runs (its tb/ is not searched)
        if "results.json" not in files:
            unfinished.append(root)
            continue
        try:
            results = _read_json(os.path.join(root, "results.json"))
            config = _read_json(os.path.join(root, "config.json"))
        except (OSError, json.JSONDecodeError):
            unfinished.append(root)
            continue
        row = {key: results.get(key) for key in CSV_COLUMNS}
        row["run"] = os.path.relpath(root, workdir)
        row["path"] = root
        row["width"] = results.get("width", _get(config, "model.width"))
        row["seed"] = results.get("seed", config.get("seed"))
        for key in ("alpha", "alpha_sqrt_h"):
            if row[key] is None:
                row[key] = config.get(key)
        family = {key: _get(config, key) for key in FAMILY_KEYS}
        row.update(family)
        row["family"] = json.dumps(family, sort_keys=True)
        rows.append(row)
    rows.sort(key=lambda r: (r["family"], r["width"], r["alpha_sqrt_h"], r["seed"], r["run"]))
    return rows, unfinished


def write_csv(rows, path):
    columns = list(CSV_COLUMNS) + list(FAMILY_KEYS)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else row[c] for c in columns])


def family_label(row):
    parts = [f"{row['model.kind']} L={row['model.depth']} {row['model.activation']}"]
    parts.append(f"{row['data.name']} n_train={row['data.n_train']} n_test={row['data.n_test']}")
    parts.append(f"{row['loss.name']} loss, {row['dynamics.kind']}, {row['dtype']}")
    return ", ".join(str(p) for p in parts)


# ----------------------------------------------------------------------------------------------
# Fits


def _slopes(lx, ly):
    """Least-squares slopes along the last axis (nan where x has no spread)."""
    mx, my = lx.mean(-1, keepdims=True), ly.mean(-1, keepdims=True)
    var = ((lx - mx) ** 2).sum(-1)
    cov = ((lx - mx) * (ly - my)).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(var > 0, cov / np.where(var > 0, var, 1.0), np.nan)


def fit_power_law(x, y, n_boot=2000, seed=0, level=LEVEL):
    """Fit y = c * x^slope (least squares in log-log) with a percentile-bootstrap CI on the slope.

    Points with non-finite or non-positive x or y are dropped. Returns None with fewer than 3 points
    or fewer than 2 distinct x, else a dict: slope, prefactor, ci (low, high), n.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    x, y = x[keep], y[keep]
    if len(x) < 3 or len({_key(v) for v in x}) < 2:  # alpha*sqrt(h) values equal but for the last bits
        return None
    lx, ly = np.log(x), np.log(y)
    slope = float(_slopes(lx, ly))
    prefactor = float(math.exp(ly.mean() - slope * lx.mean()))
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(x), size=(n_boot, len(x)))
    boot = _slopes(lx[index], ly[index])
    boot = boot[np.isfinite(boot)]
    ci = tuple(float(q) for q in np.quantile(boot, [(1 - level) / 2, (1 + level) / 2]))
    return {"slope": slope, "prefactor": prefactor, "ci": ci, "n": int(len(x))}


def output_variance(outputs):
    """Var[F]: the variance over seeds (rows of `[n_seeds, n_test]`, ddof=1), averaged over points."""
    return float(np.mean(np.var(outputs, axis=0, ddof=1)))


def fit_fluctuations(widths, outputs, n_boot=2000, seed=0, level=LEVEL):
    """Fit delta F = sqrt(Var[F]) ~ h^slope; the CI resamples seeds within each width.

    `outputs[i]` is the `[n_seeds, n_test]` array of test outputs at width `widths[i]` (>= 2 seeds).
    Returns None with fewer than 2 widths, else a dict: slope, prefactor, ci (None with fewer than 3
    seeds at some width: resampling 2 seeds says nothing), n (widths), h_var (h * Var[F] per width),
    delta (delta F per width).
    """
    if len(widths) < 2:
        return None
    h = np.asarray(widths, float)
    var = np.array([output_variance(o) for o in outputs])
    delta = np.sqrt(var)
    if not np.all(delta > 0):
        return None
    slope = float(_slopes(np.log(h), np.log(delta)))
    prefactor = float(math.exp(np.log(delta).mean() - slope * np.log(h).mean()))
    fit = {"slope": slope, "prefactor": prefactor, "ci": None, "n": int(len(h)), "h_var": (h * var).tolist(),
           "delta": delta.tolist()}
    if min(o.shape[0] for o in outputs) < 3:
        return fit
    rng = np.random.default_rng(seed)
    boot_var = np.empty((n_boot, len(h)))
    for i, o in enumerate(outputs):
        n = o.shape[0]
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot)  # resampled seeds
        mean = counts @ o / n
        mean_sq = counts @ (o**2) / n
        boot_var[:, i] = np.mean(np.maximum(mean_sq - mean**2, 0.0), axis=1) * n / (n - 1)
    ok = np.all(boot_var > 0, axis=1)
    boot = _slopes(np.broadcast_to(np.log(h), (ok.sum(), len(h))), 0.5 * np.log(boot_var[ok]))
    if len(boot):
        fit["ci"] = tuple(float(q) for q in np.quantile(boot, [(1 - level) / 2, (1 + level) / 2]))
    return fit


# ----------------------------------------------------------------------------------------------
# Per-family aggregation


def _values(rows, key):
    return np.array([np.nan if r.get(key) is None else float(r[key]) for r in rows], float)


def _load_outputs(row):
    with np.load(os.path.join(row["path"], "outputs.npz")) as npz:
        return npz["test_outputs"].astype(float), npz["test_labels"].astype(float)


def _error(outputs, labels):
    """Fraction of points with F y <= 0 (as `losses.error_rate`)."""
    return float(np.mean(outputs * labels <= 0))


class Family:
    """The runs of one family grouped by (width, alpha*sqrt(h))."""

    def __init__(self, rows):
        self.rows = rows
        self.widths = sorted({r["width"] for r in rows})
        self.ash = sorted({_key(r["alpha_sqrt_h"]) for r in rows})
        self.cells = {}
        for r in rows:
            self.cells.setdefault((r["width"], _key(r["alpha_sqrt_h"])), []).append(r)
        self.max_seeds = max(len(v) for v in self.cells.values())
        self._outputs = {}

    def stat(self, key, width):
        """(alpha*sqrt(h), mean, std, n) arrays over the cells of `width` with finite values."""
        xs, means, stds, ns = [], [], [], []
        for x in self.ash:
            values = _values(self.cells.get((width, x), []), key)
            values = values[np.isfinite(values)]
            if len(values):
                xs.append(x)
                means.append(values.mean())
                stds.append(values.std(ddof=1) if len(values) > 1 else 0.0)
                ns.append(len(values))
        return np.array(xs), np.array(means), np.array(stds), np.array(ns)

    def outputs(self, width, x):
        """([n_seeds, n_test] test outputs, labels) of a cell, or None when they do not line up."""
        if (width, x) not in self._outputs:
            loaded = []
            for r in sorted(self.cells.get((width, x), []), key=lambda r: r["seed"]):
                try:
                    loaded.append(_load_outputs(r))
                except (OSError, KeyError, ValueError):
                    continue
            value = None
            if loaded and all(o.shape == loaded[0][0].shape and np.array_equal(l, loaded[0][1])
                              for o, l in loaded):
                value = (np.stack([o for o, _ in loaded]), loaded[0][1])
            self._outputs[(width, x)] = value
        return self._outputs[(width, x)]


# ----------------------------------------------------------------------------------------------
# Figures


def _figure(ncols=1, nrows=1, width=5.0, height=3.8, **subplots):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **subplots)
    return fig, axes


def _width_axis(ax, widths):
    """A log h axis with a plain tick at every width."""
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(list(widths)))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("h")


def _save(fig, out, name):
    paths = []
    for fmt in FIGURE_FORMATS:
        path = os.path.join(out, f"{name}.{fmt}")
        fig.savefig(path, dpi=150)
        paths.append(path)
    return paths


def _width_colors(widths):
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return {w: cmap(0.85 * i / max(len(widths) - 1, 1)) for i, w in enumerate(widths)}


def _ash_colors(values):
    from matplotlib import colormaps

    cmap = colormaps["plasma"]
    logs = np.log10(values)
    span = max(logs.max() - logs.min(), 1e-12)
    return {v: cmap(0.9 * (math.log10(v) - logs.min()) / span) for v in values}


def _regime_shading(ax, lazy_min, feature_max):
    """Shade the fitted regimes (call after everything is drawn: it keeps the x limits)."""
    low, high = ax.get_xlim()
    ax.axvspan(low, feature_max, color="tab:orange", alpha=0.07, lw=0, label="feature-regime fit range")
    ax.axvspan(lazy_min, high, color="tab:blue", alpha=0.07, lw=0, label="lazy-regime fit range")
    ax.set_xlim(low, high)


def _fit_label(name, fit):
    return f"{name}: slope {fit['slope']:.2f} [{fit['ci'][0]:.2f}, {fit['ci'][1]:.2f}] ({LEVEL:.0%} CI)"


def figure_collapse(family, out):
    fig, axes = _figure(2)
    colors = _width_colors(family.widths)
    for w in family.widths:
        x, mean, std, _ = family.stat("test_error", w)
        if not len(x):
            continue
        for ax, xs in ((axes[0, 0], x / math.sqrt(w)), (axes[0, 1], x)):
            ax.plot(xs, mean, "o-", color=colors[w], label=f"h = {w}", ms=4)
            ax.fill_between(xs, mean - std, mean + std, color=colors[w], alpha=0.15, lw=0)
    axes[0, 0].set_xlabel(r"$\alpha$")
    axes[0, 1].set_xlabel(r"$\alpha\sqrt{h}$")
    for ax in axes[0]:
        ax.set_xscale("log")
        ax.set_ylabel("test error")
        ax.grid(alpha=0.3, lw=0.5)
    axes[0, 0].legend(fontsize=8)
    axes[0, 0].set_title("vs alpha: one curve per width")
    axes[0, 1].set_title("vs alpha*sqrt(h): the curves should collapse")
    return _save(fig, out, "test_error_collapse")


def _finish_regime_fit_axes(ax, xs, fits, lazy_min, feature_max, ylabel, title):
    """Log-log axes over alpha*sqrt(h) with the fitted power laws of the feature (x <= feature_max,
    dashed) and lazy (x >= lazy_min, solid) regimes over their ranges of `xs`, those ranges shaded,
    labels, grid and legend."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    for name, lo, hi, style in (("feature", None, feature_max, "--"), ("lazy", lazy_min, None, "-")):
        fit = fits.get(name)
        if fit is None:
            continue
        grid = np.geomspace(lo if lo is not None else min(xs), hi if hi is not None else max(xs), 20)
        ax.plot(grid, fit["prefactor"] * grid ** fit["slope"], style, color="k", lw=1.2,
                label=_fit_label(name, fit))
    _regime_shading(ax, lazy_min, feature_max)
    ax.set_xlabel(r"$\alpha\sqrt{h}$")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, lw=0.5)
    ax.legend(fontsize=7)


def figure_kernel_drift(family, out, key, fits, lazy_min, feature_max):
    fig, axes = _figure(1, width=6.0, height=4.2)
    ax = axes[0, 0]
    colors = _width_colors(family.widths)
    for w in family.widths:
        x, mean, std, _ = family.stat(key, w)
        if len(x):
            ax.errorbar(x, mean, yerr=std, fmt="o", color=colors[w], ms=4, capsize=2, label=f"h = {w}")
    which = "test" if key.endswith("test") else "train"
    _finish_regime_fit_axes(ax, family.ash, fits, lazy_min, feature_max,
                            rf"$\|\Theta_T-\Theta_0\|_F / \|\Theta_0\|_F$ ({which} probes)",
                            "kernel change at the end of training")
    return _save(fig, out, "kernel_drift")


def figure_fluctuations(family, out, fluct):
    fig, axes = _figure(2)
    colors = _ash_colors(np.array(sorted(fluct)))
    for x, item in sorted(fluct.items()):
        h = np.array(item["widths"], float)
        axes[0, 0].plot(h, item["h_var"], "o-", color=colors[x], ms=4, label=rf"$\alpha\sqrt{{h}}$ = {x:g}")
        label = f"{x:g}" + (f": {item['fit']['slope']:.2f}" if item.get("fit") else "")
        axes[0, 1].plot(h, item["delta"], "o-", color=colors[x], ms=4, label=label)
    h_all = np.array(family.widths, float)
    deltas = [item["delta"][0] for item in fluct.values()]
    ref = np.exp(np.mean(np.log(deltas))) * (h_all / h_all[0]) ** -0.5
    axes[0, 1].plot(h_all, ref, "k:", lw=1, label=r"$h^{-1/2}$")
    for ax in axes[0]:
        ax.set_yscale("log")
        _width_axis(ax, family.widths)
        ax.grid(alpha=0.3, lw=0.5)
    axes[0, 0].legend(fontsize=7, ncol=2)
    axes[0, 0].set_ylabel(r"$h\,\mathrm{Var}[F]$ (over seeds, mean over test points)")
    axes[0, 1].set_ylabel(r"$\delta F = \sqrt{\mathrm{Var}[F]}$")
    axes[0, 0].set_title("h Var[F]: flat if delta F ~ h^(-1/2)")
    axes[0, 1].set_title("delta F vs h (legend: alpha*sqrt(h): slope)")
    axes[0, 1].legend(fontsize=7, ncol=2)
    return _save(fig, out, "fluctuations")


def _pick_ash(values):
    """Up to three alpha*sqrt(h): the smallest, the one nearest 1, the largest."""
    values = sorted(values)
    middle = min(values, key=lambda v: abs(math.log10(v)))
    return sorted({values[0], middle, values[-1]})


def figure_ensemble(family, out, ensemble):
    fig, axes = _figure(2)
    colors = _width_colors(family.widths)
    ax = axes[0, 0]
    for w in family.widths:
        items = sorted((x, e) for (ww, x), e in ensemble.items() if ww == w)
        if not items:
            continue
        x = np.array([x for x, _ in items])
        ax.plot(x, [e["single"] for _, e in items], "o-", color=colors[w], ms=4, label=f"h = {w}: single")
        ax.plot(x, [e["ensemble"] for _, e in items], "s--", color=colors[w], ms=4,
                label=f"h = {w}: ensemble of {items[0][1]['n']}")
    ax.set_xscale("log")
    ax.set_xlabel(r"$\alpha\sqrt{h}$")
    ax.set_title("single nets (mean) vs ensemble average")
    ax = axes[0, 1]
    ash = sorted({x for _, x in ensemble})
    ash_colors = _ash_colors(np.array(ash))
    for x in _pick_ash(ash):
        items = sorted((w, e) for (w, xx), e in ensemble.items() if xx == x)
        h = [w for w, _ in items]
        ax.plot(h, [e["single"] for _, e in items], "o-", color=ash_colors[x], ms=4,
                label=rf"$\alpha\sqrt{{h}}$ = {x:g}: single")
        ax.plot(h, [e["ensemble"] for _, e in items], "s--", color=ash_colors[x], ms=4, label="ensemble")
    _width_axis(ax, family.widths)
    ax.set_title("test error vs width")
    for ax in axes[0]:
        ax.set_ylabel("test error")
        ax.grid(alpha=0.3, lw=0.5)
        ax.legend(fontsize=7)
    return _save(fig, out, "ensemble")


def figure_t1(family, out, fits, lazy_min, feature_max):
    fig, axes = _figure(1, width=6.0, height=4.2)
    ax = axes[0, 0]
    colors = _width_colors(family.widths)
    for w in family.widths:
        cells = [r for r in family.rows if r["width"] == w and r.get("t1") is not None]
        if cells:
            x = _values(cells, "alpha_sqrt_h")
            ax.plot(x, _values(cells, "t1") / x, "o", color=colors[w], ms=4, alpha=0.8, label=f"h = {w}")
    _finish_regime_fit_axes(ax, family.ash, fits, lazy_min, feature_max, r"$t_1 / (\alpha\sqrt{h})$",
                            "t1: end of the linear dynamics (flat in the feature regime)")
    return _save(fig, out, "t1")


def figure_frozen_kernels(family, out):
    widths = family.widths
    ncols = min(len(widths), 4)
    nrows = math.ceil(len(widths) / ncols)
    fig, axes = _figure(ncols, nrows, width=4.0, height=3.4, sharey=True)
    for i, w in enumerate(widths):
        ax = axes[i // ncols, i % ncols]
        for key, label, style in (("test_error", "network", "o-"),
                                  ("init_kernel_test_error", r"frozen $\Theta_0$", "s--"),
                                  ("final_kernel_test_error", r"frozen $\Theta_T$", "^:")):
            x, mean, std, _ = family.stat(key, w)
            if len(x):
                ax.errorbar(x, mean, yerr=std, fmt=style, ms=4, capsize=2, label=label)
        ax.set_xscale("log")
        ax.set_title(f"h = {w}")
        ax.set_xlabel(r"$\alpha\sqrt{h}$")
        ax.set_ylabel("test error")
        ax.grid(alpha=0.3, lw=0.5)
        if i == 0:
            ax.legend(fontsize=7)
    for j in range(len(widths), nrows * ncols):
        axes[j // ncols, j % ncols].set_visible(False)
    return _save(fig, out, "frozen_kernels")


# ----------------------------------------------------------------------------------------------
# The report


def _ci(fit):
    return "n/a (< 3 seeds)" if fit["ci"] is None else f"[{fit['ci'][0]:.3f}, {fit['ci'][1]:.3f}]"


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def _fmt(value, spec=".3f"):
    return "-" if value is None or not np.isfinite(value) else format(value, spec)


def report_family(family, out, lazy_min=10.0, feature_max=0.1, n_boot=2000):
    """Figures of one family into `out`; returns (fits, figures, notes, ensemble, markdown lines).

    `ensemble` maps (h, alpha*sqrt(h)) to {"single": mean test error of the nets, "ensemble": test
    error of their averaged outputs, "n": number of nets}.
    """
    os.makedirs(out, exist_ok=True)
    fits, figures, notes, md = {}, {}, [], []
    rows = family.rows
    ash = _values(rows, "alpha_sqrt_h")

    figures["test_error_collapse"] = figure_collapse(family, out)
    if len(family.widths) < 2:
        notes.append("test_error_collapse: a single width, so there is no collapse to see.")

    # Kernel drift.
    key = next((k for k in ("kernel_drift_test", "kernel_drift_train")
                if np.isfinite(_values(rows, k)).any()), None)
    if key is None:
        notes.append("kernel_drift: skipped, no run has kernel drift (config.kernels.track was off).")
    else:
        drift = _values(rows, key)
        regimes = {"lazy": ash >= lazy_min, "feature": ash <= feature_max}
        drift_fits = {name: fit_power_law(ash[m], drift[m], n_boot=n_boot) for name, m in regimes.items()}
        ranges = {"lazy": f">= {lazy_min:g}", "feature": f"<= {feature_max:g}"}
        for name, fit in drift_fits.items():
            if fit is None:
                notes.append(f"kernel_drift: no {name}-regime fit (needs >= 3 runs at >= 2 values of "
                             f"alpha*sqrt(h) {ranges[name]}).")
            else:
                fits[f"kernel_drift_{name}"] = fit
        figures["kernel_drift"] = figure_kernel_drift(family, out, key, drift_fits, lazy_min, feature_max)

    # Fluctuations and ensembles (need >= 2 seeds at the same (alpha, h) with aligned outputs).
    fluct, ensemble = {}, {}
    for x in family.ash:
        widths, stacks = [], []
        for w in family.widths:
            loaded = family.outputs(w, x) if len(family.cells.get((w, x), [])) >= 2 else None
            if loaded is None or loaded[0].shape[0] < 2:
                continue
            outputs, labels = loaded
            ensemble[(w, x)] = {"single": float(np.mean([_error(o, labels) for o in outputs])),
                                "ensemble": _error(outputs.mean(0), labels), "n": outputs.shape[0]}
            widths.append(w)
            stacks.append(outputs)
        if len(widths) >= 2:
            fit = fit_fluctuations(widths, stacks, n_boot=n_boot)
            if fit is not None:
                fluct[x] = {"widths": widths, "h_var": fit["h_var"], "delta": fit["delta"], "fit": fit}
    if fluct:
        figures["fluctuations"] = figure_fluctuations(family, out, fluct)
        for x, item in fluct.items():
            fits[f"delta_F_vs_h@{x:g}"] = item["fit"]
    else:
        notes.append("fluctuations: skipped, needs >= 2 seeds at the same (alpha, h) for >= 2 widths "
                     f"(this sweep has at most {family.max_seeds} seed(s) per point and "
                     f"{len(family.widths)} width(s)).")
    if ensemble:
        figures["ensemble"] = figure_ensemble(family, out, ensemble)
    else:
        notes.append(f"ensemble: skipped, needs >= 2 seeds at the same (alpha, h) (at most "
                     f"{family.max_seeds} here).")

    # t1.
    t1 = _values(rows, "t1")
    if np.isfinite(t1).any():
        ratio = t1 / ash
        t1_fits = {}
        for name, m in (("feature", ash <= feature_max), ("lazy", ash >= lazy_min)):
            t1_fits[name] = fit_power_law(ash[m], ratio[m], n_boot=n_boot)
            if t1_fits[name] is not None:
                fits[f"t1_{name}"] = t1_fits[name]
        figures["t1"] = figure_t1(family, out, t1_fits, lazy_min, feature_max)
        missing = int((~np.isfinite(t1)).sum())
        if missing:
            notes.append(f"t1: {missing} run(s) never reached alpha^2 L < 1/2 (no t1) and are not drawn.")
    else:
        notes.append("t1: skipped, no run has t1.")

    # Frozen kernels.
    if np.isfinite(_values(rows, "init_kernel_test_error")).any():
        figures["frozen_kernels"] = figure_frozen_kernels(family, out)
    else:
        notes.append("frozen_kernels: skipped, no run has frozen-kernel errors "
                     "(config.kernels.predictors was off).")

    # Markdown.
    md += _fits_markdown(fits, lazy_min, feature_max)
    md += ["", "### Test error (mean over seeds)", ""]
    header = ["alpha*sqrt(h)"] + [f"h={w}" for w in family.widths]
    table = []
    for x in family.ash:
        cells = []
        for w in family.widths:
            values = _values(family.cells.get((w, x), []), "test_error")
            cells.append(f"{values.mean():.4f} ({len(values)})" if len(values) else "-")
        table.append([f"{x:g}"] + cells)
    md += _table(header, table) + ["", "(in parentheses: the number of seeds)"]
    if ensemble:
        md += ["", "### Ensemble average of the seeds' test outputs: test error (single nets' mean)", ""]
        table = [[f"{x:g}"] + [f"{ensemble[(w, x)]['ensemble']:.4f} ({ensemble[(w, x)]['single']:.4f})"
                               if (w, x) in ensemble else "-" for w in family.widths] for x in family.ash]
        md += _table(header, table)
    if "frozen_kernels" in figures:
        md += ["", f"### Frozen-kernel predictors at h = {family.widths[-1]} (mean test error)", ""]
        w = family.widths[-1]
        table = []
        for x in family.ash:
            cell = family.cells.get((w, x), [])
            table.append([f"{x:g}"] + [_fmt(np.nanmean(_values(cell, k)) if cell else None, ".4f")
                                       for k in ("test_error", "init_kernel_test_error",
                                                 "final_kernel_test_error")])
        md += _table(["alpha*sqrt(h)", "network", "frozen Theta_0", "frozen Theta_T"], table)
    md += ["", "Figures: " + ", ".join(f"`{name}.png`/`.pdf`" for name in figures)]
    if notes:
        md += ["", "Notes:"] + [f"- {note}" for note in notes]
    return fits, figures, notes, ensemble, md


def _fits_markdown(fits, lazy_min, feature_max):
    lines = ["", f"### Fitted exponents ({LEVEL:.0%} bootstrap confidence intervals)", ""]
    rows = []
    expected = {
        "kernel_drift_lazy": ("kernel drift vs alpha*sqrt(h)", f"lazy, alpha*sqrt(h) >= {lazy_min:g}",
                              "-1"),
        "kernel_drift_feature": ("kernel drift vs alpha*sqrt(h)", f"feature, alpha*sqrt(h) <= {feature_max:g}",
                                 "-a, a < 2 (a -> 2 as depth grows)"),
        "t1_feature": ("t1/(alpha*sqrt(h)) vs alpha*sqrt(h)", f"feature, alpha*sqrt(h) <= {feature_max:g}",
                       "0 (t1 ~ sqrt(h) alpha)"),
        "t1_lazy": ("t1/(alpha*sqrt(h)) vs alpha*sqrt(h)", f"lazy, alpha*sqrt(h) >= {lazy_min:g}",
                    "-1 (t1 = O(1): linear dynamics)"),
    }
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
    return lines + _table(["quantity", "regime", "exponent", "CI", "points", "expected (article)"], rows)


def make_report(workdir, out=None, lazy_min=10.0, feature_max=0.1, n_boot=2000):
    """Write the report of the runs under `workdir` into `out` (default `workdir/report`).

    Returns a dict: out, rows (the gathered runs), unfinished (run directories without results),
    families [{label, out, fits, figures, notes, ensemble}] (see `report_family`).
    Raises ReportError when there is no finished run.
    """
    if not os.path.isdir(workdir):
        raise ReportError(f"--workdir={workdir!r} is not a directory")
    if not (lazy_min > 0 and feature_max > 0 and feature_max < lazy_min):
        raise ReportError(f"--feature_max={feature_max!r} and --lazy_min={lazy_min!r}: need "
                          "0 < feature_max < lazy_min")
    workdir = os.path.abspath(workdir)
    out = os.path.abspath(out or os.path.join(workdir, "report"))
    rows, unfinished = gather(workdir, exclude=[out])
    if not rows:
        raise ReportError(f"--workdir={workdir!r} holds no finished run (no results.json under it)")
    os.makedirs(out, exist_ok=True)
    write_csv(rows, os.path.join(out, "runs.csv"))

    groups = {}
    for row in rows:
        groups.setdefault(row["family"], []).append(row)
    statuses = {}
    for row in rows:
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=str))
    unfinished_note = f"; {len(unfinished)} run directories without results (unfinished)" if unfinished else ""
    md = [f"# Report of {workdir}", "",
          f"{len(rows)} finished runs (status: {counts}){unfinished_note}. Table: `runs.csv`."]
    families = []
    for i, (key, family_rows) in enumerate(sorted(groups.items())):
        family = Family(family_rows)
        family_out = out if len(groups) == 1 else os.path.join(out, f"family-{i + 1}")
        label = family_label(family_rows[0])
        seeds = sorted({len(v) for v in family.cells.values()})
        md += ["", f"## {label}" + (f" (`{os.path.relpath(family_out, out)}/`)" if len(groups) > 1 else ""), "",
               f"{len(family_rows)} runs; widths h = {', '.join(str(w) for w in family.widths)}; "
               f"alpha*sqrt(h) = {', '.join(f'{x:g}' for x in family.ash)}; seeds per point: "
               f"{'-'.join(str(s) for s in (seeds[0], seeds[-1])) if len(seeds) > 1 else seeds[0]}."]
        fits, figures, notes, ensemble, lines = report_family(family, family_out, lazy_min, feature_max, n_boot)
        md += lines
        families.append({"label": label, "out": family_out, "fits": fits, "figures": figures, "notes": notes,
                         "ensemble": ensemble})
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    return {"out": out, "rows": rows, "unfinished": unfinished, "families": families}
