"""The label gate: a label file is checked like a batch before any label decides anything.

Labels decide every retrain (realized performance, the training rows, the
promotion holdout), so a bad label file must never reach them silently. Each
newly arrived label file gets one :class:`LabelGateDecision`:

- ``quarantine``: the file as a whole cannot be used (its id or target column
  is missing, it holds no row, or more than ``labels.max_bad_row_share`` of its
  rows are malformed: no id, a target that is not a number, a target outside
  the target rules, a misspelled class, conflicting duplicates). It is moved
  to quarantine byte for byte with its reason; later batches and label files
  go on.
- ``accept``: the usable rows go on; every row left out is counted by rule.

Row rules (a row left out is counted, never silently dropped):

- ``id_missing``: no id; ``target_missing``: no target (the label is unknown);
- ``target_not_numeric``: a regression target that is not a number (``abc``);
- ``target_out_of_range``: a regression target below ``labels.target_min`` or
  above ``labels.target_max`` (a negative count), or not finite while either
  is set: left out;
- ``target_class_misspelled``: a class that differs from one of
  ``labels.target_classes`` only in case or surrounding spaces (``'up '`` for
  ``'UP'``): left out, since it would otherwise train and score as a class of
  its own;
- ``target_new_class``: any other class not in ``labels.target_classes``: kept
  and counted. A class the model never saw is real data under label shift;
  leaving it out would hide exactly the rows the model gets wrong;
- ``conflicting_duplicates``: one id with different targets in the same file:
  every row of that id is left out (which one is right is not knowable);
- ``duplicate_ids``: one id repeated with the same target: kept once;
- ``unknown_ids``: ids no accepted batch holds yet (never scored, or for a
  period not delivered yet): kept and counted, so a label that arrives before
  its batch still joins it;
- ``corrections``: ids labeled by an earlier accepted file with a different
  target. With ``labels.corrections: apply`` the new target wins and the ids
  are recorded (an audit trail); with ``refuse`` the earlier label stays and
  the correcting rows are left out.

Pure: frames in, a decision and the accepted rows out. The adapter in
``tasks/labels.py`` reads the files, moves them and keeps the label ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from mlops_core.config import LabelPolicy, class_key
from mlops_core.reasons import ReasonCode
from mlops_core.sentences import sentence

LabelAction = Literal["accept", "quarantine"]
#: Rules whose rows count towards ``labels.max_bad_row_share``: signs of a broken file.
MALFORMED = frozenset(
    {
        ReasonCode.ID_MISSING,
        ReasonCode.TARGET_NOT_NUMERIC,
        ReasonCode.TARGET_OUT_OF_RANGE,
        ReasonCode.TARGET_CLASS_MISSPELLED,
        ReasonCode.CONFLICTING_DUPLICATES,
    }
)
#: Ids quoted per rule in a decision (the counts are always whole).
SAMPLE_IDS = 5


class IdSet(Protocol):
    """A set of ids as text: the ids of every accepted batch, for the label gate."""

    def contains(self, ids: pd.Series) -> np.ndarray:
        """Per id (text), whether the set holds it."""
        ...


@dataclass(frozen=True)
class IdIndex:
    """An :class:`IdSet` held in a pandas index (tests, small sets)."""

    ids: pd.Index

    def contains(self, ids: pd.Series) -> np.ndarray:
        """Per id (text), whether the index holds it."""
        return ids.isin(self.ids).to_numpy()


class LabelFinding(BaseModel):
    """Rows of a label file one rule left out or changed.

    Attributes:
        rule: The rule's code (see the module docs).
        rows: Rows concerned.
        message: What was found and what was done, in one sentence.
        sample_ids: Up to :data:`SAMPLE_IDS` of the ids concerned.
        dropped: True when the rows were left out, False when they were kept
            (duplicates kept once, corrections applied).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: ReasonCode
    rows: int = Field(ge=0)
    message: str
    sample_ids: tuple[str, ...] = ()
    dropped: bool = True


class LabelGateDecision(BaseModel):
    """What the label gate decided about one label file.

    Attributes:
        file: The file's name.
        sha256: Its content hash (the label ledger's key).
        action: ``accept`` or ``quarantine``.
        reason: For ``quarantine``, why, in one sentence; empty for ``accept``.
        rows: Rows in the file.
        accepted_rows: Rows that go on (0 when quarantined).
        findings: Every rule that left rows out or changed them.
        corrections: Ids whose earlier label this file changed (``apply``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str
    sha256: str
    action: LabelAction
    reason: str = ""
    rows: int = Field(ge=0)
    accepted_rows: int = Field(ge=0)
    findings: tuple[LabelFinding, ...] = ()
    corrections: int = Field(0, ge=0)

    @property
    def dropped_rows(self) -> int:
        """Rows left out by the row rules."""
        return sum(f.rows for f in self.findings if f.dropped)


def _sample(ids: pd.Series) -> tuple[str, ...]:
    return tuple(str(v) for v in pd.unique(ids)[:SAMPLE_IDS])


def _class_text(target: pd.Series) -> pd.Series:
    """Classes as text, as ``labels.target_classes`` lists them (1.0 read beside a blank is '1')."""
    if pd.api.types.is_float_dtype(target) and bool((target.dropna() % 1 == 0).all()):
        return target.astype("Int64").astype(str)
    return target.astype(str)


def _bounds(policy: LabelPolicy) -> str:
    """The regression target rules in words, for a finding."""
    low, high = policy.target_min, policy.target_max
    if low is not None and high is not None:
        return f"from {low:g} to {high:g}"
    return f"at least {low:g}" if low is not None else f"at most {high:g}"


def _quarantine(file: str, sha256: str, rows: int, reason: str, findings=()) -> LabelGateDecision:
    return LabelGateDecision(
        file=file,
        sha256=sha256,
        action="quarantine",
        reason=reason,
        rows=rows,
        accepted_rows=0,
        findings=tuple(findings),
    )


def check_label_file(
    frame: pd.DataFrame,
    *,
    file: str,
    sha256: str,
    id_column: str,
    target_column: str,
    task: Literal["regression", "classification"],
    scored_ids: IdSet,
    known: pd.Series,
    policy: LabelPolicy,
) -> tuple[LabelGateDecision, pd.DataFrame]:
    """Check one label file and return the decision with the rows that go on.

    Args:
        frame: The file as read (every column as the reader gave it).
        file: Its name, for the decision.
        sha256: Its content hash.
        id_column: The use case's id column.
        target_column: The use case's target column.
        task: The model's task (a regression target must be a number).
        scored_ids: Ids of every accepted batch, as text (``IdIndex`` holds them in
            memory; ``tasks.scored_ids`` in Arrow).
        known: Targets of the ids already labeled by accepted files (index: id as text).
        policy: The use case's label policy.

    Returns:
        The decision, and the accepted rows (columns ``id_column``, as the file
        gave them, and ``target_column``; empty when quarantined).
    """
    empty = pd.DataFrame({id_column: pd.Series(dtype=object), target_column: pd.Series()})
    missing = [c for c in (id_column, target_column) if c not in frame.columns]
    if missing:
        return _quarantine(
            file,
            sha256,
            len(frame),
            f"the label file has no column {', '.join(repr(c) for c in missing)} (its columns: "
            f"{', '.join(map(str, frame.columns[:10]))}); a label file holds the id "
            f"{id_column!r} and the target {target_column!r}",
        ), empty
    if frame.empty:
        return _quarantine(file, sha256, 0, "the label file holds no row"), empty

    rows = len(frame)
    ids = frame[id_column]
    target = frame[target_column]
    findings: list[LabelFinding] = []
    keep = np.ones(rows, dtype=bool)

    def leave_out(rule: ReasonCode, mask: np.ndarray, sample: pd.Series, **words: Any) -> None:
        """Record a rule's rows (``mask``) and take them out of ``keep``."""
        nonlocal keep
        found = int(mask.sum())
        findings.append(
            LabelFinding(
                rule=rule,
                rows=found,
                message=sentence(rule, {"rows": found}, **words),
                sample_ids=_sample(sample),
            )
        )
        keep &= ~mask

    no_id = ids.isna().to_numpy()
    if no_id.any():
        leave_out(ReasonCode.ID_MISSING, no_id, ids[:0], id_column=id_column)
    if pd.api.types.is_float_dtype(ids) and bool((ids.dropna() % 1 == 0).all()):
        # Integer ids read as floats because some are missing: 17.0 is id 17.
        ids = ids.astype("Int64")
    text_ids = ids.astype(str).where(~no_id, "")
    if task == "regression":
        numbers = pd.to_numeric(target, errors="coerce")
        not_number = (numbers.isna() & target.notna()).to_numpy() & keep
        if not_number.any():
            example = str(target[not_number].iloc[0])
            leave_out(
                ReasonCode.TARGET_NOT_NUMERIC,
                not_number,
                text_ids[not_number],
                target_column=target_column,
                example=example,
            )
        target = numbers
    no_target = target.isna().to_numpy() & keep
    if no_target.any():
        leave_out(
            ReasonCode.TARGET_MISSING,
            no_target,
            text_ids[no_target],
            target_column=target_column,
        )
    if task == "regression" and (policy.target_min is not None or policy.target_max is not None):
        values = target.to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            inside = np.isfinite(values)
            if policy.target_min is not None:
                inside &= values >= policy.target_min
            if policy.target_max is not None:
                inside &= values <= policy.target_max
        outside = ~inside & target.notna().to_numpy() & keep
        if outside.any():
            example = target[outside].iloc[0]
            leave_out(
                ReasonCode.TARGET_OUT_OF_RANGE,
                outside,
                text_ids[outside],
                target_column=target_column,
                bounds=_bounds(policy),
                example=example,
            )
    if task == "classification" and policy.target_classes is not None:
        classes = _class_text(target)
        present = target.notna().to_numpy() & keep
        unlisted = present & ~classes.isin(policy.target_classes).to_numpy()
        if unlisted.any():
            spelled = {class_key(c): c for c in policy.target_classes}
            misspelled = unlisted & classes.map(class_key).isin(spelled).to_numpy()
            if misspelled.any():
                example = str(classes[misspelled].iloc[0])
                leave_out(
                    ReasonCode.TARGET_CLASS_MISSPELLED,
                    misspelled,
                    text_ids[misspelled],
                    example=example,
                    listed_as=spelled[class_key(example)],
                )
            new_class = unlisted & ~misspelled
            if new_class.any():
                found = [str(c) for c in pd.unique(classes[new_class])[:SAMPLE_IDS]]
                new_rows = int(new_class.sum())
                # Kept: a new class is real data under label shift, not a fault of the file.
                findings.append(
                    LabelFinding(
                        rule=ReasonCode.TARGET_NEW_CLASS,
                        rows=new_rows,
                        message=sentence(
                            ReasonCode.TARGET_NEW_CLASS, {"rows": new_rows}, classes=found
                        ),
                        sample_ids=_sample(text_ids[new_class]),
                        dropped=False,
                    )
                )

    clean = pd.DataFrame({id_column: text_ids, target_column: target})
    # Duplicates inside the file: the same target is one label, different ones are none.
    per_id = clean.loc[keep].groupby(id_column, sort=False)[target_column].nunique()
    conflicting = per_id.index[per_id.to_numpy() > 1]
    in_conflict = clean[id_column].isin(conflicting).to_numpy() & keep
    if in_conflict.any():
        leave_out(
            ReasonCode.CONFLICTING_DUPLICATES,
            in_conflict,
            pd.Series(conflicting),
            ids=len(conflicting),
        )
    repeated = clean[id_column].duplicated(keep="first").to_numpy() & keep
    if repeated.any():
        leave_out(
            ReasonCode.DUPLICATE_IDS,
            repeated,
            clean.loc[repeated, id_column],
        )
    unknown = ~scored_ids.contains(clean[id_column]) & keep
    if unknown.any():
        # Kept: a label that arrives before its batch joins it when the batch does.
        findings.append(
            LabelFinding(
                rule=ReasonCode.UNKNOWN_IDS,
                rows=int(unknown.sum()),
                message=sentence(ReasonCode.UNKNOWN_IDS, {"rows": int(unknown.sum())}),
                sample_ids=_sample(clean.loc[unknown, id_column]),
                dropped=False,
            )
        )

    corrections = 0
    if len(known):
        earlier = known.reindex(clean[id_column]).to_numpy()
        has_earlier = pd.notna(earlier) & keep
        changed = has_earlier & (earlier.astype(object) != clean[target_column].to_numpy())
        if task == "regression" and changed.any():
            # Numbers equal after a round trip through a file are the same label.
            a = pd.to_numeric(pd.Series(earlier[changed]), errors="coerce").to_numpy(float)
            b = clean.loc[changed, target_column].to_numpy(float)
            same = np.isclose(a, b, rtol=1e-12, atol=0.0)
            changed[np.flatnonzero(changed)[same]] = False
        if changed.any():
            corrections = int(changed.sum())
            refuse = policy.corrections == "refuse"
            findings.append(
                LabelFinding(
                    rule=ReasonCode.CORRECTIONS,
                    rows=corrections,
                    message=sentence(ReasonCode.CORRECTIONS, {"rows": corrections}, refused=refuse),
                    sample_ids=_sample(clean.loc[changed, id_column]),
                    dropped=refuse,
                )
            )
            if refuse:
                keep &= ~changed
                corrections = 0

    # Malformed rows only: a blank target is a label not known (a sensor that
    # failed), a repeated id keeps its label once, and a refused correction is a
    # policy's choice; none of them makes the rest of the file suspect.
    dropped = sum(f.rows for f in findings if f.dropped and f.rule in MALFORMED)
    share = dropped / rows
    if share > policy.max_bad_row_share:
        return _quarantine(
            file,
            sha256,
            rows,
            f"{dropped} of {rows} rows ({share:.0%}) are malformed, over the "
            f"{policy.max_bad_row_share:.0%} allowed (labels.max_bad_row_share): the file is "
            "not trusted as a whole",
            findings,
        ), empty
    # The ids as the file gave them (integers stay integers: they join faster).
    accepted = pd.DataFrame(
        {
            id_column: ids[keep].reset_index(drop=True),
            target_column: clean.loc[keep, target_column].reset_index(drop=True),
        }
    )
    decision = LabelGateDecision(
        file=file,
        sha256=sha256,
        action="accept",
        rows=rows,
        accepted_rows=len(accepted),
        findings=tuple(findings),
        corrections=corrections,
    )
    return decision, accepted
