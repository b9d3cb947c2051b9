"""Route tests of the Kernel drift TensorBoard plugin (werkzeug client, no server, no browser).

EventMultiplexer -> MultiplexerDataProvider -> TBContext -> TensorBoardWSGI -> werkzeug Client, with
TensorBoard's own default sample limits, over logdirs written through the writer API.
"""

import importlib.metadata
import json
import math
import os
import re
import subprocess
import sys
import urllib.parse

import numpy as np
import pytest
from tensorboard.backend import application
from tensorboard.backend.event_processing import data_ingester
from tensorboard.backend.event_processing import data_provider as tb_data_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.proto import summary_pb2
from tensorboard.plugins import base_plugin
from werkzeug import test as werkzeug_test

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tb_fixtures  # noqa: E402

from lazyfeat_tf.tb_plugin import metadata  # noqa: E402
from lazyfeat_tf.tb_plugin import plugin as kd_plugin  # noqa: E402
from lazyfeat_tf.tb_plugin import summary  # noqa: E402

PREFIX = "/data/plugin/kernel_drift"
N_CHECKPOINTS = 20
HTML_RUN = "<script>alert(1)</script><img src=x onerror=alert(2)>"
STATIC_DIR = os.path.join(os.path.dirname(kd_plugin.__file__), "static")


def make_client(logdir, sampling_hints=None):
    """The app as TensorBoard builds it for --load_fast=false, with its default sample limits."""
    hints = dict(sampling_hints or {})
    tensor_size_guidance = dict(data_ingester.DEFAULT_TENSOR_SIZE_GUIDANCE)
    tensor_size_guidance.update(hints)
    multiplexer = plugin_event_multiplexer.EventMultiplexer(
        size_guidance=data_ingester.DEFAULT_SIZE_GUIDANCE,
        tensor_size_guidance=tensor_size_guidance,
        max_reload_threads=1,
    )
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    provider = tb_data_provider.MultiplexerDataProvider(multiplexer, logdir)
    context = base_plugin.TBContext(logdir=logdir, data_provider=provider, sampling_hints=hints)
    app = application.TensorBoardWSGI([kd_plugin.KernelDriftPlugin(context)], data_provider=provider)
    return werkzeug_test.Client(app)


def get(client, route, **params):
    query = urllib.parse.urlencode(params, doseq=True)
    response = client.get(PREFIX + route + ("?" + query if query else ""))
    body = response.get_data()
    ctype = response.headers.get("Content-Type", "")
    data = json.loads(body) if ctype.startswith("application/json") else body
    return response, data


# ------------------------------------------------------------------------------------------------
# Logdirs


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("kd_logdir"))
    names = tb_fixtures.write_logdir(root, n_runs=6, n_checkpoints=N_CHECKPOINTS)
    tb_fixtures.write_scalar_only_run(os.path.join(root, "no_kernel"))
    tb_fixtures.write_metadata_only_run(os.path.join(root, "waiting"), alpha_sqrt_h=2.0, width=64)
    tb_fixtures.write_run(os.path.join(root, "no_metadata"), alpha_sqrt_h=1.0, width=64, seed=0,
                          n_checkpoints=8, with_metadata=False)
    tb_fixtures.write_run(os.path.join(root, "train_only"), alpha_sqrt_h=10.0, width=16, seed=1,
                          n_checkpoints=8, splits=("train",), layers=None, eig_k=0, heatmap_m=0)
    tb_fixtures.write_run(os.path.join(root, "initial_only"), alpha_sqrt_h=1.0, width=16, seed=2,
                          n_checkpoints=1)
    tb_fixtures.write_run(os.path.join(root, HTML_RUN), alpha_sqrt_h=0.5, width=16, seed=3,
                          n_checkpoints=6)
    # Half-written: the writer died in the middle of its last record.
    half = os.path.join(root, "half_written")
    tb_fixtures.write_run(half, alpha_sqrt_h=3.0, width=16, seed=4, n_checkpoints=8)
    (event_file,) = os.listdir(half)
    path = os.path.join(half, event_file)
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 200)
    return {"root": root, "runs": names}


@pytest.fixture(scope="module")
def client(logdir):
    return make_client(logdir["root"])


@pytest.fixture(scope="module")
def client_all_samples(logdir):
    return make_client(logdir["root"], sampling_hints={"kernel_drift": 0})


def _expected(run):
    """(width, alpha*sqrt(h), seed) of a sweep run name written by tb_fixtures."""
    for width, ash, seed in tb_fixtures.sweep(6):
        if tb_fixtures.run_name(width, ash, seed) == run:
            return width, ash, seed
    raise KeyError(run)


# ------------------------------------------------------------------------------------------------
# Plugin registration


def test_plugin_listed_with_frontend_metadata(client):
    listing = json.loads(client.get("/data/plugins_listing").get_data())
    entry = listing["kernel_drift"]
    assert entry["enabled"] is True
    assert entry["tab_name"] == "Kernel drift"
    assert entry["loading_mechanism"] == {
        "type": "IFRAME", "module_path": "/data/plugin/kernel_drift/static/index.js"}


def test_entry_point_registered():
    eps = importlib.metadata.entry_points(group="tensorboard_plugins")
    matching = [ep for ep in eps if ep.name == "kernel_drift"]
    assert matching, "entry point missing: run `pip install -e . --no-deps` (setup.cfg entry_points)"
    assert matching[0].load() is kd_plugin.KernelDriftPlugin


def test_plugin_module_does_not_import_tensorflow():
    code = (
        "import sys, lazyfeat_tf.tb_plugin.plugin, lazyfeat_tf.tb_plugin.metadata;"
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# ------------------------------------------------------------------------------------------------
# /runs


def test_runs_lists_every_run_with_metadata_and_status(client, logdir):
    response, data = get(client, "/runs")
    assert response.status_code == 200
    runs = {r["run"]: r for r in data["runs"]}
    expected = set(logdir["runs"]) | {"no_kernel", "waiting", "no_metadata", "train_only",
                                      "initial_only", HTML_RUN, "half_written"}
    assert set(runs) == expected
    for name in logdir["runs"]:
        width, ash, seed = _expected(name)
        r = runs[name]
        assert r["status"] == "ok" and r["has_kernel_data"]
        assert r["metadata"]["width"] == width and r["metadata"]["seed"] == seed
        assert r["metadata"]["alpha_sqrt_h"] == pytest.approx(ash)
        assert r["metadata"]["alpha"] == pytest.approx(ash / math.sqrt(width))
        assert r["metadata"]["extra"]["activation"] == "softplus"
        assert r["splits"] == ["test", "train"]
        assert r["layers"] == sorted(tb_fixtures.LAYERS)
        assert r["metrics"] == ["alignment", "effective_rank"]
        assert r["eigenvalue_splits"] == ["test", "train"] and r["has_heatmap"]
        steps, times = tb_fixtures.checkpoint_schedule(N_CHECKPOINTS, ash)
        assert r["last_step"] == steps[-1]
        assert r["last_t"] == pytest.approx(times[-1], rel=1e-6)
    assert runs["no_kernel"]["has_kernel_data"] is False
    assert runs["no_kernel"]["status"] == "no_kernel_data"
    assert runs["waiting"]["status"] == "waiting" and runs["waiting"]["metadata"]["width"] == 64
    assert runs["no_metadata"]["status"] == "no_metadata" and runs["no_metadata"]["metadata"] is None
    assert runs["initial_only"]["status"] == "initial_only"
    assert runs["train_only"]["splits"] == ["train"] and runs["train_only"]["layers"] == []
    assert runs["train_only"]["eigenvalue_splits"] == [] and not runs["train_only"]["has_heatmap"]
    assert runs[HTML_RUN]["status"] == "ok"
    assert runs["half_written"]["status"] == "ok"
    assert data["message"] is None
    assert data["samples_flag"] == "--samples_per_plugin=kernel_drift=0"


def test_json_responses_are_json_with_nosniff(client):
    response, _ = get(client, "/runs")
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# ------------------------------------------------------------------------------------------------
# /series


def test_series_matches_what_was_written(client, logdir):
    run = logdir["runs"][0]
    width, ash, seed = _expected(run)
    response, data = get(client, "/series", run=run)
    assert response.status_code == 200
    (s,) = data["series"]
    steps, times = tb_fixtures.checkpoint_schedule(N_CHECKPOINTS, ash)
    assert s["steps"] == steps and s["num_checkpoints"] == N_CHECKPOINTS
    assert s["t"] == pytest.approx(times, rel=1e-6)
    assert set(s["splits"]) == {"train", "test"}
    assert "layers" not in s["splits"]["train"]  # per-layer curves only on demand
    for i, t in enumerate(times):
        record = tb_fixtures.synthetic_record(ash, width, seed, t, times[-1])
        for split in ("train", "test"):
            assert s["splits"][split]["total"][i] == pytest.approx(
                record["drift"][split]["total"], rel=1e-6, abs=1e-12)
    assert s["message"] is None


def test_series_include_layers_alignment_effective_rank(client, logdir):
    run = logdir["runs"][1]
    _, data = get(client, "/series", run=run, include="layers,alignment,effective_rank")
    split = data["series"][0]["splits"]["train"]
    assert sorted(split["layers"]) == sorted(tb_fixtures.LAYERS)
    assert all(len(v) == N_CHECKPOINTS for v in split["layers"].values())
    assert len(split["alignment"]) == N_CHECKPOINTS
    assert len(split["effective_rank"]) == N_CHECKPOINTS
    assert split["layers"]["readout"][-1] > split["layers"]["dense"][-1]


def test_series_several_runs_in_one_request(client, logdir):
    runs = logdir["runs"][:4]
    _, data = get(client, "/series", run=runs + runs[:1])  # duplicates are ignored
    assert [s["run"] for s in data["series"]] == runs


def test_series_downsample(client, logdir):
    run = logdir["runs"][0]
    _, full = get(client, "/series", run=run, downsample=0)
    _, thin = get(client, "/series", run=run, downsample=5)
    steps = full["series"][0]["steps"]
    thin_steps = thin["series"][0]["steps"]
    assert len(steps) == N_CHECKPOINTS and len(thin_steps) == 5
    assert thin_steps[0] == steps[0] and thin_steps[-1] == steps[-1]


def test_series_for_special_runs(client):
    _, data = get(client, "/series", run=["no_kernel", "waiting", "initial_only", "train_only",
                                          "half_written"])
    by_run = {s["run"]: s for s in data["series"]}
    assert by_run["no_kernel"]["steps"] == [] and "no kernel-drift" in by_run["no_kernel"]["message"]
    assert by_run["waiting"]["steps"] == [] and by_run["waiting"]["message"]
    assert by_run["initial_only"]["t"] == [0.0] and "initial" in by_run["initial_only"]["message"]
    assert set(by_run["train_only"]["splits"]) == {"train"}
    # The truncated last record is not visible; every complete checkpoint is.
    assert by_run["half_written"]["num_checkpoints"] == 7
    assert by_run["half_written"]["message"] is None


def test_series_html_run_name_round_trips_as_data(client):
    response, data = get(client, "/series", run=HTML_RUN)
    assert response.status_code == 200
    assert data["series"][0]["run"] == HTML_RUN
    assert b"<script>" not in response.get_data()  # JSON escapes it (\u003c) or quotes it; never HTML
    assert response.headers["Content-Type"].startswith("application/json")


def test_series_too_many_runs_is_400(client, logdir):
    runs = ["run%d" % i for i in range(kd_plugin.MAX_RUNS_PER_SERIES_REQUEST + 1)]
    response, data = get(client, "/series", run=runs)
    assert response.status_code == 400 and "at most" in data["error"]


# ------------------------------------------------------------------------------------------------
# /final (collapse plot)


def test_final_drift_collapse_points(client, logdir):
    response, data = get(client, "/final")
    assert response.status_code == 200
    points = {p["run"]: p for p in data["points"]}
    skipped = {s["run"]: s["reason"] for s in data["skipped"]}
    assert set(logdir["runs"]) <= set(points)
    assert "no_kernel" not in points and "no_kernel" not in skipped
    assert "no_metadata" in skipped and "metadata" in skipped["no_metadata"]
    assert "waiting" in skipped
    for name in logdir["runs"]:
        width, ash, seed = _expected(name)
        p = points[name]
        steps, times = tb_fixtures.checkpoint_schedule(N_CHECKPOINTS, ash)
        assert (p["width"], p["seed"]) == (width, seed)
        assert p["alpha_sqrt_h"] == pytest.approx(ash)
        assert p["step"] == steps[-1] and p["t"] == pytest.approx(times[-1], rel=1e-6)
        final = tb_fixtures.synthetic_record(ash, width, seed, times[-1], times[-1])
        assert p["drift"]["train"]["value"] == pytest.approx(final["drift"]["train"]["total"], rel=1e-6)
        assert p["drift"]["train"]["t"] == pytest.approx(times[-1], rel=1e-6)
    # The physics of the fixture: at fixed h the final drift falls with alpha*sqrt(h).
    by_width = {}
    for name in logdir["runs"]:
        by_width.setdefault(points[name]["width"], []).append(points[name])
    for group in by_width.values():
        group.sort(key=lambda p: p["alpha_sqrt_h"])
        values = [p["drift"]["train"]["value"] for p in group]
        assert values == sorted(values, reverse=True)


# ------------------------------------------------------------------------------------------------
# /eigenvalues and /heatmap


def test_eigenvalues_default_last_and_initial(client_all_samples, logdir):
    run = logdir["runs"][2]
    width, ash, seed = _expected(run)
    steps, times = tb_fixtures.checkpoint_schedule(N_CHECKPOINTS, ash)
    response, data = get(client_all_samples, "/eigenvalues", run=run)
    assert response.status_code == 200
    assert data["steps"] == steps and data["downsampled"] is False
    assert data["step"] == steps[-1]
    last = tb_fixtures.synthetic_record(ash, width, seed, times[-1], times[-1])
    first = tb_fixtures.synthetic_record(ash, width, seed, 0.0, times[-1])
    for split in ("train", "test"):
        assert data["eigenvalues"][split] == pytest.approx(last["eigenvalues"][split], rel=1e-12)
        assert data["initial"]["eigenvalues"][split] == pytest.approx(first["eigenvalues"][split])
    assert data["initial"]["step"] == 0 and data["initial"]["t"] == 0.0


def test_eigenvalues_step_snaps_to_nearest_kept_checkpoint(client_all_samples, logdir):
    run = logdir["runs"][2]
    _, ash, _ = _expected(run)
    steps, times = tb_fixtures.checkpoint_schedule(N_CHECKPOINTS, ash)
    _, data = get(client_all_samples, "/eigenvalues", run=run, step=steps[5] + 1)
    assert data["step"] == steps[5]
    assert data["t_step"] == pytest.approx(times[5], rel=1e-6)
    _, data = get(client_all_samples, "/eigenvalues", run=run, step=10**12)
    assert data["step"] == steps[-1]


def test_default_sample_limits_are_reported(client, logdir):
    run = logdir["runs"][2]
    _, data = get(client, "/eigenvalues", run=run)
    assert data["downsampled"] is True
    assert data["records_kept"] == 10 and data["checkpoints"] == N_CHECKPOINTS
    assert "--samples_per_plugin=kernel_drift=0" in data["message"]
    assert len(data["steps"]) == 10
    assert data["initial"]["step"] == 0  # Theta_0's spectrum is always kept
    _, heat = get(client, "/heatmap", run=run)
    assert heat["downsampled"] is True and len(heat["steps"]) == 10


def test_heatmap_values(client_all_samples, logdir):
    run = logdir["runs"][3]
    width, ash, seed = _expected(run)
    steps, times = tb_fixtures.checkpoint_schedule(N_CHECKPOINTS, ash)
    response, data = get(client_all_samples, "/heatmap", run=run, step=steps[7])
    assert response.status_code == 200
    assert data["step"] == steps[7]
    expected = np.asarray(
        tb_fixtures.synthetic_record(ash, width, seed, times[7], times[-1])["heatmap"], np.float32)
    assert np.asarray(data["values"], np.float32) == pytest.approx(expected)
    assert data["abs_max"] == pytest.approx(float(np.abs(expected).max()), rel=1e-6)


def test_runs_without_arrays_explain_instead_of_failing(client):
    response, data = get(client, "/eigenvalues", run="train_only")
    assert response.status_code == 200 and data["steps"] == [] and "no eigenvalues" in data["message"]
    response, data = get(client, "/heatmap", run="no_kernel")
    assert response.status_code == 200 and data["values"] is None and data["message"]


# ------------------------------------------------------------------------------------------------
# Errors: 400 for malformed parameters, 404 for unknown runs, never 500


@pytest.mark.parametrize("route,params", [
    ("/series", {}),
    ("/series", {"run": ""}),
    ("/series", {"run": "x" * 5000}),
    ("/series", {"run": "a\x00b"}),
    ("/series", {"run": "h16", "include": "layers,bogus"}),
    ("/series", {"run": "h16", "downsample": "-3"}),
    ("/series", {"run": "h16", "downsample": "1e3"}),
    ("/eigenvalues", {}),
    ("/eigenvalues", {"run": "waiting", "step": "abc"}),
    ("/eigenvalues", {"run": "waiting", "step": "-1"}),
    ("/eigenvalues", {"run": "waiting", "step": "1.5"}),
    ("/eigenvalues", {"run": "waiting", "step": ["1", "2"]}),
    ("/eigenvalues", {"run": ["waiting", "no_kernel"]}),
    ("/heatmap", {"run": "waiting", "step": "99999999999999999999999"}),
    ("/heatmap", {"run": "waiting", "step": "\uff11"}),
])
def test_malformed_parameters_are_400(client, route, params):
    response, data = get(client, route, **params)
    assert response.status_code == 400, data
    assert isinstance(data["error"], str) and data["error"]


@pytest.mark.parametrize("route", ["/series", "/eigenvalues", "/heatmap"])
def test_unknown_run_is_404(client, route):
    response, data = get(client, route, run="no/such/run")
    assert response.status_code == 404
    assert "no/such/run" in data["error"]


def test_odd_requests_never_500(client):
    queries = ["run=%ff%fe", "run=%00", "step=%", "run=&run=", "include=", "downsample=",
               "run=" + urllib.parse.quote(HTML_RUN) + "&step=0&include=layers",
               "run=" + urllib.parse.quote(HTML_RUN) + "&step=18446744073709551617"]
    for route in ("/runs", "/final", "/series", "/eigenvalues", "/heatmap"):
        for q in queries:
            response = client.get(PREFIX + route + "?" + q)
            assert response.status_code in (200, 400, 404), (route, q, response.status_code)
    assert client.post(PREFIX + "/runs").status_code == 405


# ------------------------------------------------------------------------------------------------
# Static files


@pytest.mark.parametrize("name,ctype", [
    ("index.js", "text/javascript"), ("charts.js", "text/javascript"), ("style.css", "text/css")])
def test_static_files_served(client, name, ctype):
    response = client.get(PREFIX + "/static/" + name)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(ctype)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    with open(os.path.join(STATIC_DIR, name), "rb") as f:
        assert response.get_data() == f.read()


@pytest.mark.parametrize("path", [
    "/static/../plugin.py", "/static/..%2fplugin.py", "/static/%2e%2e/plugin.py",
    "/static/%2e%2e%2fplugin.py", "/static/..%5cplugin.py", "/static//etc/passwd",
    "/static/%2fetc%2fpasswd", "/static/....//plugin.py", "/static/", "/static/missing.js",
    "/static/./index.js/..", "/static/.%2e/.%2e/metadata.py", "/static/index.js%00.png",
])
def test_static_refuses_traversal(client, path):
    response = client.get(PREFIX + path)
    assert response.status_code == 404
    assert b"import" not in response.get_data()


def _js_modules():
    return sorted(name for name in os.listdir(STATIC_DIR) if name.endswith(".js"))


def test_every_es_module_is_served_and_reached_from_index(client):
    """index.js imports the other modules by relative URL: each must be a sibling file the static
    route serves as JavaScript (browsers refuse modules of any other type), and each is used."""
    reached, todo = set(), ["index.js"]
    while todo:
        name = todo.pop()
        if name in reached:
            continue
        reached.add(name)
        response = client.get(PREFIX + "/static/" + name)
        assert response.status_code == 200, name
        assert response.headers["Content-Type"].startswith("text/javascript"), name
        source = response.get_data(as_text=True)
        for spec in re.findall(r'^import\s[^;]*?\sfrom\s+"([^"]+)";', source, re.MULTILINE):
            assert re.fullmatch(r"\./[a-z_]+\.js", spec), (name, spec)  # no subfolder, no absolute URL
            todo.append(spec[2:])
    assert reached == set(_js_modules())


def test_limits_route_answers_the_backend_constants(client):
    response, data = get(client, "/limits")
    assert response.status_code == 200
    assert data == {"max_runs_per_series_request": kd_plugin.MAX_RUNS_PER_SERIES_REQUEST}


def test_frontend_reads_limits_from_the_backend():
    """No module of the frontend holds a copy of a backend limit; api.js asks /limits."""
    sources = {}
    for name in _js_modules():
        with open(os.path.join(STATIC_DIR, name), encoding="utf-8") as f:
            sources[name] = f.read()
        limit = str(kd_plugin.MAX_RUNS_PER_SERIES_REQUEST)
        assert not re.search(r"(?<![\w.#])%s(?![\w.])" % limit, sources[name]), name
    assert '"./limits"' in sources["api.js"] and "max_runs_per_series_request" in sources["api.js"]


def test_frontend_inserts_no_html():
    """Run names and tags reach the page through textContent/setAttribute only."""
    for name in sorted(os.listdir(STATIC_DIR)):
        if not name.endswith(".js"):
            continue
        with open(os.path.join(STATIC_DIR, name), encoding="utf-8") as f:
            source = f.read()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                     "new Function", "http://", "https://"):
            assert sink not in source.replace('"http://www.w3.org/2000/svg"', ""), (name, sink)
    with open(os.path.join(STATIC_DIR, "index.js"), encoding="utf-8") as f:
        assert "export async function render()" in f.read()


def test_works_under_path_prefix(logdir):
    """--path_prefix: TensorBoard strips the prefix; the tab only uses relative URLs."""
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(logdir["root"])
    multiplexer.Reload()
    provider = tb_data_provider.MultiplexerDataProvider(multiplexer, logdir["root"])
    context = base_plugin.TBContext(logdir=logdir["root"], data_provider=provider)
    app = application.TensorBoardWSGI([kd_plugin.KernelDriftPlugin(context)],
                                      path_prefix="/tb", data_provider=provider)
    client = werkzeug_test.Client(app)
    assert client.get("/tb" + PREFIX + "/static/index.js").status_code == 200
    assert client.get("/tb" + PREFIX + "/static/../plugin.py").status_code == 404
    response = client.get("/tb" + PREFIX + "/runs")
    assert response.status_code == 200 and json.loads(response.get_data())["runs"]
    for name in _js_modules():
        with open(os.path.join(STATIC_DIR, name), encoding="utf-8") as f:
            source = f.read()
        assert 'fetch("/' not in source and "getJSON(\"/" not in source and 'getJSON("/' not in source


# ------------------------------------------------------------------------------------------------
# Empty logdirs


def test_empty_logdir(tmp_path):
    client = make_client(str(tmp_path))
    listing = json.loads(client.get("/data/plugins_listing").get_data())
    assert listing["kernel_drift"]["enabled"] is False
    _, data = get(client, "/runs")
    assert data["runs"] == [] and "No runs" in data["message"]
    _, data = get(client, "/final")
    assert data == {"points": [], "skipped": []}
    response, _ = get(client, "/series", run="anything")
    assert response.status_code == 404


def test_logdir_without_kernel_data(tmp_path):
    tb_fixtures.write_scalar_only_run(str(tmp_path / "plain"))
    client = make_client(str(tmp_path))
    assert json.loads(client.get("/data/plugins_listing").get_data())["kernel_drift"]["enabled"] is False
    _, data = get(client, "/runs")
    assert [r["run"] for r in data["runs"]] == ["plain"]
    assert "None of the 1 runs" in data["message"]


def test_unknown_content_version_is_ignored(tmp_path):
    run = tmp_path / "future"
    tb_fixtures.write_run(str(run), alpha_sqrt_h=1.0, width=16, seed=0, n_checkpoints=3)
    s = summary_pb2.Summary()
    md = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name="kernel_drift", content=b'{"version": 99, "kind": "heatmap"}'),
        data_class=summary_pb2.DATA_CLASS_TENSOR)
    s.value.add(tag="kernel_drift/heatmap_v99", metadata=md,
                tensor=summary._array_tensor(np.ones((2, 2), np.float32), 1))
    with summary.event_file_writer(str(run)) as w:
        w.add_event(event_pb2.Event(step=5, wall_time=1.0, summary=s))
    client = make_client(str(tmp_path))
    _, data = get(client, "/heatmap", run="future")
    assert data["steps"] == [0, 10, 28]  # the v1 heatmaps; the v99 series is skipped


# ------------------------------------------------------------------------------------------------
# Writer API and encoding


def test_writer_rejects_malformed_records(tmp_path):
    good = {"t": 1.0, "drift": {"train": {"total": 0.1}}}
    cases = [
        ({"t": 1.0, "drfit": {}}, ValueError),
        ({"drift": {}}, ValueError),
        ({"t": -1.0}, ValueError),
        ({"t": float("inf")}, ValueError),
        ({"t": "1"}, TypeError),
        ({"t": 1.0, "drift": {"t": {"total": 1.0}}}, ValueError),        # reserved split
        ({"t": 1.0, "drift": {"a/b": {"total": 1.0}}}, ValueError),
        ({"t": 1.0, "drift": {"train": {"totl": 1.0}}}, ValueError),
        ({"t": 1.0, "drift": {"train": 0.1}}, TypeError),
        ({"t": 1.0, "drift": {"train": {"layers": {"": 0.1}}}}, ValueError),
        ({"t": 1.0, "eigenvalues": {"train": [[1.0]]}}, ValueError),
        ({"t": 1.0, "eigenvalues": {"train": []}}, ValueError),
        ({"t": 1.0, "heatmap": [1.0, 2.0]}, ValueError),
        ({"t": 1.0, "alignment": 0.3}, TypeError),
        ([good], TypeError),
    ]
    with summary.event_file_writer(str(tmp_path)):
        for record, error in cases:
            with pytest.raises(error):
                summary.write_drift_record(record, step=1)
        for step in (-1, 1.5, "3", True):
            with pytest.raises((TypeError, ValueError)):
                summary.write_drift_record(good, step=step)
        with pytest.raises(ValueError):
            summary.write_run_metadata(alpha=0.0, alpha_sqrt_h=1.0, width=4, seed=0)
        with pytest.raises(ValueError):
            summary.write_run_metadata(alpha=0.5, alpha_sqrt_h=1.0, width=0, seed=0)
        with pytest.raises(TypeError):
            summary.write_run_metadata(alpha=0.5, alpha_sqrt_h=1.0, width=4, seed=0, extra={"f": object()})
        with pytest.warns(UserWarning, match="alpha_sqrt_h"):
            summary.write_run_metadata(alpha=0.5, alpha_sqrt_h=3.0, width=4, seed=0)


def test_writer_numpy_values_and_nan(tmp_path):
    with summary.event_file_writer(str(tmp_path / "r")):
        summary.write_run_metadata(alpha=np.float32(0.5), alpha_sqrt_h=np.float64(1.0),
                                   width=np.int64(4), seed=np.int32(3), extra={"lr": np.float32(0.1)})
        summary.write_drift_record({"t": 0.0, "drift": {"train": {"total": 0.0}}}, step=0)
        summary.write_drift_record({"t": np.float64(2.0), "drift": {"train": {
            "total": float("nan"), "layers": {"dense": float("inf")}}},
            "eigenvalues": {"train": np.array([2.0, np.inf])}, "heatmap": [[np.nan]]},
            step=np.int64(7))
    client = make_client(str(tmp_path))
    _, runs = get(client, "/runs")
    (r,) = runs["runs"]
    assert r["metadata"]["seed"] == 3 and r["metadata"]["extra"]["lr"] == pytest.approx(0.1)
    _, data = get(client, "/series", run="r", include="layers")
    assert data["series"][0]["splits"]["train"]["total"] == [0.0, None]  # NaN -> null, not 500
    assert data["series"][0]["splits"]["train"]["layers"]["dense"] == [None, None]
    _, eig = get(client, "/eigenvalues", run="r")
    assert eig["eigenvalues"]["train"] == [2.0, None]
    _, heat = get(client, "/heatmap", run="r")
    assert heat["values"] == [[None]] and heat["abs_max"] == 0.0
    _, final = get(client, "/final")
    assert final["points"][0]["drift"]["train"]["value"] is None


def test_tf_summary_writer_path_equals_raw_path(tmp_path):
    tf = pytest.importorskip("tensorflow")
    record = tb_fixtures.synthetic_record(1.0, 16, 0, 3.0, 30.0)
    raw_dir, tf_dir = str(tmp_path / "raw"), str(tmp_path / "tf")
    with summary.event_file_writer(raw_dir):
        summary.write_run_metadata(alpha=0.25, alpha_sqrt_h=1.0, width=16, seed=0)
        summary.write_drift_record(record, step=12)
    writer = tf.summary.create_file_writer(tf_dir)
    with writer.as_default():
        summary.write_run_metadata(alpha=0.25, alpha_sqrt_h=1.0, width=16, seed=0)
        summary.write_drift_record(record, step=12)
    writer.close()
    summary.write_drift_record(record, step=13)  # no default writer: nothing written, no error
    client = make_client(str(tmp_path))

    def strip(body):
        body = json.loads(json.dumps(body))
        body.pop("run", None)
        for s in body.get("series", []):
            s.pop("run")
        return body

    for route, params in (("/series", {"include": "layers,alignment,effective_rank"}),
                          ("/eigenvalues", {}), ("/heatmap", {})):
        _, from_raw = get(client, route, run="raw", **params)
        _, from_tf = get(client, route, run="tf", **params)
        assert strip(from_raw) == strip(from_tf), route
    _, runs = get(client, "/runs")
    by = {r["run"]: r for r in runs["runs"]}
    assert set(by) == {"raw", "tf"}
    for key in ("metadata", "splits", "layers", "metrics", "eigenvalue_splits", "has_heatmap",
                "last_step", "last_t", "status"):
        assert by["raw"][key] == by["tf"][key], key


def test_metadata_tags_round_trip():
    assert metadata.parse_scalar_tag(metadata.T_TAG) == ("t", None, None)
    assert metadata.parse_scalar_tag(metadata.total_tag("test")) == ("test", "total", None)
    assert metadata.parse_scalar_tag(metadata.layer_tag("train", "block/conv_1")) == (
        "train", "layers", "block/conv_1")
    assert metadata.parse_scalar_tag(metadata.alignment_tag("train")) == ("train", "alignment", None)
    assert metadata.parse_scalar_tag("kernel_drift/train/other") is None
    assert metadata.parse_scalar_tag("loss") is None
    assert metadata.decode_content(metadata.encode_content("record")) == {"version": 1, "kind": "record"}
    assert metadata.decode_content(b'{"version": 2, "kind": "record"}') is None
    assert metadata.decode_content(b"\xff") is None
    assert metadata.decode_content(b"[]") is None
    for bad in ("t", "record", "", "a b", "x" * 65):
        with pytest.raises(ValueError):
            metadata.check_split(bad)


def test_sampling_hint_zero_means_all():
    assert kd_plugin._hint_to_downsample(None) == kd_plugin._ALL
    assert kd_plugin._hint_to_downsample(0) == kd_plugin._ALL
    assert kd_plugin._hint_to_downsample(25) == 25


# ------------------------------------------------------------------------------------------------
# Malformed runs (issue 13, item 11): one bad run is skipped and reported, never a 500 for all


def _deep_json(levels=200_000):
    return "[" * levels + "]" * levels


def _append_event(run_dir, step, tag, summary_metadata, tensor):
    s = summary_pb2.Summary()
    s.value.add(tag=tag, metadata=summary_metadata, tensor=tensor)
    with summary.event_file_writer(run_dir) as w:
        w.add_event(event_pb2.Event(step=step, wall_time=1.0, summary=s))


def test_deeply_nested_json_skips_the_run_not_the_logdir(tmp_path):
    root = str(tmp_path)
    tb_fixtures.write_run(os.path.join(root, "good"), alpha_sqrt_h=1.0, width=16, seed=0, n_checkpoints=3)
    # Deeply nested plugin content on the run-metadata tag (written before anything else).
    bad_content = os.path.join(root, "bad_content")
    deep_content = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name="kernel_drift", content=_deep_json().encode()),
        data_class=summary_pb2.DATA_CLASS_TENSOR)
    _append_event(bad_content, 0, metadata.RUN_METADATA_TAG, deep_content, summary._string_tensor("{}"))
    tb_fixtures.write_run(bad_content, alpha_sqrt_h=2.0, width=16, seed=1, n_checkpoints=3,
                          with_metadata=False)
    # Well-formed content, deeply nested run-metadata value.
    bad_value = os.path.join(root, "bad_value")
    _append_event(bad_value, 0, metadata.RUN_METADATA_TAG,
                  metadata.create_summary_metadata(metadata.KIND_RUN_METADATA),
                  summary._string_tensor(_deep_json()))
    tb_fixtures.write_run(bad_value, alpha_sqrt_h=3.0, width=16, seed=2, n_checkpoints=3,
                          with_metadata=False)
    client = make_client(root)

    response, data = get(client, "/runs")
    assert response.status_code == 200, data
    runs = {r["run"]: r for r in data["runs"]}
    assert runs["good"]["status"] == "ok" and runs["good"]["metadata"]["width"] == 16
    for name in ("bad_content", "bad_value"):
        assert runs[name]["status"] == "unreadable", runs[name]
        assert runs[name]["metadata"] is None
        assert metadata.RUN_METADATA_TAG in runs[name]["message"]
    response, data = get(client, "/final")
    assert response.status_code == 200, data
    assert [p["run"] for p in data["points"]] == ["good"]
    assert {s["run"] for s in data["skipped"]} == {"bad_content", "bad_value"}
    for name in ("bad_content", "bad_value"):
        for route in ("/series", "/eigenvalues", "/heatmap"):
            response, data = get(client, route, run=name)
            assert response.status_code == 200, (route, name, data)
