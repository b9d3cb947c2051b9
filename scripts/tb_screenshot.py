"""PNG screenshot of TensorBoard's "Kernel drift" tab for a logdir.

    python scripts/tb_screenshot.py --logdir RUNS --out kernel_drift.png
    python scripts/tb_screenshot.py --demo --out kernel_drift.png      # synthetic 24-run sweep

Starts a real TensorBoard (`python -m tensorboard.main`) on 127.0.0.1 and a free port, opens
`/#kernel_drift` in headless Chromium through Playwright (Debian's /usr/bin/chromium; browsers are
never downloaded), waits until the tab has drawn (`#kd-root[data-ready=true]` in its iframe),
saves the screenshot and stops both. Needs `pip install playwright` and `apt-get install chromium`.

The helpers (`TensorBoardProcess`, `launch_browser`, `open_kernel_drift_tab`) are shared with
tests/test_tb_plugin_e2e.py.
"""

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path():
    """Path of a system Chromium, or None."""
    env = os.environ.get("CHROMIUM_PATH")
    for candidate in ([env] if env else []) + list(CHROMIUM_CANDIDATES):
        if candidate and os.path.exists(candidate):
            return candidate
    return shutil.which("chromium")


def free_port():
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TensorBoardProcess:
    """A `python -m tensorboard.main` subprocess on 127.0.0.1; always killed on exit."""

    def __init__(self, logdir, *, extra_args=(), timeout=60.0, log_path=None, reload_interval=0):
        self.logdir = logdir
        self.reload_interval = reload_interval
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.extra_args = list(extra_args)
        self.timeout = timeout
        self.log_path = log_path
        self.proc = None
        self._log = None

    def __enter__(self):
        args = [
            sys.executable, "-m", "tensorboard.main",
            "--logdir", self.logdir,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--reload_interval", str(self.reload_interval),
        ] + self.extra_args
        if "--load_fast=false" in self.extra_args and not self.reload_interval:
            args += ["--reload_task", "blocking"]  # the Python loader reads everything before serving
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
        self._log = open(self.log_path, "wb") if self.log_path else tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            args, stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            self.wait_for_plugin()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def get_json(self, path, timeout=10.0):
        with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))

    def wait_for_plugin(self):
        """Polls /data/plugins_listing until kernel_drift is listed (enabled or not)."""
        deadline = time.monotonic() + self.timeout
        last_error = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("TensorBoard exited with code %s:\n%s" % (self.proc.returncode, self.output()))
            try:
                listing = self.get_json("/data/plugins_listing", timeout=2.0)
                if "kernel_drift" in listing:
                    return listing
            except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError) as e:
                last_error = e
            time.sleep(0.25)
        raise TimeoutError("TensorBoard did not list kernel_drift within %.0f s (%r):\n%s"
                           % (self.timeout, last_error, self.output()))

    def wait_for_runs(self, n_runs, min_last_step=None, timeout=30.0):
        """Waits until /runs reports `n_runs` runs with kernel data (the loader is asynchronous)."""
        deadline = time.monotonic() + timeout
        runs = []
        while time.monotonic() < deadline:
            runs = self.get_json("/data/plugin/kernel_drift/runs")["runs"]
            ready = [r for r in runs if r["has_kernel_data"] and r["last_step"] is not None
                     and (min_last_step is None or r["last_step"] >= min_last_step)]
            if len(ready) >= n_runs:
                return runs
            time.sleep(0.25)
        raise TimeoutError("only %d runs loaded after %.0f s" % (len(runs), timeout))

    def output(self):
        if self._log is None:
            return ""
        try:
            self._log.flush()
            self._log.seek(0)
            return self._log.read().decode("utf-8", "replace")[-4000:]
        except (OSError, ValueError):
            return ""

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            # The server runs in its own session (with the Rust data server as a child): stop the
            # whole group we started, by its id.
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None
        return False


@contextlib.contextmanager
def launch_browser(viewport=(1600, 1000)):
    """Yields a Playwright page in headless system Chromium."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise RuntimeError("no Chromium found (apt-get install chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                viewport={"width": viewport[0], "height": viewport[1]}, device_scale_factor=1
            )
            page = context.new_page()
            yield page
        finally:
            browser.close()


def open_kernel_drift_tab(page, base_url, timeout_ms=30000):
    """Opens /#kernel_drift and returns the plugin's iframe Frame once it has drawn."""
    page.goto(base_url + "/#kernel_drift", wait_until="domcontentloaded", timeout=timeout_ms)
    iframe = page.wait_for_selector("iframe", state="attached", timeout=timeout_ms)
    frame = iframe.content_frame()
    deadline = time.monotonic() + timeout_ms / 1000
    while frame is None or "plugin_entry.html" not in (frame.url or ""):
        if time.monotonic() > deadline:
            raise TimeoutError("the kernel_drift iframe did not load")
        time.sleep(0.1)
        iframe = page.query_selector("iframe")
        frame = iframe.content_frame() if iframe else None
    frame.wait_for_selector('#kd-root[data-ready="true"]', state="attached", timeout=timeout_ms)
    return frame


def take_screenshot(logdir, out, *, viewport=(1600, 1000), extra_args=(), settle_s=0.5):
    with TensorBoardProcess(logdir, extra_args=extra_args) as tb:
        with launch_browser(viewport) as page:
            open_kernel_drift_tab(page, tb.url)
            time.sleep(settle_s)  # let the last frame paint
            page.screenshot(path=out, full_page=False)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description="Screenshot of TensorBoard's Kernel drift tab.")
    parser.add_argument("--logdir", help="logdir of runs written with lazyfeat_tf.tb_plugin.summary")
    parser.add_argument("--demo", action="store_true", help="write and use a synthetic 24-run sweep")
    parser.add_argument("--out", default="kernel_drift.png")
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1000)
    parser.add_argument("--tb_arg", action="append", default=[],
                        help="extra TensorBoard flag, e.g. --tb_arg=--samples_per_plugin=kernel_drift=0")
    args = parser.parse_args(argv)
    if not args.logdir and not args.demo:
        parser.error("give --logdir RUNS or --demo")
    tmp = None
    logdir = args.logdir
    if args.demo:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
        import tb_fixtures

        tmp = tempfile.TemporaryDirectory(prefix="kd_demo_")
        logdir = logdir or tmp.name
        tb_fixtures.write_logdir(logdir, n_runs=24, n_checkpoints=40)
    try:
        out = take_screenshot(logdir, args.out, viewport=(args.width, args.height),
                              extra_args=args.tb_arg)
    finally:
        if tmp is not None:
            tmp.cleanup()
    print(os.path.abspath(out))


if __name__ == "__main__":
    main()
