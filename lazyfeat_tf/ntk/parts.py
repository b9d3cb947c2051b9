"""What the kernel methods share: the parts of a model made by `models.build_model` that hold the
trained parameters, and small helpers on sample chunks and Gram products."""

import math

import tensorflow as tf

from lazyfeat_tf import models
from lazyfeat_tf import layers as lf_layers


def network_parts(model):
    """`models.parts(model)` for a model made by `build_model`, else None."""
    names = {layer.name for layer in getattr(model, "layers", ())}
    if not {"trunk", "trunk0", "readout"} <= names:
        return None
    net = models.parts(model)
    if not isinstance(net.readout, lf_layers.CenteredReadout):
        return None
    return net


def holds(layer, variable):
    """Whether `variable` is one of `layer`'s trainable weights."""
    return variable is not None and any(v is variable for v in layer.trainable_weights)


def static_n(x):
    """The number of samples of x if it is known when tracing, else None."""
    return x.shape[0] if x.shape.rank else None


def chunks(n, size):
    """[(start, stop)] covering range(n) by `size` (one chunk if n is unknown)."""
    if n is None:
        return [(None, None)]
    size = max(1, min(size, n)) if n else 1
    return [(start, min(start + size, n)) for start in range(0, n, size)] or [(0, 0)]


def take(x, bounds):
    """Rows `bounds` = (start, stop) of x (all of x for (None, None))."""
    start, stop = bounds
    return x if start is None else x[start:stop]


def elements(shape):
    """Number of elements of a shape (unknown dimensions left out)."""
    return math.prod(int(s) for s in shape if s is not None)


def gram(a, b):
    """a `[n1, k]`, b `[n2, k]` -> a b^T `[n1, n2]`."""
    return tf.matmul(a, b, transpose_b=True)


def add(total, term):
    """total + term, with None for an empty total."""
    return term if total is None else total + term
