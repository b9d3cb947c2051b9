"""Tests of `lazyfeat_tf.report` on sweep directories fabricated with known power laws.

The fabricated sweep (no training, no TensorFlow): widths 16..128, alpha*sqrt(h) = 1e-3..1e4, 6 seeds.
- kernel drift = (alpha sqrt h)^-1 in the lazy regime and (alpha sqrt h)^-1.5 in the feature regime
  (times a little log-normal noise): the fitted slopes must come out -1 and -1.5;
- t1 = 0.3 alpha sqrt(h) in the feature regime (t1 / (alpha sqrt h) flat), 0.3 in the lazy regime;
- test outputs F = b(x) + 0.5 eps / sqrt(h) with eps ~ N(0, 1) per seed: h Var[F] = 0.25 and
  delta F ~ h^(-1/2).
"""

import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO_ROOT, set_field
from lazyfeat_tf import report
from lazyfeat_tf.results import make_results

WIDTHS = (16, 32, 64, 128)
ASH = tuple(10.0**k for k in range(-3, 5))
SEEDS = tuple(range(6))
N_TEST = 200
FIGURES = ("test_error_collapse", "kernel_drift", "fluctuations", "ensemble", "t1", "frozen_kernels")


def fake_config(width, ash, seed, **family):
    config = {
        "alpha": ash / math.sqrt(width), "alpha_sqrt_h": ash, "seed": seed, "dtype": "float32",
        "model": {"kind": "fc", "depth": 3, "width": width, "activation": "softplus", "softplus_beta": 5.0,
                  "use_bias": False, "beta": 0.0},
        "data": {"name": "fashion_mnist", "source": "idx", "n_train": 1000, "n_test": N_TEST, "seed": 0,
                 "pca": 0, "whiten": False, "dim": 16},
        "loss": {"name": "soft_hinge", "soft_hinge_beta": 20.0},
        "dynamics": {"kind": "gradient_flow", "tau": 0.0, "learning_rate": 0.1, "momentum": 0.9,
                     "batch_size": 32},
    }
    for key, value in family.items():
        set_field(config, key, value)
    return config


def write_run(path, config, results, outputs=None):
    os.makedirs(path)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f)
    with open(os.path.join(path, "results.json"), "w") as f:
        json.dump(results, f)
    if outputs is not None:
        np.savez(os.path.join(path, "outputs.npz"), **outputs)


def fabricate(root, widths=WIDTHS, ash_values=ASH, seeds=SEEDS, kernels=True, **family):
    """A sweep directory with the known laws of the module docstring; returns its path."""
    rng = np.random.default_rng(1234)
    base = rng.normal(size=N_TEST)
    labels = np.sign(base + 0.3 * rng.normal(size=N_TEST))
    for width in widths:
        for ash in ash_values:
            for seed in seeds:
                outputs = base + 0.5 * rng.normal(size=N_TEST) / math.sqrt(width)
                drift = (ash**-1 if ash >= 1 else ash**-1.5) * math.exp(0.05 * rng.normal())
                kernel_errors = {"init_kernel_test_error": 0.2, "final_kernel_test_error": 0.15} if kernels else {}
                results = make_results(
                    alpha=ash / math.sqrt(width), alpha_sqrt_h=ash, width=width, seed=seed,
                    status="converged", converged=True, train_error=0.0,
                    test_error=float(np.mean(outputs * labels <= 0)), train_loss=1e-4, test_loss=0.3,
                    t=100.0, t1=(0.3 * ash if ash < 1 else 0.3) * math.exp(0.05 * rng.normal()),
                    steps=1000, rejected_steps=10, wall_time=1.0, relative_weight_change=0.1,
                    relative_weight_change_layers={"dense": 0.1}, min_margin=1.0, n_params=100,
                    accelerator="cpu", replicas=1, kernel_drift_train=drift if kernels else None,
                    kernel_drift_test=drift if kernels else None, **kernel_errors,
                )
                name = f"width={width},alpha_sqrt_h={ash:g},seed={seed}"
                write_run(os.path.join(root, "runs", name), fake_config(width, ash, seed, **family), results,
                          {"train_outputs": np.ones(4), "train_labels": np.ones(4),
                           "test_outputs": outputs, "test_labels": labels})
    return str(root)


CORRUPTIONS = {
    "null": (b"null", "results.json holds null, not a JSON object"),
    "list": (b"[]", "results.json holds [], not a JSON object"),
    "bytes": (bytes(range(7, 200, 3)), "results.json is not JSON"),
    "wrong_type": (None, "results.json field 'test_error' is \"0.1\", expected a number"),
}


def corrupt(root):
    """Copies of a run of `root` with the results.json of `CORRUPTIONS`, as runs/corrupt-<name>."""
    runs = os.path.join(root, "runs")
    source = os.path.join(runs, sorted(os.listdir(runs))[0])
    for name, (content, _) in CORRUPTIONS.items():
        target = os.path.join(runs, f"corrupt-{name}")
        shutil.copytree(source, target)
        if content is None:
            with open(os.path.join(target, "results.json")) as f:
                results = json.load(f)
            content = json.dumps({**results, "test_error": "0.1"}).encode()
        with open(os.path.join(target, "results.json"), "wb") as f:
            f.write(content)


def stop_early(root, name, status, **fields):
    """Rewrite the results.json of the run `root/runs/name` as that of a run that stopped with `status`
    before every training margin reached 1 (its other fields as fabricated, but for `fields`); returns
    the run directory."""
    path = os.path.join(root, "runs", name, "results.json")
    with open(path) as f:
        results = json.load(f)
    results.update(status=status, converged=False, **fields)
    with open(path, "w") as f:
        json.dump(make_results(**results), f)
    return os.path.dirname(path)


@pytest.fixture(scope="module")
def full_report(tmp_path_factory):
    root = fabricate(tmp_path_factory.mktemp("sweep"))
    return root, report.make_report(root, n_boot=1000)


def test_fit_power_law_on_an_exact_law():
    x = np.geomspace(0.1, 100, 9)
    fit = report.fit_power_law(x, 3.0 * x**-0.7)
    assert fit["slope"] == pytest.approx(-0.7) and fit["prefactor"] == pytest.approx(3.0)
    assert fit["ci"][0] == pytest.approx(-0.7) and fit["ci"][1] == pytest.approx(-0.7)
    assert report.fit_power_law([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) is None  # no spread in x
    assert report.fit_power_law([1.0, 2.0], [1.0, 2.0]) is None  # too few points


def test_known_exponents(full_report):
    _, result = full_report
    (family,) = result["families"]
    fits = family["fits"]
    lazy, feature = fits["kernel_drift_lazy"], fits["kernel_drift_feature"]
    assert lazy["slope"] == pytest.approx(-1.0, abs=0.03) and lazy["ci"][0] - 0.01 < -1.0 < lazy["ci"][1] + 0.01
    assert feature["slope"] == pytest.approx(-1.5, abs=0.03) and feature["ci"][0] < -1.5 < feature["ci"][1]
    assert lazy["n"] == len(WIDTHS) * 3 * len(SEEDS)  # alpha*sqrt(h) = 100, 1000, 1e4 (lazy_min = 100)
    assert (lazy["distinct"], feature["distinct"]) == (3, 3)
    assert fits["t1_feature"]["slope"] == pytest.approx(0.0, abs=0.03)
    assert fits["t1_lazy"]["slope"] == pytest.approx(-1.0, abs=0.03)
    delta = [fit for name, fit in fits.items() if name.startswith("delta_F_vs_h@")]
    assert len(delta) == len(ASH)
    for fit in delta:
        assert fit["slope"] == pytest.approx(-0.5, abs=0.1)
        assert fit["ci"][0] < fit["slope"] < fit["ci"][1] and fit["ci"][1] - fit["ci"][0] < 0.4
        np.testing.assert_allclose(fit["h_var"], 0.25, rtol=0.35)
    assert np.median([fit["slope"] for fit in delta]) == pytest.approx(-0.5, abs=0.05)
    assert family["notes"] == []


def test_figures_csv_and_summary(full_report):
    root, result = full_report
    out = os.path.join(root, "report")
    assert result["out"] == out
    for name in FIGURES:
        for fmt, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF")):
            path = os.path.join(out, f"{name}.{fmt}")
            with open(path, "rb") as f:
                assert f.read(4) == magic, path
            assert os.path.getsize(path) > 5000, path
    with open(os.path.join(out, "runs.csv")) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(WIDTHS) * len(ASH) * len(SEEDS)
    assert list(rows[0])[:len(report.CSV_COLUMNS)] == list(report.CSV_COLUMNS)
    assert {"model.kind", "data.n_train"} <= set(rows[0])
    first = rows[0]
    assert first["run"].startswith("runs/width=16,") and float(first["kernel_drift_test"]) > 0
    with open(os.path.join(out, "summary.md")) as f:
        summary = f.read()
    fits = result["families"][0]["fits"]
    for name in ("kernel_drift_lazy", "kernel_drift_feature", "t1_feature"):
        fit = fits[name]
        assert f"{fit['slope']:.3f} | [{fit['ci'][0]:.3f}, {fit['ci'][1]:.3f}]" in summary
    assert summary.count("| delta F vs h |") == len(ASH) + 1  # one per alpha*sqrt(h) and the median
    assert "### Ensemble average" in summary and "### Frozen-kernel predictors" in summary


def test_ensemble_average(full_report):
    # The ensemble's output is the mean of the seeds' test outputs at the same (alpha, h); with
    # F = b + noise, averaging removes noise, so ensembles are never worse on average.
    root, result = full_report
    ensemble = result["families"][0]["ensemble"]
    assert set(ensemble) == {(w, x) for w in WIDTHS for x in ASH}
    for (width, ash), cell in ensemble.items():
        runs = [os.path.join(root, "runs", f"width={width},alpha_sqrt_h={ash:g},seed={s}") for s in SEEDS]
        outputs = [np.load(os.path.join(r, "outputs.npz")) for r in runs]
        labels = outputs[0]["test_labels"]
        mean = np.mean([o["test_outputs"] for o in outputs], axis=0)
        assert cell["n"] == len(SEEDS)
        assert cell["ensemble"] == pytest.approx(np.mean(mean * labels <= 0))
        assert cell["single"] == pytest.approx(np.mean([np.mean(o["test_outputs"] * labels <= 0) for o in outputs]))
    assert np.mean([c["ensemble"] for c in ensemble.values()]) < np.mean([c["single"] for c in ensemble.values()])


def test_single_seed_skips_seed_figures_with_a_note(tmp_path, monkeypatch):
    monkeypatch.setattr(report.figures, "FIGURE_FORMATS", ("png",))  # PDFs are checked above; drawing is slow
    root = fabricate(tmp_path, seeds=(0,), kernels=False)
    result = report.make_report(root, n_boot=200)
    (family,) = result["families"]
    assert set(family["figures"]) == {"test_error_collapse", "t1"}
    for name in ("fluctuations", "ensemble", "kernel_drift", "frozen_kernels"):
        assert not os.path.exists(os.path.join(root, "report", f"{name}.png"))
        assert any(note.startswith(name) for note in family["notes"]), name
    with open(os.path.join(root, "report", "summary.md")) as f:
        summary = f.read()
    assert "fluctuations: skipped, needs >= 2 seeds" in summary
    assert "kernel_drift: skipped" in summary


def test_families_get_their_own_figures(tmp_path, monkeypatch):
    monkeypatch.setattr(report.figures, "FIGURE_FORMATS", ("png",))
    fabricate(tmp_path / "a", widths=(16, 32), ash_values=(0.01, 100.0), seeds=(0, 1))
    fabricate(tmp_path / "b", widths=(16, 32), ash_values=(0.01, 100.0), seeds=(0, 1), model__depth=5)
    os.makedirs(tmp_path / "b" / "runs" / "unfinished")  # a run without results.json
    with open(tmp_path / "b" / "runs" / "unfinished" / "config.json", "w") as f:
        json.dump(fake_config(16, 1.0, 0), f)
    result = report.make_report(str(tmp_path), n_boot=200)
    assert [f["label"].split(",")[0] for f in result["families"]] == ["fc L=3 softplus", "fc L=5 softplus"]
    for i in (1, 2):
        assert os.path.exists(tmp_path / "report" / f"family-{i}" / "test_error_collapse.png")
    assert len(result["rows"]) == 16 and len(result["unfinished"]) == 1
    with open(tmp_path / "report" / "summary.md") as f:
        assert "1 run directories without results" in f.read()


def test_launcher(tmp_path):
    root = fabricate(tmp_path / "sweep", widths=(16, 32), ash_values=(0.01, 1.0, 100.0), seeds=(0, 1))
    corrupt(root)
    ok = subprocess.run([sys.executable, "-m", "launch.report", f"--workdir={root}", "--n_boot=200"],
                        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "12 runs ->" in ok.stdout and os.path.exists(os.path.join(root, "report", "summary.md"))
    skipped = os.path.join(root, "runs", "corrupt-null")
    assert f"skipped: {skipped}: {CORRUPTIONS['null'][1]}" in ok.stdout.splitlines()
    assert ok.stderr == ""
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = subprocess.run([sys.executable, "-m", "launch.report", f"--workdir={empty}"],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [f"error: --workdir={str(empty)!r} holds no finished run "
                                               "(no results.json under it)"]


def test_families_are_told_apart_by_every_config_key_but_the_axes_and_execution_keys(tmp_path, monkeypatch):
    # dynamics.max_dgrad changes what a run computes: two families, labelled by it; checkpoint_every_secs
    # (an EXECUTION_KEY) does not: one family.
    monkeypatch.setattr(report.figures, "FIGURE_FORMATS", ("png",))
    small = dict(widths=(16, 32), ash_values=(0.01, 100.0), seeds=(0, 1))
    fabricate(tmp_path / "dgrad" / "a", dynamics__max_dgrad=1e-4, **small)
    fabricate(tmp_path / "dgrad" / "b", dynamics__max_dgrad=1e-3, **small)
    result = report.make_report(str(tmp_path / "dgrad"), n_boot=200)
    labels = [f["label"] for f in result["families"]]
    assert len(labels) == 2 and all(label.startswith("fc L=3 softplus") for label in labels)
    assert [label.split(", ")[-1] for label in labels] == ["dynamics.max_dgrad=0.0001", "dynamics.max_dgrad=0.001"]
    with open(tmp_path / "dgrad" / "report" / "runs.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["dynamics.max_dgrad"] for r in rows} == {"0.0001", "0.001"}
    assert not {"alpha_sqrt_h", "model.width", "seed"} & set(list(rows[0])[len(report.CSV_COLUMNS):])

    fabricate(tmp_path / "checkpoints" / "a", checkpoint_every_secs=10.0, **small)
    fabricate(tmp_path / "checkpoints" / "b", checkpoint_every_secs=0.0, **small)
    result = report.make_report(str(tmp_path / "checkpoints"), n_boot=200)
    (family,) = result["families"]
    assert family["label"] == "fc L=3 softplus, fashion_mnist n_train=1000 n_test=200, soft_hinge loss, " \
                              "gradient_flow, float32"
    assert len(result["rows"]) == 16


def test_unusable_results_are_skipped_and_listed(tmp_path, monkeypatch):
    monkeypatch.setattr(report.figures, "FIGURE_FORMATS", ("png",))
    root = fabricate(tmp_path, widths=(16, 32), ash_values=(0.01, 100.0), seeds=(0, 1))
    corrupt(root)
    result = report.make_report(root, n_boot=200)
    assert len(result["rows"]) == 8
    reasons = {os.path.basename(path): reason for path, reason in result["invalid"]}
    assert set(reasons) == {f"corrupt-{name}" for name in CORRUPTIONS}
    for name, (_, reason) in CORRUPTIONS.items():
        assert reasons[f"corrupt-{name}"].startswith(reason), (name, reasons[f"corrupt-{name}"])
    with open(os.path.join(root, "report", "summary.md")) as f:
        summary = f.read()
    assert "4 run directories skipped" in summary
    for name in CORRUPTIONS:
        assert f"- `runs/corrupt-{name}`: {reasons[f'corrupt-{name}']}" in summary
    assert report.describe(result)[1:5] == [f"skipped: {path}: {reason}" for path, reason in result["invalid"]]
    for run in os.listdir(os.path.join(root, "runs")):
        if not run.startswith("corrupt-"):
            shutil.rmtree(os.path.join(root, "runs", run))
    with pytest.raises(report.ReportError, match=r"holds no usable run: 4 run directories have unusable files"):
        report.make_report(root)


def test_a_diverged_run_is_listed_and_kept_out_of_means_and_fits(tmp_path, monkeypatch):
    """A run with status "nan" has no error rate (null): it is in runs.csv with empty cells, listed
    as diverged, and out of the family's means (issue 13, item 2)."""
    monkeypatch.setattr(report.figures, "FIGURE_FORMATS", ("png",))
    small = dict(widths=(16, 32), ash_values=(0.01, 100.0), seeds=(0, 1))
    root = fabricate(tmp_path / "a", **small)
    clean = report.make_report(root, n_boot=200)
    run = stop_early(root, "width=16,alpha_sqrt_h=0.01,seed=0", "nan", train_error=None, test_error=None,
                     train_loss=None, test_loss=None, relative_weight_change=None, kernel_drift_test=None,
                     kernel_drift_train=None)
    result = report.make_report(root, n_boot=200)
    assert len(result["rows"]) == 8 and sum(len(f["ensemble"]) for f in result["families"]) > 0
    with open(os.path.join(root, "report", "summary.md")) as f:
        summary = f.read()
    assert "1 runs diverged (status nan: no error rate; left out of the means, figures and fits):" in summary
    assert "- `runs/width=16,alpha_sqrt_h=0.01,seed=0`" in summary
    assert f"diverged (left out of means and fits): {run}" in report.describe(result)
    with open(os.path.join(root, "report", "runs.csv")) as f:
        row = next(r for r in csv.DictReader(f) if r["run"].endswith("alpha_sqrt_h=0.01,seed=0") and r["width"] == "16")
    assert row["status"] == "nan" and row["test_error"] == ""
    # The cell (h = 16, alpha*sqrt(h) = 0.01) keeps one seed: its ensemble is that seed's net alone.
    (family,) = result["families"]
    (clean_family,) = clean["families"]
    assert family["ensemble"] != clean_family["ensemble"]


UNCONVERGED = {"max_steps": {"steps": 100_000, "train_error": 0.1, "test_error": 0.237},
               "stalled": {"steps": 4321, "train_error": 0.05, "test_error": 0.3}}
"""How the unconverged runs of the tests below stopped (a net that never trained has a high test error)."""


def test_unconverged_runs_are_listed_and_kept_out_of_means_and_fits_unless_asked(tmp_path, monkeypatch):
    """Runs that stopped at their step budget or stalled are not the article's protocol: out of the
    means, figures and fits as the diverged ones (their numbers would move them), listed in summary.md
    with where they stopped and by `describe`, still in runs.csv; `include_unconverged` brings them
    back, the diverged run stays out."""
    monkeypatch.setattr(report.figures, "FIGURE_FORMATS", ("png",))
    root = fabricate(tmp_path, widths=(16, 32), ash_values=(0.001, 0.01, 0.1, 100.0), seeds=(0, 1, 2, 3))
    clean = report.make_report(root, n_boot=200)
    outlier = {"kernel_drift_train": 1e8, "kernel_drift_test": 1e8}  # would bend the feature fit
    stopped = {status: stop_early(root, f"width=16,alpha_sqrt_h=0.001,seed={seed}", status, **fields, **outlier)
               for seed, (status, fields) in zip((2, 3), UNCONVERGED.items())}
    diverged = stop_early(root, "width=32,alpha_sqrt_h=0.1,seed=0", "nan", test_error=None, train_error=None,
                          kernel_drift_test=None, kernel_drift_train=None)
    result = report.make_report(root, n_boot=200)
    (family,), (clean_family,) = result["families"], clean["families"]
    assert family["ensemble"][(16, 0.001)]["n"] == 2 and clean_family["ensemble"][(16, 0.001)]["n"] == 4
    feature_fit, clean_fit = family["fits"]["kernel_drift_feature"], clean_family["fits"]["kernel_drift_feature"]
    assert (feature_fit["n"], clean_fit["n"]) == (2 * 3 * 4 - 3, 2 * 3 * 4)
    assert feature_fit["slope"] == pytest.approx(-1.5, abs=0.05)
    converged_errors = []
    for seed in (0, 1):
        with open(os.path.join(root, "runs", f"width=16,alpha_sqrt_h=0.001,seed={seed}", "results.json")) as f:
            converged_errors.append(json.load(f)["test_error"])
    with open(os.path.join(root, "report", "summary.md")) as f:
        summary = f.read()
    assert f"| 0.001 | {np.mean(converged_errors):.4f} (2) |" in summary  # the mean over the converged seeds
    assert "32 finished runs (status: converged: 29, max_steps: 1, nan: 1, stalled: 1)" in summary
    assert ("2 runs did not converge (stopped before every training margin reached 1; left out of the means, "
            "figures and fits; --include_unconverged keeps them in):") in summary
    assert "| run | status | steps | train error | test error |" in summary
    assert "| `runs/width=16,alpha_sqrt_h=0.001,seed=2` | max_steps | 100000 | 0.1000 | 0.2370 |" in summary
    assert "| `runs/width=16,alpha_sqrt_h=0.001,seed=3` | stalled | 4321 | 0.0500 | 0.3000 |" in summary
    assert "1 runs diverged (status nan" in summary and "No run is left to draw" not in summary
    lines = report.describe(result)
    for status, run in stopped.items():
        assert f"not converged (status {status}, left out of means and fits): {run}" in lines
    assert f"diverged (left out of means and fits): {diverged}" in lines
    with open(os.path.join(root, "report", "runs.csv")) as f:
        statuses = {r["run"]: r["status"] for r in csv.DictReader(f)}
    assert len(statuses) == 32 and statuses["runs/width=16,alpha_sqrt_h=0.001,seed=2"] == "max_steps"
    assert statuses["runs/width=16,alpha_sqrt_h=0.001,seed=3"] == "stalled"

    included = report.make_report(root, n_boot=200, include_unconverged=True)
    (family,) = included["families"]
    assert family["ensemble"][(16, 0.001)]["n"] == 4 and family["ensemble"][(32, 0.1)]["n"] == 3  # diverged: out
    assert family["fits"]["kernel_drift_feature"]["n"] == 2 * 3 * 4 - 1
    assert family["fits"]["kernel_drift_feature"]["slope"] < feature_fit["slope"] - 0.3
    with open(os.path.join(root, "report", "summary.md")) as f:
        summary = f.read()
    assert ("2 runs did not converge (stopped before every training margin reached 1; included in the means, "
            "figures and fits by --include_unconverged: not the article's protocol):") in summary
    assert f"| 0.001 | {np.mean(converged_errors + [0.237, 0.3]):.4f} (4) |" in summary
    assert "1 runs diverged (status nan" in summary
    lines = report.describe(included)
    for status, run in stopped.items():
        assert f"not converged (status {status}, kept in means and fits by --include_unconverged): {run}" in lines


def test_launcher_include_unconverged(tmp_path):
    """`--include_unconverged` reaches make_report: the run at its step budget is printed as left out,
    then as kept in."""
    root = fabricate(tmp_path, widths=(16, 32), ash_values=(0.01, 100.0), seeds=(0, 1))
    run = stop_early(root, "width=32,alpha_sqrt_h=100,seed=1", "max_steps", **UNCONVERGED["max_steps"])
    for flags, where in (((), "left out of means and fits"),
                         (("--include_unconverged",), "kept in means and fits by --include_unconverged")):
        ok = subprocess.run([sys.executable, "-m", "launch.report", f"--workdir={root}", "--n_boot=200", *flags],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
        assert ok.returncode == 0 and ok.stderr == "", ok.stderr
        assert f"not converged (status max_steps, {where}): {run}" in ok.stdout.splitlines()
    with open(os.path.join(root, "report", "summary.md")) as f:
        assert "1 runs did not converge (stopped before every training margin reached 1; included in" in f.read()


def test_a_fit_range_with_fewer_than_3_values_is_warned_about(tmp_path, monkeypatch):
    """(issue 11, item 6) The lazy fit starts at alpha*sqrt(h) = 100 by default; with only 100 and 1000
    there, summary.md says so next to the exponents, and the figure labels its fit ranges."""
    monkeypatch.setattr(report.figures, "FIGURE_FORMATS", ("png",))
    root = fabricate(tmp_path, widths=(16, 32), ash_values=(0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0), seeds=(0, 1))
    result = report.make_report(root, n_boot=200)
    (family,) = result["families"]
    assert family["fits"]["kernel_drift_lazy"]["n"] == 2 * 2 * 2  # 10 is left out
    with open(os.path.join(root, "report", "summary.md")) as f:
        summary = f.read()
    assert ("- warning: the kernel drift lazy fit (alpha*sqrt(h) >= 100) rests on 2 distinct values of "
            "alpha*sqrt(h); extend the sweep's range or move --lazy_min / --feature_max") in summary
    assert "kernel drift feature fit" not in summary  # 0.001, 0.01, 0.1: three values
    assert re.search(r"\| kernel drift vs alpha\*sqrt\(h\) \| lazy, alpha\*sqrt\(h\) >= 100 \| -(1\.0\d|0\.9\d)\d \|",
                     summary)


def test_runs_in_two_dtypes_are_one_family_unless_a_point_is_run_in_both(tmp_path, monkeypatch):
    # float32 at the feature end, float64 at the lazy end (configs/article/test_error_vs_alpha.py:protocol):
    # one family "float32+float64", each run keeping its dtype in runs.csv.
    monkeypatch.setattr(report.figures, "FIGURE_FORMATS", ("png",))
    fabricate(tmp_path / "joined" / "a", widths=(16, 32), ash_values=(0.01, 1.0), seeds=(0, 1), dtype="float32")
    fabricate(tmp_path / "joined" / "b", widths=(16, 32), ash_values=(1000.0, 1e4), seeds=(0, 1), dtype="float64")
    result = report.make_report(str(tmp_path / "joined"), n_boot=200)
    (family,) = result["families"]
    assert family["label"].endswith("gradient_flow, float32+float64")
    with open(tmp_path / "joined" / "report" / "runs.csv") as f:
        dtypes = {(r["alpha_sqrt_h"], r["dtype"]) for r in csv.DictReader(f)}
    assert dtypes == {("0.01", "float32"), ("1.0", "float32"), ("1000.0", "float64"), ("10000.0", "float64")}
    # the same points in both dtypes: two families, as before
    fabricate(tmp_path / "apart" / "a", widths=(16, 32), ash_values=(0.01, 1.0), seeds=(0, 1), dtype="float32")
    fabricate(tmp_path / "apart" / "b", widths=(16, 32), ash_values=(0.01, 1.0), seeds=(0, 1), dtype="float64")
    labels = [f["label"] for f in report.make_report(str(tmp_path / "apart"), n_boot=200)["families"]]
    assert [label.rsplit(", ", 1)[-1] for label in labels] == ["float32", "float64"]
