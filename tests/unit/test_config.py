"""Use-case parsing: a valid file parses; every error names the file and the key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from mlops_core.config import UseCase, UseCaseError, is_url, parse_usecase

pytestmark = pytest.mark.unit

SOURCE = "usecases/store_sales.yaml"
USECASES = Path(__file__).resolve().parents[2] / "usecases"


def valid() -> dict[str, Any]:
    return {
        "name": "store-sales",
        "data": {
            "landing": "landing",
            "labels": "labels",
            "id_column": "id",
            "time_column": "week",
            "target_column": "sales",
            "segment_column": "store",
        },
        "contract": {
            "columns": [
                {"name": "id", "type": "integer", "feature": False},
                {"name": "week", "type": "integer", "feature": False},
                {"name": "store", "type": "categorical", "categories": ["S1", "S2"]},
                {"name": "price", "type": "numeric", "min": 0},
                {"name": "capacity", "type": "numeric", "feature": False},
            ]
        },
        "model": {"task": "regression", "estimator": "sklearn.linear_model.Ridge"},
        "metric": {"primary": "mae"},
        "promotion": {"floor": 100.0},
        "guardrails": {"rules": [{"kind": "cap_column", "column": "capacity", "action": "clip"}]},
    }


def test_valid_usecase_parses_with_defaults() -> None:
    uc = parse_usecase(valid(), SOURCE)
    assert isinstance(uc, UseCase)
    assert uc.contract.feature_names == ("store", "price")
    assert uc.promotion.floor == 100.0
    assert uc.retrain.min_new_labels == 100  # default applied
    assert uc.metric.greater_is_better is False
    assert uc.guardrails.rules[0].label == "cap_column"
    with pytest.raises(pydantic.ValidationError):
        uc.retrain.max_decay = 0.5  # type: ignore[misc]  # frozen


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(d: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = d
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda d: d.pop(key)


def _add_rule(rule: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["guardrails"]["rules"].append(rule)


@pytest.mark.parametrize(
    ("mutate", "key", "words"),
    [
        pytest.param(_set("colour", "blue"), "colour", "unknown key", id="unknown-top-key"),
        pytest.param(
            _set("retrain.max_decy", 0.2),
            "retrain.max_decy",
            "unknown key",
            id="unknown-nested-key",
        ),
        pytest.param(
            _set("contract.columns.3.maximum", 3),
            "contract.columns.3.maximum",
            "unknown key",
            id="unknown-column-key",
        ),
        pytest.param(
            _set("guardrails.rules.0.colum", "x"),
            "guardrails.rules.0.colum",
            "unknown key",
            id="unknown-rule-key",
        ),
        pytest.param(
            _set("retrain.min_new_labels", "many"),
            "retrain.min_new_labels",
            "'many'",
            id="wrong-type",
        ),
        pytest.param(
            _set("retrain.min_new_labels", 0),
            "retrain.min_new_labels",
            "greater than or equal to 1",
            id="out-of-bounds",
        ),
        pytest.param(_set("metric.primary", "r2"), "metric.primary", "'r2'", id="unknown-metric"),
        pytest.param(
            _set("metric.primary", "accuracy"),
            "metric.primary",
            "does not apply to a regression model",
            id="metric-for-other-task",
        ),
        pytest.param(
            _set("data.id_column", "ident"),
            "data.id_column",
            "column 'ident' is not defined",
            id="undefined-id-column",
        ),
        pytest.param(
            _set("data.segment_column", "region"),
            "data.segment_column",
            "column 'region' is not defined",
            id="undefined-segment-column",
        ),
        pytest.param(
            _add_rule({"kind": "cap_column", "column": "cap", "action": "clip"}),
            "guardrails.rules.1.column",
            "column 'cap' is not defined",
            id="undefined-guardrail-column",
        ),
        pytest.param(
            _set("guardrails.fallback", {"column": "nope"}),
            "guardrails.fallback.column",
            "column 'nope' is not defined",
            id="undefined-fallback-column",
        ),
        pytest.param(
            _set("guardrails.rules.0.action", "fallback"),
            "guardrails",
            "no fallback is configured",
            id="fallback-not-configured",
        ),
        pytest.param(
            _set("data.target_column", "price"),
            "data.target_column",
            "must not be a contract column",
            id="target-in-contract",
        ),
        pytest.param(
            _set("contract.columns.2.min", 3),
            "contract.columns.2",
            "min/max apply to numeric types only",
            id="range-on-categorical",
        ),
        pytest.param(
            _set("contract.columns.0.name", "price"),
            "contract",
            "defined twice",
            id="duplicate-column",
        ),
        pytest.param(
            _set("labels.target_classes", ["UP", "DOWN"]),
            "labels.target_classes",
            "classes apply to a classification target",
            id="classes-on-regression",
        ),
        pytest.param(
            lambda d: d.setdefault("labels", {}).update(target_min=10, target_max=1),
            "labels.target_min",
            "above target_max",
            id="target-min-above-max",
        ),
        pytest.param(_drop("model"), "model", "required key is missing", id="missing-section"),
        pytest.param(_set("name", "Store Sales"), "name", "pattern", id="bad-name"),
        pytest.param(
            _set("data.landing", "s3://"), "data.landing", "names no bucket", id="url-no-bucket"
        ),
        pytest.param(_set("data.labels", ""), "data.labels", "at least 1", id="empty-labels"),
        pytest.param(
            _set("retrain.window", "rolling"), "retrain.window", "'rolling'", id="bad-literal"
        ),
    ],
)
def test_parse_errors_name_file_and_key(
    mutate: Callable[[dict[str, Any]], None], key: str, words: str
) -> None:
    raw = valid()
    mutate(raw)
    with pytest.raises(UseCaseError) as info:
        parse_usecase(raw, SOURCE)
    err = info.value
    assert err.source == SOURCE
    assert err.key == key
    assert words in err.message
    assert str(err) == f"{SOURCE}: {key}: {err.message}"
    assert "\n" not in str(err)


def test_landing_and_labels_may_be_object_store_urls() -> None:
    raw = valid()
    raw["data"].update(landing="s3://acme/retail/landing", labels="gs://acme/labels/")
    data = parse_usecase(raw, SOURCE).data
    assert (is_url(data.landing), is_url(data.labels)) == (True, True)
    assert not is_url(valid()["data"]["landing"]) and not is_url("/srv/landing")


def test_non_mapping_is_an_error() -> None:
    with pytest.raises(UseCaseError) as info:
        parse_usecase(["name", "x"], SOURCE)
    assert str(info.value).startswith(f"{SOURCE}: (root): ")


@pytest.mark.parametrize("path", sorted(USECASES.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_usecases_parse(path: Path) -> None:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    uc = parse_usecase(raw, path.name)
    assert uc.name
