"""Tests of a whole training run through `lazyfeat_tf.train.train_and_evaluate` on the tiny synthetic
config: run-directory contents, results, lazy vs feature, resume after an interruption, a finished
run not redone, workdir protection and the one-line config errors."""

import errno
import glob
import json
import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import read_json, read_jsonl, snapshot, task_of, tiny_config, without_wall_time
from lazyfeat_tf import config as config_lib
from lazyfeat_tf import data, dynamics, losses, models, rundir, train

RESULT_KEYS = {"train_error", "test_error", "train_loss", "converged", "t", "t1", "steps", "wall_time",
               "relative_weight_change"}
FASHION_DIR = "/usr/share/datasets/fashion-mnist"


def run_config(**overrides):
    """The tiny config, trained to convergence (about 2800 gradient-flow steps, ~1 s)."""
    settings = dict(dynamics__max_steps=5000, dynamics__num_records=30)
    return tiny_config(**{**settings, **overrides})


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """(config, workdir, results) of one uninterrupted run."""
    config = run_config()
    workdir = str(tmp_path_factory.mktemp("finished") / "run")
    results = train.train_and_evaluate(config, workdir)
    return config, workdir, results


def read_metrics(workdir):
    return read_jsonl(os.path.join(workdir, "metrics.jsonl"))


# ----------------------------------------------------------------------------------------------
# Run directory of a finished run


def test_results_json(finished):
    config, workdir, results = finished
    on_disk = read_json(os.path.join(workdir, "results.json"))
    assert on_disk == json.loads(json.dumps(results))
    assert RESULT_KEYS <= set(on_disk)
    assert on_disk["converged"] is True and on_disk["status"] == "converged"
    assert isinstance(on_disk["steps"], int) and 0 < on_disk["steps"] < config.dynamics.max_steps
    assert on_disk["train_error"] == 0.0
    assert 0 < on_disk["t1"] < on_disk["t"]
    assert on_disk["wall_time"] > 0
    assert 0 < on_disk["relative_weight_change"] < 10
    assert on_disk["n_params"] == 8 * 8 + 8 * 8 + 8 * 8 + 8
    assert on_disk["alpha"] == pytest.approx(1 / math.sqrt(8)) and on_disk["alpha_sqrt_h"] == pytest.approx(1.0)


def test_outputs_npz_agree_with_results(finished):
    config, workdir, results = finished
    task = task_of(config)
    with np.load(os.path.join(workdir, "outputs.npz")) as npz:
        outputs = {k: npz[k] for k in npz.files}
    assert {k: v.shape for k, v in outputs.items()} == {
        "train_outputs": (64,), "train_labels": (64,), "test_outputs": (64,), "test_labels": (64,)}
    np.testing.assert_array_equal(outputs["train_labels"], task.y_train)
    np.testing.assert_array_equal(outputs["test_labels"], task.y_test)
    margins = outputs["train_outputs"] * outputs["train_labels"]
    assert margins.min() >= 1.0 and results["min_margin"] == pytest.approx(margins.min())
    test_error = np.mean(outputs["test_outputs"] * outputs["test_labels"] <= 0)
    assert results["test_error"] == pytest.approx(test_error)
    alpha = results["alpha"]
    assert results["train_loss"] == pytest.approx(float(losses.scaled_loss(
        "soft_hinge", outputs["train_outputs"], outputs["train_labels"], alpha)), rel=1e-5)


def test_model_keras_reproduces_outputs_and_weight_change(finished):
    config, workdir, results = finished
    task = task_of(config)
    model = keras.saving.load_model(os.path.join(workdir, "model.keras"))
    with np.load(os.path.join(workdir, "outputs.npz")) as npz:
        np.testing.assert_allclose(np.asarray(model(task.x_test)), npz["test_outputs"], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(np.asarray(model(task.x_train)), npz["train_outputs"], rtol=1e-5, atol=1e-5)
    # ||w - w0|| / ||w0|| from the saved weights: trunk vs frozen trunk0, W vs W0.
    p = models.parts(model)
    pairs = [(w.numpy(), w0.numpy()) for w, w0 in zip(p.trunk.weights, p.trunk0.weights)]
    pairs.append((p.readout.kernel.numpy(), p.readout.kernel0.numpy()))
    change = math.sqrt(sum(np.sum((w - w0) ** 2) for w, w0 in pairs) / sum(np.sum(w0**2) for _, w0 in pairs))
    assert results["relative_weight_change"] == pytest.approx(change, rel=1e-5)
    per_layer = results["relative_weight_change_layers"]
    assert set(per_layer) == {"dense_1", "dense_2", "dense_3", "readout"}
    readout = np.linalg.norm(pairs[-1][0] - pairs[-1][1]) / np.linalg.norm(pairs[-1][1])
    assert per_layer["readout"] == pytest.approx(readout, rel=1e-5)


def test_metrics_jsonl_has_one_record_per_record_step(finished):
    config, workdir, results = finished
    records = read_metrics(workdir)
    steps = [r["step"] for r in records]
    grid = dynamics.record_steps(config.dynamics.max_steps, config.dynamics.num_records)
    assert steps == [int(s) for s in grid if s < results["steps"]] + [results["steps"]]
    times = [r["t"] for r in records]
    assert times[0] == 0.0 and np.all(np.diff(times) > 0)
    assert records[0]["train_loss_unscaled"] == pytest.approx(math.log1p(math.exp(20)) / 20, rel=1e-5)
    assert records[0]["relative_weight_change"] == 0.0
    last = records[-1]
    for key in ("train_error", "test_error", "train_loss", "t", "relative_weight_change"):
        assert last[key] == results[key], key
    for r in records:
        assert {"dt", "rejected", "min_margin", "test_loss", "unsatisfied"} <= set(r)


def test_records_follow_the_output_and_the_preactivations(finished):
    """output_change_<split> = ||F_t - F_0|| / sqrt(n) (F_0 = 0 here: centred), and per hidden layer
    ||a_t - a_0|| / ||a_0|| of the pre-activations on the train probes, from the saved model."""
    config, workdir, _ = finished
    records = read_metrics(workdir)
    first, last = records[0], records[-1]
    # (the test outputs at t = 0 carry float32 round-off: F = alpha (f - f0) from two graphs)
    assert first["output_change_train"] == 0.0 and first["output_change_test"] == pytest.approx(0.0, abs=1e-6)
    assert first["preactivation_change_layers"] == {"dense_1": 0.0, "dense_2": 0.0, "dense_3": 0.0}
    with np.load(os.path.join(workdir, "outputs.npz")) as npz:
        for split in ("train", "test"):
            rms = np.sqrt(np.mean(npz[f"{split}_outputs"].astype(np.float64) ** 2))
            assert last[f"output_change_{split}"] == pytest.approx(rms, rel=1e-6), split
    model = keras.saving.load_model(os.path.join(workdir, "model.keras"))
    p = models.parts(model)
    probes = task_of(config).x_train[:config.kernels.n_probe_train]
    a, a0 = probes, probes
    for layer, layer0 in zip(p.trunk.layers[1:], p.trunk0.layers[1:]):  # after the flatten
        a, a0 = layer(a), layer0(a0)
        if layer.name.startswith("dense"):
            change = np.linalg.norm(np.asarray(a) - np.asarray(a0)) / np.linalg.norm(np.asarray(a0))
            assert last["preactivation_change_layers"][layer.name] == pytest.approx(change, rel=1e-4), layer.name
            assert change > 0


def test_tensorboard_scalars_follow_the_metrics(finished):
    _, workdir, _ = finished
    files = glob.glob(os.path.join(workdir, "tb", "events.out.tfevents.*"))
    assert files
    scalars = {}
    for path in files:
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.HasField("tensor") and value.metadata.plugin_data.plugin_name == "scalars":
                    scalars.setdefault(value.tag, {})[event.step] = float(tf.make_ndarray(value.tensor))
    records = read_metrics(workdir)
    for tag, key in (("train/loss", "train_loss"), ("test/error", "test_error"), ("dynamics/dt", "dt")):
        assert sorted(scalars[tag]) == [r["step"] for r in records], tag
        for r in records:
            assert scalars[tag][r["step"]] == pytest.approx(r[key], rel=1e-6)
    assert "weights/relative_change/readout" in scalars
    for tag, key in (("train/output_change", "output_change_train"), ("test/output_change", "output_change_test")):
        assert scalars[tag][records[-1]["step"]] == pytest.approx(records[-1][key], rel=1e-6), tag
    assert scalars["preactivations/relative_change/dense_2"][records[-1]["step"]] == pytest.approx(
        records[-1]["preactivation_change_layers"]["dense_2"], rel=1e-6)


def test_scalars_are_the_summaries_tf_summary_scalar_writes(tmp_path):
    """`records.write_scalars` makes its summaries in Python and writes them as one event: each
    value is the one `tf.summary.scalar` writes for its tag (float32 tensor, scalars metadata)."""
    from lazyfeat_tf import records

    def events(directory):
        values = []
        for path in glob.glob(os.path.join(directory, "events.out.tfevents.*")):
            for event in tf.compat.v1.train.summary_iterator(path):
                values.extend((event.step, value) for value in event.summary.value)
        return values

    record = {"step": 7, "t": 0.5, "train_loss": 0.25, "test_error": 1 / 3, "dt": 1e-3, "min_margin": -2.5,
              "kernel_drift_train": 0.2, "status": "running", "unsatisfied": 12,
              "relative_weight_change_layers": {"dense_1": 0.01, "readout": float("nan")},
              "preactivation_change_layers": {"dense_1": 0.03}}
    writer = tf.summary.create_file_writer(str(tmp_path / "ours"))
    records.write_scalars(writer, record)
    writer.close()
    ours = events(str(tmp_path / "ours"))
    tags = [value.tag for _, value in ours]
    assert sorted(tags) == sorted(["dynamics/t", "train/loss", "test/error", "dynamics/dt", "dynamics/min_margin",
                                   "dynamics/unsatisfied", "weights/relative_change/dense_1",
                                   "weights/relative_change/readout", "preactivations/relative_change/dense_1"])
    reference = tf.summary.create_file_writer(str(tmp_path / "tf"))
    with reference.as_default(step=7):
        for _, value in ours:
            tf.summary.scalar(value.tag, float(tf.make_ndarray(value.tensor)))
    reference.close()
    expected = {value.tag: (step, value) for step, value in events(str(tmp_path / "tf"))}
    for step, value in ours:
        reference_step, reference_value = expected[value.tag]
        assert step == reference_step and value.metadata == reference_value.metadata, value.tag
        assert value.tensor.dtype == reference_value.tensor.dtype == tf.float32.as_datatype_enum, value.tag
        np.testing.assert_array_equal(tf.make_ndarray(value.tensor), tf.make_ndarray(reference_value.tensor))
    written = {value.tag: float(tf.make_ndarray(value.tensor)) for _, value in ours}
    assert written["test/error"] == np.float32(1 / 3) and written["dynamics/unsatisfied"] == 12.0


def test_config_json_holds_the_resolved_scale(finished):
    config, workdir, _ = finished
    saved = read_json(os.path.join(workdir, "config.json"))
    assert saved == json.loads(json.dumps(config_lib.resolve(config).to_json()))
    assert saved["model"]["width"] == 8
    assert saved["alpha_sqrt_h"] == pytest.approx(1.0)
    assert saved["alpha"] == pytest.approx(1.0 / math.sqrt(8))
    by_alpha = config_lib.resolve(tiny_config(alpha=0.5, model__width=16)).to_json()
    assert by_alpha["alpha"] == 0.5 and by_alpha["alpha_sqrt_h"] == pytest.approx(2.0)
    assert os.path.exists(os.path.join(workdir, "checkpoint.npz"))
    assert not glob.glob(os.path.join(workdir, "*.tmp-*"))  # no leftovers of atomic writes


def test_lazy_run_moves_its_weights_much_less_than_feature_run(tmp_path):
    results = {}
    for value in (100.0, 0.01):
        config = run_config(alpha_sqrt_h=value, dynamics__max_steps=20_000, dynamics__num_records=10)
        results[value] = train.train_and_evaluate(config, str(tmp_path / f"a{value}"))
        assert results[value]["converged"], value
    lazy, feature = results[100.0], results[0.01]
    assert feature["relative_weight_change"] > 10 * lazy["relative_weight_change"]
    # ... and its hidden pre-activations (the article's appendix: they move ~ 1/(alpha sqrt(h))).
    moved = {value: read_metrics(str(tmp_path / f"a{value}"))[-1]["preactivation_change_layers"] for value in results}
    for layer in ("dense_1", "dense_2", "dense_3"):
        assert moved[0.01][layer] > 10 * moved[100.0][layer], layer
    # The lazy function is learnt at an alpha-independent speed; the feature one much faster in t.
    assert feature["t"] < lazy["t"]


# ----------------------------------------------------------------------------------------------
# Resume, finished runs, workdir protection


class Interrupt(KeyboardInterrupt):
    pass


def interrupt_at_checkpoint(monkeypatch, n):
    """Make the n-th checkpoint write raise (after that record's metrics line was appended)."""
    calls = {"n": 0}
    original = rundir.RunDir.save_checkpoint

    def save_checkpoint(self, arrays, state):
        calls["n"] += 1
        if calls["n"] == n:
            raise Interrupt
        return original(self, arrays, state)

    monkeypatch.setattr(rundir.RunDir, "save_checkpoint", save_checkpoint)


def assert_same_run(workdir, reference):
    results, expected = (read_json(os.path.join(d, "results.json")) for d in (workdir, reference))
    assert without_wall_time(results) == without_wall_time(expected)
    assert [without_wall_time(r) for r in read_metrics(workdir)] == [
        without_wall_time(r) for r in read_metrics(reference)]
    with np.load(os.path.join(workdir, "outputs.npz")) as a, np.load(os.path.join(reference, "outputs.npz")) as b:
        for key in b.files:
            np.testing.assert_array_equal(a[key], b[key])


@pytest.mark.parametrize("interrupt_at", [1, 12])
def test_resume_after_interruption_equals_uninterrupted_run(finished, workdir, monkeypatch, interrupt_at):
    config, reference, _ = finished
    interrupt_at_checkpoint(monkeypatch, interrupt_at)
    with pytest.raises(Interrupt):
        train.train_and_evaluate(config, workdir)
    monkeypatch.undo()
    assert not os.path.exists(os.path.join(workdir, "results.json"))
    # the records of step 0 (a new start has no checkpoint there) up to the interrupted checkpoint's
    assert len(read_metrics(workdir)) == interrupt_at + 1
    with open(os.path.join(workdir, "metrics.jsonl"), "a") as f:
        f.write('{"step": 99999, "t": 1.')  # and a line torn by a kill
    train.train_and_evaluate(config, workdir)
    assert_same_run(workdir, reference)


def interrupted(config, workdir, monkeypatch, at=12):
    """Train `config` into `workdir` until its `at`-th checkpoint write (which is interrupted)."""
    interrupt_at_checkpoint(monkeypatch, at)
    with pytest.raises(Interrupt):
        train.train_and_evaluate(config, workdir)
    monkeypatch.undo()


def test_left_over_temporary_files_do_not_lock_the_workdir(finished, workdir):
    """A kill during the first config.json write leaves config.json.tmp-PID (and the lock file): the
    next start ignores and removes them (issue 13, item 4)."""
    config, reference, _ = finished
    os.makedirs(workdir)
    for name in ("config.json.tmp-4242", "model.tmp-4242.keras", ".lock"):
        with open(os.path.join(workdir, name), "w") as f:
            f.write('{"alpha": ')
    train.train_and_evaluate(config, workdir)
    assert_same_run(workdir, reference)
    assert not glob.glob(os.path.join(workdir, "*.tmp-*"))


def test_a_workdir_in_use_is_refused_with_one_line(finished, workdir):
    """The same run started twice at once: the second is refused (issue 13, item 5)."""
    config, _, _ = finished
    with rundir.RunDir(workdir).lock():  # another process's run, as far as flock is concerned
        with pytest.raises(rundir.WorkdirError) as error:
            train.train_and_evaluate(config, workdir)
        assert os.listdir(workdir) == [".lock"]  # nothing written
    message = str(error.value)
    assert "\n" not in message and f"--workdir={os.path.abspath(workdir)!r} is in use by another run (pid " in message


def test_a_results_json_that_does_not_parse_is_written_again(finished, workdir, capsys):
    """A corrupt results.json is not a finished run: the run resumes and writes it again, saying so
    (issue 13, item 6)."""
    config, reference, _ = finished
    train.train_and_evaluate(config, workdir)
    path = os.path.join(workdir, "results.json")
    for garbage in ("{\"test_error\": 0.0", "[]", "null"):
        with open(path, "w") as f:
            f.write(garbage)
        assert not rundir.RunDir(workdir).finished
        train.train_and_evaluate(config, workdir)
        assert f"{path} does not parse: resuming the run to write it again" in capsys.readouterr().out
        assert_same_run(workdir, reference)


def test_metrics_cut_before_the_checkpoint_trains_the_run_again(finished, workdir, monkeypatch, capsys):
    """metrics.jsonl cut before the checkpoint's record: resuming would lose records, so the run is
    trained again from the start, and says so (issue 13, item 6)."""
    config, reference, _ = finished
    interrupted(config, workdir, monkeypatch)
    path = os.path.join(workdir, "metrics.jsonl")
    with open(path) as f:
        lines = f.readlines()
    with open(path, "w") as f:
        f.writelines(lines[:3] + ["not json\n"] + lines[4:])
    train.train_and_evaluate(config, workdir)
    assert "is cut or corrupt before the checkpoint (step" in capsys.readouterr().out
    assert_same_run(workdir, reference)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "missing key"])
def test_a_checkpoint_that_does_not_load_is_one_line_saying_what_to_do(finished, workdir, monkeypatch, damage):
    """(issue 13, item 7)"""
    config, _, _ = finished
    interrupted(config, workdir, monkeypatch)
    path = os.path.join(workdir, "checkpoint.npz")
    if damage == "missing key":
        with np.load(path) as npz:
            arrays = {k: npz[k] for k in npz.files if k != "model/0"}
        rundir.atomic_write_npz(path, arrays)
    else:
        with open(path, "rb") as f:
            payload = f.read()
        with open(path, "wb") as f:
            f.write(b"\x00garbage" * 10 if damage == "garbage" else payload[:len(payload) // 2])
    before = snapshot(workdir)
    with pytest.raises(rundir.WorkdirError) as error:
        train.train_and_evaluate(config, workdir)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{path} does not load (")
    assert f"mv {path} {path}.bad" in message
    assert {k: v for k, v in snapshot(workdir).items() if k != ".lock"} == {
        k: v for k, v in before.items() if k != ".lock"}
    os.rename(path, path + ".bad")  # what the message says: the run then trains from the start
    assert train.train_and_evaluate(config, workdir)["status"] == "converged"


def test_a_full_disk_mid_run_is_one_line_and_the_run_resumes(finished, workdir, monkeypatch):
    """(issue 13, item 8) No temporary file is left, and the same command resumes once there is space."""
    config, reference, _ = finished
    calls = {"n": 0}
    original = rundir.atomic_write_bytes

    def full_disk(path, payload):
        calls["n"] += 1
        if calls["n"] == 6:
            with open(f"{path}.tmp-{os.getpid()}", "wb") as f:
                f.write(payload[:10])  # a partial write, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(path, payload)

    monkeypatch.setattr(rundir, "atomic_write_bytes", full_disk)
    with pytest.raises(rundir.WorkdirError) as error:
        train.train_and_evaluate(config, workdir)
    monkeypatch.undo()
    message = str(error.value)
    assert "\n" not in message and "No space left on device" in message
    assert "run the same command again to resume" in message
    train.train_and_evaluate(config, workdir)
    assert_same_run(workdir, reference)
    assert not glob.glob(os.path.join(workdir, "*.tmp-*"))


def test_resume_of_minibatch_training_equals_uninterrupted_run(tmp_path, monkeypatch):
    config = run_config(dynamics__kind="sgd", dynamics__learning_rate=0.05, dynamics__batch_size=16,
                        dynamics__max_steps=40, dynamics__num_records=10)
    reference = str(tmp_path / "reference")
    train.train_and_evaluate(config, reference)
    workdir = str(tmp_path / "resumed")
    interrupt_at_checkpoint(monkeypatch, 6)
    with pytest.raises(Interrupt):
        train.train_and_evaluate(config, workdir)
    monkeypatch.undo()
    train.train_and_evaluate(config, workdir)
    assert_same_run(workdir, reference)
    assert read_json(os.path.join(workdir, "results.json"))["steps"] == 40


def test_finished_run_is_not_redone(finished, monkeypatch):
    config, workdir, results = finished
    before = snapshot(workdir)

    def no_data(*args, **kwargs):
        raise AssertionError("a finished run must not load data")

    monkeypatch.setattr(data, "load_task", no_data)
    again = train.train_and_evaluate(config, workdir)
    assert again == json.loads(json.dumps(results))
    assert snapshot(workdir) == before


def test_different_config_on_the_same_workdir_is_refused(finished):
    config, workdir, _ = finished
    before = snapshot(workdir)
    for other, difference in ((run_config(seed=3), "seed: 0 in the workdir, 3 now"),
                              (run_config(model__activation="relu"), "activation: 'softplus' in the workdir")):
        with pytest.raises(rundir.WorkdirError) as info:
            train.train_and_evaluate(other, workdir)
        message = str(info.value)
        assert "\n" not in message
        assert repr(workdir) in message and difference in message
        assert snapshot(workdir) == before


def test_foreign_workdirs_are_refused(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    before = snapshot(str(foreign))
    with pytest.raises(rundir.WorkdirError, match="not empty"):
        train.train_and_evaluate(run_config(), str(foreign))
    assert snapshot(str(foreign)) == before
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    with pytest.raises(rundir.WorkdirError, match="not a directory"):
        train.train_and_evaluate(run_config(), str(a_file))
    assert a_file.read_text() == "x"
    # An existing empty directory is fine to use.
    empty = tmp_path / "empty"
    empty.mkdir()
    rundir.RunDir(str(empty)).check_compatible(config_lib.resolve(run_config()).to_json())


# ----------------------------------------------------------------------------------------------
# Bad input: one line naming the key and the value, before anything is written


BAD_CONFIGS = [
    (dict(alpha=0.0), ["config.alpha=0.0"]),
    (dict(alpha=-1.0), ["config.alpha=-1.0"]),
    (dict(alpha=float("nan")), ["config.alpha=nan"]),
    (dict(alpha_sqrt_h=-0.5), ["config.alpha_sqrt_h=-0.5"]),
    (dict(alpha_sqrt_h=1.0, alpha__both=0.3), ["config.alpha=0.3", "config.alpha_sqrt_h=1.0"]),
    (dict(alpha_sqrt_h=None), ["config.alpha=None", "config.alpha_sqrt_h=None"]),
    (dict(model__width=0), ["config.model.width=0"]),
    (dict(model__depth=-2), ["config.model.depth=-2"]),
    (dict(model__activation="tanh"), ["config.model.activation='tanh'"]),
    (dict(data__name="imagenet"), ["data.name='imagenet'"]),
    (dict(dtype="float16"), ["config.dtype='float16'"]),
    (dict(dynamics__kind="lbfgs"), ["config.dynamics.kind='lbfgs'"]),
    (dict(loss__name="logistic"), ["config.loss.name='logistic'"]),
    (dict(data__source="idx", data__name="fashion_mnist", data__path="/nonexistent/fashion"),
     ["data.path='/nonexistent/fashion'"]),
    (dict(data__n_train=0), ["data.n_train=0"]),
]


def bad_config(overrides):
    overrides = dict(overrides)
    both = overrides.pop("alpha__both", None)
    config = run_config(**overrides)
    if both is not None:
        config.alpha = both  # set alongside alpha_sqrt_h
    return config


@pytest.mark.parametrize("overrides,expected", BAD_CONFIGS, ids=[str(o) for o, _ in BAD_CONFIGS])
def test_bad_config_is_one_line_naming_key_and_value(overrides, expected, workdir):
    config = bad_config(overrides)
    with pytest.raises(ValueError) as info:
        train.train_and_evaluate(config, workdir)
    assert isinstance(info.value, (config_lib.ConfigError, config_lib.DataError))
    message = str(info.value)
    assert "\n" not in message
    for part in expected:
        assert part in message
    assert not os.path.exists(workdir)  # nothing written, not even the directory


@pytest.mark.skipif(not os.path.isdir(FASHION_DIR), reason="Debian's dataset-fashion-mnist not installed")
def test_n_train_larger_than_the_data_is_one_line(workdir):
    config = run_config(data__source="idx", data__name="fashion_mnist", data__path=FASHION_DIR,
                        data__n_train=100_000)
    with pytest.raises(data.DataError) as info:
        train.train_and_evaluate(config, workdir)
    message = str(info.value)
    assert "\n" not in message and "data.n_train=100000" in message and "70000" in message
    assert not os.path.exists(workdir)


# ----------------------------------------------------------------------------------------------
# Other setups end to end: float64, and setup B (CNN, SGD) on tfds MNIST (mocked)


def test_a_diverged_run_reports_no_error_rate(workdir, capsys):
    """A non-finite network has no error rate: null in results.json and metrics.jsonl (strict JSON),
    "n/a" on the console, never 0.0 (issue 13, item 2)."""
    config = run_config(dynamics__kind="sgd", dynamics__learning_rate=1e30)
    results = train.train_and_evaluate(config, workdir)
    assert results["status"] == "nan" and not results["converged"]
    for key in ("train_error", "test_error", "train_loss", "test_loss", "relative_weight_change", "min_margin"):
        assert results[key] is None, key

    def strict(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")

    with open(os.path.join(workdir, "results.json")) as f:
        assert json.loads(f.read(), parse_constant=strict) == results
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        last = [json.loads(line, parse_constant=strict) for line in f][-1]
    assert last["train_error"] is None and last["test_error"] is None
    assert "train error n/a, test error n/a" in capsys.readouterr().out


def test_float64_run_end_to_end(workdir):
    config = run_config(dtype="float64", dynamics__max_steps=300, dynamics__num_records=8)
    results = train.train_and_evaluate(config, workdir)
    assert results["steps"] == 300 and results["status"] == "max_steps" and results["converged"] is False
    with np.load(os.path.join(workdir, "outputs.npz")) as npz:
        assert all(npz[k].dtype == np.float64 for k in npz.files)
    model = keras.saving.load_model(os.path.join(workdir, "model.keras"))
    assert all(v.dtype == "float64" for v in model.weights)
    with np.load(os.path.join(workdir, "checkpoint.npz")) as npz:
        assert npz["trainer/t"].dtype == np.float64


@pytest.mark.parametrize("dtype, alpha, noted", [("float32", 150.0, True), ("float32", 50.0, False),
                                                 ("float64", 150.0, False)])
def test_large_alpha_in_float32_prints_a_precision_note(dtype, alpha, noted, workdir, capsys):
    train.train_and_evaluate(run_config(dtype=dtype, alpha_sqrt_h=None, alpha=alpha, dynamics__max_steps=3,
                                        dynamics__num_records=2), workdir)
    out = capsys.readouterr().out
    assert ("note: alpha = " in out and "float64" in out) is noted, out


def test_cnn_sgd_smoke_run_on_mocked_tfds(workdir):
    tfds = pytest.importorskip("tensorflow_datasets")
    config = run_config(model__kind="cnn", model__width=4, model__activation="relu",
                        data__name="mnist", data__source="tfds", data__path="", data__n_train=32,
                        data__n_test=16, dynamics__kind="sgd", dynamics__learning_rate=0.05,
                        dynamics__batch_size=8, dynamics__max_steps=12, dynamics__num_records=5)
    with tfds.testing.mock_data(num_examples=100):
        results = train.train_and_evaluate(config, workdir)
    assert results["steps"] == 12 and results["t"] == pytest.approx(12 * 0.05)
    assert results["n_params"] == 25 * 4 + 3 * 25 * 16 + 4
    assert results["relative_weight_change"] > 0
    with np.load(os.path.join(workdir, "outputs.npz")) as npz:
        assert npz["train_outputs"].shape == (32,) and npz["test_outputs"].shape == (16,)
    model = keras.saving.load_model(os.path.join(workdir, "model.keras"))
    assert model.input_shape == (None, 28, 28, 1)
    steps = [json.loads(line)["step"] for line in open(os.path.join(workdir, "metrics.jsonl"))]
    assert steps == sorted(set(steps)) and steps[0] == 0 and steps[-1] == 12


@pytest.mark.parametrize("cross_kinks, noted", [(False, True), (True, False)])
def test_a_stalled_relu_flow_points_to_cross_kinks(tmp_path, monkeypatch, capsys, cross_kinks, noted):
    """A ReLU gradient flow that stalls (here at once: STALL_STEPS = 0) says how to cross the kinks,
    unless it already does."""
    monkeypatch.setattr(dynamics, "STALL_STEPS", 0)
    config = run_config(model__activation="relu", dynamics__cross_kinks=cross_kinks)
    results = train.train_and_evaluate(config, str(tmp_path / "run"))
    assert results["status"] == "stalled"
    assert ("--config.dynamics.cross_kinks=True" in capsys.readouterr().out) is noted
