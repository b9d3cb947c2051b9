"""Article, figure "alphaf": the centred output F = alpha (f - f0) against the plain F = alpha f.

Setup A (FC, L = 3, Softplus beta = 5, no bias, soft hinge b = 20, plain gradient flow until every
training margin reaches 1), Fashion-MNIST parity, with `model.centered` True (F = alpha (f - f0),
zero at initialization: the package's default) and False (F = alpha f, the authors' `--f0 0`).
Uncentred, F starts at alpha f0, of size alpha*sqrt(h) / sqrt(h) = alpha, which the training must
undo: the initial function's noise stays in the lazy regime's predictor. The article compares the
two test-error curves at h = 100 and 1000.

Scales (append to the file name):
- `:reduced` (default): P = 1000, 5000 test points, h = 100, alpha*sqrt(h) = 1e-3 ... 100 in
  decades, 2 seeds, float32: 24 runs. The uncentred runs stop at 100: at 1000 (alpha = 100) one
  had 72 training points with margins down to -64 after 7000 steps (4 min here), where the
  centred run needs about 2000 steps.
- `:article`: P = 10,000 and 50,000 test points, h = 100 and 1000, alpha*sqrt(h) = 1e-4 ... 1e7 in
  half decades, 10 seeds, float64: 920 runs, out of reach of a CPU.

    python -m launch.sweep --config=configs/article/alphaf.py --workdir=runs/article/alphaf \
        --workers=1 --threads=1
    python -m launch.report --workdir=runs/article/alphaf

The report draws the two variants as two families (config.json differs in model.centered).

Measured here (reduced): 13 min 38 s of wall time for the 24 runs (1 worker x 1 thread on the
shared 2-core CPU, load average 3-7; 17-48 s each), all converged. The two curves agree up to
alpha*sqrt(h) = 1 (4.5-4.7% test error) and part beyond: 5.38% (uncentred) vs 5.15% at 10, 7.49%
vs 5.12% at 100 (docs/article/fc.md).
"""

from lazyfeat_tf import sweep
from lazyfeat_tf.config import setup_a_config
from lazyfeat_tf.config.scales import decades, half_decades, pick, standard_sizes

FIGURES = ("alphaf",)
SCALES = ("reduced", "article")


def get_config(scale="reduced"):
    config = setup_a_config()
    config.alpha_sqrt_h = 1.0  # swept
    standard_sizes(config, scale)
    config.dynamics.num_records = 40
    config.kernels.predictors = False
    return config


def get_sweep(scale="reduced"):
    widths, ash, seeds = pick(
        scale,
        reduced=((100,), decades(-3, 2), (0, 1)),
        article=((100, 1000), half_decades(-4, 7), tuple(range(10))),
    )
    return sweep.seeds_widths_ash(seeds, widths, ash, sweep.axis("model.centered", (True, False)))
