"""Reproduction sweep, setup A: FC, Softplus, L = 3, full-batch gradient flow, Fashion-MNIST parity.

4 widths h = 16, 32, 64, 128 (8x) x 13 values of alpha*sqrt(h) from 1e-3 to 1e3 (half decades) x
4 seeds = 208 runs; n_train = 1000 (as in the article's fluctuation runs), n_test = 5000, kernel
drift on 128 + 128 probes and the frozen-kernel predictors on:

    python -m launch.sweep --config=configs/sweep_fc.py --workdir=runs/sweep_fc
    python -m launch.report --workdir=runs/sweep_fc

Measured runtime on a 2-core CPU: about 36 minutes of wall time for the 208 runs (1 worker, then 2
workers; the runs' own wall times add up to 40 minutes, 4-110 s each); docs/REPRODUCTION.md has
the results.
It can be stopped and restarted at any time (finished runs are kept, the interrupted ones resume).
The report takes under a minute.
"""

from lazyfeat_tf import sweep
from lazyfeat_tf.config import setup_a_config

WIDTHS = (16, 32, 64, 128)
ALPHA_SQRT_H = tuple(float(f"{10 ** (k / 2):.4g}") for k in range(-6, 7))  # 0.001, 0.003162, ..., 1000
SEEDS = (0, 1, 2, 3)


def get_config():
    config = setup_a_config()
    config.alpha_sqrt_h = 1.0  # swept below
    config.data.n_test = 5000
    config.dynamics.kind = "gradient_flow"
    config.dynamics.max_steps = 100_000
    config.dynamics.num_records = 80
    return config


def get_sweep():
    return sweep.product(
        sweep.axis("model.width", WIDTHS),
        sweep.axis("alpha_sqrt_h", ALPHA_SQRT_H),
        sweep.axis("seed", SEEDS),
    )
