"""The article's figures: the registry, and drawing the figures a report asks for.

A sweep's config file declares the article figures it is made for (`FIGURES = ("test_error_vs_h",
...)`); `launch.sweep` records them in the sweep directory's sweep.json and `launch.report` draws
each of them (or those of `--figures=a,b`) once, over all the families of the workdir, into
`out/<name>.png` and `.pdf`, titled with the article figure it corresponds to (the names of
ARTICLE.md: "test error (a)", "time dynamics (a)-(c)", ...). summary.md gets their numbers (fits and
differences with bootstrap CIs) and, for a figure that cannot be drawn, one line saying why.

`ARTICLE_FIGURES` maps each name to an `ArticleFigure`: its title, `draw(members, settings) ->
article_common.ArticleDrawn` and `needs(members, settings) -> None or why not` (see
`article_common`). The figures live in `article_errors` (test errors), `article_dynamics`
(fluctuations, time dynamics) and `article_families` (families compared along config keys). Adding
one is adding its functions there and a line to `ARTICLE_FIGURES`. Importing this module imports
neither TensorFlow nor matplotlib (`lazyfeat_tf.sweep.grid` checks names against it).
"""

import dataclasses
import json
import os
from collections.abc import Callable

from lazyfeat_tf.report import article_dynamics, article_errors, article_families, figures
from lazyfeat_tf.report.article_common import needs_compared


@dataclasses.dataclass(frozen=True)
class ArticleFigure:
    """A registered article figure: its file name, its title, its function and what it needs."""

    name: str
    title: str
    draw: Callable
    needs: Callable


def _compared(name, title, keys, what):
    return ArticleFigure(name, title, article_families.compared_figure(keys), needs_compared(keys, what))


ARTICLE_FIGURES = {spec.name: spec for spec in (
    ArticleFigure("test_error_vs_h", "Article, test error (a): test error vs h at fixed alpha*sqrt(h), and the "
                  "frozen Theta_0 predictor", article_errors.test_error_vs_h, article_errors.needs_widths),
    ArticleFigure("test_error_vs_alpha", "Article, test error (b), (c): test error vs alpha per width, and vs "
                  "alpha*sqrt(h) (the collapse)", article_errors.test_error_vs_alpha, article_errors.needs_alphas),
    ArticleFigure("fluctuations_vs_h", "Article, var / ensembles: h Var[F] vs h, and ensemble averages",
                  article_dynamics.fluctuations_vs_h, article_dynamics.needs_fluctuations),
    ArticleFigure("time_dynamics", "Article, time dynamics (a)-(c): kernel change, alpha^2 L(t), t1 "
                  "(and appendix: ||F_t - F_0|| vs t / t1)", article_dynamics.time_dynamics,
                  article_dynamics.needs_dynamics),
    _compared("alphaf", "Article, alphaf: F = alpha (f - f0) vs F = alpha f", ("model.centered",),
              "centred F = alpha (f - f0) vs F = alpha f"),
    _compared("bias", "Article, bias: beta = 0.1 vs no bias", ("model.use_bias", "model.beta"), "bias vs none"),
    _compared("depth", "Article, other (d): L = 3 vs L = 9", ("model.depth",), "depths"),
    _compared("gradient_flow_vs_adam", "Article, CIFAR10: gradient flow vs Adam", ("dynamics.kind",),
              "gradient flow vs Adam"),
    ArticleFigure("var_vs_p", "Article, appendix: lazy Var[F] vs P", article_families.var_vs_p,
                  article_families.needs_var_vs_p),
    ArticleFigure("feature_vs_lazy", "Article, other (b): CNN, feature vs lazy", article_errors.feature_vs_lazy,
                  article_errors.needs_regime_ends),
)}


NO_RUNS = "skipped, no run to draw: every finished run diverged or did not converge (listed in summary.md)."
"""The note of every article figure when the report has no family (`runs.is_reported`)."""


def unknown_figure(names):
    """None when every name of `names` is in `ARTICLE_FIGURES`, else a phrase naming the first
    unknown one and the known ones (for a one-line error)."""
    unknown = [name for name in names if name not in ARTICLE_FIGURES]
    if not unknown:
        return None
    return f"unknown article figure {unknown[0]!r}; the known ones are {', '.join(ARTICLE_FIGURES)}"


def declared_figures(workdir):
    """The article figures the sweep.json of `workdir` declares ("figures"), as a tuple; () when
    there is no sweep.json. Raises ValueError (a phrase) when sweep.json cannot be read or its
    "figures" is not a list of names."""
    path = os.path.join(workdir, "sweep.json")
    if not os.path.exists(path):
        return ()
    try:
        with open(path, "rb") as f:
            plan = json.loads(f.read())
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} cannot be read as JSON ({' '.join(str(error).split())[:80]})") from None
    names = plan.get("figures", []) if isinstance(plan, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{path}: \"figures\" must be a list of figure names, got {json.dumps(names)[:80]}")
    return tuple(names)


def draw_article_figures(members, names, out, settings):
    """Draw the article figures `names` (registered; each once, in that order) over the families
    `members` (`article_common.Member`s) into `out`; with no member, none is drawn (`NO_RUNS`).

    Returns {name: {"title", "files" (paths, [] when not drawn), "numbers", "lines" (markdown of the
    numbers), "notes" (why it was not drawn, or what it lacks)}}.
    """
    drawn = {}
    for name in dict.fromkeys(names):
        spec = ARTICLE_FIGURES[name]
        missing = spec.needs(members, settings) if members else NO_RUNS
        if missing is not None:
            drawn[name] = {"title": spec.title, "files": [], "numbers": {}, "lines": [], "notes": [missing]}
            continue
        result = spec.draw(members, settings)
        result.figure.suptitle(spec.title, fontsize=11)
        drawn[name] = {"title": spec.title, "files": figures.save(result.figure, out, name),
                       "numbers": result.numbers, "lines": result.lines, "notes": result.notes}
    return drawn
