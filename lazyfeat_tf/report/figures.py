"""The figures of a family, one registered function each.

A figure is a function `draw(family, settings) -> Drawn` registered with `@figure(name, needs=...)`:
it makes its fits (added to the family's fitted exponents) and draws one `matplotlib.figure.Figure`,
saved as `<name>.png` and `<name>.pdf`. `needs(family, settings)` says why the figure cannot be drawn
(a note for summary.md) or None. Figures are drawn in the order they are registered (`FIGURES`).

Matplotlib is used through `matplotlib.figure.Figure` (Agg canvas): no pyplot state and no backend
change for the caller.
"""

import dataclasses
import math
import os
from collections.abc import Callable

import numpy as np

from lazyfeat_tf.report.family import DRIFT_KEYS, values
from lazyfeat_tf.report.fits import LEVEL

FIGURE_FORMATS = ("png", "pdf")


@dataclasses.dataclass
class Drawn:
    """What a figure function returns: the figure, its fits {name: fit} and notes for summary.md."""

    figure: object  # matplotlib.figure.Figure
    fits: dict = dataclasses.field(default_factory=dict)
    notes: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class FigureSpec:
    """A registered figure: its file name, its function and what it needs (see the module docstring)."""

    name: str
    draw: Callable
    needs: Callable


FIGURES = []


def figure(name, needs=lambda family, settings: None):
    """Register the decorated `draw(family, settings) -> Drawn` as the figure `name`."""

    def register(draw):
        FIGURES.append(FigureSpec(name, draw, needs))
        return draw

    return register


def needs_column(keys, why):
    """A `needs` that is met when some run has a finite value of one of `keys`; else the note `why`."""
    return lambda family, settings: None if any(family.has(k) for k in keys) else why


# ----------------------------------------------------------------------------------------------
# Drawing helpers


def new_figure(ncols=1, nrows=1, width=5.0, height=3.8, **subplots):
    """(figure, `[nrows, ncols]` axes) of panels `width` x `height` inches each, constrained layout."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **subplots)
    return fig, axes


def width_axis(ax, widths):
    """A log h axis with a plain tick at every width."""
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(list(widths)))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("h")


def save(fig, out, name):
    """Write `fig` as `out/name.<fmt>` for every format of `FIGURE_FORMATS`; returns the paths."""
    paths = []
    for fmt in FIGURE_FORMATS:
        path = os.path.join(out, f"{name}.{fmt}")
        fig.savefig(path, dpi=150)
        paths.append(path)
    return paths


def width_colors(widths):
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return {w: cmap(0.85 * i / max(len(widths) - 1, 1)) for i, w in enumerate(widths)}


def ash_colors(ash):
    from matplotlib import colormaps

    cmap = colormaps["plasma"]
    logs = np.log10(ash)
    span = max(logs.max() - logs.min(), 1e-12)
    return {v: cmap(0.9 * (math.log10(v) - logs.min()) / span) for v in ash}


def _regime_shading(ax, settings):
    """Shade the fitted regimes (call after everything is drawn: it keeps the x limits)."""
    low, high = ax.get_xlim()
    ranges = settings.ranges()
    ax.axvspan(low, settings.feature_max, color="tab:orange", alpha=0.07, lw=0,
               label=f"feature fit: alpha*sqrt(h) {ranges['feature']}")
    ax.axvspan(settings.lazy_min, high, color="tab:blue", alpha=0.07, lw=0,
               label=f"lazy fit: alpha*sqrt(h) {ranges['lazy']}")
    ax.set_xlim(low, high)


def _fit_label(name, fit):
    return f"{name}: slope {fit['slope']:.2f} [{fit['ci'][0]:.2f}, {fit['ci'][1]:.2f}] ({LEVEL:.0%} CI)"


def finish_regime_fit_axes(ax, xs, fits, settings, ylabel, title):
    """Log-log axes over alpha*sqrt(h) with the fitted power laws of the feature (x <= feature_max,
    dashed) and lazy (x >= lazy_min, solid) regimes over their ranges of `xs`, those ranges shaded,
    labels, grid and legend."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    regimes = (("feature", None, settings.feature_max, "--"), ("lazy", settings.lazy_min, None, "-"))
    for name, lo, hi, style in regimes:
        fit = fits.get(name)
        if fit is None:
            continue
        grid = np.geomspace(lo if lo is not None else min(xs), hi if hi is not None else max(xs), 20)
        ax.plot(grid, fit["prefactor"] * grid ** fit["slope"], style, color="k", lw=1.2,
                label=_fit_label(name, fit))
    _regime_shading(ax, settings)
    ax.set_xlabel(r"$\alpha\sqrt{h}$")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, lw=0.5)
    ax.legend(fontsize=7)


def pick_ash(ash):
    """Up to three alpha*sqrt(h): the smallest, the one nearest 1, the largest."""
    ash = sorted(ash)
    middle = min(ash, key=lambda v: abs(math.log10(v)))
    return sorted({ash[0], middle, ash[-1]})


# ----------------------------------------------------------------------------------------------
# Panels (the family figures below and the article figures, `article_*.py`, are made of them)


def error_curves(ax_alpha, ax_ash, family, scale=1.0):
    """Test error (times `scale`, e.g. 100 for %) vs alpha on `ax_alpha` and vs alpha*sqrt(h) on
    `ax_ash`, one curve per width (mean, and standard deviation over seeds shaded); returns the
    {width: color} used."""
    colors = width_colors(family.widths)
    for w in family.widths:
        x, mean, std, _ = family.stat("test_error", w)
        if not len(x):
            continue
        mean, std = mean * scale, std * scale
        for ax, xs in ((ax_alpha, x / math.sqrt(w)), (ax_ash, x)):
            ax.plot(xs, mean, "o-", color=colors[w], label=f"h = {w}", ms=4)
            ax.fill_between(xs, mean - std, mean + std, color=colors[w], alpha=0.15, lw=0)
    ax_alpha.set_xlabel(r"$\alpha$")
    ax_ash.set_xlabel(r"$\alpha\sqrt{h}$")
    for ax in (ax_alpha, ax_ash):
        ax.set_xscale("log")
        ax.grid(alpha=0.3, lw=0.5)
    return colors


def drift_panel(ax, family, settings, title="kernel change at the end of training"):
    """The kernel change (`Family.drift_key`) vs alpha*sqrt(h), one colour per width (mean and
    standard deviation over seeds), with power laws fitted over the runs of each regime, pooled over
    widths; returns ({"feature": fit, "lazy": fit} of those that could be fitted, notes)."""
    key = family.drift_key()
    fits = settings.regime_fits(values(family.rows, "alpha_sqrt_h"), values(family.rows, key))
    notes = [f"no {name}-regime fit (needs >= 3 runs at >= 2 values of alpha*sqrt(h) {settings.ranges()[name]})."
             for name, fit in fits.items() if fit is None]
    colors = width_colors(family.widths)
    for w in family.widths:
        x, mean, std, _ = family.stat(key, w)
        if len(x):
            ax.errorbar(x, mean, yerr=std, fmt="o", color=colors[w], ms=4, capsize=2, label=f"h = {w}")
    fits = {name: fit for name, fit in fits.items() if fit is not None}
    finish_regime_fit_axes(ax, family.ash, fits, settings,
                           rf"$\|\Theta_T-\Theta_0\|_F / \|\Theta_0\|_F$ ({DRIFT_KEYS[key]})", title)
    return fits, notes


def t1_panel(ax, family, settings, title="t1: end of the linear dynamics (flat in the feature regime)"):
    """t1 / (alpha*sqrt(h)) of every run vs alpha*sqrt(h), one colour per width, with power laws
    fitted in each regime; returns ({"feature": fit, "lazy": fit} of those fitted, notes)."""
    ash, times = values(family.rows, "alpha_sqrt_h"), values(family.rows, "t1")
    fits = {name: fit for name, fit in settings.regime_fits(ash, times / ash).items() if fit is not None}
    missing = int((~np.isfinite(times)).sum())
    notes = [f"{missing} run(s) never reached alpha^2 L < 1/2 (no t1) and are not drawn."] if missing else []
    colors = width_colors(family.widths)
    for w in family.widths:
        cells = [r for r in family.rows if r["width"] == w and r.get("t1") is not None]
        if cells:
            x = values(cells, "alpha_sqrt_h")
            ax.plot(x, values(cells, "t1") / x, "o", color=colors[w], ms=4, alpha=0.8, label=f"h = {w}")
    finish_regime_fit_axes(ax, family.ash, fits, settings, r"$t_1 / (\alpha\sqrt{h})$", title)
    return fits, notes


def fluctuation_panels(ax_h_var, ax_delta, family, fluct):
    """h Var[F] (on `ax_h_var`) and delta F = sqrt(Var[F]) (on `ax_delta`, with h^(-1/2) dotted) vs
    h, one curve per alpha*sqrt(h) of `fluct` (`Family.fluctuations`); the legend of `ax_delta` gives
    each curve's fitted slope."""
    colors = ash_colors(np.array(sorted(fluct)))
    for x, item in sorted(fluct.items()):
        h = np.array(item["widths"], float)
        ax_h_var.plot(h, item["h_var"], "o-", color=colors[x], ms=4, label=rf"$\alpha\sqrt{{h}}$ = {x:g}")
        ax_delta.plot(h, item["delta"], "o-", color=colors[x], ms=4, label=f"{x:g}: {item['fit']['slope']:.2f}")
    h_all = np.array(family.widths, float)
    deltas = [item["delta"][0] for item in fluct.values()]
    ref = np.exp(np.mean(np.log(deltas))) * (h_all / h_all[0]) ** -0.5
    ax_delta.plot(h_all, ref, "k:", lw=1, label=r"$h^{-1/2}$")
    for ax in (ax_h_var, ax_delta):
        ax.set_yscale("log")
        width_axis(ax, family.widths)
        ax.grid(alpha=0.3, lw=0.5)
        ax.legend(fontsize=7, ncol=2)
    ax_h_var.set_ylabel(r"$h\,\mathrm{Var}[F]$ (over seeds, mean over test points)")
    ax_delta.set_ylabel(r"$\delta F = \sqrt{\mathrm{Var}[F]}$")
    ax_h_var.set_title("h Var[F]: flat if delta F ~ h^(-1/2)")
    ax_delta.set_title("delta F vs h (legend: alpha*sqrt(h): slope)")


def ensemble_vs_width_panel(ax, family, cells, scale=1.0):
    """The test error (times `scale`) of the single nets (mean) and of their ensemble average vs h at
    up to three alpha*sqrt(h) (`pick_ash`) of `cells` (`Family.ensembles`)."""
    ash = sorted({x for _, x in cells})
    colors = ash_colors(np.array(ash))
    for x in pick_ash(ash):
        items = sorted((w, e) for (w, xx), e in cells.items() if xx == x)
        h = [w for w, _ in items]
        ax.plot(h, [e["single"] * scale for _, e in items], "o-", color=colors[x], ms=4,
                label=rf"$\alpha\sqrt{{h}}$ = {x:g}: single")
        ax.plot(h, [e["ensemble"] * scale for _, e in items], "s--", color=colors[x], ms=4,
                label=f"ensemble of {items[0][1]['n']}")
    width_axis(ax, family.widths)
    ax.set_title("test error vs width: single nets and their ensemble")
    ax.grid(alpha=0.3, lw=0.5)
    ax.legend(fontsize=7)


# ----------------------------------------------------------------------------------------------
# The figures, in drawing order


@figure("test_error_collapse")
def test_error_collapse(family, settings):
    """Test error vs alpha and vs alpha*sqrt(h), one curve per width (mean and standard deviation over
    seeds): the curves collapse against alpha*sqrt(h) (finding 1)."""
    fig, axes = new_figure(2)
    error_curves(axes[0, 0], axes[0, 1], family)
    for ax in axes[0]:
        ax.set_ylabel("test error")
    axes[0, 0].legend(fontsize=8)
    axes[0, 0].set_title("vs alpha: one curve per width")
    axes[0, 1].set_title("vs alpha*sqrt(h): the curves should collapse")
    notes = ["a single width, so there is no collapse to see."] if len(family.widths) < 2 else []
    return Drawn(fig, notes=notes)


@figure("kernel_drift", needs=needs_column(tuple(DRIFT_KEYS),
                                           "skipped, no run has kernel drift (config.kernels.track was off)."))
def kernel_drift(family, settings):
    """||Theta_T - Theta_0||_F / ||Theta_0||_F (whole test set, else test probes, else train probes) vs
    alpha*sqrt(h), with power laws fitted separately in the lazy and feature regimes, pooled over
    widths (finding 4: slope -1 lazy, -a, a < 2, feature)."""
    fig, axes = new_figure(1, width=6.0, height=4.2)
    fits, notes = drift_panel(axes[0, 0], family, settings)
    return Drawn(fig, {f"kernel_drift_{name}": fit for name, fit in fits.items()}, notes)


def needs_fluctuations(family, settings):
    """The note of a family without fluctuations to draw (see `Family.fluctuations`), or None."""
    if family.fluctuations(settings.n_boot):
        return None
    return ("skipped, needs >= 2 seeds at the same (alpha, h) for >= 2 widths (this sweep has at most "
            f"{family.max_seeds} seed(s) per point and {len(family.widths)} width(s)).")


@figure("fluctuations", needs=needs_fluctuations)
def fluctuations(family, settings):
    """h*Var[F] and delta F = sqrt(Var[F]) vs h, where Var[F] is the variance of the test output F(x)
    over seeds averaged over the test points x; slopes of delta F vs h per alpha*sqrt(h) (finding 3:
    -1/2)."""
    fluct = family.fluctuations(settings.n_boot)
    fig, axes = new_figure(2)
    fluctuation_panels(axes[0, 0], axes[0, 1], family, fluct)
    return Drawn(fig, {f"delta_F_vs_h@{x:g}": item["fit"] for x, item in fluct.items()})


def _needs_ensembles(family, settings):
    if family.ensembles():
        return None
    return f"skipped, needs >= 2 seeds at the same (alpha, h) (at most {family.max_seeds} here)."


@figure("ensemble", needs=_needs_ensembles)
def ensemble(family, settings):
    """The test error of the ensemble average (mean of the seeds' test outputs at the same (alpha, h))
    next to the single nets', vs alpha*sqrt(h) and vs h (finding 3)."""
    cells = family.ensembles()
    fig, axes = new_figure(2)
    colors = width_colors(family.widths)
    ax = axes[0, 0]
    for w in family.widths:
        items = sorted((x, e) for (ww, x), e in cells.items() if ww == w)
        if not items:
            continue
        x = np.array([x for x, _ in items])
        ax.plot(x, [e["single"] for _, e in items], "o-", color=colors[w], ms=4, label=f"h = {w}: single")
        ax.plot(x, [e["ensemble"] for _, e in items], "s--", color=colors[w], ms=4,
                label=f"h = {w}: ensemble of {items[0][1]['n']}")
    ax.set_xscale("log")
    ax.set_xlabel(r"$\alpha\sqrt{h}$")
    ax.set_title("single nets (mean) vs ensemble average")
    ax.grid(alpha=0.3, lw=0.5)
    ax.legend(fontsize=7)
    ensemble_vs_width_panel(axes[0, 1], family, cells)
    for ax in axes[0]:
        ax.set_ylabel("test error")
    return Drawn(fig)


@figure("t1", needs=needs_column(("t1",), "skipped, no run has t1."))
def t1(family, settings):
    """t1 / (alpha*sqrt(h)) vs alpha*sqrt(h) (finding 4: flat in the feature regime)."""
    fig, axes = new_figure(1, width=6.0, height=4.2)
    fits, notes = t1_panel(axes[0, 0], family, settings)
    return Drawn(fig, {f"t1_{name}": fit for name, fit in fits.items()}, notes)


@figure("frozen_kernels", needs=needs_column(("init_kernel_test_error",), "skipped, no run has frozen-kernel "
                                             "errors (config.kernels.predictors was off)."))
def frozen_kernels(family, settings):
    """The test errors of the frozen-kernel predictors on Theta_0 and Theta_T next to the network's,
    one panel per width (finding 2)."""
    widths = family.widths
    ncols = min(len(widths), 4)
    nrows = math.ceil(len(widths) / ncols)
    fig, axes = new_figure(ncols, nrows, width=4.0, height=3.4, sharey=True)
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
    return Drawn(fig)


# ----------------------------------------------------------------------------------------------
# The crossover finder's figure (not a family figure: drawn from crossover.json by
# lazyfeat_tf.sweep.crossover, so it is not registered)


def crossover_figure(result, out):
    """alpha* vs h on log axes with its seed-bootstrap CIs, the fitted power law alpha* ~ h^b and
    h^(-1/2) (the article's finding 1), from a crossover.json dict `result`; written as
    `out/crossover.png` and `.pdf`; returns the PNG's path."""
    from matplotlib.ticker import ScalarFormatter

    widths = sorted(int(w) for w in result["widths"])
    items = [result["widths"][str(w)] for w in widths]
    h = np.array(widths, float)
    alpha = np.array([i["alpha_star"] for i in items])
    ci = np.array([i["alpha_star_ci"] for i in items]).T  # [2, n_widths]
    fig, axes = new_figure(1, width=5.5, height=4.2)
    ax = axes[0, 0]
    ax.errorbar(h, alpha, yerr=[alpha - ci[0], ci[1] - alpha], fmt="o", ms=5, capsize=3, color="tab:blue",
                label=r"$\alpha^*$ (95% CI over seeds)")
    grid = np.geomspace(h.min() / 1.2, h.max() * 1.2, 20)
    f = result["fit"]
    if f:
        ax.plot(grid, f["prefactor"] * grid ** f["b"], "-", color="k", lw=1.2,
                label=f"fit: b = {f['b']:.2f} [{f['ci'][0]:.2f}, {f['ci'][1]:.2f}]")
    reference = math.exp(np.mean(np.log(alpha * np.sqrt(h))))
    ax.plot(grid, reference / np.sqrt(grid), ":", color="tab:gray", lw=1.2, label=r"$\propto h^{-1/2}$ (article)")
    width_axis(ax, widths)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(ScalarFormatter())
    ax.set_ylabel(r"$\alpha^*$")
    ax.set_title(f"crossover: {result['observable']} = {result['threshold']:g}")
    ax.grid(alpha=0.3, lw=0.5, which="both")
    ax.legend(fontsize=8)
    return save(fig, out, "crossover")[0]
