"""DRAFT"""

from lazyfeat_tf import sweep
from lazyfeat_tf.config import setup_a_config
from lazyfeat_tf.config.scales import pick

FIGURES = ("var_vs_p",)
SCALES = ("reduced", "article")


def get_config(scale="reduced"):
    config = setup_a_config()
    config.alpha_sqrt_h = pick(scale, reduced=1000.0, article=1e4)  # the lazy regime
    config.data.n_test = pick(scale, reduced=2000, article=50_000)
    config.dtype = pick(scale, reduced="float32", article="float64")
    config.dynamics.max_steps = pick(scale, reduced=100_000, article=1_000_000)
    config.dynamics.num_records = 40
    config.kernels.track = False  # Var[F] over seeds needs the test outputs only
    config.kernels.predictors = False
    return config


def get_sweep(scale="reduced"):
    sizes, widths, seeds = pick(
        scale,
        reduced=((250, 500, 1000, 2000), (64,), (0, 1, 2, 3)),
        article=((250, 500, 1000, 2000, 4000), (100,), tuple(range(20))),
    )
    return sweep.product(sweep.axis("data.n_train", sizes), sweep.axis("seed", seeds),
                         sweep.axis("model.width", widths))
