"""Logdirs of synthetic but realistic kernel-drift runs, written through the plugin's writer API.

Used by the plugin tests, `benchmarks/tb_plugin_routes.py` and `scripts/tb_screenshot.py --demo`.
The records mimic what the paper reports (Geiger et al. 2019, arXiv:1906.08034): the final kernel
change ||Theta_T - Theta_0|| / ||Theta_0|| decays like (alpha*sqrt(h))^-1 in the lazy regime and
saturates at O(1) in the feature regime; it grows linearly with t at early times; seed-to-seed
fluctuations shrink like h^-1/2; the top eigenvalues of the kernel grow (and the kernel aligns with
the labels) when the kernel moves.

    python tests/tb_fixtures.py OUTDIR [--runs 200 --checkpoints 100]   # writes a demo logdir
"""

import math
import os

import numpy as np

from lazyfeat_tf.tb_plugin import summary

LAYERS = ("dense", "dense_1", "dense_2", "readout")
_LAYER_WEIGHTS = (0.55, 0.8, 1.0, 1.6)


def final_drift(alpha_sqrt_h, width, seed):
    """Final relative kernel change: ~0.6/(alpha*sqrt(h)) when lazy, -> ~1 in the feature regime."""
    rng = np.random.default_rng([int(width), int(seed), 7])
    base = 1.0 / (1.0 + alpha_sqrt_h / 0.6)
    return float(base * math.exp(0.6 * rng.standard_normal() / math.sqrt(width)))


def checkpoint_schedule(n_checkpoints, alpha_sqrt_h):
    """(steps, times): log-spaced steps of the integrator, t[0] = 0 then log-spaced times."""
    t_end = 30.0 * max(1.0, alpha_sqrt_h ** -0.5)  # feature-regime runs train longer
    steps = [0]
    times = [0.0]
    if n_checkpoints > 1:
        grid = np.geomspace(1e-3 * t_end, t_end, n_checkpoints - 1)
        for i, t in enumerate(grid):
            steps.append(int(round(10 * (i + 1) ** 1.5)))
            times.append(float(t))
    return steps, times


def synthetic_record(alpha_sqrt_h, width, seed, t, t_end, *, splits=("train", "test"),
                     layers=LAYERS, eig_k=20, heatmap_m=16):
    """One checkpoint's record in the format of `summary.write_drift_record`."""
    d_final = final_drift(alpha_sqrt_h, width, seed)
    tc = 0.05 * t_end
    drift = d_final * (t / tc) / (1.0 + t / tc) if t > 0 else 0.0
    record = {"t": float(t), "drift": {}, "alignment": {}, "effective_rank": {}}
    eigenvalues = {}
    for k, split in enumerate(splits):
        d = drift * (1.0 if split == "train" else 0.85 + 0.05 * k)
        entry = {"total": d}
        if layers:
            entry["layers"] = {name: d * w for name, w in zip(layers, _LAYER_WEIGHTS)}
        record["drift"][split] = entry
        record["alignment"][split] = 0.2 + 0.6 * d / (1.0 + d) - 0.02 * k
        if eig_k:
            i = np.arange(1, eig_k + 1, dtype=np.float64)
            lam = 5.0 * i ** -1.5 * (1.0 + 4.0 * d * np.exp(-(i - 1) / 2.0))
            lam = np.sort(lam)[::-1]
            eigenvalues[split] = lam.tolist()
            record["effective_rank"][split] = float(lam.sum() ** 2 / (lam ** 2).sum())
        else:
            record["effective_rank"][split] = 3.0 - d
    if eigenvalues:
        record["eigenvalues"] = eigenvalues
    if heatmap_m:
        rng = np.random.default_rng([int(width), int(seed), heatmap_m])
        # Probes sorted by label: the kernel grows along y y^T (blocks), plus symmetric noise.
        y = np.where(np.arange(heatmap_m) < heatmap_m // 2, 1.0, -1.0)
        noise = rng.standard_normal((heatmap_m, heatmap_m))
        noise = (noise + noise.T) / math.sqrt(2 * heatmap_m)
        record["heatmap"] = (drift * (np.outer(y, y) / heatmap_m + 0.08 * noise)).tolist()
    return record


def run_name(width, alpha_sqrt_h, seed):
    return "h%d/ash%.3g/seed%d" % (width, alpha_sqrt_h, seed)


def write_run(run_dir, *, alpha_sqrt_h, width, seed, n_checkpoints=20, backend="raw",
              with_metadata=True, splits=("train", "test"), layers=LAYERS, eig_k=20,
              heatmap_m=16, array_every=1, other_scalars=0):
    """Writes one run through `write_run_metadata` / `write_drift_record`.

    backend: "raw" (TensorBoard's event writer, no TensorFlow) or "tf" (a `tf.summary` file
    writer, as the training loop uses). `array_every`: write eigenvalues and heatmap every n-th
    checkpoint only (and always at the first and last). `other_scalars`: number of unrelated
    ordinary scalars (losses, errors, ...) the training loop also writes at each checkpoint.
    """
    alpha = alpha_sqrt_h / math.sqrt(width)
    steps, times = checkpoint_schedule(n_checkpoints, alpha_sqrt_h)

    def body():
        if with_metadata:
            summary.write_run_metadata(
                alpha=alpha, alpha_sqrt_h=alpha_sqrt_h, width=width, seed=seed,
                extra={"depth": 3, "activation": "softplus", "dataset": "synthetic"},
            )
        for i, (step, t) in enumerate(zip(steps, times)):
            arrays = i % array_every == 0 or i == len(steps) - 1
            record = synthetic_record(
                alpha_sqrt_h, width, seed, t, times[-1], splits=splits, layers=layers,
                eig_k=eig_k if arrays else 0, heatmap_m=heatmap_m if arrays else 0,
            )
            summary.write_drift_record(record, step=step)
            if other_scalars:
                _write_other_scalars(other_scalars, step, t)

    os.makedirs(run_dir, exist_ok=True)
    if backend == "raw":
        with summary.event_file_writer(run_dir):
            body()
    elif backend == "tf":
        import tensorflow as tf

        writer = tf.summary.create_file_writer(run_dir)
        with writer.as_default():
            body()
        writer.close()
    else:
        raise ValueError("backend must be 'raw' or 'tf'; received %r" % (backend,))
    return steps, times


def _write_other_scalars(n, step, t):
    """`n` ordinary scalars (train/metric_i) in one event, through the same writer as the records."""
    from tensorboard.compat.proto import summary_pb2

    from lazyfeat_tf.tb_plugin import metadata

    s = summary_pb2.Summary()
    for i in range(n):
        s.value.add(tag="train/metric_%d" % i, metadata=metadata.create_scalar_metadata(),
                    tensor=summary._float_scalar_tensor(1.0 / (1.0 + t + i)))
    summary._emit(s, step)


def sweep(n_runs, widths=(16, 64, 256, 1024)):
    """(width, alpha_sqrt_h, seed) for `n_runs` runs: alpha*sqrt(h) log-spaced in [1e-2, 1e3]."""
    per_width = max(1, math.ceil(n_runs / len(widths)))
    n_alpha = min(per_width, 10)
    seeds = max(1, math.ceil(per_width / n_alpha))
    grid = np.geomspace(1e-2, 1e3, n_alpha)
    out = []
    for width in widths:
        for ash in grid:
            for seed in range(seeds):
                out.append((width, float("%.3g" % ash), seed))
    return out[:n_runs]


def write_logdir(logdir, n_runs=12, n_checkpoints=20, *, backend="raw", **kwargs):
    """Writes `n_runs` runs of a (width x alpha*sqrt(h) x seed) sweep; returns their run names."""
    names = []
    for width, ash, seed in sweep(n_runs):
        name = run_name(width, ash, seed)
        write_run(os.path.join(logdir, name), alpha_sqrt_h=ash, width=width, seed=seed,
                  n_checkpoints=n_checkpoints, backend=backend, **kwargs)
        names.append(name)
    return names


def write_scalar_only_run(run_dir, tag="loss", n=5):
    """A run with ordinary scalars but no kernel-drift data (e.g. an unrelated experiment)."""
    from tensorboard.compat.proto import event_pb2
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    from tensorboard.util import tensor_util

    os.makedirs(run_dir, exist_ok=True)
    writer = EventFileWriter(run_dir)
    md = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"),
        data_class=summary_pb2.DATA_CLASS_SCALAR,
    )
    for step in range(n):
        s = summary_pb2.Summary()
        s.value.add(tag=tag, metadata=md,
                    tensor=tensor_util.make_tensor_proto(np.float32(1.0 / (step + 1))))
        writer.add_event(event_pb2.Event(step=step, wall_time=1.0 + step, summary=s))
    writer.close()


def write_metadata_only_run(run_dir, *, alpha_sqrt_h=1.0, width=64, seed=0):
    """A run that has started (metadata written) but has no checkpoint yet."""
    os.makedirs(run_dir, exist_ok=True)
    with summary.event_file_writer(run_dir):
        summary.write_run_metadata(alpha=alpha_sqrt_h / math.sqrt(width),
                                   alpha_sqrt_h=alpha_sqrt_h, width=width, seed=seed)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir")
    parser.add_argument("--runs", type=int, default=24)
    parser.add_argument("--checkpoints", type=int, default=40)
    parser.add_argument("--backend", choices=("raw", "tf"), default="raw")
    args = parser.parse_args()
    names = write_logdir(args.outdir, args.runs, args.checkpoints, backend=args.backend)
    print("wrote %d runs to %s" % (len(names), args.outdir))
