"""The training row budget: how many rows each period gives, and that the draw is seeded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops_core.sampling import RowBudget, period_rates, sample_within_budget

pytestmark = pytest.mark.unit


def _frame(counts: list[int]) -> pd.DataFrame:
    """Rows of periods 0, 1, ... with ``counts`` rows each, periods shuffled in the frame."""
    periods = np.repeat(np.arange(len(counts)), counts)
    rng = np.random.default_rng(1)
    rng.shuffle(periods)
    return pd.DataFrame({"row": np.arange(len(periods)), "period": periods})


def _kept(sample: pd.DataFrame, periods: int) -> np.ndarray:
    return np.bincount(sample["period"], minlength=periods)


def test_a_frame_within_the_budget_is_kept_whole() -> None:
    frame = _frame([100, 200])
    assert sample_within_budget(frame, "period", RowBudget(rows=300)) is frame


def test_every_period_keeps_its_share_and_the_rows_keep_their_order() -> None:
    counts = [5_000, 1_000, 20_000, 4_000]  # unequal periods, e.g. a seasonal peak
    frame = _frame(counts)
    sample = sample_within_budget(frame, "period", RowBudget(rows=3_000, seed=7))
    assert len(sample) == 3_000
    # 3,000 of 30,000 rows: a tenth of each period, to the row.
    assert _kept(sample, 4).tolist() == [500, 100, 2_000, 400]
    assert sample["row"].is_monotonic_increasing and sample["row"].is_unique
    assert set(sample["row"]) <= set(frame["row"])


def test_the_draw_is_seeded() -> None:
    frame = _frame([3_000, 3_000])
    one = sample_within_budget(frame, "period", RowBudget(rows=1_000, seed=3))
    assert one.equals(sample_within_budget(frame, "period", RowBudget(rows=1_000, seed=3)))
    other = sample_within_budget(frame, "period", RowBudget(rows=1_000, seed=4))
    assert not one["row"].equals(other["row"])


def test_with_a_half_life_a_periods_rate_halves_every_half_life_back() -> None:
    sample = sample_within_budget(
        _frame([10_000] * 5), "period", RowBudget(rows=7_750, half_life_periods=1.0)
    )
    # Rates 0.025, 0.05, 0.1, 0.2 and 0.4, oldest to newest.
    assert _kept(sample, 5).tolist() == [250, 500, 1_000, 2_000, 4_000]
    two = sample_within_budget(
        _frame([10_000] * 5), "period", RowBudget(rows=7_750, half_life_periods=2.0)
    )
    kept = _kept(two, 5)
    assert kept.sum() == 7_750
    np.testing.assert_allclose(kept[1:] / kept[:-1], 2**0.5, rtol=0.01)


def test_a_period_the_rate_would_lift_above_one_is_kept_whole() -> None:
    counts = np.array([50_000, 50_000, 1_000])
    weights = 0.5 ** np.array([2.0, 1.0, 0.0])
    rates = period_rates(counts, weights, 40_000)
    # The newest, small period is kept whole; the other two share what it leaves, 1:2.
    assert rates[2] == 1.0
    assert (counts * rates).sum() == pytest.approx(40_000)
    assert rates[1] / rates[0] == pytest.approx(2.0)
    sample = sample_within_budget(
        _frame(counts.tolist()), "period", RowBudget(rows=40_000, half_life_periods=1.0)
    )
    assert _kept(sample, 3).tolist() == [13_000, 26_000, 1_000]
