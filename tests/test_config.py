"""Tests of lazyfeat_tf.config: a TensorFlow-free leaf, one schema, one resolution into a RunSpec."""

import dataclasses
import json
import math
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, tiny_config
from lazyfeat_tf import config as config_lib


def test_loading_a_config_file_does_not_import_tensorflow():
    script = ("import runpy, sys\n"
              "config = runpy.run_path('configs/fc_softplus.py')['get_config']()\n"
              "config.alpha_sqrt_h = 1.0\n"
              "import lazyfeat_tf.config as c\n"
              "spec = c.resolve(config)\n"
              "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, sorted(sys.modules)\n"
              "print(spec.alpha_sqrt_h, spec.width)\n")
    process = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True,
                             timeout=120)
    assert process.returncode == 0, process.stderr
    assert process.stdout.split() == ["1.0", "64"]


def test_base_config_is_the_spec_defaults():
    config = config_lib.base_config()
    assert config.alpha is None and config.alpha_sqrt_h is None
    config.alpha_sqrt_h = 2.0
    resolved = config_lib.resolve(config).to_json()
    expected = config.to_dict()
    expected.pop("distribute")
    expected["alpha"] = 2.0 / 8.0  # h = 64
    assert resolved == json.loads(json.dumps(expected))  # as config.json holds it (tuples are lists)
    assert isinstance(config.dynamics.max_dout, float) and isinstance(config.model.width, int)


@pytest.mark.parametrize("given, alpha, alpha_sqrt_h", [
    (dict(alpha_sqrt_h=2.0, model__width=16), 0.5, 2.0),
    (dict(alpha=0.3, model__width=16), 0.3, 1.2),
])
def test_resolve_fills_in_both_scales(given, alpha, alpha_sqrt_h):
    spec = config_lib.resolve(tiny_config(**given))
    assert spec.alpha == pytest.approx(alpha) and spec.alpha_sqrt_h == pytest.approx(alpha_sqrt_h)
    assert spec.alpha_sqrt_h == spec.alpha * math.sqrt(spec.width)  # the same floats as config.json had
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.alpha = 1.0


def test_resolve_accepts_the_json_of_a_run():
    spec = config_lib.resolve(tiny_config(alpha_sqrt_h=0.01))
    again = config_lib.resolve({**spec.to_json(), "alpha": None})
    assert again == spec


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c.update(colour=1), "config.colour: no such field; the fields are alpha, "),
    (lambda c: c["model"].update(widht=8), "config.model.widht: no such field; the fields are activation, "),
    (lambda c: c.update(model=3), "config.model=3: must be a block of fields"),
])
def test_unknown_fields_are_one_line(mutate, message):
    tree = tiny_config().to_dict()  # a config given as a nested dict (e.g. a run's config.json)
    mutate(tree)
    with pytest.raises(config_lib.ConfigError) as error:
        config_lib.resolve(tree)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_set_scale_clears_the_other_scale():
    config = tiny_config(alpha=0.2)
    config_lib.set_scale(config, "alpha_sqrt_h", 3.0)
    assert (config.alpha, config.alpha_sqrt_h) == (None, 3.0)
    assert config_lib.resolve(config).alpha_sqrt_h == pytest.approx(3.0)


def test_specs_check_their_fields_when_made_directly():
    with pytest.raises(config_lib.ConfigError, match=r"config.model.width=0: must be a positive integer"):
        config_lib.ModelSpec(width=0)
    with pytest.raises(config_lib.ConfigError, match=r"config.kernels.method='fast': must be one of auto"):
        config_lib.KernelsSpec(method="fast")
    with pytest.raises(config_lib.ConfigError, match=r"config.dynamics.cross_kinks='yes': must be True or False"):
        config_lib.DynamicsSpec(cross_kinks="yes")
    with pytest.raises(config_lib.DataError, match=r"data.pca=5 .* needs data.pca < data.n_train=5"):
        config_lib.DataSpec(name="synthetic", source="synthetic", n_train=5, pca=5, whiten=True)


def test_a_run_made_before_a_key_existed_is_the_same_run():
    """config.json of an older run lacks keys added since: they take today's defaults (what the run
    computed), so the run resumes and the report pools it with new runs of the same config."""
    identity = config_lib.resolve(tiny_config()).to_json()
    old = {**identity, "model": {k: v for k, v in identity["model"].items() if k != "centered"}}
    old["kernels"] = {k: v for k, v in identity["kernels"].items() if k not in ("full_drift", "running_fractions")}
    old["dynamics"] = {k: v for k, v in identity["dynamics"].items() if k != "cross_kinks"}
    assert old != identity and config_lib.completed(old) == identity
    assert identity["dynamics"]["cross_kinks"] is False  # what runs made before it computed
    changed = {**old, "seed": 3}
    assert config_lib.completed(changed)["seed"] == 3
    assert identity["model"]["centered"] is True


def test_a_workdir_of_an_older_run_is_accepted(tmp_path):
    from lazyfeat_tf import rundir

    identity = config_lib.resolve(tiny_config()).to_json()
    old = {**identity, "model": {k: v for k, v in identity["model"].items() if k != "centered"}}
    rundir.atomic_write_json(str(tmp_path / "config.json"), old)
    rundir.RunDir(str(tmp_path)).check_compatible(identity)  # the same run
    with pytest.raises(rundir.WorkdirError, match="holds a different run"):
        rundir.RunDir(str(tmp_path)).check_compatible({**identity, "seed": 1})
