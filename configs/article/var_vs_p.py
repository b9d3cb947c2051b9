"""Article, appendix "lazy Var vs P": fluctuations of the lazy-regime function over initializations vs P.

Setup A (FC, L = 3, Softplus beta = 5, no bias, soft hinge b = 20, plain gradient flow until every
training margin reaches 1), Fashion-MNIST parity, deep in the lazy regime (the network is then the
linear model on its random initial kernel Theta_0), the training-set size P = `data.n_train`
swept. Var[F] is the variance of the test output F(x) over seeds (the initialization; the data
seed is fixed, the training set of size P is the first P points of the same shuffled pool),
averaged over the test points. The article's appendix measures it for P = 250 ... 4000 (ARTICLE.md
records the range, not a number read off the figure).

Scales (append to the file name):
- `:reduced` (default): P = 250, 500, 1000, 2000, 2000 test points, h = 64, alpha*sqrt(h) = 1000,
  4 seeds, float32, no kernel measurements: 16 runs.
- `:article`: P = 250, 500, 1000, 2000, 4000, 50,000 test points, h = 100, alpha*sqrt(h) = 1e4,
  20 seeds, float64: 100 runs.

    python -m launch.sweep --config=configs/article/var_vs_p.py --workdir=runs/article/var_vs_p \
        --workers=1 --threads=1
    python -m launch.report --workdir=runs/article/var_vs_p

The report draws one family per P (config.json differs in data.n_train).

Measured here (reduced): 17 min 42 s for the 16 runs, all converged (training error 0, 1122-9285
steps, 14-254 s each, on a shared 2-core CPU). Var[F] = 0.345, 0.429, 0.550, 0.601 at P = 250, 500,
1000, 2000: it grows with P, Var[F] ~ P^0.28, 95% CI [0.00, 0.58] (the report's bootstrap over the
seeds at each P). Test error (mean +- sd of 4 seeds) 6.30 +- 0.24%, 5.04 +- 0.26%, 4.98 +- 0.42%,
4.31 +- 0.31%. The authors' notebook (plots.ipynb, "Appendix Variance Lazy size of dataset") plots
Var[F] / sqrt(P) vs h for P = 500 ... 4000 at alpha*sqrt(h) = 1e6, assuming Var[F] ~ P^(1/2): the
same direction, a smaller exponent here, which the CI still holds (docs/article/fc.md,
docs/REPRODUCTION.md).
"""

from lazyfeat_tf import sweep
from lazyfeat_tf.config import setup_a_config
from lazyfeat_tf.config.scales import pick

FIGURES = ("var_vs_p",)
SCALES = ("reduced", "article")


def get_config(scale="reduced"):
    config = setup_a_config()
    config.alpha_sqrt_h = pick(scale, reduced=1000.0, article=1e4)  # the lazy regime
    config.data.n_test = pick(scale, reduced=2000, article=50_000)
    config.dtype = pick(scale, reduced="float32", article="float64")
    config.dynamics.max_steps = pick(scale, reduced=100_000, article=1_000_000)
    config.dynamics.num_records = 40
    config.kernels.track = False  # Var[F] over seeds needs the test outputs only
    config.kernels.predictors = False
    return config


def get_sweep(scale="reduced"):
    sizes, widths, seeds = pick(
        scale,
        reduced=((250, 500, 1000, 2000), (64,), (0, 1, 2, 3)),
        article=((250, 500, 1000, 2000, 4000), (100,), tuple(range(20))),
    )
    return sweep.product(sweep.axis("data.n_train", sizes), sweep.axis("seed", seeds),
                         sweep.axis("model.width", widths))
