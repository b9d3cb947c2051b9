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
KERNEL_BLOCK_BYTES = 2 * 256 * 2**20
"""One block of kernel rows of the frozen-kernel predictors (`ntk.predictor.KernelRows`: about 256 MiB
of per-layer kernels) and its temporaries."""
PREDICTOR_KERNELS = 4
"""`[n, n]` kernels the frozen-kernel predictors hold at once at the end of a run: the Theta_0
predictor's, the final kernel filled in beside it, and its two copies while it is assigned to the
predictor (a tensor and the variable's new buffer); one more for the running-kernel predictor
(`kernels.running_fractions`)."""
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


def memory_terms(spec):
    """The terms of `estimated_bytes` `{what: (bytes, the config key that sets it, the fix)}`: the
    network's parameters (8 copies: network, frozen copy, integrator, gradients), the activations of
    the training set, the data (two copies of it in float64), the probe kernels of the kernel
    tracking, the frozen-kernel predictors' `[n, n]` train kernels and one block of kernel rows
    (their `[n_test, n]` test kernel is never whole), the blocks of the whole-set drift, and the
    forward/backward passes over a whole set that the kernels need."""
    d = spec.data.pca or spec.data.input_dim
    size = 8 if spec.dtype == "float64" else 4
    n, n_test = spec.data.n_train, spec.data.n_test
    h, depth = spec.model.width, spec.model.depth
    k = spec.kernels
    activations = n * h * (CONV_POSITIONS if spec.model.kind == "cnn" else depth)
    # A kernel computation's forward/backward pass over a whole set keeps its inputs and, for every
    # layer, its input z and g = df/d(pre-activation) (`ntk.empirical_ntk`, "structured").
    pass_values = 2 * (d + 2 * activations // n)
    terms = {
        "the network's parameters": (size * 8 * parameters(spec, d), "model.width", "lower --config.model.width"),
        "the activations of the training set": (size * 6 * activations, "data.n_train",
                                                "lower --config.data.n_train or --config.model.width"),
        # Two float64 copies while the task is prepared; then its arrays and their TensorFlow copies.
        "the data": (2 * 8 * (n + n_test) * spec.data.input_dim, "data.n_test" if n_test > n else "data.n_train",
                     "lower --config.data.n_test or --config.data.n_train"),
    }
    if k.track:
        probes = k.n_probe_train**2 + k.n_probe_test**2
        terms["the probe kernels"] = (8 * probes * (depth + 3) * 2, "kernels.n_probe_train",
                                      "lower --config.kernels.n_probe_train and --config.kernels.n_probe_test")
        if k.predictors or k.running_fractions:  # the running-kernel predictor alone holds as many
            kernels = PREDICTOR_KERNELS + (1 if k.predictors and k.running_fractions else 0)
            off = [f"--config.kernels.{setting}" for setting, on in (
                ("predictors=False", k.predictors), ("running_fractions=()", k.running_fractions)) if on]
            terms["the frozen-kernel predictors' [n_train, n_train] kernels"] = (
                size * (kernels * n * n + n * pass_values) + KERNEL_BLOCK_BYTES, "data.n_train",
                "lower --config.data.n_train or set " + " and ".join(off))
        if k.full_drift:
            terms["the whole-set kernel drift"] = (
                size * max(n, n_test) * pass_values + FULL_DRIFT_BYTES, "data.n_test" if n_test > n else "data.n_train",
                "lower --config.data.n_test or set --config.kernels.full_drift=False")
    return terms


def estimated_bytes(spec):
    """A rough estimate of the memory of a run `[bytes]`: the sum of its `memory_terms`; TensorFlow
    itself takes about 0.6 GiB more. Measured peaks of whole processes (float64, predictors on, no
    whole-set drift; estimate + 0.6 GiB in brackets): h = 32, P = 4000, 20,000 test points: 1.85 GiB
    (1.9); the same with P = 8000 and running predictors: 3.36 GiB (4.0); h = 100, P = 10,000,
    50,000 test points: 5.42 GiB (5.1)."""
    return sum(term for term, _, _ in memory_terms(spec).values())


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
    """Raise `ConfigError` when the run's `estimated_bytes` exceed the `available` memory, naming the
    term that costs the most, the key that sets it and a fix."""
    need, have = estimated_bytes(spec), available_bytes() if available is None else available
    if need > have:
        what, (most, key, fix) = max(memory_terms(spec).items(), key=lambda item: item[1][0])
        value = spec.to_json()
        for part in key.split("."):
            value = value[part]
        raise config_lib.ConfigError(
            f"config.{key}={value!r}: the run needs about {_gib(need)} of memory (estimate), {_gib(most)} of it "
            f"for {what}, and {_gib(have)} is available; {fix}")


def _gib(n):
    return f"{n / GIB:.3g} GiB" if n < 1e6 * GIB else f"10^{math.log10(n / GIB):.0f} GiB"


def check_run(config, workdir):
    """Every check of a run before any work (see the module docstring); returns its `RunSpec`."""
    spec = config if isinstance(config, config_lib.RunSpec) else config_lib.resolve(config)
    rundir.RunDir(workdir).check_compatible(spec.to_json())
    data.check_available(spec.data)
    check_memory(spec)
    return spec
