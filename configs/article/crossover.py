"""The crossover alpha*(h) between the lazy and the feature regime, setup A (article finding (i): alpha* ~ 1/sqrt(h)).

Setup A (FC, L = 3, Softplus beta = 5, no bias, soft hinge b = 20, plain gradient flow until every
training margin reaches 1), Fashion-MNIST parity. `python -m launch.crossover` bisects, for every
width, on alpha*sqrt(h) for where the seed mean of log10(final kernel change) crosses 1, then fits
alpha* ~ h^b with a bootstrap over seeds (lazyfeat_tf/sweep/crossover.py, docs/CROSSOVER.md). The
article: b = -1/2, the kernel change crossing 1 near alpha*sqrt(h) of 10-100 (P = 10,000). It draws
its own figure (DIR/crossover.png), so FIGURES is empty.

Scales (append to the file name):
- `:reduced` (default): exactly configs/crossover_fc.py: P = 1000, 1000 test points, float32,
  h = 32, 64, 128, 256, 3 seeds, the kernel change on the 128 test probes, bracket [1, 300] to
  0.1 decade. Measured (docs/CROSSOVER.md): 84 runs in 35 min on this 2-core CPU (2 workers x 1
  thread, shared), b = -0.512 [-0.556, -0.471]; alpha*sqrt(h) at the crossing 16-19.4.
- `:article`: P = 10,000 and 50,000 test points, float64, h = 100, 178, 316, 562, 1000 (quarter
  decades), 10 seeds, the article's kernel change on the whole test set, bracket [1, 1000] to 0.1
  decade: 5 widths x 10 seeds x 7 points (the ends, 5 midpoints) = 350 runs, out of reach of a CPU.

    python -m launch.crossover --config=configs/article/crossover.py --workdir=runs/article/crossover
    python -m launch.crossover --config=configs/article/crossover.py:article --workdir=runs/article/crossover_article
"""

from lazyfeat_tf import sweep
from lazyfeat_tf.config import setup_a_config
from lazyfeat_tf.config.scales import pick

FIGURES = ()  # launch.crossover draws its own figure (DIR/crossover.png)
SCALES = ("reduced", "article")


def get_config(scale="reduced"):
    config = setup_a_config()
    config.alpha_sqrt_h = 1.0  # set by the search
    config.data.n_train, config.data.n_test = pick(scale, reduced=(1000, 1000), article=(10_000, 50_000))
    config.dtype = pick(scale, reduced="float32", article="float64")
    config.dynamics.max_steps = pick(scale, reduced=100_000, article=1_000_000)
    config.dynamics.num_records = 30
    config.kernels.predictors = False  # not needed for the drift
    return config


def get_sweep(scale="reduced"):  # the widths and seeds; the search sets alpha
    widths, seeds = pick(scale, reduced=((32, 64, 128, 256), (0, 1, 2)),
                         article=((100, 178, 316, 562, 1000), tuple(range(10))))
    return sweep.product(sweep.axis("model.width", widths), sweep.axis("seed", seeds))


def get_crossover(scale="reduced"):  # lazyfeat_tf.sweep.crossover.Search fields (flags override them)
    return pick(scale,
                reduced={"observable": "kernel_drift_test", "bracket": (1.0, 300.0), "tolerance": 0.1},
                article={"observable": "kernel_drift_test_full", "bracket": (1.0, 1000.0), "tolerance": 0.1})
