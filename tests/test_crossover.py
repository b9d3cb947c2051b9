"""Tests of the crossover finder (`lazyfeat_tf.sweep.crossover`, `python -m launch.crossover`).

- the bisection on a fake observable (no training) finds the known crossing and exponent, and its
  bootstrap CI covers it;
- the whole search through the sweep machinery with a fake train function (no TensorFlow) writes
  crossover.json and the figure, and started again trains nothing;
- a real tiny search (tests/configs/tiny_crossover.py) through the local executor and the launcher;
  killed (SIGKILL of its process group) after some runs and started again, it trains no run twice;
- bad input, a bracket that does not bracket the threshold and an unconverged run are one line.
"""

import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import REPO_ROOT, read_json, read_jsonl, tiny_config

from lazyfeat_tf import config as config_lib
from lazyfeat_tf import results as results_lib
from lazyfeat_tf import rundir, sweep
from lazyfeat_tf.sweep import crossover

TIMEOUT = 600
TINY_FILE = os.path.join(REPO_ROOT, "tests", "configs", "tiny_crossover.py")
B_TRUE, ASH_AT_1 = -0.3, 20.0  # the fake: alpha* = ASH_AT_1 * h^B_TRUE, so alpha*sqrt(h)* = 20 h^0.2
SEED_NOISE = {0: -0.2, 1: 0.05, 2: 0.15}  # log10 factors of the fake's seeds; their mean is 0


def fake_drift(width, ash, seed, slope=-1.3):
    """A kernel drift with a known crossing of 1 at alpha*sqrt(h) = ASH_AT_1 h^(B_TRUE + 1/2)."""
    star = ASH_AT_1 * width ** (B_TRUE + 0.5)
    return (ash / star) ** slope * 10 ** SEED_NOISE[seed]


def _filler(field):
    """A value of the right type for a results.json field the fake does not care about."""
    kind = field.expected().removesuffix(" or null")
    return {"a number": 0.0, "an integer": 0, "a string": "", "true or false": True,
            "an object of numbers": {}}[kind]


def fake_train(config, workdir):
    """A train function (run in the sweep's workers) that writes the fake's results at once.

    `data.seed` = 1 makes the run unconverged (status max_steps)."""
    spec = config_lib.resolve(config)
    run = rundir.RunDir(workdir)
    with run.lock():
        run.start(spec.to_json())
        fields = {name: _filler(f) for name, f in results_lib.FIELDS.items() if not f.optional}
        converged = spec.data.seed != 1
        fields.update(alpha=spec.alpha, alpha_sqrt_h=spec.alpha_sqrt_h, width=spec.width, seed=spec.seed,
                      converged=converged, status="converged" if converged else "max_steps", t1=spec.alpha_sqrt_h,
                      kernel_drift_test=fake_drift(spec.width, spec.alpha_sqrt_h, spec.seed))
        results = results_lib.make_results(**fields)
        run.write_results(results, {"test_outputs": np.zeros(1)})
    return results


def fake_points(widths=(10, 40, 160), seeds=(0, 1, 2)):
    return sweep.product(sweep.axis("model.width", widths), sweep.axis("seed", seeds))


def started_runs(workdir):
    return [e["run"] for e in read_jsonl(os.path.join(workdir, "sweep.jsonl")) if e["event"] == "started"]


# ----------------------------------------------------------------------------------------------
# The bisection and the fit (no training)


def test_bisection_on_a_fake_observable_finds_the_known_crossing_and_exponent():
    widths, seeds = (10, 40, 160, 640), (0, 1, 2)
    search = crossover.Search(bracket=(0.01, 1e4), tolerance=0.05, n_boot=500)
    asked = []

    def evaluate(points):
        asked.append(points)
        return [[fake_drift(w, x, s) for s in seeds] for w, x in points]

    brackets = crossover.bisect(evaluate, widths, search)
    assert len(asked) == 1 + math.ceil(math.log2(6 / 0.05))  # the ends, then one midpoint per step
    assert len(asked[0]) == 2 * len(widths)
    assert all(len(points) == len(widths) for points in asked[1:])  # all widths advance together
    result = crossover.fit(brackets, search)
    for w in widths:
        b = brackets[w]
        assert b.decades() <= 0.05 and b.low < ASH_AT_1 * w ** (B_TRUE + 0.5) < b.high
        assert result["widths"][w]["alpha_star"] == pytest.approx(ASH_AT_1 * w**B_TRUE, rel=1e-6)
    assert result["fit"]["b"] == pytest.approx(B_TRUE, abs=1e-6)
    assert result["fit"]["prefactor"] == pytest.approx(ASH_AT_1, rel=1e-5)
    low, high = result["fit"]["ci"]
    assert low <= B_TRUE <= high and high - low > 0  # seeds resampled: a real spread

    # An increasing observable is found the same way (the sides come from the bracket's ends).
    rising = crossover.bisect(lambda pts: [[1 / fake_drift(w, x, s) for s in seeds] for w, x in pts],
                              widths, search)
    assert crossover.fit(rising, search)["fit"]["b"] == pytest.approx(B_TRUE, abs=1e-6)


def test_a_bracket_that_does_not_bracket_says_so_with_its_values():
    search = crossover.Search(bracket=(100.0, 1e4))
    with pytest.raises(crossover.CrossoverError) as info:
        crossover.bisect(lambda pts: [[fake_drift(w, x, 0) * 10**0.2 for _ in range(1)] for w, x in pts], [10], search)
    message = str(info.value)
    assert "--bracket=100,10000 does not bracket kernel_drift_test=1 at h=10" in message
    assert "both below the threshold" in message and "--bracket=1,10000" in message
    assert "\n" not in message


def test_bad_search_settings_are_one_line():
    bad = {"observable='drift'": {"observable": "drift"}, "--threshold=-1": {"threshold": -1.0},
           "--bracket=10,1": {"bracket": (10.0, 1.0)}, "--bracket=1": {"bracket": (1.0,)},
           "--tolerance=0": {"tolerance": 0.0}, "--n_boot=0": {"n_boot": 0}}
    for message, kwargs in bad.items():
        with pytest.raises(crossover.CrossoverError, match=message.replace("(", r"\(")):
            crossover.Search(**kwargs)
    with pytest.raises(crossover.CrossoverError, match="sets model.width and seed only .it sets alpha_sqrt_h"):
        crossover.widths_and_seeds([{"model.width": 8, "alpha_sqrt_h": 1.0}], tiny_config())
    assert crossover.Search(observable="t1_over_alpha_sqrt_h").threshold == 1.0
    assert crossover.widths_and_seeds(fake_points((8, 16), (1, 0)), tiny_config()) == ([8, 16], [0, 1])


# ----------------------------------------------------------------------------------------------
# The search through the sweep machinery, with the fake train function


def test_search_through_the_sweep_with_a_fake_train_function(tmp_path):
    workdir = str(tmp_path / "search")
    search = crossover.Search(bracket=(0.1, 1e4), tolerance=0.1, n_boot=200)
    options = {"workers": 2, "progress_every": 5, "train_fn": "test_crossover:fake_train"}
    result = crossover.find_crossover(tiny_config(), fake_points(), workdir, search, **options)
    saved = read_json(os.path.join(workdir, "crossover.json"))
    assert saved["status"] == "done" and saved["fit"]["b"] == pytest.approx(B_TRUE, abs=1e-6)
    assert os.path.exists(os.path.join(workdir, "crossover.png"))
    used = [run for item in saved["widths"].values() for e in item["evaluations"] for run in e["runs"]]
    assert sorted(os.listdir(os.path.join(workdir, "runs"))) == sorted(os.path.basename(r) for r in used)
    assert len(started_runs(workdir)) == len(used) == len(set(used))
    for w, item in saved["widths"].items():
        assert item["alpha_star"] == pytest.approx(ASH_AT_1 * int(w) ** B_TRUE, rel=1e-6)
        assert item["bracket"][1] / item["bracket"][0] <= 10**0.1 + 1e-9
    assert result["fit"]["b"] == saved["fit"]["b"]

    again = crossover.find_crossover(tiny_config(), fake_points(), workdir, search, **options)
    assert len(started_runs(workdir)) == len(used)  # nothing trained again
    assert again["widths"] == saved["widths"] and again["fit"] == saved["fit"]
    assert again["wall_time_total"] == pytest.approx(saved["wall_time_total"] + again["wall_time"])

    other = tiny_config(data__n_train=32)  # another config: its runs are not those of the directory
    with pytest.raises(crossover.CrossoverError, match=r"runs/width=10,alpha_sqrt_h=0.1,seed=0: WorkdirError: "
                       r".* holds a different run \(data.n_train: 64 in the workdir, 32 now\)"):
        crossover.find_crossover(other, fake_points(), workdir, search, **options)


def test_an_unconverged_run_stops_the_search_with_one_line(tmp_path):
    config = tiny_config()
    config.data.seed = 1  # the fake's unconverged runs
    search = crossover.Search(bracket=(0.1, 1e4))
    with pytest.raises(crossover.CrossoverError, match="did not converge .status max_steps.") as info:
        crossover.find_crossover(config, fake_points((10,), (0,)), str(tmp_path / "w"), search, workers=1,
                                 train_fn="test_crossover:fake_train")
    assert "a larger --config.dynamics.max_steps" in str(info.value) and "\n" not in str(info.value)


# ----------------------------------------------------------------------------------------------
# A real tiny search through the launcher and the local executor, killed and started again


def crossover_command(workdir, *flags, config_file=TINY_FILE):
    return [sys.executable, "-m", "launch.crossover", f"--config={config_file}", f"--workdir={workdir}",
            "--progress_every=5", *flags]


def run_launcher(command):
    return subprocess.run(command, check=False, cwd=REPO_ROOT, capture_output=True, text=True, timeout=TIMEOUT,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def finished_runs(workdir):
    runs = os.path.join(workdir, "runs")
    names = os.listdir(runs) if os.path.isdir(runs) else []
    return {n: os.stat(os.path.join(runs, n, "results.json")).st_mtime_ns for n in names
            if rundir.RunDir(os.path.join(runs, n)).finished}


def test_killed_search_started_again_trains_no_run_twice(tmp_path):
    workdir = str(tmp_path / "search")
    process = subprocess.Popen(crossover_command(workdir), cwd=REPO_ROOT, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + TIMEOUT
    try:  # kill once the bracket's ends are measured and the first midpoints are being trained
        while len(finished_runs(workdir)) < 9:
            assert process.poll() is None and time.time() < deadline, "the search ended before it could be killed"
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    before = finished_runs(workdir)
    n_events = len(read_jsonl(os.path.join(workdir, "sweep.jsonl")))
    assert read_json(os.path.join(workdir, "crossover.json"))["status"] == "running"

    done = run_launcher(crossover_command(workdir))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "alpha* ~" in done.stdout and "h=16: alpha* = " in done.stdout and "ETA" in done.stdout
    result = read_json(os.path.join(workdir, "crossover.json"))
    assert result["status"] == "done" and set(result["widths"]) == {"16", "32"}
    used = [run for item in result["widths"].values() for e in item["evaluations"] for run in e["runs"]]
    assert len(used) == len(set(used)) == 16  # the ends and 2 steps, 2 widths x 2 seeds
    assert sorted(finished_runs(workdir)) == sorted(os.path.basename(r) for r in used)
    for name, mtime in before.items():  # the runs finished before the kill were reused, not trained
        assert finished_runs(workdir)[name] == mtime
    events = read_jsonl(os.path.join(workdir, "sweep.jsonl"))
    started = [e["run"] for e in events if e["event"] == "started"]
    assert not set(before) & {e["run"] for e in events[n_events:] if e["event"] == "started"}
    assert len(started) - len(set(started)) <= 2  # only the (at most 2) runs in flight at the kill resumed
    for item in result["widths"].values():
        assert item["bracket"][1] / item["bracket"][0] <= 10**0.6 + 1e-9
        assert item["alpha_star_ci"][0] <= item["alpha_star"] <= item["alpha_star_ci"][1]
        assert 1.0 / 32 ** 0.5 < item["alpha_star"] < 100.0 / 16 ** 0.5
    assert os.path.exists(os.path.join(workdir, "crossover.png"))


def test_launcher_bad_input_is_one_line(tmp_path):
    cases = {("--bracket=1,x",): "--bracket=1,x: must be two numbers",
             ("--bracket=100,1",): "--bracket=100,1: must be two values",
             ("--observable=drift",): "--observable='drift': must be one of kernel_drift_test"}
    for flags, message in cases.items():
        done = run_launcher(crossover_command(str(tmp_path / "w"), *flags))
        assert done.returncode == 2, done.stderr
        [line] = done.stderr.strip().splitlines()
        assert line.startswith("error: " + message), line
    done = run_launcher(crossover_command(str(tmp_path / "w"), config_file=os.path.join(REPO_ROOT, "tests", "configs",
                                                                                        "tiny_sweep.py")))
    [line] = done.stderr.strip().splitlines()
    assert done.returncode == 2 and "a crossover config's get_sweep() sets model.width and seed only" in line
    assert not os.path.exists(tmp_path / "w" / "runs")


def test_shipped_crossover_config():
    path = os.path.join(REPO_ROOT, "configs", "crossover_fc.py")
    module = sweep.load_config_module(path)
    config = module.get_config()
    widths, seeds = crossover.widths_and_seeds(module.get_sweep(), config)
    search = crossover.load_search(path)
    assert len(widths) >= 4 and widths[-1] >= 8 * widths[0] and len(seeds) >= 3
    assert config.data.name == "fashion_mnist" and config.data.n_train == 1000 and config.model.depth == 3
    assert config.model.activation == "softplus" and config.kernels.track
    assert search.observable == "kernel_drift_test" and search.threshold == 1.0
    assert "python -m launch.crossover --config=configs/crossover_fc.py" in module.__doc__
