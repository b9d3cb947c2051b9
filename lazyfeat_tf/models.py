"""Networks of the article, built from a `ModelSpec`, with the alpha/sqrt(h) readout.

`build_model(model_spec, input_shape, alpha=..., seed=..., dtype=...)` returns a functional Keras
model x -> F(w, x) made of three named parts (see `NetworkParts`):

- "trunk": the trained hidden layers, x `[batch, *input_shape]` -> features z `[batch, h]`;
- "trunk0": a frozen copy of the trunk at initialization (non-trainable);
- "readout": `CenteredReadout`, F = alpha * (W z - W0 z0) / sqrt(h) (or alpha W z / sqrt(h) with
  `model.centered=False`).

Two architectures (article setups A and B):
- "fc": flatten, then `depth` NTK dense layers of width h, each followed by the activation;
- "cnn": 2 blocks of 2 NTK convolutions (5x5 filters, padding 1, stride 2 on the first conv of each
  block, h channels), each followed by the activation, then global average pooling.
"""

import dataclasses

import keras

from lazyfeat_tf import layers
from lazyfeat_tf.config.choices import ARCHITECTURES


@dataclasses.dataclass(frozen=True)
class NetworkParts:
    """The three parts of a model built by `build_model`."""

    trunk: keras.Model
    trunk0: keras.Model
    readout: layers.CenteredReadout

    @property
    def width(self):
        """h, the number of features entering the readout."""
        return self.readout.width

    @property
    def alpha(self):
        return self.readout.alpha

    def initial_function(self, x):
        """F(w0, x) `[n]`: zeros if the readout is centred, else alpha f(w0, x) (from the frozen
        trunk0 and kernel0, whatever the current parameters)."""
        readout = self.readout
        if readout.centered:  # F(w0) = alpha (f0 - f0): no forward pass needed
            return keras.ops.zeros((keras.ops.shape(x)[0],), dtype=readout.dtype)
        return readout.alpha * readout.raw_output(self.trunk0(x), readout.kernel0)

    @property
    def parameter_layers(self):
        """Layers holding trained parameters, in forward order (trunk layers, then the readout)."""
        return [layer for layer in self.trunk.layers if layer.trainable_weights] + [self.readout]


def _trunk(model, input_shape, dtype, name):
    kind = model.kind
    act = dict(activation=model.activation, softplus_beta=model.softplus_beta, dtype=dtype)
    bias = dict(use_bias=model.use_bias, beta=model.beta, dtype=dtype)
    h = model.width
    stack = [keras.Input(input_shape, dtype=dtype)]
    if kind == "fc":
        stack.append(keras.layers.Flatten(dtype=dtype, name="flatten"))
        for i in range(1, model.depth + 1):
            stack += [
                layers.NTKDense(h, name=f"dense_{i}", **bias),
                layers.NormalizedActivation(name=f"act_{i}", **act),
            ]
    elif kind == "cnn":
        for i, stride in enumerate((2, 1, 2, 1), start=1):
            stack += [
                layers.NTKConv2D(h, kernel_size=5, strides=stride, padding=1, name=f"conv_{i}", **bias),
                layers.NormalizedActivation(name=f"act_{i}", **act),
            ]
        stack.append(keras.layers.GlobalAveragePooling2D(dtype=dtype, name="pool"))
    else:
        raise ValueError(f"model.kind={kind!r} is not one of {ARCHITECTURES}")
    return keras.Sequential(stack, name=name)


def build_model(model, input_shape, *, alpha, seed=0, dtype="float32"):
    """The Keras model x -> F(w, x) = alpha (f(w, x) - f(w0, x)) (or alpha f(w, x)) of the network `model`.

    Args:
        model: a `config.ModelSpec` (kind, depth, width h, activation, softplus_beta, use_bias, beta,
            centered).
        input_shape: shape of one input, e.g. (28, 28, 1) or (d,).
        alpha: the output scale (alpha*sqrt(h) / sqrt(h)).
        seed: the initialization seed.
        dtype: "float32" or "float64".

    Returns:
        A `keras.Model` with output `[batch]`; its parts are available through `parts(model)`.
    """
    keras.utils.set_random_seed(seed)
    trunk = _trunk(model, input_shape, dtype, "trunk")
    trunk0 = _trunk(model, input_shape, dtype, "trunk0")
    trunk0.set_weights(trunk.get_weights())
    trunk0.trainable = False
    inputs = keras.Input(input_shape, dtype=dtype, name="x")
    readout = layers.CenteredReadout(alpha, centered=model.centered, dtype=dtype, name="readout")
    outputs = readout([trunk(inputs), trunk0(inputs)])
    return keras.Model(inputs, outputs, name=f"{model.kind}_alpha_sqrt_h")


def build_run_model(spec, input_shape):
    """`build_model` for a `config.RunSpec`: its model, alpha, seed and dtype."""
    return build_model(spec.model, input_shape, alpha=spec.alpha, seed=spec.seed, dtype=spec.dtype)


def parts(model):
    """The `NetworkParts` (trunk, frozen trunk0, readout) of a model made by `build_model`."""
    return NetworkParts(model.get_layer("trunk"), model.get_layer("trunk0"), model.get_layer("readout"))
