"""The replay engine on a constructed year whose relationship flips mid-way (real
scikit-learn training, the real Evidently drift adapter, no mocks)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops_core.backtest import parse_policy, policy_settings, summary_table
from mlops_core.config import UseCase, parse_usecase
from mlops_core.retrain import decide_retrain
from tasks.backtest import (
    BootstrapError,
    ReplayCache,
    prepare,
    run_backtest,
    run_policy,
)

# slow (left out of `make test-fast`): backtests train a model per simulated period.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

MONTHS = 12
#: The period of January 2021: months are counted from 1970-01 (mlops_core.periods).
JAN = (2021 - 1970) * 12
FLIP = 6  # from this month on, y falls with x1 instead of rising
ROWS = 200
INITIAL = 3
POLICIES = ["never", "every:1", "drift", "performance", "default"]


def year_of_data(seed: int = 7) -> pd.DataFrame:
    """Twelve months of rows, shuffled, with a date column and no id column."""
    rng = np.random.default_rng(seed)
    frames = []
    for month in range(MONTHS):
        start = pd.Timestamp("2021-01-01") + pd.DateOffset(months=month)
        x1 = rng.uniform(0, 2, ROWS)
        x2 = rng.normal(0, 1, ROWS)
        store = rng.choice(["S1", "S2"], ROWS)
        slope = 5.0 if month < FLIP else -5.0
        y = 10 + slope * x1 + x2 + (store == "S2") * 2 + rng.normal(0, 2, ROWS)
        when = start + pd.to_timedelta(rng.integers(0, 27 * 24, ROWS), unit="h")
        frames.append(
            pd.DataFrame(
                {
                    "when": when.strftime("%Y-%m-%d %H:%M"),
                    "store": store,
                    "x1": x1,
                    "x2": x2,
                    "y": y,
                }
            )
        )
    return pd.concat(frames).sample(frac=1.0, random_state=seed).reset_index(drop=True)


def usecase(**promotion: object) -> UseCase:
    raw = {
        "name": "flip_test",
        "data": {
            "landing": "landing",
            "labels": "labels",
            "id_column": "row_id",
            "time_column": "when",
            "target_column": "y",
            "segment_column": "store",
            "label_delay": 1,
            "period": "month",
        },
        "contract": {
            "columns": [
                {"name": "row_id", "type": "categorical", "feature": False},
                {"name": "when", "type": "categorical", "feature": False},
                {"name": "store", "type": "categorical"},
                {"name": "x1", "type": "numeric"},
                {"name": "x2", "type": "numeric"},
            ]
        },
        "model": {
            "task": "regression",
            "estimator": "sklearn.ensemble.HistGradientBoostingRegressor",
            "params": {"max_iter": 40, "max_leaf_nodes": 15, "early_stopping": False},
            "random_state": 3,
        },
        "metric": {"primary": "mae"},
        "drift": {"domain_classifier": False},
        "retrain": {
            "min_new_labels": 100,
            "min_periods_between": 1,
            "max_decay": 0.2,
            "critical_decay": 0.5,
            "max_age_periods": 6,
            "retrain_cost": 10.0,
            "error_cost_per_unit": 1.0,
            "max_retrains": 6,
            "budget_window_periods": 12,
            "sliding_periods": 2,
            "bootstrap_samples": 200,
        },
        "promotion": {
            "floor": 6.0,
            "min_improvement": 0.02,
            "max_plausible_gain": 0.95,
            "bootstrap_samples": 200,
            **promotion,
        },
        "guardrails": {
            "rules": [
                {"kind": "range", "min": 0, "action": "clip"},
                {"kind": "input_out_of_range", "action": "flag"},
            ],
            "max_violation_rate": 1.0,
        },
    }
    return parse_usecase(raw, "flip_test.yaml")


@pytest.fixture(scope="module")
def uc() -> UseCase:
    return usecase()


@pytest.fixture(scope="module")
def prepared(uc):
    return prepare(year_of_data(), uc)  # data.period: month


@pytest.fixture(scope="module")
def results(prepared, uc):
    runs = run_backtest(
        prepared, uc, [parse_policy(p) for p in POLICIES], initial_periods=INITIAL, seed=0
    )
    return {r.policy: r for r in runs}


# ----------------------------------------------------------------- preparing
def test_prepare_sorts_cuts_months_and_adds_stable_ids(prepared, uc):
    frame = prepared.frame
    assert prepared.periods == tuple(range(JAN, JAN + MONTHS))
    assert prepared.unit == "month"
    assert frame["when"].is_monotonic_increasing
    assert frame["when"].value_counts().to_dict() == dict.fromkeys(range(JAN, JAN + MONTHS), ROWS)
    assert frame["row_id"].is_unique
    # Ids are the rows' positions in the given frame: the same file gives the same ids.
    raw = year_of_data()
    again = prepare(raw, uc).frame
    assert again["row_id"].tolist() == frame["row_id"].tolist()
    first = frame.iloc[0]
    assert raw.loc[int(first["row_id"]), "x1"] == first["x1"]
    assert prepared.period_starts[JAN] == "2021-01"
    assert prepared.period_starts[JAN + 11] == "2021-12"
    batch = prepared.batch(JAN + 4)
    assert "y" not in batch.columns and len(batch) == ROWS
    assert prepared.labeled_through(JAN + 2)["when"].max() == JAN + 2


@pytest.mark.parametrize(
    ("unit", "stamps", "expected"),
    [
        # Weeks are calendar weeks, Monday to Sunday (2021-01-04 is a Monday),
        # counted from the week of Monday 1970-01-05; days from 1970-01-01.
        (
            "week",
            ["2021-01-06 23:00", "2021-01-10 23:59", "2021-01-11 00:10", "2021-02-03"],
            [2661, 2661, 2662, 2665],
        ),
        (
            "day",
            ["2021-01-06 23:00", "2021-01-07 00:01", "2021-01-07 22:00", "2021-03-01"],
            [18633, 18634, 18634, 18687],
        ),
        ("month", ["2021-01-31", "2021-02-01", "2021-12-15", "2022-01-01"], [612, 613, 623, 624]),
    ],
)
def test_prepare_cuts_dates_into_periods(uc, unit, stamps, expected):
    frame = pd.DataFrame({"when": stamps[::-1], "store": "S1", "x1": 1.0, "x2": 0.0, "y": 1.0})
    got = prepare(frame, uc, period=unit).frame["when"].tolist()
    assert got == expected


def test_prepare_keeps_integer_periods_and_rejects_undated_text(uc):
    frame = pd.DataFrame(
        {
            "when": [3, 1, 2],
            "store": "S1",
            "x1": 1.0,
            "x2": 0.0,
            "y": 1.0,
            "row_id": ["c", "a", "b"],
        }
    )
    plain = uc.model_copy(update={"data": uc.data.model_copy(update={"period": None})})
    done = prepare(frame, plain)
    assert done.frame["when"].tolist() == [1, 2, 3]
    assert done.frame["row_id"].tolist() == ["a", "b", "c"]
    with pytest.raises(ValueError, match="not an integer period: set data.period"):
        prepare(frame.assign(when=["2021-01-01"] * 3), plain)
    with pytest.raises(ValueError, match="is not a date"):
        prepare(frame.assign(when=["soon", "2021-01-01", "2021-01-02"]), uc, period="day")
    with pytest.raises(ValueError, match=r"holds numbers \(3\), but data.period 'week' cuts dates"):
        prepare(frame, uc, period="week")
    with pytest.raises(ValueError, match="unknown period unit 'year'"):
        prepare(frame, uc, period="year")


# ----------------------------------------------------------------- replaying
def test_retraining_policies_beat_never_after_the_flip(results):
    never = results["never"]
    assert never.retrains == 0 and never.decisions == ()
    assert {p.champion for p in never.periods} == {"bootstrap"}
    for name in ("default", "every:1", "performance"):
        assert results[name].total_error < never.total_error, name
        assert results[name].total_cost < never.total_cost, name
    # every:1 retrains in every cycle whose labels are new enough: all of them.
    every = results["every:1"]
    assert every.retrain_periods == tuple(range(JAN + INITIAL + 1, JAN + MONTHS))


def test_performance_retrains_once_the_flipped_labels_arrive(results):
    perf = results["performance"]
    arrive = JAN + FLIP + 1  # label_delay 1
    assert perf.retrain_periods and perf.retrain_periods[0] == arrive
    first = next(p for p in perf.periods if p.period == arrive)
    assert first.trigger == "realized_decay"
    assert first.decision.inputs.decay_cause == "concept_drift"
    assert first.decision.window.kind == "sliding"  # the product's choice after concept drift
    # A challenger replaces the champion within two cycles (one trained on a
    # window that mixes both regimes may miss the floor) and serves from the
    # next period on, with far less error than the stale model.
    switch = perf.switch_periods[0]
    assert arrive <= switch <= arrive + 1
    after = [p for p in perf.periods if p.period > switch]
    assert after and {p.champion for p in after} == {f"p{switch}"}
    stale = [p for p in results["never"].periods if p.period > switch]
    assert sum(p.error for p in after) < 0.5 * sum(p.error for p in stale)


def test_decisions_are_what_decide_retrain_returns_for_their_inputs(results, uc):
    for name, result in results.items():
        settings = policy_settings(
            parse_policy(name), uc.retrain, uc.drift, label_delay=uc.data.label_delay
        )
        if settings is None:
            continue
        assert len(result.decisions) == len(result.periods)
        for decision in result.decisions:
            assert decide_retrain(decision.inputs, *settings, uc.metric.primary) == decision


def test_drift_is_measured_only_for_policies_whose_rules_read_it(results):
    for name, result in results.items():
        measured = {d.inputs.drift is not None for d in result.decisions}
        expected = (
            {True} if name in ("drift", "default") else ({False} if result.decisions else set())
        )
        assert measured == expected, name
    # Performance is measured for every deciding policy, from the second cycle on
    # (the first has no new labels yet with label_delay 1).
    for d in results["performance"].decisions[1:]:
        assert d.inputs.performance is not None and d.inputs.performance.realized is not None


def test_promotions_compare_segments_on_the_holdout(results):
    promotions = [p.promotion for p in results["every:1"].periods if p.promotion is not None]
    assert promotions
    assert all({s.segment for s in p.inputs.segments} == {"S1", "S2"} for p in promotions)


def test_results_are_deterministic_and_do_not_depend_on_the_shared_cache(prepared, uc, results):
    for name in ("performance", "default"):
        alone = run_policy(prepared, uc, parse_policy(name), initial_periods=INITIAL, seed=0)
        assert alone == results[name]
    table = summary_table([results[p] for p in POLICIES])
    assert [row["policy"] for row in table] == POLICIES
    assert table[0]["retrains"] == 0


def test_segment_caps_come_from_the_champions_training_rows(prepared, uc):
    # A cap at 1% of each store's best training target catches every prediction;
    # a segment whose caps were not passed would not be judged at all.
    rules = (
        *uc.guardrails.rules,
        {"kind": "segment_history_cap", "multiple": 0.01, "action": "flag"},
    )
    raw = uc.model_dump()
    raw["guardrails"]["rules"] = [r if isinstance(r, dict) else r.model_dump() for r in rules]
    capped = parse_usecase(raw, "capped.yaml")
    result = run_policy(prepared, capped, parse_policy("never"), initial_periods=INITIAL)
    assert all(p.guardrail_rows == p.rows for p in result.periods)
    assert result.guardrail_period_share == 1.0


def test_a_cache_serves_one_frame_and_use_case(prepared, uc):
    cache = ReplayCache()
    run_policy(prepared, uc, parse_policy("never"), initial_periods=INITIAL, cache=cache)
    other = uc.model_copy(update={"description": "another"})
    with pytest.raises(ValueError, match="belongs to another"):
        run_policy(prepared, other, parse_policy("never"), initial_periods=INITIAL, cache=cache)


def test_a_bootstrap_model_below_the_floor_stops_the_replay(prepared):
    strict = usecase(floor=0.01)
    with pytest.raises(BootstrapError, match="misses the floor"):
        run_policy(prepared, strict, parse_policy("never"), initial_periods=INITIAL)


@pytest.mark.parametrize("initial", [0, MONTHS])
def test_initial_periods_must_leave_periods_to_replay(prepared, uc, initial):
    with pytest.raises(ValueError, match="initial_periods must leave"):
        run_policy(prepared, uc, parse_policy("never"), initial_periods=initial)


# ------------------------------------------------------------ candidate search
RIDGE = "sklearn.linear_model.Ridge"
HGB = "sklearn.ensemble.HistGradientBoostingRegressor"


def with_candidates(uc: UseCase, budget: float = 30.0) -> UseCase:
    raw = uc.model_dump()
    raw["model"]["candidates"] = [
        {"estimator": RIDGE, "space": {"alpha": [0.1, 1.0, 10.0]}},
        {
            "estimator": HGB,
            "params": dict(uc.model.params),
            "space": {"learning_rate": [0.05, 0.1, 0.2]},
        },
    ]
    raw["model"]["search"] = {"budget_seconds": budget, "trials": 4, "folds": 2, "seed": 1}
    return parse_usecase(raw, "flip_search.yaml")


@pytest.fixture(scope="module")
def searched(prepared):
    uc = with_candidates(usecase())
    policies = [parse_policy("default"), parse_policy("default+search")]
    runs = run_backtest(prepared, uc, policies, initial_periods=INITIAL, seed=0)
    return uc, {r.policy: r for r in runs}


def test_a_search_policy_decides_like_its_base_and_records_each_choice(searched, results):
    _, runs = searched
    plain, search = runs["default"], runs["default+search"]
    # Candidates change nothing for the plain policy: the same replay as without them.
    assert plain == results["default"]
    # The first decision is taken before any challenger differs, so it is the same.
    assert search.decisions[0] == plain.decisions[0]
    retrained = [p for p in search.periods if p.retrained and p.challenger_error is None]
    assert retrained
    for p in retrained:
        choice, budget = p.search_reasons
        assert choice.code in ("search_switched", "search_kept")
        assert choice.numbers["chosen"] in (RIDGE, HGB)
        assert p.challenger_estimator == choice.numbers["chosen"]
        # The bootstrap champion is the single estimator: the first search compares with it.
        assert choice.numbers["incumbent"] in (RIDGE, HGB)
        assert budget.numbers["budget_seconds"] == 30.0
        assert budget.numbers["trials_started"] == 4
    assert sum(search.challenger_estimators.values()) == len(retrained)
    assert all(not p.search_reasons for p in plain.periods)
    assert all(p.challenger_estimator == HGB for p in plain.periods if p.retrained)
    table = summary_table([plain, search])
    assert [row["policy"] for row in table] == ["default", "default+search"]


def test_a_search_policy_needs_candidates(prepared, uc):
    with pytest.raises(ValueError, match="has none"):
        run_policy(prepared, uc, parse_policy("default+search"), initial_periods=INITIAL)


# ------------------------------------------------------------ missing targets
def test_rows_without_a_target_never_train_and_never_score(uc):
    """5% of the labels blank: the replay runs, counts them, and measures the rest."""
    data = year_of_data(seed=11)
    blank = np.random.default_rng(5).random(len(data)) < 0.05
    data.loc[blank, "y"] = np.nan
    prepared = prepare(data, uc)
    runs = run_backtest(
        prepared,
        uc,
        [parse_policy(p) for p in ("never", "every:1", "default")],
        initial_periods=INITIAL,
        seed=0,
    )
    replayed = prepared.frame[prepared.frame["when"] > prepared.periods[INITIAL - 1]]
    for run in runs:
        assert run.unlabeled_rows == int(replayed["y"].isna().sum()) > 0
        assert run.rows == int(replayed["y"].notna().sum())
        assert np.isfinite(run.total_error) and np.isfinite(run.mean_metric)
    every = next(r for r in runs if r.policy == "every:1")
    # Every period retrains but the first (its labels are the bootstrap's).
    assert every.retrains == MONTHS - INITIAL - 1
    # Each challenger was judged against the naive baseline refit on its own rows.
    for period in every.periods:
        if period.promotion is not None:
            assert period.promotion.inputs.baseline is not None
            assert np.isfinite(period.promotion.inputs.baseline_metric)
    # The models' training windows left the blank rows out, and said how many.
    from mlops_core.decisions import TrainingWindow
    from mlops_core.training import train_model

    window = TrainingWindow(kind="expanding", first_period=None, last_period=prepared.periods[5])
    result = train_model(prepared.labeled_through(window.last_period), uc, window)
    assert result.split.unlabeled_rows > 0
    assert result.split.train["y"].notna().all() and result.split.holdout["y"].notna().all()
