"""Kernel measurements during a training run (config `kernels.*`).

`KernelObserver` is built at initialization, before any checkpoint is restored, so its Theta_0 is
the kernel of the initial network. At every record of the training loop it adds to the record:

- the drift ||Theta_t - Theta_0||_F / ||Theta_0||_F (total and per layer) on fixed train and test
  probes (the first `n_probe_train` / `n_probe_test` points), the kernel-label alignment, the top
  eigenvalues and the effective rank (`ntk.KernelTracker`);
- `linear_distance`: the RMS distance, on the training points, between the network's F_t and the
  output of the frozen-Theta_0 model (`ntk.FrozenKernelPredictor`) trained to the same physical time t; it
  stays ~0 while the dynamics is linear, so it is a second way to see t1.

With `running_fractions`, at the records where the training loss has dropped by those fractions
(`ntk.running`) it freezes Theta_t on the whole training set and reports the test error of the
predictor trained on it.

At the end, `finish` trains the frozen-kernel predictors on Theta_0 and on the final Theta_T to
convergence and reports their test errors (the article's "init. ker." and "final ker."), and with
`full_drift` the kernel drift on the whole train and test sets (`ntk.full_drift`).

The predictors' test errors come from `kernel_times`: their test outputs Theta(test, train) c from
passes of the network over both sets (a dense net's structured operands; other nets a backward and a
double-backward pass), without the kernel's Gram products.

A record's measurements run beside the network's next stretches of training (`start`, then
`collect` once they are done, at a later record, or at a checkpoint): the probe kernels on a
snapshot of the parameters (`KernelTracker.snapshot`) and the Theta_0 predictor's integration up to
the record's t, each in its thread, record after record; no record waits for the one before. On 2
cores the network's training keeps both busy (its two row blocks, `cpu_threads`): the threads take
CPU time from it, so they hide only part of what they cost.

What it costs the demo run (n = 1000, h = 64, 2 x 128 probes, 41 records, 2 CPU cores), each piece
timed alone (`benchmarks/kernel_tracking.py --parts`, README; alpha*sqrt(h) = 100): at construction
~0.12 s (the Theta_0 predictor's train kernel, the trace of its integrator); beside the training
~0.1 s loading the integrator's XLA program from the persistent cache of
`lazyfeat_tf.compilation_cache` (~0.4 s compiling it), ~0.11 s for the first probe measure (the
trace of the probe kernels, Theta_0), ~3 ms for each later one, ~0.15 s for the Theta_0 predictor's
~2,600 steps, ~0.02 s writing the drift records; at the end ~0.25 s on the way to the final
predictor's test error (Theta_T, its ~2,600 steps, its test outputs) and ~0.14 s beside it (the
Theta_0 predictor's test outputs, the whole-test-set drift): ~1 s in all.

Memory of the predictors: their `[n, n]` train kernels (the Theta_0 predictor's, the final or
running kernel being filled in, and the running predictor's), plus one block of kernel rows at a
time; the `[n_test, n]` test kernel is never computed (`kernel_times`; under a strategy that shards
the kernels, by blocks of rows, `ntk.predictor.KernelRows`).
"""

import collections
import concurrent.futures
import contextlib

import numpy as np
import tensorflow as tf

from lazyfeat_tf import accelerators, losses, models, records
from lazyfeat_tf.ntk import structured
from lazyfeat_tf.ntk.full_drift import full_set_drift, initial_parameters, kernels_change
from lazyfeat_tf.ntk.predictor import FrozenKernelPredictor, KernelRows
from lazyfeat_tf.ntk.running import RunningMoments
from lazyfeat_tf.ntk.tracker import KernelTracker


KERNEL_TIMES_CHUNK = 4096
"""Points per forward/backward pass of `kernel_times` (bounds the memory of one pass)."""


def kernel_times(model, x_rows, x_cols, c, *, initial=False, chunk=KERNEL_TIMES_CHUNK):
    """Theta(x_rows, x_cols) c `[n_rows]` (numpy, the model's dtype) without the kernel.

    With J(x) the Jacobian of the raw output f with respect to the trained parameters (those of
    `ntk.empirical_ntk`), Theta(x_rows, x_cols) c = J(x_rows) v with v = J(x_cols)^T c, the gradient
    of sum_j c_j f(x_cols_j): one backward pass over x_cols, then J(x_rows) v as the gradient with
    respect to r of v . grad_w sum_i r_i f(x_rows_i) (f is linear in r), by chunks of `chunk`
    points. Cost: a few passes of the network over both sets instead of the `[n_rows, n_cols]` Gram
    products; equal to the kernel's product up to round-off.

    A network of dense layers goes through its structured operands instead (`structured.operands`:
    a forward/backward pass over each chunk of both sets, no double backward;
    `_structured_products`): the demo's Theta(test, train) c (1000 x 1000, h = 64) in 30 instead
    of 42 ms (float32; float64 46-53 instead of 68-72 ms; best of 7, one process).

    Args:
        model: a model made by `models.build_model`.
        x_rows `[n_rows, ...]`, x_cols `[n_cols, ...]`: inputs; c: `[n_cols]` coefficients.
        initial: at the initial parameters w0 (`full_drift.initial_parameters`) instead of the
            current ones.
    """
    net = models.parts(model)
    dtype = net.readout.kernel.dtype
    c = tf.convert_to_tensor(c, dtype)
    gradient_of_sum, jacobian_times = (_structured_products(net, dtype) if structured.dense_only(model)
                                       else _autodiff_products(net, dtype))
    with initial_parameters(model) if initial else contextlib.nullcontext():
        v = None
        for start in range(0, len(x_cols), chunk):
            part = gradient_of_sum(x_cols[start:start + chunk], c[start:start + chunk])
            v = part if v is None else [a + b for a, b in zip(v, part)]
        parts = [jacobian_times(x_rows[start:start + chunk], v).numpy() for start in range(0, len(x_rows), chunk)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


def _structured_products(net, dtype):
    """`kernel_times`' (gradient of sum_j c_j f(x_j), J(x) v) for a network of dense layers, from the
    structured operands of the points (`structured.gradient_of_sum`, `structured.jacobian_times`)."""
    def operands(x):
        return structured.operands(net, tf.cast(x, dtype))

    return (lambda x, c: structured.gradient_of_sum(operands(x), c),
            lambda x, v: structured.jacobian_times(operands(x), v))


def _autodiff_products(net, dtype):
    """`kernel_times`' (gradient of sum_j c_j f(x_j), J(x) v) for any network, by autodiff: v as
    parameter gradients, J(x) v as a double backward pass (see `kernel_times`)."""
    params = [v for layer in net.parameter_layers for v in layer.trainable_weights]

    def raw_output(x):
        return net.readout.raw_output(net.trunk(tf.cast(x, dtype)))

    def gradient_of_sum(x, c):
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(c * raw_output(x))
        return [tf.zeros_like(p) if g is None else g for p, g in zip(params, tape.gradient(total, params))]

    def jacobian_times(x, v):
        r = tf.zeros([len(x)], dtype)
        with tf.GradientTape() as outer:
            outer.watch(r)
            with tf.GradientTape() as inner:
                total = tf.reduce_sum(r * raw_output(x))
            grads = inner.gradient(total, params)
            product = tf.add_n([tf.reduce_sum(g * w) for g, w in zip(grads, v) if g is not None])
        return outer.gradient(product, r)

    return gradient_of_sum, jacobian_times


class KernelObserver:
    """Kernel drift and frozen-kernel predictors of one run (see the module docstring).

    Args:
        model: the model at initialization.
        task: the `data.BinaryTask`.
        kernels: the run's `config.KernelsSpec` (probes, spectrum, method, predictors, save,
            full_drift, running_fractions).
        predictor_options: keyword arguments of the frozen-kernel predictors: alpha, the loss and
            the gradient-flow settings (see `predictor_options`).
        initial_loss: alpha^2 L_0, the unscaled training loss at initialization (sets the moments
            of the running-kernel predictors).
    """

    def __init__(self, model, task, kernels, predictor_options, initial_loss):
        self.config = kernels
        self.model = model
        self.task = task
        n_train = min(kernels.n_probe_train, len(task.y_train))
        n_test = min(kernels.n_probe_test, len(task.y_test))
        self.tracker = KernelTracker(
            model, task.x_train[:n_train], task.y_train[:n_train], task.x_test[:n_test],
            task.y_test[:n_test], n_eigenvalues=kernels.n_eigenvalues,
            heatmap_size=kernels.heatmap_size, method=kernels.method,
        )
        self.predictor_options = predictor_options
        net = models.parts(model)  # F(w0) = alpha f0 is the linear models' start when not centred
        self.offsets = None if net.readout.centered else tuple(
            net.initial_function(x).numpy() for x in (task.x_train, task.x_test))
        self.initial = self._predictor(*self._kernels(initial=True)) if kernels.predictors else None
        self.moments = RunningMoments(kernels.running_fractions, initial_loss)
        self.running = self._running_predictor() if kernels.running_fractions else None
        self._records = collections.deque()  # the records `start` began, oldest first, until `collect`
        self._tracking = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="kernel-tracker")
        self._integrating = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="theta0-predictor")

    def _kernels(self, initial=False):
        """(Theta(train, train) `[n, n]` numpy, Theta(test, train) `[n_test, n]` as `KernelRows`) of
        the current network. The train kernel is filled block by block of rows; the test kernel is
        only computed, block by block, when a predictor's test outputs are asked for, at the
        network's parameters of that moment (its initial ones with `initial`): never whole."""
        x_train, x_test, method = self.task.x_train, self.task.x_test, self.config.method
        return (KernelRows(self.model, x_train, x_train, method=method).assemble(),
                KernelRows(self.model, x_test, x_train, method=method, initial=initial))

    def _predictor(self, theta_train, test_kernel):
        """A frozen-kernel predictor of this run (full training set) on the kernels `theta_train`
        `[n, n]` and `test_kernel` (Theta(test, train), as for `FrozenKernelPredictor`)."""
        return FrozenKernelPredictor(theta_train, test_kernel, self.task.y_train, self.task.y_test,
                                     offsets=self.offsets, **self.predictor_options)

    def variables(self):
        """State to checkpoint: the Theta_0 predictor's integrator and coefficients, and the
        running-kernel predictors' results."""
        named = {"running/found": self.moments.found}
        if self.initial is not None:
            named.update({f"initial/{k}": v for k, v in self.initial.flow.variables().items()})
            named["initial/coefficients"] = self.initial.system.params[0]
        return named

    def _running_predictor(self):
        """The running-kernel predictor, made here, in the main thread before the tracker's starts
        (its integrator's program then has the same key in the persistent XLA cache in every
        process, `FrozenKernelPredictor`), on a placeholder kernel of zeros: each moment restarts it
        on Theta_t."""
        n, dtype = len(self.task.y_train), tf.as_dtype(models.parts(self.model).readout.kernel.dtype)
        return self._predictor(np.zeros((n, n), dtype.as_numpy_dtype), ())

    def _running_test_error(self, kernels):
        """Test error of the predictor trained to convergence on `kernels` (NaN if not finite)."""
        if not np.all(np.isfinite(kernels[0])):
            return float("nan")
        self.running.restart_on(*kernels)
        self.running.run_to_convergence()
        return self._test_error(self.running)

    def _test_error(self, predictor, initial=False, coefficients=None):
        """Test error of the trained frozen-kernel `predictor` on the kernel of the network at its
        current parameters (its initial ones with `initial`): its test outputs F0_test + Theta(test,
        train) c through `kernel_times`, without a row of the test kernel (c: `coefficients`
        `[n]`, by default the predictor's); under a strategy that shards the kernels, through the
        predictor's own blocks of kernel rows."""
        if accelerators.is_sharded(tf.distribute.get_strategy()):
            return predictor.test_error()
        c = predictor.coefficients() if coefficients is None else coefficients
        outputs = kernel_times(self.model, self.task.x_test, self.task.x_train, c, initial=initial)
        return losses.finite_error_rate(outputs if self.offsets is None else self.offsets[1] + outputs,
                                        self.task.y_test)

    def _running_moments(self, state, indices, kernels=None):
        """Train the running-kernel predictors of the fractions `indices` at `state` (kernels: the
        current ones if already computed)."""
        if indices:
            error = self._running_test_error(self._kernels() if kernels is None else kernels)
            self.moments.store(indices, state.t, state.step, error)

    def start(self, state, train_outputs):
        """Start the kernel measurements of the record of `state` (a `dynamics.FlowState`; the
        network's train outputs `[n]` at it) and return: they run in threads beside the network's
        next stretches of training (TensorFlow releases the GIL in both) until `collect` asks for
        them. Records may be started before the earlier ones are collected; each thread takes its
        work in order.

        - the probe kernels and their metrics (`KernelTracker.measure`), on a snapshot of the
          trained variables taken here: training may move the variables meanwhile (the jacobian
          method, which differentiates the variables themselves, measures here);
        - with predictors, the Theta_0 predictor's integration up to the record's t, for the
          record's `linear_distance` (at t = 0 of a fresh run it has not moved: the distance is
          taken here, and its integrator compiles in the background). Nothing else may move the
          predictor until the last record is collected.

        The running-kernel predictors due at this record are trained here, before returning.
        """
        t = state.t
        values = self.tracker.snapshot()
        if values is None:  # the jacobian method measures the current parameters: now
            drift = _done(self.tracker.measure(t))
        else:
            drift = self._tracking.submit(self.tracker.measure, t, values)
        record = {"t": t, "drift": drift}
        self._running_moments(state, self.moments.due(state.loss * self.predictor_options["alpha"] ** 2))
        if self.initial is not None:
            if t == 0:  # a fresh run's first record: the predictor has not moved
                record["linear_distance"] = _done(records.rms(train_outputs - self.initial.train_outputs()))
                self.initial.compile_in_background()
            else:
                record["linear_distance"] = self._integrating.submit(
                    self._linear_distance, t, np.array(train_outputs, copy=True))
        self._records.append(record)

    def _linear_distance(self, t, train_outputs):
        """RMS of F_t - F_lin(t) over the training points, the Theta_0 predictor integrated to t."""
        self.initial.advance_to(t)
        return records.rms(train_outputs - self.initial.train_outputs())

    def pending(self):
        """How many records were started and not collected yet."""
        return len(self._records)

    def ready(self):
        """Whether the oldest record not collected yet has its measurements (`collect` would not
        wait)."""
        return bool(self._records) and all(
            future.done() for key, future in self._records[0].items() if key != "t")

    def collect(self):
        """The measurements of the oldest record `start` began and `collect` did not give yet
        (waiting for them): (flat scalars for metrics.jsonl, the full drift record).
        `linear_distance`: the RMS over the training points of F_t - F_lin(t), the network's outputs
        against the Theta_0 predictor's at the same t (inf or NaN for a diverging network)."""
        if not self._records:
            raise RuntimeError("no record to collect: call start(state, train_outputs) first")
        record = self._records.popleft()
        drift = record["drift"].result()
        flat = {
            "kernel_drift_train": drift["drift"]["train"]["total"],
            "kernel_alignment_train": drift["alignment"]["train"],
            "kernel_effective_rank_train": drift["effective_rank"]["train"],
            "kernel_drift_layers_train": drift["drift"]["train"]["layers"],
        }
        if "test" in drift["drift"]:
            flat.update(
                kernel_drift_test=drift["drift"]["test"]["total"],
                kernel_alignment_test=drift["alignment"]["test"],
                kernel_drift_layers_test=drift["drift"]["test"]["layers"],
            )
        if "linear_distance" in record:
            flat["linear_distance"] = record["linear_distance"].result()
        return flat, drift

    def finish(self, state):
        """Final numbers for results.json, and arrays for kernels.npz (empty if not saved), at the
        final `state` of the network (its last record collected)."""
        if self._records:
            raise RuntimeError(f"the record at t = {self._records[0]['t']} was not collected: call collect() before "
                               "finish")
        results = {}
        final = None
        # The predictors' integrations run in a thread (one core) beside the network's kernels; the
        # work that does not need their coefficients is done while they run.
        if self.initial is not None:
            self.initial.run_to_convergence(wait=False)
        if self.initial is not None or self.moments.remaining():
            final = self._kernels()
        final_predictor = False
        if self.initial is not None:
            if self.config.full_drift:  # Theta_0 and Theta_T on the whole training set are in hand
                # by blocks of the variable's rows: no copy of it
                results["kernel_drift_train_full"] = kernels_change(final[0], self.initial.system.theta)
                if self.initial.busy():
                    self._full_set_drifts(results)
            # Theta_0's coefficients outlive the predictor's restart on Theta_T; a sharded strategy
            # predicts through the predictor's own test kernel: before the restart
            sharded = accelerators.is_sharded(tf.distribute.get_strategy())
            if sharded:
                results["init_kernel_test_error"] = self._test_error(self.initial, initial=True)
            else:
                initial_coefficients = tf.identity(self.initial.coefficients())
            results["final_kernel_test_error"] = float("nan")  # a diverged network has no final kernel
            final_predictor = bool(np.all(np.isfinite(final[0])))
            if final_predictor:
                self.initial.restart_on(*final)  # now the final kernel's predictor
                self.initial.run_to_convergence(wait=False)
            if not sharded:
                results["init_kernel_test_error"] = self._test_error(self.initial, initial=True,
                                                                     coefficients=initial_coefficients)
        if self.config.running_fractions:
            self._running_moments(state, self.moments.remaining(), final)
            results["running_kernel_test_errors"] = self.moments.results()
        if self.config.full_drift:
            self._full_set_drifts(results)
        if final_predictor:
            results["final_kernel_test_error"] = self._test_error(self.initial)
        arrays = {}
        if self.config.save:
            arrays.update({f"initial/{k}": v for k, v in self.tracker.initial_kernels().items()})
            arrays.update({f"final/{k}": v for k, v in self.tracker.current_kernels().items()})
        return results, arrays

    def _full_set_drifts(self, results):
        """Add to `results` the whole-set kernel drifts ("kernel_drift_<split>_full") it lacks."""
        for split, x in (("train", self.task.x_train), ("test", self.task.x_test)):
            if f"kernel_drift_{split}_full" not in results:
                results[f"kernel_drift_{split}_full"] = full_set_drift(self.model, x, method=self.config.method)


def _done(value):
    """A future already holding `value`."""
    future = concurrent.futures.Future()
    future.set_result(value)
    return future


def predictor_options(spec):
    """The frozen-kernel predictors' settings of a `config.RunSpec`: the run's alpha, loss and
    gradient flow (the predictors always follow a gradient flow, whatever trains the network)."""
    d = spec.dynamics
    return dict(alpha=spec.alpha, loss=spec.loss.name, soft_hinge_beta=spec.loss.soft_hinge_beta,
                max_dout=d.max_dout, max_dgrad=d.max_dgrad, tau=d.tau, dt0=d.dt0, max_steps=d.max_steps)
