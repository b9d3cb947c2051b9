"""Cost of one gradient-flow step against its forward+backward pass and against the matmul floor.

Run from the repository root:

    python benchmarks/train_step.py                  # steps at h = 16, 64, 256: ~3 minutes on 2 cores
    python benchmarks/train_step.py --quick          # smoke run: fewer steps/repeats, noisier
    python benchmarks/train_step.py --widths=64 --modes=xla --dtypes=float32   # one case
    python benchmarks/train_step.py --whole-runs     # tf.function vs XLA over whole runs (~15 minutes)
    python benchmarks/train_step.py --tf-default-threads   # TensorFlow's thread pools, not a run's

TensorFlow's thread pools are a run's (`lazyfeat_tf.cpu_threads.pools`: one intra-op thread per row
block's share of the CPUs) unless `--tf-default-threads`.

Problem: the Fashion-MNIST-sized setup A of the article (Geiger et al., arXiv:1906.08034): n = 1000
points of dimension d = 784 (random, norm sqrt(d), labels = sign of the first coordinate), fully
connected Softplus network with L = 3 hidden layers of width h, soft hinge loss, alpha*sqrt(h) = 1.

Per (mode, dtype, width):

- "step": `GradientFlow.advance` over N accepted steps (default bounds), divided by the number of
  attempts (accepted + rejected): one proposal = one forward+backward pass at w - dt g plus the
  acceptance test (dout, dgrad) and the bookkeeping.
- "fwd+bwd loop": F, L and dL/dw (`NetworkSystem.evaluate`) repeated inside one `tf.function` (a
  `tf.while_loop` carrying w as the step loop does); "ratio" = step / this (target <= 1.3).
- "floor": the matmuls of one step alone (forward x W1, z W2, ..., z w; backward the weight
  gradients z^T delta and the back-propagated deltas delta W^T), each of the step's shapes, inside one
  plain `tf.function` loop, measured in the same run; "of floor" = floor / step, the fraction of the
  step spent at the speed of plain matmuls (1 = nothing but the matmuls). The FLOP rate of the floor
  is printed beside it.
- "other": the step's vector work alone (proposal, dout, dgrad, the accepting `tf.cond`), with the
  gradient replaced by a cheap stand-in.

Modes: eager (`tf.config.run_functions_eagerly(True)`), tf.function, XLA (`jit_compile=True`).
Times are the best of several interleaved repeats (the machine may be busy; `uptime` is printed).

`--whole-runs`: the demo-size run (configs/demo.py: Fashion-MNIST parity, n = 1000, h = 64, L = 3,
kernel tracking off) trained to convergence with `GradientFlow`, recording on the log-spaced grid
of `train.py`, at alpha*sqrt(h) = 1 and 100, with `jit_compile` False and True; each run in a fresh
process, timed from building the flow (tracing and XLA compilation included) to the end.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from lazyfeat_tf import config as config_lib  # noqa: E402
from lazyfeat_tf import cpu_threads, dynamics, models  # noqa: E402

N_TRAIN, DIM, DEPTH = 1000, 784, 3
TARGET = 1.3


def build_system(dtype, width, seed=0):
    network = config_lib.ModelSpec(kind="fc", width=width, depth=DEPTH, activation="softplus")
    model = models.build_model(network, (DIM,), alpha=1.0 / math.sqrt(width), seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N_TRAIN, DIM))
    x *= math.sqrt(DIM) / np.linalg.norm(x, axis=1, keepdims=True)
    y = np.where(x[:, 0] > 0, 1.0, -1.0)
    return dynamics.NetworkSystem(model, x.astype(dtype), y.astype(dtype), "soft_hinge")


def step_matmuls(n, d, widths):
    """(a shape, b shape, transpose_a, transpose_b) of every matmul of one forward+backward pass of a
    fully connected network d -> widths[0] -> ... -> widths[-1] -> 1 on n points (no gradient with
    respect to the inputs)."""
    sizes = [d] + list(widths) + [1]
    forward = [((n, sizes[i]), (sizes[i], sizes[i + 1]), False, False) for i in range(len(sizes) - 1)]
    weight_grads = [((n, sizes[i]), (n, sizes[i + 1]), True, False) for i in range(len(sizes) - 1)]
    deltas = [((n, sizes[i + 1]), (sizes[i], sizes[i + 1]), False, True) for i in range(1, len(sizes) - 1)]
    return forward + weight_grads + deltas


def matmul_flops(shapes):
    total = 0
    for a, b, ta, tb in shapes:
        rows, inner = (a[1], a[0]) if ta else a
        cols = b[0] if tb else b[1]
        total += 2 * rows * inner * cols
    return total


class Clock:
    """Wall and process CPU seconds since construction; `per(n)` -> (wall / n, cpu / n)."""

    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def per(self, n):
        return (time.perf_counter() - self.wall) / n, (time.process_time() - self.cpu) / n


class Timers:
    """The measurements of one (mode, dtype, width), each a callable returning (wall, CPU) seconds
    per pass.

    They are run interleaved, best of `repeats`, so that a busy machine slows them alike.
    """

    def __init__(self, system, mode, n_steps):
        jit = mode == "xla"
        self.system, self.n = system, n_steps
        self.flow = dynamics.GradientFlow(system, jit_compile=jit)
        self.flow.advance(3)  # trace / compile
        self.params = [tf.convert_to_tensor(p) for p in system.params]

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
        self.floor, self.floor_flops = self._floor_loop(mode)

    def step(self):
        """Seconds per attempt of `GradientFlow.advance`."""
        before = self.flow.state()
        clock = Clock()
        after = self.flow.advance(before.step + self.n, max_attempts=10 * self.n)
        attempts = (after.step - before.step) + (after.rejected - before.rejected)
        if after.status != "running" or attempts == 0:
            raise RuntimeError(f"the flow stopped ({after.status}); lower the number of steps")
        return clock.per(attempts)

    def looped(self):
        """Seconds per forward+backward pass inside one in-graph loop."""
        clock = Clock()
        self.loop(self.params, self.eps, self.n_tensor)[0].numpy()
        return clock.per(self.n)

    def _floor_loop(self, mode):
        """The matmuls of one step alone, in a loop (plain tf.function; eager when mode is eager).

        Each matmul's smaller operand is nudged by zero times a scalar of the products, so that no
        matmul is loop-invariant (the nudges add one pass over ~4 n h numbers, a few percent)."""
        widths = [layer.units for layer in self.system.parts.trunk.layers if hasattr(layer, "units")]
        shapes = step_matmuls(N_TRAIN, DIM, widths)
        rng = np.random.default_rng(0)
        operands = [[tf.constant(rng.standard_normal(s), self.system.dtype) for s in (a, b)] for a, b, _, _ in shapes]

        def loop(operands, n):
            def body(i, operands):
                products = [tf.matmul(a, b, transpose_a=ta, transpose_b=tb)
                            for (a, b), (_, _, ta, tb) in zip(operands, shapes)]
                nudge = 0.0 * tf.add_n([p[0, 0] for p in products])
                return i + 1, [[a, b + nudge] if a.shape.num_elements() >= b.shape.num_elements() else [a + nudge, b]
                               for a, b in operands]

            return tf.while_loop(lambda i, _: i < n, body, (tf.constant(0), operands))[1]

        looped = loop if mode == "eager" else tf.function(loop)
        looped(operands, self.n_tensor)[0][0].numpy()

        def floor():
            clock = Clock()
            looped(operands, self.n_tensor)[0][0].numpy()
            return clock.per(self.n)

        return floor, matmul_flops(shapes)

    def _other_loop(self, mode):
        """The step loop's work other than the forward+backward pass (proposal, dout, dgrad, the
        accepting tf.cond), with the new gradient replaced by a cheap stand-in."""
        outputs, _, grads = self.system.evaluate(self.params)

        def norm2(tensors):
            return tf.add_n([tf.reduce_sum(tf.square(x)) for x in tensors])

        def loop(params, grads, outputs, dt, n):
            def body(i, params, g, g2, out):
                p_new = [p - dt * gi for p, gi in zip(params, g)]
                g_new = [gi * 1.0001 for gi in g]
                out_new = out * 1.0001
                dout = tf.reduce_max(tf.abs(out_new - out))
                g2_new = norm2(g_new)
                dgrad = norm2([a - b for a, b in zip(g, g_new)]) / tf.sqrt(g2 * g2_new)
                accept = (dout < 0.1) & (dgrad < 1e-4)
                return (i + 1, *tf.cond(accept, lambda: (p_new, g_new, g2_new, out_new),
                                        lambda: (params, g, g2, out)))

            return tf.while_loop(lambda i, *_: i < n, body, (tf.constant(0), params, grads, norm2(grads), outputs))[1]

        looped = loop if mode == "eager" else tf.function(loop, jit_compile=(mode == "xla"))
        args = (self.params, grads, outputs, tf.constant(1e-3, self.system.dtype), self.n_tensor)
        looped(*args)[0].numpy()

        def other():
            clock = Clock()
            looped(*args)[0].numpy()
            return clock.per(self.n)

        return other

    def measure(self, repeats):
        """{name: (best wall, best CPU) seconds per pass} over `repeats` interleaved rounds."""
        best = {name: (math.inf, math.inf) for name in ("step", "loop", "floor", "other")}
        for _ in range(repeats):
            for name, fn in (("step", self.step), ("loop", self.looped), ("floor", self.floor),
                             ("other", self.other)):
                wall, cpu = fn()
                best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
        return best


def step_table(args):
    n_steps, repeats = (20, 3) if args.quick else (60, 7)
    n_eager = 5 if args.quick else 10
    header = ("mode", "dtype", "h", "ms/step", "ms fwd+bwd loop", "ms floor", "floor GFLOP/s", "of floor",
              "ms other", "ratio", "<= 1.3", "CPU ms/step", "CPU of floor")
    rows = []
    for dtype in args.dtypes.split(","):
        for width in [int(w) for w in args.widths.split(",")]:
            for mode in args.modes.split(","):
                tf.config.run_functions_eagerly(mode == "eager")
                system = build_system(dtype, width)
                steps = n_eager if mode == "eager" else max(5, n_steps * 64 // max(width, 64))
                timers = Timers(system, mode, steps)
                best = timers.measure(repeats)
                step, loop, floor, other = (best[k][0] for k in ("step", "loop", "floor", "other"))
                ratio = step / loop
                cpu_step, cpu_floor = best["step"][1], best["floor"][1]
                rows.append((mode, dtype, str(width), f"{1e3 * step:.3f}", f"{1e3 * loop:.3f}", f"{1e3 * floor:.3f}",
                             f"{timers.floor_flops / floor / 1e9:.0f}", f"{floor / step:.0%}", f"{1e3 * other:.3f}",
                             f"{ratio:.2f}", "yes" if ratio <= TARGET else "NO", f"{1e3 * cpu_step:.3f}",
                             f"{cpu_floor / cpu_step:.0%}"))
                print("  ".join(rows[-1]), flush=True)
    tf.config.run_functions_eagerly(False)

    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    print("\n" + "  ".join(h.rjust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)))
    print("\nms/step: one attempt of GradientFlow.advance; fwd+bwd loop: one evaluate inside a tf.while_loop; floor: "
          "the step's matmuls alone;\nof floor = floor / step; ms other: the step's vector work alone (proposal, dout, "
          "dgrad, accepting tf.cond); ratio = ms/step / ms fwd+bwd loop;\nCPU: the same in process CPU time "
          "(best of the repeats; with --threads=1 the measure least disturbed by other processes).")


# ----------------------------------------------------------------------------------------------
# Whole runs: tf.function against XLA, compilation included


def whole_run(alpha_sqrt_h, dtype, jit):
    """One demo-size run to convergence in this process: {seconds, first_call, steps, status, ...}."""
    import importlib.util

    from lazyfeat_tf import data

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "demo.py")
    spec_file = importlib.util.spec_from_file_location("demo_config", path)
    module = importlib.util.module_from_spec(spec_file)
    spec_file.loader.exec_module(module)
    config = module.get_config()
    config.alpha_sqrt_h = alpha_sqrt_h
    config.dtype = dtype
    config.kernels.track = False
    spec = config_lib.resolve(config)
    task = data.load_task(spec.data, spec.dtype)
    model = models.build_run_model(spec, task.input_shape)
    d = spec.dynamics
    start = time.perf_counter()
    system = dynamics.NetworkSystem(model, task.x_train, task.y_train, spec.loss.name, spec.loss.soft_hinge_beta)
    flow = dynamics.GradientFlow(system, max_dout=d.max_dout, max_dgrad=d.max_dgrad, tau=d.tau, dt0=d.dt0,
                                 max_steps=d.max_steps, max_time=d.max_time, jit_compile=jit)
    state = flow.advance(1)
    first_call = time.perf_counter() - start
    for target in dynamics.record_steps(d.max_steps, d.num_records)[1:]:
        while state.status == "running" and state.step < target:
            state = flow.advance(int(target), max_attempts=100_000)
        if state.status != "running":
            break
    seconds = time.perf_counter() - start
    return dict(seconds=seconds, first_call=first_call, steps=state.step, rejected=state.rejected,
                status=state.status, t=state.t)


def whole_runs(args):
    cases = [(ash, dtype) for dtype in args.dtypes.split(",") for ash in (1.0, 100.0)]
    results = {}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root] + [p for p in sys.path if p]))
    for repeat in range(args.whole_repeats):
        for ash, dtype in cases:
            for jit in (False, True):
                child = json.dumps(dict(alpha_sqrt_h=ash, dtype=dtype, jit=jit))
                out = subprocess.run([sys.executable, os.path.abspath(__file__), f"--threads={args.threads}",
                                      *(["--tf-default-threads"] if args.tf_default_threads else []),
                                      "--whole-run-child", child],
                                     capture_output=True, text=True, env=env, check=True).stdout
                result = json.loads(out.strip().splitlines()[-1])
                results.setdefault((ash, dtype, jit), []).append(result)
                print(f"repeat {repeat}: alpha*sqrt(h) = {ash:g} {dtype} {'XLA' if jit else 'tf.function'}: "
                      f"{result['seconds']:.1f} s (first call {result['first_call']:.1f} s), {result['steps']} steps "
                      f"+ {result['rejected']} rejected, {result['status']}; load {os.getloadavg()[0]:.1f}", flush=True)
    print(f"\n{'alpha*sqrt(h)':>13}  {'dtype':>7}  {'tf.function s':>13}  {'XLA s':>7}  {'XLA / tf.function':>17}  "
          f"{'first call tf / XLA':>19}  steps tf / XLA")
    for ash, dtype in cases:
        plain, xla = results[(ash, dtype, False)], results[(ash, dtype, True)]
        best_plain, best_xla = min(r["seconds"] for r in plain), min(r["seconds"] for r in xla)
        first = f"{min(r['first_call'] for r in plain):.1f} / {min(r['first_call'] for r in xla):.1f}"
        print(f"{ash:13g}  {dtype:>7}  {best_plain:13.1f}  {best_xla:7.1f}  {best_xla / best_plain:17.2f}  {first:>19}  "
              f"{plain[0]['steps']} / {xla[0]['steps']}")
    print("\nbest of the repeats; each run in a fresh process, from building the GradientFlow (tracing, XLA "
          "compilation) to convergence.")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    parser.add_argument("--modes", default="tf.function,xla", help="comma-separated subset of eager,tf.function,xla")
    parser.add_argument("--dtypes", default="float32,float64", help="comma-separated subset")
    parser.add_argument("--widths", default="16,64,256", help="comma-separated widths h")
    parser.add_argument("--whole-runs", action="store_true", help="tf.function vs XLA over whole demo-size runs")
    parser.add_argument("--whole-repeats", type=int, default=2, help="repeats of each whole run")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPUs: TensorFlow's pools as a run's, lazyfeat_tf.cpu_threads.pools(threads) "
                             "(0: every CPU of the process)")
    parser.add_argument("--tf-default-threads", action="store_true",
                        help="TensorFlow's default pools instead (one intra-op thread per core), to compare")
    parser.add_argument("--whole-run-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.tf_default_threads:  # the pools of a run (the entry points' cpu_threads.configure)
        cpu_threads.set_pools(*cpu_threads.pools(args.threads or cpu_threads.cores()))
    if args.whole_run_child:
        print(json.dumps(whole_run(**json.loads(args.whole_run_child))))
        return
    threads = (f"{tf.config.threading.get_intra_op_parallelism_threads() or 'default'} intra-op / "
               f"{tf.config.threading.get_inter_op_parallelism_threads() or 'default'} inter-op threads")
    print(f"n = {N_TRAIN}, d = {DIM}, L = {DEPTH}, softplus, soft hinge; {threads}; TensorFlow "
          f"{tf.__version__}; load average {os.getloadavg()[0]:.1f}\n", flush=True)
    if args.whole_runs:
        whole_runs(args)
    else:
        step_table(args)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
