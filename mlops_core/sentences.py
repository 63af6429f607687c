"""The one renderer from reason codes and numbers to sentences.

Decisions emit a :class:`~mlops_core.reasons.ReasonCode`, its numbers and, where
a sentence names something that is not a number (a column, a metric, the rule
a validator broke), those words; they build no English themselves. Every
sentence about a reason is written in :mod:`mlops_core.renderers`, in two
registers:

- the record's sentence, once per code (:func:`sentence`): :func:`reason`
  renders it into the reason's ``message`` when the decision is made, so the
  record, its markdown table, the HTML report and the model card all show the
  sentence written there. A unit test renders every code and fails when one
  has no sentence;
- the summary's sentence, in the use case's own words (:class:`Wording`), for
  the reasons that decide a retrain or a promotion
  (:func:`retrain_reason_sentence`, :func:`promotion_reason_sentence`), which
  ``mlops_core.report`` composes into the cycle summary.

This module is the one entry point: callers import from here, and importing it
loads every renderer, so every code has its sentence. The renderers are one
module per thing they render: ``batch_gate``, ``retrain``, ``promotion``,
``guardrails``, ``review``, ``schema_change``, ``labels``, ``search`` and
``model_card`` (the records' sentences, registered per code in ``registry``),
and ``summary`` (the cycle summary's, in the use case's words from ``wording``).

Numbers are formatted by :mod:`mlops_core.formatting`.
"""

from __future__ import annotations

# Each renderer registers its codes' sentences when it is imported.
from mlops_core.renderers import (  # noqa: F401
    batch_gate,
    labels,
    model_card,
    promotion,
    retrain,
    review,
    schema_change,
    search,
)
from mlops_core.renderers.alerts import ALERT_KIND_WORDS, alert_kind_words
from mlops_core.renderers.guardrails import ACTION_WORD, input_range_finding_sentence
from mlops_core.renderers.model_card import MAX_LISTED
from mlops_core.renderers.registry import Numbers, Template, has_sentence, reason, sentence
from mlops_core.renderers.retrain import unmeasured_why
from mlops_core.renderers.review import shown_value
from mlops_core.renderers.summary import (
    drift_clause,
    promotion_reason_sentence,
    retrain_reason_sentence,
    versus_normal,
)
from mlops_core.renderers.wording import (
    Wording,
    as_clause,
    as_sentence,
    default_wording,
    version_words,
    wording_for,
)

__all__ = [
    "ACTION_WORD",
    "ALERT_KIND_WORDS",
    "MAX_LISTED",
    "Numbers",
    "Template",
    "Wording",
    "alert_kind_words",
    "as_clause",
    "as_sentence",
    "default_wording",
    "drift_clause",
    "has_sentence",
    "input_range_finding_sentence",
    "promotion_reason_sentence",
    "reason",
    "retrain_reason_sentence",
    "sentence",
    "shown_value",
    "unmeasured_why",
    "version_words",
    "versus_normal",
    "wording_for",
]
