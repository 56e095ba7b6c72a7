# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/otel-llm-cost demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q -n 2  # both cores (pytest-xdist); each test is independent of the others

# ~2.5 minutes on 2 cores; writes docs/benchmarks.md. The views over 10M calls are opt-in (~3 more
# minutes): $(BIN)/python benchmarks/run.py --views-10m --docs docs/benchmarks.md
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py --docs docs/benchmarks.md

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
