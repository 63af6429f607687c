"""Running the installed ``mlops`` command on its embedded defaults, as a new user does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from usecase_variant import land_weeks, write_shipped_variant

from flows.demo import SHIPPED_USECASE
from mlops_core.simulator import RetailDemandSimulator, SimulatorConfig
from tasks import storage

#: The installed command (the console script beside this interpreter).
MLOPS = Path(sys.executable).parent / "mlops"

#: The use-case file a bootstrapped data root holds.
USECASE_FILE = SHIPPED_USECASE.name

#: The simulator whose history the bootstrapped data root holds.
SIM = RetailDemandSimulator(SimulatorConfig(seed=7))


def embedded_env(prefect_home: Path) -> dict[str, str]:
    """The environment without a Prefect API, an MLflow server or any setting of ours.

    Each command then starts Prefect's local server (its database in
    ``prefect_home``) and keeps MLflow in the data root.
    """
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_", "MLOPS_"))
    }
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PREFECT_HOME=str(prefect_home))
    return env


def prefect_home_of(root: Path) -> Path:
    """The Prefect home the command that bootstrapped ``root`` used (its database migrated)."""
    return root.parent / "prefect"


def bootstrap_with_the_command(base: Path) -> Path:
    """A data root bootstrapped by ``mlops bootstrap`` on the simulator's history.

    The root holds its use case, ``retail_demand.yaml``: the shipped one with a
    champion refreshed when older than 2 weeks (a retrain comes within a few
    live weeks) and no cycle report (no test of these commands reads one; the
    report is checked by tests/flows/test_cycle_report.py and the demo test).
    Tests work in copies of the root (a copied data root keeps working:
    tests/flows/test_data_root_move.py).

    Returns:
        The data root.
    """
    root = base / "home"
    usecase = write_shipped_variant(root, {"retrain": {"max_age_periods": 2}})
    paths = storage.UseCasePaths.for_usecase(storage.load_usecase_file(usecase), root)
    land_weeks(SIM, paths, range(SIM.config.initial_periods))
    boot = subprocess.run(
        [str(MLOPS), "bootstrap", str(usecase), "--home", str(root)],
        env=embedded_env(prefect_home_of(root)),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert boot.returncode == 0, boot.stderr[-3000:]
    return root
