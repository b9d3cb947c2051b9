"""Running a sweep: `run_sweep` trains every point of a grid into one sweep directory.

Layout of the sweep directory DIR:
- `runs/<name>/`: one run directory per point (see `lazyfeat_tf.rundir`), named by the point's
  values with the short key names, e.g. `width=32,alpha_sqrt_h=0.01,seed=0`;
- `logs/<name>.log`: what each run printed (all attempts); `logs/workers.log`: the local workers'
  own output (TensorFlow start-up lines);
- `sweep.json`: the plan of the latest invocation (base config, points, executor, the article
  figures the config file declares, which `launch.report` draws);
- `sweep.jsonl`: one JSON event per line (sweep start, run started / finished / retry / failed,
  sweep end), appended by every invocation;
- `failures.json`: the runs that failed in the latest invocation, with their attempts and error.

Running the same command again is safe: finished runs are skipped, interrupted runs resume from
their checkpoint (`train.train_and_evaluate` does that), failed runs are tried again. A failure is
retried up to `max_retries` times unless it is a user error (`lazyfeat_tf.errors.UserError`:
`ConfigError`, `DataError`, `WorkdirError`; the same input would fail the same way), and it never
stops the other runs. Only one sweep process may use DIR at a time (a lock file, released even by
`kill -9`). Both executors (`lazyfeat_tf.sweep.executors`) keep at most `workers` runs in flight, so
the counts in the progress lines are exact.
"""

import collections
import concurrent.futures
import contextlib
import json
import math
import os
import time

from lazyfeat_tf import config as config_lib
from lazyfeat_tf import rundir
from lazyfeat_tf.sweep import executors
from lazyfeat_tf.sweep.grid import SweepError, expand

DEFAULT_TRAIN_FN = "lazyfeat_tf.train:train_and_evaluate"
POOL_BROKE = "worker died: the process pool broke while this run was in it"


def duration(seconds):
    """`h:mm:ss`, or `?` for an unknown duration."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class _Status:
    """Counts, events file, failures file and progress lines of one invocation."""

    def __init__(self, workdir, total, workers, progress_every):
        self.workdir, self.total, self.workers = workdir, total, workers
        self.progress_every = progress_every
        self.start = time.time()
        self.skipped, self.trained, self.failures = 0, 0, {}
        self.durations = []
        self.last_print = -math.inf
        self.events_path = os.path.join(workdir, "sweep.jsonl")

    def event(self, kind, **fields):
        with open(self.events_path, "a") as f:
            f.write(json.dumps({"time": executors.now(), "event": kind, **fields}) + "\n")

    def fail(self, run, attempts, outcome):
        self.failures[run.name] = {"overrides": run.overrides, "attempts": attempts,
                                   "error": outcome["error"], "retryable": outcome.get("retryable", True),
                                   "log": os.path.join("logs", f"{run.name}.log")}
        self.event("failed", run=run.name, attempts=attempts, error=outcome["error"])
        self.write_failures()

    def write_failures(self):
        rundir.atomic_write_json(os.path.join(self.workdir, "failures.json"), self.failures)

    def eta(self, pending, inflight):
        if not self.durations:
            return math.inf if pending or inflight else 0.0
        mean = sum(self.durations) / len(self.durations)
        now = time.time()
        left = len(pending) * mean + sum(max(mean - (now - started), 0.0) for _, started in inflight.values())
        return left / self.workers

    def progress(self, pending, inflight, force=False):
        now = time.time()
        if not force and now - self.last_print < self.progress_every:
            return
        self.last_print = now
        done = self.skipped + self.trained
        print(f"[sweep {duration(now - self.start)}] done {done}/{self.total} "
              f"(skipped {self.skipped}), running {len(inflight)}, failed {len(self.failures)}, "
              f"pending {len(pending)}, ETA {duration(self.eta(pending, inflight))}", flush=True)


def precheck(run, path):
    """'finished', 'todo', or the one-line error that makes the run impossible (not retried)."""
    try:
        rundir.RunDir(path).check_compatible(config_lib.resolve(run.config).to_json())
    except ValueError as error:
        return executors.one_line(error)
    return "finished" if rundir.RunDir(path).finished else "todo"


@contextlib.contextmanager
def _lock(workdir):
    """Hold `workdir/.sweep.lock` (with this process's pid in it), or raise SweepError if another
    process holds it."""
    def in_use(holder):
        return SweepError(f"--workdir={workdir!r} is in use by another sweep ({holder}); "
                          "wait for it or choose another --workdir")

    with rundir.exclusive(os.path.join(workdir, ".sweep.lock"), in_use):
        yield


def _check_arguments(executor, workers, threads, ray_address, max_retries):
    """Raise SweepError for an executor argument of `run_sweep` that cannot be used."""
    if executor not in executors.EXECUTORS:
        raise SweepError(f"--executor={executor!r}: must be one of {', '.join(executors.EXECUTORS)}")
    for flag, value in (("workers", workers), ("threads", threads)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise SweepError(f"--{flag}={value!r}: must be a positive integer")
    if not isinstance(max_retries, int) or max_retries < 0:
        raise SweepError(f"--max_retries={max_retries!r}: must be an integer >= 0")
    if executor == "local" and ray_address:
        raise SweepError(f"--ray_address={ray_address!r} needs --executor=ray")


def run_sweep(config, points, workdir, executor="local", workers=None, threads=None,
              ray_address=None, max_retries=2, progress_every=30.0, train_fn=DEFAULT_TRAIN_FN,
              config_file=None, figures=()):
    """Train every point of `points` on the base `config` into `workdir/runs/<name>`.

    Args:
        config: the base run config (ConfigDict).
        points: the grid, a list of {dotted key: value} dicts (a config file's `get_sweep()`).
        workdir: the sweep directory (created; see the module docstring for its layout).
        executor: "local" or "ray".
        workers: runs in flight at once (default: local, one per core; ray, cluster CPUs / threads).
        threads: threads of each run (default: cores / workers, at least 1).
        ray_address: the Ray cluster ("host:port" or "ray://..."); empty: an embedded local Ray.
        max_retries: extra attempts of a run that failed for a reason other than its input.
        progress_every: seconds between progress lines when nothing finishes.
        train_fn: "module:function" run as fn(config, run_workdir) (tests swap it).
        config_file: recorded in sweep.json.
        figures: names of the article figures the config file declares (`grid.load_figures`),
            recorded in sweep.json for the report.

    Returns:
        A summary dict: total, trained, skipped, failed, failures {name: {...}}, wall_time, ...
    Raises:
        SweepError before any work for a bad grid, executor or workdir.
    """
    _check_arguments(executor, workers, threads, ray_address, max_retries)
    runs = expand(config, points)
    workdir = os.path.abspath(workdir)
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise SweepError(f"--workdir={workdir!r} exists and is not a directory")
    rundir.check_writable(workdir)
    os.makedirs(os.path.join(workdir, "logs"), exist_ok=True)
    with _lock(workdir):
        if executor == "local":
            pool = executors.LocalExecutor(workers, threads, os.path.join(workdir, "logs", "workers.log"))
        else:
            pool = executors.RayExecutor(workers, threads, ray_address)
        status = _Status(workdir, len(runs), pool.workers, progress_every)
        _start(status, pool, runs, config, config_file, figures, ray_address, max_retries)
        loop = _Loop(pool, status, train_fn, max_retries)
        loop.add(runs)
        loop.run()
        return _finish(status, pool)


def _start(status, executor, runs, config, config_file, figures, ray_address, max_retries):
    """Write the plan (sweep.json) and the start event, and say what is about to run."""
    rundir.atomic_write_json(os.path.join(status.workdir, "sweep.json"), {
        "config_file": config_file, "figures": list(figures), "base_config": json.loads(config.to_json_best_effort()),
        "points": [{"name": r.name, "overrides": r.overrides} for r in runs],
        "executor": executor.kind, "ray_address": ray_address, "workers": executor.workers,
        "threads": executor.threads, "max_retries": max_retries, "started": executors.now(),
    })
    status.event("sweep_start", total=len(runs), executor=executor.kind, workers=executor.workers,
                 threads=executor.threads)
    print(f"sweep of {len(runs)} runs into {status.workdir}/runs: {executor.kind} executor, "
          f"{executor.workers} workers x {executor.threads} threads", flush=True)


class _Loop:
    """The runs pending and in flight with their attempts: submits them, collects their outcomes,
    retries the failures that may go better."""

    def __init__(self, executor, status, train_fn, max_retries):
        self.executor, self.status = executor, status
        self.train_fn, self.max_retries = train_fn, max_retries
        self.pending = collections.deque()
        self.inflight = {}  # future -> (run, submit time)
        self.attempts = collections.Counter()

    def _path(self, run):
        """The run directory of `run`."""
        return os.path.join(self.status.workdir, "runs", run.name)

    def add(self, runs):
        """Queue `runs`; the finished ones count as skipped, the impossible ones as failed."""
        for run in runs:
            check = precheck(run, self._path(run))
            if check == "finished":
                self.status.skipped += 1
            elif check == "todo":
                self.pending.append(run)
            else:
                self.status.fail(run, 0, {"error": check, "retryable": False})
        self.status.write_failures()

    def run(self):
        """Train until nothing is pending or in flight; on Ctrl-C (or a bug) stop the workers, keep
        what is finished and raise."""
        changed = True
        try:
            while self.pending or self.inflight:
                self._submit()
                self.status.progress(self.pending, self.inflight, force=changed)
                changed = self._collect()
        except BaseException as error:
            self.status.event("interrupted", running=[run.name for run, _ in self.inflight.values()],
                              error=executors.one_line(error))
            self.executor.close(cancel=True)
            raise
        self.status.progress(self.pending, self.inflight, force=True)
        self.executor.close()

    def _submit(self):
        """Start pending runs until `workers` are in flight."""
        while self.pending and len(self.inflight) < self.executor.workers:
            run = self.pending.popleft()
            self.attempts[run.name] += 1
            task = {"name": run.name, "config": run.config, "workdir": self._path(run),
                    "log": os.path.join(self.status.workdir, "logs", f"{run.name}.log"),
                    "attempt": self.attempts[run.name], "train_fn": self.train_fn}
            self.inflight[self.executor.submit(task)] = (run, time.time())
            self.status.event("started", run=run.name, attempt=self.attempts[run.name])

    def _collect(self):
        """Wait (at most `progress_every` seconds) for runs to end and handle them; whether any did."""
        done, _ = concurrent.futures.wait(list(self.inflight), timeout=self.status.progress_every,
                                          return_when=concurrent.futures.FIRST_COMPLETED)
        died = False
        for future in done:
            run, started = self.inflight.pop(future)
            try:
                outcome = future.result()
            except Exception as error:  # noqa: BLE001 - the worker process died
                died = True
                outcome = {"ok": False, "retryable": True,
                           "error": "worker died: " + executors.one_line(error)}
            self._handle(run, started, outcome)
        if died and self.executor.kind == "local":
            self._rebuild_pool()
        return bool(done)

    def _rebuild_pool(self):
        """A dead worker breaks the whole local pool: every run in flight fails with it."""
        for future in list(self.inflight):
            run, started = self.inflight.pop(future)
            with contextlib.suppress(Exception):
                future.result(timeout=60)
            self._handle(run, started, {"ok": False, "retryable": True, "error": POOL_BROKE})
        self.executor.recover()

    def _handle(self, run, started, outcome):
        """Count a finished run, queue a failed one again, or record it as failed."""
        attempt = self.attempts[run.name]
        if outcome["ok"]:
            self.status.trained += 1
            self.status.durations.append(time.time() - started)
            self.status.event("finished", run=run.name, attempt=attempt, **outcome["results"])
        elif outcome.get("retryable", True) and attempt <= self.max_retries:
            self.status.event("retry", run=run.name, attempt=attempt, error=outcome["error"])
            print(f"[sweep] {run.name} failed (attempt {attempt}), will retry: "
                  f"{outcome['error'][:300]}", flush=True)
            self.pending.append(run)
        else:
            self.status.fail(run, attempt, outcome)
            print(f"[sweep] {run.name} FAILED after {attempt} attempt(s): "
                  f"{outcome['error'][:300]}", flush=True)


def _finish(status, executor):
    """The summary of the sweep, recorded (failures.json, sweep.jsonl) and printed."""
    wall = time.time() - status.start
    summary = {"workdir": status.workdir, "total": status.total, "trained": status.trained,
               "skipped": status.skipped, "failed": len(status.failures), "failures": status.failures,
               "wall_time": wall, "executor": executor.kind, "workers": executor.workers,
               "threads": executor.threads}
    status.write_failures()
    status.event("sweep_end", **{k: summary[k] for k in ("total", "trained", "skipped", "failed", "wall_time")})
    print(format_summary(summary), flush=True)
    return summary


def format_summary(summary):
    """The lines printed at the end of a sweep."""
    lines = [f"sweep done in {duration(summary['wall_time'])}: {summary['total']} runs, "
             f"{summary['trained']} trained, {summary['skipped']} already finished, "
             f"{summary['failed']} failed"]
    for name, failure in summary["failures"].items():
        lines.append(f"  FAILED {name} ({failure['attempts']} attempt(s)): {failure['error'][:300]}")
    if summary["failures"]:
        lines.append(f"  details: {summary['workdir']}/failures.json and {summary['workdir']}/logs/")
    lines.append(f"runs: {summary['workdir']}/runs   report: python -m launch.report "
                 f"--workdir={summary['workdir']}")
    return "\n".join(lines)
