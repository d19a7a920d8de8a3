# Two commands set everything up on a machine with only python3 and make:
#   make demo   runs examples/hello.yaml
#   make test   lint, type-check, the whole suite with coverage, and examples/testing
#   make docs   the API reference in build/api
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python

.PHONY: demo test lint fmt bench docs clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: setup.cfg pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e . --config-settings editable_mode=compat
	touch $@

$(VENV)/.installed-dev: setup.cfg pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]' --config-settings editable_mode=compat
	touch $(VENV)/.installed $@

demo: $(VENV)/.installed
	$(BIN)/actors-wf run examples/hello.yaml --input name=World --input times=3

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check actors_wf tests perf examples docs
	$(BIN)/ruff format --check actors_wf tests perf examples docs
	$(BIN)/mypy
	# A user's code outside the tree finds the package and its py.typed (the editable install).
	cd /tmp && $(CURDIR)/$(BIN)/mypy --strict --cache-dir $(CURDIR)/.mypy_cache $(CURDIR)/examples/hello.py

fmt: $(VENV)/.installed-dev
	$(BIN)/ruff format actors_wf tests perf examples docs
	$(BIN)/ruff check --fix actors_wf tests perf examples docs

test: lint
	$(PY) -m pytest --cov --cov-report=term
	cd examples/testing && ../../$(PY) -m pytest -q  # the test kit as a user's project uses it

bench: $(VENV)/.installed
	$(PY) -m perf

# The API reference, from the public docstrings, into build/api/index.html
docs: $(VENV)/.installed-dev
	$(PY) -W error -m pdoc -d google actors_wf actors_wf.testing -o build/api

clean:
	rm -rf $(VENV) .coverage htmlcov .pytest_cache .mypy_cache .ruff_cache .hypothesis
