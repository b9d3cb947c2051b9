"""Tests of lazyfeat_tf.ntk.metrics and lazyfeat_tf.ntk.tracker: metric functions and KernelTracker."""

import io
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import test_kernels
from lazyfeat_tf import ntk


def test_relative_drift():
    theta = np.random.default_rng(0).normal(size=(5, 5))
    assert ntk.relative_drift(theta, theta) == 0.0
    assert ntk.relative_drift(1.5 * np.eye(4), np.eye(4)) == pytest.approx(0.5, rel=1e-15)
    # ||E||_F = 2 (one entry), ||Theta_0||_F = sqrt(4) = 2.
    change = np.zeros((4, 4))
    change[1, 2] = 2.0
    assert ntk.relative_drift(np.eye(4) + change, np.eye(4)) == pytest.approx(1.0, rel=1e-15)
    assert ntk.relative_drift(
        tf.constant(2.0 * np.eye(3)), tf.eye(3, dtype=tf.float64)
    ) == pytest.approx(1.0)
    assert ntk.relative_drift(np.zeros((2, 2)), np.zeros((2, 2))) == 0.0
    assert ntk.relative_drift(np.ones((2, 2)), np.zeros((2, 2))) == float("inf")
    with pytest.raises(ValueError, match="same shape"):
        ntk.relative_drift(np.eye(2), np.eye(3))


def test_kernel_alignment():
    y = np.array([1.0, -1.0, -1.0, 1.0, 1.0])
    assert ntk.kernel_alignment(np.outer(y, y), y) == pytest.approx(1.0, rel=1e-15)
    assert ntk.kernel_alignment(3.0 * np.outer(y, y), 2.0 * y) == pytest.approx(1.0, rel=1e-15)
    assert ntk.kernel_alignment(-np.outer(y, y), y) == pytest.approx(-1.0, rel=1e-15)
    # Identity: y^T y / (sqrt(n) ||y||^2) = 1 / sqrt(n).
    assert ntk.kernel_alignment(np.eye(5), y) == pytest.approx(1.0 / np.sqrt(5.0), rel=1e-15)
    assert ntk.kernel_alignment(np.outer(y, y), y[:, None]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="len\\(y\\) = 4"):
        ntk.kernel_alignment(np.eye(5), y[:4])


def test_top_eigenvalues():
    theta = np.diag([3.0, 1.0, 2.0, 5.0])
    assert ntk.top_eigenvalues(theta, 2) == pytest.approx([5.0, 3.0], rel=1e-14)
    assert ntk.top_eigenvalues(theta, 10) == pytest.approx([5.0, 3.0, 2.0, 1.0], rel=1e-14)
    assert ntk.top_eigenvalues(theta, 0) == []
    rotation, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(4, 4)))
    rotated = rotation @ theta @ rotation.T
    assert ntk.top_eigenvalues(rotated, 3) == pytest.approx([5.0, 3.0, 2.0], rel=1e-12)
    assert all(isinstance(v, float) for v in ntk.top_eigenvalues(rotated, 3))


def test_effective_rank():
    for n in (1, 3, 10):
        assert ntk.effective_rank(np.eye(n)) == pytest.approx(float(n), rel=1e-15)
        assert ntk.effective_rank(7.0 * np.eye(n)) == pytest.approx(float(n), rel=1e-15)
    v = np.arange(1.0, 6.0)
    assert ntk.effective_rank(np.outer(v, v)) == pytest.approx(1.0, rel=1e-14)
    # diag(1, 1, 0, 0): (1 + 1)^2 / (1 + 1) = 2.
    assert ntk.effective_rank(np.diag([1.0, 1.0, 0.0, 0.0])) == pytest.approx(2.0)
    # Equal to (sum lambda)^2 / sum lambda^2 for a random PSD kernel.
    a = np.random.default_rng(2).normal(size=(6, 4))
    eigenvalues = np.linalg.eigvalsh(a @ a.T)
    expected = eigenvalues.sum() ** 2 / (eigenvalues**2).sum()
    assert ntk.effective_rank(a @ a.T) == pytest.approx(expected, rel=1e-12)
    assert ntk.effective_rank(np.zeros((3, 3))) == 0.0


def make_model(dtype="float64"):
    return test_kernels.make_model((5,), dtype=dtype)


def probes(n, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 5)), np.where(rng.random(n) < 0.5, -1.0, 1.0)


LAYERS = ["dense_1", "dense_2", "dense_3", "readout"]


def test_tracker_records():
    model = make_model()
    (x_train, y_train), (x_test, y_test) = probes(12, 0), probes(7, 1)
    tracker = ntk.KernelTracker(
        model, x_train, y_train, x_test, y_test, n_eigenvalues=4, heatmap_size=5
    )
    assert tracker.method == "structured"
    assert tracker.splits == ("train", "test")
    record = tracker.measure(0.0)
    assert set(record) == {"t", "drift", "alignment", "eigenvalues", "effective_rank", "heatmap"}
    for key in ("drift", "alignment", "eigenvalues", "effective_rank"):
        assert set(record[key]) == {"train", "test"}, key
    for split in ("train", "test"):
        assert set(record["drift"][split]) == {"total", "layers"}
        assert list(record["drift"][split]["layers"]) == LAYERS
        assert record["drift"][split]["total"] == pytest.approx(0.0, abs=1e-13)
        assert all(v == pytest.approx(0.0, abs=1e-13) for v in record["drift"][split]["layers"].values())
        assert len(record["eigenvalues"][split]) == 4
        assert record["eigenvalues"][split] == sorted(record["eigenvalues"][split], reverse=True)
        assert 1.0 <= record["effective_rank"][split] <= len(x_train)
        assert -1.0 <= record["alignment"][split] <= 1.0
    assert np.array(record["heatmap"]).shape == (5, 5)
    assert np.abs(np.array(record["heatmap"])).max() <= 1e-13
    json.loads(json.dumps(record, allow_nan=False))

    # The recorded values are those of the kernels.
    theta = ntk.empirical_ntk(model, x_train).numpy()
    assert record["alignment"]["train"] == pytest.approx(
        ntk.kernel_alignment(theta, y_train), rel=1e-12
    )
    assert record["eigenvalues"]["train"] == pytest.approx(
        ntk.top_eigenvalues(theta, 4), rel=1e-12
    )

    # Perturb the trained weights: every layer's kernel moves; the frozen copy does not matter.
    initial = {k: v.copy() for k, v in tracker.initial_kernels().items()}
    rng = np.random.default_rng(3)
    for v in model.trainable_variables:
        v.assign(v + 0.1 * rng.normal(size=v.shape))
    record = tracker.measure(2.5)
    assert record["t"] == 2.5
    for split in ("train", "test"):
        assert record["drift"][split]["total"] > 0.0
        assert all(v > 0.0 for v in record["drift"][split]["layers"].values())
    assert np.abs(np.array(record["heatmap"])).max() > 0.0
    json.loads(json.dumps(record, allow_nan=False))
    theta_t = ntk.empirical_ntk(model, x_train).numpy()
    expected = ntk.relative_drift(theta_t, initial["train/total"])
    assert record["drift"]["train"]["total"] == pytest.approx(expected, rel=1e-12)
    heatmap = (theta_t - initial["train/total"])[:5, :5] / np.linalg.norm(initial["train/total"])
    np.testing.assert_allclose(record["heatmap"], heatmap, rtol=1e-10, atol=1e-14)

    # Theta_0 is kept unchanged; current kernels are the latest; both save to .npz.
    for key, value in tracker.initial_kernels().items():
        np.testing.assert_array_equal(value, initial[key])
    current = tracker.current_kernels()
    assert set(current) == {f"{s}/{n}" for s in ("train", "test") for n in LAYERS + ["total"]}
    assert set(initial) == set(current)
    np.testing.assert_allclose(current["train/total"], theta_t, rtol=1e-12)
    np.testing.assert_allclose(current["test/total"], sum(current[f"test/{n}"] for n in LAYERS), rtol=1e-12)
    buffer = io.BytesIO()
    arrays = {f"initial/{k}": v for k, v in initial.items()}
    np.savez(buffer, **arrays, **{f"final/{k}": v for k, v in current.items()})
    buffer.seek(0)
    loaded = np.load(buffer)
    assert len(loaded.files) == 2 * len(current)
    assert loaded["final/test/total"].shape == (7, 7)
    np.testing.assert_array_equal(loaded["initial/train/dense_2"], initial["train/dense_2"])


def test_tracker_without_test_probes_float32():
    model = make_model("float32")
    x, y = probes(6, 4)
    tracker = ntk.KernelTracker(model, x.astype("float32"), y, n_eigenvalues=10, heatmap_size=16)
    record = tracker.measure(0)
    for key in ("drift", "alignment", "eigenvalues", "effective_rank"):
        assert set(record[key]) == {"train"}, key
    assert len(record["eigenvalues"]["train"]) == 6  # clipped to n
    assert np.array(record["heatmap"]).shape == (6, 6)
    assert record["drift"]["train"]["total"] == pytest.approx(0.0, abs=1e-6)
    assert set(tracker.initial_kernels()) == {f"train/{n}" for n in LAYERS + ["total"]}
    assert tracker.initial_kernels()["train/total"].dtype == np.float32
    json.dumps(record, allow_nan=False)


def test_tracker_on_any_keras_model_uses_the_jacobian_method():
    """A model not made by build_model: per-layer kernels by the model's own layers, drift exact."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,), dtype="float64"),
                              keras.layers.Dense(7, activation="tanh", name="hidden", dtype="float64"),
                              keras.layers.Dense(1, name="out", dtype="float64")])
    (x, y), (x_test, y_test) = probes(9, 6), probes(4, 7)
    tracker = ntk.KernelTracker(model, x, y, x_test, y_test)
    assert tracker.method == "jacobian"
    assert set(tracker.initial_kernels()) == {f"{s}/{n}" for s in ("train", "test") for n in ("hidden", "out", "total")}
    theta_0 = ntk.empirical_ntk(model, x, method="jacobian").numpy()
    for v in model.trainable_variables:
        v.assign(v + 0.1)
    record = tracker.measure(1.0)
    theta_t = ntk.empirical_ntk(model, x, method="jacobian").numpy()
    assert record["drift"]["train"]["total"] > 0.01
    assert record["drift"]["train"]["total"] == pytest.approx(ntk.relative_drift(theta_t, theta_0), rel=1e-12)


def test_tracker_argument_errors():
    model = make_model()
    x, y = probes(4, 5)
    with pytest.raises(ValueError, match="one label per probe"):
        ntk.KernelTracker(model, x, y[:3])
    with pytest.raises(ValueError, match="y_test_probe"):
        ntk.KernelTracker(model, x, y, x, None)
    with pytest.raises(ValueError, match="received method='fast'"):
        ntk.KernelTracker(model, x, y, method="fast")
    with pytest.raises(ValueError, match="n_eigenvalues=-1"):
        ntk.KernelTracker(model, x, y, n_eigenvalues=-1)


def test_a_non_finite_kernel_has_nan_metrics_not_numbers_or_errors():
    theta = np.eye(4)
    theta[1, 2] = np.nan
    y = np.array([1.0, -1.0, 1.0, -1.0])
    assert np.isnan(ntk.relative_drift(theta, np.eye(4)))
    assert np.isnan(ntk.kernel_alignment(theta, y))  # not 0.0
    assert np.isnan(ntk.effective_rank(theta))  # not 0.0
    eigenvalues = ntk.top_eigenvalues(theta, 3)  # numpy's eigvalsh would raise LinAlgError
    assert len(eigenvalues) == 3 and all(np.isnan(v) for v in eigenvalues)
    assert np.isnan(ntk.relative_drift(np.eye(4), np.full((4, 4), np.inf)))


@pytest.mark.parametrize("kind", ["fc", "cnn"])
def test_tracker_measures_a_snapshot_of_the_parameters_whatever_they_became(kind):
    """`measure(t, snapshot)` gives the record of the parameters when the snapshot was taken, after
    they moved on (float64: equal to measuring then), dense or convolutional; Theta_0 is the
    kernel of the parameters at construction, whenever it is computed. The jacobian method, which
    differentiates the variables themselves, has no snapshot and says so."""
    (x, y), (x_test, y_test) = probes(9, 6), probes(4, 7)
    model = make_model()
    if kind == "cnn":
        model = test_kernels.make_model((20, 20, 1), kind="cnn", width=4)
        x, x_test = (np.random.default_rng(8).normal(size=(len(a), 20, 20, 1)) for a in (x, x_test))
    theta_0 = ntk.empirical_ntk(model, x, x).numpy()
    tracker = ntk.KernelTracker(model, x, y, x_test, y_test, n_eigenvalues=3, heatmap_size=3)
    for v in model.trainable_variables:
        v.assign(v + 0.1)
    snapshot = tracker.snapshot()
    expected = tracker.measure(1.0)
    for v in model.trainable_variables:
        v.assign(v * 1.5)
    assert tracker.measure(1.0, snapshot) == expected
    assert tracker.measure(1.0) != expected and expected["drift"]["train"]["total"] > 0.01
    np.testing.assert_allclose(tracker.initial_kernels()["train/total"], theta_0, rtol=1e-12)
    keras.utils.set_random_seed(0)
    other = keras.Sequential([keras.Input((5,), dtype="float64"), keras.layers.Dense(1, dtype="float64")])
    jacobian = ntk.KernelTracker(other, *probes(9, 6))
    assert jacobian.method == "jacobian" and jacobian.snapshot() is None
    with pytest.raises(ValueError, match="jacobian method measures the current parameters only"):
        jacobian.measure(1.0, snapshot)
