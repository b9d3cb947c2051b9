"""Article, figure "time dynamics": kernel change, alpha^2 L(t), t1 and ||F_t - F_0|| vs alpha*sqrt(h).

Setup A (FC, L = 3, Softplus beta = 5, no bias, soft hinge b = 20, plain gradient flow until every
training margin reaches 1), Fashion-MNIST parity, float64. The article (P = 10,000) finds:
(a) the kernel change ||Theta_T - Theta_0|| / ||Theta_0|| falls as (alpha sqrt(h))^(-a) with a of
about 4/3 in the feature regime and 1 in the lazy regime (fitted over alpha*sqrt(h) of about
1e3 ... 1e7), and crosses 1 near alpha*sqrt(h) of 10-100; (b) alpha^2 L(t) curves collapse against
t / (alpha sqrt(h)) in the feature regime; (c) t1 / (alpha sqrt(h)) is flat (about 3) in the feature
regime and falls with slope -1 in the lazy regime. The records of every run hold alpha^2 L(t) and
||F_t - F_0|| (metrics.jsonl); results.json the final kernel change on the whole test set and t1.

Scales (append to the file name):
- `:reduced` (default): P = 1000, 1000 test points (the kernel change on all of them), h = 64,
  alpha*sqrt(h) = 1e-3 ... 1e5 in decades, 2 seeds, float64 (float32 round-off shows in the lazy
  drift at large alpha*sqrt(h)): 18 runs. One width: pooled widths steepen the lazy slope (h = 16
  sits off the others' drift curve). Fit the lazy exponent on the asymptotic range from 1e3 up
  (at 100 the second-order term still steepens it) and the feature one up to 0.1:
  `--lazy_min=1000 --feature_max=0.1`.
- `:article`: P = 10,000 and 50,000 test points, h = 100, 300, 1000, alpha*sqrt(h) = 1e-4 ... 1e7
  in half decades, 10 seeds, float64: 690 runs, out of reach of a CPU.

    python -m launch.sweep --config=configs/article/time_dynamics.py --workdir=runs/article/time_dynamics \
        --workers=1 --threads=1
    python -m launch.report --workdir=runs/article/time_dynamics --lazy_min=1000 --feature_max=0.1

Measured here (reduced): 30 min of wall time for the 18 runs (1 worker x 1 thread on the shared
2-core CPU, load average 7-10; the runs' own wall times add up to 29.5 min, 44-184 s each), all
converged. Kernel-change exponents: lazy (alpha*sqrt(h) >= 1000) -0.997 [-1.033, -0.959], feature
(<= 0.1) -1.534 [-1.655, -1.410]; t1 / (alpha sqrt(h)) slope -0.03 (feature) and -1.000 (lazy)
(docs/article/fc.md).
"""

from lazyfeat_tf import sweep
from lazyfeat_tf.config import setup_a_config
from lazyfeat_tf.config.scales import decades, half_decades, pick

FIGURES = ("time_dynamics",)
SCALES = ("reduced", "article")



def get_config(scale="reduced"):
    config = setup_a_config()
    config.alpha_sqrt_h = 1.0  # swept
    config.dtype = "float64"
    config.data.n_train, config.data.n_test = pick(scale, reduced=(1000, 1000), article=(10_000, 50_000))
    config.dynamics.max_steps = pick(scale, reduced=100_000, article=1_000_000)
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
