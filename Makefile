# Set-up and entry points. `make demo` and `make test` each install what they need first.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
FASHION_MNIST := /usr/share/datasets/fashion-mnist

.PHONY: install install-data install-browser demo test benchmarks screenshot sweep-demo sweep-fc

install-data:
	@[ -d $(FASHION_MNIST) ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; }

install-browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

install: install-data
	$(PIP) install -q -e '.[dev]'

demo: install
	$(PYTHON) -m launch.demo --workdir=runs/demo

test: install install-browser
	$(PYTHON) -m pytest -q tests

benchmarks: install
	$(PYTHON) benchmarks/train_step.py
	$(PYTHON) benchmarks/kernels.py
	$(PYTHON) benchmarks/tb_plugin_routes.py

screenshot: install install-browser
	$(PYTHON) scripts/tb_screenshot.py --logdir $${LOGDIR:-runs} --out kernel_drift.png

sweep-demo: install
	$(PYTHON) -m launch.sweep --config=configs/sweep_demo.py --workdir=runs/sweep_demo
	$(PYTHON) -m launch.report --workdir=runs/sweep_demo

sweep-fc: install
	$(PYTHON) -m launch.sweep --config=configs/sweep_fc.py --workdir=runs/sweep_fc
	$(PYTHON) -m launch.report --workdir=runs/sweep_fc
