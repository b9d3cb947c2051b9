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


def test_advance_to_a_float32_time_terminates():
    """0.02 is not a float32: the target must be compared as the flow stores time."""
    theta = np.eye(4, dtype=np.float32)
    y = np.array([1, -1, 1, -1], np.float32)
    predictor = ntk.FrozenKernelPredictor(theta, theta, y, y, alpha=1.0)
    state = predictor.advance_to(0.02, max_attempts=50)
    assert state.t == pytest.approx(0.02) and state.status == "running"
