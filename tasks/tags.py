"""Every ``mlops.*`` name the product writes outside its own files, in one place.

MLflow tag keys (on runs and on registered model versions) and Prefect event
names and resource ids are a contract: the history, the CLI, automations and
people's own MLflow searches read them. They are defined here and nowhere
else; a unit test fails on an ``mlops.``-prefixed string literal in any other
module of ``flows``, ``tasks`` or ``mlops_core``.
"""

from __future__ import annotations

from enum import StrEnum

#: What every tag key and event name starts with.
PREFIX = "mlops."

# ------------------------------------------------------------------- run tags
#: The period of the cycle that made the run.
TAG_PERIOD = "mlops.period"
#: The batch file's name.
TAG_BATCH_NAME = "mlops.batch"
#: The batch whose cycle made the run (decision, training and search trial runs).
TAG_BATCH = "mlops.batch_sha256"
#: The last period whose labels the cycle had.
TAG_LABELS_THROUGH = "mlops.labels_through"
#: What the run is: ``retrain``, ``promotion``, ``rollback``, ``search_trial``, ...
TAG_KIND = "mlops.kind"
TAG_CHAMPION_VERSION = "mlops.champion_version"
TAG_CHALLENGER_VERSION = "mlops.challenger_version"
TAG_PREVIOUS_VERSION = "mlops.previous_version"
#: The reason code that decided the retrain.
TAG_TRIGGER = "mlops.trigger"
TAG_ESTIMATOR = "mlops.estimator"
TAG_DECAY_CAUSE = "mlops.decay_cause"
TAG_USECASE = "mlops.usecase"
TAG_ACTION = "mlops.action"
TAG_REASONS = "mlops.reasons"
#: A decided promotion was not carried out: the version that became champion first.
TAG_SUPERSEDED_BY = "mlops.promotion_superseded_by"
#: On a cycle's decision runs: the use case's monitoring run, where the cycle is one point.
TAG_MONITORING_RUN = "mlops.monitoring_run_id"
#: On a cycle's decision run: why its point is missing from the monitoring run.
TAG_MONITORING_ERROR = "mlops.monitoring_error"
#: ``mlops.kind`` of the use case's monitoring run (one per use case).
KIND_MONITORING = "monitoring"

# Model search runs.
TAG_SEARCH_CHOSEN = "mlops.search.chosen"
TAG_SEARCH_ERROR = "mlops.search.error"
TAG_SEARCH_REASON = "mlops.search.reason"
TAG_SEARCH_REASONS = "mlops.search.reasons"

# Review runs.
TAG_REVIEW_ID = "mlops.review_id"
TAG_REVIEW_BATCH = "mlops.review_batch"
TAG_REVIEW_STATE = "mlops.review_state"
TAG_REVIEWER = "mlops.reviewer"

# --------------------------------------------------------- model version tags
TAG_STATUS = "mlops.status"
TAG_SHA256 = "mlops.model_sha256"
TAG_RUN_ID = "mlops.run_id"
TAG_MODEL_ID = "mlops.model_id"
TAG_PROMOTED_AT = "mlops.promoted_at"
TAG_PROMOTION_REASON = "mlops.promotion_reason"
TAG_REPLACED_VERSION = "mlops.replaced_version"
TAG_HISTORY = "mlops.history"
TAG_SOURCE_BATCH = "mlops.source_batch_sha256"
TAG_ABANDONED_REASON = "mlops.abandoned_reason"

# ------------------------------------------------------------ experiment tags
TAG_MOVED_FROM = "mlops.artifact_root_moved_from"
TAG_MOVED_AT = "mlops.artifact_root_moved_at"

# ------------------------------------------------------------ MLflow's own tags
#: MLflow's experiment kind (read by its UI's experiment-type selector). Every
#: experiment the product creates is classic model development, not GenAI.
TAG_MLFLOW_EXPERIMENT_KIND = "mlflow.experimentKind"
EXPERIMENT_KIND_MODEL_DEVELOPMENT = "custom_model_development"
#: MLflow's description of a run or experiment (shown on its page in the UI).
TAG_MLFLOW_NOTE = "mlflow.note.content"


# ------------------------------------------------------------- Prefect events
class Event(StrEnum):
    """Prefect event names: the product's public contract for automations."""

    BATCH_QUARANTINED = "mlops.batch.quarantined"
    DRIFT_DETECTED = "mlops.drift.detected"
    MODEL_RETRAINED = "mlops.model.retrained"
    MODEL_PROMOTED = "mlops.model.promoted"
    MODEL_REJECTED = "mlops.model.rejected"
    MODEL_LEAK_SUSPECTED = "mlops.model.leak_suspected"
    MODEL_ROLLED_BACK = "mlops.model.rolled_back"
    GUARDRAIL_BREACH = "mlops.guardrail.breach"
    GUARDRAIL_FINDING = "mlops.guardrail.finding"
    LABELS_QUARANTINED = "mlops.labels.quarantined"
    LABELS_FINDINGS = "mlops.labels.findings"
    #: An alerted condition cleared (the alert policy resolved its cause).
    ALERT_RESOLVED = "mlops.alert.resolved"
    #: The conditions a digest-mode alert rule collected, sent together.
    ALERT_DIGEST = "mlops.alert.digest"


#: Resource id of a use case's events: this prefix and the use case's name.
RESOURCE_USECASE = "mlops.usecase."
#: Resource id of a model version: this prefix, the use case's name, ``.v`` and the version.
RESOURCE_MODEL = "mlops.model."

#: The metric of a retrain-kind decision run that holds its period (searches filter and
#: sort on it, so it is a name here like the tags).
METRIC_PERIOD = "period"
