"""Cost of one gradient-flow step against a bare forward+backward pass on the same batch.

Run from the repository root:

    python benchmarks/train_step.py            # ~1-2 minutes on 2 cores
    python benchmarks/train_step.py --quick    # smoke run: fewer steps/repeats, noisier, ~30 s
    python benchmarks/train_step.py --modes=xla --dtypes=float32   # one case

Problem: the Fashion-MNIST-sized setup A of the article (Geiger et al., arXiv:1906.08034): n = 1000
points of dimension d = 784 (random, norm sqrt(d), labels = sign of the first coordinate), fully
connected Softplus network with L = 3 hidden layers of width h = 64, soft hinge loss,
alpha*sqrt(h) = 1.

- "step": `GradientFlow.advance` over N accepted steps (default bounds), divided by the number of
  attempts (accepted + rejected): one proposal = one forward+backward pass at w + dt v plus the
  acceptance test (dout, dgrad) and the bookkeeping.
- "fwd+bwd": F, L and dL/dw on the same batch (`NetworkSystem.evaluate`), one call of a
  `tf.function` (eager: a plain call).
- "fwd+bwd loop": the same pass repeated inside one `tf.function` (a `tf.while_loop` carrying w as
  the step loop does), so that no per-call dispatch is counted; "ratio" is step / this, the cost of
  a step in units of its forward and backward passes. Target: ratio <= 1.3.

Modes: eager (`tf.config.run_functions_eagerly(True)`), tf.function, XLA (`jit_compile=True`);
dtypes float32 and float64. Times are the best of several repeats (the machine may be busy).
"""

import argparse
import math
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from lazyfeat_tf import config as config_lib  # noqa: E402
from lazyfeat_tf import dynamics, models  # noqa: E402

N_TRAIN, DIM, WIDTH, DEPTH = 1000, 784, 64, 3
TARGET = 1.3


def build_system(dtype, seed=0):
    network = config_lib.ModelSpec(kind="fc", width=WIDTH, depth=DEPTH, activation="softplus")
    model = models.build_model(network, (DIM,), alpha=1.0 / math.sqrt(WIDTH), seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N_TRAIN, DIM))
    x *= math.sqrt(DIM) / np.linalg.norm(x, axis=1, keepdims=True)
    y = np.where(x[:, 0] > 0, 1.0, -1.0)
    return dynamics.NetworkSystem(model, x.astype(dtype), y.astype(dtype), "soft_hinge")


class Timers:
    """The three measurements of one (mode, dtype), each a callable returning seconds per pass.

    They are run interleaved, best of `repeats`, so that a busy machine slows them alike.
    """

    def __init__(self, system, mode, n_steps):
        jit = mode == "xla"
        self.system, self.n = system, n_steps
        self.flow = dynamics.GradientFlow(system, jit_compile=jit)
        self.flow.advance(3)  # trace / compile
        self.params = [tf.convert_to_tensor(p) for p in system.params]
        self.evaluate = system.evaluate if mode == "eager" else tf.function(system.evaluate, jit_compile=jit)
        self.evaluate(self.params)[1].numpy()

        def loop(params, eps, n):
            def body(i, params):
                _, _, grads = system.evaluate(params)
                return i + 1, [p - eps * g for p, g in zip(params, grads)]  # eps = 0: w stays

            _, params = tf.while_loop(lambda i, _: i < n, body, (tf.constant(0), params))
            return params

        self.loop = loop if mode == "eager" else tf.function(loop, jit_compile=jit)
        self.eps, self.n_tensor = tf.constant(0.0, system.dtype), tf.constant(n_steps)
        self.loop(self.params, self.eps, self.n_tensor)[0].numpy()
        self.other = self._other_loop(mode)

    def step(self):
        """Seconds per attempt of `GradientFlow.advance`."""
        before = self.flow.state()
        start = time.perf_counter()
        after = self.flow.advance(before.step + self.n, max_attempts=10 * self.n)
        elapsed = time.perf_counter() - start
        attempts = (after.step - before.step) + (after.rejected - before.rejected)
        if after.status != "running" or attempts == 0:
            raise RuntimeError(f"the flow stopped ({after.status}); lower the number of steps")
        return elapsed / attempts

    def call(self):
        """Seconds per forward+backward call."""
        start = time.perf_counter()
        for _ in range(self.n):
            result = self.evaluate(self.params)
        result[1].numpy()
        return (time.perf_counter() - start) / self.n

    def looped(self):
        """Seconds per forward+backward pass inside one in-graph loop."""
        start = time.perf_counter()
        self.loop(self.params, self.eps, self.n_tensor)[0].numpy()
        return (time.perf_counter() - start) / self.n

    def _other_loop(self, mode):
        """The step loop's work other than the forward+backward pass (velocity, proposal, dout/dgrad,
        tf.where picks), with the new gradient replaced by a cheap stand-in."""
        outputs, _, grads = self.system.evaluate(self.params)

        def loop(params, grads, outputs, dt, n):
            def body(i, params, g, out):
                p_new = [p - dt * gi for p, gi in zip(params, g)]
                g_new = [gi * 1.0001 for gi in g]
                out_new = out * 1.0001
                dout = tf.reduce_max(tf.abs(out_new - out))
                sq = lambda ts: tf.add_n([tf.reduce_sum(tf.square(t)) for t in ts])
                dgrad = sq([a - b for a, b in zip(g, g_new)]) / tf.sqrt(sq(g) * sq(g_new))
                accept = (dout < 0.1) & (dgrad < 1e-4)
                pick = lambda new, old: [tf.where(accept, a, b) for a, b in zip(new, old)]
                return i + 1, pick(p_new, params), pick(g_new, g), tf.where(accept, out_new, out)

            return tf.while_loop(lambda i, *_: i < n, body, (tf.constant(0), params, grads, outputs))[1]

        looped = loop if mode == "eager" else tf.function(loop, jit_compile=(mode == "xla"))
        args = (self.params, grads, outputs, tf.constant(1e-3, self.system.dtype), self.n_tensor)
        looped(*args)[0].numpy()

        def other():
            start = time.perf_counter()
            looped(*args)[0].numpy()
            return (time.perf_counter() - start) / self.n

        return other

    def measure(self, repeats):
        best = dict(step=math.inf, call=math.inf, loop=math.inf, other=math.inf)
        for _ in range(repeats):
            for name, fn in (("step", self.step), ("call", self.call), ("loop", self.looped),
                             ("other", self.other)):
                best[name] = min(best[name], fn())
        return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    parser.add_argument("--modes", default="eager,tf.function,xla", help="comma-separated subset")
    parser.add_argument("--dtypes", default="float32,float64", help="comma-separated subset")
    args = parser.parse_args()
    n_steps, repeats = (40, 3) if args.quick else (100, 6)
    n_eager = 10 if args.quick else 20

    print(f"n = {N_TRAIN}, d = {DIM}, h = {WIDTH}, L = {DEPTH}, softplus, soft hinge; "
          f"{tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()} CPU threads; "
          f"TensorFlow {tf.__version__}\n")
    header = ("mode", "dtype", "ms/step", "ms fwd+bwd", "ms fwd+bwd loop", "ms other", "ratio", "<= 1.3")
    rows = []
    for mode in args.modes.split(","):
        for dtype in args.dtypes.split(","):
            tf.config.run_functions_eagerly(mode == "eager")
            system = build_system(dtype)
            steps = n_eager if mode == "eager" else n_steps
            best = Timers(system, mode, steps).measure(repeats)
            step, call, loop, other = best["step"], best["call"], best["loop"], best["other"]
            ratio = step / loop
            rows.append((mode, dtype, f"{1e3 * step:.3f}", f"{1e3 * call:.3f}", f"{1e3 * loop:.3f}",
                         f"{1e3 * other:.3f}", f"{ratio:.2f}", "yes" if ratio <= TARGET else "NO"))
            print("  ".join(rows[-1]), flush=True)
    tf.config.run_functions_eagerly(False)

    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    print("\n" + "  ".join(h.rjust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)))
    print("\nms/step: one attempt of GradientFlow.advance; ms fwd+bwd: one evaluate call; "
          "loop: per pass inside one tf.while_loop;\nms other: the step's vector work alone "
          "(proposal, dout, dgrad, picks); ratio = ms/step / ms fwd+bwd loop.")


if __name__ == "__main__":
    main()
