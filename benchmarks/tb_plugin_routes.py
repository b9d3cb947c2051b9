"""Latency of the Kernel drift tab's data routes on a logdir of 200 runs x 100 checkpoints.

    python benchmarks/tb_plugin_routes.py                 # writes the logdir to a temp dir
    python benchmarks/tb_plugin_routes.py --logdir /tmp/kd_bench --keep   # reuse / keep it
    python benchmarks/tb_plugin_routes.py --no-server     # in-process Python loader only

The logdir is written with the plugin's writer (through `tf.summary` when TensorFlow is
importable): per checkpoint drift total and 4 layers on train and test probes, alignment,
effective rank, 20 eigenvalues per split and a 16x16 heatmap, plus 8 unrelated ordinary scalars
(the training loop's losses and errors). It is then loaded the two ways
TensorBoard does:

1. in process, `--load_fast=false`: EventMultiplexer with TensorBoard's default sample limits ->
   MultiplexerDataProvider -> TensorBoardWSGI, requests through a werkzeug client (also with
   `--samples_per_plugin=kernel_drift=0`, which keeps every eigenvalue/heatmap checkpoint);
2. a real `python -m tensorboard.main` (default `--load_fast=auto`: the Rust data server when
   installed), requests over HTTP.

Each route is requested 3 times; the table shows the median and the worst time and the response
size. The script exits with status 1 if any request takes 2 s or more.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, "..", "scripts"))

import tb_fixtures  # noqa: E402

from lazyfeat_tf.tb_plugin.plugin import MAX_RUNS_PER_SERIES_REQUEST as BATCH  # noqa: E402  (the tab's batch)

LIMIT_S = 2.0
PREFIX = "/data/plugin/kernel_drift"
REPEATS = 3
ALL_FIELDS = "layers,alignment,effective_rank"
OTHER_SCALARS = 8  # the training loop's own scalars (losses, errors, ...) at each checkpoint


def write_logdir(logdir, n_runs, n_checkpoints):
    try:
        import tensorflow  # noqa: F401

        backend = "tf"
    except ImportError:
        backend = "raw"  # pure-Python checksums: slower to write, same files
    start = time.perf_counter()
    names = tb_fixtures.write_logdir(logdir, n_runs=n_runs, n_checkpoints=n_checkpoints,
                                     backend=backend, other_scalars=OTHER_SCALARS)
    return names, time.perf_counter() - start, backend


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total


def requests_for(names):
    """(label, path) of every data route, as the frontend uses them and at their limits."""
    q = urllib.parse.urlencode
    one = names[len(names) // 2]
    batch = names[:BATCH]
    steps, _ = tb_fixtures.checkpoint_schedule(100, 1.0)
    return [
        ("/runs (200 runs)", "/runs"),
        ("/final (200 runs)", "/final"),
        ("/series 1 run, all fields", "/series?" + q({"run": one, "include": ALL_FIELDS})),
        ("/series %d runs (frontend batch)" % BATCH, "/series?" + q({"run": batch}, doseq=True)),
        ("/series %d runs + layers" % BATCH, "/series?" + q({"run": batch, "include": "layers"}, doseq=True)),
        ("/series %d runs, all fields (max)" % BATCH,
         "/series?" + q({"run": batch, "include": ALL_FIELDS}, doseq=True)),
        ("/eigenvalues last", "/eigenvalues?" + q({"run": one})),
        ("/eigenvalues step", "/eigenvalues?" + q({"run": one, "step": steps[50]})),
        ("/heatmap last", "/heatmap?" + q({"run": one})),
        ("/heatmap step", "/heatmap?" + q({"run": one, "step": steps[50]})),
        ("/static/index.js", "/static/index.js"),
    ]


def time_requests(fetch, names):
    rows = []
    for label, path in requests_for(names):
        times, size, status = [], 0, None
        for _ in range(REPEATS):
            start = time.perf_counter()
            status, size = fetch(PREFIX + path)
            times.append(time.perf_counter() - start)
        rows.append((label, status, statistics.median(times), max(times), size))
    # What the tab does on first load with every run selected (sequentially here).
    start = time.perf_counter()
    fetch(PREFIX + "/limits")
    fetch(PREFIX + "/runs")
    for i in range(0, len(names), BATCH):
        fetch(PREFIX + "/series?" + urllib.parse.urlencode({"run": names[i:i + BATCH]}, doseq=True))
    fetch(PREFIX + "/final")
    fetch(PREFIX + "/eigenvalues?run=" + urllib.parse.quote(names[0]))
    fetch(PREFIX + "/heatmap?run=" + urllib.parse.quote(names[0]))
    first_load = time.perf_counter() - start
    return rows, first_load


def in_process(logdir, names, sampling_hints):
    from tensorboard.backend import application
    from tensorboard.backend.event_processing import data_ingester
    from tensorboard.backend.event_processing import data_provider
    from tensorboard.backend.event_processing import plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from werkzeug import test as werkzeug_test

    from lazyfeat_tf.tb_plugin.plugin import KernelDriftPlugin

    start = time.perf_counter()
    guidance = dict(data_ingester.DEFAULT_TENSOR_SIZE_GUIDANCE)
    guidance.update(sampling_hints)
    multiplexer = plugin_event_multiplexer.EventMultiplexer(
        size_guidance=data_ingester.DEFAULT_SIZE_GUIDANCE, tensor_size_guidance=guidance)
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    load = time.perf_counter() - start
    provider = data_provider.MultiplexerDataProvider(multiplexer, logdir)
    context = base_plugin.TBContext(logdir=logdir, data_provider=provider,
                                    sampling_hints=sampling_hints)
    app = application.TensorBoardWSGI([KernelDriftPlugin(context)], data_provider=provider)
    client = werkzeug_test.Client(app)

    def fetch(path):
        response = client.get(path, headers={"Accept-Encoding": "gzip"})
        return response.status_code, len(response.get_data())

    rows, first = time_requests(fetch, names)
    return load, rows, first


def real_server(logdir, names):
    import tb_screenshot

    start = time.perf_counter()
    with tb_screenshot.TensorBoardProcess(logdir, timeout=120) as tb:
        tb.wait_for_runs(len(names), min_last_step=1, timeout=300)
        load = time.perf_counter() - start

        def fetch(path):
            request = urllib.request.Request(tb.url + path, headers={"Accept-Encoding": "gzip"})
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, len(response.read())

        rows, first = time_requests(fetch, names)
        loader = "Rust data server" if "fast data loading" in tb.output() else "Python loader"
    return load, rows, first, loader


def print_table(title, load, rows, first):
    print("\n%s\n  loaded in %.1f s" % (title, load))
    print("  %-36s %6s %10s %10s %10s" % ("route", "status", "median ms", "max ms", "bytes"))
    failed = []
    for label, status, median, worst, size in rows:
        flag = "" if worst < LIMIT_S and status == 200 else "  <-- FAIL"
        print("  %-36s %6s %10.1f %10.1f %10d%s" % (label, status, median * 1e3, worst * 1e3, size, flag))
        if flag:
            failed.append(label)
    print("  first load of the tab (limits, runs, series in batches of %d, final, eigenvalues, heatmap): %.2f s"
          % (BATCH, first))
    return failed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", help="reuse (or write to) this logdir")
    parser.add_argument("--keep", action="store_true", help="do not delete the written logdir")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--checkpoints", type=int, default=100)
    parser.add_argument("--no-server", action="store_true", help="skip the real TensorBoard server")
    args = parser.parse_args(argv)

    tmp = None
    logdir = args.logdir
    if logdir is None:
        tmp = tempfile.mkdtemp(prefix="kd_bench_")
        logdir = tmp
    try:
        names = [tb_fixtures.run_name(w, a, s) for w, a, s in tb_fixtures.sweep(args.runs)]
        if not os.path.isdir(logdir) or not os.listdir(logdir):
            names, took, backend = write_logdir(logdir, args.runs, args.checkpoints)
            print("wrote %d runs x %d checkpoints (%s writer) in %.1f s: %.0f MB"
                  % (len(names), args.checkpoints, backend, took, du(logdir) / 1e6))
        else:
            print("reusing %s (%.0f MB)" % (logdir, du(logdir) / 1e6))
        failed = []
        load, rows, first = in_process(logdir, names, {})
        failed += print_table("In process, --load_fast=false (Python loader, default sample limits)",
                              load, rows, first)
        load, rows, first = in_process(logdir, names, {"kernel_drift": 0})
        failed += print_table("In process, --load_fast=false --samples_per_plugin=kernel_drift=0",
                              load, rows, first)
        if not args.no_server:
            load, rows, first, loader = real_server(logdir, names)
            failed += print_table("Real TensorBoard server over HTTP (%s)" % loader, load, rows, first)
        print()
        if failed:
            print("FAIL: %d request(s) took >= %.0f s or failed: %s" % (len(failed), LIMIT_S, failed))
            return 1
        print("OK: every data route answered in < %.0f s" % LIMIT_S)
        return 0
    finally:
        if tmp is not None and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp is not None:
            print("logdir kept at %s" % tmp)
        sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
