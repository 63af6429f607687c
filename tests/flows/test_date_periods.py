"""Date periods in the live flows: bad dates, batches spanning periods, late batches.

A weekly regression with a date column (the shape ``init-usecase`` writes for a
user's table) is replayed for a few weeks; then batches land by hand and run
through ``monitor`` as they would in production.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from flows.cycle import monitor
from flows.replay import replay
from mlops_core.periods import period_index, period_label
from mlops_core.profiling import profile_frame
from mlops_core.records import CycleRecord
from tasks import decision_store, storage
from tasks.runtime import open_runtime

pytestmark = pytest.mark.flows

WEEKS = 10
ROWS_PER_DAY = 30


def history(seed: int = 3) -> pd.DataFrame:
    """Ten weeks from Monday 2024-01-01, rows every day, a target that follows x."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2024-01-01", periods=7 * WEEKS, freq="D")
    stamps = np.repeat(days, ROWS_PER_DAY) + pd.to_timedelta(
        rng.integers(0, 24 * 60, len(days) * ROWS_PER_DAY), unit="min"
    )
    x = rng.uniform(0, 10, len(stamps))
    kind = rng.choice(["a", "b"], len(stamps))
    return pd.DataFrame(
        {
            "order_id": [f"o{i:06d}" for i in range(len(stamps))],
            "when": pd.Series(stamps).dt.strftime("%Y-%m-%d %H:%M"),
            "x": x,
            "kind": kind,
            "y": 3 * x + 4 * (kind == "b") + rng.normal(0, 6, len(stamps)),
        }
    )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, pd.DataFrame]:
    """A use case replayed through week 8 (bootstrap on weeks 1 to 3)."""
    folder = tmp_path_factory.mktemp("dates")
    frame = history()
    profile = profile_frame(
        frame,
        name="weekly",
        target="y",
        time="when",
        id_column="order_id",
        period="week",
        source_name="weekly.csv",
    )
    doc = profile.mapping
    doc["report"] = {"cycle_report": False}
    usecase = folder / "weekly.yaml"
    usecase.write_text(yaml.safe_dump(doc), encoding="utf-8")
    data = folder / "weekly.csv"
    frame.to_csv(data, index=False)
    rows = replay(str(usecase), str(data), data_root=str(folder / "home"), max_periods=5)
    assert [r.validation for r in rows[1:]] == ["pass"] * 5
    assert rows[0].promotion == "promote", rows[0]
    return usecase, folder / "home", frame


def _land(usecase: Path, root: Path, name: str, frame: pd.DataFrame) -> storage.UseCasePaths:
    paths = storage.UseCasePaths.for_usecase(storage.load_usecase_file(usecase), root)
    storage.write_csv(frame, paths.landing / name)
    return paths


def _week(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    weeks = period_index(frame["when"], "week", "when")
    return frame.loc[weeks == weeks.min() + n].drop(columns="y")


def test_a_batch_with_a_value_that_is_no_date_is_quarantined_naming_it(live):
    usecase, root, frame = live
    bad = _week(frame, 9).head(50).copy()
    bad.loc[bad.index[7], "when"] = "next tuesday"
    paths = _land(usecase, root, "bad_dates.csv", bad)
    out = monitor(str(usecase), "bad_dates.csv", str(root))
    assert out.validation == "fail" and out.decision == "block"
    assert (paths.quarantine / "bad_dates.csv").exists()
    assert "'when' holds 'next tuesday' (1 row), which is not a date" in out.summary


def test_a_batch_spanning_two_weeks_counts_as_the_later_one_and_says_so(live):
    usecase, root, frame = live
    both = pd.concat([_week(frame, 8).tail(40), _week(frame, 9).head(300)])
    _land(usecase, root, "weeks_9_10.csv", both)
    out = monitor(str(usecase), "weeks_9_10.csv", str(root))
    assert out.validation == "pass"
    tenth = int(period_index(_week(frame, 9)["when"], "week", "when").iloc[0])
    assert out.period == tenth
    assert period_label(tenth, "week") == "week of 2024-03-04"
    rt = open_runtime(usecase, str(root))
    record = decision_store.read_decision_record(rt.client, out.decision_run_id, CycleRecord)
    span = [r for r in record.gate.results if r.rule == "period_span"]
    assert span and span[0].success is False
    assert "spans 2 periods (week of 2024-02-26 to week of 2024-03-04)" in span[0].message


def test_a_late_batch_is_delivered_but_decides_no_retrain(live):
    usecase, root, frame = live
    paths = _land(usecase, root, "late_week_2.csv", _week(frame, 1).sample(200, random_state=1))
    out = monitor(str(usecase), "late_week_2.csv", str(root))
    assert out.validation == "pass"
    assert (out.decision, out.reason) == ("skip", "late_batch")
    assert "week of 2024-01-08, which comes before week of 2024-03-04" in out.summary
    delivered = pd.read_parquet(paths.predictions / "late_week_2.parquet")
    assert len(delivered) + out.held_rows == 200
