"""Per-segment models through the flows: one model per store, fitted through the task runner."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytest
from prefect import flow

from flows.challenger import map_segment_fits
from flows.runners import ClosingHeartbeatFilter, make_task_runner, parse_runner
from mlops_core.features import build_pipeline, model_input
from mlops_core.segmented import fit_segmented
from mlops_core.simulator import RetailDemandSimulator, SimulatorConfig
from tasks import steps
from tasks.runtime import open_runtime

pytestmark = pytest.mark.flows

SIM = RetailDemandSimulator(SimulatorConfig(seed=11))
PER_STORE = {"model": {"per_segment": True, "min_segment_rows": 100}}


@pytest.fixture(scope="module")
def per_store(tmp_path_factory: pytest.TempPathFactory, bootstrapped_variant) -> Path:
    """A per-store use case bootstrapped (its fits on threads, the default runner)."""
    root = tmp_path_factory.mktemp("per-store")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLOPS_TASK_RUNNER", "threads")
        bootstrapped_variant(root, SIM, PER_STORE)
    return root


def test_a_per_store_champion_is_trained_by_the_bootstrap_and_serves_each_store(
    per_store: Path,
) -> None:
    rt = open_runtime(per_store / "retail_demand.yaml", str(per_store))
    champion = steps.load_champion.fn(rt)  # loaded from the registry: skops, hash checked
    assert champion is not None and type(champion.model).__name__ == "SegmentedModel"
    model = champion.model
    assert sorted(model.models_) == [f"S0{i}" for i in range(1, 7)], "one model per store"

    live = SIM.batch(SIM.config.initial_periods)
    pred, _ = steps.predict(model, live, rt.usecase)
    for store, seg_model in model.models_.items():
        rows = (live["store"] == store).to_numpy()
        single, _ = steps.predict(seg_model, live[rows], rt.usecase)
        np.testing.assert_allclose(pred[rows], single)


def test_per_store_fits_on_a_local_dask_cluster_equal_those_on_threads(
    per_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = open_runtime(per_store / "retail_demand.yaml", str(per_store))
    uc = rt.usecase
    pool = steps.labeled_pool(rt)
    features, y = model_input(pool, uc), pool[uc.data.target_column].to_numpy()

    @flow(name="per-store fits")
    def fit_all() -> np.ndarray:
        model = fit_segmented(
            build_pipeline(uc), features, y, "store", 100, map_fits=map_segment_fits
        )
        return model.predict(features)

    monkeypatch.setenv("MLOPS_TASK_RUNNER", "threads")
    by_threads = fit_all()
    # Two worker processes of a local Dask cluster fit the stores' models.
    monkeypatch.setenv("MLOPS_TASK_RUNNER", "dask:2")
    np.testing.assert_allclose(fit_all(), by_threads)


def test_dask_runners_open_together_each_run_their_own_quiet_cluster() -> None:
    """The per-store benchmark fits on a 1- and a 2-worker cluster open side by side."""
    with (
        make_task_runner(parse_runner("dask:1")) as one,
        make_task_runner(parse_runner("dask:2")) as two,
    ):
        assert len(one.client.scheduler_info()["workers"]) == 1
        assert len(two.client.scheduler_info()["workers"]) == 2
        assert one.client.scheduler.address != two.client.scheduler.address
        # The workers keep no statistical profile: a 1.5 s task sampled every 10 ms
        # would leave about 150 samples once the profiler's 1 s cycle has passed.
        one.client.submit(time.sleep, 1.5, pure=False).result()
        time.sleep(1.2)
        assert one.client.profile()["count"] == 0
        # Dask's diagnostics run once a second, not every 20 ms, in every Dask
        # server: the scheduler and the nannies (this process), the workers.
        for runner in (one, two):
            servers = [runner.client.cluster.scheduler, *runner.client.cluster.workers.values()]
            intervals = [
                {k: p.callback_time for k, p in s.periodic_callbacks.items()} for s in servers
            ]
            intervals += runner.client.run(
                lambda dask_worker: {
                    k: p.callback_time for k, p in dask_worker.periodic_callbacks.items()
                }
            ).values()
            assert len(intervals) == 1 + 2 * len(runner.client.scheduler_info()["workers"])
            # Each worker drops the heartbeat failure its own shutdown may log. (A
            # lambda travels by value; a function of this module would have each
            # worker import the module.)
            filtered = runner.client.run(
                lambda: any(
                    isinstance(f, ClosingHeartbeatFilter)
                    for f in logging.getLogger("distributed.worker").filters
                )
            )
            assert set(filtered.values()) == {True}
            for ms in intervals:
                assert ms["tick"] == 1000 and ms["monitor"] == 2000
                assert ms.get("memory_monitor", 500) == 500, "memory limits still checked"
