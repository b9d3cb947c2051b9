"""Run a sweep: `python -m launch.sweep --config=configs/sweep_demo.py --workdir=DIR`.

The config file declares the base run config (`get_config()`) and the grid (`get_sweep()`, a list
of override dicts); see lazyfeat_tf/sweep/. One run directory per point goes to DIR/runs/<name>.
Running the same command again skips finished runs, resumes interrupted ones and retries failed
ones. `--config.<field>=...` overrides change the base config (the grid's values win).

    python -m launch.sweep --config=configs/sweep_demo.py --workdir=runs/sweep_demo \
        [--executor=local|ray] [--workers=N] [--threads=T] [--ray_address=HOST:PORT] [--max_retries=2]

Exit status: 0 when every run finished, 1 when some failed (listed at the end and in
DIR/failures.json), 2 for bad input (one line on stderr), 130 when interrupted.
"""

import sys

from absl import app, flags
from ml_collections import config_flags

from launch.common import parse_flags, run_or_exit
_CONFIG = config_flags.DEFINE_config_file("config", None, "Sweep config file (get_config + get_sweep).",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Sweep directory (created; resumed if it holds this sweep).")
_EXECUTOR = flags.DEFINE_enum("executor", "local", ["local", "ray"], "Where the runs are trained.")
_WORKERS = flags.DEFINE_integer("workers", None, "Runs at once (default: local, one per core; "
                                "ray, cluster CPUs / threads).", lower_bound=1)
_THREADS = flags.DEFINE_integer("threads", None, "Threads per run (default: cores / workers).", lower_bound=1)
_RAY_ADDRESS = flags.DEFINE_string("ray_address", None, "Ray cluster address (host:port); with "
                                   "--executor=ray and none given, an embedded local Ray is started.")
_MAX_RETRIES = flags.DEFINE_integer("max_retries", 2, "Extra attempts of a failed run.", lower_bound=0)
_PROGRESS_EVERY = flags.DEFINE_float("progress_every", 30.0, "Seconds between progress lines.")


def main(argv):
    del argv  # parse_flags refuses positional arguments
    from lazyfeat_tf import sweep

    config_file = config_flags.get_config_filename(flags.FLAGS["config"])
    points = run_or_exit(sweep.load_sweep, config_file)
    figures = run_or_exit(sweep.load_figures, config_file)
    summary = run_or_exit(
        sweep.run_sweep, _CONFIG.value, points, _WORKDIR.value, _EXECUTOR.value, _WORKERS.value,
        _THREADS.value, _RAY_ADDRESS.value, _MAX_RETRIES.value, _PROGRESS_EVERY.value,
        sweep.DEFAULT_TRAIN_FN, config_file, figures)
    if summary["failed"]:
        print(f"error: {summary['failed']} of {summary['total']} runs failed; see "
              f"{summary['workdir']}/failures.json", file=sys.stderr, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    flags.mark_flags_as_required(["config", "workdir"])
    app.run(main, flags_parser=parse_flags)
