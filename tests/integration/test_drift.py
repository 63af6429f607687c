"""Data drift through real Evidently: verdicts, importance weighting, FDR control,
minimum effect sizes for tests, multivariate drift, report."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp, wasserstein_distance
from usecase_variant import small_usecase

from mlops_core.config import UseCase
from mlops_core.drift_stats import benjamini_hochberg, category_effect, ks_effect
from mlops_core.reference_profile import DISCRETE_VALUES
from tasks.drift import compute_drift, evidently_feature_scores, render_drift_report

# slow (left out of `make test-fast`): Evidently computes every score and renders its HTML report.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROWS = 2000
NUMERIC = ("x1", "x2", "x3", "units")


def _usecase(columns: list[dict[str, Any]], drift: dict[str, Any] | None = None) -> UseCase:
    return small_usecase("drift-demo", columns, **({"drift": drift} if drift else {}))


@pytest.fixture(scope="module")
def usecase() -> UseCase:
    return _usecase(
        [
            {"name": "x1", "type": "numeric"},
            {"name": "x2", "type": "numeric"},
            {"name": "x3", "type": "numeric"},
            {"name": "units", "type": "integer"},
            {"name": "colour", "type": "categorical"},
            {"name": "promo", "type": "boolean"},
            {"name": "note", "type": "numeric", "feature": False},
        ]
    )


def batch(
    seed: int,
    rows: int = ROWS,
    *,
    shift: dict[str, float] | None = None,
    colour_p: tuple[float, ...] = (0.5, 0.3, 0.2),
    promo_p: float = 0.3,
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    shift = shift or {}
    return pd.DataFrame(
        {
            "id": np.arange(rows),
            "week": 1,
            "x1": rng.normal(10.0, 2.0, rows) + shift.get("x1", 0.0),
            "x2": rng.normal(0.0, 1.0, rows) + shift.get("x2", 0.0),
            "x3": rng.exponential(3.0, rows) + shift.get("x3", 0.0),
            "units": rng.poisson(20, rows) + int(shift.get("units", 0)),
            "colour": rng.choice(["red", "green", "blue"], rows, p=list(colour_p)),
            "promo": rng.random(rows) < promo_p,
            "note": rng.normal(0.0, 1.0, rows) + shift.get("note", 0.0),
        }
    )


# Every configurable method, each in at least one pair.
METHOD_PAIRS = [
    ("wasserstein", "jensenshannon"),
    ("ks", "chisquare"),
    ("psi", "psi"),
    ("jensenshannon", "jensenshannon"),
]

IMPORTANCE = {"x1": 4.0, "x2": 2.0, "units": 1.0, "colour": 1.0, "promo": 0.0, "x3": 0.0}


def test_identical_distributions_show_no_drift(usecase: UseCase) -> None:
    summary = compute_drift(batch(1), batch(2), usecase, IMPORTANCE)

    assert [f.feature for f in summary.features] == list(usecase.contract.feature_names)
    assert {f.feature: f.kind for f in summary.features} == {
        "x1": "numeric",
        "x2": "numeric",
        "x3": "numeric",
        "units": "numeric",
        "colour": "categorical",
        "promo": "categorical",
    }
    assert {f.method for f in summary.features} == {"wasserstein", "jensenshannon"}
    assert summary.drifted_features == ()
    assert summary.drift_share == 0.0 and summary.importance_weighted_share == 0.0
    assert all(0.0 <= f.score < f.threshold for f in summary.features)
    assert summary.reference_rows == ROWS and summary.current_rows == ROWS
    assert summary.prediction_drift is None


def test_strong_shift_in_an_important_feature_counts_its_importance(usecase: UseCase) -> None:
    summary = compute_drift(batch(1), batch(2, shift={"x1": 2.0}), usecase, IMPORTANCE)

    assert summary.drifted_features == ("x1",)
    x1 = next(f for f in summary.features if f.feature == "x1")
    assert x1.score > 0.5 and x1.p_value is None
    expected = IMPORTANCE["x1"] / sum(IMPORTANCE.values())
    assert x1.importance == pytest.approx(expected)
    assert summary.importance_weighted_share == pytest.approx(expected)
    assert summary.drift_share == pytest.approx(1 / 6)
    assert sum(f.importance for f in summary.features) == pytest.approx(1.0)


def test_shift_in_a_zero_importance_feature_is_reported_but_weighs_nothing(
    usecase: UseCase,
) -> None:
    summary = compute_drift(batch(1), batch(2, shift={"x3": 5.0, "note": 5.0}), usecase, IMPORTANCE)

    assert summary.drifted_features == ("x3",)  # 'note' is not a model feature
    assert summary.drift_share > 0.0
    assert summary.importance_weighted_share == 0.0


def test_categorical_and_boolean_shifts_are_detected(usecase: UseCase) -> None:
    current = batch(2, colour_p=(0.1, 0.2, 0.7), promo_p=0.8)

    summary = compute_drift(batch(1), current, usecase, IMPORTANCE)
    assert set(summary.drifted_features) == {"colour", "promo"}
    assert summary.importance_weighted_share == pytest.approx(1 / 8)


@pytest.mark.parametrize(("numeric_method", "categorical_method"), METHOD_PAIRS)
def test_every_configurable_method_runs_and_detects_a_clear_shift(
    numeric_method: str, categorical_method: str
) -> None:
    columns = [
        {"name": "x1", "type": "numeric"},
        {"name": "x2", "type": "numeric"},
        {"name": "colour", "type": "categorical"},
        {"name": "promo", "type": "boolean"},
    ]
    tests = numeric_method == "ks"
    usecase = _usecase(
        columns,
        drift={"numeric_method": numeric_method, "categorical_method": categorical_method},
    )
    current = batch(2, shift={"x1": 2.0}, colour_p=(0.1, 0.2, 0.7))

    summary = compute_drift(batch(1), current, usecase, {})
    assert set(summary.drifted_features) == {"x1", "colour"}
    methods = {f.feature: f.method for f in summary.features}
    assert methods == {
        "x1": numeric_method,
        "x2": numeric_method,
        "colour": categorical_method,
        "promo": categorical_method,
    }
    assert all((f.p_value is not None) == tests for f in summary.features)
    assert all((f.significant is not None) == tests for f in summary.features)
    for feature in summary.features:  # one reading of score/threshold for every method
        assert feature.drifted == (
            feature.score >= feature.threshold and feature.significant is not False
        )


def test_wasserstein_verdicts_match_a_direct_scipy_computation() -> None:
    usecase = _usecase([{"name": f"w{i}", "type": "numeric"} for i in range(6)])
    rng = np.random.default_rng(7)
    shifts = [0.0, 0.05, 0.09, 0.12, 0.2, 0.5]  # in reference std units; threshold 0.1
    reference = pd.DataFrame({f"w{i}": rng.normal(0, 3, ROWS) for i in range(6)})
    current = pd.DataFrame({f"w{i}": rng.normal(3 * s, 3, ROWS) for i, s in enumerate(shifts)})

    summary = compute_drift(reference, current, usecase, {})
    verdicts = []
    for feature in summary.features:
        ref, cur = reference[feature.feature], current[feature.feature]
        direct = wasserstein_distance(ref, cur) / np.std(ref)
        assert feature.method == "wasserstein" and feature.threshold == 0.1
        # The reference is kept as 1000 equal-mass bins: the score is within its bound.
        assert feature.score_error is not None and 0 < feature.score_error < 0.01
        assert abs(feature.score - direct) <= feature.score_error
        assert feature.drifted == (direct >= 0.1)
        verdicts.append(feature.drifted)
    assert any(verdicts) and not all(verdicts)  # both sides of the threshold are exercised
    # no importance measured: equal weights, so the share equals the drift share
    assert summary.importance_weighted_share == pytest.approx(summary.drift_share)


def test_benjamini_hochberg_flags_fewer_features_than_raw_p_values() -> None:
    features = 20
    usecase = _usecase(
        [{"name": f"f{i:02d}", "type": "numeric"} for i in range(features)],
        # a minimum effect size this small leaves the verdict to the FDR control
        drift={"numeric_method": "ks", "numeric_threshold": 0.001, "fdr_alpha": 0.05},
    )
    rows = 5000
    rng = np.random.default_rng(11)
    reference = rng.normal(size=(rows, features))
    current = rng.normal(size=(rows, features)) + 0.01  # a negligible shift everywhere
    current[:, 0] += 0.3  # one real shift
    names = [f"f{i:02d}" for i in range(features)]

    summary = compute_drift(
        pd.DataFrame(reference, columns=names), pd.DataFrame(current, columns=names), usecase, {}
    )

    p_values = np.array([f.p_value for f in summary.features])
    raw = p_values <= 0.05
    assert raw.sum() >= 3, "the sample must hold chance findings for the test to mean anything"
    assert summary.drifted_features == ("f00",)
    assert sum(f.drifted for f in summary.features) < raw.sum()
    assert [f.significant for f in summary.features] == list(benjamini_hochberg(p_values, 0.05))
    assert [f.drifted for f in summary.features] == [f.significant for f in summary.features]
    for feature, name in zip(summary.features, names, strict=True):
        direct = ks_2samp(reference[:, int(name[1:])], current[:, int(name[1:])])
        assert feature.method == "ks" and feature.threshold == 0.001
        # D from the reference profile is within its stated bound of the exact D;
        # the p-value is the asymptotic one of that D (scipy's exact one here):
        # the same order of magnitude.
        assert abs(feature.score - direct.statistic) <= feature.score_error
        assert np.log10(feature.p_value) == pytest.approx(np.log10(direct.pvalue), abs=0.3)


def test_large_batch_flags_real_shifts_but_not_significant_tiny_ones() -> None:
    """200k rows make a 0.03-std shift 'certain'; only the minimum effect size stops it."""
    rows = 200_000
    usecase = _usecase(
        [
            {"name": "x1", "type": "numeric"},
            {"name": "x2", "type": "numeric"},
            {"name": "colour", "type": "categorical"},
            {"name": "promo", "type": "boolean"},
        ],
        drift={"numeric_method": "ks", "categorical_method": "chisquare"},
    )
    reference = batch(1, rows)
    current = batch(
        2, rows, shift={"x1": 1.0, "x2": 0.03}, colour_p=(0.49, 0.31, 0.2), promo_p=0.45
    )

    summary = compute_drift(reference, current, usecase, {})
    by_name = {f.feature: f for f in summary.features}

    # tiny shifts: significant beyond doubt, effect far below the minimum
    for name in ("x2", "colour"):
        tiny = by_name[name]
        assert tiny.p_value is not None and tiny.p_value < 1e-10
        assert tiny.significant and not tiny.drifted
        assert tiny.score < 0.05 and tiny.threshold == 0.1
    # real shifts: half a std in x1, 15 points more promotions
    assert set(summary.drifted_features) == {"x1", "promo"}
    exact_d = ks_effect(reference["x1"], current["x1"])
    assert abs(by_name["x1"].score - exact_d) <= by_name["x1"].score_error <= 0.005
    assert by_name["promo"].score == pytest.approx(
        category_effect(reference["promo"], current["promo"]), abs=1e-12
    )
    assert by_name["promo"].score == pytest.approx(0.15, abs=0.01)
    # p-values alone (even FDR-corrected) would have flagged every shifted feature
    assert all(f.significant for f in summary.features)


def test_summary_carries_multivariate_drift(usecase: UseCase) -> None:
    calm = compute_drift(batch(1), batch(2), usecase, IMPORTANCE, seed=3)
    shifted = compute_drift(batch(1), batch(2, shift={"x1": 2.0}), usecase, IMPORTANCE, seed=3)
    limit = usecase.drift.domain_auc_limit

    assert calm.domain_auc is not None and abs(calm.domain_auc - 0.5) < 0.05
    assert calm.multivariate_drift is False
    assert shifted.domain_auc is not None and shifted.domain_auc > limit
    assert shifted.multivariate_drift is True


def test_multivariate_drift_can_be_switched_off() -> None:
    usecase = _usecase([{"name": "x1", "type": "numeric"}], drift={"domain_classifier": False})
    summary = compute_drift(batch(1), batch(2, shift={"x1": 2.0}), usecase, {})
    assert summary.drifted_features == ("x1",)
    assert summary.domain_auc is None and summary.multivariate_drift is None


def test_multivariate_drift_sees_features_moving_together() -> None:
    usecase = _usecase([{"name": "a", "type": "numeric"}, {"name": "b", "type": "numeric"}])
    rng = np.random.default_rng(12)
    reference = pd.DataFrame(rng.normal(size=(ROWS, 2)), columns=["a", "b"])
    together = rng.multivariate_normal([0, 0], [[1.0, 0.9], [0.9, 1.0]], size=ROWS)

    summary = compute_drift(reference, pd.DataFrame(together, columns=["a", "b"]), usecase, {})
    assert summary.drifted_features == ()  # every marginal is unchanged
    assert summary.multivariate_drift is True


def test_prediction_drift_is_wasserstein_normed_by_reference_std(usecase: UseCase) -> None:
    rng = np.random.default_rng(3)
    ref_pred, cur_pred = rng.gamma(2.0, 5.0, ROWS), rng.gamma(2.0, 6.0, ROWS)

    summary = compute_drift(
        batch(1),
        batch(2),
        usecase,
        IMPORTANCE,
        reference_predictions=ref_pred,
        current_predictions=cur_pred,
    )
    direct = wasserstein_distance(ref_pred, cur_pred) / np.std(ref_pred)
    # The reference predictions are kept as 1000 equal-mass bins, like any feature.
    assert summary.prediction_drift == pytest.approx(direct, abs=0.005)
    assert summary.prediction_drift > 0.1


def test_sampling_bounds_the_rows_compared_and_is_seeded(usecase: UseCase) -> None:
    reference, current = batch(1, rows=3000), batch(2, rows=2500, shift={"x1": 2.0})

    first = compute_drift(reference, current, usecase, IMPORTANCE, sample_rows=800, seed=5)
    again = compute_drift(reference, current, usecase, IMPORTANCE, sample_rows=800, seed=5)
    assert (first.reference_rows, first.current_rows) == (800, 800)
    assert first == again
    assert first.drifted_features == ("x1",)


def test_feature_without_any_value_is_drifted_without_crashing(usecase: UseCase) -> None:
    current = batch(2)
    current["x2"] = np.nan

    summary = compute_drift(batch(1), current, usecase, IMPORTANCE)
    x2 = next(f for f in summary.features if f.feature == "x2")
    assert x2.drifted and x2.method == "all_missing"
    assert summary.drifted_features == ("x2",)


def test_missing_feature_column_is_an_error(usecase: UseCase) -> None:
    with pytest.raises(ValueError, match="x2"):
        compute_drift(batch(1), batch(2).drop(columns=["x2"]), usecase, IMPORTANCE)


def test_html_report_is_written(tmp_path: Path, usecase: UseCase) -> None:
    target = tmp_path / "reports" / "drift.html"

    written = render_drift_report(
        batch(1), batch(2, shift={"x1": 2.0}), usecase, target, sample_rows=500
    )
    assert written == target
    assert target.stat().st_size > 10_000
    assert "<html" in target.read_text(encoding="utf-8")[:2000].lower()


# ------------------------------------------- agreement with Evidently's numbers
_AGREEMENT_COLUMNS = [
    {"name": "x1", "type": "numeric"},
    {"name": "x2", "type": "numeric"},
    {"name": "x3", "type": "numeric"},
    {"name": "units", "type": "integer"},
    {"name": "stars", "type": "integer"},  # 5 values: binned by value, not by histogram
    {"name": "colour", "type": "categorical"},
    {"name": "promo", "type": "boolean"},
]


def _agreement_batch(seed: int, rows: int, shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = batch(
        seed,
        rows,
        shift={"x1": 2.0 * shift, "x2": 0.3 * shift, "units": 3 * shift},
        colour_p=(0.5 - 0.2 * shift, 0.3, 0.2 + 0.2 * shift),
        promo_p=0.3 + 0.2 * shift,
    )
    frame["stars"] = rng.choice(
        [1, 2, 3, 4, 5], rows, p=[0.1, 0.1, 0.2, 0.3 + 0.1 * shift, 0.3 - 0.1 * shift]
    )
    # Missing and infinite values, which both sides drop before comparing.
    frame.loc[frame.index[::17], "x2"] = np.nan
    frame.loc[frame.index[5::97], "x3"] = np.inf
    return frame


@pytest.mark.parametrize(("numeric_method", "categorical_method"), METHOD_PAIRS)
@pytest.mark.parametrize("shift", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("rows", [300, 3000])
def test_feature_scores_equal_evidently_scores(
    numeric_method: str, categorical_method: str, shift: float, rows: int
) -> None:
    usecase = _usecase(
        _AGREEMENT_COLUMNS,
        {
            "numeric_method": numeric_method,
            "categorical_method": categorical_method,
            "domain_classifier": False,
        },
    )
    reference = _agreement_batch(1, rows, 0.0)
    current = _agreement_batch(2, rows // 2, shift)

    ours = compute_drift(reference, current, usecase, IMPORTANCE)
    with warnings.catch_warnings():
        # Evidently's own column statistics subtract infinities (pandas warns at
        # the call, under Evidently's warning filters); ours drop them first.
        warnings.simplefilter("ignore", RuntimeWarning)
        theirs = evidently_feature_scores(reference, current, usecase)

    assert set(theirs) == {f.feature for f in ours.features}
    for feature in ours.features:
        exact = theirs[feature.feature]
        ours_score = feature.p_value if feature.p_value is not None else feature.score
        kind = reference_kind(reference[feature.feature], feature.kind)
        if kind != "continuous" and feature.method != "ks":
            # Categories and few-valued numbers are kept value by value: exact.
            assert ours_score == pytest.approx(exact, rel=1e-9, abs=1e-12), feature.feature
        elif feature.method == "wasserstein":
            # Binned: within the bound the profile states (and the bound is small).
            assert feature.score_error is not None
            assert feature.score_error <= 0.02 + 0.02 * feature.score
            assert abs(feature.score - exact) <= feature.score_error + 1e-12, feature.feature
        elif feature.method == "ks":
            # D within its bound; the asymptotic p-value next to scipy's exact one.
            direct_d = ks_effect(reference[feature.feature], current[feature.feature])
            assert abs(feature.score - direct_d) <= feature.score_error + 1e-12
            if exact > 1e-6:
                assert feature.p_value == pytest.approx(exact, rel=0.25, abs=0.02)
            else:
                assert feature.p_value < 1e-5, feature.feature
        else:
            # PSI and Jensen-Shannon over Evidently's histogram: close, not exact.
            assert ours_score == pytest.approx(exact, rel=0.05, abs=0.01), feature.feature
        if feature.p_value is None and abs(exact - feature.threshold) > 0.01:
            # Effect sizes: the same verdict as Evidently's (score >= threshold).
            assert feature.drifted == (exact >= feature.threshold), feature.feature


def reference_kind(values: pd.Series, kind: str) -> str:
    """How the reference profile keeps a feature (the rule of mlops_core.reference_profile)."""
    if kind == "categorical":
        return "categorical"
    finite = pd.to_numeric(values, errors="coerce").replace([np.inf, -np.inf], np.nan).dropna()
    return "discrete" if finite.nunique() <= DISCRETE_VALUES else "continuous"
