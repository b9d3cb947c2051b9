"""The run configuration: defaults shared by configs/*.py and the checks made before any work.

A run is one network trained at one alpha (given as `alpha` or as `alpha_sqrt_h`, exactly one),
width `model.width`, seed `seed`, on one binary task. Every field is documented in
`base_config()`; `validate(config)` raises `ConfigError` with a one-line message naming the key and
its value.

Units: everything is in the article's units (arXiv:1906.08034). The original code used a readout
divided by h, a loss divided by alpha_code and alpha_code = sqrt(h) * alpha; its times map as
t_code / h = t / (sqrt(h) * alpha).
"""

import math

import ml_collections
from ml_collections import config_dict

from lazyfeat_tf import data, kernel_tracking, layers, losses, models
from lazyfeat_tf.errors import UserError

DTYPES = ("float32", "float64")
DYNAMICS = ("gradient_flow", "sgd", "adam")
DISTRIBUTE = ("auto", "tpu", "gpu", "cpu")
EXECUTION_KEYS = ("checkpoint_every_secs", "dynamics.jit_compile")
"""Keys of config.json that say how a run executes, not what it computes: a report pools runs that
differ only in them into one figure family."""


class ConfigError(UserError):
    """A config value that cannot be run; the message is one line naming the key and value."""


def base_config():
    """Defaults for every run; configs/*.py override a few fields."""
    config = ml_collections.ConfigDict()
    # Exactly one of these two sets the output scale (the other stays None).
    config.alpha = config_dict.placeholder(float)
    config.alpha_sqrt_h = config_dict.placeholder(float)
    config.seed = 0  # initialization seed
    config.dtype = "float32"  # or "float64" (the original code ran in float64)
    # Where the run executes: "auto", "tpu", "gpu" or "cpu" (see lazyfeat_tf.accelerators). Not part
    # of a run's identity: a run started on one accelerator resumes on another.
    config.distribute = "auto"

    config.model = ml_collections.ConfigDict()
    config.model.kind = "fc"  # "fc" (setup A) or "cnn" (setup B)
    config.model.depth = 3  # number of hidden layers L (fc only)
    config.model.width = 64  # h
    config.model.activation = "softplus"  # "softplus" or "relu" (normalized: E[sigma(z)^2] = 1)
    config.model.softplus_beta = 5.0
    config.model.use_bias = False
    config.model.beta = 0.0  # bias scale

    config.data = data.default_data_config()

    config.loss = ml_collections.ConfigDict()
    config.loss.name = "soft_hinge"  # "hinge", "soft_hinge" or "quadratic_hinge"
    config.loss.soft_hinge_beta = 20.0

    config.dynamics = ml_collections.ConfigDict()
    config.dynamics.kind = "gradient_flow"  # or "sgd" (minibatch, momentum) or "adam"
    config.dynamics.max_dout = 0.1  # gradient flow: bound on max |dF| per step
    config.dynamics.max_dgrad = 1e-4  # gradient flow: bound on ||dg||^2 / (||g|| ||g'||)
    config.dynamics.tau = 0.0  # gradient flow: momentum time constant (0 = none)
    config.dynamics.dt0 = 1.0  # gradient flow: first time step
    config.dynamics.learning_rate = 0.1  # sgd/adam: time step of one minibatch step
    config.dynamics.momentum = 0.9  # sgd
    config.dynamics.batch_size = 32  # sgd/adam
    config.dynamics.max_steps = 100_000  # budget of accepted steps
    config.dynamics.max_time = 1e12  # budget of physical time t
    config.dynamics.max_wall_time = 0.0  # budget in seconds (0 = none)
    config.dynamics.num_records = 80  # log-spaced record steps between 0 and max_steps
    config.dynamics.jit_compile = False  # compile the step loop with XLA

    config.kernels = kernel_tracking.default_kernels_config()

    config.checkpoint_every_secs = 10.0  # at most one checkpoint this often (and always at the end)
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


def _fail(key, value, why):
    raise ConfigError(f"config.{key}={value!r}: {why}")


def _positive_int(config, key):
    value = _lookup(config, key)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        _fail(key, value, "must be a positive integer")


def _positive(config, key, allow_zero=False):
    value = _lookup(config, key)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        _fail(key, value, "must be a finite number " + (">= 0" if allow_zero else "> 0"))


def _one_of(config, key, choices):
    value = _lookup(config, key)
    if value not in choices:
        _fail(key, value, f"must be one of {', '.join(choices)}")


def _lookup(config, key):
    value = config
    for part in key.split("."):
        value = value[part]
    return value


def validate(config):
    """Raise `ConfigError` (or `data.DataError`) for the first value that cannot be run."""
    has_alpha, has_ash = config.alpha is not None, config.alpha_sqrt_h is not None
    if has_alpha == has_ash:
        raise ConfigError(
            f"config.alpha={config.alpha!r} and config.alpha_sqrt_h={config.alpha_sqrt_h!r}: "
            "set exactly one of them (e.g. --config.alpha_sqrt_h=0.01)"
        )
    _positive(config, "alpha" if has_alpha else "alpha_sqrt_h")
    if not isinstance(config.seed, int) or config.seed < 0:
        _fail("seed", config.seed, "must be an integer >= 0")
    _one_of(config, "dtype", DTYPES)
    _one_of(config, "distribute", DISTRIBUTE)
    _one_of(config, "model.kind", models.ARCHITECTURES)
    _positive_int(config, "model.width")
    _positive_int(config, "model.depth")
    _one_of(config, "model.activation", layers.ACTIVATIONS)
    _positive(config, "model.softplus_beta")
    _positive(config, "model.beta", allow_zero=True)
    _one_of(config, "loss.name", losses.LOSSES)
    _positive(config, "loss.soft_hinge_beta")
    _one_of(config, "dynamics.kind", DYNAMICS)
    for key in ("max_dout", "max_dgrad", "dt0", "learning_rate", "max_time"):
        _positive(config, f"dynamics.{key}")
    for key in ("tau", "max_wall_time"):
        _positive(config, f"dynamics.{key}", allow_zero=True)
    if not 0 <= config.dynamics.momentum < 1:
        _fail("dynamics.momentum", config.dynamics.momentum, "must be in [0, 1)")
    for key in ("batch_size", "max_steps", "num_records"):
        _positive_int(config, f"dynamics.{key}")
    _positive(config, "checkpoint_every_secs", allow_zero=True)
    for key in ("n_probe_train", "n_probe_test", "n_eigenvalues", "heatmap_size"):
        _positive_int(config, f"kernels.{key}")
    _one_of(config, "kernels.method", ("auto", "structured", "jacobian"))
    data.validate_data_config(config.data)
    if config.model.kind == "cnn" and (config.data.pca or config.data.name == "synthetic"):
        _fail("model.kind", "cnn", "needs image inputs: use data.pca=0 and an image dataset")
    if config.dynamics.kind != "gradient_flow" and config.dynamics.batch_size > config.data.n_train:
        _fail("dynamics.batch_size", config.dynamics.batch_size, f"exceeds data.n_train={config.data.n_train}")


def alpha_sqrt_h(config):
    """The control parameter alpha * sqrt(h) of a validated config."""
    return models.resolve_alpha(config) * math.sqrt(config.model.width)
