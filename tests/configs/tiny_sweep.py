"""The tests' sweep: the tiny run of `tiny.py` at 2 widths x 2 values of alpha*sqrt(h) = 4 runs, with
1000 steps and the kernel drift on 16 + 16 probes.

    python -m launch.sweep --config=tests/configs/tiny_sweep.py --workdir=/tmp/tiny_sweep

About 25 s on a 2-core CPU (2 workers x 1 thread).
"""

import os

from lazyfeat_tf import sweep

WIDTHS = (8, 16)
ALPHA_SQRT_H = (0.1, 10.0)


def get_config():
    config = sweep.load_config_module(os.path.join(os.path.dirname(__file__), "tiny.py")).get_config()
    config.dynamics.max_steps = 1000
    config.kernels.track = True
    config.kernels.n_probe_train = 16
    config.kernels.n_probe_test = 16
    return config


def get_sweep():
    return sweep.product(sweep.axis("model.width", WIDTHS), sweep.axis("alpha_sqrt_h", ALPHA_SQRT_H))
