"""Setup B of the article: CNN (2 blocks of 2 5x5 convolutions, width h), ReLU, SGD with momentum.

    python -m launch.train --config=configs/cnn_relu.py --workdir=runs/cnn --config.alpha_sqrt_h=1.0

At the defaults (h = 32, n_train = 1000, batch 32) about 5-10 minutes on a 2-core CPU; for Adam
add --config.dynamics.kind=adam --config.dynamics.learning_rate=0.001.
"""

from lazyfeat_tf.config import base_config


def get_config():
    config = base_config()
    config.model.kind = "cnn"
    config.model.width = 32
    config.model.activation = "relu"
    config.data.name = "fashion_mnist"
    config.data.n_train = 1000
    config.data.n_test = 1000
    config.dynamics.kind = "sgd"
    config.dynamics.learning_rate = 0.1
    config.dynamics.momentum = 0.9
    config.dynamics.batch_size = 32
    config.dynamics.max_steps = 20_000
    return config
