# Two commands do all the set-up: `make demo` and `make test`.
# `make demo` runs the whole loop on the simulated wafer: sweep, train, program, validate.
VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.labctl-installed

.PHONY: setup demo test lint typecheck pytest bench screenshots clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/labctl reproduce --sim --out out/demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy

pytest: setup
	QT_QPA_PLATFORM=offscreen $(BIN)/pytest -q

test: lint typecheck pytest

# Renders the main window on a real X server (Debian's xvfb) with a finished simulated wafer.
screenshots: setup
	xvfb-run -a -s "-screen 0 1920x1200x24" $(BIN)/python tools/screenshots.py

bench: setup
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
