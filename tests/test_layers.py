"""Tests of lazyfeat_tf.layers and lazyfeat_tf.models: NTK parameterization against explicit numpy
formulas, normalized activations, the centred alpha/sqrt(h) readout (F = 0 at init, F linear in
alpha), Keras serialization and pinned parameter counts / shapes."""

import math
import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import integrate

from conftest import build_model, tiny_config
from lazyfeat_tf import config as config_lib
from lazyfeat_tf import layers, models


def softplus_np(z, beta):
    return np.logaddexp(0.0, beta * z) / beta


def perturb(model, scale=0.3, seed=1):
    """Add the same seeded N(0, scale^2) noise to every trained variable (same order every call)."""
    rng = np.random.default_rng(seed)
    for v in model.trainable_variables:
        v.assign(v.numpy() + scale * rng.standard_normal(v.shape).astype(v.dtype))


def cnn_config(**overrides):
    """`tiny_config` of a CNN of width 4 (ReLU) on an image task (the data is never loaded here)."""
    return tiny_config(model__kind="cnn", model__width=4, model__activation="relu", data__name="mnist",
                       data__source="tfds", **overrides)


def fc_model(dtype="float32", use_bias=False, input_dim=16, **overrides):
    settings = dict(dtype=dtype, model__use_bias=use_bias, model__beta=0.5 if use_bias else 0.0)
    config = tiny_config(**{**settings, **overrides})
    return build_model(config, (input_dim,)), config


def inputs(n, shape, seed=0, dtype="float32"):
    return np.random.default_rng(seed).standard_normal((n, *shape)).astype(dtype)


# ----------------------------------------------------------------------------------------------
# NTK dense and conv layers against numpy


@pytest.mark.parametrize("use_bias,beta", [(False, 1.0), (True, 0.0), (True, 0.3)])
def test_ntk_dense_matches_formula(use_bias, beta):
    layer = layers.NTKDense(5, use_bias=use_bias, beta=beta, dtype="float64")
    x = inputs(7, (11,), dtype="float64")
    out = np.asarray(layer(x))
    w = layer.kernel.numpy()
    expected = x @ w / math.sqrt(11)
    if use_bias:
        expected = expected + beta * layer.bias.numpy()
    assert out.shape == (7, 5)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    # Weights are N(0, 1): no 1/sqrt(fan_in) in the initialization.
    big = layers.NTKDense(400, dtype="float64")
    big.build((None, 100))
    assert abs(np.std(big.kernel.numpy()) - 1.0) < 0.02


def conv_reference(x, w, b, beta, stride, padding):
    """out[n, i, j, f] = sum_abc xpad[n, i s + a, j s + b, c] w[a, b, c, f] / sqrt(k k c) + beta b[f]."""
    k, _, c_in, filters = w.shape
    if padding == "same":
        pads = []
        for n_in in x.shape[1:3]:
            n_out = -(-n_in // stride)
            total = max((n_out - 1) * stride + k - n_in, 0)
            pads.append((total // 2, total - total // 2))
    else:
        pads = [(padding, padding)] * 2
    xp = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    h_out = (xp.shape[1] - k) // stride + 1
    w_out = (xp.shape[2] - k) // stride + 1
    out = np.zeros((x.shape[0], h_out, w_out, filters))
    for i in range(h_out):
        for j in range(w_out):
            patch = xp[:, i * stride:i * stride + k, j * stride:j * stride + k, :]
            out[:, i, j, :] = np.einsum("nabc,abcf->nf", patch, w)
    out /= math.sqrt(k * k * c_in)
    if b is not None:
        out += beta * b
    return out


@pytest.mark.parametrize(
    "kernel_size,stride,padding,use_bias",
    [(5, 2, 1, False), (5, 1, 1, True), (3, 2, 0, True), (3, 1, 2, False), (3, 1, "same", True),
     (4, 2, "same", False)],
)
def test_ntk_conv_matches_formula(kernel_size, stride, padding, use_bias):
    layer = layers.NTKConv2D(3, kernel_size=kernel_size, strides=stride, padding=padding,
                             use_bias=use_bias, beta=0.7, dtype="float64")
    x = inputs(2, (9, 8, 2), dtype="float64")
    out = np.asarray(layer(x))
    expected = conv_reference(x, layer.kernel.numpy(), layer.bias.numpy() if use_bias else None, 0.7,
                              stride, padding)
    assert out.shape == expected.shape
    assert layer.compute_output_shape((2, 9, 8, 2)) == expected.shape
    assert layer.fan_in == kernel_size * kernel_size * 2
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)


# ----------------------------------------------------------------------------------------------
# Normalized activations


def gaussian_second_moment(fn, lo=-12.0, hi=12.0, n=240_001):
    """E[fn(z)^2], z ~ N(0, 1), by the trapezoidal rule on a fine grid (fn maps arrays)."""
    z = np.linspace(lo, hi, n)
    density = np.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 (TensorFlow 2.16, 2.17) has only trapz
    return float(trapezoid(np.asarray(fn(z)) ** 2 * density, z))


@pytest.mark.parametrize("activation,softplus_beta", [("relu", 5.0), ("softplus", 5.0), ("softplus", 1.0)])
def test_normalized_activation_has_unit_second_moment(activation, softplus_beta):
    layer = layers.NormalizedActivation(activation, softplus_beta=softplus_beta, dtype="float64")
    # Quadrature through the layer itself.
    assert gaussian_second_moment(lambda z: layer(z[:, None])[:, 0]) == pytest.approx(1.0, abs=1e-7)
    # Monte Carlo: 4e5 samples, standard error of the mean of sigma^2 is < 0.005.
    z = np.random.default_rng(0).standard_normal(400_000)
    values = np.asarray(layer(z)) ** 2
    assert abs(values.mean() - 1.0) < 4 * values.std() / math.sqrt(len(z))
    assert np.asarray(layer(z)).dtype == np.float64


def softplus_inputs():
    """Pre-activations from -60 to 60 (softplus_beta z up to +-6000: overflow of exp, underflow into
    subnormals), zeros of both signs and tiny values."""
    tiny = [0.0, -0.0, 1e-300, -1e-300, 1e-20, -1e-20, 5e-9, -5e-9]
    return np.concatenate([np.linspace(-60.0, 60.0, 120_001), np.geomspace(1e-6, 60.0, 2001),
                           -np.geomspace(1e-6, 60.0, 2001), tiny])


def value_and_gradient(layer, z, upstream):
    z = tf.constant(z)
    with tf.GradientTape() as tape:
        tape.watch(z)
        out = layer(z)
        total = tf.reduce_sum(out * upstream)
    return out.numpy(), tape.gradient(total, z).numpy()


@pytest.mark.parametrize("softplus_beta", [1.0, 5.0, 100.0])
def test_fused_softplus_and_its_gradient_match_softplus_and_sigmoid_in_float64(softplus_beta):
    layer = layers.NormalizedActivation("softplus", softplus_beta=softplus_beta, dtype="float64")
    c, z = layer.scale, softplus_inputs()
    upstream = np.random.default_rng(0).standard_normal(z.shape)
    out, grad = value_and_gradient(layer, z, upstream)
    u = tf.constant(softplus_beta * z)
    expected = c * tf.nn.softplus(u).numpy() / softplus_beta
    expected_grad = upstream * c * tf.sigmoid(u).numpy()
    np.testing.assert_allclose(out, expected, rtol=2e-15, atol=1e-300)
    np.testing.assert_allclose(grad, expected_grad, rtol=2e-15, atol=1e-300)
    # Against numpy (log(1 + e^u) computed another way), where the value is a normal number.
    normal = expected > 1e-300
    np.testing.assert_allclose(out[normal], c * np.logaddexp(0.0, softplus_beta * z[normal]) / softplus_beta,
                               rtol=1e-14)
    assert out.dtype == grad.dtype == np.float64


def test_fused_softplus_in_float32_and_at_non_finite_inputs():
    layer = layers.NormalizedActivation("softplus", softplus_beta=5.0, dtype="float32")
    z = softplus_inputs()
    out, grad = value_and_gradient(layer, z.astype("float32"), np.ones(z.shape, "float32"))
    assert out.dtype == grad.dtype == np.float32
    u = (np.float32(5.0) * z.astype("float32")).astype("float64")  # softplus_beta * z, rounded as the layer does
    np.testing.assert_allclose(out, layer.scale * np.logaddexp(0.0, u) / 5.0, rtol=1e-6, atol=1e-37)
    np.testing.assert_allclose(grad, layer.scale / (1.0 + np.exp(-u)), rtol=1e-6, atol=1e-37)
    for dtype in ("float32", "float64"):
        special = np.array([np.inf, -np.inf, np.nan], dtype)
        out, grad = value_and_gradient(layers.NormalizedActivation("softplus", dtype=dtype), special, np.ones(3, dtype))
        np.testing.assert_array_equal(out[:2], [np.inf, 0.0])
        np.testing.assert_array_equal(grad[:2], np.array([layers.softplus_normalization(5.0), 0.0], dtype))
        assert np.isnan(out[2]) and np.isnan(grad[2])


def test_fused_softplus_has_exact_second_derivatives():
    # The custom gradient is written in differentiable ops of z: an outer tape sees it.
    beta = 5.0
    layer = layers.NormalizedActivation("softplus", softplus_beta=beta, dtype="float64")
    z = tf.constant(np.linspace(-3.0, 3.0, 61))
    with tf.GradientTape() as outer:
        outer.watch(z)
        with tf.GradientTape() as inner:
            inner.watch(z)
            total = tf.reduce_sum(layer(z))
        first = inner.gradient(total, z)
    second = outer.gradient(first, z)
    s, one_minus_s = (1.0 / (1.0 + np.exp(sign * beta * z.numpy())) for sign in (-1.0, 1.0))
    np.testing.assert_allclose(first.numpy(), layer.scale * s, rtol=1e-14)
    # TensorFlow's sigmoid gradient is s (1 - s): absolute round-off ~1e-16 where s is near 1.
    np.testing.assert_allclose(second.numpy(), layer.scale * beta * s * one_minus_s, rtol=1e-13, atol=1e-15)
    assert second.numpy().max() > 1.0


def softplus_constant_reference(beta):
    """1 / sqrt(E[softplus_beta(z)^2]) by adaptive quadrature, split at the kink z = 0."""
    integrand = lambda t: softplus_np(t, beta) ** 2 * math.exp(-t * t / 2) / math.sqrt(2 * math.pi)
    moment = sum(integrate.quad(integrand, lo, hi, epsabs=0.0, epsrel=1e-12, limit=200)[0]
                 for lo, hi in ((-40.0, 0.0), (0.0, 40.0)))
    return 1.0 / math.sqrt(moment)


def test_relu_is_sqrt2_relu_and_softplus_constant_matches_independent_integral():
    relu = layers.NormalizedActivation("relu", dtype="float64")
    z = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(np.asarray(relu(z)), math.sqrt(2) * np.maximum(z, 0), rtol=1e-15)
    for beta in (1.0, 5.0):
        c = softplus_constant_reference(beta)
        assert layers.softplus_normalization(beta) == pytest.approx(c, rel=1e-8)
        layer = layers.NormalizedActivation("softplus", softplus_beta=beta, dtype="float64")
        assert layer.scale == pytest.approx(c, rel=1e-8)
        np.testing.assert_allclose(np.asarray(layer(z)), c * softplus_np(z, beta), rtol=1e-7)
    # The article's softplus_5 constant (an independent number: c = 1.404383...).
    assert layers.softplus_normalization(5.0) == pytest.approx(1.404383, abs=2e-6)
    # For a very sharp softplus the constant tends to ReLU's sqrt(2).
    assert layers.softplus_normalization(1000.0) == pytest.approx(math.sqrt(2), rel=1e-4)


@pytest.mark.parametrize("beta", [20.0, 100.0])
def test_softplus_constant_is_accurate_for_sharp_softplus(beta):
    assert layers.softplus_normalization(beta) == pytest.approx(softplus_constant_reference(beta), rel=1e-9)


# ----------------------------------------------------------------------------------------------
# Serialization of the layers


LAYER_FACTORIES = [
    lambda: layers.NTKDense(4, use_bias=True, beta=0.25, name="d"),
    lambda: layers.NTKConv2D(3, kernel_size=3, strides=2, padding="same", use_bias=True, beta=0.5),
    lambda: layers.NTKConv2D(3, kernel_size=5, strides=1, padding=2),
    lambda: layers.NormalizedActivation("softplus", softplus_beta=3.0),
    lambda: layers.NormalizedActivation("relu"),
    lambda: layers.CenteredReadout(alpha=0.125),
    lambda: layers.CenteredReadout(alpha=0.125, centered=False),
]


@pytest.mark.parametrize("factory", LAYER_FACTORIES)
def test_layer_config_round_trip(factory):
    layer = factory()
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == f"lazyfeat_tf>{type(layer).__name__}"
    again = keras.saving.deserialize_keras_object(serialized)
    assert type(again) is type(layer) and again.get_config() == config


def test_layer_round_trip_reproduces_outputs():
    layer = layers.NTKConv2D(3, kernel_size=3, strides=2, padding=1, use_bias=True, beta=0.5)
    x = inputs(2, (7, 7, 2))
    out = np.asarray(layer(x))
    clone = layers.NTKConv2D.from_config(layer.get_config())
    clone.build(x.shape)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(np.asarray(clone(x)), out)


# ----------------------------------------------------------------------------------------------
# The model: F = alpha (f(w) - f(w0))


@pytest.mark.parametrize("alpha_sqrt_h", [1e-3, 1.0, 1e4])
@pytest.mark.parametrize("kind", ["fc", "cnn"])
def test_F_is_zero_at_initialization(kind, alpha_sqrt_h):
    if kind == "fc":
        model, _ = fc_model(use_bias=True, alpha_sqrt_h=alpha_sqrt_h, model__beta=1.0)
        x = inputs(32, (16,), seed=3)
    else:
        config = cnn_config(alpha_sqrt_h=alpha_sqrt_h)
        model = build_model(config, (20, 20, 1))
        x = inputs(8, (20, 20, 1), seed=3)
    out = np.asarray(model(x))
    assert out.shape == (len(x),)
    assert np.all(out == 0.0)
    # ... but the raw output f(w0, x) itself is not zero.
    p = models.parts(model)
    assert np.abs(np.asarray(p.readout.raw_output(p.trunk(x)))).max() > 1e-2


@pytest.mark.parametrize("kind", ["fc", "cnn"])
def test_uncentered_F_is_alpha_f_and_differs_from_the_centred_F_by_alpha_f0(kind):
    """model.centered=False: F = alpha f, so F(w0) = alpha f0 (not 0), and after any change of the
    weights F_uncentred - F_centred = alpha f0, the same constant."""
    if kind == "fc":
        (centred, _), (plain, _) = (fc_model(alpha_sqrt_h=3.0, model__centered=c) for c in (True, False))
        x = inputs(16, (16,), seed=4)
    else:
        centred, plain = (build_model(cnn_config(alpha_sqrt_h=3.0, model__centered=c), (20, 20, 1))
                          for c in (True, False))
        x = inputs(4, (20, 20, 1), seed=4)
    p = models.parts(plain)
    assert not p.readout.centered and models.parts(centred).readout.centered
    f0 = np.asarray(p.readout.raw_output(p.trunk0(x), p.readout.kernel0))
    assert np.abs(f0).max() > 1e-2
    np.testing.assert_allclose(np.asarray(plain(x)), p.alpha * f0, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(p.initial_function(x)), p.alpha * f0, rtol=1e-6)
    assert np.all(np.asarray(models.parts(centred).initial_function(x)) == 0.0)
    perturb(centred)
    perturb(plain)
    np.testing.assert_allclose(np.asarray(plain(x)) - np.asarray(centred(x)), p.alpha * f0, rtol=1e-4, atol=1e-6)


def fc_forward_numpy(weights, x, activation, softplus_beta, beta):
    """Raw output f(w, x) of the fc net from its weights [(W, b or None) per layer..., W_readout]."""
    *hidden, readout = weights
    z = x
    for w, b in hidden:
        pre = z @ w / math.sqrt(w.shape[0]) + (beta * b if b is not None else 0.0)
        if activation == "relu":
            z = math.sqrt(2) * np.maximum(pre, 0)
        else:
            z = layers.softplus_normalization(softplus_beta) * softplus_np(pre, softplus_beta)
    return (z @ readout)[:, 0] / math.sqrt(readout.shape[0])


@pytest.mark.parametrize("activation,use_bias", [("softplus", False), ("relu", True)])
def test_F_matches_numpy_network_after_perturbation(activation, use_bias):
    model, config = fc_model("float64", use_bias=use_bias, model__activation=activation,
                             alpha_sqrt_h=3.0, model__width=8)
    perturb(model)
    p = models.parts(model)

    def weights_of(trunk, kernel):
        dense = [l for l in trunk.layers if isinstance(l, layers.NTKDense)]
        return [(l.kernel.numpy(), l.bias.numpy() if l.use_bias else None) for l in dense] + [kernel.numpy()]

    x = inputs(10, (16,), seed=5, dtype="float64")
    args = (config.model.activation, config.model.softplus_beta, config.model.beta)
    f = fc_forward_numpy(weights_of(p.trunk, p.readout.kernel), x, *args)
    f0 = fc_forward_numpy(weights_of(p.trunk0, p.readout.kernel0), x, *args)
    alpha = 3.0 / math.sqrt(8)
    assert p.alpha == pytest.approx(alpha, rel=1e-15)
    np.testing.assert_allclose(np.asarray(model(x)), alpha * (f - f0), rtol=1e-9, atol=1e-12)
    assert np.abs(f - f0).max() > 1e-2


def test_F_scales_linearly_with_alpha():
    (m1, _), (m2, _) = fc_model(alpha_sqrt_h=0.01), fc_model(alpha_sqrt_h=70.0)
    for a, b in zip(m1.weights, m2.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())  # same seed, same weights
    perturb(m1)
    perturb(m2)
    x = inputs(20, (16,))
    f1, f2 = np.asarray(m1(x)), np.asarray(m2(x))
    assert np.abs(f1).min() > 0
    np.testing.assert_allclose(f2 / f1, 7000.0, rtol=1e-4)
    # A different seed gives different weights.
    m3, _ = fc_model(alpha_sqrt_h=0.01, seed=1)
    assert not np.allclose(m3.trainable_variables[0].numpy(), m1.trainable_variables[0].numpy())


@pytest.mark.parametrize("dtype,centered", [("float32", True), ("float64", True), ("float32", False)])
@pytest.mark.parametrize("kind", ["fc", "cnn"])
def test_keras_save_and_load_give_equal_F(tmp_path, kind, dtype, centered):
    if kind == "fc":
        model, _ = fc_model(dtype, use_bias=True, alpha_sqrt_h=2.0, model__centered=centered)
        x = inputs(16, (16,), dtype=dtype)
    else:
        config = cnn_config(dtype=dtype, alpha_sqrt_h=2.0, model__centered=centered)
        model = build_model(config, (20, 20, 1))
        x = inputs(4, (20, 20, 1), dtype=dtype)
    perturb(model)
    out = np.asarray(model(x))
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    out_loaded = np.asarray(loaded(x))
    assert out_loaded.dtype == np.dtype(dtype)
    assert np.abs(out).max() > 1e-3
    np.testing.assert_array_equal(out_loaded, out)
    p = models.parts(loaded)
    assert p.readout.centered is centered
    assert p.alpha == pytest.approx(2.0 / math.sqrt(model.get_layer("readout").width))
    assert not p.trunk0.trainable_weights  # the frozen copy stays frozen
    assert len(loaded.trainable_variables) == len(model.trainable_variables)
    np.testing.assert_array_equal(p.readout.kernel0.numpy(), models.parts(model).readout.kernel0.numpy())


# ----------------------------------------------------------------------------------------------
# Pinned parameter counts and shapes


def n_params(variables):
    return int(sum(np.prod(v.shape) for v in variables))


@pytest.mark.parametrize("use_bias,trainable", [(False, 16 * 8 + 8 * 8 + 8 * 8 + 8), (True, 264 + 3 * 8)])
def test_fc_parameter_count(use_bias, trainable):
    model, _ = fc_model(use_bias=use_bias, model__width=8, model__depth=3)
    assert n_params(model.trainable_variables) == trainable
    # The frozen copy trunk0 and W0 hold as many numbers again, non-trainable.
    assert n_params(model.non_trainable_variables) == trainable
    p = models.parts(model)
    assert [l.name for l in p.parameter_layers] == ["dense_1", "dense_2", "dense_3", "readout"]
    assert p.width == 8
    x = inputs(5, (16,))
    assert tuple(p.trunk(x).shape) == (5, 8)
    assert tuple(model(x).shape) == (5,)


@pytest.mark.parametrize("use_bias,trainable", [(False, 25 * 4 + 3 * 25 * 16 + 4), (True, 1304 + 4 * 4)])
def test_cnn_parameter_count_and_shapes(use_bias, trainable):
    config = cnn_config(model__use_bias=use_bias)
    model = build_model(config, (20, 20, 1))
    assert n_params(model.trainable_variables) == trainable
    assert n_params(model.non_trainable_variables) == trainable
    p = models.parts(model)
    convs = [l for l in p.trunk.layers if isinstance(l, layers.NTKConv2D)]
    assert [(l.strides, l.padding, l.kernel_size) for l in convs] == [(2, 1, 5), (1, 1, 5), (2, 1, 5), (1, 1, 5)]
    x = inputs(3, (20, 20, 1))
    sides = []
    h = x
    for layer in p.trunk.layers:
        h = layer(h)
        if isinstance(layer, layers.NTKConv2D):
            sides.append(tuple(h.shape[1:]))
    # (20 + 2 - 5) // 2 + 1 = 9, 9 + 2 - 5 + 1 = 7, (7 - 3) // 2 + 1 = 3, 3 - 2 = 1
    assert sides == [(9, 9, 4), (7, 7, 4), (3, 3, 4), (1, 1, 4)]
    assert tuple(p.trunk(x).shape) == (3, 4)
    assert tuple(model(x).shape) == (3,)


def test_resolve_alpha():
    assert config_lib.resolve(tiny_config(alpha_sqrt_h=2.0, model__width=16)).alpha == pytest.approx(0.5)
    assert config_lib.resolve(tiny_config(alpha=0.3, model__width=16)).alpha == pytest.approx(0.3)


# ----------------------------------------------------------------------------------------------
# Constructor errors name the value


@pytest.mark.parametrize(
    "factory,expected",
    [
        (lambda: layers.NTKDense(0), "units=0"),
        (lambda: layers.NTKDense(2.5), "units=2.5"),
        (lambda: layers.NTKDense(4, beta=-1.0), "beta=-1.0"),
        (lambda: layers.NTKConv2D(0), "filters=0"),
        (lambda: layers.NTKConv2D(4, kernel_size=-3), "kernel_size=-3"),
        (lambda: layers.NTKConv2D(4, strides=0), "strides=0"),
        (lambda: layers.NTKConv2D(4, padding="valid"), "padding='valid'"),
        (lambda: layers.NTKConv2D(4, padding=-1), "padding=-1"),
        (lambda: layers.NormalizedActivation("tanh"), "activation='tanh'"),
        (lambda: layers.NormalizedActivation("softplus", softplus_beta=0.0), "softplus_beta=0.0"),
        (lambda: layers.CenteredReadout(alpha=0.0), "alpha=0.0"),
        (lambda: layers.CenteredReadout(alpha=-2.0), "alpha=-2.0"),
        (lambda: layers.CenteredReadout(centered="no"), "centered='no'"),
    ],
)
def test_constructor_errors_name_the_value(factory, expected):
    with pytest.raises(ValueError, match=re.escape(expected)) as info:
        factory()
    assert "\n" not in str(info.value)
