"""What the article figures (`article.py`) share: the families they are drawn over, what a figure
function returns, families compared along config keys, and the formatting of their numbers.

An article figure function is `draw(members, settings) -> ArticleDrawn`, where `members` are all the
families of the report (`Member`s) and `settings` the `fits.FitSettings`; its `needs(members,
settings)` returns one line saying why it cannot be drawn, or None.
"""

import dataclasses
import json

import numpy as np

from lazyfeat_tf.config import completed
from lazyfeat_tf.report.figures import new_figure
from lazyfeat_tf.report.fits import difference_of_means
from lazyfeat_tf.report.runs import flatten

DEFAULTS = flatten(completed({}))
"""{dotted config key: default value} of a run config."""


@dataclasses.dataclass(frozen=True)
class Member:
    """One family of the report: its label in summary.md, a short label for figure legends (the
    config keys that tell it from the report's other families, "" when it is the only one) and its
    `Family`."""

    label: str
    short: str
    family: object  # family.Family


@dataclasses.dataclass
class ArticleDrawn:
    """What an article figure function returns.

    figure: the `matplotlib.figure.Figure` (the caller titles and saves it);
    numbers: its numbers for programs, {family or panel label: {...}} (fits as `fits.fit_power_law`,
        differences as `fits.difference_of_means`);
    lines: the same numbers as markdown lines for summary.md;
    notes: what is missing from the figure, one line each.
    """

    figure: object
    numbers: dict = dataclasses.field(default_factory=dict)
    lines: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)


def short_labels(configs):
    """One short label per family config ({dotted key: value}): `key=value` for every key whose value
    is not the same in all of them ("" for every family when there is only one)."""
    keys = list(dict.fromkeys(k for config in configs for k in config))
    separating = [k for k in keys if len({json.dumps(c.get(k), sort_keys=True) for c in configs}) > 1]
    return [", ".join(f"{k}={c.get(k)}" for k in separating) for c in configs]


def _show(config, keys):
    return ", ".join(f"{k}={config.get(k)}" for k in keys)


def _value_order(member, keys):
    """Sort key of a family by its values of `keys`: numbers by value (250 before 2000), then
    anything else by its JSON text."""
    return [(0, v, "") if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, 0, json.dumps(v))
            for v in (member.family.config.get(k) for k in keys)]


def compared_groups(members, keys, strict=False):
    """The families compared along the config `keys` (e.g. ("model.depth",)), in panels.

    A panel holds families equal but for `keys` that take >= 2 values of them. When no two families
    are equal but for `keys`, yet `keys` take >= 2 values over all families, every family goes in
    one panel unless `strict` (its curves then name the other keys that differ too). Returns (panels,
    left_out): panels is a list of lists of `Member`s, each with the family that has the defaults of
    `keys` (`lazyfeat_tf.config.base_config`: the article's main setup) first, the others sorted by
    their values; left_out the members in no panel; no panel when `keys` take one value.
    """
    default = json.dumps([DEFAULTS.get(k) for k in keys])

    def value(m):
        return json.dumps([m.family.config.get(k) for k in keys])

    def rest(m):
        return json.dumps({k: v for k, v in m.family.config.items() if k not in keys}, sort_keys=True)

    by_rest = {}
    for m in members:
        by_rest.setdefault(rest(m), []).append(m)
    panels = [g for g in by_rest.values() if len({value(m) for m in g}) >= 2]
    if not panels and not strict and len({value(m) for m in members}) >= 2:
        panels = [list(members)]
    in_panels = {id(m) for g in panels for m in g}
    panels = [sorted(g, key=lambda m: (value(m) != default, _value_order(m, keys))) for g in panels]
    return panels, [m for m in members if id(m) not in in_panels]


def needs_compared(keys, what):
    """A `needs` met when `compared_groups(members, keys)` has a panel; `what` names the comparison
    in the note (e.g. "depths")."""

    def needs(members, settings):
        if compared_groups(members, keys)[0]:
            return None
        seen = sorted({_show(m.family.config, keys) for m in members})
        return (f"skipped, needs >= 2 families that differ in {', '.join(keys)} ({what}); this workdir has "
                f"{len(members)} famil{'y' if len(members) == 1 else 'ies'}, all with {'; '.join(seen)}.")

    return needs


def curve_labels(panel, keys):
    """{id(member): label} of a panel's families: their values of `keys`, then the other keys that
    differ within the panel."""
    configs = [m.family.config for m in panel]
    others = short_labels([{k: v for k, v in c.items() if k not in keys} for c in configs])
    return {id(m): ", ".join(part for part in (_show(c, keys), other) if part)
            for m, c, other in zip(panel, configs, others)}


def panel_titles(panels, keys):
    """One title per panel of `compared_groups`: the keys other than `keys` that tell the panels
    apart ("" when there is one panel)."""
    if len(panels) < 2:
        return [""] * len(panels)
    return short_labels([{k: v for k, v in g[0].family.config.items() if k not in keys} for g in panels])


def regime_ends(xs, settings):
    """(the smallest of `xs` <= feature_max or None, the largest >= lazy_min or None): the most
    feature and the most lazy alpha*sqrt(h)."""
    feature = [x for x in xs if x <= settings.feature_max]
    lazy = [x for x in xs if x >= settings.lazy_min]
    return (min(feature) if feature else None), (max(lazy) if lazy else None)


def percent(value, digits=2):
    """A fraction as a percentage ("3.05%"), "-" for None or nan."""
    return "-" if value is None or not np.isfinite(value) else f"{100 * value:.{digits}f}%"


def format_difference(d, digits=2):
    """A `difference_of_means` of error rates in percentage points: "+0.20% [0.05%, 0.35%]"."""
    ci = "[CI n/a: < 2 seeds]" if d["ci"] is None else f"[{percent(d['ci'][0], digits)}, {percent(d['ci'][1], digits)}]"
    return f"{'+' if d['difference'] >= 0 else ''}{percent(d['difference'], digits)} {ci}"


def format_fit(fit, what="runs"):
    """"slope -1.00 [-1.02, -0.98] (n runs)" of a `fits.fit_power_law` (CI omitted when there is none)."""
    ci = "" if fit.get("ci") is None else f" [{fit['ci'][0]:.3f}, {fit['ci'][1]:.3f}]"
    return f"slope {fit['slope']:.3f}{ci} ({fit['n']} {what})"


def errors_difference(family_a, family_b, width, x, n_boot):
    """`difference_of_means` of the test errors over seeds: family_b's minus family_a's at (width,
    alpha*sqrt(h) `x`)."""
    return difference_of_means(family_a.cell_values("test_error", width, x),
                               family_b.cell_values("test_error", width, x), n_boot=n_boot)


def panel_grid(n, ncols=3, width=5.0, height=3.8):
    """(figure, list of `n` axes) in rows of up to `ncols` panels of `width` x `height` inches; the
    cells past `n` are hidden."""
    ncols = max(1, min(n, ncols))
    nrows = -(-n // ncols)
    fig, axes = new_figure(ncols, nrows, width=width, height=height)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def family_rows(members, ncols, width=5.0, height=3.8):
    """(figure, one list of `ncols` axes per member): a row of panels per family, titled with its
    short label when there are several."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height * len(members)), layout="constrained")
    rows = []
    for sub, m in zip(fig.subfigures(len(members), 1, squeeze=False)[:, 0], members):
        rows.append(list(sub.subplots(1, ncols, squeeze=False)[0]))
        if m.short:
            sub.suptitle(m.short, fontsize=9)
    return fig, rows


def no_data(ax, text):
    """Write `text` in the middle of an empty panel."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=8, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])
