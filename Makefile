# Every target creates and reuses .venv; nothing relies on what was installed by hand.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --disable-pip-version-check -q -c constraints.txt

.PHONY: demo test bench bench-stream lint system-deps mypy-cache clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q --upgrade pip

# Stamps re-run an install only when the project's requirements change.
# The demo trains a model (torch, CPU build pinned by constraints.txt, comes with the train extra),
# starts a hub (hub extra) and a device running video with capture (stream extra: OpenCV, PyYAML).
$(VENV)/.core: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) -e '.[train,hub,stream]'
	@touch $@

$(VENV)/.dev: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) -e '.[dev]'
	@touch $@ $(VENV)/.core

# Third-party clients the server is tested against, in their own environment:
# inference-sdk pulls opencv-python, which must not sit beside opencv-python-headless.
CLIENTS := .venv-clients
$(CLIENTS)/.installed: requirements-clients.txt
	$(PYTHON) -m venv $(CLIENTS)
	$(CLIENTS)/bin/python -m pip install --disable-pip-version-check -q -c constraints.txt -r requirements-clients.txt
	@touch $@

# The source frameworks and independent implementations the importers are checked against
# (TensorFlow + tf2onnx, OpenCV 4's Darknet and Caffe readers), beside edgeloop[tensorflow]:
# about 1.8 GB and 2 minutes (requirements-refs.txt).
REFS := .venv-refs
$(REFS)/.installed: requirements-refs.txt pyproject.toml constraints.txt
	$(PYTHON) -m venv $(REFS)
	$(REFS)/bin/python -m pip install --disable-pip-version-check -q -c constraints.txt -r requirements-refs.txt -e '.[tensorflow]'
	@touch $@

# Label Studio (the labelling round trip of tests/hub/test_labelstudio_live.py), in its own
# environment: about 1 GB and 2 minutes, and its pins are not ours. The first test run migrates
# a template data folder inside it (edgeloop-template/, 45-55 s) that later runs start from.
LABELSTUDIO := .venv-labelstudio
$(LABELSTUDIO)/.installed: requirements-labelstudio.txt
	$(PYTHON) -m venv $(LABELSTUDIO)
	$(LABELSTUDIO)/bin/python -m pip install --disable-pip-version-check -q -r requirements-labelstudio.txt
	@touch $@

# Its first start migrates an empty data folder (45-55 s); done here, beside the other installs.
$(LABELSTUDIO)/.prepared: $(LABELSTUDIO)/.installed $(VENV)/.dev
	$(BIN)/python -m edgeloop.testing.labelstudio prepare
	@touch $@

# 5.5-7.5 minutes on 2 cores: the first round, then the field round (docs/demo.md).
demo: $(VENV)/.core
	$(BIN)/edgeloop demo --out demo-output

system-deps:
	@scripts/system-deps.sh

# pytest-xdist workers: one per CI core (`make test WORKERS=0` runs serially).
WORKERS ?= 2

# mypy's first, cold run takes 80-90 s of one core; run beside the other environments' installs,
# it fills .mypy_cache, and tests/test_lint.py::test_mypy (the check that fails) then takes 2-5 s.
# Its exit status is the test's business, not this step's.
mypy-cache: $(VENV)/.dev
	-@$(BIN)/mypy > /dev/null 2>&1

# The environments and system packages are independent: install them side by side.
test:
	@$(MAKE) --no-print-directory -j4 $(VENV)/.dev $(CLIENTS)/.installed $(REFS)/.installed $(LABELSTUDIO)/.prepared system-deps mypy-cache
	$(BIN)/python -m pytest -n $(WORKERS)

bench: $(VENV)/.dev
	$(BIN)/python benchmarks/runtime_overhead.py
	$(BIN)/python benchmarks/serve_load.py

bench-stream: $(VENV)/.dev
	$(BIN)/python benchmarks/stream_throughput.py

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) $(CLIENTS) $(LABELSTUDIO) demo-output .pytest_cache .mypy_cache .ruff_cache
