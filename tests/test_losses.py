"""Tests of lazyfeat_tf.losses: the per-point losses at known margins, the 1/alpha^2 factor, the
error rate (a zero output is an error) and dtypes."""

import math
import re

import numpy as np
import pytest

from lazyfeat_tf import losses

MARGINS = np.array([-2.0, -1.0, 0.0, 0.5, 0.999, 1.0, 1.5, 3.0])


def test_hinge_at_known_margins():
    expected = [3.0, 2.0, 1.0, 0.5, 0.001, 0.0, 0.0, 0.0]
    np.testing.assert_allclose(np.asarray(losses.pointwise_loss("hinge", MARGINS)), expected, atol=1e-12)


def test_quadratic_hinge_at_known_margins():
    expected = [4.5, 2.0, 0.5, 0.125, 0.5e-6, 0.0, 0.0, 0.0]
    np.testing.assert_allclose(np.asarray(losses.pointwise_loss("quadratic_hinge", MARGINS)), expected,
                               rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("beta", [20.0, 5.0])
def test_soft_hinge_at_known_margins(beta):
    values = np.asarray(losses.pointwise_loss("soft_hinge", MARGINS, soft_hinge_beta=beta))
    expected = [math.log1p(math.exp(beta * (1 - z))) / beta for z in MARGINS]
    np.testing.assert_allclose(values, expected, rtol=1e-12)
    # softplus_b(0) = log(2)/b at margin 1; -> hinge far from the kink on both sides.
    assert values[MARGINS == 1.0][0] == pytest.approx(math.log(2) / beta, rel=1e-12)
    assert values[0] == pytest.approx(3.0, abs=math.exp(-3 * beta))
    assert values[-1] == pytest.approx(0.0, abs=math.exp(-2 * beta))


@pytest.mark.parametrize("name", ["hinge", "soft_hinge", "quadratic_hinge"])
def test_pointwise_derivative_is_the_autodiff_derivative_of_the_loss(name):
    import tensorflow as tf

    margins = tf.constant(np.concatenate([MARGINS, np.linspace(-3.0, 3.0, 601), [1.0 - 1e-12, 1.0 + 1e-12]]))
    with tf.GradientTape() as tape:
        tape.watch(margins)
        total = tf.reduce_sum(losses.pointwise_loss(name, margins, soft_hinge_beta=7.0))
    expected = tape.gradient(total, margins).numpy()
    derivative = np.asarray(losses.pointwise_derivative(name, margins, soft_hinge_beta=7.0))
    np.testing.assert_allclose(derivative, expected, rtol=1e-14, atol=1e-300)
    assert derivative.dtype == np.float64 and derivative.min() < -0.9  # not all zeros
    if name == "hinge":  # -1 left of the kink, 0 at it (as autodiff) and right of it
        np.testing.assert_array_equal(derivative[:len(MARGINS)], [-1, -1, -1, -1, -1, 0, 0, 0])
    with pytest.raises(ValueError, match="'absolute'"):
        losses.pointwise_derivative("absolute", margins)


def test_soft_hinge_default_beta_is_20_and_stable_far_from_the_margin():
    assert float(losses.pointwise_loss("soft_hinge", np.array([1.0]))[0]) == pytest.approx(math.log(2) / 20)
    far = np.asarray(losses.pointwise_loss("soft_hinge", np.array([-1e4, 1e4])))
    assert np.all(np.isfinite(far))
    np.testing.assert_allclose(far, [1e4 + 1, 0.0], rtol=1e-12, atol=1e-300)


def test_mean_and_scaled_loss_use_margins_F_y_and_the_alpha_factor():
    outputs = np.array([0.5, -2.0, 3.0, 0.0])
    labels = np.array([1.0, -1.0, -1.0, 1.0])  # margins 0.5, 2, -3, 0 -> hinge 0.5, 0, 4, 1
    assert float(losses.mean_loss("hinge", outputs, labels)) == pytest.approx(5.5 / 4, rel=1e-12)
    for alpha in (1e-3, 0.5, 1.0, 7.0):
        scaled = float(losses.scaled_loss("hinge", outputs, labels, alpha))
        assert scaled == pytest.approx(5.5 / 4 / alpha**2, rel=1e-12)
    # quadratic hinge: (0.25 + 0 + 16 + 1) / 2 / 4
    assert float(losses.scaled_loss("quadratic_hinge", outputs, labels, 2.0)) == pytest.approx(
        17.25 / 8 / 4, rel=1e-12)


def test_loss_at_initialization_is_l_of_zero_over_alpha2():
    """F = 0 at init, so L = l(0) / alpha^2: 1/alpha^2 for the hinge, log(1 + e^b)/(b alpha^2) soft."""
    zeros, labels = np.zeros(6), np.array([1.0, -1.0] * 3)
    assert float(losses.scaled_loss("hinge", zeros, labels, 0.1)) == pytest.approx(100.0, rel=1e-12)
    soft = float(losses.scaled_loss("soft_hinge", zeros, labels, 0.1, soft_hinge_beta=20.0))
    assert soft == pytest.approx(100.0 * math.log1p(math.exp(20.0)) / 20.0, rel=1e-12)


def test_error_rate_counts_zero_outputs_as_errors():
    outputs = np.array([1.0, -0.5, 0.0, 0.0, 2.0, -3.0, 1e-30, -1e-30])
    labels = np.array([1.0, -1.0, 1.0, -1.0, -1.0, 1.0, 1.0, -1.0])
    # correct: 0, 1, 6, 7; errors: 2, 3 (zero outputs), 4, 5
    assert float(losses.error_rate(outputs, labels)) == pytest.approx(0.5)
    assert float(losses.error_rate(np.zeros(5), np.ones(5))) == 1.0
    assert float(losses.error_rate(np.ones(5), np.ones(5))) == 0.0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", losses.LOSSES)
def test_losses_keep_the_dtype(name, dtype):
    outputs = np.array([0.3, -0.2], dtype)
    labels = np.array([1.0, 1.0], dtype)
    assert np.asarray(losses.scaled_loss(name, outputs, labels, 0.5)).dtype == np.dtype(dtype)
    assert np.asarray(losses.error_rate(outputs, labels)).dtype == np.dtype(dtype)


def test_unknown_loss_names_the_value():
    with pytest.raises(ValueError, match=re.escape("loss='logistic'")):
        losses.pointwise_loss("logistic", MARGINS)
