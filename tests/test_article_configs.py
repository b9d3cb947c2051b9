"""Tests of the article configs, `configs/article/*.py` (every file there, whoever wrote it).

- Every file declares `FIGURES` (names of the article figures the report draws) and `SCALES`; at
  every scale, `get_config(scale)` and every point of `get_sweep(scale)` resolve into a `RunSpec`,
  without TensorFlow (in a subprocess); no argument means ":reduced"; an unknown scale is a one-line
  `ConfigError` naming exactly the declared scales, and through `python -m launch.sweep` exit
  status 2, one line on stderr and no sweep directory.
- Every reduced config reading IDX files present here trains one of its points, shrunk (width 8,
  64 + 64 real points, 60 steps, 16 + 16 kernel probes), through `train_and_evaluate`: the run
  directory holds the point's values and a finite test error. (Configs on tfds are tested with mock
  data elsewhere.)
- The crossover config gives its search at both scales (the reduced one is configs/crossover_fc.py,
  whose measured result docs/CROSSOVER.md reports); the `:protocol` scale of test_error_vs_alpha.py
  is pinned (a sweep of it is resumable only while it returns the same points).
"""

import glob
import json
import math
import os
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, read_json
from lazyfeat_tf import config as config_lib
from lazyfeat_tf import sweep
from lazyfeat_tf.sweep import grid

ARTICLE_DIR = os.path.join(REPO_ROOT, "configs", "article")
CONFIG_FILES = sorted(glob.glob(os.path.join(ARTICLE_DIR, "*.py")))
NAMES = [os.path.basename(f)[:-3] for f in CONFIG_FILES]
KNOWN_FIGURES = ("test_error_vs_h", "test_error_vs_alpha", "fluctuations_vs_h", "time_dynamics", "alphaf", "bias",
                 "depth", "gradient_flow_vs_adam", "var_vs_p", "feature_vs_lazy")
TIMEOUT = 300

# Run in a subprocess: loads every article config at every scale, resolves every point, and reports
# what it saw (and whether TensorFlow or Keras got imported) as JSON.
INSPECT = r"""
import json, sys
from lazyfeat_tf import config as config_lib
from lazyfeat_tf.sweep import grid

def error_of(call):
    try:
        call()
    except Exception as error:
        return [type(error).__name__, str(error)]
    return None

report = {}
for path in sys.argv[1:]:
    module = grid.load_config_module(path)
    entry = {"figures": list(getattr(module, "FIGURES", ["<none>"])), "scales": list(getattr(module, "SCALES", [])),
             "by_scale": {}, "unknown": {}}
    entry["default_is_reduced"] = (module.get_config().to_dict() == module.get_config("reduced").to_dict()
                                   and module.get_sweep() == module.get_sweep("reduced"))
    for scale in entry["scales"]:
        base = module.get_config(scale)
        points = module.get_sweep(scale)
        specs = [config_lib.resolve(run.config) for run in grid.expand(base, points)]  # names unique too
        entry["by_scale"][scale] = {
            "points": len(points),
            "n_train": sorted({s.data.n_train for s in specs}),
            "sources": sorted({s.data.source for s in specs}),
            "widths": sorted({s.model.width for s in specs}),
            "seeds": len({s.seed for s in specs}),
        }
    functions = ["get_config", "get_sweep"] + (["get_crossover"] if hasattr(module, "get_crossover") else [])
    entry["unknown"] = {name: error_of(lambda: getattr(module, name)("nonsense")) for name in functions}
    report[path] = entry
report["imported"] = sorted(m for m in ("tensorflow", "keras") if m in sys.modules)
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def inspected():
    process = subprocess.run([sys.executable, "-c", INSPECT, *CONFIG_FILES], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=TIMEOUT)
    assert process.returncode == 0, process.stderr[-3000:]
    return json.loads(process.stdout)


def test_the_article_directory_has_the_configs_of_setup_a():
    expected = {"test_error_vs_alpha", "test_error_vs_h", "fluctuations_vs_h", "time_dynamics", "crossover", "alphaf",
                "bias", "depth", "var_vs_p", "relu_fc", "pca"}
    assert expected <= set(NAMES)


def test_loading_and_resolving_every_config_imports_no_tensorflow(inspected):
    assert inspected["imported"] == []


@pytest.mark.parametrize("path", CONFIG_FILES, ids=NAMES)
def test_figures_and_scales_are_declared_and_every_point_resolves(inspected, path):
    entry = inspected[path]
    assert isinstance(entry["figures"], list) and set(entry["figures"]) <= set(KNOWN_FIGURES), entry["figures"]
    assert entry["scales"][:1] == ["reduced"] and "article" in entry["scales"]
    assert entry["default_is_reduced"]
    assert set(entry["by_scale"]) == set(entry["scales"])
    for scale, seen in entry["by_scale"].items():
        assert seen["points"] >= 2, (scale, seen)
    reduced, article = entry["by_scale"]["reduced"], entry["by_scale"]["article"]
    assert len(reduced["sources"]) == 1 and len(article["sources"]) == 1
    assert article["points"] > reduced["points"]


@pytest.mark.parametrize("path", CONFIG_FILES, ids=NAMES)
def test_an_unknown_scale_is_one_line_naming_the_declared_scales(inspected, path):
    entry = inspected[path]
    for function, error in entry["unknown"].items():
        assert error is not None, f"{function}('nonsense') did not fail"
        kind, message = error
        assert kind == "ConfigError" and "\n" not in message, (function, error)
        assert "'nonsense'" in message
        offered = message.split("is not one of ", 1)[1].split(";")[0]
        assert sorted(name.strip().lstrip(":") for name in offered.split(",")) == sorted(entry["scales"]), message


def test_an_unknown_scale_on_the_command_line_exits_2_with_one_line_and_writes_nothing(tmp_path):
    workdirs = {path: tmp_path / os.path.basename(path) for path in CONFIG_FILES}
    processes = {path: subprocess.Popen([sys.executable, "-m", "launch.sweep", f"--config={path}:nonsense",
                                         f"--workdir={workdirs[path]}"], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True,
                                        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
                 for path in CONFIG_FILES}
    for path, process in processes.items():
        stdout, stderr = process.communicate(timeout=TIMEOUT)
        assert process.returncode == 2, (path, stderr[-2000:])
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and "'nonsense'" in lines[0] and ":reduced" in lines[0], (path, stderr)
        assert not workdirs[path].exists()


# ----------------------------------------------------------------------------------------------
# One point of every reduced config, shrunk, trained on real data

TINY = {"model.width": 8, "data.n_train": 64, "data.n_test": 64, "dynamics.max_steps": 60,
        "dynamics.num_records": 4, "kernels.n_probe_train": 16, "kernels.n_probe_test": 16,
        "kernels.n_eigenvalues": 4, "kernels.heatmap_size": 4}


def _config_json_value(config_json, key):
    node = config_json
    for part in key.split("."):
        node = node[part]
    return node


def _local_points():
    """(path, point) of every reduced config reading IDX files from a directory here: its last sweep
    point (the one that differs most from setup A's defaults: uncentred, with biases, deeper, the
    largest P)."""
    cases = []
    for path in CONFIG_FILES:
        module = grid.load_config_module(path)
        data = module.get_config("reduced").data
        if data.source == "idx" and os.path.isdir(data.path):
            cases.append(pytest.param(path, module.get_sweep("reduced")[-1], id=os.path.basename(path)[:-3]))
    return cases


@pytest.mark.parametrize("path,point", _local_points())
def test_a_shrunk_reduced_point_trains_on_real_data(path, point, tmp_path):
    from lazyfeat_tf import train

    module = grid.load_config_module(path)
    config = grid.apply_overrides(grid.apply_overrides(module.get_config("reduced"), point), TINY)
    workdir = str(tmp_path / "run")
    results = train.train_and_evaluate(config, workdir)
    on_disk = read_json(os.path.join(workdir, "results.json"))
    assert on_disk["test_error"] == results["test_error"]
    assert isinstance(results["test_error"], float) and math.isfinite(results["test_error"])
    assert 0.0 <= results["test_error"] <= 1.0 and results["steps"] > 0
    config_json = read_json(os.path.join(workdir, "config.json"))
    for key, value in point.items():  # the run is the point's (TINY overrides aside)
        if key not in TINY and key not in config_lib.SCALE_KEYS:
            assert _config_json_value(config_json, key) == value, key
    assert config_json["data"]["source"] == "idx" and config_json["data"]["n_train"] == 64
    spec = config_lib.resolve(config)
    assert results["alpha_sqrt_h"] == pytest.approx(spec.alpha_sqrt_h, rel=1e-12)
    if spec.kernels.predictors:
        assert math.isfinite(results["init_kernel_test_error"])
    if spec.kernels.track:
        assert math.isfinite(results["kernel_drift_test"]) and results["kernel_drift_test"] >= 0


# ----------------------------------------------------------------------------------------------
# The crossover config and the protocol scale


def test_the_crossover_config_gives_its_search_at_both_scales():
    from lazyfeat_tf.sweep import crossover

    path = os.path.join(ARTICLE_DIR, "crossover.py")
    reduced = crossover.load_search(path)
    assert crossover.load_search(f"{path}:reduced") == reduced
    assert (reduced.observable, reduced.bracket, reduced.tolerance) == ("kernel_drift_test", (1.0, 300.0), 0.1)
    article = crossover.load_search(f"{path}:article")
    assert article.observable == "kernel_drift_test_full" and article.threshold == 1.0
    assert article.bracket[0] < 10 and article.bracket[1] >= 1000  # the article: the crossing is at 10-100
    flagged = crossover.load_search(f"{path}:article", tolerance=0.2)
    assert flagged.tolerance == 0.2 and flagged.observable == "kernel_drift_test_full"
    with pytest.raises(config_lib.ConfigError, match="':nonsense'|'nonsense'"):
        crossover.load_search(f"{path}:nonsense")
    module = grid.load_config_module(path)
    for scale in ("reduced", "article"):
        config = module.get_config(scale)
        widths, seeds = crossover.widths_and_seeds(module.get_sweep(scale), config)
        assert len(widths) >= 4 and len(seeds) >= 3
    assert crossover.widths_and_seeds(module.get_sweep("article"), module.get_config("article"))[0] == [
        100, 178, 316, 562, 1000]
    assert module.get_config("article").data.n_train == 10_000


def test_the_reduced_crossover_is_the_measured_crossover_fc():
    fc = grid.load_config_module(os.path.join(REPO_ROOT, "configs", "crossover_fc.py"))
    article = grid.load_config_module(os.path.join(ARTICLE_DIR, "crossover.py"))
    assert config_lib.resolve(article.get_config()) == config_lib.resolve(fc.get_config())
    assert article.get_sweep() == fc.get_sweep()
    assert article.get_crossover() == fc.get_crossover()


def test_the_protocol_scale_of_test_error_vs_alpha_is_unchanged():
    """A sweep of `:protocol` is under way: its points and base config must stay what they were."""
    path = os.path.join(ARTICLE_DIR, "test_error_vs_alpha.py")
    module = grid.load_config_module(path)
    assert module.SCALES == ("reduced", "protocol", "article")
    decades = [0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0]
    between = [0.003162, 0.03162, 0.3162, 3.162, 31.62, 316.2, 3162.0]
    expected = [{"seed": seed, "model.width": 100, "alpha_sqrt_h": x, "dtype": "float64" if x >= 1000 else "float32"}
                for ash in (decades, between) for seed in (0, 1) for x in ash]
    assert module.get_sweep("protocol") == expected
    config = module.get_config("protocol")
    spec = config_lib.resolve(config)
    assert (spec.data.n_train, spec.data.n_test, spec.dtype) == (10_000, 50_000, "float64")
    assert (spec.dynamics.max_steps, spec.dynamics.num_records) == (1_000_000, 80)
    assert not spec.kernels.predictors and spec.kernels.track and spec.kernels.full_drift
    baseline = config_lib.setup_a_config()
    baseline.alpha_sqrt_h = 1.0
    baseline.data.n_train, baseline.data.n_test, baseline.dtype = 10_000, 50_000, "float64"
    baseline.dynamics.max_steps, baseline.dynamics.num_records = 1_000_000, 80
    baseline.kernels.predictors = False
    assert config.to_dict() == baseline.to_dict()
    assert len(sweep.expand(config, expected)) == 30
