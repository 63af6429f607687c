"""The demo: a simulated retail business run through the real flows.

The simulator writes each week's batch into landing and the labels that arrive
that week (``label_delay`` weeks late) into the labels folder; the bootstrap
flow trains the first champion, then one ``monitor`` cycle runs per week. The
simulator's ground truth (when prices inflate, when the promotion effect
changes, which batch is corrupt) is written beside the results so a reader
can check what the product noticed.
"""

from __future__ import annotations

import shutil
from contextlib import nullcontext
from pathlib import Path

from prefect import flow

from flows.cycle import bootstrap, monitor
from flows.cycle_table import advance, cycle_progress, table_row
from flows.local import without_heartbeats
from mlops_core.records import CycleResult
from mlops_core.simulator import RetailDemandSimulator, SimulatorConfig
from tasks import storage
from tasks.notify import publish_table


def _shipped_usecases() -> Path:
    """The folder of the use-case files the project ships.

    A wheel carries them as package data beside this module (pyproject's
    ``force-include``), so ``pip install`` gives a working ``mlops demo``; a
    checkout (and its editable install) keeps them at the project's root.
    """
    packaged = Path(__file__).resolve().parent / "usecases"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "usecases"


SHIPPED_USECASES = _shipped_usecases()
SHIPPED_USECASE = SHIPPED_USECASES / "retail_demand.yaml"
DEMO_MARKER = ".mlops-demo"


def prepare_demo_root(root: Path) -> Path:
    """Empty a demo data root, refusing any non-empty folder the demo did not create.

    Raises:
        FileExistsError: ``root`` holds files but no demo marker.
    """
    root = root.expanduser().resolve()
    if root.exists() and any(root.iterdir()):
        if not (root / DEMO_MARKER).exists():
            raise FileExistsError(f"{root} is not empty and was not created by the demo")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / DEMO_MARKER).write_text("created by mlops demo; safe to delete\n", encoding="utf-8")
    return root


@flow(name="demo", flow_run_name="demo seed={seed}")
def demo(
    data_root: str,
    seed: int = 7,
    live_periods: int = 26,
    usecase_path: str = str(SHIPPED_USECASE),
    show_progress: bool = False,
) -> list[CycleResult]:
    """Simulate ``live_periods`` weeks of a retail business through the product.

    Args:
        data_root: Empty (or earlier demo) folder that receives everything.
        seed: Simulator seed; the same seed gives the same story.
        live_periods: Weeks run through ``monitor`` after the bootstrap window.
        usecase_path: The use-case file (the shipped retail demand one by default).
        show_progress: Draw a progress bar and print each period's row as it ends.

    Returns:
        One row per period: validation, drift, realized metric, decision, champion.
    """
    root = prepare_demo_root(Path(data_root))
    sim = RetailDemandSimulator(SimulatorConfig(seed=seed, live_periods=live_periods))
    usecase = storage.load_usecase_file(usecase_path)
    paths = storage.UseCasePaths.for_usecase(usecase, root)
    storage.write_json(root / "ground_truth.json", sim.ground_truth())

    for p in range(sim.config.initial_periods):
        storage.write_csv(sim.batch(p), paths.landing / f"period_{p:03d}.csv")
        storage.write_csv(sim.labels(p), paths.labels / f"labels_{p:03d}.csv")

    first_live = sim.config.initial_periods
    progress = cycle_progress()
    rows: list[CycleResult] = []
    # Subflows: the demo run's own heartbeat (if any) covers the process.
    with progress if show_progress else nullcontext(), without_heartbeats():
        bar = progress.add_task("bootstrap", total=live_periods + 1)
        rows.append(bootstrap(usecase_path, data_root=str(root)))
        advance(progress, bar, rows[-1], show_progress)
        for p in range(first_live, sim.total_periods):
            name = f"period_{p:03d}.csv"
            storage.write_csv(sim.batch(p), paths.landing / name)
            for q in sim.labels_arriving_at(p):
                if q >= first_live:
                    storage.write_csv(sim.labels(q), paths.labels / f"labels_{q:03d}.csv")
            rows.append(monitor(usecase_path, name, data_root=str(root)))
            advance(progress, bar, rows[-1], show_progress)

    publish_table(
        usecase.name,
        "demo",
        [table_row(r) for r in rows],
        f"Demo run, seed {seed}: one row per period",
    )
    return rows
