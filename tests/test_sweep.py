"""Tests of `lazyfeat_tf.sweep` and `python -m launch.sweep` on tiny synthetic runs.

The sweep is `tests/configs/tiny_sweep.py` (4 runs of the tests' tiny config, `tests/configs/tiny.py`).
- grid expansion and run names (no training); importing `lazyfeat_tf.sweep` does not import TensorFlow;
- a local-executor sweep (2 workers) completes and the report gathers it;
- a sweep killed (SIGKILL of its process group) after its first runs and started again trains only
  what was missing, resuming the interrupted run;
- SIGTERM to the sweep process alone ends its busy worker as well (no orphan);
- failing runs are retried, recorded in failures.json with their error, and the others complete
  (a run that always raises, one that fails once, one whose worker process dies, an invalid point);
- a real Ray cluster started on 127.0.0.1 by the test runs the sweep with results identical to the
  local executor's.
"""

import contextlib
import fcntl
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

from conftest import REPO_ROOT, read_json, read_jsonl, tiny_config
from lazyfeat_tf import cpu_threads, report, sweep

TIMEOUT = 300
SWEEP_FILE = os.path.join(REPO_ROOT, "tests", "configs", "tiny_sweep.py")
TINY_SWEEP = sweep.load_config_module(SWEEP_FILE)
ASH = TINY_SWEEP.ALPHA_SQRT_H


def names():
    return [f"width={w},alpha_sqrt_h={a:g}" for w in TINY_SWEEP.WIDTHS for a in ASH]


def sweep_command(config_file, workdir, *flags):
    return [sys.executable, "-m", "launch.sweep", f"--config={config_file}", f"--workdir={workdir}",
            "--progress_every=5", *flags]


def start_sweep_process(config_file, workdir, max_steps):
    """`launch.sweep` with one worker, in its own process group: (Popen, the runs directory)."""
    flags = [f"--config.dynamics.max_steps={max_steps}", "--config.kernels.track=False", "--workers=1"]
    process = subprocess.Popen(sweep_command(config_file, workdir, *flags), cwd=REPO_ROOT, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, os.path.join(workdir, "runs")


def run_launcher(command):
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=TIMEOUT,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def events(workdir):
    return read_jsonl(os.path.join(workdir, "sweep.jsonl"))


def results_of(workdir, name):
    return read_json(os.path.join(workdir, "runs", name, "results.json"))


# ----------------------------------------------------------------------------------------------
# Grids and names


def test_grid_expansion_and_names():
    points = sweep.product(sweep.axis("model.width", [32, 128]), sweep.axis("alpha_sqrt_h", [1e-3, 10**0.5]),
                           sweep.axis("seed", np.arange(2)))
    assert len(points) == 8 and points[0] == {"model.width": 32, "alpha_sqrt_h": 1e-3, "seed": 0}
    assert points[-1] == {"model.width": 128, "alpha_sqrt_h": 10**0.5, "seed": 1}  # first axis slowest
    base = tiny_config(alpha=0.5)
    runs = sweep.expand(base, points)
    assert [r.name for r in runs[:3]] == ["width=32,alpha_sqrt_h=0.001,seed=0",
                                          "width=32,alpha_sqrt_h=0.001,seed=1",
                                          "width=32,alpha_sqrt_h=3.162,seed=0"]
    first = runs[0].config
    assert first.model.width == 32 and first.alpha_sqrt_h == 1e-3 and first.alpha is None  # alpha cleared
    assert type(first.seed) is int and base.model.width == 8  # numpy -> Python; base untouched
    assert [r.config.to_dict() for r in sweep.expand(base, points)] == [r.config.to_dict() for r in runs]
    assert sweep.run_name({}) == "base"
    assert sweep.short_keys([{"model.width": 1, "data.seed": 2, "seed": 3}]) == {
        "model.width": "width", "data.seed": "data.seed", "seed": "seed"}
    assert sweep.chain(sweep.axis("seed", [0]), sweep.axis("alpha", [1.0])) == [{"seed": 0}, {"alpha": 1.0}]

    bad = {
        "has no field 'model.widht'": [{"model.widht": 3}],
        "cannot set model.width=3.5": [{"model.width": 3.5}],
        "have the same run name 'alpha_sqrt_h=1'": [{"alpha_sqrt_h": 1.0}, {"alpha_sqrt_h": 1.00001}],
        "returned no points": [],
        "must return a list of dicts": {"seed": 0},
    }
    for message, grid in bad.items():
        with pytest.raises(sweep.SweepError, match=message.replace("(", r"\(")):
            sweep.expand(base, grid)
    with pytest.raises(sweep.SweepError, match="swept by two grids"):
        sweep.product(sweep.axis("seed", [0]), sweep.axis("seed", [1]))


def test_importing_the_sweep_package_does_not_import_tensorflow():
    """Config files import `lazyfeat_tf.sweep`: that alone must not start TensorFlow."""
    code = "import lazyfeat_tf.sweep, sys; assert 'tensorflow' not in sys.modules"
    done = run_launcher([sys.executable, "-c", code])
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("name", ["sweep_demo", "sweep_fc"])
def test_shipped_sweep_configs(name):
    path = os.path.join(REPO_ROOT, "configs", f"{name}.py")
    module = sweep.load_config_module(path)
    runs = sweep.expand(module.get_config(), sweep.load_sweep(path))
    widths = sorted({r.config.model.width for r in runs})
    ash = sorted({r.config.alpha_sqrt_h for r in runs})
    seeds = sorted({r.config.seed for r in runs})
    assert all(r.config.data.name == "fashion_mnist" and r.config.data.n_train <= 1000 for r in runs)
    assert len(runs) == len(widths) * len(ash) * len(seeds)
    if name == "sweep_fc":
        assert len(widths) >= 4 and widths[-1] >= 8 * widths[0] and len(seeds) >= 4
        assert ash[0] == pytest.approx(1e-3) and ash[-1] == pytest.approx(1e3)
        assert all(r.config.data.n_train == 1000 and r.config.model.activation == "softplus" for r in runs)
        assert "python -m launch.sweep --config=configs/sweep_fc.py" in module.__doc__


def test_bad_arguments_fail_before_any_work(tmp_path):
    config, points = tiny_config(), sweep.axis("seed", [0])
    for kwargs, message in (({"executor": "slurm"}, "--executor='slurm'"), ({"workers": 0}, "--workers=0"),
                            ({"max_retries": -1}, "--max_retries=-1"),
                            ({"ray_address": "1.2.3.4:1"}, "needs --executor=ray")):
        with pytest.raises(sweep.SweepError, match=message):
            sweep.run_sweep(config, points, str(tmp_path / "w"), **kwargs)
    assert not os.path.exists(tmp_path / "w")
    (tmp_path / "file").write_text("")
    with pytest.raises(sweep.SweepError, match="exists and is not a directory"):
        sweep.run_sweep(config, points, str(tmp_path / "file"))
    busy = tmp_path / "busy"
    busy.mkdir()
    with open(busy / ".sweep.lock", "w") as lock:  # another sweep holds the directory
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(sweep.SweepError, match="is in use by another sweep"):
            sweep.run_sweep(config, points, str(busy))
    missing = run_launcher(sweep_command(os.path.join(REPO_ROOT, "configs", "demo.py"), tmp_path / "x"))
    assert missing.returncode == 2
    [line] = missing.stderr.strip().splitlines()  # one line: TensorFlow's start-up lines are dropped
    assert line.startswith("error: --config=") and "get_sweep()" in line


# ----------------------------------------------------------------------------------------------
# The local executor


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    """(workdir, summary) of the tiny sweep by the local executor with 2 workers, in this process."""
    workdir = str(tmp_path_factory.mktemp("local"))
    summary = sweep.run_sweep(TINY_SWEEP.get_config(), TINY_SWEEP.get_sweep(), workdir, workers=2,
                              progress_every=5)
    return workdir, summary


def test_local_sweep_completes_and_report_gathers_it(local_sweep):
    workdir, summary = local_sweep
    assert (summary["total"], summary["trained"], summary["skipped"], summary["failed"]) == (4, 4, 0, 0)
    assert (summary["workers"], summary["threads"]) == (2, max(1, sweep.cores() // 2))
    assert sorted(os.listdir(os.path.join(workdir, "runs"))) == sorted(names())
    for name in names():
        results = results_of(workdir, name)
        assert results["status"] in ("converged", "max_steps") and results["kernel_drift_test"] > 0
        assert "init_kernel_test_error" in results
        assert read_json(os.path.join(workdir, "runs", name, "config.json"))["alpha_sqrt_h"] in ASH
        with open(os.path.join(workdir, "logs", f"{name}.log")) as f:
            header = f.readline()
        assert "attempt 1 in process" in header
        pools = cpu_threads.environment(summary["threads"])
        assert (f"TF_NUM_INTRAOP_THREADS={pools['TF_NUM_INTRAOP_THREADS']}, "
                f"TF_NUM_INTEROP_THREADS={pools['TF_NUM_INTEROP_THREADS']})") in header
    assert read_json(os.path.join(workdir, "failures.json")) == {}
    plan = read_json(os.path.join(workdir, "sweep.json"))
    assert [p["name"] for p in plan["points"]] == names() and plan["workers"] == 2
    kinds = [e["event"] for e in events(workdir)]
    assert kinds[0] == "sweep_start" and kinds[-1] == "sweep_end"
    assert kinds.count("started") == 4 and kinds.count("finished") == 4

    # The tiny runs may stop at their 1000-step budget (status max_steps): the report draws them only if asked.
    result = report.make_report(workdir, n_boot=200, include_unconverged=True)
    assert len(result["rows"]) == 4 and sorted(r["run"] for r in result["rows"]) == sorted(
        f"runs/{n}" for n in names())
    assert os.path.exists(os.path.join(workdir, "report", "runs.csv"))
    assert os.path.exists(os.path.join(workdir, "report", "test_error_collapse.png"))


def test_finished_sweep_is_not_redone(local_sweep):
    workdir, _ = local_sweep
    mtimes = {n: os.stat(os.path.join(workdir, "runs", n, "results.json")).st_mtime_ns for n in names()}
    again = sweep.run_sweep(TINY_SWEEP.get_config(), TINY_SWEEP.get_sweep(), workdir, workers=2)
    assert (again["trained"], again["skipped"], again["failed"]) == (0, 4, 0)
    assert mtimes == {n: os.stat(os.path.join(workdir, "runs", n, "results.json")).st_mtime_ns for n in names()}


def test_a_run_whose_results_json_does_not_parse_is_trained_again(local_sweep):
    """The sweep does not take a corrupt results.json for a finished run (issue 13, item 6)."""
    from lazyfeat_tf.sweep import runner

    workdir, _ = local_sweep
    name = sorted(os.listdir(os.path.join(workdir, "runs")))[0]
    path = os.path.join(workdir, "runs", name)
    (run,) = [r for r in sweep.expand(TINY_SWEEP.get_config(), TINY_SWEEP.get_sweep()) if r.name == name]
    assert runner.precheck(run, path) == "finished"
    results = os.path.join(path, "results.json")
    with open(results) as f:
        text = f.read()
    try:
        with open(results, "w") as f:
            f.write(text[:len(text) // 2])
        assert runner.precheck(run, path) == "todo"
    finally:
        with open(results, "w") as f:
            f.write(text)


def test_kill_and_restart_trains_only_what_is_missing(tmp_path):
    workdir = str(tmp_path / "sweep")
    # ~1-2 s per run, one at a time, so that the kill finds a run finished and the next one started.
    process, runs = start_sweep_process(SWEEP_FILE, workdir, max_steps=5000)
    deadline = time.time() + TIMEOUT
    try:
        while time.time() < deadline:  # kill once a run is finished and the next one has a checkpoint
            finished = [n for n in names() if os.path.exists(os.path.join(runs, n, "results.json"))]
            partial = [n for n in names() if n not in finished
                       and os.path.exists(os.path.join(runs, n, "checkpoint.npz"))]
            if finished and partial:
                break
            assert process.poll() is None, "the sweep ended before it could be killed"
            time.sleep(0.02)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    finished = {n: os.stat(os.path.join(runs, n, "results.json")).st_mtime_ns for n in names()
                if os.path.exists(os.path.join(runs, n, "results.json"))}
    interrupted = [n for n in names() if n not in finished and os.path.exists(os.path.join(runs, n, "checkpoint.npz"))]
    assert 1 <= len(finished) < 4 and interrupted

    # Started again (in this process: the launcher is tested elsewhere) with the same config.
    config = TINY_SWEEP.get_config()
    config.dynamics.max_steps = 5000
    config.kernels.track = False
    summary = sweep.run_sweep(config, TINY_SWEEP.get_sweep(), workdir, workers=2)
    assert (summary["trained"], summary["skipped"], summary["failed"]) == (4 - len(finished), len(finished), 0)
    for name, mtime in finished.items():  # finished runs were not touched
        assert os.stat(os.path.join(runs, name, "results.json")).st_mtime_ns == mtime
    for name in names():
        assert os.path.exists(os.path.join(runs, name, "results.json"))
    for name in interrupted:  # the interrupted run resumed from its checkpoint
        with open(os.path.join(workdir, "logs", f"{name}.log")) as f:
            assert "resuming" in f.read()
    second = events(workdir)
    second = second[max(i for i, e in enumerate(second) if e["event"] == "sweep_start"):]
    assert sorted(e["run"] for e in second if e["event"] == "started") == sorted(set(names()) - set(finished))


# ----------------------------------------------------------------------------------------------
# Failures


def flaky_train(config, workdir):
    """A train function for the failure test (runs in the worker processes).

    seed 1 always raises; seed 2 raises on its first attempt; seed 3 kills its worker process on its
    first attempt; other seeds train normally.
    """
    marker = workdir + ".attempted"
    os.makedirs(os.path.dirname(marker), exist_ok=True)
    first = not os.path.exists(marker)
    open(marker, "a").close()
    if config.seed == 1:
        raise RuntimeError("boom: seed 1 always fails")
    if config.seed == 2 and first:
        raise RuntimeError("transient failure")
    if config.seed == 3 and first:
        os._exit(3)
    from lazyfeat_tf import train

    return train.train_and_evaluate(config, workdir)


def _state_and_parent(pid):
    """(state letter, parent pid) of process `pid` from /proc, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state, parent = f.read().rsplit(")", 1)[1].split()[:2]
    except (OSError, ValueError):
        return None
    return state, int(parent)


def _alive(pid):
    found = _state_and_parent(pid)
    return found is not None and found[0] != "Z"  # a zombie has ended


def _children(pid):
    """Pids of the live processes whose parent is `pid`."""
    found = {int(e): _state_and_parent(e) for e in os.listdir("/proc") if e.isdigit()}
    return [child for child, info in found.items() if info is not None and info[0] != "Z" and info[1] == pid]


def test_workers_end_when_the_sweep_process_is_terminated(tmp_path):
    """SIGTERM to the sweep process alone (not its group): its worker, busy training, ends too."""
    process, runs = start_sweep_process(SWEEP_FILE, str(tmp_path / "sweep"), max_steps=100_000)
    try:
        deadline = time.time() + TIMEOUT
        while not any(os.path.exists(os.path.join(runs, n, "checkpoint.npz")) for n in names()):
            assert process.poll() is None and time.time() < deadline, "no run started"
            time.sleep(0.05)
        workers = _children(process.pid)
        assert workers, "the sweep has no worker process"
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        deadline = time.time() + 15
        while any(_alive(pid) for pid in workers) and time.time() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in workers if _alive(pid)], "workers outlived the sweep process"
    finally:
        with contextlib.suppress(ProcessLookupError):  # the group may be empty by now
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_failures_are_retried_recorded_and_do_not_stop_the_sweep(tmp_path):
    workdir = str(tmp_path / "sweep")
    points = sweep.axis("seed", [0, 1, 2, 3]) + [{"seed": 4, "model.activation": "sigmoid"}]
    summary = sweep.run_sweep(tiny_config(), points, workdir, workers=2, max_retries=2, progress_every=5,
                              train_fn="test_sweep:flaky_train")
    assert (summary["total"], summary["trained"], summary["failed"]) == (5, 3, 2)
    for seed in (0, 2, 3):
        assert results_of(workdir, f"seed={seed}")["seed"] == seed
    failures = read_json(os.path.join(workdir, "failures.json"))
    assert failures == summary["failures"] and sorted(failures) == ["seed=1", "seed=4,activation=sigmoid"]
    assert failures["seed=1"]["attempts"] == 3
    assert failures["seed=1"]["error"] == "RuntimeError: boom: seed 1 always fails"
    invalid = failures["seed=4,activation=sigmoid"]
    assert invalid["attempts"] == 0 and not invalid["retryable"]  # a bad config is not retried
    assert invalid["error"].startswith("ConfigError: config.model.activation='sigmoid'")
    retries = [e for e in events(workdir) if e["event"] == "retry"]
    assert {e["run"] for e in retries} >= {"seed=1", "seed=2", "seed=3"}
    assert any(e["run"] == "seed=3" and e["error"].startswith("worker died") for e in retries)
    with open(os.path.join(workdir, "logs", "seed=1.log")) as f:
        log = f.read()
    assert log.count("RuntimeError: boom") == 3 and "attempt 3" in log


# ----------------------------------------------------------------------------------------------
# Ray


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_cluster():
    """A local Ray cluster on 127.0.0.1 with 2 CPUs; yields its address and stops it afterwards."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install ray)")
    ray_bin = shutil.which("ray") or os.path.join(os.path.dirname(sys.executable), "ray")
    port = free_port()
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must stay < 108 chars
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    start = subprocess.run([ray_bin, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                            "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
                            f"--temp-dir={temp_dir}"], capture_output=True, text=True, timeout=TIMEOUT, env=env)
    try:
        assert start.returncode == 0, start.stdout[-2000:] + start.stderr[-2000:]
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray_bin, "stop", "--force"], capture_output=True, timeout=TIMEOUT, env=env)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_ray_cluster_gives_the_local_results(ray_cluster, local_sweep, tmp_path):
    local_dir, _ = local_sweep
    workdir = str(tmp_path / "ray")
    done = run_launcher(sweep_command(SWEEP_FILE, workdir, "--executor=ray", f"--ray_address={ray_cluster}",
                                      "--workers=2"))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "ray executor, 2 workers x 1 threads" in done.stdout and "4 trained" in done.stdout
    for name in names():
        local, remote = results_of(local_dir, name), results_of(workdir, name)
        local.pop("wall_time")
        remote.pop("wall_time")
        assert remote == local, name
        with np.load(os.path.join(local_dir, "runs", name, "outputs.npz")) as a, \
                np.load(os.path.join(workdir, "runs", name, "outputs.npz")) as b:
            for key in a.files:
                np.testing.assert_array_equal(a[key], b[key])
    assert math.isfinite(read_json(os.path.join(workdir, "sweep.json"))["threads"])
