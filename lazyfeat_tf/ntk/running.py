"""When to train the running-kernel predictors, and what they found (config `kernels.running_fractions`).

A running-kernel predictor is the frozen-kernel predictor (`ntk.FrozenKernelPredictor`) on the
kernel Theta_t of the network at some time t of its training: trained to convergence with the run's
loss and gradient flow, its test error says how much of what makes the final kernel good the kernel
has acquired by t (the authors' `--running_kernel`; compare its times with t1).

The moments are set in one pass, by the drop of the unscaled training loss alpha^2 L (the authors
store the kernel when alpha^2 L falls below 0.99, 0.95, ..., 0.1 of its initial value): a fraction f
in [0, 1) is due at the first record of the run with alpha^2 L <= (1 - f) alpha^2 L_0, so f = 0 is
the first record (t = 0: the Theta_0 predictor) and f = 1 is the end of training (the Theta_T
predictor). Since it is checked at the log-spaced records, a moment is known up to the spacing of
the record grid. A fraction the loss never reaches before the run stops is due at its end.

`RunningMoments` keeps what the predictors found in one variable (checkpointed with the run: a
resumed run keeps the moments already passed and recomputes none of them).
"""

import numpy as np
import tensorflow as tf


class RunningMoments:
    """The fractions of the loss drop at which to freeze Theta_t, and the results found so far.

    Args:
        fractions: sorted fractions f in [0, 1] (`config.KernelsSpec.running_fractions`).
        initial_loss: alpha^2 L_0, the unscaled training loss at initialization.
    """

    def __init__(self, fractions, initial_loss):
        self.fractions = tuple(float(f) for f in fractions)
        self.initial_loss = float(initial_loss)
        # One row per fraction: (t, step, test error); NaN until the moment has passed.
        self.found = tf.Variable(np.full((len(self.fractions), 3), np.nan), name="running_kernels")

    def _pending(self):
        if not self.fractions:  # the default: no variable to read at every record
            return np.zeros(0, bool)
        return np.isnan(self.found.numpy()[:, 1])

    def due(self, unscaled_loss):
        """Indices of the fractions (f < 1) reached at a record with alpha^2 L = `unscaled_loss`
        and not done yet."""
        return [i for i, (f, pending) in enumerate(zip(self.fractions, self._pending()))
                if pending and f < 1 and unscaled_loss <= (1.0 - f) * self.initial_loss]

    def remaining(self):
        """Indices of the fractions not done yet (due at the end of training)."""
        return [i for i, pending in enumerate(self._pending()) if pending]

    def store(self, indices, t, step, test_error):
        """Record the predictor trained on Theta_t at (t, step) for the fractions `indices`."""
        found = self.found.numpy()
        found[indices] = (t, step, test_error)
        self.found.assign(found)

    def results(self):
        """[{fraction, t, step, test_error}] for results.json (test_error NaN for a diverged kernel)."""
        return [{"fraction": f, "t": float(t), "step": int(step), "test_error": float(error)}
                for f, (t, step, error) in zip(self.fractions, self.found.numpy()) if not np.isnan(step)]
