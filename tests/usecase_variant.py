"""Use cases for tests: the shipped retail one with some keys changed (its simulator's
weeks landed), and a small one on given feature columns."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from tasks.storage import UseCasePaths


def write_shipped_variant(
    folder: Path, changes: dict[str, dict[str, Any]] | None = None, *, cycle_report: bool = False
) -> Path:
    """Write ``retail_demand.yaml`` into ``folder``: the shipped file, ``changes`` applied.

    The variant keeps the shipped name, folders and model. It writes no cycle
    report unless ``cycle_report`` is set (a report is no part of a decision;
    rendering its charts took a quarter of a demo cycle's time), and a report
    it writes has no Evidently part (seconds per cycle). The tests that read
    reports, and those whose point is every file a cycle writes, ask for them;
    ``tests/flows/test_cycle_report.py`` checks the report itself.

    Args:
        folder: Where the file goes (created when missing).
        changes: Section -> keys to set, e.g. ``{"retrain": {"max_age_periods": 4}}``.
        cycle_report: Write the cycle report after each cycle.

    Returns:
        The file written.
    """
    # Imported here: the unit tests that build a small use case import no flow.
    from flows.demo import SHIPPED_USECASE

    doc = yaml.safe_load(SHIPPED_USECASE.read_text(encoding="utf-8"))
    doc["report"] = {"evidently": False, "cycle_report": cycle_report}
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


def small_usecase_mapping(
    name: str, features: list[dict[str, Any]], **sections: Any
) -> dict[str, Any]:
    """A use-case mapping on integer ``id`` and ``week`` columns and ``features``.

    A regression (Ridge, mae) unless ``sections`` says otherwise.

    Args:
        name: The use case's name.
        features: Contract columns after ``id`` and ``week`` (features unless
            they say ``"feature": False``).
        **sections: Top-level sections set in place of the defaults (``model``,
            ``metric``) or added (``drift``, ``retrain``, ...).

    Returns:
        The mapping, as a use-case file holds it.
    """
    raw: dict[str, Any] = {
        "name": name,
        "data": {
            "landing": "landing",
            "labels": "labels",
            "id_column": "id",
            "time_column": "week",
            "target_column": "y",
        },
        "contract": {
            "columns": [
                {"name": "id", "type": "integer", "feature": False},
                {"name": "week", "type": "integer", "feature": False},
                *features,
            ]
        },
        "model": {"task": "regression", "estimator": "sklearn.linear_model.Ridge"},
        "metric": {"primary": "mae"},
    }
    raw.update(sections)
    return raw


def small_usecase(name: str, features: list[dict[str, Any]], **sections: Any) -> Any:
    """:func:`small_usecase_mapping`, parsed into a ``UseCase``."""
    from mlops_core.config import parse_usecase

    return parse_usecase(small_usecase_mapping(name, features, **sections), f"{name}.yaml")


def usecase_paths(root: Path, usecase: str = "demo") -> UseCasePaths:
    """The folders of a small use case named ``usecase`` under ``root``, created
    as a flow run opens them (``UseCasePaths.for_usecase``)."""
    from tasks.storage import UseCasePaths

    return UseCasePaths.for_usecase(
        small_usecase(usecase, [{"name": "x", "type": "numeric"}]), root
    )
