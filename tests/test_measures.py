"""The measurements of issue 11: the uncentred network F = alpha f (`model.centered=False`), the kernel
drift on the whole sets by blocks (`ntk.full_drift`), and the running-kernel predictors
(`kernels.running_fractions`, `ntk.running`); on tiny sizes, offline."""

import os

import keras
import numpy as np
import pytest

from conftest import build_model, read_json, read_jsonl, task_of
from lazyfeat_tf import config as config_lib
from lazyfeat_tf import models, ntk, train
from lazyfeat_tf.ntk import full_drift
from test_kernel_tracking import tracked_config


def perturb(model, scale=0.3, seed=1):
    rng = np.random.default_rng(seed)
    for v in model.trainable_variables:
        v.assign(v.numpy() + scale * rng.standard_normal(v.shape).astype(v.dtype))


# ----------------------------------------------------------------------------------------------
# Kernel drift on a whole set, by blocks


def test_blockwise_full_drift_equals_the_drift_of_the_whole_kernel():
    config = tracked_config(dtype="float64")
    model, fresh = (build_model(config, (8,)) for _ in range(2))  # same seed: fresh stays at w0
    perturb(model)
    x = np.random.default_rng(3).standard_normal((23, 8))
    theta_t, theta_0 = (ntk.empirical_ntk(m, x).numpy() for m in (model, fresh))
    expected = ntk.relative_drift(theta_t, theta_0)
    assert expected > 1e-2
    trained = [v.numpy() for v in model.trainable_variables]
    for rows in (None, 5, 23):  # one block; ragged blocks of 5; blocks of the whole set
        assert full_drift.full_set_drift(model, x, rows=rows) == pytest.approx(expected, rel=1e-10), rows
    for before, v in zip(trained, model.trainable_variables):  # the trained values are back, exactly
        np.testing.assert_array_equal(v.numpy(), before)


def test_full_drift_of_a_cnn_goes_by_blocks_of_rows():
    """A CNN has no dense operands: its whole-set drift goes by blocks of rows Theta(x_b, x), and
    equals the drift of the whole kernels (float64)."""
    spec = config_lib.ModelSpec(kind="cnn", depth=3, width=2, activation="softplus", use_bias=True, beta=0.5)
    model, fresh = (models.build_model(spec, (20, 20, 1), alpha=1.0, seed=0, dtype="float64") for _ in range(2))
    perturb(model)
    assert not ntk.structured.dense_only(model)
    x = np.random.default_rng(4).standard_normal((5, 20, 20, 1))
    expected = ntk.relative_drift(*(ntk.empirical_ntk(m, x).numpy() for m in (model, fresh)))
    for rows in (None, 2):
        assert full_drift.full_set_drift(model, x, rows=rows) == pytest.approx(expected, rel=1e-10), rows


def test_initial_parameters_are_restored_after_an_error():
    model = build_model(tracked_config(), (8,))
    perturb(model)
    x = np.ones((3, 8), "float32")
    trained, outputs = [v.numpy() for v in model.trainable_variables], np.asarray(model(x))
    with pytest.raises(RuntimeError), full_drift.initial_parameters(model):
        assert np.all(np.asarray(model(x)) == 0.0)  # F(w0) = 0: the initial values are in place
        raise RuntimeError
    for before, v in zip(trained, model.trainable_variables):
        np.testing.assert_array_equal(v.numpy(), before)
    np.testing.assert_array_equal(np.asarray(model(x)), outputs)


def test_block_rows_bound_the_memory_of_a_block():
    model = build_model(tracked_config(), (8,))
    layers = 4  # dense_1..3 and the readout
    assert full_drift.block_rows(model, 10_000, block_bytes=2**20) == 2**20 // (10_000 * 8 * (layers + 4))
    assert full_drift.block_rows(model, 10, block_bytes=2**30) == 10
    assert full_drift.block_rows(model, 10**9, block_bytes=1) == 1


# ----------------------------------------------------------------------------------------------
# Runs: centred and not, with the running-kernel predictors and the full-set drift


FRACTIONS = (0.0, 0.5, 1.0)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{(centered, alpha_sqrt_h): (config, workdir, results)} of tracked runs."""
    found = {}
    for centered in (True, False):
        for value in (0.01, 100.0):
            config = tracked_config(alpha_sqrt_h=value, model__centered=centered, dynamics__max_steps=20_000,
                                    kernels__running_fractions=FRACTIONS)
            workdir = str(tmp_path_factory.mktemp("measures") / f"run_{centered}_{value}")
            found[centered, value] = (config, workdir, train.train_and_evaluate(config, workdir))
    return found


def initial_outputs(model, x):
    return np.asarray(models.parts(model).initial_function(x))


@pytest.mark.parametrize("value", [0.01, 100.0])
def test_uncentred_runs_converge_and_start_from_alpha_f0(runs, value):
    """F = alpha f: zero training hinge loss in both regimes; the linear model on Theta_0 starts from
    F(w0) = alpha f0 like the network (linear distance 0 at t = 0), and the output change is measured
    from F(w0)."""
    config, workdir, results = runs[False, value]
    assert results["converged"] and results["train_error"] == 0.0
    records = read_jsonl(os.path.join(workdir, "metrics.jsonl"))
    model = keras.saving.load_model(os.path.join(workdir, "model.keras"))
    task = task_of(config)
    f0 = initial_outputs(model, task.x_train)
    assert np.sqrt(np.mean(f0**2)) > 0.1 * results["alpha"]  # F(w0) = alpha f0 is not zero...
    assert records[0]["linear_distance"] == 0.0  # ... and the Theta_0 model starts there
    assert records[0]["output_change_train"] == 0.0
    with np.load(os.path.join(workdir, "outputs.npz")) as npz:
        change = np.sqrt(np.mean((npz["train_outputs"].astype(np.float64) - f0) ** 2))
        assert np.min(npz["train_outputs"] * npz["train_labels"]) >= 1.0
    assert records[-1]["output_change_train"] == pytest.approx(change, rel=1e-5)


def test_deep_in_the_feature_regime_centring_changes_little(runs):
    """At alpha*sqrt(h) = 0.01, F(w0) = alpha f0 is ~1e-3 of the margins: both runs nearly agree.
    (Not so at 100: there F(w0) is O(10) and the uncentred network must undo it, so it moves further
    from its linearization than the centred one.)"""
    (_, _, centred), (_, _, plain) = runs[True, 0.01], runs[False, 0.01]
    for key in ("kernel_drift_test_full", "kernel_drift_train_full", "relative_weight_change", "t"):
        assert plain[key] == pytest.approx(centred[key], rel=0.05), key
    assert runs[False, 100.0][2]["relative_weight_change"] > runs[True, 100.0][2]["relative_weight_change"]


@pytest.mark.parametrize("centered", [True, False])
def test_full_drift_of_a_run_is_the_drift_of_the_whole_test_kernel(runs, centered):
    config, workdir, results = runs[centered, 0.01]
    model = keras.saving.load_model(os.path.join(workdir, "model.keras"))
    x_test = task_of(config).x_test
    theta_t = ntk.empirical_ntk(model, x_test).numpy()
    with full_drift.initial_parameters(model):
        theta_0 = ntk.empirical_ntk(model, x_test).numpy()
    assert results["kernel_drift_test_full"] == pytest.approx(ntk.relative_drift(theta_t, theta_0), rel=1e-5)


def theta_0_predictor_error(config, workdir):
    """The Theta_0 predictor trained in one go from the saved model's initial parameters."""
    spec = config_lib.resolve(config)
    task = task_of(config)
    model = keras.saving.load_model(os.path.join(workdir, "model.keras"))
    offsets = None if spec.model.centered else tuple(initial_outputs(model, x) for x in (task.x_train, task.x_test))
    with full_drift.initial_parameters(model):
        kernels = ntk.empirical_ntk(model, task.x_train), ntk.empirical_ntk(model, task.x_test, task.x_train)
    predictor = ntk.FrozenKernelPredictor(*kernels, task.y_train, task.y_test, offsets=offsets,
                                          **ntk.predictor_options(spec))
    predictor.run_to_convergence()
    return predictor.test_error()


@pytest.mark.parametrize("centered", [True, False])
@pytest.mark.parametrize("value", [0.01, 100.0])
def test_running_kernel_predictors_at_the_start_and_at_the_end(runs, centered, value):
    """f = 0 is the Theta_0 predictor at t = 0; f = 1 the final-kernel predictor at the final time."""
    config, workdir, results = runs[centered, value]
    start, middle, end = results["running_kernel_test_errors"]
    assert [m["fraction"] for m in (start, middle, end)] == list(FRACTIONS)
    assert (start["t"], start["step"]) == (0.0, 0)
    assert start["test_error"] == theta_0_predictor_error(config, workdir)
    assert (end["t"], end["step"]) == (results["t"], results["steps"])
    assert end["test_error"] == results["final_kernel_test_error"]


def test_running_kernel_moment_is_the_first_record_past_the_loss_fraction(runs):
    _, workdir, results = runs[True, 0.01]
    middle = results["running_kernel_test_errors"][1]
    records = read_jsonl(os.path.join(workdir, "metrics.jsonl"))
    initial = records[0]["train_loss_unscaled"]
    passed = [r for r in records if r["train_loss_unscaled"] <= 0.5 * initial]
    assert (middle["step"], middle["t"]) == (passed[0]["step"], passed[0]["t"])
    assert 0 < middle["t"] < results["t"] and 0 <= middle["test_error"] <= 1


def test_switched_off_measures_leave_no_field(tmp_path):
    """Without running fractions (the default) there is no running field; full_drift=False leaves
    the full-set drift out."""
    config = tracked_config(kernels__full_drift=False)
    default = config_lib.resolve(tracked_config())
    assert default.kernels.running_fractions == () and default.model.centered and default.kernels.full_drift
    results = train.train_and_evaluate(config, str(tmp_path / "plain"))
    assert not {"running_kernel_test_errors", "kernel_drift_test_full", "kernel_drift_train_full"} & set(results)
    assert read_json(str(tmp_path / "plain" / "results.json")) == results


def test_running_fractions_survive_a_resume(tmp_path, monkeypatch, runs):
    """Interrupted after the 0.5 moment, the resumed run keeps it and equals the uninterrupted run."""
    from test_train import Interrupt, assert_same_run, interrupt_at_checkpoint

    config, reference, results = runs[True, 0.01]
    steps = [r["step"] for r in read_jsonl(os.path.join(reference, "metrics.jsonl"))]
    middle = steps.index(results["running_kernel_test_errors"][1]["step"])
    workdir = str(tmp_path / "resumed")
    interrupt_at_checkpoint(monkeypatch, middle + 1)  # checkpoint k follows record k (step 0 has none): the next
    with pytest.raises(Interrupt):
        train.train_and_evaluate(config, workdir)
    monkeypatch.undo()
    calls = []
    monkeypatch.setattr(ntk.KernelObserver, "_running_test_error",
                        lambda self, kernels, original=ntk.KernelObserver._running_test_error:
                        calls.append(1) or original(self, kernels))
    train.train_and_evaluate(config, workdir)
    assert len(calls) == 1  # only the end's moment is computed again
    assert_same_run(workdir, reference)


@pytest.mark.parametrize("section, key, value, message", [
    ("model", "centered", "yes", "config.model.centered='yes': must be True or False"),
    ("kernels", "full_drift", 1, "config.kernels.full_drift=1: must be True or False"),
    ("kernels", "running_fractions", [0.5, 1.5], "config.kernels.running_fractions=[0.5, 1.5]: must be a list"),
    ("kernels", "running_fractions", 0.5, "config.kernels.running_fractions=0.5: must be a list"),
])
def test_bad_measure_settings_are_one_line(section, key, value, message):
    tree = tracked_config().to_dict()  # as a run's config.json gives it
    tree[section][key] = value
    with pytest.raises(config_lib.ConfigError) as error:
        config_lib.resolve(tree)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_running_fractions_are_sorted_once_each_and_written_as_a_list():
    spec = config_lib.resolve(tracked_config(kernels__running_fractions=[1.0, 0.1, 0.1]))
    assert spec.kernels.running_fractions == (0.1, 1.0)
    assert spec.to_json()["kernels"]["running_fractions"] == [0.1, 1.0]
