"""End-to-end test of the Kernel drift tab: a real TensorBoard server and headless Chromium.

The logdir is written through the plugin's writer API with a real `tf.summary` file writer (what
the training loop uses). TensorBoard runs as `python -m tensorboard.main` on 127.0.0.1 with its
default loader (the Rust data server when its binary is installed); Chromium is Debian's
/usr/bin/chromium driven by Playwright (`pip install playwright`, never `playwright install`).

Set LAZYFEAT_TB_SCREENSHOT=path.png to keep a screenshot of the tab (or use
scripts/tb_screenshot.py for any logdir).
"""

import importlib.util
import os
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import tb_fixtures  # noqa: E402

from lazyfeat_tf.tb_plugin import summary  # noqa: E402


def _load_screenshot_helpers():
    path = os.path.join(HERE, "..", "scripts", "tb_screenshot.py")
    spec = importlib.util.spec_from_file_location("tb_screenshot", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


helpers = _load_screenshot_helpers()

if importlib.util.find_spec("playwright") is None:
    pytest.skip("playwright is not installed (pip install playwright)", allow_module_level=True)
if helpers.chromium_path() is None:
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)",
                allow_module_level=True)

HTML_RUN = "<img src=x onerror=alert(1)>"
N_CHECKPOINTS = 12
TIMEOUT_MS = 20000


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("kd_e2e"))
    names = tb_fixtures.write_logdir(root, n_runs=6, n_checkpoints=N_CHECKPOINTS, backend="tf")
    tb_fixtures.write_run(os.path.join(root, HTML_RUN), alpha_sqrt_h=0.3, width=16, seed=9,
                          n_checkpoints=N_CHECKPOINTS, backend="tf")
    tb_fixtures.write_scalar_only_run(os.path.join(root, "unrelated"))
    return {"root": root, "kernel_runs": sorted(names + [HTML_RUN])}


def _render_count(frame):
    return int(frame.get_attribute("#kd-root", "data-render-count"))


def _wait_rerender(frame, before):
    frame.wait_for_function(
        "n => Number(document.getElementById('kd-root').dataset.renderCount) > n",
        arg=before, timeout=TIMEOUT_MS)


def _drawn_runs(frame):
    return sorted(set(frame.eval_on_selector_all(
        "#kd-drift path.kd-curve", "els => els.map(e => e.getAttribute('data-run'))")))


def test_kernel_drift_tab_in_real_tensorboard(logdir):
    kernel_runs = logdir["kernel_runs"]
    # reload_interval=1: the server picks up runs that are still being written (checked at the end).
    with helpers.TensorBoardProcess(logdir["root"], timeout=60, reload_interval=1) as tb:
        listing = tb.get_json("/data/plugins_listing")
        tb.wait_for_runs(len(kernel_runs), min_last_step=1)
        with helpers.launch_browser(viewport=(1600, 1000)) as page:
            dialogs, page_errors = [], []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            page.set_default_timeout(TIMEOUT_MS)
            frame = helpers.open_kernel_drift_tab(page, tb.url, timeout_ms=TIMEOUT_MS)

            # The drift curves are ordinary scalars too (Time Series shows them).
            scalar_tags = tb.get_json("/data/plugin/scalars/tags")
            for run in kernel_runs:
                assert {"kernel_drift/t", "kernel_drift/train/total", "kernel_drift/test/total",
                        "kernel_drift/train/layers/readout", "kernel_drift/train/alignment",
                        "kernel_drift/test/effective_rank"} <= set(scalar_tags[run])

            # The tab is there, and the charts show every run with kernel data.
            assert listing["kernel_drift"]["enabled"] is True
            assert page.get_by_text("Kernel drift", exact=False).first.is_visible()
            assert _drawn_runs(frame) == kernel_runs
            n_points = frame.locator("#kd-collapse .kd-point").count()
            assert n_points == len(kernel_runs)
            assert frame.locator("#kd-spectrum path.kd-curve").count() == 4  # train/test, t and t=0
            assert frame.locator("#kd-heatmap image.kd-heat-image").count() == 1
            assert frame.locator("#kd-drift .kd-colorbar").count() == 1

            # Run names are text: the HTML run name is shown literally and nothing is injected.
            names = frame.eval_on_selector_all(".kd-run-name", "els => els.map(e => e.textContent)")
            assert HTML_RUN in names and "unrelated" in names
            assert frame.locator("img").count() == 0
            assert dialogs == []
            assert "no kernel-drift data" in frame.inner_text("#kd-root")

            # Values on hover: move onto the first point of a curve.
            d = frame.get_attribute("#kd-drift path.kd-curve", "d")
            x0, y0 = (float(v) for v in d[1:].split("L")[0].split())
            box = frame.locator("#kd-drift").bounding_box()
            scale = box["width"] / float(frame.get_attribute("#kd-drift", "width"))
            page.mouse.move(box["x"] + x0 * scale, box["y"] + y0 * scale)
            frame.wait_for_selector("#kd-tooltip", state="visible")
            tooltip = frame.inner_text("#kd-tooltip")
            assert "t = " in tooltip and "drift" in tooltip
            page.mouse.move(5, 5)

            # The run selector changes what is drawn: none, then one run.
            before = _render_count(frame)
            frame.click("button:has-text('None')")
            _wait_rerender(frame, before)
            assert _drawn_runs(frame) == []
            assert "No run selected" in frame.inner_text("#kd-card-drift")
            target = kernel_runs[0]
            before = _render_count(frame)
            frame.locator(".kd-run", has_text=target).locator("input").check()
            _wait_rerender(frame, before)
            assert _drawn_runs(frame) == [target]
            assert frame.locator("#kd-collapse .kd-point").count() == 1

            # Filter box + "Only shown": the h16 runs.
            before = _render_count(frame)
            frame.fill(".kd-filter", "^h16/")
            frame.click("button:has-text('Only shown')")
            _wait_rerender(frame, before)
            expected = [r for r in kernel_runs if r.startswith("h16/")]
            frame.wait_for_function(
                "n => new Set([...document.querySelectorAll('#kd-drift path.kd-curve')]"
                ".map(e => e.getAttribute('data-run'))).size === n", arg=len(expected),
                timeout=TIMEOUT_MS)
            assert _drawn_runs(frame) == expected

            # Per-layer curves on demand: one dashed curve per layer and run, fetched lazily.
            before = _render_count(frame)
            frame.check("text=per-layer curves")
            _wait_rerender(frame, before)
            n_layers = len(tb_fixtures.LAYERS)
            frame.wait_for_function(
                "n => document.querySelectorAll('#kd-drift path.kd-curve[data-layer]').length === n",
                arg=len(expected) * n_layers, timeout=TIMEOUT_MS)

            # Everything back, screenshot on demand.
            frame.fill(".kd-filter", "")
            before = _render_count(frame)
            frame.click("button:has-text('All')")
            _wait_rerender(frame, before)
            frame.uncheck("text=per-layer curves")
            frame.wait_for_function(
                "n => document.querySelectorAll('#kd-drift path.kd-curve').length === n",
                arg=len(kernel_runs), timeout=TIMEOUT_MS)
            shot = os.environ.get("LAZYFEAT_TB_SCREENSHOT")
            if shot:
                page.screenshot(path=shot)

            # Runs still training: new checkpoints and a new run show up on refresh.
            run = [r for r in kernel_runs if r != HTML_RUN][-1]
            n_before = len(frame.get_attribute('#kd-drift path.kd-curve[data-run="%s"]' % run, "d").split("L"))
            last_step = _append_checkpoints(logdir["root"], run, n_new=3)
            tb_fixtures.write_metadata_only_run(os.path.join(logdir["root"], "late_starter"))
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                runs = {r["run"]: r for r in tb.get_json("/data/plugin/kernel_drift/runs")["runs"]}
                if runs[run]["last_step"] == last_step and "late_starter" in runs:
                    break
                time.sleep(0.3)
            else:
                pytest.fail("TensorBoard did not reload the new checkpoints")
            before = _render_count(frame)
            frame.click("button:has-text('Refresh')")
            _wait_rerender(frame, before)
            n_after = len(frame.get_attribute('#kd-drift path.kd-curve[data-run="%s"]' % run, "d").split("L"))
            assert n_after == n_before + 3
            assert "late_starter" in frame.inner_text(".kd-banners")
            assert "late_starter" in frame.eval_on_selector_all(
                ".kd-run-name", "els => els.map(e => e.textContent)")
            assert page_errors == []


def _append_checkpoints(root, run, n_new):
    """Writes `n_new` more checkpoints (later steps and times) into a new event file of `run`."""
    width, ash, seed = next(
        (w, a, s) for w, a, s in tb_fixtures.sweep(6) if tb_fixtures.run_name(w, a, s) == run)
    steps, times = tb_fixtures.checkpoint_schedule(N_CHECKPOINTS, ash)
    t_end = times[-1]
    with summary.event_file_writer(os.path.join(root, run)):
        for k in range(1, n_new + 1):
            t = t_end * 1.5 ** k
            summary.write_drift_record(
                tb_fixtures.synthetic_record(ash, width, seed, t, t_end), step=steps[-1] + 100 * k)
    return steps[-1] + 100 * n_new


def test_empty_logdir_explains_itself(tmp_path):
    with helpers.TensorBoardProcess(str(tmp_path), timeout=60) as tb:
        assert tb.get_json("/data/plugins_listing")["kernel_drift"]["enabled"] is False
        with helpers.launch_browser(viewport=(1200, 800)) as page:
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(tb.url + "/data/plugin_entry.html?name=kernel_drift")
            page.wait_for_selector('#kd-root[data-ready="true"]', state="attached")
            text = page.inner_text(".kd-empty")
            assert "No runs in this logdir yet" in text
            assert "write_drift_record" in text


def test_tab_shows_real_training_runs(tmp_path):
    """Three short real training runs (lazyfeat_tf.train, kernel tracking on) seen in the tab."""
    from conftest import tiny_config
    from lazyfeat_tf import train

    runs = {}
    for alpha_sqrt_h in (0.01, 1.0, 100.0):
        config = tiny_config(alpha_sqrt_h=alpha_sqrt_h, dynamics__max_steps=300, dynamics__num_records=10,
                             kernels__n_probe_train=16, kernels__n_probe_test=16, kernels__heatmap_size=4)
        config.kernels.track = True
        workdir = tmp_path / f"ash{alpha_sqrt_h:g}"
        train.train_and_evaluate(config, str(workdir))
        runs[f"ash{alpha_sqrt_h:g}/tb"] = alpha_sqrt_h
    with helpers.TensorBoardProcess(str(tmp_path), timeout=60) as tb:
        tb.wait_for_runs(len(runs), min_last_step=1)
        listed = {run["run"]: run for run in tb.get_json("/data/plugin/kernel_drift/runs")["runs"]}
        for run, alpha_sqrt_h in runs.items():
            assert listed[run]["metadata"]["alpha_sqrt_h"] == pytest.approx(alpha_sqrt_h)
            assert listed[run]["metadata"]["width"] == 8
        with helpers.launch_browser(viewport=(1600, 1000)) as page:
            page.set_default_timeout(TIMEOUT_MS)
            frame = helpers.open_kernel_drift_tab(page, tb.url, timeout_ms=TIMEOUT_MS)
            assert _drawn_runs(frame) == sorted(runs)
            assert frame.locator("#kd-collapse .kd-point").count() == len(runs)
            assert frame.locator("#kd-heatmap image.kd-heat-image").count() == 1
