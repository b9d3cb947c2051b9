"""One training run end to end: config -> spec -> data -> model -> dynamics -> records -> results.

`train_and_evaluate(config, workdir)` is what `python -m launch.train` and the notebooks call. It
resolves the config into its `RunSpec` (every check) before any work, resumes from the workdir's
checkpoint when there is one, does not redo a finished run, and writes the files listed in
`lazyfeat_tf.rundir`.
"""

import collections
import os
import time

import numpy as np
import tensorflow as tf

from lazyfeat_tf import accelerators, data, dynamics, models, ntk, preflight, records, rundir, stochastic
from lazyfeat_tf import results as results_lib
from lazyfeat_tf.tb_plugin import summary as drift_summary

FLOAT32_ALPHA_NOTE = 100.0
"""From this alpha on, a float32 run prints a note: F = alpha (f - f0) carries round-off of about
alpha * 1e-7, which the step control of the gradient flow sees (README, Precision)."""


def make_trainer(d, system, seed, alpha_sqrt_h):
    """`dynamics.GradientFlow` or `stochastic.MinibatchTrainer` as the `config.DynamicsSpec` `d`
    says; `seed` orders the minibatches; `alpha_sqrt_h` (the run's) sets the minibatch step when
    `d.step_crossover` > 0 (`stochastic.step_rule`)."""
    budgets = dict(max_steps=d.max_steps, max_time=d.max_time, jit_compile=d.jit_compile)
    if d.kind == "gradient_flow":
        return dynamics.GradientFlow(system, max_dout=d.max_dout, max_dgrad=d.max_dgrad, tau=d.tau,
                                     dt0=d.dt0, cross_kinks=d.cross_kinks, **budgets)
    return stochastic.MinibatchTrainer(system, kind=d.kind, learning_rate=d.learning_rate,
                                       momentum=d.momentum, batch_size=d.batch_size,
                                       crossover=d.step_crossover, alpha_sqrt_h=alpha_sqrt_h, seed=seed,
                                       **budgets)


def _stalls_on_kinks(spec):
    """Whether the run of `spec` is a gradient flow of a ReLU network without `dynamics.cross_kinks`
    (its feature regime stalls on the kinks)."""
    return (spec.model.activation == "relu" and spec.dynamics.kind == "gradient_flow"
            and not spec.dynamics.cross_kinks)


def _checkpointed_variables(model, trainer, observer):
    """Every variable a resumed run needs, by checkpoint key."""
    named = {f"model/{i}": v for i, v in enumerate(model.variables)}
    named.update({f"trainer/{k}": v for k, v in trainer.variables().items()})
    if observer is not None:
        named.update({f"observer/{k}": v for k, v in observer.variables().items()})
    return named


def _save_model(model, path):
    tmp = path.replace(".keras", f".tmp-{os.getpid()}.keras")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def train_and_evaluate(config, workdir, strategy=None):
    """Train the network of `config`, writing the run directory `workdir`; returns results.

    Args:
        config: a ConfigDict from `config.base_config()` (resolved here) or its `config.RunSpec`.
        workdir: the run directory (created; resumed if it holds this run).
        strategy: a `tf.distribute.Strategy`; default `accelerators.select_strategy` of the
            spec's `distribute` and `dtype`. The model, the trainer and the kernel measurements are
            built in its scope.

    Raises `config.ConfigError`, `config.DataError` or `rundir.WorkdirError` (one-line messages)
    before any file is written when the config, the accelerator, the data, the workdir or the
    machine's memory cannot run it (`preflight.check_run`).
    """
    spec = preflight.check_run(config, workdir)
    run = rundir.RunDir(workdir)
    if _finished(run):
        return run.read_results()
    if strategy is None:
        strategy = accelerators.select_strategy(spec.distribute, spec.dtype)
    else:
        accelerators.check_dtype(strategy, spec.dtype)
    with accelerators.scope(strategy):
        task = data.load_task(spec.data, spec.dtype)
        with run.lock():  # one process at a time; it may have finished the run meanwhile
            if _finished(run):
                return run.read_results()
            try:
                return Training(spec, task, run, strategy).run()
            except OSError as error:  # a full disk, a file system gone read-only, ...
                raise rundir.WorkdirError(
                    f"--workdir={run.path!r}: writing failed ({' '.join(str(error).split())}); free space or "
                    "fix the file system, then run the same command again to resume") from None


def _finished(run):
    """Whether `run` is finished (saying so); a results.json that does not parse is written again."""
    if run.finished:
        print(f"{run.path} holds a finished run; results: {run.file('results.json')}", flush=True)
        return True
    if os.path.exists(run.file("results.json")):
        print(f"{run.file('results.json')} does not parse: resuming the run to write it again", flush=True)
    return False


class Training:
    """One run once its inputs are checked: the network, its trainer and its measurements, built
    inside the strategy's scope, and the loop that records, checkpoints and finishes it."""

    def __init__(self, spec, task, run, strategy):
        self.spec, self.task, self.run_dir, self.strategy = spec, task, run, strategy
        self.start = time.time()  # wall time counts everything after data loading
        self.wall_before = 0.0
        run.start(spec.to_json())
        if spec.dtype == "float32" and spec.alpha >= FLOAT32_ALPHA_NOTE:
            print(f"note: alpha = {spec.alpha:.3g} in float32: the outputs carry round-off of about alpha * 1e-7, "
                  "which can multiply the gradient-flow steps (README, Precision); --config.dtype=float64 avoids it",
                  flush=True)
        self.model = models.build_run_model(spec, task.input_shape)
        self.system = accelerators.make_system(self.model, task.x_train, task.y_train, spec.loss.name,
                                               spec.loss.soft_hinge_beta, strategy=strategy,
                                               jit_compile=spec.dynamics.jit_compile)
        self.trainer = make_trainer(spec.dynamics, self.system, spec.seed, spec.alpha_sqrt_h)
        self.evaluator = records.Evaluator(self.system, task.x_test, task.y_test,
                                           task.x_train[:spec.kernels.n_probe_train])
        self.observer = (ntk.KernelObserver(self.model, task, spec.kernels, ntk.predictor_options(spec),
                                            initial_loss=self.trainer.state().loss * spec.alpha**2)
                         if spec.kernels.track else None)  # before any restore: Theta_0 is at init
        self.checkpointed = _checkpointed_variables(self.model, self.trainer, self.observer)
        self.checkpoint = run.load_checkpoint(keys=self.checkpointed)  # before writing anything
        self.writer = tf.summary.create_file_writer(run.file("tb"))
        with self.writer.as_default(step=0):
            drift_summary.write_run_metadata(alpha=spec.alpha, alpha_sqrt_h=spec.alpha_sqrt_h,
                                             width=spec.width, seed=spec.seed)
        self.progress = records.Progress(len(task.y_train), spec.dynamics.max_steps)
        self.last_checkpoint = time.time()  # the first checkpoint comes checkpoint_every_secs later
        self.checkpoint_step = None  # the step of the last checkpoint saved or restored
        self.pending = collections.deque()  # the records not written yet, oldest first (`write_pending`)

    def wall_time(self):
        """Seconds of training so far, over every session of a resumed run."""
        return self.wall_before + time.time() - self.start

    def record(self, state):
        """Measure and print; returns the record. It goes to metrics.jsonl and TensorBoard at once
        without kernel tracking; with it, the kernel measurements run beside the network's next
        stretches of training (`ntk.KernelObserver.start`), and the record is written with them
        once they are done, at a later record, or at the next checkpoint (`write_pending`): every
        checkpoint follows the record of its step. The earlier records are written before this one
        starts its measurements: writing (eager TensorBoard ops) beside them slows both."""
        self.write_pending(wait=False)
        train_outputs = self.trainer.outputs.numpy()
        entry = self.evaluator.record(state, train_outputs, self.wall_time())
        self.progress(state, entry["wall_time"], entry["unsatisfied"], force=True)
        self.pending.append(entry)
        if self.observer is not None:
            self.observer.start(state, train_outputs)
        else:
            self.write_pending()
        return entry

    def write_pending(self, wait=True):
        """Append the records not written yet to metrics.jsonl and TensorBoard, in order, with their
        kernel measurements: all of them (waiting for the measurements still running), or with
        `wait=False` those up to the first whose measurements are still running."""
        while self.pending and (wait or self.observer is None or self.observer.ready()):
            entry = self.pending.popleft()
            if self.observer is not None:
                flat, drift = self.observer.collect()
                entry.update(flat)
                with self.writer.as_default():
                    drift_summary.write_drift_record(drift, step=entry["step"])
            self.run_dir.append_metrics(entry)
            records.write_scalars(self.writer, entry)

    def save_checkpoint(self, state, force=False):
        """Checkpoint at most every `checkpoint_every_secs` (always when `force`), once per step."""
        if state.step == self.checkpoint_step:
            return
        if force or time.time() - self.last_checkpoint >= self.spec.checkpoint_every_secs:
            self.write_pending()  # the record of the checkpoint's step; the kernel measurements at rest
            arrays = {key: variable.numpy() for key, variable in self.checkpointed.items()}
            self.run_dir.save_checkpoint(arrays, {"step": state.step, "wall_time": self.wall_time()})
            self.last_checkpoint, self.checkpoint_step = time.time(), state.step

    def restore(self):
        """Resume from the checkpoint if there is one; returns the last record (None if there is none)."""
        checkpoint, records = self.checkpoint, self.run_dir.read_metrics()
        # Every checkpoint follows the record of its step: without it, metrics.jsonl was cut or damaged.
        if checkpoint is not None and not any(r["step"] == checkpoint[1]["step"] for r in records):
            print(f"{self.run_dir.file('metrics.jsonl')} is cut or corrupt before the checkpoint (step "
                  f"{checkpoint[1]['step']}): training the run again from the start", flush=True)
            checkpoint = None
        kept = self.run_dir.truncate_metrics(records, -1 if checkpoint is None else checkpoint[1]["step"])
        if checkpoint is None:  # not checkpointed: step 0 holds nothing that a new start does not make
            return self.record(self.trainer.state())
        arrays, loop_state = checkpoint
        for key, variable in self.checkpointed.items():
            variable.assign(arrays[key])
        self.wall_before, self.checkpoint_step = loop_state["wall_time"], loop_state["step"]
        print(f"resuming {self.run_dir.path} at step {loop_state['step']}", flush=True)
        return kept[-1]

    def train(self, last_record):
        """Advance from record step to record step until the run stops; returns (state, status,
        the record of the final state)."""
        d = self.spec.dynamics
        grid = dynamics.record_steps(d.max_steps, d.num_records)
        state = self.trainer.state()
        status = state.status
        while status == "running":
            if d.max_wall_time and self.wall_time() >= d.max_wall_time:
                status = "max_wall_time"
                break
            later = grid[grid > state.step]
            target = int(later[0]) if len(later) else d.max_steps
            state = self.trainer.advance(target)
            status = state.status
            if state.step >= target or status != "running":
                last_record = self.record(state)
                self.save_checkpoint(state, force=status != "running")
            else:
                self.progress(state, self.wall_time())
        if last_record is None or last_record["step"] != state.step:
            last_record = self.record(state)
        self.save_checkpoint(state, force=True)
        return state, status, last_record

    def run(self):
        """Train (or resume) to the end and write the final files; returns the results."""
        state, status, last_record = self.train(self.restore())
        kernel_results = {}
        if self.observer is not None:
            kernel_results, kernel_arrays = self.observer.finish(state)
            if kernel_arrays:
                rundir.atomic_write_npz(self.run_dir.file("kernels.npz"), kernel_arrays)
        results = self.results(state, status, last_record, kernel_results)
        _save_model(self.model, self.run_dir.file("model.keras"))
        task = self.task
        self.run_dir.write_results(results, {
            "train_outputs": self.trainer.outputs.numpy(), "train_labels": task.y_train,
            "test_outputs": self.evaluator.test_outputs().numpy(), "test_labels": task.y_test})
        self.writer.close()
        shown = {key: "n/a" if results[key] is None else format(results[key], spec)
                 for key, spec in (("train_error", ".4f"), ("test_error", ".4f"), ("relative_weight_change", ".3e"))}
        print(f"finished ({status}) after {state.step} steps, t={state.t:.3e}: train error {shown['train_error']}, "
              f"test error {shown['test_error']}, ||w-w0||/||w0|| = {shown['relative_weight_change']}; "
              f"results in {self.run_dir.file('results.json')}", flush=True)
        if status == "stalled" and _stalls_on_kinks(self.spec):
            print("note: the flow stalled on the kinks of ReLU; --config.dynamics.cross_kinks=True lets it cross "
                  "them (lazyfeat_tf.dynamics, rule 4)", flush=True)
        return results

    def results(self, state, status, last_record, kernel_results):
        """The content of results.json (non-finite numbers as None, the network's for a diverged run)."""
        spec, strategy = self.spec, self.strategy
        results = {
            **{k: last_record[k] for k in ("train_error", "test_error", "train_loss", "test_loss", "t",
                                           "relative_weight_change", "relative_weight_change_layers",
                                           "min_margin")},
            "converged": status == "converged",
            "status": status,
            "steps": state.step,
            "rejected_steps": state.rejected,
            "t1": state.t1 if state.t1 >= 0 else None,
            "wall_time": self.wall_time(),
            "alpha": spec.alpha,
            "alpha_sqrt_h": spec.alpha_sqrt_h,
            "width": spec.width,
            "seed": spec.seed,
            "n_params": int(sum(np.prod(p.shape) for p in self.system.params)),
            "accelerator": accelerators.kind_of(strategy),
            "replicas": strategy.num_replicas_in_sync,
            "kernel_drift_train": last_record.get("kernel_drift_train"),
            "kernel_drift_test": last_record.get("kernel_drift_test"),
            **kernel_results,
        }
        if status == results_lib.DIVERGED:
            results.update({key: None for key in results_lib.NETWORK_FIELDS if key in results})
        return results_lib.make_results(**rundir.finite_or_none(results))
