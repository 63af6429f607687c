"""Shared test set-up: thread limits, trusted-model policy, paths to real data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Set before any test imports scikit-learn: histogram models oversubscribe the
# cores badly when the suite runs beside other work.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

REPO = Path(__file__).resolve().parent.parent
SHIPPED_USECASES = REPO / "usecases"


def shared_data_dir() -> Path:
    """The real datasets beside the repository (``../shared/data``)."""
    return REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """Folder of the real datasets; tests that need it fail loudly if it is absent."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.fail(f"real datasets not found at {path}")
    return path
