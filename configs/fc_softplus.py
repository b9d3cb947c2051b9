"""Setup A of the article: fully connected, Softplus, L = 3, full-batch gradient flow.

Real Fashion-MNIST parity (Debian IDX files), n_train = 1000, h = 64 by default:

    python -m launch.train --config=configs/fc_softplus.py --workdir=runs/fc \
        --config.alpha_sqrt_h=0.01

takes about 10-30 s on a 2-core CPU (the lazy end, alpha_sqrt_h = 100, about as long).
"""

from lazyfeat_tf.config import setup_a_config


def get_config():
    config = setup_a_config()
    config.data.n_test = 2000
    return config
