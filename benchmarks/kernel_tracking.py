"""Cost and physics of kernel tracking on the Fashion-MNIST run of the core issue.

    python benchmarks/kernel_tracking.py [--repeats 2] [-- launch.train flags, e.g. --config.kernels.predictors=False]

Trains configs/demo.py (real Fashion-MNIST parity, n_train = 1000, h = 64, L = 3) at
alpha*sqrt(h) = 0.01, 100 and 1000, with kernel tracking off and on (default settings), each in
its own process (the best of --repeats runs, off and on alternating), and prints a table: wall
time (everything after data loading, from results.json), the overhead of tracking (target: at
most 10%; "cold": the first tracked run of a case, which compiles the predictors' XLA programs,
the later ones load them from the persistent cache of `lazyfeat_tf.compilation_cache`, here a
fresh one per invocation), "paired": the median over the later rounds of a tracked run's wall time
over the untracked run just before it (less moved by a slow spell of the machine that falls on some
rounds than the best against the best), the overhead in CPU time (user + system of the whole process, best of
the runs: less sensitive to the load of a shared machine than wall time), the final test-probe
drift ||Theta_T - Theta_0|| / ||Theta_0||, and how the lazy drift scales from 100 to 1000
(expected about 1/(alpha sqrt h), i.e. a ratio near 10). The load averages before and after are
printed: on a loaded machine, compare best-of-several ratios, not single runs.

    python benchmarks/kernel_tracking.py --parts [--repeats 3]

Where tracking's time goes, at alpha*sqrt(h) = 100: each piece of the default measurements timed
alone, one after the other, in a process of its own (run twice on one persistent XLA cache: the
second is reported, its integrator's program loaded from the cache as a run's is), at the initial
network, with as many probe measures and record writes as the untracked run has records; and the
least wall time they can add to that run (the best of --repeats): the pieces before training and
on the end's critical path in full, those beside training at half (the run's two row blocks keep
both cores busy: at best the pair of cores shares their work evenly), those at the end beside its
critical path not at all.
"""

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VALUES = (0.01, 100.0, 1000.0)
TARGET = 0.10
"""Largest overhead of tracking at default settings."""
PARTS_VALUE = 100.0
"""alpha*sqrt(h) of `--parts`."""
BEFORE, BESIDE, CRITICAL, AT_END = "before training", "beside training", "end, critical path", "end, beside it"
PHASES = (BEFORE, BESIDE, CRITICAL, AT_END)
"""Where a piece of tracking runs in a tracked run (`KernelObserver`): on the main thread before the
first step, in threads beside the training, at the end on the way to the final predictor's test error
(each after the one before), at the end beside that way."""


def child_env(xla_cache):
    """The environment of a child process: this checkout's package first on the path, the persistent
    XLA cache in `xla_cache`."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")])),
            "LAZYFEAT_XLA_CACHE": xla_cache}


def run(alpha_sqrt_h, track, workdir, xla_cache, train_flags=()):
    """results.json of one run in its own process (`child_env`; `train_flags`: more flags of
    launch.train), with the CPU seconds of that process as "cpu_time"."""
    command = [sys.executable, "-m", "launch.train", "--config=configs/demo.py", f"--workdir={workdir}",
               f"--config.alpha_sqrt_h={alpha_sqrt_h}", f"--config.kernels.track={track}", *train_flags]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, cwd=REPO, env=child_env(xla_cache), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(os.path.join(workdir, "results.json")) as f:
        results = json.load(f)
    results["cpu_time"] = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return results


def load():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def part_costs(config, records, scratch):
    """[(phase, part, seconds)]: the pieces of default kernel tracking on the run of `config` (an
    ml_collections config) with `records` records, each timed alone in this process (TensorFlow
    imported), at the initial network; the best of a few where a run repeats the piece. `scratch`:
    a directory for the TensorBoard writes and kernels.npz."""
    import numpy as np
    import tensorflow as tf

    from lazyfeat_tf import config as config_lib, data, models, ntk
    from lazyfeat_tf.ntk.full_drift import full_set_drift, kernels_change
    from lazyfeat_tf.ntk.observer import kernel_times
    from lazyfeat_tf.ntk.predictor import KernelRows
    from lazyfeat_tf.tb_plugin import summary as drift_summary

    spec = config_lib.resolve(config)
    task = data.load_task(spec.data, spec.dtype)
    model = models.build_run_model(spec, task.input_shape)
    x_train, x_test, method = task.x_train, task.x_test, spec.kernels.method
    costs = []

    def timed(phase, part, fn, repeats=1, times=1):
        best = math.inf
        for _ in range(repeats):
            start = time.perf_counter()
            value = fn()
            best = min(best, time.perf_counter() - start)
        costs.append((phase, part, best * times))
        return value

    def observe():
        return ntk.KernelObserver(model, task, spec.kernels, ntk.predictor_options(spec), initial_loss=1.0)

    observe()  # the second is timed: a run's earlier passes through the network have warmed its paths
    observer = timed(BEFORE, "observer: Theta_0 train kernel, integrator's trace, probes", observe)
    tracker, predictor = observer.tracker, observer.initial
    timed(BESIDE, "integrator's XLA program (persistent cache)",
          lambda: (predictor.compile_in_background(), predictor.wait()))
    values = tracker.snapshot()
    record = timed(BESIDE, "first probe measure (its trace, Theta_0)", lambda: tracker.measure(0.0, values))
    timed(BESIDE, f"probe measures x {records - 1}", lambda: tracker.measure(1.0, values), 10, records - 1)
    writer = tf.summary.create_file_writer(scratch)

    def write():
        with writer.as_default():
            drift_summary.write_drift_record(record, step=1)

    timed(BESIDE, f"TensorBoard drift records x {records}", write, 10, records)
    timed(BESIDE, "Theta_0 predictor to convergence", predictor.run_to_convergence)
    theta_t = timed(CRITICAL, "Theta_T train kernel",
                    lambda: KernelRows(model, x_train, x_train, method=method).assemble(), 3)
    timed(CRITICAL, "train kernel drift", lambda: kernels_change(theta_t, predictor.system.theta), 3)
    test_rows = KernelRows(model, x_test, x_train, method=method)
    timed(CRITICAL, "final-kernel predictor to convergence",
          lambda: (predictor.restart_on(theta_t, test_rows), predictor.run_to_convergence()), 3)
    c = predictor.coefficients()
    timed(CRITICAL, "its test error (kernel_times)", lambda: kernel_times(model, x_test, x_train, c), 3)

    def save_probe_kernels():
        arrays = {f"initial/{k}": v for k, v in tracker.initial_kernels().items()}
        arrays.update({f"final/{k}": v for k, v in tracker.current_kernels().items()})
        np.savez(os.path.join(scratch, "kernels.npz"), **arrays)

    timed(CRITICAL, "probe kernels to kernels.npz", save_probe_kernels, 3)
    timed(AT_END, "Theta_0 test error (kernel_times)",
          lambda: kernel_times(model, x_test, x_train, c, initial=True), 3)
    timed(AT_END, "whole-test-set drift", lambda: full_set_drift(model, x_test, method=method), 3)
    return costs


def error_cell(error):
    """A predictor's test error for the table ("n/a" without the predictors)."""
    return f"{'n/a':>9}" if error is None else f"{error:>9.4f}"


def least_added(costs):
    """The least wall time the pieces `costs` ([(phase, part, seconds)]) can add to a run: those
    before training and on the end's critical path in full, those beside training at half (spread
    evenly over the two cores the training keeps busy), those at the end beside the critical path
    not at all."""
    weight = {BEFORE: 1.0, BESIDE: 0.5, CRITICAL: 1.0, AT_END: 0.0}
    return sum(weight[phase] * seconds for phase, _, seconds in costs)


def parts_child(records, scratch):
    """`--parts-child`: print `part_costs` of the demo run at alpha*sqrt(h) = PARTS_VALUE as JSON."""
    sys.path.insert(0, REPO)
    from launch.common import import_tensorflow_quietly  # the XLA cache and CPU threads of a run

    import_tensorflow_quietly()
    from configs import demo

    config = demo.get_config()
    config.alpha_sqrt_h = PARTS_VALUE
    print(json.dumps(part_costs(config, records, scratch)))


def parts(repeats):
    """`--parts`: the table of where tracking's time goes (module docstring)."""
    print(f"load average before: {load()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        xla_cache = os.path.join(tmp, "xla")
        untracked = [run(PARTS_VALUE, False, os.path.join(tmp, f"off-{i}"), xla_cache) for i in range(repeats)]
        best = min(untracked, key=lambda r: r["wall_time"])
        with open(os.path.join(tmp, f"off-{untracked.index(best)}", "metrics.jsonl")) as f:
            records = sum(1 for line in f if line.strip())
        for i in range(2):  # the first compiles the integrator into the cache; the second loads it, as a run does
            output = subprocess.run(
                [sys.executable, os.path.abspath(__file__), "--parts-child", f"--records={records}",
                 f"--scratch={os.path.join(tmp, f'parts-{i}')}"],
                cwd=REPO, env=child_env(xla_cache), check=True, capture_output=True, text=True).stdout
        costs = json.loads(output.strip().splitlines()[-1])
    print(f"load average after: {load()}")
    print(f"demo run at alpha*sqrt(h) = {PARTS_VALUE:g}, {records} records, untracked {best['wall_time']:.2f} s "
          f"(best of {repeats})")
    print(f"{'where':<20} {'piece':<60} {'s':>6}")
    for phase in PHASES:
        for where, part, seconds in costs:
            if where == phase:
                print(f"{where:<20} {part:<60} {seconds:>6.3f}")
    total, least = sum(seconds for *_, seconds in costs), least_added(costs)
    print(f"{'all':<20} {'one after the other':<60} {total:>6.3f}  {total / best['wall_time']:.0%} of the run")
    print(f"{'least added':<20} {'before + beside / 2 + critical path':<60} {least:>6.3f}  "
          f"{least / best['wall_time']:.0%} of the run (target: at most {TARGET:.0%})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=2, help="runs per case; the best wall time is kept")
    parser.add_argument("--parts", action="store_true", help="where tracking's time goes, piece by piece")
    parser.add_argument("--parts-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--records", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--scratch", default="", help=argparse.SUPPRESS)
    parser.add_argument("train_flags", nargs="*", metavar="-- FLAG",
                        help="more flags of launch.train for both sides, e.g. -- --config.kernels.predictors=False")
    args = parser.parse_args()
    if args.train_flags and args.parts:
        parser.error(f"--parts times the default measurements: drop {' '.join(args.train_flags)}")
    if args.parts_child:
        return parts_child(args.records, args.scratch)
    if args.parts:
        return parts(args.repeats)
    rows = []
    print(f"load average before: {load()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for value in VALUES:
            results = {False: [], True: []}
            for i in range(args.repeats):  # off and on alternate, so that a slow spell hits both
                for track in (False, True):
                    workdir = os.path.join(tmp, f"{value}-{track}-{i}")
                    results[track].append(run(value, track, workdir, os.path.join(tmp, "xla"), args.train_flags))
            best = {track: min(rs, key=lambda r: r["wall_time"]) for track, rs in results.items()}
            overhead = best[True]["wall_time"] / best[False]["wall_time"] - 1
            cpu = {track: min(r["cpu_time"] for r in rs) for track, rs in results.items()}
            cold = results[True][0]["wall_time"] / best[False]["wall_time"] - 1
            rounds = list(zip(results[False], results[True]))  # the first tracked run compiles: left out
            paired = statistics.median(on["wall_time"] / off["wall_time"] - 1 for off, on in rounds[1:] or rounds)
            rows.append((value, best[False]["wall_time"], best[True]["wall_time"], overhead, cold, paired,
                         cpu[True] / cpu[False] - 1, best[True]["kernel_drift_test"], best[True]["test_error"],
                         best[True].get("init_kernel_test_error"), best[True].get("final_kernel_test_error")))
    print(f"load average after: {load()}")
    print(f"{'alpha*sqrt(h)':>13} {'wall off s':>10} {'wall on s':>10} {'overhead':>13} {'cold':>5} {'paired':>6} "
          f"{'cpu':>5} {'drift test':>11} {'test err':>9} {'init ker':>9} {'final ker':>9}")
    for value, off, on, overhead, cold, paired, cpu_overhead, drift, err, init_err, final_err in rows:
        flag = "ok" if overhead <= TARGET else "OVER"
        print(f"{value:>13g} {off:>10.2f} {on:>10.2f} {overhead:>8.0%} {flag:>4} {cold:>5.0%} {paired:>6.0%} "
              f"{cpu_overhead:>5.0%} "
              f"{drift:>11.3e} {err:>9.4f} {error_cell(init_err)} {error_cell(final_err)}")
    print(f"target: wall-time overhead at most {TARGET:.0%} in every case")
    drift = {value: row[7] for value, row in zip(VALUES, rows)}
    print(f"drift(0.01) / drift(100) = {drift[0.01] / drift[100.0]:.3g} (feature >> lazy expected)")
    print(f"drift(100) / drift(1000) = {drift[100.0] / drift[1000.0]:.3g} "
          "(about 10 expected: drift ~ 1/(alpha sqrt h))")


if __name__ == "__main__":
    main()
