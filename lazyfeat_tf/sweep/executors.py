"""Where a sweep's runs are trained: a local process pool or Ray, and the task both run.

- `local`: a `concurrent.futures.ProcessPoolExecutor` of `workers` spawned processes (default: one
  per core), each limited to `cores // workers` threads through `TF_NUM_INTEROP_THREADS` (and
  `TF_NUM_INTRAOP_THREADS`: `lazyfeat_tf.cpu_threads`) and `OMP_NUM_THREADS`, set before TensorFlow
  is imported there. Workers are reused between runs. If a worker process dies, the pool is rebuilt
  and the runs it held count one failed attempt each. A worker ends itself within `PARENT_POLL_SECS`
  once the sweep process is gone (Ctrl-C, SIGTERM, kill -9), so no orphan goes on writing a run.
- `ray`: tasks on an existing Ray cluster (`ray_address`) or on an embedded local Ray started for the
  sweep; each task reserves `threads` CPUs and gets the same thread variables through its runtime
  environment. The sweep directory must be on a file system every node sees.

Both run `run_task` (a module-level function: spawned processes and Ray import it by name) and
expose `workers`, `threads`, `submit(task) -> concurrent.futures.Future`, `recover()` and
`close(cancel)`.
"""

import concurrent.futures
import contextlib
import datetime
import gc
import importlib
import os
import signal
import sys
import threading
import time
import traceback

from lazyfeat_tf import compilation_cache, cpu_threads
from lazyfeat_tf.errors import UserError
from lazyfeat_tf.sweep.grid import SweepError

EXECUTORS = ("local", "ray")
BRIEF_KEYS = ("status", "test_error", "train_error", "steps", "wall_time")
PARENT_POLL_SECS = 1.0


# ----------------------------------------------------------------------------------------------
# What runs in the worker processes


def thread_env(threads):
    """Environment variables that keep TensorFlow / OpenMP to `threads` CPUs: TensorFlow's pools
    as `cpu_threads.environment` (an intra-op thread per row block's share of them)."""
    n = str(int(threads))
    return {**cpu_threads.environment(int(threads)), "OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n,
            "OPENBLAS_NUM_THREADS": n,
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
    """The function named by `spec`, "module:function"."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def is_user_error(error):
    """ConfigError / DataError / WorkdirError: the same input fails the same way, not retried."""
    return isinstance(error, UserError)


def now():
    """The local time, to the second, as sweep.jsonl and the run logs write it."""
    return datetime.datetime.now().isoformat(timespec="seconds")


def one_line(error):
    """`Type: message` of an exception on one line (logs, sweep.jsonl, failures.json)."""
    return " ".join(f"{type(error).__name__}: {error}".split())


def run_task(task):
    """Train one point in a worker; never raises: returns an outcome dict.

    `task` holds `name`, `config`, `workdir` (the run directory), `log` (appended to), `attempt` and
    `train_fn` ("module:function" called as fn(config, workdir) -> results dict).
    """
    start = time.time()
    compilation_cache.enable()  # before the worker's first `import tensorflow` (no effect after it)
    os.makedirs(os.path.dirname(task["log"]), exist_ok=True)
    with open(task["log"], "a", buffering=1) as log, contextlib.redirect_stdout(log), \
            contextlib.redirect_stderr(log):
        print(f"=== {now()} {task['name']}: attempt {task['attempt']} in process {os.getpid()} "
              f"(TF_NUM_INTRAOP_THREADS={os.environ.get('TF_NUM_INTRAOP_THREADS')}, "
              f"TF_NUM_INTEROP_THREADS={os.environ.get('TF_NUM_INTEROP_THREADS')})")
        try:
            train_fn = _resolve(task["train_fn"])  # imports TensorFlow in a new worker
            if not gc.get_freeze_count():  # once per worker: its full collections skip TensorFlow's objects
                gc.freeze()
            results = train_fn(task["config"], task["workdir"])
            outcome = {"ok": True, "results": {k: (results or {}).get(k) for k in BRIEF_KEYS}}
        except Exception as error:  # noqa: BLE001 - one run's failure must not stop the sweep
            traceback.print_exc()
            outcome = {"ok": False, "error": one_line(error), "retryable": not is_user_error(error)}
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
        n = cpu_threads.cores()
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
                ray.init(address="local", num_cpus=cpu_threads.cores(), include_dashboard=False, **options)
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
