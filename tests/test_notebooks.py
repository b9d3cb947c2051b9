"""The Colab notebooks (colab/*.ipynb): committed without outputs, built as the package expects
(a first cell that checks TensorFlow's version and the accelerator, a guarded install cell that
leaves the runtime's TensorFlow alone, accelerator detection, a "parameters" cell), and executed top to bottom with
nbclient on tiny parameters, offline (LAZYFEAT_NOTEBOOK_SMALL=1: Debian's Fashion-MNIST IDX files,
or the synthetic task without them). A cell that raises fails the test.

Needs nbclient, nbformat and ipykernel (the dev extra); the kernel "python3" must be this
interpreter (jupyter_client starts the "python" of ipykernel's kernel spec as `sys.executable`).
"""

import glob
import importlib.util
import json
import os
import sys

import pytest

from conftest import REPO_ROOT

NOTEBOOKS = sorted(glob.glob(os.path.join(REPO_ROOT, "colab", "*.ipynb")))
NAMES = [os.path.basename(path) for path in NOTEBOOKS]
CELL_TIMEOUT = 600


def _strip_script():
    spec = importlib.util.spec_from_file_location("strip_notebooks", os.path.join(REPO_ROOT, "scripts",
                                                                                  "strip_notebooks.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _source(cell):
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def test_the_three_notebooks_exist():
    assert NAMES == ["kernel_drift.ipynb", "quickstart.ipynb", "sweep.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_committed_notebook_has_no_outputs(path):
    strip = _strip_script()
    problems = strip.problems(_load(path))
    assert not problems, f"{path} is not stripped ({problems[:3]}): run python scripts/strip_notebooks.py"
    with open(path, encoding="utf-8") as f:
        assert f.read() == strip.dumps(_load(path)), f"{path}: run python scripts/strip_notebooks.py"


def _setup_cfg_tensorflow_requirement():
    with open(os.path.join(REPO_ROOT, "setup.cfg"), encoding="utf-8") as f:
        (line,) = [line.strip() for line in f if line.strip().startswith("tensorflow>=")]
    return line


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_notebook_opens_with_check_install_accelerator_and_parameter_cells(path):
    notebook = _load(path)
    name = os.path.basename(path)
    cells = notebook["cells"]
    assert cells[0]["cell_type"] == "markdown"
    assert f"https://colab.research.google.com/github/OWNER/lazyfeat_tf/blob/main/colab/{name}" in _source(cells[0])
    code = [cell for cell in cells if cell["cell_type"] == "code"]
    check, install, accelerator, parameters = (_source(cell) for cell in code[:4])
    assert 'IN_COLAB = "google.colab" in sys.modules' in check
    assert f'REQUIREMENT = "{_setup_cfg_tensorflow_requirement()}"' in check  # the range of setup.cfg
    assert "print((\"OK: \" if FITS else \"STOP: \") + ADVICE)" in check
    # The repository is one variable; the package is installed without its dependencies, then the
    # dependencies the runtime lacks, TensorFlow excepted.
    assert sum("LAZYFEAT_REPO = " in _source(cell) for cell in code) == 1
    assert 'if IN_COLAB:' in install and '%pip install -q --no-deps "lazyfeat_tf @ git+{LAZYFEAT_REPO}"' in install
    assert '!= "tensorflow"' in install
    assert "accelerators.environment_report(" in accelerator
    assert code[3]["metadata"].get("tags") == ["parameters"]
    assert 'os.environ.get("LAZYFEAT_NOTEBOOK_SMALL") == "1"' in parameters
    assert 'DATA_SOURCE = "tfds" if IN_COLAB else "idx"' in parameters
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"


def test_the_three_notebooks_share_their_set_up_cells():
    sources = [[_source(cell) for cell in _load(path)["cells"][1:5]] for path in NOTEBOOKS]
    assert sources[0] == sources[1] == sources[2]


@pytest.mark.parametrize("runtime,fits,advice", [
    ((None, None), False, "No TensorFlow here: install it first (pip install 'tensorflow>=2.16,<2.22')"),
    (("tensorflow", "2.15.1"), False, "tensorflow 2.15.1 is older than 2.16 (Keras 3): choose a newer runtime"),
    (("tensorflow", "2.16.2"), True, "tensorflow 2.16.2 on "),
    (("tensorflow", "2.21.0"), True, "tensorflow 2.21.0 on "),
    (("tensorflow", "2.22.0"), False, "tensorflow 2.22.0 is newer than 2.21, the newest version tested"),
    (("tensorflow", "2.20.0", True, False), False, "This machine has a TPU but tensorflow 2.20.0 is not a TPU build"),
    (("tensorflow-tpu", "2.20.0", True, True), True, "tensorflow-tpu 2.20.0 on a TPU: supported"),
])
def test_check_cell_says_what_to_do(runtime, fits, advice):
    namespace = {}
    exec(_source([cell for cell in _load(NOTEBOOKS[0])["cells"] if cell["cell_type"] == "code"][0]), namespace)
    got_fits, got_advice = namespace["check_runtime"](*runtime)
    assert got_fits is fits and got_advice.startswith(advice), got_advice


def _execute(path, workdir):
    try:
        import nbclient
        import nbformat
    except ImportError as error:  # a missing test dependency is a failure, not a skip
        pytest.fail(f"{error}: pip install nbclient nbformat ipykernel (the dev extra)")
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("import sys\nprint('KERNEL_PYTHON', sys.executable)"))
    client = nbclient.NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(workdir)}})
    client.execute()
    return notebook


def _outputs(notebook):
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            yield output


def _text(notebook):
    return "".join(output.get("text", "") for output in _outputs(notebook) if output["output_type"] == "stream")


def _images(notebook):
    return sum("image/png" in output.get("data", {}) for output in _outputs(notebook))


@pytest.fixture
def small(tmp_path, monkeypatch):
    """Tiny, offline notebook runs writing under tmp_path."""
    monkeypatch.setenv("LAZYFEAT_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("LAZYFEAT_NOTEBOOK_WORKDIR", str(tmp_path / "runs"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    return tmp_path


def _check_kernel(notebook):
    line = [line for line in _text(notebook).splitlines() if line.startswith("KERNEL_PYTHON ")][-1]
    kernel_python = line.split(" ", 1)[1]
    assert os.path.realpath(kernel_python) == os.path.realpath(sys.executable), (
        f"the notebook kernel ran {kernel_python}, not this interpreter {sys.executable}")


def test_quickstart_runs(small):
    notebook = _execute(os.path.join(REPO_ROOT, "colab", "quickstart.ipynb"), small)
    _check_kernel(notebook)
    text = _text(notebook)
    assert "distribute='auto' -> default strategy" in text
    assert "alpha*sqrt(h)" in text and "test err" in text  # the comparison table
    assert "feature  alpha*sqrt(h) = 0.01" in text and "lazy     alpha*sqrt(h) = 100" in text
    assert _images(notebook) >= 1
    for value in ("0.01", "100"):
        assert os.path.exists(small / "runs" / "quickstart" / f"alpha_sqrt_h={value}" / "results.json")


def test_kernel_drift_runs(small):
    notebook = _execute(os.path.join(REPO_ROOT, "colab", "kernel_drift.ipynb"), small)
    _check_kernel(notebook)
    assert "TensorBoard not started here" in _text(notebook)  # never launched in tests
    assert _images(notebook) >= 2  # drift vs t, spectra
    assert os.path.exists(small / "runs" / "kernel_drift" / "alpha_sqrt_h=0.01" / "kernels.npz")


def test_sweep_runs(small):
    notebook = _execute(os.path.join(REPO_ROOT, "colab", "sweep.ipynb"), small)
    _check_kernel(notebook)
    text = _text(notebook)
    assert "sweep done" in text and "8 trained" in text and "0 failed" in text
    assert os.path.exists(small / "runs" / "sweep" / "report" / "summary.md")
    assert _images(notebook) >= 3  # the report's figures
