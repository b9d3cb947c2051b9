"""lazyfeat_tf against its peers: the gradient flow in PyTorch, the empirical NTK in neural-tangents.

Run from the repository root (on demand only: never in CI or in the tests):

    python benchmarks/peers.py                    # every case: ~15 minutes on 2 busy cores (load 6-7),
                                                  # 4 of them in neural-tangents' Jacobian contraction;
                                                  # the first time, ~2 more to create the virtualenvs
                                                  # (3.6 GB) from pip's cache, longer without it
    python benchmarks/peers.py --quick            # smoke run: fewer proposals and repeats, smaller
                                                  # kernels (n = 200, h = 128); ~4 minutes
    python benchmarks/peers.py --cases=flow-float32-h64,ntk-float32
    python benchmarks/peers.py --threads=1 --cache=/tmp/peers
    python benchmarks/peers.py --cases=flow --pairs=5

Each peer lives in its own virtualenv under `--cache` (default $LAZYFEAT_PEERS_CACHE, else
~/.cache/lazyfeat_tf/peers), created with `python -m venv` and `pip install` the first time a case
needs it (`PEERS` below lists the pins). The lazyfeat_tf side runs with the current interpreter.
Every case runs each side in its own subprocess, back to back; a child prints one JSON line. A flow
case alternates `--pairs` children of each side (default 3) and keeps each side's best: on this
kind of machine two children of the same side differ by 10-40%, the rounds within a child much less.
Every child is pinned to the same `--threads` cores (CPU affinity) and told to use that many threads
(TF: a training run's pools for the flow, `lazyfeat_tf.cpu_threads.pools`, as many intra-op threads
for the kernels; torch.set_num_threads; JAX/XLA follows the affinity). PyTorch runs under the faster
OpenMP wait policy of a 10-proposal probe (default or PASSIVE; both are printed): with the
default one, its threads spin and it runs up to 10-50x slower when other processes keep the cores
busy, while PASSIVE costs a little on idle cores.

Cases (fully connected network of the article, L = 3 hidden Softplus layers (softplus_beta 5,
normalized), NTK parametrization, no biases; inputs: n = 1000 random points of dimension d = 784
and norm sqrt(d), labels sign(x_0), as in benchmarks/train_step.py):

- flow-float32-h64, flow-float32-h256, flow-float64-h64, flow-float64-h256: the adaptive gradient
  flow (soft hinge loss with beta 20 divided by alpha^2, alpha*sqrt(h) = 1, kernel tracking off):
  lazyfeat_tf's `GradientFlow.advance` against the same flow written plainly in PyTorch on the CPU
  (`TorchFlow`: the same proposal, acceptance test, constants and dt rule). Both start from the same
  weights. Rate = proposals (accepted + rejected) per second, best of 5 rounds of 100 proposals
  after a warm-up of as many (which includes tracing). Check: the loss and the accepted steps of
  both after the warm-up's proposals (the same flow: they agree to the printed digits).
- ntk-float32 (and ntk-float64, structured only): the empirical NTK Theta(x, x) and Theta(x1, x2)
  (two sets of 1000) at h = 512: `lazyfeat_tf.ntk.empirical_ntk` (eager, its normal API; the
  tf.function-wrapped call is printed under the table) against neural-tangents'
  `empirical_ntk_fn(vmap_axes=0)` under `jax.jit`, STRUCTURED_DERIVATIVES and JACOBIAN_CONTRACTION,
  on the same network written with stax (Dense(W_std=1, b_std=None, parameterization="ntk") and the
  same normalized Softplus) and the same weights. Times: best of 5 calls after a warm-up (one call
  for the Jacobian contraction, ~20-60 s and ~4 GB a call; jax's compilation excluded, the first
  call is printed under the table). Check: relative Frobenius difference of the two kernels (~3e-7
  in float32, ~4e-16 in float64).

Floor: each child also times plain matrix products of the shapes that its case needs (a proposal:
the forward pass and the backward pass's weight and input gradients; a kernel: the forward and
backward passes to the pre-activations and the Gram products), one after the other, in its own
framework (TF, PyTorch or JAX), in rounds interleaved with the measured calls, best pass (the TF
flow: one such sequence per row block of n / 2 points, side by side on the run's pools, as its step
runs them; the same flops). "floor GFLOP/s" is their flops over that time, "of floor" that time over
the measured time: 1 would be a case that costs no more than its matrix products (a noisy machine
can push it past 1).

The machine may be shared: compare within one run, read the load averages printed around the table.
"""

import argparse
import json
import math
import operator
import os
import subprocess
import sys
import tempfile
import time

N_POINTS, DIM, DEPTH = 1000, 784, 3
SOFTPLUS_BETA = 5.0  # the article's activation sharpness (config.ModelSpec's default)
SOFT_HINGE_BETA = 20.0
MAX_DOUT, MAX_DGRAD, DT0, MIN_DT = 0.1, 1e-4, 1.0, 1e-30  # GradientFlow's defaults
KERNEL_WIDTH = 512

FLOW_CASES = {f"flow-{dtype}-h{h}": (dtype, h) for dtype in ("float32", "float64") for h in (64, 256)}
KERNEL_CASES = {"ntk-float32": "float32", "ntk-float64": "float64"}
CASES = list(FLOW_CASES) + list(KERNEL_CASES)
NT_IMPLEMENTATIONS = {"float32": ("STRUCTURED_DERIVATIVES", "JACOBIAN_CONTRACTION"),
                      "float64": ("STRUCTURED_DERIVATIVES",)}  # a float64 Jacobian set takes 7.4 GB

PEERS = {
    "torch": ["torch==2.13.0+cpu", "numpy"],
    # neural-tangents 0.6.5 (its last release) runs with jax <= 0.4.25: 0.4.26 removed
    # jax.interpreters.ad.source_info_util, which its structured derivatives use. jaxlib 0.4.25 is
    # built against numpy 1 (numpy 2 fails at import). `import neural_tangents` imports tensorflow
    # and tf2jax (its experimental TF interface): pinned to what installed with them.
    "neural-tangents": ["neural-tangents==0.6.5", "jax==0.4.25", "jaxlib==0.4.25", "numpy<2",
                        "tensorflow==2.21.0", "tf2jax==0.3.6"],
}
OMP_WAIT_POLICIES = (None, "PASSIVE")  # None: the OpenMP runtime's default
PROBE_PROPOSALS = 10
CACHE_ENV = "LAZYFEAT_PEERS_CACHE"
DEFAULT_CACHE = os.path.join("~", ".cache", "lazyfeat_tf", "peers")


# ----------------------------------------------------------------------------------------------
# Flop counts: a matrix product is (m, k, p, transpose_a, transpose_b), [m, k] x [k, p], with A
# stored [k, m] if transpose_a and B stored [p, k] if transpose_b.


def forward_products(n, d, h, depth):
    """x W1, z W_l (l = 2..L), z W_readout."""
    return [(n, d, h, False, False)] + [(n, h, h, False, False)] * (depth - 1) + [(n, h, 1, False, False)]


def input_gradient_products(n, h, depth):
    """The backward pass down to the first pre-activation: g_out W_readout^T, g_l W_l^T (l = L..2)."""
    return [(n, 1, h, False, True)] + [(n, h, h, False, True)] * (depth - 1)


def proposal_products(n, d, h, depth):
    """One forward+backward pass on n points: forward, input gradients, weight gradients z^T g."""
    weight_gradients = [(d, n, h, True, False)] + [(h, n, h, True, False)] * (depth - 1) + [(h, n, 1, True, False)]
    return forward_products(n, d, h, depth) + input_gradient_products(n, h, depth) + weight_gradients


def kernel_products(n1, n2, d, h, depth, symmetric):
    """Structured NTK: a forward and a backward pass (to the pre-activations) per set of points (one
    if symmetric), and the Gram products of every layer's inputs (d, h, ..., h), pre-activation
    gradients (h, ..., h) and features (h)."""
    sets = [n1] if symmetric else [n1, n2]
    passes = [p for n in sets for p in forward_products(n, d, h, depth) + input_gradient_products(n, h, depth)]
    widths = [d] + [h] * (depth - 1) + [h] * depth + [h]
    return passes + [(n1, w, n2, False, True) for w in widths]


def flops(products):
    return sum(2 * m * k * p for m, k, p, _, _ in products)


def operand_shapes(product):
    """The stored shapes of A and B."""
    m, k, p, transpose_a, transpose_b = product
    return (k, m) if transpose_a else (m, k), (p, k) if transpose_b else (k, p)


def seconds(fn):
    """Wall time of one call `fn()`."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved_best(timers, rounds):
    """{name: best time} over `rounds` rounds, each calling every timer (name -> callable returning
    seconds) once: interleaved, so that a busy machine slows them alike."""
    best = dict.fromkeys(timers, math.inf)
    for _ in range(rounds):
        for name, timer in timers.items():
            best[name] = min(best[name], timer())
    return best


def floor_timer(run_products, passes):
    """A timer: the best of `passes` passes of `run_products` (every product once)."""
    return lambda: min(seconds(run_products) for _ in range(passes))


# ----------------------------------------------------------------------------------------------
# Children. Each runs in its own process (the peers' ones in their virtualenv, where lazyfeat_tf,
# and maybe TensorFlow, are absent: imports stay inside the functions) and prints one JSON line.


def child_main(spec):
    cpus = sorted(os.sched_getaffinity(0))[: spec["threads"]]
    os.sched_setaffinity(0, cpus)
    result = CHILDREN[spec["child"]](spec)
    print(json.dumps(result))


def measure_flow(advance, run_products, spec):
    """A warm-up of `proposals` from the initial weights (with the tracing; its end state is the
    check), then `repeats` rounds of `proposals` and of floor passes. `advance(count)` -> (attempts,
    accepted steps, loss). Returns the best rate (proposals per second) and floor time."""
    proposals = spec["proposals"]
    _, steps, loss = advance(proposals)
    run_products()

    def per_proposal():
        start = time.perf_counter()
        attempts = advance(proposals)[0]
        return (time.perf_counter() - start) / attempts

    best = interleaved_best({"proposal": per_proposal, "floor": floor_timer(run_products, spec["floor_passes"])},
                            spec["repeats"])
    return dict(rate=1.0 / best["proposal"], floor=best["floor"], steps=steps, loss=loss)


def check_attempts(attempts, count, status):
    if attempts != count:
        raise RuntimeError(f"the flow stopped ({status}) after {attempts} of {count} proposals")


def import_tensorflow(threads, training=False):
    """TensorFlow on `threads` CPUs: a training run's pools (`lazyfeat_tf.cpu_threads.pools`, what
    the entry points set) for the flow, TensorFlow's default (as many intra-op threads) for the
    kernels, which are single large products."""
    import tensorflow as tf

    from lazyfeat_tf import cpu_threads

    cpu_threads.set_pools(*(cpu_threads.pools(threads) if training else (threads, threads)))
    return tf


def random_inputs(n, d, dtype, seed):
    """[n, d] points of norm sqrt(d) (numpy)."""
    import numpy as np

    x = np.random.default_rng(seed).standard_normal((n, d))
    return (x * math.sqrt(d) / np.linalg.norm(x, axis=1, keepdims=True)).astype(dtype)


def lazyfeat_network(h, dtype, seed=0):
    """The package's model and the constants another framework needs to rebuild it: its trained
    kernels in forward order (the readout's last) and the activation's normalization."""
    from lazyfeat_tf import models
    from lazyfeat_tf.config import ModelSpec

    spec = ModelSpec(kind="fc", depth=DEPTH, width=h, activation="softplus", softplus_beta=SOFTPLUS_BETA)
    model = models.build_model(spec, (DIM,), alpha=1.0 / math.sqrt(h), seed=seed, dtype=dtype)
    parts = models.parts(model)
    weights = [layer.kernel.numpy() for layer in parts.parameter_layers]
    return model, dict(activation_scale=parts.trunk.get_layer("act_1").scale, alpha=parts.alpha,
                       **{f"kernel_{i}": w for i, w in enumerate(weights)})


def load_weights(problem):
    return [problem[f"kernel_{i}"] for i in range(DEPTH + 1)]


def tf_products(tf, products, dtype, chains=1):
    """A pass of the products, one after the other inside one tf.function (distinct operands: none
    is merged; in sequence, as PyTorch and XLA run them, not competing for the cores). `chains`
    such sequences side by side (each its own operands, TensorFlow's inter-op threads run them at
    once): the gradient flow's row blocks on a training run's pools (one intra-op thread each)."""
    operands = [[[tf.random.normal(s, dtype=dtype) for s in operand_shapes(p)] for p in products]
                for _ in range(chains)]

    @tf.function
    def run():
        results = []
        for chain in operands:
            last = []
            for p, (a, b) in zip(products, chain):
                with tf.control_dependencies(last):
                    last = [tf.matmul(a, b, transpose_a=p[3], transpose_b=p[4])]
                results += last
        return results

    return lambda: [r.numpy() for r in run()]


def lazyfeat_flow_child(spec):
    import numpy as np

    tf = import_tensorflow(spec["threads"], training=True)
    from lazyfeat_tf import cpu_threads, dynamics

    model, constants = lazyfeat_network(spec["h"], spec["dtype"])
    x = random_inputs(N_POINTS, DIM, spec["dtype"], seed=0)
    y = np.where(x[:, 0] > 0, 1.0, -1.0).astype(spec["dtype"])
    np.savez(spec["problem"], x=x, y=y, **constants)
    system = dynamics.NetworkSystem(model, x, y, "soft_hinge", soft_hinge_beta=SOFT_HINGE_BETA)
    flow = dynamics.GradientFlow(system, max_dout=MAX_DOUT, max_dgrad=MAX_DGRAD, dt0=DT0, min_dt=MIN_DT)

    def advance(count):
        before = flow.state()
        after = flow.advance(flow.max_steps, max_attempts=count)
        attempts = after.step - before.step + after.rejected - before.rejected
        check_attempts(attempts, count, after.status)
        return attempts, after.step, after.loss

    # The floor as the step lays its products out: a chain per row block (the same flops as one of n rows).
    blocks = cpu_threads.ROW_BLOCKS
    run_products = tf_products(tf, proposal_products(N_POINTS // blocks, DIM, spec["h"], DEPTH), spec["dtype"],
                               chains=blocks)
    return dict(measure_flow(advance, run_products, spec), version=f"TensorFlow {tf.__version__}")


class TorchFlow:
    """lazyfeat_tf's gradient flow (tau = 0) written plainly in PyTorch: the same network, loss,
    proposal w' = w - dt g, acceptance test (dout, dgrad) and dt rule (x1.1 when both are under half
    their bound, /10 on rejection); the decisions in Python. The time t and t1, which nothing here
    reads, are not kept."""

    def __init__(self, torch, problem):
        self.torch = torch
        self.x, self.y = torch.from_numpy(problem["x"]), torch.from_numpy(problem["y"])
        self.params = [torch.from_numpy(w) for w in load_weights(problem)]
        self.scale, self.alpha = float(problem["activation_scale"]), float(problem["alpha"])
        with torch.no_grad():
            self.f0 = self.raw_output(self.params)
        self.outputs, self.loss, self.grads = self.evaluate(self.params)
        self.margin = (self.outputs * self.y).min()
        self.dt = torch.tensor(DT0, dtype=self.x.dtype)
        self.steps = 0

    def raw_output(self, params):
        functional = self.torch.nn.functional
        z = self.x
        for w in params[:-1]:
            z = self.scale * functional.softplus(z @ w / math.sqrt(w.shape[0]), beta=SOFTPLUS_BETA)
        return (z @ params[-1])[:, 0] / math.sqrt(params[-1].shape[0])

    def evaluate(self, params):
        """(F, L, dL/dw) at `params`: F = alpha (f - f0), L = mean softplus_20(1 - F y) / alpha^2."""
        params = [p.requires_grad_() for p in params]
        outputs = self.alpha * (self.raw_output(params) - self.f0)
        margins = 1.0 - outputs * self.y
        loss = self.torch.nn.functional.softplus(SOFT_HINGE_BETA * margins).mean() / SOFT_HINGE_BETA / self.alpha**2
        grads = self.torch.autograd.grad(loss, params)
        return outputs.detach(), loss.detach(), grads

    def running(self):
        return bool(self.margin < 1.0) and bool(self.torch.isfinite(self.loss)) and bool(self.dt >= MIN_DT)

    def advance(self, count):
        """`count` proposals -> (attempts, accepted steps, loss)."""
        torch = self.torch
        attempts = 0
        while attempts < count and self.running():
            attempts += 1
            with torch.no_grad():
                params = [p - self.dt * g for p, g in zip(self.params, self.grads)]
            outputs, loss, grads = self.evaluate(params)
            with torch.no_grad():
                dout = (outputs - self.outputs).abs().max()
                dgrad = squared_norm([a - b for a, b in zip(self.grads, grads)]) / torch.sqrt(
                    squared_norm(self.grads) * squared_norm(grads))
                accept = bool((dout < MAX_DOUT) & (dgrad < MAX_DGRAD) & torch.isfinite(loss))
                if not accept:
                    self.dt = self.dt / 10.0
                    continue
                grow = bool((dout < 0.5 * MAX_DOUT) & (dgrad < 0.5 * MAX_DGRAD))
                self.dt = self.dt * 1.1 if grow else self.dt
            self.params, self.outputs, self.loss, self.grads = [p.detach() for p in params], outputs, loss, grads
            self.margin = (outputs * self.y).min()
            self.steps += 1
        check_attempts(attempts, count, "converged, diverged or stalled")
        return attempts, self.steps, float(self.loss)


def squared_norm(tensors):
    return sum((t * t).sum() for t in tensors)


def torch_products(torch, products, dtype):
    operands = [[torch.randn(s, dtype=getattr(torch, dtype)) for s in operand_shapes(p)] for p in products]

    def run():
        return [(a.T if p[3] else a) @ (b.T if p[4] else b) for p, (a, b) in zip(products, operands)]

    return run


def torch_flow_child(spec):
    import numpy as np
    import torch

    torch.set_num_threads(spec["threads"])
    flow = TorchFlow(torch, np.load(spec["problem"]))
    run_products = torch_products(torch, proposal_products(N_POINTS, DIM, spec["h"], DEPTH), spec["dtype"])
    return dict(measure_flow(flow.advance, run_products, spec), version=f"PyTorch {torch.__version__}")


def kernel_pairs(problem):
    """{"xx": (x1, None), "xy": (x1, x2)}: Theta(x1, x1) and Theta(x1, x2) on the problem's two sets."""
    return {"xx": (problem["x1"], None), "xy": (problem["x1"], problem["x2"])}


def lazyfeat_kernel_child(spec):
    import numpy as np

    tf = import_tensorflow(spec["threads"])
    from lazyfeat_tf import ntk

    model, constants = lazyfeat_network(spec["h"], spec["dtype"])
    problem = dict(x1=random_inputs(spec["n"], DIM, spec["dtype"], seed=1),
                   x2=random_inputs(spec["n"], DIM, spec["dtype"], seed=2), **constants)
    np.savez(spec["problem"], **problem)
    result = dict(version=f"TensorFlow {tf.__version__}")
    for pair, (x1, x2) in kernel_pairs(problem).items():
        kernel, result[pair] = lazyfeat_kernel_times(tf, ntk, model, x1, x2, spec)
        np.save(os.path.join(spec["workdir"], f"lazyfeat-{pair}.npy"), kernel)
    return result


def lazyfeat_kernel_times(tf, ntk, model, x1, x2, spec):
    """(the kernel, best times of the eager call, the tf.function call and the floor) of one pair,
    each warmed up (traced) first."""
    a, b = tf.constant(x1), None if x2 is None else tf.constant(x2)
    compiled = tf.function(lambda a, b: ntk.empirical_ntk(model, a, b), autograph=False)
    kernel = ntk.empirical_ntk(model, a, b).numpy()
    compiled(a, b)
    run_products = tf_products(tf, kernel_products(len(x1), len(x1), DIM, spec["h"], DEPTH, b is None), spec["dtype"])
    run_products()
    timers = {"eager": lambda: seconds(lambda: ntk.empirical_ntk(model, a, b).numpy()),
              "function": lambda: seconds(lambda: compiled(a, b).numpy()),
              "floor": floor_timer(run_products, spec["floor_passes"])}
    return kernel, interleaved_best(timers, spec["repeats"])


def stax_network(h, scale):
    """The package's fully connected network in stax: NTK-parametrized dense layers without biases
    (W z / sqrt(fan_in)), the normalized Softplus scale * softplus(beta z) / beta, readout W z / sqrt(h)."""
    import jax
    from neural_tangents import stax

    def activation(z):
        return scale * jax.nn.softplus(SOFTPLUS_BETA * z) / SOFTPLUS_BETA

    layers = []
    for _ in range(DEPTH):
        layers += [stax.Dense(h, W_std=1.0, b_std=None, parameterization="ntk"), stax.Elementwise(fn=activation)]
    layers.append(stax.Dense(1, W_std=1.0, b_std=None, parameterization="ntk"))
    return stax.serial(*layers)[1]


def stax_params(jax, weights):
    """The parameters of `stax_network`: (W, no bias) per Dense layer, () per activation."""
    layers = [[(jax.numpy.asarray(w), None), ()] for w in weights]
    return [item for layer in layers for item in layer][:-1]


def jax_products(jax, products, dtype):
    keys = jax.random.split(jax.random.PRNGKey(0), 2 * len(products))
    shapes = [s for p in products for s in operand_shapes(p)]
    flat = [jax.random.normal(key, s, dtype=dtype) for key, s in zip(keys, shapes)]
    operands = list(zip(flat[::2], flat[1::2]))

    @jax.jit
    def run(operands):
        return [(a.T if p[3] else a) @ (b.T if p[4] else b) for p, (a, b) in zip(products, operands)]

    return lambda: jax.block_until_ready(run(operands))


def neural_tangents_kernel_child(spec):
    import jax
    import numpy as np

    jax.config.update("jax_enable_x64", spec["dtype"] == "float64")
    import neural_tangents as nt

    problem = np.load(spec["problem"])
    apply_fn = stax_network(spec["h"], float(problem["activation_scale"]))
    params = stax_params(jax, load_weights(problem))
    implementation = getattr(nt.NtkImplementation, spec["implementation"])
    ntk_fn = jax.jit(nt.empirical_ntk_fn(apply_fn, vmap_axes=0, implementation=implementation))
    result = dict(version=f"neural-tangents {nt.__version__}, jax {jax.__version__}")
    for pair, (x1, x2) in kernel_pairs(problem).items():
        kernel, result[pair] = neural_tangents_kernel_times(jax, lambda a, b: ntk_fn(a, b, params), x1, x2, spec)
        np.save(os.path.join(spec["workdir"], f"{spec['implementation']}-{pair}.npy"), kernel)
    return result


def neural_tangents_kernel_times(jax, kernel_fn, x1, x2, spec):
    """(the kernel, the first call's time (with jax's compilation), the best times of a call and
    of the floor) of one pair."""
    a, b = jax.numpy.asarray(x1), None if x2 is None else jax.numpy.asarray(x2)
    start = time.perf_counter()
    kernel = jax.device_get(jax.block_until_ready(kernel_fn(a, b)))
    first = time.perf_counter() - start
    run_products = jax_products(jax, kernel_products(len(x1), len(x1), DIM, spec["h"], DEPTH, b is None),
                                spec["dtype"])
    run_products()
    timers = {"best": lambda: seconds(lambda: jax.block_until_ready(kernel_fn(a, b))),
              "floor": floor_timer(run_products, spec["floor_passes"])}
    return kernel, dict(interleaved_best(timers, spec["repeats"]), first=first)


CHILDREN = {
    "lazyfeat-flow": lazyfeat_flow_child,
    "torch-flow": torch_flow_child,
    "lazyfeat-kernel": lazyfeat_kernel_child,
    "nt-kernel": neural_tangents_kernel_child,
}


# ----------------------------------------------------------------------------------------------
# Parent: virtualenvs, children, table.


class SetupError(Exception):
    """A bad flag or a virtualenv that cannot be made: one line, exit code 2."""


def select_cases(selection):
    """The cases named in a comma-separated `selection` ("flow" and "ntk" name their groups), in
    CASES order."""
    wanted = {name.strip() for name in selection.split(",") if name.strip()}
    groups = {"flow": set(FLOW_CASES), "ntk": set(KERNEL_CASES)}
    unknown = sorted(wanted - set(CASES) - set(groups))
    if unknown or not wanted:
        raise SetupError(f"--cases: unknown case {', '.join(unknown) or '(none given)'}; "
                         f"choose among {', '.join(CASES)}, flow, ntk")
    chosen = set().union(*(groups.get(name, {name}) for name in wanted))
    return [case for case in CASES if case in chosen]


def check_threads(threads, available):
    if not 1 <= threads <= available:
        raise SetupError(f"--threads={threads}: choose between 1 and the {available} CPUs this process may use")
    return threads


def peers_needed(cases):
    return [peer for peer, kind in (("torch", FLOW_CASES), ("neural-tangents", KERNEL_CASES))
            if any(case in kind for case in cases)]


def venv_python(cache, peer):
    """The Python of `peer`'s virtualenv under `cache`, created and installed the first time (again
    when its pins change)."""
    folder = os.path.join(cache, peer)
    python, marker = os.path.join(folder, "bin", "python"), os.path.join(folder, "installed.txt")
    pins = "\n".join(PEERS[peer]) + "\n"
    if os.path.exists(marker):
        with open(marker) as installed:
            if installed.read() == pins:
                return python
    print(f"installing {peer} into {folder} (once) ...", flush=True)
    log = os.path.join(cache, f"{peer}-install.log")
    for command in ([sys.executable, "-m", "venv", "--clear", folder],
                    [python, "-m", "pip", "install", "--disable-pip-version-check", *PEERS[peer]]):
        try:
            os.makedirs(cache, exist_ok=True)
            with open(log, "w") as out:
                done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
        except OSError as error:
            raise SetupError(f"cannot set up {folder} ({error}); pass --cache DIR (or {CACHE_ENV}) to install "
                             "elsewhere") from None
        if done.returncode != 0:
            raise SetupError(f"`{' '.join(command)}` failed (exit {done.returncode}, log {log}); fix what the log "
                             f"says, or pass --cache DIR (or {CACHE_ENV}) to install elsewhere")
    with open(marker, "w") as out:
        out.write(pins)
    return python


def child_environment(threads, omp_wait_policy=None):
    """The environment of a child: quiet TF, JAX on the CPU, `threads` OpenMP/MKL threads, and
    OMP_WAIT_POLICY set to `omp_wait_policy` (unset: the OpenMP runtime's default)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "JAX_PLATFORMS": "cpu",
           "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    env.pop("OMP_WAIT_POLICY", None)
    return env if omp_wait_policy is None else {**env, "OMP_WAIT_POLICY": omp_wait_policy}


def run_child(python, spec, omp_wait_policy=None):
    """Run one child with `python`; its JSON result."""
    env = child_environment(spec["threads"], omp_wait_policy)
    command = [python, os.path.abspath(__file__), "--child", json.dumps(spec)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"peers: {spec['child']} child of {spec['case']} failed (exit code {done.returncode})")
    return json.loads(lines[-1])


def relative_difference(path_a, path_b):
    """||A - B||_F / ||B||_F of two saved arrays."""
    import numpy as np

    a, b = np.load(path_a).astype(np.float64), np.load(path_b).astype(np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def gflops(count, seconds):
    return count / seconds / 1e9


def flow_row(case, ours, peer, h):
    """One table row of a flow case (rates in proposals per second)."""
    work = flops(proposal_products(N_POINTS, DIM, h, DEPTH))
    check = (f"loss {ours['loss']:.6g} / {peer['loss']:.6g}, steps {ours['steps']} / {peer['steps']}")
    return [case + " vs torch", FLOW_CASES[case][0], f"{ours['rate']:.1f}/s", f"{peer['rate']:.1f}/s",
            f"{ours['rate'] / peer['rate']:.2f}x",
            f"{gflops(work, ours['floor']):.0f} / {gflops(work, peer['floor']):.0f}",
            f"{ours['floor'] * ours['rate']:.2f} / {peer['floor'] * peer['rate']:.2f}", check]


def kernel_row(label, dtype, ours, peer, work, difference):
    """One table row of a kernel pair against one neural-tangents implementation (times in seconds)."""
    return [label, dtype, f"{ours['eager']:.4f} s", f"{peer['best']:.4f} s", f"{peer['best'] / ours['eager']:.2f}x",
            f"{gflops(work, ours['floor']):.0f} / {gflops(work, peer['floor']):.0f}",
            f"{ours['floor'] / ours['eager']:.2f} / {peer['floor'] / peer['best']:.2f}",
            f"rel diff {difference:.1e}"]


def format_table(header, rows):
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header] + rows]
    return "\n".join([lines[0], "-" * max(map(len, lines))] + lines[1:])


class Run:
    """One invocation: its settings, the children it runs, the rows and notes it collects."""

    def __init__(self, args, cache, workdir):
        self.args, self.cache, self.workdir = args, cache, workdir
        self.quick = args.quick
        self.rows, self.notes, self.versions = [], [], {}

    def spec(self, child, case, **fields):
        settings = dict(child=child, case=case, threads=self.args.threads, workdir=self.workdir,
                        problem=os.path.join(self.workdir, f"{case}.npz"), floor_passes=2 if self.quick else 3)
        return {**settings, **fields}

    def child(self, python, spec, omp_wait_policy=None):
        result = run_child(python, spec, omp_wait_policy)
        self.versions[result["version"]] = True
        return result

    def flow_case(self, case):
        """lazyfeat_tf and PyTorch alternately, `--pairs` times each (the best child of each side:
        the machine's state drifts between children more than within one), PyTorch under the faster
        OpenMP wait policy of a short probe: the default spins, and collapses (up to 10x slower) when
        other processes keep the cores busy; PASSIVE sleeps, slightly slower on idle cores."""
        dtype, h = FLOW_CASES[case]
        fields = dict(dtype=dtype, h=h, proposals=30 if self.quick else 100, repeats=2 if self.quick else 5)
        python = venv_python(self.cache, "torch")
        ours_spec, peer_spec = self.spec("lazyfeat-flow", case, **fields), self.spec("torch-flow", case, **fields)
        ours, peer = [], []
        for pair in range(self.args.pairs):
            ours.append(self.child(sys.executable, ours_spec))  # the first writes the problem the peer reads
            if pair == 0:
                probe = self.spec("torch-flow", case, **dict(fields, proposals=PROBE_PROPOSALS, repeats=1),
                                  floor_passes=1)
                probes = {policy: self.child(python, probe, policy)["rate"] for policy in OMP_WAIT_POLICIES}
                policy = max(probes, key=probes.get)
            peer.append(self.child(python, peer_spec, policy))
        best = operator.itemgetter("rate")
        self.rows.append(flow_row(case, max(ours, key=best), max(peer, key=best), h))
        self.notes.append(f"{case}: PyTorch with OMP_WAIT_POLICY {policy or 'default'} (probe of "
                          f"{PROBE_PROPOSALS} proposals: " + ", ".join(
                              f"{p or 'default'} {rate:.1f}/s" for p, rate in probes.items()) + "); "
                          "rates of the pairs (lazyfeat_tf / PyTorch): " + ", ".join(
                              f"{a['rate']:.1f} / {b['rate']:.1f}" for a, b in zip(ours, peer)))

    def kernel_case(self, case):
        dtype = KERNEL_CASES[case]
        n, h = (200, 128) if self.quick else (N_POINTS, KERNEL_WIDTH)
        fields = dict(dtype=dtype, n=n, h=h, repeats=2 if self.quick else 5)
        ours = self.child(sys.executable, self.spec("lazyfeat-kernel", case, **fields))
        python = venv_python(self.cache, "neural-tangents")
        for implementation in NT_IMPLEMENTATIONS[dtype]:
            repeats = fields["repeats"] if implementation == "STRUCTURED_DERIVATIVES" else 1  # ~20 s a call
            peer = self.child(python, self.spec("nt-kernel", case, **dict(fields, repeats=repeats),
                                                implementation=implementation))
            for pair, label in (("xx", "Theta(x,x)"), ("xy", "Theta(x1,x2)")):
                work = flops(kernel_products(n, n, DIM, h, DEPTH, symmetric=pair == "xx"))
                difference = relative_difference(os.path.join(self.workdir, f"{implementation}-{pair}.npy"),
                                                 os.path.join(self.workdir, f"lazyfeat-{pair}.npy"))
                name = f"ntk {label} n={n} h={h} vs nt {implementation.split('_')[0].lower()}"
                self.rows.append(kernel_row(name, dtype, ours[pair], peer[pair], work, difference))
                self.notes.append(f"{name} ({dtype}): lazyfeat_tf in tf.function {ours[pair]['function']:.4f} s; "
                                  f"nt first call (jit compile) {peer[pair]['first']:.2f} s")


HEADER = ["case", "dtype", "lazyfeat_tf", "peer", "ratio", "floor GFLOP/s (lf / peer)",
          "of floor (lf / peer)", "check (lf / peer)"]


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.error = lambda message: fail(message)
    parser.add_argument("--quick", action="store_true", help="smoke run: fewer proposals and repeats, small kernels")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated cases (or flow, ntk)")
    parser.add_argument("--cache", default=os.environ.get(CACHE_ENV, DEFAULT_CACHE),
                        help=f"folder of the peers' virtualenvs (${CACHE_ENV}, default {DEFAULT_CACHE})")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="cores and threads of every side (default: all the CPUs this process may use)")
    parser.add_argument("--pairs", type=int, default=None,
                        help="flow cases: children of each side, alternated (default 3, 1 with --quick)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def fail(message):
    sys.stderr.write(f"peers.py: error: {message}\n")
    raise SystemExit(2)


def main(argv=None):
    args = parse_args(argv)
    if args.pairs is None:
        args.pairs = 1 if args.quick else 3
    if args.pairs < 1:
        fail(f"--pairs must be >= 1, received --pairs={args.pairs}; e.g. --pairs=3")
    if args.child:
        child_main(json.loads(args.child))
        return
    try:
        cases = select_cases(args.cases)
        check_threads(args.threads, len(os.sched_getaffinity(0)))
        cache = os.path.abspath(os.path.expanduser(args.cache))
        for peer in peers_needed(cases):
            venv_python(cache, peer)
    except SetupError as error:
        fail(str(error))
    load_start, start = os.getloadavg(), time.perf_counter()
    with tempfile.TemporaryDirectory() as workdir:
        run = Run(args, cache, workdir)
        for case in cases:
            print(f"running {case} ...", flush=True)
            (run.flow_case if case in FLOW_CASES else run.kernel_case)(case)
    load_end = os.getloadavg()
    print(f"\nlazyfeat_tf against its peers; {args.threads} threads per side (TF intra-op, torch.set_num_threads; "
          f"every child pinned to {args.threads} cores); {', '.join(run.versions)}")
    print(f"load average (1, 5, 15 min) at start {', '.join(f'{x:.2f}' for x in load_start)}; "
          f"at end {', '.join(f'{x:.2f}' for x in load_end)}; {time.perf_counter() - start:.0f} s\n")
    print(format_table(HEADER, run.rows))
    print("\nratio: lazyfeat_tf speed / peer speed (> 1: lazyfeat_tf faster). flow: proposals per second, "
          "check: loss and accepted steps\nafter the warm-up's proposals from the same weights. ntk: seconds "
          "per call (lazyfeat_tf eager), check: ||K_nt - K_lf|| / ||K_lf||.")
    for note in run.notes:
        print("  " + note)


if __name__ == "__main__":
    main()
