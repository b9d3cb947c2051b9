"""The article configs on tensorflow-datasets (configs/article/{mnist,emnist,cifar10}.py): every point
of every scale resolves, and the reduced scale's first point trains end to end on a tiny override
with the tfds source mocked (`tfds.testing.mock_data`: these datasets cannot be downloaded here)."""

import math
import os

import pytest

from conftest import REPO_ROOT, read_json, set_field
from lazyfeat_tf import config as config_lib
from lazyfeat_tf.config import scales
from lazyfeat_tf.sweep import grid

FILES = {name: os.path.join(REPO_ROOT, "configs", "article", f"{name}.py") for name in ("mnist", "emnist", "cifar10")}
DATASETS = {"mnist": "mnist", "emnist": "emnist_letters", "cifar10": "cifar10"}
FIGURE_NAMES = ("test_error_vs_h", "test_error_vs_alpha", "fluctuations_vs_h", "time_dynamics", "alphaf", "bias",
                "depth", "gradient_flow_vs_adam", "var_vs_p", "feature_vs_lazy")
TINY = {"model.width": 8, "data.n_train": 48, "data.n_test": 32, "dynamics.max_steps": 30,
        "dynamics.num_records": 5, "kernels.n_probe_train": 16, "kernels.n_probe_test": 16,
        "kernels.heatmap_size": 4, "kernels.n_eigenvalues": 3}
"""The tiny override of a point: width 8, P = 48, 32 test points, 30 steps (Adam's batch of 32 fits)."""


def config_file(name, scale=None):
    return FILES[name] + (f":{scale}" if scale else "")


def points(name, scale):
    """[(overrides, full config)] of the file's sweep at `scale`."""
    base = grid.call_config_function(config_file(name, scale), "get_config")
    return [(point, grid.apply_overrides(base, point)) for point in grid.load_sweep(config_file(name, scale))]


@pytest.mark.parametrize("name", FILES)
def test_every_point_of_every_scale_resolves(name):
    module = grid.load_config_module(FILES[name])
    assert module.SCALES == scales.SCALES
    sizes = {}
    for scale in module.SCALES:
        found = points(name, scale)
        specs = [config_lib.resolve(config) for _, config in found]
        assert {(s.data.source, s.data.name, s.data.path) for s in specs} == {("tfds", DATASETS[name], "")}
        assert len({(s.seed, s.width, s.alpha_sqrt_h, s.dynamics.kind) for s in specs}) == len(specs)
        sizes[scale] = specs, sorted({point["alpha_sqrt_h"] for point, _ in found})
    (reduced, reduced_ash), (article, ash) = sizes["reduced"], sizes["article"]
    assert {(s.data.n_train, s.data.n_test, s.dtype) for s in reduced} == {(1000, 5000, "float32")}
    assert {(s.data.n_train, s.data.n_test, s.dtype) for s in article} == {(10_000, 50_000, "float64")}
    assert reduced_ash == [10.0**k for k in range(-3, 4)]
    assert len(ash) == 23 and ash[0] == 1e-4 and ash[-1] == 1e7  # half decades
    widths, seeds = {s.width for s in article}, {s.seed for s in article}
    assert (widths, len(seeds)) == {"mnist": ({100, 300, 1000}, 20), "emnist": ({100}, 10),
                                    "cifar10": ({100}, 10)}[name]
    assert len(article) == len(widths) * 23 * len(seeds) * (2 if name == "cifar10" else 1)
    with pytest.raises(config_lib.ConfigError, match="config scale 'protocol' is not one of :reduced, :article"):
        grid.call_config_function(config_file(name, "protocol"), "get_config")


@pytest.mark.parametrize("name", FILES)
def test_figures_and_docstring(name):
    module = grid.load_config_module(FILES[name])
    figures = grid.load_figures(FILES[name])
    assert figures == (("test_error_vs_alpha", "gradient_flow_vs_adam") if name == "cifar10"
                       else ("test_error_vs_alpha",))
    assert set(figures) <= set(FIGURE_NAMES)
    doc = " ".join(module.__doc__.split())
    for part in (f"python -m launch.sweep --config=configs/article/{name}.py --workdir=",
                 f"python -m launch.sweep --config=configs/article/{name}.py:article --workdir=",
                 "python -m launch.report --workdir=", "--config.data.path=", "cannot run offline", "Colab"):
        assert part in doc, part


def test_cifar10_compares_gradient_flow_with_adam():
    """Adam: minibatches of 32, learning rate 1e-3, hinge loss, no frozen-kernel predictors (their
    gradient flow crawls on the hinge); the gradient flow: setup A's soft hinge, with the predictors."""
    for scale in scales.SCALES:
        specs = [config_lib.resolve(config) for _, config in points("cifar10", scale)]
        kinds = {(s.dynamics.kind, s.loss.name, s.kernels.predictors) for s in specs}
        assert kinds == {("gradient_flow", "soft_hinge", True), ("adam", "hinge", False)}
        adam = [s for s in specs if s.dynamics.kind == "adam"]
        assert {(s.dynamics.batch_size, s.dynamics.learning_rate) for s in adam} == {(32, 1e-3)}
        assert len(adam) == len(specs) // 2


@pytest.fixture
def tfds_mock():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=1000):
        yield tfds


def first_points(name):
    """The reduced scale's first point (for cifar10 the first of each dynamics)."""
    found = {}
    for point, config in points(name, "reduced"):
        found.setdefault(point.get("dynamics.kind", "gradient_flow"), (point, config))
    return list(found.values())


@pytest.mark.parametrize("name, kind", [("mnist", "gradient_flow"), ("emnist", "gradient_flow"),
                                        ("cifar10", "gradient_flow"), ("cifar10", "adam")])
def test_the_first_reduced_point_trains_on_mocked_tfds(tfds_mock, tmp_path, name, kind):
    from lazyfeat_tf import train

    (point, config), = [(p, c) for p, c in first_points(name) if c.dynamics.kind == kind]
    for key, value in TINY.items():
        set_field(config, key, value, separator=".")
    workdir = str(tmp_path / grid.run_name(point))
    results = train.train_and_evaluate(config, workdir)
    on_disk = read_json(os.path.join(workdir, "results.json"))
    assert on_disk == results
    assert math.isfinite(results["test_error"]) and 0.0 <= results["test_error"] <= 1.0
    assert results["steps"] > 0
    assert ("init_kernel_test_error" in results) is (kind == "gradient_flow")
    if kind == "gradient_flow":
        assert math.isfinite(results["init_kernel_test_error"])
    written = read_json(os.path.join(workdir, "config.json"))
    assert (written["data"]["name"], written["data"]["source"], written["dynamics"]["kind"]) == (
        DATASETS[name], "tfds", kind)
