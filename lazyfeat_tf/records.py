"""What a training run records at its checkpoints, and how it shows them.

- `Evaluator`: the measurements of the network at its current parameters (outputs on the test
  points, losses, errors, margins, ||w - w0|| / ||w0|| in total and per layer), as one JSON-ready
  record of metrics.jsonl;
- `write_scalars`: a record's scalars to TensorBoard;
- `Progress`: the progress lines on stdout (step, t, loss, dt, rejected steps, unsatisfied margins,
  rate and the time left to the step budget).
"""

import math
import time

import numpy as np
import tensorflow as tf

from lazyfeat_tf import losses

EVAL_CHUNK = 4096
"""Test points per evaluation call (bounds the memory of one forward pass)."""


class Evaluator:
    """Measurements of a `NetworkSystem` at its current parameters: outputs, losses, weights."""

    def __init__(self, system, x_test, y_test):
        self.system = system
        self.x_test = tf.constant(x_test, system.dtype)
        self.y_test = tf.constant(y_test, system.dtype)
        self.f0_test = self._chunked(system.reference_output, self.x_test)
        self._outputs = tf.function(
            lambda x, f0: system.outputs([tf.convert_to_tensor(p) for p in system.params], x, f0),
            autograph=False,
        )

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

    def record(self, state, train_outputs, wall_time):
        """The metrics of one checkpoint as a JSON-serializable dict."""
        s = self.system
        test_outputs = self.test_outputs()
        total, layers = self.weight_changes()
        margins = train_outputs * s.y.numpy()
        return {
            "step": state.step,
            "t": state.t,
            "dt": state.dt,
            "rejected": state.rejected,
            "wall_time": wall_time,
            "train_loss": state.loss,
            "train_loss_unscaled": state.loss * s.alpha**2,
            "train_error": error_rate(train_outputs, s.y.numpy()),
            "min_margin": float(margins.min()),
            "unsatisfied": int(np.sum(margins < 1.0)) if np.all(np.isfinite(margins)) else None,
            "test_loss": float(s.loss(test_outputs, self.y_test)),
            "test_error": error_rate(test_outputs, self.y_test),
            "relative_weight_change": total,
            "relative_weight_change_layers": layers,
        }


def _squared_norm(array):
    """sum(array^2) in float64 (float32 squares overflow from 1e19 on)."""
    return float(np.sum(np.square(array, dtype=np.float64)))


def error_rate(outputs, labels):
    """The fraction of F y <= 0 (`losses.error_rate`), or NaN when an output is not finite: a
    diverged network has no error rate (NaN margins would count as correct)."""
    outputs = np.asarray(outputs)
    if not np.all(np.isfinite(outputs)):
        return float("nan")
    return float(losses.error_rate(outputs, np.asarray(labels, outputs.dtype)))


def write_scalars(writer, record):
    """One record's scalars to TensorBoard: `train/...`, `test/...`, `dynamics/...` and
    `weights/relative_change/<layer>` (the kernel metrics go through the kernel-drift plugin)."""
    with writer.as_default(step=record["step"]):
        for key, value in record.items():
            if key == "step" or key.startswith("kernel_") or not isinstance(value, (int, float)):
                continue  # kernel metrics are written by the kernel-drift plugin's writer
            split, _, name = key.partition("_")
            tag = f"{split}/{name}" if split in ("train", "test") else f"dynamics/{key}"
            tf.summary.scalar(tag, value)
        for layer, value in record["relative_weight_change_layers"].items():
            tf.summary.scalar(f"weights/relative_change/{layer}", value)
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
