"""Find the lazy/feature crossover alpha*(h): `python -m launch.crossover --config=configs/crossover_fc.py --workdir=DIR`.

For every width of the config's `get_sweep()` (widths and seeds), bisect on log10(alpha*sqrt(h))
for where the seed mean of log10(observable) crosses the threshold, then fit alpha* ~ h^b with a
bootstrap over seeds (the article: b = -1/2). See lazyfeat_tf/sweep/crossover.py. Every evaluation is
a run directory DIR/runs/<name> trained by the sweep executors; running the same command again reuses
the finished runs and goes on where the search stopped. Writes DIR/crossover.json after every step
and DIR/crossover.png / .pdf at the end.

    python -m launch.crossover --config=configs/crossover_fc.py --workdir=/work/runs/crossover_fc \
        [--observable=kernel_drift_test|relative_weight_change|t1_over_alpha_sqrt_h] [--threshold=1]
        [--bracket=LOW,HIGH] [--tolerance=0.1] [--executor=local|ray] [--workers=N] [--threads=T]

Flags left unset take the config's `get_crossover()` values, then the defaults of
`lazyfeat_tf.sweep.crossover.Search`. Exit status: 0 done, 2 bad input or a search that cannot go on
(one line on stderr, e.g. a bracket that does not bracket the threshold), 130 when interrupted.
"""

from absl import app, flags
from ml_collections import config_flags

from launch.common import fail, parse_flags, run_or_exit

_CONFIG = config_flags.DEFINE_config_file("config", None, "Crossover config file (get_config + get_sweep "
                                          "[+ get_crossover]).", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Search directory (created; resumed if it holds this search).")
_OBSERVABLE = flags.DEFINE_string("observable", None, "What crosses the threshold (a name of "
                                  "lazyfeat_tf.sweep.crossover.OBSERVABLES; default kernel_drift_test).")
_THRESHOLD = flags.DEFINE_float("threshold", None, "Threshold of the observable (default: the observable's).")
_BRACKET = flags.DEFINE_list("bracket", None, "LOW,HIGH: the initial bracket of alpha*sqrt(h).")
_TOLERANCE = flags.DEFINE_float("tolerance", None, "Stop when every bracket is narrower (decades).")
_N_BOOT = flags.DEFINE_integer("n_boot", None, "Bootstrap resamples over seeds.")
_EXECUTOR = flags.DEFINE_enum("executor", "local", ["local", "ray"], "Where the runs are trained.")
_WORKERS = flags.DEFINE_integer("workers", None, "Runs at once (default: one per core).", lower_bound=1)
_THREADS = flags.DEFINE_integer("threads", None, "Threads per run (default: cores / workers).", lower_bound=1)
_RAY_ADDRESS = flags.DEFINE_string("ray_address", None, "Ray cluster address (with --executor=ray).")
_MAX_RETRIES = flags.DEFINE_integer("max_retries", 2, "Extra attempts of a failed run.", lower_bound=0)
_PROGRESS_EVERY = flags.DEFINE_float("progress_every", 30.0, "Seconds between the sweep's progress lines.")


def _bracket():
    if _BRACKET.value is None:
        return None
    try:
        return tuple(float(v) for v in _BRACKET.value)
    except ValueError:
        fail(f"--bracket={','.join(_BRACKET.value)}: must be two numbers LOW,HIGH, e.g. --bracket=0.01,1e4")


def main(argv):
    del argv  # parse_flags refuses positional arguments
    from lazyfeat_tf import sweep
    from lazyfeat_tf.sweep import crossover

    config_file = config_flags.get_config_filename(flags.FLAGS["config"])
    search = run_or_exit(lambda: crossover.load_search(
        config_file, observable=_OBSERVABLE.value, threshold=_THRESHOLD.value, bracket=_bracket(),
        tolerance=_TOLERANCE.value, n_boot=_N_BOOT.value))
    points = run_or_exit(sweep.load_sweep, config_file)
    run_or_exit(lambda: crossover.find_crossover(
        _CONFIG.value, points, _WORKDIR.value, search, config_file, executor=_EXECUTOR.value,
        workers=_WORKERS.value, threads=_THREADS.value, ray_address=_RAY_ADDRESS.value,
        max_retries=_MAX_RETRIES.value, progress_every=_PROGRESS_EVERY.value))


if __name__ == "__main__":
    flags.mark_flags_as_required(["config", "workdir"])
    app.run(main, flags_parser=parse_flags)
