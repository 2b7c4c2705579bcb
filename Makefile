# Two commands set mlwright up on a fresh machine:
#   make demo   create .venv, install mlwright, run the main job on the bundled churn example
#   make test   create or update .venv with the test extras, then lint, type-check and test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# Test processes (pytest-xdist); a test file stays in one process, its fixtures shared.
TEST_WORKERS ?= 2

.PHONY: demo test lint typecheck unit bench docs clean help

help:
	@echo "make demo   - install into $(VENV) and run the bundled churn example end to end"
	@echo "make test   - install test extras into $(VENV); ruff, mypy and the test suite"
	@echo "make bench  - the benchmark harness (slow; writes docs/benchmarks.md)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "mlwright needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/mlwright check examples/churn/spec.toml
	$(BIN)/mlwright run examples/churn/spec.toml
	$(BIN)/mlwright predict models:/churn@champion examples/churn/churn.csv -o predictions/churn.csv

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/ruff format --check src tests benchmarks tools

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

unit: $(VENV)/.installed-test
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test: lint typecheck unit

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/tabular.py --bundled --repeats 3 --update-docs
	$(BIN)/python benchmarks/tabular.py --budget 60 --systems mlwright-lgbm,lightgbm --update-docs

docs: $(VENV)/.installed
	$(BIN)/python tools/docs.py

clean:
	rm -rf $(VENV) models predictions mlflow.db mlruns .pytest_cache .mypy_cache .ruff_cache
