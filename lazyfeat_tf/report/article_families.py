"""The article figures that compare families along config keys: "alphaf" (model.centered), "bias"
(model.use_bias, model.beta), "other (d)" (model.depth), "CIFAR10: gradient flow vs Adam"
(dynamics.kind), all drawn by `compared_figure`, and "appendix: lazy Var[F] vs P" (data.n_train)."""

import numpy as np

from lazyfeat_tf.report.article_common import (ArticleDrawn, compared_groups, curve_labels, errors_difference,
                                               format_difference, format_fit, panel_grid, panel_titles, percent,
                                               regime_ends)
from lazyfeat_tf.report.figures import ash_colors, pick_ash
from lazyfeat_tf.report.fits import fit_fluctuations

MARKERS = ("o", "s", "^", "D", "v", "P")
LINESTYLES = ("-", "--", ":", "-.")

# ----------------------------------------------------------------------------------------------
# Test error of families compared along config keys


def _error_curves(ax, panel, labels):
    """Test error (%) vs alpha*sqrt(h), one curve per family (colour) and width (marker, line style)."""
    from matplotlib import colormaps

    colors = colormaps["tab10"]
    for i, m in enumerate(panel):
        for j, w in enumerate(m.family.widths):
            x, mean, std, _ = m.family.stat("test_error", w)
            if len(x):
                ax.errorbar(x, 100 * mean, yerr=100 * std, fmt=MARKERS[j % len(MARKERS)],
                            ls=LINESTYLES[j % len(LINESTYLES)], color=colors(i % 10), ms=4, capsize=2,
                            label=f"{labels[id(m)]}, h = {w}")
    ax.set_xscale("log")
    ax.set_xlabel(r"$\alpha\sqrt{h}$")
    ax.set_ylabel("test error (%)")
    ax.grid(alpha=0.3, lw=0.5)
    ax.legend(fontsize=7)


def _best_lines(panel, labels):
    """({(curve label, h): (alpha*sqrt(h), mean error)}, lines) of the best point of every curve."""
    best, lines = {}, []
    for m in panel:
        for w in m.family.widths:
            x, mean, _, _ = m.family.stat("test_error", w)
            if len(x):
                i = int(np.argmin(mean))
                best[(labels[id(m)], w)] = (float(x[i]), float(mean[i]))
                lines.append(f"  - {labels[id(m)]}, h = {w}: best {percent(mean[i])} at alpha*sqrt(h) = {x[i]:g}")
    return best, lines


def _difference_lines(panel, labels, settings):
    """The test-error differences of every family of a panel from its first one, at each common
    width, at the most feature and the most lazy alpha*sqrt(h) both have: ({(label, h, regime):
    `fits.difference_of_means`}, lines)."""
    reference, differences, lines = panel[0], {}, []
    for m in panel[1:]:
        widths = sorted(set(m.family.widths) & set(reference.family.widths))
        if not widths:
            lines.append(f"  - ({labels[id(m)]}) and ({labels[id(reference)]}) have no width in common: no difference "
                         "computed")
        for w in widths:
            common = sorted(set(m.family.stat("test_error", w)[0]) & set(reference.family.stat("test_error", w)[0]))
            ends = dict(zip(("feature", "lazy"), regime_ends(common, settings)))
            if not any(ends.values()):
                lines.append(f"  - h = {w}: no common alpha*sqrt(h) <= {settings.feature_max:g} or >= "
                             f"{settings.lazy_min:g}, no difference computed")
            for regime, x in ends.items():
                if x is None:
                    continue
                d = errors_difference(reference.family, m.family, w, x, settings.n_boot)
                differences[(labels[id(m)], w, regime)] = d
                lines.append(f"  - h = {w}, {regime} end (alpha*sqrt(h) = {x:g}): ({labels[id(m)]}) - "
                             f"({labels[id(reference)]}) = {format_difference(d)} ({d['n'][1]} and {d['n'][0]} seeds)")
    return differences, lines


def compared_figure(keys):
    """The draw function of a figure comparing families along the config `keys` (see
    `article_common.compared_groups`)."""

    def draw(members, settings):
        """Test error (%) vs alpha*sqrt(h), one curve per family and width, one panel per group of
        families compared; the numbers are each curve's best error and the differences of the
        families from the panel's first at the regime ends, with bootstrap CIs over seeds. Numbers:
        {panel title: {"best": {(curve label, h): (alpha*sqrt(h), error)}, "differences": {(curve
        label, h, "feature" or "lazy"): `fits.difference_of_means`}}}."""
        panels, left_out = compared_groups(members, keys)
        fig, axes = panel_grid(len(panels), ncols=2, width=6.5, height=4.6)
        numbers, lines = {}, []
        n = len(left_out)
        notes = [(f"{n} famil{'y has' if n == 1 else 'ies have'} no counterpart differing only in "
                  f"{', '.join(keys)} and {'is' if n == 1 else 'are'} left out.")] if n else []
        for i, (ax, panel, title) in enumerate(zip(axes, panels, panel_titles(panels, keys))):
            labels = curve_labels(panel, keys)
            _error_curves(ax, panel, labels)
            ax.set_title(title or f"test error by {', '.join(keys)}", fontsize=9)
            best, best_lines = _best_lines(panel, labels)
            differences, difference_lines = _difference_lines(panel, labels, settings)
            name = title or f"panel {i + 1}"
            numbers[name] = {"best": best, "differences": differences}
            lines += [f"- {name}:"] + best_lines + difference_lines
        return ArticleDrawn(fig, numbers, lines, notes)

    return draw


# ----------------------------------------------------------------------------------------------
# appendix: lazy Var[F] vs P

P_KEY = ("data.n_train",)


def _lazy_cells(panel, settings):
    """{(h, alpha*sqrt(h)): [(P, `[n_seeds, n_test]` test outputs)] sorted by P} of the lazy cells
    (alpha*sqrt(h) >= lazy_min) with >= 2 seeds in >= 2 families of the panel."""
    cells = {}
    for m in panel:
        for (w, x), (outputs, _) in m.family.seed_outputs().items():
            if x >= settings.lazy_min:
                cells.setdefault((w, x), []).append((m.family.config["data.n_train"], outputs))
    return {cell: sorted(items, key=lambda item: item[0]) for cell, items in sorted(cells.items()) if len(items) >= 2}


def needs_var_vs_p(members, settings):
    """The note when no two families equal but for data.n_train have >= 2 seeds at a common lazy cell."""
    panels, _ = compared_groups(members, P_KEY, strict=True)
    if any(_lazy_cells(panel, settings) for panel in panels):
        return None
    if not panels:
        sizes = sorted({m.family.config.get("data.n_train") for m in members})
        return (f"skipped, needs >= 2 families equal but for data.n_train (P here: "
                f"{', '.join(str(p) for p in sizes)}).")
    return (f"skipped, needs >= 2 seeds at the same (h, alpha*sqrt(h) >= {settings.lazy_min:g}) in >= 2 families "
            "equal but for data.n_train.")


def _variance_fit(sizes, outputs, n_boot):
    """Var[F] ~ P^slope from `fits.fit_fluctuations` (delta F = sqrt(Var[F]), so twice its slope and
    CI): a dict slope, ci (None with < 3 seeds at some P), n (values of P), P, var, prefactor; None
    when Var[F] = 0 at some P."""
    fit = fit_fluctuations(sizes, outputs, n_boot=n_boot)
    if fit is None:
        return None
    return {"slope": 2 * fit["slope"], "ci": None if fit["ci"] is None else tuple(2 * c for c in fit["ci"]),
            "n": fit["n"], "P": list(sizes), "var": [d**2 for d in fit["delta"]], "prefactor": fit["prefactor"]**2}


def _error_vs_p(ax, panel):
    """Test error (%) vs P at up to three alpha*sqrt(h) (`figures.pick_ash`) of the largest common width."""
    # in order of P: `compared_groups` puts the default P (1000) first
    panel = sorted(panel, key=lambda m: m.family.config["data.n_train"])
    widths = set.intersection(*(set(m.family.widths) for m in panel))
    if not widths:
        return
    w = max(widths)
    common = sorted(set.intersection(*(set(m.family.stat("test_error", w)[0]) for m in panel)))
    if not common:
        return
    colors = ash_colors(np.array(common))
    sizes = [m.family.config["data.n_train"] for m in panel]
    for x in pick_ash(common):
        errors = [m.family.cell_values("test_error", w, x) for m in panel]
        std = [e.std(ddof=1) if len(e) > 1 else 0.0 for e in errors]
        ax.errorbar(sizes, [100 * e.mean() for e in errors], yerr=100 * np.array(std), fmt="o-", color=colors[x],
                    ms=4, capsize=2, label=rf"h = {w}, $\alpha\sqrt{{h}}$ = {x:g}")
    ax.set_xscale("log")
    ax.set_xlabel("P (training points)")
    ax.set_ylabel("test error (%)")
    ax.set_title("test error vs P", fontsize=9)
    ax.grid(alpha=0.3, lw=0.5)
    ax.legend(fontsize=7)


def var_vs_p(members, settings):
    """Var[F] over seeds (mean over test points) vs P in the lazy regime (alpha*sqrt(h) >=
    lazy_min), one curve and fitted power law per (h, alpha*sqrt(h)), and the test error vs P; one
    pair of panels per group of families equal but for data.n_train. Numbers: {panel title: {(h,
    alpha*sqrt(h)): fit (see `_variance_fit`)}}."""
    panels, _ = compared_groups(members, P_KEY, strict=True)
    panels = [(panel, title) for panel, title in zip(panels, panel_titles(panels, P_KEY))
              if _lazy_cells(panel, settings)]
    fig, axes = panel_grid(2 * len(panels), ncols=2, width=5.5, height=4.2)
    numbers, lines = {}, []
    for i, (panel, title) in enumerate(panels):
        ax_var = axes[2 * i]
        cells = _lazy_cells(panel, settings)
        colors = ash_colors(np.array(sorted({x for _, x in cells})))
        name = title or f"panel {i + 1}"
        numbers[name] = {}
        lines.append(f"- {name}: Var[F] ~ P^slope in the lazy regime (alpha*sqrt(h) >= {settings.lazy_min:g}):")
        for (w, x), items in cells.items():
            fit = _variance_fit([p for p, _ in items], [o for _, o in items], settings.n_boot)
            if fit is None:
                lines.append(f"  - h = {w}, alpha*sqrt(h) = {x:g}: no fit, Var[F] = 0 at some P")
                continue
            numbers[name][(w, x)] = fit
            style = LINESTYLES[sorted({c[0] for c in cells}).index(w) % len(LINESTYLES)]
            ax_var.plot(fit["P"], fit["var"], "o", color=colors[x], ms=4)
            grid = np.geomspace(min(fit["P"]), max(fit["P"]), 20)
            ci = "" if fit["ci"] is None else f" [{fit['ci'][0]:.2f}, {fit['ci'][1]:.2f}]"
            ax_var.plot(grid, fit["prefactor"] * grid ** fit["slope"], style, color=colors[x], lw=1,
                        label=rf"h = {w}, $\alpha\sqrt{{h}}$ = {x:g}: slope {fit['slope']:.2f}{ci}")
            seeds = sorted({o.shape[0] for _, o in items})
            variances = ", ".join(f"{v:.3g} (P = {p})" for p, v in zip(fit["P"], fit["var"]))
            lines.append(f"  - h = {w}, alpha*sqrt(h) = {x:g}: {format_fit(fit, 'values of P')}, seeds per P: "
                         f"{seeds[0]}-{seeds[-1]}; Var[F] = {variances}")
        ax_var.set_xscale("log")
        ax_var.set_yscale("log")
        ax_var.set_xlabel("P (training points)")
        ax_var.set_ylabel(r"$\mathrm{Var}[F]$ (over seeds, mean over test points)")
        ax_var.set_title(f"{title + ': ' if title else ''}lazy Var[F] vs P", fontsize=9)
        ax_var.grid(alpha=0.3, lw=0.5)
        ax_var.legend(fontsize=7)
        _error_vs_p(axes[2 * i + 1], panel)
    return ArticleDrawn(fig, numbers, lines)
