"""`benchmarks/kernel_tracking.py --parts`: the pieces of default kernel tracking, timed alone, and the
least wall time they can add to a run; the benchmark itself runs on demand only."""

import math
import os

import numpy as np

from conftest import load_benchmark
from test_kernel_tracking import tracked_config

benchmark = load_benchmark("kernel_tracking")


def test_least_added_counts_the_pieces_beside_training_at_half_and_the_end_beside_not_at_all():
    costs = [(benchmark.BEFORE, "a", 0.25), (benchmark.BESIDE, "b", 2.0), (benchmark.BESIDE, "c", 1.0),
             (benchmark.CRITICAL, "d", 0.5), (benchmark.AT_END, "e", 3.0)]
    assert benchmark.least_added(costs) == 0.25 + (2.0 + 1.0) / 2 + 0.5


def test_part_costs_times_every_piece_of_a_tracked_run(tmp_path):
    costs = benchmark.part_costs(tracked_config(alpha_sqrt_h=100.0), records=7, scratch=str(tmp_path))
    assert [phase for phase in benchmark.PHASES if any(where == phase for where, _, _ in costs)] == list(
        benchmark.PHASES)
    assert all(math.isfinite(seconds) and seconds > 0 for *_, seconds in costs)
    parts = [part for _, part, _ in costs]
    assert "probe measures x 6" in parts and "TensorBoard drift records x 7" in parts
    assert len(set(parts)) == len(parts) == 13
    with np.load(tmp_path / "kernels.npz") as kernels:
        assert {"initial/train/total", "final/train/total", "initial/test/total"} <= set(kernels.files)
        assert kernels["final/train/total"].shape == (16, 16)
    assert any(name.startswith("events.") for name in os.listdir(tmp_path))
