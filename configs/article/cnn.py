"""Article (journal version), figure "other" (b): a Softplus CNN trained by Adam, feature vs lazy.

The CNN of setup B (2 blocks of 2 5x5 convolutions of h channels, global average pooling, the
alpha/sqrt(h) readout) with the normalized Softplus (beta = 5), the hinge loss, Adam on minibatches
of 32, run until every training margin reaches 1; Fashion-MNIST parity. In the article
(h = 50, 16 seeds) the feature regime (alpha*sqrt(h) << 1) has a lower test error than the lazy one
for this CNN, unlike the fully connected nets.

Adam's step is in weight space (about lr per parameter whatever the gradient's scale), and in the
lazy regime the weights move by about 1/(alpha sqrt h) of their norm: with `dynamics.step_crossover
= 1` its learning rate is 0.01 * min(1, 1 / alpha*sqrt(h)) (`lazyfeat_tf.stochastic.step_rule`),
so a lazy run stays lazy and takes a number of steps comparable to a feature run's. The article's Adam runs
elsewhere use lr = 1e-3; here 1e-3 left 28% of the training margins below 1 after 1000 steps at
alpha*sqrt(h) = 0.01 (P = 500, h = 32), while 0.01 converged in 3270-4575 steps at 0.01 and in
4905-6870 at 1000 (the reduced sweep). t counts Adam's steps times its learning rate, not a
gradient-flow time.

Figures regenerated: "test_error_vs_alpha" (test error vs alpha*sqrt(h)) and "feature_vs_lazy"
(the test errors of the feature and the lazy regime side by side).

Scales (append to the file name):
- `:reduced` (default): P = 500, 2000 test points, h = 16, float32, alpha*sqrt(h) = 0.01 (feature)
  and 1000 (lazy) with 4 seeds, 1 and 100 with 2 seeds: 12 runs. Kernel tracking on 64 + 64
  probes at 30 records; no whole-set kernel change and no frozen-kernel predictors (minutes each
  for the CNN here). Each run stops at 900 s of training at most.
- `:article`: the article's sizes: P = 10,000, 50,000 test points, h = 50, 16 seeds, float64, full
  kernel measurements; alpha*sqrt(h) = 1e-4 ... 1e7 in decades (the range of the article's
  protocol; ARTICLE.md does not record this panel's grid): 192 runs.

    python -m launch.sweep --config=configs/article/cnn.py --workdir=runs/cnn --workers=1 --threads=1
    python -m launch.sweep --config=configs/article/cnn.py:article --workdir=runs/cnn_article
    python -m launch.report --workdir=runs/cnn

Measured here (docs/article/cnn.md, shared 2-core CPU, load 5.5-10, beside the setup_b sweep):
the 12 reduced runs took 39 min (a run 0.5-5.6 min); all converged. Feature 4.55% vs lazy 5.00% test
error (4 seeds each; lazy - feature = +0.45 pp, Welch 95% CI -0.54 to +1.44 pp).
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
    config.model.width = pick(scale, reduced=16, article=50)
    config.model.activation = "softplus"
    config.model.softplus_beta = 5.0
    config.loss.name = "hinge"
    config.data.name = "fashion_mnist"
    config.data.n_train, config.data.n_test = pick(scale, reduced=(500, 2000), article=(10_000, 50_000))
    config.dtype = pick(scale, reduced="float32", article="float64")
    config.dynamics.kind = "adam"
    config.dynamics.learning_rate = 0.01  # at alpha*sqrt(h) <= step_crossover
    config.dynamics.batch_size = 32
    config.dynamics.step_crossover = 1.0
    config.dynamics.max_steps = pick(scale, reduced=20_000, article=200_000)
    config.dynamics.max_wall_time = pick(scale, reduced=900.0, article=0.0)
    config.dynamics.num_records = pick(scale, reduced=30, article=80)
    config.kernels.n_probe_train = config.kernels.n_probe_test = pick(scale, reduced=64, article=128)
    config.kernels.full_drift = pick(scale, reduced=False, article=True)
    config.kernels.predictors = pick(scale, reduced=False, article=True)
    return config


def get_sweep(scale="reduced"):
    return pick(
        scale,
        # the two regimes with 4 seeds, then two points between with 2 seeds
        reduced=sweep.chain(
            sweep.product(sweep.axis("seed", range(4)), sweep.axis("alpha_sqrt_h", (0.01, 1000.0))),
            sweep.product(sweep.axis("seed", range(2)), sweep.axis("alpha_sqrt_h", (1.0, 100.0)))),
        article=sweep.product(sweep.axis("seed", range(16)),
                              sweep.axis("alpha_sqrt_h", decades(-4, 7))),
    )
