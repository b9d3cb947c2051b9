"""Tests of `lazyfeat_tf.results`: the one schema of results.json, its builder and its reader."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO_ROOT
from lazyfeat_tf.errors import UserError
from lazyfeat_tf.results import FIELDS, ResultsError, make_results, read_results

FINISHED = {
    "train_error": 0.0, "test_error": 0.125, "train_loss": 1e-4, "test_loss": 0.3, "t": 120.5,
    "relative_weight_change": 0.02, "relative_weight_change_layers": {"dense": 0.01, "readout": 0.03},
    "min_margin": 1.0, "converged": True, "status": "converged", "steps": 2800, "rejected_steps": 3,
    "t1": 4.5, "wall_time": 1.2, "alpha": 0.125, "alpha_sqrt_h": 1.0, "width": 64, "seed": 0,
    "n_params": 12608, "accelerator": "cpu", "replicas": 1, "kernel_drift_train": 0.01,
    "kernel_drift_test": None,
}


def write(tmp_path, content):
    path = tmp_path / "results.json"
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    return str(path)


KERNEL_RESULTS = {
    "init_kernel_test_error": 0.2, "final_kernel_test_error": 0.15, "kernel_drift_train_full": 0.02,
    "kernel_drift_test_full": None,
    "running_kernel_test_errors": [{"fraction": 0.5, "t": 3.5, "step": 120, "test_error": 0.18},
                                   {"fraction": 1.0, "t": 120.5, "step": 2800, "test_error": None}],
}


def test_make_results_round_trips_through_read_results(tmp_path):
    built = make_results(**FINISHED, **KERNEL_RESULTS)
    assert built == {**FINISHED, **KERNEL_RESULTS}
    assert read_results(write(tmp_path, built)) == built
    assert set(FIELDS) == set(built)


def test_make_results_refuses_what_a_reader_would_reject():
    with pytest.raises(TypeError, match="unknown field 'test_eror'"):
        make_results(**FINISHED, test_eror=0.1)
    with pytest.raises(TypeError, match="missing field 'status'"):
        make_results(**{k: v for k, v in FINISHED.items() if k != "status"})
    with pytest.raises(TypeError, match="field 'steps' is 2800.0, expected an integer"):
        make_results(**{**FINISHED, "steps": 2800.0})
    with pytest.raises(TypeError, match="field 'n_params' is 12608.0, expected an integer"):
        make_results(**{**FINISHED, "n_params": 12608.0})
    with pytest.raises(TypeError, match=r"field 'steps' is \S*2800\S*, expected an integer"):
        make_results(**{**FINISHED, "steps": np.int64(2800)})  # json cannot write numpy integers
    with pytest.raises(TypeError, match=r"field 'min_margin' is \S*1\.0\S*, expected a number"):
        make_results(**{**FINISHED, "min_margin": np.float32(1.0)})  # nor numpy float32
    assert make_results(**{**FINISHED, "t": np.float64(1.5)})["t"] == 1.5  # a float: json writes it
    with pytest.raises(TypeError, match="field 'steps' is null, expected an integer$"):
        make_results(**{**FINISHED, "t1": None, "steps": None})  # t1 may be null, steps not
    assert make_results(**{**FINISHED, "test_error": None})["test_error"] is None  # a diverged run's
    for moments in ([{"fraction": 0.5, "t": 3.5, "step": 120.0, "test_error": 0.2}],
                    [{"fraction": 0.5, "t": 3.5, "step": 120}], {"fraction": 0.5}):
        with pytest.raises(TypeError, match="field 'running_kernel_test_errors' is .*, expected a list of"):
            make_results(**FINISHED, running_kernel_test_errors=moments)


@pytest.mark.parametrize("content, reason", [
    (None, "holds null, not a JSON object"),
    ([], "holds [], not a JSON object"),
    (bytes(range(7, 200, 3)), "is not JSON ("),
    (b"", "is not JSON ("),
    ({**FINISHED, "test_error": "0.1"}, "field 'test_error' is \"0.1\", expected a number"),
    ({**FINISHED, "converged": 1}, "field 'converged' is 1, expected true or false"),
    ({**FINISHED, "width": True}, "field 'width' is true, expected an integer"),
    ({**FINISHED, "relative_weight_change_layers": [0.1]},
     "field 'relative_weight_change_layers' is [0.1], expected an object of numbers"),
    ({k: v for k, v in FINISHED.items() if k != "seed"}, "missing field 'seed'"),
])
def test_read_results_rejects_with_a_reason(tmp_path, content, reason):
    path = write(tmp_path, content)
    with pytest.raises(ResultsError) as caught:
        read_results(path)
    assert caught.value.reason.startswith(reason) and caught.value.path == path
    assert str(caught.value) == f"{path}: {caught.value.reason}" and "\n" not in str(caught.value)


def test_read_results_accepts_nan_null_where_allowed_and_unknown_fields(tmp_path):
    on_disk = {**FINISHED, "test_loss": math.nan, "t1": None, "added_later": [1, 2]}
    read = read_results(write(tmp_path, on_disk))
    assert math.isnan(read["test_loss"]) and read["t1"] is None and read["added_later"] == [1, 2]
    with pytest.raises(ResultsError, match="cannot be read"):
        read_results(str(tmp_path / "absent.json"))


def test_every_field_is_documented():
    for name, field in FIELDS.items():
        assert field.doc and field.expected(), name
    assert issubclass(ResultsError, UserError)  # a one-line message the launchers print as is


def test_importing_the_report_and_the_schema_does_not_import_tensorflow():
    code = ("import sys, lazyfeat_tf.report, lazyfeat_tf.results; "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip() == "[]"
