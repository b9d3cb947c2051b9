"""A persistent cache of XLA executables, shared by the runs of a machine.

The parts of a run compiled with XLA (the frozen-kernel predictors' integrator, float32
`ntk.empirical_ntk` calls) compile again in every process: ~0.3-0.9 s each on 2 CPU cores, about a
tenth of a demo-size run. With TensorFlow's persistent cache (`--tf_xla_persistent_cache_directory`
in `TF_XLA_FLAGS`) a program compiled once is loaded from disk by every later process that
compiles the same program (same shapes, dtypes and graph). The predictors' alpha is a constant of
their integrator's program: a sweep compiles it once per alpha (and training-set size, dtype, loss
and gradient-flow settings); its other widths, seeds and repeated runs load it. Measured here
(n = 1000 predictor integrator, 2 cores): 0.43 s to compile, 0.15 s with the cache.

The cache is a directory per TensorFlow version (executables of another version are never read):
`$LAZYFEAT_XLA_CACHE/tf-<version>`, by default `~/.cache/lazyfeat_tf/xla/tf-<version>`;
`LAZYFEAT_XLA_CACHE=off` turns it off; it stays off where the directory cannot be written. A few
hundred KB per compiled program; delete the directory to reclaim it. TensorFlow reads
`TF_XLA_FLAGS` when it is imported: the entry points (`launch.*`) and the sweep's tasks (local
processes or Ray workers, each on its own machine) call `enable()` before importing it; a notebook
may call it before its first `import tensorflow`. TensorFlow writes a program to a temporary file
and renames it, so concurrent runs never read a partial one. This module does not import
TensorFlow.
"""

import importlib.metadata
import os

from lazyfeat_tf import rundir

ENV = "LAZYFEAT_XLA_CACHE"
"""Environment variable: the cache's parent directory, or "off"."""

FLAG = "--tf_xla_persistent_cache_directory"

_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-tpu", "tf-nightly")


def tensorflow_version():
    """The installed TensorFlow's version, read without importing it ("unknown" if none is found)."""
    for name in _DISTRIBUTIONS:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"


def directory(environ=None):
    """The cache directory of this TensorFlow version, or None when `LAZYFEAT_XLA_CACHE=off`."""
    environ = os.environ if environ is None else environ
    parent = environ.get(ENV, "").strip()
    if parent.lower() == "off":
        return None
    parent = parent or os.path.join(os.path.expanduser("~"), ".cache", "lazyfeat_tf", "xla")
    return os.path.join(parent, f"tf-{tensorflow_version()}")


def writable(path):
    """Whether the directory `path` can be created or written (`rundir.check_writable`). TensorFlow
    fails the XLA computation itself when it cannot save a compiled program, so an unwritable cache
    (a read-only home, a file in the way) must stay off."""
    try:
        rundir.check_writable(path, flag=ENV)
    except rundir.WorkdirError:
        return False
    return True


def environment(environ=None):
    """{"TF_XLA_FLAGS": ...} that turns the cache on, to set before TensorFlow is imported: the
    existing flags plus the cache directory (TensorFlow creates it); {} when the cache is off, the directory
    cannot be written, or the flags already name a cache directory (the user's choice is kept)."""
    environ = os.environ if environ is None else environ
    flags = environ.get("TF_XLA_FLAGS", "")
    if FLAG in flags:
        return {}
    path = directory(environ)
    if path is None or not writable(path):
        return {}
    return {"TF_XLA_FLAGS": f"{flags} {FLAG}={path}".strip()}


def enable():
    """Turn the cache on for this process and its children. TensorFlow reads its flags when it is
    imported: without effect after `import tensorflow`."""
    os.environ.update(environment())
