"""Keras 3 layers of the NTK-parameterized networks of Geiger et al. (arXiv:1906.08034).

Notation of the article: a hidden layer maps z^(l-1) to

    z^l = sigma(W^l z^(l-1) / sqrt(n_(l-1)) + beta * b^l),

with every weight and bias drawn N(0, 1) and n_(l-1) the fan-in. The network's raw output is
f(w, x) = W^(L+1) z^L / sqrt(h) and the trained function is centred and scaled,

    F(w, x) = alpha * (f(w, x) - f(w0, x)),

so that F = 0 at initialization whatever alpha is (the "alpha/sqrt(h) readout": the last layer is
scaled by alpha/sqrt(h)). `CenteredReadout(centered=False)` gives F(w, x) = alpha * f(w, x) instead. Here h is the number of features entering the readout (the width of the
last hidden layer, or the number of channels after global average pooling for the CNN).

`NTKDense` and `NTKConv2D` compute pre-activations only; `NormalizedActivation` applies sigma, so
that the kernel code can read pre-activations between layers.
"""

import math

import keras
import numpy as np
from keras import ops

from lazyfeat_tf.config.choices import ACTIVATIONS

_PACKAGE = "lazyfeat_tf"


def _standard_normal():
    return keras.initializers.RandomNormal(mean=0.0, stddev=1.0)


def _check_positive(name, value, kind=float):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"{name} must be a positive {kind.__name__}, received {name}={value!r}")


class _NTKLinearMap(keras.layers.Layer):
    """Shared part of `NTKDense` and `NTKConv2D`: N(0, 1) kernel and bias, `out / sqrt(fan_in) + beta b`."""

    def __init__(self, use_bias=False, beta=1.0, **kwargs):
        super().__init__(**kwargs)
        if not beta >= 0:
            raise ValueError(f"beta must be >= 0, received beta={beta!r}")
        self.use_bias = bool(use_bias)
        self.beta = float(beta)

    def _add_parameters(self, kernel_shape):
        """Create the kernel `kernel_shape` and, if used, the bias `[kernel_shape[-1]]`."""
        self.kernel = self.add_weight(name="kernel", shape=kernel_shape, initializer=_standard_normal())
        self.bias = (
            self.add_weight(name="bias", shape=(kernel_shape[-1],), initializer=_standard_normal())
            if self.use_bias
            else None
        )

    @property
    def fan_in(self):
        """Inputs per output unit: the product of every kernel dimension but the last."""
        return int(np.prod(self.kernel.shape[:-1]))

    def _scale_and_shift(self, outputs):
        outputs = outputs / math.sqrt(self.fan_in)
        return outputs if self.bias is None else outputs + self.beta * self.bias

    def get_config(self):
        return {**super().get_config(), "use_bias": self.use_bias, "beta": self.beta}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class NTKDense(_NTKLinearMap):
    """Dense pre-activation in NTK parameterization: `W z / sqrt(fan_in) + beta * b`.

    Weights W `[fan_in, units]` and bias b `[units]` are drawn N(0, 1); the 1/sqrt(fan_in) factor
    lives in the forward pass, not in the initialization.

    Args:
        units: number of output features (the width h of the layer), > 0.
        use_bias: whether to add `beta * b`.
        beta: bias scale (the article's beta), >= 0.

    Call arguments:
        inputs: `[batch, fan_in]`.

    Returns:
        `[batch, units]` pre-activations.

    Example:
        >>> layer = NTKDense(64, use_bias=True, beta=0.1)
        >>> layer(np.ones((2, 10), "float32")).shape
        (2, 64)

    Reference:
        Jacot, Gabriel & Hongler (2018), Neural Tangent Kernel; Geiger et al. (2019), eq. (1).
    """

    def __init__(self, units, use_bias=False, beta=1.0, **kwargs):
        super().__init__(use_bias=use_bias, beta=beta, **kwargs)
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            raise ValueError(f"units must be a positive int, received units={units!r}")
        self.units = units

    def build(self, input_shape):
        self._add_parameters((int(input_shape[-1]), self.units))

    def call(self, inputs):
        return self._scale_and_shift(ops.matmul(inputs, self.kernel))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class NTKConv2D(_NTKLinearMap):
    """2-D convolution pre-activation in NTK parameterization (channels last).

    `out = conv(pad(x), W) / sqrt(k * k * c_in) + beta * b`, with W `[k, k, c_in, filters]` and
    b `[filters]` drawn N(0, 1).

    Args:
        filters: output channels (the width h), > 0.
        kernel_size: filter side k, > 0.
        strides: stride s, > 0.
        padding: zeros added on every side before a "valid" convolution (int >= 0; the article's
            CNN uses 1), or "same".
        use_bias: whether to add `beta * b`.
        beta: bias scale, >= 0.

    Call arguments:
        inputs: `[batch, height, width, c_in]`.

    Returns:
        `[batch, height', width', filters]` pre-activations.
    """

    def __init__(self, filters, kernel_size=5, strides=1, padding=1, use_bias=False, beta=1.0, **kwargs):
        super().__init__(use_bias=use_bias, beta=beta, **kwargs)
        for name, value in (("filters", filters), ("kernel_size", kernel_size), ("strides", strides)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive int, received {name}={value!r}")
        if padding != "same" and not (isinstance(padding, int) and padding >= 0):
            raise ValueError(f"padding must be an int >= 0 or 'same', received padding={padding!r}")
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.padding = padding

    def build(self, input_shape):
        k = self.kernel_size
        self._add_parameters((k, k, int(input_shape[-1]), self.filters))

    def pad(self, inputs):
        """Explicit zero padding applied before the "valid" convolution (identity for "same")."""
        if self.padding == "same" or self.padding == 0:
            return inputs
        p = self.padding
        return ops.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]])

    @property
    def conv_padding(self):
        return "same" if self.padding == "same" else "valid"

    def call(self, inputs):
        return self._scale_and_shift(
            ops.conv(self.pad(inputs), self.kernel, strides=self.strides, padding=self.conv_padding)
        )

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape

        def side(n):
            if n is None:
                return None
            if self.padding == "same":
                return -(-n // self.strides)
            return (n + 2 * self.padding - self.kernel_size) // self.strides + 1

        return (batch, side(height), side(width), self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
        }


def softplus_normalization(softplus_beta, n_nodes=200):
    """c such that E[(c * softplus_beta(z))^2] = 1 for z ~ N(0, 1).

    softplus_beta(z) = log(1 + exp(beta z)) / beta. The Gaussian integral is computed by
    Gauss-Legendre quadrature with `n_nodes` nodes on each side of the kink at z = 0, over
    [-12, 12] (the Gaussian tail beyond is below 1e-30); exact to ~1e-15 for every beta.
    For beta = 5, c = 1.404383...
    """
    nodes, weights = np.polynomial.legendre.leggauss(n_nodes)
    second_moment = 0.0
    for low, high in ((-12.0, 0.0), (0.0, 12.0)):
        z = 0.5 * (high - low) * nodes + 0.5 * (high + low)
        values = np.logaddexp(0.0, softplus_beta * z) / softplus_beta
        density = np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)
        second_moment += 0.5 * (high - low) * np.sum(weights * values**2 * density)
    return float(1.0 / np.sqrt(second_moment))


def softplus(u):
    """log(1 + exp(u)) = max(u, 0) + log1p(exp(-|u|)), to a few ulps for every finite u (and the
    right limits at +-inf and NaN).

    The same function as `ops.softplus`, in other ops, for speed on CPUs: TensorFlow's Softplus
    kernel (a select between three branches) costs more than Exp and Log1p together, ~3.4 ns per
    float32 element and ~8.2 per float64 one on one core of a 2-core development machine, against
    ~2.1 and ~5.3 for this function (Abs -> Neg -> Exp -> Log1p is a chain of unary ops, which
    Grappler runs as one kernel, `_UnaryOpsComposition`).
    """
    return ops.relu(u) + ops.log1p(ops.exp(ops.negative(ops.abs(u))))


def scaled_softplus(z, softplus_beta, scale=1.0):
    """scale * softplus(softplus_beta * z) / softplus_beta (`softplus`), with its derivative
    scale * sigmoid(softplus_beta * z) as the custom gradient.

    The backward pass is one Sigmoid and two products, instead of autodiff through the ops of
    `softplus` (about ten passes over the elements). The gradient is written in ops of
    softplus_beta * z, which the tape records: gradients of gradients are exact too.
    """
    inner, outer = float(softplus_beta), float(scale) / float(softplus_beta)

    @ops.custom_gradient
    def forward(z):
        u = z * inner

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            return upstream * (float(scale) * ops.sigmoid(u))

        return outer * softplus(u), grad

    return forward(z)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class NormalizedActivation(keras.layers.Layer):
    """Activation normalized so that E[sigma(z)^2] = 1 for z ~ N(0, 1).

    - "relu": sigma(z) = sqrt(2) * max(0, z).
    - "softplus": sigma(z) = c * log(1 + exp(softplus_beta * z)) / softplus_beta, with c computed
      by `softplus_normalization` (c ~ 1.40438 for the article's softplus_beta = 5).

    Args:
        activation: "relu" or "softplus".
        softplus_beta: sharpness of the softplus, > 0 (ignored for relu).

    Call arguments:
        inputs: pre-activations of any shape; returns the same shape.
    """

    def __init__(self, activation="relu", softplus_beta=5.0, **kwargs):
        super().__init__(**kwargs)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, received activation={activation!r}")
        _check_positive("softplus_beta", softplus_beta)
        self.activation = activation
        self.softplus_beta = float(softplus_beta)
        self.scale = (
            math.sqrt(2.0) if activation == "relu" else softplus_normalization(self.softplus_beta)
        )

    def call(self, inputs):
        if self.activation == "relu":
            return self.scale * ops.relu(inputs)
        return scaled_softplus(inputs, self.softplus_beta, self.scale)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "activation": self.activation, "softplus_beta": self.softplus_beta}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CenteredReadout(keras.layers.Layer):
    """The alpha/sqrt(h) readout: F = alpha * (W z / sqrt(h) - W0 z0 / sqrt(h)), or F = alpha W z / sqrt(h).

    `z` are the features of the trained network and `z0` those of a frozen copy of the network at
    initialization; W `[h, 1]` (trainable, N(0, 1)) starts equal to W0 (non-trainable copy). Centred
    (the default), F(w, x) = alpha * (f(w, x) - f(w0, x)) with f the raw output W z / sqrt(h), so
    F(w0, x) = 0 exactly for every alpha. Not centred, F(w, x) = alpha * f(w, x) (the authors'
    `--f0 0`), and F(w0, x) = alpha f(w0, x); `z0` is then not used.

    Args:
        alpha: output scale (the article's alpha), > 0. The control parameter is alpha * sqrt(h).
        centered: whether f(w0, x) is subtracted.

    Call arguments:
        inputs: a pair `[z, z0]`, both `[batch, h]`.

    Returns:
        `[batch]`, the function F.
    """

    def __init__(self, alpha=1.0, centered=True, **kwargs):
        super().__init__(**kwargs)
        _check_positive("alpha", alpha)
        if not isinstance(centered, bool):
            raise ValueError(f"centered must be True or False, received centered={centered!r}")
        self.alpha = float(alpha)
        self.centered = centered

    def build(self, input_shape):
        width = int(input_shape[0][-1])
        self.kernel = self.add_weight(name="kernel", shape=(width, 1), initializer=_standard_normal())
        self.kernel0 = self.add_weight(
            name="kernel0", shape=(width, 1), initializer="zeros", trainable=False
        )
        self.kernel0.assign(self.kernel)

    @property
    def width(self):
        return int(self.kernel.shape[0])

    def raw_output(self, features, kernel=None):
        """f = features @ kernel / sqrt(h): `[batch, h]` -> `[batch]` (kernel defaults to W)."""
        kernel = self.kernel if kernel is None else kernel
        return ops.matmul(features, kernel)[:, 0] / math.sqrt(self.width)

    def reference(self, features0):
        """What F subtracts from f, `[batch]`: f(w0, x) = W0 z0 / sqrt(h) if centred, else zeros."""
        initial = self.raw_output(features0, self.kernel0)
        return initial if self.centered else ops.zeros_like(initial)

    def call(self, inputs):
        features, features0 = inputs
        return self.alpha * (self.raw_output(features) - self.reference(features0))

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0],)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "centered": self.centered}
