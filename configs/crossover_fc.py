"""Crossover finder, setup A: FC, Softplus, L = 3, gradient flow, Fashion-MNIST parity, n_train = 1000.

alpha*(h) where the final kernel drift on the 128 test probes crosses 1, for h = 32, 64, 128, 256
(8x) with 3 seeds, bisected in alpha*sqrt(h) from [1, 300] to 0.1 decade; then alpha* ~ h^b (the
article: b = -1/2):

    python -m launch.crossover --config=configs/crossover_fc.py --workdir=/work/runs/crossover_fc

The drift crosses 1 near alpha*sqrt(h) = 20 for every width (docs/reproduction/kernel_drift.png), so
the runs stay near the crossover, where they converge in float32. Widths from 32: h = 16 sits off the
other widths' drift curve in the lazy regime (docs/REPRODUCTION.md (c)).

Measured: 84 runs in 35 minutes of wall time on a busy 2-core CPU (2 workers x 1 thread), giving
b = -0.512 [-0.556, -0.471] (docs/CROSSOVER.md). Stopped, the same command goes on where it stopped
(finished runs are reused).
"""

from lazyfeat_tf import sweep
from lazyfeat_tf.config import setup_a_config

WIDTHS = (32, 64, 128, 256)
SEEDS = (0, 1, 2)


def get_config():
    config = setup_a_config()
    config.alpha_sqrt_h = 1.0  # set by the search
    config.data.n_test = 1000
    config.dynamics.max_steps = 100_000
    config.dynamics.num_records = 30
    config.kernels.predictors = False  # not needed for the drift
    return config


def get_sweep():  # the widths and seeds; the search sets alpha
    return sweep.product(sweep.axis("model.width", WIDTHS), sweep.axis("seed", SEEDS))


def get_crossover():  # lazyfeat_tf.sweep.crossover.Search fields (flags override them)
    return {"observable": "kernel_drift_test", "bracket": (1.0, 300.0), "tolerance": 0.1}
