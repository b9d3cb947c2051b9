"""Tests of the article figures of `launch.report` (`lazyfeat_tf.report.article`) on sweep directories
fabricated with known laws (no training, no TensorFlow).

Every fabricated run (`fabricate`) follows, with GAP its family's offset:
- test error = 4% - 0.2% log2(h / 16) + 0.1% |log10(alpha sqrt h) + 2| (feature regime, alpha*sqrt(h)
  < 1) + LAZY_GAP (alpha*sqrt(h) >= 1) + GAP + OFFSETS[seed] (the offsets sum to 0: means are exact);
- kernel change = (alpha sqrt h)^-1 (>= 1) or (alpha sqrt h)^(-4/3) (< 1), times log-normal noise;
- t1 = 3 alpha sqrt(h) (< 1: t1 / (alpha sqrt h) = 3, flat), 3 (>= 1: slope -1);
- test outputs F = b(x) + eps sqrt(250 / (h P)), eps ~ N(0, 1) per seed and point: Var[F] = 250 / (h P);
- metrics.jsonl: alpha^2 L(t) = 1 / (1 + t / t1) and ||F_t - F_0|| = t / (t + t1);
- init_kernel_test_error = 5% - 0.3% log2(h / 16).

The generic per-family figures are tested in test_report.py; here they are switched off (but in the
launcher's test) to keep the file fast.
"""

import json
import math
import os
import subprocess
import sys
import types
import zlib

import numpy as np
import pytest

from conftest import REPO_ROOT
from lazyfeat_tf import report, sweep
from lazyfeat_tf.report import article, article_common
from lazyfeat_tf.results import make_results
from test_report import UNCONVERGED, fake_config, stop_early, write_run

N_TEST = 100
OFFSETS = (-0.003, -0.001, 0.001, 0.003)
SEEDS = tuple(range(len(OFFSETS)))
WIDTHS = (16, 100, 256)
ASH = tuple(10.0**k for k in range(-3, 5))
SMALL = {"widths": (16, 100), "ash_values": (1e-3, 1e-2, 1.0, 1e3, 1e4)}
LAZY_GAP = 0.01
GAPS = {"depth": 0.005, "alphaf": 0.002, "bias": -0.001, "gradient_flow_vs_adam": 0.003}
"""Test-error offsets of the families compared with the base one (depth 9, F = alpha f, bias, Adam)."""
COMPARED = {"depth": {"model__depth": 9}, "alphaf": {"model__centered": False},
            "bias": {"model__use_bias": True, "model__beta": 0.1}, "gradient_flow_vs_adam": {"dynamics__kind": "adam"}}
SIZES = (250, 10_000)
"""P of the families equal to the base one (P = 1000) but for data.n_train."""
BASE = np.random.default_rng(1234).normal(size=N_TEST)
LABELS = np.sign(BASE + 0.3 * np.random.default_rng(5).normal(size=N_TEST))


def error_law(width, ash, seed, gap=0.0):
    """The fabricated test error of a run."""
    regime = LAZY_GAP if ash >= 1 else 0.001 * abs(math.log10(ash) + 2)
    return 0.04 - 0.002 * math.log2(width / 16) + regime + gap + OFFSETS[seed]


def frozen_law(width):
    return 0.05 - 0.003 * math.log2(width / 16)


def write_metrics(path, t1):
    """metrics.jsonl of a run: alpha^2 L(t) = 1 / (1 + t / t1), ||F_t - F_0|| = t / (t + t1)."""
    times = np.concatenate([[0.0], t1 * np.geomspace(1e-3, 1e3, 25)])
    records = [{"step": step, "t": t, "train_loss_unscaled": 1 / (1 + t / t1), "output_change_test": t / (t + t1)}
               for step, t in enumerate(times)]
    with open(os.path.join(path, "metrics.jsonl"), "w") as f:
        f.writelines(json.dumps(record) + "\n" for record in records)


def fabricate(root, widths=WIDTHS, ash_values=ASH, seeds=SEEDS, gap=0.0, kernels=True, **family):
    """Runs of one family under `root/runs/` with the laws of the module docstring; returns `root`."""
    rng = np.random.default_rng(zlib.crc32(repr(sorted(family.items())).encode()))
    size = family.get("data__n_train", 1000)
    for width in widths:
        for ash in ash_values:
            for seed in seeds:
                outputs = BASE + rng.normal(size=N_TEST) * math.sqrt(250 / (width * size))
                noise = math.exp(0.05 * rng.normal())
                t1 = 3 * ash if ash < 1 else 3.0
                kernel_fields = {"kernel_drift_test_full": (ash**-1 if ash >= 1 else ash ** (-4 / 3)) * noise,
                                 "init_kernel_test_error": frozen_law(width)} if kernels else {}
                results = make_results(
                    alpha=ash / math.sqrt(width), alpha_sqrt_h=ash, width=width, seed=seed, status="converged",
                    converged=True, train_error=0.0, test_error=error_law(width, ash, seed, gap), train_loss=1e-4,
                    test_loss=0.3, t=1e3 * t1, t1=t1 if kernels else None, steps=1000, rejected_steps=10,
                    wall_time=1.0, relative_weight_change=0.1, relative_weight_change_layers={"dense": 0.1},
                    min_margin=1.0, n_params=100, kernel_drift_train=None, kernel_drift_test=None, **kernel_fields)
                path = os.path.join(root, "runs", f"width={width},alpha_sqrt_h={ash:g},seed={seed}")
                write_run(path, fake_config(width, ash, seed, **{"data__n_test": N_TEST, **family}),
                          results, {"test_outputs": outputs, "test_labels": LABELS})
                if kernels:
                    write_metrics(path, t1)
    return str(root)


def write_sweep_json(workdir, names):
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "sweep.json"), "w") as f:
        json.dump({"config_file": "configs/article/x.py", "figures": list(names)}, f)


def make_article_report(root, names):
    """`make_report` of `root` with sweep.json declaring `names`, the generic figures off; (root, result,
    {figure name: the title drawn on it})."""
    write_sweep_json(root, names)
    titles = {}
    save = report.figures.save

    def recording_save(fig, out, name):
        titles[name] = fig.get_suptitle()
        return save(fig, out, name)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(report.figures, "FIGURES", [])
        patch.setattr(report.figures, "save", recording_save)
        result = report.make_report(str(root), n_boot=400)
    return str(root), result, titles


PROTOCOL_FIGURES = ("test_error_vs_h", "test_error_vs_alpha", "fluctuations_vs_h", "time_dynamics", "var_vs_p",
                    "feature_vs_lazy")


@pytest.fixture(scope="module")
def protocol_report(tmp_path_factory):
    """The figures of one protocol over the base family (P = 1000, the full grid, kernels) and two
    families equal to it but for P (`SIZES`, h = 100 only, no kernels)."""
    root = tmp_path_factory.mktemp("protocol")
    fabricate(root / "base")
    for size in SIZES:
        fabricate(root / f"p{size}", kernels=False, data__n_train=size, widths=(100,), ash_values=SMALL["ash_values"])
    return make_article_report(root, PROTOCOL_FIGURES)


@pytest.fixture(scope="module")
def compared_report(tmp_path_factory):
    """The comparisons of families: the base family and one family per entry of `COMPARED`."""
    root = tmp_path_factory.mktemp("compared")
    fabricate(root / "base", kernels=False, **SMALL)
    for name, overrides in COMPARED.items():
        fabricate(root / name, gap=GAPS[name], kernels=False, **overrides, **SMALL)
    return make_article_report(root, COMPARED)


def base_label(result):
    (label,) = [f["label"] for f in result["families"] if "n_train=1000 " in f["label"]]
    return label


def summary_of(root):
    with open(os.path.join(root, "report", "summary.md")) as f:
        return f.read()


ARTICLE_NAMES = {"test_error_vs_h": "test error (a)", "test_error_vs_alpha": "test error (b), (c)",
                 "fluctuations_vs_h": "var / ensembles", "time_dynamics": "time dynamics (a)-(c)", "alphaf": "alphaf",
                 "bias": "bias", "depth": "other (d)", "gradient_flow_vs_adam": "CIFAR10", "var_vs_p": "appendix",
                 "feature_vs_lazy": "other (b)"}
"""The figure of ARTICLE.md each article figure corresponds to."""


@pytest.mark.parametrize("which", ["protocol_report", "compared_report"])
def test_every_article_figure_is_drawn_and_titled(which, request):
    root, result, titles = request.getfixturevalue(which)
    names = PROTOCOL_FIGURES if which == "protocol_report" else tuple(COMPARED)
    assert tuple(result["article"]) == names and set(titles) == set(names)  # no generic figure: they are off
    summary = summary_of(root)
    assert "## Article figures" in summary
    for name in names:
        item = result["article"][name]
        assert item["files"] == [os.path.join(root, "report", f"{name}.{fmt}") for fmt in ("png", "pdf")], name
        for path, magic in zip(item["files"], (b"\x89PNG", b"%PDF")):
            with open(path, "rb") as f:
                assert f.read(4) == magic, path
            assert os.path.getsize(path) > 5000, path
        assert titles[name] == item["title"] and item["title"].startswith(f"Article, {ARTICLE_NAMES[name]}"), name
        assert f"### {item['title']}" in summary and f"`{name}.png`" in summary
    notes = {name: item["notes"] for name, item in result["article"].items() if item["notes"]}
    if which == "compared_report":  # each comparison holds the base family and one other
        keys = {name: ", ".join(k.replace("__", ".") for k in overrides) for name, overrides in COMPARED.items()}
        assert notes == {name: [f"3 families have no counterpart differing only in {keys[name]} and are left out."]
                         for name in COMPARED}
    else:
        assert notes == {}
        assert ARTICLE_NAMES.keys() == article.ARTICLE_FIGURES.keys()


def test_test_error_figures_numbers(protocol_report):
    root, result, _ = protocol_report
    label = base_label(result)
    vs_h = result["article"]["test_error_vs_h"]["numbers"][label]
    for w in WIDTHS:
        assert vs_h["frozen_theta0"][w] == pytest.approx(frozen_law(w))
        for x in ASH:
            assert vs_h["errors"][(w, x)] == pytest.approx(error_law(w, x, 0) - OFFSETS[0])
    vs_alpha = result["article"]["test_error_vs_alpha"]["numbers"]
    for w in WIDTHS:
        cell = vs_alpha[label][w]
        assert cell["best"] == pytest.approx((1e-2, error_law(w, 1e-2, 0) - OFFSETS[0]))
        assert cell["feature_end"][0] == 1e-3 and cell["lazy_end"][0] == 1e4
        assert cell["lazy_end"][1] - cell["best"][1] == pytest.approx(LAZY_GAP)
    summary = summary_of(root)
    p10k = next(lab for lab in vs_alpha if "n_train=10000" in lab)
    assert set(vs_alpha[p10k]) == {100}
    assert list(result["article"]["test_error_vs_h"]["numbers"]) == [label]  # the only family with >= 2 widths
    # The article's band of h = 100 is shaded (and listed) for Fashion-MNIST with P = 10,000 only.
    def mean(x):
        return f"{100 * (error_law(100, x, 0) - OFFSETS[0]):.2f}%"

    assert f"| 100 | 0.01 | {mean(1e-2)} | {mean(1e-3)} (0.001) | {mean(1e4)} (10000) | 3.05-3.45% |" in summary
    assert summary.count("| 3.05-3.45% |") == 1


def test_feature_vs_lazy_difference_and_ci(protocol_report):
    root, result, _ = protocol_report
    numbers = result["article"]["feature_vs_lazy"]["numbers"][base_label(result)]
    assert sorted(numbers) == list(WIDTHS)
    assert len(result["article"]["feature_vs_lazy"]["numbers"]) == 1 + len(SIZES)
    summary = summary_of(root)
    for w in WIDTHS:
        cell = numbers[w]
        fabricated = error_law(w, 1e4, 0) - error_law(w, 1e-3, 0)  # the seed offsets cancel
        d = cell["difference"]
        assert (cell["feature"]["alpha_sqrt_h"], cell["lazy"]["alpha_sqrt_h"]) == (1e-3, 1e4)
        assert d["difference"] == pytest.approx(fabricated, abs=1e-12) and d["n"] == (4, 4)
        assert d["ci"][0] < fabricated < d["ci"][1] and d["ci"][1] - d["ci"][0] < 0.01
        line = (f"  - h = {w}: feature {100 * cell['feature']['mean']:.2f}% (4 seeds), lazy "
                f"{100 * cell['lazy']['mean']:.2f}% (4 seeds), lazy - feature = +{100 * fabricated:.2f}% "
                f"[{100 * d['ci'][0]:.2f}%, {100 * d['ci'][1]:.2f}%]")
        assert line in summary


def test_dynamics_numbers(protocol_report):
    root, result, _ = protocol_report
    label = base_label(result)
    dynamics = result["article"]["time_dynamics"]["numbers"]
    assert list(dynamics) == [label]  # the other families have no kernel drift and no t1
    fits = dynamics[label]
    assert fits["drift_key"] == "kernel_drift_test_full"
    for name, slope in (("kernel_drift_feature", -4 / 3), ("kernel_drift_lazy", -1.0)):
        assert fits[name]["ci"][0] < slope < fits[name]["ci"][1], (name, fits[name])
        assert fits[name]["slope"] == pytest.approx(slope, abs=0.03) and fits[name]["distinct"] == 3
    assert fits["t1_feature"]["slope"] == pytest.approx(0.0, abs=1e-9)
    assert fits["t1_lazy"]["slope"] == pytest.approx(-1.0, abs=1e-9)
    assert fits["t1_level_feature"] == pytest.approx(3.0)
    summary = summary_of(root)
    assert "kernel change (whole test set) vs alpha*sqrt(h), feature regime (alpha*sqrt(h) <= 0.1): slope" in summary
    assert "lazy regime (alpha*sqrt(h) >= 100)" in summary and "article: about -4/3" in summary
    fluct = result["article"]["fluctuations_vs_h"]["numbers"][label]
    assert set(fluct["delta_F"]) == set(ASH) and fluct["median_slope"] == pytest.approx(-0.5, abs=0.05)
    for fit in fluct["delta_F"].values():
        np.testing.assert_allclose(fit["h_var"], 250 / 1000, rtol=0.35)


def test_compared_families_differences(compared_report):
    _, result, _ = compared_report
    values = {"depth": ("model.depth=3", "model.depth=9"), "alphaf": ("model.centered=True", "model.centered=False"),
              "bias": ("model.use_bias=False, model.beta=0.0", "model.use_bias=True, model.beta=0.1"),
              "gradient_flow_vs_adam": ("dynamics.kind=gradient_flow", "dynamics.kind=adam")}
    for name, (reference, other) in values.items():
        (panel,) = result["article"][name]["numbers"].values()
        assert {label for label, _ in panel["best"]} == {reference, other}, name
        differences = panel["differences"]
        assert set(differences) == {(other, w, regime) for w in SMALL["widths"] for regime in ("feature", "lazy")}
        for d in differences.values():
            assert d["difference"] == pytest.approx(GAPS[name], abs=1e-12) and d["ci"][0] < GAPS[name] < d["ci"][1]


def test_var_vs_p_slope(protocol_report):
    _, result, _ = protocol_report
    (panel,) = result["article"]["var_vs_p"]["numbers"].values()
    assert set(panel) == {(100, x) for x in (1e3, 1e4)}
    for (w, x), fit in panel.items():
        assert fit["P"] == [250, 1000, 10_000]
        assert fit["ci"][0] < -1.0 < fit["ci"][1] and fit["slope"] == pytest.approx(-1.0, abs=0.1), (w, x, fit)
        np.testing.assert_allclose(fit["var"], [250 / (w * p) for p in fit["P"]], rtol=0.35)


def test_var_vs_p_errors_in_order_of_p(tmp_path, monkeypatch):
    """The test-error-vs-P curve joins the families in order of P, whatever order the panel has (the
    default P = 1000 first, then 2000 before 250 and 500 as text): no zigzag back to small P."""
    sizes = (1000, 2000, 250, 500)
    for size in sizes:
        fabricate(tmp_path / f"p{size}", kernels=False, data__n_train=size, widths=(100,), ash_values=(1e3,))
    curves = {}
    save = report.figures.save

    def recording_save(fig, out, name):
        curves[name] = {ax.get_title(): [c.lines[0].get_xdata() for c in ax.containers] for ax in fig.axes}
        return save(fig, out, name)

    monkeypatch.setattr(report.figures, "save", recording_save)
    make_article_report(tmp_path, ["var_vs_p"])
    (curve,) = curves["var_vs_p"]["test error vs P"]
    assert list(curve) == sorted(sizes)


def test_compared_families_come_default_first_then_in_order_of_value():
    """Numbers in numeric order (250 before 2000, not as text), other values after them by text."""
    def member(**config):
        return types.SimpleNamespace(family=types.SimpleNamespace(config=config))

    sizes = [member(**{"data.n_train": p}) for p in (2000, 1000, 500, 250)]
    (panel,), left_out = article_common.compared_groups(sizes, ("data.n_train",))
    assert [m.family.config["data.n_train"] for m in panel] == [1000, 250, 500, 2000] and not left_out
    kinds = [member(**{"model.activation": a}) for a in ("relu", "softplus", "abs")]
    (panel,), _ = article_common.compared_groups(kinds, ("model.activation",))
    assert [m.family.config["model.activation"] for m in panel] == ["softplus", "abs", "relu"]


def test_needs_notes_when_nothing_can_be_drawn(tmp_path, monkeypatch):
    """One family, one width, one seed, one alpha*sqrt(h), no kernels: no article figure can be drawn;
    each says why in one line, and nothing is written for it."""
    monkeypatch.setattr(report.figures, "FIGURES", [])
    fabricate(tmp_path, widths=(16,), ash_values=(1.0,), seeds=(0,), kernels=False)
    write_sweep_json(tmp_path, article.ARTICLE_FIGURES)
    result = report.make_report(str(tmp_path), n_boot=200)
    expected = {
        "test_error_vs_h": "skipped, needs a family with >= 2 widths h (each family here has one: h = 16).",
        "test_error_vs_alpha": "skipped, needs a family with >= 2 values of alpha*sqrt(h).",
        "fluctuations_vs_h": "skipped, needs a family with >= 2 seeds at the same (alpha, h) for >= 2 widths "
                             "(at most 1 seed(s) per point and 1 width(s) here).",
        "time_dynamics": "skipped, no run has kernel drift or t1 (config.kernels.track was off and no run reached "
                         "alpha^2 L < 1/2).",
        "depth": "skipped, needs >= 2 families that differ in model.depth (depths); this workdir has 1 family, all "
                 "with model.depth=3.",
        "var_vs_p": "skipped, needs >= 2 families equal but for data.n_train (P here: 1000).",
        "feature_vs_lazy": "skipped, needs test errors at alpha*sqrt(h) <= 0.1 and >= 100 at the same width "
                           "(alpha*sqrt(h) here: 1 ... 1); extend the sweep or move --feature_max / --lazy_min.",
    }
    for name, item in result["article"].items():
        assert item["files"] == [] and len(item["notes"]) == 1, name
        assert not os.path.exists(tmp_path / "report" / f"{name}.png")
        if name in expected:
            assert item["notes"] == [expected[name]]
    summary = summary_of(str(tmp_path))
    for name, item in result["article"].items():
        assert f"`{name}`: not drawn." in summary and f"- {item['notes'][0]}" in summary
    assert f"note: article depth: {expected['depth']}" in report.describe(result)


def test_unconverged_runs_are_kept_out_of_the_article_figures_unless_asked(tmp_path):
    """A max_steps and a stalled run (a net that never trained: 23.7% and 30% test error) at the feature
    end of h = 16, and a whole point (h = 100 at the lazy end) that hit max_steps, are not points of
    the curves: the ends and the feature-lazy difference are those of the converged seeds;
    `include_unconverged` brings them back."""
    ash_values = SMALL["ash_values"]
    fabricate(tmp_path, widths=SMALL["widths"], ash_values=ash_values, kernels=False)
    for seed, (status, fields) in zip((2, 3), UNCONVERGED.items()):
        stop_early(tmp_path, f"width=16,alpha_sqrt_h=0.001,seed={seed}", status, **fields)
    for seed in SEEDS:
        stop_early(tmp_path, f"width=100,alpha_sqrt_h=10000,seed={seed}", "max_steps")
    names = ["test_error_vs_alpha", "feature_vs_lazy"]
    _, result, _ = make_article_report(tmp_path, names)
    (label,) = [f["label"] for f in result["families"]]
    ends = result["article"]["test_error_vs_alpha"]["numbers"][label]
    converged_mean = np.mean([error_law(16, 1e-3, seed) for seed in (0, 1)])
    assert ends[16]["feature_end"] == pytest.approx((1e-3, converged_mean))
    assert ends[100]["lazy_end"] == pytest.approx((1e3, error_law(100, 1e3, 0) - OFFSETS[0]))
    cells = result["article"]["feature_vs_lazy"]["numbers"][label]
    assert cells[16]["feature"]["n"] == 2 and cells[16]["feature"]["mean"] == pytest.approx(converged_mean)
    assert cells[100]["lazy"]["alpha_sqrt_h"] == 1e3
    summary = summary_of(str(tmp_path))
    assert "6 runs did not converge" in summary  # 2 at h = 16, 4 at h = 100
    assert "| `runs/width=16,alpha_sqrt_h=0.001,seed=3` | stalled | 4321 | 0.0500 | 0.3000 |" in summary

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(report.figures, "FIGURES", [])
        result = report.make_report(str(tmp_path), n_boot=400, include_unconverged=True)
    ends = result["article"]["test_error_vs_alpha"]["numbers"][label]
    all_seeds = np.mean([error_law(16, 1e-3, seed) for seed in (0, 1)] + [0.237, 0.3])
    assert ends[16]["feature_end"] == pytest.approx((1e-3, all_seeds))
    assert ends[100]["lazy_end"][0] == 1e4
    assert result["article"]["feature_vs_lazy"]["numbers"][label][16]["feature"]["n"] == 4


def test_no_run_left_to_draw(tmp_path, monkeypatch):
    """When every run stopped before converging, runs.csv and summary.md list them and each article
    figure says why it is not drawn, in one line."""
    monkeypatch.setattr(report.figures, "FIGURES", [])
    fabricate(tmp_path, widths=(16,), ash_values=(1e-2, 1e3), seeds=(0,), kernels=False)
    for ash in ("0.01", "1000"):
        stop_early(tmp_path, f"width=16,alpha_sqrt_h={ash},seed=0", "max_wall_time")
    write_sweep_json(tmp_path, ["test_error_vs_alpha", "fluctuations_vs_h", "feature_vs_lazy"])
    result = report.make_report(str(tmp_path), n_boot=200)
    assert len(result["rows"]) == 2 and result["families"] == []
    for item in result["article"].values():
        assert item["files"] == [] and item["notes"] == [article.NO_RUNS]
    summary = summary_of(str(tmp_path))
    assert "2 runs did not converge" in summary and "No run is left to draw" in summary
    assert sum(line.startswith("not converged (status max_wall_time") for line in report.describe(result)) == 2


def test_without_sweep_json_no_article_figure_unless_asked(tmp_path, monkeypatch):
    monkeypatch.setattr(report.figures, "FIGURES", [])
    monkeypatch.setattr(report.figures, "FIGURE_FORMATS", ("png",))
    fabricate(tmp_path, widths=(16, 100), ash_values=(1e-2, 1e3), seeds=(0, 1), kernels=False)
    result = report.make_report(str(tmp_path), n_boot=200)
    assert result["article"] == {} and "Article figures" not in summary_of(str(tmp_path))
    result = report.make_report(str(tmp_path), n_boot=200, article_figures=["feature_vs_lazy", "test_error_vs_h"])
    assert list(result["article"]) == ["feature_vs_lazy", "test_error_vs_h"]
    assert all(item["files"] for item in result["article"].values())
    (label,) = [f["label"] for f in result["families"]]
    assert result["article"]["test_error_vs_h"]["notes"] == [  # drawn without the frozen-Theta_0 curve
        f"{label}: no run has init_kernel_test_error (config.kernels.predictors was off), so there is no "
        "frozen-Theta_0 curve."]
    write_sweep_json(tmp_path, ["nope"])
    with pytest.raises(report.ReportError, match=r"sweep.json declares an unknown article figure 'nope'; the known "
                                                 r"ones are test_error_vs_h, test_error_vs_alpha, "):
        report.make_report(str(tmp_path), n_boot=200)


def run_report(workdir, *flags):
    return subprocess.run([sys.executable, "-m", "launch.report", f"--workdir={workdir}", "--n_boot=200", *flags],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False)


def test_launcher_figures_flag(tmp_path):
    """`--figures` draws those article figures whatever sweep.json says; an unknown name is one line
    on stderr, exit 2, and nothing is written."""
    small = {"widths": (16,), "ash_values": (1e-2, 1e3), "seeds": (0, 1), "kernels": False}
    fabricate(tmp_path / "a", **small)
    fabricate(tmp_path / "b", gap=GAPS["depth"], model__depth=9, **small)
    write_sweep_json(tmp_path, ["test_error_vs_alpha"])
    bad = run_report(tmp_path, "--figures=depth,nope")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "error: --figures=depth,nope: unknown article figure 'nope'; the known ones are "
        + ", ".join(article.ARTICLE_FIGURES)]
    assert not os.path.exists(tmp_path / "report")
    ok = run_report(tmp_path, "--figures=depth,var_vs_p")
    assert ok.returncode == 0, ok.stderr
    out = tmp_path / "report"
    assert os.path.getsize(out / "depth.png") > 5000 and os.path.getsize(out / "depth.pdf") > 5000
    assert not os.path.exists(out / "test_error_vs_alpha.png") and not os.path.exists(out / "var_vs_p.png")
    assert "2 article figures" not in ok.stdout and ", 1 article figures (depth) (PNG + PDF)" in ok.stdout
    assert ("note: article var_vs_p: skipped, needs >= 2 families equal but for data.n_train (P here: 1000)."
            in ok.stdout)
    assert "### Article, other (d): L = 3 vs L = 9" in summary_of(str(tmp_path))
    assert os.path.exists(out / "family-1" / "test_error_collapse.png")  # the generic figures are drawn too


def test_load_figures_refuses_an_unknown_name(tmp_path):
    path = tmp_path / "sweep_config.py"
    path.write_text("FIGURES = ('depth', 'test_error_vs_h')\n")
    assert sweep.load_figures(str(path)) == ("depth", "test_error_vs_h")
    path.write_text("FIGURES = ('depth', 'test_error_vs_hh')\n")
    with pytest.raises(sweep.SweepError) as error:
        sweep.load_figures(str(path))
    message = str(error.value)
    assert message == (f"--config={str(path)!r}: FIGURES names an unknown article figure 'test_error_vs_hh'; the "
                       f"known ones are {', '.join(article.ARTICLE_FIGURES)}")
    assert "\n" not in message
    code = "import sys, lazyfeat_tf.sweep.grid as g; g.load_figures(sys.argv[1]); " \
           "assert not {'tensorflow', 'matplotlib'} & set(sys.modules)"
    path.write_text("FIGURES = ('depth',)\n")
    subprocess.run([sys.executable, "-c", code, str(path)], cwd=REPO_ROOT, check=True, timeout=60)
