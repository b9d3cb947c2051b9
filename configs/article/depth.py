"""Article, figure "other" (d): depth L = 3 against L = 9 hidden layers, test error vs alpha*sqrt(h).

Setup A (FC, Softplus beta = 5, no bias, soft hinge b = 20, plain gradient flow until every training
margin reaches 1), Fashion-MNIST parity, with `model.depth` 3 (the article's setup A) and 9. The
article compares the two test-error curves vs alpha*sqrt(h); deeper nets are expected to leave the
lazy regime with a feature-regime kernel-change exponent nearer 2 (DESIGN.md, finding 4).

Scales (append to the file name):
- `:reduced` (default): P = 1000, 5000 test points, h = 64, alpha*sqrt(h) = 1e-2 ... 1e3 in decades,
  2 seeds, float32: 24 runs. Not 1e-3: there L = 9 sits on a plateau (alpha^2 L about 0.51, 512 of
  1000 margins below 1 after 2900 steps, 90 s here), where L = 3 converges in about 5000 steps.
- `:article`: P = 10,000 and 50,000 test points, h = 100, alpha*sqrt(h) = 1e-4 ... 1e7 in half
  decades, 10 seeds, float64: 460 runs, out of reach of a CPU.

    python -m launch.sweep --config=configs/article/depth.py --workdir=runs/article/depth --workers=1 --threads=1
    python -m launch.report --workdir=runs/article/depth

The report draws the two depths as two families (config.json differs in model.depth).

Measured here (reduced; shared 2-core CPU at load 5-8, 1 worker x 1 thread): 24/24 converged, 88 min
of runs (L = 3: 11-21 s each; L = 9: 1-44 min, the longest at alpha*sqrt(h) = 1000, 87,408 steps).
L = 9 has a higher test error than L = 3 at every alpha*sqrt(h): 5.36% vs 4.52% at 0.01 (+0.84%,
95% CI 0.48-1.20), 6.14% vs 4.88% at 1000 (+1.26%, 1.12-1.40); kernel change slope on 0.01-0.1:
-1.69 [-1.97, -1.40] (L = 9) vs -1.49 [-1.55, -1.44] (L = 3). docs/article/figures/depth.png.
"""

from lazyfeat_tf import sweep
from lazyfeat_tf.config import setup_a_config
from lazyfeat_tf.config.scales import decades, half_decades, pick, standard_sizes

FIGURES = ("depth",)
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
        reduced=((64,), decades(-2, 3), (0, 1)),
        article=((100,), half_decades(-4, 7), tuple(range(10))),
    )
    return sweep.seeds_widths_ash(seeds, widths, ash, sweep.axis("model.depth", (3, 9)))
