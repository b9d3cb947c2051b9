"""DRAFT"""

from lazyfeat_tf import sweep
from lazyfeat_tf.config import setup_a_config
from lazyfeat_tf.config.scales import pick

FIGURES = ("test_error_vs_h",)
SCALES = ("reduced", "article")
ALPHA_SQRT_H = (1e-4, 1e-2, 1.0, 1e4)  # the article's four curves


def get_config(scale="reduced"):
    config = setup_a_config()
    config.alpha_sqrt_h = 1.0  # swept
    config.data.n_train, config.data.n_test = pick(scale, reduced=(1000, 5000), article=(10_000, 50_000))
    config.dtype = "float64"
    config.dynamics.max_steps = pick(scale, reduced=100_000, article=1_000_000)
    config.dynamics.num_records = 40
    config.kernels.predictors = True  # the frozen-Theta_0 predictor is the figure's fifth curve
    return config


def get_sweep(scale="reduced"):
    widths, seeds = pick(
        scale,
        reduced=((10, 20, 40, 80, 160), (0, 1)),
        article=(tuple(round(10 * 139 ** (k / 15)) for k in range(16)), tuple(range(10))),  # 10 ... 1390
    )
    return sweep.product(sweep.axis("seed", seeds), sweep.axis("model.width", widths),
                         sweep.axis("alpha_sqrt_h", ALPHA_SQRT_H))
