"""Demo sweep: setup A (FC, Softplus, L = 3, gradient flow) on real Fashion-MNIST parity.

2 widths (h = 32, 128) x 3 values of alpha*sqrt(h) (0.01 feature, 1, 100 lazy) x 2 seeds = 12 runs,
n_train = n_test = 1000, kernel drift and frozen-kernel predictors on:

    python -m launch.sweep --config=configs/sweep_demo.py --workdir=runs/sweep_demo
    python -m launch.report --workdir=runs/sweep_demo

The sweep takes 2-4 minutes on a 2-core CPU (2 workers x 1 thread: measured 1:37 on an idle
machine, 3:40 on a busy one); the report about 5 seconds.
The grid is declared by `get_sweep()` (see lazyfeat_tf/sweep/); `get_config()` is the base run.
"""

from lazyfeat_tf import sweep
from lazyfeat_tf.config import setup_a_config


def get_config():
    config = setup_a_config()
    config.alpha_sqrt_h = 1.0  # swept below
    config.data.n_test = 1000
    config.dynamics.max_steps = 50_000
    config.dynamics.num_records = 60
    return config


def get_sweep():
    return sweep.product(
        sweep.axis("model.width", [32, 128]),
        sweep.axis("alpha_sqrt_h", [0.01, 1.0, 100.0]),
        sweep.axis("seed", [0, 1]),
    )
