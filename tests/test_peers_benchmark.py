"""The pure helpers of benchmarks/peers.py (flop counts, case selection, flags, table); the benchmark
itself runs on demand only."""

import inspect

import pytest

from conftest import load_benchmark

peers = load_benchmark("peers")


def test_proposal_flops_count_forward_and_backward():
    n, d, h, depth = 10, 7, 5, 3
    forward = n * d * h + (depth - 1) * n * h * h + n * h
    input_gradients = n * h + (depth - 1) * n * h * h  # none for the first layer's input
    weight_gradients = forward
    assert peers.flops(peers.proposal_products(n, d, h, depth)) == 2 * (forward + input_gradients + weight_gradients)


@pytest.mark.parametrize("symmetric", [True, False])
def test_kernel_flops_count_passes_and_grams(symmetric):
    n, d, h, depth = 10, 7, 5, 3
    one_pass = n * d * h + (depth - 1) * n * h * h + n * h + n * h + (depth - 1) * n * h * h
    grams = n * n * (d + (depth - 1) * h + depth * h + h)  # layer inputs, pre-activation gradients, features
    expected = 2 * ((1 if symmetric else 2) * one_pass + grams)
    assert peers.flops(peers.kernel_products(n, n, d, h, depth, symmetric)) == expected


def test_operand_shapes_follow_the_transpositions():
    assert peers.operand_shapes((2, 3, 4, False, False)) == ((2, 3), (3, 4))
    assert peers.operand_shapes((2, 3, 4, True, True)) == ((3, 2), (4, 3))


def test_flow_constants_are_the_gradient_flows_defaults():
    from lazyfeat_tf import dynamics

    defaults = {k: p.default for k, p in inspect.signature(dynamics.GradientFlow).parameters.items()}
    assert (defaults["max_dout"], defaults["max_dgrad"], defaults["dt0"], defaults["min_dt"]) == (
        peers.MAX_DOUT, peers.MAX_DGRAD, peers.DT0, peers.MIN_DT)
    assert defaults["tau"] == 0.0  # TorchFlow has no momentum


def test_select_cases_keeps_the_table_order_and_expands_groups():
    assert peers.select_cases("ntk-float32,flow-float32-h64") == ["flow-float32-h64", "ntk-float32"]
    assert peers.select_cases("ntk") == list(peers.KERNEL_CASES)
    assert peers.peers_needed(peers.select_cases("flow")) == ["torch"]


@pytest.mark.parametrize("selection", ["flow-float16-h64", "", " , "])
def test_select_cases_rejects_unknown_names(selection):
    with pytest.raises(peers.SetupError, match="--cases"):
        peers.select_cases(selection)


def test_bad_flags_fail_in_one_line_with_exit_code_2(capsys, tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    for argv in (["--cases=nope"], ["--threads=0"], ["--threads=x"], ["--cases=flow", f"--cache={not_a_folder}"],
                 ["--pairs=0"], ["--pairs=two"]):
        with pytest.raises(SystemExit) as stop:
            peers.main(argv)
        assert stop.value.code == 2
        error = capsys.readouterr().err
        assert error.startswith("peers.py: error: ") and error.count("\n") == 1, error


def test_format_table_aligns_columns():
    text = peers.format_table(["a", "bb"], [["xxx", "y"], ["z", "wwww"]])
    lines = text.splitlines()
    assert lines == ["a    bb", "-" * 9, "xxx  y", "z    wwww"]


def test_a_flow_case_alternates_pairs_and_keeps_each_sides_best(monkeypatch, tmp_path):
    """The package's child runs first (it writes the problem the peer reads), then the peer's probes
    of the OpenMP policies, then pairs alternate; each side's best child makes the row."""
    calls, rates = [], {"lazyfeat-flow": iter([400.0, 500.0, 450.0]), "torch-flow": iter([300.0, 350.0, 320.0])}

    def fake_child(python, spec, policy=None):
        calls.append(spec["child"] if spec["proposals"] != peers.PROBE_PROPOSALS else f"probe {policy}")
        if spec["proposals"] == peers.PROBE_PROPOSALS:
            return {"rate": 100.0 if policy is None else 50.0, "version": "torch"}
        return {"rate": next(rates[spec["child"]]), "floor": 1e-3, "steps": 98, "loss": 1.0, "version": spec["child"]}

    monkeypatch.setattr(peers, "run_child", fake_child)
    monkeypatch.setattr(peers, "venv_python", lambda cache, peer: "python")
    args = peers.parse_args(["--cases=flow-float32-h64", "--pairs=3"])
    run = peers.Run(args, str(tmp_path), str(tmp_path))
    run.flow_case("flow-float32-h64")
    assert calls == ["lazyfeat-flow", "probe None", "probe PASSIVE", "torch-flow",
                     "lazyfeat-flow", "torch-flow", "lazyfeat-flow", "torch-flow"]
    row = run.rows[0]
    assert row[2:5] == ["500.0/s", "350.0/s", "1.43x"]
    assert "400.0 / 300.0, 500.0 / 350.0, 450.0 / 320.0" in run.notes[0]
