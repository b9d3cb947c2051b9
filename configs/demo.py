"""Fast demo: setup A on real Fashion-MNIST parity, small enough for a laptop.

    python -m launch.train --config=configs/demo.py --workdir=runs/demo --config.alpha_sqrt_h=0.01

About 10 s per run on a 2-core CPU. `python -m launch.demo --workdir=runs/demo` trains it at
alpha_sqrt_h = 0.01 (feature) and 100 (lazy) and prints the comparison (about 30 s).
"""

from lazyfeat_tf.config import setup_a_config


def get_config():
    config = setup_a_config()
    config.data.n_test = 1000
    config.dynamics.max_steps = 50_000
    config.dynamics.num_records = 60
    return config
