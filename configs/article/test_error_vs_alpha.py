"""Article, figure "test error" (b) and (c): test error vs alpha per width, and vs alpha*sqrt(h).

Setup A (FC, L = 3, Softplus beta = 5, no bias, soft hinge b = 20, plain gradient flow until every
training margin reaches 1) on Fashion-MNIST parity. In the article each width's curve has a peak
near alpha*sqrt(h) = 1-10 and the curves collapse when plotted against alpha*sqrt(h) (read off its
figure: h = 100 spans about 3.05-3.45% test error, h = 300 about 2.9-3.15%, h = 1000 about
2.7-3.0%).

Scales (append to the file name):
- `:reduced` (default): P = 1000, 5000 test points, h = 25, 50, 100, alpha*sqrt(h) = 1e-3 ... 1e3
  in decades, 2 seeds, float32: 42 runs.
- `:protocol`: the article's protocol where this machine allows it: P = 10,000 and 50,000 test
  points (as the article), h = 100, alpha*sqrt(h) = 1e-3 ... 1e4 in half decades (whole decades
  first), 2 seeds, float64 at the lazy end (alpha*sqrt(h) >= 1000) and float32 below, the kernel
  change on the whole test set: 30 runs, many hours on a 2-core CPU (about 6 float64 steps/s on one
  thread): run it in the background; the same command resumes it.
- `:article`: the article's sizes: P = 10,000, h = 100, 300, 1000, alpha*sqrt(h) = 1e-4 ... 1e7 in
  half decades, 10 seeds, float64: 690 runs, out of reach of a CPU.

    python -m launch.sweep --config=configs/article/test_error_vs_alpha.py --workdir=runs/error_vs_alpha
    python -m launch.sweep --config=configs/article/test_error_vs_alpha.py:protocol \
        --workdir=runs/error_vs_alpha_protocol --workers=1
    python -m launch.report --workdir=runs/error_vs_alpha

Measured here (1 worker x 1 thread on the shared 2-core CPU, load average 5-10): `:reduced` 54 min
for the 42 runs, all converged (27-150 s each); `:protocol` 66 min for its first run
(alpha*sqrt(h) = 1e-3, float32: 12,862 steps in 33 min, then 33 min for the whole-set kernels),
so about 30 hours for the 30 runs at that load (docs/REPRODUCTION.md).
"""

from lazyfeat_tf import sweep
from lazyfeat_tf.config import setup_a_config
from lazyfeat_tf.config.scales import decades, half_decades, pick

FIGURES = ("test_error_vs_alpha",)
SCALES = ("reduced", "protocol", "article")



def get_config(scale="reduced"):
    config = setup_a_config()
    config.alpha_sqrt_h = 1.0  # swept
    config.data.n_train, config.data.n_test = pick(scale, reduced=(1000, 5000), protocol=(10_000, 50_000),
                                                   article=(10_000, 50_000))
    config.dtype = pick(scale, reduced="float32", protocol="float64", article="float64")  # protocol: per point
    config.dynamics.max_steps = pick(scale, reduced=100_000, protocol=1_000_000, article=1_000_000)
    config.dynamics.num_records = 80
    # The frozen-kernel predictors hold the [P, P] train kernel (800 MB in float64 at P = 10,000) and
    # read all of it at every step of their flows; this figure does not draw them.
    config.kernels.predictors = scale == "reduced"
    return config


def _protocol_points():
    """P = 10,000, h = 100: whole decades first (both seeds), then the half decades between, so
    that a sweep stopped early has the whole range; float64 from alpha*sqrt(h) = 1000 up, where
    float32 cannot resolve f - f0 (about 1/alpha of f), float32 below (2.5x faster here)."""
    points = []
    for ash_values in (half_decades(-3, 4)[::2], half_decades(-3, 4)[1::2]):
        for seed in (0, 1):
            points += [{"seed": seed, "model.width": 100, "alpha_sqrt_h": x,
                        "dtype": "float64" if x >= 1000 else "float32"} for x in ash_values]
    return points


def get_sweep(scale="reduced"):
    return pick(scale,
                reduced=sweep.seeds_widths_ash((0, 1), (25, 50, 100), decades(-3, 3)),
                protocol=_protocol_points(),
                article=sweep.seeds_widths_ash(tuple(range(10)), (100, 300, 1000), half_decades(-4, 7)))
