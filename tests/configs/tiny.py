"""The tests' tiny run: `config.base_config()` on the synthetic task, width 8, 64 + 64 points of
dimension 8, alpha*sqrt(h) = 1, 400 steps, kernel tracking (tested elsewhere) off.

    python -m launch.train --config=tests/configs/tiny.py --workdir=/tmp/tiny

The training takes about a second on a CPU, the command about 6 s with TensorFlow's start-up. The
tests build on it through `conftest.tiny_config`; `tiny_sweep.py` sweeps it.
"""

from lazyfeat_tf.config import base_config


def get_config():
    config = base_config()
    config.alpha_sqrt_h = 1.0
    config.data.name = "synthetic"
    config.data.source = "synthetic"
    config.data.dim = 8
    config.data.n_train = 64
    config.data.n_test = 64
    config.model.width = 8
    config.model.depth = 3
    config.dynamics.max_steps = 400
    config.dynamics.num_records = 20
    config.checkpoint_every_secs = 0.0
    config.kernels.track = False
    return config
