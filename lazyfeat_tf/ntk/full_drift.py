"""Kernel drift on a whole data set, computed by blocks of rows.

The article measures ||Theta_T - Theta_0||_F / ||Theta_0||_F on the kernel of all the test points
(Geiger et al. 2020, Sec. 5), not on a few probes. For n = 10,000 points the `[n, n]` kernels do
not fit twice in memory, so `full_set_drift(model, x)` never holds them: for each block of rows
x_b it computes Theta_T(x_b, x) with the current parameters and Theta_0(x_b, x) with the initial
ones (`initial_parameters`: the trained variables temporarily take the values of the frozen copy
trunk0 / kernel0), and accumulates ||Theta_T - Theta_0||_F^2 and ||Theta_0||_F^2 block by block in
float64. Memory: O(block * n) for the kernels (`BLOCK_BYTES`) plus one forward/backward pass of
all of x; time: twice the cost of the whole kernel.
"""

import contextlib
import math

import numpy as np
import tensorflow as tf

from lazyfeat_tf import models
from lazyfeat_tf.ntk.empirical import empirical_ntk

BLOCK_BYTES = 256 * 2**20
"""Target size of the kernel blocks held at once (per-layer kernels of the block, their sum, and
float64 copies of Theta_T and Theta_0)."""


@contextlib.contextmanager
def initial_parameters(model):
    """Within the context, the trained variables of `model` (made by `models.build_model`) hold
    their initial values, read from the frozen trunk0 and kernel0; on exit they get back their
    values exactly."""
    net = models.parts(model)
    trained = list(net.trunk.weights) + [net.readout.kernel]
    initial = list(net.trunk0.weights) + [net.readout.kernel0]
    saved = [variable.numpy() for variable in trained]
    try:
        for variable, value in zip(trained, initial):
            variable.assign(value)
        yield model
    finally:
        for variable, value in zip(trained, saved):
            variable.assign(value)


def block_rows(model, n, block_bytes=BLOCK_BYTES):
    """Rows per block so that the kernels of one block `[rows, n]` take about `block_bytes`."""
    layers = len(models.parts(model).parameter_layers)
    return max(1, min(n, block_bytes // max(1, n * 8 * (layers + 4))))


def full_set_drift(model, x, *, method="auto", rows=None):
    """||Theta_T - Theta_0||_F / ||Theta_0||_F of the `[n, n]` kernel on all of x, by blocks of rows.

    Args:
        model: a model made by `models.build_model`, at its trained parameters T.
        x: `[n, *input_shape]` inputs (e.g. the whole test set).
        method: passed to `ntk.empirical_ntk`.
        rows: rows per block (None: `block_rows`).

    Returns:
        The relative drift (float), NaN when a kernel is not finite (a diverged network).
    """
    dtype = tf.as_dtype(models.parts(model).readout.kernel.dtype)
    x = tf.constant(x, dtype)
    n = int(x.shape[0])
    rows = rows or block_rows(model, n)

    def blocks():
        for start in range(0, n, rows):
            block = x[start:start + rows]
            theta_t = empirical_ntk(model, block, x, method=method).numpy()
            with initial_parameters(model):
                yield theta_t, empirical_ntk(model, block, x, method=method).numpy()

    return relative_change(blocks())


def relative_change(blocks):
    """||Theta_T - Theta_0||_F / ||Theta_0||_F from the (Theta_T, Theta_0) blocks of rows of the two
    kernels, accumulated in float64 (NaN when a kernel is not finite or Theta_0 is zero)."""
    change = reference = 0.0
    for theta_t, theta_0 in blocks:
        theta_t, theta_0 = np.asarray(theta_t, np.float64), np.asarray(theta_0, np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            change += float(np.sum(np.square(theta_t - theta_0)))
            reference += float(np.sum(np.square(theta_0)))
    if not math.isfinite(change) or not math.isfinite(reference):
        return float("nan")
    return math.sqrt(change / reference) if reference > 0 else float("nan")


def kernels_change(theta_t, theta_0, rows=4096):
    """`relative_change` of two kernels in hand `[n1, n2]` (arrays, tensors or variables), by blocks
    of `rows` (no float64 copy of the whole kernels, no copy of a variable)."""
    n = int(theta_0.shape[0])
    return relative_change((theta_t[i:i + rows], theta_0[i:i + rows]) for i in range(0, n, rows))
