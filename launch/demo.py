"""Lazy vs feature training on real data: `python -m launch.demo --workdir=runs/demo`.

Trains configs/demo.py (or --config) at each --alpha_sqrt_h value and prints a comparison table
and where the run directories are. Re-running skips finished runs and resumes interrupted ones.
"""

from absl import app, flags
from ml_collections import config_flags

from launch.common import fail, import_tensorflow_quietly, parse_flags, run_or_exit
_CONFIG = config_flags.DEFINE_config_file("config", "configs/demo.py", "ml_collections config file.")
_WORKDIR = flags.DEFINE_string("workdir", "runs/demo", "Directory for the run directories.")
_VALUES = flags.DEFINE_list("alpha_sqrt_h", ["0.01", "100"], "alpha*sqrt(h) values (feature << 1 << lazy).")


def main(argv):
    del argv  # parse_flags refuses positional arguments
    try:
        values = [float(v) for v in _VALUES.value]
    except ValueError:
        fail(f"--alpha_sqrt_h={','.join(_VALUES.value)} must be a list of numbers, e.g. --alpha_sqrt_h=0.01,100")
    import_tensorflow_quietly()
    from lazyfeat_tf import compare

    results = run_or_exit(compare.run_comparison, _CONFIG.value, _WORKDIR.value, values)
    print("\n" + compare.format_table(results))
    for r in results:
        print(f"results: {r['workdir']}/results.json")


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
