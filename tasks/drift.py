"""Data drift: the product's per-feature statistics on the decision path, Evidently for the report.

``compute_drift`` scores each model feature with the method and threshold the
use case sets for the feature's type, against the champion's reference profile
(``mlops_core.reference_profile``: computed once when the model is trained, so
a cycle never re-reads or re-sorts the reference): the same statistics as
Evidently 0.7's stattests (checked in ``evidently.legacy.calculations.stattests``),
exact for categories and discrete numbers and within a stated bound for
continuous ones, and tested against Evidently itself
(:func:`evidently_feature_scores`), without Evidently's per-column chart
rendering, which costs about a second per batch and far more on large or wide
data, and is never read by a decision. ``render_drift_report`` saves Evidently's HTML
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
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_core.config import DriftPolicy, UseCase
from mlops_core.decisions import DriftSummary, FeatureDrift
from mlops_core.drift_stats import (
    MIN_DOMAIN_ROWS,
    benjamini_hochberg,
    combined_verdicts,
    domain_classifier_auc,
    normalised_importance,
)
from mlops_core.reference_profile import (
    BatchTally,
    Comparison,
    DriftFeature,
    FeatureProfile,
    ReferenceProfile,
    compare,
    drift_column,
    drift_features,
    drift_frame,
    normed_wasserstein,
    profile_reference,
)

P_VALUE_METHODS = frozenset({"ks", "chisquare"})
_ALL_MISSING = "all_missing"


# ---------------------------------------------------------------------- drift
def compute_drift(
    reference: ReferenceProfile | pd.DataFrame,
    current: pd.DataFrame,
    usecase: UseCase,
    importance: Mapping[str, float],
    *,
    reference_sample: pd.DataFrame | None = None,
    reference_predictions: np.ndarray | None = None,
    current_predictions: np.ndarray | None = None,
    sample_rows: int | None = None,
    seed: int = 0,
) -> DriftSummary:
    """Per-feature data drift, importance-weighted drift and prediction drift.

    The batch is scored against the champion's reference profile (computed once
    when the model was trained, see ``mlops_core.reference_profile``): a few
    vectorised passes per feature over the batch, none over the reference.

    Args:
        reference: The champion's reference profile; a frame of reference rows
            is profiled first (tests and one-off comparisons).
        current: The batch, already validated; must hold every model feature.
        usecase: Supplies the features (``contract.feature_names``) and the drift policy.
        importance: The champion's permutation importance per feature; normalised
            over the features (see :func:`normalised_importance`).
        reference_sample: Reference rows for the domain classifier (only read
            when ``drift.domain_classifier`` is on); defaults to a frame
            ``reference``.
        reference_predictions: With a frame ``reference``, the model's
            predictions on it (a profile carries its own).
        current_predictions: The champion's predictions on the batch.
        sample_rows: When set, a larger batch (and a frame reference) is sampled
            (seeded) to this many rows first. Row counts in the summary are the
            rows compared.
        seed: Seed of the sampling and of the domain classifier.

    Returns:
        The drift summary; ``prediction_drift`` is the normed Wasserstein distance
        of the predictions when both sides have them, else None. ``domain_auc``
        and ``multivariate_drift`` are set when ``drift.domain_classifier`` is on,
        reference rows are given and each side has at least ``MIN_DOMAIN_ROWS``
        rows (the classifier samples at most ``drift.domain_max_rows`` per side,
        seeded by ``seed``).

    Raises:
        ValueError: A feature is missing from ``reference`` or ``current``.
    """
    features = drift_features(usecase)
    if isinstance(reference, pd.DataFrame):
        if reference_sample is None:
            reference_sample = reference
        if sample_rows is not None and len(reference) > sample_rows:
            reference = reference.sample(n=sample_rows, random_state=seed)
        profile = profile_reference(reference, usecase, predictions=reference_predictions)
    else:
        profile = reference
    absent = [f.name for f in features if f.name not in profile.features]
    if absent:
        raise ValueError(f"reference data lacks feature columns: {', '.join(absent)}")
    missing = [f.name for f in features if f.name not in current.columns]
    if missing:
        raise ValueError(f"current data lacks feature columns: {', '.join(missing)}")
    if sample_rows is not None and len(current) > sample_rows:
        current = current.sample(n=sample_rows, random_state=seed)

    drifts = [
        feature_drift(
            feature, profile.features[feature.name], drift_column(current[feature.name], feature)
        )
        for feature in features
    ]
    domain_auc = None
    if usecase.drift.domain_classifier and reference_sample is not None:
        ref_rows = drift_frame(reference_sample, features, "reference")
        cur_rows = drift_frame(current, features, "current")
        if min(len(ref_rows), len(cur_rows)) >= MIN_DOMAIN_ROWS:
            domain_auc = domain_classifier_auc(
                ref_rows, cur_rows, seed=seed, max_rows=usecase.drift.domain_max_rows
            )
    return drift_summary(
        drifts,
        usecase.drift,
        importance,
        profile,
        current_rows=len(current),
        current_predictions=current_predictions,
        domain_auc=domain_auc,
    )


def drift_summary(
    drifts: Sequence[FeatureDrift],
    policy: DriftPolicy,
    importance: Mapping[str, float],
    profile: ReferenceProfile,
    *,
    current_rows: int,
    current_predictions: np.ndarray | None,
    domain_auc: float | None,
) -> DriftSummary:
    """The summary of per-feature drifts: test verdicts, importance weights, prediction drift.

    Args:
        drifts: Each model feature's drift (:func:`feature_drift`), in the
            features' order; tested features' verdicts are decided here, across them.
        policy: The use case's drift policy (FDR level, domain AUC limit).
        importance: The champion's permutation importance per feature.
        profile: The reference profile the features were compared with.
        current_rows: Rows of the batch compared.
        current_predictions: The champion's predictions on the batch, if any.
        domain_auc: The domain classifier's AUC, when it ran.

    Returns:
        The drift summary.
    """
    ordered = _apply_test_verdicts(drifts, policy.fdr_alpha)
    weights = normalised_importance(importance, [f.feature for f in ordered])
    ordered = [f.model_copy(update={"importance": weights[f.feature]}) for f in ordered]

    prediction_drift = None
    if profile.prediction is not None and current_predictions is not None:
        compared = normed_wasserstein(profile.prediction, current_predictions)
        prediction_drift = compared.score if compared is not None else None

    drifted = [f for f in ordered if f.drifted]
    return DriftSummary(
        features=tuple(ordered),
        drift_share=len(drifted) / len(ordered),
        importance_weighted_share=float(min(1.0, sum(f.importance for f in drifted))),
        prediction_drift=prediction_drift,
        domain_auc=domain_auc,
        multivariate_drift=None if domain_auc is None else domain_auc > policy.domain_auc_limit,
        reference_rows=profile.rows,
        current_rows=current_rows,
    )


def feature_drift(
    feature: DriftFeature, profile: FeatureProfile, values: pd.Series
) -> FeatureDrift:
    """One feature's drift against its profile; tested features get their verdict later.

    Args:
        feature: The feature, with the policy's method and threshold.
        profile: Its reference profile.
        values: The batch's values, typed for drift (:func:`drift_column`).

    Returns:
        The feature's drift; a tested feature's ``drifted`` is decided by
        :func:`drift_summary`, across the tested features.
    """
    present = _present_count(values)
    if profile.rows == 0 or present == 0:
        return _nothing_to_compare(feature, profile, present)
    return _drift_of(feature, compare(feature.method, profile, values.to_numpy()))


def tally_drift(feature: DriftFeature, profile: FeatureProfile, tally: BatchTally) -> FeatureDrift:
    """One feature's drift from the tally of its batch column (read in chunks of rows).

    Args:
        feature: The feature, with the policy's method and threshold.
        profile: Its reference profile (the one ``tally`` compares with).
        tally: Every chunk of the column added (and added again when the
            method needs a second pass).

    Returns:
        As :func:`feature_drift` on the whole column.
    """
    if profile.rows == 0 or tally.rows == 0:
        return _nothing_to_compare(feature, profile, tally.rows)
    return _drift_of(feature, tally.comparison())


def _nothing_to_compare(
    feature: DriftFeature, profile: FeatureProfile, present: int
) -> FeatureDrift:
    # Nothing to compare on one side: losing every value on one side is the
    # largest possible change, on both sides none.
    changed = (profile.rows == 0) != (present == 0)
    return FeatureDrift(
        feature=feature.name,
        kind=feature.kind,
        method=_ALL_MISSING,
        score=1.0 if changed else 0.0,
        threshold=feature.threshold,
        p_value=None,
        drifted=changed,
    )


def _drift_of(feature: DriftFeature, result: Comparison) -> FeatureDrift:
    error = result.error if np.isfinite(result.error) else None
    if feature.is_test:
        return FeatureDrift(
            feature=feature.name,
            kind=feature.kind,
            method=feature.method,
            score=result.effect,
            score_error=error if feature.method == "ks" else 0.0,
            threshold=feature.threshold,
            p_value=result.score,
            drifted=False,  # decided across the tested features
        )
    return FeatureDrift(
        feature=feature.name,
        kind=feature.kind,
        method=feature.method,
        score=result.score,
        score_error=error,
        threshold=feature.threshold,
        drifted=bool(result.score >= feature.threshold),
    )


def _present_count(values: pd.Series) -> int:
    if pd.api.types.is_numeric_dtype(values):
        return int(np.isfinite(values.to_numpy(dtype=float, na_value=np.nan)).sum())
    return int(values.notna().sum())


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

    specs = drift_features(usecase)
    ref = drift_frame(reference, specs, "reference", sample_rows, seed)
    cur = drift_frame(current, specs, "current", sample_rows, seed)
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

    specs = drift_features(usecase)
    ref = drift_frame(reference, specs, "reference", sample_rows, seed)
    cur = drift_frame(current, specs, "current", sample_rows, seed)
    shown = [s for s in specs if not (_all_missing(ref[s.name]) or _all_missing(cur[s.name]))]
    report = Report(
        [
            ValueDrift(
                column=s.name,
                method=s.method,
                threshold=_vendor_threshold(s.method, s.threshold, usecase.drift),
            )
            for s in shown
        ]
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


def _all_missing(series: pd.Series) -> bool:
    return _present_count(series) == 0


def _dataset(frame: pd.DataFrame, specs: Sequence[DriftFeature]) -> Any:
    from evidently import DataDefinition, Dataset

    definition = DataDefinition(
        numerical_columns=[s.name for s in specs if s.kind == "numeric"],
        categorical_columns=[s.name for s in specs if s.kind == "categorical"],
    )
    return Dataset.from_pandas(frame[[s.name for s in specs]], data_definition=definition)


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
