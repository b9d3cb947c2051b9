"""What a user of the installed package (the wheel, not this repository) does, as a notebook does it.

    cd "$(mktemp -d)" && /path/to/venv/bin/python /path/to/repo/tests/install_smoke.py

Run from a directory outside the repository by CI (noxfile.py, sessions "wheel" and "compat") in a
virtualenv holding only the wheel and what it pulled in. It checks that `lazyfeat_tf` comes from
that virtualenv's site-packages, that the TensorBoard plugin's entry point loads, and that a short
training through the Python API (`config.setup_a_config()` shrunk, the synthetic task) converges.
Not collected by pytest (no `test_` prefix): it needs no test dependency.
"""

import importlib.metadata
import os
import sys
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import lazyfeat_tf
    import tensorflow as tf
    from lazyfeat_tf import config as config_lib
    from lazyfeat_tf import train

    where = os.path.realpath(lazyfeat_tf.__file__)
    assert not where.startswith(os.path.realpath(REPO_ROOT) + os.sep), f"imported from the repository: {where}"
    assert "site-packages" in where, where

    plugins = {entry.name: entry for entry in importlib.metadata.entry_points(group="tensorboard_plugins")}
    assert "kernel_drift" in plugins, sorted(plugins)
    plugin = plugins["kernel_drift"].load()
    assert plugin.__name__ == "KernelDriftPlugin", plugin

    config = config_lib.setup_a_config()
    config.alpha_sqrt_h = 1.0
    config.data.source = config.data.name = "synthetic"
    config.data.dim = 8
    config.data.n_train = config.data.n_test = 64
    config.model.width = 16
    config.dynamics.max_steps = 5000
    config.kernels.n_probe_train = config.kernels.n_probe_test = 16
    workdir = os.path.join(tempfile.mkdtemp(), "run")
    results = train.train_and_evaluate(config, workdir)
    assert results["status"] == "converged", results
    assert os.path.exists(os.path.join(workdir, "model.keras"))
    print(f"install smoke: lazyfeat_tf from {os.path.dirname(where)}; TensorFlow {tf.__version__}; "
          f"plugin {plugin.__name__}; {results['status']} in {results['steps']} steps, "
          f"train error {results['train_error']:.3f}, test error {results['test_error']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
