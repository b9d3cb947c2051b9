"""Losses of the article: L(w) = 1/(alpha^2 n) * sum_mu l(F(w, x_mu) y_mu).

The 1/alpha^2 factor makes dF/dt independent of alpha in the lazy regime. The per-point losses l
of the margin z = F y are:

- "hinge": max(0, 1 - z);
- "soft_hinge": softplus_b(1 - z) = log(1 + exp(b (1 - z))) / b (b = `soft_hinge_beta`, 20 by
  default);
- "quadratic_hinge": max(0, 1 - z)^2 / 2.

Every one of them is zero (or, for the soft hinge, small) once every margin reaches 1.
"""

import numpy as np
from keras import ops

from lazyfeat_tf.config.choices import LOSSES


def pointwise_loss(name, margins, soft_hinge_beta=20.0):
    """l(z) for margins z = F y, any shape; returns the same shape."""
    if name == "hinge":
        return ops.relu(1.0 - margins)
    if name == "soft_hinge":
        return ops.softplus(soft_hinge_beta * (1.0 - margins)) / soft_hinge_beta
    if name == "quadratic_hinge":
        return 0.5 * ops.square(ops.relu(1.0 - margins))
    raise ValueError(f"loss={name!r} is not one of {LOSSES}")


def pointwise_derivative(name, margins, soft_hinge_beta=20.0):
    """dl/dz at margins z, any shape, as autodiff of `pointwise_loss` gives it (at the hinge's kink
    z = 1: 0): -1[z < 1] (hinge), -sigmoid(b (1 - z)) (soft hinge), -max(0, 1 - z) (quadratic hinge).
    """
    if name == "hinge":
        return -ops.cast(margins < 1.0, margins.dtype)
    if name == "soft_hinge":
        return -ops.sigmoid(soft_hinge_beta * (1.0 - margins))
    if name == "quadratic_hinge":
        return -ops.relu(1.0 - margins)
    raise ValueError(f"loss={name!r} is not one of {LOSSES}")


def mean_loss(name, outputs, labels, soft_hinge_beta=20.0):
    """The unscaled loss alpha^2 L = mean_mu l(F_mu y_mu); outputs and labels `[n]` -> scalar."""
    return ops.mean(pointwise_loss(name, outputs * labels, soft_hinge_beta))


def scaled_loss(name, outputs, labels, alpha, soft_hinge_beta=20.0):
    """The article's L = 1/(alpha^2 n) sum_mu l(F_mu y_mu): `[n]`, `[n]` -> scalar."""
    return mean_loss(name, outputs, labels, soft_hinge_beta) / alpha**2


def error_rate(outputs, labels):
    """Fraction of points with F y <= 0 (a zero output counts as an error): `[n]`, `[n]` -> scalar."""
    return ops.mean(ops.cast(outputs * labels <= 0, outputs.dtype))


def finite_error_rate(outputs, labels):
    """`error_rate` as a Python float, or NaN when an output is not finite: a diverged network (or
    kernel predictor) has no error rate (NaN margins would count as correct). numpy `[n]`, `[n]`."""
    outputs = np.asarray(outputs)
    if not np.all(np.isfinite(outputs)):
        return float("nan")
    return float(error_rate(outputs, np.asarray(labels, outputs.dtype)))

