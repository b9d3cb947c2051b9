"""`KernelTracker`: the tangent kernel's drift, alignment and spectrum along training, on fixed probes.

It computes the empirical NTK (`ntk.empirical_ntk`, per layer) on a train probe set (train x train
kernel) and a test probe set (test x test kernel), both in one `tf.function` call, traced at its
first call (~0.1-0.15 s of CPU, one trace of the kernel shared by probe sets of the same size; then
~2 ms per measure for 2 x 128 probes of the demo network instead of ~14 ms eagerly).
It keeps Theta_0 only (never a history of Theta_t) and returns JSON-ready records from
`measure(t)`, made of the `ntk.metrics` functions. With the structured method
`measure(t, snapshot())` measures the parameters of the moment of the snapshot, even if they have
moved since (their values go through a Keras `StatelessScope`): a record can be measured in a
thread while training goes on. The same way, Theta_0 is the kernel of the parameters at
construction, computed (and the function traced) at the first measure: in that thread too.
"""

import functools

import keras
import numpy as np
import tensorflow as tf
import threadpoolctl

from lazyfeat_tf.ntk import empirical
from lazyfeat_tf.ntk.structured import first_layer_gram
from lazyfeat_tf.ntk.metrics import effective_rank, kernel_alignment, relative_drift, top_eigenvalues

TOTAL = "total"


@functools.cache
def _blas():
    """The BLAS libraries of the process, found once per process (2-30 ms), at the first measure."""
    return threadpoolctl.ThreadpoolController()


def _labels(y, x, name):
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if y.size != len(x):
        raise ValueError(f"{name} must have one label per probe ({len(x)}), received {y.size}")
    return y


class KernelTracker:
    """Tangent-kernel drift, alignment and spectrum along training, on fixed probe sets.

    Theta_0 is the kernel, per layer, on the train probes (train x train) and on the test probes
    (test x test) of the parameters at construction (call it at initialization, before training;
    with the structured method their values are kept and the kernel computed at the first
    `measure` or `initial_kernels`, with the jacobian method at once). `measure(t)` computes
    Theta_t the same way and returns a record of plain Python values (JSON-serializable):

        {"t": t,
         "drift": {"train": {"total": d, "layers": {"dense_1": d1, ..., "readout": dr}},
                   "test": {...}},
         "alignment": {"train": a, "test": a'},          # kernel_alignment(Theta_t, y)
         "eigenvalues": {"train": [k floats, descending], "test": [...]},
         "effective_rank": {"train": r, "test": r'},
         "heatmap": [[m x m floats]]}   # (Theta_t - Theta_0) / ||Theta_0||_F, first m train probes

    where d = relative_drift(Theta_t, Theta_0) of the total kernel and d_l the same for layer l.
    The "test" entries are absent when there are no test probes. Only Theta_0 is kept (per
    layer, in the model's dtype); a Theta_t lives for its measure.

    Args:
        model: a model made by `models.build_model` (or any single-output Keras model, then with
            method "jacobian" and layers named by the model's top-level layers).
        x_train_probe: `[n_train, *input_shape]` train probe inputs; y_train_probe `[n_train]`
            labels (+-1).
        x_test_probe, y_test_probe: `[n_test, *input_shape]`, `[n_test]`, or None (or empty).
        n_eigenvalues: number of top eigenvalues recorded (k).
        heatmap_size: side m of the recorded heatmap (clipped to n_train).
        method, batch_size: passed to `ntk.empirical_ntk`.

    Example:
        >>> tracker = KernelTracker(model, x[:256], y[:256], x_test[:256], y_test[:256])
        >>> ...  # train
        >>> record = tracker.measure(t)
        >>> np.savez(path, **{f"final/{k}": v for k, v in tracker.current_kernels().items()})
    """

    def __init__(
        self,
        model,
        x_train_probe,
        y_train_probe,
        x_test_probe=None,
        y_test_probe=None,
        *,
        n_eigenvalues=10,
        heatmap_size=16,
        method="auto",
        batch_size=None,
    ):
        if not isinstance(n_eigenvalues, int) or n_eigenvalues < 0:
            raise ValueError(f"n_eigenvalues must be an int >= 0, received n_eigenvalues={n_eigenvalues!r}")
        if not isinstance(heatmap_size, int) or heatmap_size < 0:
            raise ValueError(f"heatmap_size must be an int >= 0, received heatmap_size={heatmap_size!r}")
        self.model = model
        self.method = empirical.resolve_method(model, method)
        self.batch_size = batch_size
        self.n_eigenvalues = n_eigenvalues
        self.probes = {"train": (x_train_probe, _labels(y_train_probe, x_train_probe, "y_train_probe"))}
        if x_test_probe is not None and len(x_test_probe) > 0:
            if y_test_probe is None:
                raise ValueError("y_test_probe is required with x_test_probe")
            self.probes["test"] = (x_test_probe, _labels(y_test_probe, x_test_probe, "y_test_probe"))
        self.heatmap_size = min(heatmap_size, len(x_train_probe))
        inputs = {split: tf.constant(x) for split, (x, _) in self.probes.items()}
        # The first layer's Gram on the probes does not depend on the parameters: computed once.
        grams = {split: first_layer_gram(model, x) if self.method == "structured" else None
                 for split, x in inputs.items()}
        # The structured kernels of given values of the trained variables (a `snapshot`), read
        # through a Keras StatelessScope: the variables themselves may move meanwhile (training in
        # another thread). The jacobian method differentiates the variables: their current values.
        self._variables = list(model.trainable_weights) if self.method == "structured" else []
        # Traced once per probe shape: the train and test probes of the same size share one trace.
        layer_kernels = tf.function(self._layer_kernels, autograph=False)

        def probe_kernels(values):
            with keras.StatelessScope(state_mapping=list(zip(self._variables, values))):
                return {split: layer_kernels(x, grams[split]) for split, x in inputs.items()}

        self._probe_kernels = tf.function(probe_kernels, autograph=False)  # ~7x faster than eager
        initial_values = self.snapshot()
        self._initial = None if initial_values is not None else self._kernels([])
        self._initial_values = initial_values  # until Theta_0 is computed from them (`_theta_0`)

    @property
    def splits(self):
        """("train",) or ("train", "test")."""
        return tuple(self.probes)

    def _layer_kernels(self, x, input_gram=None):
        """{layer name: [n, n] kernel} on probe inputs x, plus TOTAL (tensors); `input_gram`: the
        first layer's `first_layer_gram` on x, or None."""
        per_layer = empirical.empirical_ntk(
            self.model, x, method=self.method, per_layer=True, batch_size=self.batch_size, input_gram=input_gram
        )
        return {**per_layer, TOTAL: tf.add_n(list(per_layer.values()))}

    def snapshot(self):
        """The values of the trained variables now, for a later `measure` (tensors: a variable that
        moves after this gets a new buffer, the snapshot keeps its values); None with the jacobian
        method, which can only measure the current values."""
        return [tf.identity(v.value) for v in self._variables] if self.method == "structured" else None

    def _now(self):
        """The values to measure the current parameters with (none for the jacobian method)."""
        return self.snapshot() or []

    def _theta_0(self):
        """Theta_0 (as `_kernels`), computed at the first call from the values at construction."""
        if self._initial is None:
            self._initial = self._kernels(self._initial_values)
            self._initial_values = None
        return self._initial

    def _kernels(self, values):
        """{split: {layer name or TOTAL: [n, n] numpy kernel}} at the trained variables' `values`."""
        return {
            split: {name: kernel.numpy() for name, kernel in by_name.items()}
            for split, by_name in self._probe_kernels(values).items()
        }

    def measure(self, t, values=None):
        """Computes Theta_t on the probes and returns the record (see the class docstring), at the
        trained variables' `values` (a `snapshot` taken at time t, the variables having moved on
        since; structured method only) or, by default, their current ones.

        The small numpy reductions run on one BLAS thread: several BLAS threads fighting
        TensorFlow's thread pool made them ~10x slower on a 2-core machine.
        """
        if values is not None and self.method != "structured":
            raise ValueError(f"the {self.method} method measures the current parameters only: call "
                             "measure(t) without values")
        with _blas().limit(limits=1, user_api="blas"):
            return self._measure(t, self._now() if values is None else values)

    def _measure(self, t, values):
        theta_0 = self._theta_0()
        theta_t_kernels = self._kernels(values)
        record = {"t": float(t), "drift": {}, "alignment": {}, "eigenvalues": {}, "effective_rank": {}}
        for split, (_, y) in self.probes.items():
            current, initial = theta_t_kernels[split], theta_0[split]
            record["drift"][split] = {
                "total": relative_drift(current[TOTAL], initial[TOTAL]),
                "layers": {
                    name: relative_drift(current[name], initial[name]) for name in initial if name != TOTAL
                },
            }
            record["alignment"][split] = kernel_alignment(current[TOTAL], y)
            record["eigenvalues"][split] = top_eigenvalues(current[TOTAL], self.n_eigenvalues)
            record["effective_rank"][split] = effective_rank(current[TOTAL])
        m = self.heatmap_size
        theta_t = np.asarray(theta_t_kernels["train"][TOTAL], np.float64)
        initial = np.asarray(theta_0["train"][TOTAL], np.float64)
        norm = np.linalg.norm(initial)
        heatmap = (theta_t[:m, :m] - initial[:m, :m]) / (norm if norm > 0 else 1.0)
        record["heatmap"] = heatmap.tolist()
        return record

    @staticmethod
    def _flat(kernels):
        return {
            f"{split}/{name}": kernel
            for split, by_name in kernels.items()
            for name, kernel in by_name.items()
        }

    def initial_kernels(self):
        """Theta_0 as numpy arrays keyed "<split>/<layer name or total>", e.g.
        {"train/total": [n, n], "train/dense_1": ..., "test/total": ...} (prefix the keys, e.g.
        "initial/", to save them next to `current_kernels()` in one .npz)."""
        return self._flat(self._theta_0())

    def current_kernels(self):
        """Theta at the current parameters, computed now (a resumed run may have made no `measure`
        since its parameters were restored), keyed as `initial_kernels`."""
        return self._flat(self._kernels(self._now()))
