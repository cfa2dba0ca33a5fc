# Two commands do all set-up on a fresh machine with Python 3.11+: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck bench soak clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/syncer demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check syncer tests

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/run.py

# The randomized fault, crash and bad-input suite at scale (not part of `make test`).
# `make soak SEED=N` replays one run; RUNS=N scales (default 100).
RUNS ?= 100
soak: $(STAMP)
	$(BIN)/python -m tests.soak --runs $(RUNS) $(if $(SEED),--seed $(SEED))

clean:
	rm -rf $(VENV) build *.egg-info
