"""Minibatch training of setup B: SGD with momentum, or Adam.

Same interface as `dynamics.GradientFlow` (`advance`, `state`, `variables`), so the training loop
treats both alike. One step is one minibatch of `batch_size` points drawn without replacement:
epoch e visits the training set in the order `permutation(n)` of a generator seeded by (seed, e),
dropping the last incomplete batch, so a resumed run sees the same batches. The loss of a batch is
the article's L on that batch (1/(alpha^2 B) sum l). Under a `tf.distribute` strategy (an
`accelerators.ShardedNetworkSystem`) each minibatch is split across the replicas.

The step and its time follow `step_rule` (the one place of the rule):

- crossover = 0 (`dynamics.step_crossover`, the default): the optimizer's learning rate is
  `learning_rate` at every alpha and t = step * learning_rate (runs made before the rule).
- crossover c > 0, SGD: the learning rate follows the time scales of the article's dynamics,
      lr = learning_rate * min(1, alpha*sqrt(h) / c),
  and t advances by dt = lr / (1 - momentum) per step. Keras' heavy ball v <- m v - lr g, w <- w + v
  is the momentum gradient flow of `dynamics.GradientFlow` with time step dt = lr / (1 - m) and
  momentum time tau = dt / ln(1/m), so t is the article's physical time and t1 compares with the
  gradient flow's. Why: the gradient of L grows like 1/alpha; in the feature regime
  (alpha*sqrt(h) << 1) the time to fit and the largest stable step both scale like alpha*sqrt(h)
  (t1 / (alpha sqrt h) is flat), in the lazy regime both are independent of alpha. dt and tau then
  scale as the authors' momentum time (`tau *= min(1, tau_alpha_crit / alpha_code)`,
  alpha_code = alpha*sqrt(h)), and a run takes about the same number of steps at every alpha.
- crossover c > 0, Adam: Adam's step is about lr per parameter whatever the gradient's scale, while
  the weights must move by about 1/(alpha sqrt h) of their norm in the lazy regime (O(1) in the
  feature regime), so
      lr = learning_rate * min(1, c / (alpha*sqrt(h))),
  and t = step * lr counts Adam's steps (not a gradient-flow time).
"""

import contextlib
import math

import keras
import numpy as np
import tensorflow as tf

from lazyfeat_tf.dynamics import FlowState, stop_status

KINDS = ("sgd", "adam")


def step_rule(kind, learning_rate, momentum, crossover, alpha_sqrt_h):
    """The optimizer's learning rate and the time one step advances t (see the module docstring).

    Args:
        kind: "sgd" or "adam".
        learning_rate: `dynamics.learning_rate` (sgd: the lazy regime's; adam: the feature regime's).
        momentum: sgd's momentum m in [0, 1).
        crossover: `dynamics.step_crossover` c, an alpha*sqrt(h); 0 = no rule.
        alpha_sqrt_h: the run's alpha*sqrt(h) (unused when crossover = 0).

    Returns:
        (lr, dt): c = 0: (learning_rate, learning_rate); sgd: lr = learning_rate *
        min(1, alpha*sqrt(h) / c), dt = lr / (1 - m); adam: lr = learning_rate *
        min(1, c / alpha*sqrt(h)), dt = lr.
    """
    if kind not in KINDS:
        raise ValueError(f"dynamics.kind={kind!r} is not 'sgd' or 'adam'")
    learning_rate = float(learning_rate)
    if crossover == 0:
        return learning_rate, learning_rate
    if kind == "sgd":
        lr = learning_rate * min(1.0, alpha_sqrt_h / crossover)
        return lr, lr / (1.0 - momentum)
    lr = learning_rate * min(1.0, crossover / alpha_sqrt_h)
    return lr, lr


class MinibatchTrainer:
    """Minibatch SGD (momentum) or Adam on a `dynamics.NetworkSystem`.

    The learning rate and the time per step are `step_rule(kind, learning_rate, momentum,
    crossover, alpha_sqrt_h)` (the rule is written there and in the module docstring).

    Args:
        system: the network on its training set.
        kind: "sgd" or "adam".
        learning_rate, momentum, batch_size: optimizer settings (momentum for sgd only).
        crossover: the alpha*sqrt(h) where the step rule turns (0 = no rule).
        alpha_sqrt_h: the run's alpha*sqrt(h); needed when crossover > 0.
        seed: data-order seed.
        max_steps, max_time: budgets (steps, physical time).
        jit_compile: compile the step with XLA.
    """

    def __init__(self, system, *, kind="sgd", learning_rate=0.1, momentum=0.9, batch_size=32, crossover=0.0,
                 alpha_sqrt_h=None, seed=0, max_steps=10**5, max_time=math.inf, jit_compile=False):
        if crossover and alpha_sqrt_h is None:
            raise ValueError("MinibatchTrainer: crossover > 0 needs the run's alpha_sqrt_h")
        self.system = system
        # lr: the optimizer's; dt: the time t advances per step
        self.learning_rate, self.dt = step_rule(kind, learning_rate, momentum, crossover, alpha_sqrt_h)
        self.batch_size, self.seed = int(batch_size), int(seed)
        self.max_steps, self.max_time = int(max_steps), float(max_time)
        # A sharded system (lazyfeat_tf.accelerators) has a strategy: the optimizer and the state
        # live under its scope, and each minibatch is split across the replicas.
        self.strategy = getattr(system, "strategy", None)
        with self.strategy.scope() if self.strategy is not None else contextlib.nullcontext():
            if kind == "sgd":
                self.optimizer = keras.optimizers.SGD(self.learning_rate, momentum=momentum)
            else:
                self.optimizer = keras.optimizers.Adam(self.learning_rate)
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
        """The current `FlowState` (dt: the time per step of `step_rule`; no step is ever rejected)."""
        outputs = self.outputs.numpy()
        loss = float(self.system.loss(outputs, self.system.y.numpy()))
        margins = outputs * self.system.y.numpy()
        step = int(self.step.numpy())
        t = step * self.dt
        status = stop_status(loss, margins.min(), step, t, self.max_steps, self.max_time)
        return FlowState(step, t, self.dt, 0, float(self.t1.numpy()), loss, float(margins.min()),
                         status)
