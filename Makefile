# Set-up and entry points. `make demo` and `make test` each install what they need first.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
FASHION_MNIST := /usr/share/datasets/fashion-mnist

.PHONY: install install-data install-browser demo test compat benchmarks screenshot sweep-demo sweep-fc

install-data:
	@[ -d $(FASHION_MNIST) ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; }

install-browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

install: install-data
	$(PIP) install -q -e '.[dev]'

demo: install
	$(PYTHON) -m launch.demo --workdir=runs/demo

test: install install-browser
	$(PYTHON) -c "import importlib.metadata as m; print('versions: ' + ', '.join(f'{d} {m.version(d)}' for d in ('tensorflow', 'keras', 'tensorboard', 'numpy')))"
	$(PYTHON) -m pytest -q tests

# The wheel in a clean virtualenv, and the core tests on the oldest supported TensorFlow and on 2.20
# (noxfile.py; virtualenvs outside the repository). Needs the data of `make install-data`.
compat: install-data
	$(PIP) install -q nox
	$(PYTHON) -m nox

benchmarks: install
	$(PYTHON) benchmarks/train_step.py
	$(PYTHON) benchmarks/kernels.py
	$(PYTHON) benchmarks/tb_plugin_routes.py
	$(PYTHON) benchmarks/device_loop.py

screenshot: install install-browser
	$(PYTHON) scripts/tb_screenshot.py --logdir $${LOGDIR:-runs} --out kernel_drift.png

sweep-demo: install
	$(PYTHON) -m launch.sweep --config=configs/sweep_demo.py --workdir=runs/sweep_demo
	$(PYTHON) -m launch.report --workdir=runs/sweep_demo

sweep-fc: install
	$(PYTHON) -m launch.sweep --config=configs/sweep_fc.py --workdir=runs/sweep_fc
	$(PYTHON) -m launch.report --workdir=runs/sweep_fc
