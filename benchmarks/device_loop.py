"""Host round trips of the gradient flow under a multi-replica strategy: host loop vs device loop.

Run from the repository root (about a minute on 2 cores):

    python benchmarks/device_loop.py

MirroredStrategy on 2 logical CPU devices, setup A at a small size (n = 256 points of dimension 16,
L = 3, h = 32, float32, per-replica computation compiled with XLA). `dynamics.GradientFlow` advances
by up to 1,000 attempts per call of `advance` (tiny `max_dout`, so that no run converges first):
- host loop (`device_loop=False`): the `tf.while_loop` runs in cross-replica context and calls
  `strategy.run` once per attempt (on a TPU: one launch of the device program per attempt);
- device loop (the default): one `strategy.run` per `advance`, the loop inside the replica function.

"round trips" counts the executed `strategy.run` calls (a counter incremented beside each call, in
whatever graph or loop body the call sits), per 1,000 attempts. Wall times are for information only:
on CPUs the exchange of the device loop goes through host queues; the gain is on a TPU, where every
round trip costs a launch and a transfer.
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from lazyfeat_tf import accelerators, config as config_lib, data, dynamics, models  # noqa: E402

ATTEMPTS, CALLS = 1000, 3


def build(strategy, device_loop):
    config = config_lib.setup_a_config()
    config.alpha_sqrt_h = 1.0
    config.data.source = config.data.name = "synthetic"
    config.data.dim, config.data.n_train, config.data.n_test = 16, 256, 16
    config.model.width = 32
    spec = config_lib.resolve(config)
    task = data.load_task(spec.data, "float32")
    with accelerators.scope(strategy):
        model = models.build_run_model(spec, task.input_shape)
        system = accelerators.make_system(model, task.x_train, task.y_train, config.loss.name, strategy=strategy,
                                          jit_compile=True)
        return dynamics.GradientFlow(system, max_dout=1e-4, jit_compile=True, device_loop=device_loop)


def main():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    launches = tf.Variable(0, dtype=tf.int64)
    plain_run = strategy.run

    def counted_run(fn, args=(), kwargs=None, options=None):
        launches.assign_add(1)
        return plain_run(fn, args=args, kwargs=kwargs, options=options)

    strategy.run = counted_run
    print(f"MirroredStrategy on 2 logical CPUs; {CALLS} advance calls of up to {ATTEMPTS} attempts each")
    print(f"{'loop':>12}  {'attempts':>8}  {'round trips':>11}  {'per 1,000 attempts':>18}  {'ms/attempt':>10}")
    for name, device_loop in (("host", False), ("device", True)):
        flow = build(strategy, device_loop)
        flow.advance(2, max_attempts=2)  # trace and compile
        before = flow.state()
        launches.assign(0)
        start = time.perf_counter()
        for _ in range(CALLS):
            state = flow.advance(10**9, max_attempts=ATTEMPTS)
        seconds = time.perf_counter() - start
        attempts = (state.step + state.rejected) - (before.step + before.rejected)
        trips = int(launches.numpy())
        print(f"{name:>12}  {attempts:8d}  {trips:11d}  {1000 * trips / attempts:18.1f}  "
              f"{1000 * seconds / attempts:10.3f}")


if __name__ == "__main__":
    main()
