"""The model's input: a batch's feature columns, typed as every fit and prediction sees them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlops_core.config import UseCase, parse_usecase
from mlops_core.features import model_input

pytestmark = pytest.mark.unit


RETAIL = Path(__file__).resolve().parents[2] / "usecases" / "retail_demand.yaml"


def _usecase() -> UseCase:
    return parse_usecase(yaml.safe_load(RETAIL.read_text(encoding="utf-8")), str(RETAIL))


def _typed_copy(frame: pd.DataFrame, usecase: UseCase) -> pd.DataFrame:
    """What the model's input is, spelled out: every column converted into a new frame."""
    out = {}
    for column in usecase.contract.columns:
        if not column.feature:
            continue
        col = frame[column.name]
        if column.type == "categorical":
            out[column.name] = col.astype("string").astype(object).where(col.notna(), np.nan)
        else:
            out[column.name] = pd.to_numeric(col, errors="coerce").astype("float64")
    return pd.DataFrame(out, index=frame.index)


def _frame() -> pd.DataFrame:
    """Four rows of the retail use case's columns, each already in its model form
    but the integer ones (which become float64)."""
    return pd.DataFrame(
        {
            "row_id": ["a", "b", "c", "d"],
            "period": [7, 7, 8, 8],
            "store": ["S1", "S2", "S1", "S3"],
            "category": ["food", "toys", "food", "garden"],
            "price": [1.5, 2.0, np.nan, 4.25],
            "promotion": [0, 1, 0, 1],
            "temperature": [11.0, 12.5, 9.0, 10.0],
            "holiday": [0, 0, 1, 0],
            "units_last_week": [3.0, 0.0, 5.0, 1.0],
            "store_capacity": [40.0, 30.0, 40.0, 25.0],
            "units_sold": [1.0, 2.0, 3.0, 4.0],
        },
        index=[10, 11, 12, 13],
    )


CASES = {
    "typed": lambda f: f,
    "missing text": lambda f: f.assign(category=["food", None, np.nan, "garden"]),
    "numbers as categories": lambda f: f.assign(store=[1, 2, 1, 3]),
    "mixed categories": lambda f: f.assign(store=["S1", 2, "S1", 3.5]),
    "pandas categorical": lambda f: f.assign(store=pd.Categorical(f["store"])),
    "numbers as text": lambda f: f.assign(price=["1.5", "2", "oops", None]),
    "nullable integers": lambda f: f.assign(promotion=pd.array([0, None, 1, 1], dtype="Int64")),
    "a slice": lambda f: f.iloc[1:3],
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_input_is_the_typed_feature_columns_in_contract_order(case: str) -> None:
    usecase = _usecase()
    frame = CASES[case](_frame())
    x = model_input(frame, usecase)
    pd.testing.assert_frame_equal(x, _typed_copy(frame, usecase))
    assert list(x.columns) == [
        "store",
        "category",
        "price",
        "promotion",
        "temperature",
        "holiday",
        "units_last_week",
        "store_capacity",
    ]


def test_columns_already_in_model_form_are_shared_not_copied() -> None:
    frame = _frame()
    x = model_input(frame, _usecase())
    for shared in ("store", "category", "price", "temperature", "store_capacity"):
        assert np.shares_memory(x[shared].to_numpy(), frame[shared].to_numpy()), shared
    # Integers become float64, so they are converted.
    assert not np.shares_memory(x["promotion"].to_numpy(), frame["promotion"].to_numpy())
