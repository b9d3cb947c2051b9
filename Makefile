# Set-up and entry points. `make demo` and `make test` each install what they need first.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
FASHION_MNIST := /usr/share/datasets/fashion-mnist

.PHONY: install install-data install-browser demo test benchmarks screenshot

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
