"""Kernel metrics: pure functions of `[n, n]` kernels (numpy arrays or eager tensors; computed in
float64 numpy, returning Python floats / lists).

- `relative_drift(theta_t, theta_0)` = ||Theta_t - Theta_0||_F / ||Theta_0||_F, the kernel change
  of Geiger et al. (2020), Sec. 5 (lazy regime: ~ 1/(alpha sqrt(h)); feature regime: O(1));
- `kernel_alignment(theta, y)` = y^T Theta y / (||Theta||_F ||y||^2), in [-1, 1] for a positive
  semi-definite Theta; 1 iff Theta is proportional to y y^T;
- `top_eigenvalues(theta, k)`: the k largest eigenvalues of the symmetric kernel, descending;
- `effective_rank(theta)` = (sum_i lambda_i)^2 / sum_i lambda_i^2 = tr(Theta)^2 / ||Theta||_F^2,
  the participation ratio of the spectrum: n for the identity (any multiple of it), 1 for a
  rank-one kernel, between 1 and rank(Theta) for a positive semi-definite Theta.

A kernel with a non-finite entry (the network diverged) has no such numbers: every function then
returns NaN (NaNs for the eigenvalues), never an error or a finite value.

Reference:
    Geiger, Spigler, Jacot & Wyart (2020), "Disentangling feature and lazy training in deep neural
    networks", arXiv:1906.08034.
"""

import numpy as np

NAN = float("nan")

def _matrix(theta, name="theta"):
    theta = np.asarray(theta, dtype=np.float64)
    if theta.ndim != 2:
        raise ValueError(f"{name} must be a 2-d kernel [n1, n2], received shape {theta.shape}")
    return theta


def relative_drift(theta_t, theta_0):
    """||Theta_t - Theta_0||_F / ||Theta_0||_F for two kernels of the same shape `[n1, n2]`.

    Returns 0.0 when both are zero and inf when only Theta_0 is.
    """
    theta_t, theta_0 = _matrix(theta_t, "theta_t"), _matrix(theta_0, "theta_0")
    if theta_t.shape != theta_0.shape:
        raise ValueError(f"kernels must have the same shape, received {theta_t.shape} and {theta_0.shape}")
    if not (np.all(np.isfinite(theta_t)) and np.all(np.isfinite(theta_0))):
        return NAN
    change = np.linalg.norm(theta_t - theta_0)
    reference = np.linalg.norm(theta_0)
    if reference == 0.0:
        return 0.0 if change == 0.0 else float("inf")
    return float(change / reference)


def kernel_alignment(theta, y):
    """y^T Theta y / (||Theta||_F ||y||^2) for Theta `[n, n]` and labels y `[n]` (or `[n, 1]`)."""
    theta = _matrix(theta)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if theta.shape != (y.size, y.size):
        raise ValueError(f"theta must be [n, n] with n = len(y) = {y.size}, received shape {theta.shape}")
    if not np.all(np.isfinite(theta)):
        return NAN
    denominator = np.linalg.norm(theta) * float(y @ y)
    return float(y @ theta @ y / denominator) if denominator > 0 else 0.0


def top_eigenvalues(theta, k):
    """The min(k, n) largest eigenvalues of the symmetric kernel Theta `[n, n]`, descending.

    Theta is symmetrized ((Theta + Theta^T) / 2) first to wash out round-off.
    """
    theta = _matrix(theta)
    if theta.shape[0] != theta.shape[1]:
        raise ValueError(f"theta must be square, received shape {theta.shape}")
    if not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"k must be an int >= 0, received k={k!r}")
    if not np.all(np.isfinite(theta)):
        return [NAN] * min(k, theta.shape[0])
    eigenvalues = np.linalg.eigvalsh(0.5 * (theta + theta.T))
    return [float(v) for v in eigenvalues[::-1][:k]]


def effective_rank(theta):
    """Participation ratio tr(Theta)^2 / ||Theta||_F^2 = (sum lambda)^2 / sum lambda^2.

    n for a multiple of identity_n, 1 for a rank-one kernel; 0.0 for the zero matrix.
    """
    theta = _matrix(theta)
    if theta.shape[0] != theta.shape[1]:
        raise ValueError(f"theta must be square, received shape {theta.shape}")
    if not np.all(np.isfinite(theta)):
        return NAN
    squared_norm = float(np.sum(theta * theta))
    return float(np.trace(theta) ** 2 / squared_norm) if squared_norm > 0 else 0.0


