"""A one-batch ``mlops monitor`` with its local server started early, and as Prefect starts it.

    OMP_NUM_THREADS=1 uv run python bench/command_start.py            # 3 runs of each
    OMP_NUM_THREADS=1 uv run python bench/command_start.py --runs 5

A data root is bootstrapped once by ``mlops bootstrap`` on the shipped retail
use case (the simulator's history, seed 7, embedded defaults: Prefect's local
server, MLflow in the data root). Each run copies it, with its Prefect home,
lands the first live week and its labels, and times the installed command
``mlops monitor`` from start to exit. The runs alternate between the command as
shipped (its local server started before its own imports,
``flows.local.start_local_server_early``) and the same command with that start
left to Prefect (when the first flow needs the server), so a busy host slows
both alike.

Printed: each run's time, each way's median and their ratio, with the
host-speed line first and last.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "bench")]

MLOPS = Path(sys.executable).parent / "mlops"
#: The command with its local server's start left to Prefect.
LATE_START = (
    "import sys; import flows.local as local; "
    "local.start_local_server_early = lambda: False; "
    "from flows.cli import main; sys.argv[0] = 'mlops'; main()"
)


def _env(prefect_home: Path) -> dict[str, str]:
    """The embedded defaults: no Prefect API, no MLflow server, none of our settings."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_", "MLOPS_"))
    }
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PREFECT_HOME=str(prefect_home))
    # Bytecode as `make` lets Python write it: every run reads the same .pyc.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _bootstrap(base: Path) -> tuple[Path, object]:
    from usecase_variant import land_weeks, write_shipped_variant

    from mlops_core.simulator import RetailDemandSimulator, SimulatorConfig
    from tasks import storage

    sim = RetailDemandSimulator(SimulatorConfig(seed=7))
    root = base / "home"
    usecase = write_shipped_variant(root)
    paths = storage.UseCasePaths.for_usecase(storage.load_usecase_file(usecase), root)
    land_weeks(sim, paths, range(sim.config.initial_periods))
    subprocess.run(
        [str(MLOPS), "bootstrap", str(usecase), "--home", str(root)],
        env=_env(base / "prefect"),
        check=True,
        capture_output=True,
    )
    return root, sim


def _run_once(base: Path, root: Path, sim: object, run: str, early: bool) -> float:
    from usecase_variant import land_weeks

    from tasks import storage

    work = base / run
    shutil.copytree(root, work / "home")
    shutil.copytree(base / "prefect", work / "prefect")
    usecase = work / "home" / "retail_demand.yaml"
    paths = storage.UseCasePaths.for_usecase(storage.load_usecase_file(usecase), work / "home")
    first = sim.config.initial_periods  # type: ignore[attr-defined]
    land_weeks(sim, paths, range(first, first + 1))
    command = [str(MLOPS)] if early else [sys.executable, "-c", LATE_START]
    started = time.perf_counter()
    done = subprocess.run(
        [*command, "monitor", str(usecase), "--home", str(work / "home")],
        env=_env(work / "prefect"),
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0 or '"done"' not in done.stdout:
        raise SystemExit(f"{run} failed: {done.stderr[-2000:]}")
    return seconds


def main() -> None:
    """Bootstrap once, then time the runs both ways, alternating."""
    from scale import host_speed_seconds

    def host_speed_line() -> str:
        return f"host speed: {host_speed_seconds():.2f} s (fixed one-core workload)"

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="Runs of each way.")
    args = parser.parse_args()
    print(host_speed_line())
    times: dict[bool, list[float]] = {True: [], False: []}
    with tempfile.TemporaryDirectory(prefix="bench-command-start-") as tmp:
        base = Path(tmp)
        root, sim = _bootstrap(base)
        for i in range(args.runs):
            for early in (False, True):
                way = "early" if early else "late"
                seconds = _run_once(base, root, sim, f"{way}-{i}", early)
                times[early].append(seconds)
                print(f"run {i + 1} {way:>5}: {seconds:6.1f} s")
    late, early = statistics.median(times[False]), statistics.median(times[True])
    print(
        f"median: server started by Prefect {late:.1f} s, started early {early:.1f} s "
        f"(ratio {early / late:.2f})"
    )
    print(host_speed_line())


if __name__ == "__main__":
    main()
