"""Installing the package leaves a TensorFlow of the supported range in place (setup.cfg; README,
"Supported versions").

Here: pip's resolver, asked to install this checkout into the running environment (`--dry-run
--report`), must not plan to install any TensorFlow, TensorBoard or Keras: the ones installed
satisfy the package. CI checks the same for real on TensorFlow 2.16 and 2.20 (noxfile.py), where
the wheel is installed into virtualenvs that hold those versions.
"""

import importlib.metadata
import json
import os
import re
import subprocess
import sys

from conftest import REPO_ROOT


def _requirement(name):
    with open(os.path.join(REPO_ROOT, "setup.cfg"), encoding="utf-8") as f:
        (line,) = [line.strip() for line in f if re.match(rf"\s+{name}[<>=]", line)]
    return line


def test_supported_range_is_stated_in_the_readme():
    assert _requirement("tensorflow") == "tensorflow>=2.16,<2.22"
    assert _requirement("tensorboard") == "tensorboard>=2.16,<2.22"
    with open(os.path.join(REPO_ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert "| TensorFlow | 2.16 to 2.21 (`>=2.16,<2.22`) |" in readme
    assert "| TensorBoard | 2.16 to 2.21 |" in readme


def test_installing_the_package_keeps_the_installed_tensorflow(tmp_path):
    report = tmp_path / "report.json"
    process = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--report", str(report), REPO_ROOT],
        capture_output=True, text=True, timeout=600)
    assert process.returncode == 0, process.stderr[-3000:]
    planned = {item["metadata"]["name"].lower(): item["metadata"]["version"]
               for item in json.loads(report.read_text())["install"]}
    assert "lazyfeat-tf" in planned or "lazyfeat_tf" in planned, planned
    installed = importlib.metadata.version("tensorflow")
    for name in ("tensorflow", "tensorboard", "keras"):
        assert name not in planned, f"pip would change {name} (installed tensorflow {installed}) into {planned[name]}"
