"""The checks of a run made before any work, and before TensorFlow is imported.

`check_run(config, workdir)` resolves the config into its `RunSpec` (every value), checks that the
workdir is new or holds this same run, that the data files are there, and that the run fits in the
machine's memory. Each failure is a one-line `UserError` naming the value and a fix; nothing is
written. `launch.train` calls it before importing TensorFlow, and `train.train_and_evaluate` calls
it too, so a notebook gets the same checks.
"""

import math
import os

from lazyfeat_tf import config as config_lib
from lazyfeat_tf import data, rundir

GIB = 2.0**30
FULL_DRIFT_BYTES = 2 * 256 * 2**20
"""The blocks of the whole-set kernel drift (`ntk.full_drift`: 256 MiB blocks, at Theta_T and Theta_0)."""
CONV_POSITIONS = 12 * 12 + 10 * 10 + 4 * 4 + 2 * 2
"""Sum over the 4 convolutions of the CNN of their output positions on a 28 x 28 image (32 x 32
images have a few more; the estimate is rough anyway)."""


def parameters(spec, input_dim):
    """The number of trained parameters of the network of `spec` on inputs of `input_dim` values."""
    m, h = spec.model, spec.model.width
    bias = h if m.use_bias else 0
    if m.kind == "cnn":
        channels = 3 if spec.data.name == "cifar10" else 1
        return 25 * channels * h + 3 * 25 * h * h + 4 * bias + h
    return input_dim * h + (m.depth - 1) * h * h + m.depth * bias + h


def estimated_bytes(spec):
    """A rough upper estimate of the memory of a run `[bytes]`: parameters (network, frozen copy,
    integrator and gradients: 8 copies), activations of the training set, the data, and the kernels
    the run measures (probes and, with the predictors, the train x train and test x train kernels)."""
    d = spec.data.pca or spec.data.input_dim
    size = 8 if spec.dtype == "float64" else 4
    n, n_test = spec.data.n_train, spec.data.n_test
    h, depth = spec.model.width, spec.model.depth
    activations = n * h * (CONV_POSITIONS if spec.model.kind == "cnn" else depth)
    total = size * (8 * parameters(spec, d) + 6 * activations)
    total += 8 * (n + n_test) * spec.data.input_dim  # the task in float64 while it is prepared
    if spec.kernels.track:
        probes = spec.kernels.n_probe_train**2 + spec.kernels.n_probe_test**2
        total += 8 * probes * (depth + 3) * 2
        if spec.kernels.predictors:
            total += 8 * 2 * (n * n + n_test * n)
        if spec.kernels.full_drift:
            total += FULL_DRIFT_BYTES
    return total


def available_bytes():
    """The memory this process may still take `[bytes]` (MemAvailable of /proc/meminfo)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(spec, available=None):
    """Raise `ConfigError` when the run's `estimated_bytes` exceed the `available` memory."""
    need, have = estimated_bytes(spec), available_bytes() if available is None else available
    if need > have:
        biggest = "model.width" if spec.width * spec.width >= spec.data.n_train else "data.n_train"
        value = spec.width if biggest == "model.width" else spec.data.n_train
        raise config_lib.ConfigError(
            f"config.{biggest}={value}: the run needs about {_gib(need)} of memory (estimate) and "
            f"{_gib(have)} is available; lower --config.{biggest}")


def _gib(n):
    return f"{n / GIB:.3g} GiB" if n < 1e6 * GIB else f"10^{math.log10(n / GIB):.0f} GiB"


def check_run(config, workdir):
    """Every check of a run before any work (see the module docstring); returns its `RunSpec`."""
    spec = config if isinstance(config, config_lib.RunSpec) else config_lib.resolve(config)
    rundir.RunDir(workdir).check_compatible(spec.to_json())
    data.check_available(spec.data)
    check_memory(spec)
    return spec
