"""Shared fixtures of the core tests: a tiny run config on the synthetic task, and a workdir.

Everything is kept tiny (width 8, 64 + 64 points of dimension 8) so that a full training run takes
about a second on a CPU.
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(**overrides):
    """The tiny run of `tests/configs/tiny.py`: `config.base_config()` on the synthetic task, width 8,
    64 + 64 points, alpha*sqrt(h) = 1, kernel tracking (tested elsewhere) off.

    `overrides` are dotted keys with `__` for the dots, e.g. `model__width=16`, `alpha_sqrt_h=0.01`.
    """
    import runpy

    config = runpy.run_path(os.path.join(REPO_ROOT, "tests", "configs", "tiny.py"))["get_config"]()
    from lazyfeat_tf import config as config_lib

    for key, value in overrides.items():
        if key in config_lib.SCALE_KEYS:
            config_lib.set_scale(config, key, value)  # clears the other scale
        else:
            set_field(config, key, value)
    return config


def load_benchmark(name):
    """The module of `benchmarks/<name>.py` (benchmarks are scripts, not a package)."""
    import importlib.util

    path = os.path.join(REPO_ROOT, "benchmarks", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"{name}_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def set_field(config, key, value, separator="__"):
    """config[a][b][c] = value for key "a__b__c" (or "a.b.c" with separator "."); a ConfigDict or a
    nested dict."""
    *path, last = key.split(separator)
    node = config
    for part in path:
        node = node[part]
    node[last] = value


def read_json(path):
    with open(path) as f:
        return json.load(f)


def without_wall_time(record):
    """A results or metrics record without its wall time (the one field two equal runs differ in)."""
    return {k: v for k, v in record.items() if k != "wall_time"}


def read_jsonl(path):
    """The records of a JSON-lines file (metrics.jsonl, sweep.jsonl), in order."""
    with open(path) as f:
        return [json.loads(line) for line in f]


@pytest.fixture
def make_config():
    """Factory of tiny configs: `make_config(alpha_sqrt_h=0.01, model__width=16)`."""
    return tiny_config


@pytest.fixture
def workdir(tmp_path):
    """A run directory that does not exist yet (train_and_evaluate creates it)."""
    return str(tmp_path / "run")


def snapshot(path):
    """{relative path: (bytes, mtime_ns)} of every file under `path` (for "nothing changed")."""
    files = {}
    for root, _, names in os.walk(path):
        for name in names:
            full = os.path.join(root, name)
            with open(full, "rb") as f:
                files[os.path.relpath(full, path)] = (f.read(), os.stat(full).st_mtime_ns)
    return files


@pytest.fixture
def dir_snapshot():
    return snapshot


def build_model(config, input_shape):
    """The model of a run config (e.g. `tiny_config()`): `models.build_run_model` of its resolved spec."""
    from lazyfeat_tf import config as config_lib
    from lazyfeat_tf import models

    return models.build_run_model(config_lib.resolve(config), input_shape)


def task_of(config, dtype=None):
    """The `data.BinaryTask` of a run config, in `dtype` (default: the config's)."""
    from lazyfeat_tf import config as config_lib
    from lazyfeat_tf import data

    spec = config_lib.resolve(config)
    return data.load_task(spec.data, dtype or spec.dtype)
