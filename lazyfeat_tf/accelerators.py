"""Accelerators: the one place that picks the `tf.distribute` strategy, and the sharded network.

`config.distribute` chooses where a run executes:

- "auto" (default): a TPU when one is detectable cheaply (environment variables TPU_NAME,
  TPU_ACCELERATOR_TYPE, TPU_WORKER_ID or COLAB_TPU_ADDR, a `/dev/accel*` device, or TPU devices
  already known to TensorFlow), else every local GPU, else the CPU;
- "tpu": `TPUClusterResolver(tpu="local")` -> `tf.config.experimental_connect_to_cluster` ->
  `tf.tpu.experimental.initialize_tpu_system` -> `TPUStrategy` (Colab TPU runtimes and Cloud TPU VMs);
- "gpu": `MirroredStrategy` over all local GPUs (with a single GPU, the default strategy, which
  places everything on it);
- "cpu": one CPU device, no replication (the default strategy; `OneDeviceStrategy("/cpu:0")` when
  GPUs are visible).

A "tpu" or "gpu" request that cannot be met, and float64 on a TPU (TPUs have no float64), raise
`config.ConfigError` with a one-line message. `select_strategy` caches its strategies: a TPU is
initialized once per process (initializing it again would wipe it).

Under a strategy with several replicas (or a TPU), the package's computations are sharded:

- `ShardedNetworkSystem` (a `dynamics.NetworkSystem`): the training set is split into equal shards,
  one per replica (padded with zero-weight points). The gradient of L = 1/(alpha^2 n) sum_mu l is a
  sum over examples, so each replica computes its shard's sum / (alpha^2 n) and its gradient, and
  `strategy.reduce(SUM)` adds them; F is gathered from the replicas. The gradient-flow loop stays one
  `tf.while_loop` in one `tf.function`, in cross-replica context, whose body calls `strategy.run`.
  (The loop cannot run inside the replica function: MirroredStrategy refuses an all-reduce inside
  control flow of a replica function. And an XLA program cannot span several devices, so with
  `jit_compile` the per-replica computation is compiled, not the loop; TPUs compile it anyway.)
- `stochastic.MinibatchTrainer` splits each minibatch across the replicas the same way and applies
  the summed gradient with the Keras optimizer (which all-reduces it);
- `ntk.empirical_ntk` called in cross-replica context (inside `strategy.scope()`) shards the
  rows of x1.

Single-device runs do not go through any of this: their numbers are those of the plain path.
`train.train_and_evaluate` builds the model, the system, the trainer and the kernel observer inside
`scope(strategy)`.

Example (a notebook's first cell):
    >>> from lazyfeat_tf import accelerators
    >>> strategy = accelerators.select_strategy("auto")
    >>> print(accelerators.describe(strategy))
    default strategy on /CPU:0 (1 replica; no GPU or TPU found)
"""

import contextlib
import glob
import math
import os

import tensorflow as tf

from lazyfeat_tf import config as config_lib
from lazyfeat_tf import dynamics, losses

KINDS = config_lib.choices.DISTRIBUTE
TPU_ENV_VARS = ("TPU_NAME", "TPU_ACCELERATOR_TYPE", "TPU_WORKER_ID", "COLAB_TPU_ADDR")

_STRATEGIES = {}  # kind -> strategy (a TPU is initialized once per process)
_UNUSABLE = object()  # _STRATEGIES["tpu"] after "auto" found an announced TPU unusable


def _fail(value, why):
    raise config_lib.ConfigError(f"config.distribute={value!r}: {why}")


def tpu_detectable():
    """Whether a TPU is likely present, judged without touching it: (bool, reason)."""
    for name in TPU_ENV_VARS:
        if os.environ.get(name):
            return True, f"${name} is set"
    devices = sorted(glob.glob("/dev/accel[0-9]*"))
    if devices:
        return True, f"{devices[0]} exists"
    try:
        if tf.config.list_logical_devices("TPU"):
            return True, "TensorFlow lists TPU devices"
    except RuntimeError:  # pragma: no cover - devices already initialized differently
        pass
    return False, "no TPU environment variable, /dev/accel* device or TPU device"


def default_strategy():
    """TensorFlow's default (no-op) strategy, whatever scope the caller is in."""
    from tensorflow.python.distribute import distribute_lib  # pylint: disable=g-direct-tensorflow-import

    return distribute_lib._get_default_strategy()  # pylint: disable=protected-access


def is_default(strategy):
    """Whether `strategy` is None or the default strategy (nothing to enter, nothing to shard)."""
    return strategy is None or strategy is default_strategy()


def _tpu_strategy():
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="local")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    except Exception as error:  # noqa: BLE001 - any failure means "no usable TPU here"
        detail = " ".join(f"{type(error).__name__}: {error}".split())
        detail = detail if len(detail) <= 120 else detail[:117] + "..."
        _fail("tpu", f"no usable TPU ({detail}); use --config.distribute=auto to run on a GPU or the CPU")


def _gpu_strategy():
    gpus = tf.config.list_logical_devices("GPU")
    if not gpus:
        _fail("gpu", "TensorFlow finds no GPU; use --config.distribute=auto to run on the CPU")
    if len(gpus) == 1:
        return default_strategy()  # places everything on the GPU
    return tf.distribute.MirroredStrategy([g.name for g in gpus])


def _cpu_strategy():
    if tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"):
        return tf.distribute.OneDeviceStrategy("/cpu:0")
    return default_strategy()


def resolve_kind(distribute="auto"):
    """The kind ("tpu", "gpu" or "cpu") that `select_strategy(distribute)` would use, cheaply."""
    if distribute not in KINDS:
        _fail(distribute, f"must be one of {', '.join(KINDS)}")
    if distribute != "auto":
        return distribute
    if _STRATEGIES.get("tpu") is not _UNUSABLE and tpu_detectable()[0]:
        return "tpu"
    return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"


def _check_dtype(kind, dtype):
    if kind == "tpu" and str(dtype) == "float64":
        raise config_lib.ConfigError(
            "config.dtype='float64': TPUs have no float64; use --config.dtype=float32, or "
            "--config.distribute=cpu to run in float64 on the host CPU"
        )


def check_dtype(strategy, dtype):
    """Raise `config.ConfigError` if `dtype` cannot run under `strategy` (float64 on a TPU)."""
    _check_dtype("tpu" if is_tpu(strategy) else "other", dtype)


def select_strategy(distribute="auto", dtype="float32"):
    """The `tf.distribute.Strategy` for `config.distribute` (see the module docstring).

    Args:
        distribute: "auto", "tpu", "gpu" or "cpu".
        dtype: the run's dtype; "float64" is refused on a TPU.

    Returns:
        A strategy, cached per kind: the same object for the same request within a process.

    Raises:
        config.ConfigError: unknown value, a TPU or GPU requested but absent, float64 on a TPU.
    """
    kind = resolve_kind(distribute)
    _check_dtype(kind, dtype)
    if kind not in _STRATEGIES or _STRATEGIES[kind] is _UNUSABLE:
        if kind == "tpu" and distribute == "auto":
            try:
                _STRATEGIES[kind] = _tpu_strategy()
            except config_lib.ConfigError:  # announced but unusable: fall back, and do not retry
                _STRATEGIES[kind] = _UNUSABLE
                return select_strategy("auto", dtype)
        else:
            _STRATEGIES[kind] = {"tpu": _tpu_strategy, "gpu": _gpu_strategy, "cpu": _cpu_strategy}[kind]()
    return _STRATEGIES[kind]


def is_tpu(strategy):
    return isinstance(strategy, (tf.distribute.TPUStrategy, tf.distribute.experimental.TPUStrategy))


def is_sharded(strategy):
    """Whether computations are split across replicas under `strategy` (several replicas, or a TPU)."""
    return not is_default(strategy) and (strategy.num_replicas_in_sync > 1 or is_tpu(strategy))


def devices(strategy):
    """The devices of the strategy's replicas (the default strategy's is the first one TF uses)."""
    if not is_default(strategy):
        return tuple(strategy.extended.worker_devices)
    gpus = tf.config.list_logical_devices("GPU")
    return (gpus[0].name if gpus else "/CPU:0",)


def kind_of(strategy):
    """"tpu", "gpu" or "cpu": what the strategy's replicas run on."""
    if is_tpu(strategy):
        return "tpu"
    return "gpu" if any("GPU" in d.upper() for d in devices(strategy)) else "cpu"


def describe(strategy):
    """One line saying what runs where, e.g. "MirroredStrategy over /device:GPU:0, /device:GPU:1
    (2 replicas, kind gpu)" or "default strategy on /CPU:0 (1 replica; no GPU or TPU found)"."""
    n = strategy.num_replicas_in_sync
    names = devices(strategy)
    where = ", ".join(names[:4]) + (f", ... ({len(names)} devices)" if len(names) > 4 else "")
    name = type(strategy).__name__
    if is_default(strategy):
        found = "1 GPU" if kind_of(strategy) == "gpu" else "no GPU or TPU found"
        return f"default strategy on {where} (1 replica; {found})"
    replicas = f"{n} replica{'s' if n != 1 else ''}"
    return f"{name} over {where} ({replicas}, kind {kind_of(strategy)})"


def environment_report(distribute="auto", dtype="float32"):
    """(strategy, multi-line text) for a notebook's first cell: versions, devices, the choice."""
    strategy = select_strategy(distribute, dtype)
    physical = {kind: len(tf.config.list_physical_devices(kind)) for kind in ("CPU", "GPU", "TPU")}
    lines = [
        f"TensorFlow {tf.__version__}; physical devices: "
        + ", ".join(f"{count} {kind}" for kind, count in physical.items()),
        f"TPU detection: {tpu_detectable()[1]}",
        f"distribute={distribute!r} -> {describe(strategy)}",
    ]
    if kind_of(strategy) == "tpu":
        lines.append("TPU: runs must use dtype float32 (float64 is refused).")
    return strategy, "\n".join(lines)


@contextlib.contextmanager
def scope(strategy):
    """Context manager for building and running under `strategy`: its scope (plus the device of a
    `OneDeviceStrategy`); nothing at all for None or the default strategy."""
    if is_default(strategy):
        yield
        return
    with contextlib.ExitStack() as stack:
        stack.enter_context(strategy.scope())
        if isinstance(strategy, tf.distribute.OneDeviceStrategy):
            stack.enter_context(tf.device(strategy.extended.worker_devices[0]))
        yield


# ----------------------------------------------------------------------------------------------
# Sharding


def shard_size(n, replicas):
    """Points per replica when `n` points are split into `replicas` equal (padded) shards."""
    return max(1, math.ceil(n / replicas))


def pad_to(tensor, length):
    """`tensor` `[n, ...]` padded with copies of its first row to `[length, ...]`."""
    n = int(tensor.shape[0])
    if n == length:
        return tensor
    filler = tf.repeat(tensor[:1], length - n, axis=0)
    return tf.concat([tensor, filler], axis=0)


def replica_rows(tensor, replicas, rows):
    """This replica's `[rows, ...]` block of `tensor` `[replicas * rows, ...]` (replica context)."""
    replica = tf.distribute.get_replica_context().replica_id_in_sync_group
    blocks = tf.reshape(tensor, [replicas, rows] + tensor.shape[1:].as_list())
    return tf.gather(blocks, replica)


def gather_rows(strategy, per_replica, n):
    """The first `n` rows of the replicas' blocks concatenated in replica order (cross-replica)."""
    parts = strategy.experimental_local_results(per_replica)
    return (tf.concat(parts, axis=0) if len(parts) > 1 else parts[0])[:n]


class ShardedNetworkSystem(dynamics.NetworkSystem):
    """A `dynamics.NetworkSystem` whose training set is split across the replicas of `strategy`.

    Build the model inside `scope(strategy)` (its variables are then mirrored on every replica).
    `evaluate(params)` returns the same (F `[n]`, L, dL/dparams) as `NetworkSystem.evaluate`, to
    float round-off: each replica computes sum_{mu in shard} l(F_mu y_mu) / (alpha^2 n) and its
    gradient on a shard of `shard_size(n, replicas)` points (the last shard padded with zero-weight
    points), and the sums are added by `strategy.reduce(SUM)`.

    For the gradient flow's device loop (`dynamics.GradientFlow`), which runs inside one replica
    function: `replica_evaluate` (a replica's shard, its share of L and of the gradient),
    `exchange` (the one exchange per attempt), `pad` / `replica_rows` / `gather` (F split into
    shards and back). The exchange is `ReplicaContext.all_reduce` on a TPU (an XLA all-reduce inside
    the compiled loop). MirroredStrategy refuses its all-reduce inside a loop of a replica function,
    its collective ops cannot run in separate per-replica loops, and XLA on CPUs has no collectives:
    there the replicas exchange through FIFO queues on the host, one per ordered pair of replicas,
    and add the partial sums in replica order, so that every replica holds bitwise the same numbers.

    Args:
        model, x, y, loss, soft_hinge_beta: as for `dynamics.NetworkSystem`.
        strategy: a `tf.distribute.Strategy`.
        jit_compile: compile the per-replica computation with XLA (on a TPU the whole replica
            function is compiled anyway).
    """

    _exchanges = 0  # systems made in this process (each has its own queues)

    def __init__(self, model, x, y, loss="hinge", soft_hinge_beta=20.0, *, strategy, jit_compile=False):
        self.strategy = strategy
        self.replicas = strategy.num_replicas_in_sync
        with scope(strategy):
            super().__init__(model, x, y, loss, soft_hinge_beta)
        self.n = int(self.y.shape[0])
        self.rows = shard_size(self.n, self.replicas)
        padded = self.rows * self.replicas
        weights = tf.concat([tf.ones([self.n], self.dtype), tf.zeros([padded - self.n], self.dtype)], 0)
        self.padded = (pad_to(self.x, padded), pad_to(self.y, padded), pad_to(self.f0, padded), weights)
        self._replica_evaluate = tf.function(self._replica_evaluate_graph, jit_compile=jit_compile,
                                             autograph=False)
        self._evaluate_eagerly = tf.function(self._evaluate_graph, autograph=False)
        self._replica_outputs = tf.function(self.outputs, jit_compile=jit_compile, autograph=False)
        ShardedNetworkSystem._exchanges += 1
        self._exchange_name = f"lazyfeat_tf_exchange_{ShardedNetworkSystem._exchanges}"

    def partial_loss(self, outputs, labels, weights, total):
        """sum_mu weights_mu l(F_mu y_mu) / (alpha^2 total): a replica's share of L."""
        pointwise = losses.pointwise_loss(self.loss_name, outputs * labels, self.soft_hinge_beta)
        return tf.reduce_sum(weights * pointwise) / tf.constant(self.alpha**2 * total, self.dtype)

    def _replica_evaluate_graph(self, params, x, y, f0, weights):
        with tf.GradientTape() as tape:
            tape.watch(params)
            outputs = self.outputs(params, x, f0)
            loss = self.partial_loss(outputs, y, weights, self.n)
        return outputs, loss, tape.gradient(loss, params)

    def _replica_step(self, params):
        shard = [replica_rows(a, self.replicas, self.rows) for a in self.padded]
        return self._replica_evaluate(params, *shard)

    def _evaluate_graph(self, params):
        outputs, loss, grads = self.strategy.run(self._replica_step, args=(list(params),))
        total = self.strategy.reduce(tf.distribute.ReduceOp.SUM, [loss] + list(grads), axis=None)
        return gather_rows(self.strategy, outputs, self.n), total[0], total[1:]

    def evaluate(self, params):
        """(F `[n]`, L scalar, dL/dparams list) on the training set at `params` (cross-replica)."""
        if tf.executing_eagerly():
            return self._evaluate_eagerly(list(params))
        return self._evaluate_graph(params)

    def replica_evaluate(self, params):
        """(F `[rows]`, this replica's share of L, its gradient) on this replica's shard (replica
        context); the function from `exchange` adds the shares."""
        return self._replica_step(params)

    def pad(self, tensor):
        """`tensor` `[n, ...]` padded to the `[replicas * rows, ...]` that `replica_rows` splits."""
        return pad_to(tensor, self.rows * self.replicas)

    def replica_rows(self, tensor):
        """This replica's `[rows, ...]` block of a padded `tensor` (replica context)."""
        return replica_rows(tensor, self.replicas, self.rows)

    def gather(self, per_replica):
        """F `[n]` from the replicas' `[rows]` blocks (cross-replica context)."""
        return gather_rows(self.strategy, per_replica, self.n)

    def exchange(self):
        """This replica's `cross_replica(sums, maxima)` -> (`sums` added over the replicas, `maxima`
        (scalars) maximized), in one exchange, bitwise the same on every replica (replica context;
        call it once before the loop that exchanges)."""
        context = tf.distribute.get_replica_context()
        replica = context.replica_id_in_sync_group
        if is_tpu(self.strategy):
            def add(flat):
                return context.all_reduce(tf.distribute.ReduceOp.SUM, flat)
        else:
            add = self._queue_sum(tf.get_static_value(replica))

        def cross_replica(sums, maxima):
            k = len(maxima)
            # Each replica puts its maxima in its own row and zeros elsewhere: the sum gathers them exactly.
            mine = tf.equal(tf.range(self.replicas), tf.cast(replica, tf.int32))[:, None]
            spread = tf.where(mine, tf.stack(maxima)[None, :], tf.zeros([self.replicas, k], self.dtype))
            total = add(tf.concat([tf.reshape(x, [-1]) for x in sums] + [tf.reshape(spread, [-1])], axis=0))
            parts = tf.split(total, [x.shape.num_elements() for x in sums] + [self.replicas * k])
            added = [tf.reshape(part, x.shape) for part, x in zip(parts, sums)]
            return added, tf.unstack(tf.reduce_max(tf.reshape(parts[-1], [self.replicas, k]), axis=0))

        return cross_replica

    def _queue_sum(self, replica):
        """The function adding a vector over the replicas through FIFO queues on the host (one per
        ordered pair of replicas), in replica order; its queues are opened here, outside any loop."""
        if replica is None:
            raise NotImplementedError(f"{type(self.strategy).__name__}: no exchange for the gradient flow's "
                                      "device loop; use dynamics.GradientFlow(..., device_loop=False)")
        dtype = self.dtype

        def queue(source, target):  # both ends open the same queue: one host device, one shared name
            with tf.device("/cpu:0"):
                return tf.raw_ops.FIFOQueueV2(component_types=[dtype], capacity=2,
                                              shared_name=f"{self._exchange_name}/{source}->{target}")

        others = [r for r in range(self.replicas) if r != replica]
        outgoing = [queue(replica, r) for r in others]
        incoming = {r: queue(r, replica) for r in others}

        def add(flat):
            for handle in outgoing:
                tf.raw_ops.QueueEnqueueV2(handle=handle, components=[flat])
            parts = [flat if r == replica else
                     tf.raw_ops.QueueDequeueV2(handle=incoming[r], component_types=[dtype])[0]
                     for r in range(self.replicas)]
            return tf.add_n([tf.ensure_shape(part, flat.shape) for part in parts])

        return add

    def train_outputs(self, params):
        """F `[n]` on the training set at `params`, each replica computing its shard (in a graph)."""
        x, _, f0, _ = self.padded

        def replica_outputs(params):
            shard = [replica_rows(a, self.replicas, self.rows) for a in (x, f0)]
            return self._replica_outputs(params, *shard)

        return gather_rows(self.strategy, self.strategy.run(replica_outputs, args=(list(params),)), self.n)


def make_system(model, x, y, loss="hinge", soft_hinge_beta=20.0, *, strategy=None, jit_compile=False):
    """A `ShardedNetworkSystem` when `is_sharded(strategy)`, else a plain `dynamics.NetworkSystem`."""
    if is_sharded(strategy):
        return ShardedNetworkSystem(model, x, y, loss, soft_hinge_beta, strategy=strategy,
                                    jit_compile=jit_compile)
    return dynamics.NetworkSystem(model, x, y, loss, soft_hinge_beta)
