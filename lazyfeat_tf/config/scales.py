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
