"""What a model version served for rows whose labels have arrived, read back from its files.

Every scored row is written once with the model's own output beside the
guarded value: ``raw_prediction`` (and ``raw_probability`` for a classifier)
and ``model_version``, in ``predictions/<batch>.parquet`` for the rows sent
downstream and in ``review/<batch>.parquet`` for the rows held for review
(``tasks.steps.write_scored``). The realized metric of a cycle measures the
champion on the rows labeled since the last one; the rows that version scored
need not be scored again (at a million rows, the predict call was half of the
``performance`` step). Released rows (``<batch>.reviewed-<n>.parquet``) are
not read: the review queue keeps the same rows with the same raw output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mlops_core.config import DataConfig
from mlops_core.monitoring import SERVED_FOUND, SERVED_PREDICTION, SERVED_PROBABILITY
from tasks import storage
from tasks.storage import UseCasePaths

#: A file written by a review release, not by scoring.
_RELEASED_MARK = ".reviewed-"


def served_predictions(
    paths: UseCasePaths, data: DataConfig, rows: pd.DataFrame, version: str
) -> pd.DataFrame:
    """The raw output ``version`` served for each of ``rows``, where it is on file.

    Args:
        paths: The use case's folders.
        data: The use case's data settings (id and time columns, period).
        rows: Labeled rows from the pool (ids as text, the time column holding
            each row's integer period).
        version: The model version whose output is wanted.

    Returns:
        A frame indexed like ``rows`` with the columns of
        ``mlops_core.monitoring.predicted_or_served``: whether the row was found,
        its raw prediction and probability (NaN for a regression or where the
        files hold none; the values of a row not found mean nothing). A row is
        found only when its id was stored by ``version`` and by nothing else in
        the files that may hold the rows' periods: an id scored twice with two
        outputs, or by two versions (an id reused by a later batch, whose row
        the pool then holds), is left to the model, as is a missing prediction.
        Files whose periods all precede the rows' are not read (integer periods).
    """
    missed = pd.DataFrame(
        {
            SERVED_FOUND: np.zeros(len(rows), dtype=bool),
            SERVED_PREDICTION: np.full(len(rows), np.nan),
            SERVED_PROBABILITY: np.full(len(rows), np.nan),
        },
        index=rows.index,
    )
    if rows.empty:
        return missed
    # The files that may hold the rows' periods, as the labeled pool reads them.
    after = storage.later_periods_than(data, int(rows[data.time_column].min()) - 1)
    stored = [
        part
        for file in _scored_files(paths, after)
        if (part := _read_served(file, data.id_column)) is not None
    ]
    if not stored:
        return missed
    served = pd.concat(stored, ignore_index=True) if len(stored) > 1 else stored[0]
    repeated = served["id"].duplicated(keep=False).to_numpy()
    if repeated.any():
        # The same output by the same version stored twice (a batch scored again) is
        # one; an id with two outputs or two versions is ambiguous: the model scores it.
        once = served.loc[repeated].drop_duplicates()
        once = once.loc[~once["id"].duplicated(keep=False).to_numpy()]
        served = pd.concat([served.loc[~repeated], once], ignore_index=True)
    served = served.loc[(served["model_version"] == version).to_numpy()]
    if served.empty:
        return missed
    position = pd.Index(served["id"]).get_indexer(storage.ids_as_text(rows[data.id_column]))
    hit = position >= 0
    taken = np.where(hit, position, 0)
    prediction = served["raw_prediction"].to_numpy()[taken]
    # A stored output that is missing (a model that returned NaN) is asked for again.
    hit &= pd.notna(prediction)
    probability = (
        served["raw_probability"].to_numpy(float)[taken]
        if "raw_probability" in served.columns
        else np.full(len(rows), np.nan)
    )
    return pd.DataFrame(
        {SERVED_FOUND: hit, SERVED_PREDICTION: prediction, SERVED_PROBABILITY: probability},
        index=rows.index,
    )


def _scored_files(paths: UseCasePaths, after: tuple[str, int] | None) -> list[Path]:
    """Files written by scoring (not by a review release), pruned by period."""
    files = storage.parquet_files(paths.predictions, after=after)
    files = [f for f in files if _RELEASED_MARK not in f.name]
    return files + storage.parquet_files(paths.review, after=after)


def _read_served(file: Path, id_column: str) -> pd.DataFrame | None:
    """The scored rows of one file: id as text, raw output, model version."""
    import pyarrow.parquet as pq

    names = set(pq.ParquetFile(file).schema_arrow.names)
    wanted = [id_column, "raw_prediction", "model_version"]
    if not set(wanted) <= names:
        return None
    if "raw_probability" in names:
        wanted.append("raw_probability")
    frame = pd.read_parquet(file, columns=wanted)
    if frame.empty:
        return None
    out = pd.DataFrame(
        {
            "id": storage.ids_as_text(frame[id_column]).to_numpy(),
            "raw_prediction": frame["raw_prediction"].to_numpy(),
            "model_version": frame["model_version"].astype(str).to_numpy(),
        }
    )
    if "raw_probability" in frame.columns:
        out["raw_probability"] = frame["raw_probability"].to_numpy()
    return out
