"""The run directory: what a run writes, written atomically, and how a run resumes.

Layout of `workdir/`:
- `config.json`: the run's identity, `RunSpec.to_json()` (with `alpha` and `alpha_sqrt_h` both filled in);
- `metrics.jsonl`: one JSON object per record, with `step` and `t`;
- `checkpoint.npz`: model variables, integrator state and loop state (rewritten atomically);
- `results.json`: the final numbers (written last: its presence means the run is finished);
- `outputs.npz`: F on the train and test points with their labels;
- `model.keras`: the final Keras model; `tb/`: TensorBoard event files.

Every file except the append-only metrics is written to a temporary name (`<name>.tmp-<pid>`) and
renamed, so an interrupted run (even `kill -9`) never leaves a corrupt file behind; the temporary
files an interrupted write leaves are ignored and removed at the next start. One process at a time
trains a workdir (`lock`, a `.lock` file held with flock, released even by `kill -9`). A file that
does not parse is never taken for a result: a results.json that does not parse makes the run
unfinished (it is resumed and written again), metrics.jsonl cut before the checkpoint makes the
run train again from the start, and a checkpoint.npz or config.json that does not load is a
one-line `WorkdirError` saying what to do. JSON is strict: a non-finite
number (a diverged run's loss or weight change) is written as null, never as a number.
"""

import contextlib
import fcntl
import io
import json
import math
import os
import re
import zipfile

import numpy as np

from lazyfeat_tf import config as config_lib
from lazyfeat_tf import results as results_lib

from lazyfeat_tf.errors import UserError


class WorkdirError(UserError):
    """The workdir holds something that must not be overwritten; the message is one line."""


def atomic_write_bytes(path, payload):
    """Write `payload` to `path` through a temporary file and a rename (no temporary file is left
    when the write fails, e.g. on a full disk)."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


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


TEMPORARY = re.compile(r".+\.tmp-\d+(\.keras)?$")
"""Names of the temporary files of `atomic_write_bytes` and of the model's save."""
LOCK = ".lock"


def _one_line(error):
    return " ".join(f"{type(error).__name__}: {error}".split())


@contextlib.contextmanager
def exclusive(path, in_use):
    """Hold an flock on the file `path` (created, with this process's pid written in it) while the
    block runs; released at its end and by the process's death, even `kill -9`.

    Raises `in_use(holder)` (holder: e.g. "pid 123") if another process holds it.
    """
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise in_use(handle.read().strip()) from None
        handle.truncate(0)
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def check_writable(path, flag="--workdir"):
    """Raise `WorkdirError` (naming `flag`) unless the directory `path` can be created or written:
    it, or its nearest existing ancestor, must be a writable directory on a writable file system."""
    ancestor = path
    while not os.path.exists(ancestor):
        ancestor = os.path.dirname(ancestor)
    why = None
    if ancestor == path and not os.path.isdir(path):
        why = "it exists and is not a directory"
    elif not os.path.isdir(ancestor):
        why = f"{ancestor} is not a directory"
    elif os.statvfs(ancestor).f_flag & os.ST_RDONLY:
        why = f"{ancestor} is on a read-only file system"
    elif not os.access(ancestor, os.W_OK):
        why = f"{ancestor} is not writable"
    if why:
        raise WorkdirError(f"{flag}={path!r} cannot be created or written ({why}); choose a writable {flag}")


class RunDir:
    """Files of one run. `path` need not exist yet; nothing is written until `start`."""

    def __init__(self, path):
        self.path = os.path.abspath(path)

    def file(self, name):
        return os.path.join(self.path, name)

    def _entries(self):
        """The workdir's files and folders, without the lock and left-over temporary files."""
        return [name for name in os.listdir(self.path) if name != LOCK and not TEMPORARY.match(name)]

    @property
    def finished(self):
        """Whether results.json is there and parses (a corrupt one is written again by a resume)."""
        return self.read_results(missing_ok=True) is not None

    def check_compatible(self, identity):
        """Raise `WorkdirError` unless the workdir is empty, new, or holds this same run."""
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise WorkdirError(f"--workdir={self.path!r} exists and is not a directory")
        check_writable(self.path)
        config_path = self.file("config.json")
        if os.path.exists(config_path):
            old = self._read_json("config.json", "choose another --workdir or move this one away")
            difference = (_first_difference(config_lib.completed(old), identity) if isinstance(old, dict)
                          else "not a JSON object")
            if difference:
                raise WorkdirError(
                    f"--workdir={self.path!r} holds a different run ({difference}); "
                    "choose another --workdir"
                )
            self.load_checkpoint(read_arrays=False)  # one that does not load: one line before any work
        elif os.path.isdir(self.path) and self._entries():
            raise WorkdirError(
                f"--workdir={self.path!r} is not empty and holds no run of this package; "
                "choose another --workdir"
            )

    def _read_json(self, name, fix):
        try:
            with open(self.file(name)) as f:
                return json.load(f)
        except (OSError, ValueError, RecursionError) as error:
            raise WorkdirError(f"{self.file(name)} does not parse ({_one_line(error)}); {fix}") from None

    @contextlib.contextmanager
    def lock(self):
        """Hold the workdir for this process (creating it); raise `WorkdirError` if another process
        holds it. Removes the temporary files that interrupted writes left."""
        try:
            os.makedirs(self.path, exist_ok=True)
            open(self.file(LOCK), "a").close()
        except OSError as error:
            raise WorkdirError(f"--workdir={self.path!r} cannot be created or written ({_one_line(error)}); "
                               "choose a writable --workdir") from None

        def in_use(holder):
            return WorkdirError(f"--workdir={self.path!r} is in use by another run ({holder}); "
                                "wait for it to end or choose another --workdir")

        with exclusive(self.file(LOCK), in_use):
            for name in os.listdir(self.path):
                if TEMPORARY.match(name):
                    os.remove(self.file(name))
            yield self

    def start(self, identity):
        """Write config.json (once); call it holding `lock`."""
        if not os.path.exists(self.file("config.json")):
            atomic_write_json(self.file("config.json"), identity)

    # Metrics: append-only JSON lines, truncated to the checkpoint on resume.
    def append_metrics(self, record):
        with open(self.file("metrics.jsonl"), "a") as f:
            f.write(json_text(record) + "\n")
            f.flush()

    def read_metrics(self):
        """The records of metrics.jsonl up to the first line that is not one (a line cut by a kill)."""
        path = self.file("metrics.jsonl")
        if not os.path.exists(path):
            return []
        records = []
        with open(path, errors="replace") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except (ValueError, RecursionError):
                    break
                if not isinstance(record, dict) or not isinstance(record.get("step"), int):
                    break
                records.append(record)
        return records

    def truncate_metrics(self, records, last_step):
        """Keep the `records` (of `read_metrics`) up to `last_step`, those a resumed run will not
        write again; returns them."""
        kept = [r for r in records if r["step"] <= last_step]
        atomic_write_bytes(self.file("metrics.jsonl"), "".join(json.dumps(r) + "\n" for r in kept).encode())
        return kept

    # Checkpoint: arrays plus a JSON blob of loop state.
    def save_checkpoint(self, arrays, state):
        atomic_write_npz(self.file("checkpoint.npz"), {**arrays, "__state__": np.array(json.dumps(state))})

    def load_checkpoint(self, keys=(), read_arrays=True):
        """(arrays dict, state dict), or None when there is no checkpoint; without `read_arrays`,
        only the archive's directory and loop state are read (a check), and the arrays dict is empty.

        Raises `WorkdirError` (naming the file and what to do) when checkpoint.npz does not load or
        lacks one of `keys`.
        """
        path = self.file("checkpoint.npz")
        if not os.path.exists(path):
            return None
        try:
            with np.load(path, allow_pickle=False) as npz:
                names = [k for k in npz.files if k != "__state__"]
                arrays = {k: npz[k] for k in names} if read_arrays else {}
                state = json.loads(str(npz["__state__"]))
            missing = [key for key in keys if key not in names]
            if missing or not isinstance(state, dict) or not {"step", "wall_time"} <= set(state):
                raise ValueError(f"it lacks {(missing or ['its loop state'])[0]!r}")
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
            raise WorkdirError(f"{path} does not load ({_one_line(error)}); move it away "
                               f"(mv {path} {path}.bad) to train the run again from the start") from None
        return arrays, state

    def read_results(self, missing_ok=False):
        """The results.json object (`results.read_results`); None when it is missing (`missing_ok`)
        or is not what the schema says."""
        path = self.file("results.json")
        if missing_ok and not os.path.exists(path):
            return None
        try:
            return results_lib.read_results(path)
        except results_lib.ResultsError:
            return None

    def write_results(self, results, outputs):
        atomic_write_npz(self.file("outputs.npz"), outputs)
        atomic_write_json(self.file("results.json"), results)
