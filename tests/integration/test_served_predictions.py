"""What a champion served, read back for the rows whose labels arrived.

The files are written by the product's own scoring step (``write_scored``)
from real guardrail results on simulator batches, and read by
``tasks.served_predictions``; the retail use case holds forecasts above a
store's capacity for review, so a batch's rows are split between the
predictions file and the review queue.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from flows.demo import SHIPPED_USECASE
from mlops_core.decisions import GateDecision
from mlops_core.guardrails import apply_guardrails
from mlops_core.monitoring import SERVED_FOUND, SERVED_PREDICTION, SERVED_PROBABILITY
from mlops_core.simulator import RetailDemandSimulator, SimulatorConfig
from tasks import steps, storage
from tasks.runtime import Runtime, open_runtime
from tasks.served_predictions import served_predictions

# slow (left out of `make test-fast`): each test opens a fresh MLflow store.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

SIM = RetailDemandSimulator(SimulatorConfig(seed=11))


@pytest.fixture()
def rt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    doc = yaml.safe_load(SHIPPED_USECASE.read_text(encoding="utf-8"))
    capacity = next(r for r in doc["guardrails"]["rules"] if r["kind"] == "cap_column")
    capacity["action"] = "quarantine"
    usecase = tmp_path / "retail_demand.yaml"
    usecase.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return open_runtime(usecase, str(tmp_path / "root"))


def _score(
    rt: Runtime,
    period: int,
    version: str,
    *,
    name: str | None = None,
    shift: float = 0.0,
    probability: bool = False,
    integer_ids: bool = False,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Score a simulator batch as ``version`` (some forecasts above capacity, held)."""
    frame = SIM.batch(period)
    if integer_ids:
        frame[rt.usecase.data.id_column] = 1000 * period + np.arange(len(frame))
    raw = frame["units_last_week"].to_numpy(dtype=float) + 0.25 + shift
    raw[:4] = frame["store_capacity"].to_numpy(dtype=float)[:4] * 2
    guarded = apply_guardrails(raw, frame, rt.usecase.guardrails)
    assert guarded.held.any() and not guarded.held.all()
    name = name or f"period_{period:03d}.csv"
    sha = hashlib.sha256(f"{name}{version}{shift}".encode()).hexdigest()
    gate = GateDecision(
        action="pass", batch=name, batch_sha256=sha, rows=len(frame), reasons=(), results=()
    )
    proba = np.linspace(0.0, 1.0, len(frame)) if probability else None
    steps.write_scored.fn(rt, frame, gate, guarded, version, probability=proba)
    return frame, raw


def _labeled(rt: Runtime, *frames: pd.DataFrame) -> pd.DataFrame:
    """Rows as the labeled pool holds them: ids as text, the period as an integer."""
    d = rt.usecase.data
    rows = pd.concat(frames, ignore_index=True)
    rows[d.id_column] = storage.ids_as_text(rows[d.id_column])
    rows.index = pd.RangeIndex(100, 100 + len(rows))  # the pool's rows are a slice of it
    return rows


def test_the_rows_a_version_scored_are_found_with_what_it_served(rt: Runtime) -> None:
    first, first_raw = _score(rt, 20, "1")
    second, _ = _score(rt, 21, "2")  # another version scored this one
    rows = _labeled(rt, first, second)

    served = served_predictions(rt.paths, rt.usecase.data, rows, "1")

    assert served.index.equals(rows.index)
    found = served[SERVED_FOUND].to_numpy()
    assert found.tolist() == [True] * len(first) + [False] * len(second)
    # Held rows (in the review queue) and sent rows (in the predictions file) alike.
    assert np.array_equal(served[SERVED_PREDICTION].to_numpy(float)[found], first_raw)
    assert served[SERVED_PROBABILITY].isna().all()


def test_integer_ids_in_the_files_match_the_pools_text_ids(rt: Runtime) -> None:
    frame, raw = _score(rt, 20, "1", integer_ids=True)
    stored = pd.read_parquet(rt.paths.predictions / "period_020.parquet")
    assert pd.api.types.is_integer_dtype(stored[rt.usecase.data.id_column])
    picked = _labeled(rt, frame).iloc[[5, 1, 9]]
    served = served_predictions(rt.paths, rt.usecase.data, picked, "1")
    assert served[SERVED_FOUND].all()
    assert served[SERVED_PREDICTION].tolist() == raw[[5, 1, 9]].tolist()


def test_an_id_stored_with_two_outputs_is_left_to_the_model(rt: Runtime) -> None:
    frame, raw = _score(rt, 20, "1")
    # The same batch under another name with the same outputs: one output per id.
    _score(rt, 20, "1", name="period_020_again.csv")
    rows = _labeled(rt, frame)
    assert served_predictions(rt.paths, rt.usecase.data, rows, "1")[SERVED_FOUND].all()
    # Scored once more with other outputs (but for the first four, held at the same
    # value): no output can be trusted for the ids whose outputs differ.
    _score(rt, 20, "1", name="period_020_other.csv", shift=1.0)
    served = served_predictions(rt.paths, rt.usecase.data, rows, "1")
    assert served[SERVED_FOUND].tolist() == [True] * 4 + [False] * (len(frame) - 4)
    assert np.array_equal(served[SERVED_PREDICTION].to_numpy(float)[:4], raw[:4])


def test_an_id_a_later_batch_reused_under_another_version_is_left_to_the_model(
    rt: Runtime,
) -> None:
    """The pool holds the later batch's row for a reused id: the output version "1"
    served for the earlier row is not that row's."""
    d = rt.usecase.data
    first, first_raw = _score(rt, 20, "1")
    later = SIM.batch(21)
    later[d.id_column] = first[d.id_column].to_numpy()
    later.loc[later.index[-1], d.id_column] = "new-id"  # the earlier batch's last id is not reused
    later_raw = later["units_last_week"].to_numpy(dtype=float)
    guarded = apply_guardrails(later_raw, later, rt.usecase.guardrails)
    gate = GateDecision(
        action="pass", batch="period_021.csv", batch_sha256="b" * 64, rows=len(later),
        reasons=(), results=(),
    )  # fmt: skip
    steps.write_scored.fn(rt, later, gate, guarded, "2")

    # Rows of both periods: both batches' files are read, and a reused id, stored by
    # two versions, is found for neither.
    rows = _labeled(rt, later.iloc[:-1], first.iloc[[-1]])
    assert not served_predictions(rt.paths, d, rows, "2")[SERVED_FOUND].any()
    by_first = served_predictions(rt.paths, d, rows, "1")
    assert by_first[SERVED_FOUND].tolist() == [False] * (len(rows) - 1) + [True]
    assert by_first[SERVED_PREDICTION].iloc[-1] == first_raw[-1]
    # Rows of the later period only: the earlier batch's files are pruned by period,
    # and what version "2" served for those rows is theirs.
    only_later = _labeled(rt, later)
    assert not served_predictions(rt.paths, d, only_later, "1")[SERVED_FOUND].any()
    by_later = served_predictions(rt.paths, d, only_later, "2")
    assert by_later[SERVED_FOUND].all()
    assert np.array_equal(by_later[SERVED_PREDICTION].to_numpy(float), later_raw)


def test_a_review_release_is_not_a_second_output(rt: Runtime) -> None:
    frame, raw = _score(rt, 20, "1")
    d = rt.usecase.data
    released = pd.DataFrame(
        {
            d.id_column: frame[d.id_column].iloc[:4],
            d.time_column: 20,
            "prediction": 1.0,
            "raw_prediction": -1.0,  # never what was served: the reader must not see it
            "model_version": "1",
        }
    )
    released.to_parquet(rt.paths.predictions / "period_020.reviewed-1.parquet", index=False)
    served = served_predictions(rt.paths, rt.usecase.data, _labeled(rt, frame), "1")
    assert served[SERVED_FOUND].all()
    assert np.array_equal(served[SERVED_PREDICTION].to_numpy(float), raw)


def test_a_missing_output_is_not_found_and_a_classifiers_probability_is(rt: Runtime) -> None:
    frame, _ = _score(rt, 20, "1", probability=True)
    d = rt.usecase.data
    stored = pd.read_parquet(rt.paths.predictions / "period_020.parquet")
    stored.loc[stored.index[0], "raw_prediction"] = np.nan
    stored.to_parquet(rt.paths.predictions / "period_020.parquet", index=False)
    served = served_predictions(rt.paths, d, _labeled(rt, frame), "1")
    missing = frame[d.id_column].astype(str) == str(stored[d.id_column].iloc[0])
    assert served[SERVED_FOUND].tolist() == (~missing).tolist()
    expected = np.linspace(0.0, 1.0, len(frame))
    assert np.array_equal(served[SERVED_PROBABILITY].to_numpy(), expected)


def test_only_files_that_may_hold_the_rows_periods_are_read(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    _score(rt, 18, "1")
    _score(rt, 19, "1")
    newest, raw = _score(rt, 20, "1")
    read: list[str] = []
    real = pd.read_parquet

    def recording(path, *args, **kwargs):
        read.append(Path(path).name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(pd, "read_parquet", recording)
    served = served_predictions(rt.paths, rt.usecase.data, _labeled(rt, newest), "1")
    assert served[SERVED_FOUND].all()
    assert sorted(read) == ["period_020.parquet", "period_020.parquet"]  # sent, and held
