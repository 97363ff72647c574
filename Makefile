# Two entry points: `make book` and `make test`. Both create .venv (once) and install the lock.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: book test bench venv clean clean-cache lock-check

venv: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first (the CPU build, pinned), then everything else with torch constrained so pip never
# pulls a CUDA build, then this package in editable mode.
$(STAMP): requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	echo "torch==2.13.0" > $(VENV)/constraints.txt
	$(BIN)/pip install --quiet -c $(VENV)/constraints.txt -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e . || $(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check
	touch $(STAMP)

# Execute every notebook (cached in _build/.jupyter_cache) and build _build/html, warnings as errors.
book: $(STAMP)
	$(BIN)/python -m energy_nb book

test: $(STAMP)
	$(BIN)/python -m pytest

# Speed of the command line: cold processes, median of several runs, against the targets (a table).
bench: $(STAMP)
	$(BIN)/python benchmarks/cli_speed.py --runs 5

clean-cache:
	rm -rf _build/.jupyter_cache

clean:
	rm -rf _build
