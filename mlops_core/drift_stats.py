"""Drift statistics: effect sizes, false discovery rate control, a domain classifier.

Pure functions of arrays and frames (numpy, scipy, pandas, scikit-learn), used by
the Evidently adapter to turn per-feature scores into verdicts that do not
depend on the batch size alone:

- a p-value shrinks with the number of rows, so with a million rows every tiny
  shift is "significant". A feature tested with a p-value method (``ks``,
  ``chisquare``) is therefore drifted only when Benjamini-Hochberg rejects it
  across the features AND its effect size reaches a minimum
  (:func:`combined_verdicts`): the Kolmogorov-Smirnov D statistic for numbers
  (:func:`ks_effect`), the total variation distance for categories
  (:func:`category_effect`);
- effect-size methods (normed Wasserstein, Jensen-Shannon, PSI) are judged by
  ``score >= threshold`` as Evidently does;
- per-feature checks miss shifts in how features move together, so
  :func:`domain_classifier_auc` measures multivariate drift: how well a
  classifier tells reference rows from current rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.stats import wasserstein_distance

# Evidently norms the Wasserstein distance by the reference std, floored here.
_MIN_STD = 0.001
# Fewest rows per side for a domain classifier AUC that means something.
MIN_DOMAIN_ROWS = 20
# HistGradientBoosting handles at most 255 bins, one kept for missing values;
# categorical columns with more distinct values are passed as ordinal codes.
_MAX_CATEGORIES = 250


# ------------------------------------------------------------ multiple testing
def benjamini_hochberg(p_values: ArrayLike, alpha: float) -> np.ndarray:
    """Benjamini-Hochberg step-up procedure controlling the false discovery rate.

    With the m finite p-values sorted ascending, find the largest rank k with
    ``p_(k) <= k * alpha / m`` and reject every hypothesis with ``p <= p_(k)``.
    NaN p-values are never rejected and do not count towards m.

    Args:
        p_values: One p-value per hypothesis.
        alpha: The false discovery rate to control, in (0, 1).

    Returns:
        Boolean array, True where the hypothesis is rejected (drift detected),
        in the order of ``p_values``.
    """
    p = np.asarray(p_values, dtype=float)
    reject = np.zeros(p.shape, dtype=bool)
    finite = np.isfinite(p)
    m = int(finite.sum())
    if m == 0:
        return reject
    ranked = np.sort(p[finite])
    below = ranked <= alpha * np.arange(1, m + 1) / m
    if not below.any():
        return reject
    cutoff = ranked[int(np.flatnonzero(below)[-1])]
    reject[finite] = p[finite] <= cutoff
    return reject


def combined_verdicts(
    p_values: ArrayLike, effect_sizes: ArrayLike, *, alpha: float, min_effect: ArrayLike
) -> np.ndarray:
    """Drift verdicts for features judged by a test: significant AND large enough.

    Significance alone grows with the rows compared (a 0.05-std shift is
    "certain" at a million rows), and an effect size alone says nothing about
    noise on a small batch; a feature is drifted only when both hold.

    Args:
        p_values: One raw p-value per tested feature.
        effect_sizes: The effect size of each feature (KS D, total variation distance).
        alpha: Benjamini-Hochberg false discovery rate across the tested features.
        min_effect: Smallest effect size that counts as drift; a scalar or one per feature.

    Returns:
        Boolean array in the order of ``p_values``. NaN p-values or effect sizes
        are never drifted.
    """
    effects = np.asarray(effect_sizes, dtype=float)
    large = np.zeros(effects.shape, dtype=bool)
    finite = np.isfinite(effects)
    large[finite] = (
        effects[finite] >= np.broadcast_to(np.asarray(min_effect, float), effects.shape)[finite]
    )
    return benjamini_hochberg(p_values, alpha) & large


# ---------------------------------------------------------------- effect sizes
def _finite(values: ArrayLike) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    return array[np.isfinite(array)]


def _present(values: ArrayLike) -> pd.Series:
    """Category values without the missing ones (None, NaN), as an object series."""
    return pd.Series(np.asarray(values, dtype=object).ravel(), dtype=object).dropna()


# ------------------------------------------------- per-feature drift statistics
#: Per-feature methods: effect sizes (drifted when the score reaches the
#: threshold) and tests (the score is a p-value).
EFFECT_SIZE_METHODS = frozenset({"wasserstein", "psi", "jensenshannon"})
TEST_METHODS = frozenset({"ks", "chisquare"})
# A numeric feature with at most this many distinct reference values is binned
# by value, not by histogram (Evidently's rule for PSI and Jensen-Shannon).
_MAX_DISCRETE_VALUES = 20


def binned_shares(
    reference: ArrayLike, current: ArrayLike, *, numeric: bool, fill_zeroes: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Shares of each side's rows per bin, binned as Evidently's PSI and Jensen-Shannon do.

    A numeric feature with more than 20 distinct reference values is cut by a
    histogram over both sides together (numpy's Sturges rule); otherwise every
    value seen on either side is its own bin. With ``fill_zeroes`` an empty bin
    gets a tiny share (a millionth of the side's smallest share when that is at
    most 0.0001, else 0.0001), so PSI's logarithm stays finite.

    Args:
        reference: Reference values; missing and non-finite values must be dropped already.
        current: Current values, likewise.
        numeric: The feature is numeric.
        fill_zeroes: Replace empty bins by a tiny share.

    Returns:
        The reference and current shares, bin by bin.
    """
    if numeric:
        ref_values, cur_values = _finite(reference), _finite(current)
    else:
        ref_values, cur_values = _present(reference).to_numpy(), _present(current).to_numpy()
    if numeric and np.unique(ref_values).size > _MAX_DISCRETE_VALUES:
        bins = np.histogram_bin_edges(np.concatenate([ref_values, cur_values]), bins="sturges")
        ref_shares = np.histogram(ref_values, bins)[0] / ref_values.size
        cur_shares = np.histogram(cur_values, bins)[0] / cur_values.size
    else:
        ref_counts = pd.Series(ref_values, dtype=object).value_counts()
        cur_counts = pd.Series(cur_values, dtype=object).value_counts()
        counts = pd.concat([ref_counts, cur_counts], axis=1).fillna(0.0)
        ref_shares = counts.iloc[:, 0].to_numpy(dtype=float) / ref_values.size
        cur_shares = counts.iloc[:, 1].to_numpy(dtype=float) / cur_values.size
    if fill_zeroes:
        ref_shares, cur_shares = fill_zero_shares(ref_shares), fill_zero_shares(cur_shares)
    return ref_shares, cur_shares


def fill_zero_shares(shares: np.ndarray) -> np.ndarray:
    """Evidently's zero filling: an empty bin gets a tiny share, so PSI's logarithm stays finite."""
    nonzero = shares[shares != 0]
    if nonzero.size == 0:
        return shares
    smallest = float(nonzero.min())
    return np.where(shares == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001, shares)


def population_stability_index(reference: ArrayLike, current: ArrayLike, *, numeric: bool) -> float:
    """PSI over :func:`binned_shares`: sum of (ref - cur) * ln(ref / cur), as Evidently's 'psi'."""
    ref, cur = binned_shares(reference, current, numeric=numeric)
    return float(np.sum((ref - cur) * np.log(ref / cur)))


def jensen_shannon_distance(reference: ArrayLike, current: ArrayLike, *, numeric: bool) -> float:
    """Jensen-Shannon distance (natural log) over :func:`binned_shares`, as Evidently's."""
    from scipy.spatial.distance import jensenshannon

    ref, cur = binned_shares(reference, current, numeric=numeric, fill_zeroes=False)
    return float(jensenshannon(ref, cur))


def ks_p_value(reference: ArrayLike, current: ArrayLike) -> float:
    """Two-sided two-sample Kolmogorov-Smirnov p-value (scipy's ``ks_2samp``), as
    Evidently's 'ks'."""
    from scipy.stats import ks_2samp

    return float(ks_2samp(_finite(reference), _finite(current))[1])


def chi_square_p_value(reference: ArrayLike, current: ArrayLike) -> float:
    """Pearson chi-square p-value of the current category counts against the
    reference shares scaled to the current rows, as Evidently's 'chisquare'."""
    from scipy.stats import chisquare

    ref, cur = _present(reference), _present(current)
    counts = pd.concat([ref.value_counts(), cur.value_counts()], axis=1).fillna(0.0)
    expected = counts.iloc[:, 0].to_numpy(dtype=float) * (len(cur) / len(ref))
    observed = counts.iloc[:, 1].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(chisquare(observed, expected)[1])


def drift_statistic(
    method: str, reference: ArrayLike, current: ArrayLike, *, numeric: bool
) -> float:
    """One feature's drift score under ``method``, the value Evidently's ``ValueDrift`` reports.

    Effect sizes (``wasserstein`` normed by the reference std, ``psi``,
    ``jensenshannon``) return the distance; tests (``ks``, ``chisquare``)
    return the p-value. Missing and non-finite values are dropped first, as
    Evidently does. The numbers equal Evidently 0.7's to floating-point
    precision (tests check it); computing them here keeps the decision path
    free of Evidently's rendering, which costs about a second per batch.

    Args:
        method: ``wasserstein``, ``ks``, ``psi``, ``jensenshannon`` or ``chisquare``.
        reference: Reference values (numbers, or category labels).
        current: Current values.
        numeric: The feature is numeric (``wasserstein`` and ``ks`` need it,
            ``chisquare`` needs categories).

    Returns:
        The score.

    Raises:
        ValueError: An unknown method, a method that does not fit the feature's
            kind, or a side without any value.
    """
    if numeric:
        ref, cur = _finite(reference), _finite(current)
        empty = ref.size == 0 or cur.size == 0
    else:
        ref_c, cur_c = _present(reference), _present(current)
        empty = ref_c.empty or cur_c.empty
    if empty:
        raise ValueError(f"drift needs at least one value on each side ({method})")
    if method in ("wasserstein", "ks") and not numeric:
        raise ValueError(f"{method} compares numbers, not categories")
    if method == "chisquare" and numeric:
        raise ValueError("chisquare compares categories, not numbers")
    if method == "wasserstein":
        return float(wasserstein_distance(ref, cur) / max(float(np.std(ref)), _MIN_STD))
    if method == "ks":
        return ks_p_value(ref, cur)
    if method == "chisquare":
        return chi_square_p_value(ref_c, cur_c)
    sides = (ref, cur) if numeric else (ref_c, cur_c)
    if method == "psi":
        return population_stability_index(*sides, numeric=numeric)
    if method == "jensenshannon":
        return jensen_shannon_distance(*sides, numeric=numeric)
    raise ValueError(f"unknown drift method {method!r}")


def normed_wasserstein(reference: ArrayLike, current: ArrayLike) -> float | None:
    """Wasserstein distance divided by the reference std, as Evidently's 'wasserstein'.

    Non-finite values are dropped; the std is floored at 0.001 as Evidently does.

    Returns:
        The normed distance, or None when either side has no finite value.
    """
    ref, cur = _finite(reference), _finite(current)
    if ref.size == 0 or cur.size == 0:
        return None
    return float(wasserstein_distance(ref, cur) / max(float(np.std(ref)), _MIN_STD))


def ks_effect(reference: ArrayLike, current: ArrayLike) -> float:
    """Two-sample Kolmogorov-Smirnov D: the largest gap between the two empirical CDFs.

    D is in [0, 1] and does not grow with the number of rows; for normal data a
    mean shift of d standard deviations gives D of about 0.4 d for small d.
    Non-finite values are dropped.

    Raises:
        ValueError: Either side has no finite value.
    """
    ref, cur = np.sort(_finite(reference)), np.sort(_finite(current))
    if ref.size == 0 or cur.size == 0:
        raise ValueError("ks_effect needs at least one finite value on each side")
    points = np.concatenate([ref, cur])
    cdf_ref = np.searchsorted(ref, points, side="right") / ref.size
    cdf_cur = np.searchsorted(cur, points, side="right") / cur.size
    return float(np.max(np.abs(cdf_ref - cdf_cur)))


def category_effect(reference: ArrayLike, current: ArrayLike) -> float:
    """Total variation distance between the category frequencies of two samples.

    Half the sum of absolute differences of the category shares over every
    category seen on either side: the share of rows that would have to change
    category to turn one distribution into the other. In [0, 1], independent of
    the number of rows and of the number of categories, and directly comparable
    to the 0.1 threshold of the effect-size methods. (Cramér's V was the other
    candidate; its small-sample bias depends on the number of categories.)
    Missing values (None, NaN) are dropped, as Evidently's chi-square test does.

    Raises:
        ValueError: Either side has no non-missing value.
    """
    ref = pd.Series(np.asarray(reference, dtype=object).ravel()).dropna()
    cur = pd.Series(np.asarray(current, dtype=object).ravel()).dropna()
    if ref.empty or cur.empty:
        raise ValueError("category_effect needs at least one non-missing value on each side")
    shares = pd.concat(
        [ref.value_counts(normalize=True), cur.value_counts(normalize=True)], axis=1
    ).fillna(0.0)
    return float(0.5 * np.abs(shares.iloc[:, 0] - shares.iloc[:, 1]).sum())


def normalised_importance(
    importance: Mapping[str, float], features: Sequence[str]
) -> dict[str, float]:
    """Importance per feature, summing to 1 over ``features``.

    Missing, NaN and negative importances count as 0 (a negative permutation
    importance means the feature does not help). When every feature has zero
    importance (e.g. none was measured) the features get equal weights, so
    drift is still weighed rather than silently ignored.
    """
    raw = np.array([float(importance.get(f, 0.0)) for f in features], dtype=float)
    raw = np.where(np.isfinite(raw) & (raw > 0), raw, 0.0)
    total = raw.sum()
    if total <= 0:
        return {f: 1.0 / len(features) for f in features} if features else {}
    return {f: float(v / total) for f, v in zip(features, raw, strict=True)}


# ------------------------------------------------------------ multivariate drift
def _encode(reference: pd.DataFrame, current: pd.DataFrame) -> tuple[np.ndarray, list[bool]]:
    """Stack both frames as one float matrix; categories become shared ordinal codes."""
    columns, categorical = [], []
    for name in reference.columns:
        both = pd.concat([reference[name], current[name]], ignore_index=True)
        if pd.api.types.is_bool_dtype(both):
            columns.append(both.astype(float).to_numpy())
            categorical.append(False)
        elif pd.api.types.is_numeric_dtype(both):
            values = both.to_numpy(dtype=float, na_value=np.nan)
            columns.append(np.where(np.isfinite(values), values, np.nan))
            categorical.append(False)
        else:
            # Codes ordered by frequency, so the ordinal fallback for very many
            # categories still groups the common ones; ties are broken by the
            # value, never by where it first appears (that would tell the sides
            # apart); missing stays missing.
            codes, uniques = pd.factorize(both.astype(object), sort=False)
            if len(uniques) == 0:  # no value on either side
                columns.append(np.full(len(both), np.nan))
                categorical.append(False)
                continue
            counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
            order = np.lexsort((np.asarray(uniques, dtype=str), -counts))
            rank = np.empty(len(uniques), dtype=float)
            rank[order] = np.arange(len(uniques))
            columns.append(np.where(codes >= 0, rank[np.maximum(codes, 0)], np.nan))
            categorical.append(len(uniques) <= _MAX_CATEGORIES)
    return np.column_stack(columns), categorical


def domain_sample_positions(
    reference_rows: int, current_rows: int, seed: int, max_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """The rows :func:`domain_classifier_auc` samples from each side, as sorted positions.

    Both sides get the same number of rows, at most ``max_rows``, drawn without
    replacement by one seeded generator (reference first). A reader that holds
    the batch one group of columns at a time takes these current rows from each
    group, and gives the classifier the rows it would have drawn from the whole
    batch: it then draws every one of them again.

    Args:
        reference_rows: Rows of the reference side.
        current_rows: Rows of the current side.
        seed: Seed of the draw.
        max_rows: Most rows from each side.

    Returns:
        (reference positions, current positions), each sorted.

    Raises:
        ValueError: Fewer than ``MIN_DOMAIN_ROWS`` rows on a side.
    """
    rows = min(reference_rows, current_rows, max_rows)
    if rows < MIN_DOMAIN_ROWS:
        raise ValueError(
            f"domain_classifier_auc needs at least {MIN_DOMAIN_ROWS} rows on each side, "
            f"got {reference_rows} reference and {current_rows} current"
        )
    rng = np.random.default_rng(seed)
    reference_at = np.sort(rng.choice(reference_rows, rows, False))
    current_at = np.sort(rng.choice(current_rows, rows, False))
    return reference_at, current_at


def domain_classifier_auc(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    seed: int,
    folds: int = 3,
    max_rows: int = 5000,
) -> float:
    """Multivariate drift: cross-validated ROC AUC of telling current rows from reference rows.

    Reference rows are labeled 0 and current rows 1; each side is sampled
    (seeded) to the same number of rows, at most ``max_rows``, so the classes
    are balanced. A small histogram gradient-boosting classifier (categories
    ordinal-encoded and split as categories) is scored on stratified k-fold
    held-out predictions; the AUC is the mean over the folds. About 0.5 means
    the two samples cannot be told apart; near 1 means they are separable.
    Unlike per-feature checks this also sees changes in how features move
    together (e.g. a correlation that appears while every marginal stays put).

    Args:
        reference: Reference rows; must hold the columns of ``current``.
        current: Current rows.
        seed: Seed of the sampling, the fold split and the classifier.
        folds: Number of cross-validation folds (at least 2).
        max_rows: Most rows used from each side.

    Returns:
        The cross-validated ROC AUC, in [0, 1].

    Raises:
        ValueError: No columns, differing columns, fewer than ``MIN_DOMAIN_ROWS``
            rows on a side, or fewer than 2 folds.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    # sklearn is imported here: it takes over a second, and the CLI imports the
    # drift adapter (and so this module) for every command.
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    if len(current.columns) == 0:
        raise ValueError("domain_classifier_auc needs at least one column")
    missing = [c for c in current.columns if c not in reference.columns]
    if missing:
        raise ValueError(f"reference lacks columns: {', '.join(map(str, missing))}")
    ref_at, cur_at = domain_sample_positions(len(reference), len(current), seed, max_rows)
    ref = reference[list(current.columns)].iloc[ref_at]
    cur = current.iloc[cur_at]
    rows = len(ref_at)
    features, categorical = _encode(ref, cur)
    labels = np.repeat([0, 1], rows)

    aucs = []
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splits.split(features, labels):
        # A column without any value in the training rows carries nothing to
        # learn, and the histogram binning fails on it: leave it out.
        usable = ~np.isnan(features[train]).all(axis=0)
        if not usable.any():
            aucs.append(0.5)  # nothing to tell the samples apart by
            continue
        is_category = np.asarray(categorical, dtype=bool)[usable]
        model = HistGradientBoostingClassifier(
            max_iter=50,
            learning_rate=0.1,
            max_leaf_nodes=15,
            categorical_features=is_category if is_category.any() else None,
            early_stopping=False,
            random_state=seed,
        )
        model.fit(features[train][:, usable], labels[train])
        held_out = model.predict_proba(features[test][:, usable])[:, 1]
        aucs.append(roc_auc_score(labels[test], held_out))
    return float(np.mean(aucs))
