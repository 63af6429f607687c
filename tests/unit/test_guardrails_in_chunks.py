"""Guardrails on a batch in chunks: two passes give what the whole batch gives.

The first pass tallies every chunk with no batch finding decided; the merged
tally decides the findings of each input-range rule; the second pass guards
each chunk with those findings. Its rows, put together, and the summary of its
merged tally (with the circuit breaker decided on the whole batch) must equal
:func:`apply_guardrails` on the whole batch, field for field.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from mlops_core.config import GuardrailPolicy
from mlops_core.guardrails import (
    GuardrailResult,
    GuardrailTally,
    apply_guardrails,
    guard_rows,
    summarize,
)

pytestmark = pytest.mark.unit

ROWS = 600
TRAINING = {"temp": (0.0, 30.0), "month": (1.0, 6.0), "price": (1.0, 9.0)}
CAPS = {"a": 40.0, "b": 25.0}


def _batch(seed: int, *, shifted: bool) -> tuple[np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    predictions = rng.normal(20.0, 12.0, ROWS)
    predictions[rng.choice(ROWS, 6, replace=False)] = np.nan
    predictions[rng.choice(ROWS, 3, replace=False)] = np.inf
    frame = pd.DataFrame(
        {
            "capacity": np.where(rng.random(ROWS) < 0.05, np.nan, rng.uniform(20, 60, ROWS)),
            "last_week": rng.uniform(0, 40, ROWS),
            "baseline": rng.uniform(5, 15, ROWS),
            # A tenth of the rows out of range, all in the last chunk when shifted: no
            # finding for the whole batch (under batch_share), one for that chunk alone.
            "temp": np.where(np.arange(ROWS) >= ROWS * 9 // 10, 45.0, 15.0)
            if shifted
            else rng.uniform(-2, 31, ROWS),
            "month": rng.choice([1, 2, 3, 4, 5, 6, 7] if shifted else [1, 2, 3], ROWS),
            "price": rng.uniform(0.5, 9.5, ROWS),
            "store": rng.choice(["a", "b", "c"], ROWS),
        }
    )
    return predictions, frame


def _policy(breaker: float, action: str) -> GuardrailPolicy:
    return GuardrailPolicy.model_validate(
        {
            "rules": [
                {"kind": "range", "min": 0, "action": "clip"},
                {"kind": "cap_column", "column": "capacity", "action": "fallback"},
                {
                    "kind": "max_ratio_to_column",
                    "column": "last_week",
                    "ratio": 1.5,
                    "floor": 5.0,
                    "action": "flag",
                },
                {
                    "kind": "input_out_of_range",
                    "action": action,
                    "batch_share": 0.2,
                    "tolerance": 0.05,
                    "calendar_columns": {"month": "month"},
                },
                {"kind": "segment_history_cap", "multiple": 1.2, "action": "quarantine"},
                {"kind": "finite", "action": "quarantine"},
            ],
            "fallback": {"column": "baseline"},
            "max_violation_rate": breaker,
        }
    )


def _in_chunks(
    predictions: np.ndarray, frame: pd.DataFrame, policy: GuardrailPolicy, cuts: Sequence[int]
) -> GuardrailResult:
    pieces = list(zip(cuts, cuts[1:], strict=False))

    def guard(findings: dict[int, frozenset[str]] | None) -> tuple[list, GuardrailTally]:
        rows, tally = [], None
        for start, end in pieces:
            part = frame.iloc[start:end]
            guarded, seen = guard_rows(
                predictions[start:end],
                part,
                policy,
                TRAINING,
                CAPS,
                part["store"],
                findings=findings,
            )
            rows.append(guarded)
            tally = seen if tally is None else tally.merged(seen)
        assert tally is not None
        return rows, tally

    _, first = guard({})  # no finding decided: what every chunk tallies
    rows, tally = guard(first.findings())
    assert tally.findings() == first.findings()
    summary = summarize(tally, policy)
    held = np.concatenate([r.held for r in rows])
    return GuardrailResult(
        values=np.concatenate([r.values for r in rows]),
        raw=np.concatenate([r.raw for r in rows]),
        held=np.ones_like(held) if summary.breaker_tripped else held,
        flagged=np.concatenate([r.flagged for r in rows]),
        violations=np.concatenate([r.violations for r in rows]),
        summary=summary,
    )


@pytest.mark.parametrize("shifted", [False, True])
@pytest.mark.parametrize("action", ["flag", "quarantine"])
@pytest.mark.parametrize("breaker", [1.0, 0.05])
@pytest.mark.parametrize("cuts", [[0, 1, 200, 200, 450, ROWS], [0, 150, 300, 450, ROWS]])
def test_chunks_give_what_the_whole_batch_gives(
    shifted: bool, action: str, breaker: float, cuts: list[int]
) -> None:
    predictions, frame = _batch(3, shifted=shifted)
    policy = _policy(breaker, action)
    whole = apply_guardrails(predictions, frame, policy, TRAINING, CAPS, frame["store"])
    chunked = _in_chunks(predictions, frame, policy, cuts)

    for field in ("values", "raw", "held", "flagged", "violations"):
        np.testing.assert_array_equal(getattr(chunked, field), getattr(whole, field))
    assert chunked.summary == whole.summary
    # The cases are what they say: a shifted batch makes findings, a low limit trips.
    assert bool(whole.summary.findings) == shifted
    assert whole.summary.breaker_tripped == (breaker < 1.0)


def test_class_labels_in_chunks_give_what_the_whole_batch_gives() -> None:
    _, frame = _batch(5, shifted=True)
    labels = np.array(["yes", "no", None] * (ROWS // 3), dtype=object)
    policy = _policy(1.0, "flag")
    whole = apply_guardrails(labels, frame, policy, TRAINING)

    cuts = [0, 250, 251, ROWS]
    findings = None
    for _ in range(2):
        tally = None
        rows = []
        for start, end in zip(cuts, cuts[1:], strict=False):
            guarded, seen = guard_rows(
                labels[start:end],
                frame.iloc[start:end],
                policy,
                TRAINING,
                findings=findings or {},
            )
            rows.append(guarded)
            tally = seen if tally is None else tally.merged(seen)
        assert tally is not None
        findings = tally.findings()
    assert summarize(tally, policy) == whole.summary
    np.testing.assert_array_equal(np.concatenate([r.held for r in rows]), whole.held)
    np.testing.assert_array_equal(np.concatenate([r.flagged for r in rows]), whole.flagged)
