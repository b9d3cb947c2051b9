"""Tests of the minibatch step rule (`lazyfeat_tf.stochastic.step_rule`, `dynamics.step_crossover`):
its numbers, that the default (no rule) trains exactly as before the rule, and setup B from
configs/cnn_relu.py's defaults, shrunk, converging in the feature and in the lazy regime on real
Fashion-MNIST points."""

import os
import runpy

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO_ROOT, build_model, read_json, read_jsonl, set_field, task_of, tiny_config
from lazyfeat_tf import config as config_lib
from lazyfeat_tf import dynamics, stochastic, train

FASHION_DIR = "/usr/share/datasets/fashion-mnist"


def synthetic_system():
    """The tiny config's network on its synthetic task (64 points of dimension 8)."""
    config = tiny_config()
    task = task_of(config)
    model = build_model(config, task.input_shape)
    return dynamics.NetworkSystem(model, task.x_train, task.y_train, config.loss.name)


# ----------------------------------------------------------------------------------------------
# The rule's numbers


@pytest.mark.parametrize("alpha_sqrt_h,lr,dt", [
    (1e-2, 6.0 * 1e-2 / 300, 10 * 6.0 * 1e-2 / 300),  # feature: lr and dt proportional to alpha*sqrt(h)
    (30.0, 0.6, 6.0),
    (300.0, 6.0, 60.0),  # at the crossover
    (1e4, 6.0, 60.0),  # lazy: independent of alpha
])
def test_sgd_step_follows_alpha_sqrt_h(alpha_sqrt_h, lr, dt):
    got = stochastic.step_rule("sgd", 6.0, 0.9, 300.0, alpha_sqrt_h)
    assert got == pytest.approx((lr, dt), rel=1e-12)


@pytest.mark.parametrize("alpha_sqrt_h,lr", [(1e-2, 1e-3), (10.0, 1e-3), (100.0, 1e-4), (1e4, 1e-6)])
def test_adam_learning_rate_follows_one_over_alpha_sqrt_h_in_the_lazy_regime(alpha_sqrt_h, lr):
    got_lr, got_dt = stochastic.step_rule("adam", 1e-3, 0.9, 10.0, alpha_sqrt_h)
    assert got_lr == pytest.approx(lr, rel=1e-12) and got_dt == got_lr


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_no_rule_is_the_learning_rate_at_every_alpha(kind):
    for alpha_sqrt_h in (1e-3, 1.0, 1e5, None):
        assert stochastic.step_rule(kind, 0.05, 0.9, 0.0, alpha_sqrt_h) == (0.05, 0.05)


def test_trainer_uses_the_rule_for_its_optimizer_and_its_time():
    system = synthetic_system()
    trainer = stochastic.MinibatchTrainer(system, kind="sgd", learning_rate=0.5, momentum=0.8, batch_size=16,
                                          crossover=10.0, alpha_sqrt_h=0.1, max_steps=7)
    assert float(trainer.optimizer.learning_rate.numpy()) == pytest.approx(0.005)
    state = trainer.advance(7)
    assert state.step == 7 and state.dt == pytest.approx(0.025) and state.t == pytest.approx(7 * 0.025)
    adam = stochastic.MinibatchTrainer(system, kind="adam", learning_rate=0.01, crossover=10.0, alpha_sqrt_h=1000.0)
    assert float(adam.optimizer.learning_rate.numpy()) == pytest.approx(1e-4) and adam.state().dt == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="alpha_sqrt_h"):
        stochastic.MinibatchTrainer(system, kind="sgd", crossover=10.0)


# ----------------------------------------------------------------------------------------------
# The default keys compute what runs computed before the rule


def test_default_is_the_old_fixed_learning_rate_trajectory():
    """step_crossover = 0 (the default) is Keras' SGD at `learning_rate` with t = step * learning_rate,
    what MinibatchTrainer did before the rule: the same outputs as that loop written out (to float32
    round-off; a learning rate 1% off moves them by ~2e-2)."""
    assert config_lib.DynamicsSpec().step_crossover == 0.0
    system = synthetic_system()
    w0 = [p.numpy() for p in system.params]
    trainer = stochastic.MinibatchTrainer(system, kind="sgd", learning_rate=0.05, momentum=0.9, batch_size=16,
                                          seed=2, max_steps=12)
    state = trainer.advance(12)
    ours = trainer.outputs.numpy()
    assert state.step == 12 and state.t == pytest.approx(12 * 0.05) and state.dt == 0.05

    for p, value in zip(system.params, w0):  # the old loop, from the same initial weights
        p.assign(value)
    optimizer = keras.optimizers.SGD(0.05, momentum=0.9)

    @tf.function(autograph=False)
    def old_step(indices):
        x, y, f0 = (tf.gather(a, indices) for a in (system.x, system.y, system.f0))
        with tf.GradientTape() as tape:
            loss = system.loss(system.outputs([tf.convert_to_tensor(p) for p in system.params], x, f0), y)
        optimizer.apply_gradients(zip(tape.gradient(loss, system.params), system.params))

    for step in range(12):
        old_step(tf.constant(trainer.batch_indices(step)))
    old = system.outputs([tf.convert_to_tensor(p) for p in system.params], system.x, system.f0).numpy()
    np.testing.assert_allclose(ours, old, rtol=1e-5, atol=1e-6)


def test_an_old_config_json_completes_to_no_rule():
    """A run made before the key existed (config.json without dynamics.step_crossover) resumes with 0."""
    spec = config_lib.resolve(tiny_config(dynamics__kind="sgd"))
    identity = spec.to_json()
    del identity["dynamics"]["step_crossover"]
    completed = config_lib.completed(identity)
    assert completed["dynamics"]["step_crossover"] == 0.0
    assert config_lib.DynamicsSpec(**completed["dynamics"]) == spec.dynamics


@pytest.mark.parametrize("value", [-1.0, float("inf"), "300", True])
def test_bad_crossover_is_a_one_line_config_error(value):
    tree = tiny_config(dynamics__kind="sgd").to_dict()
    tree["dynamics"]["step_crossover"] = value
    with pytest.raises(config_lib.ConfigError) as error:
        config_lib.resolve(tree)
    assert "dynamics.step_crossover" in str(error.value) and "\n" not in str(error.value)


# ----------------------------------------------------------------------------------------------
# Setup B from configs/cnn_relu.py's defaults, shrunk


def cnn_relu_config(alpha_sqrt_h):
    """configs/cnn_relu.py with only the sizes shrunk: h = 16, 128 + 256 Fashion-MNIST points,
    small kernel probes and few records (about 25 s a run under load). At h = 8 (seed 0) the
    feature run stalls: one training image ends with every ReLU of the network off for it, its
    output frozen at F = -alpha f0 ~ 0, a hazard of ReLU at tiny widths, not of the step."""
    config = runpy.run_path(os.path.join(REPO_ROOT, "configs", "cnn_relu.py"))["get_config"]()
    config_lib.set_scale(config, "alpha_sqrt_h", alpha_sqrt_h)
    sizes = {"model.width": 16, "data.n_train": 128, "data.n_test": 256, "dynamics.max_steps": 3000,
             "dynamics.num_records": 12, "kernels.n_probe_train": 16, "kernels.n_probe_test": 16,
             "checkpoint_every_secs": 60.0}
    for key, value in sizes.items():
        set_field(config, key, value, separator=".")
    return config


@pytest.mark.skipif(not os.path.isdir(FASHION_DIR), reason="Debian's dataset-fashion-mnist is not installed")
@pytest.mark.parametrize("alpha_sqrt_h,dt", [(0.01, 10 * 6.0 * 0.01 / 300), (100.0, 10 * 6.0 * 100 / 300)])
def test_setup_b_defaults_converge_in_both_regimes(tmp_path, alpha_sqrt_h, dt):
    config = cnn_relu_config(alpha_sqrt_h)
    workdir = str(tmp_path / "run")
    results = train.train_and_evaluate(config, workdir)
    assert results["status"] == "converged" and results["min_margin"] >= 1.0
    assert results["train_error"] == 0.0 and results["test_error"] < 0.25
    records = read_jsonl(os.path.join(workdir, "metrics.jsonl"))
    assert all(r["dt"] == pytest.approx(dt) and r["t"] == pytest.approx(r["step"] * dt) for r in records)
    assert results["t"] == pytest.approx(results["steps"] * dt)
    assert 0 < results["t1"] < results["t"]
    assert read_json(os.path.join(workdir, "config.json"))["dynamics"]["step_crossover"] == 300.0
    # Lazy: the weights barely move (about 1/(alpha sqrt h)); feature: they move by order one.
    change = results["relative_weight_change"]
    assert (change < 0.1) if alpha_sqrt_h > 1 else (change > 0.1)
