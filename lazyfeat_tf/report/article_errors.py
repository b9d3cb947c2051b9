"""The article figures about test errors: "test error (a)" (vs h), "test error (b), (c)" (vs alpha and
vs alpha*sqrt(h)) and "other (b)" (feature vs lazy). Errors are drawn and written in percent."""

import numpy as np

from lazyfeat_tf.report.article_common import (ArticleDrawn, family_rows, format_difference, panel_grid, percent,
                                               regime_ends)
from lazyfeat_tf.report.figures import ash_colors, error_curves, width_axis
from lazyfeat_tf.report.fits import LEVEL, difference_of_means
from lazyfeat_tf.report.summary import markdown_table

ARTICLE_BANDS = {100: (3.05, 3.45), 300: (2.9, 3.15), 1000: (2.7, 3.0)}
"""{h: (low, high) test error in %} spanned by the article's curves of figure "test error (b)"
(Fashion-MNIST parity, P = 10,000), read off the figure: +- a line's width."""


# ----------------------------------------------------------------------------------------------
# test error (a): vs h


def needs_widths(members, settings):
    """The note when no family has >= 2 widths, else None."""
    if any(len(m.family.widths) >= 2 for m in members):
        return None
    widths = sorted({w for m in members for w in m.family.widths})
    return (f"skipped, needs a family with >= 2 widths h (each family here has one: h = "
            f"{', '.join(str(w) for w in widths)}).")


def test_error_vs_h(members, settings):
    """Test error (%) vs h (log axis) at every alpha*sqrt(h) of the sweep (mean +- standard deviation
    over seeds) and the frozen-Theta_0 predictor's (`init_kernel_test_error`, pooled over
    alpha*sqrt(h): Theta_0 does not depend on alpha), one panel per family with >= 2 widths.
    Numbers: {family label: {"frozen_theta0": {h: mean error}, "errors": {(h, alpha*sqrt(h)): mean}}}."""
    shown = [m for m in members if len(m.family.widths) >= 2]
    fig, axes = panel_grid(len(shown), width=5.5, height=4.2)
    numbers, lines, notes = {}, [], []
    for ax, m in zip(axes, shown):
        family = m.family
        colors = ash_colors(np.array(family.ash))
        errors = {}
        for x in family.ash:
            h, mean, std, _ = family.stat_vs_width("test_error", x)
            if len(h):
                ax.errorbar(h, 100 * mean, yerr=100 * std, fmt="o-", ms=4, capsize=2, color=colors[x],
                            label=rf"$\alpha\sqrt{{h}}$ = {x:g}")
                errors.update({(int(w), x): float(e) for w, e in zip(h, mean)})
        h, frozen, frozen_std, _ = family.pooled_vs_width("init_kernel_test_error")
        if len(h):
            ax.errorbar(h, 100 * frozen, yerr=100 * frozen_std, fmt="s--", ms=4, capsize=2, color="k",
                        label=r"frozen $\Theta_0$ predictor")
        else:
            notes.append(f"{m.label}: no run has init_kernel_test_error (config.kernels.predictors was off), "
                         "so there is no frozen-Theta_0 curve.")
        width_axis(ax, family.widths)
        ax.set_ylabel("test error (%)")
        ax.set_title(m.short or "test error vs h")
        ax.grid(alpha=0.3, lw=0.5)
        ax.legend(fontsize=7)
        frozen_by_width = {int(w): float(e) for w, e in zip(h, frozen)}
        numbers[m.label] = {"frozen_theta0": frozen_by_width, "errors": errors}
        header = ["h"] + [f"alpha*sqrt(h)={x:g}" for x in family.ash] + ["frozen Theta_0"]
        rows = [[w] + [percent(errors.get((w, x))) for x in family.ash] + [percent(frozen_by_width.get(w))]
                for w in family.widths]
        lines += ["", f"Test error (mean over seeds) of {m.label}:", ""] + markdown_table(header, rows)
    return ArticleDrawn(fig, numbers, lines, notes)


# ----------------------------------------------------------------------------------------------
# test error (b), (c): vs alpha and vs alpha*sqrt(h)


def article_bands(family):
    """{h: (low, high) in %} of `ARTICLE_BANDS` for the family's widths when it is Fashion-MNIST with
    P = 10,000, else {}."""
    config = family.config
    if config.get("data.name") != "fashion_mnist" or config.get("data.n_train") != 10_000:
        return {}
    return {w: band for w, band in ARTICLE_BANDS.items() if w in family.widths}


def needs_alphas(members, settings):
    """The note when no family has >= 2 values of alpha*sqrt(h), else None."""
    if any(len(m.family.ash) >= 2 for m in members):
        return None
    return "skipped, needs a family with >= 2 values of alpha*sqrt(h)."


def _ends_table(family, bands):
    """Per width: the best alpha*sqrt(h) and its error, the errors at the feature end (smallest
    alpha*sqrt(h)) and the lazy end (largest); ({h: {...}}, markdown lines)."""
    numbers, rows = {}, []
    for w in family.widths:
        x, mean, _, _ = family.stat("test_error", w)
        if not len(x):
            continue
        best = int(np.argmin(mean))
        numbers[w] = {"best": (float(x[best]), float(mean[best])), "feature_end": (float(x[0]), float(mean[0])),
                      "lazy_end": (float(x[-1]), float(mean[-1]))}
        band = f"{bands[w][0]:g}-{bands[w][1]:g}%" if w in bands else "-"
        rows.append([w, f"{x[best]:g}", percent(mean[best]), f"{percent(mean[0])} ({x[0]:g})",
                     f"{percent(mean[-1])} ({x[-1]:g})", band])
    header = ["h", "best alpha*sqrt(h)", "its error", "feature end (alpha*sqrt(h))", "lazy end (alpha*sqrt(h))",
              "article (read off)"]
    return numbers, markdown_table(header, rows)


def test_error_vs_alpha(members, settings):
    """Test error (%) vs alpha, one curve per h, and vs alpha*sqrt(h) (the collapse), one row per
    family; Fashion-MNIST families with P = 10,000 get the article's band of each width h = 100, 300,
    1000 shaded (`ARTICLE_BANDS`). Numbers: {family label: {h: {"best", "feature_end", "lazy_end":
    (alpha*sqrt(h), mean error)}}}."""
    shown = [m for m in members if len(m.family.ash) >= 2]
    fig, rows = family_rows(shown, 2, width=5.5, height=4.0)
    numbers, lines = {}, []
    for (ax_alpha, ax_ash), m in zip(rows, shown):
        colors = error_curves(ax_alpha, ax_ash, m.family, scale=100)
        bands = article_bands(m.family)
        for w, (low, high) in bands.items():
            for ax in (ax_alpha, ax_ash):
                ax.axhspan(low, high, fill=False, hatch="//", edgecolor=colors[w], lw=0.8, ls="--",
                           label=f"article (read off), h = {w}")
        for ax in (ax_alpha, ax_ash):
            ax.set_ylabel("test error (%)")
            ax.legend(fontsize=7)
        ax_alpha.set_title("(b) vs alpha: one curve per width")
        ax_ash.set_title("(c) vs alpha*sqrt(h): the curves collapse")
        numbers[m.label], table = _ends_table(m.family, bands)
        lines += ["", f"{m.label}:", ""] + table
    return ArticleDrawn(fig, numbers, lines)


# ----------------------------------------------------------------------------------------------
# other (b): feature vs lazy


def _regime_end_cells(family, settings):
    """{h: (most feature alpha*sqrt(h), most lazy)} of the widths with test errors at both ends."""
    ends = {}
    for w in family.widths:
        feature, lazy = regime_ends(family.stat("test_error", w)[0], settings)
        if feature is not None and lazy is not None:
            ends[w] = (feature, lazy)
    return ends


def needs_regime_ends(members, settings):
    """The note when no family has test errors at both regime ends at one width, else None."""
    if any(_regime_end_cells(m.family, settings) for m in members):
        return None
    ash = sorted({x for m in members for x in m.family.ash})
    return (f"skipped, needs test errors at alpha*sqrt(h) <= {settings.feature_max:g} and >= {settings.lazy_min:g} "
            f"at the same width (alpha*sqrt(h) here: {ash[0]:g} ... {ash[-1]:g}); extend the sweep or move "
            "--feature_max / --lazy_min.")


def _seed_points(ax, position, errors, color, label):
    """Every seed's error (%) around `position` and their mean as a bar."""
    jitter = np.linspace(-0.06, 0.06, len(errors)) if len(errors) > 1 else np.zeros(1)
    ax.plot(position + jitter, 100 * errors, "o", color=color, ms=3, alpha=0.6)
    ax.plot([position - 0.12, position + 0.12], [100 * errors.mean()] * 2, "-", color=color, lw=2.5, label=label)


def feature_vs_lazy(members, settings):
    """Per family and width, the test errors (%) of every seed at the most-feature alpha*sqrt(h)
    (<= feature_max) and the most-lazy one (>= lazy_min) with their means, and the difference lazy -
    feature with its bootstrap CI over seeds. Numbers: {family label: {h: {"feature", "lazy":
    {"alpha_sqrt_h", "mean", "n"}, "difference": `fits.difference_of_means` (lazy minus feature)}}}."""
    items = [(m, w, ends) for m in members for w, ends in _regime_end_cells(m.family, settings).items()]
    fig, (ax_points, ax_diff) = panel_grid(2, width=max(5.0, 1.2 * len(items) + 2.0), height=4.2)
    numbers, lines = {}, []
    for i, (m, w, (x_feature, x_lazy)) in enumerate(items):
        feature = m.family.cell_values("test_error", w, x_feature)
        lazy = m.family.cell_values("test_error", w, x_lazy)
        first = i == 0
        _seed_points(ax_points, i - 0.2, feature, "tab:orange", "feature (mean: bar)" if first else None)
        _seed_points(ax_points, i + 0.2, lazy, "tab:blue", "lazy (mean: bar)" if first else None)
        d = difference_of_means(feature, lazy, n_boot=settings.n_boot)
        yerr = None if d["ci"] is None else 100 * np.abs(np.array(d["ci"]) - d["difference"])[:, None]
        ax_diff.errorbar([i], [100 * d["difference"]], yerr=yerr, fmt="o", color="k", capsize=4)
        numbers.setdefault(m.label, {})[w] = {
            "feature": {"alpha_sqrt_h": x_feature, "mean": float(feature.mean()), "n": len(feature)},
            "lazy": {"alpha_sqrt_h": x_lazy, "mean": float(lazy.mean()), "n": len(lazy)}, "difference": d}
        if first or items[i - 1][0] is not m:
            lines += [f"- {m.label}:"]
        lines.append(f"  - h = {w}: feature {percent(feature.mean())} ({len(feature)} seeds), lazy "
                     f"{percent(lazy.mean())} ({len(lazy)} seeds), lazy - feature = {format_difference(d)} "
                     f"(alpha*sqrt(h) = {x_feature:g} and {x_lazy:g})")
    ticks = [f"{m.short}\nh = {w}" if m.short else f"h = {w}" for m, w, _ in items]
    for ax in (ax_points, ax_diff):
        ax.set_xticks(range(len(items)), ticks, fontsize=7)
        ax.grid(alpha=0.3, lw=0.5, axis="y")
    ax_points.set_ylabel("test error (%)")
    ax_points.set_title(f"feature (alpha*sqrt(h) <= {settings.feature_max:g}) vs lazy (>= {settings.lazy_min:g})")
    ax_points.legend(fontsize=7)
    ax_diff.axhline(0, color="gray", lw=1)
    ax_diff.set_ylabel("lazy - feature (% points)")
    ax_diff.set_title(f"difference of the means, {LEVEL:.0%} bootstrap CI over seeds")
    return ArticleDrawn(fig, numbers, lines)
