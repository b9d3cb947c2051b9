"""Writer side of the kernel-drift TensorBoard plugin.

The training loop calls these two functions inside an active `tf.summary` writer::

    writer = tf.summary.create_file_writer(workdir)
    with writer.as_default():
        write_run_metadata(alpha=alpha, alpha_sqrt_h=alpha * math.sqrt(h), width=h, seed=seed)
        ...
        write_drift_record(record, step=step)   # at each kernel checkpoint

Like `tf.summary.*`, they write nothing when no default writer is active (or recording is off).
A record is one checkpoint's kernel measurement (see `write_drift_record`); each call writes a
single event holding the ordinary scalars ``kernel_drift/<split>/total`` etc. (Time Series shows
them) and the plugin's own tensors (eigenvalues, heatmap, a JSON copy of the record), so a reader
never sees half a checkpoint. Tag names and encodings are in `lazyfeat_tf.tb_plugin.metadata`.

Without TensorFlow (tools, tests, benchmarks) the same functions write through TensorBoard's own
event writer inside ``with event_file_writer(logdir):``.
"""

import contextlib
import contextvars
import itertools
import math
import os
import socket
import time
import warnings

import numpy as np
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.proto import summary_pb2
from tensorboard.compat.proto import tensor_pb2
from tensorboard.compat.proto import tensor_shape_pb2
from tensorboard.compat.proto import types_pb2

from lazyfeat_tf import rundir
from lazyfeat_tf.tb_plugin import metadata

__all__ = [
    "write_run_metadata",
    "write_drift_record",
    "event_file_writer",
    "run_metadata_summary",
    "drift_record_summary",
]

MAX_HEATMAP_SIZE = 256
MAX_EIGENVALUES = 10_000

_RAW_WRITER = contextvars.ContextVar("lazyfeat_tf_kernel_drift_raw_writer", default=None)
_SCALAR_METADATA = metadata.create_scalar_metadata()


# ----------------------------------------------------------------------------------------------
# Public API.


def write_run_metadata(*, alpha, alpha_sqrt_h, width, seed, extra=None):
    """Writes the run's parameters (at step 0) for the kernel-drift tab.

    Args:
      alpha: the output scale alpha of F = alpha * (f(w) - f(w0)) (article units), > 0.
      alpha_sqrt_h: the control parameter alpha * sqrt(h) (>> 1 lazy, << 1 feature), > 0.
      width: the width h of the hidden layers (channels for a CNN), >= 1.
      seed: the initialization seed of the run.
      extra: optional JSON-serializable dict shown with the run (e.g. depth, dataset, loss).

    Raises:
      ValueError / TypeError: on a non-finite or non-positive alpha, a bad width or seed, or an
        `extra` that is not a JSON-serializable dict.
    """
    _emit(
        run_metadata_summary(
            alpha=alpha, alpha_sqrt_h=alpha_sqrt_h, width=width, seed=seed, extra=extra
        ),
        step=0,
    )


def write_drift_record(record, step):
    """Writes one checkpoint's kernel measurement at `step`.

    Args:
      record: dict with the keys (all but "t" optional; splits are e.g. "train" and "test")::

          {"t": 12.5,  # physical time of gradient flow, >= 0
           "drift": {"train": {"total": 0.03, "layers": {"dense": 0.01, "readout": 0.05}},
                     "test": {"total": 0.02}},     # ||Theta_t - Theta_0||_F / ||Theta_0||_F
           "alignment": {"train": 0.41, "test": 0.38},
           "eigenvalues": {"train": [...], "test": [...]},   # top eigenvalues, descending
           "effective_rank": {"train": 7.2, "test": 6.9},
           "heatmap": [[...]]}   # m x m, (Theta_t - Theta_0)/||Theta_0||_F on train probes

        Values may be Python or NumPy numbers (or eager tensors). NaN and infinities (a diverged
        run, a layer whose Theta_0 part is zero) are written as they are and shown as missing;
        only t must be finite. Call it eagerly (not inside a `tf.function`).
      step: the training step (int >= 0), the x-axis of Time Series.

    Raises:
      ValueError / TypeError: on unknown keys, bad split or layer names, a missing or negative
        t, non-numeric values, or arrays of the wrong rank.
    """
    _emit(drift_record_summary(record), step=_check_step(step))


@contextlib.contextmanager
def event_file_writer(logdir, *, filename_suffix=""):
    """Context in which `write_*` write to a new event file in `logdir` without TensorFlow.

    For tools, tests and fixtures (checksums are computed in pure Python: a few MB at most; the
    training loop writes through `tf.summary`). Yields the writer; `.flush()` makes the events
    written so far visible to a running TensorBoard.
    """
    writer = _EventFile(logdir, filename_suffix)
    token = _RAW_WRITER.set(writer)
    try:
        yield writer
    finally:
        _RAW_WRITER.reset(token)
        writer.close()


class _EventFile:
    """Minimal synchronous event file writer (TFRecord framing), importing no TensorFlow."""

    _counter = itertools.count()

    def __init__(self, logdir, filename_suffix=""):
        from tensorboard.summary.writer.record_writer import RecordWriter  # no TF import

        os.makedirs(logdir, exist_ok=True)
        name = "events.out.tfevents.%010d.%s.%d.%d%s" % (
            time.time(), socket.gethostname(), os.getpid(), next(self._counter), filename_suffix
        )
        self._file = open(os.path.join(logdir, name), "wb")
        self._records = RecordWriter(self._file)
        self.add_event(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))
        self.flush()

    def add_event(self, event):
        self._records.write(event.SerializeToString())

    def flush(self):
        self._file.flush()

    def close(self):
        if not self._file.closed:
            self._file.close()


# ----------------------------------------------------------------------------------------------
# Pure proto builders (no I/O; used by the functions above and by tests).


def run_metadata_summary(*, alpha, alpha_sqrt_h, width, seed, extra=None):
    """The `Summary` proto `write_run_metadata` writes (schema: `metadata.RunMetadata`)."""
    run_metadata = metadata.RunMetadata.create(
        alpha=alpha, alpha_sqrt_h=alpha_sqrt_h, width=width, seed=seed, extra=extra
    )
    expected = run_metadata.alpha * math.sqrt(run_metadata.width)
    if not math.isclose(run_metadata.alpha_sqrt_h, expected, rel_tol=1e-4):
        warnings.warn(
            "alpha_sqrt_h=%g differs from alpha*sqrt(width)=%g; the tab uses alpha_sqrt_h as given"
            % (run_metadata.alpha_sqrt_h, expected),
            stacklevel=3,
        )
    summary = summary_pb2.Summary()
    summary.value.add(
        tag=metadata.RUN_METADATA_TAG,
        metadata=metadata.create_summary_metadata(metadata.KIND_RUN_METADATA),
        tensor=_string_tensor(run_metadata.encode()),
    )
    return summary


def drift_record_summary(record):
    """The `Summary` proto `write_drift_record` writes (everything for one checkpoint)."""
    if not isinstance(record, dict):
        raise TypeError("record must be a dict; received %r" % (type(record).__name__,))
    unknown = sorted(set(record) - set(metadata.RECORD_KEYS))
    if unknown:
        raise ValueError(
            "Unknown record keys %s; expected some of %s" % (unknown, list(metadata.RECORD_KEYS))
        )
    if "t" not in record:
        raise ValueError("record needs the physical time 't'; received keys %s" % sorted(record))
    t = metadata.check_float(record["t"], "t", allow_nan=False)
    if t < 0:
        raise ValueError("record['t'] must be >= 0; received %r" % (t,))

    summary = summary_pb2.Summary()
    copy = {"t": t}  # JSON copy of the scalar part
    scalars = [(metadata.T_TAG, t)] + _drift_scalars(record, copy) + _per_split_scalars(record, copy)
    for tag, value in scalars:
        summary.value.add(tag=tag, metadata=_SCALAR_METADATA, tensor=_float_scalar_tensor(value))
    _add_eigenvalues(summary, record, t, copy)
    _add_heatmap(summary, record, copy)
    summary.value.add(
        tag=metadata.RECORD_TAG,
        metadata=metadata.create_summary_metadata(metadata.KIND_RECORD),
        tensor=_string_tensor(rundir.json_text(copy, sort_keys=True)),
    )
    return summary


def _drift_scalars(record, copy):
    """[(tag, value)] of record["drift"] (totals and layers); fills copy["drift"]."""
    scalars = []
    drift = _split_dict(record, "drift")
    if drift:
        copy["drift"] = {}
    for split, entry in drift.items():
        if not isinstance(entry, dict):
            raise TypeError(
                "record['drift'][%r] must be a dict like {'total': x, 'layers': {...}}; "
                "received %r" % (split, type(entry).__name__)
            )
        bad = sorted(set(entry) - {metadata.TOTAL, metadata.LAYERS})
        if bad:
            raise ValueError(
                "Unknown keys %s in record['drift'][%r]; expected 'total' and/or 'layers'"
                % (bad, split)
            )
        out = {}
        if metadata.TOTAL in entry:
            value = metadata.check_float(entry[metadata.TOTAL], "drift/%s/total" % split)
            scalars.append((metadata.total_tag(split), value))
            out[metadata.TOTAL] = value
        layers = entry.get(metadata.LAYERS)
        if layers is not None:
            if not isinstance(layers, dict):
                raise TypeError(
                    "record['drift'][%r]['layers'] must be a dict layer -> drift; received %r"
                    % (split, type(layers).__name__)
                )
            out[metadata.LAYERS] = {}
            for layer, value in layers.items():
                metadata.check_layer(layer)
                value = metadata.check_float(value, "drift/%s/layers/%s" % (split, layer))
                scalars.append((metadata.layer_tag(split, layer), value))
                out[metadata.LAYERS][layer] = value
        copy["drift"][split] = out
    return scalars


def _per_split_scalars(record, copy):
    """[(tag, value)] of record["alignment"] and record["effective_rank"]; fills copy."""
    scalars = []
    for key, tag_fn in (
        ("alignment", metadata.alignment_tag),
        ("effective_rank", metadata.effective_rank_tag),
    ):
        values = _split_dict(record, key)
        if values:
            copy[key] = {}
        for split, value in values.items():
            value = metadata.check_float(value, "%s/%s" % (key, split))
            scalars.append((tag_fn(split), value))
            copy[key][split] = value
    return scalars


def _add_eigenvalues(summary, record, t, copy):
    """The eigenvalue tensors of record["eigenvalues"] (also as Theta_0's when t == 0)."""
    eigenvalues = _split_dict(record, "eigenvalues")
    if eigenvalues:
        copy["eigenvalues_k"] = {}
    for split, values in eigenvalues.items():
        array = _array(values, "eigenvalues/%s" % split, metadata.KIND_EIGENVALUES, np.float64)
        if not 1 <= array.size <= MAX_EIGENVALUES:
            raise ValueError(
                "record['eigenvalues'][%r] must hold 1 to %d values; received %d"
                % (split, MAX_EIGENVALUES, array.size)
            )
        summary.value.add(
            tag=metadata.eigenvalues_tag(split),
            metadata=metadata.create_summary_metadata(metadata.KIND_EIGENVALUES, split=split),
            tensor=_array_tensor(array, types_pb2.DT_DOUBLE),
        )
        copy["eigenvalues_k"][split] = int(array.size)
        if t == 0:
            summary.value.add(
                tag=metadata.initial_eigenvalues_tag(split),
                metadata=metadata.create_summary_metadata(
                    metadata.KIND_EIGENVALUES, split=split, initial=True
                ),
                tensor=_array_tensor(array, types_pb2.DT_DOUBLE),
            )


def _add_heatmap(summary, record, copy):
    """The heatmap tensor of record["heatmap"], if any."""
    heatmap = record.get("heatmap")
    if heatmap is None:
        return
    array = _array(heatmap, "heatmap", metadata.KIND_HEATMAP, np.float32)
    if not (1 <= array.shape[0] <= MAX_HEATMAP_SIZE and 1 <= array.shape[1] <= MAX_HEATMAP_SIZE):
        raise ValueError(
            "record['heatmap'] must be at most %dx%d; received shape %s"
            % (MAX_HEATMAP_SIZE, MAX_HEATMAP_SIZE, array.shape)
        )
    summary.value.add(
        tag=metadata.HEATMAP_TAG,
        metadata=metadata.create_summary_metadata(metadata.KIND_HEATMAP, probes="train"),
        tensor=_array_tensor(array, types_pb2.DT_FLOAT),
    )
    copy["heatmap_m"] = list(array.shape)


# ----------------------------------------------------------------------------------------------
# Helpers.


def _emit(summary, step):
    raw = _RAW_WRITER.get()
    if raw is not None:
        raw.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary))
        return
    import tensorflow as tf  # deferred: the plugin side never imports this module

    tf.summary.experimental.write_raw_pb(summary.SerializeToString(), step=step)


def _check_step(step):
    if isinstance(step, bool):
        raise TypeError("step must be an integer >= 0; received %r" % (step,))
    try:
        as_int = int(step)
    except (TypeError, ValueError):
        raise TypeError("step must be an integer >= 0; received %r" % (step,)) from None
    if as_int != step or as_int < 0:
        raise ValueError("step must be an integer >= 0; received %r" % (step,))
    return as_int


def _split_dict(record, key):
    value = record.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(
            "record[%r] must be a dict split -> value (e.g. {'train': ..., 'test': ...}); "
            "received %r" % (key, type(value).__name__)
        )
    for split in value:
        metadata.check_split(split)
    return value


def _array(values, name, kind, dtype):
    """`values` as a `dtype` array of the rank the reader expects for `kind` (metadata.ARRAY_NDIM)."""
    ndim = metadata.ARRAY_NDIM[kind]
    try:
        array = np.asarray(values, dtype=dtype)
    except (TypeError, ValueError):
        raise TypeError("record[%s] must be numeric; received %r" % (name, type(values))) from None
    if array.ndim != ndim:
        raise ValueError(
            "record[%s] must have rank %d; received shape %s" % (name, ndim, array.shape)
        )
    return array


def _string_tensor(text):
    return tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(),
        string_val=[text.encode("utf-8")],
    )


def _float_scalar_tensor(value):
    return tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(),
        float_val=[value],
    )


def _array_tensor(array, dtype):
    little_endian = array.astype(array.dtype.newbyteorder("<"), copy=False)
    return tensor_pb2.TensorProto(
        dtype=dtype,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=n) for n in array.shape]
        ),
        tensor_content=np.ascontiguousarray(little_endian).tobytes(),
    )
