"""The run configuration: defaults shared by configs/*.py, and `resolve`, the one check before any work.

A run is one network trained at one alpha (given as `alpha` or as `alpha_sqrt_h`, exactly one),
width `model.width`, seed `seed`, on one binary task. `base_config()` is an ml_collections
ConfigDict whose fields are those of the dataclasses in `lazyfeat_tf.config.spec` (documented
there, with their defaults and units). `resolve(config)` validates a config once and returns its
frozen `RunSpec`, which the library takes from then on.

This package imports only ml_collections and the standard library: loading a config file does not
import TensorFlow.
"""

import dataclasses
import math

import ml_collections
from ml_collections import config_dict

from lazyfeat_tf.config import choices  # noqa: F401 (re-exported: config.choices)
from lazyfeat_tf.config.spec import (  # noqa: F401 (re-exported)
    SECTIONS, ConfigError, DataError, DataSpec, DynamicsSpec, KernelsSpec, LossSpec, ModelSpec, RunSpec,
    check_positive,
)

SCALE_KEYS = ("alpha", "alpha_sqrt_h")
"""The two ways of giving the output scale; a config sets exactly one of them."""
EXECUTION_KEYS = ("checkpoint_every_secs", "dynamics.jit_compile")
"""Keys of config.json that say how a run executes, not what it computes: a report pools runs that
differ only in them into one figure family."""


def base_config():
    """Defaults for every run (the `RunSpec` defaults); configs/*.py override a few fields."""
    config = ml_collections.ConfigDict()
    for field in dataclasses.fields(RunSpec):
        if field.name in SCALE_KEYS:  # exactly one of them is set later
            config[field.name] = config_dict.placeholder(float)
        elif field.name in SECTIONS:
            config[field.name] = ml_collections.ConfigDict(dataclasses.asdict(field.default_factory()))
        else:
            config[field.name] = field.default
    return config


def setup_a_config():
    """Setup A of the article: FC, L = 3, h = 64, Softplus, gradient flow, Fashion-MNIST parity, n_train = 1000."""
    config = base_config()
    config.model.kind = "fc"
    config.model.depth = 3
    config.model.width = 64
    config.model.activation = "softplus"
    config.data.name = "fashion_mnist"
    config.data.n_train = 1000
    return config


def _merged(base, tree):
    merged = dict(base)
    for key, value in tree.items():
        merged[key] = _merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


def completed(identity):
    """A run's config.json (`RunSpec.to_json()`) completed with today's defaults for the keys it
    lacks: keys added after the run was made, whose default computes what the run computed."""
    return _merged(RunSpec(alpha=1.0, alpha_sqrt_h=1.0).to_json(), identity)


def set_scale(config, key, value):
    """Set `alpha` or `alpha_sqrt_h` (`key`) of `config` to `value` and clear the other one."""
    for other in SCALE_KEYS:
        config[other] = None
    config[key] = value


def _section(tree, name, cls):
    values = tree.get(name)
    if not isinstance(values, dict):
        raise ConfigError(f"config.{name}={values!r}: must be a block of fields; start from base_config()")
    known = {field.name for field in dataclasses.fields(cls)}
    for key in values:
        if key not in known:
            raise ConfigError(f"config.{name}.{key}: no such field; the fields are {', '.join(sorted(known))}")
    return cls(**values)


def resolve(config):
    """Validate `config` and return its frozen `RunSpec` (alpha and alpha*sqrt(h) both filled in).

    Args:
        config: a ConfigDict made from `base_config()` (or the same as a nested dict).

    Raises:
        ConfigError or DataError (both `UserError`s) with a one-line message naming the first key
        whose value cannot be run, before any work.
    """
    tree = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    known = {field.name for field in dataclasses.fields(RunSpec)}
    for key in tree:
        if key not in known:
            raise ConfigError(f"config.{key}: no such field; the fields are {', '.join(sorted(known))}")
    alpha, alpha_sqrt_h = tree.get("alpha"), tree.get("alpha_sqrt_h")
    if (alpha is None) == (alpha_sqrt_h is None):
        raise ConfigError(f"config.alpha={alpha!r} and config.alpha_sqrt_h={alpha_sqrt_h!r}: "
                          "set exactly one of them (e.g. --config.alpha_sqrt_h=0.01)")
    check_positive("alpha" if alpha is not None else "alpha_sqrt_h",
                           alpha if alpha is not None else alpha_sqrt_h)
    sections = {name: _section(tree, name, cls) for name, cls in SECTIONS.items()}
    sqrt_h = math.sqrt(sections["model"].width)
    alpha = float(alpha) if alpha is not None else float(alpha_sqrt_h) / sqrt_h
    scalars = {key: value for key, value in tree.items() if key not in SECTIONS and key not in SCALE_KEYS}
    return RunSpec(alpha=alpha, alpha_sqrt_h=alpha * sqrt_h, **scalars, **sections)

