"""DRAFT"""

from lazyfeat_tf import sweep
from lazyfeat_tf.config import setup_a_config
from lazyfeat_tf.config.scales import pick

FIGURES = ("alphaf",)
SCALES = ("reduced", "article")


def get_config(scale="reduced"):
    config = setup_a_config()
    config.alpha_sqrt_h = 1.0  # swept
    config.data.n_train, config.data.n_test = pick(scale, reduced=(1000, 5000), article=(10_000, 50_000))
    config.dtype = pick(scale, reduced="float32", article="float64")
    config.dynamics.max_steps = pick(scale, reduced=100_000, article=1_000_000)
    config.dynamics.num_records = 40
    config.kernels.predictors = False
    return config


def get_sweep(scale="reduced"):
    widths, ash, seeds = pick(
        scale,
        reduced=((100,), tuple(10.0 ** k for k in range(-3, 4)), (0, 1)),
        article=((100, 1000), tuple(float(f"{10 ** (k / 2):.4g}") for k in range(-8, 15)), tuple(range(10))),
    )
    return sweep.product(sweep.axis("model.centered", (True, False)), sweep.axis("seed", seeds),
                         sweep.axis("model.width", widths), sweep.axis("alpha_sqrt_h", ash))
