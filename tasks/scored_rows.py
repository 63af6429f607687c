"""The rows a scored batch delivers and the rows it holds, as their files hold them.

One builder for the predictions file's frame and the review file's frame, used
by :func:`tasks.steps.write_scored` (a batch held whole) and
:mod:`tasks.chunked_scoring` (a batch chunk by chunk), so both write the same
columns in the same order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mlops_core.config import UseCase


def scored_rows(
    frame: pd.DataFrame,
    usecase: UseCase,
    *,
    values: np.ndarray,
    raw: np.ndarray,
    probability: np.ndarray | None,
    flagged: np.ndarray,
    violations: np.ndarray,
    held: np.ndarray,
    champion_version: str,
    batch_sha256: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The delivered rows and the held rows of a batch (or of one chunk of it).

    Args:
        frame: The rows as read.
        usecase: The use case (its id, time and segment columns are kept).
        values: Predictions after guardrails.
        raw: Predictions as the model made them.
        probability: A classifier's positive-class probabilities, or None.
        flagged: Rows passed on with a flag.
        violations: Per row, the ``'rule:action'`` pairs that applied.
        held: Rows held for review.
        champion_version: The version that scored them.
        batch_sha256: The batch's content hash.

    Returns:
        ``(delivered, held)``: the predictions file's rows (the id, time and
        segment columns, the predictions, flags, violations, version, batch
        hash) and the review file's (every column of the held rows, the
        proposed prediction, violations, ``review_status`` pending).
    """
    d = usecase.data
    held = np.asarray(held, dtype=bool)
    keep = [c for c in (d.id_column, d.time_column, d.segment_column) if c]
    out = frame[keep].copy()
    out["prediction"] = values
    out["raw_prediction"] = raw
    if probability is not None:
        out["raw_probability"] = probability
    out["flagged"] = flagged
    out["violations"] = list(violations)
    out["model_version"] = champion_version
    out["batch_sha256"] = batch_sha256
    review = frame.loc[held].copy()
    review["raw_prediction"] = raw[held]
    if probability is not None:
        review["raw_probability"] = probability[held]
    review["proposed_prediction"] = values[held]
    review["violations"] = [v for v, h in zip(violations, held, strict=True) if h]
    review["review_status"] = "pending"
    review["model_version"] = champion_version
    return out.loc[~held], review


def reviewed_already(published: Path) -> bool:
    """Whether a reviewer already acted on rows of this batch's published review file.

    A batch scored again (``score_batch``, then ``monitor`` of the same batch)
    must not rewrite that file: it would reopen rows a reviewer already
    approved, overrode or rejected.
    """
    return published.exists() and bool(
        (pd.read_parquet(published, columns=["review_status"])["review_status"] != "pending").any()
    )
