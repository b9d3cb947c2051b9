"""Bad input through the real entry points: every case is one line on stderr naming the value and a
fix, a non-zero exit, nothing written, and a finished run left untouched.

The cases run as users run them (`python -m launch.<name>` from the repository root), a few at once.
Most fail before TensorFlow is imported, in a fraction of a second. With UPDATE_BAD_INPUTS=1 the
test also writes the table of docs/BAD_INPUTS.md (input, exit status, message).
"""

import concurrent.futures
import gzip
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO_ROOT, snapshot, tiny_config
from lazyfeat_tf import config as config_lib
from lazyfeat_tf import rundir, train

TIMEOUT = 300
DOC = os.path.join(REPO_ROOT, "docs", "BAD_INPUTS.md")
TRAIN = ["--config=configs/demo.py", "--workdir=$W", "--config.alpha_sqrt_h=1.0"]
SWEEP = ["--config=$TMP/configs/sweep_ok.py", "--workdir=$W"]
TINY = ["--config=$TMP/configs/tiny.py"]

CASES = [  # (entry point, arguments; $TMP is the fixture folder, $W a workdir that must not appear)
    *[("train", TRAIN + [f"--config.{override}"]) for override in [
        "model.width=0", "model.width=-3", "model.width=abc", "model.width=10000000", "model.depth=0",
        "model.kind=rnn", "model.activation=tanh", "model.softplus_beta=0", "model.softplus_beta=-1.0",
        "model.beta=-0.5", "model.use_bias=maybe", "alpha_sqrt_h=-0.5", "alpha_sqrt_h=0", "alpha_sqrt_h=nan",
        "alpha=0.3", "seed=-1", "seed=1.5", "dtype=float16",
        "dtype=bfloat16", "distribute=npu", "distribute=gpu", "distribute=tpu", "data.name=imagenet", "data.source=web",
        "data.source=synthetic", "data.n_train=0", "data.n_train=-5", "data.n_test=0", "data.seed=-1",
        "data.pca=-1", "data.pca=785", "data.whiten=True", "data.path=/nonexistent/fashion",
        "data.path=$TMP/a_file", "data.path=$TMP/idx_empty", "data.path=$TMP/idx_truncated",
        "data.path=$TMP/idx_bad_magic", "data.n_train=1000000", "loss.name=logistic",
        "loss.soft_hinge_beta=0", "dynamics.kind=lbfgs", "dynamics.max_dout=0", "dynamics.max_dgrad=-1.0",
        "dynamics.dt0=0", "dynamics.learning_rate=0", "dynamics.max_time=0", "dynamics.tau=-1.0",
        "dynamics.max_wall_time=-1.0", "dynamics.momentum=1.0", "dynamics.momentum=-0.1",
        "dynamics.batch_size=0", "dynamics.max_steps=0", "dynamics.max_steps=abc", "dynamics.num_records=0",
        "checkpoint_every_secs=-1.0", "kernels.n_probe_train=0", "kernels.n_probe_test=-1",
        "kernels.n_eigenvalues=0", "kernels.heatmap_size=0", "kernels.method=fast", "model.widht=8",
        "dynamics.step_crossover=-1.0",
        "colour=1", "model=3",
    ]],
    *[("train", ["--config=configs/demo.py", "--workdir=$W", f"--config.alpha={value}"])
      for value in ("0.0", "-1.0", "nan", "inf")],
    ("train", ["--config=configs/demo.py", "--workdir=$W"]),
    ("train", TRAIN + ["--config.data.name=cifar10"]),
    ("train", TRAIN + ["--config.data.n_train=69500", "--config.kernels.predictors=False"]),
    ("train", TRAIN + ["--config.data.pca=100", "--config.data.n_train=100", "--config.data.whiten=True"]),
    ("train", TRAIN + ["--config.data.name=synthetic", "--config.data.source=synthetic", "--config.data.dim=0"]),
    ("train", TRAIN + ["--config.model.kind=cnn", "--config.data.name=synthetic", "--config.data.source=synthetic"]),
    ("train", TRAIN + ["--config.dynamics.kind=sgd", "--config.dynamics.batch_size=5000"]),
    ("train", TRAIN + ["--config.data.source=tfds", "--config.data.path=$TMP/tfds_offline"]),
    ("train", ["--config=configs/demo.py"]),
    ("train", ["--config=$TMP/configs/missing.py", "--workdir=$W"]),
    ("train", ["--config=$TMP/configs/syntax.py", "--workdir=$W"]),
    ("train", ["--config=$TMP/configs/raises.py", "--workdir=$W"]),
    ("train", ["--config=$TMP/configs/no_get_config.py", "--workdir=$W"]),
    ("train", TRAIN + ["stray"]),
    ("train", TRAIN + ["--nope=1"]),
    ("train", TRAIN + ["--config.dtype"]),
    ("train", ["--workdir=$W"]),
    *[("train", TINY + [f"--workdir={workdir}"]) for workdir in [
        "$TMP/a_file", "$TMP/a_file/run", "/proc/lazyfeat_run", "$TMP/not_a_run", "$TMP/corrupt_config",
        "$TMP/corrupt_checkpoint"]],
    *[("train", TINY + ["--workdir=$TMP/finished", f"--config.{override}"])
      for override in ("model.width=16", "seed=1", "dtype=float64")],
    *[("demo", ["--workdir=$W", flag]) for flag in (
        "--alpha_sqrt_h=a,b", "--alpha_sqrt_h=-1", "--config.model.width=0", "--config.data.n_train=0", "stray",
        "--config=$TMP/configs/missing.py")],
    ("demo", ["--workdir=$TMP/a_file"]),
    *[("sweep", SWEEP + [flag]) for flag in (
        "--workers=0", "--threads=0", "--max_retries=-1", "--executor=dask", "--ray_address=localhost:6379",
        "--workers=abc", "stray")],
    ("sweep", SWEEP[:1] + ["--workdir=$TMP/a_file"]),
    ("sweep", SWEEP[:1] + ["--workdir=$TMP/a_file/sweep"]),
    *[("sweep", [f"--config=$TMP/configs/{name}.py", "--workdir=$W"]) for name in [
        "no_sweep", "empty_sweep", "not_a_list_sweep", "unknown_key_sweep", "same_names_sweep",
        "bad_value_sweep", "missing", "syntax"]],
    ("sweep", SWEEP + ["--config.model.widht=8"]),
    ("train", ["--config=configs/article/test_error_vs_alpha.py:nonsense", "--workdir=$W"]),
    ("sweep", ["--config=configs/article/test_error_vs_alpha.py:nonsense", "--workdir=$W"]),
    ("sweep", ["--config=configs/sweep_demo.py:reduced", "--workdir=$W"]),
    ("report", ["--workdir=$TMP/finished", "--figures=test_error_vs_alpha,nope"]),
    ("report", ["--workdir=$TMP/nonexistent"]),
    ("report", ["--workdir=$TMP/a_file"]),
    ("report", ["--workdir=$TMP/empty"]),
    ("report", ["--workdir=$TMP/only_corrupt_runs"]),
    ("report", ["--workdir=$TMP/finished", "--lazy_min=0.01", "--feature_max=1.0"]),
    ("report", ["--workdir=$TMP/finished", "--n_boot=10"]),
    ("report", ["--workdir=$TMP/finished", "--out=$TMP/a_file"]),
    ("report", ["--workdir=$TMP/finished", "--out=$TMP/a_file/report"]),
    ("report", ["--workdir=$TMP/finished", "stray"]),
    ("report", []),
]

CONFIG_FILES = {
    "syntax.py": "def get_config(:\n",
    "raises.py": "def get_config():\n    raise RuntimeError('the config is broken')\n",
    "no_get_config.py": "CONFIG = 1\n",
}
SWEEPS = {  # tests/configs/tiny.py with these grids
    "sweep_ok.py": "[{'seed': 0}]",
    "empty_sweep.py": "[]",
    "not_a_list_sweep.py": "'seed'",
    "unknown_key_sweep.py": "[{'model.widht': 8}]",
    "same_names_sweep.py": "[{'alpha_sqrt_h': 1.00001}, {'alpha_sqrt_h': 1.00002}]",
    "bad_value_sweep.py": "[{'model.width': 'wide'}]",
}


def idx_bytes(array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    """The folder `$TMP` of the cases: config files, files and folders of every bad kind, and a
    finished run."""
    root = str(tmp_path_factory.mktemp("bad_inputs"))
    os.makedirs(os.path.join(root, "configs"))
    with open(os.path.join(REPO_ROOT, "tests", "configs", "tiny.py")) as f:
        tiny_text = f.read()
    files = {**CONFIG_FILES, "tiny.py": tiny_text, "no_sweep.py": tiny_text,
             **{name: f"{tiny_text}\n\ndef get_sweep():\n    return {grid}\n" for name, grid in SWEEPS.items()}}
    for name, text in files.items():
        with open(os.path.join(root, "configs", name), "w") as f:
            f.write(text)
    with open(os.path.join(root, "a_file"), "w") as f:
        f.write("not a directory\n")
    for name in ("idx_empty", "idx_truncated", "idx_bad_magic", "not_a_run", "corrupt_config",
                 "empty", "only_corrupt_runs/run", "corrupt_checkpoint"):
        os.makedirs(os.path.join(root, name))
    images, labels = idx_bytes(np.zeros((20, 28, 28))), idx_bytes(np.arange(20) % 10)
    for prefix in ("train", "t10k"):
        for kind, payload in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)):
            with open(os.path.join(root, "idx_truncated", f"{prefix}-{kind}.gz"), "wb") as f:
                f.write(gzip.compress(payload)[:40])
            with open(os.path.join(root, "idx_bad_magic", f"{prefix}-{kind}"), "wb") as f:
                f.write(b"PK\x03\x04" + payload[4:])
    with open(os.path.join(root, "not_a_run", "notes.txt"), "w") as f:
        f.write("mine\n")
    with open(os.path.join(root, "corrupt_config", "config.json"), "w") as f:
        f.write('{"alpha": ')
    for name, payload in (("config.json", "{}"), ("results.json", "[]")):
        with open(os.path.join(root, "only_corrupt_runs", "run", name), "w") as f:
            f.write(payload)
    tiny = tiny_config()
    rundir.atomic_write_json(os.path.join(root, "corrupt_checkpoint", "config.json"),
                             config_lib.resolve(tiny).to_json())
    with open(os.path.join(root, "corrupt_checkpoint", "checkpoint.npz"), "wb") as f:
        f.write(b"PK\x03\x04 not a zip")
    train.train_and_evaluate(tiny, os.path.join(root, "finished"))
    return root


def run_case(root, index, entry, args):
    workdir = os.path.join(root, f"w{index}")
    args = [a.replace("$TMP", root).replace("$W", workdir) for a in args]
    command = [sys.executable, "-m", f"launch.{entry}", *args]
    process = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=TIMEOUT,
                             env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return workdir, args, process


def test_bad_inputs_are_one_line_with_nothing_written(fixtures):
    root = fixtures
    before = snapshot(root)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda case: run_case(root, case[0], *case[1]), enumerate(CASES)))
    rows, failures = [], []
    for (entry, _), (workdir, args, process) in zip(CASES, outcomes):
        lines = process.stderr.splitlines()
        shown = " ".join(a.replace(workdir, "$W").replace(root, "$TMP") for a in args)
        ok = process.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: ") \
            and not os.path.exists(workdir) and "Downloading and preparing" not in process.stdout
        if not ok:
            failures.append(f"launch.{entry} {shown}: exit {process.returncode}, workdir "
                            f"{'written' if os.path.exists(workdir) else 'absent'}, stderr {lines[-3:]}")
        rows.append((f"launch.{entry} {shown}", process.returncode, lines[0] if lines else ""))
    assert not failures, "\n".join(failures)
    assert snapshot(root) == before  # nothing written or changed, the finished run included
    assert len({row[0] for row in rows}) == len(CASES) >= 100
    if os.environ.get("UPDATE_BAD_INPUTS"):
        write_table(rows, root)


def write_table(rows, root):
    """docs/BAD_INPUTS.md from the cases' outcomes (machine-specific numbers made generic)."""
    lines = ["# Bad input: what each entry point says", "",
             "Generated by `UPDATE_BAD_INPUTS=1 python -m pytest tests/test_bad_inputs.py`, which runs every",
             "case through the real entry point and checks: one line on stderr, exit status 2, nothing",
             "written, a finished run untouched. `$TMP` is the test's folder of bad files and of a finished",
             "run, `$W` a new workdir.", "",
             "| input | exit | message |", "| --- | --- | --- |"]
    for command, code, message in rows:
        message = message.replace(root, "$TMP").replace(REPO_ROOT, ".")
        message = re.sub(r"(\d+(\.\d+)?) GiB is available", "N GiB is available", message)
        cells = [f"`{command}`", str(code), message.replace("|", "\\|")]
        lines.append("| " + " | ".join(cells) + " |")
    with open(DOC, "w") as f:
        f.write("\n".join(lines) + "\n")
