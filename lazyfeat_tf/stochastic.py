"""Minibatch training of setup B: SGD with momentum, or Adam as a baseline.

Same interface as `dynamics.GradientFlow` (`advance`, `state`, `variables`), so the training loop
treats both alike. One step is one minibatch of `batch_size` points drawn without replacement:
epoch e visits the training set in the order `permutation(n)` of a generator seeded by (seed, e),
dropping the last incomplete batch, so a resumed run sees the same batches. The loss of a batch is
the article's L on that batch (1/(alpha^2 B) sum l); physical time advances by the learning rate
per step (t = step * learning_rate). Under a `tf.distribute` strategy (an
`accelerators.ShardedNetworkSystem`) each minibatch is split across the replicas.
"""

import contextlib
import math

import keras
import numpy as np
import tensorflow as tf

from lazyfeat_tf.dynamics import FlowState, stop_status


class MinibatchTrainer:
    """Minibatch SGD (momentum) or Adam on a `dynamics.NetworkSystem`.

    Args:
        system: the network on its training set.
        kind: "sgd" or "adam".
        learning_rate, momentum, batch_size: optimizer settings (momentum for sgd only).
        seed: data-order seed.
        max_steps, max_time: budgets (steps, physical time).
        jit_compile: compile the step with XLA.
    """

    def __init__(self, system, *, kind="sgd", learning_rate=0.1, momentum=0.9, batch_size=32, seed=0,
                 max_steps=10**5, max_time=math.inf, jit_compile=False):
        self.system = system
        self.learning_rate = float(learning_rate)
        self.batch_size, self.seed = int(batch_size), int(seed)
        self.max_steps, self.max_time = int(max_steps), float(max_time)
        # A sharded system (lazyfeat_tf.accelerators) has a strategy: the optimizer and the state
        # live under its scope, and each minibatch is split across the replicas.
        self.strategy = getattr(system, "strategy", None)
        with self.strategy.scope() if self.strategy is not None else contextlib.nullcontext():
            if kind == "sgd":
                self.optimizer = keras.optimizers.SGD(learning_rate, momentum=momentum)
            elif kind == "adam":
                self.optimizer = keras.optimizers.Adam(learning_rate)
            else:
                raise ValueError(f"dynamics.kind={kind!r} is not 'sgd' or 'adam'")
            self.optimizer.build(system.params)
            self.step = tf.Variable(tf.zeros((), tf.int64), name="step")
            self.outputs = tf.Variable(tf.zeros_like(system.y), name="outputs")
        # Outside the scope: only Python reads and writes it, and TPUs have no float64.
        self.t1 = tf.Variable(-1.0, dtype=tf.float64, name="t1")  # -1 until alpha^2 L < 1/2
        self.batches_per_epoch = len(system.y) // self.batch_size
        if self.strategy is None:
            self._train_step = tf.function(self._train_step_graph, jit_compile=jit_compile, autograph=False)
        else:  # XLA compiles the per-replica gradient; the step spans devices
            self._train_step = tf.function(self._sharded_step_graph, autograph=False)
            self._replica_gradients = tf.function(self._replica_gradients_graph, jit_compile=jit_compile,
                                                   autograph=False)
        self._full_outputs = tf.function(self._full_outputs_graph, autograph=False)
        self._update_outputs()

    def variables(self):
        """The optimizer's and the loop's variables by name (for checkpoints)."""
        named = {f"optimizer_{i}": v for i, v in enumerate(self.optimizer.variables)}
        named.update(step=self.step, outputs=self.outputs, t1=self.t1)
        return named

    def _full_outputs_graph(self):
        s = self.system
        if self.strategy is not None:
            return s.train_outputs([tf.convert_to_tensor(p) for p in s.params])
        return s.outputs([tf.convert_to_tensor(p) for p in s.params], s.x, s.f0)

    def _train_step_graph(self, indices):
        s = self.system
        x, y, f0 = (tf.gather(a, indices) for a in (s.x, s.y, s.f0))
        with tf.GradientTape() as tape:
            loss = s.loss(s.outputs([tf.convert_to_tensor(p) for p in s.params], x, f0), y)
        self.optimizer.apply_gradients(zip(tape.gradient(loss, s.params), s.params))

    def _sharded_step_graph(self, indices):
        """One step with the minibatch split across the replicas: each replica's gradient is that of
        its part of the sum 1/(alpha^2 B) sum l; the Keras optimizer all-reduces (sums) them."""
        from lazyfeat_tf import accelerators

        replicas = self.strategy.num_replicas_in_sync
        rows = accelerators.shard_size(self.batch_size, replicas)
        weights = tf.concat([tf.ones([self.batch_size], self.system.dtype),
                             tf.zeros([rows * replicas - self.batch_size], self.system.dtype)], 0)
        padded = accelerators.pad_to(indices, rows * replicas)

        def replica_step(padded, weights):
            s = self.system
            mine = [accelerators.replica_rows(a, replicas, rows) for a in (padded, weights)]
            grads = self._replica_gradients([tf.convert_to_tensor(p) for p in s.params], *mine)
            self.optimizer.apply_gradients(zip(grads, s.params))

        self.strategy.run(replica_step, args=(padded, weights))

    def _replica_gradients_graph(self, params, indices, weights):
        s = self.system
        x, y, f0 = (tf.gather(a, indices) for a in (s.x, s.y, s.f0))
        with tf.GradientTape() as tape:
            tape.watch(params)
            loss = s.partial_loss(s.outputs(params, x, f0), y, weights, self.batch_size)
        return tape.gradient(loss, params)

    def batch_indices(self, step):
        """Indices `[batch_size]` of the minibatch used at `step`."""
        epoch, position = divmod(int(step), self.batches_per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.system.y))
        return order[position * self.batch_size:(position + 1) * self.batch_size]

    def advance(self, target_step, max_attempts=1000):
        """Run minibatch steps until `target_step`, a stop criterion, or `max_attempts` steps."""
        end = min(target_step, self.max_steps, int(self.step.numpy()) + max_attempts)
        while int(self.step.numpy()) < end and self.state().status == "running":
            step = int(self.step.numpy())
            self._train_step(tf.constant(self.batch_indices(step)))
            self.step.assign_add(1)
            if (step + 1) % self.batches_per_epoch == 0 or step + 1 == end:
                self._update_outputs()
        return self.state()

    def _update_outputs(self):
        """Refresh F on the whole training set; t1 is seen at these refreshes (every epoch)."""
        self.outputs.assign(self._full_outputs())
        state = self.state()
        if self.t1.numpy() < 0 and self.system.alpha**2 * state.loss < 0.5:
            self.t1.assign(state.t)

    def state(self):
        """The current `FlowState` (dt is the learning rate; no step is ever rejected)."""
        outputs = self.outputs.numpy()
        loss = float(self.system.loss(outputs, self.system.y.numpy()))
        margins = outputs * self.system.y.numpy()
        step = int(self.step.numpy())
        t = step * self.learning_rate
        status = stop_status(loss, margins.min(), step, t, self.max_steps, self.max_time)
        return FlowState(step, t, self.learning_rate, 0, float(self.t1.numpy()), loss, float(margins.min()),
                         status)
