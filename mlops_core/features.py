"""Model construction from the use case: preprocessing from the contract's types.

Pure scikit-learn: the estimator is imported by its dotted path, and the
ColumnTransformer is derived from the contract so that a model never sees a
column the contract does not describe.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from mlops_core.config import UseCase

_ESTIMATOR_PREFIXES = ("sklearn.", "lightgbm.", "xgboost.")


def load_estimator_class(path: str) -> type[BaseEstimator]:
    """Import an estimator class by its dotted path.

    Only scikit-learn (and the scikit-learn APIs of LightGBM/XGBoost) are allowed,
    so a use-case file cannot import arbitrary code.

    Raises:
        ValueError: When the path is outside the allowed packages or not a class.
    """
    if not path.startswith(_ESTIMATOR_PREFIXES):
        raise ValueError(f"estimator {path!r} must come from {', '.join(_ESTIMATOR_PREFIXES)}")
    module_name, _, cls_name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"estimator {path!r} cannot be imported: {exc}") from None
    if not isinstance(cls, type) or not hasattr(cls, "fit"):
        raise ValueError(f"estimator {path!r} is not an estimator class")
    return cls


def numeric_features(usecase: UseCase) -> tuple[str, ...]:
    """Feature columns treated as numbers (numeric, integer, boolean)."""
    return tuple(
        c.name
        for c in usecase.contract.columns
        if c.feature and c.type in ("numeric", "integer", "boolean")
    )


def categorical_features(usecase: UseCase) -> tuple[str, ...]:
    """Feature columns treated as categories."""
    return tuple(c.name for c in usecase.contract.columns if c.feature and c.type == "categorical")


def build_pipeline(usecase: UseCase, params: dict[str, Any] | None = None) -> Pipeline:
    """Build the unfitted model pipeline for a use case.

    Args:
        usecase: The use case; its contract decides the preprocessing.
        params: Estimator parameters overriding ``usecase.model.params``.

    Returns:
        ``Pipeline([("prep", ColumnTransformer), ("model", estimator)])``.
    """
    cls = load_estimator_class(usecase.model.estimator)
    est_params = dict(usecase.model.params if params is None else params)
    if "random_state" in cls().get_params() and "random_state" not in est_params:
        est_params["random_state"] = usecase.model.random_state
    numeric = list(numeric_features(usecase))
    categorical = list(categorical_features(usecase))
    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric:
        # Median imputation keeps rows whose nullable features are missing.
        transformers.append(("num", SimpleImputer(strategy="median"), numeric))
    if categorical:
        transformers.append(
            (
                "cat",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),
                        (
                            "onehot",
                            OneHotEncoder(
                                handle_unknown="ignore", sparse_output=False, min_frequency=5
                            ),
                        ),
                    ]
                ),
                categorical,
            )
        )
    prep = ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)
    return Pipeline([("prep", prep), ("model", cls(**est_params))])


#: Rows scored at a time: a pipeline's intermediate matrices (typed inputs, the
#: encoded design matrix, the estimator's own float copy) are then bounded by
#: this many rows, not by the batch. Rows are scored independently, so the
#: predictions are the same as in one call.
PREDICT_CHUNK_ROWS = 200_000


def row_chunks(rows: int, size: int = PREDICT_CHUNK_ROWS) -> list[slice]:
    """Consecutive slices of at most ``size`` rows covering ``rows`` (one when empty)."""
    if rows <= size:
        return [slice(0, rows)]
    return [slice(start, min(start + size, rows)) for start in range(0, rows, size)]


def model_input(frame: pd.DataFrame, usecase: UseCase) -> pd.DataFrame:
    """Select and type the model's feature columns from a batch.

    Categoricals become strings (so one-hot encoding and MLflow signatures agree),
    numeric features become float64.

    A column already in its model form (float64 numbers; text with no value
    missing) is not copied: the frame returned shares its memory with
    ``frame``, so neither may be changed in place while the other is in use
    (nothing here does). At a million rows x 25 columns, the copies took 1.1 s
    and 380 MiB per call, and a cycle calls this on every batch several times.
    """
    numeric = set(numeric_features(usecase))
    columns: dict[str, object] = {}
    for name in usecase.contract.feature_names:
        col = frame[name]
        if name in numeric:
            columns[name] = (
                col.to_numpy()
                if col.dtype == np.float64
                else pd.to_numeric(col, errors="coerce").astype("float64").to_numpy()
            )
        elif col.dtype == object and pd.api.types.infer_dtype(col, skipna=False) == "string":
            columns[name] = col.to_numpy()
        else:
            columns[name] = (
                col.astype("string").astype(object).where(col.notna(), np.nan).to_numpy()
            )
    return pd.DataFrame(columns, index=frame.index, copy=False)


def training_ranges(frame: pd.DataFrame, usecase: UseCase) -> dict[str, tuple[float, float]]:
    """Observed min/max of numeric features in the training data (for guardrails)."""
    ranges: dict[str, tuple[float, float]] = {}
    for name in numeric_features(usecase):
        col = pd.to_numeric(frame[name], errors="coerce")
        if col.notna().any():
            ranges[name] = (float(col.min()), float(col.max()))
    return ranges


def segment_maxima(
    frame: pd.DataFrame, segment_column: str, target_column: str
) -> dict[str, float]:
    """Highest target per segment in a training frame (caps of ``segment_history_cap``).

    Args:
        frame: Labeled training rows.
        segment_column: The use case's segment column (e.g. store).
        target_column: The numeric target.

    Returns:
        ``{segment label as text: highest target}``; labels are written the way
        :func:`mlops_core.guardrails.segment_keys` writes them, and segments
        whose targets are all missing are left out (they have no cap).

    Raises:
        ValueError: A column is missing from the frame.
    """
    # Imported here: guardrails owns the label normalisation its lookups use.
    from mlops_core.guardrails import segment_keys

    missing = [c for c in (segment_column, target_column) if c not in frame.columns]
    if missing:
        raise ValueError(f"column(s) {missing} are not in the training frame")
    target = pd.to_numeric(frame[target_column], errors="coerce").to_numpy(dtype=float)
    keys = segment_keys(frame[segment_column].to_numpy())
    table = pd.DataFrame({"segment": keys, "target": target}).dropna()
    maxima = table.groupby("segment", sort=True)["target"].max()
    return {str(k): float(v) for k, v in maxima.items()}
