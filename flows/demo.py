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
from typing import Any

from prefect import flow
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from flows.cycle import bootstrap, monitor
from flows.local import without_heartbeats
from mlops_core.simulator import RetailDemandSimulator, SimulatorConfig
from tasks import storage
from tasks.notify import publish_table

SHIPPED_USECASE = Path(__file__).resolve().parent.parent / "usecases" / "retail_demand.yaml"
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


def _write(frame: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)


@flow(name="demo", flow_run_name="demo seed={seed}")
def demo(
    data_root: str,
    seed: int = 7,
    live_periods: int = 26,
    usecase_path: str = str(SHIPPED_USECASE),
    show_progress: bool = False,
) -> list[dict[str, Any]]:
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
        _write(sim.batch(p), paths.landing / f"period_{p:03d}.csv")
        _write(sim.labels(p), paths.labels / f"labels_{p:03d}.csv")

    first_live = sim.config.initial_periods
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True, width=max(Console(stderr=True).width, 150)),
    )
    rows: list[dict[str, Any]] = []
    # Subflows: the demo run's own heartbeat (if any) covers the process.
    with progress if show_progress else nullcontext(), without_heartbeats():
        bar = progress.add_task("bootstrap", total=live_periods + 1)
        rows.append(bootstrap(usecase_path, data_root=str(root)))
        _report(progress, bar, rows[-1], show_progress)
        for p in range(first_live, sim.total_periods):
            name = f"period_{p:03d}.csv"
            _write(sim.batch(p), paths.landing / name)
            for q in sim.labels_arriving_at(p):
                if q >= first_live:
                    _write(sim.labels(q), paths.labels / f"labels_{q:03d}.csv")
            rows.append(monitor(usecase_path, name, data_root=str(root)))
            _report(progress, bar, rows[-1], show_progress)

    publish_table(
        usecase.name,
        "demo",
        [_table_row(r) for r in rows],
        f"Demo run, seed {seed}: one row per period",
    )
    return rows


def _report(progress: Progress, bar: Any, row: dict[str, Any], show: bool) -> None:
    progress.advance(bar)
    if show:
        promo = f", {row['promotion']}" if row.get("promotion") else ""
        progress.update(
            bar,
            description=f"week {row.get('period')}: {row.get('decision')} "
            f"({row.get('reason')}{promo})".ljust(48),
        )


def _fmt(x: Any) -> str:
    return "  -  " if x is None else f"{x:5.2f}"


def results_table(rows: list[dict[str, Any]], metric: str = "mae") -> Table:
    """The per-period table printed at the end of the demo."""
    table = Table(title="mlops demo: one row per period", show_lines=False)
    for col in (
        "period",
        "validation",
        "drift share",
        f"realized {metric.upper()}",
        "decision",
        "reason",
        "promotion",
        "champion",
        "guardrail actions",
    ):
        table.add_column(col)
    for r in rows:
        t = _table_row(r)
        table.add_row(
            str(t["period"]),
            str(t["validation"]),
            _fmt(t["drift_share"]),
            _fmt(t["realized"]),
            str(t["decision"]),
            str(t["reason"]),
            str(t["promotion"] or ""),
            f"v{t['champion']}",
            t["guardrails"],
        )
    return table


def _table_row(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "period": r.get("period"),
        "validation": r.get("validation"),
        "drift_share": r.get("drift_share"),
        "realized": r.get("realized"),
        "decision": r.get("decision"),
        "reason": r.get("reason"),
        "promotion": r.get("promotion"),
        "champion": r.get("champion_version"),
        "guardrails": ", ".join(
            f"{k}={v}" for k, v in sorted((r.get("guardrail_actions") or {}).items())
        ),
    }
