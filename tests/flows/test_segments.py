"""Per-segment models through the flows: one model per store, fitted through the task runner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from flows.cycle import bootstrap
from flows.demo import SHIPPED_USECASE
from mlops_core.simulator import RetailDemandSimulator, SimulatorConfig
from tasks import steps, storage
from tasks.runtime import open_runtime

pytestmark = pytest.mark.flows

SIM = RetailDemandSimulator(SimulatorConfig(seed=11))


def _bootstrapped(root: Path) -> tuple[Path, steps.Champion]:
    doc = yaml.safe_load(SHIPPED_USECASE.read_text(encoding="utf-8"))
    doc["model"]["per_segment"] = True
    doc["model"]["min_segment_rows"] = 100
    root.mkdir(parents=True, exist_ok=True)
    usecase = root / "retail_demand.yaml"
    usecase.write_text(yaml.safe_dump(doc), encoding="utf-8")
    paths = storage.UseCasePaths.for_usecase(storage.load_usecase_file(usecase), root)
    for p in range(SIM.config.initial_periods):
        SIM.batch(p).to_csv(paths.landing / f"period_{p:03d}.csv", index=False)
        SIM.labels(p).to_csv(paths.labels / f"labels_{p:03d}.csv", index=False)
    out = bootstrap(str(usecase), str(root))
    assert out["champion_version"] == "1", out
    champion = steps.load_champion.fn(open_runtime(usecase, str(root)))
    assert champion is not None
    return usecase, champion


def test_a_per_store_champion_is_trained_served_and_the_same_on_dask_as_on_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_TASK_RUNNER", "threads")
    _, by_threads = _bootstrapped(tmp_path / "threads")
    # Two worker processes of a local Dask cluster fit the stores' models.
    monkeypatch.setenv("MLOPS_TASK_RUNNER", "dask:2")
    _, champion = _bootstrapped(tmp_path / "dask")

    model = champion.model
    assert type(model).__name__ == "SegmentedModel"
    assert sorted(model.models_) == [f"S0{i}" for i in range(1, 7)], "one model per store"
    live = SIM.batch(SIM.config.initial_periods)
    rt = open_runtime(SHIPPED_USECASE)
    pred, _ = steps.predict(model, live, rt.usecase)
    expected, _ = steps.predict(by_threads.model, live, rt.usecase)
    np.testing.assert_allclose(pred, expected)
    for store, seg_model in model.models_.items():
        rows = (live["store"] == store).to_numpy()
        single, _ = steps.predict(seg_model, live[rows], rt.usecase)
        np.testing.assert_allclose(pred[rows], single)
