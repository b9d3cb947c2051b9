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

Cost at these defaults (h = 32, P = 1000, 1000 test points, full kernel tracking), measured with
both commands above running at once on the shared 2-core CPU (load average 7-9, float32):
- alpha*sqrt(h) = 0.01: converged after 1302 steps (t = 2.6, t1 = 0.14), 208 s of training
  (3.5 min for the command), ||w - w0|| / ||w0|| = 1.23, test error 5.3%;
- alpha*sqrt(h) = 100: converged after 2573 steps (t = 5.1e4, t1 = 200), 245 s (4.1 min),
  ||w - w0|| / ||w0|| = 0.012, kernel change 0.09, test error 4.3%.
About 90 s of each is kernel measurement (Theta_0 and Theta_T on the whole sets, 43 s at the
start and about 50 s at the end); --config.kernels.track=False skips it.

For Adam, the rule of configs/article/cnn.py (learning rate 0.01 * min(1, 1 / alpha*sqrt(h)),
measured there with Softplus and the hinge loss): --config.dynamics.kind=adam
--config.dynamics.learning_rate=0.01 --config.dynamics.step_crossover=1.0.
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
