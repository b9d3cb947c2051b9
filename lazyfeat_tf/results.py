"""The schema of a run's `results.json`, defined once for its writer and its readers.

`results.json` is the last file a training run writes (its presence means the run is finished): one
JSON object with the fields of `FIELDS`. The writer builds it with `make_results(**fields)`, which
refuses an unknown, missing or wrong-typed field; readers load it with `read_results(path)`, which
raises `ResultsError` (one line naming the file and what is wrong) for anything else: text that is
not JSON, JSON that is not an object, a missing or wrong-typed field. Fields a reader does not know
are kept (a newer writer may add some). What the file says of the trained network is null for a
diverged run (status "nan"): such a run has no error rate, loss or kernel change.

No TensorFlow here: the report imports this module.
"""

import dataclasses
import json
from collections.abc import Callable

from lazyfeat_tf.errors import UserError


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)  # numpy.float64 is a float


def _integer(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _string(value):
    return isinstance(value, str)


def _boolean(value):
    return isinstance(value, bool)


def _numbers_by_name(value):
    return isinstance(value, dict) and all(_string(k) and _number(v) for k, v in value.items())


def _moments(value):
    """[{fraction, t, step, test_error}]: the running-kernel predictors (test_error null if diverged)."""
    keys = {"fraction": _number, "t": _number, "step": _integer, "test_error": _number}
    return isinstance(value, list) and all(
        isinstance(entry, dict) and set(entry) == set(keys)
        and all(check(entry[key]) or (key == "test_error" and entry[key] is None) for key, check in keys.items())
        for entry in value)


_KINDS = {_number: "a number", _integer: "an integer", _string: "a string", _boolean: "true or false",
          _numbers_by_name: "an object of numbers",
          _moments: "a list of {fraction, t, step, test_error} objects"}


@dataclasses.dataclass(frozen=True)
class Field:
    """One field of results.json: `check(value)` says whether a value has its type."""

    check: Callable[[object], bool]
    doc: str
    nullable: bool = False  # null is a value (e.g. t1 of a run that never reached it)
    optional: bool = False  # absent from some runs (written only when a feature is on)

    def expected(self):
        return _KINDS[self.check] + (" or null" if self.nullable else "")


CONVERGED = "converged"
"""The status of a run whose every training margin reached 1 (the article's protocol); any other status
says why a run stopped before that: a budget ran out, the flow stalled, or the network diverged."""

DIVERGED = "nan"
"""The status of a run whose network stopped being finite."""

FIELDS = {
    "train_error": Field(_number, "fraction of training points with F y <= 0 at the end", nullable=True),
    "test_error": Field(_number, "fraction of test points with F y <= 0 at the end", nullable=True),
    "train_loss": Field(_number, "L at the end (scaled by 1/alpha^2)", nullable=True),
    "test_loss": Field(_number, "the same loss on the test set", nullable=True),
    "t": Field(_number, "physical time reached"),
    "relative_weight_change": Field(_number, "||w - w0|| / ||w0||", nullable=True),
    "relative_weight_change_layers": Field(_numbers_by_name, "||w - w0|| / ||w0|| per layer name", nullable=True),
    "min_margin": Field(_number, "min over training points of F y", nullable=True),
    "converged": Field(_boolean, "every training point has F y >= 1"),
    "status": Field(_string, "why training stopped: converged, max_steps, max_time, max_wall_time, ..."),
    "steps": Field(_integer, "accepted steps"),
    "rejected_steps": Field(_integer, "rejected gradient-flow steps"),
    "t1": Field(_number, "first time alpha^2 L < 1/2 (null if never)", nullable=True),
    "wall_time": Field(_number, "seconds, data loading excluded, across restarts"),
    "alpha": Field(_number, "alpha of the readout alpha/sqrt(h)"),
    "alpha_sqrt_h": Field(_number, "alpha * sqrt(h)"),
    "width": Field(_integer, "h, config.model.width"),
    "seed": Field(_integer, "initialization seed"),
    "n_params": Field(_integer, "number of trained parameters"),
    "accelerator": Field(_string, "where the run finished: tpu, gpu or cpu (absent in early runs)", optional=True),
    "replicas": Field(_integer, "replicas of the distribution strategy (absent in early runs)", optional=True),
    "kernel_drift_train": Field(_number, "||Theta_T - Theta_0||_F / ||Theta_0||_F on the train probes "
                                "(null without kernels.track)", nullable=True),
    "kernel_drift_test": Field(_number, "the same on the test probes", nullable=True),
    "init_kernel_test_error": Field(_number, "test error of the frozen-Theta_0 predictor (with "
                                    "kernels.predictors)", optional=True),
    "final_kernel_test_error": Field(_number, "test error of the frozen-Theta_T predictor (with "
                                     "kernels.predictors; null for a diverged run)", nullable=True, optional=True),
    "kernel_drift_train_full": Field(_number, "||Theta_T - Theta_0||_F / ||Theta_0||_F on the kernel of the whole "
                                     "training set (with kernels.full_drift)", nullable=True, optional=True),
    "kernel_drift_test_full": Field(_number, "the same on the whole test set, the article's kernel change",
                                    nullable=True, optional=True),
    "running_kernel_test_errors": Field(_moments, "test errors of the frozen-Theta_t predictors at the "
                                        "kernels.running_fractions of the loss drop, with their t and step",
                                        nullable=True, optional=True),
}
NETWORK_FIELDS = ("train_error", "test_error", "train_loss", "test_loss", "relative_weight_change",
                  "relative_weight_change_layers", "min_margin", "kernel_drift_train", "kernel_drift_test",
                  "final_kernel_test_error", "kernel_drift_train_full", "kernel_drift_test_full")
"""What results.json says of the trained network: null for a diverged run."""


class ResultsError(UserError):
    """A results.json that is not what `FIELDS` says; `reason` is the message without the path."""

    def __init__(self, path, reason):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def _show(value):
    """A short JSON rendering of a value (repr for what JSON cannot hold)."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _problems(fields):
    """What is wrong with a dict of fields (known ones missing or of the wrong type), as phrases."""
    problems = [f"missing field {name!r}" for name, field in FIELDS.items()
                if name not in fields and not field.optional]
    for name, value in fields.items():
        field = FIELDS.get(name)
        if field is None or (value is None and field.nullable) or field.check(value):
            continue
        problems.append(f"field {name!r} is {_show(value)}, expected {field.expected()}")
    return problems


def make_results(**fields):
    """The results.json dict of `fields` (every name of `FIELDS`, the optional ones may be left out).

    Raises TypeError for an unknown name, a missing field or a value of the wrong type: a writer bug.
    """
    unknown = sorted(set(fields) - set(FIELDS))
    problems = [f"unknown field {name!r}" for name in unknown] + _problems(fields)
    if problems:
        raise TypeError("results.json: " + "; ".join(problems))
    return dict(fields)


def read_results(path):
    """The dict of the results.json at `path`; raises `ResultsError` when it is not as `FIELDS` says."""
    try:
        with open(path, "rb") as f:
            fields = json.loads(f.read())
    except OSError as error:
        raise ResultsError(path, f"cannot be read ({error.strerror or error})") from None
    except (ValueError, RecursionError) as error:  # json.JSONDecodeError, UnicodeDecodeError, deep nesting
        raise ResultsError(path, f"is not JSON ({' '.join(str(error).split())[:80]})") from None
    if not isinstance(fields, dict):
        raise ResultsError(path, f"holds {_show(fields)}, not a JSON object")
    problems = _problems(fields)
    if problems:
        raise ResultsError(path, "; ".join(problems))
    return fields
