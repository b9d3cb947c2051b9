"""Gather run directories into a table, the article's figures and fitted exponents.

    python -m launch.report --workdir=DIR [--out=DIR/report] [--figures=name,name] [--include_unconverged]

Every directory under DIR that holds `results.json` and `config.json` is a run (a sweep's
`DIR/runs/*`, `launch.demo`'s directories, ...). Runs are split into families: runs whose config.json
is equal but for alpha, the width h, the seed and `lazyfeat_tf.config.EXECUTION_KEYS`. Each family
gets its figures (in `out/`, or `out/family-<i>/` when there are several). Only converged runs (every
training margin reached 1) enter the means, figures and fits (`runs.is_reported`): a diverged run has
no error rate, an unconverged one (status max_steps, max_time, max_wall_time, stalled) numbers that
cannot be trusted; `--include_unconverged` keeps the unconverged ones in. Written to `out`:

- `runs.csv`: one row per run, whatever its status (`CSV_COLUMNS`, then the family's config keys);
- one `<name>.png` and `<name>.pdf` per figure of `figures.FIGURES` (each function's docstring says
  what it shows): `test_error_collapse`, `kernel_drift`, `fluctuations`, `ensemble`, `t1`,
  `frozen_kernels`;
- the article figures DIR/sweep.json declares (or `--figures=a,b`), drawn once over all the families:
  `<name>.png` and `.pdf` for each name of `article.ARTICLE_FIGURES` asked for;
- `summary.md`: the article figures' numbers (fits and differences with bootstrap CIs) and why a figure
  could not be drawn, then per family the fitted exponents with bootstrap confidence intervals,
  tables of test errors, a note for every figure that could not be drawn (data absent, e.g. a single
  seed), the run directories skipped because their results.json cannot be used, and the diverged and
  unconverged runs (with their status, steps, train and test errors at the stop).

Modules: `runs` (gathering, families, runs.csv), `fits` (power laws, fluctuations, differences),
`family` (one family's runs by width and alpha*sqrt(h)), `figures` (the registry of family figures and
the panels they are made of), `article` (the registry of article figures; they live in
`article_errors`, `article_dynamics`, `article_families`, with what they share in `article_common`),
`summary` (summary.md), `make` (`make_report`). Adding a family figure is adding one function to
`figures`, registered with `@figure(name, needs=...)`; adding an article figure is adding its
functions and a line to `article.ARTICLE_FIGURES`. No TensorFlow (and no matplotlib until a figure
is drawn) is imported with this package.
"""

from lazyfeat_tf.report.article import ARTICLE_FIGURES, ArticleFigure, draw_article_figures
from lazyfeat_tf.report.family import Family
from lazyfeat_tf.report.figures import FIGURES, Drawn, figure
from lazyfeat_tf.report.fits import (LEVEL, FitSettings, difference_of_means, fit_fluctuations, fit_power_law,
                                     output_variance)
from lazyfeat_tf.report.make import FamilyReport, ReportError, describe, make_report, report_family
from lazyfeat_tf.report.runs import AXES, CSV_COLUMNS, Gathered, family_labels, gather, write_csv

__all__ = [
    "ARTICLE_FIGURES", "AXES", "CSV_COLUMNS", "FIGURES", "LEVEL", "ArticleFigure", "Drawn", "Family", "FamilyReport",
    "FitSettings", "Gathered", "ReportError", "describe", "difference_of_means", "draw_article_figures",
    "family_labels", "figure", "fit_fluctuations", "fit_power_law", "gather", "make_report", "output_variance",
    "report_family", "write_csv",
]
