"""Article, appendix "FC-ReLU": setup A with ReLU: test error vs alpha*sqrt(h) and the time dynamics.

FC, L = 3, normalized ReLU (sqrt(2) relu), no bias, soft hinge b = 20, plain gradient flow until
every training margin reaches 1, float64. The article's appendix trains it on MNIST parity with
P = 5000 and shows the same panels as for Softplus: the test error vs alpha*sqrt(h), the kernel
change vs alpha*sqrt(h) (ReLU drift slopes), alpha^2 L(t), t1 and ||f_t - f_0|| vs t / t1.

MNIST is read through tensorflow-datasets (`data.source="tfds"`), which cannot download here: the
`:reduced` scale uses Fashion-MNIST parity from Debian's IDX files instead.

Scales (append to the file name):
- `:reduced` (default): Fashion-MNIST, P = 1000, 1000 test points (the kernel change on all of
  them), h = 64, alpha*sqrt(h) = 1e-3 ... 1e5 in decades, 2 seeds: 18 runs. Fit the lazy drift
  exponent from 1e3 up: `--lazy_min=1000 --feature_max=0.1`.
- `:article`: MNIST (tfds), P = 5000, 50,000 test points, h = 100, 300, 1000, alpha*sqrt(h) =
  1e-4 ... 1e7 in half decades, 10 seeds: 690 runs, out of reach of a CPU.

    python -m launch.sweep --config=configs/article/relu_fc.py --workdir=runs/article/relu_fc \
        --workers=1 --threads=1
    python -m launch.report --workdir=runs/article/relu_fc --lazy_min=1000 --feature_max=0.1

The gradient flow crosses the kinks of ReLU with `dynamics.cross_kinks` (lazyfeat_tf.dynamics, rule
4); without it the feature end stalls (measured before it: alpha*sqrt(h) = 1e-3 spent the 100,000-
step budget in 74 min at 23.7% test error; 1e-2 stopped moving at t = 0.027, dt ~ 1e-22).

Measured here (reduced, 2026-12-05, sharing 2 cores with another sweep): 18 / 18 runs converged in
7 min 30 s (14-41 s each). Test error (mean of 2 seeds): 4.30% at 1e-3, best 3.85% at 0.1, 5.25% at
1e5: the feature regime wins. Kernel change slopes -1.56 [-1.66, -1.44] (<= 0.1) and -0.94 [-1.34,
-0.61] (>= 1e3); t1 / (alpha sqrt h) = 2.96 in the feature regime, slope -1.00 in the lazy one.
Integrator check (the article's, max_dgrad 1e-6 vs 1e-4) at 1e-2, seed 0: t = 0.1471 / 0.1459 /
0.1465 and ||w - w0|| / ||w0|| = 0.4242 / 0.4240 / 0.4240 for max_dgrad = 1e-6 / 1e-5 / 1e-4, test
error 3.80% for all three.
"""

from lazyfeat_tf import sweep
from lazyfeat_tf.config import setup_a_config
from lazyfeat_tf.config.scales import decades, half_decades, pick

FIGURES = ("test_error_vs_alpha", "time_dynamics")
SCALES = ("reduced", "article")


def get_config(scale="reduced"):
    config = setup_a_config()
    config.alpha_sqrt_h = 1.0  # swept
    config.model.activation = "relu"
    config.data.name, config.data.source = pick(scale, reduced=("fashion_mnist", "idx"), article=("mnist", "tfds"))
    config.data.path = pick(scale, reduced=config.data.path, article="")
    config.data.n_train, config.data.n_test = pick(scale, reduced=(1000, 1000), article=(5000, 50_000))
    config.dtype = "float64"
    config.dynamics.max_steps = pick(scale, reduced=100_000, article=1_000_000)
    config.dynamics.cross_kinks = True  # without it the feature regime stalls at ReLU kinks
    config.dynamics.num_records = 80
    config.kernels.predictors = False
    return config


def get_sweep(scale="reduced"):
    widths, ash, seeds = pick(
        scale,
        reduced=((64,), decades(-3, 5), (0, 1)),
        article=((100, 300, 1000), half_decades(-4, 7), tuple(range(10))),
    )
    return sweep.seeds_widths_ash(seeds, widths, ash)
