"""End-to-end tests of the entry points as users run them: `python -m launch.train` and
`python -m launch.demo` from the repository root, in subprocesses, on the tiny synthetic task.

Subprocesses are slow to start (TensorFlow import), so the checks are combined and, where they are
independent, run concurrently."""

import importlib.util
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO_ROOT, read_json, read_jsonl, set_field, snapshot, without_wall_time
from lazyfeat_tf import compare, train

TIMEOUT = 300

SMALL = {
    "data.source": "synthetic",
    "data.name": "synthetic",
    "data.dim": 8,
    "data.n_train": 64,
    "data.n_test": 64,
    "model.width": 8,
    "dynamics.num_records": 30,
    "checkpoint_every_secs": 0.0,
    "kernels.track": False,  # kernel tracking has its own tests
}
RUN = {**SMALL, "alpha_sqrt_h": 1.0, "dynamics.max_steps": 5000}  # converges after ~2800 steps


def overrides(values):
    return [f"--config.{key}={value}" for key, value in values.items()]


def train_command(workdir, **changes):
    values = {**RUN, **{k.replace("__", "."): v for k, v in changes.items()}}
    return [sys.executable, "-m", "launch.train", "--config=configs/demo.py", f"--workdir={workdir}",
            *overrides(values)]


def demo_config(values):
    """configs/demo.py with `values` applied, built in this process."""
    spec = importlib.util.spec_from_file_location("demo_config", os.path.join(REPO_ROOT, "configs", "demo.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    for key, value in values.items():
        set_field(config, key, value, separator=".")
    return config


def env():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def start(command, stdout=subprocess.PIPE):
    return subprocess.Popen(command, cwd=REPO_ROOT, env=env(), stdout=stdout, stderr=subprocess.PIPE, text=True)


def finish(process):
    out, err = process.communicate(timeout=TIMEOUT)
    return process.returncode, out, err.splitlines()  # TensorFlow's start-up lines are not there


def records(workdir):
    path = os.path.join(workdir, "metrics.jsonl")
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return sum(1 for line in f if line.endswith("\n"))


@pytest.fixture(scope="module")
def demo_process(tmp_path_factory):
    """`launch.demo` on the tiny task, started in the background at the first test that asks for it."""
    workdir = str(tmp_path_factory.mktemp("demo") / "runs")
    command = [sys.executable, "-m", "launch.demo", "--config=configs/demo.py", f"--workdir={workdir}",
               "--alpha_sqrt_h=0.01,100", *overrides({**SMALL, "dynamics.max_steps": 3000})]
    process = start(command)
    yield process, workdir
    if process.poll() is None:
        process.kill()
        process.communicate()


def test_train_killed_and_resumed_equals_uninterrupted_and_workdir_is_protected(tmp_path, demo_process):
    workdir = str(tmp_path / "run")
    command = train_command(workdir)
    log = open(tmp_path / "killed.out", "w")
    killed = start(command, stdout=log)
    # Meanwhile, the uninterrupted reference run of the same config, in this process.
    reference = str(tmp_path / "reference")
    train.train_and_evaluate(demo_config(RUN), reference)

    deadline = time.time() + TIMEOUT
    while killed.poll() is None and records(workdir) < 10 and time.time() < deadline:
        time.sleep(0.02)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    log.close()
    assert killed.returncode == -signal.SIGKILL
    assert not os.path.exists(os.path.join(workdir, "results.json")), "the run ended before the kill"
    assert os.path.exists(os.path.join(workdir, "checkpoint.npz"))
    assert "step" in (tmp_path / "killed.out").read_text()  # progress is visible while it runs

    code, out, err = finish(start(command))
    assert code == 0, err
    assert err == []
    assert "resuming" in out and "finished (converged)" in out
    # The overrides reached the run: its resolved config is the reference's.
    assert read_json(os.path.join(workdir, "config.json")) == read_json(os.path.join(reference, "config.json"))
    config = read_json(os.path.join(workdir, "config.json"))
    assert config["model"]["width"] == 8 and config["alpha"] == pytest.approx(1 / 8**0.5)
    results = read_json(os.path.join(workdir, "results.json"))
    assert results["converged"] is True
    assert without_wall_time(results) == without_wall_time(read_json(os.path.join(reference, "results.json")))
    assert ([without_wall_time(r) for r in read_jsonl(os.path.join(workdir, "metrics.jsonl"))]
            == [without_wall_time(r) for r in read_jsonl(os.path.join(reference, "metrics.jsonl"))])

    # Then, concurrently: the same command again (not redone), a different config and a bad value on
    # the finished workdir. Nothing in the workdir may change. (Bad values on a new workdir, which must
    # not be created, are covered for every key in test_train.py.)
    before = snapshot(workdir)
    processes = {
        "again": start(command),
        "other_width": start(train_command(workdir, model__width=16)),
        "negative": start(train_command(workdir, alpha_sqrt_h=-1.0)),
    }
    outcome = {name: finish(p) for name, p in processes.items()}

    code, out, err = outcome["again"]
    assert code == 0 and err == [] and "holds a finished run" in out
    expected = {
        "other_width": ["holds a different run", f"--workdir={workdir!r}"],
        "negative": ["config.alpha_sqrt_h=-1.0"],
    }
    for name, parts in expected.items():
        code, out, err = outcome[name]
        assert code != 0, name
        assert len(err) == 1, (name, err)
        assert err[0].startswith("error: "), (name, err)
        for part in parts:
            assert part in err[0], (name, err)
    assert snapshot(workdir) == before


def test_demo_prints_the_lazy_vs_feature_table(demo_process):
    process, workdir = demo_process
    code, out, err = finish(process)
    assert code == 0, err
    assert err == []
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:1] == ["alpha*sqrt(h)"])
    assert lines[header].split() == " ".join(title for _, title, _ in compare.COLUMNS).split()
    keys = [key for key, _, _ in compare.COLUMNS]
    rows = [line.split() for line in lines[header + 1:header + 3]]
    assert [len(row) for row in rows] == [len(keys)] * 2
    assert [row[0] for row in rows] == ["0.01", "100"]
    change = keys.index("relative_weight_change")
    results = {}
    for value, row in zip(("0.01", "100"), rows):
        path = os.path.join(workdir, f"alpha_sqrt_h={value}", "results.json")
        assert f"results: {path}" in out
        results[value] = read_json(path)
        assert row[change] == f"{results[value]['relative_weight_change']:.3e}"
        assert row[keys.index("steps")] == str(results[value]["steps"])
        assert row[keys.index("status")] == results[value]["status"]
        assert results[value]["alpha_sqrt_h"] == pytest.approx(float(value))
    assert results["0.01"]["relative_weight_change"] > 10 * results["100"]["relative_weight_change"]


def test_misspelt_config_key_is_one_line(tmp_path):
    workdir = str(tmp_path / "run")
    command = train_command(workdir) + ["--config.model.widht=8"]
    code, _, err = finish(start(command))
    assert code != 0
    assert len(err) == 1 and "widht" in err[0], err
    assert not os.path.exists(workdir)


def test_ctrl_c_is_one_line_and_the_run_resumes(tmp_path):
    workdir = str(tmp_path / "run")
    command = train_command(workdir)
    process = start(command)
    deadline = time.time() + TIMEOUT
    while records(workdir) < 5 and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    code, _, err = finish(process)
    assert code == 130 and err[-1:] == ["interrupted: run the same command again to resume"], err
    assert [line for line in err if line.strip()] == err[-1:], err  # no traceback
    assert not os.path.exists(os.path.join(workdir, "results.json")), "the run ended before Ctrl-C"
    code, out, err = finish(start(command))
    assert code == 0 and err == [], err
    assert "resuming" in out and "finished (converged)" in out


def test_only_tensorflow_startup_lines_are_dropped_from_stderr():
    script = (
        "import os\n"
        "from launch import common\n"
        "with common._without_tensorflow_startup_lines():\n"
        "    os.write(2, b'I0000 00:00:1795397500.533505   10398 port.cc:153] oneDNN custom operations are on.\\n')\n"
        "    os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n')\n"
        "    os.write(2, b'Traceback: something real\\n')\n"
        "os.write(2, b'after\\n')\n"
    )
    process = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True,
                             timeout=TIMEOUT)
    assert process.returncode == 0, process.stderr
    assert process.stderr.splitlines() == ["Traceback: something real", "after"]


def test_tensorflow_objects_are_out_of_the_garbage_collectors_sight_once_per_process(tmp_path):
    """An entry point's TensorFlow import, and a sweep worker's first task, move the objects alive then
    to the permanent generation (a full collection would walk them: ~0.18 s); a worker's later task
    does not freeze again (what its runs left would never be collected)."""
    script = (
        "import gc, sys\n"
        "from launch import common\n"
        "from lazyfeat_tf.sweep import executors\n"
        "before = gc.get_freeze_count()\n"
        "common.import_tensorflow_quietly()\n"
        "entry = gc.get_freeze_count()\n"
        "gc.unfreeze()\n"
        "task = dict(name='p', config={}, log=sys.argv[1] + '/p.log', attempt=1, train_fn='os.path:join')\n"
        "counts = []\n"
        "for i in range(2):\n"
        "    assert not executors.run_task(dict(task, workdir=sys.argv[1] + str(i)))['ok']\n"
        "    counts.append(gc.get_freeze_count())\n"
        "    gc.collect()\n"
        "    junk = [[] for _ in range(1000)]\n"
        "print(before, entry, *counts)\n"
    )
    process = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=TIMEOUT)
    assert process.returncode == 0, process.stderr[-2000:]
    before, entry, first, second = map(int, process.stdout.split()[-4:])
    assert before == 0 and entry > 300_000, (before, entry)
    assert first > 300_000 and second == first, (first, second)
