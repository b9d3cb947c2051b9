"""Article, figure "var / ensembles": fluctuations of the trained function over initializations vs h.

Setup A (FC, L = 3, Softplus beta = 5, no bias, soft hinge b = 20, plain gradient flow until every
training margin reaches 1), Fashion-MNIST parity with P = 1000 training points at both scales, as
the article's fluctuation runs. Var[F] is the variance of the test output F(x) over seeds (the
initialization; the data are the same), averaged over the test points. The article (h = 27 ... 5170,
20 seeds) finds Var[F] ~ 1/h (h Var[F] flat in h, delta F ~ h^(-1/2)) at every alpha*sqrt(h), and
ensemble averages of the seeds' outputs reaching about 2.4% test error.

Scales (append to the file name):
- `:reduced` (default): 2000 test points, h = 16, 32, 64, 128, alpha*sqrt(h) = 0.01, 1, 100, 4 seeds,
  float32, no kernel measurements (the figure needs the test outputs only): 48 runs.
- `:article`: 50,000 test points, the 9 widths 27, 52, 100, ..., 2681, 5170 (geometric),
  alpha*sqrt(h) = 1e-4 ... 1e7 in decades, 20 seeds, float64: 2160 runs, out of reach of a CPU.

    python -m launch.sweep --config=configs/article/fluctuations_vs_h.py \
        --workdir=runs/article/fluctuations_vs_h --workers=1 --threads=1
    python -m launch.report --workdir=runs/article/fluctuations_vs_h

Measured here (reduced): 17 min 54 s of wall time for the 48 runs (1 worker x 1 thread on the
shared 2-core CPU, load average 5-10; 6-51 s each), all converged. delta F ~ h^slope with slope
-0.40 [-0.72, -0.10] at alpha*sqrt(h) = 0.01, -0.59 [-0.77, -0.33] at 1 and -0.62 [-0.78, -0.45]
at 100 (docs/article/fc.md).
"""

from lazyfeat_tf import sweep
from lazyfeat_tf.config import setup_a_config
from lazyfeat_tf.config.scales import decades, pick

FIGURES = ("fluctuations_vs_h",)
SCALES = ("reduced", "article")


def get_config(scale="reduced"):
    config = setup_a_config()
    config.alpha_sqrt_h = 1.0  # swept
    config.data.n_train = 1000  # P = 1000 at both scales, as the article's fluctuation runs
    config.data.n_test = pick(scale, reduced=2000, article=50_000)
    config.dtype = pick(scale, reduced="float32", article="float64")
    config.dynamics.max_steps = pick(scale, reduced=100_000, article=1_000_000)
    config.dynamics.num_records = 40
    config.kernels.track = False  # Var[F] over seeds needs the test outputs only
    config.kernels.predictors = False
    return config


def get_sweep(scale="reduced"):
    widths, ash, seeds = pick(
        scale,
        reduced=((16, 32, 64, 128), (0.01, 1.0, 100.0), (0, 1, 2, 3)),
        article=(tuple(round(27 * (5170 / 27) ** (k / 8)) for k in range(9)),  # 27, 52, ..., 5170
                 decades(-4, 7), tuple(range(20))),
    )
    return sweep.seeds_widths_ash(seeds, widths, ash)
