"""Report of a sweep: `python -m launch.report --workdir=DIR`.

Gathers every run directory under DIR into DIR/report/runs.csv, draws the figures of every family of
runs (PNG and PDF) and writes the fitted exponents with bootstrap confidence intervals to
DIR/report/summary.md. It also draws, once over all the families, each article figure DIR/sweep.json
declares (the `FIGURES` of the sweep's config file), or those of `--figures=name,name` whatever
sweep.json says: test_error_vs_h, test_error_vs_alpha, fluctuations_vs_h, time_dynamics, alphaf, bias,
depth, gradient_flow_vs_adam, var_vs_p, feature_vs_lazy (see lazyfeat_tf/report/article.py).

Only converged runs (every training margin reached 1) enter the means, figures and fits; the runs
that diverged or stopped before (a budget ran out, the flow stalled) are listed in summary.md and
printed. `--include_unconverged` keeps the latter in, for a quick look at a sweep still being tuned.

    python -m launch.report --workdir=runs/error_vs_alpha [--figures=test_error_vs_alpha,time_dynamics]
"""

from absl import app, flags

from launch.common import parse_flags, run_or_exit

_WORKDIR = flags.DEFINE_string("workdir", None, "Directory holding the run directories (e.g. a sweep's).")
_OUT = flags.DEFINE_string("out", None, "Where the report goes (default: WORKDIR/report).")
_LAZY_MIN = flags.DEFINE_float("lazy_min", 100.0, "Lazy-regime fits use alpha*sqrt(h) >= this (the asymptotic "
                               "range: nearer the crossover, second-order terms steepen the slopes).")
_FEATURE_MAX = flags.DEFINE_float("feature_max", 0.1, "Feature-regime fits use alpha*sqrt(h) <= this.")
_N_BOOT = flags.DEFINE_integer("n_boot", 2000, "Bootstrap resamples of the confidence intervals.", lower_bound=100)
_FIGURES = flags.DEFINE_list("figures", None, "Article figures to draw, comma-separated (default: those "
                             "WORKDIR/sweep.json declares; none without it).")
_INCLUDE_UNCONVERGED = flags.DEFINE_bool("include_unconverged", False, "Keep the runs that stopped before every "
                                         "training margin reached 1 (max_steps, max_time, max_wall_time, stalled) "
                                         "in the means, figures and fits; diverged runs stay out.")


def main(argv):
    del argv  # parse_flags refuses positional arguments
    from lazyfeat_tf import report

    result = run_or_exit(report.make_report, _WORKDIR.value, _OUT.value, _LAZY_MIN.value,
                         _FEATURE_MAX.value, _N_BOOT.value, _FIGURES.value,
                         include_unconverged=_INCLUDE_UNCONVERGED.value)
    print("\n".join(report.describe(result)))


if __name__ == "__main__":
    flags.mark_flags_as_required(["workdir"])
    app.run(main, flags_parser=parse_flags)
