"""Networks of the article, built from a config, with the alpha/sqrt(h) readout.

`build_model(config, input_shape)` returns a functional Keras model x -> F(w, x) made of three
named parts (see `NetworkParts`):

- "trunk": the trained hidden layers, x `[batch, *input_shape]` -> features z `[batch, h]`;
- "trunk0": a frozen copy of the trunk at initialization (non-trainable);
- "readout": `CenteredReadout`, F = alpha * (W z - W0 z0) / sqrt(h).

Two architectures (article setups A and B):
- "fc": flatten, then `depth` NTK dense layers of width h, each followed by the activation;
- "cnn": 2 blocks of 2 NTK convolutions (5x5 filters, padding 1, stride 2 on the first conv of each
  block, h channels), each followed by the activation, then global average pooling.
"""

import dataclasses
import math

import keras

from lazyfeat_tf import layers

ARCHITECTURES = ("fc", "cnn")


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

    @property
    def parameter_layers(self):
        """Layers holding trained parameters, in forward order (trunk layers, then the readout)."""
        return [layer for layer in self.trunk.layers if layer.trainable_weights] + [self.readout]


def resolve_alpha(config):
    """alpha from `config.alpha` or `config.alpha_sqrt_h` (exactly one is set): alpha*sqrt(h)/sqrt(h)."""
    if config.get("alpha") is not None:
        return float(config.alpha)
    return float(config.alpha_sqrt_h) / math.sqrt(config.model.width)


def _trunk(model_config, input_shape, dtype, name):
    kind = model_config.kind
    act = dict(activation=model_config.activation, softplus_beta=model_config.softplus_beta, dtype=dtype)
    bias = dict(use_bias=model_config.use_bias, beta=model_config.beta, dtype=dtype)
    h = model_config.width
    stack = [keras.Input(input_shape, dtype=dtype)]
    if kind == "fc":
        stack.append(keras.layers.Flatten(dtype=dtype, name="flatten"))
        for i in range(1, model_config.depth + 1):
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


def build_model(config, input_shape):
    """The Keras model x -> F(w, x) described by `config`.

    Args:
        config: ConfigDict with `model.{kind, depth, width, activation, softplus_beta, use_bias,
            beta}`, `alpha` or `alpha_sqrt_h`, `seed` (initialization seed) and `dtype`.
        input_shape: shape of one input, e.g. (28, 28, 1) or (d,).

    Returns:
        A `keras.Model` with output `[batch]`; its parts are available through `parts(model)`.
    """
    keras.utils.set_random_seed(config.seed)
    dtype = config.dtype
    trunk = _trunk(config.model, input_shape, dtype, "trunk")
    trunk0 = _trunk(config.model, input_shape, dtype, "trunk0")
    trunk0.set_weights(trunk.get_weights())
    trunk0.trainable = False
    inputs = keras.Input(input_shape, dtype=dtype, name="x")
    readout = layers.CenteredReadout(resolve_alpha(config), dtype=dtype, name="readout")
    outputs = readout([trunk(inputs), trunk0(inputs)])
    return keras.Model(inputs, outputs, name=f"{config.model.kind}_alpha_sqrt_h")


def parts(model):
    """The `NetworkParts` (trunk, frozen trunk0, readout) of a model made by `build_model`."""
    return NetworkParts(model.get_layer("trunk"), model.get_layer("trunk0"), model.get_layer("readout"))
