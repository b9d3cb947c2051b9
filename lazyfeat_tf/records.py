"""What a training run records at its checkpoints, and how it shows them.

- `Evaluator`: the measurements of the network at its current parameters (outputs on the test
  points, losses, errors, margins, ||w - w0|| / ||w0|| in total and per layer, the growth of the
  output ||F_t - F_0|| / sqrt(n) on the train and test sets, and the relative change of every hidden
  layer's pre-activations on the train probes), as one JSON-ready record of metrics.jsonl;
- `write_scalars`: a record's scalars to TensorBoard;
- `Progress`: the progress lines on stdout (step, t, loss, dt, rejected steps, unsatisfied margins,
  rate and the time left to the step budget).
"""

import math
import time

import numpy as np
import tensorflow as tf
from tensorboard.compat.proto import summary_pb2
from tensorboard.plugins.scalar import summary_v2 as scalar_summary

from lazyfeat_tf import layers, losses

EVAL_CHUNK = 4096
"""Test points per evaluation call (bounds the memory of one forward pass)."""


class Evaluator:
    """Measurements of a `NetworkSystem` at its current parameters: outputs, losses, weights,
    pre-activations.

    Args:
        system: the network's `dynamics.NetworkSystem` (at initialization: F_0 and the initial
            pre-activations are taken from its frozen copy, so building it later changes nothing).
        x_test, y_test: `[n_test, ...]`, `[n_test]` test points.
        x_probe: `[m, ...]` the train probes on which pre-activations are compared.
    """

    def __init__(self, system, x_test, y_test, x_probe):
        self.system = system
        self.x_test = tf.constant(x_test, system.dtype)
        self.y_test = tf.constant(y_test, system.dtype)
        self.f0_test = self._chunked(system.reference_output, self.x_test)
        self._outputs = tf.function(
            lambda x, f0: system.outputs([tf.convert_to_tensor(p) for p in system.params], x, f0),
            autograph=False,
        )
        parts = system.parts  # F_0 = F(w0): zero when centred, alpha f(w0) otherwise
        self.initial_outputs = {"train": self._chunked(parts.initial_function, system.x).numpy(),
                                "test": self._chunked(parts.initial_function, self.x_test).numpy()}
        self.x_probe = tf.constant(x_probe, system.dtype)
        self.initial_preactivations = preactivations(parts.trunk0, self.x_probe)

    @staticmethod
    def _chunked(fn, *arrays):
        n = int(arrays[0].shape[0])
        return tf.concat([fn(*(a[i:i + EVAL_CHUNK] for a in arrays)) for i in range(0, max(n, 1), EVAL_CHUNK)], 0)

    def test_outputs(self):
        """F `[n_test]` at the current parameters."""
        return self._chunked(self._outputs, self.x_test, self.f0_test)

    def weight_changes(self):
        """||w - w0|| / ||w0|| in total and per layer (dict layer name -> float)."""
        parts = self.system.parts
        pairs = {}
        trained = [layer for layer in parts.trunk.layers if layer.trainable_weights]
        frozen = {layer.name: layer for layer in parts.trunk0.layers}
        for layer in trained:
            pairs[layer.name] = list(zip(layer.trainable_weights, frozen[layer.name].weights))
        pairs[parts.readout.name] = [(parts.readout.kernel, parts.readout.kernel0)]
        diffs, norms = {}, {}
        with np.errstate(over="ignore", invalid="ignore"):  # a diverged network's change is inf or NaN
            for name, weights in pairs.items():
                diffs[name] = sum(_squared_norm(w.numpy() - w0.numpy()) for w, w0 in weights)
                norms[name] = sum(_squared_norm(w0.numpy()) for _, w0 in weights)
        total = math.sqrt(sum(diffs.values()) / sum(norms.values()))
        return total, {name: math.sqrt(diffs[name] / norms[name]) for name in pairs}

    def output_changes(self, train_outputs, test_outputs):
        """||F_t - F_0|| / sqrt(n) on the train and on the test set (F_0 = F(w0))."""
        return {f"output_change_{split}": rms(outputs - self.initial_outputs[split])
                for split, outputs in (("train", train_outputs), ("test", np.asarray(test_outputs)))}

    def preactivation_changes(self):
        """{hidden layer name: ||a_t - a_0||_F / ||a_0||_F} of its pre-activations on the train probes
        (NaN where a_0 = 0)."""
        current = preactivations(self.system.parts.trunk, self.x_probe)
        with np.errstate(over="ignore", invalid="ignore"):  # a diverged network's change is inf or NaN
            return {name: math.sqrt(_squared_norm(current[name] - a0) / (_squared_norm(a0) or math.nan))
                    for name, a0 in self.initial_preactivations.items()}

    def record(self, state, train_outputs, wall_time):
        """The metrics of one checkpoint as a JSON-serializable dict."""
        s = self.system
        test_outputs = self.test_outputs()
        total, changes = self.weight_changes()
        margins = train_outputs * s.y.numpy()
        return {
            "step": state.step,
            "t": state.t,
            "dt": state.dt,
            "rejected": state.rejected,
            "wall_time": wall_time,
            "train_loss": state.loss,
            "train_loss_unscaled": state.loss * s.alpha**2,
            "train_error": losses.finite_error_rate(train_outputs, s.y.numpy()),
            "min_margin": float(margins.min()),
            "unsatisfied": int(np.sum(margins < 1.0)) if np.all(np.isfinite(margins)) else None,
            "test_loss": float(s.loss(test_outputs, self.y_test)),
            "test_error": losses.finite_error_rate(test_outputs, self.y_test),
            "relative_weight_change": total,
            "relative_weight_change_layers": changes,
            **self.output_changes(train_outputs, test_outputs),
            "preactivation_change_layers": self.preactivation_changes(),
        }


def preactivations(trunk, x):
    """{layer name: `[m, ...]` numpy pre-activations} of every NTKDense / NTKConv2D layer of `trunk` on x."""
    found, z = {}, x
    for layer in trunk.layers:
        z = layer(z)
        if isinstance(layer, (layers.NTKDense, layers.NTKConv2D)):
            found[layer.name] = z.numpy()
    return found


def rms(array):
    """sqrt(mean(array^2)) in float64 (NaN or inf for a diverged network)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return math.sqrt(_squared_norm(array) / max(1, np.size(array)))


def _squared_norm(array):
    """sum(array^2) in float64 (float32 squares overflow from 1e19 on)."""
    return float(np.sum(np.square(array, dtype=np.float64)))


def write_scalars(writer, record):
    """One record's scalars to TensorBoard: `train/...`, `test/...` (`train_loss` and
    `output_change_train` both go under `train/`), `dynamics/...`, `weights/relative_change/<layer>`
    and `preactivations/relative_change/<layer>` (the kernel metrics go through the kernel-drift
    plugin). They are the summaries `tf.summary.scalar` writes (float32, the scalars plugin's
    metadata), made in Python and written as one event: one op instead of ~25 eager ops (~0.3 ms
    against ~8 ms a record).
    """
    summary = summary_pb2.Summary()

    def add(tag, value):
        summary.value.extend(scalar_summary.scalar_pb(tag, float(value)).value)

    for key, value in record.items():
        if key == "step" or key.startswith("kernel_") or not isinstance(value, (int, float)):
            continue  # kernel metrics are written by the kernel-drift plugin's writer
        split, _, name = key.partition("_")
        if split not in ("train", "test"):
            name, _, split = key.rpartition("_")
        add(f"{split}/{name}" if split in ("train", "test") else f"dynamics/{key}", value)
    for group, key in (("weights", "relative_weight_change_layers"),
                       ("preactivations", "preactivation_change_layers")):
        for layer, value in record[key].items():
            add(f"{group}/relative_change/{layer}", value)
    with writer.as_default():
        tf.summary.experimental.write_raw_pb(summary.SerializeToString(), step=record["step"])
    writer.flush()


class Progress:
    """Progress lines on stdout, at most one every `every` seconds (records always print)."""

    def __init__(self, n_train, max_steps, every=2.0):
        self.n_train, self.max_steps, self.every = n_train, max_steps, every
        self.last = -math.inf

    def __call__(self, state, wall_time, unsatisfied=None, force=False):
        now = time.time()
        if not force and now - self.last < self.every:
            return
        self.last = now
        rate = state.step / wall_time if wall_time > 0 else 0.0
        unsat = f" unsatisfied={unsatisfied}/{self.n_train}" if unsatisfied is not None else ""
        speed = f", {rate:.0f} steps/s" if wall_time >= self.every else ""
        if wall_time >= self.every and rate > 0:  # the run stops earlier if it converges
            speed += f", <= {(self.max_steps - state.step) / rate:.0f}s to the step budget"
        print(
            f"step {state.step:>7d}  t={state.t:.3e}  loss={state.loss:.3e}  dt={state.dt:.2e}  "
            f"rejected={state.rejected}{unsat}  [{wall_time:.0f}s{speed}]",
            flush=True,
        )
