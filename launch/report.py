"""Report of a sweep: `python -m launch.report --workdir=DIR`.

Gathers every run directory under DIR into DIR/report/runs.csv, draws the article's figures (PNG and
PDF) and writes the fitted exponents with bootstrap confidence intervals to DIR/report/summary.md.
See lazyfeat_tf/report/ for what each figure shows.
"""

from absl import app, flags

from launch.common import parse_flags, run_or_exit

_WORKDIR = flags.DEFINE_string("workdir", None, "Directory holding the run directories (e.g. a sweep's).")
_OUT = flags.DEFINE_string("out", None, "Where the report goes (default: WORKDIR/report).")
_LAZY_MIN = flags.DEFINE_float("lazy_min", 100.0, "Lazy-regime fits use alpha*sqrt(h) >= this (the asymptotic "
                               "range: nearer the crossover, second-order terms steepen the slopes).")
_FEATURE_MAX = flags.DEFINE_float("feature_max", 0.1, "Feature-regime fits use alpha*sqrt(h) <= this.")
_N_BOOT = flags.DEFINE_integer("n_boot", 2000, "Bootstrap resamples of the confidence intervals.", lower_bound=100)


def main(argv):
    del argv  # parse_flags refuses positional arguments
    from lazyfeat_tf import report

    result = run_or_exit(report.make_report, _WORKDIR.value, _OUT.value, _LAZY_MIN.value,
                         _FEATURE_MAX.value, _N_BOOT.value)
    print("\n".join(report.describe(result)))


if __name__ == "__main__":
    flags.mark_flags_as_required(["workdir"])
    app.run(main, flags_parser=parse_flags)
