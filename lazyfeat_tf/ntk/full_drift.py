"""Kernel drift on a whole data set, computed by blocks.

The article measures ||Theta_T - Theta_0||_F / ||Theta_0||_F on the kernel of all the test points
(Geiger et al. 2020, Sec. 5), not on a few probes. For n = 50,000 points the `[n, n]` kernels do
not fit in memory, so `full_set_drift(model, x)` never holds them. For a network of dense layers it
takes the structured operands of all of x once with the current parameters and once with the
initial ones (`initial_parameters`: the trained variables temporarily take the values of the frozen
copy trunk0 / kernel0; `ntk.structured.operands`), then goes over the blocks on and above the
diagonal of the symmetric kernels (`square_rows` rows a side, about `BLOCK_BYTES`), computing
Theta_T and Theta_0 of each block from the operands (the first layer's Gram, the same for both,
once) and accumulating ||Theta_T - Theta_0||_F^2 and ||Theta_0||_F^2 in float64, off-diagonal
blocks twice (each block one TensorFlow graph, `_block_square_sums`). Memory: the operands
(n * (d + 2 L h + h) values per parameter set) plus O(rows^2); time: the Gram products of about half
of both kernels and two forward/backward passes over x.
Other networks (CNN; the jacobian method) go by blocks of rows Theta(x_b, x) instead, each with its
own forward/backward passes over all of x (`block_rows`).
"""

import contextlib
import math

import tensorflow as tf

from lazyfeat_tf import models
from lazyfeat_tf.ntk import structured
from lazyfeat_tf.ntk.empirical import empirical_ntk, resolve_method, sharding_strategy
from lazyfeat_tf.ntk.parts import gram, network_parts

BLOCK_BYTES = 256 * 2**20
"""Target size of the kernel blocks held at once (per-layer kernels of the block, their sum, and
float64 copies of Theta_T and Theta_0)."""

SQUARE_BLOCK_COPIES = 8
"""`[rows, rows]` arrays of 8 bytes alive at once for a block of the symmetric path (Theta_T and
Theta_0, the Gram products of a layer of each, computed at once, their float64 copies and
difference)."""


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


def square_rows(n, block_bytes=BLOCK_BYTES):
    """Rows (and columns) of the square blocks of the symmetric path, so that one block's arrays take
    about `block_bytes`."""
    return max(1, min(n, math.isqrt(block_bytes // (8 * SQUARE_BLOCK_COPIES))))


def full_set_drift(model, x, *, method="auto", rows=None):
    """||Theta_T - Theta_0||_F / ||Theta_0||_F of the `[n, n]` kernel on all of x, by blocks.

    Args:
        model: a model made by `models.build_model`, at its trained parameters T.
        x: `[n, *input_shape]` inputs (e.g. the whole test set).
        method: passed to `ntk.empirical_ntk`.
        rows: rows per block (None: `square_rows` for a network of dense layers, `block_rows`
            otherwise).

    Returns:
        The relative drift (float), NaN when a kernel is not finite (a diverged network).
    """
    dtype = tf.as_dtype(models.parts(model).readout.kernel.dtype)
    x = tf.constant(x, dtype)
    n = int(x.shape[0])
    if (resolve_method(model, method) == "structured" and structured.dense_only(model)
            and sharding_strategy() is None):
        return relative_change(_symmetric_squares(model, x, rows or square_rows(n)))

    def blocks():
        rows_ = rows or block_rows(model, n)
        for start in range(0, n, rows_):
            block = x[start:start + rows_]
            theta_t = empirical_ntk(model, block, x, method=method)
            with initial_parameters(model):
                yield squares(theta_t, empirical_ntk(model, block, x, method=method))

    return relative_change(blocks())


def _symmetric_squares(model, x, rows):
    """`squares` of the blocks on and above the diagonal of Theta_T(x, x) and Theta_0(x, x) (the
    off-diagonal ones counted twice), from the operands of x at T and at w0."""
    net = network_parts(model)
    at_t = structured.operands(net, x)
    with initial_parameters(model):
        at_0 = structured.operands(net, x)
    for a, b in structured.upper_block_pairs(int(x.shape[0]), rows):
        count = 1 if a == b else 2
        change, reference = _block_square_sums(*(structured.rows_of(ops, r) for ops in (at_t, at_0) for r in (a, b)))
        yield count * float(change), count * float(reference)


def _square_sums(theta_t, theta_0):
    """(||Theta_T - Theta_0||_F^2, ||Theta_0||_F^2) of a block, float64 tensors."""
    theta_t, theta_0 = tf.cast(theta_t, tf.float64), tf.cast(theta_0, tf.float64)
    return tf.reduce_sum(tf.square(theta_t - theta_0)), tf.reduce_sum(tf.square(theta_0))


def _block_square_sums_of(t_a, t_b, i_a, i_b):
    """`_square_sums` of the block of Theta_T and Theta_0 between the rows a and the rows b of a set,
    from their operands at T (t_a, t_b) and at w0 (i_a, i_b)."""
    first = gram(t_a[0].u, t_b[0].u)  # the first layer's operand does not depend on the parameters
    theta_t = structured.block_kernels(t_a, t_b, per_layer=False, input_gram=first)[structured.TOTAL]
    theta_0 = structured.block_kernels(i_a, i_b, per_layer=False, input_gram=first)[structured.TOTAL]
    return _square_sums(theta_t, theta_0)


_block_square_sums = tf.function(_block_square_sums_of, autograph=False, reduce_retracing=True)
"""`_block_square_sums_of` as one graph: its two kernels' products run on TensorFlow's inter-op
threads at once (2 on a 2-core CPU, `cpu_threads`; eagerly, one op after the other on one thread):
the whole-set drift of 12,000 points (demo network at h = 100, float64) took 8.2 instead of 11.1 s,
of 5,000 points in float32 1.07 instead of 1.61 s (one call each, traces included). Traced once per
network shape (blocks of another size relax its shapes: `reduce_retracing`)."""


def squares(theta_t, theta_0, count=1):
    """(count ||Theta_T - Theta_0||_F^2, count ||Theta_0||_F^2) of a block (arrays or tensors), in
    float64."""
    change, reference = _square_sums(theta_t, theta_0)
    return count * float(change), count * float(reference)


def relative_change(blocks):
    """||Theta_T - Theta_0||_F / ||Theta_0||_F from the `squares` of the blocks of the two kernels
    (NaN when a kernel is not finite or Theta_0 is zero)."""
    change = reference = 0.0
    for block_change, block_reference in blocks:
        change += block_change
        reference += block_reference
    if not math.isfinite(change) or not math.isfinite(reference):
        return float("nan")
    return math.sqrt(change / reference) if reference > 0 else float("nan")


def kernels_change(theta_t, theta_0, rows=4096):
    """`relative_change` of two kernels in hand `[n1, n2]` (arrays, tensors or variables), by blocks
    of `rows` (no float64 copy of the whole kernels, no copy of a variable)."""
    n = int(theta_0.shape[0])
    return relative_change(squares(theta_t[i:i + rows], theta_0[i:i + rows]) for i in range(0, n, rows))
