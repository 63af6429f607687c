"""Data drift through Evidently 0.7, mapped to a typed DriftSummary.

This is the only module that talks to Evidently. ``compute_drift`` runs one
``ValueDrift`` metric per model feature with the method and threshold the use
case sets for the feature's type, and ``_features_from_snapshot`` is the single
place that reads Evidently's snapshot. Verdicts follow Evidently's conventions
(checked in ``evidently.legacy.calculations.stattests``):

- effect sizes (``wasserstein`` normed by the reference std, ``jensenshannon``,
  ``psi``): drifted when ``score >= threshold``;
- tests (``ks``, ``chisquare``): the score is a p-value. Evidently flags each
  feature on its own (``p <= threshold``); here the family of p-values is instead
  corrected with Benjamini-Hochberg at ``drift.fdr_alpha`` so a batch with many
  features does not flag some by chance. ``threshold`` then records the BH
  cutoff, so ``drifted == (p_value <= threshold)`` still holds.

Numeric and integer contract columns are numerical for Evidently; categorical and
boolean columns are categorical (booleans compared as ``"true"``/``"false"``,
category codes as text so an int-coded reference and a text batch agree).
Evidently is imported inside the functions that use it: it takes seconds to
import, and the CLI imports this module for every command.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.stats import wasserstein_distance

from mlops_core.config import ColumnContract, DriftPolicy, UseCase
from mlops_core.decisions import DriftSummary, FeatureDrift

FeatureKind = Literal["numeric", "categorical"]

P_VALUE_METHODS = frozenset({"ks", "chisquare"})
# Evidently norms the Wasserstein distance by the reference std, floored here.
_MIN_STD = 0.001
_ALL_MISSING = "all_missing"


@dataclass(frozen=True)
class _FeatureSpec:
    name: str
    kind: FeatureKind
    boolean: bool
    method: str
    threshold: float


# ------------------------------------------------------------------ statistics
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


def normed_wasserstein(reference: ArrayLike, current: ArrayLike) -> float | None:
    """Wasserstein distance divided by the reference std, as Evidently's 'wasserstein'.

    Non-finite values are dropped; returns None when either side is empty.
    """
    ref = np.asarray(reference, dtype=float).ravel()
    cur = np.asarray(current, dtype=float).ravel()
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if ref.size == 0 or cur.size == 0:
        return None
    return float(wasserstein_distance(ref, cur) / max(float(np.std(ref)), _MIN_STD))


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


# ---------------------------------------------------------------------- drift
def compute_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    usecase: UseCase,
    importance: Mapping[str, float],
    *,
    reference_predictions: np.ndarray | None = None,
    current_predictions: np.ndarray | None = None,
    sample_rows: int | None = None,
    seed: int = 0,
) -> DriftSummary:
    """Per-feature data drift, importance-weighted drift and prediction drift.

    Args:
        reference: The champion's reference data (its training window or a sample).
        current: The batch, already validated; must hold every model feature.
        usecase: Supplies the features (``contract.feature_names``) and the drift policy.
        importance: The champion's permutation importance per feature; normalised
            over the features (see :func:`normalised_importance`).
        reference_predictions: The champion's predictions on its reference.
        current_predictions: The champion's predictions on the batch.
        sample_rows: When set, a frame with more rows is sampled (seeded) to this
            many rows first; Evidently costs about 1.5 s per 10k rows. Row counts
            in the summary are the rows compared.
        seed: Seed of the sampling.

    Returns:
        The drift summary; ``prediction_drift`` is the normed Wasserstein distance
        of the predictions when both arrays are given, else None.

    Raises:
        ValueError: A feature is missing from ``reference`` or ``current``.
    """
    specs = _feature_specs(usecase)
    ref = _prepare(reference, specs, "reference", sample_rows, seed)
    cur = _prepare(current, specs, "current", sample_rows, seed)

    missing_side = [s for s in specs if _all_missing(ref[s.name]) or _all_missing(cur[s.name])]
    evaluated = [s for s in specs if s not in missing_side]
    features: dict[str, FeatureDrift] = {}
    if evaluated:
        snapshot = _value_drift_report(evaluated).run(
            current_data=_dataset(cur, evaluated), reference_data=_dataset(ref, evaluated)
        )
        features.update((f.feature, f) for f in _features_from_snapshot(snapshot.dict(), evaluated))
    for spec in missing_side:
        features[spec.name] = _all_missing_drift(spec, ref[spec.name], cur[spec.name])

    ordered = _apply_fdr([features[s.name] for s in specs], usecase.drift.fdr_alpha)
    weights = normalised_importance(importance, [s.name for s in specs])
    ordered = [f.model_copy(update={"importance": weights[f.feature]}) for f in ordered]

    prediction_drift = None
    if reference_predictions is not None and current_predictions is not None:
        prediction_drift = normed_wasserstein(reference_predictions, current_predictions)

    drifted = [f for f in ordered if f.drifted]
    return DriftSummary(
        features=tuple(ordered),
        drift_share=len(drifted) / len(ordered),
        importance_weighted_share=float(min(1.0, sum(f.importance for f in drifted))),
        prediction_drift=prediction_drift,
        reference_rows=len(ref),
        current_rows=len(cur),
    )


def render_drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    usecase: UseCase,
    path: str | Path,
    *,
    sample_rows: int,
    seed: int = 0,
) -> Path:
    """Save Evidently's HTML data drift report, computed on a bounded sample.

    The report uses the same methods and thresholds per feature type as
    :func:`compute_drift`, but shows Evidently's own per-feature verdicts (no
    false-discovery-rate correction); the DriftSummary is the decision record.

    Args:
        reference: The champion's reference data.
        current: The batch.
        usecase: Supplies the features and the drift policy.
        path: Where to write the HTML file; parent folders are created.
        sample_rows: Each frame is sampled to at most this many rows (seeded).
        seed: Seed of the sampling.

    Returns:
        The path written.
    """
    from evidently import Report
    from evidently.presets import DataDriftPreset

    specs = _feature_specs(usecase)
    ref = _prepare(reference, specs, "reference", sample_rows, seed)
    cur = _prepare(current, specs, "current", sample_rows, seed)
    # Evidently raises on a feature without any value; such a feature is in the
    # DriftSummary as 'all_missing' and left out of the charts.
    shown = [s for s in specs if not (_all_missing(ref[s.name]) or _all_missing(cur[s.name]))]
    policy = usecase.drift
    preset = DataDriftPreset(
        columns=[s.name for s in shown],
        num_method=policy.numeric_method,
        num_threshold=policy.numeric_threshold,
        cat_method=policy.categorical_method,
        cat_threshold=policy.categorical_threshold,
    )
    snapshot = Report([preset]).run(
        current_data=_dataset(cur, shown), reference_data=_dataset(ref, shown)
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(out))  # save_html silently ignores non-str paths
    return out


# -------------------------------------------------------------------- helpers
def _feature_specs(usecase: UseCase) -> list[_FeatureSpec]:
    policy: DriftPolicy = usecase.drift
    specs = []
    for name in usecase.contract.feature_names:
        column: ColumnContract = usecase.contract.column(name)  # type: ignore[assignment]
        if column.type in ("numeric", "integer"):
            specs.append(_FeatureSpec(
                name, "numeric", False, policy.numeric_method, policy.numeric_threshold
            ))
        else:
            specs.append(_FeatureSpec(
                name, "categorical", column.type == "boolean",
                policy.categorical_method, policy.categorical_threshold,
            ))
    return specs


def _prepare(
    frame: pd.DataFrame,
    specs: Sequence[_FeatureSpec],
    role: str,
    sample_rows: int | None,
    seed: int,
) -> pd.DataFrame:
    """Sample, keep the features only and give each the type Evidently compares."""
    names = [s.name for s in specs]
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise ValueError(f"{role} data lacks feature columns: {', '.join(missing)}")
    if sample_rows is not None and len(frame) > sample_rows:
        frame = frame.sample(n=sample_rows, random_state=seed)
    columns: dict[str, pd.Series] = {}
    for spec in specs:
        series = frame[spec.name]
        if spec.kind == "numeric":
            if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
                series = pd.to_numeric(series, errors="coerce").astype(float)
        elif spec.boolean:
            # 1 == True in a dict lookup: bool, 0/1 and 0.0/1.0 codes all map.
            series = series.map({True: "true", False: "false"})
        else:
            series = _category_text(series)
        columns[spec.name] = series
    return pd.DataFrame(columns).reset_index(drop=True)


def _category_text(series: pd.Series) -> pd.Series:
    """Categories as text; integral floats (ints with missing values) as '3', not '3.0'."""
    if pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series):
        return series
    if pd.api.types.is_float_dtype(series):
        finite = series.dropna()
        if (finite == np.floor(finite)).all():
            series = series.astype("Int64")
    return series.astype(str).where(series.notna(), None)


def _all_missing(series: pd.Series) -> bool:
    if pd.api.types.is_numeric_dtype(series):
        return not np.isfinite(series.to_numpy(dtype=float, na_value=np.nan)).any()
    return not series.notna().any()


def _all_missing_drift(spec: _FeatureSpec, ref: pd.Series, cur: pd.Series) -> FeatureDrift:
    # Evidently cannot compare a feature without values; losing every value on
    # one side is the largest possible change, on both sides none.
    changed = _all_missing(ref) != _all_missing(cur)
    return FeatureDrift(
        feature=spec.name,
        kind=spec.kind,
        method=_ALL_MISSING,
        score=1.0 if changed else 0.0,
        threshold=spec.threshold,
        p_value=None,
        drifted=changed,
    )


def _value_drift_report(specs: Sequence[_FeatureSpec]) -> Any:
    from evidently import Report
    from evidently.metrics import ValueDrift

    # One ValueDrift per feature: its method and threshold are explicit, and it
    # is cheaper than DataDriftPreset, which computes every column's drift again
    # for its summary widgets.
    return Report([ValueDrift(column=s.name, method=s.method, threshold=s.threshold)
                   for s in specs])


def _dataset(frame: pd.DataFrame, specs: Sequence[_FeatureSpec]) -> Any:
    from evidently import DataDefinition, Dataset

    definition = DataDefinition(
        numerical_columns=[s.name for s in specs if s.kind == "numeric"],
        categorical_columns=[s.name for s in specs if s.kind == "categorical"],
    )
    return Dataset.from_pandas(frame[[s.name for s in specs]], data_definition=definition)


def _features_from_snapshot(
    snapshot: Mapping[str, Any], specs: Sequence[_FeatureSpec]
) -> list[FeatureDrift]:
    """Map an Evidently snapshot dict into FeatureDrift values (the only Evidently reader).

    Each ``ValueDrift`` metric holds ``config.column``, ``config.method``,
    ``config.threshold`` and ``value`` (the drift score: a p-value for tests,
    a distance otherwise). Verdicts here are Evidently's per-feature ones;
    ``_apply_fdr`` replaces them for p-value methods.
    """
    by_column: dict[str, Mapping[str, Any]] = {}
    for metric in snapshot.get("metrics", []):
        config = metric.get("config") or {}
        if config.get("type", "").endswith("ValueDrift") and "value" in metric:
            by_column[config["column"]] = metric
    features = []
    for spec in specs:
        metric = by_column.get(spec.name)
        if metric is None:
            raise ValueError(f"Evidently returned no drift score for feature {spec.name!r}")
        config = metric["config"]
        method = str(config.get("method") or spec.method)
        threshold = float(config.get("threshold") if config.get("threshold") is not None
                          else spec.threshold)
        score = float(metric["value"])
        is_test = method in P_VALUE_METHODS
        drifted = score <= threshold if is_test else score >= threshold
        features.append(FeatureDrift(
            feature=spec.name,
            kind=spec.kind,
            method=method,
            score=score,
            threshold=threshold,
            p_value=score if is_test else None,
            drifted=bool(drifted),
        ))
    return features


def _apply_fdr(features: Sequence[FeatureDrift], alpha: float) -> list[FeatureDrift]:
    """Replace per-feature test verdicts with a Benjamini-Hochberg verdict across features."""
    tested = [i for i, f in enumerate(features) if f.p_value is not None]
    out = list(features)
    if not tested:
        return out
    p_values = np.array([features[i].p_value for i in tested], dtype=float)
    reject = benjamini_hochberg(p_values, alpha)
    # The BH cutoff alpha*k/m (k rejections of m; k=1 when none) makes
    # drifted == (p_value <= threshold) hold for every tested feature.
    cutoff = alpha * max(int(reject.sum()), 1) / int(np.isfinite(p_values).sum() or 1)
    for i, rejected in zip(tested, reject, strict=True):
        out[i] = out[i].model_copy(update={"drifted": bool(rejected), "threshold": cutoff})
    return out
