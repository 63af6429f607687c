"""Data drift: the product's per-feature statistics on the decision path, Evidently for the report.

``compute_drift`` scores each model feature with the method and threshold the
use case sets for the feature's type, through
:func:`mlops_core.drift_stats.drift_statistic`: the same statistics as
Evidently 0.7's stattests (checked in ``evidently.legacy.calculations.stattests``,
and by tests against Evidently itself, :func:`evidently_feature_scores`), without
Evidently's per-column chart rendering, which costs about a second per batch
and is never read by a decision. ``render_drift_report`` saves Evidently's HTML
report on a bounded sample for people. This is the only module that talks to
Evidently, and ``_scores_from_snapshot`` the only place that reads its snapshot.
Verdicts follow Evidently's conventions:

- effect sizes (``wasserstein`` normed by the reference std, ``jensenshannon``,
  ``psi``): drifted when ``score >= threshold``, as Evidently does;
- tests (``ks``, ``chisquare``): Evidently gives a p-value, which shrinks with the
  rows compared, so on a large batch every tiny shift is significant. A tested
  feature is drifted only when Benjamini-Hochberg across the tested features
  rejects it at ``drift.fdr_alpha`` AND its effect size reaches the configured
  threshold (see ``mlops_core.drift_stats``). The FeatureDrift then holds
  ``score`` = the effect size (Kolmogorov-Smirnov D; total variation distance of
  the category shares), ``threshold`` = the minimum effect size, ``p_value`` = the
  raw p-value and ``significant`` = the BH verdict, so
  ``drifted == (significant and score >= threshold)``.

With ``drift.domain_classifier`` on, the summary also carries multivariate drift:
the cross-validated AUC of a classifier telling batch rows from reference rows.

Numeric and integer contract columns are numerical; categorical and
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

from mlops_core.config import ColumnContract, DriftPolicy, UseCase
from mlops_core.decisions import DriftSummary, FeatureDrift
from mlops_core.drift_stats import (
    MIN_DOMAIN_ROWS,
    benjamini_hochberg,
    category_effect,
    combined_verdicts,
    domain_classifier_auc,
    drift_statistic,
    ks_effect,
    normalised_importance,
    normed_wasserstein,
)

FeatureKind = Literal["numeric", "categorical"]

P_VALUE_METHODS = frozenset({"ks", "chisquare"})
_ALL_MISSING = "all_missing"


@dataclass(frozen=True)
class _FeatureSpec:
    name: str
    kind: FeatureKind
    boolean: bool
    method: str
    threshold: float  # effect-size threshold; for tests the minimum effect size
    vendor_threshold: float  # what Evidently gets; for tests the uncorrected p-value level

    @property
    def is_test(self) -> bool:
        return self.method in P_VALUE_METHODS


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
        of the predictions when both arrays are given, else None. ``domain_auc``
        and ``multivariate_drift`` are set when ``drift.domain_classifier`` is on
        and each side has at least ``MIN_DOMAIN_ROWS`` rows (the classifier
        samples at most ``drift.domain_max_rows`` per side, seeded by ``seed``).

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
        scores = {
            s.name: drift_statistic(s.method, ref[s.name], cur[s.name], numeric=s.kind == "numeric")
            for s in evaluated
        }
        effects = {
            s.name: _effect_size(s, ref[s.name], cur[s.name]) for s in evaluated if s.is_test
        }
        features.update((f.feature, f) for f in _feature_verdicts(scores, evaluated, effects))
    for spec in missing_side:
        features[spec.name] = _all_missing_drift(spec, ref[spec.name], cur[spec.name])

    policy = usecase.drift
    ordered = _apply_test_verdicts([features[s.name] for s in specs], policy.fdr_alpha)
    weights = normalised_importance(importance, [s.name for s in specs])
    ordered = [f.model_copy(update={"importance": weights[f.feature]}) for f in ordered]

    prediction_drift = None
    if reference_predictions is not None and current_predictions is not None:
        prediction_drift = normed_wasserstein(reference_predictions, current_predictions)

    domain_auc = None
    if policy.domain_classifier and min(len(ref), len(cur)) >= MIN_DOMAIN_ROWS:
        domain_auc = domain_classifier_auc(ref, cur, seed=seed, max_rows=policy.domain_max_rows)

    drifted = [f for f in ordered if f.drifted]
    return DriftSummary(
        features=tuple(ordered),
        drift_share=len(drifted) / len(ordered),
        importance_weighted_share=float(min(1.0, sum(f.importance for f in drifted))),
        prediction_drift=prediction_drift,
        domain_auc=domain_auc,
        multivariate_drift=None if domain_auc is None else domain_auc > policy.domain_auc_limit,
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

    The report uses the same methods per feature type as :func:`compute_drift`,
    but shows Evidently's own per-feature verdicts: for effect-size methods the
    same ``score >= threshold``; for tests ``p <= drift.fdr_alpha`` per feature,
    without the false-discovery-rate correction or the minimum effect size. The
    DriftSummary is the decision record.

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
        num_threshold=_vendor_threshold(policy.numeric_method, policy.numeric_threshold, policy),
        cat_method=policy.categorical_method,
        cat_threshold=_vendor_threshold(
            policy.categorical_method, policy.categorical_threshold, policy
        ),
    )
    snapshot = Report([preset]).run(
        current_data=_dataset(cur, shown), reference_data=_dataset(ref, shown)
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(out))  # save_html silently ignores non-str paths
    return out


# -------------------------------------------------------------------- helpers
def _vendor_threshold(method: str, threshold: float, policy: DriftPolicy) -> float:
    # For tests the policy threshold is a minimum effect size; Evidently wants a
    # p-value level, and its per-feature verdict is only shown, never used.
    return policy.fdr_alpha if method in P_VALUE_METHODS else threshold


def _feature_specs(usecase: UseCase) -> list[_FeatureSpec]:
    policy: DriftPolicy = usecase.drift
    specs = []
    for name in usecase.contract.feature_names:
        column: ColumnContract = usecase.contract.column(name)  # type: ignore[assignment]
        if column.type in ("numeric", "integer"):
            kind: FeatureKind = "numeric"
            method, threshold = policy.numeric_method, policy.numeric_threshold
        else:
            kind = "categorical"
            method, threshold = policy.categorical_method, policy.categorical_threshold
        specs.append(
            _FeatureSpec(
                name,
                kind,
                column.type == "boolean",
                method,
                threshold,
                _vendor_threshold(method, threshold, policy),
            )
        )
    return specs


def _effect_size(spec: _FeatureSpec, ref: pd.Series, cur: pd.Series) -> float:
    """Effect size behind a test's p-value, on the columns Evidently compared."""
    if spec.method == "ks":
        return ks_effect(
            ref.to_numpy(dtype=float, na_value=np.nan), cur.to_numpy(dtype=float, na_value=np.nan)
        )
    return category_effect(ref, cur)


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


def evidently_feature_scores(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    usecase: UseCase,
    *,
    sample_rows: int | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Evidently's own per-feature drift scores, for cross-checking the product's.

    One Evidently ``ValueDrift`` per model feature, with the method and the
    threshold :func:`compute_drift` uses, on the same prepared (and sampled)
    frames. The decision path does not call it: tests and the benchmark do, to
    show the scores (and so the verdicts) agree.

    Returns:
        Per feature with a value on both sides, Evidently's score (a p-value for
        tests, a distance otherwise).
    """
    from evidently import Report
    from evidently.metrics import ValueDrift

    specs = _feature_specs(usecase)
    ref = _prepare(reference, specs, "reference", sample_rows, seed)
    cur = _prepare(current, specs, "current", sample_rows, seed)
    shown = [s for s in specs if not (_all_missing(ref[s.name]) or _all_missing(cur[s.name]))]
    report = Report(
        [ValueDrift(column=s.name, method=s.method, threshold=s.vendor_threshold) for s in shown]
    )
    snapshot = report.run(current_data=_dataset(cur, shown), reference_data=_dataset(ref, shown))
    return _scores_from_snapshot(snapshot.dict())


def _scores_from_snapshot(snapshot: Mapping[str, Any]) -> dict[str, float]:
    """Per column, the score of each ``ValueDrift`` metric of an Evidently snapshot dict.

    The only reader of Evidently's snapshot: each ``ValueDrift`` metric holds
    ``config.column`` and ``value`` (a p-value for tests, a distance otherwise).
    """
    scores = {}
    for metric in snapshot.get("metrics", []):
        config = metric.get("config") or {}
        if config.get("type", "").endswith("ValueDrift") and "value" in metric:
            scores[str(config["column"])] = float(metric["value"])
    return scores


def _dataset(frame: pd.DataFrame, specs: Sequence[_FeatureSpec]) -> Any:
    from evidently import DataDefinition, Dataset

    definition = DataDefinition(
        numerical_columns=[s.name for s in specs if s.kind == "numeric"],
        categorical_columns=[s.name for s in specs if s.kind == "categorical"],
    )
    return Dataset.from_pandas(frame[[s.name for s in specs]], data_definition=definition)


def _feature_verdicts(
    scores: Mapping[str, float],
    specs: Sequence[_FeatureSpec],
    effects: Mapping[str, float],
) -> list[FeatureDrift]:
    """FeatureDrift values from per-feature scores (see :func:`drift_statistic`).

    Effect-size methods get their verdict here (``score >= threshold``); tests
    get their p-value, the effect size from ``effects`` and the minimum effect
    size, and their verdict from ``_apply_test_verdicts``.
    """
    features = []
    for spec in specs:
        value = float(scores[spec.name])
        if spec.is_test:
            features.append(
                FeatureDrift(
                    feature=spec.name,
                    kind=spec.kind,
                    method=spec.method,
                    score=effects[spec.name],
                    threshold=spec.threshold,
                    p_value=value,
                    drifted=False,  # decided across the tested features
                )
            )
            continue
        features.append(
            FeatureDrift(
                feature=spec.name,
                kind=spec.kind,
                method=spec.method,
                score=value,
                threshold=spec.threshold,
                drifted=bool(value >= spec.threshold),
            )
        )
    return features


def _apply_test_verdicts(features: Sequence[FeatureDrift], alpha: float) -> list[FeatureDrift]:
    """Verdicts of tested features: BH-significant across them AND effect size >= threshold."""
    tested = [i for i, f in enumerate(features) if f.p_value is not None]
    out = list(features)
    if not tested:
        return out
    p_values = [features[i].p_value for i in tested]
    significant = benjamini_hochberg(p_values, alpha)
    drifted = combined_verdicts(
        p_values,
        [features[i].score for i in tested],
        alpha=alpha,
        min_effect=[features[i].threshold for i in tested],
    )
    for i, sig, drift in zip(tested, significant, drifted, strict=True):
        out[i] = out[i].model_copy(update={"significant": bool(sig), "drifted": bool(drift)})
    return out
