"""The training window's MLflow dataset: MLflow's own fields, at a cost bounded in rows."""

from __future__ import annotations

import json

import mlflow.data
import numpy as np
import pandas as pd
import pytest
from mlflow.data.code_dataset_source import CodeDatasetSource

from tasks.tags import TAG_RUN_ID
from tasks.training_runs import WINDOW_SCHEMA_SAMPLE_ROWS, window_dataset

pytestmark = [
    pytest.mark.integration,
    # MLflow's own inference (the reference here) hints about integer columns.
    pytest.mark.filterwarnings("ignore:(?s).*Inferred schema contains integer"),
]

RUN_ID = "0123456789abcdef"


def _window(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "row_id": np.arange(rows, dtype=np.int64),
            "period": np.repeat(np.arange(4), -(-rows // 4))[:rows].astype(np.int64),
            "price": rng.normal(10, 2, rows),
            "store": rng.choice(["a", "b", "c"], rows).astype(object),
            "promo": pd.Categorical(rng.choice(["yes", "no"], rows)),
            "units": rng.poisson(4, rows).astype(float),
        }
    )
    # Missing values far from the rows a type sample would hold: only every row tells.
    frame.loc[rows - 3, "price"] = np.nan
    frame.loc[rows - 2, "store"] = None
    return frame


def _mlflows_own(frame: pd.DataFrame) -> dict:
    dataset = mlflow.data.from_pandas(
        frame, source=CodeDatasetSource(tags={TAG_RUN_ID: RUN_ID}), name="periods 0-3"
    )
    return dataset.to_dict()


def test_the_fields_are_mlflows_own_but_the_digest() -> None:
    frame = _window(25_000)
    ours = window_dataset(frame, run_id=RUN_ID, name="periods 0-3")
    theirs = _mlflows_own(frame)

    assert ours.name == theirs["name"]
    assert (ours.source_type, ours.source) == (theirs["source_type"], theirs["source"])
    assert json.loads(ours.profile) == json.loads(theirs["profile"])
    # Types from a sample, requiredness from every row: the schema MLflow infers from all.
    assert json.loads(ours.schema) == json.loads(theirs["schema"])
    required = {c["name"]: c["required"] for c in json.loads(ours.schema)["mlflow_colspec"]}
    assert required["price"] is False and required["store"] is False
    assert required["units"] is True
    assert len(ours.digest) == len(theirs["digest"]) == 8


def test_the_digest_fingerprints_every_row() -> None:
    frame = _window(3 * WINDOW_SCHEMA_SAMPLE_ROWS)
    digest = window_dataset(frame, run_id=RUN_ID, name="w").digest
    assert window_dataset(frame.copy(), run_id=RUN_ID, name="w").digest == digest

    # A change in the last row moves it (MLflow's digest reads the first 10,000 rows).
    changed = frame.copy()
    changed.loc[len(frame) - 1, "units"] += 1
    assert window_dataset(changed, run_id=RUN_ID, name="w").digest != digest
    assert _mlflows_own(changed)["digest"] == _mlflows_own(frame)["digest"]

    # So do the rows' order, their number and the columns' names.
    assert window_dataset(frame.iloc[::-1], run_id=RUN_ID, name="w").digest != digest
    assert window_dataset(frame.iloc[:-1], run_id=RUN_ID, name="w").digest != digest
    renamed = frame.rename(columns={"units": "sold"})
    assert window_dataset(renamed, run_id=RUN_ID, name="w").digest != digest


def test_a_window_whose_types_cannot_be_inferred_is_logged_without_a_schema() -> None:
    frame = pd.DataFrame({"when": [1, "a"], "units": [1.0, 2.0]})
    ours = window_dataset(frame, run_id=RUN_ID, name="w")
    assert ours.schema is None
    assert json.loads(ours.profile) == {"num_rows": 2, "num_elements": 4}
