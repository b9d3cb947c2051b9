"""Benchmark of `lazyfeat_tf.ntk.empirical_ntk`: structured vs jacobian.

Run from the repository root:

    python benchmarks/kernels.py            # full: ~1-2 minutes on 2 cores
    python benchmarks/kernels.py --quick    # smoke version: ~30 s (speed targets shown as INFO)

Each case runs in its own subprocess so that its peak memory (ru_maxrss of that process, which
includes the ~0.7 GB of the TensorFlow runtime) is measured alone. Cases (fully connected net of the
article, Softplus, L = 3, float32, random inputs of dimension d = 784):

1. n = 1000, h = 512: structured (best of a few calls after a warm-up) and jacobian (one call);
   targets: structured about 0.1 s and >= 100x faster than jacobian in the same run, relative
   error between the two <= 1e-5 (float32). "gram floor" is the time of the structured method's
   matrix products alone on arrays of the same shapes (2 per layer, 1 for the readout).
2. n = 5000, h = 1024: structured only; target: peak memory < 4 GiB. Its error is checked
   against jacobian on the first 64 points (another subprocess).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

GIB = 2**30


def build(n, d, h, depth, dtype, seed=0):
    import numpy as np

    from lazyfeat_tf import models
    from lazyfeat_tf.config import ModelSpec

    network = ModelSpec(kind="fc", depth=depth, width=h, activation="softplus")
    model = models.build_model(network, (d,), alpha=1.0 / h**0.5, seed=seed, dtype=dtype)
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(dtype)
    return model, x


def gram_floor(n, d, h, depth, dtype, repeats):
    """Best time of the structured method's Gram products alone (n x width operands)."""
    import tensorflow as tf

    widths = [d] + [h] * (depth - 1) + [h] * depth + [h]  # layer inputs, pre-activation grads, features
    operands = [tf.random.normal([n, w], dtype=dtype) for w in widths]
    best = float("inf")
    for _ in range(repeats + 1):
        start = time.perf_counter()
        results = [tf.matmul(a, a, transpose_b=True) for a in operands]
        _ = [r.numpy() for r in results]
        best = min(best, time.perf_counter() - start)
    return best


def run_case(args):
    """Child process: one method on one size; prints one JSON line, saves the kernel."""
    import resource

    import numpy as np

    from lazyfeat_tf import ntk

    model, x = build(args.n, args.d, args.h, args.depth, args.dtype)
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        theta = ntk.empirical_ntk(model, x, method=args.case)
        theta = theta.numpy()
        times.append(time.perf_counter() - start)
    result = {
        "method": args.case,
        "n": args.n,
        "d": args.d,
        "h": args.h,
        "depth": args.depth,
        "dtype": args.dtype,
        "first": times[0],
        "best": min(times[1:]) if len(times) > 1 else times[0],
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,  # KiB on Linux
    }
    if args.floor:
        result["gram_floor"] = gram_floor(args.n, args.d, args.h, args.depth, args.dtype, 3)
    if args.save:
        np.save(args.save, theta)
    print(json.dumps(result))


def spawn(method, n, d, h, depth, dtype, repeats, save, floor=False):
    options = dict(case=method, n=n, d=d, h=h, depth=depth, dtype=dtype, repeats=repeats, save=save)
    command = [sys.executable, os.path.abspath(__file__)] + (["--floor"] if floor else [])
    for key, value in options.items():
        command += [f"--{key}", str(value)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"case {method} n={n} h={h} failed (exit code {done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def relative_error(a, b):
    import numpy as np

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small smoke version")
    parser.add_argument("--repeats", type=int, default=5, help="structured calls per case (best is reported)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    for name, default in (("n", 1000), ("d", 784), ("h", 512), ("depth", 3)):
        parser.add_argument(f"--{name}", type=int, default=default, help=argparse.SUPPRESS)
    parser.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)
    parser.add_argument("--save", default="", help=argparse.SUPPRESS)
    parser.add_argument("--floor", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        run_case(args)
        return

    import numpy as np

    d, depth, dtype = 784, 3, "float32"
    n_speed, h_speed, n_mem, h_mem = (200, 128, 1000, 256) if args.quick else (1000, 512, 5000, 1024)
    rows, checks = [], []
    with tempfile.TemporaryDirectory() as tmp:
        path = lambda name: os.path.join(tmp, name + ".npy")  # noqa: E731
        structured = spawn(
            "structured", n_speed, d, h_speed, depth, dtype, args.repeats + 1, path("s"), floor=True
        )
        jacobian = spawn("jacobian", n_speed, d, h_speed, depth, dtype, 1, path("j"))
        error = relative_error(np.load(path("s")), np.load(path("j")))
        structured["error"] = jacobian["error"] = error
        rows += [structured, jacobian]
        speedup = jacobian["best"] / structured["best"]
        checks.append(
            (
                f"structured n={n_speed} h={h_speed}: {structured['best']:.3f} s (about 0.1 s at n=1000, "
                f"h=512; gram floor {structured['gram_floor']:.3f} s)",
                None if args.quick else structured["best"] <= 0.2,
            )
        )
        checks.append(
            (
                f"speedup structured vs jacobian: {speedup:.0f}x (>= 100x at n=1000, h=512)",
                None if args.quick else speedup >= 100,
            )
        )
        checks.append(
            (f"relative error structured vs jacobian: {error:.2e} (<= 1e-5, float32)", error <= 1e-5)
        )

        big = spawn("structured", n_mem, d, h_mem, depth, dtype, 2, path("big"))
        m = 64
        spot = spawn("jacobian", m, d, h_mem, depth, dtype, 1, path("spot"))
        big["error"] = relative_error(np.load(path("big"))[:m, :m], np.load(path("spot")))
        spot["error"] = big["error"]
        rows += [big, spot]
        checks.append(
            (
                f"structured n={n_mem} h={h_mem}: peak RSS {big['peak_rss'] / GIB:.2f} GiB (< 4 GiB)",
                big["peak_rss"] < 4 * GIB,
            )
        )
        checks.append(
            (
                f"n={n_mem} kernel vs jacobian on the first {m} points: {big['error']:.2e} (<= 1e-5)",
                big["error"] <= 1e-5,
            )
        )

    header = (
        f"{'method':<11} {'n':>5} {'d':>4} {'h':>5} {'L':>2} {'dtype':<8} "
        f"{'best s':>9} {'first s':>9} {'peak GiB':>9} {'rel err':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['method']:<11} {r['n']:>5} {r['d']:>4} {r['h']:>5} {r['depth']:>2} {r['dtype']:<8} "
            f"{r['best']:>9.4f} {r['first']:>9.4f} {r['peak_rss'] / GIB:>9.2f} {r['error']:>9.1e}"
        )
    print("rel err: ||Theta_structured - Theta_jacobian||_F / ||Theta_jacobian||_F (jacobian row: same pair)")
    print()
    failed = 0
    for text, ok in checks:
        print(("INFO " if ok is None else "PASS " if ok else "FAIL ") + text)
        failed += ok is False
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
