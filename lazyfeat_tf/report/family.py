"""One figure family's runs grouped by (width h, alpha*sqrt(h)): statistics over seeds, the seeds'
test outputs, ensemble averages and fluctuations."""

import functools
import json
import os

import numpy as np

from lazyfeat_tf.report.fits import fit_fluctuations, grid_key

DRIFT_KEYS = {"kernel_drift_test_full": "whole test set", "kernel_drift_test": "test probes",
              "kernel_drift_train": "train probes"}
"""The results fields of the kernel drift, in the order the report prefers them, and what they cover."""


def values(rows, key):
    """The rows' `key` as a float array (nan where None)."""
    return np.array([np.nan if r.get(key) is None else float(r[key]) for r in rows], float)


def _stats(keys, cells, key):
    """(keys, mean, std, n) arrays over the `cells` (lists of rows, one per key) with finite `key`."""
    xs, means, stds, ns = [], [], [], []
    for x, rows in zip(keys, cells):
        cell = values(rows, key)
        cell = cell[np.isfinite(cell)]
        if len(cell):
            xs.append(x)
            means.append(cell.mean())
            stds.append(cell.std(ddof=1) if len(cell) > 1 else 0.0)
            ns.append(len(cell))
    return np.array(xs), np.array(means), np.array(stds), np.array(ns)


def _load_outputs(row):
    with np.load(os.path.join(row["path"], "outputs.npz")) as npz:
        return npz["test_outputs"].astype(float), npz["test_labels"].astype(float)


def _error(outputs, labels):
    """Fraction of points with F y <= 0 (as `losses.error_rate`)."""
    return float(np.mean(outputs * labels <= 0))


class Family:
    """The runs (rows of `runs.gather`) of one family grouped by (width, alpha*sqrt(h))."""

    def __init__(self, rows):
        self.rows = rows
        self.widths = sorted({r["width"] for r in rows})
        self.ash = sorted({grid_key(r["alpha_sqrt_h"]) for r in rows})
        self.cells = {}
        for r in rows:
            self.cells.setdefault((r["width"], grid_key(r["alpha_sqrt_h"])), []).append(r)
        self.max_seeds = max(len(v) for v in self.cells.values())
        self._outputs = {}
        self._fluctuations = {}

    def has(self, key):
        """Whether some run has a finite `key`."""
        return bool(np.isfinite(values(self.rows, key)).any())

    def drift_key(self):
        """The kernel drift drawn: on the whole test set (the article's), else the test probes, else
        the train probes, else None."""
        return next((k for k in DRIFT_KEYS if self.has(k)), None)

    @functools.cached_property
    def config(self):
        """{dotted config key: value} the family's runs share (all but `runs.AXES` and the execution keys)."""
        return json.loads(self.rows[0]["family"])

    def cell_values(self, key, width, x):
        """The finite values of `key` over the seeds of the cell (width, alpha*sqrt(h) `x`), a 1-d array."""
        cell = values(self.cells.get((width, x), []), key)
        return cell[np.isfinite(cell)]

    def stat(self, key, width):
        """(alpha*sqrt(h), mean, std, n) arrays over the cells of `width` with finite values."""
        return _stats(self.ash, [self.cells.get((width, x), []) for x in self.ash], key)

    def stat_vs_width(self, key, x):
        """(h, mean, std, n) arrays over the cells at alpha*sqrt(h) `x` with finite values."""
        return _stats(self.widths, [self.cells.get((w, x), []) for w in self.widths], key)

    def pooled_vs_width(self, key):
        """(h, mean, std, n) arrays over all the runs of each width (every alpha*sqrt(h) and seed) with
        finite values."""
        return _stats(self.widths, [[r for r in self.rows if r["width"] == w] for w in self.widths], key)

    def outputs(self, width, x):
        """([n_seeds, n_test] test outputs, labels) of a cell, or None when they do not line up."""
        if (width, x) not in self._outputs:
            loaded = []
            for r in sorted(self.cells.get((width, x), []), key=lambda r: r["seed"]):
                try:
                    loaded.append(_load_outputs(r))
                except (OSError, KeyError, ValueError):
                    continue
            value = None
            if loaded and all(o.shape == loaded[0][0].shape and np.array_equal(l, loaded[0][1])
                              for o, l in loaded):
                value = (np.stack([o for o, _ in loaded]), loaded[0][1])
            self._outputs[(width, x)] = value
        return self._outputs[(width, x)]

    def seed_outputs(self):
        """{(h, alpha*sqrt(h)): (outputs, labels)} of the cells with >= 2 seeds whose outputs line up."""
        cells = {}
        for x in self.ash:
            for w in self.widths:
                loaded = self.outputs(w, x) if len(self.cells.get((w, x), [])) >= 2 else None
                if loaded is not None and loaded[0].shape[0] >= 2:
                    cells[(w, x)] = loaded
        return cells

    def ensembles(self):
        """{(h, alpha*sqrt(h)): {"single": mean test error of the nets, "ensemble": test error of their
        averaged outputs, "n": number of nets}} over `seed_outputs`."""
        return {cell: {"single": float(np.mean([_error(o, labels) for o in outputs])),
                       "ensemble": _error(outputs.mean(0), labels), "n": outputs.shape[0]}
                for cell, (outputs, labels) in self.seed_outputs().items()}

    def fluctuations(self, n_boot):
        """{alpha*sqrt(h): {"widths", "h_var", "delta", "fit"}} (see `fits.fit_fluctuations`) where
        >= 2 widths have >= 2 seeds."""
        if n_boot not in self._fluctuations:
            by_ash = {}
            for (w, x), (outputs, _) in self.seed_outputs().items():
                by_ash.setdefault(x, ([], []))
                by_ash[x][0].append(w)
                by_ash[x][1].append(outputs)
            fluct = {}
            for x, (widths, stacks) in by_ash.items():
                fit = fit_fluctuations(widths, stacks, n_boot=n_boot)
                if fit is not None:
                    fluct[x] = {"widths": widths, "h_var": fit["h_var"], "delta": fit["delta"], "fit": fit}
            self._fluctuations[n_boot] = fluct
        return self._fluctuations[n_boot]
