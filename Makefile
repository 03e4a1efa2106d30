# The two commands a fresh machine needs: `make demo` and `make test`.
# Both create .venv and install the project into it when missing or stale.
# `make lint` runs ruff (checks and format) and mypy, configured in pyproject.toml.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SOURCES := worker.py core api contracts db activities workflows integrations client cli stack sandbox bench migrations telemetry

.PHONY: install browser demo test lint up down clean

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

test: install browser
	$(BIN)/python -m pytest

# The dashboard's browser tests drive the operating system's Chromium (Debian's package); install it
# only when it is missing (CI runs as root on a fresh Debian machine; elsewhere sudo is used if present).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "installing chromium for the dashboard's browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core; }

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
