"""Schema evolution through the real flows: the contract changes while a champion serves.

Each case bootstraps the shipped use case on the simulator's history (champion
version 1), then edits the use-case file as its owner would and lands the
next batches under the new contract:

- a feature column added (to the contract and to the new batches): the cycle
  runs, the champion keeps scoring with its own inputs (also the older labeled
  rows, which lack the column, when their realized error is measured), the
  record and the summary say so, and the first retrain whose rows hold the
  column trains a model that reads it;
- a feature the champion reads dropped: refused before any batch is touched,
  by the flows and by the ``mlops`` command (one line, exit code 2);
- a range widened and a category added: accepted and recorded; the champion
  scores the rows of the new category.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from flows.cycle import monitor, score_batch
from mlops_core.records import CycleRecord, CycleResult
from mlops_core.report import cycle_summary
from mlops_core.schema_change import SchemaChangeRefused
from mlops_core.sentences import wording_for
from mlops_core.simulator import RetailDemandSimulator, SimulatorConfig
from tasks import decision_store, storage, training_runs
from tasks.model_card import model_card_inputs
from tasks.runtime import open_runtime

# The command run as a child process gets up to 300 s.
pytestmark = [pytest.mark.flows, pytest.mark.timeout(600)]

SIM = RetailDemandSimulator(SimulatorConfig(seed=7))
FIRST_LIVE = SIM.config.initial_periods
MLOPS = Path(sys.executable).parent / "mlops"
#: A champion older than one week is refreshed at no cost and without a cooldown:
#: every cycle with a week of new labels trains a challenger.
RETRAIN_EVERY_WEEK = {
    "retrain": {"max_age_periods": 1, "retrain_cost": 0.0, "min_periods_between": 0}
}


def _edit_usecase(usecase: Path, edit) -> None:
    doc = yaml.safe_load(usecase.read_text(encoding="utf-8"))
    edit(doc["contract"]["columns"])
    usecase.write_text(yaml.safe_dump(doc), encoding="utf-8")


def _with_feels_like(frame: pd.DataFrame, period: int) -> pd.DataFrame:
    """The batch as an export that gained a wind-chill reading beside the temperature."""
    noise = np.random.default_rng(period).normal(0.0, 1.5, len(frame))
    return frame.assign(feels_like=(frame["temperature"] - 2.0 + noise).round(1))


def _land(paths: storage.UseCasePaths, period: int, batch: pd.DataFrame) -> str:
    """Land the batch of ``period`` and the labels of the week before (labels of live weeks)."""
    name = f"period_{period:03d}.csv"
    batch.to_csv(paths.landing / name, index=False)
    if period - 1 >= FIRST_LIVE:
        SIM.labels(period - 1).to_csv(paths.labels / f"labels_{period - 1:03d}.csv", index=False)
    return name


def _record(usecase: Path, root: Path, out: CycleResult) -> CycleRecord:
    rt = open_runtime(usecase, str(root))
    assert out.decision_run_id is not None
    return decision_store.read_decision_record(rt.client, out.decision_run_id, CycleRecord)


def _version_info(usecase: Path, root: Path, version: str) -> training_runs.ChampionInfo:
    rt = open_runtime(usecase, str(root))
    info = training_runs.get_model_version_info(
        rt.client, rt.usecase.registered_model_name, version=version
    )
    assert info is not None
    return info


def _champion(usecase: Path, root: Path) -> str | None:
    rt = open_runtime(usecase, str(root))
    info = training_runs.get_model_version_info(
        rt.client, rt.usecase.registered_model_name, alias="champion"
    )
    return info.version if info else None


# ------------------------------------------------------------------ added column
@pytest.fixture(scope="module")
def added(tmp_path_factory: pytest.TempPathFactory, bootstrapped_variant) -> dict[str, Any]:
    """One live week under the old contract, then ``feels_like`` joins contract and batches.

    The week scored before the change is labeled during the first cycle after
    it: its rows, stored without ``feels_like``, are the ones the champion's
    realized error is measured on (the reported fault: ``KeyError:
    'feels_like'`` there, and the same on every rerun).
    """
    root = tmp_path_factory.mktemp("schema-added")
    usecase, paths = bootstrapped_variant(root, SIM, RETRAIN_EVERY_WEEK)
    before = monitor(str(usecase), _land(paths, FIRST_LIVE, SIM.batch(FIRST_LIVE)), str(root))
    assert before.status == "done", before

    _edit_usecase(
        usecase,
        lambda columns: columns.append(
            {"name": "feels_like", "type": "numeric", "min": -60, "max": 60, "severity": "warn"}
        ),
    )
    cycles = []
    for period in (FIRST_LIVE + 1, FIRST_LIVE + 2):
        batch = _with_feels_like(SIM.batch(period), period)
        cycles.append(monitor(str(usecase), _land(paths, period, batch), str(root)))
    return {"root": root, "usecase": usecase, "paths": paths, "cycles": cycles}


def test_after_a_column_is_added_the_champion_scores_and_is_measured_on_older_rows(
    added: dict[str, Any],
) -> None:
    first = added["cycles"][0]
    assert first.status == "done" and first.validation == "pass", first
    # Realized error on the week labeled now: rows stored before feels_like existed.
    assert first.realized is not None and np.isfinite(first.realized), first
    served = pd.read_parquet(added["paths"].predictions / f"period_{FIRST_LIVE + 1:03d}.parquet")
    assert set(served["model_version"]) == {"1"}
    assert len(served) == len(SIM.batch(FIRST_LIVE + 1)) and served["prediction"].notna().all()
    # The batch as stored for later training holds the new column.
    stored = next(added["paths"].processed.glob(f"period_{FIRST_LIVE + 1:03d}.*.parquet"))
    assert "feels_like" in pd.read_parquet(stored).columns


def test_the_record_and_the_summary_say_the_column_takes_effect_at_the_next_retrain(
    added: dict[str, Any],
) -> None:
    first = added["cycles"][0]
    record = _record(added["usecase"], added["root"], first)
    schema = record.schema_change
    assert schema is not None
    assert schema.action == "compatible" and schema.champion_version == "1", schema
    assert schema.basis == "training_contract"
    assert "feels_like" not in schema.champion_inputs
    assert schema.new_features == ("feels_like",)
    assert [(c.kind, c.column, c.code) for c in schema.changes] == [
        ("column_added", "feels_like", "new_feature_next_retrain")
    ]
    assert "feels_like" in first.summary and "next retrain" in first.summary, first.summary
    # The reports rebuild the summary from the record: the same words.
    rt = open_runtime(added["usecase"], str(added["root"]))
    rebuilt = cycle_summary(record.outcome(), wording_for(rt.usecase))
    assert rebuilt == first.summary


def test_retrains_train_on_the_new_column_once_labeled_rows_hold_it(added: dict[str, Any]) -> None:
    usecase, root = added["usecase"], added["root"]
    first, second = added["cycles"]
    # The first retrain after the change: every labeled row predates the column,
    # so that challenger cannot learn from it and does not read it.
    assert first.decision == "retrain", (first.reason, first.summary)
    first_challenger = _record(usecase, root, first).challenger_version
    assert first_challenger is not None
    assert "feels_like" not in _version_info(usecase, root, first_challenger).profile.feature_names
    # A week later the labeled rows of the first batch with the column arrived:
    # the challenger reads it (older rows hold it as missing).
    assert second.status == "done" and second.decision == "retrain", second
    record = _record(usecase, root, second)
    assert record.challenger_version is not None and record.champion_before is not None
    assert record.promotion is not None
    challenger = _version_info(usecase, root, record.challenger_version)
    assert "feels_like" in challenger.profile.feature_names
    known = {c.name: c for c in challenger.profile.contract_columns or ()}
    assert known["feels_like"].feature and known["feels_like"].max == 60
    # Its model card lists its inputs against those of the champion it was judged against.
    rt = open_runtime(usecase, str(root))
    card = model_card_inputs(
        rt.client,
        rt.usecase,
        record.challenger_version,
        record.promotion,
        previous_version=record.champion_before,
        drift=None,
    )
    previous = _version_info(usecase, root, record.champion_before)
    assert "feels_like" in card.inputs and "feels_like" not in (card.previous_inputs or ())
    assert card.previous_inputs == previous.profile.feature_names


# ---------------------------------------------------------------- dropped feature
@pytest.fixture(scope="module")
def dropped(tmp_path_factory: pytest.TempPathFactory, bootstrapped_variant) -> dict[str, Any]:
    """``temperature``, an input of champion version 1, dropped from contract and batch."""
    root = tmp_path_factory.mktemp("schema-dropped")
    usecase, paths = bootstrapped_variant(root, SIM, {})
    _edit_usecase(
        usecase,
        lambda columns: columns.remove(next(c for c in columns if c["name"] == "temperature")),
    )
    name = _land(paths, FIRST_LIVE, SIM.batch(FIRST_LIVE).drop(columns=["temperature"]))
    return {"root": root, "usecase": usecase, "paths": paths, "batch": name}


def _state(paths: storage.UseCasePaths, usecase: Path, root: Path) -> dict[str, Any]:
    """What a cycle would change: files under the use case's folders, runs, champion."""
    rt = open_runtime(usecase, str(root))
    runs = rt.client.search_runs([rt.decisions_experiment_id, rt.experiment_id], max_results=500)
    folders = {
        "landing": paths.landing,
        "processed": paths.processed,
        "predictions": paths.predictions,
        "quarantine": paths.quarantine,
        "archive": paths.archive,
    }
    return {
        "files": {k: sorted(p.name for p in v.rglob("*")) for k, v in folders.items()},
        "ledger": paths.ledger.read_text(encoding="utf-8") if paths.ledger.exists() else "",
        "runs": sorted(r.info.run_id for r in runs),
        "champion": _champion(usecase, root),
    }


def test_dropping_a_feature_the_champion_reads_is_refused_before_the_batch_is_touched(
    dropped: dict[str, Any],
) -> None:
    usecase, root, paths = dropped["usecase"], dropped["root"], dropped["paths"]
    before = _state(paths, usecase, root)
    for flow in (monitor, score_batch):
        with pytest.raises(SchemaChangeRefused) as refused:
            flow(str(usecase), dropped["batch"], str(root))
        decision = refused.value.decision
        assert decision.action == "refused"
        assert [(c.kind, c.column, c.code) for c in decision.refused_changes] == [
            ("column_dropped", "temperature", "input_dropped")
        ]
    assert _state(paths, usecase, root) == before
    assert dropped["batch"] in before["files"]["landing"]
    sha = storage.file_sha256(paths.landing / dropped["batch"])
    assert storage.ledger_entry(paths.ledger, sha) is None
    assert not list(paths.predictions.glob("period_*.parquet"))


def test_the_mlops_command_says_so_in_one_line_and_exits_2(dropped: dict[str, Any]) -> None:
    """``monitor`` and ``score`` of the batch, and ``bootstrap`` (a champion exists)."""
    from prefect.settings import PREFECT_API_URL

    usecase, root, paths = dropped["usecase"], dropped["root"], dropped["paths"]
    before = _state(paths, usecase, root)
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    for command in (["monitor", dropped["batch"]], ["score", dropped["batch"]], ["bootstrap"]):
        result = subprocess.run(
            [str(MLOPS), command[0], str(usecase), *command[1:], "--home", str(root)],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        assert result.returncode == 2, result.stderr[-3000:]
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, result.stderr
        assert "Traceback" not in result.stderr and not result.stdout.strip()
        assert lines[0].startswith(f"error: {usecase}: contract change refused"), lines[0]
        assert "'temperature'" in lines[0] and "version 1" in lines[0], lines[0]
        assert "feature: false" in lines[0], "it says how to drop an input safely"
    assert _state(paths, usecase, root) == before


# ------------------------------------------------- range widened, category added
@pytest.fixture(scope="module")
def widened(tmp_path_factory: pytest.TempPathFactory, bootstrapped_variant) -> dict[str, Any]:
    """The temperature range widened and a new store S07 accepted; a batch with S07 rows."""
    root = tmp_path_factory.mktemp("schema-widened")
    usecase, paths = bootstrapped_variant(root, SIM, {})

    def edit(columns: list[dict[str, Any]]) -> None:
        for c in columns:
            if c["name"] == "temperature":
                c.update({"min": -60, "max": 60})
            if c["name"] == "store":
                c["categories"] = [*c["categories"], "S07"]

    _edit_usecase(usecase, edit)
    batch = SIM.batch(FIRST_LIVE)
    s07 = batch["store"] == "S06"
    batch.loc[s07, "store"] = "S07"
    batch.loc[s07, "row_id"] = batch.loc[s07, "row_id"].str.replace("-s06-", "-s07-")
    out = monitor(str(usecase), _land(paths, FIRST_LIVE, batch), str(root))
    return {"root": root, "usecase": usecase, "paths": paths, "out": out, "s07": int(s07.sum())}


def test_a_widened_range_and_a_new_category_are_accepted_and_recorded(
    widened: dict[str, Any],
) -> None:
    out = widened["out"]
    assert out.status == "done" and out.validation == "pass", out
    record = _record(widened["usecase"], widened["root"], out)
    schema = record.schema_change
    assert schema is not None
    assert schema.action == "compatible" and schema.new_features == ()
    kinds = {(c.kind, c.column): c for c in schema.changes}
    assert set(kinds) == {("range_widened", "temperature"), ("category_added", "store")}
    assert kinds[("category_added", "store")].champion_input is True
    assert "S07" in kinds[("category_added", "store")].message
    assert "temperature" in out.summary and "S07" in out.summary, out.summary
    served = pd.read_parquet(widened["paths"].predictions / f"period_{FIRST_LIVE:03d}.parquet")
    new_store = served[served["store"] == "S07"]
    assert len(new_store) == widened["s07"] > 0
    assert np.isfinite(new_store["prediction"]).all() and set(served["model_version"]) == {"1"}
