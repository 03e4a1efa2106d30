# The two commands a fresh machine needs: `make demo` and `make test`.
# Both create .venv and install the project into it when missing or stale.
# `make lint` runs ruff (checks and format) and mypy, configured in pyproject.toml.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SOURCES := worker.py core api contracts db activities workflows integrations client cli stack sandbox bench migrations telemetry

.PHONY: install demo test lint up down clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# Byte-compile our sources as a regular pip install would: the workflow sandbox
	# re-imports each workflow module for every run, compiling it again when there is
	# no .pyc (as under PYTHONDONTWRITEBYTECODE).
	$(BIN)/python -m compileall -q -j 0 $(SOURCES)
	touch $@

demo: install
	$(BIN)/intake demo

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

up: install
	$(BIN)/intake up

down: install
	$(BIN)/intake down

clean:
	rm -rf $(VENV) .intake .pytest_cache
