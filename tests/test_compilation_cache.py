"""Tests of lazyfeat_tf.compilation_cache: the persistent XLA cache the entry points turn on."""

import gc
import os
import subprocess
import sys

from lazyfeat_tf import compilation_cache
from lazyfeat_tf.sweep import executors

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_environment_names_a_directory_per_tensorflow_version_and_keeps_the_users_flags(tmp_path):
    version = compilation_cache.tensorflow_version()
    assert version[0].isdigit(), version
    env = compilation_cache.environment({compilation_cache.ENV: str(tmp_path), "TF_XLA_FLAGS": "--tf_xla_auto_jit=0"})
    assert env == {"TF_XLA_FLAGS": f"--tf_xla_auto_jit=0 {compilation_cache.FLAG}={tmp_path}/tf-{version}"}
    home = compilation_cache.environment({"HOME": "/home/u"})["TF_XLA_FLAGS"]
    assert home.endswith(os.path.join(".cache", "lazyfeat_tf", "xla", f"tf-{version}")), home
    assert compilation_cache.environment({compilation_cache.ENV: "off"}) == {}
    assert compilation_cache.directory({compilation_cache.ENV: "OFF"}) is None
    mine = {"TF_XLA_FLAGS": f"{compilation_cache.FLAG}=/elsewhere"}
    assert compilation_cache.environment(mine) == {}


def test_an_unwritable_directory_leaves_the_cache_off(tmp_path):
    """TensorFlow would fail the computation itself when it cannot save a program."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert not compilation_cache.writable(str(blocker / "cache"))
    assert compilation_cache.environment({compilation_cache.ENV: str(blocker)}) == {}
    assert compilation_cache.writable(str(tmp_path / "new" / "dir"))


def test_a_sweep_task_turns_the_cache_on(monkeypatch, tmp_path):
    monkeypatch.setattr(gc, "freeze", lambda: None)  # a worker's first task freezes its objects: not pytest's
    monkeypatch.setenv(compilation_cache.ENV, str(tmp_path))
    monkeypatch.delenv("TF_XLA_FLAGS", raising=False)
    task = {"name": "p", "config": {}, "workdir": str(tmp_path / "run"), "log": str(tmp_path / "logs" / "p.log"),
            "attempt": 1, "train_fn": "os.path:join"}
    outcome = executors.run_task(task)
    assert not outcome["ok"]  # os.path.join({}, str): TypeError, reported, not raised
    assert os.environ["TF_XLA_FLAGS"] == f"{compilation_cache.FLAG}={compilation_cache.directory()}"


def test_an_entry_point_writes_and_a_later_process_reads_the_compiled_program(tmp_path):
    """Two processes compiling the same XLA program after `import_tensorflow_quietly`: the first
    writes it into the cache, the second loads it (the file is not written again)."""
    program = (
        "from launch.common import import_tensorflow_quietly\n"
        "import_tensorflow_quietly()\n"
        "import tensorflow as tf\n"
        "f = tf.function(lambda x: tf.reduce_sum(tf.sin(x) * x), jit_compile=True)\n"
        "print(float(f(tf.ones([7]))))\n"
    )
    env = {**os.environ, compilation_cache.ENV: str(tmp_path), "PYTHONPATH": REPO}
    env.pop("TF_XLA_FLAGS", None)
    written = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", program], env=env, cwd=REPO, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-2000:]
        assert abs(float(out.stdout.split()[-1]) - 7 * 0.8414709848) < 1e-5
        cache = tmp_path / f"tf-{compilation_cache.tensorflow_version()}"
        written.append({p.name: p.stat().st_mtime_ns for p in cache.iterdir()})
    assert len(written[0]) >= 1 and written[1] == written[0], written


def test_a_tracked_run_reads_the_predictors_program_that_the_same_run_wrote_before(tmp_path):
    """The frozen-kernel predictors' integrators are XLA: traced in the main thread at the observer's
    construction, their programs' keys are the same in every process of a run (traced beside the
    tracker's thread, the Theta_0 predictor's at its construction and the running-kernel predictor's
    at the first moment, they changed from one process to the next, and every run compiled them
    again)."""
    env = {**os.environ, compilation_cache.ENV: str(tmp_path / "xla"), "PYTHONPATH": REPO}
    env.pop("TF_XLA_FLAGS", None)
    cache = tmp_path / "xla" / f"tf-{compilation_cache.tensorflow_version()}"
    written = []
    for i in range(2):
        command = [sys.executable, "-m", "launch.train", "--config=tests/configs/tiny.py",
                   f"--workdir={tmp_path / f'run{i}'}", "--config.kernels.track=True",
                   "--config.kernels.running_fractions=(0.0, 0.5)"]
        out = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-2000:]
        written.append({p.name: p.stat().st_mtime_ns for p in cache.iterdir()})
    assert len(written[0]) >= 1 and written[1] == written[0], written
