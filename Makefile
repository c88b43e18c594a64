# Two entry points for a fresh machine (see README):
#   make lab    set up and open the quickstart notebook in JupyterLab
#   make test   set up everything (Python, npm, Chromium) and run the whole test suite
#               (TensorFlow, then the backend suite on JAX and PyTorch)
# Everything lives in ./.venv and js/node_modules; nothing is installed globally except
# Debian's chromium package (for the real-browser tests).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
MARKS ?=
WORKSHOP := workshop

BACKENDS := jax torch

.PHONY: setup lab test test-python test-backends test-js test-notebooks test-browser bench grid clean

setup: $(STAMP)

$(STAMP): pyproject.toml js/package.json js/package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	cd js && npm ci --no-audit --no-fund && npm run build
	# PyTorch's CPU wheel by its exact version first: the [torch] extra's bare range would make pip
	# fetch a CUDA build of several GB; with 2.13.0 in place the extra adds nothing.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[cpu,jax,torch,test]'
	touch $(STAMP)

# The notebooks open as working copies in workshop/ (git-ignored): what a user runs and saves
# there never touches the committed notebooks/ (kept without outputs, which the tests check),
# and a copy someone already edited is never overwritten. allow_root: containers and cloud
# VMs often run as root, where Jupyter refuses to start without it (it changes nothing otherwise).
lab: setup
	mkdir -p $(WORKSHOP)
	for nb in notebooks/*.ipynb; do [ -e $(WORKSHOP)/$$(basename $$nb) ] || cp $$nb $(WORKSHOP)/; done
	$(BIN)/jupyter lab --ServerApp.allow_root=True $(WORKSHOP)/01_quickstart.ipynb

test: setup
	bash tools/ensure_browser.sh
	$(MAKE) test-js test-python test-backends test-notebooks

test-js: setup
	cd js && npm run build && npm test

# Channels-first convolutions need oneDNN on AMD CPUs, where TensorFlow turns it off: those tests
# run in a second process with it on (tests/conftest.py marks them); the rest run with
# TensorFlow's defaults for the machine, as a user's code does.
# MARKS narrows both runs, e.g. make test-python MARKS="not browser" (status 5: nothing selected).
test-python: setup
	$(BIN)/python -m pytest tests -p no:cacheprovider -m "not channels_first $(if $(MARKS),and ($(MARKS)))" $(PYTEST_ARGS) || [ $$? -eq 5 ]
	TF_ENABLE_ONEDNN_OPTS=1 $(BIN)/python -m pytest tests -p no:cacheprovider -m "channels_first $(if $(MARKS),and ($(MARKS)))" $(PYTEST_ARGS) || [ $$? -eq 5 ]

# The backend suite (tests/backends) once per other Keras backend, each in its own process: Keras
# reads KERAS_BACKEND once, at import. TensorFlow runs the suite in test-python's passes. Both
# backends run even when the first fails; the status says whether either did.
test-backends: setup
	status=0; for backend in $(BACKENDS); do \
	  KERAS_BACKEND=$$backend $(BIN)/python -m pytest tests/backends -p no:cacheprovider $(PYTEST_ARGS) || status=1; \
	done; exit $$status

test-notebooks: setup
	$(BIN)/python -m pytest --nbval-lax --nbval-current-env notebooks/ -p no:cacheprovider --durations=0

bench: setup
	bash bench/run.sh

grid: setup
	$(BIN)/python -m actmax_widgets --filters 0-15 --out grid.png

clean:
	rm -rf $(VENV) js/node_modules actmax_widgets/static test-artifacts
	@echo "(your notebook copies in $(WORKSHOP)/ are kept)"
