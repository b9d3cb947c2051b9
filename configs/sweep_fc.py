"""Reproduction sweep, setup A: FC, Softplus, L = 3, full-batch gradient flow, Fashion-MNIST parity.

4 widths h = 16, 32, 64, 128 (8x) x 13 values of alpha*sqrt(h) from 1e-3 to 1e3 (half decades) x
4 seeds = 208 runs; n_train = 1000 (as in the article's fluctuation runs), n_test = 5000, kernel
drift on 128 + 128 probes and the frozen-kernel predictors on:

    python -m launch.sweep --config=configs/sweep_fc.py --workdir=runs/sweep_fc
    python -m launch.report --workdir=runs/sweep_fc

Expected runtime on a 2-core CPU (2 workers x 1 thread), from timing runs at the ends of the grid:
one run takes 25-95 s (h = 16: 25 s in the feature regime, up to ~90 s in the lazy regime where
convergence needs ~20k steps; h = 64: ~45 s; h = 128: 80-95 s), about 60 s on average, so the
sweep takes about 1.75 hours (plan on 1-2.5 h: the timings vary by 2x with the machine's load).
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
