"""Tests of lazyfeat_tf.cpu_threads: TensorFlow's pools in a training process."""

import os
import subprocess
import sys

import pytest
import tensorflow as tf

from lazyfeat_tf import cpu_threads
from lazyfeat_tf.sweep import executors

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

POOLS = ("from launch.common import import_tensorflow_quietly\n"
         "import_tensorflow_quietly()\n"
         "import tensorflow as tf\n"
         "print(tf.config.threading.get_intra_op_parallelism_threads(), "
         "tf.config.threading.get_inter_op_parallelism_threads())\n")


def test_each_row_block_gets_its_share_of_the_cores_as_intra_op_threads():
    assert cpu_threads.ROW_BLOCKS == 2
    assert [cpu_threads.pools(n) for n in (1, 2, 3, 4, 8)] == [(1, 1), (1, 2), (1, 3), (2, 4), (4, 8)]
    assert cpu_threads.environment(4) == {"TF_NUM_INTRAOP_THREADS": "2", "TF_NUM_INTEROP_THREADS": "4"}
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match=f"cores must be an int >= 1, received {bad!r}"):
            cpu_threads.pools(bad)


def test_a_sweep_worker_gets_the_pools_of_its_threads():
    env = executors.thread_env(2)
    assert (env["TF_NUM_INTRAOP_THREADS"], env["TF_NUM_INTEROP_THREADS"], env["OMP_NUM_THREADS"]) == ("1", "2", "2")


def _entry_point_pools(**variables):
    env = {k: v for k, v in os.environ.items() if k not in cpu_threads.VARIABLES}
    out = subprocess.run([sys.executable, "-c", POOLS], env={**env, **variables, "PYTHONPATH": REPO}, cwd=REPO,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    return tuple(int(v) for v in out.stdout.split()[-2:])


def test_an_entry_point_sets_the_pools_unless_the_environment_chose_them():
    assert _entry_point_pools() == cpu_threads.pools(cpu_threads.cores())
    # A sweep worker's (or the user's) variables are TensorFlow's to read: the API's values stay unset (0).
    assert _entry_point_pools(TF_NUM_INTRAOP_THREADS="2", TF_NUM_INTEROP_THREADS="2") == (0, 0)


def test_configure_leaves_a_machine_with_a_gpu_alone(monkeypatch):
    for name in cpu_threads.VARIABLES:
        monkeypatch.delenv(name, raising=False)
    calls = []
    monkeypatch.setattr(tf.config.threading, "set_intra_op_parallelism_threads", calls.append)
    real = tf.config.list_physical_devices
    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: ["/physical_device:GPU:0"] if kind == "GPU" else real(kind))
    assert cpu_threads.configure() is None and calls == []


def test_configure_after_the_runtime_started_changes_nothing_and_raises_nothing(monkeypatch):
    for name in cpu_threads.VARIABLES:
        monkeypatch.delenv(name, raising=False)
    tf.constant(1.0).numpy()  # the runtime runs: its pools are fixed (pytest's: TensorFlow's default)
    before = (tf.config.threading.get_intra_op_parallelism_threads(),
              tf.config.threading.get_inter_op_parallelism_threads())
    assert before == (0, 0)
    assert cpu_threads.configure() is None
    assert (tf.config.threading.get_intra_op_parallelism_threads(),
            tf.config.threading.get_inter_op_parallelism_threads()) == before
