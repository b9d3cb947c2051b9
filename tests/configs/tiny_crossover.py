"""The tests' crossover search: the tiny run of `tiny_sweep.py` (synthetic task) at h = 16 and 32 with
2 seeds, the kernel drift on 16 + 16 probes, bisected from alpha*sqrt(h) in [1, 100] to 0.6 decade
(the ends, then 2 steps: 16 runs).

    python -m launch.crossover --config=tests/configs/tiny_crossover.py --workdir=/tmp/tiny_crossover

About a minute on a 2-core CPU (2 workers x 1 thread).
"""

import os

from lazyfeat_tf import sweep

WIDTHS = (16, 32)
SEEDS = (0, 1)


def get_config():  # tiny_sweep.py's run (kernel drift on 16 + 16 probes), converging at the lazy end
    config = sweep.load_config_module(os.path.join(os.path.dirname(__file__), "tiny_sweep.py")).get_config()
    config.dynamics.max_steps = 10_000
    config.kernels.predictors = False
    config.kernels.save = False
    return config


def get_sweep():
    return sweep.product(sweep.axis("model.width", WIDTHS), sweep.axis("seed", SEEDS))


def get_crossover():
    return {"bracket": (1.0, 100.0), "tolerance": 0.6, "n_boot": 200}
