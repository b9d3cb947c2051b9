"""The structured method of `empirical_ntk`: the tangent kernel from the structure of the layers.

For an `NTKDense` layer l with input z_l `[n, fan_in]` and g_l = df/d(pre-activation) `[n, units]`,

    Theta_l(x, x') = (z_l(x) . z_l(x') / fan_in + beta^2 [bias trained]) (g_l(x) . g_l(x')),

and the readout adds z_L(x) . z_L(x') / h. With the layer's *operand* u_l = [z_l / sqrt(fan_in), beta]
(`Operand`; the beta column when the bias is trained, only it when the kernel is not), the layer's
kernel is (u_l u_l'^T) * (g_l g_l'^T): two Gram products and one elementwise product. Every g comes
from ONE backward pass of sum_i f(x_i) with respect to all the pre-activations (f(x_i) depends only
on example i's activations), so everything the kernel needs of a set of points is one
forward/backward pass over it (`operands`); kernels between sets, or blocks of them, are then Gram
products of operands (`block_kernels`).

For an `NTKConv2D` layer (`ConvOperand`) the per-example weight gradient sum_positions patch_p(z) (x)
g_p / sqrt(fan_in) `[n, k*k*c_in*filters]` is formed by a batched matrix product of the input
patches (explicit padding and stride exactly as the layer does them) with g, in blocks of output
channels, and contracted; its bias adds beta^2 (sum_p g1_p)(sum_p g2_p)^T. Parameter-free trunk
layers (activations, flatten, pooling) are assumed to act on each example separately.

The kernel of a set with itself is symmetric: for a network of dense layers (`dense_only`), only its
blocks of rows on and above the diagonal are computed (`symmetric_kernels`: k blocks of about
`SYMMETRIC_BLOCK_ROWS` rows, at most `SYMMETRIC_MAX_BLOCKS`; k (k + 1) / 2 block products instead of
k^2, 62.5% of the Gram flops for k = 4, 56% for k = 8) and the others are their transposes. The
Gram of the first layer's operand does not depend on the parameters: `first_layer_gram` computes it
once for points on which the kernel is computed again and again (the tracker's probes).

Reference:
    Novak, Sohl-Dickstein & Schoenholz (2022), "Fast Finite Width Neural Tangent Kernel",
    arXiv:2206.08720 (the "structured derivatives" idea).
"""

import math
from typing import NamedTuple

import tensorflow as tf

from lazyfeat_tf import layers as lf_layers
from lazyfeat_tf.ntk.parts import add, chunks, elements, gram, holds, network_parts, static_n, take

STRUCTURED_CHUNK_BYTES = 256 * 2**20
"""Target size of the temporaries of one sample chunk of the structured method (activations kept
for the backward pass, conv patches, blocks of conv per-example gradients) when `batch_size` is
None."""

SYMMETRIC_BLOCK_ROWS = 256
"""Rows of a block of a symmetric kernel (about: n is split in round(n / SYMMETRIC_BLOCK_ROWS)
equal blocks); below about 1.5 times this the kernel is one block."""

SYMMETRIC_MAX_BLOCKS = 8
"""At most this many blocks of rows of a symmetric kernel (larger blocks keep the products fast)."""

TOTAL = "total"
"""Key of the summed kernel in the dicts of `block_kernels(..., per_layer=False)`."""

_LAYERS = (lf_layers.NTKDense, lf_layers.NTKConv2D)


class Operand(NamedTuple):
    """A dense layer's (or the readout's) share of the kernel between two sets of points:
    Theta_l = (u1 u2^T) * (g1 g2^T), or u1 u2^T when g is None (the readout)."""

    name: str
    u: tf.Tensor
    """`[n, fan_in (+ 1)]`: [z / sqrt(fan_in), beta] (see the module docstring)."""
    g: tf.Tensor | None
    """`[n, units]`: df/d(pre-activation), or None."""


class ConvOperand(NamedTuple):
    """An `NTKConv2D` layer's input z `[n, H, W, c_in]` and g = df/d(pre-activation) `[n, H', W', filters]`."""

    name: str
    layer: lf_layers.NTKConv2D
    z: tf.Tensor
    g: tf.Tensor


def unsupported_reason(model):
    """Why the structured method cannot handle `model` (None if it can)."""
    net = network_parts(model)
    if net is None:
        return f"model {model.name!r} was not made by lazyfeat_tf.models.build_model"
    for layer in net.parameter_layers[:-1]:
        if not isinstance(layer, _LAYERS):
            return f"trainable layer {layer.name!r} ({type(layer).__name__}) is not NTKDense or NTKConv2D"
    trainable = [v for v in net.readout.trainable_weights if v is not net.readout.kernel]
    if trainable:
        return f"readout has trainable weights other than its kernel: {[v.path for v in trainable]}"
    return None


def dense_only(model):
    """Whether the structured method applies to `model` and its trained trunk layers are all
    `NTKDense` (then its kernels can be computed from `operands` by blocks of rows)."""
    if unsupported_reason(model) is not None:
        return False
    return all(isinstance(layer, lf_layers.NTKDense) for layer in network_parts(model).parameter_layers[:-1])


def _forward_backward(net, x):
    """One forward and backward pass on a chunk of samples.

    Returns `(inputs, grads, features)`: for every trainable trunk layer (forward order) its input
    z and g = d(sum_i f_i)/d(pre-activation) = df_i/d(pre-activation of example i), and the
    features z^L `[b, h]` entering the readout.
    """
    trained = net.parameter_layers[:-1]
    inputs, outputs = [], []
    with tf.GradientTape() as tape:
        z = x
        for layer in net.trunk.layers:
            if any(layer is t for t in trained):
                inputs.append(z)
                z = layer(z)
                tape.watch(z)  # recorded whichever of the layer's weights are trainable
                outputs.append(z)
            else:
                z = layer(z)
        f = net.readout.raw_output(z)
        total = tf.reduce_sum(f)
    grads = tape.gradient(total, outputs) if outputs else []
    grads = [tf.zeros_like(o) if g is None else g for o, g in zip(outputs, grads)]
    return inputs, grads, z


def chunk_size(net, dtype):
    """Samples per forward/backward chunk so that the chunk's activations fit `STRUCTURED_CHUNK_BYTES`."""
    shape = (None,) + tuple(net.trunk.input_shape[1:])
    per_example = elements(shape[1:])
    for layer in net.trunk.layers:
        shape = layer.compute_output_shape(shape)
        per_example += elements(shape[1:])
    return max(1, STRUCTURED_CHUNK_BYTES // max(1, 3 * per_example * tf.as_dtype(dtype).size))


def _dense_operand(layer, z, g, dtype):
    """The `Operand` of an NTKDense layer from its input z and g."""
    if z.shape.rank != 2:
        raise ValueError(
            f"method='structured' needs [batch, fan_in] inputs to NTKDense {layer.name!r}, "
            f"received shape {tuple(z.shape)}; use method='jacobian'"
        )
    columns = []
    if holds(layer, layer.kernel):
        columns.append(z * tf.constant(1.0 / math.sqrt(layer.fan_in), dtype))
    if holds(layer, layer.bias):
        columns.append(tf.fill(tf.stack([tf.shape(z)[0], 1]), tf.constant(layer.beta, dtype)))
    u = columns[0] if len(columns) == 1 else tf.concat(columns, axis=1)
    return Operand(layer.name, u, g)


def operands(net, x, batch_size=None):
    """One operand per trained layer of `net` (forward order, the readout last) on the points x
    `[n, *input_shape]` (in the model's dtype), from forward/backward passes over chunks of
    `batch_size` samples (None: `chunk_size`)."""
    dtype = tf.as_dtype(net.readout.kernel.dtype)
    batch = batch_size or chunk_size(net, dtype)
    passes = [_forward_backward(net, take(x, bounds)) for bounds in chunks(static_n(x), batch)]

    def joined(parts):
        return tf.concat(parts, 0) if len(parts) > 1 else parts[0]

    inputs = [joined(parts) for parts in zip(*[p[0] for p in passes])]
    grads = [joined(parts) for parts in zip(*[p[1] for p in passes])]
    features = joined([p[2] for p in passes])
    result = []
    for layer, z, g in zip(net.parameter_layers[:-1], inputs, grads):
        if isinstance(layer, lf_layers.NTKDense):
            result.append(_dense_operand(layer, z, g, dtype))
        else:
            result.append(ConvOperand(layer.name, layer, z, g))
    readout = net.readout
    if holds(readout, readout.kernel):
        result.append(Operand(readout.name, features * tf.constant(1.0 / math.sqrt(readout.width), dtype), None))
    return result


def rows_of(ops, rows):
    """The operands of the points `rows` of the set: a `slice` or (start, stop)."""
    rows = rows if isinstance(rows, slice) else slice(*rows)
    return [
        op._replace(z=op.z[rows], g=op.g[rows]) if isinstance(op, ConvOperand)
        else op._replace(u=op.u[rows], g=None if op.g is None else op.g[rows])
        for op in ops
    ]


def block_kernels(ops1, ops2, *, per_layer=True, input_gram=None, batch_size=None):
    """The kernel between the points of `ops1` and those of `ops2` (operands from `operands`).

    Args:
        ops1, ops2: operands of n1 and n2 points; `ops2 is ops1` for the kernel of a set with itself
            (conv per-example gradients are then formed once).
        per_layer: {layer name: [n1, n2]} if True, else {TOTAL: their sum}.
        input_gram: the first operand's Gram u1 u2^T `[n1, n2]` when it is in hand (`first_layer_gram`).
        batch_size: samples per conv per-example-gradient product (None: from the chunk budget).
    """
    kernels, total = {}, None
    for i, (op1, op2) in enumerate(zip(ops1, ops2)):
        if isinstance(op1, ConvOperand):
            kernel = _conv_kernel(op1, op2, ops2 is ops1, batch_size)
        else:
            uu = input_gram if i == 0 and input_gram is not None else gram(op1.u, op2.u)
            kernel = uu if op1.g is None else uu * gram(op1.g, op2.g)
        if per_layer:
            kernels[op1.name] = kernel
        else:
            total = add(total, kernel)
    return kernels if per_layer else {TOTAL: total}


def gradient_of_sum(ops, c):
    """The gradient of sum_j c_j f(x_j) over the points of the dense operands `ops` (`operands`; no
    `ConvOperand`), in operand form: per operand, u^T diag(c) g `[fan_in (+ 1), units]` (a layer's
    weights, and its bias as the beta row), or u^T c `[h]` (the readout). c: `[n]`."""
    c = tf.convert_to_tensor(c, ops[0].u.dtype)
    return [tf.linalg.matvec(op.u, c, transpose_a=True) if op.g is None
            else tf.matmul(op.u, c[:, None] * op.g, transpose_a=True) for op in ops]


def jacobian_times(ops, gradient):
    """J(x) v `[n]` for the points of the dense operands `ops` and v a `gradient_of_sum`: with that
    of the points x' and coefficients c, Theta(x, x') c without the kernel. A layer's share of point
    i is u_i^T M g_i (((u u'^T) * (g g'^T)) c, as M = u'^T diag(c) g'), the readout's u_i . m: two
    products of each layer's weight shape per point instead of the `[n, n']` Gram products."""
    total = None
    for op, m in zip(ops, gradient):
        term = tf.linalg.matvec(op.u, m) if op.g is None else tf.reduce_sum(tf.matmul(op.u, m) * op.g, axis=1)
        total = add(total, term)
    return total


def symmetric_rows(n):
    """Rows per block of a symmetric `[n, n]` kernel (n itself when it is one block)."""
    blocks = max(1, min(SYMMETRIC_MAX_BLOCKS, round(n / SYMMETRIC_BLOCK_ROWS)))
    return -(-n // blocks)


def upper_block_pairs(n, rows):
    """[(rows i, rows j)] of the blocks on and above the diagonal of an `[n, n]` kernel split in
    blocks of `rows` rows (each (start, stop)), row by row."""
    bounds = chunks(n, rows)
    return [(a, b) for i, a in enumerate(bounds) for b in bounds[i:]]


def symmetric_kernels(ops, n, *, per_layer=True, input_gram=None):
    """`block_kernels(ops, ops, ...)` of n points (dense operands) computed by its blocks on and
    above the diagonal (`symmetric_rows`), the others transposed: {name: [n, n]}."""
    rows = symmetric_rows(n)
    if rows >= n:
        return block_kernels(ops, ops, per_layer=per_layer, input_gram=input_gram)
    blocks = {}
    for a, b in upper_block_pairs(n, rows):
        sub_gram = None if input_gram is None else input_gram[a[0]:a[1], b[0]:b[1]]
        blocks[a, b] = block_kernels(rows_of(ops, a), rows_of(ops, b), per_layer=per_layer, input_gram=sub_gram)
    bounds = chunks(n, rows)

    def block(name, a, b):
        return blocks[a, b][name] if a <= b else tf.transpose(blocks[b, a][name])

    return {
        name: tf.concat([tf.concat([block(name, a, b) for b in bounds], axis=1) for a in bounds], axis=0)
        for name in blocks[bounds[0], bounds[0]]
    }


def structured_ntk(net, x1, x2, *, per_layer, batch_size=None, input_gram=None):
    """{layer name: [n1, n2]} (or {TOTAL: sum} if not `per_layer`) for x2 given, else of x1 with
    itself (symmetric blocks for dense nets with a known n1)."""
    input_gram = None if input_gram is None else tf.convert_to_tensor(input_gram)
    _check_input_gram(input_gram, static_n(x1), static_n(x1 if x2 is None else x2))
    if x2 is None:
        ops = operands(net, x1, batch_size)
        n = static_n(x1)
        if n is None or any(isinstance(op, ConvOperand) for op in ops):
            return block_kernels(ops, ops, per_layer=per_layer, input_gram=input_gram, batch_size=batch_size)
        return symmetric_kernels(ops, n, per_layer=per_layer, input_gram=input_gram)
    ops = operands(net, tf.concat([x1, x2], axis=0), batch_size)
    n1 = static_n(x1)
    n1 = tf.shape(x1)[0] if n1 is None else n1
    ops1, ops2 = rows_of(ops, slice(None, n1)), rows_of(ops, slice(n1, None))
    return block_kernels(ops1, ops2, per_layer=per_layer, input_gram=input_gram, batch_size=batch_size)


def first_layer_gram(model, x1, x2=None):
    """The `[n1, n2]` Gram u1 u2^T of the first trained layer's operand on x1 x x2 (x1 x x1 for x2
    None), which does not depend on the parameters: pass it as `empirical_ntk(..., input_gram=)` to
    compute the kernel on the same points again and again without it. None when the structured
    method does not apply or the first trained layer is not an `NTKDense`."""
    net = network_parts(model) if unsupported_reason(model) is None else None
    if net is None or not isinstance(net.parameter_layers[0], lf_layers.NTKDense):
        return None
    first, dtype = net.parameter_layers[0], tf.as_dtype(net.readout.kernel.dtype)
    x1 = tf.cast(x1, dtype)
    z = x1 if x2 is None else tf.concat([x1, tf.cast(x2, dtype)], axis=0)
    for layer in net.trunk.layers:  # the parameter-free layers before the first trained one
        if layer is first:
            break
        z = layer(z)
    u = _dense_operand(first, z, None, dtype).u
    n1 = static_n(x1)
    return gram(u, u) if x2 is None else gram(u[:n1], u[n1:])


def _check_input_gram(input_gram, n1, n2):
    known = input_gram is not None and input_gram.shape.rank == 2 and None not in (n1, n2)
    if known and tuple(input_gram.shape) != (n1, n2):
        raise ValueError(
            f"input_gram has shape {tuple(input_gram.shape)}, the kernel is [{n1}, {n2}]: pass "
            f"first_layer_gram(model, x1, x2) of the same points")


# ----------------------------------------------------------------------------------------------
# Convolutions.


def _conv_patches(layer, z):
    """`[b, P, k*k*c_in]` input patches of an NTKConv2D, P = output positions, in kernel order."""
    k, s = layer.kernel_size, layer.strides
    patches = tf.image.extract_patches(
        layer.pad(z),
        sizes=[1, k, k, 1],
        strides=[1, s, s, 1],
        rates=[1, 1, 1, 1],
        padding=layer.conv_padding.upper(),
    )
    return tf.reshape(patches, [tf.shape(z)[0], -1, layer.fan_in])


def _conv_weight_gradients(layer, z, g, channels, batch):
    """Per-example df/dW restricted to output channels `channels` (a slice), `[n, fan_in * c]`.

    df/dW[:, c] = sum_p patch_p(z) g_p[c] / sqrt(fan_in), computed `batch` samples at a time.
    """
    blocks = []
    for bounds in chunks(static_n(z), batch):
        zb, gb = take(z, bounds), take(g, bounds)[..., channels]
        patches = _conv_patches(layer, zb)
        gb = tf.reshape(gb, [tf.shape(gb)[0], -1, gb.shape[-1]])
        jac = tf.matmul(patches, gb, transpose_a=True)  # [b, fan_in, c]
        blocks.append(tf.reshape(jac, [tf.shape(jac)[0], -1]))
    jac = blocks[0] if len(blocks) == 1 else tf.concat(blocks, axis=0)
    return jac / tf.constant(math.sqrt(layer.fan_in), jac.dtype)


def _conv_kernel(op1, op2, symmetric, batch):
    """Contribution of one NTKConv2D layer, `[n1, n2]`: the Gram of per-example weight gradients,
    in blocks of output channels, plus the bias term."""
    layer, z1, g1, z2, g2 = op1.layer, op1.z, op1.g, op2.z, op2.g
    dtype = tf.as_dtype(z1.dtype)
    result = None
    if holds(layer, layer.kernel):
        n_total = (static_n(z1) or 1) + (0 if symmetric else (static_n(z2) or 1))
        per_channel = n_total * layer.fan_in * dtype.size
        width = max(1, min(layer.filters, STRUCTURED_CHUNK_BYTES // max(1, per_channel)))
        patch_bytes = elements(g1.shape[1:-1]) * layer.fan_in * dtype.size * (1 + width)
        sub_batch = batch or max(1, STRUCTURED_CHUNK_BYTES // max(1, patch_bytes))
        for start in range(0, layer.filters, width):
            channels = slice(start, min(start + width, layer.filters))
            j1 = _conv_weight_gradients(layer, z1, g1, channels, sub_batch)
            j2 = j1 if symmetric else _conv_weight_gradients(layer, z2, g2, channels, sub_batch)
            result = add(result, gram(j1, j2))
    if holds(layer, layer.bias):
        s1 = tf.reduce_sum(g1, axis=[1, 2])
        s2 = s1 if symmetric else tf.reduce_sum(g2, axis=[1, 2])
        result = add(result, tf.constant(layer.beta**2, dtype) * gram(s1, s2))
    return result
