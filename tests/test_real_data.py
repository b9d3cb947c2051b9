"""The core issue's headline check on real data: Fashion-MNIST parity, n_train = 1000, L = 3, h = 64.

Runs configs/demo.py (Debian's IDX files) at alpha*sqrt(h) = 0.01 (feature) and 100 (lazy), with
kernel tracking at its defaults; about 30 s.
"""

import importlib.util
import os

import pytest

from conftest import REPO_ROOT
from lazyfeat_tf import train

FASHION_MNIST = "/usr/share/datasets/fashion-mnist"

pytestmark = pytest.mark.skipif(not os.path.isdir(FASHION_MNIST),
                                reason=f"{FASHION_MNIST} missing: apt-get install dataset-fashion-mnist")


def demo_config(alpha_sqrt_h):
    spec = importlib.util.spec_from_file_location("demo", os.path.join(REPO_ROOT, "configs", "demo.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    config.alpha_sqrt_h = alpha_sqrt_h
    return config


def test_lazy_and_feature_runs_on_fashion_mnist(tmp_path):
    feature = train.train_and_evaluate(demo_config(0.01), str(tmp_path / "feature"))
    lazy = train.train_and_evaluate(demo_config(100.0), str(tmp_path / "lazy"))
    for results in (feature, lazy):
        assert results["converged"] and results["train_error"] == 0.0 and results["min_margin"] >= 1.0
        assert 0.0 < results["test_error"] < 0.15  # parity of Fashion-MNIST classes, 1000 points
        assert 0.0 < results["init_kernel_test_error"] < 0.15
    assert feature["relative_weight_change"] > 10 * lazy["relative_weight_change"]
    assert feature["kernel_drift_test"] > 100 * lazy["kernel_drift_test"]
    assert lazy["kernel_drift_test"] < 0.2
    assert 0 < feature["t1"] < lazy["t1"]
