"""Article, figure "test error" (a): test error vs the width h at four alpha*sqrt(h), and the frozen-Theta_0 predictor.

Setup A (FC, L = 3, Softplus beta = 5, no bias, soft hinge b = 20, plain gradient flow until every
training margin reaches 1), Fashion-MNIST parity, float64, at alpha*sqrt(h) = 1e-4, 1e-2 (feature),
1 and 1e4 (lazy), with the frozen-Theta_0 predictor (the linear model on the initial kernel, trained
the same way: `init_kernel_test_error`). The article (P = 10,000, 16 widths from 10 to 1390, 10
seeds) finds the error falling from about 4.5% at h = 10 to about 2.7% at h = 1390, the feature
curves (1e-4, 1e-2) under the lazy one (1e4) below h of about 300 and crossing it above.

Scales (append to the file name):
- `:reduced` (default): P = 1000, 2000 test points, h = 10, 20, 40, 80, 160, one seed: 20 runs.
- `:article`: P = 10,000 and 50,000 test points, the 16 widths 10, 14, ..., 1000, 1390, 10 seeds:
  640 runs, out of reach of a CPU (the frozen-kernel predictors hold the [50,000, 10,000] test
  kernel).

    python -m launch.sweep --config=configs/article/test_error_vs_h.py --workdir=runs/article/test_error_vs_h \
        --workers=1 --threads=1
    python -m launch.report --workdir=runs/article/test_error_vs_h

Measured here (reduced): 32.5 min of wall time for the 20 runs (1 worker x 1 thread on the shared
2-core CPU, load average 8-10; 34-412 s each, h = 160 at 1e-4 the longest), all converged. Test
error from h = 10 to 160: 4.8% -> 4.4% at 1e-4, 4.9% -> 4.2% at 1e4, the lazy net equal to the
frozen-Theta_0 predictor at every width; the 1e-4 curve under the lazy one up to h = 80 and
above it at h = 160 (one seed, 2000 test points: +- 0.45% per point; docs/article/fc.md).
"""

from lazyfeat_tf import sweep
from lazyfeat_tf.config import setup_a_config
from lazyfeat_tf.config.scales import pick

FIGURES = ("test_error_vs_h",)
SCALES = ("reduced", "article")
ALPHA_SQRT_H = (1e-4, 1e-2, 1.0, 1e4)  # the article's four curves


def get_config(scale="reduced"):
    config = setup_a_config()
    config.alpha_sqrt_h = 1.0  # swept
    config.data.n_train, config.data.n_test = pick(scale, reduced=(1000, 2000), article=(10_000, 50_000))
    config.dtype = "float64"  # float32 needs thousands more steps at alpha*sqrt(h) = 1e4
    config.dynamics.max_steps = pick(scale, reduced=100_000, article=1_000_000)
    config.dynamics.num_records = 40
    config.kernels.predictors = True  # the frozen-Theta_0 predictor is the figure's fifth curve
    return config


def get_sweep(scale="reduced"):
    widths, seeds = pick(
        scale,
        reduced=((10, 20, 40, 80, 160), (0,)),
        article=(tuple(round(10 * 139 ** (k / 15)) for k in range(16)), tuple(range(10))),  # 10 ... 1390
    )
    return sweep.product(sweep.axis("seed", seeds), sweep.axis("model.width", widths),
                         sweep.axis("alpha_sqrt_h", ALPHA_SQRT_H))
