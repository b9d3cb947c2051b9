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
"""

import math
import threading

import numpy as np
import tensorflow as tf

from lazyfeat_tf import dynamics, losses


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


class FrozenKernelPredictor:
    """The linear model on a frozen kernel, trained by the adaptive gradient flow.

    Args:
        theta_train: `[n, n]`; theta_test_train: `[n_test, n]`; y_train `[n]`; y_test `[n_test]`.
        alpha, loss, soft_hinge_beta: as for the network.
        offsets: (F0_train `[n]`, F0_test `[n_test]`), the network's outputs at initialization, or
            None for zeros (the centred network).
        flow_options: keyword arguments of `dynamics.GradientFlow` (max_dout, max_dgrad, tau, ...).
            `jit_compile` defaults to True outside a `tf.distribute` strategy's scope: XLA fuses the
            few small ops of a step around the `[n, n]` matvec, about 5x faster per step on CPU for
            n = 1000 (one ~0.4 s compile). Under a strategy the variables are mirrored across
            devices, which XLA cannot read, so the loop runs uncompiled.
    """

    def __init__(self, theta_train, theta_test_train, y_train, y_test, *, alpha, loss="soft_hinge",
                 soft_hinge_beta=20.0, offsets=None, **flow_options):
        train_offset, test_offset = (None, None) if offsets is None else offsets
        self.system = KernelSystem(theta_train, y_train, alpha, loss, soft_hinge_beta, train_offset)
        self.theta_test_train = tf.cast(theta_test_train, self.system.dtype)
        self.y_test = tf.cast(y_test, self.system.dtype)
        self.test_offset = None if test_offset is None else tf.cast(test_offset, self.system.dtype)
        flow_options.setdefault("jit_compile", not tf.distribute.has_strategy())
        self.flow = dynamics.GradientFlow(self.system, **flow_options)
        self._compiling = None

    def compile_in_background(self):
        """Compile the integrator in a thread, leaving the state as it is. XLA compiles outside the
        GIL, so this overlaps with other work (e.g. the network tracing its own step); every method
        below waits for it first. Do not assign the state's variables meanwhile."""
        if self._compiling is None:
            self._compiling = threading.Thread(target=self.flow.advance, args=(0,), name="compile", daemon=True)
            self._compiling.start()

    def _wait_for_compilation(self):
        if self._compiling is not None:
            self._compiling.join()

    def restart_on(self, theta_train, theta_test_train):
        """Start again from c = 0 at t = 0 on another kernel of the same shapes (e.g. the final one),
        reusing the compiled integrator."""
        self._wait_for_compilation()
        self.system.theta.assign(tf.cast(theta_train, self.system.dtype))
        self.theta_test_train = tf.cast(theta_test_train, self.system.dtype)
        self.system.params[0].assign(tf.zeros_like(self.system.params[0]))
        self.flow.restart()

    def advance_to(self, t, max_attempts=10**6):
        """Integrate up to physical time t (exactly, unless it converges or stops first)."""
        self._wait_for_compilation()
        t = float(np.asarray(t, self.system.dtype.as_numpy_dtype))  # the time as the flow stores it
        state = self.flow.state()
        while state.status == "running" and state.t < t:
            state = self.flow.advance(self.flow.max_steps, max_attempts=max_attempts, until_time=t)
        return state

    def run_to_convergence(self, max_attempts=10**6):
        """Integrate until every training margin reaches 1 or a budget stops it."""
        return self.advance_to(math.inf, max_attempts)

    def train_outputs(self):
        self._wait_for_compilation()
        return self.flow.outputs.numpy()

    def test_outputs(self):
        self._wait_for_compilation()
        outputs = tf.linalg.matvec(self.theta_test_train, self.system.params[0])
        return (outputs if self.test_offset is None else self.test_offset + outputs).numpy()

    def test_error(self):
        return float(losses.error_rate(self.test_outputs(), self.y_test.numpy()))
