"""Frozen-kernel predictors: the network's linearization, trained like the network.

With Theta a frozen tangent kernel (Theta_0 at initialization, or the final Theta_T), the linear
model F(x) = F0(x) + sum_nu Theta(x, x_nu) c_nu trained by gradient flow on the same loss
L = 1/(alpha^2 n) sum_mu l(F_mu y_mu) follows

    dc/dt = -(1/n) l'(F_mu y_mu) y_mu,

which is exactly the gradient flow of the linearized network w0 + J0^T c / alpha (alpha drops
out). F0 is the network's output at initialization: 0 for the centred F = alpha (f - f0), alpha f0
for F = alpha f (`model.centered=False`); it is the same offset whichever kernel is frozen.

`KernelSystem` is that model as a `dynamics` system, integrated by the same adaptive
`GradientFlow`; `FrozenKernelPredictor` runs it to a given physical time t (to compare with the
network at the same t, a second way to see t1) or to convergence, and predicts the test points
through Theta(test, train). These are the "init. ker." / "final ker." baselines of the article.

Memory: the flow needs only Theta(train, train) `[n, n]`. The test outputs F0_test + Theta(test,
train) c are linear in the coefficients c `[n]`, so they are computed when asked, one block of test
rows of Theta(test, train) at a time (`KernelRows`): the `[n_test, n]` kernel is never whole in
memory (at the article's n = 10,000 and 50,000 test points it would be 4 GB in float64, and
computing it at once took several times that). Memory O(n^2 + rows * n), rows from
`full_drift.block_rows` (blocks of about 256 MiB); time: the kernel's Gram products once per call
of `test_outputs`, plus one forward/backward pass over the test and the training points (for a
network of dense layers; other networks: over the training points once per block).
"""

import contextlib
import math
import threading

import numpy as np
import tensorflow as tf

from lazyfeat_tf import dynamics, losses, models
from lazyfeat_tf.ntk import structured
from lazyfeat_tf.ntk.empirical import empirical_ntk, resolve_method, sharding_strategy
from lazyfeat_tf.ntk.full_drift import block_rows, initial_parameters, square_rows


class KernelRows:
    """The `[n_rows, n_cols]` tangent kernel Theta(x_rows, x_cols) of a model, by blocks of rows.

    Iterating yields its consecutive blocks of rows, `[rows, n_cols]` numpy arrays in the model's
    dtype, at the model's parameters of that moment (its current ones, or with `initial=True` its
    initial ones, put in place by `full_drift.initial_parameters`). Only one block is alive at a
    time: memory O(rows * n_cols). For a network of dense layers the structured operands of x_cols
    are taken once per iteration and each block needs only a forward/backward pass over its own
    rows (`ntk.structured`); other networks compute each block with `ntk.empirical_ntk`.
    `assemble()` fills the whole kernel into one array (a set with itself: its blocks on and above
    the diagonal, mirrored).

    Args:
        model: a model made by `models.build_model`.
        x_rows: `[n_rows, *input_shape]`, x_cols: `[n_cols, *input_shape]` inputs.
        method: passed to `ntk.empirical_ntk`.
        initial: compute the kernel of the initial parameters w0 instead of the current ones.
        rows: rows per block (None: `full_drift.block_rows(model, n_cols)`, about 256 MiB of
            kernels per block).

    Example:
        >>> test_kernel = KernelRows(model, x_test, x_train, initial=True)   # Theta_0(test, train)
        >>> outputs = np.concatenate([block @ c for block in test_kernel])   # [n_test]
    """

    def __init__(self, model, x_rows, x_cols, *, method="auto", initial=False, rows=None):
        self.model, self.x_rows, self.x_cols = model, x_rows, x_cols
        self.method, self.initial = method, initial
        self.rows = rows or block_rows(model, len(x_cols))
        self._structured_dense = resolve_method(model, method) == "structured" and structured.dense_only(model)
        self._dtype = tf.as_dtype(models.parts(model).readout.kernel.dtype)

    @property
    def shape(self):
        """`(n_rows, n_cols)`."""
        return len(self.x_rows), len(self.x_cols)

    def _dense(self):
        """Whether the kernel comes from the structured operands: a network of dense layers, and no
        strategy to shard `empirical_ntk`'s rows across (then its blocks go through it)."""
        return self._structured_dense and sharding_strategy() is None

    def _parameters(self):
        return initial_parameters(self.model) if self.initial else contextlib.nullcontext()

    def _operands(self, x):
        """Structured operands of x `[n, *input_shape]` at the kernel's parameters."""
        with self._parameters():
            return structured.operands(models.parts(self.model), tf.cast(x, self._dtype))

    def __iter__(self):
        n = len(self.x_rows)
        if self._dense():
            cols = self._operands(self.x_cols)
            for start in range(0, n, self.rows):
                block = self._operands(self.x_rows[start:start + self.rows])
                yield structured.block_kernels(block, cols, per_layer=False)[structured.TOTAL].numpy()
            return
        # One block of a kernel of a set with itself: the symmetric form, one pass over the set.
        x_cols = None if self.x_cols is self.x_rows and self.rows >= n else self.x_cols
        for start in range(0, n, self.rows):
            with self._parameters():
                block = empirical_ntk(self.model, self.x_rows[start:start + self.rows], x_cols, method=self.method)
            yield block.numpy()

    def assemble(self):
        """The whole `[n_rows, n_cols]` kernel as one numpy array, filled block by block (the
        kernel plus one block in memory)."""
        if self._dense() and self.x_cols is self.x_rows:
            return self._assemble_symmetric()
        kernel = None
        start = 0
        for block in self:
            if kernel is None:
                kernel = np.empty(self.shape, block.dtype)
            kernel[start:start + len(block)] = block
            start += len(block)
        return kernel

    def _assemble_symmetric(self):
        """The kernel of a set with itself from its blocks on and above the diagonal, `square_rows(n)`
        a side (as `full_drift`: the fewest blocks whose arrays take about `BLOCK_BYTES`; one block
        up to n = 2,048). Eager blocks cost a few ms of dispatch each: n = 1000, h = 64 took 30 ms
        as one block against 56 ms as 4 x 4 blocks of 250 rows (float32; float64 60 and 100 ms)."""
        ops, n = self._operands(self.x_rows), len(self.x_rows)
        kernel = np.empty((n, n), self._dtype.as_numpy_dtype)
        for (a0, a1), (b0, b1) in structured.upper_block_pairs(n, square_rows(n)):
            block = structured.block_kernels(structured.rows_of(ops, (a0, a1)), structured.rows_of(ops, (b0, b1)),
                                             per_layer=False)[structured.TOTAL].numpy()
            kernel[a0:a1, b0:b1] = block
            kernel[b0:b1, a0:a1] = block.T
        return kernel


class KernelSystem:
    """F_train = F0_train + Theta_train,train c on the training set, as a `dynamics` system.

    Args:
        theta_train: `[n, n]` kernel between training points.
        y: `[n]` labels +1/-1.
        alpha: the network's alpha (only the loss's 1/alpha^2 scale depends on it).
        loss, soft_hinge_beta: as for the network.
        offset: F0_train `[n]`, the output at c = 0 (None: zeros).
    """

    def __init__(self, theta_train, y, alpha, loss="soft_hinge", soft_hinge_beta=20.0, offset=None):
        self.theta = tf.Variable(theta_train, trainable=False, name="theta_train")  # see `restart_on`
        self.dtype = self.theta.dtype
        self.y = tf.cast(y, self.dtype)
        self.offset = None if offset is None else tf.cast(offset, self.dtype)
        self.alpha = float(alpha)
        self.loss_name, self.soft_hinge_beta = loss, soft_hinge_beta
        self.params = [tf.Variable(tf.zeros_like(self.y), name="kernel_coefficients")]

    def loss(self, outputs, labels):
        return losses.scaled_loss(self.loss_name, outputs, labels, self.alpha, self.soft_hinge_beta)

    def evaluate(self, params):
        """(F `[n]`, L, [g]) with g = -dc/dt = alpha^2 dL/dF = (1/n) l'(F y) y."""
        outputs = tf.linalg.matvec(self.theta, params[0])
        if self.offset is not None:
            outputs = self.offset + outputs
        with tf.GradientTape() as tape:
            tape.watch(outputs)
            loss = self.loss(outputs, self.y)
        return outputs, loss, [self.alpha**2 * tape.gradient(loss, outputs)]


def _row_blocks(kernel):
    """A kernel given whole (an array or tensor) as one block of rows; blocks as they are."""
    return (kernel,) if isinstance(kernel, (np.ndarray, tf.Tensor)) else kernel


class FrozenKernelPredictor:
    """The linear model on a frozen kernel, trained by the adaptive gradient flow.

    Args:
        theta_train: `[n, n]` Theta(train, train).
        test_kernel: Theta(test, train) `[n_test, n]`: the array when it is in hand, or its
            consecutive blocks of test rows, a `KernelRows` (computed from a model whenever the
            test outputs are asked for) or any re-iterable of `[rows, n]` arrays.
        y_train `[n]`; y_test `[n_test]`: labels +1/-1.
        alpha, loss, soft_hinge_beta: as for the network.
        offsets: (F0_train `[n]`, F0_test `[n_test]`), the network's outputs at initialization, or
            None for zeros (the centred network).
        flow_options: keyword arguments of `dynamics.GradientFlow` (max_dout, max_dgrad, tau, ...).
            `jit_compile` defaults to True outside a `tf.distribute` strategy's scope: XLA fuses the
            few small ops of a step around the `[n, n]` matvec, about 5x faster per step on CPU for
            n = 1000 (one ~0.4 s compile, ~0.13 s from the persistent cache of
            `lazyfeat_tf.compilation_cache`). The loop is traced at construction, in the constructing
            thread (~0.06 s): traced later beside another thread's tracing, its XLA program's key
            would change from one process to the next and never be found in the cache
            (`GradientFlow.trace`). Under a strategy the variables are mirrored across devices, which
            XLA cannot read, so the loop runs uncompiled.

    `advance_to` and `run_to_convergence` with `wait=False` integrate in a thread and return at once:
    TensorFlow runs the integrator outside the GIL, so the caller's own TensorFlow work goes on
    meanwhile; every other method (or `wait()`) waits for it and raises its error.

    Example:
        >>> predictor = FrozenKernelPredictor(theta, theta_test, y, y_test, alpha=alpha)
        >>> predictor.run_to_convergence(wait=False)
        >>> ...  # other work
        >>> predictor.test_error()   # waits for the integration
    """

    def __init__(self, theta_train, test_kernel, y_train, y_test, *, alpha, loss="soft_hinge",
                 soft_hinge_beta=20.0, offsets=None, **flow_options):
        train_offset, test_offset = (None, None) if offsets is None else offsets
        self.system = KernelSystem(theta_train, y_train, alpha, loss, soft_hinge_beta, train_offset)
        self.test_kernel = _row_blocks(test_kernel)
        self.y_test = np.asarray(y_test, self.system.dtype.as_numpy_dtype)
        self.test_offset = None if test_offset is None else np.asarray(test_offset, self.y_test.dtype)
        flow_options.setdefault("jit_compile", not tf.distribute.has_strategy())
        self.flow = dynamics.GradientFlow(self.system, **flow_options)
        if flow_options["jit_compile"]:  # here, in the constructing thread: see `GradientFlow.trace`
            self.flow.trace()
        self._background = None  # (thread, {"error": exception}) of the work started with wait=False

    def _start(self, fn, *args):
        """Run fn(*args) in a thread, after the previous one (see the class docstring)."""
        self.wait()
        outcome = {}

        def run():
            try:
                fn(*args)
            except BaseException as error:  # noqa: BLE001 - raised again by `wait`
                outcome["error"] = error

        thread = threading.Thread(target=run, name="frozen-kernel-predictor", daemon=True)
        thread.start()
        self._background = (thread, outcome)

    def busy(self):
        """Whether work started with `wait=False` is still running."""
        return self._background is not None and self._background[0].is_alive()

    def wait(self):
        """Wait for the work started with `wait=False` (or `compile_in_background`); raise its error."""
        if self._background is not None:
            thread, outcome = self._background
            thread.join()
            self._background = None
            if "error" in outcome:
                raise outcome["error"]

    def compile_in_background(self):
        """Compile the integrator in a thread, leaving the state as it is (e.g. while the network
        traces its own step). Do not assign the state's variables meanwhile."""
        self._start(self.flow.advance, 0)

    def restart_on(self, theta_train, test_kernel):
        """Start again from c = 0 at t = 0 on another kernel of the same shapes (e.g. the final one;
        `test_kernel` as for the constructor), reusing the compiled integrator."""
        self.wait()
        self.system.theta.assign(tf.cast(theta_train, self.system.dtype))
        self.test_kernel = _row_blocks(test_kernel)
        self.system.params[0].assign(tf.zeros_like(self.system.params[0]))
        self.flow.restart()

    def advance_to(self, t, max_attempts=10**6, wait=True):
        """Integrate up to physical time t (exactly, unless it converges or stops first); returns
        the `dynamics.FlowState`. With wait=False the integration runs in a thread and returns None
        at once (`wait()`, or any other method, waits for it)."""
        self.wait()
        if not wait:
            self._start(self._advance_to, t, max_attempts)
            return None
        return self._advance_to(t, max_attempts)

    def _advance_to(self, t, max_attempts):
        t = float(np.asarray(t, self.system.dtype.as_numpy_dtype))  # the time as the flow stores it
        state = self.flow.state()
        while state.status == "running" and state.t < t:
            state = self.flow.advance(self.flow.max_steps, max_attempts=max_attempts, until_time=t)
        return state

    def run_to_convergence(self, max_attempts=10**6, wait=True):
        """Integrate until every training margin reaches 1 or a budget stops it (`wait` as for
        `advance_to`)."""
        return self.advance_to(math.inf, max_attempts, wait)

    def coefficients(self):
        """The coefficients c `[n]` (a tensor) once the integration in progress is done."""
        self.wait()
        return self.system.params[0]

    def train_outputs(self):
        self.wait()
        return self.flow.outputs.numpy()

    def test_outputs(self):
        """F_test = F0_test + Theta(test, train) c `[n_test]`, block of test rows by block."""
        c = self.coefficients()
        parts = [tf.linalg.matvec(tf.cast(block, self.system.dtype), c).numpy() for block in self.test_kernel]
        outputs = np.concatenate(parts) if parts else np.zeros(0, self.y_test.dtype)
        if len(outputs) != len(self.y_test):
            raise ValueError(f"the test kernel has {len(outputs)} rows in all, the test set {len(self.y_test)} "
                             "points: give Theta(test, train) for every test point")
        return outputs if self.test_offset is None else self.test_offset + outputs

    def test_error(self):
        """Fraction of test points with F y <= 0; NaN when an output is not finite (a diverged kernel)."""
        return losses.finite_error_rate(self.test_outputs(), self.y_test)
