"""DRAFT"""

from lazyfeat_tf import sweep
from lazyfeat_tf.config import setup_a_config
from lazyfeat_tf.config.scales import pick

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
                 tuple(10.0 ** k for k in range(-4, 8)), tuple(range(20))),
    )
    return sweep.product(sweep.axis("seed", seeds), sweep.axis("model.width", widths),
                         sweep.axis("alpha_sqrt_h", ash))
