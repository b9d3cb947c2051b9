"""Sweeps: a grid of runs declared in a config file, trained by a local process pool or on Ray.

Declaring a sweep (big_vision style: the grid lives in the config file, next to `get_config`):

    # configs/my_sweep.py
    from lazyfeat_tf import sweep
    from lazyfeat_tf.config import base_config

    def get_config():  # the base run config, shared by every point of the grid
        config = base_config()
        config.data.n_train = 1000
        return config

    def get_sweep():  # the grid: a list of {dotted config key: value} override dicts
        return sweep.product(
            sweep.axis("model.width", [32, 128]),
            sweep.axis("alpha_sqrt_h", [0.01, 1.0, 100.0]),
            sweep.axis("seed", [0, 1]),
        )

`get_sweep()` returns a plain list of dicts; `axis`, `product` and `chain` are conveniences (a list
comprehension is fine too). Setting `alpha` or `alpha_sqrt_h` in a point clears the other, so every
point has exactly one. Command-line overrides of the launcher (`--config.data.n_train=500`) change
the base config; the grid's values win over them.

    python -m launch.sweep --config=configs/my_sweep.py --workdir=DIR [--executor=local|ray]
        [--workers=N] [--ray_address=HOST:PORT] [--max_retries=2]

Layout of the sweep directory DIR:
- `runs/<name>/`: one run directory per point (see `lazyfeat_tf.rundir`), named by the point's
  values with the short key names, e.g. `width=32,alpha_sqrt_h=0.01,seed=0`;
- `logs/<name>.log`: what each run printed (all attempts); `logs/workers.log`: the local workers'
  own output (TensorFlow start-up lines);
- `sweep.json`: the plan of the latest invocation (base config, points, executor);
- `sweep.jsonl`: one JSON event per line (sweep start, run started / finished / retry / failed,
  sweep end), appended by every invocation;
- `failures.json`: the runs that failed in the latest invocation, with their attempts and error.

Running the same command again is safe: finished runs are skipped, interrupted runs resume from
their checkpoint (`train.train_and_evaluate` does that), failed runs are tried again. A failure is
retried up to `max_retries` times unless it is a user error (`ConfigError`, `DataError`,
`WorkdirError`: the same input would fail the same way), and it never stops the other runs. Only one
sweep process may use DIR at a time (a lock file, released even by `kill -9`).

Executors:
- `local`: a `concurrent.futures.ProcessPoolExecutor` of `workers` spawned processes (default: one
  per core), each limited to `cores // workers` threads through `TF_NUM_INTRAOP_THREADS`,
  `TF_NUM_INTEROP_THREADS` and `OMP_NUM_THREADS`, set before TensorFlow is imported there. Workers
  are reused between runs. If a worker process dies, the pool is rebuilt and the runs it held count
  one failed attempt each. A worker ends itself within `PARENT_POLL_SECS` once the sweep process is
  gone (Ctrl-C, SIGTERM, kill -9), so no orphan goes on writing a run.
- `ray`: tasks on an existing Ray cluster (`ray_address`) or on an embedded local Ray started for the
  sweep; each task reserves `threads` CPUs and gets the same thread variables through its runtime
  environment. The sweep directory must be on a file system every node sees.
Both keep at most `workers` runs in flight, so the counts in the progress lines are exact.
"""

import collections
import concurrent.futures
import contextlib
import copy
import datetime
import fcntl
import importlib
import importlib.util
import itertools
import json
import math
import os
import signal
import sys
import threading
import time
import traceback

from lazyfeat_tf import rundir
from lazyfeat_tf.errors import UserError

DEFAULT_TRAIN_FN = "lazyfeat_tf.train:train_and_evaluate"
EXECUTORS = ("local", "ray")
SCALE_KEYS = ("alpha", "alpha_sqrt_h")
BRIEF_KEYS = ("status", "test_error", "train_error", "steps", "wall_time")
PARENT_POLL_SECS = 1.0


class SweepError(UserError):
    """A sweep declaration or sweep directory that cannot be used; the message is one line."""


# ----------------------------------------------------------------------------------------------
# Declaring grids


def axis(key, values):
    """One swept key: `[{key: v} for v in values]`."""
    values = list(values)
    if not values:
        raise SweepError(f"sweep axis {key!r} has no values")
    return [{key: value} for value in values]


def product(*grids):
    """Cartesian product of grids (lists of override dicts); the first grid varies slowest."""
    points = []
    for combination in itertools.product(*grids):
        point = {}
        for part in combination:
            overlap = set(point) & set(part)
            if overlap:
                raise SweepError(f"sweep.product: key {sorted(overlap)[0]!r} is swept by two grids")
            point.update(part)
        points.append(point)
    return points


def chain(*grids):
    """The points of several grids one after the other."""
    return [point for grid in grids for point in grid]


def load_config_module(config_file):
    """The config file `config_file` imported as a module (what `config_flags` does with it)."""
    if not os.path.isfile(config_file):
        raise SweepError(f"--config={config_file!r}: no such file")
    name = "_lazyfeat_config_" + "".join(c if c.isalnum() else "_" for c in os.path.abspath(config_file))
    spec = importlib.util.spec_from_file_location(name, config_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_sweep(config_file):
    """The points of `get_sweep()` in the config file `config_file` (a list of dicts)."""
    module = load_config_module(config_file)
    if not callable(getattr(module, "get_sweep", None)):
        raise SweepError(f"--config={config_file!r} defines no get_sweep(): declare the grid there "
                         "(see lazyfeat_tf/sweep.py)")
    return module.get_sweep()


# ----------------------------------------------------------------------------------------------
# Expanding a grid into runs


class SweepRun:
    """One point of a sweep: its directory name, its overrides and its full run config."""

    def __init__(self, name, overrides, config):
        self.name, self.overrides, self.config = name, overrides, config

    def __repr__(self):
        return f"SweepRun({self.name!r})"


def _plain(value):
    """numpy scalars to Python numbers (ConfigDict and JSON want those)."""
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return value.item()
    return value


def apply_overrides(config, overrides):
    """A copy of `config` with `overrides` ({dotted key: value}) set; raises SweepError.

    Setting `alpha` or `alpha_sqrt_h` clears the other one (a run has exactly one).
    """
    config = copy.deepcopy(config)
    for key, value in overrides.items():
        *parents, last = key.split(".")
        node = config
        try:
            for part in parents:
                node = node[part]
            node[last]  # noqa: B018 - the key must exist
        except (KeyError, AttributeError, TypeError):
            raise SweepError(f"sweep point {overrides}: the config has no field {key!r}") from None
        if not parents and last in SCALE_KEYS:
            for other in SCALE_KEYS:
                node[other] = None
        try:
            node[last] = _plain(value)
        except (TypeError, ValueError) as error:
            raise SweepError(f"sweep point {overrides}: cannot set {key}={value!r} "
                             f"({str(error).splitlines()[0]})") from None
    return config


def format_value(value):
    """A value as it appears in a run name: floats with 4 significant digits."""
    value = _plain(value)
    if isinstance(value, bool) or value is None:
        text = str(value).lower()
    elif isinstance(value, float):
        text = f"{value:.4g}"
    else:
        text = str(value)
    return text.replace(os.sep, "_").replace(" ", "")


def short_keys(points):
    """{dotted key: name used in run names}: the last component unless two keys share it."""
    keys = list(dict.fromkeys(key for point in points for key in point))
    lasts = collections.Counter(key.rsplit(".", 1)[-1] for key in keys)
    return {key: key.rsplit(".", 1)[-1] if lasts[key.rsplit(".", 1)[-1]] == 1 else key for key in keys}


def run_name(overrides, names=None):
    """Directory name of a point: `key=value` pairs joined by commas, in the point's order."""
    names = names or short_keys([overrides])
    if not overrides:
        return "base"
    return ",".join(f"{names[key]}={format_value(value)}" for key, value in overrides.items())


def expand(config, points):
    """The `SweepRun`s of `points` on the base `config`; raises SweepError on a bad grid."""
    if not isinstance(points, (list, tuple)) or not all(isinstance(p, dict) for p in points):
        raise SweepError(f"get_sweep() must return a list of dicts, got {type(points).__name__}")
    if not points:
        raise SweepError("get_sweep() returned no points")
    names = short_keys(points)
    runs, seen = [], {}
    for point in points:
        point = {str(k): _plain(v) for k, v in point.items()}
        name = run_name(point, names)
        if name in seen:
            raise SweepError(f"sweep points {seen[name]} and {point} have the same run name {name!r}; "
                             "make them differ in the first 4 significant digits")
        seen[name] = point
        runs.append(SweepRun(name, point, apply_overrides(config, point)))
    return runs


# ----------------------------------------------------------------------------------------------
# What runs in the worker processes


def cores():
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def thread_env(threads):
    """Environment variables that limit TensorFlow / OpenMP to `threads` threads."""
    n = str(int(threads))
    return {"TF_NUM_INTRAOP_THREADS": n, "TF_NUM_INTEROP_THREADS": n, "OMP_NUM_THREADS": n,
            "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n,
            "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}


def _exit_with_parent(parent_pid):
    """Watch, in a daemon thread, that the sweep process `parent_pid` lives; SIGTERM this worker
    (whatever it is training: runs resume from their checkpoint) as soon as it does not."""

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_SECS)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _init_local_worker(env, log_path, parent_pid):
    """Initializer of a local worker, before anything imports TensorFlow: threads, output, and an
    exit when the sweep process is gone."""
    _exit_with_parent(parent_pid)
    os.environ.update(env)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)  # TensorFlow's start-up lines go to logs/workers.log, not the sweep's terminal
    os.dup2(fd, 2)
    os.close(fd)


def _resolve(spec):
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def is_user_error(error):
    """ConfigError / DataError / WorkdirError: the same input fails the same way, not retried."""
    return isinstance(error, UserError)


def _now():
    return datetime.datetime.now().isoformat(timespec="seconds")


def run_task(task):
    """Train one point in a worker; never raises: returns an outcome dict.

    `task` holds `name`, `config`, `workdir` (the run directory), `log` (appended to), `attempt` and
    `train_fn` ("module:function" called as fn(config, workdir) -> results dict).
    """
    start = time.time()
    os.makedirs(os.path.dirname(task["log"]), exist_ok=True)
    with open(task["log"], "a", buffering=1) as log, contextlib.redirect_stdout(log), \
            contextlib.redirect_stderr(log):
        print(f"=== {_now()} {task['name']}: attempt {task['attempt']} in process {os.getpid()} "
              f"(TF_NUM_INTRAOP_THREADS={os.environ.get('TF_NUM_INTRAOP_THREADS')})")
        try:
            results = _resolve(task["train_fn"])(task["config"], task["workdir"])
            outcome = {"ok": True, "results": {k: (results or {}).get(k) for k in BRIEF_KEYS}}
        except Exception as error:  # noqa: BLE001 - one run's failure must not stop the sweep
            traceback.print_exc()
            message = " ".join(f"{type(error).__name__}: {error}".split())
            outcome = {"ok": False, "error": message, "retryable": not is_user_error(error)}
        finally:
            if "keras" in sys.modules:  # a reused worker starts the next run from a clean session
                with contextlib.suppress(Exception):
                    sys.modules["keras"].backend.clear_session()
    outcome.update(pid=os.getpid(), seconds=time.time() - start)
    return outcome


# ----------------------------------------------------------------------------------------------
# Executors


class LocalExecutor:
    """A pool of `workers` spawned processes with `threads` threads each."""

    kind = "local"

    def __init__(self, workers, threads, log_path):
        n = cores()
        self.workers = workers or n
        self.threads = threads or max(1, n // self.workers)
        self._args = (thread_env(self.threads), log_path, os.getpid())
        self._pool = None
        self.recover()

    def recover(self):
        """(Re)build the pool (after a worker process died)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        import multiprocessing

        self._pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_local_worker, initargs=self._args)

    def submit(self, task):
        return self._pool.submit(run_task, task)

    def close(self, cancel=False):
        self._pool.shutdown(wait=not cancel, cancel_futures=cancel)


def _ray_token_available():
    """Whether Ray would find an authentication token (its env variables or ~/.ray/auth_token)."""
    return bool(os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")
                or os.path.exists(os.path.expanduser(os.path.join("~", ".ray", "auth_token"))))


class RayExecutor:
    """Ray tasks on the cluster at `address`, or on an embedded local Ray when `address` is empty."""

    kind = "ray"

    def __init__(self, workers, threads, address=None):
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if address and "RAY_AUTH_MODE" not in os.environ and _ray_token_available():
            # `ray start` enables token authentication when a token exists (~/.ray/auth_token, which
            # any local `ray.init()` creates), but a driver with RAY_AUTH_MODE unset does not send it
            # (Ray 2.60) and cannot connect. A token sent to a cluster without authentication is
            # ignored, so send it whenever there is one.
            os.environ["RAY_AUTH_MODE"] = "token"
        try:
            import ray
        except ImportError:
            raise SweepError("--executor=ray needs Ray: pip install ray") from None
        self._ray = ray
        options = dict(log_to_driver=False, logging_level="warning")
        try:
            if address:
                ray.init(address=address, **options)
            else:
                ray.init(address="local", num_cpus=cores(), include_dashboard=False, **options)
        except (ConnectionError, RuntimeError, ValueError) as error:
            what = f"--ray_address={address!r}: cannot connect to Ray" if address else "cannot start a local Ray"
            raise SweepError(f"{what} ({' '.join(str(error).split())[:200]})") from None
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.workers = workers or max(1, cpus // (threads or 1))
        self.threads = threads or max(1, cpus // self.workers)
        if self.threads > cpus:
            ray.shutdown()
            raise SweepError(f"--threads={self.threads}: the Ray cluster has only {cpus} CPUs")
        self._remote = ray.remote(run_task).options(
            num_cpus=self.threads, max_retries=0, runtime_env={"env_vars": thread_env(self.threads)})

    def recover(self):
        pass  # Ray replaces dead workers itself

    def submit(self, task):
        return self._remote.remote(task).future()

    def close(self, cancel=False):
        self._ray.shutdown()


# ----------------------------------------------------------------------------------------------
# The sweep


def _duration(seconds):
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
            f.write(json.dumps({"time": _now(), "event": kind, **fields}) + "\n")

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
        print(f"[sweep {_duration(now - self.start)}] done {done}/{self.total} "
              f"(skipped {self.skipped}), running {len(inflight)}, failed {len(self.failures)}, "
              f"pending {len(pending)}, ETA {_duration(self.eta(pending, inflight))}", flush=True)


def _precheck(run, path):
    """'finished', 'todo', or the one-line error that makes the run impossible (not retried)."""
    from lazyfeat_tf import config as config_lib
    from lazyfeat_tf import train

    try:
        config_lib.validate(run.config)
        rundir.RunDir(path).check_compatible(train.resolved_config(run.config))
    except ValueError as error:
        return " ".join(f"{type(error).__name__}: {error}".split())
    return "finished" if rundir.RunDir(path).finished else "todo"


@contextlib.contextmanager
def _lock(workdir):
    path = os.path.join(workdir, ".sweep.lock")
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            raise SweepError(f"--workdir={workdir!r} is in use by another sweep ({f.read().strip()}); "
                             "wait for it or choose another --workdir") from None
        f.truncate(0)
        f.write(f"pid {os.getpid()}")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def run_sweep(config, points, workdir, executor="local", workers=None, threads=None,
              ray_address=None, max_retries=2, progress_every=30.0, train_fn=DEFAULT_TRAIN_FN,
              config_file=None):
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

    Returns:
        A summary dict: total, trained, skipped, failed, failures {name: {...}}, wall_time, ...
    Raises:
        SweepError before any work for a bad grid, executor or workdir.
    """
    if executor not in EXECUTORS:
        raise SweepError(f"--executor={executor!r}: must be one of {', '.join(EXECUTORS)}")
    for flag, value in (("workers", workers), ("threads", threads)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise SweepError(f"--{flag}={value!r}: must be a positive integer")
    if not isinstance(max_retries, int) or max_retries < 0:
        raise SweepError(f"--max_retries={max_retries!r}: must be an integer >= 0")
    if executor == "local" and ray_address:
        raise SweepError(f"--ray_address={ray_address!r} needs --executor=ray")
    runs = expand(config, points)
    workdir = os.path.abspath(workdir)
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise SweepError(f"--workdir={workdir!r} exists and is not a directory")
    os.makedirs(os.path.join(workdir, "logs"), exist_ok=True)
    with _lock(workdir):
        return _sweep(runs, workdir, executor, workers, threads, ray_address, max_retries,
                      progress_every, train_fn, config, config_file)


def _sweep(runs, workdir, executor_kind, workers, threads, ray_address, max_retries, progress_every,
           train_fn, config, config_file):
    run_path = {run.name: os.path.join(workdir, "runs", run.name) for run in runs}
    if executor_kind == "local":
        executor = LocalExecutor(workers, threads, os.path.join(workdir, "logs", "workers.log"))
    else:
        executor = RayExecutor(workers, threads, ray_address)
    status = _Status(workdir, len(runs), executor.workers, progress_every)
    rundir.atomic_write_json(os.path.join(workdir, "sweep.json"), {
        "config_file": config_file, "base_config": json.loads(config.to_json_best_effort()),
        "points": [{"name": r.name, "overrides": r.overrides} for r in runs],
        "executor": executor_kind, "ray_address": ray_address, "workers": executor.workers,
        "threads": executor.threads, "max_retries": max_retries, "started": _now(),
    })
    status.event("sweep_start", total=len(runs), executor=executor_kind, workers=executor.workers,
                 threads=executor.threads)
    print(f"sweep of {len(runs)} runs into {workdir}/runs: {executor_kind} executor, "
          f"{executor.workers} workers x {executor.threads} threads", flush=True)

    pending = collections.deque()
    for run in runs:
        check = _precheck(run, run_path[run.name])
        if check == "finished":
            status.skipped += 1
        elif check == "todo":
            pending.append(run)
        else:
            status.fail(run, 0, {"error": check, "retryable": False})
    status.write_failures()
    attempts = collections.Counter()
    inflight = {}  # future -> (run, submit time)

    def handle(run, started, outcome):
        if outcome["ok"]:
            status.trained += 1
            status.durations.append(time.time() - started)
            status.event("finished", run=run.name, attempt=attempts[run.name], **outcome["results"])
        elif outcome.get("retryable", True) and attempts[run.name] <= max_retries:
            status.event("retry", run=run.name, attempt=attempts[run.name], error=outcome["error"])
            print(f"[sweep] {run.name} failed (attempt {attempts[run.name]}), will retry: "
                  f"{outcome['error'][:300]}", flush=True)
            pending.append(run)
        else:
            status.fail(run, attempts[run.name], outcome)
            print(f"[sweep] {run.name} FAILED after {attempts[run.name]} attempt(s): "
                  f"{outcome['error'][:300]}", flush=True)

    changed = True
    try:
        while pending or inflight:
            while pending and len(inflight) < executor.workers:
                run = pending.popleft()
                attempts[run.name] += 1
                task = {"name": run.name, "config": run.config, "workdir": run_path[run.name],
                        "log": os.path.join(workdir, "logs", f"{run.name}.log"),
                        "attempt": attempts[run.name], "train_fn": train_fn}
                inflight[executor.submit(task)] = (run, time.time())
                status.event("started", run=run.name, attempt=attempts[run.name])
            status.progress(pending, inflight, force=changed)
            done, _ = concurrent.futures.wait(list(inflight), timeout=progress_every,
                                              return_when=concurrent.futures.FIRST_COMPLETED)
            died = False
            for future in done:
                run, started = inflight.pop(future)
                try:
                    outcome = future.result()
                except Exception as error:  # noqa: BLE001 - the worker process died
                    died = True
                    outcome = {"ok": False, "retryable": True,
                               "error": " ".join(f"worker died: {type(error).__name__}: {error}".split())}
                handle(run, started, outcome)
            if died and executor.kind == "local":
                # A dead worker breaks the whole pool: every run in flight fails with it.
                for future in list(inflight):
                    run, started = inflight.pop(future)
                    with contextlib.suppress(Exception):
                        future.result(timeout=60)
                    handle(run, started, {"ok": False, "retryable": True,
                                          "error": "worker died: the process pool broke while this run was in it"})
                executor.recover()
            changed = bool(done)
    except BaseException as error:  # Ctrl-C (or a bug): stop the workers, keep what is finished
        status.event("interrupted", running=[run.name for run, _ in inflight.values()],
                     error=" ".join(f"{type(error).__name__}: {error}".split()))
        executor.close(cancel=True)
        raise
    status.progress(pending, inflight, force=True)
    executor.close()

    wall = time.time() - status.start
    summary = {"workdir": workdir, "total": len(runs), "trained": status.trained, "skipped": status.skipped,
               "failed": len(status.failures), "failures": status.failures, "wall_time": wall,
               "executor": executor_kind, "workers": executor.workers, "threads": executor.threads}
    status.write_failures()
    status.event("sweep_end", **{k: summary[k] for k in ("total", "trained", "skipped", "failed", "wall_time")})
    print(format_summary(summary), flush=True)
    return summary


def format_summary(summary):
    """The lines printed at the end of a sweep."""
    lines = [f"sweep done in {_duration(summary['wall_time'])}: {summary['total']} runs, "
             f"{summary['trained']} trained, {summary['skipped']} already finished, "
             f"{summary['failed']} failed"]
    for name, failure in summary["failures"].items():
        lines.append(f"  FAILED {name} ({failure['attempts']} attempt(s)): {failure['error'][:300]}")
    if summary["failures"]:
        lines.append(f"  details: {summary['workdir']}/failures.json and {summary['workdir']}/logs/")
    lines.append(f"runs: {summary['workdir']}/runs   report: python -m launch.report "
                 f"--workdir={summary['workdir']}")
    return "\n".join(lines)
