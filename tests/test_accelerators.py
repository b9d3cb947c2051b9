"""Tests of lazyfeat_tf.accelerators: strategy selection and its one-line errors, XLA compilation of
the training steps and of the kernels, and training / kernels under MirroredStrategy on 2 logical
CPU devices matching one device, with the gradient flow's loop inside the replica function (one
host round trip per `advance`) (in a subprocess: the logical devices must be configured before
TensorFlow initializes its devices)."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO_ROOT, build_model, task_of, tiny_config
from lazyfeat_tf import accelerators, dynamics, models, ntk, stochastic, train
from lazyfeat_tf import config as config_lib

# ----------------------------------------------------------------------------------------------
# Selection


def test_distribute_defaults_to_auto_and_is_validated():
    config = tiny_config()
    assert config.distribute == "auto"
    assert config_lib.resolve(config).distribute == "auto"
    config.distribute = "xpu"
    with pytest.raises(config_lib.ConfigError) as error:
        config_lib.resolve(config)
    assert str(error.value) == "config.distribute='xpu': must be one of auto, tpu, gpu, cpu"


def test_cpu_and_auto_give_the_default_strategy_here():
    # This machine has no GPU and no TPU.
    for request in ("auto", "cpu"):
        strategy = accelerators.select_strategy(request)
        assert accelerators.is_default(strategy), request
        assert not accelerators.is_sharded(strategy)
        assert accelerators.kind_of(strategy) == "cpu"
    assert accelerators.select_strategy("auto") is accelerators.select_strategy("auto")  # cached
    assert accelerators.describe(accelerators.select_strategy("auto")) == (
        "default strategy on /CPU:0 (1 replica; no GPU or TPU found)")
    strategy, text = accelerators.environment_report("auto")
    assert accelerators.is_default(strategy)
    assert "TensorFlow " in text and "TPU detection:" in text and "distribute='auto' -> default strategy" in text


def test_absent_gpu_is_one_line_config_error():
    with pytest.raises(config_lib.ConfigError) as error:
        accelerators.select_strategy("gpu")
    message = str(error.value)
    assert "\n" not in message and message.startswith("config.distribute='gpu': TensorFlow finds no GPU")


def test_float64_on_a_tpu_is_refused_before_touching_it(monkeypatch):
    def no_tpu():
        raise AssertionError("the TPU must not be initialized for a float64 run")

    monkeypatch.setattr(accelerators, "_tpu_strategy", no_tpu)
    with pytest.raises(config_lib.ConfigError) as error:
        accelerators.select_strategy("tpu", "float64")
    message = str(error.value)
    assert "\n" not in message and message.startswith("config.dtype='float64': TPUs have no float64")
    monkeypatch.setenv("TPU_NAME", "local")  # "auto" detects a TPU and refuses float64 too
    with pytest.raises(config_lib.ConfigError, match="config.dtype='float64'"):
        accelerators.select_strategy("auto", "float64")


def test_tpu_detection_is_cheap_and_looks_at_the_environment(monkeypatch):
    for name in accelerators.TPU_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    assert accelerators.tpu_detectable()[0] is False
    assert accelerators.resolve_kind("auto") == "cpu"
    monkeypatch.setenv("TPU_ACCELERATOR_TYPE", "v2-8")
    assert accelerators.tpu_detectable() == (True, "$TPU_ACCELERATOR_TYPE is set")
    assert accelerators.resolve_kind("auto") == "tpu"
    assert accelerators.resolve_kind("cpu") == "cpu"
    with pytest.raises(config_lib.ConfigError, match="config.distribute='npu': must be one of"):
        accelerators.resolve_kind("npu")


def test_unmet_request_fails_before_any_file_is_written(tmp_path):
    workdir = tmp_path / "run"
    with pytest.raises(config_lib.ConfigError, match="config.distribute='gpu'"):
        train.train_and_evaluate(tiny_config(distribute="gpu"), str(workdir))
    assert not workdir.exists()


def test_distribute_is_not_part_of_the_run_identity(tmp_path):
    config = tiny_config(dynamics__max_steps=5)
    assert "distribute" not in config_lib.resolve(config).to_json()
    results = train.train_and_evaluate(config, str(tmp_path / "run"))
    assert (results["accelerator"], results["replicas"]) == ("cpu", 1)
    config.distribute = "cpu"  # the same run: found finished, not refused as a different one
    assert train.train_and_evaluate(config, str(tmp_path / "run"))["steps"] == results["steps"]


def test_single_device_system_is_the_plain_network_system():
    config = tiny_config()
    task = task_of(config)
    model = build_model(config, task.input_shape)
    for strategy in (None, accelerators.select_strategy("cpu")):
        system = accelerators.make_system(model, task.x_train, task.y_train, strategy=strategy)
        assert type(system) is dynamics.NetworkSystem
    for strategy in (None, accelerators.default_strategy()):
        with accelerators.scope(strategy):
            assert not tf.distribute.has_strategy()


# ----------------------------------------------------------------------------------------------
# XLA: what a TPU compiles


def _system(dtype="float64", **overrides):
    config = tiny_config(dtype=dtype, **overrides)
    task = task_of(config, dtype)
    model = build_model(config, task.input_shape)
    return model, dynamics.NetworkSystem(model, task.x_train, task.y_train, config.loss.name)


def test_gradient_flow_compiles_with_xla_and_matches():
    runs = {}
    for jit in (False, True):
        _, system = _system()
        flow = dynamics.GradientFlow(system, jit_compile=jit)
        runs[jit] = (flow.advance(40), [p.numpy() for p in system.params])
    (state, params), (state_jit, params_jit) = runs[False], runs[True]
    assert (state_jit.step, state_jit.rejected) == (state.step, state.rejected) == (40, state.rejected)
    assert state_jit.t == pytest.approx(state.t, rel=1e-12)
    for p, q in zip(params, params_jit):
        np.testing.assert_allclose(q, p, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_minibatch_step_compiles_with_xla_and_matches(kind):
    runs = {}
    for jit in (False, True):
        _, system = _system()
        trainer = stochastic.MinibatchTrainer(system, kind=kind, batch_size=16, learning_rate=0.05, jit_compile=jit)
        trainer.advance(12)
        runs[jit] = [p.numpy() for p in system.params]
    for p, q in zip(runs[False], runs[True]):
        np.testing.assert_allclose(q, p, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind,method", [("fc", "structured"), ("fc", "jacobian"), ("cnn", "structured")])
def test_kernels_compile_with_xla(kind, method):
    if kind == "fc":
        spec, shape = config_lib.ModelSpec(width=8), (8,)
    else:
        spec, shape = config_lib.ModelSpec(kind="cnn", width=3, activation="relu"), (28, 28, 1)
    model = models.build_model(spec, shape, alpha=1.0, dtype="float64")
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal((6,) + shape), rng.standard_normal((4,) + shape)
    compiled = tf.function(
        lambda a, b: ntk.empirical_ntk(model, a, b, method=method, per_layer=True), jit_compile=True)
    got = compiled(tf.constant(x1), tf.constant(x2))
    want = ntk.empirical_ntk(model, x1, x2, method=method, per_layer=True)
    assert list(got) == list(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-10, atol=1e-12,
                                   err_msg=f"{kind} {method} {name} under XLA")


# ----------------------------------------------------------------------------------------------
# MirroredStrategy on 2 logical CPUs vs one device

MIRRORED_SCRIPT = textwrap.dedent(r'''
    import json, os, sys, tempfile
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, os.path.join(sys.argv[1], "tests"))
    import numpy as np
    from conftest import build_model, task_of, tiny_config
    from lazyfeat_tf import accelerators, dynamics, models, stochastic, train
    from lazyfeat_tf import config as config_lib
    from lazyfeat_tf.ntk import empirical

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    report = {"replicas": strategy.num_replicas_in_sync, "sharded": accelerators.is_sharded(strategy),
              "describe": accelerators.describe(strategy)}

    def diff(a, b):
        return float(max(np.max(np.abs(np.asarray(x) - np.asarray(y))) for x, y in zip(a, b)))

    # 63 training points and batches of 15: both need padding to split over 2 replicas.
    config = tiny_config(dtype="float64", data__n_train=63, dynamics__batch_size=15)
    task = task_of(config, "float64")

    def trained(make_trainer, steps, strategy, jit):
        with accelerators.scope(strategy):
            model = build_model(config, task.input_shape)
            system = accelerators.make_system(model, task.x_train, task.y_train, config.loss.name,
                                              strategy=strategy, jit_compile=jit)
            trainer = make_trainer(system, jit)
        state = trainer.advance(steps)
        return type(system).__name__, state, [p.numpy() for p in system.params], trainer.outputs.numpy()

    trainers = {
        "gradient_flow": (lambda s, jit: dynamics.GradientFlow(s, jit_compile=jit), 40),
        "sgd": (lambda s, jit: stochastic.MinibatchTrainer(s, kind="sgd", batch_size=15, jit_compile=jit), 20),
        "adam": (lambda s, jit: stochastic.MinibatchTrainer(s, kind="adam", batch_size=15, learning_rate=0.01,
                                                             jit_compile=jit), 10),
    }
    for name, (make, steps) in trainers.items():
        for jit in (False, True):
            _, one, p1, out1 = trained(make, steps, None, jit)
            kind, two, p2, out2 = trained(make, steps, strategy, jit)
            report[f"{name}/jit={jit}"] = {
                "system": kind, "steps": [one.step, two.step], "rejected": [one.rejected, two.rejected],
                "t": [one.t, two.t], "params": diff(p1, p2), "outputs": diff([out1], [out2]),
                "loss": abs(one.loss - two.loss)}

    # Host round trips of the gradient flow: every executed strategy.run adds 1 to `launches`, in
    # whatever graph (or loop body) the call sits; `advance_calls` counts the compiled function's calls.
    launches = tf.Variable(0, dtype=tf.int64)
    plain_run = strategy.run

    def counted_run(fn, args=(), kwargs=None, options=None):
        launches.assign_add(1)
        return plain_run(fn, args=args, kwargs=kwargs, options=options)

    for device_loop in (True, False):
        with accelerators.scope(strategy):
            model = build_model(config, task.input_shape)
            system = accelerators.make_system(model, task.x_train, task.y_train, config.loss.name,
                                              strategy=strategy, jit_compile=True)
            flow = dynamics.GradientFlow(system, jit_compile=True, device_loop=device_loop)
        calls = []
        compiled = flow._advance
        flow._advance = lambda *args: calls.append(1) or compiled(*args)
        strategy.run = counted_run
        launches.assign(0)
        states = [flow.advance(k) for k in (10, 25, 40)]
        del strategy.run
        report[f"round_trips/device_loop={device_loop}"] = {
            "advance_calls": len(calls), "launches": int(launches.numpy()),
            "attempts": states[-1].step + states[-1].rejected, "steps": states[-1].step,
            "params": [p.numpy().tolist() for p in system.params]}

    # Kernels: the same (mirrored) model, outside the scope (one device) and inside (sharded rows).
    calls = []
    sharded_run = empirical._sharded_run
    empirical._sharded_run = lambda *args: calls.append(1) or sharded_run(*args)
    fc_spec = config_lib.resolve(config)
    cnn_model = config_lib.ModelSpec(kind="cnn", width=3, activation="relu")
    rng = np.random.default_rng(0)
    for kind, spec, shape in (("fc", fc_spec.model, task.input_shape), ("cnn", cnn_model, (28, 28, 1))):
        with strategy.scope():
            model = models.build_model(spec, shape, alpha=fc_spec.alpha, dtype="float64")
        x1, x2 = rng.standard_normal((7,) + shape), rng.standard_normal((4,) + shape)
        for method in ("structured", "jacobian"):
            if kind == "cnn" and method == "jacobian":
                continue
            for label, second in (("x1 x x1", None), ("x1 x x2", x2)):
                want = empirical.empirical_ntk(model, x1, second, method=method, per_layer=True)
                before = len(calls)
                with strategy.scope():
                    got = empirical.empirical_ntk(model, x1, second, method=method, per_layer=True)
                    in_graph = tf.function(lambda a: empirical.empirical_ntk(model, a, second, method=method))(x1)
                report[f"ntk/{kind}/{method}/{label}"] = {
                    "sharded_calls": len(calls) - before, "layers": [list(want), list(got)],
                    "shape": list(got[list(got)[0]].shape),
                    "diff": diff([want[k] for k in want], [got[k] for k in want]),
                    "graph_diff": diff([sum(want.values())], [in_graph]),
                    "scale": float(max(np.max(np.abs(v)) for v in want.values()))}

    # A whole run with kernel tracking and frozen-kernel predictors.
    run_config = tiny_config(dtype="float64", data__n_train=63, dynamics__max_steps=30, kernels__track=True,
                             kernels__n_probe_train=21, kernels__n_probe_test=16)
    root = tempfile.mkdtemp()
    one = train.train_and_evaluate(run_config, os.path.join(root, "one"))
    before = len(calls)
    two = train.train_and_evaluate(run_config, os.path.join(root, "two"), strategy=strategy)
    sharded_kernels = len(calls) - before
    k1, k2 = np.load(os.path.join(root, "one", "kernels.npz")), np.load(os.path.join(root, "two", "kernels.npz"))
    o1, o2 = np.load(os.path.join(root, "one", "outputs.npz")), np.load(os.path.join(root, "two", "outputs.npz"))
    report["train_and_evaluate"] = {
        "replicas": [one["replicas"], two["replicas"]], "steps": [one["steps"], two["steps"]],
        "numbers": {k: [one[k], two[k]] for k in ("train_loss", "test_loss", "t", "relative_weight_change",
                                                  "kernel_drift_train", "kernel_drift_test",
                                                  "init_kernel_test_error", "final_kernel_test_error")},
        "kernels": diff([k1[k] for k in k1.files], [k2[k] for k in k1.files]),
        "outputs": diff([o1["test_outputs"]], [o2["test_outputs"]]),
        "model_saved": os.path.exists(os.path.join(root, "two", "model.keras")),
        "sharded_kernel_calls": sharded_kernels}

    # "auto" with a TPU announced but absent falls back; the process keeps working.
    os.environ["TPU_NAME"] = "local"
    fallback = accelerators.select_strategy("auto")
    report["auto_fallback"] = [accelerators.kind_of(fallback), float(tf.reduce_sum(tf.ones(3)))]
    print("REPORT " + json.dumps(report))
''')


@pytest.fixture(scope="module")
def mirrored():
    """The report of MIRRORED_SCRIPT (MirroredStrategy on 2 logical CPUs vs one device)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT, REPO_ROOT], capture_output=True, text=True,
                             timeout=600, env=env, cwd=REPO_ROOT)
    lines = [line for line in process.stdout.splitlines() if line.startswith("REPORT ")]
    assert process.returncode == 0 and lines, process.stderr[-4000:] + process.stdout[-2000:]
    return json.loads(lines[-1][len("REPORT "):])


def test_mirrored_strategy_has_two_sharded_replicas(mirrored):
    assert mirrored["replicas"] == 2 and mirrored["sharded"] is True
    assert mirrored["describe"].startswith("MirroredStrategy over /job:localhost/replica:0/task:0/device:CPU:0, ")
    assert mirrored["describe"].endswith("(2 replicas, kind cpu)")


@pytest.mark.parametrize("name", ["gradient_flow", "sgd", "adam"])
@pytest.mark.parametrize("jit", [False, True])
def test_training_under_mirrored_strategy_matches_one_device(mirrored, name, jit):
    result = mirrored[f"{name}/jit={jit}"]
    assert result["system"] == "ShardedNetworkSystem"
    assert result["steps"][0] == result["steps"][1] > 0
    assert result["rejected"][0] == result["rejected"][1]
    assert result["t"][1] == pytest.approx(result["t"][0], rel=1e-12)
    assert result["params"] < 1e-10, f"{name} (jit={jit}): parameters differ by {result['params']}"
    assert result["outputs"] < 1e-10, f"{name} (jit={jit}): outputs differ by {result['outputs']}"
    assert result["loss"] < 1e-10


def test_gradient_flow_device_loop_is_one_host_round_trip_per_advance(mirrored):
    device, host = mirrored["round_trips/device_loop=True"], mirrored["round_trips/device_loop=False"]
    assert device["steps"] == host["steps"] == 40
    assert device["attempts"] == host["attempts"] > 40  # a few rejections
    # The device loop launches the replicas once per advance call; the host loop once per attempt.
    assert device["advance_calls"] == host["advance_calls"] == 3
    assert device["launches"] == 3
    assert host["launches"] == host["attempts"]
    for p, q in zip(device["params"], host["params"]):
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-14)


def test_kernels_under_mirrored_strategy_are_sharded_and_match_one_device(mirrored):
    results = {k: v for k, v in mirrored.items() if k.startswith("ntk/")}
    assert len(results) == 6
    for key, result in results.items():
        assert result["sharded_calls"] >= 1, f"{key}: empirical_ntk did not shard in cross-replica context"
        assert result["layers"][0] == result["layers"][1], key
        assert result["shape"] == ([7, 7] if key.endswith("x1 x x1") else [7, 4]), key
        assert result["diff"] <= 1e-12 * result["scale"], f"{key}: differs by {result['diff']}"
        assert result["graph_diff"] <= 1e-12 * result["scale"], f"{key} (tf.function): {result['graph_diff']}"


def test_train_and_evaluate_under_mirrored_strategy_matches_one_device(mirrored):
    result = mirrored["train_and_evaluate"]
    assert result["replicas"] == [1, 2]
    assert result["steps"][0] == result["steps"][1] == 30
    for key, (one, two) in result["numbers"].items():
        assert two == pytest.approx(one, rel=1e-9, abs=1e-12), key
    assert result["kernels"] < 1e-10 and result["outputs"] < 1e-10
    assert result["model_saved"]
    assert result["sharded_kernel_calls"] >= 4  # probe kernels (traced once per probe set) and predictors


def test_auto_falls_back_when_an_announced_tpu_is_absent(mirrored):
    assert mirrored["auto_fallback"] == ["cpu", 3.0]
