"""Kernel drift along training, the frozen-kernel predictors, and their place in a run."""

import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import tiny_config
from lazyfeat_tf import ntk, train
from test_train import Interrupt, assert_same_run, interrupt_at_checkpoint, read_metrics


def tracked_config(**overrides):
    settings = dict(dynamics__max_steps=5000, dynamics__num_records=30, kernels__n_probe_train=16,
                    kernels__n_probe_test=16, kernels__heatmap_size=4, kernels__n_eigenvalues=3)
    config = tiny_config(**{**settings, **overrides})
    config.kernels.track = True
    return config


@pytest.fixture(scope="module")
def lazy_and_feature(tmp_path_factory):
    """{alpha_sqrt_h: workdir} of two finished tracked runs."""
    runs = {}
    for value in (0.01, 1e4):
        workdir = str(tmp_path_factory.mktemp("tracked") / f"run_{value}")
        train.train_and_evaluate(tracked_config(alpha_sqrt_h=value), workdir)
        runs[value] = workdir
    return runs


def results_of(workdir):
    with open(os.path.join(workdir, "results.json")) as f:
        return json.load(f)


def test_results_hold_kernel_numbers(lazy_and_feature):
    for workdir in lazy_and_feature.values():
        results = results_of(workdir)
        for key in ("kernel_drift_train", "kernel_drift_test", "init_kernel_test_error", "final_kernel_test_error"):
            assert isinstance(results[key], float), key
        assert 0.0 <= results["init_kernel_test_error"] <= 1.0
        with np.load(os.path.join(workdir, "kernels.npz")) as kernels:
            assert {"initial/train/total", "final/train/total", "initial/test/total", "final/train/readout"} <= set(kernels.files)
            assert kernels["initial/train/total"].shape == (16, 16)
            drift = np.linalg.norm(kernels["final/test/total"] - kernels["initial/test/total"]) / np.linalg.norm(
                kernels["initial/test/total"])
            assert drift == pytest.approx(results["kernel_drift_test"], rel=1e-6)


def test_drift_is_zero_at_start_and_far_smaller_when_lazy(lazy_and_feature):
    lazy, feature = (results_of(lazy_and_feature[v]) for v in (1e4, 0.01))
    for workdir in lazy_and_feature.values():
        first = read_metrics(workdir)[0]
        assert first["step"] == 0 and first["kernel_drift_train"] == 0.0 and first["linear_distance"] == 0.0
    assert lazy["kernel_drift_test"] < 0.1
    assert feature["kernel_drift_test"] > 100 * lazy["kernel_drift_test"]
    # The lazy network stays on its linearization: it ends near the frozen-Theta_0 model (up to
    # the integrators' own error, a few 0.01 with max_dout = 0.1); the feature network leaves it.
    lazy_distance = read_metrics(lazy_and_feature[1e4])[-1]["linear_distance"]
    feature_distance = read_metrics(lazy_and_feature[0.01])[-1]["linear_distance"]
    assert lazy_distance < 0.1 and feature_distance > 1.0


def test_tensorboard_gets_the_kernel_drift_tags(lazy_and_feature):
    tags = set()
    for path in glob.glob(os.path.join(lazy_and_feature[1e4], "tb", "events.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update(value.tag for value in event.summary.value)
    assert {"kernel_drift/train/total", "kernel_drift/test/total", "kernel_drift/t", "train/loss", "test/error"} <= tags


def test_resume_with_kernel_tracking_equals_uninterrupted_run(lazy_and_feature, tmp_path, monkeypatch):
    workdir = str(tmp_path / "resumed")
    config = tracked_config(alpha_sqrt_h=1e4)
    interrupt_at_checkpoint(monkeypatch, 8)
    with pytest.raises(Interrupt):
        train.train_and_evaluate(config, workdir)
    monkeypatch.undo()
    train.train_and_evaluate(config, workdir)
    assert_same_run(workdir, lazy_and_feature[1e4])


def test_resume_at_the_last_record_writes_the_final_kernel(lazy_and_feature, tmp_path, monkeypatch):
    """Killed after its last record and checkpoint, before kernels.npz: the resumed run makes no new
    record, and its kernels.npz must still hold the final kernel, not Theta_0 (issue 13, item 1)."""
    workdir = str(tmp_path / "resumed")
    config = tracked_config(alpha_sqrt_h=1e4)

    def killed(self, state):
        raise Interrupt

    monkeypatch.setattr(ntk.KernelObserver, "finish", killed)
    with pytest.raises(Interrupt):
        train.train_and_evaluate(config, workdir)
    monkeypatch.undo()
    last = read_metrics(workdir)[-1]
    train.train_and_evaluate(config, workdir)
    assert read_metrics(workdir)[-1] == last  # resumed at the last record: nothing measured again
    assert_same_run(workdir, lazy_and_feature[1e4])
    with np.load(os.path.join(workdir, "kernels.npz")) as got, \
            np.load(os.path.join(lazy_and_feature[1e4], "kernels.npz")) as want:
        assert sorted(got.files) == sorted(want.files)
        for key in want.files:
            np.testing.assert_array_equal(got[key], want[key], err_msg=key)
        assert np.abs(got["final/train/total"] - got["initial/train/total"]).max() > 0


def test_a_diverging_tracked_run_ends_with_status_nan_and_no_numbers(tmp_path):
    """SGD with a huge step: the kernel turns NaN; the run ends "nan" (no LinAlgError), and what
    it says of the network is null, while the Theta_0 predictor keeps its number (issue 13, item 3)."""
    workdir = str(tmp_path / "diverged")
    config = tracked_config(dynamics__kind="sgd", dynamics__learning_rate=1e30, kernels__running_fractions=(1.0,))
    results = train.train_and_evaluate(config, workdir)
    on_disk = results_of(workdir)
    assert on_disk == results and results["status"] == "nan"
    for key in ("train_error", "test_error", "kernel_drift_train", "kernel_drift_test", "final_kernel_test_error",
                "relative_weight_change", "kernel_drift_train_full", "kernel_drift_test_full"):
        assert results[key] is None, key
    assert results["running_kernel_test_errors"][0]["test_error"] is None
    assert 0 <= results["init_kernel_test_error"] <= 1
    last = read_metrics(workdir)[-1]
    assert last["kernel_drift_train"] is None and last["train_error"] is None


def soft_hinge_prime(margins, beta=20.0):
    """dl/dz of l(z) = softplus(beta (1 - z)) / beta: -sigmoid(beta (1 - z))."""
    return -1.0 / (1.0 + np.exp(-beta * (1.0 - margins)))


@pytest.mark.parametrize("jit_compile", [True, False], ids=["xla", "graph"])
def test_frozen_kernel_model_follows_its_ode(jit_compile):
    """dc/dt = -(1/n) l'(F y) y with F = Theta c, against a fine explicit Euler integration, with
    the XLA-compiled step loop (the default) and without."""
    rng = np.random.default_rng(1)
    n, n_test = 12, 5
    a = rng.standard_normal((n + n_test, 4))
    theta_all = a @ a.T + 0.1 * np.eye(n + n_test)
    theta, theta_test = theta_all[:n, :n], theta_all[n:, :n]
    y = np.where(rng.standard_normal(n) > 0, 1.0, -1.0)
    y_test = np.ones(n_test)
    predictor = ntk.FrozenKernelPredictor(theta, theta_test, y, y_test, alpha=0.3,
                                                       max_dout=1e-3, max_dgrad=1e-6, jit_compile=jit_compile)
    assert predictor.flow._advance._jit_compile is jit_compile
    state = predictor.advance_to(0.7)
    assert state.t == 0.7
    c, dt = np.zeros(n), 1e-5
    for _ in range(70_000):
        c -= dt * soft_hinge_prime((theta @ c) * y) * y / n
    np.testing.assert_allclose(predictor.train_outputs(), theta @ c, rtol=2e-3, atol=1e-5)
    np.testing.assert_allclose(predictor.test_outputs(), theta_test @ c, rtol=2e-3, atol=1e-5)
    final = predictor.run_to_convergence()
    assert final.status == "converged"
    assert np.min(predictor.train_outputs() * y) >= 1.0


def test_background_compilation_changes_nothing():
    """compile_in_background leaves the state at t = 0 and the trajectory as it would have been."""
    rng = np.random.default_rng(2)
    a = rng.standard_normal((10, 3))
    theta = a @ a.T + 0.1 * np.eye(10)
    y = np.where(rng.standard_normal(10) > 0, 1.0, -1.0)
    plain, early = (ntk.FrozenKernelPredictor(theta, theta[:4], y, y[:4], alpha=2.0)
                    for _ in range(2))
    early.compile_in_background()
    np.testing.assert_array_equal(early.train_outputs(), np.zeros(10))  # waits for the compilation
    assert early.flow.state().t == 0.0 and early.flow.state().step == 0
    for t in (0.3, 5.0):
        assert early.advance_to(t) == plain.advance_to(t)
        np.testing.assert_array_equal(early.train_outputs(), plain.train_outputs())
        np.testing.assert_array_equal(early.test_outputs(), plain.test_outputs())


def test_integration_in_a_thread_gives_the_same_trajectory_and_raises_its_error():
    """advance_to / run_to_convergence with wait=False: the same states and outputs as the plain
    calls once waited for (train_outputs, coefficients and wait all wait); an error of the thread
    is raised by the next call."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal((10, 3))
    theta = a @ a.T + 0.1 * np.eye(10)
    y = np.where(rng.standard_normal(10) > 0, 1.0, -1.0)
    plain, threaded = (ntk.FrozenKernelPredictor(theta, theta[:4], y, y[:4], alpha=2.0) for _ in range(2))
    assert threaded.advance_to(0.3, wait=False) is None
    expected = plain.advance_to(0.3)
    np.testing.assert_array_equal(threaded.train_outputs(), plain.train_outputs())
    assert threaded.flow.state() == expected
    assert threaded.run_to_convergence(wait=False) is None
    assert plain.run_to_convergence().status == "converged"
    np.testing.assert_array_equal(threaded.coefficients().numpy(), plain.system.params[0].numpy())
    threaded.wait()  # nothing left to wait for
    threaded.restart_on(theta, theta[:4])
    threaded.flow.advance = None  # the thread's call fails
    threaded.advance_to(1.0, wait=False)
    with pytest.raises(TypeError, match="not callable"):
        threaded.train_outputs()
    threaded.wait()  # the error was raised once


def test_advance_to_a_float32_time_terminates():
    """0.02 is not a float32: the target must be compared as the flow stores time."""
    theta = np.eye(4, dtype=np.float32)
    y = np.array([1, -1, 1, -1], np.float32)
    predictor = ntk.FrozenKernelPredictor(theta, theta, y, y, alpha=1.0)
    state = predictor.advance_to(0.02, max_attempts=50)
    assert state.t == pytest.approx(0.02) and state.status == "running"


# ----------------------------------------------------------------------------------------------
# The predictors' test kernel by blocks of rows, never whole


def test_test_outputs_by_blocks_equal_those_of_the_whole_kernel():
    """Theta(test, train) given as ragged blocks of rows: the same test outputs (float64, 1e-12) as
    the whole `[n_test, n]` kernel, at an intermediate time and at convergence, with offsets."""
    rng = np.random.default_rng(4)
    n, n_test = 12, 9
    a = rng.standard_normal((n + n_test, 5))
    theta_all = a @ a.T + 0.1 * np.eye(n + n_test)
    theta, theta_test = theta_all[:n, :n], theta_all[n:, :n]
    y, y_test = (np.where(rng.standard_normal(m) > 0, 1.0, -1.0) for m in (n, n_test))
    offsets = (0.3 * rng.standard_normal(n), 0.3 * rng.standard_normal(n_test))
    whole, blocks = (ntk.FrozenKernelPredictor(theta, kernel, y, y_test, alpha=0.5, offsets=offsets)
                     for kernel in (theta_test, [theta_test[:2], theta_test[2:7], theta_test[7:]]))
    for advance in (lambda p: p.advance_to(0.4), lambda p: p.run_to_convergence()):
        assert advance(whole) == advance(blocks)
        c = whole.system.params[0].numpy()
        np.testing.assert_allclose(whole.test_outputs(), offsets[1] + theta_test @ c, rtol=1e-12)
        np.testing.assert_allclose(blocks.test_outputs(), whole.test_outputs(), rtol=1e-12, atol=1e-14)
        assert blocks.test_error() == whole.test_error()


def test_a_test_kernel_of_the_wrong_size_or_not_finite():
    theta, y = np.eye(4), np.array([1.0, -1.0, 1.0, -1.0])
    short = ntk.FrozenKernelPredictor(theta, [theta[:3]], y, y, alpha=1.0)
    with pytest.raises(ValueError, match="the test kernel has 3 rows in all, the test set 4 points"):
        short.test_outputs()
    diverged = ntk.FrozenKernelPredictor(theta, [theta[:2], np.full((2, 4), np.nan)], y, y, alpha=1.0)
    diverged.run_to_convergence()
    assert np.isnan(diverged.test_error())  # not 0.5: a NaN output is not a correct one


class _Stopped:
    """The network's final state as `KernelObserver.finish` reads it."""
    t, step = 1.0, 10


@pytest.mark.parametrize("centered", [True, False])
def test_observer_predictors_never_hold_the_test_kernel_and_match_the_whole_kernel(monkeypatch, centered):
    """The run's predictors compute the kernels by blocks of at most `rows` rows (here 7 of 64), the
    Theta_0 predictor's at w0 even after the network has moved. Their train kernels and their test
    outputs at their coefficients c, F0_test + Theta(test, train) c, are those of the whole kernels
    computed directly (float64, 1e-10), and so are the test errors reported."""
    from conftest import build_model, task_of
    from lazyfeat_tf import config as config_lib
    from lazyfeat_tf import losses
    from lazyfeat_tf.ntk import predictor
    from test_measures import perturb

    config = tracked_config(dtype="float64", model__centered=centered, kernels__running_fractions=(1.0,))
    spec, task = config_lib.resolve(config), task_of(config)
    model, fresh = (build_model(config, task.input_shape) for _ in range(2))  # same seed: fresh stays at w0
    rows = []
    monkeypatch.setattr(predictor, "block_rows", lambda model, n: 7)
    operands = predictor.KernelRows._operands  # the points of each forward/backward pass of the kernels
    monkeypatch.setattr(predictor.KernelRows, "_operands", lambda self, x: rows.append(len(x)) or operands(self, x))
    observer = ntk.KernelObserver(model, task, spec.kernels, ntk.predictor_options(spec), initial_loss=1.0)
    offset = 0.0 if centered else observer.offsets[1]

    def whole_kernels(network):
        return (ntk.empirical_ntk(network, task.x_train).numpy(),
                ntk.empirical_ntk(network, task.x_test, task.x_train).numpy())

    def check(found, kernels):
        """The predictor `found` (trained) against the whole `kernels`: (its test error, reference)."""
        np.testing.assert_allclose(found.system.theta.numpy(), kernels[0], rtol=1e-10)
        expected = offset + kernels[1] @ found.system.params[0].numpy()
        np.testing.assert_allclose(found.test_outputs(), expected, rtol=1e-10)
        return found.test_error(), float(losses.error_rate(expected, task.y_test))

    initial = whole_kernels(fresh)
    observer.initial.run_to_convergence()
    perturb(model)  # the network trains; the Theta_0 predictor's test kernel stays at w0
    final = whole_kernels(model)
    init_error, expected = check(observer.initial, initial)
    assert init_error == expected
    rows.clear()
    results, _ = observer.finish(_Stopped)
    # Theta_T(train, train) from one pass over the training set, shared by the final kernel's
    # predictor and the running one (fraction 1: the end); the test outputs the results are made of
    # come from `kernel_times`, without a row of a test kernel
    assert rows == [len(task.x_train)]
    final_error, expected = check(observer.initial, final)  # now the final kernel's predictor
    assert results["init_kernel_test_error"] == init_error
    assert results["final_kernel_test_error"] == final_error == expected
    running_error, expected = check(observer.running, final)
    assert results["running_kernel_test_errors"][0]["test_error"] == running_error == expected
    assert results["kernel_drift_train_full"] == pytest.approx(ntk.relative_drift(final[0], initial[0]), rel=1e-10)


def test_start_measures_beside_the_training_and_collect_waits_for_it():
    """`KernelObserver.start` returns while the probe kernels (on a snapshot of the parameters) and
    the Theta_0 predictor's integration up to the record's t run in their threads; the parameters
    may move meanwhile, and later records may start before the earlier ones are collected. `collect`
    then gives, oldest first, what measuring at each record gives: the tracker's record at the
    record's parameters, the distance to the predictor integrated to t in the caller's thread
    (float64: equal). At t = 0 the distance is taken at once. A `finish` before every record is
    collected is an error, not a lost record."""
    from conftest import build_model, task_of
    from lazyfeat_tf import config as config_lib
    from lazyfeat_tf import dynamics

    config = tracked_config(dtype="float64")
    spec, task = config_lib.resolve(config), task_of(config)
    models = []
    for _ in range(2):  # the same seed: the same network
        models.append(build_model(config, task.input_shape))
    model, twin = models
    observer = ntk.KernelObserver(model, task, spec.kernels, ntk.predictor_options(spec), initial_loss=1.0)
    tracker = ntk.KernelTracker(twin, task.x_train[:16], task.y_train[:16], task.x_test[:16], task.y_test[:16],
                                n_eigenvalues=3, heatmap_size=4)
    reference = ntk.FrozenKernelPredictor(observer.initial.system.theta.numpy(), np.zeros((1, len(task.y_train))),
                                          task.y_train, task.y_test[:1], **ntk.predictor_options(spec))
    states = [dynamics.FlowState(10 * t, t, 0.1, 0, -1.0, 1.0, -1.0, "running") for t in (0.0, 1.0, 2.0, 3.0)]
    outputs = [np.linspace(-1.0, 1.0 + t, len(task.y_train)) for t in range(len(states))]

    def rms(difference):
        return float(np.sqrt(np.mean(np.square(difference))))

    expected = []
    for state, out in zip(states, outputs):
        observer.start(state, out)
        expected.append(tracker.measure(state.t))  # the twin at the parameters of the record
        for variable in model.trainable_weights:  # training goes on meanwhile
            variable.assign(variable + 0.1)
        out += 1.0  # the caller's array may change too
        for a, b in zip(twin.trainable_weights, model.trainable_weights):
            a.assign(b)
    assert observer.pending() == 4
    with pytest.raises(RuntimeError, match=r"record at t = 0.0 was not collected: call collect\(\) before finish"):
        observer.finish(states[3])
    for state, out, record in zip(states, outputs, expected):
        flat, drift = observer.collect()
        assert drift == record and flat["kernel_drift_train"] == record["drift"]["train"]["total"]
        reference.advance_to(state.t)
        distance = rms(out - 1.0) if state.t == 0 else rms(out - 1.0 - reference.train_outputs())
        assert flat["linear_distance"] == distance
    assert not observer.pending() and not observer.ready() and record["drift"]["train"]["total"] > 0.0
    with pytest.raises(RuntimeError, match="no record to collect"):
        observer.collect()


@pytest.mark.parametrize("every_secs", [0.0, 10.0])
def test_every_checkpoint_follows_the_record_of_its_step_and_every_record_has_its_kernel_numbers(
        tmp_path, monkeypatch, every_secs):
    """Records wait for their kernel measurements (written once they are done, at a later record, or
    at the next checkpoint): metrics.jsonl always holds the records made so far up to some point, in
    order, and when a checkpoint is saved, the record of its step; in the end every record is
    written once, in order, with its linear distance (checkpoints at every record but step 0's, or
    only at the end: a new start's step 0 needs none)."""
    from lazyfeat_tf import rundir

    workdir = str(tmp_path / "run")
    saved, made, late = [], [], []
    save_checkpoint, record = rundir.RunDir.save_checkpoint, train.Training.record

    def checked_save_checkpoint(self, arrays, state):
        assert read_metrics(workdir)[-1]["step"] == state["step"]
        saved.append(state["step"])
        return save_checkpoint(self, arrays, state)

    def checked_record(self, state):
        entry = record(self, state)
        made.append(state.step)
        path = os.path.join(workdir, "metrics.jsonl")
        written = [r["step"] for r in read_metrics(workdir)] if os.path.exists(path) else []
        assert written == made[:len(written)]
        late.append(len(written) < len(made))
        return entry

    monkeypatch.setattr(rundir.RunDir, "save_checkpoint", checked_save_checkpoint)
    monkeypatch.setattr(train.Training, "record", checked_record)
    train.train_and_evaluate(tracked_config(alpha_sqrt_h=1.0, checkpoint_every_secs=every_secs), workdir)
    records = read_metrics(workdir)
    assert [r["step"] for r in records] == made == sorted(set(made))
    assert saved == (made[1:] if every_secs == 0 else [made[-1]])  # once a step
    assert late[0]  # the first record waits at least for the probe kernels' trace
    assert records[0]["linear_distance"] == 0.0 and records[-1]["linear_distance"] > 0.0


@pytest.mark.parametrize("kind, shape, structured_path", [("fc", (6,), True), ("fc", (6,), False),
                                                     ("cnn", (20, 20, 1), False)])
def test_kernel_times_is_the_product_with_the_whole_kernel(monkeypatch, kind, shape, structured_path):
    """Theta(x_rows, x_cols) c without the kernel equals the product with the kernel of
    `empirical_ntk` (float64, 1e-10), at the current parameters and at w0 once the network has
    moved, whatever the chunks, through a dense net's structured operands and by autodiff (the
    CNN's way; forced for the dense net); the parameters are given back exactly."""
    from lazyfeat_tf.ntk import structured
    from lazyfeat_tf.ntk.observer import kernel_times
    from test_kernels import inputs, make_model
    from test_measures import perturb

    model = make_model(shape, kind=kind, width=4 if kind == "cnn" else 8)  # with biases (beta = 0.5)
    assert structured.dense_only(model) == (kind == "fc")
    operands = structured.operands
    passes = []
    monkeypatch.setattr(structured, "operands", lambda *args: passes.append(1) or operands(*args))
    if not structured_path:
        monkeypatch.setattr(structured, "dense_only", lambda model: False)
    x_rows, x_cols = inputs(9, shape, 1), inputs(11, shape, 2)
    c = np.random.default_rng(3).normal(size=11)
    theta_0 = ntk.empirical_ntk(model, x_rows, x_cols).numpy()
    perturb(model)
    theta_t = ntk.empirical_ntk(model, x_rows, x_cols).numpy()
    assert np.abs(theta_t @ c - theta_0 @ c).max() > 1e-3 * np.abs(theta_0 @ c).max()  # the two differ
    weights = [v.numpy().copy() for v in model.variables]
    passes.clear()  # (the reference kernels above may go through the operands too)
    for chunk in (4096, 4):
        np.testing.assert_allclose(kernel_times(model, x_rows, x_cols, c, chunk=chunk), theta_t @ c, rtol=1e-10)
        np.testing.assert_allclose(kernel_times(model, x_rows, x_cols, c, initial=True, chunk=chunk),
                                   theta_0 @ c, rtol=1e-10)
    for v, w in zip(model.variables, weights):
        np.testing.assert_array_equal(v.numpy(), w)
    assert bool(passes) == structured_path


def test_a_sharding_strategy_takes_the_predictors_test_outputs_from_kernel_rows(monkeypatch):
    """Where the kernels are sharded across replicas, the test errors come from the predictor's own
    blocks of kernel rows (`FrozenKernelPredictor.test_error`), not from `kernel_times`."""
    from lazyfeat_tf import accelerators
    from lazyfeat_tf import config as config_lib
    from lazyfeat_tf.ntk import observer as observer_lib
    from conftest import build_model, task_of
    from test_measures import perturb

    config = tracked_config(dtype="float64")
    spec, task = config_lib.resolve(config), task_of(config)
    model = build_model(config, task.input_shape)
    observer = ntk.KernelObserver(model, task, spec.kernels, ntk.predictor_options(spec), initial_loss=1.0)
    observer.initial.run_to_convergence()
    expected = observer._test_error(observer.initial, initial=True)
    calls = []
    by_rows = type(observer.initial).test_error
    monkeypatch.setattr(accelerators, "is_sharded", lambda strategy: True)
    monkeypatch.setattr(observer_lib, "kernel_times", lambda *args, **kwargs: calls.append(1) / 0)
    monkeypatch.setattr(type(observer.initial), "test_error", lambda self: calls.append(2) or by_rows(self))
    assert observer._test_error(observer.initial, initial=True) == expected
    assert calls == [2]
    # finish: the Theta_0 predictor's error before it restarts on Theta_T (its rows and coefficients
    # are then the final kernel's), the final one's after
    perturb(model)
    calls.clear()
    results, _ = observer.finish(_Stopped)
    assert results["init_kernel_test_error"] == expected
    assert results["final_kernel_test_error"] == by_rows(observer.initial) != expected
    assert calls == [2, 2]


# ----------------------------------------------------------------------------------------------
# What the predictors cost in the memory estimate of a run (lazyfeat_tf.preflight)


def protocol_spec(n_test=50_000, **overrides):
    """Setup A at the article's P = 10,000, h = 100, float64 (`overrides` as in `tiny_config`)."""
    from conftest import set_field
    from lazyfeat_tf import config as config_lib

    config = config_lib.setup_a_config()
    config.alpha_sqrt_h, config.dtype, config.model.width = 1.0, "float64", 100
    config.data.n_train, config.data.n_test = 10_000, n_test
    for key, value in overrides.items():
        set_field(config, key, value)
    return config_lib.resolve(config)


def test_the_memory_estimate_holds_the_predictors_train_kernels_and_no_test_kernel():
    """At P = 10,000 the predictors cost 4 (5 with running predictors, 4 for running predictors
    alone) `[P, P]` float64 kernels, a block of kernel rows and a pass over the training set; 40,000 more test points cost their data
    and passes, linear in n_test, not a `[40000, 10000]` kernel (3 GB)."""
    from lazyfeat_tf import preflight

    name = "the frozen-kernel predictors' [n_train, n_train] kernels"
    plain, running, running_alone = (preflight.memory_terms(protocol_spec(**k))[name][0] for k in (
        {}, {"kernels__running_fractions": (1.0,)},
        {"kernels__running_fractions": (1.0,), "kernels__predictors": False}))
    assert running - plain == 8 * 10_000**2
    assert running_alone == plain  # the running-kernel predictor's own kernel, the one filled in, two copies
    assert name not in preflight.memory_terms(protocol_spec(kernels__predictors=False))
    assert 4 * 8 * 10_000**2 < plain < 4 * 8 * 10_000**2 + 2**30
    more_tests = preflight.estimated_bytes(protocol_spec()) - preflight.estimated_bytes(protocol_spec(n_test=10_000))
    assert 0 < more_tests < 0.5 * 8 * 40_000 * 10_000
    assert preflight.estimated_bytes(protocol_spec()) < 6.5 * 2**30  # the run that used 21 GB (9.93 GiB estimated)


@pytest.mark.parametrize("overrides, available, parts", [
    ({}, 2**30, [("config.data.n_train=10000: the run needs about 6.06 GiB of memory (estimate), 3.69 GiB of it "
                  "for the frozen-kernel predictors' [n_train, n_train] kernels, and 1 GiB is available"),
                 "lower --config.data.n_train or set --config.kernels.predictors=False"]),
    ({"kernels__predictors": False, "kernels__running_fractions": (0.5,)}, 2**30,
     ["of it for the frozen-kernel predictors' [n_train, n_train] kernels",
      "lower --config.data.n_train or set --config.kernels.running_fractions=()"]),
    ({"kernels__predictors": False, "data__n_test": 10**7}, 2**30,
     ["config.data.n_test=10000000", "of it for the whole-set kernel drift",
      "lower --config.data.n_test or set --config.kernels.full_drift=False"]),
    ({"kernels__track": False, "data__n_test": 10**7}, 2**30,
     ["config.data.n_test=10000000", "of it for the data", "lower --config.data.n_test"]),
    ({"model__width": 10**6}, 2**30, ["config.model.width=1000000", "for the network's parameters",
                                      "lower --config.model.width"]),
])
def test_the_memory_message_names_the_term_that_costs_the_most(overrides, available, parts):
    from lazyfeat_tf import config as config_lib
    from lazyfeat_tf import preflight

    with pytest.raises(config_lib.ConfigError) as error:
        preflight.check_memory(protocol_spec(**overrides), available=available)
    message = str(error.value)
    assert "\n" not in message
    for part in parts:
        assert part in message, (part, message)
