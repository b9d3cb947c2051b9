"""Scales of the article configs (`configs/article/`): one config file, several sizes.

`--config=configs/article/<name>.py:article` passes "article" to the file's `get_config` and
`get_sweep` (ml_collections config files take the text after the colon as their argument);
without it the scale is "reduced": sizes that run on a 2-core CPU in minutes to an hour. A file
may declare more scales (e.g. "protocol", the article's protocol at the sizes this machine allows).
"""

from lazyfeat_tf.config.spec import ConfigError

REDUCED, ARTICLE = "reduced", "article"
SCALES = (REDUCED, ARTICLE)


def pick(scale, **by_scale):
    """The value of `by_scale` for `scale` (one keyword per scale the config offers, e.g.
    `pick(scale, reduced=(16, 32), article=(100, 300, 1000))`); a one-line ConfigError naming the
    scales offered when `scale` is not one of them."""
    if scale not in by_scale:
        offered = ", ".join(f":{name}" for name in by_scale)
        raise ConfigError(f"config scale {scale!r} is not one of {offered}; append one of them to the "
                          "config file's name (without one, the file's default scale is used)")
    return by_scale[scale]


def decades(low, high):
    """alpha*sqrt(h) values 10^low, 10^(low+1), ..., 10^high."""
    return tuple(10.0 ** k for k in range(low, high + 1))


def half_decades(low, high):
    """alpha*sqrt(h) values from 10^low to 10^high in half decades, with 4 significant digits
    (0.001, 0.003162, 0.01, ...)."""
    return tuple(float(f"{10 ** (k / 2):.4g}") for k in range(2 * low, 2 * high + 1))


def standard_sizes(config, scale):
    """Set the sizes most article configs share and return `config`: P = 1000, 5000 test points,
    float32 and a 100,000-step budget at :reduced; P = 10,000, 50,000 test points (the article's),
    float64 and 1,000,000 steps at :article."""
    config.data.n_train, config.data.n_test = pick(scale, reduced=(1000, 5000), article=(10_000, 50_000))
    config.dtype = pick(scale, reduced="float32", article="float64")
    config.dynamics.max_steps = pick(scale, reduced=100_000, article=1_000_000)
    return config
