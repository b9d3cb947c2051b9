"""Tests of lazyfeat_tf.dynamics (adaptive-step gradient flow) and lazyfeat_tf.stochastic (SGD/Adam):
accept/reject logic, agreement with a reference Euler integration, convergence, stop criteria,
float64, momentum, t1 and the record grid."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import build_model, task_of, tiny_config
from lazyfeat_tf import dynamics, layers, losses, stochastic


def sign_task(n=16, d=4, seed=0, dtype="float64"):
    """Points of norm sqrt(d) labelled by the sign of their first coordinate (linearly separable)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    x *= math.sqrt(d) / np.linalg.norm(x, axis=1, keepdims=True)
    y = np.where(x[:, 0] > 0, 1.0, -1.0)
    return x.astype(dtype), y.astype(dtype)


def make_system(dtype="float64", n=16, d=4, width=8, depth=2, alpha_sqrt_h=1.0, loss="soft_hinge", seed=0):
    config = tiny_config(dtype=dtype, model__width=width, model__depth=depth, alpha_sqrt_h=alpha_sqrt_h,
                         seed=seed)
    model = build_model(config, (d,))
    x, y = sign_task(n, d, dtype=dtype)
    return model, dynamics.NetworkSystem(model, x, y, loss)


def synthetic_system(dtype="float32", **overrides):
    """The network of `tiny_config` on its synthetic task (dim 8, 64 points)."""
    config = tiny_config(dtype=dtype, **overrides)
    task = task_of(config, dtype)
    model = build_model(config, task.input_shape)
    return model, dynamics.NetworkSystem(model, task.x_train, task.y_train, config.loss.name), task


def run_to_end(flow, max_steps=10**6):
    state = flow.state()
    while state.status == "running" and state.step < max_steps:
        state = flow.advance(max_steps, max_attempts=5000)
    return state


def params_now(system):
    return [v.numpy().copy() for v in system.params]


def dout_dgrad(system, params, dt):
    """(dout, dgrad) of the plain gradient-flow proposal w + dt (-g) from `params`, recomputed here."""
    params = [tf.constant(p) for p in params]
    out, _, g = system.evaluate(params)
    out2, _, g2 = system.evaluate([p - dt * gi for p, gi in zip(params, g)])
    g, g2 = (np.concatenate([np.ravel(a) for a in gs]) for gs in (g, g2))
    dgrad = np.sum((g - g2) ** 2) / (np.linalg.norm(g) * np.linalg.norm(g2))
    return float(np.max(np.abs(out2 - out))), float(dgrad)


@pytest.mark.parametrize("loss", ["hinge", "soft_hinge", "quadratic_hinge"])
@pytest.mark.parametrize("centered", [True, False])
def test_evaluate_gives_the_autodiff_gradient_of_the_loss(loss, centered):
    # evaluate feeds dL/df = l'(F y) y / (alpha n) into the tape of f; here the tape covers the loss.
    config = tiny_config(dtype="float64", model__width=8, model__depth=2, alpha_sqrt_h=3.0, model__centered=centered,
                         model__use_bias=True, model__beta=0.5)
    model = build_model(config, (4,))
    x, y = sign_task(n=40)
    system = dynamics.NetworkSystem(model, x, y, loss)
    rng = np.random.default_rng(2)
    params = [tf.constant(p.numpy() + 1.0 * rng.standard_normal(p.shape)) for p in system.params]
    outputs, value, grads = system.evaluate(params)
    with tf.GradientTape() as tape:
        tape.watch(params)
        expected_outputs = system.outputs(params, system.x, system.f0)
        expected_loss = system.loss(expected_outputs, system.y)
    expected = tape.gradient(expected_loss, params)
    margins = expected_outputs.numpy() * y
    assert margins.min() < 0 and margins.max() > 1  # points on both sides of the hinge
    np.testing.assert_array_equal(outputs.numpy(), expected_outputs.numpy())
    assert float(value) == float(expected_loss)
    for g, e in zip(grads, expected):
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-12, atol=1e-15 * np.abs(e.numpy()).max())
        assert np.abs(e.numpy()).max() > 0


# ----------------------------------------------------------------------------------------------
# Accept / reject


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dt_grows_by_exactly_1p1_per_step_when_every_step_is_accepted(dtype):
    _, system = make_system(dtype)
    flow = dynamics.GradientFlow(system, max_dout=1e30, max_dgrad=1e30, dt0=1e-4)
    state = flow.advance(20)
    assert (state.step, state.rejected, state.status) == (20, 0, "running")
    dt, t = np.dtype(dtype).type(1e-4), np.dtype(dtype).type(0.0)
    for _ in range(20):
        t = t + dt
        dt = dt * np.dtype(dtype).type(1.1)
    assert flow.dt.numpy() == dt
    assert state.dt == pytest.approx(1e-4 * 1.1**20, rel=1e-5)
    assert flow.t.numpy() == pytest.approx(t, rel=1e-6)
    assert flow.t.numpy().dtype == np.dtype(dtype)


def test_a_too_large_first_step_is_divided_by_10_until_accepted():
    _, system = make_system()
    p0 = params_now(system)
    flow = dynamics.GradientFlow(system, dt0=1e3)  # default bounds: 0.1 on dout, 1e-4 on dgrad
    state = flow.advance(1)
    assert state.step == 1 and state.rejected >= 2
    accepted_dt = 1e3 / 10**state.rejected
    assert state.t == pytest.approx(accepted_dt, rel=1e-12)
    assert state.dt / accepted_dt in (pytest.approx(1.0), pytest.approx(1.1))
    # Recomputed here: the accepted dt passes both bounds, the previous (10x) proposal fails one.
    dout, dgrad = dout_dgrad(system, p0, accepted_dt)
    assert dout < 0.1 and dgrad < 1e-4
    grew = state.dt / accepted_dt > 1.05
    assert grew == (dout < 0.05 and dgrad < 0.5e-4)
    dout, dgrad = dout_dgrad(system, p0, 10 * accepted_dt)
    assert dout >= 0.1 or dgrad >= 1e-4
    # The parameters moved by exactly one Euler step of the accepted dt.
    _, _, g = system.evaluate([tf.constant(p) for p in p0])
    for p, p_old, gi in zip(system.params, p0, g):
        np.testing.assert_allclose(p.numpy(), p_old - accepted_dt * gi.numpy(), rtol=1e-12, atol=1e-15)


def test_tiny_max_dgrad_forces_rejections_and_shrinks_dt():
    _, system = make_system()
    p0 = params_now(system)
    flow = dynamics.GradientFlow(system, max_dgrad=1e-16, dt0=1.0)
    state = flow.advance(3, max_attempts=6)
    assert state.rejected == 6 and state.step == 0
    assert state.dt == pytest.approx(1e-6, rel=1e-12)
    assert state.t == 0.0
    for p, p_old in zip(system.params, p0):
        np.testing.assert_array_equal(p.numpy(), p_old)  # rejected proposals leave w unchanged


def test_every_accepted_step_respects_the_dout_bound_and_decreases_the_loss():
    _, system = make_system()
    flow = dynamics.GradientFlow(system, max_dout=0.02)
    outputs, loss = flow.outputs.numpy().copy(), flow.loss.numpy()
    for k in range(1, 41):
        state = flow.advance(k)
        assert state.step == k
        new = flow.outputs.numpy().copy()
        assert np.abs(new - outputs).max() < 0.02
        assert state.loss < loss
        outputs, loss = new, state.loss
    # The outputs held by the integrator are those of the model at its current weights.
    model_outputs = system.outputs([tf.convert_to_tensor(p) for p in system.params], system.x, system.f0)
    np.testing.assert_allclose(outputs, model_outputs.numpy(), rtol=1e-12, atol=1e-15)


# ----------------------------------------------------------------------------------------------
# The compiled step against the rule written out attempt by attempt


def previous_softplus_call(self, inputs):
    """`NormalizedActivation.call` as it was before the fused softplus (Keras' softplus, autodiff)."""
    if self.activation == "relu":
        return self.scale * keras.ops.relu(inputs)
    return self.scale * keras.ops.softplus(self.softplus_beta * inputs) / self.softplus_beta


def reference_attempts(system, n_attempts, max_dout, max_dgrad, dt0, tau=0.0):
    """The adaptive rule of the module docstring, eagerly, one attempt at a time in Python: the state
    (step, rejected, dt, t, params) after every attempt."""
    params = [tf.constant(p.numpy()) for p in system.params]
    outputs, _, g = system.evaluate(params)
    v = [tf.zeros_like(p) for p in params]
    dt, t, step, rejected, history = dt0, 0.0, 0, 0, []
    for _ in range(n_attempts):
        if tau > 0:
            decay = math.exp(-dt / tau)
            v_new = [decay * vi - (1 - decay) * gi for vi, gi in zip(v, g)]
        else:
            v_new = [-gi for gi in g]
        p_new = [p + dt * vi for p, vi in zip(params, v_new)]
        out_new, loss_new, g_new = system.evaluate(p_new)
        flat, flat_new = (np.concatenate([np.ravel(a) for a in gs]) for gs in (g, g_new))
        dout = float(np.max(np.abs(out_new - outputs)))
        dgrad = float(np.sum((flat - flat_new) ** 2) / (np.linalg.norm(flat) * np.linalg.norm(flat_new)))
        if dout < max_dout and dgrad < max_dgrad and math.isfinite(float(loss_new)):
            grow = dout < max_dout / 2 and dgrad < max_dgrad / 2
            params, v, g, outputs = p_new, v_new, g_new, out_new
            t, step, dt = t + dt, step + 1, dt * 1.1 if grow else dt
        else:
            rejected, dt = rejected + 1, dt / 10
        history.append((step, rejected, dt, t, [p.numpy() for p in params], [vi.numpy() for vi in v]))
    return history


@pytest.mark.parametrize("jit", [False, True], ids=["graph", "xla"])
@pytest.mark.parametrize("tau", [0.0, 0.3])
def test_compiled_step_follows_the_previous_step_attempt_by_attempt(monkeypatch, jit, tau):
    # float64; dt0 = 30 and a tight max_dgrad: rejections first, then a mix of grown, kept and
    # rejected steps. The reference runs the network with the activation as it was before the fused
    # softplus (Keras softplus and its autodiff gradient), so that this compares the whole new step,
    # loop and activation, with the previous one.
    n_attempts, bounds = 40, dict(max_dout=0.05, max_dgrad=2e-5, dt0=30.0)
    _, system = make_system("float64", n=32, d=6, width=16, depth=3, alpha_sqrt_h=3.0)
    p0 = params_now(system)
    flow = dynamics.GradientFlow(system, tau=tau, jit_compile=jit, **bounds)
    states = [flow.advance(10**6, max_attempts=1) for _ in range(n_attempts)]
    compiled = [(s.step, s.rejected, s.dt, s.t) for s in states]
    final = params_now(system), [v.numpy() for v in flow.v]
    for var, value in zip(system.params, p0):
        var.assign(value)
    monkeypatch.setattr(layers.NormalizedActivation, "call", previous_softplus_call)
    reference = reference_attempts(system, n_attempts, tau=tau, **bounds)
    assert [(s, r) for s, r, _, _ in compiled] == [(s, r) for s, r, *_ in reference]
    steps, rejected = compiled[-1][:2]
    assert rejected >= 3 and steps >= 20  # both branches taken, several times
    assert len({round(b[2] / a[2], 6) for a, b in zip(compiled, compiled[1:])}) == 3  # 1.1, 1 and 1/10
    np.testing.assert_allclose([c[2:] for c in compiled], [r[2:4] for r in reference], rtol=1e-12)
    for new, old in zip(final[0] + final[1], reference[-1][4] + reference[-1][5]):
        np.testing.assert_allclose(new, old, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------------------------
# The flow is dw/dt = -grad L


def euler_reference(system, params, t_end, n_steps):
    """F at t_end from w0 = params by n_steps fixed Euler steps of dw/dt = -grad L."""
    dt = tf.constant(t_end / n_steps, system.dtype)

    @tf.function
    def run(params):
        def body(i, params):
            _, _, g = system.evaluate(params)
            return i + 1, [p - dt * gi for p, gi in zip(params, g)]

        _, params = tf.while_loop(lambda i, _: i < n_steps, body, (tf.constant(0), params))
        return system.outputs(params, system.x, system.f0)

    return run([tf.constant(p) for p in params]).numpy()


@pytest.mark.parametrize("bounds,tolerance", [({}, 5e-3), ({"max_dout": 0.01, "max_dgrad": 1e-5}, 1e-3)])
def test_flow_matches_a_fine_euler_integration(bounds, tolerance):
    model, system = make_system("float64")
    p0 = params_now(system)
    t_end = 1.0
    reference = euler_reference(system, p0, t_end, 8000)  # its own error is ~6e-5 here
    flow = dynamics.GradientFlow(system, **bounds)
    state = flow.advance(10**6, max_attempts=10**5, until_time=t_end)
    assert state.t == t_end  # the last step lands on the time exactly
    assert state.status == "running" and state.step > 50
    outputs = np.asarray(model(system.x))
    assert np.abs(reference).max() > 0.5  # F has moved a lot from F(w0) = 0
    np.testing.assert_allclose(outputs, reference, atol=tolerance)
    # A clock off by 10 % would miss by far more than the tolerance.
    later = euler_reference(system, p0, 1.1 * t_end, 8800)
    assert np.abs(later - reference).max() > 5 * tolerance


# ----------------------------------------------------------------------------------------------
# Convergence and stop criteria


def test_converges_on_the_small_synthetic_task():
    model, system, task = synthetic_system()
    flow = dynamics.GradientFlow(system)
    state = run_to_end(flow, 20_000)
    assert state.status == "converged"
    margins = np.asarray(model(task.x_train)) * task.y_train  # through the Keras model itself
    assert margins.min() >= 1.0 - 1e-5
    assert state.min_margin >= 1.0
    assert float(losses.error_rate(np.asarray(model(task.x_train)), task.y_train)) == 0.0
    assert state.t1 > 0 and state.t > state.t1
    # A converged flow does not move any more.
    again = flow.advance(state.step + 100)
    assert (again.step, again.t, again.status) == (state.step, state.t, "converged")


def test_max_steps_stops_exactly_and_stays():
    _, system = make_system()
    flow = dynamics.GradientFlow(system, max_steps=7)
    state = flow.advance(10**6)
    assert (state.step, state.status) == (7, "max_steps")
    assert flow.advance(10**6).step == 7


def test_max_time_stops_exactly_on_the_budget():
    _, system = make_system()
    flow = dynamics.GradientFlow(system, max_time=0.37)
    state = run_to_end(flow)
    assert state.status == "max_time"
    assert state.t == pytest.approx(0.37, rel=1e-12)
    assert flow.advance(10**6).step == state.step


def test_nan_state_stops_with_status_nan():
    model, system = make_system()
    kernel = system.params[0]
    kernel.assign(np.full(kernel.shape, np.nan))  # an absurd initial state: F = NaN
    flow = dynamics.GradientFlow(system)
    state = flow.advance(100)
    assert state.status == "nan"
    assert state.step == 0 and state.rejected == 0


def test_overflowing_proposals_are_rejected_not_accepted():
    _, system = make_system("float32")
    flow = dynamics.GradientFlow(system, max_dout=1e30, max_dgrad=1e30, dt0=1e30)
    state = flow.advance(3)
    assert state.rejected > 0 and state.step == 3
    assert math.isfinite(state.loss) and state.status == "running"
    assert all(np.all(np.isfinite(p.numpy())) for p in system.params)


def test_stalled_when_dt_falls_below_min_dt():
    _, system = make_system()
    flow = dynamics.GradientFlow(system, max_dgrad=1e-16, dt0=1.0, min_dt=0.05)
    state = flow.advance(10)
    assert state.status == "stalled"
    assert state.rejected == 2 and state.step == 0 and state.dt < 0.05


@pytest.mark.parametrize("dtype, rtol, atol", [("float64", 1e-13, 1e-14), ("float32", 2e-6, 1e-6)])
def test_evaluate_by_blocks_of_rows_is_the_one_block_evaluation(dtype, rtol, atol):
    """F, L and the gradient of 2 and 3 row blocks (and more blocks than points: one per point) are
    those of one block, to round-off."""
    model, _ = make_system(dtype, n=17)
    x, y = sign_task(17, 4, dtype=dtype)
    reference = dynamics.NetworkSystem(model, x, y, "soft_hinge", blocks=1)
    params = [tf.convert_to_tensor(p) for p in reference.params]
    outputs, loss, grads = reference.evaluate(params)
    for blocks in (2, 3, 40):
        system = dynamics.NetworkSystem(model, x, y, "soft_hinge", blocks=blocks)
        assert len(system._blocks) == min(blocks, 17)
        b_outputs, b_loss, b_grads = system.evaluate(params)
        np.testing.assert_allclose(b_outputs.numpy(), outputs.numpy(), rtol=rtol, atol=atol)  # F = 0 at w0
        np.testing.assert_allclose(float(b_loss), float(loss), rtol=rtol)
        for g, b in zip(grads, b_grads):
            np.testing.assert_allclose(b.numpy(), g.numpy(), rtol=rtol, atol=rtol * float(np.abs(g.numpy()).max()))


def _run_until_stop(flow):
    """Advance `flow` until it stops; its final `FlowState`."""
    state = flow.state()
    while state.status == "running":
        state = flow.advance(10**6, max_attempts=500)
    return state


class _KinkSystem:
    """L(w) = |w| / alpha^2 for one parameter: its gradient flips at w = 0, so the flow's accepted
    steps shrink geometrically and t converges to w0 without passing it (a Zeno stall, as ReLU
    networks show in the feature regime); the margin stays below 1."""

    def __init__(self, w0=1.0):
        self.dtype, self.alpha = tf.float64, 1.0
        self.y = tf.constant([1.0], tf.float64)
        self.params = [tf.Variable(tf.constant([w0], tf.float64))]

    def evaluate(self, params):
        w = params[0]
        return -tf.abs(w), tf.reduce_sum(tf.abs(w)), [tf.sign(w)]


def test_stalled_when_steps_no_longer_move_t(monkeypatch):
    """dt far above min_dt, yet STALL_STEPS accepted steps at one t: "stalled" long before the step
    budget, at t ~ w0 (the kink), and it stays so; a restart starts afresh. (Here w keeps halving
    about every 4 steps once t is still: 100 steps, not the default 1000, come before w underflows.)"""
    monkeypatch.setattr(dynamics, "STALL_STEPS", 100)
    flow = dynamics.GradientFlow(_KinkSystem(), dt0=0.25, min_dt=1e-300, max_steps=10**6)
    state = _run_until_stop(flow)
    assert state.status == "stalled" and state.dt > 1e-300
    assert state.t == pytest.approx(1.0, rel=1e-12) and state.step < 1000
    assert flow.state().status == "stalled"
    flow.restart()
    assert flow.state().status == "running"


class _ReluStepSystem:
    """One parameter w, one point (y = 1): F = w + 2 relu(w - 1/2), L = -F. The gradient jumps from
    -1 to -3 at w = 1/2 (dgrad = 4/3); from w0 = 0 the flow reaches F = 1 at w = 2/3, t = 1/2 + 1/18."""

    def __init__(self):
        self.dtype, self.alpha = tf.float64, 1.0
        self.y = tf.constant([1.0], tf.float64)
        self.params = [tf.Variable(tf.zeros([1], tf.float64))]

    def evaluate(self, params):
        w = params[0]
        outputs = w + 2.0 * tf.nn.relu(w - 0.5)
        slope = 1.0 + 2.0 * tf.cast(w > 0.5, tf.float64)
        return outputs, -tf.reduce_sum(outputs), [-slope]


class _SlidingSystem:
    """Two parameters (u, w), one point (y = 1): F = w, L = |u| - 10 w, from u0 = 0.05, w0 = 0. The
    flow brings u to 0 at t = 0.05, then slides along the kink u = 0 (Filippov: u stays 0) while w
    keeps growing at rate 10: F = 1 at t = 0.1 exactly. Every step across u = 0 changes the gradient
    by dgrad = 4 / 101."""

    def __init__(self):
        self.dtype, self.alpha = tf.float64, 1.0
        self.y = tf.constant([1.0], tf.float64)
        self.params = [tf.Variable(tf.constant([0.05], tf.float64)), tf.Variable(tf.zeros([1], tf.float64))]

    def evaluate(self, params):
        u, w = params
        return w, tf.reduce_sum(tf.abs(u) - 10.0 * w), [tf.sign(u), -10.0 * tf.ones_like(w)]


@pytest.mark.parametrize("system_class, t_end", [(_ReluStepSystem, 0.5 + 1 / 18), (_SlidingSystem, 0.1)])
def test_cross_kinks_passes_a_kink_where_the_plain_rule_stalls(monkeypatch, system_class, t_end):
    """Without cross_kinks the flow stalls at the kink (t = 1/2, t = 0.05); with it, it crosses (or
    slides along) the kink and converges at the exact time to within its last step."""
    monkeypatch.setattr(dynamics, "STALL_STEPS", 100)
    options = dict(dt0=1e-3, max_dout=1e-3, min_dt=1e-300, max_steps=10**5)
    plain = _run_until_stop(dynamics.GradientFlow(system_class(), **options))
    assert plain.status == "stalled" and plain.t < t_end - 0.04
    flow = dynamics.GradientFlow(system_class(), cross_kinks=True, **options)
    state = _run_until_stop(flow)
    assert state.status == "converged"
    assert t_end <= state.t <= t_end + 1.1e-3 and state.step < 5000
    if system_class is _SlidingSystem:
        assert abs(float(flow.system.params[0].numpy()[0])) < 1e-3  # u stayed on the kink


def test_cross_kinks_under_xla_takes_the_same_steps():
    """The XLA step loop (accepted state picked by tf.where) crosses the kink as the graph one does."""
    options = dict(dt0=1e-3, max_dout=1e-3, max_steps=10**5, cross_kinks=True)
    graph = _run_until_stop(dynamics.GradientFlow(_ReluStepSystem(), **options))
    xla = _run_until_stop(dynamics.GradientFlow(_ReluStepSystem(), jit_compile=True, **options))
    assert xla.status == graph.status == "converged"
    assert (xla.step, xla.rejected) == (graph.step, graph.rejected) and xla.t == pytest.approx(graph.t, rel=1e-12)


def test_cross_kinks_keeps_the_trajectory_of_a_smooth_system():
    """On a network without kinks (Softplus) the rule never fires: the same trajectory, bit for bit."""
    _, system_a = make_system("float64")
    _, system_b = make_system("float64")
    plain = dynamics.GradientFlow(system_a).advance(60)
    kinks = dynamics.GradientFlow(system_b, cross_kinks=True).advance(60)
    assert (plain.step, plain.rejected, plain.t, plain.loss) == (kinks.step, kinks.rejected, kinks.t, kinks.loss)


def test_steps_that_move_t_do_not_stall(monkeypatch):
    """Many accepted steps between two looks are not a stall when t moved; one fewer than
    STALL_STEPS at one t is not either."""
    monkeypatch.setattr(dynamics, "STALL_STEPS", 5)
    _, system = make_system()
    flow = dynamics.GradientFlow(system)
    assert flow.advance(20).status == "running"
    t = flow.t.numpy()
    flow.step.assign_add(4)  # as if 4 accepted steps had left t where it was
    assert flow.state().status == "running"
    flow.step.assign_add(1)
    assert flow.state().status == "stalled" and flow.t.numpy() == t


# ----------------------------------------------------------------------------------------------
# float64, momentum, t1, record grid


def test_float64_throughout():
    model, system = make_system("float64")
    assert system.dtype == "float64"
    assert all(p.dtype == tf.float64 for p in system.params)
    assert system.x.dtype == tf.float64 and system.f0.dtype == tf.float64
    flow = dynamics.GradientFlow(system)
    state = flow.advance(30)
    assert state.step == 30
    for v in [flow.outputs, flow.loss, flow.dt, flow.t, flow.t1] + flow.v + flow.g:
        assert v.dtype == tf.float64, v.name
    assert all(p.dtype == tf.float64 for p in system.params)
    assert np.asarray(model(system.x)).dtype == np.float64
    # float32 follows the same trajectory to float32 accuracy (same weights: the initializer draws
    # different numbers for different dtypes, so copy them).
    model64 = build_model(tiny_config(dtype="float64", model__depth=2), (4,))
    model32 = build_model(tiny_config(dtype="float32", model__depth=2), (4,))
    model32.set_weights([w.astype("float32") for w in model64.get_weights()])
    x, y = sign_task()
    system64 = dynamics.NetworkSystem(model64, x, y, "soft_hinge")
    system32 = dynamics.NetworkSystem(model32, x.astype("float32"), y.astype("float32"), "soft_hinge")
    flow32 = dynamics.GradientFlow(system32, max_dout=1e30, max_dgrad=1e30, dt0=1e-2)
    flow64 = dynamics.GradientFlow(system64, max_dout=1e30, max_dgrad=1e30, dt0=1e-2)
    flow32.advance(20)
    flow64.advance(20)
    np.testing.assert_allclose(flow32.outputs.numpy(), flow64.outputs.numpy(), rtol=1e-3, atol=1e-4)


def test_momentum_velocity_and_descent():
    tau, dt0 = 0.5, 1e-2
    _, system = make_system()
    p0 = params_now(system)
    _, _, g0 = system.evaluate([tf.constant(p) for p in p0])
    flow = dynamics.GradientFlow(system, tau=tau, dt0=dt0, max_dout=1e30, max_dgrad=1e30)
    flow.advance(1)
    # v1 = exp(-dt/tau) v0 - (1 - exp(-dt/tau)) g0 with v0 = 0; w1 = w0 + dt v1.
    decay = math.exp(-dt0 / tau)
    for p, p_old, gi, v in zip(system.params, p0, g0, flow.v):
        np.testing.assert_allclose(v.numpy(), -(1 - decay) * gi.numpy(), rtol=1e-12, atol=1e-18)
        np.testing.assert_allclose(p.numpy(), p_old - dt0 * (1 - decay) * gi.numpy(), rtol=1e-12, atol=1e-18)
    # With the default bounds it trains: the loss falls.
    _, system = make_system()
    flow = dynamics.GradientFlow(system, tau=tau)
    loss0 = flow.state().loss
    state = flow.advance(200)
    assert state.step == 200 and state.status in ("running", "converged")
    assert state.loss < 0.9 * loss0
    assert max(np.abs(v.numpy()).max() for v in flow.v) > 0


def test_t1_is_the_first_time_the_unscaled_loss_drops_below_one_half():
    _, system = make_system(alpha_sqrt_h=2.0)
    alpha2 = system.alpha**2
    flow = dynamics.GradientFlow(system)
    assert alpha2 * flow.state().loss > 0.5 and flow.state().t1 == -1.0
    expected = None
    for k in range(1, 5000):
        state = flow.advance(k)
        assert state.step == k
        if alpha2 * state.loss < 0.5:
            expected = state.t
            break
        assert state.t1 == -1.0
    assert expected is not None
    assert state.t1 == expected
    state = flow.advance(k + 50)
    assert state.t1 == expected  # recorded once


def test_record_steps_grid():
    grid = dynamics.record_steps(100_000, 80)
    assert grid[0] == 0 and grid[-1] == 100_000
    assert np.all(np.diff(grid) > 0)
    assert grid.dtype == np.int64
    assert set(range(11)) <= set(grid.tolist())  # dense near t = 0: every step up to 10
    ratios = grid[2:] / grid[1:-1]
    assert ratios.max() <= 2.0 and ratios[-10:].max() < 1.2  # log-spaced
    assert 60 <= len(grid) <= 81
    small = dynamics.record_steps(5, 80)
    assert small.tolist() == [0, 1, 2, 3, 4, 5]
    assert dynamics.record_steps(1, 10).tolist() == [0, 1]


# ----------------------------------------------------------------------------------------------
# Minibatch SGD / Adam


@pytest.mark.parametrize("kind,learning_rate", [("sgd", 0.05), ("adam", 0.01)])
def test_minibatch_trainer_decreases_the_loss(kind, learning_rate):
    _, system, _ = synthetic_system()
    trainer = stochastic.MinibatchTrainer(system, kind=kind, learning_rate=learning_rate, batch_size=16,
                                          seed=3, max_steps=60)
    start = trainer.state()
    assert start.loss == pytest.approx(float(system.loss(np.zeros(64, "float32"), system.y)), rel=1e-6)
    state = trainer.advance(10**6)
    assert state.step == 60 and state.status in ("max_steps", "converged")
    assert state.t == pytest.approx(60 * learning_rate)
    assert state.loss < 0.8 * start.loss
    # The stored outputs are those of the network at its current weights.
    fresh = system.outputs([tf.convert_to_tensor(p) for p in system.params], system.x, system.f0).numpy()
    np.testing.assert_allclose(trainer.outputs.numpy(), fresh, rtol=1e-5, atol=1e-6)


def test_minibatch_order_is_deterministic_and_covers_each_epoch():
    _, system, _ = synthetic_system()
    make = lambda seed: stochastic.MinibatchTrainer(system, kind="sgd", batch_size=16, seed=seed)
    a, b, c = make(5), make(5), make(6)
    assert a.batches_per_epoch == 4
    for step in (0, 3, 4, 9, 123):
        np.testing.assert_array_equal(a.batch_indices(step), b.batch_indices(step))
        assert len(a.batch_indices(step)) == 16
    epoch = np.concatenate([a.batch_indices(s) for s in range(4)])
    assert sorted(epoch.tolist()) == list(range(64))  # each point once per epoch
    assert not np.array_equal(a.batch_indices(0), a.batch_indices(4))  # a new order each epoch
    assert not np.array_equal(a.batch_indices(0), c.batch_indices(0))  # the seed matters


def test_minibatch_training_is_reproducible():
    finals = []
    for _ in range(2):
        _, system, _ = synthetic_system()
        trainer = stochastic.MinibatchTrainer(system, kind="sgd", learning_rate=0.05, batch_size=16, seed=1,
                                              max_steps=10)
        trainer.advance(10)
        finals.append(trainer.outputs.numpy())
    np.testing.assert_array_equal(finals[0], finals[1])
