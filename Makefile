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

.PHONY: demo test test-fast test-unit lint setup system-deps up down clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Bytecode is written as modules are first imported, by whatever process imports
# them first; every later server, worker and child process reads it. Compiling
# the whole environment at install instead (uv sync --compile-bytecode) takes
# 19 s on two cores for 32,000 files, of which a whole `make test` imports
# about 8,000. A machine that sets PYTHONDONTWRITEBYTECODE would have every
# process compile every module it imports, so these targets let Python write it.
export PYTHONDONTWRITEBYTECODE :=

.venv/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python 3.11
	@touch $@

setup: .venv/.synced  ## Install uv and the project's locked environment.

demo: setup  ## Run the retail demo: 26 simulated weeks through the real flows.
	$(UV) run --frozen --no-sync mlops demo

# The browser smoke test drives Debian's chromium; install it when it is missing
# and we may (root with apt-get). PostgreSQL is found or installed by `mlops up`.
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser test"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null; \
	  else \
	    echo "chromium is missing (sudo apt-get install chromium): the browser test will fail"; \
	  fi; }

# Test processes: two, one per core of a small machine. A module's tests stay on
# one worker (its module-scoped fixtures are built once, its later tests build on
# its earlier ones), the two modules that start real servers share one, so do
# the two that copy a data root `mlops bootstrap` trained, and the
# longest modules start first (tests/conftest.py: pytest_xdist_make_scheduler).
# `make test TEST_WORKERS=0` runs everything in one process.
TEST_WORKERS ?= 2

test: setup system-deps  ## Run every test tier (unit, integration, flows, end to end).
	$(UV) run --frozen --no-sync pytest -n $(TEST_WORKERS)

# For the edit-test loop: the pure core and the quick integration tests (not marked slow).
test-fast: setup  ## Unit tests and the quick integration tests.
	$(UV) run --frozen --no-sync pytest -n $(TEST_WORKERS) tests/unit tests/integration \
	  -m "unit or (integration and not slow)"

up: setup  ## Start the local production stack (PostgreSQL, Prefect, MLflow, worker).
	$(UV) run --frozen --no-sync mlops up

down: setup  ## Stop it.
	$(UV) run --frozen --no-sync mlops down

test-unit: setup
	$(UV) run --frozen --no-sync pytest -m unit

lint: setup
	$(UV) run --frozen --no-sync ruff check mlops_core tasks flows tests bench

clean:
	rm -rf .mlops .mlops-demo .pytest_cache
