"""The run directory: what a run writes, written atomically, and how a run resumes.

Layout of `workdir/`:
- `config.json`: the run's identity, `RunSpec.to_json()` (with `alpha` and `alpha_sqrt_h` both filled in);
- `metrics.jsonl`: one JSON object per record, with `step` and `t`;
- `checkpoint.npz`: model variables, integrator state and loop state (rewritten atomically);
- `results.json`: the final numbers (written last: its presence means the run is finished);
- `outputs.npz`: F on the train and test points with their labels;
- `model.keras`: the final Keras model; `tb/`: TensorBoard event files.

Every file except the append-only metrics is written to a temporary name and renamed, so an
interrupted run (even `kill -9`) never leaves a corrupt file behind. JSON is strict: a non-finite
number (a diverged run's loss or weight change) is written as null, never as a number.
"""

import io
import json
import math
import os

import numpy as np

from lazyfeat_tf.errors import UserError


class WorkdirError(UserError):
    """The workdir holds something that must not be overwritten; the message is one line."""


def atomic_write_bytes(path, payload):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(payload)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def finite_or_none(obj):
    """A copy of a JSON-ready value with every non-finite float (NaN, inf) replaced by None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: finite_or_none(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(value) for value in obj]
    return obj


def json_text(obj, **options):
    """Strict JSON of `obj`: non-finite floats become null."""
    return json.dumps(finite_or_none(obj), allow_nan=False, **options)


def atomic_write_json(path, obj):
    atomic_write_bytes(path, (json_text(obj, indent=2, sort_keys=True) + "\n").encode())


def atomic_write_npz(path, arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def _first_difference(old, new, prefix=""):
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found = _first_difference(a, b, f"{prefix}{key}.")
            if found:
                return found
        elif a != b:
            return f"{prefix}{key}: {a!r} in the workdir, {b!r} now"
    return None


class RunDir:
    """Files of one run. `path` need not exist yet; nothing is written until `start`."""

    def __init__(self, path):
        self.path = os.path.abspath(path)

    def file(self, name):
        return os.path.join(self.path, name)

    @property
    def finished(self):
        return os.path.exists(self.file("results.json"))

    def check_compatible(self, identity):
        """Raise `WorkdirError` unless the workdir is empty, new, or holds this same run."""
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise WorkdirError(f"--workdir={self.path!r} exists and is not a directory")
        config_path = self.file("config.json")
        if os.path.exists(config_path):
            with open(config_path) as f:
                old = json.load(f)
            difference = _first_difference(old, identity)
            if difference:
                raise WorkdirError(
                    f"--workdir={self.path!r} holds a different run ({difference}); "
                    "choose another --workdir"
                )
        elif os.path.isdir(self.path) and os.listdir(self.path):
            raise WorkdirError(
                f"--workdir={self.path!r} is not empty and holds no run of this package; "
                "choose another --workdir"
            )

    def start(self, identity):
        os.makedirs(self.path, exist_ok=True)
        if not os.path.exists(self.file("config.json")):
            atomic_write_json(self.file("config.json"), identity)

    # Metrics: append-only JSON lines, truncated to the checkpoint on resume.
    def append_metrics(self, record):
        with open(self.file("metrics.jsonl"), "a") as f:
            f.write(json_text(record) + "\n")
            f.flush()

    def read_metrics(self):
        path = self.file("metrics.jsonl")
        if not os.path.exists(path):
            return []
        records = []
        with open(path) as f:
            for line in f:
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:  # a line cut by a kill
                    break
        return records

    def truncate_metrics(self, last_step):
        """Keep the records up to `last_step` (those a resumed run will not write again)."""
        kept = [r for r in self.read_metrics() if r["step"] <= last_step]
        atomic_write_bytes(self.file("metrics.jsonl"), "".join(json.dumps(r) + "\n" for r in kept).encode())

    # Checkpoint: arrays plus a JSON blob of loop state.
    def save_checkpoint(self, arrays, state):
        atomic_write_npz(self.file("checkpoint.npz"), {**arrays, "__state__": np.array(json.dumps(state))})

    def load_checkpoint(self):
        """(arrays dict, state dict), or None when there is no checkpoint."""
        path = self.file("checkpoint.npz")
        if not os.path.exists(path):
            return None
        with np.load(path) as npz:
            arrays = {k: npz[k] for k in npz.files if k != "__state__"}
            state = json.loads(str(npz["__state__"]))
        return arrays, state

    def read_results(self):
        with open(self.file("results.json")) as f:
            return json.load(f)

    def write_results(self, results, outputs):
        atomic_write_npz(self.file("outputs.npz"), outputs)
        atomic_write_json(self.file("results.json"), results)
