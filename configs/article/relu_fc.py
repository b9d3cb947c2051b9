"""DRAFT"""

from lazyfeat_tf import sweep
from lazyfeat_tf.config import setup_a_config
from lazyfeat_tf.config.scales import pick

FIGURES = ("test_error_vs_alpha", "time_dynamics")
SCALES = ("reduced", "article")


def get_config(scale="reduced"):
    config = setup_a_config()
    config.alpha_sqrt_h = 1.0  # swept
    config.model.activation = "relu"
    config.data.name, config.data.source = pick(scale, reduced=("fashion_mnist", "idx"), article=("mnist", "tfds"))
    config.data.path = pick(scale, reduced=config.data.path, article="")
    config.data.n_train, config.data.n_test = pick(scale, reduced=(1000, 1000), article=(5000, 50_000))
    config.dtype = "float64"
    config.dynamics.max_steps = pick(scale, reduced=100_000, article=1_000_000)
    config.dynamics.num_records = 80
    config.kernels.predictors = False
    return config


def get_sweep(scale="reduced"):
    widths, ash, seeds = pick(
        scale,
        reduced=((64,), tuple(10.0 ** k for k in range(-3, 6)), (0, 1)),
        article=((100, 300, 1000), tuple(float(f"{10 ** (k / 2):.4g}") for k in range(-8, 15)), tuple(range(10))),
    )
    return sweep.product(sweep.axis("seed", seeds), sweep.axis("model.width", widths),
                         sweep.axis("alpha_sqrt_h", ash))
