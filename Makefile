# Two commands a new user needs: `make demo` and `make test`.
# Both bootstrap everything from a plain Python 3.11 + make: a private copy of
# uv in .tools/, the project venv from uv.lock, then run.

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
export OMP_NUM_THREADS ?= 1
export OPENBLAS_NUM_THREADS ?= 1
export UV_PYTHON_PREFERENCE ?= only-system

.PHONY: demo test test-unit lint setup clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python 3.11
	@touch $@

setup: .venv/.synced  ## Install uv and the project's locked environment.

demo: setup  ## Run the retail demo: 26 simulated weeks through the real flows.
	$(UV) run --frozen --no-sync mlops demo

test: setup  ## Run every test tier (unit, integration, flows, end to end).
	$(UV) run --frozen --no-sync pytest

test-unit: setup
	$(UV) run --frozen --no-sync pytest -m unit

lint: setup
	$(UV) run --frozen --no-sync ruff check mlops_core tasks flows tests

clean:
	rm -rf .mlops .mlops-demo .pytest_cache
