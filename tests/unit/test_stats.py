"""Bootstrap statistics on constructed data with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from sklearn import metrics as skm

from mlops_core import stats
from mlops_core.decisions import MetricInterval, PerformanceSummary
from mlops_core.metrics import worsening
from mlops_core.stats import (
    attribute_decay,
    bootstrap_metric_interval,
    paired_bootstrap_gain,
    performance_summary,
)

pytestmark = pytest.mark.unit


def _regression(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.uniform(50, 150, n)
    return y, y + rng.normal(0, 2.0, n)


def _classification(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    proba = np.clip(0.25 + 0.4 * y + rng.normal(0, 0.2, n), 0.01, 0.99)
    return y, (proba >= 0.5).astype(int), proba


def _sklearn_value(metric: str, y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None) -> float:
    return {
        "mae": lambda: skm.mean_absolute_error(y, pred),
        "rmse": lambda: skm.root_mean_squared_error(y, pred),
        "mape": lambda: skm.mean_absolute_percentage_error(y, pred),
        "accuracy": lambda: skm.accuracy_score(y, pred),
        "f1": lambda: skm.f1_score(y, pred),
        "roc_auc": lambda: skm.roc_auc_score(y, proba),
        "log_loss": lambda: skm.log_loss(y, proba),
    }[metric]()


@pytest.mark.parametrize("metric", ["mae", "rmse", "mape", "accuracy", "f1", "roc_auc", "log_loss"])
def test_interval_value_matches_sklearn_and_brackets_it(metric: str) -> None:
    if metric in ("mae", "rmse", "mape"):
        y, pred = _regression(800)
        proba = None
    else:
        y, pred, proba = _classification(800)
    got = bootstrap_metric_interval(metric, y, pred, proba, n_resamples=200, confidence=0.9, seed=3)
    assert got.value == pytest.approx(_sklearn_value(metric, y, pred, proba), rel=1e-9)
    assert got.low < got.value < got.high
    assert got.rows == 800


@pytest.mark.parametrize(
    ("metric", "true_value"),
    [
        # |N(0, 2)| has mean 2 * sqrt(2 / pi).
        ("mae", 2.0 * math.sqrt(2.0 / math.pi)),
        ("rmse", 2.0),
    ],
)
def test_interval_covers_true_value_at_nominal_rate(metric: str, true_value: float) -> None:
    covered = 0
    trials = 60
    for trial in range(trials):
        y, pred = _regression(300, seed=100 + trial)
        iv = bootstrap_metric_interval(metric, y, pred, n_resamples=300, confidence=0.9, seed=trial)
        covered += iv.low <= true_value <= iv.high
    # 90% nominal; 60 trials put 95% of honest outcomes above ~0.8.
    assert covered / trials >= 0.78


def test_accuracy_interval_width_matches_binomial_standard_error() -> None:
    rng = np.random.default_rng(7)
    n, p = 4000, 0.8
    y = np.ones(n, dtype=int)
    pred = (rng.random(n) < p).astype(int)
    iv = bootstrap_metric_interval("accuracy", y, pred, n_resamples=2000, confidence=0.95, seed=1)
    acc = pred.mean()
    expected_half = 1.959964 * math.sqrt(acc * (1 - acc) / n)
    assert (iv.high - iv.low) / 2 == pytest.approx(expected_half, rel=0.12)


def test_interval_is_reproducible_from_the_seed() -> None:
    y, pred = _regression(500)
    kw = {"n_resamples": 200, "confidence": 0.95}
    a = bootstrap_metric_interval("mae", y, pred, seed=5, **kw)
    b = bootstrap_metric_interval("mae", y, pred, seed=5, **kw)
    c = bootstrap_metric_interval("mae", y, pred, seed=6, **kw)
    assert a == b
    assert (a.low, a.high) != (c.low, c.high)


def test_chunked_resampling_gives_the_same_distribution(monkeypatch: pytest.MonkeyPatch) -> None:
    y, pred = _regression(1000)
    whole = bootstrap_metric_interval("mae", y, pred, n_resamples=1500, confidence=0.9, seed=2)
    monkeypatch.setattr(stats, "_MAX_CELLS_PER_CHUNK", 7_000)  # 7 resamples per chunk
    chunked = bootstrap_metric_interval("mae", y, pred, n_resamples=1500, confidence=0.9, seed=2)
    width = whole.high - whole.low
    assert chunked.low == pytest.approx(whole.low, abs=0.1 * width)
    assert chunked.high == pytest.approx(whole.high, abs=0.1 * width)


@pytest.mark.parametrize(
    ("y", "pred", "kwargs"),
    [
        ([], [], {}),
        ([1.0, 2.0], [1.0], {}),
        ([1.0, 2.0], [1.0, 2.0], {"confidence": 1.0}),
        ([1.0, 2.0], [1.0, 2.0], {"metric": "r2"}),
    ],
)
def test_interval_rejects_bad_input(y: list[float], pred: list[float], kwargs: dict) -> None:
    args = {"metric": "mae", "n_resamples": 10, "confidence": 0.9, "seed": 0} | kwargs
    metric = args.pop("metric")
    with pytest.raises(ValueError):
        bootstrap_metric_interval(metric, y, pred, **args)


def test_roc_auc_with_one_class_resamples_keeps_point_value() -> None:
    # Two rows of different classes: most resamples hold one class and are undefined.
    iv = bootstrap_metric_interval(
        "roc_auc", [0, 1], [0, 1], [0.2, 0.8], n_resamples=50, confidence=0.9, seed=0
    )
    assert iv.value == 1.0
    assert iv.low == iv.high == 1.0


# ----------------------------------------------------------------- paired bootstrap
def test_paired_gain_clear_improvement_has_p_value_near_zero() -> None:
    rng = np.random.default_rng(1)
    challenger = rng.exponential(1.0, 2000)
    champion = challenger + 0.5 + rng.normal(0, 0.3, 2000)
    mean, low, high, p = paired_bootstrap_gain(
        champion, challenger, n_resamples=1000, confidence=0.95, seed=0
    )
    assert mean == pytest.approx(float(np.mean(champion - challenger)))
    assert 0 < low < mean < high
    assert p == 0.0


def test_paired_gain_without_difference_has_p_value_near_half() -> None:
    rng = np.random.default_rng(2)
    e = rng.normal(0, 1, 1000)
    base = rng.exponential(1.0, 2000)
    champion = base + np.concatenate([e, -e])  # per-row gain symmetric around exactly 0
    mean, low, high, p = paired_bootstrap_gain(
        champion, base, n_resamples=2000, confidence=0.95, seed=0
    )
    assert mean == pytest.approx(0.0, abs=1e-12)
    assert low < 0 < high
    assert 0.4 < p < 0.6


def test_identical_models_have_no_gain() -> None:
    loss = np.random.default_rng(5).exponential(1.0, 300)
    assert paired_bootstrap_gain(loss, loss.copy(), n_resamples=200, confidence=0.9, seed=0) == (
        0.0,
        0.0,
        0.0,
        1.0,
    )


def test_paired_gain_p_value_matches_normal_theory() -> None:
    rng = np.random.default_rng(3)
    n, sd = 2500, 1.0
    diff = rng.normal(0, sd, n)
    diff = diff - diff.mean() + 1.5 * diff.std() / math.sqrt(n)  # observed z = 1.5 exactly
    mean, _, _, p = paired_bootstrap_gain(
        diff, np.zeros(n), n_resamples=4000, confidence=0.95, seed=1
    )
    assert p == pytest.approx(sps.norm.sf(1.5), abs=0.02)


def test_paired_gain_interval_agrees_with_scipy_bootstrap() -> None:
    rng = np.random.default_rng(4)
    champion = rng.gamma(2.0, 1.0, 1500)
    challenger = champion - 0.1 + rng.normal(0, 1.0, 1500)
    _, low, high, _ = paired_bootstrap_gain(
        champion, challenger, n_resamples=3000, confidence=0.9, seed=0
    )
    ref = sps.bootstrap(
        (champion - challenger,),
        np.mean,
        n_resamples=3000,
        confidence_level=0.9,
        method="percentile",
        rng=np.random.default_rng(9),
    ).confidence_interval
    width = ref.high - ref.low
    assert low == pytest.approx(ref.low, abs=0.08 * width)
    assert high == pytest.approx(ref.high, abs=0.08 * width)


@pytest.mark.parametrize(
    ("champion", "challenger"),
    [([], []), ([1.0, 2.0], [1.0]), ([1.0, float("nan")], [1.0, 1.0])],
)
def test_paired_gain_rejects_bad_input(champion: list[float], challenger: list[float]) -> None:
    with pytest.raises(ValueError):
        paired_bootstrap_gain(
            np.array(champion), np.array(challenger), n_resamples=10, confidence=0.9, seed=0
        )


# -------------------------------------------------------------- performance summary
@pytest.mark.parametrize(
    ("metric", "reference"),
    [("mae", 1.2), ("rmse", 1.5), ("accuracy", 0.95), ("roc_auc", 0.9), ("f1", 0.8)],
)
def test_performance_summary_maps_interval_to_decay(metric: str, reference: float) -> None:
    if metric in ("mae", "rmse"):
        y, pred = _regression(600)
        proba = None
    else:
        y, pred, proba = _classification(600)
    perf = performance_summary(
        metric, reference, y, pred, proba, n_resamples=300, confidence=0.9, seed=0
    )
    assert perf.realized is not None
    r = perf.realized
    assert perf.new_labeled_rows == 600
    assert perf.decay == pytest.approx(worsening(metric, reference, r.value))
    assert perf.decay_low is not None and perf.decay_high is not None
    assert perf.decay_low < perf.decay < perf.decay_high
    ends = sorted([worsening(metric, reference, r.low), worsening(metric, reference, r.high)])
    assert (perf.decay_low, perf.decay_high) == pytest.approx(tuple(ends))


def test_performance_summary_decay_direction_for_a_score() -> None:
    # Accuracy fell from 0.95 to about 0.8: the error rate rose, decay is positive.
    y, _, _ = _classification(1000)
    rng = np.random.default_rng(0)
    pred = np.where(rng.random(1000) < 0.8, y, 1 - y)
    perf = performance_summary("accuracy", 0.95, y, pred, n_resamples=300, confidence=0.95, seed=0)
    assert perf.decay_low is not None and perf.decay_low > 0
    assert perf.realized is not None
    # The worst accuracy end is the highest decay end.
    assert perf.decay_high == pytest.approx(worsening("accuracy", 0.95, perf.realized.low))


@pytest.mark.parametrize(
    ("metric", "y", "pred", "proba"),
    [
        ("mae", [], [], None),
        ("roc_auc", [1, 1, 1], [1, 1, 1], [0.9, 0.8, 0.7]),  # one class: AUC undefined
    ],
)
def test_performance_summary_without_evidence(
    metric: str, y: list, pred: list, proba: list | None
) -> None:
    perf = performance_summary(
        metric, 0.5, y, pred, proba, n_resamples=50, confidence=0.9, seed=0, estimated=0.6
    )
    assert perf.realized is None
    assert perf.decay is None and perf.decay_low is None and perf.decay_high is None
    assert perf.new_labeled_rows == len(y)
    assert perf.estimated == 0.6


# --------------------------------------------------------------------- attribution
def _perf(
    metric: str,
    reference: float,
    realized: tuple[float, float, float] | None,
    estimated: tuple[float, float | None, float | None] | None,
) -> PerformanceSummary:
    interval = (
        None
        if realized is None
        else MetricInterval(
            metric=metric, value=realized[0], low=realized[1], high=realized[2], rows=500
        )
    )
    est, est_low, est_high = estimated if estimated is not None else (None, None, None)
    return PerformanceSummary(
        metric=metric,
        reference=reference,
        realized=interval,
        estimated=est,
        estimated_low=est_low,
        estimated_high=est_high,
    )


@pytest.mark.parametrize(
    ("metric", "reference", "realized", "estimated", "expected"),
    [
        ("mae", 10.0, (13.0, 12.5, 13.5), None, "unknown"),
        ("mae", 10.0, None, (12.0, 11.5, 12.5), "unknown"),
        # Estimate says nothing changed, labels say it got worse: concept drift.
        ("mae", 10.0, (13.0, 12.5, 13.5), (10.2, 10.0, 10.4), "concept_drift"),
        # Estimate explains the loss: covariate shift.
        ("mae", 10.0, (13.0, 12.5, 13.5), (12.8, 12.4, 13.2), "covariate_shift"),
        # A point estimate works as an interval of one point.
        ("mae", 10.0, (13.0, 12.5, 13.5), (12.9, None, None), "covariate_shift"),
        # Realized point beyond the estimate but intervals overlap: not concept drift.
        ("mae", 10.0, (13.0, 12.0, 14.0), (11.5, 11.0, 12.2), "covariate_shift"),
        # Nothing got worse.
        ("mae", 10.0, (10.1, 9.9, 10.3), (10.0, 9.8, 10.2), "unknown"),
        # Realized better than the estimate: not concept drift.
        ("mae", 10.0, (10.0, 9.5, 10.5), (13.0, 12.8, 13.2), "unknown"),
        ("accuracy", 0.9, (0.80, 0.78, 0.82), (0.89, 0.88, 0.90), "concept_drift"),
        ("accuracy", 0.9, (0.80, 0.78, 0.82), (0.81, 0.79, 0.83), "covariate_shift"),
        # Direction matters: a higher accuracy than estimated is no concept drift.
        ("accuracy", 0.9, (0.90, 0.89, 0.91), (0.80, 0.78, 0.82), "unknown"),
    ],
)
def test_attribute_decay(
    metric: str,
    reference: float,
    realized: tuple[float, float, float] | None,
    estimated: tuple[float, float | None, float | None] | None,
    expected: str,
) -> None:
    assert attribute_decay(_perf(metric, reference, realized, estimated), metric) == expected


def test_f1_keeps_the_positive_class_when_a_batch_has_one_label():
    from mlops_core.metrics import compute_metric

    # All labels DOWN, the model says UP twice: F1 of UP is 0, not F1 of DOWN (0.8).
    y = np.array(["DOWN"] * 4)
    p = np.array(["UP", "UP", "DOWN", "DOWN"])
    assert compute_metric("f1", y, p) == 0.0


def test_target_association_matches_scipy_and_flags_only_the_leak() -> None:
    rng = np.random.default_rng(3)
    y = rng.gamma(2.0, 10.0, size=800)
    lag = y + rng.normal(0, 6.0, size=800)  # a strong, honest lag feature
    leak = np.log1p(y)  # the target itself, transformed (monotone: Spearman sees it)
    noise = rng.normal(size=800)
    got = stats.target_association({"lag": lag, "leak": leak, "noise": noise}, y)
    expected_lag = max(abs(sps.pearsonr(lag, y)[0]), abs(sps.spearmanr(lag, y)[0]))
    assert got["lag"] == pytest.approx(expected_lag, abs=1e-12)
    assert got["leak"] == pytest.approx(1.0, abs=1e-12)
    assert got["noise"] == pytest.approx(abs(sps.spearmanr(noise, y)[0]), abs=0.05)
    assert got["lag"] < 0.99 <= got["leak"]


def test_target_association_skips_what_it_cannot_judge() -> None:
    y = np.arange(100, dtype=float)
    with_gaps = y.copy()
    with_gaps[:80] = np.nan  # 20 usable rows: too few
    got = stats.target_association(
        {"constant": np.ones(100), "gappy": with_gaps, "inf": np.where(y > 50, np.inf, y)}, y
    )
    assert "constant" not in got and "gappy" not in got
    assert got["inf"] == pytest.approx(1.0)  # infinite rows dropped, the rest follows y


def test_target_association_of_a_two_class_target() -> None:
    labels = np.array(["UP", "DOWN"] * 50)
    copied = (labels == "UP").astype(float)
    got = stats.target_association({"copied": copied}, labels)
    assert got["copied"] == pytest.approx(1.0)
    assert stats.target_association({"x": np.arange(6.0)}, np.array(list("abcabc"))) == {}
