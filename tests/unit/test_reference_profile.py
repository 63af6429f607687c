"""Reference profiles: drift statistics from a profile against the exact ones (scipy)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp, wasserstein_distance

from mlops_core.drift_stats import category_effect, drift_statistic, ks_effect
from mlops_core.reference_profile import (
    BINS,
    DISCRETE_VALUES,
    BatchTally,
    FeatureProfile,
    ReferenceProfile,
    compare,
    profile_categorical,
    profile_categorical_chunks,
    profile_frame,
    profile_numeric,
    profile_numeric_chunks,
    searchsorted_right,
)

pytestmark = pytest.mark.unit

ROWS = 60_000  # above BINS: the continuous profile is a sketch, not the data


def _reference(kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind == "normal":
        return rng.normal(10, 3, ROWS)
    if kind == "skewed":
        return rng.lognormal(0, 1, ROWS)
    # Integers with ties and an atom at zero: bins that are point masses.
    return np.where(rng.random(ROWS) < 0.3, 0, rng.poisson(40, ROWS)).astype(float)


SHIFTS = [
    ("none", lambda x, rng: rng.permutation(x)[: len(x) // 2]),
    ("mean", lambda x, rng: rng.permutation(x)[: len(x) // 2] + 0.2 * x.std()),
    ("scale", lambda x, rng: x.mean() + 1.5 * (rng.permutation(x)[: len(x) // 2] - x.mean())),
    # Far outside the reference on both sides: the tails of the batch bins.
    ("outside", lambda x, rng: np.concatenate([x[:1000] - 50 * x.std(), x[1000:2000] * 40])),
]


@pytest.mark.parametrize("kind", ["normal", "skewed", "integers"])
@pytest.mark.parametrize(("shift", "make"), SHIFTS, ids=[s[0] for s in SHIFTS])
def test_wasserstein_from_a_profile_is_within_its_bound(kind: str, shift: str, make) -> None:
    rng = np.random.default_rng(5)
    ref = _reference(kind, rng)
    cur = make(ref, rng)
    profile = profile_numeric(ref)
    assert profile.kind == "continuous" and len(profile.counts) <= BINS + 30  # + tail edges

    got = compare("wasserstein", profile, cur)
    exact = wasserstein_distance(ref, cur) / np.std(ref)
    assert abs(got.score - exact) <= got.error + 1e-12
    if shift != "outside":
        # The bound is a worst case (all of a bin's mass at one end); it stays well
        # below drift thresholds of about 0.1, and the real error far below it.
        assert got.error < 0.02 + 0.15 * got.score
        assert abs(got.score - exact) < 0.003


@pytest.mark.parametrize("kind", ["normal", "skewed", "integers"])
@pytest.mark.parametrize(("shift", "make"), SHIFTS, ids=[s[0] for s in SHIFTS])
def test_ks_from_a_profile_is_within_its_bound(kind: str, shift: str, make) -> None:
    rng = np.random.default_rng(6)
    ref = _reference(kind, rng)
    cur = make(ref, rng)
    got = compare("ks", profile_numeric(ref), cur)

    assert abs(got.effect - ks_effect(ref, cur)) <= got.error + 1e-12
    exact = ks_2samp(ref, cur, method="asymp")
    if got.effect == pytest.approx(exact.statistic, abs=1e-12):
        assert got.score == pytest.approx(exact.pvalue, rel=1e-9, abs=1e-300)
    assert (got.score < 0.01) == (exact.pvalue < 0.01) or shift == "none"


@pytest.mark.parametrize("method", ["psi", "jensenshannon"])
@pytest.mark.parametrize("kind", ["normal", "skewed", "integers"])
@pytest.mark.parametrize(("shift", "make"), SHIFTS[:3], ids=[s[0] for s in SHIFTS[:3]])
def test_binned_methods_from_a_profile_are_close_to_the_exact_ones(
    method: str, kind: str, shift: str, make
) -> None:
    rng = np.random.default_rng(7)
    ref = _reference(kind, rng)
    cur = make(ref, rng)
    got = compare(method, profile_numeric(ref), cur).score
    exact = drift_statistic(method, ref, cur, numeric=True)
    assert got == pytest.approx(exact, abs=0.005)


def test_small_references_are_kept_exactly() -> None:
    rng = np.random.default_rng(8)
    ref, cur = rng.normal(size=400), rng.normal(0.3, 1.2, size=300)
    profile = profile_numeric(ref)  # 400 distinct values: one bin each
    assert sum(profile.counts) == 400 and all(c == 1 for c in profile.counts)
    # The reference side is exact, and so is a histogram of the batch:
    for method in ("psi", "jensenshannon"):
        assert compare(method, profile, cur).score == pytest.approx(
            drift_statistic(method, ref, cur, numeric=True), rel=1e-9
        )
    # the batch is still read through the reference's bins.
    w1 = compare("wasserstein", profile, cur)
    exact = wasserstein_distance(ref, cur) / np.std(ref)
    assert abs(w1.score - exact) <= w1.error
    ks = compare("ks", profile, cur)
    assert abs(ks.effect - ks_effect(ref, cur)) <= ks.error


@pytest.mark.parametrize("method", ["wasserstein", "ks", "psi", "jensenshannon"])
def test_few_valued_numbers_are_exact(method: str) -> None:
    rng = np.random.default_rng(9)
    ref = rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], 5000, p=[0.1, 0.2, 0.3, 0.3, 0.1])
    cur = rng.choice([1.0, 2.0, 3.0, 4.0, 6.0], 2000, p=[0.3, 0.2, 0.2, 0.2, 0.1])
    profile = profile_numeric(ref)
    assert profile.kind == "discrete" and len(profile.values) <= DISCRETE_VALUES
    got = compare(method, profile, cur)
    if method == "ks":
        assert got.effect == pytest.approx(ks_effect(ref, cur), abs=1e-12)
        assert got.score == pytest.approx(ks_2samp(ref, cur, method="asymp").pvalue, rel=1e-9)
    else:
        assert got.score == pytest.approx(drift_statistic(method, ref, cur, numeric=True), rel=1e-9)
    assert got.error == 0.0


@pytest.mark.parametrize("method", ["chisquare", "psi", "jensenshannon"])
def test_categories_are_exact(method: str) -> None:
    rng = np.random.default_rng(10)
    ref = pd.Series(rng.choice(["a", "b", "c"], 3000, p=[0.5, 0.3, 0.2]), dtype=object)
    cur = pd.Series(rng.choice(["a", "b", "d"], 1000, p=[0.4, 0.4, 0.2]), dtype=object)
    ref[::50] = None
    got = compare(method, profile_categorical(ref), cur)
    assert got.score == pytest.approx(drift_statistic(method, ref, cur, numeric=False), rel=1e-9)
    assert got.effect == pytest.approx(category_effect(ref, cur), rel=1e-12)
    assert got.rows == 1000


def test_missing_and_infinite_values_are_counted_apart() -> None:
    ref = np.array([1.0, 2.0, np.nan, np.inf, -np.inf, 3.0] * 10)
    profile = profile_numeric(ref)
    assert profile.rows == 30 and profile.missing == 30
    assert profile.minimum == 1.0 and profile.maximum == 3.0
    got = compare("wasserstein", profile, np.array([np.nan, 2.0, 3.0, np.inf]))
    assert got.rows == 2


def test_a_profile_survives_json_and_gives_the_same_scores() -> None:
    rng = np.random.default_rng(11)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=5000),
            "k": rng.integers(0, 4, 5000).astype(float),
            "c": rng.choice(["u", "v"], 5000),
        }
    )
    profile = profile_frame(
        frame, {"x": True, "k": True, "c": False}, predictions=rng.gamma(2, 3, 5000)
    )
    again = ReferenceProfile.from_json(profile.to_json())
    assert again == profile
    cur = pd.DataFrame({"x": rng.normal(0.5, 1, 800), "k": rng.integers(0, 5, 800).astype(float)})
    for name, method in (("x", "wasserstein"), ("k", "psi")):
        assert compare(method, again.features[name], cur[name]) == compare(
            method, profile.features[name], cur[name]
        )
    assert len(profile.to_json()) < 200_000, "a few tens of kilobytes per feature at most"


def test_methods_that_do_not_fit_the_feature_or_empty_sides_raise() -> None:
    numbers, categories = profile_numeric([1.0, 2.0, 3.0]), profile_categorical(["a", "b"])
    with pytest.raises(ValueError, match="numbers, not categories"):
        compare("ks", categories, ["a"])
    with pytest.raises(ValueError, match="categories, not numbers"):
        compare("chisquare", numbers, [1.0])
    with pytest.raises(ValueError, match="unknown drift method"):
        compare("energy", numbers, [1.0])
    with pytest.raises(ValueError, match="at least one value"):
        compare("wasserstein", numbers, [np.nan])
    with pytest.raises(ValueError, match="at least one value"):
        compare("psi", FeatureProfile(kind="continuous", rows=0, missing=3), [1.0])


def _quantile_edges(reference: np.ndarray, bins: int = 1000) -> np.ndarray:
    x = np.sort(reference[np.isfinite(reference)])
    return np.unique(x[(np.linspace(0.0, 1.0, bins + 1) * (x.size - 1)).round().astype(int)])


@pytest.mark.parametrize(
    "shape", ["normal", "shifted", "lognormal", "uniform wider", "rounded", "edges and specials"]
)
def test_the_grid_search_places_every_value_where_numpy_does(shape):
    rng = np.random.default_rng(11)
    rows = 50_000
    reference = rng.normal(0.0, 1.0, rows)
    current = {
        "normal": rng.normal(0.0, 1.0, rows),
        "shifted": rng.normal(0.4, 1.3, rows),
        "lognormal": rng.lognormal(0.0, 1.5, rows),
        "uniform wider": rng.uniform(-6.0, 6.0, rows),
        "rounded": np.round(rng.normal(0.0, 1.0, rows), 2),
        "edges and specials": rng.normal(0.0, 1.0, rows),
    }[shape]
    if shape == "lognormal":
        reference = rng.lognormal(0.0, 1.5, rows)
    edges = _quantile_edges(reference)
    if shape == "edges and specials":
        # Values exactly on edges, next to them, and missing or infinite ones.
        at = rng.choice(edges.size, 5000)
        current[:5000] = edges[at]
        current[5000:10000] = np.nextafter(edges[at], -np.inf)
        current[10000:10300] = np.nan
        current[10300:10400] = np.inf
        current[10400:10500] = -np.inf
        rng.shuffle(current)

    got = searchsorted_right(edges, current)

    np.testing.assert_array_equal(got, np.searchsorted(edges, current, side="right"))


def test_the_grid_search_is_exact_on_few_edges_and_few_values():
    rng = np.random.default_rng(3)
    for edges in (np.array([1.0]), np.array([0.0, 1e-300]), np.array([-1.0, 0.0, 2.0])):
        for values in (rng.normal(size=10), rng.normal(size=40_000)):
            np.testing.assert_array_equal(
                searchsorted_right(edges, values), np.searchsorted(edges, values, side="right")
            )


@pytest.mark.parametrize(
    ("kind", "method"),
    [
        ("continuous", "wasserstein"),
        ("continuous", "ks"),
        ("continuous", "psi"),
        ("continuous", "jensenshannon"),
        ("discrete", "wasserstein"),
        ("discrete", "psi"),
        ("categorical", "chisquare"),
        ("categorical", "jensenshannon"),
    ],
)
def test_tallies_of_partitions_merge_into_the_tally_of_the_whole_column(
    kind: str, method: str
) -> None:
    rng = np.random.default_rng(11)
    if kind == "categorical":
        reference = rng.choice(["a", "b", "c"], 4000, p=[0.5, 0.3, 0.2]).astype(object)
        current = rng.choice(["a", "b", "c", "d"], 3000, p=[0.3, 0.3, 0.3, 0.1]).astype(object)
        profile = profile_categorical(reference)
    else:
        reference = rng.normal(0.0, 1.0, 4000)
        current = rng.normal(0.3, 1.2, 3000)
        if kind == "discrete":
            reference, current = np.round(reference), np.round(current)
        current[::97] = np.nan
        profile = profile_numeric(reference)
    assert profile.kind == kind
    parts = np.array_split(current, [500, 1700])  # unequal partitions, tallied apart

    firsts = []
    for part in parts:
        tally = BatchTally(method, profile)
        tally.add(part)
        firsts.append(tally)
    merged = BatchTally(method, profile)
    for tally in firsts:
        merged.merge(tally)
    if merged.second_pass:
        for part in parts:
            again = merged.for_second_pass()
            again.add_again(part)
            merged.merge_again(again)

    whole = compare(method, profile, current)
    got = merged.comparison()
    assert got.rows == whole.rows
    for field in ("score", "error", "effect"):
        a, b = getattr(got, field), getattr(whole, field)
        assert (np.isnan(a) and np.isnan(b)) or a == pytest.approx(b, rel=1e-12, abs=1e-15), field


def test_tallies_of_another_method_or_profile_do_not_merge() -> None:
    rng = np.random.default_rng(5)
    profile, other = profile_numeric(rng.normal(0, 1, 500)), profile_numeric(rng.normal(1, 1, 500))
    tally = BatchTally("wasserstein", profile)
    with pytest.raises(ValueError, match="do not add up"):
        tally.merge(BatchTally("ks", profile))
    with pytest.raises(ValueError, match="do not add up"):
        tally.merge_again(BatchTally("wasserstein", other))


def _tall_column(kind: str, rng: np.random.Generator) -> np.ndarray:
    """Columns whose profile takes each path of profile_numeric, with missing and infinities."""
    if kind == "skewed":
        x = rng.lognormal(0, 2, 90_000)
    elif kind == "ties":  # more distinct values than bins, a few of them very frequent
        x = np.where(rng.random(90_000) < 0.4, rng.integers(0, 5, 90_000), rng.normal(0, 1, 90_000))
    elif kind == "few distinct":  # DISCRETE_VALUES < distinct <= BINS: point masses
        x = rng.integers(0, BINS // 2, 90_000).astype(float)
    elif kind == "discrete":
        x = rng.integers(0, DISCRETE_VALUES, 90_000).astype(float)
    else:  # sorted: each chunk its own range, the pivots of one chunk far from another's
        x = np.sort(rng.normal(0, 1, 90_000))
    x[rng.random(x.size) < 0.01] = np.nan
    x[:3] = [np.inf, -np.inf, np.nan]
    return x


@pytest.mark.parametrize("kind", ["skewed", "ties", "few distinct", "discrete", "sorted"])
@pytest.mark.parametrize("cuts", [[], [0, 1, 250, 40_000, 40_001, 89_999]], ids=["one", "uneven"])
def test_a_numeric_profile_built_chunk_by_chunk_is_the_one_of_the_whole_column(
    kind: str, cuts: list[int]
) -> None:
    x = _tall_column(kind, np.random.default_rng(3))
    chunks = np.split(x, cuts)  # empty chunks and chunks of one row included
    passes = []

    def read():
        passes.append(1)
        return iter(chunks)

    whole, chunked = profile_numeric(x), profile_numeric_chunks(read)
    assert len(passes) <= 5
    assert (chunked.kind, chunked.rows, chunked.missing) == (whole.kind, whole.rows, whole.missing)
    # The edges are the exact order statistics, the counts the exact counts.
    np.testing.assert_array_equal(chunked.values, whole.values)
    np.testing.assert_array_equal(chunked.counts, whole.counts)
    # Sums taken in another order: equal but for the last bits (of the column's scale).
    scale = 1e-12 * max(whole.std or 0.0, 1.0)
    for name in ("bin_means", "bin_spreads"):
        np.testing.assert_allclose(
            getattr(chunked, name), getattr(whole, name), rtol=1e-12, atol=scale
        )
    for name in ("mean", "std", "minimum", "maximum"):
        assert getattr(chunked, name) == pytest.approx(getattr(whole, name), rel=1e-12), name
    rng = np.random.default_rng(4)
    current = np.nan_to_num(rng.choice(x, 5_000), nan=0.0, posinf=0.0, neginf=0.0) * 1.1
    for method in ("ks", "wasserstein", "psi", "jensenshannon"):
        a, b = compare(method, chunked, current), compare(method, whole, current)
        assert a.score == pytest.approx(b.score, rel=1e-9, abs=1e-12), method


def test_a_column_with_no_finite_value_profiles_as_empty_chunk_by_chunk() -> None:
    chunks = [np.array([np.nan, np.inf]), np.array([]), np.array([np.nan])]
    profile = profile_numeric_chunks(lambda: iter(chunks))
    assert (profile.rows, profile.missing) == (0, 3)
    assert profile == profile_numeric(np.concatenate(chunks))


def test_a_categorical_profile_built_chunk_by_chunk_counts_as_the_whole_column() -> None:
    rng = np.random.default_rng(8)
    x = rng.choice(["a", "b", "c", "d", None], 10_000, p=[0.4, 0.3, 0.2, 0.05, 0.05])
    whole = profile_categorical(x)
    chunked = profile_categorical_chunks(np.array_split(x, [3, 3, 5_000]))
    assert (chunked.rows, chunked.missing) == (whole.rows, whole.missing)
    assert list(chunked.values) == list(whole.values)  # most frequent first
    assert dict(zip(chunked.values, chunked.counts, strict=True)) == dict(
        zip(whole.values, whole.counts, strict=True)
    )
