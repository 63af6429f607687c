"""Reference profiles: what drift statistics need from a model's training data, kept once.

A cycle compares a batch with the data its champion learnt from. Re-reading and
re-sorting that reference every cycle costs more than the batch itself once the
training window holds millions of rows, so :func:`profile_frame` summarises it
when the model is trained, and :func:`compare` scores a batch against the
summary in a few vectorised passes over the batch (no sort of a continuous
column, no pass over the reference).

Per feature the profile keeps:

- a **continuous** numeric feature (more than 20 distinct values): the count of
  finite and missing values, the exact mean, std, minimum and maximum, and
  ``BINS`` equal-mass bins (edges at the reference quantiles, with finer edges
  in both tails) with each bin's count, mean and mean absolute deviation around
  that mean. A reference with at most ``BINS`` distinct values keeps each value
  as its own bin;
- a **discrete** numeric feature (20 distinct values or fewer, Evidently's rule
  for binning by value): every value with its count (exact);
- a **categorical** feature: every category (as text) with its count (exact).

Statistics against a profile (the same methods as ``drift_stats.drift_statistic``):

- categorical and discrete features: exact, the numbers Evidently computes on the
  full reference;
- continuous features, normed Wasserstein: both sides are reduced to their bin
  means; by the triangle inequality the exact distance differs by at most the
  mass-weighted mean absolute deviation within bins of each side, which is
  returned as ``error`` (normed like the score). With 1000 bins the bound is
  about 0.01 (up to 0.03 for a long-tailed feature whose spread changes), the
  real error a few thousandths, against drift thresholds of about 0.1;
- continuous, Kolmogorov-Smirnov: D is exact at every bin edge; between edges it
  can be off by at most the larger bin share of either side (``error``). The
  p-value is the asymptotic one of that D (scipy's ``ks_2samp`` in mode
  ``asymp``; Evidently lets scipy pick ``exact`` below 10 000 rows a side, where
  the two differ in the third digit);
- continuous, PSI and Jensen-Shannon: Evidently bins both sides by one Sturges
  histogram over their common range; the batch's share per bin is exact, the
  reference's is read off the profile by linear interpolation inside a quantile
  bin, off by at most one quantile bin's share (1/1000) per histogram edge.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.stats import chisquare, kstwo

from mlops_core.config import UseCase
from mlops_core.drift_stats import fill_zero_shares

#: Equal-mass bins of a continuous feature's profile (a few kilobytes per feature).
BINS = 1000
#: A numeric feature with at most this many distinct reference values is kept
#: value by value (Evidently bins such a feature by value for PSI and Jensen-Shannon).
DISCRETE_VALUES = 20
# Evidently norms the Wasserstein distance by the reference std, floored here.
MIN_STD = 0.001

ProfileKind = Literal["continuous", "discrete", "categorical"]


_ARRAY_FIELDS = ("values", "counts", "bin_means", "bin_spreads")


def _no_values() -> np.ndarray:
    return np.empty(0)


@dataclass(frozen=True, eq=False)
class FeatureProfile:
    """One feature of a reference, as drift statistics need it.

    Attributes:
        kind: ``continuous``, ``discrete`` or ``categorical``.
        rows: Values present (finite numbers; non-missing categories).
        missing: Values missing (or not finite).
        mean: Mean of the numbers (NaN for categories).
        std: Population std of the numbers (NaN for categories).
        minimum: Smallest number (NaN for categories).
        maximum: Largest number (NaN for categories).
        values: Discrete: the distinct numbers, ascending; categorical: the
            categories as text; continuous: the ``BINS + 1`` bin edges (fewer
            when quantiles tie).
        counts: Rows per value, category or bin.
        bin_means: Continuous: mean of each bin's values.
        bin_spreads: Continuous: mean absolute deviation of each bin's values
            around its mean.
    """

    kind: ProfileKind
    rows: int
    missing: int
    mean: float = math.nan
    std: float = math.nan
    minimum: float = math.nan
    maximum: float = math.nan
    # Arrays, not tuples: a profile travels between Prefect tasks, and Prefect
    # visits every element of a tuple parameter (a million per model) on each call.
    values: np.ndarray = field(default_factory=_no_values)
    counts: np.ndarray = field(default_factory=_no_values)
    bin_means: np.ndarray = field(default_factory=_no_values)
    bin_spreads: np.ndarray = field(default_factory=_no_values)

    def __post_init__(self) -> None:
        for name in _ARRAY_FIELDS:
            if name == "values":
                dtype: Any = object if self.kind == "categorical" else float
            else:
                dtype = np.int64 if name == "counts" else float
            array = np.array(getattr(self, name), dtype=dtype)
            array.setflags(write=False)  # frozen, like the dataclass
            object.__setattr__(self, name, array)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FeatureProfile):
            return NotImplemented
        return self.as_dict() == other.as_dict()

    __hash__ = None  # type: ignore[assignment]  # equal profiles need not hash alike

    @property
    def numeric(self) -> bool:
        """The feature holds numbers."""
        return self.kind != "categorical"

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view (NaN as None)."""
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            elif isinstance(value, np.ndarray):
                value = value.tolist()
            out[key] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureProfile:
        """Inverse of :meth:`as_dict`."""
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key in ("mean", "std", "minimum", "maximum"):
                value = math.nan if value is None else float(value)
            kwargs[key] = value
        return cls(**kwargs)


@dataclass(frozen=True)
class ReferenceProfile:
    """Every model feature of a reference (and its predictions), profiled once.

    Attributes:
        rows: Rows of the reference.
        features: Feature name to its profile.
        prediction: Profile of the model's predictions on (a sample of) the
            reference, when they are numbers.
    """

    rows: int
    features: Mapping[str, FeatureProfile]
    prediction: FeatureProfile | None = None
    version: int = field(default=1)

    def to_json(self) -> str:
        """Serialise (stored next to the model)."""
        return json.dumps(
            {
                "version": self.version,
                "rows": self.rows,
                "features": {k: v.as_dict() for k, v in self.features.items()},
                "prediction": self.prediction.as_dict() if self.prediction else None,
            },
            allow_nan=False,
        )

    @classmethod
    def from_json(cls, text: str) -> ReferenceProfile:
        """Inverse of :meth:`to_json`."""
        data = json.loads(text)
        return cls(
            rows=int(data["rows"]),
            features={k: FeatureProfile.from_dict(v) for k, v in data["features"].items()},
            prediction=FeatureProfile.from_dict(data["prediction"])
            if data.get("prediction")
            else None,
            version=int(data.get("version", 1)),
        )


@dataclass(frozen=True)
class Comparison:
    """A batch column scored against a feature profile.

    Attributes:
        score: The drift score under the method (a distance, or a p-value for tests).
        error: Upper bound on how far ``score`` can be from the exact value on the
            full reference (0 when exact; for ``psi`` and ``jensenshannon`` of a
            continuous feature no bound is derived and this is NaN).
        effect: The effect size behind a test (KS D, or the total variation
            distance of category shares); NaN for effect-size methods.
        rows: Values of the batch compared (present, finite).
    """

    score: float
    error: float
    effect: float
    rows: int


# ------------------------------------------------------------------ profiling
def _finite(values: Any) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    return array[np.isfinite(array)]


def profile_numeric(values: Any, *, bins: int = BINS) -> FeatureProfile:
    """Profile a numeric reference column (missing and infinite values counted apart).

    Args:
        values: The reference values.
        bins: Equal-mass bins of a continuous feature.

    Returns:
        A ``discrete`` profile for at most ``DISCRETE_VALUES`` distinct values,
        else a ``continuous`` one.
    """
    raw = np.asarray(values, dtype=float).ravel()
    x = np.sort(raw[np.isfinite(raw)])
    missing = int(raw.size - x.size)
    if x.size == 0:
        return FeatureProfile(kind="continuous", rows=0, missing=missing)
    moments = {
        "mean": float(x.mean()),
        "std": float(x.std()),
        "minimum": float(x[0]),
        "maximum": float(x[-1]),
    }
    distinct, counts = np.unique(x, return_counts=True)
    if distinct.size <= DISCRETE_VALUES:
        return FeatureProfile(
            kind="discrete",
            rows=int(x.size),
            missing=missing,
            values=distinct,
            counts=counts,
            **moments,
        )
    # Edges at the quantiles (ties merge bins); every bin is [edge, next edge),
    # the last one closed, as numpy's histogram.
    if distinct.size <= bins:
        # Every value its own bin (a point mass), the last one closed just above
        # the maximum: the profile is the reference itself.
        edges = np.append(distinct, np.nextafter(distinct[-1], np.inf))
    else:
        positions = (_quantile_levels(bins) * (x.size - 1)).round().astype(np.int64)
        edges = np.unique(x[positions])
    idx = _bin_index(x, edges)
    counts = np.bincount(idx, minlength=edges.size + 1)[1:-1]
    sums = np.bincount(idx, weights=x, minlength=edges.size + 1)[1:-1]
    means = np.divide(sums, counts, out=edges[:-1].copy(), where=counts > 0)
    spread = np.bincount(idx, weights=np.abs(x - means[idx - 1]), minlength=edges.size + 1)[1:-1]
    spreads = np.divide(spread, counts, out=np.zeros_like(spread), where=counts > 0)
    return FeatureProfile(
        kind="continuous",
        rows=int(x.size),
        missing=missing,
        values=edges,
        counts=counts,
        bin_means=means,
        bin_spreads=spreads,
        **moments,
    )


def _quantile_levels(bins: int) -> np.ndarray:
    """Equal-mass levels, plus finer ones in both tails.

    A tail bin of a skewed feature is wide and holds little mass, so values
    read inside it (a histogram edge, a batch moving into the tail) would carry
    most of the error: 1-2-5 steps from 1e-7 to the first equal-mass level
    split it further, at a cost of about 30 edges.
    """
    even = np.linspace(0.0, 1.0, bins + 1)
    ladder = np.array([m * 10.0**-k for k in range(3, 8) for m in (1, 2, 5)])
    ladder = ladder[ladder < 1.0 / bins]
    return np.unique(np.concatenate([even, ladder, 1.0 - ladder]))


def profile_categorical(values: Any) -> FeatureProfile:
    """Profile a categorical reference column (values compared as they are given).

    Args:
        values: The reference categories (text; None or NaN for missing).

    Returns:
        A ``categorical`` profile.
    """
    series = pd.Series(np.asarray(values, dtype=object).ravel(), dtype=object)
    counts = series.value_counts(dropna=True)
    return FeatureProfile(
        kind="categorical",
        rows=int(counts.sum()),
        missing=int(series.isna().sum()),
        values=[str(v) for v in counts.index],
        counts=counts.to_numpy(),
    )


#: Order statistics each chunk contributes to the pivots of
#: :func:`profile_numeric_chunks`: a cell between two pivots then holds at most
#: 1/this of the rows, so the exact bin edges are picked among few values.
_PIVOTS_PER_CHUNK = 16384


def profile_numeric_chunks(
    read: Callable[[], Iterable[Any]], *, bins: int = BINS
) -> FeatureProfile:
    """:func:`profile_numeric` of a column given in chunks, never holding it whole.

    The same profile as :func:`profile_numeric` on the chunks put together: the
    same kind, counts and exact quantile edges; the moments and bin means are
    sums taken in another order (equal to about 1e-15, relative). ``read`` is
    called once per pass, five times at most (for a continuous feature with
    more distinct values than ``bins``; twice for a discrete one):

    1. counts, extremes, sum, the distinct values (while at most ``bins``) and
       each chunk's own order statistics, the pivots;
    2. the rows in each cell: strictly between two consecutive pivots, or the
       copies of one pivot;
    3. the rows of the cells between pivots that hold an edge's rank, from
       which the exact order statistic is picked (one cell per edge at most,
       each a small share of the rows);
    4. the bins' counts and sums, and the squares for the deviation;
    5. the bins' mean absolute deviations.

    Args:
        read: Returns the chunks of the column (anything ``np.asarray`` reads
            as numbers), in any order but the same rows each call.
        bins: Equal-mass bins of a continuous feature.

    Returns:
        The profile :func:`profile_numeric` gives for the whole column.
    """
    rows = missing = 0
    total = 0.0
    low, high = np.inf, -np.inf
    distinct: np.ndarray | None = np.empty(0)
    distinct_counts = np.empty(0, dtype=np.int64)
    pivots_of: list[np.ndarray] = []
    for x in _finite_chunks(read):
        missing += x.missing
        if x.values.size == 0:
            continue
        v = np.sort(x.values)
        rows += v.size
        total += float(v.sum())
        low, high = min(low, float(v[0])), max(high, float(v[-1]))
        if distinct is not None:
            values, counts = np.unique(v, return_counts=True)
            merged = np.concatenate([distinct, values])
            distinct, where = np.unique(merged, return_inverse=True)
            if distinct.size > bins:
                distinct = None
            else:
                distinct_counts = np.bincount(
                    where,
                    weights=np.concatenate([distinct_counts, counts]),
                    minlength=distinct.size,
                ).astype(np.int64)
        step = max(1, v.size // _PIVOTS_PER_CHUNK)
        pivots_of.append(np.append(v[::step], v[-1]))
    if rows == 0:
        return FeatureProfile(kind="continuous", rows=0, missing=missing)
    mean = total / rows
    if distinct is not None and distinct.size <= DISCRETE_VALUES:
        return FeatureProfile(
            kind="discrete",
            rows=rows,
            missing=missing,
            values=distinct,
            counts=distinct_counts,
            mean=mean,
            std=_chunked_std(read, mean, rows),
            minimum=low,
            maximum=high,
        )
    if distinct is not None:
        edges = np.append(distinct, np.nextafter(distinct[-1], np.inf))
    else:
        positions = (_quantile_levels(bins) * (rows - 1)).round().astype(np.int64)
        edges = np.unique(_order_statistics(read, np.unique(np.concatenate(pivots_of)), positions))
    counts = np.zeros(edges.size - 1, dtype=np.int64)
    sums = np.zeros(edges.size - 1)
    squares = 0.0
    for x in _finite_chunks(read):
        idx = _bin_index(x.values, edges)
        counts += np.bincount(idx, minlength=edges.size + 1)[1:-1]
        sums += np.bincount(idx, weights=x.values, minlength=edges.size + 1)[1:-1]
        squares += float(np.square(x.values - mean).sum())
    means = np.divide(sums, counts, out=edges[:-1].copy(), where=counts > 0)
    spread = np.zeros(edges.size - 1)
    for x in _finite_chunks(read):
        idx = _bin_index(x.values, edges)
        deviations = np.abs(x.values - means[np.clip(idx - 1, 0, means.size - 1)])
        spread += np.bincount(idx, weights=deviations, minlength=edges.size + 1)[1:-1]
    spreads = np.divide(spread, counts, out=np.zeros_like(spread), where=counts > 0)
    return FeatureProfile(
        kind="continuous",
        rows=rows,
        missing=missing,
        values=edges,
        counts=counts,
        bin_means=means,
        bin_spreads=spreads,
        mean=mean,
        std=float(np.sqrt(squares / rows)),
        minimum=low,
        maximum=high,
    )


@dataclass(frozen=True)
class _FiniteChunk:
    values: np.ndarray  # the finite values of the chunk
    missing: int  # its missing and infinite values


def _finite_chunks(read: Callable[[], Iterable[Any]]) -> Iterator[_FiniteChunk]:
    """The finite values of each chunk ``read`` gives, and how many were not."""
    for chunk in read():
        raw = np.asarray(chunk, dtype=float).ravel()
        finite = raw[np.isfinite(raw)]
        yield _FiniteChunk(finite, int(raw.size - finite.size))


def _chunked_std(read: Callable[[], Iterable[Any]], mean: float, rows: int) -> float:
    squares = sum(float(np.square(x.values - mean).sum()) for x in _finite_chunks(read))
    return float(np.sqrt(squares / rows))


def _order_statistics(
    read: Callable[[], Iterable[Any]], pivots: np.ndarray, positions: np.ndarray
) -> np.ndarray:
    """The values at ``positions`` of the sorted column, exactly, in two passes.

    The pivots cut the values into cells: ``2i`` holds the values strictly
    between ``pivots[i-1]`` and ``pivots[i]``, ``2i + 1`` the copies of
    ``pivots[i]``, in sorted order. A rank in a pivot's cell is that pivot;
    only the values of the other cells holding a rank are kept, and every
    pivot is a value of the column, each chunk's own order statistics among
    them, so such a cell holds few rows of any chunk (however many copies of
    one value the column has).
    """
    cells = np.zeros(2 * pivots.size, dtype=np.int64)
    for x in _finite_chunks(read):
        cells += np.bincount(_pivot_cells(pivots, np.sort(x.values)), minlength=cells.size)
    through = np.cumsum(cells)  # rows up to and including each cell
    cell_of = np.searchsorted(through, positions, side="right")
    rank_in_cell = positions - np.where(cell_of > 0, through[np.maximum(cell_of - 1, 0)], 0)
    between = np.unique(cell_of[cell_of % 2 == 0])
    held: dict[int, list[np.ndarray]] = {int(c): [] for c in between}
    if between.size:
        for x in _finite_chunks(read):
            v = np.sort(x.values)
            cell = _pivot_cells(pivots, v)
            lo, hi = (
                np.searchsorted(cell, between, side="left"),
                np.searchsorted(cell, between, side="right"),
            )
            for c, start, end in zip(between, lo, hi, strict=True):
                if end > start:
                    held[int(c)].append(v[start:end])
    kept = {c: np.sort(np.concatenate(parts)) for c, parts in held.items() if parts}
    return np.array(
        [
            pivots[c // 2] if c % 2 else kept[int(c)][r]
            for c, r in zip(cell_of, rank_in_cell, strict=True)
        ],
        dtype=float,
    )


def _pivot_cells(pivots: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The cell (see :func:`_order_statistics`) of each value of ``v``, sorted values."""
    at = np.searchsorted(pivots, v, side="left")
    on_pivot = pivots[np.minimum(at, pivots.size - 1)] == v
    return 2 * at + on_pivot


def profile_categorical_chunks(chunks: Iterable[Any]) -> FeatureProfile:
    """:func:`profile_categorical` of a column given in chunks (one pass, counts merged).

    Categories are listed by count, most frequent first, as ``value_counts``
    lists them; categories of equal counts in the order first seen (the order of
    such ties is not part of a profile: comparisons look categories up by name).
    """
    counts: dict[str, int] = {}
    missing = 0
    for chunk in chunks:
        series = pd.Series(np.asarray(chunk, dtype=object).ravel(), dtype=object)
        missing += int(series.isna().sum())
        for value, count in series.value_counts(dropna=True).items():
            key = str(value)
            counts[key] = counts.get(key, 0) + int(count)
    ordered = sorted(counts.items(), key=lambda item: -item[1])
    return FeatureProfile(
        kind="categorical",
        rows=sum(counts.values()),
        missing=missing,
        values=[value for value, _ in ordered],
        counts=np.array([count for _, count in ordered], dtype=np.int64),
    )


def profile_column(values: Any, *, numeric: bool, bins: int = BINS) -> FeatureProfile:
    """The profile of one reference column typed for drift: numbers or categories."""
    return profile_numeric(values, bins=bins) if numeric else profile_categorical(values)


def profile_frame(
    frame: pd.DataFrame,
    numeric: Mapping[str, bool],
    *,
    predictions: Any | None = None,
    bins: int = BINS,
) -> ReferenceProfile:
    """Profile every column named in ``numeric`` (True: numbers, False: categories).

    Args:
        frame: The reference rows, columns already typed for drift (numbers as
            floats, categories as text).
        numeric: Column name to whether it is numeric.
        predictions: The model's predictions on reference rows, when numbers.
        bins: Equal-mass bins of continuous features.

    Returns:
        The profile.
    """
    features = {
        name: profile_column(frame[name], numeric=is_numeric, bins=bins)
        for name, is_numeric in numeric.items()
    }
    prediction = None if predictions is None else profile_numeric(predictions, bins=bins)
    return ReferenceProfile(rows=len(frame), features=features, prediction=prediction)


# -------------------------------------------------------------- comparisons
def _bin_index(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """0 below the first edge, i for [edges[i-1], edges[i]), len(edges) above the last.

    The last edge itself falls in the last bin (closed on the right).
    """
    idx = searchsorted_right(edges, x)
    return np.where(x == edges[-1], edges.size - 1, idx)


#: Cells of the lookup grid per edge (:func:`searchsorted_right`).
_GRID_CELLS_PER_EDGE = 32

#: Values checked first: above this share of misses the grid is not used.
_GRID_PROBE_VALUES, _GRID_MAX_MISS_SHARE = 2048, 0.25


def searchsorted_right(edges: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``np.searchsorted(edges, x, side="right")``, exactly, faster for many values.

    A batch column of a million values placed among a thousand edges costs
    numpy's binary search about 60 ms (a branch it mispredicts at every
    level); it is most of a drift measure's time. Here each value first looks
    up a guess in a uniform grid over the edges (32 cells per edge: one
    multiplication and one gather), and the guess ``g`` is kept only where
    ``edges[g-1] <= x < edges[g]`` holds, which is exactly the condition that
    makes ``g`` numpy's answer; every other value (in a cell an edge splits,
    missing, out of range) is searched by numpy. On edges at the quantiles of
    a bell-shaped feature about 3 values in 100 are searched again. When a
    probe of the first values finds more misses than a quarter (a feature so
    skewed that the grid is coarse where the values are), numpy searches all.

    Args:
        edges: Sorted, unique edges.
        x: The values (NaN allowed: placed after every edge, as numpy does).

    Returns:
        For each value, the number of edges at or below it.
    """
    x = np.asarray(x, dtype=float)
    edges = np.asarray(edges, dtype=float)
    if edges.size < 2 or x.size < 4 * _GRID_PROBE_VALUES:
        return np.searchsorted(edges, x, side="right")
    low, high = float(edges[0]), float(edges[-1])
    cells = _GRID_CELLS_PER_EDGE * edges.size
    scale = cells / (high - low)
    if not (np.isfinite(scale) and scale > 0):
        return np.searchsorted(edges, x, side="right")
    guess_of_cell = np.searchsorted(edges, low + np.arange(cells) / scale, side="right")
    # -inf and +inf around the edges: g = 0 and g = len(edges) check one side only.
    bounds = np.concatenate([[-np.inf], edges, [np.inf]])

    def guesses(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cell = (values - low) * scale
        np.clip(cell, 0.0, cells - 1.0, out=cell)
        cell[np.isnan(cell)] = 0.0
        guess = guess_of_cell[cell.astype(np.intp)]
        return guess, (bounds[guess] <= values) & (values < bounds[guess + 1])

    _, probe_hits = guesses(x[:_GRID_PROBE_VALUES])
    if 1.0 - probe_hits.mean() > _GRID_MAX_MISS_SHARE:
        return np.searchsorted(edges, x, side="right")
    guess, hit = guesses(x)
    missed = np.flatnonzero(~hit)
    if missed.size:
        guess[missed] = np.searchsorted(edges, x[missed], side="right")
    return guess


def compare(method: str, profile: FeatureProfile, current: Any) -> Comparison:
    """Score a batch column against a reference profile with a drift method.

    Args:
        method: ``wasserstein``, ``ks``, ``psi``, ``jensenshannon`` or ``chisquare``.
        profile: The reference feature's profile.
        current: The batch's values (numbers, or categories as text).

    Returns:
        The comparison; see :class:`Comparison` for what is exact.

    Raises:
        ValueError: An unknown method, a method that does not fit the feature, or
            a side without any value.
    """
    return BatchTally.of_column(method, profile, current).comparison()


class BatchTally:
    """A batch column's side of one comparison with a profile, summed chunk by chunk.

    What a drift method needs of the batch adds up over chunks of rows: counts
    per reference bin, value or category, sums per bin, the range. A batch too
    large to hold is read in chunks: :meth:`add` each, then, when
    :attr:`second_pass` is set (a continuous feature under ``wasserstein``,
    ``psi`` or ``jensenshannon``: the spread around the batch's own bin means,
    or Evidently's histogram over the common range, both known only after the
    first pass), :meth:`add_again` each, then :meth:`comparison`. One chunk
    gives exactly :func:`compare`; several give the same counts and sums added
    in another order (a difference in the last bits of a float).

    Attributes:
        rows: Values of the batch counted so far (present, finite).
    """

    def __init__(self, method: str, profile: FeatureProfile) -> None:
        """Start a tally of ``method`` against ``profile``.

        Raises:
            ValueError: An unknown method, or a method that does not fit the feature.
        """
        if method not in ("wasserstein", "ks", "psi", "jensenshannon", "chisquare"):
            raise ValueError(f"unknown drift method {method!r}")
        if method in ("wasserstein", "ks") and not profile.numeric:
            raise ValueError(f"{method} compares numbers, not categories")
        if method == "chisquare" and profile.numeric:
            raise ValueError("chisquare compares categories, not numbers")
        self.method, self.profile = method, profile
        self.rows = 0
        self._value_counts: pd.Series | None = None  # discrete and categorical
        continuous = profile.kind == "continuous"
        edges = np.asarray(profile.values if continuous else (), dtype=float)
        self._edges = edges
        self._counts = np.zeros(edges.size + 1 if edges.size else 0, dtype=np.int64)
        self._sums = np.zeros(self._counts.size)
        self._low, self._high = math.inf, -math.inf
        self._spread = 0.0
        self._histogram: np.ndarray | None = None
        self._passes_seen = 0

    @classmethod
    def of_column(cls, method: str, profile: FeatureProfile, current: Any) -> BatchTally:
        """The tally of a whole batch column: both passes, in one chunk.

        A continuous feature's values are placed in their bins once, for both passes.

        Raises:
            ValueError: An unknown method, or a method that does not fit the feature.
        """
        tally = cls(method, profile)
        if profile.kind != "continuous":
            tally.add(current)
            return tally
        cur = _finite(current)
        idx = tally._first_pass(cur)
        if tally._compares_again():
            tally._second_pass(cur, idx)
        return tally

    def merge(self, other: BatchTally) -> None:
        """Add the first pass of ``other``, a tally of other rows against the same profile.

        Tallies of the partitions of a batch, made side by side (on Dask
        workers), merge into the tally of the whole batch. The second pass then
        runs on each partition from a copy of the merged tally
        (:meth:`for_second_pass`), and :meth:`merge_again` adds those up.

        Raises:
            ValueError: ``other`` compares another method or profile.
        """
        self._check_same(other)
        self.rows += other.rows
        if other._value_counts is not None:
            self._add_value_counts_only(other._value_counts)
        self._counts += other._counts
        self._sums += other._sums
        self._low, self._high = min(self._low, other._low), max(self._high, other._high)

    def for_second_pass(self) -> BatchTally:
        """A copy holding this first pass and an empty second pass, to add a partition again."""
        copy = BatchTally(self.method, self.profile)
        copy.merge(self)
        return copy

    def merge_again(self, other: BatchTally) -> None:
        """Add the second pass of ``other`` (a :meth:`for_second_pass` copy of this tally).

        Raises:
            ValueError: ``other`` compares another method or profile.
        """
        self._check_same(other)
        self._spread += other._spread
        if other._histogram is not None:
            self._histogram = (
                other._histogram.copy()
                if self._histogram is None
                else self._histogram + other._histogram
            )

    def _check_same(self, other: BatchTally) -> None:
        if other.method != self.method or other.profile != self.profile:
            raise ValueError("tallies of different methods or profiles do not add up")

    @property
    def second_pass(self) -> bool:
        """Whether the chunks must be added again (:meth:`add_again`) before comparing."""
        return self.profile.kind == "continuous" and self.method != "ks"

    def add(self, values: Any) -> None:
        """Count one chunk of the batch column (first pass)."""
        if self.profile.kind == "categorical":
            chunk = pd.Series(np.asarray(values, dtype=object).ravel(), dtype=object).dropna()
            self._add_value_counts(chunk.value_counts(dropna=True))
        elif self.profile.kind == "discrete":
            cur = _finite(values)
            self._add_value_counts(pd.Series(cur, dtype=float).value_counts(dropna=True))
        else:
            self._first_pass(_finite(values))

    def add_again(self, values: Any) -> None:
        """Add one chunk again, after every chunk went through :meth:`add` (second pass)."""
        if not self.second_pass:
            raise ValueError(f"{self.method} on a {self.profile.kind} feature needs one pass")
        if self._compares_again():
            self._second_pass(_finite(values), None)

    def _compares_again(self) -> bool:
        # Without a value on either side nothing is compared (comparison() says so).
        return self.second_pass and self.profile.rows > 0 and self.rows > 0

    def _add_value_counts(self, counts: pd.Series) -> None:
        self.rows += int(counts.sum())
        self._add_value_counts_only(counts)

    def _add_value_counts_only(self, counts: pd.Series) -> None:
        if self._value_counts is None:
            self._value_counts = counts.astype(float)
        else:
            self._value_counts = self._value_counts.add(counts.astype(float), fill_value=0.0)

    def _first_pass(self, cur: np.ndarray) -> np.ndarray:
        """Counts and sums per reference bin, and the range, of finite values."""
        if self._edges.size == 0:  # a reference without values: nothing to bin against
            self.rows += cur.size
            return np.zeros(cur.size, dtype=np.intp)
        idx = _bin_index(cur, self._edges)
        self.rows += cur.size
        self._counts += np.bincount(idx, minlength=self._counts.size)
        if self.method == "wasserstein":
            self._sums += np.bincount(idx, weights=cur, minlength=self._counts.size)
        if cur.size:
            self._low = min(self._low, float(cur.min()))
            self._high = max(self._high, float(cur.max()))
        return idx

    def _second_pass(self, cur: np.ndarray, idx: np.ndarray | None) -> None:
        if self.method == "wasserstein":
            if idx is None:
                idx = _bin_index(cur, self._edges)
            self._spread += float(np.abs(cur - self._bin_means()[idx]).sum())
            return
        # PSI and Jensen-Shannon on Evidently's bins: one Sturges histogram over both sides.
        counts = np.histogram(cur, self._histogram_edges())[0]
        self._histogram = counts if self._histogram is None else self._histogram + counts

    def _bin_means(self) -> np.ndarray:
        counts = self._counts.astype(float)
        return np.divide(self._sums, counts, out=np.zeros_like(self._sums), where=counts > 0)

    def _histogram_edges(self) -> np.ndarray:
        low = min(self.profile.minimum, self._low)
        high = max(self.profile.maximum, self._high)
        return _sturges_edges(low, high, self.profile.rows + self.rows)

    def comparison(self) -> Comparison:
        """The comparison of every value added with the profile.

        Raises:
            ValueError: A side without any value.
        """
        if self.profile.rows == 0 or self.rows == 0:
            raise ValueError(f"drift needs at least one value on each side ({self.method})")
        if self.profile.kind == "categorical":
            return _compare_categories(self.method, self.profile, self._value_counts)
        if self.profile.kind == "discrete":
            return _compare_discrete(self.method, self.profile, self._value_counts)
        return self._compare_continuous()

    def _compare_continuous(self) -> Comparison:
        method, profile = self.method, self.profile
        ref_counts = np.asarray(profile.counts, dtype=float)
        n, m = profile.rows, self.rows
        # Bins of the batch: 0 below the reference, 1..k the reference's bins, k+1 above.
        cur_counts = self._counts.astype(float)
        nan = math.nan
        if method == "wasserstein":
            present = cur_counts > 0
            cur_means = self._bin_means()
            ref_spread = float(np.dot(ref_counts, profile.bin_spreads)) / n
            distance = _weighted_w1(
                np.asarray(profile.bin_means, dtype=float),
                ref_counts / n,
                cur_means[present],
                cur_counts[present] / m,
            )
            norm = _norm(profile)
            return Comparison(distance / norm, (ref_spread + self._spread / m) / norm, nan, m)
        if method == "ks":
            # CDFs at every edge: exact there; between edges off by one bin's share.
            ref_cdf = np.concatenate([[0.0], np.cumsum(ref_counts) / n])
            cur_cdf = np.cumsum(cur_counts)[:-1] / m
            d = float(np.max(np.abs(ref_cdf - cur_cdf)))
            error = float(max(ref_counts.max() / n, cur_counts[1:-1].max() / m))
            return Comparison(_ks_p_value(d, n, m), error, d, m)
        if self._histogram is None:
            raise ValueError(f"{method} needs the second pass over the batch (add_again)")
        cur_shares = self._histogram / m
        ref_cdf = _interpolated_cdf(profile, self._histogram_edges())
        ref_cdf[-1] = 1.0  # the last edge is the common maximum, and the last bin is closed
        ref_shares = np.diff(ref_cdf)
        return Comparison(_binned_score(method, ref_shares, cur_shares), nan, nan, m)


def normed_wasserstein(profile: FeatureProfile, current: Any) -> Comparison | None:
    """Normed Wasserstein distance of numbers against a numeric profile (e.g. predictions).

    Returns:
        The comparison, or None when either side has no finite value.
    """
    if profile.rows == 0 or _finite(current).size == 0:
        return None
    return compare("wasserstein", profile, current)


def _norm(profile: FeatureProfile) -> float:
    return max(float(profile.std), MIN_STD)


def _ks_p_value(d: float, n: int, m: int) -> float:
    # scipy's ks_2samp, mode "asymp", two-sided.
    return float(kstwo.sf(d, np.round(n * m / (n + m))))


def _weighted_w1(u: np.ndarray, uw: np.ndarray, v: np.ndarray, vw: np.ndarray) -> float:
    """Wasserstein-1 distance between two weighted point sets (weights sum to 1 each)."""
    points = np.concatenate([u, v])
    order = np.argsort(points, kind="mergesort")
    points = points[order]
    signed = np.concatenate([uw, -vw])[order]
    gap = np.cumsum(signed)[:-1]
    return float(np.sum(np.abs(gap) * np.diff(points)))


def _sturges_edges(low: float, high: float, size: int) -> np.ndarray:
    """numpy's ``histogram_bin_edges(both sides, bins="sturges")`` from the range and size."""
    if high == low:
        low, high = low - 0.5, high + 0.5
    width = (high - low) / (np.log2(size) + 1.0)
    bins = int(np.ceil((high - low) / width)) if width else 1
    return np.linspace(low, high, bins + 1, endpoint=True)


def _interpolated_cdf(profile: FeatureProfile, at: np.ndarray) -> np.ndarray:
    """Share of the reference strictly below each point (1 above the maximum).

    A bin whose values are all equal (no spread: a repeated value, e.g. an
    integer) is a point mass at its lower edge; in any other bin the values are
    taken as spread evenly, so each point is off by at most that bin's share.
    """
    edges = np.asarray(profile.values, dtype=float)
    counts = np.asarray(profile.counts, dtype=float) / profile.rows
    below = np.concatenate([[0.0], np.cumsum(counts)])  # share below each edge
    i = np.clip(np.searchsorted(edges, at, side="right") - 1, 0, counts.size - 1)
    width = edges[i + 1] - edges[i]
    inside = np.clip((at - edges[i]) / np.where(width > 0, width, 1.0), 0.0, 1.0)
    point_mass = np.asarray(profile.bin_spreads, dtype=float)[i] == 0
    inside = np.where(point_mass, (at > edges[i]).astype(float), inside)
    out = below[i] + counts[i] * inside
    out[at < edges[0]] = 0.0
    out[at > edges[-1]] = 1.0
    return out


def _binned_score(method: str, ref_shares: np.ndarray, cur_shares: np.ndarray) -> float:
    if method == "psi":
        ref, cur = fill_zero_shares(ref_shares), fill_zero_shares(cur_shares)
        return float(np.sum((ref - cur) * np.log(ref / cur)))
    return float(jensenshannon(ref_shares, cur_shares))


def _value_counts(
    ref_values: np.ndarray, ref_counts: np.ndarray, cur_counts: pd.Series
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference and batch counts over every value seen on either side (reference first)."""
    ref = pd.Series(ref_counts, index=pd.Index(ref_values, dtype=object), dtype=float)
    both = pd.concat([ref, cur_counts.astype(float)], axis=1).fillna(0.0)
    return both.iloc[:, 0].to_numpy(), both.iloc[:, 1].to_numpy(), both.index.to_numpy()


def _compare_discrete(method: str, profile: FeatureProfile, counts: pd.Series) -> Comparison:
    """A discrete profile against the batch's count of each finite value."""
    n, m = profile.rows, int(counts.sum())
    ref_counts, cur_counts, support = _value_counts(profile.values, profile.counts, counts)
    order = np.argsort(support.astype(float))
    ref_counts, cur_counts = ref_counts[order], cur_counts[order]
    support = support.astype(float)[order]
    nan = math.nan
    if method == "wasserstein":
        distance = _weighted_w1(support, ref_counts / n, support, cur_counts / m)
        return Comparison(distance / _norm(profile), 0.0, nan, m)
    if method == "ks":
        d = float(np.max(np.abs(np.cumsum(ref_counts) / n - np.cumsum(cur_counts) / m)))
        return Comparison(_ks_p_value(d, n, m), 0.0, d, m)
    # Few distinct reference values: Evidently bins by value.
    return Comparison(_binned_score(method, ref_counts / n, cur_counts / m), 0.0, nan, m)


def _compare_categories(method: str, profile: FeatureProfile, counts: pd.Series) -> Comparison:
    """A categorical profile against the batch's count of each present category."""
    n, m = profile.rows, int(counts.sum())
    ref_counts, cur_counts, _ = _value_counts(profile.values, profile.counts, counts)
    effect = float(0.5 * np.abs(ref_counts / n - cur_counts / m).sum())
    if method == "chisquare":
        with np.errstate(divide="ignore", invalid="ignore"):
            p = float(chisquare(cur_counts, ref_counts * (m / n))[1])
        return Comparison(p, 0.0, effect, m)
    return Comparison(_binned_score(method, ref_counts / n, cur_counts / m), 0.0, effect, m)


# ------------------------------------------------------- the features of a use case
FeatureKind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class DriftFeature:
    """A model feature as drift sees it: its kind and the policy's method and threshold."""

    name: str
    kind: FeatureKind
    boolean: bool
    method: str
    threshold: float  # effect-size threshold; for tests the minimum effect size

    @property
    def is_test(self) -> bool:
        """The method gives a p-value (``ks``, ``chisquare``)."""
        return self.method in ("ks", "chisquare")


def drift_features(usecase: UseCase) -> list[DriftFeature]:
    """The use case's model features with the drift method and threshold of their type.

    Numeric and integer contract columns are numerical; categorical and boolean
    columns are categorical.
    """
    policy = usecase.drift
    features = []
    for name in usecase.contract.feature_names:
        column = usecase.contract.column(name)
        assert column is not None
        if column.type in ("numeric", "integer"):
            features.append(
                DriftFeature(
                    name, "numeric", False, policy.numeric_method, policy.numeric_threshold
                )
            )
        else:
            features.append(
                DriftFeature(
                    name,
                    "categorical",
                    column.type == "boolean",
                    policy.categorical_method,
                    policy.categorical_threshold,
                )
            )
    return features


def drift_frame(
    frame: pd.DataFrame,
    features: list[DriftFeature],
    role: str,
    sample_rows: int | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """The features only, each typed as drift compares it, optionally sampled (seeded).

    Numbers become floats (text that is not a number becomes NaN); booleans
    become ``"true"``/``"false"``; category codes become text, so an int-coded
    reference and a text batch agree.

    Raises:
        ValueError: A feature is missing from ``frame``.
    """
    names = [f.name for f in features]
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise ValueError(f"{role} data lacks feature columns: {', '.join(missing)}")
    if sample_rows is not None and len(frame) > sample_rows:
        frame = frame.sample(n=sample_rows, random_state=seed)
    typed = {f.name: drift_column(frame[f.name], f) for f in features}
    return pd.DataFrame(typed).reset_index(drop=True)


def drift_column(
    series: pd.Series, feature: DriftFeature, *, integral: bool | None = None
) -> pd.Series:
    """One column typed as drift compares it (see :func:`drift_frame`); floats are not copied.

    Args:
        series: The column, or a chunk of its rows.
        feature: The feature it holds.
        integral: For a chunk of a float category column, whether every value of
            the whole column is integral (:func:`category_text`); None: this chunk decides.
    """
    if feature.kind == "numeric":
        if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            return pd.to_numeric(series, errors="coerce").astype(float)
        return series
    if feature.boolean:
        # 1 == True in a dict lookup: bool, 0/1 and 0.0/1.0 codes all map.
        return series.map({True: "true", False: "false"})
    return category_text(series, integral=integral)


def all_integral(series: pd.Series) -> bool:
    """Whether every present value of a float column is integral (ints with missing values)."""
    finite = series.dropna()
    return bool((finite == np.floor(finite)).all())


def category_text(series: pd.Series, *, integral: bool | None = None) -> pd.Series:
    """Categories as text; integral floats (ints with missing values) as '3', not '3.0'.

    Args:
        series: The categories.
        integral: For floats, whether the whole column is integral (a chunk of
            rows is typed as its column is); None: decided on ``series``.
    """
    if pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series):
        return series
    if pd.api.types.is_float_dtype(series):
        if all_integral(series) if integral is None else integral:
            series = series.astype("Int64")
    return series.astype(str).where(series.notna(), None)


def profile_reference(
    frame: pd.DataFrame, usecase: UseCase, *, predictions: Any | None = None
) -> ReferenceProfile:
    """Profile a model's reference rows (every model feature) for drift.

    Args:
        frame: The reference rows (e.g. the training window), with every feature.
        usecase: Supplies the features and their kinds.
        predictions: The model's predictions on (a sample of) the reference, when numbers.

    Returns:
        The profile, to store with the model.
    """
    features = drift_features(usecase)
    typed = drift_frame(frame, features, "reference")
    return profile_frame(
        typed, {f.name: f.kind == "numeric" for f in features}, predictions=predictions
    )
