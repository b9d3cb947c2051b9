"""Lazy vs feature side by side: one config trained at several alpha*sqrt(h), then a table."""

import copy
import os

from lazyfeat_tf import config as config_lib
from lazyfeat_tf import train

COLUMNS = (
    ("alpha_sqrt_h", "alpha*sqrt(h)", "{:.3g}"),
    ("status", "status", "{}"),
    ("train_error", "train err", "{:.4f}"),
    ("test_error", "test err", "{:.4f}"),
    ("relative_weight_change", "|w-w0|/|w0|", "{:.3e}"),
    ("t", "t", "{:.3e}"),
    ("t1", "t1", "{:.3e}"),
    ("steps", "steps", "{}"),
    ("wall_time", "wall s", "{:.1f}"),
    ("kernel_drift_test", "kernel drift", "{:.3e}"),
    ("init_kernel_test_error", "Theta_0 test err", "{:.4f}"),
)


def run_dir_name(alpha_sqrt_h):
    return f"alpha_sqrt_h={alpha_sqrt_h:g}"


def run_comparison(config, workdir, alpha_sqrt_h_values):
    """Train `config` at each alpha*sqrt(h) into `workdir/alpha_sqrt_h=<v>`; returns [results]."""
    all_results = []
    for value in alpha_sqrt_h_values:
        run_config = copy.deepcopy(config)
        run_config.unlock()
        config_lib.set_scale(run_config, "alpha_sqrt_h", float(value))
        path = os.path.join(workdir, run_dir_name(value))
        print(f"=== alpha*sqrt(h) = {value:g} -> {path}", flush=True)
        all_results.append({**train.train_and_evaluate(run_config, path), "workdir": path})
    return all_results


def format_table(all_results):
    """A plain-text table of `run_comparison` results, one row per run."""
    def cell(results, key, fmt):
        value = results.get(key)
        return "-" if value is None else fmt.format(value)

    rows = [[title for _, title, _ in COLUMNS]]
    rows += [[cell(r, key, fmt) for key, _, fmt in COLUMNS] for r in all_results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows)
