"""JSON bodies of the kernel-drift routes, assembled from what `provider_reader` read.

Pure functions (no I/O): every number goes out finite or as null (strict JSON).
"""

import bisect
import dataclasses
import math

from lazyfeat_tf.tb_plugin import metadata

SAMPLES_FLAG = "--samples_per_plugin=%s=0" % metadata.PLUGIN_NAME
_RUN_FIELDS = ("alpha", "alpha_sqrt_h", "width", "seed")  # the metadata the collapse plot needs


# ------------------------------------------------------------------------------------------------
# /runs


def runs_body(logdir):
    """Every run of a `provider_reader.Logdir` with its metadata, splits, layers and status."""
    runs = [_run_entry(name, logdir) for name in logdir.names]
    message = None
    if not runs:
        message = (
            "No runs in this logdir yet. Runs appear here when the training loop writes kernel "
            "checkpoints with lazyfeat_tf.tb_plugin.summary.write_drift_record."
        )
    elif not any(r["has_kernel_data"] for r in runs):
        message = (
            "None of the %d runs has kernel-drift data. Enable kernel checkpoints in the "
            "training config (write_drift_record) to fill this tab." % len(runs)
        )
    return {
        "version": metadata.PROTOCOL_VERSION,
        "runs": runs,
        "message": message,
        "samples_flag": SAMPLES_FLAG,
    }


def _run_entry(name, logdir):
    scalars = logdir.scalar_tags.get(name, {})
    tensors = logdir.tensor_tags.get(name, {})
    splits, layers, metrics = set(), set(), set()
    for split, kind, layer in (info for info, _ in scalars.values()):
        if split == "t":
            continue
        splits.add(split)
        if kind == metadata.LAYERS:
            layers.add(layer)
        elif kind != metadata.TOTAL:
            metrics.add(kind)
    eig_splits = sorted({
        c["split"] for c, _ in tensors.values()
        if c["kind"] == metadata.KIND_EIGENVALUES and not c["initial"]
    })
    t_last = scalars[metadata.T_TAG][1] if metadata.T_TAG in scalars else None
    run_metadata = logdir.run_metadata.get(name)
    entry = {
        "run": name,
        "has_kernel_data": bool(scalars or tensors),
        "metadata": dataclasses.asdict(run_metadata) if run_metadata else None,
        "splits": sorted(splits),
        "layers": sorted(layers),
        "metrics": sorted(metrics),
        "eigenvalue_splits": eig_splits,
        "has_heatmap": metadata.HEATMAP_TAG in tensors,
        "last_step": t_last.step if t_last is not None else None,
        "last_t": _finite_or_none(t_last.value) if t_last is not None else None,
        "unreadable": logdir.unreadable.get(name, []),
    }
    entry["status"], entry["message"] = _run_status(entry, has_t=t_last is not None)
    return entry


def _run_status(entry, has_t):
    if entry["unreadable"]:
        tags = entry["unreadable"]
        return "unreadable", (
            "Skipped kernel-drift data this reader cannot decode (malformed, or written by a newer "
            "lazyfeat_tf): %s%s." % (", ".join(tags[:3]), ", ..." if len(tags) > 3 else "")
        )
    if not entry["has_kernel_data"]:
        return "no_kernel_data", "No kernel-drift data in this run."
    if not has_t:
        if entry["metadata"] is not None:
            return "waiting", "Run started; no kernel checkpoint written yet."
        return "incomplete", "Kernel-drift data without checkpoints (t); the run may be half-written."
    if entry["metadata"] is None:
        return "no_metadata", (
            "No run metadata (alpha, h): drawn in grey and left out of the collapse plot."
        )
    if entry["last_t"] is not None and entry["last_t"] <= 0:
        return "initial_only", "Only the initial checkpoint (t = 0) so far."
    return "ok", None


# ------------------------------------------------------------------------------------------------
# /series


def series_tags(runs, scalar_tags, include):
    """The scalar tags /series reads: t, the totals, and the `include`d kinds."""
    wanted = set()
    for run in runs:
        for tag, ((split, kind, _layer), _) in scalar_tags.get(run, {}).items():
            if split == "t" or kind == metadata.TOTAL or kind in include:
                wanted.add(tag)
    return wanted


def run_series(run, tags, data, downsample):
    """One run's kernel scalars aligned on the steps where t is known (at most `downsample`)."""
    t_by_step = {d.step: d.value for d in data.get(metadata.T_TAG, [])}
    steps = sorted(t_by_step)
    steps = [steps[i] for i in _thin(len(steps), downsample)]
    splits = {}
    for tag, ((split, kind, layer), _) in sorted(tags.items()):
        if split == "t" or tag not in data:
            continue
        by_step = {d.step: d.value for d in data[tag]}
        values = [_finite_or_none(by_step.get(s)) for s in steps]
        entry = splits.setdefault(split, {})
        if kind == metadata.LAYERS:
            entry.setdefault(metadata.LAYERS, {})[layer] = values
        else:
            entry[kind] = values
    body = {
        "run": run,
        "steps": steps,
        "t": [_finite_or_none(t_by_step[s]) for s in steps],
        "splits": splits,
        "num_checkpoints": len(t_by_step),
        "message": None,
    }
    if not tags:
        body["message"] = "This run has no kernel-drift scalars."
    elif not steps:
        body["message"] = "No kernel checkpoint with a physical time t yet."
    elif not any(t and t > 0 for t in body["t"]):
        body["message"] = "Only the initial checkpoint (t = 0) so far: nothing to draw on log axes."
    return body


def _thin(n, k):
    """Indices of at most k of n points, evenly spread, always keeping the first and the last."""
    if k <= 0 or n <= k:
        return range(n)
    if k == 1:
        return [n - 1]
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


# ------------------------------------------------------------------------------------------------
# /final


def final_points(logdir):
    """(points, skipped, runs whose drift and t were last written at different steps).

    A point is a run's last total drift per split with its metadata; the drift entries get their
    "t" from `add_drift_times`.
    """
    points, skipped, needs_t_lookup = [], [], []
    for name in logdir.names:
        if not any(name in tags for tags in (logdir.scalar_tags, logdir.tensor_tags, logdir.unreadable)):
            continue  # no kernel-drift data at all
        scalars = logdir.scalar_tags.get(name, {})
        drift = {
            info[0]: {"value": _finite_or_none(datum.value), "step": datum.step}
            for info, datum in scalars.values() if info[1] == metadata.TOTAL
        }
        run_metadata = logdir.run_metadata.get(name)
        if run_metadata is None:
            unreadable = metadata.RUN_METADATA_TAG in logdir.unreadable.get(name, [])
            reason = "unreadable run metadata" if unreadable else "no run metadata (alpha, h)"
            skipped.append({"run": name, "reason": reason})
            continue
        if not drift:
            skipped.append({"run": name, "reason": "no kernel checkpoint yet"})
            continue
        t_datum = scalars[metadata.T_TAG][1] if metadata.T_TAG in scalars else None
        point = {"run": name, "drift": drift}
        point.update({k: getattr(run_metadata, k) for k in _RUN_FIELDS})
        point["step"] = t_datum.step if t_datum is not None else None
        point["t"] = _finite_or_none(t_datum.value) if t_datum is not None else None
        if any(t_datum is None or entry["step"] != t_datum.step for entry in drift.values()):
            needs_t_lookup.append(name)
        points.append(point)
    return points, skipped, needs_t_lookup


def add_drift_times(points, t_series):
    """Sets each drift entry's "t": from `t_series` {run: [(step, t)]} for the runs it holds, else
    the point's own t (drift and t written at the same step)."""
    for point in points:
        lookup = dict(t_series[point["run"]]) if point["run"] in t_series else None
        for entry in point["drift"].values():
            entry["t"] = _finite_or_none(lookup.get(entry["step"])) if lookup is not None else point["t"]


# ------------------------------------------------------------------------------------------------
# /eigenvalues and /heatmap


def checkpoint_info(records_kept, n_checkpoints):
    """How many of the run's checkpoints TensorBoard kept, with advice when it dropped some."""
    info = {
        "checkpoints": n_checkpoints,
        "records_kept": records_kept,
        "downsampled": records_kept < n_checkpoints,
    }
    if info["downsampled"]:
        info["message"] = (
            "TensorBoard kept %d of the %d checkpoints of this run; start it with %s to keep "
            "every checkpoint's eigenvalues and heatmap." % (records_kept, n_checkpoints, SAMPLES_FLAG)
        )
    return info


def eigenvalues_body(run, step, data, contents, t_by_step):
    """Top eigenvalues per split at the kept checkpoint nearest to `step`, and at the first one.

    data: {tag: [TensorDatum]} of the eigenvalue tensors; contents: {tag: decoded content}.
    """
    by_split, initial_by_split = {}, {}
    for tag, series in data.items():
        kept = _kept_arrays(series, metadata.KIND_EIGENVALUES)
        if not kept:
            continue
        split = contents[tag]["split"]
        if contents[tag]["initial"]:
            step0 = min(kept)
            initial_by_split[split] = (step0, kept[step0])
        else:
            by_split[split] = kept
    steps = sorted(set().union(*by_split.values())) if by_split else []
    body = _steps_body(run, steps, t_by_step)
    if not steps:
        body.update(step=None, eigenvalues={}, initial=None, message=(
            "This run recorded no eigenvalues (record['eigenvalues'] is optional)."
        ))
        return body
    chosen = _choose(body, steps, step, t_by_step)
    body["eigenvalues"] = {s: v[chosen] for s, v in by_split.items() if chosen in v}
    if initial_by_split:
        first = min(s for s, _ in initial_by_split.values())
        initial = {split: v for split, (s, v) in initial_by_split.items() if s == first}
    else:  # written before eigenvalues_t0 existed: the first checkpoint TensorBoard kept
        first = steps[0]
        initial = {s: v[first] for s, v in by_split.items() if first in v}
    body["initial"] = {
        "step": first,
        "t": _finite_or_none(t_by_step.get(first)),
        "eigenvalues": initial,
    }
    return body


def heatmap_body(run, step, series, t_by_step):
    """(Theta_t - Theta_0)/||Theta_0||_F at the kept checkpoint nearest to `step`."""
    kept = _kept_arrays(series, metadata.KIND_HEATMAP)
    steps = sorted(kept)
    body = _steps_body(run, steps, t_by_step)
    if not steps:
        body.update(step=None, values=None, message=(
            "This run recorded no kernel heatmap (record['heatmap'] is optional)."
        ))
        return body
    values = kept[_choose(body, steps, step, t_by_step)]
    finite = [abs(v) for row in values for v in row if v is not None]
    body.update(values=values, abs_max=max(finite) if finite else 0.0)
    return body


def _steps_body(run, steps, t_by_step):
    return {"run": run, "steps": steps, "t": [_finite_or_none(t_by_step.get(s)) for s in steps]}


def _choose(body, steps, step, t_by_step):
    """Sets body's step and t_step to the kept step nearest to `step`, and returns it."""
    chosen = _nearest(steps, step)
    body["step"] = chosen
    body["t_step"] = _finite_or_none(t_by_step.get(chosen))
    return chosen


def _kept_arrays(series, kind):
    """{step: nested lists of finite-or-None} of the data whose rank is the kind's."""
    kept = {}
    for datum in series:
        values = _finite_array(datum.numpy, metadata.ARRAY_NDIM[kind])
        if values is not None:
            kept[datum.step] = values
    return kept


def _finite_array(array, ndim):
    try:
        if array.ndim != ndim or array.size == 0:
            return None
        values = array.tolist()
    except (AttributeError, TypeError, ValueError):
        return None
    if ndim == 1:
        return [_finite_or_none(v) for v in values]
    return [[_finite_or_none(v) for v in row] for row in values]


def _nearest(steps, step):
    """The kept step nearest to `step` (the last one when `step` is None); `steps` sorted."""
    if step is None:
        return steps[-1]
    i = bisect.bisect_left(steps, step)
    candidates = steps[max(0, i - 1): i + 1]
    return min(candidates, key=lambda s: (abs(s - step), s))


def _finite_or_none(value):
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None
