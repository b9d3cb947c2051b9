"""Power-law fits with percentile-bootstrap confidence intervals, and the fluctuations of F over seeds.

Fits are least squares of log y on log x; confidence intervals are percentile bootstraps (runs
resampled with replacement; for delta F, seeds resampled within each width) with a fixed seed, so a
report is reproducible.
"""

import dataclasses
import math

import numpy as np

LEVEL = 0.95


def grid_key(x):
    """Grouping key of a float (alpha*sqrt(h) from alpha and h differs in the last bits)."""
    return float(f"{x:.6g}")


@dataclasses.dataclass(frozen=True)
class FitSettings:
    """The regimes fitted separately (lazy: alpha*sqrt(h) >= lazy_min, feature: <= feature_max) and
    the number of bootstrap resamples of the confidence intervals.

    The defaults are the asymptotic ranges: near the crossover (alpha*sqrt(h) of 1 to 100) second-order
    terms steepen the lazy kernel drift (a fit from 10 up gave -1.31 on Fashion-MNIST instead of -1).
    """

    lazy_min: float = 100.0
    feature_max: float = 0.1
    n_boot: int = 2000

    def ranges(self):
        """{regime: its alpha*sqrt(h) range as text}."""
        return {"lazy": f">= {self.lazy_min:g}", "feature": f"<= {self.feature_max:g}"}

    def regime_fits(self, ash, y):
        """{"lazy": fit, "feature": fit} of y ~ (alpha*sqrt(h))^slope over each regime's runs."""
        masks = {"lazy": ash >= self.lazy_min, "feature": ash <= self.feature_max}
        return {name: fit_power_law(ash[m], y[m], n_boot=self.n_boot) for name, m in masks.items()}


def slopes(lx, ly):
    """Least-squares slopes along the last axis (nan where x has no spread)."""
    mx, my = lx.mean(-1, keepdims=True), ly.mean(-1, keepdims=True)
    var = ((lx - mx) ** 2).sum(-1)
    cov = ((lx - mx) * (ly - my)).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(var > 0, cov / np.where(var > 0, var, 1.0), np.nan)


def _interval(boot, level):
    return tuple(float(q) for q in np.quantile(boot, [(1 - level) / 2, (1 + level) / 2]))


def fit_power_law(x, y, n_boot=2000, seed=0, level=LEVEL):
    """Fit y = c * x^slope (least squares in log-log) with a percentile-bootstrap CI on the slope.

    Points with non-finite or non-positive x or y are dropped. Returns None with fewer than 3 points
    or fewer than 2 distinct x, else a dict: slope, prefactor, ci (low, high), n (points), distinct
    (distinct x).
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    x, y = x[keep], y[keep]
    if len(x) < 3 or len({grid_key(v) for v in x}) < 2:  # alpha*sqrt(h) equal but for the last bits
        return None
    lx, ly = np.log(x), np.log(y)
    slope = float(slopes(lx, ly))
    prefactor = float(math.exp(ly.mean() - slope * lx.mean()))
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(x), size=(n_boot, len(x)))
    boot = slopes(lx[index], ly[index])
    boot = boot[np.isfinite(boot)]
    return {"slope": slope, "prefactor": prefactor, "ci": _interval(boot, level), "n": len(x),
            "distinct": len({grid_key(v) for v in x})}


def difference_of_means(a, b, n_boot=2000, seed=0, level=LEVEL):
    """mean(b) - mean(a) of two independent samples (e.g. test errors over seeds at two settings) with
    a percentile-bootstrap CI (each sample resampled with replacement, independently).

    Non-finite values are dropped. Returns None when a sample is empty, else a dict: difference, ci
    (None when a sample has fewer than 2 values), n (len(a), len(b)), means (mean(a), mean(b)).
    """
    a, b = (np.asarray(v, float) for v in (a, b))
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if not len(a) or not len(b):
        return None
    result = {"difference": float(b.mean() - a.mean()), "ci": None, "n": (len(a), len(b)),
              "means": (float(a.mean()), float(b.mean()))}
    if min(len(a), len(b)) >= 2:
        rng = np.random.default_rng(seed)
        boot = (b[rng.integers(0, len(b), size=(n_boot, len(b)))].mean(1)
                - a[rng.integers(0, len(a), size=(n_boot, len(a)))].mean(1))
        result["ci"] = _interval(boot, level)
    return result


def output_variance(outputs):
    """Var[F]: the variance over seeds (rows of `[n_seeds, n_test]`, ddof=1), averaged over points."""
    return float(np.mean(np.var(outputs, axis=0, ddof=1)))


def _bootstrap_variances(outputs, n_boot, rng):
    """`[n_boot, n_widths]` Var[F] with the seeds resampled within each width."""
    boot_var = np.empty((n_boot, len(outputs)))
    for i, o in enumerate(outputs):
        n = o.shape[0]
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot)  # resampled seeds
        mean = counts @ o / n
        mean_sq = counts @ (o**2) / n
        boot_var[:, i] = np.mean(np.maximum(mean_sq - mean**2, 0.0), axis=1) * n / (n - 1)
    return boot_var


def fit_fluctuations(widths, outputs, n_boot=2000, seed=0, level=LEVEL):
    """Fit delta F = sqrt(Var[F]) ~ h^slope; the CI resamples seeds within each width.

    `outputs[i]` is the `[n_seeds, n_test]` array of test outputs at width `widths[i]` (>= 2 seeds).
    Returns None with fewer than 2 widths, else a dict: slope, prefactor, ci (None with fewer than 3
    seeds at some width: resampling 2 seeds says nothing), n (widths), h_var (h * Var[F] per width),
    delta (delta F per width).
    """
    if len(widths) < 2:
        return None
    h = np.asarray(widths, float)
    var = np.array([output_variance(o) for o in outputs])
    delta = np.sqrt(var)
    if not np.all(delta > 0):
        return None
    slope = float(slopes(np.log(h), np.log(delta)))
    prefactor = float(math.exp(np.log(delta).mean() - slope * np.log(h).mean()))
    fit = {"slope": slope, "prefactor": prefactor, "ci": None, "n": len(h), "h_var": (h * var).tolist(),
           "delta": delta.tolist()}
    if min(o.shape[0] for o in outputs) < 3:
        return fit
    boot_var = _bootstrap_variances(outputs, n_boot, np.random.default_rng(seed))
    ok = np.all(boot_var > 0, axis=1)
    boot = slopes(np.broadcast_to(np.log(h), (ok.sum(), len(h))), 0.5 * np.log(boot_var[ok]))
    if len(boot):
        fit["ci"] = _interval(boot, level)
    return fit
