"""The training row budget: at most a set number of rows, sampled period by period.

A fit's cost grows with its rows, and past a few hundred thousand rows a tabular
model learns little more from each one. A window above the budget is cut to it
by a seeded sample drawn separately in each period, so every period keeps its
share: a seasonal pattern a year back is still in the sample. With a half-life,
a period's sampling rate halves every ``half_life`` periods back from the
newest instead, so recent behaviour weighs more (periods the rate would lift
above one are kept whole, and the rest share what they leave).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class RowBudget:
    """How many rows a fit may use and how they are drawn across periods.

    Attributes:
        rows: The most rows kept.
        half_life_periods: None: every period is sampled at the same rate; a
            number: a period's rate halves every that many periods back from
            the newest.
        seed: Seed of the draw.
    """

    rows: int
    half_life_periods: float | None = None
    seed: int = 0


def period_rates(counts: np.ndarray, weights: np.ndarray, budget: int) -> np.ndarray:
    """Per-period sampling rates in [0, 1], proportional to ``weights``, that keep ``budget`` rows.

    A period whose rate would pass 1 is kept whole, and its surplus goes to the
    others in proportion to their weights (water filling).

    Args:
        counts: Rows in each period (all positive).
        weights: Positive relative rate of each period.
        budget: Rows to keep, below ``counts.sum()``.

    Returns:
        The rates, one per period.
    """
    rates = np.zeros(len(counts))
    whole = np.zeros(len(counts), dtype=bool)
    while True:
        left = budget - counts[whole].sum()
        scale = left / (counts[~whole] * weights[~whole]).sum()
        rates[~whole] = scale * weights[~whole]
        over = ~whole & (rates >= 1.0)
        if not over.any():
            break
        whole |= over
        rates[whole] = 1.0
    return rates


def _quotas(counts: np.ndarray, rates: np.ndarray, budget: int) -> np.ndarray:
    """Whole rows per period summing to ``budget`` (largest remainders, ties to the newer)."""
    exact = counts * rates
    quotas = np.minimum(np.floor(exact).astype(np.int64), counts)
    short = budget - int(quotas.sum())
    if short > 0:
        room = quotas < counts
        remainders = np.where(room, exact - quotas, -1.0)
        # Stable descending by remainder; among equal remainders the newer period first.
        order = np.lexsort((-np.arange(len(counts)), -remainders))
        quotas[order[:short]] += 1
    return quotas


def positions_within_budget(periods: pd.Series, budget: RowBudget) -> np.ndarray | None:
    """Positions of the rows a budget keeps, in order; None when every row fits.

    Each period (value of ``periods``) gives its quota of rows, drawn uniformly
    without replacement.

    Args:
        periods: The period of each row.
        budget: The budget.

    Returns:
        Sorted row positions, or None.
    """
    if len(periods) <= budget.rows:
        return None
    codes, uniques = pd.factorize(periods, sort=True, use_na_sentinel=False)
    counts = np.bincount(codes, minlength=len(uniques)).astype(np.int64)
    if budget.half_life_periods is None:
        weights = np.ones(len(uniques))
    else:
        age = np.arange(len(uniques))[::-1]  # 0 for the newest period
        weights = 0.5 ** (age / budget.half_life_periods)
    quotas = _quotas(counts, period_rates(counts, weights, budget.rows), budget.rows)
    rng = np.random.default_rng(budget.seed)
    by_period = np.argsort(codes, kind="stable")
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    kept = [
        rng.choice(by_period[start : start + count], size=quota, replace=False)
        for start, count, quota in zip(starts, counts, quotas, strict=True)
        if quota
    ]
    return np.sort(np.concatenate(kept))


def sample_within_budget(frame: pd.DataFrame, time_column: str, budget: RowBudget) -> pd.DataFrame:
    """``frame`` itself when it fits the budget, else the rows the budget keeps.

    Args:
        frame: The rows a fit would use.
        time_column: The period of each row.
        budget: The budget (see :func:`positions_within_budget`).

    Returns:
        The rows to fit on, in their order in ``frame``.
    """
    positions = positions_within_budget(frame[time_column], budget)
    return frame if positions is None else frame.iloc[positions]
