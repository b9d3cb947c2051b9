"""Gathering run directories into rows, their figure families, and runs.csv.

A run directory holds `config.json`; it is finished when it also holds `results.json` (read with
`lazyfeat_tf.results.read_results`). Runs belong to the same family when their config.json,
flattened to dotted keys, is equal but for the report's axes (`AXES`) and the keys that do not change
what a run computes (`lazyfeat_tf.config.EXECUTION_KEYS`); runs that differ only in `dtype` are one
family when no point is run in two dtypes (float64 at the lazy end only, see `_join_precisions`).

Only runs that converged (every training margin reached 1, the article's protocol) enter the means,
figures and fits (`is_reported`); a diverged run has no error rate, an unconverged one (a budget ran
out, the flow stalled) has numbers that cannot be trusted unless the report is asked to include them.
Both are listed in summary.md, and runs.csv keeps every run.
"""

import csv
import dataclasses
import json
import os

from lazyfeat_tf.config import EXECUTION_KEYS, completed
from lazyfeat_tf.results import CONVERGED, DIVERGED, ResultsError, read_results

AXES = ("alpha", "alpha_sqrt_h", "model.width", "seed")
CSV_COLUMNS = (
    "run", "width", "alpha", "alpha_sqrt_h", "seed", "status", "converged", "train_error", "test_error",
    "train_loss", "test_loss", "t", "t1", "steps", "wall_time", "relative_weight_change",
    "kernel_drift_train", "kernel_drift_test", "kernel_drift_train_full", "kernel_drift_test_full",
    "init_kernel_test_error", "final_kernel_test_error",
    "n_params",
)
LABEL_KEYS = ("model.kind", "model.depth", "model.activation", "data.name", "data.n_train", "data.n_test",
              "loss.name", "dynamics.kind", "dtype")
"""The config keys every family label names (`family_labels` adds the others that separate families)."""


@dataclasses.dataclass
class Gathered:
    """The run directories under a workdir.

    rows: one dict per finished run, sorted by family, width, alpha*sqrt(h), seed: the results
        (`CSV_COLUMNS`), the family's config keys, `path` and `family` (its keys as a JSON string);
    unfinished: run directories without results.json;
    invalid: (run directory, reason) of those whose results.json or config.json cannot be used.
    """

    rows: list
    unfinished: list
    invalid: list


def is_diverged(row):
    """Whether the run of `row` diverged (status `DIVERGED`): it has no error rate at all."""
    return row["status"] == DIVERGED


def is_unconverged(row):
    """Whether the run of `row` stopped, without diverging, before every training margin reached 1
    (status max_steps, max_time, max_wall_time, stalled, ...): its numbers are not the article's."""
    return row["status"] not in (CONVERGED, DIVERGED)


def is_reported(row, include_unconverged=False):
    """Whether the run of `row` enters the means, figures and fits: a converged run, or with
    `include_unconverged` any run but a diverged one (that one has no number to draw)."""
    return row["status"] == CONVERGED or (include_unconverged and not is_diverged(row))


def flatten(tree, prefix=""):
    """{dotted key: leaf} of a nested dict."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


class _Unusable(Exception):
    """A finished run directory whose files cannot be used; the message says why."""


def _read_config(path):
    try:
        with open(path, "rb") as f:
            config = json.loads(f.read())
    except (OSError, ValueError) as error:  # ValueError: json.JSONDecodeError, UnicodeDecodeError
        raise _Unusable(f"config.json cannot be read as JSON ({' '.join(str(error).split())[:80]})") from None
    if not isinstance(config, dict):
        raise _Unusable("config.json is not a JSON object")
    return config


def _row(root, workdir, not_family):
    """The row of the finished run `root` (raises _Unusable)."""
    try:
        results = read_results(os.path.join(root, "results.json"))
    except ResultsError as error:
        raise _Unusable(f"results.json {error.reason}") from None
    config = _read_config(os.path.join(root, "config.json"))
    family = {k: v for k, v in flatten(completed(config)).items() if k not in not_family}
    row = {key: results.get(key) for key in CSV_COLUMNS}
    row.update(family, run=os.path.relpath(root, workdir), path=root, family=json.dumps(family, sort_keys=True))
    return row


def gather(workdir, exclude=()):
    """The `Gathered` run directories under `workdir`, but for those under `exclude`."""
    gathered = Gathered([], [], [])
    exclude = {os.path.abspath(p) for p in exclude}
    not_family = set(AXES) | set(EXECUTION_KEYS)
    for root, dirs, files in os.walk(workdir):
        dirs[:] = sorted(d for d in dirs if os.path.join(os.path.abspath(root), d) not in exclude)
        if "config.json" not in files:
            continue
        dirs[:] = []  # a run directory holds no runs (its tb/ is not searched)
        if "results.json" not in files:
            gathered.unfinished.append(root)
            continue
        try:
            gathered.rows.append(_row(root, workdir, not_family))
        except _Unusable as error:
            gathered.invalid.append((root, str(error)))
    _join_precisions(gathered.rows)
    gathered.rows.sort(key=lambda r: (r["family"], r["width"], r["alpha_sqrt_h"], r["seed"], r["run"]))
    return gathered


def _join_precisions(rows):
    """Make runs that differ only in `dtype` one family when no (h, alpha*sqrt(h), seed) is run in two
    dtypes: a sweep may use float64 only where float32 cannot resolve f - f0 (the lazy end). The
    family's `dtype` becomes e.g. "float32+float64"; each row keeps its own `dtype`."""
    groups = {}
    for row in rows:
        family = json.loads(row["family"])
        family.pop("dtype", None)
        groups.setdefault(json.dumps(family, sort_keys=True), []).append(row)
    for key, group in groups.items():
        dtypes = sorted({row["dtype"] for row in group})
        points = [(row["width"], row["alpha_sqrt_h"], row["seed"]) for row in group]
        if len(dtypes) > 1 and len(set(points)) == len(points):
            family = json.loads(key)
            family["dtype"] = "+".join(dtypes)
            for row in group:
                row["family"] = json.dumps(family, sort_keys=True)


def family_keys(rows):
    """The config keys of the rows' families, in config.json's order (a row holds them after
    `CSV_COLUMNS`), first appearances first."""
    keys = {}
    for row in rows:
        keys.update(dict.fromkeys(k for k in row if k not in CSV_COLUMNS and k not in ("path", "family")))
    return list(keys)


def write_csv(rows, path):
    """runs.csv: `CSV_COLUMNS`, then the family keys; an empty cell for None."""
    columns = list(CSV_COLUMNS) + family_keys(rows)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else row[c] for c in columns])


def family_labels(families):
    """One label per family (a dict of its config keys): architecture, data, loss, dynamics and dtype,
    then `key=value` for every other key whose value is not the same in all families."""
    keys = {}
    for family in families:
        keys.update(dict.fromkeys(family))
    separating = [key for key in keys if key not in LABEL_KEYS
                  and len({json.dumps(f.get(key, "absent"), sort_keys=True) for f in families}) > 1]
    labels = []
    for f in families:
        g = f.get
        parts = [f"{g('model.kind')} L={g('model.depth')} {g('model.activation')}",
                 f"{g('data.name')} n_train={g('data.n_train')} n_test={g('data.n_test')}",
                 f"{g('loss.name')} loss, {g('dynamics.kind')}, {g('dtype')}"]
        labels.append(", ".join(parts + [f"{key}={g(key, 'absent')}" for key in separating]))
    return labels
