"""DRAFT"""

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
