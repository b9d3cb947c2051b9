"""One training run end to end: config -> spec -> data -> model -> dynamics -> records -> results.

`train_and_evaluate(config, workdir)` is what `python -m launch.train` and the notebooks call. It
resolves the config into its `RunSpec` (every check) before any work, resumes from the workdir's
checkpoint when there is one, does not redo a finished run, and writes the files listed in `lazyfeat_tf.rundir`.
"""

import math
import os
import time

import numpy as np
import tensorflow as tf

from lazyfeat_tf import accelerators, data, dynamics, losses, models, ntk, rundir, stochastic
from lazyfeat_tf import config as config_lib
from lazyfeat_tf.tb_plugin import summary as drift_summary

EVAL_CHUNK = 4096
FLOAT32_ALPHA_NOTE = 100.0
"""From this alpha on, a float32 run prints a note: F = alpha (f - f0) carries round-off of about
alpha * 1e-7, which the step control of the gradient flow sees (README, Precision)."""


def make_trainer(d, system, seed):
    """`dynamics.GradientFlow` or `stochastic.MinibatchTrainer` as the `config.DynamicsSpec` `d`
    says; `seed` orders the minibatches."""
    budgets = dict(max_steps=d.max_steps, max_time=d.max_time, jit_compile=d.jit_compile)
    if d.kind == "gradient_flow":
        return dynamics.GradientFlow(system, max_dout=d.max_dout, max_dgrad=d.max_dgrad, tau=d.tau,
                                     dt0=d.dt0, **budgets)
    return stochastic.MinibatchTrainer(system, kind=d.kind, learning_rate=d.learning_rate,
                                       momentum=d.momentum, batch_size=d.batch_size, seed=seed,
                                       **budgets)


class Evaluator:
    """Measurements of a `NetworkSystem` at its current parameters: outputs, losses, weights."""

    def __init__(self, system, x_test, y_test):
        self.system = system
        self.x_test = tf.constant(x_test, system.dtype)
        self.y_test = tf.constant(y_test, system.dtype)
        self.f0_test = self._chunked(system.initial_raw_output, self.x_test)
        self._outputs = tf.function(
            lambda x, f0: system.outputs([tf.convert_to_tensor(p) for p in system.params], x, f0),
            autograph=False,
        )

    @staticmethod
    def _chunked(fn, *arrays):
        n = int(arrays[0].shape[0])
        return tf.concat([fn(*(a[i:i + EVAL_CHUNK] for a in arrays)) for i in range(0, max(n, 1), EVAL_CHUNK)], 0)

    def test_outputs(self):
        """F `[n_test]` at the current parameters."""
        return self._chunked(self._outputs, self.x_test, self.f0_test)

    def weight_changes(self):
        """||w - w0|| / ||w0|| in total and per layer (dict layer name -> float)."""
        parts = self.system.parts
        pairs = {}
        trained = [layer for layer in parts.trunk.layers if layer.trainable_weights]
        frozen = {layer.name: layer for layer in parts.trunk0.layers}
        for layer in trained:
            pairs[layer.name] = list(zip(layer.trainable_weights, frozen[layer.name].weights))
        pairs[parts.readout.name] = [(parts.readout.kernel, parts.readout.kernel0)]
        diffs, norms = {}, {}
        for name, weights in pairs.items():
            diffs[name] = sum(float(np.sum((w.numpy() - w0.numpy()) ** 2)) for w, w0 in weights)
            norms[name] = sum(float(np.sum(w0.numpy() ** 2)) for _, w0 in weights)
        total = math.sqrt(sum(diffs.values()) / sum(norms.values()))
        return total, {name: math.sqrt(diffs[name] / norms[name]) for name in pairs}

    def record(self, state, train_outputs, wall_time):
        """The metrics of one checkpoint as a JSON-serializable dict."""
        s = self.system
        test_outputs = self.test_outputs()
        total, layers = self.weight_changes()
        margins = train_outputs * s.y.numpy()
        return {
            "step": state.step,
            "t": state.t,
            "dt": state.dt,
            "rejected": state.rejected,
            "wall_time": wall_time,
            "train_loss": state.loss,
            "train_loss_unscaled": state.loss * s.alpha**2,
            "train_error": float(losses.error_rate(train_outputs, s.y.numpy())),
            "min_margin": float(margins.min()),
            "unsatisfied": int(np.sum(margins < 1.0)),
            "test_loss": float(s.loss(test_outputs, self.y_test)),
            "test_error": float(losses.error_rate(test_outputs, self.y_test)),
            "relative_weight_change": total,
            "relative_weight_change_layers": layers,
        }


def _write_scalars(writer, record):
    with writer.as_default(step=record["step"]):
        for key, value in record.items():
            if key == "step" or key.startswith("kernel_") or not isinstance(value, (int, float)):
                continue  # kernel metrics are written by the kernel-drift plugin's writer
            split, _, name = key.partition("_")
            tag = f"{split}/{name}" if split in ("train", "test") else f"dynamics/{key}"
            tf.summary.scalar(tag, value)
        for layer, value in record["relative_weight_change_layers"].items():
            tf.summary.scalar(f"weights/relative_change/{layer}", value)
    writer.flush()


class _Progress:
    """Progress lines on stdout, at most one every `every` seconds (records always print)."""

    def __init__(self, n_train, max_steps, every=2.0):
        self.n_train, self.max_steps, self.every = n_train, max_steps, every
        self.last = -math.inf

    def __call__(self, state, wall_time, unsatisfied=None, force=False):
        now = time.time()
        if not force and now - self.last < self.every:
            return
        self.last = now
        rate = state.step / wall_time if wall_time > 0 else 0.0
        unsat = f" unsatisfied={unsatisfied}/{self.n_train}" if unsatisfied is not None else ""
        speed = f", {rate:.0f} steps/s" if wall_time >= self.every else ""
        if wall_time >= self.every and rate > 0:  # the run stops earlier if it converges
            speed += f", <= {(self.max_steps - state.step) / rate:.0f}s to the step budget"
        print(
            f"step {state.step:>7d}  t={state.t:.3e}  loss={state.loss:.3e}  dt={state.dt:.2e}  "
            f"rejected={state.rejected}{unsat}  [{wall_time:.0f}s{speed}]",
            flush=True,
        )


def _checkpointed_variables(model, trainer, observer):
    """Every variable a resumed run needs, by checkpoint key."""
    named = {f"model/{i}": v for i, v in enumerate(model.variables)}
    named.update({f"trainer/{k}": v for k, v in trainer.variables().items()})
    if observer is not None:
        named.update({f"observer/{k}": v for k, v in observer.variables().items()})
    return named


def _save_model(model, path):
    tmp = path.replace(".keras", f".tmp-{os.getpid()}.keras")
    model.save(tmp)
    os.replace(tmp, path)


def train_and_evaluate(config, workdir, strategy=None):
    """Train the network of `config`, writing the run directory `workdir`; returns results.

    Args:
        config: a ConfigDict from `config.base_config()` (resolved here) or its `config.RunSpec`.
        workdir: the run directory (created; resumed if it holds this run).
        strategy: a `tf.distribute.Strategy`; default `accelerators.select_strategy` of the
            spec's `distribute` and `dtype`. The model, the trainer and the kernel measurements are
            built in its scope.

    Raises `config.ConfigError`, `config.DataError` or `rundir.WorkdirError` (one-line messages)
    before any file is written when the config, the accelerator, the data or the workdir is unusable.
    """
    spec = config if isinstance(config, config_lib.RunSpec) else config_lib.resolve(config)
    run = rundir.RunDir(workdir)
    run.check_compatible(spec.to_json())
    if run.finished:
        print(f"{run.path} holds a finished run; results: {run.file('results.json')}", flush=True)
        return run.read_results()
    if strategy is None:
        strategy = accelerators.select_strategy(spec.distribute, spec.dtype)
    else:
        accelerators.check_dtype(strategy, spec.dtype)
    with accelerators.scope(strategy):
        return _train(spec, run, strategy)


def _train(spec, run, strategy):
    """The body of `train_and_evaluate` once the inputs are checked (inside the strategy's scope)."""
    task = data.load_task(spec.data, spec.dtype)
    start = time.time()  # wall time counts everything after data loading
    run.start(spec.to_json())
    if spec.dtype == "float32" and spec.alpha >= FLOAT32_ALPHA_NOTE:
        print(f"note: alpha = {spec.alpha:.3g} in float32: the outputs carry round-off of about alpha * 1e-7, "
              "which can multiply the gradient-flow steps (README, Precision); --config.dtype=float64 avoids it",
              flush=True)

    model = models.build_run_model(spec, task.input_shape)
    system = accelerators.make_system(model, task.x_train, task.y_train, spec.loss.name,
                                      spec.loss.soft_hinge_beta, strategy=strategy,
                                      jit_compile=spec.dynamics.jit_compile)
    trainer = make_trainer(spec.dynamics, system, spec.seed)
    evaluator = Evaluator(system, task.x_test, task.y_test)
    observer = (ntk.KernelObserver(model, task, spec.kernels, ntk.predictor_options(spec))
                if spec.kernels.track else None)  # before any restore: Theta_0 is at init
    checkpointed = _checkpointed_variables(model, trainer, observer)
    writer = tf.summary.create_file_writer(run.file("tb"))
    with writer.as_default(step=0):
        drift_summary.write_run_metadata(alpha=spec.alpha, alpha_sqrt_h=spec.alpha_sqrt_h,
                                         width=spec.width, seed=spec.seed)
    grid = dynamics.record_steps(spec.dynamics.max_steps, spec.dynamics.num_records)
    progress = _Progress(len(task.y_train), spec.dynamics.max_steps)

    checkpoint = run.load_checkpoint()
    wall_before = 0.0
    run.truncate_metrics(-1 if checkpoint is None else checkpoint[1]["step"])  # drop records past it
    if checkpoint is not None:
        arrays, loop_state = checkpoint
        for key, variable in checkpointed.items():
            variable.assign(arrays[key])
        wall_before = loop_state["wall_time"]
        print(f"resuming {run.path} at step {loop_state['step']}", flush=True)

    def wall_time():
        return wall_before + time.time() - start

    def record(state):
        train_outputs = trainer.outputs.numpy()
        entry = evaluator.record(state, train_outputs, wall_time())
        if observer is not None:
            flat, drift = observer.measure(state.t, train_outputs)
            entry.update(flat)
            with writer.as_default():
                drift_summary.write_drift_record(drift, step=state.step)
        run.append_metrics(entry)
        _write_scalars(writer, entry)
        progress(state, entry["wall_time"], entry["unsatisfied"], force=True)
        return entry

    last_checkpoint = -math.inf

    def save_checkpoint(state, force=False):
        nonlocal last_checkpoint
        if force or time.time() - last_checkpoint >= spec.checkpoint_every_secs:
            arrays = {key: variable.numpy() for key, variable in checkpointed.items()}
            run.save_checkpoint(arrays, {"step": state.step, "wall_time": wall_time()})
            last_checkpoint = time.time()

    state = trainer.state()
    if checkpoint is None:
        last_record = record(state)
        save_checkpoint(state, force=True)
    else:
        last_record = (run.read_metrics() or [None])[-1]
    status = state.status
    max_wall = spec.dynamics.max_wall_time
    while status == "running":
        if max_wall and wall_time() >= max_wall:
            status = "max_wall_time"
            break
        later = grid[grid > state.step]
        target = int(later[0]) if len(later) else spec.dynamics.max_steps
        state = trainer.advance(target)
        status = state.status
        if state.step >= target or status != "running":
            last_record = record(state)
            save_checkpoint(state, force=status != "running")
        else:
            progress(state, wall_time())
    if last_record is None or last_record["step"] != state.step:
        last_record = record(state)
    save_checkpoint(state, force=True)

    train_outputs = trainer.outputs.numpy()
    test_outputs = evaluator.test_outputs().numpy()
    kernel_results = {}
    if observer is not None:
        kernel_results, kernel_arrays = observer.finish()
        if kernel_arrays:
            rundir.atomic_write_npz(run.file("kernels.npz"), kernel_arrays)
    results = {
        **{k: last_record[k] for k in ("train_error", "test_error", "train_loss", "test_loss", "t",
                                       "relative_weight_change", "relative_weight_change_layers",
                                       "min_margin")},
        "converged": status == "converged",
        "status": status,
        "steps": state.step,
        "rejected_steps": state.rejected,
        "t1": state.t1 if state.t1 >= 0 else None,
        "wall_time": wall_time(),
        "alpha": spec.alpha,
        "alpha_sqrt_h": spec.alpha_sqrt_h,
        "width": spec.width,
        "seed": spec.seed,
        "n_params": int(sum(np.prod(p.shape) for p in system.params)),
        "accelerator": accelerators.kind_of(strategy),
        "replicas": strategy.num_replicas_in_sync,
        "kernel_drift_train": last_record.get("kernel_drift_train"),
        "kernel_drift_test": last_record.get("kernel_drift_test"),
        **kernel_results,
    }
    _save_model(model, run.file("model.keras"))
    run.write_results(results, {"train_outputs": train_outputs, "train_labels": task.y_train,
                                "test_outputs": test_outputs, "test_labels": task.y_test})
    writer.close()
    print(
        f"finished ({status}) after {state.step} steps, t={state.t:.3e}: train error "
        f"{results['train_error']:.4f}, test error {results['test_error']:.4f}, "
        f"||w-w0||/||w0|| = {results['relative_weight_change']:.3e}; results in {run.file('results.json')}",
        flush=True,
    )
    return results
