"""Article, figure "other" (a): setup A on 10 principal components: test error vs alpha*sqrt(h).

Setup A (FC, L = 3, Softplus beta = 5, no bias, soft hinge b = 20, plain gradient flow until every
training margin reaches 1) on images reduced to their first 10 principal components
(`data.pca=10`, not whitened: a rotation and one common scale, so that the mean of ||x||^2 over
the training points is 10). The article uses MNIST 10-PCA (in arXiv v1, with P = 5000, the
feature regime won for the FC net by a margin that shrinks with h).

MNIST is read through tensorflow-datasets (`data.source="tfds"`), which cannot download here: the
`:reduced` scale uses Fashion-MNIST parity 10-PCA from Debian's IDX files instead.

Scales (append to the file name):
- `:reduced` (default): Fashion-MNIST 10-PCA, P = 1000, 5000 test points, h = 64, alpha*sqrt(h) =
  1e-3 ... 1e3 in decades, 2 seeds, float32: 14 runs.
- `:article`: MNIST 10-PCA (tfds), P = 10,000, 50,000 test points, h = 100, 300, 1000,
  alpha*sqrt(h) = 1e-4 ... 1e7 in half decades, 10 seeds, float64: 690 runs, out of reach of a CPU.

    python -m launch.sweep --config=configs/article/pca.py --workdir=runs/article/pca --workers=1 --threads=1
    python -m launch.report --workdir=runs/article/pca

Measured here (reduced): 12 min 55 s for the 14 runs, 13 converged (a lazy-end float32 run at
alpha*sqrt(h) = 1000 stopped at the step budget). Feature end 5.46-5.50%, lazy end 5.62-5.64%, best
5.30% at alpha*sqrt(h) = 1 (means of 2 seeds): the article's direction, not resolved by 2 seeds
(docs/article/fc.md).
"""

from lazyfeat_tf import sweep
from lazyfeat_tf.config import setup_a_config
from lazyfeat_tf.config.scales import decades, half_decades, pick, standard_sizes

FIGURES = ("test_error_vs_alpha",)
SCALES = ("reduced", "article")


def get_config(scale="reduced"):
    config = setup_a_config()
    config.alpha_sqrt_h = 1.0  # swept
    config.data.name, config.data.source = pick(scale, reduced=("fashion_mnist", "idx"), article=("mnist", "tfds"))
    config.data.path = pick(scale, reduced=config.data.path, article="")
    config.data.pca = 10
    standard_sizes(config, scale)
    config.dynamics.num_records = 40
    config.kernels.predictors = False
    return config


def get_sweep(scale="reduced"):
    widths, ash, seeds = pick(
        scale,
        reduced=((64,), decades(-3, 3), (0, 1)),
        article=((100, 300, 1000), half_decades(-4, 7), tuple(range(10))),
    )
    return sweep.seeds_widths_ash(seeds, widths, ash)
