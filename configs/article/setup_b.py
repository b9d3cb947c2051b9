"""Article (arXiv v1), setup B: a ReLU CNN trained by minibatch SGD with momentum, feature vs lazy.

Setup B of arXiv:1906.08034v1: the CNN of `configs/cnn_relu.py` (2 blocks of 2 5x5 convolutions of
h channels, ReLU, global average pooling, the alpha/sqrt(h) readout), soft hinge (b = 20), SGD
with momentum 0.9 on minibatches of 32, run until every training margin reaches 1. The step follows
alpha*sqrt(h) (`dynamics.step_crossover = 300`: learning rate 6 * min(1, alpha*sqrt(h) / 300), a
time step of 10 lr in the article's units; see `lazyfeat_tf.stochastic.step_rule`). In v1 the
feature regime (alpha*sqrt(h) << 1) generalized better than the lazy one for this CNN, "very
significantly", unlike the fully connected setup A.

Figures regenerated: "test_error_vs_alpha" (test error vs alpha*sqrt(h)) and "feature_vs_lazy"
(the test errors of the feature and the lazy regime side by side).

Scales (append to the file name):
- `:reduced` (default): Fashion-MNIST parity, P = 1000, 2000 test points, h = 32, float32,
  alpha*sqrt(h) = 0.01 (feature) and 1000 (lazy) with 4 seeds, 1 and 100 with 2 seeds: 12 runs.
  Kernel tracking on 64 + 64 probes at 30 records; no whole-set kernel change and no frozen-kernel
  predictors (the CNN's kernels on whole sets cost minutes each here). Each run stops at 900 s of
  training at most.
- `:article`: v1's data set, MNIST parity (through tfds), with P = 5000 (v1's P for setup A),
  10,000 test points, float64, full kernel measurements; h = 32, 64, 128, 256, alpha*sqrt(h) =
  1e-3 ... 1e4 in decades and 10 seeds are choices made here (ARTICLE.md does not record v1's CNN
  widths, grid or seeds): 320 runs.

    python -m launch.sweep --config=configs/article/setup_b.py --workdir=runs/setup_b --workers=1 --threads=1
    python -m launch.sweep --config=configs/article/setup_b.py:article --workdir=runs/setup_b_article
    python -m launch.report --workdir=runs/setup_b

Measured here (docs/article/cnn.md, shared 2-core CPU, load 5.5-10, beside the cnn sweep): the
12 reduced runs took 43 min (a run 2-5.4 min); all converged. Feature 4.58% vs lazy 5.29% test
error (4 seeds each; lazy - feature = +0.71 pp, Welch 95% CI +0.31 to +1.12 pp).
"""

from lazyfeat_tf import sweep
from lazyfeat_tf.config import base_config
from lazyfeat_tf.config.scales import decades, pick

FIGURES = ("test_error_vs_alpha", "feature_vs_lazy")
SCALES = ("reduced", "article")


def get_config(scale="reduced"):
    config = base_config()
    config.alpha_sqrt_h = 1.0  # swept
    config.model.kind = "cnn"
    config.model.width = 32  # swept at :article
    config.model.activation = "relu"
    config.loss.name = "soft_hinge"
    config.data.name = pick(scale, reduced="fashion_mnist", article="mnist")
    config.data.source = pick(scale, reduced="idx", article="tfds")
    config.data.path = pick(scale, reduced="/usr/share/datasets/fashion-mnist", article="")
    config.data.n_train, config.data.n_test = pick(scale, reduced=(1000, 2000), article=(5000, 10_000))
    config.dtype = pick(scale, reduced="float32", article="float64")
    config.dynamics.kind = "sgd"
    config.dynamics.learning_rate = 6.0
    config.dynamics.momentum = 0.9
    config.dynamics.batch_size = 32
    config.dynamics.step_crossover = 300.0
    config.dynamics.max_steps = pick(scale, reduced=20_000, article=100_000)
    config.dynamics.max_wall_time = pick(scale, reduced=900.0, article=0.0)
    config.dynamics.num_records = pick(scale, reduced=30, article=80)
    config.kernels.n_probe_train = config.kernels.n_probe_test = pick(scale, reduced=64, article=128)
    config.kernels.full_drift = pick(scale, reduced=False, article=True)
    config.kernels.predictors = pick(scale, reduced=False, article=True)
    return config


def get_sweep(scale="reduced"):
    seeds, ash = sweep.axis("seed", range(10)), sweep.axis("alpha_sqrt_h", decades(-3, 4))
    return pick(
        scale,
        # the two regimes with 4 seeds, then two points between with 2 seeds
        reduced=sweep.chain(
            sweep.product(sweep.axis("seed", range(4)), sweep.axis("model.width", (32,)),
                          sweep.axis("alpha_sqrt_h", (0.01, 1000.0))),
            sweep.product(sweep.axis("seed", range(2)), sweep.axis("model.width", (32,)),
                          sweep.axis("alpha_sqrt_h", (1.0, 100.0)))),
        article=sweep.product(seeds, sweep.axis("model.width", (32, 64, 128, 256)), ash),
    )
