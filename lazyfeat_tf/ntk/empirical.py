"""Empirical neural tangent kernel (NTK) of the raw network output.

`empirical_ntk(model, x1, x2)` returns the `[n1, n2]` kernel

    Theta(x, x') = sum_p  df(w, x)/dw_p  df(w, x')/dw_p

of the raw output f(w, x) = W^(L+1) z^L(x) / sqrt(h) (= `readout.raw_output(trunk(x))` for a model
made by `models.build_model`), summed over every trainable parameter p: the trunk's weights and
biases and the readout kernel W^(L+1). The frozen copy at initialization (`trunk0`, `kernel0`) is
not trained and does not enter. Since F = alpha (f - f0), the kernel of F is alpha^2 Theta.

With `per_layer=True` the result is a dict `{layer name: [n1, n2] kernel}` over
`parts(model).parameter_layers` (e.g. "dense_1", "dense_2", "dense_3", "readout" for a depth-3
fully connected net, "conv_1", ..., "conv_4", "readout" for the CNN), in forward order; the
per-layer kernels sum to the total.

Methods (`Method`, selected by `method=`; the default is "auto"):

- "structured" (`Method.STRUCTURED`): uses the structure of the NTK layers (`ntk.structured`). For
  an `NTKDense` layer with input z `[n, fan_in]` and g = df/d(pre-activation) `[n, units]`,
      Theta_l = (z1 z2^T / fan_in + beta^2 [bias]) * (g1 g2^T)       (elementwise product),
  and for the readout Theta = z1 z2^T / h; every g comes from ONE backward pass. `NTKConv2D`
  layers contract per-example weight gradients formed from the input patches. The kernel of a set
  with itself is computed by its blocks on and above the diagonal (about half the Gram flops), and
  `input_gram=first_layer_gram(model, x)` spares the first layer's Gram, which does not depend on
  the parameters, when the kernel is computed on the same points again. Cost: one
  forward/backward pass plus a few Gram products; memory O(n * widths + n1 * n2).
- "jacobian" (`Method.JACOBIAN`): generic, for any Keras model with one output per example
  (`[n]` or `[n, 1]`; for the package's models still the raw f). Per-example Jacobians with
  `tf.GradientTape.jacobian` (pfor-vectorized) and their contraction J1 J2^T, chunked over samples
  (at most `JACOBIAN_MAX_BATCH` per call) and over parameters (consecutive variables) so that the
  Jacobians held at once take at most `JACOBIAN_CHUNK_BYTES`; when the Jacobians of all the
  samples do not fit, column blocks are recomputed (time traded for memory). Slow (about
  n1 * n2 * n_params flops); the reference. Per-layer names are those of `parts(model)` for the
  package's models, else of the model's top-level layers holding trainable weights.
- "auto" (`Method.AUTO`, default): "structured" when the model was made by `build_model` and
  every trainable trunk layer is an `NTKDense` or `NTKConv2D`, otherwise "jacobian".
  `resolve_method(model, method)` tells which one is used.

Cost on 2 CPU cores (fully connected, L = 3, d = 784, float32; benchmarks/peers.py on a quiet
machine): n = 1000, h = 512: structured 0.044 s for Theta(x, x) (eager; XLA, `compiles_with_xla`)
and 0.074 s for Theta(x1, x2), against neural-tangents' structured derivatives 0.078 and 0.109 s;
its Jacobian contraction takes 13 s. n = 5000, h = 1024 (benchmarks/kernels.py, before the
symmetric blocks): ~1.2 s with a peak of ~1.7 GiB for the whole process.

Both methods work eagerly and inside `tf.function` (sample chunking needs a static number of
samples; with an unknown one the samples form a single chunk), in float32 and float64 (the
model's dtype; inputs are cast to it), and compile with XLA (`tf.function(jit_compile=True)`).

Under a `tf.distribute` strategy with several replicas (or a TPU), a call in cross-replica context
(inside `strategy.scope()`, outside `strategy.run`) shards the rows of x1 across the replicas: each
computes the kernel of its block of rows against all of x2 (see `lazyfeat_tf.accelerators`). The
model must then have been built inside the scope.

References:
    Jacot, Gabriel & Hongler (2018), "Neural Tangent Kernel: Convergence and Generalization in
    Neural Networks", arXiv:1806.07572.
    Geiger, Spigler, Jacot & Wyart (2020), "Disentangling feature and lazy training in deep neural
    networks", J. Stat. Mech. 113301, arXiv:1906.08034.
    Novak, Sohl-Dickstein & Schoenholz (2022), "Fast Finite Width Neural Tangent Kernel",
    arXiv:2206.08720 (the "structured derivatives" idea).
"""

import enum
import math
import weakref
from functools import partial

import tensorflow as tf

from lazyfeat_tf import accelerators
from lazyfeat_tf.ntk.parts import add, chunks, elements, gram, network_parts, static_n
from lazyfeat_tf.ntk.structured import dense_only, structured_ntk, unsupported_reason

JACOBIAN_CHUNK_BYTES = 512 * 2**20
"""Memory allowed for the per-example Jacobians held at once by the jacobian method."""

JACOBIAN_MAX_BATCH = 128
"""Largest sample chunk of one `GradientTape.jacobian` call when `batch_size` is None (its pfor
backward pass costs O(batch^2), so small chunks are faster as well as leaner)."""


class Method(str, enum.Enum):
    """Implementations of `empirical_ntk` (strings are accepted too)."""

    AUTO = "auto"
    """Default: STRUCTURED if `supports_structured(model)`, else JACOBIAN."""
    STRUCTURED = "structured"
    """Layer-wise (z z'^T / fan_in) * (g g'^T) products and conv patch gradients; fast."""
    JACOBIAN = "jacobian"
    """Contraction of per-example Jacobians from `tf.GradientTape.jacobian`; any Keras model."""


METHODS = tuple(m.value for m in Method)

def _method_value(method):
    try:
        return Method(method).value
    except ValueError:
        raise ValueError(f"method must be one of {METHODS}, received method={method!r}") from None


def supports_structured(model):
    """Whether `method="structured"` applies to `model` (what "auto" checks)."""
    return unsupported_reason(model) is None


def resolve_method(model, method="auto"):
    """The method `empirical_ntk(model, ..., method=method)` uses: "structured" or "jacobian"."""
    method = _method_value(method)
    if method == Method.AUTO.value:
        return Method.STRUCTURED.value if supports_structured(model) else Method.JACOBIAN.value
    if method == Method.STRUCTURED.value:
        reason = unsupported_reason(model)
        if reason is not None:
            raise ValueError(f"method='structured' does not apply: {reason}; use method='jacobian' or 'auto'")
    return method


def _model_dtype(model):
    variables = model.trainable_variables or model.variables
    if not variables:
        raise ValueError(f"model {model.name!r} has no variables: nothing to differentiate")
    return tf.as_dtype(variables[0].dtype)


def _check_batch_size(batch_size):
    if batch_size is not None and (
        not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0
    ):
        raise ValueError(f"batch_size must be a positive int or None, received batch_size={batch_size!r}")


def empirical_ntk(model, x1, x2=None, *, method="auto", per_layer=False, batch_size=None, input_gram=None):
    """The `[n1, n2]` empirical tangent kernel of the raw output f on x1 x x2.

    Args:
        model: a model made by `models.build_model` (kernel of f = W z / sqrt(h) over the trained
            parameters), or any Keras model with one output per example (method "jacobian").
        x1: `[n1, *input_shape]` inputs (array or tensor; cast to the model's dtype).
        x2: `[n2, *input_shape]` inputs, or None for x2 = x1 (the kernel is then symmetric and
            the forward/backward work is done once).
        method: "auto" (default), "structured" or "jacobian" (see `Method` and the module
            docstring).
        per_layer: if True return `{layer name: [n1, n2] kernel}` for the layers holding trained
            parameters, in forward order, instead of their sum.
        batch_size: samples per forward/backward (structured) or per `GradientTape.jacobian` call
            (jacobian); None chooses it from `structured.STRUCTURED_CHUNK_BYTES` /
            `JACOBIAN_CHUNK_BYTES`.
        input_gram: `first_layer_gram(model, x1, x2)` `[n1, n2]`, computed once for points whose
            kernel is computed again and again (structured method; the jacobian method and a
            sharded call do not need it and ignore it).

    Returns:
        A `[n1, n2]` tf.Tensor in the model's dtype, or a dict of them if `per_layer`.

    Example:
        >>> theta = empirical_ntk(model, x_train[:256])                  # [256, 256]
        >>> theta_test_train = empirical_ntk(model, x_test, x_train)     # [n_test, n_train]

    Reference:
        Jacot, Gabriel & Hongler (2018), arXiv:1806.07572; Geiger et al. (2020), arXiv:1906.08034.
    """
    method = resolve_method(model, method)
    _check_batch_size(batch_size)
    dtype = _model_dtype(model)
    x1 = tf.convert_to_tensor(x1)
    x1 = tf.cast(x1, dtype) if x1.dtype != dtype else x1
    if x2 is not None:
        x2 = tf.convert_to_tensor(x2)
        x2 = tf.cast(x2, dtype) if x2.dtype != dtype else x2
    strategy = sharding_strategy() if static_n(x1) is not None else None
    if strategy is not None:
        kernels = _sharded_ntk(strategy, model, x1, x2, method, batch_size)
    elif method == Method.STRUCTURED.value:
        run = _structured_graph(model, per_layer, batch_size) if tf.executing_eagerly() else partial(
            _structured_kernels, model, per_layer, batch_size)
        kernels = run(x1, x2, input_gram)
    else:
        kernels = _jacobian_ntk(model, x1, x2, batch_size)
    if per_layer:
        return kernels
    total = None
    for kernel in kernels.values():
        total = add(total, kernel)
    return total


_STRUCTURED_GRAPHS = weakref.WeakKeyDictionary()
"""model -> {(per_layer, batch_size): tf.function} of eager structured calls: op by op, the small
products and slices of the symmetric blocks cost more than the products themselves (about 0.1 s
for n = 1000 on 2 cores); as one graph they cost a few ms. Traced once per model, settings and
input shapes."""


def _structured_kernels(model, per_layer, batch_size, x1, x2, input_gram):
    return structured_ntk(network_parts(model), x1, x2, per_layer=per_layer, batch_size=batch_size,
                          input_gram=input_gram)


def compiles_with_xla(model):
    """Whether eager structured calls on `model` are compiled with XLA: float32 networks of dense
    layers. XLA fuses the blocks' elementwise products and sums and runs their small products
    faster: Theta(x, x) at n = 1000, h = 512 in 43-45 ms instead of 52-58 ms (n = 2000, h = 100:
    45 vs 49 ms; n = 128, h = 64: 0.8 vs 1.4 ms; 2 cores), for a first call (compilation) 0.4-0.9 s
    longer, which `lazyfeat_tf.compilation_cache` spares the later processes. In float64 XLA's
    products are slower (122 vs 104 ms at n = 1000, h = 512): not compiled."""
    return dense_only(model) and _model_dtype(model) == tf.float32


def _structured_graph(model, per_layer, batch_size):
    """The tf.function running `_structured_kernels` for `model` (no reference cycle to it),
    compiled with XLA if `compiles_with_xla(model)`."""
    graphs = _STRUCTURED_GRAPHS.setdefault(model, {})
    key = (per_layer, batch_size)
    if key not in graphs:
        model_ref = weakref.ref(model)
        graphs[key] = tf.function(
            lambda x1, x2, input_gram: _structured_kernels(model_ref(), per_layer, batch_size, x1, x2, input_gram),
            autograph=False, jit_compile=compiles_with_xla(model),
        )
    return graphs[key]


# ----------------------------------------------------------------------------------------------
# Under a tf.distribute strategy: rows of x1 sharded across the replicas.


def sharding_strategy():
    """The current strategy when called in its cross-replica context (inside `strategy.scope()`,
    outside `strategy.run`) with several replicas or a TPU, which `empirical_ntk` shards the rows of
    x1 across (when n1 is static); else None."""
    if not tf.distribute.in_cross_replica_context():
        return None
    strategy = tf.distribute.get_strategy()
    if strategy.num_replicas_in_sync > 1 or "TPU" in type(strategy).__name__:
        return strategy
    return None


_SHARDED_FUNCTIONS = weakref.WeakKeyDictionary()
"""model -> {(strategy id, method, batch_size): tf.function} for eager sharded calls."""


def _sharded_ntk(strategy, model, x1, x2, method, batch_size):
    """{layer: [n1, n2]}: each replica computes the kernel of an equal block of rows of x1 (the last
    padded with copies of the first row) against all of x2 (x1 when x2 is None); the blocks are
    concatenated in replica order."""
    replicas, n1 = strategy.num_replicas_in_sync, static_n(x1)
    padded = accelerators.pad_to(x1, accelerators.shard_size(n1, replicas) * replicas)
    x2 = x1 if x2 is None else x2
    if not tf.executing_eagerly():
        return _sharded_run(strategy, model, method, batch_size, padded, x2, n1)
    functions = _SHARDED_FUNCTIONS.setdefault(model, {})
    key = (id(strategy), method, batch_size)
    if key not in functions:  # one tf.function per model and settings (no weak reference cycle)
        model_ref = weakref.ref(model)
        functions[key] = tf.function(
            lambda padded, x2, n1: _sharded_run(strategy, model_ref(), method, batch_size, padded, x2, n1),
            autograph=False,
        )
    return functions[key](padded, x2, n1)


def _sharded_run(strategy, model, method, batch_size, padded, x2, n1):
    replicas = strategy.num_replicas_in_sync
    rows = int(padded.shape[0]) // replicas

    def replica_kernels(padded, x2):
        block = accelerators.replica_rows(padded, replicas, rows)
        return empirical_ntk(model, block, x2, method=method, per_layer=True, batch_size=batch_size)

    per_replica = strategy.run(replica_kernels, args=(padded, x2))
    return {name: accelerators.gather_rows(strategy, value, n1) for name, value in per_replica.items()}


# ----------------------------------------------------------------------------------------------
# Jacobian contraction.


def _jacobian_setup(model):
    """(f: x -> [b] raw outputs, [(layer name, [trainable variables])]) for any Keras model."""
    net = network_parts(model)
    if net is not None:

        def raw_output(x):
            return net.readout.raw_output(net.trunk(x))

        # trainable_weights: the readout's frozen kernel0 does not enter.
        groups = [(layer.name, list(layer.trainable_weights)) for layer in net.parameter_layers]
        return raw_output, [(name, variables) for name, variables in groups if variables]

    def output(x):
        y = model(x)
        if isinstance(y, (list, tuple, dict)):
            raise ValueError(
                f"empirical_ntk needs a single-output model, {model.name!r} returns {type(y).__name__}"
            )
        if y.shape.rank == 2 and y.shape[-1] == 1:
            y = y[:, 0]
        if y.shape.rank != 1:
            raise ValueError(
                f"empirical_ntk needs one output per example ([n] or [n, 1]); model {model.name!r} "
                f"returns shape {tuple(y.shape)}"
            )
        return y

    groups, seen = [], set()
    for layer in model.layers:
        variables = [v for v in layer.trainable_weights if id(v) not in seen]
        seen.update(id(v) for v in variables)
        if variables:
            groups.append((layer.name, variables))
    return output, groups


def _per_example_jacobian(f, x, variables):
    """`[b, sum of variable sizes]` per-example gradients of f(x) `[b]` (pfor-vectorized)."""
    with tf.GradientTape() as tape:
        y = f(x)
    jacobians = tape.jacobian(y, variables, experimental_use_pfor=True)
    b = tf.shape(y)[0]
    flat = [
        tf.zeros([b, elements(v.shape)], y.dtype) if j is None else tf.reshape(j, [b, -1])
        for v, j in zip(variables, jacobians)
    ]
    return flat[0] if len(flat) == 1 else tf.concat(flat, axis=1)


def _activation_elements(model):
    """Best-effort number of activations per example of `model` (sizes the jacobian chunks: the
    pfor backward pass of a chunk of b samples holds O(b^2 * activations) values)."""
    net = network_parts(model)
    if net is not None:
        shape = (None,) + tuple(net.trunk.input_shape[1:])
        total = elements(shape[1:])
        for layer in net.trunk.layers:
            shape = layer.compute_output_shape(shape)
            total += elements(shape[1:])
        return total

    def count(container):
        total = 0
        for layer in getattr(container, "layers", ()):
            try:
                outputs = tf.nest.flatten(layer.output)
            except (AttributeError, ValueError):
                outputs = []
            total += sum(elements(o.shape[1:]) for o in outputs) + count(layer)
        return total

    return max(count(model), 1)


def _parameter_chunks(groups, max_params):
    """Split the variables of `groups` ([(name, [variables])], in order) into consecutive chunks
    of at most `max_params` parameters (a single larger variable forms its own chunk).

    Returns [(variables, segments)] with segments [(name, start column, stop column)] locating
    each layer's parameters in the chunk's flattened Jacobian.
    """
    chunks, current, size = [], [], 0
    for name, variables in groups:
        for v in variables:
            n = elements(v.shape)
            if current and size + n > max_params:
                chunks.append(current)
                current, size = [], 0
            current.append((name, v, size, size + n))
            size += n
    if current:
        chunks.append(current)
    result = []
    for chunk in chunks:
        segments = []
        for name, _, start, stop in chunk:
            if segments and segments[-1][0] == name:
                segments[-1] = (name, segments[-1][1], stop)
            else:
                segments.append((name, start, stop))
        result.append(([v for _, v, _, _ in chunk], segments))
    return result


class _JacobianBlocks:
    """Per-example Jacobians `[b, n_params]` of sample blocks with respect to a chunk of variables.

    Each `GradientTape.jacobian` call handles `batch` samples; eagerly, the call is wrapped in one
    `tf.function` per chunk (pfor would otherwise retrace at every call).
    """

    def __init__(self, f, variables, batch):
        self.batch = batch

        def jacobian(x):
            return _per_example_jacobian(f, x, variables)

        eager = tf.executing_eagerly()
        self._jacobian = tf.function(jacobian, autograph=False) if eager else jacobian

    def rows(self, x, bounds):
        start, stop = bounds
        if start is None:
            return self._jacobian(x)
        parts = [self._jacobian(x[start + a : start + b]) for a, b in chunks(stop - start, self.batch)]
        return parts[0] if len(parts) == 1 else tf.concat(parts, axis=0)


def _segment_grams(j1, j2, segments):
    """[J1[:, seg] J2[:, seg]^T for each segment]."""
    if len(segments) == 1:
        return [gram(j1, j2)]
    return [gram(j1[:, a:b], j2[:, a:b]) for _, a, b in segments]


def _assemble(blocks):
    rows = [row[0] if len(row) == 1 else tf.concat(row, axis=1) for row in blocks]
    return rows[0] if len(rows) == 1 else tf.concat(rows, axis=0)


def _jacobian_chunk_kernels(f, x1, x2, variables, segments, batch, dtype):
    """[sum over a segment's parameters of J1 J2^T `[n1, n2]` for each segment], holding at most
    two blocks of Jacobians of `JACOBIAN_CHUNK_BYTES / 2` each (when the Jacobians of all samples
    do not fit, column blocks are recomputed: time traded for memory)."""
    symmetric = x2 is None
    per_sample = sum(elements(v.shape) for v in variables) * dtype.size
    block = max(1, JACOBIAN_CHUNK_BYTES // (2 * per_sample))
    jacobians = _JacobianBlocks(f, variables, max(1, min(batch, block)))
    n1 = static_n(x1)
    n2 = n1 if symmetric else static_n(x2)
    if n1 is None or n2 is None:
        j1 = jacobians.rows(x1, (None, None))
        return _segment_grams(j1, j1 if symmetric else jacobians.rows(x2, (None, None)), segments)
    if symmetric:
        rows = chunks(n1, block)
        out = [[[None] * len(rows) for _ in rows] for _ in segments]
        for i, r in enumerate(rows):
            j_row = jacobians.rows(x1, r)
            for j in range(i, len(rows)):
                j_col = j_row if j == i else jacobians.rows(x1, rows[j])
                for s, value in enumerate(_segment_grams(j_row, j_col, segments)):
                    out[s][i][j] = value
                    if j != i:
                        out[s][j][i] = tf.transpose(value)
    else:
        if (n1 + n2) * per_sample <= JACOBIAN_CHUNK_BYTES:
            rows, cols = [(0, n1)], [(0, n2)]
        else:
            rows, cols = chunks(n1, block), chunks(n2, block)
        out = [[[None] * len(cols) for _ in rows] for _ in segments]
        cached = jacobians.rows(x2, cols[0]) if len(cols) == 1 else None
        for i, r in enumerate(rows):
            j_row = jacobians.rows(x1, r)
            for j, c in enumerate(cols):
                j_col = cached if cached is not None else jacobians.rows(x2, c)
                for s, value in enumerate(_segment_grams(j_row, j_col, segments)):
                    out[s][i][j] = value
    return [_assemble(blocks) for blocks in out]


def _jacobian_ntk(model, x1, x2, batch_size):
    f, groups = _jacobian_setup(model)
    dtype = _model_dtype(model)
    if batch_size is None:
        activations = _activation_elements(model)
        by_activations = int(math.sqrt(JACOBIAN_CHUNK_BYTES / (2 * activations * dtype.size)))
        batch_size = max(1, min(JACOBIAN_MAX_BATCH, by_activations))
    max_params = max(1, JACOBIAN_CHUNK_BYTES // (2 * batch_size * dtype.size))
    kernels = {name: None for name, _ in groups}
    for variables, segments in _parameter_chunks(groups, max_params):
        values = _jacobian_chunk_kernels(f, x1, x2, variables, segments, batch_size, dtype)
        for (name, _, _), value in zip(segments, values):
            kernels[name] = add(kernels[name], value)
    return kernels
