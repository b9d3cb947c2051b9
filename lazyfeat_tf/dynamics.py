"""Training dynamics: adaptive-step gradient flow (setup A) and minibatch SGD / Adam (setup B).

Gradient flow integrates dw/dt = -grad L(w) (article units, physical time t) with an adaptive step:

1. v = -g (or, with momentum time constant tau > 0, v <- x v + (1 - x)(-g), x = exp(-dt/tau));
2. propose w' = w + dt v, evaluate F' and g' there;
3. accept if dout = max_mu |F'_mu - F_mu| < max_dout and
   dgrad = ||g - g'||^2 / (||g|| ||g'||) < max_dgrad; if both are under half their bound, the next dt
   is 1.1 dt; otherwise reject the proposal and divide dt by 10.
4. with `cross_kinks` (for ReLU networks), jumps of the gradient do not shrink dt. Where a ReLU unit
   switches on or off for a training point the gradient jumps: dgrad does not shrink with dt, while
   a smooth change gives dgrad ~ dt^2. After an attempt rejected by the dgrad bound alone (dgrad D at
   10 dt), the attempt at dt tells which it was: dgrad >= D / 10 (a jump within dt too) or
   <= D / 1000 (a jump between dt and 10 dt) mark D as a jump. Then J = max(J, 2 D) and the next dt is
   10 dt again; a proposal that fails the dgrad bound is accepted (a *kink crossing*) when dgrad <
   max_dgrad + J, dout is within its bound and the loss did not increase, and dt grows when dgrad - J
   is under half max_dgrad. J decays by 1% at each accepted step that crosses no kink, and starts at
   0 at each `advance` call. (2 D, not D: where a few unfitted points carry the gradient, most steps
   switch several units and dgrad varies with the ones crossed; dout then bounds the step.) Without
   the rule the flow approaches a kink, or slides along one, in steps that shrink geometrically (seen
   in the feature regime of FC-ReLU: one first-layer unit whose switch gives dgrad = 1.08e-4 for every
   dt from 1e-16 to 1e-8, against max_dgrad = 1e-4; later, jumps of dgrad up to ~0.7).

The loop stops when every training margin F y reaches 1 (zero hinge loss), on a non-finite loss,
when it stalls, or at a step / time budget. It stalls when dt falls below `min_dt`, or when
`STALL_STEPS` accepted steps have left t exactly where it was: on a kink of the loss (ReLU networks
in the feature regime, without `cross_kinks`) the accepted steps shrink towards a time they never
pass (seen: dt ~ 1e-22 at t ~ 0.03 for 90,000 steps), and would otherwise run out the step budget
without moving.
The attempt loop runs inside one `tf.function` (a `tf.while_loop`), so that a step costs little
more than its forward and backward passes. t1 is the first accepted time at which the unscaled loss
alpha^2 L drops below 1/2.

Both integrators work on a `System`: parameters plus `evaluate(params) -> (F [n], L, grads)`. The
network is one system (`NetworkSystem`); the frozen-kernel linear model is another; the network
sharded across the replicas of a `tf.distribute` strategy is a third
(`accelerators.ShardedNetworkSystem`, whose `strategy` attribute the integrators look at).
"""

import contextlib
import dataclasses
import itertools
import math

import numpy as np
import tensorflow as tf

from lazyfeat_tf import cpu_threads, losses, models

STATUSES = ("running", "converged", "nan", "stalled", "max_steps", "max_time")

STALL_STEPS = 1000
"""Accepted steps that leave t unchanged (in the flow's dtype) after which the flow is "stalled"
(seen by `GradientFlow.state`)."""


def _accelerator_visible():
    """Whether TensorFlow lists a GPU or a TPU."""
    return any(tf.config.list_logical_devices(kind) for kind in ("GPU", "TPU"))


def default_blocks():
    """Row blocks of `NetworkSystem.evaluate` on this machine: `cpu_threads.ROW_BLOCKS` (2) on CPUs,
    1 when a GPU or TPU is visible (one large kernel per layer suits an accelerator)."""
    return 1 if _accelerator_visible() else cpu_threads.ROW_BLOCKS


class NetworkSystem:
    """F(w, x) = alpha (f(w, x) - f0) of a model from `models.build_model` on a fixed set, with
    f0 = f(w0, x) (centred readout) or 0 (`model.centered=False`).

    Args:
        model: the Keras model; its trained parameters are `params` (trunk + readout kernel).
        x: `[n, *input_shape]` training inputs; y: `[n]` labels +1/-1.
        loss: a name from `losses.LOSSES`; soft_hinge_beta: its sharpness.
        blocks: `evaluate` differentiates the training set as this many blocks of consecutive rows,
            each its own forward and backward graph, and adds their gradients (default
            `default_blocks()`). TensorFlow's inter-op threads run the blocks' graphs at once. On a
            2-core CPU, two threads on one op keep each other poorly busy in the step's many small
            products ([n, h] x [h, h]) and elementwise ops; two blocks gave 1.14x (float32, h = 64),
            1.06x (h = 256) and 1.09x (float64, h = 64) more proposals per second, n = 1000, TF's
            default threads (best of 5 rounds of 100 proposals, one process per case); with one
            intra-op thread per block (`cpu_threads`, the entry points' default) each block has a
            core of its own. The same numbers as one block to float round-off (the gradient is
            summed in another order).

    f0 is computed once from the frozen trunk0 and kernel0, so evaluating F costs one forward pass
    of the trained trunk.
    """

    def __init__(self, model, x, y, loss="hinge", soft_hinge_beta=20.0, blocks=None):
        self.parts = models.parts(model)
        self.dtype = self.parts.readout.dtype  # not model.dtype: the Model policy stays float32
        self.params = list(self.parts.trunk.trainable_variables) + [self.parts.readout.kernel]
        self.alpha = self.parts.alpha
        self.loss_name = loss
        self.soft_hinge_beta = soft_hinge_beta
        self.x = tf.constant(x, self.dtype)
        self.y = tf.constant(y, self.dtype)
        self.f0 = self.reference_output(self.x)
        n = int(self.y.shape[0])
        slope_factor = self.y / tf.constant(self.alpha * n, self.dtype)  # dL/df = l' y / (alpha n)
        edges = np.linspace(0, n, min(default_blocks() if blocks is None else blocks, n) + 1).astype(int)
        # (x, y, f0, dL/df factor) of each block, sliced once: not a copy per evaluation
        self._blocks = [tuple(a[start:stop] for a in (self.x, self.y, self.f0, slope_factor))
                        for start, stop in itertools.pairwise(edges)]

    def reference_output(self, x):
        """What F subtracts from f, `[n]`: f(w0, x) from the frozen copy of the network if the
        readout is centred, else zeros (`layers.CenteredReadout.reference`)."""
        return self.parts.readout.reference(self.parts.trunk0(x))

    def raw_outputs(self, params, x):
        """f `[n]` = W z / sqrt(h) at parameter values `params` (tensors in the order of `self.params`)."""
        trunk = self.parts.trunk
        features, _ = trunk.stateless_call(params[:-1], [tf.convert_to_tensor(v) for v in trunk.non_trainable_variables], x)
        return self.parts.readout.raw_output(features, params[-1])

    def outputs(self, params, x, f0):
        """F `[n]` at parameter values `params` (tensors in the order of `self.params`)."""
        return self.alpha * (self.raw_outputs(params, x) - f0)

    def loss(self, outputs, labels):
        return losses.scaled_loss(self.loss_name, outputs, labels, self.alpha, self.soft_hinge_beta)

    def evaluate(self, params):
        """(F `[n]`, L scalar, dL/dparams list) on the training set at `params`, block by block of
        rows (see `blocks`).

        The tape records f only: dL/df_mu = y_mu l'(F_mu y_mu) / (alpha n) is written out
        (`losses.pointwise_derivative`) and enters as the output gradient, so that the loss adds a
        few ops on `[n]` vectors instead of its autodiff graph.
        """
        outputs, grads = [], []
        for x, y, f0, slope_factor in self._blocks:
            with tf.GradientTape() as tape:
                tape.watch(params)
                raw = self.raw_outputs(params, x)
            block_outputs = self.alpha * (raw - f0)
            slope = losses.pointwise_derivative(self.loss_name, block_outputs * y, self.soft_hinge_beta)
            grads.append(tape.gradient(raw, params, output_gradients=slope * slope_factor))
            outputs.append(block_outputs)
        outputs = tf.concat(outputs, 0)
        return outputs, self.loss(outputs, self.y), [tf.add_n(list(parts)) for parts in zip(*grads)]


def _norm2(tensors):
    """sum of the squares of every element of a list of tensors (a scalar)."""
    return tf.add_n([tf.reduce_sum(tf.square(x)) for x in tensors])


def stop_status(loss, min_margin, step, t, max_steps, max_time, stalled=False):
    """Why training must stop (a name from `STATUSES`), or "running": "nan" when the loss or an
    output (the smallest margin) is not finite, i.e. the network diverged."""
    if not (math.isfinite(loss) and math.isfinite(min_margin)):
        return "nan"
    if min_margin >= 1.0:
        return "converged"
    if stalled:
        return "stalled"
    if t >= max_time:
        return "max_time"
    if step >= max_steps:
        return "max_steps"
    return "running"


@dataclasses.dataclass
class FlowState:
    """Where the integrator is, as Python numbers."""

    step: int
    t: float
    dt: float
    rejected: int
    t1: float  # -1 until alpha^2 L < 1/2
    loss: float  # L (scaled by 1/alpha^2)
    min_margin: float
    status: str


class GradientFlow:
    """Adaptive-step gradient flow of a `System` (see the module docstring).

    Args:
        system: provides `params`, `dtype`, `alpha`, `y`, `evaluate(params)`.
        max_dout: bound on max |F' - F| for a step, in units of F (0.1).
        max_dgrad: bound on ||g - g'||^2 / (||g|| ||g'||) (1e-4).
        tau: momentum time constant in units of t (0 = plain gradient flow).
        dt0: first time step.
        min_dt: below this dt the run stops as "stalled" (as after `STALL_STEPS` steps at one t).
        cross_kinks: tell jumps of the gradient from its smooth change (rule 4 of the module
            docstring). Off by default (runs made before it compute what they computed); on for
            ReLU networks, whose feature regime stalls without it.
        max_steps: budget of accepted steps; max_time: budget of physical time t.
        jit_compile: compile the step loop with XLA. Off by default: on CPUs, whole runs of the demo
            to convergence (Fashion-MNIST, n = 1000, h = 64, alpha*sqrt(h) = 1 and 100) took 1.1-1.9x
            longer with XLA, in float32 and float64, compilation included
            (`python benchmarks/train_step.py --whole-runs`).
        device_loop: for a sharded system (one with a `strategy`): run the whole attempt loop inside
            one replica function (default), so that an `advance` call is one launch of the replicas
            instead of one per attempt. False keeps the loop on the host, calling `strategy.run`
            once per attempt (for comparison; see benchmarks/device_loop.py).

    Under a strategy the device loop is `strategy.run(loop)`, where `loop` is a `tf.while_loop` over
    attempts: each replica evaluates its shard (`system.replica_evaluate`), and one cross-replica
    exchange per attempt (`system.exchange()`) adds the partial losses and gradients and takes the
    maxima of |F' - F| and of -F y over the replicas; every replica then takes the same decision on the
    same numbers. A TPU compiles the whole loop with XLA; elsewhere `jit_compile` compiles each
    attempt's per-replica part (XLA on CPUs and GPUs cannot compile the exchange).
    """

    def __init__(self, system, *, max_dout=0.1, max_dgrad=1e-4, tau=0.0, dt0=1.0, min_dt=1e-30,
                 max_steps=10**6, max_time=math.inf, jit_compile=False, device_loop=True, cross_kinks=False):
        self.system = system
        self.max_dout, self.max_dgrad, self.tau, self.min_dt = max_dout, max_dgrad, tau, min_dt
        self.cross_kinks = bool(cross_kinks)
        self.max_steps, self.max_time = int(max_steps), float(max_time)
        dtype = system.dtype
        # A sharded system (lazyfeat_tf.accelerators) has a strategy: the state lives under its scope.
        strategy = getattr(system, "strategy", None)
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            zeros = [tf.zeros_like(p) for p in system.params]
            self.v = [tf.Variable(z, name=f"v_{i}") for i, z in enumerate(zeros)]
            self.g = [tf.Variable(z, name=f"g_{i}") for i, z in enumerate(zeros)]
            self.outputs = tf.Variable(tf.zeros_like(system.y), name="outputs")
            self.loss = tf.Variable(tf.zeros((), dtype), name="loss")
            self.dt = tf.Variable(tf.constant(dt0, dtype), name="dt")
            self.t = tf.Variable(tf.zeros((), dtype), name="t")
            self.t1 = tf.Variable(tf.constant(-1.0, dtype), name="t1")
            self.step = tf.Variable(tf.zeros((), tf.int64), name="step")
            self.rejected = tf.Variable(tf.zeros((), tf.int64), name="rejected")
        self.dt0 = dt0
        self._still_t, self._still_since = None, 0  # see `state`
        self.device_loop = strategy is not None and device_loop
        # How an attempt keeps the accepted state (`_loop`): one tf.cond in TensorFlow's executor on
        # CPUs; a tf.where per tensor under XLA and on GPUs, where a tf.cond would copy its predicate
        # to the host once more per attempt.
        self._pick_with_cond = not jit_compile and not _accelerator_visible()
        if self.device_loop:
            # The host part only launches the replicas; the per-replica part of an attempt is compiled.
            advance = self._advance_on_replicas
            self._propose = tf.function(self._propose_graph, jit_compile=jit_compile, autograph=False)
        else:
            # A host loop around strategy.run cannot be one XLA program (it spans devices).
            advance, self._propose = self._advance_graph, self._propose_graph
        # autograph=False: the loop is an explicit tf.while_loop; converting it costs ~0.4 s per trace.
        self._advance = tf.function(advance, jit_compile=jit_compile and strategy is None, autograph=False)
        self._evaluate_here()

    def restart(self):
        """Back to t = 0 with the system's current parameters (reuses the compiled step loop)."""
        for v in self.v:
            v.assign(tf.zeros_like(v))
        self.dt.assign(tf.constant(self.dt0, self.dt.dtype))
        for v, value in ((self.t, 0.0), (self.t1, -1.0), (self.step, 0), (self.rejected, 0)):
            v.assign(tf.constant(value, v.dtype))
        self._still_t, self._still_since = None, 0
        self._evaluate_here()

    def variables(self):
        """Every variable of the integrator's state by name (for checkpoints), parameters excluded."""
        named = {v.name.split(":")[0]: v for v in self.v + self.g}
        for v in (self.outputs, self.loss, self.dt, self.t, self.t1, self.step, self.rejected):
            named[v.name.split(":")[0]] = v
        return named

    def _evaluate_here(self):
        outputs, loss, grads = self.system.evaluate([tf.convert_to_tensor(p) for p in self.system.params])
        self.outputs.assign(outputs)
        self.loss.assign(loss)
        for g, value in zip(self.g, grads):
            g.assign(value)

    def _velocity(self, v, g, dt):
        """v' of a proposal of time step dt from velocity v and gradient g; None for plain gradient
        flow (tau = 0), where v' = -g is formed only for an accepted proposal (`_loop`)."""
        if self.tau <= 0:
            return None
        decay = tf.exp(-dt / self.tau)
        return [decay * vi - (1.0 - decay) * gi for vi, gi in zip(v, g)]

    def _propose_graph(self, params, v, g, outputs, y, dt, t, max_time):
        """One proposal: (step_dt, clipped, v', w', F', L', g', max |F' - F|, -min F' y) on the points
        of `y` (under the device loop, a replica's shard, its share of L and of the gradient); v' is
        None for plain gradient flow (w' = w - step_dt g)."""
        clipped = max_time - t <= dt  # the last step lands exactly on the time budget
        step_dt = tf.where(clipped, max_time - t, dt)
        v_new = self._velocity(v, g, step_dt)
        if v_new is None:
            p_new = [p - step_dt * gi for p, gi in zip(params, g)]
        else:
            p_new = [p + step_dt * vi for p, vi in zip(params, v_new)]
        out_new, loss_new, g_new = (self.system.replica_evaluate if self.device_loop else self.system.evaluate)(p_new)
        return (step_dt, clipped, v_new, p_new, out_new, loss_new, g_new, tf.reduce_max(tf.abs(out_new - outputs)),
                -tf.reduce_min(out_new * y))

    def _loop(self, state, y, cross_replica, target_step, max_attempts, max_time):
        """The attempt loop (a `tf.while_loop`) from `state`, on the points of `y`.

        state: (params, v, g, ||g||^2, F, L, min_mu F y, dt, t, t1, step, rejected, attempts, failed,
        jump): failed is the dgrad of the previous attempt if the dgrad bound alone rejected it, else
        0, and jump the J of rule 4 of the module docstring (both stay 0 without `cross_kinks`).
        cross_replica(sums, maxima) -> the same lists summed and maximized over the replicas (the
        identity where F, L and the gradient cover every point).

        An attempt costs its forward and backward passes plus a few passes over the parameters: the
        proposal w - dt g, ||g - g'||^2 and ||g'||^2 (||g||^2 is carried from the step that accepted
        g). On CPUs without XLA the accepted state is chosen by one `tf.cond`, which forwards the
        tensors of the taken branch (no copy), and plain gradient flow forms v' = -g only in the
        accepting branch; elsewhere by a `tf.where` per tensor.
        """
        dtype = self.system.dtype
        alpha2 = tf.constant(self.system.alpha**2, dtype)
        half = tf.constant(0.5, dtype)

        def running(params, v, g, g2, outputs, loss, margin, dt, t, t1, step, rejected, attempts, failed, jump):
            return ((step < target_step) & (attempts < max_attempts) & (t < max_time) & (margin < 1.0)
                    & tf.math.is_finite(loss) & (dt >= self.min_dt))

        def body(params, v, g, g2, outputs, loss, margin, dt, t, t1, step, rejected, attempts, failed, jump):
            step_dt, clipped, v_new, p_new, out_new, loss_new, g_new, dout, neg_margin = self._propose(
                params, v, g, outputs, y, dt, t, max_time)
            (loss_new, *g_new), (dout, neg_margin) = cross_replica([loss_new] + list(g_new), [dout, neg_margin])
            g2_new = _norm2(g_new)
            dgrad = _norm2([a - b for a, b in zip(g, g_new)]) / tf.sqrt(g2 * g2_new)
            small_dout, small_dgrad = dout < self.max_dout, dgrad < self.max_dgrad
            dgrad_ok, smooth_dgrad = small_dgrad, dgrad  # smooth_dgrad: the part the step size controls
            if self.cross_kinks:  # rule 4 of the module docstring
                jumped = (failed > 0) & ((10.0 * dgrad >= failed) | (1000.0 * dgrad <= failed))
                jump = tf.where(jumped, tf.maximum(jump, 2.0 * failed), jump)
                kink = small_dout & (dgrad < self.max_dgrad + jump) & (loss_new <= loss)
                dgrad_ok, smooth_dgrad = small_dgrad | kink, dgrad - jump
            accept = small_dout & dgrad_ok & tf.math.is_finite(loss_new)
            grow = accept & (dout < half * self.max_dout) & (smooth_dgrad < half * self.max_dgrad)
            next_dt = tf.where(grow, dt * 1.1, tf.where(accept, dt, dt / 10.0))
            if self.cross_kinks:
                next_dt = tf.where(accept & jumped, dt * 10.0, next_dt)
                jump = tf.where(accept & small_dgrad, 0.99 * jump, jump)
                failed = tf.where(accept | ~small_dout, tf.zeros_like(dgrad), dgrad)
            t_new = tf.where(clipped, max_time, t + step_dt)
            reached_t1 = accept & (t1 < 0) & (alpha2 * loss_new < half)

            def accepted():
                velocity = [-gi for gi in g] if v_new is None else v_new
                return p_new, velocity, g_new, g2_new, out_new, loss_new, -neg_margin, t_new

            def rejected_():
                return params, v, g, g2, outputs, loss, margin, t

            if self._pick_with_cond:
                picked = tf.cond(accept, accepted, rejected_)
            else:
                picked = tf.nest.map_structure(lambda new, old: tf.where(accept, new, old), accepted(), rejected_())
            params, v, g, g2, outputs, loss, margin, t_next = picked
            return (
                params, v, g, g2, outputs, loss, margin,
                next_dt,
                t_next,
                tf.where(reached_t1, t_new, t1),
                step + tf.cast(accept, tf.int64),
                rejected + tf.cast(~accept, tf.int64),
                attempts + 1,
                failed,
                jump,
            )

        return tf.while_loop(running, body, state)

    def _initial_state(self):
        """The loop state from the variables (cross-replica values under a strategy)."""
        outputs = tf.convert_to_tensor(self.outputs)
        return (
            [tf.convert_to_tensor(p) for p in self.system.params],
            [tf.convert_to_tensor(v) for v in self.v],
            [tf.convert_to_tensor(g) for g in self.g],
            _norm2(self.g),
            outputs,
            tf.convert_to_tensor(self.loss),
            tf.reduce_min(outputs * self.system.y),
            tf.convert_to_tensor(self.dt),
            tf.convert_to_tensor(self.t),
            tf.convert_to_tensor(self.t1),
            tf.convert_to_tensor(self.step),
            tf.convert_to_tensor(self.rejected),
            tf.constant(0, tf.int64),
            tf.zeros((), self.system.dtype),
            tf.zeros((), self.system.dtype),
        )

    def _store(self, params, v, g, outputs, loss, dt, t, t1, step, rejected):
        for var, value in zip(self.system.params, params):
            var.assign(value)
        for var, value in zip(self.v, v):
            var.assign(value)
        for var, value in zip(self.g, g):
            var.assign(value)
        for var, value in ((self.outputs, outputs), (self.loss, loss), (self.dt, dt), (self.t, t),
                           (self.t1, t1), (self.step, step), (self.rejected, rejected)):
            var.assign(value)

    def _advance_graph(self, target_step, max_attempts, max_time):
        """The loop where the caller is: one device, or the host calling `system.evaluate` (which
        launches the replicas of a sharded system) once per attempt."""
        state = self._loop(self._initial_state(), self.system.y, lambda sums, maxima: (sums, maxima),
                           target_step, max_attempts, max_time)
        params, v, g, _, outputs, loss, _, dt, t, t1, step, rejected, *_ = state
        self._store(params, v, g, outputs, loss, dt, t, t1, step, rejected)

    def _advance_on_replicas(self, target_step, max_attempts, max_time):
        """The loop inside one replica function: one `strategy.run` per call (see the class docstring)."""
        system = self.system
        params, v, g, g2, outputs, loss, margin, *scalars = self._initial_state()
        padded_outputs = system.pad(outputs)

        def replica_loop(params, v, g, g2, loss, margin, scalars):
            state = (params, v, g, g2, system.replica_rows(padded_outputs), loss, margin, *scalars)
            return self._loop(state, system.replica_rows(system.pad(system.y)), system.exchange(),
                              target_step, max_attempts, max_time)

        state = system.strategy.run(replica_loop, args=(params, v, g, g2, loss, margin, scalars))
        first = [system.strategy.experimental_local_results(x)[0] for x in tf.nest.flatten(state)]
        params, v, g, _, _, loss, _, dt, t, t1, step, rejected, *_ = tf.nest.pack_sequence_as(state, first)
        outputs = system.gather(state[4])
        self._store(params, v, g, outputs, loss, dt, t, t1, step, rejected)

    def trace(self):
        """Trace the step loop in this thread, without running it (`advance` reuses the trace).

        TensorFlow names a traced function after the count of functions traced before it in the
        process, and the key of its XLA program in the persistent cache (`lazyfeat_tf.
        compilation_cache`) follows that name: a loop traced while another thread traces its own
        functions gets a name, hence a key, that changes from one process to the next, and never
        finds its program in the cache. Traced at a point every process of a run reaches in the
        same order (e.g. in the main thread before any other thread starts), it does.
        """
        scalar = tf.TensorSpec([], tf.int64)
        self._advance.get_concrete_function(scalar, scalar, tf.TensorSpec([], self.system.dtype))

    def advance(self, target_step, max_attempts=1000, until_time=math.inf):
        """Integrate until `target_step` accepted steps, time `until_time` (reached exactly), a stop
        criterion, or `max_attempts` tries. Returns the `FlowState` afterwards.
        """
        self._advance(
            tf.constant(min(target_step, self.max_steps), tf.int64),
            tf.constant(max_attempts, tf.int64),
            tf.constant(min(until_time, self.max_time), self.system.dtype),
        )
        return self.state()

    def state(self):
        """The current `FlowState`; status says why the integration must stop, else "running"."""
        margins = self.outputs.numpy() * self.system.y.numpy()
        loss = float(self.loss.numpy())
        step, t, dt = int(self.step.numpy()), float(self.t.numpy()), float(self.dt.numpy())
        if t != self._still_t:  # where t last moved: (t, the step count then)
            self._still_t, self._still_since = t, step
        stalled = dt < self.min_dt or step - self._still_since >= STALL_STEPS
        status = stop_status(loss, margins.min(), step, t, self.max_steps, self.max_time, stalled=stalled)
        return FlowState(step, t, dt, int(self.rejected.numpy()), float(self.t1.numpy()), loss,
                         float(margins.min()), status)


def record_steps(max_steps, num_records):
    """Log-spaced record steps `[k]` int64 from 0 to max_steps, dense near 0 (every step up to ~10)."""
    grid = np.unique(np.round(np.logspace(0, math.log10(max(max_steps, 1)), num_records)).astype(np.int64))
    return np.concatenate([[0], grid])
