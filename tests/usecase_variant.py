"""The shipped retail use case with some keys changed, and its simulator's weeks landed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from flows.demo import SHIPPED_USECASE


def write_shipped_variant(folder: Path, changes: dict[str, dict[str, Any]] | None = None) -> Path:
    """Write ``retail_demand.yaml`` into ``folder``: the shipped file, ``changes`` applied.

    The variant keeps the shipped name, folders and model. Its cycle reports are
    written without Evidently's part (seconds per cycle, no part of a decision;
    ``tests/flows/test_cycle_report.py`` checks it) unless ``changes`` sets "report".

    Args:
        folder: Where the file goes (created when missing).
        changes: Section -> keys to set, e.g. ``{"retrain": {"max_age_periods": 4}}``.

    Returns:
        The file written.
    """
    doc = yaml.safe_load(SHIPPED_USECASE.read_text(encoding="utf-8"))
    doc["report"] = {"evidently": False}
    for section, keys in (changes or {}).items():
        doc.setdefault(section, {}).update(keys)
    folder.mkdir(parents=True, exist_ok=True)
    usecase = folder / SHIPPED_USECASE.name
    usecase.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return usecase


def land_weeks(simulator: Any, paths: Any, periods: range) -> None:
    """Land the simulator's batches of ``periods`` and their labels, as the demo names them.

    Args:
        simulator: A ``RetailDemandSimulator``.
        paths: The use case's ``storage.UseCasePaths`` in the data root.
        periods: The weeks to land (e.g. ``range(initial_periods)``: the history).
    """
    for p in periods:
        simulator.batch(p).to_csv(paths.landing / f"period_{p:03d}.csv", index=False)
        simulator.labels(p).to_csv(paths.labels / f"labels_{p:03d}.csv", index=False)
