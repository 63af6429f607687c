"""Schema evolution: the comparison of a champion's training contract with the current one.

The decision table of :func:`compare_contract` (what the champion can live
with, what it cannot), the use case as a model with given inputs sees it, which
features a model trained on a pool with a recently added column reads, and the
words (cycle summary, record, model card) that say so.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from mlops_core.config import UseCase, parse_usecase
from mlops_core.decisions import GateDecision, PromotionInputs, RetrainInputs, TrainingWindow
from mlops_core.features import model_input
from mlops_core.model_card import ModelCardInputs, inputs_lines
from mlops_core.promotion import decide_promotion
from mlops_core.report import CycleOutcome, cycle_markdown, cycle_summary, schema_sentence
from mlops_core.retrain import decide_retrain
from mlops_core.schema_change import (
    SchemaChangeRefused,
    compare_contract,
    contract_columns,
    usecase_for_inputs,
)
from mlops_core.simulator import RetailDemandSimulator, SimulatorConfig
from mlops_core.training import train_model, trained_inputs

pytestmark = pytest.mark.unit

RETAIL = Path(__file__).resolve().parents[2] / "usecases" / "retail_demand.yaml"
BASE = parse_usecase(yaml.safe_load(RETAIL.read_text(encoding="utf-8")), str(RETAIL))
#: What champion version 1 of the shipped use case knows: its training contract.
KNOWN = contract_columns(BASE.contract)
INPUTS = BASE.contract.feature_names


def edited(edit) -> UseCase:
    """The shipped use case with its contract columns edited as a use-case owner would."""
    doc = yaml.safe_load(RETAIL.read_text(encoding="utf-8"))
    edit(doc["contract"]["columns"])
    return parse_usecase(doc, "edited.yaml")


def column(columns: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(c for c in columns if c["name"] == name)


def compare(usecase: UseCase, known=KNOWN, inputs=INPUTS):
    return compare_contract(usecase.contract, inputs, known, champion_version="3")


def codes(decision) -> list[tuple[str, str, str]]:
    return [(c.kind, c.column, c.code) for c in decision.changes]


# ------------------------------------------------------------- decision table
def test_the_same_contract_is_unchanged() -> None:
    d = compare(BASE)
    assert d.action == "unchanged" and d.changes == () and d.new_features == ()
    assert d.champion_inputs == INPUTS and d.basis == "training_contract"


def test_a_feature_added_is_compatible_and_takes_effect_at_the_next_retrain() -> None:
    uc = edited(lambda cols: cols.append({"name": "feels_like", "type": "numeric"}))
    d = compare(uc)
    assert d.action == "compatible" and d.new_features == ("feels_like",)
    assert codes(d) == [("column_added", "feels_like", "new_feature_next_retrain")]
    change = d.changes[0]
    assert change.compatible and not change.champion_input
    assert "version 3 does not read it" in change.message and "next retrain" in change.message


def test_a_column_added_that_is_no_feature_is_compatible_and_no_new_feature() -> None:
    uc = edited(lambda cols: cols.append({"name": "note", "type": "categorical", "feature": False}))
    d = compare(uc)
    assert d.action == "compatible" and d.new_features == ()
    assert codes(d) == [("column_added", "note", "column_added")]


def test_dropping_a_feature_the_champion_reads_is_refused_with_the_way_out() -> None:
    uc = edited(lambda cols: cols.remove(column(cols, "temperature")))
    d = compare(uc)
    assert d.action == "refused"
    assert [(c.kind, c.column, c.code) for c in d.refused_changes] == [
        ("column_dropped", "temperature", "input_dropped")
    ]
    line = str(SchemaChangeRefused("usecases/x.yaml", d))
    assert "\n" not in line and line.startswith("usecases/x.yaml: contract change refused")
    assert "'temperature'" in line and "version 3" in line and "feature: false" in line


def test_the_way_out_is_compatible_the_champion_keeps_reading_the_demoted_column() -> None:
    uc = edited(lambda cols: column(cols, "temperature").update({"feature": False}))
    d = compare(uc)
    assert d.action == "compatible"
    assert codes(d) == [("feature_removed", "temperature", "feature_removed_next_retrain")]
    assert "temperature" in usecase_for_inputs(uc, d.champion_inputs).contract.feature_names


def test_dropping_a_column_the_champion_does_not_read_is_compatible() -> None:
    known = (
        *KNOWN,
        *contract_columns(
            edited(
                lambda cols: cols.append({"name": "note", "type": "categorical", "feature": False})
            ).contract
        )[-1:],
    )
    d = compare(BASE, known=known)
    assert d.action == "compatible"
    assert codes(d) == [("column_dropped", "note", "column_dropped")]


@pytest.mark.parametrize(
    ("name", "new_type", "action", "code"),
    [
        ("temperature", "categorical", "refused", "input_type_changed"),
        ("promotion", "boolean", "refused", "input_type_changed"),
        ("promotion", "numeric", "compatible", "type_changed_same_encoding"),
        ("period", "numeric", "compatible", "type_changed"),
    ],
)
def test_a_type_change_is_refused_only_when_the_champion_reads_the_column_differently(
    name: str, new_type: str, action: str, code: str
) -> None:
    def edit(cols: list[dict[str, Any]]) -> None:
        c = column(cols, name)
        c["type"] = new_type
        if new_type in ("categorical", "boolean"):
            c.pop("min", None)
            c.pop("max", None)

    d = compare(edited(edit))
    assert d.action == action
    assert ("type_changed", name, code) in codes(d)


def test_ranges_widened_and_narrowed_are_compatible_and_named() -> None:
    def edit(cols: list[dict[str, Any]]) -> None:
        column(cols, "temperature").update({"min": -60, "max": 60})
        column(cols, "price").update({"max": 500})
        column(cols, "units_last_week").update({"min": None})

    d = compare(edited(edit))
    assert d.action == "compatible"
    assert set(codes(d)) == {
        ("range_widened", "temperature", "range_widened"),
        ("range_narrowed", "price", "range_narrowed"),
        ("range_widened", "units_last_week", "range_widened"),
    }
    temperature = next(c for c in d.changes if c.column == "temperature")
    assert (temperature.before, temperature.after) == ("[-40, 50]", "[-60, 60]")
    assert "input-range guardrail" in temperature.message


def test_categories_added_and_removed_are_compatible_and_named() -> None:
    def edit(cols: list[dict[str, Any]]) -> None:
        column(cols, "store")["categories"] = ["S01", "S02", "S03", "S04", "S05", "S06", "S07"]
        column(cols, "category")["categories"] = ["grocery", "household", "electronics"]

    d = compare(edited(edit))
    assert d.action == "compatible"
    assert set(codes(d)) == {
        ("category_added", "store", "category_added"),
        ("category_removed", "category", "category_removed"),
    }
    added = next(c for c in d.changes if c.column == "store")
    assert "S07" in added.message and "unknown category" in added.message


def test_any_category_allowed_is_a_category_added() -> None:
    d = compare(edited(lambda cols: column(cols, "store").pop("categories")))
    assert codes(d) == [("category_added", "store", "category_added")]
    assert "any category" in d.changes[0].message


def test_a_column_made_a_feature_takes_effect_at_the_next_retrain() -> None:
    uc = edited(lambda cols: column(cols, "period").update({"feature": True}))
    d = compare(uc)
    assert codes(d) == [("feature_added", "period", "new_feature_next_retrain")]
    assert d.new_features == ("period",)


def test_a_feature_the_champion_could_not_learn_is_a_new_feature_not_a_change() -> None:
    """Trained under a contract with feels_like, on rows that all lacked it."""
    uc = edited(lambda cols: cols.append({"name": "feels_like", "type": "numeric"}))
    d = compare(uc, known=contract_columns(uc.contract), inputs=INPUTS)
    assert d.action == "unchanged" and d.new_features == ("feels_like",)


def test_a_champion_that_recorded_only_its_input_names_is_still_protected() -> None:
    dropped = edited(lambda cols: cols.remove(column(cols, "price")))
    d = compare(dropped, known=None)
    assert d.action == "refused" and d.basis == "feature_names"
    assert [(c.column, c.code) for c in d.refused_changes] == [("price", "input_dropped")]
    added = edited(lambda cols: cols.append({"name": "feels_like", "type": "numeric"}))
    d = compare(added, known=None)
    # Only the names are known: no role column counts as added, the new input is named.
    assert d.action == "compatible"
    assert codes(d) == [("feature_added", "feels_like", "new_feature_next_retrain")]


# ---------------------------------------------------- the champion's own inputs
def test_the_use_case_as_the_champion_sees_it_reads_rows_without_the_new_column() -> None:
    uc = edited(lambda cols: cols.append({"name": "feels_like", "type": "numeric"}))
    older = RetailDemandSimulator(SimulatorConfig(seed=3)).batch(2)
    with pytest.raises(KeyError, match="feels_like"):
        model_input(older, uc)  # the reported fault, in pure form
    sees = usecase_for_inputs(uc, INPUTS)
    x = model_input(older, sees)
    assert tuple(x.columns) == INPUTS
    # Everything else is the current use case.
    assert sees.guardrails == uc.guardrails and sees.metric == uc.metric
    assert {c.name for c in sees.contract.columns} == {c.name for c in uc.contract.columns}
    assert usecase_for_inputs(uc, uc.contract.feature_names) is uc
    with pytest.raises(ValueError, match="'humidity'"):
        usecase_for_inputs(uc, (*INPUTS, "humidity"))


def test_inputs_keep_the_champions_order() -> None:
    order = tuple(reversed(INPUTS))
    assert usecase_for_inputs(BASE, order).contract.feature_names == order


def _pool_with_feels_like(from_period: int | None) -> tuple[UseCase, pd.DataFrame]:
    sim = RetailDemandSimulator(SimulatorConfig(seed=5))
    pool = sim.labeled_history()
    rng = np.random.default_rng(0)
    pool["feels_like"] = pool["temperature"] - 2 + rng.normal(0, 1.5, len(pool))
    if from_period is None:
        pool["feels_like"] = np.nan
    else:
        pool.loc[pool["period"] < from_period, "feels_like"] = np.nan
    uc = edited(lambda cols: cols.append({"name": "feels_like", "type": "numeric"}))
    return uc, pool


def test_a_feature_without_any_value_in_the_training_rows_is_not_read() -> None:
    uc, pool = _pool_with_feels_like(None)
    assert trained_inputs(pool, uc) == INPUTS
    uc, pool = _pool_with_feels_like(6)
    assert trained_inputs(pool, uc) == (*INPUTS, "feels_like")


def test_a_model_trained_after_the_change_reads_the_column_older_rows_hold_as_missing() -> None:
    uc, pool = _pool_with_feels_like(6)
    result = train_model(
        pool, uc, TrainingWindow(kind="expanding", first_period=None, last_period=7)
    )
    assert result.inputs == (*INPUTS, "feels_like")
    assert "feels_like" in result.importance and "feels_like" in result.training_ranges
    assert math.isfinite(result.holdout_metrics["mae"])


# ------------------------------------------------------------------- the words
def _outcome(uc: UseCase) -> CycleOutcome:
    gate = GateDecision(
        action="pass",
        batch="period_009.csv",
        batch_sha256="a" * 64,
        rows=360,
        reasons=(),
        results=(),
    )
    # No labels this week: the decision is a skip, whatever the contract did.
    retrain = decide_retrain(
        RetrainInputs(
            period=9,
            gate_passed=True,
            has_champion=True,
            champion_trained_period=7,
            new_labeled_rows=0,
            last_labeled_period=7,
            rows_per_period=360.0,
        ),
        BASE.retrain,
        BASE.drift,
        "mae",
    )
    return CycleOutcome(
        period=9,
        batch="period_009.csv",
        gate=gate,
        retrain=retrain,
        champion_version="3",
        champion_before="3",
        schema=compare(uc),
    )


def test_the_summary_and_the_record_say_what_changed() -> None:
    uc = edited(lambda cols: cols.append({"name": "feels_like", "type": "numeric"}))
    o = _outcome(uc)
    summary = cycle_summary(o)
    assert "The contract changed since version 3 was trained: 'feels_like' was added" in summary
    assert "next retrain" in summary
    markdown = cycle_markdown(o, "retail_demand")
    assert "## Contract changes since version 3 was trained" in markdown
    assert "| feels_like | column_added | `new_feature_next_retrain` | no | yes |" in markdown
    assert schema_sentence(compare(BASE)) is None
    dropped = edited(lambda cols: cols.remove(column(cols, "price")))
    assert schema_sentence(compare(dropped)) is None, "a refused change stops the cycle"


def _card(inputs: tuple[str, ...], previous: tuple[str, ...] | None) -> ModelCardInputs:
    promo = decide_promotion(
        PromotionInputs(
            metric="mae",
            holdout_rows=720,
            challenger_metric=7.0,
            champion_metric=8.0,
            loss_difference_mean=1.0,
            loss_difference_low=0.5,
            loss_difference_high=1.5,
            p_value=0.002,
        ),
        BASE.promotion,
    )
    return ModelCardInputs(
        usecase="retail_demand",
        model_name="retail_demand",
        version="4",
        run_id="r",
        previous_version="3" if previous is not None else None,
        estimator="sklearn.ensemble.HistGradientBoostingRegressor",
        task="regression",
        metric="mae",
        trained_first_period=None,
        trained_last_period=9,
        train_rows=3000,
        holdout_metrics={"mae": 7.0},
        promotion=promo,
        importance={},
        training_ranges={},
        contract_ranges={},
        inputs=inputs,
        previous_inputs=previous,
    )


def test_the_model_card_lists_inputs_gained_and_lost_against_the_previous_champion() -> None:
    lines = " ".join(inputs_lines(_card((*INPUTS[1:], "feels_like"), INPUTS)))
    assert "New since version 3: feels_like." in lines
    assert f"Read by version 3, not by this version: {INPUTS[0]}." in lines
    assert "The same inputs as version 3." in " ".join(inputs_lines(_card(INPUTS, INPUTS)))
    assert "New since" not in " ".join(inputs_lines(_card(INPUTS, None)))
    assert inputs_lines(_card((), None)) == []
