"""Drift statistics: FDR control, effect sizes, combined verdicts, domain classifier."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import false_discovery_control, ks_2samp, wasserstein_distance

from mlops_core.config import DriftPolicy
from mlops_core.drift_stats import (
    MIN_DOMAIN_ROWS,
    benjamini_hochberg,
    category_effect,
    combined_verdicts,
    domain_classifier_auc,
    ks_effect,
    normalised_importance,
    normed_wasserstein,
)

pytestmark = pytest.mark.unit


# ------------------------------------------------------------ Benjamini-Hochberg
@pytest.mark.parametrize(
    ("p_values", "alpha", "expected"),
    [
        # sorted 0.005 0.01 0.03 | 0.045 0.2 vs 0.01 0.02 0.03 0.04 0.05: k = 3
        ([0.01, 0.045, 0.03, 0.005, 0.2], 0.05, [True, False, True, True, False]),
        # step-up: 0.03 misses its own bound 0.025, but rank 3 (0.032 <= 0.0375) passes
        ([0.001, 0.03, 0.032, 0.2], 0.05, [True, True, True, False]),
        ([0.02, 0.03, 0.04], 0.01, [False, False, False]),
        ([0.04, 0.04, 0.04], 0.05, [True, True, True]),  # ties share the verdict
        ([0.001, float("nan"), 0.04], 0.05, [True, False, True]),  # NaN never rejected, m = 2
        ([], 0.05, []),
    ],
)
def test_benjamini_hochberg_hand_computed(
    p_values: list[float], alpha: float, expected: list[bool]
) -> None:
    assert benjamini_hochberg(p_values, alpha).tolist() == expected


@pytest.mark.parametrize(("seed", "alpha"), [(0, 0.05), (1, 0.05), (2, 0.1), (3, 0.01)])
def test_benjamini_hochberg_agrees_with_scipy(seed: int, alpha: float) -> None:
    rng = np.random.default_rng(seed)
    # a mixture of true effects (small p-values) and nulls (uniform)
    p_values = np.concatenate([rng.uniform(0, 0.002, 15), rng.uniform(0, 1, 85)])
    rng.shuffle(p_values)

    ours = benjamini_hochberg(p_values, alpha)
    expected = false_discovery_control(p_values, method="bh") <= alpha
    assert ours.tolist() == expected.tolist()
    assert 0 < ours.sum() < len(p_values)  # both outcomes exercised
    assert ours.sum() < (p_values <= alpha).sum()  # fewer than uncorrected


# ------------------------------------------------------------- combined verdicts
@pytest.mark.parametrize(
    ("p_values", "effects", "min_effect", "expected"),
    [
        ([1e-30, 1e-30], [0.02, 0.3], 0.1, [False, True]),  # significant but tiny: no drift
        ([0.5, 0.6], [0.4, 0.5], 0.1, [False, False]),  # large but noise (small batch)
        ([1e-6, 0.9], [0.1, 0.1], 0.1, [True, False]),  # the minimum effect counts as drift
        ([1e-6, 1e-6], [0.06, 0.06], [0.05, 0.1], [True, False]),  # minimum per feature
        ([1e-6, float("nan")], [float("nan"), 0.5], 0.1, [False, False]),  # NaN never drifts
        ([], [], 0.1, []),
    ],
    ids=["tiny-effect", "noise", "at-minimum", "per-feature-minimum", "nan", "empty"],
)
def test_tested_feature_needs_significance_and_a_minimum_effect(
    p_values: list[float],
    effects: list[float],
    min_effect: float | list[float],
    expected: list[bool],
) -> None:
    verdicts = combined_verdicts(p_values, effects, alpha=0.05, min_effect=min_effect)
    assert verdicts.tolist() == expected


def test_significance_is_corrected_across_features() -> None:
    # p = 0.03 passes alone at 0.05 but not among 10 tests (BH bound 0.005 at rank 1)
    verdicts = combined_verdicts([0.03] + [0.9] * 9, [0.5] * 10, alpha=0.05, min_effect=0.1)
    assert not verdicts.any()
    alone = combined_verdicts([0.03], [0.5], alpha=0.05, min_effect=0.1)
    assert alone.tolist() == [True]


# ------------------------------------------------------------------ effect sizes
@pytest.mark.parametrize(
    ("rows_ref", "rows_cur", "shift", "integer"),
    [
        (500, 700, 0.0, False),
        (2000, 1500, 0.3, False),
        (300, 300, 1.0, True),
        (50, 4000, 0.1, True),
    ],
)
def test_ks_effect_is_the_ks_2samp_statistic(
    rows_ref: int, rows_cur: int, shift: float, integer: bool
) -> None:
    rng = np.random.default_rng(rows_ref)
    ref = rng.normal(5, 2, rows_ref)
    cur = rng.normal(5 + 2 * shift, 2, rows_cur)
    if integer:  # ties between and within the samples
        ref, cur = np.round(ref), np.round(cur)

    assert ks_effect(ref, cur) == pytest.approx(ks_2samp(ref, cur).statistic, abs=1e-12)


def test_ks_effect_drops_missing_values_and_rejects_empty_sides() -> None:
    ref, cur = np.array([1.0, 2.0, np.nan, 3.0]), np.array([2.5, np.inf, 3.5])
    assert ks_effect(ref, cur) == pytest.approx(ks_2samp([1, 2, 3], [2.5, 3.5]).statistic)
    with pytest.raises(ValueError, match="finite"):
        ks_effect(ref, [np.nan])


@pytest.mark.parametrize(
    ("reference", "current", "expected"),
    [
        (["a", "a", "b", "b"], ["a", "b", "a", "b"], 0.0),
        (["a", "a", "a", "b"], ["a", "b", "b", "b"], 0.5),  # 0.5 * (|.75-.25| + |.25-.75|)
        (["a", "b"], ["c", "c", "c"], 1.0),  # disjoint categories
        (["a", "a", "b", "c"], ["a", "b", "b", "b"], 0.5),  # c only in reference
        (["x", None, "y", np.nan], ["x", "x", None], 0.5),  # missing values dropped
        ([True, False, False, False], [True, True, False, False], 0.25),
    ],
)
def test_category_effect_is_the_total_variation_distance(
    reference: list[object], current: list[object], expected: float
) -> None:
    assert category_effect(reference, current) == pytest.approx(expected)
    assert category_effect(current, reference) == pytest.approx(expected)  # symmetric


def test_category_effect_does_not_grow_with_rows() -> None:
    rng = np.random.default_rng(4)
    shares = [
        category_effect(
            rng.choice(list("abc"), rows, p=[0.5, 0.3, 0.2]),
            rng.choice(list("abc"), rows, p=[0.4, 0.3, 0.3]),
        )
        for rows in (2_000, 200_000)
    ]
    assert shares == pytest.approx([0.1, 0.1], abs=0.03)
    with pytest.raises(ValueError, match="non-missing"):
        category_effect(["a"], [None])


@pytest.mark.parametrize(("scale", "shift"), [(1.0, 0.0), (3.0, 0.05), (0.5, 0.4), (10.0, 1.5)])
def test_normed_wasserstein_is_scipy_distance_over_reference_std(
    scale: float, shift: float
) -> None:
    rng = np.random.default_rng(int(scale * 10))
    ref = rng.normal(0, scale, 3000)
    cur = rng.normal(shift * scale, scale, 2000)
    expected = wasserstein_distance(ref, cur) / np.std(ref)
    assert normed_wasserstein(ref, cur) == pytest.approx(expected, rel=1e-12)


def test_normed_wasserstein_floors_the_std_and_handles_empty_sides() -> None:
    # a constant reference: distance 2 over the 0.001 floor instead of a division by 0
    assert normed_wasserstein([5.0, 5.0, 5.0], [7.0, 7.0]) == pytest.approx(2000.0)
    assert normed_wasserstein([1.0, np.nan], [np.nan]) is None
    assert normed_wasserstein([], [1.0]) is None


@pytest.mark.parametrize(
    ("importance", "expected"),
    [
        ({"a": 3.0, "b": 1.0}, {"a": 0.75, "b": 0.25, "c": 0.0}),
        ({"a": 2.0, "b": -1.0, "c": float("nan")}, {"a": 1.0, "b": 0.0, "c": 0.0}),
        ({}, {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}),
        ({"a": 0.0, "zzz": 5.0}, {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}),
    ],
    ids=["proportional", "negative-and-nan-are-zero", "none-measured", "only-unknown"],
)
def test_importance_is_normalised_over_the_features(
    importance: dict[str, float], expected: dict[str, float]
) -> None:
    assert normalised_importance(importance, ["a", "b", "c"]) == pytest.approx(expected)


# -------------------------------------------------- large batches, tiny effects
def test_million_rows_with_a_half_percent_shift_is_significant_but_not_drift() -> None:
    rows = 1_000_000
    rng = np.random.default_rng(2026)
    reference = rng.normal(100.0, 10.0, rows)
    current = rng.normal(100.5, 10.0, rows)  # mean up 0.5% (0.05 std)
    policy = DriftPolicy()

    ks = ks_2samp(reference, current)
    effect = ks_effect(reference, current)
    assert effect == pytest.approx(ks.statistic, abs=1e-12)
    assert ks.pvalue < 1e-10  # significant beyond doubt: p-values alone would flag it
    assert benjamini_hochberg([ks.pvalue], policy.fdr_alpha).tolist() == [True]
    verdict = combined_verdicts(
        [ks.pvalue], [effect], alpha=policy.fdr_alpha, min_effect=policy.numeric_threshold
    )
    assert verdict.tolist() == [False]
    wasserstein = normed_wasserstein(reference, current)
    assert wasserstein is not None and wasserstein < policy.numeric_threshold


# ---------------------------------------------------------- domain classifier
def _frame(rng: np.random.Generator, rows: int, shift: float = 0.0) -> pd.DataFrame:
    data = {f"n{i}": rng.normal(0, 1, rows) for i in range(6)}
    data["n0"] = data["n0"] + shift
    data["colour"] = rng.choice(["red", "green", "blue"], rows, p=[0.5, 0.3, 0.2])
    data["promo"] = rng.random(rows) < 0.3
    return pd.DataFrame(data)


@pytest.mark.parametrize("seed", [0, 1])
def test_domain_auc_is_near_half_for_identical_distributions(seed: int) -> None:
    rng = np.random.default_rng(seed)
    auc = domain_classifier_auc(_frame(rng, 4000), _frame(rng, 4000), seed=seed)
    assert abs(auc - 0.5) < 0.05


def test_domain_auc_is_high_for_a_clear_shift_in_one_feature() -> None:
    rng = np.random.default_rng(5)
    auc = domain_classifier_auc(_frame(rng, 3000), _frame(rng, 3000, shift=3.0), seed=0)
    assert auc > 0.9


def test_domain_auc_sees_a_category_shift() -> None:
    rng = np.random.default_rng(6)
    reference, current = _frame(rng, 3000), _frame(rng, 3000)
    # half the rows now carry a colour the reference never had
    current["colour"] = rng.choice(["red", "green", "blue", "violet"], 3000, p=[0.2, 0.2, 0.1, 0.5])
    assert domain_classifier_auc(reference, current, seed=0) > 0.7


def test_domain_auc_sees_a_joint_shift_no_per_feature_check_sees() -> None:
    rows = 3000
    rng = np.random.default_rng(8)
    reference = pd.DataFrame(rng.normal(size=(rows, 2)), columns=["a", "b"])
    # same N(0, 1) marginals, but now the two features move together
    together = rng.multivariate_normal([0, 0], [[1.0, 0.9], [0.9, 1.0]], size=rows)
    current = pd.DataFrame(together, columns=["a", "b"])
    policy = DriftPolicy()

    p_values = [ks_2samp(reference[c], current[c]).pvalue for c in ("a", "b")]
    effects = [ks_effect(reference[c], current[c]) for c in ("a", "b")]
    per_feature = combined_verdicts(
        p_values, effects, alpha=policy.fdr_alpha, min_effect=policy.numeric_threshold
    )
    assert not per_feature.any()
    assert all(
        (w := normed_wasserstein(reference[c], current[c])) is not None
        and w < policy.numeric_threshold
        for c in ("a", "b")
    )
    assert domain_classifier_auc(reference, current, seed=0) > policy.domain_auc_limit


@pytest.mark.parametrize(
    "extra",
    [
        lambda rng, rows: np.full(rows, np.nan),  # no value on either side
        lambda rng, rows: pd.Series([None] * rows, dtype=object),
        lambda rng, rows: rng.integers(0, 5000, rows).astype(str),  # above 250 categories
        lambda rng, rows: pd.array(rng.integers(0, 5, rows), dtype="Int64"),
    ],
    ids=["all-nan", "all-none", "high-cardinality", "nullable-int"],
)
def test_domain_auc_stays_near_half_for_awkward_identical_columns(
    extra: Callable[[np.random.Generator, int], Any],
) -> None:
    rng = np.random.default_rng(11)
    reference, current = _frame(rng, 3000), _frame(rng, 3000)
    reference["extra"], current["extra"] = extra(rng, 3000), extra(rng, 3000)
    assert abs(domain_classifier_auc(reference, current, seed=0) - 0.5) < 0.05


def test_domain_auc_is_seeded_and_bounds_the_rows() -> None:
    rng = np.random.default_rng(9)
    reference, current = _frame(rng, 3000), _frame(rng, 2000, shift=0.5)

    first = domain_classifier_auc(reference, current, seed=3, max_rows=500)
    assert first == domain_classifier_auc(reference, current, seed=3, max_rows=500)
    assert first != domain_classifier_auc(reference, current, seed=4, max_rows=500)


def test_domain_auc_refuses_too_few_rows_or_missing_columns() -> None:
    rng = np.random.default_rng(10)
    small = _frame(rng, MIN_DOMAIN_ROWS - 1)
    with pytest.raises(ValueError, match="rows"):
        domain_classifier_auc(_frame(rng, 500), small, seed=0)
    with pytest.raises(ValueError, match="n5"):
        domain_classifier_auc(_frame(rng, 500).drop(columns=["n5"]), _frame(rng, 500), seed=0)
