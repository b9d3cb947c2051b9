"""CI on the edges of the supported range, each in its own virtualenv outside the repository.

    python -m pip install nox && python -m nox            # what .ci/run does after `make test`
    python -m nox -s "compat(tensorflow='2.20.0')"        # one session

Sessions (the newest supported versions are `make test`'s: the whole suite in the system Python):
- `wheel`: `python -m build` makes the wheel; a clean virtualenv installs it with what it pulls in
  (the newest TensorFlow of the range) and runs tests/install_smoke.py from a directory outside the
  repository: import, the TensorBoard plugin's entry point, a short training through the Python API.
- `compat(tensorflow=...)`: a virtualenv holding that TensorFlow (the oldest supported one, and 2.20,
  the version of the TPU build `tensorflow-tpu`) installs the wheel and must leave TensorFlow as it
  was; then the install smoke and the core tests (layers, dynamics, kernels, train, launch). On 2.20
  `python -m launch.train` trains the demo config with that virtualenv's package (from a copy of
  launch/ and configs/) and must converge (it needs Debian's Fashion-MNIST: `make install-data`,
  which `make demo` runs).

The virtualenvs live in $LAZYFEAT_NOX_ENVDIR (default: a folder under the system's temp directory),
never in the repository.
"""

import glob
import json
import os
import shutil
import tempfile

import nox

REPO_ROOT = os.path.dirname(os.path.abspath(__file__))
ENVDIR = os.environ.get("LAZYFEAT_NOX_ENVDIR", os.path.join(tempfile.gettempdir(), "lazyfeat_tf-nox"))
DIST = os.path.join(ENVDIR, "dist")
OLDEST, TPU_BUILD = "2.16.2", "2.20.0"  # the edges that CI tests besides the newest (README, "Supported versions")
CORE_TESTS = ["tests/test_layers.py", "tests/test_dynamics.py", "tests/test_kernels.py", "tests/test_train.py",
              "tests/test_launch.py"]
TEST_TOOLS = ["pytest>=8", "pytest-timeout>=2.3", "scipy>=1.11"]  # what the core tests import besides the package
# TensorFlow < 2.18 needs protobuf < 5, and tensorflow-metadata >= 1.17 (which tensorflow-datasets pulls in)
# needs protobuf >= 5.26 without saying so: the README tells users of those versions to add this.
PROTOBUF4_FIX = "tensorflow-metadata<1.17"

nox.options.envdir = ENVDIR
nox.options.sessions = ["wheel", "compat"]
nox.options.error_on_missing_interpreters = True


def build_wheel(session):
    """The wheel of this checkout (`python -m build`), built once per nox run into DIST."""
    wheels = glob.glob(os.path.join(DIST, "lazyfeat_tf-*.whl"))
    if not getattr(build_wheel, "done", False) or not wheels:
        for old in wheels:
            os.remove(old)
        session.install("build")
        shutil.rmtree(os.path.join(REPO_ROOT, "build"), ignore_errors=True)  # setuptools would reuse stale files
        session.run("python", "-m", "build", "--wheel", "--outdir", DIST, REPO_ROOT)
        build_wheel.done = True
        wheels = glob.glob(os.path.join(DIST, "lazyfeat_tf-*.whl"))
    (wheel,) = wheels
    return wheel


def installed_version(session, distribution):
    script = f"import importlib.metadata as m; print(m.version({distribution!r}))"
    return session.run("python", "-c", script, silent=True).strip().splitlines()[-1]


def versions(session):
    script = ("import importlib.metadata as m; print('versions: ' + ', '.join(f'{d} {m.version(d)}' "
              "for d in ('tensorflow', 'keras', 'tensorboard', 'numpy')))")
    session.run("python", "-c", script)


def install_smoke(session):
    """tests/install_smoke.py from a directory outside the repository."""
    with tempfile.TemporaryDirectory() as outside:
        with session.chdir(outside):
            session.run("python", os.path.join(REPO_ROOT, "tests", "install_smoke.py"),
                        env={"TF_CPP_MIN_LOG_LEVEL": "3"})


@nox.session
def wheel(session):
    """The wheel in a clean virtualenv: what `pip install lazyfeat_tf` gives a user."""
    path = build_wheel(session)
    session.install(path)
    versions(session)
    install_smoke(session)


@nox.session
@nox.parametrize("tensorflow", [OLDEST, TPU_BUILD])
def compat(session, tensorflow):
    """Core tests on one TensorFlow of the range, which installing the package must leave in place."""
    path = build_wheel(session)
    session.install(f"tensorflow=={tensorflow}")
    fixes = [PROTOBUF4_FIX] if tuple(map(int, tensorflow.split(".")[:2])) < (2, 18) else []
    session.install(path, *TEST_TOOLS, *fixes)
    after = installed_version(session, "tensorflow")
    if after != tensorflow:
        session.error(f"installing the wheel changed TensorFlow {tensorflow} into {after}")
    session.log(f"pip install of the wheel left tensorflow at {after}")
    versions(session)
    install_smoke(session)
    if tensorflow == TPU_BUILD:
        launch_train_converges(session)
    session.chdir(REPO_ROOT)
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *CORE_TESTS,
                env={"TF_CPP_MIN_LOG_LEVEL": "3"})
    session.log(f"core tests passed on TensorFlow {tensorflow}")


def launch_train_converges(session):
    """`python -m launch.train` on configs/demo.py (real Fashion-MNIST) with this virtualenv's package:
    run from a copy of the repository's launch/ and configs/, so that `lazyfeat_tf` is the wheel's."""
    here = tempfile.mkdtemp(prefix="launch_train_")
    for folder in ("launch", "configs"):
        shutil.copytree(os.path.join(REPO_ROOT, folder), os.path.join(here, folder))
    workdir = os.path.join(here, "runs", "demo")
    with session.chdir(here):
        session.run("python", "-m", "launch.train", "--config=configs/demo.py", f"--workdir={workdir}",
                    "--config.alpha_sqrt_h=100.0", env={"TF_CPP_MIN_LOG_LEVEL": "3"})
    with open(os.path.join(workdir, "results.json")) as f:
        results = json.load(f)
    if results["status"] != "converged":
        session.error(f"launch.train on the demo config: {results['status']} after {results['steps']} steps")
    session.log(f"launch.train on the demo config converged in {results['steps']} steps "
                f"(test error {results['test_error']:.4f}) with TensorFlow {installed_version(session, 'tensorflow')}")
