"""Model cards in MLflow: gather a promoted version's facts, publish its card.

The card (:mod:`mlops_core.model_card`) becomes the registered version's
description, which the MLflow UI shows on the version's page, and
``model_card.md`` in the version's training run. Publishing again replaces
both, so a rerun after a crash gives the same card once.
"""

from __future__ import annotations

from datetime import datetime

from mlflow import MlflowClient

from mlops_core.config import UseCase
from mlops_core.decisions import DriftSummary, PromotionDecision
from mlops_core.guardrails import segment_keys
from mlops_core.model_card import ModelCardInputs, card_facts, model_card_markdown
from tasks import training_runs
from tasks.tags import TAG_ESTIMATOR, TAG_PROMOTED_AT

MODEL_CARD_FILE = "model_card.md"
#: A registry version's description is at most 5000 characters (MLflow's SQL
#: stores declare the column so; PostgreSQL enforces it).
DESCRIPTION_LIMIT = 5000


def model_card_inputs(
    client: MlflowClient,
    usecase: UseCase,
    version: str,
    promotion: PromotionDecision,
    *,
    previous_version: str | None,
    drift: DriftSummary | None,
) -> ModelCardInputs:
    """The facts of a promoted version's card, from the registry and its training run.

    Args:
        client: MLflow client.
        usecase: The use case.
        version: The promoted version.
        promotion: The promotion decision that promoted it (the gate's evidence).
        previous_version: The champion it replaced (None for the first).
        drift: Drift of the batch whose cycle trained it (None for a bootstrap).

    Returns:
        The card's inputs.

    Raises:
        LookupError: The version does not exist.
    """
    name = usecase.registered_model_name
    info = training_runs.get_model_version_info(client, name, version=str(version))
    if info is None:
        raise LookupError(f"registered model {name!r} has no version {version}")
    run = client.get_run(info.run_id)
    metrics = run.data.metrics
    holdout = {
        key.removeprefix("holdout_"): float(value)
        for key, value in metrics.items()
        if key.startswith("holdout_")
    }
    tags = client.get_model_version(name, str(version)).tags or {}
    promoted = tags.get(TAG_PROMOTED_AT)
    segment_rows: dict[str, int] = {}
    segment = usecase.data.segment_column
    if segment is not None:
        reference = training_runs.load_reference_profile(client, info.run_id)
        feature = reference.features.get(segment) if reference is not None else None
        if feature is not None and feature.kind in ("categorical", "discrete"):
            keys = segment_keys(list(feature.values))
            segment_rows = {
                str(k): int(c) for k, c in zip(keys, feature.counts, strict=True) if k is not None
            }
    profile = info.profile
    previous_inputs = None
    if previous_version is not None:
        previous = training_runs.get_model_version_info(client, name, version=str(previous_version))
        previous_inputs = previous.profile.feature_names if previous is not None else None
    return ModelCardInputs.model_validate(
        {
            **card_facts(usecase),
            "version": str(version),
            "run_id": info.run_id,
            "previous_version": previous_version,
            "promoted_at": datetime.fromisoformat(promoted) if promoted else None,
            "estimator": profile.estimator,
            "window_kind": run.data.params.get("window.kind"),
            "trained_first_period": profile.trained_first_period,
            "trained_last_period": profile.trained_last_period,
            "train_rows": profile.train_rows,
            "holdout_metrics": holdout,
            "promotion": promotion,
            "importance": profile.importance,
            "training_ranges": profile.training_ranges,
            "segment_rows": segment_rows,
            "drift_at_training": drift,
            "estimator_note": run.data.tags.get(TAG_ESTIMATOR),
            "inputs": profile.feature_names,
            "previous_inputs": previous_inputs,
        }
    )


def card_description(markdown: str, run_id: str) -> str:
    """The card as a version description: whole when it fits, else cut at a line with a pointer.

    Args:
        markdown: The card.
        run_id: The training run holding the full card.
    """
    if len(markdown) <= DESCRIPTION_LIMIT:
        return markdown
    pointer = f"\n\n(Cut to fit; the full card is `{MODEL_CARD_FILE}` in run `{run_id}`.)\n"
    room = DESCRIPTION_LIMIT - len(pointer)
    cut = markdown.rfind("\n", 0, room)
    return markdown[: cut if cut > 0 else room] + pointer


def publish_model_card(
    client: MlflowClient, model_name: str, version: str, run_id: str, markdown: str
) -> None:
    """Set the card as the version's description and log it as ``model_card.md`` of its run.

    The artifact goes first: a description that points to the full card never
    points to nothing. Both are replaced when published again.

    Args:
        client: MLflow client.
        model_name: Registered model name.
        version: The version.
        run_id: The version's training run.
        markdown: The card.
    """
    client.log_text(run_id, markdown, MODEL_CARD_FILE)
    client.update_model_version(
        model_name, str(version), description=card_description(markdown, run_id)
    )


def publish_card_for_promotion(
    client: MlflowClient,
    usecase: UseCase,
    version: str,
    promotion: PromotionDecision,
    *,
    previous_version: str | None,
    drift: DriftSummary | None,
) -> str:
    """Build and publish the card of a version the gate just promoted.

    Returns:
        The card's markdown.
    """
    inputs = model_card_inputs(
        client, usecase, version, promotion, previous_version=previous_version, drift=drift
    )
    markdown = model_card_markdown(inputs)
    publish_model_card(client, usecase.registered_model_name, version, inputs.run_id, markdown)
    return markdown
