"""Label files in, gated labels out: the adapter around ``mlops_core.label_gate``.

Every label file that lands in the use case's labels folder is gated once
(by content hash, recorded in the label ledger):

- accepted: its usable rows are written to ``<use case>/labels_accepted`` as
  ``<sequence>-<file stem>.parquet`` (the sequence keeps the order files were
  accepted in, so a correction applies over the label it corrects); the file
  itself stays where it landed;
- quarantined: it is moved byte for byte to ``<use case>/quarantine/labels``
  with a ``.reason.json`` beside it; nothing of it is used, and later batches
  and label files go on.

The labeled pool reads only accepted labels (:func:`read_accepted_labels`).
The ledger (``labels_ledger.jsonl``) holds one :class:`LabelGateDecision` per
file: its single writer is :func:`admit_label_files`, its reader
:func:`label_ledger_decisions`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from mlops_core.config import UseCase
from mlops_core.label_gate import LabelGateDecision, check_label_file
from tasks import storage
from tasks.storage import UseCasePaths


def label_ledger(paths: UseCasePaths) -> Path:
    """The append-only record of every label file gated."""
    return paths.quarantine.parent / "labels_ledger.jsonl"


def accepted_labels_folder(paths: UseCasePaths) -> Path:
    """Where the usable rows of accepted label files are kept."""
    return paths.quarantine.parent / "labels_accepted"


def label_ledger_decisions(paths: UseCasePaths) -> list[LabelGateDecision]:
    """Every gated label file's decision, in the order they were made."""
    ledger = label_ledger(paths)
    if not ledger.exists():
        return []
    decisions = []
    for line in ledger.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by a failed append
            continue
        decisions.append(LabelGateDecision.model_validate(raw))
    return decisions


def read_accepted_labels(paths: UseCasePaths, id_column: str, target_column: str) -> pd.DataFrame:
    """Every accepted label, one row per id (the latest accepted file wins).

    Ids keep their integer type when every accepted file has integer ids (an
    integer's text is unique, so this joins as text would, without converting
    every id); otherwise they are text.
    """
    folder = accepted_labels_folder(paths)
    files = sorted(folder.glob("*.parquet")) if folder.exists() else []
    frames = [pd.read_parquet(f, columns=[id_column, target_column]) for f in files]
    if not frames:
        return pd.DataFrame(columns=[id_column, target_column])
    labels = pd.concat(frames, ignore_index=True)
    if not pd.api.types.is_integer_dtype(labels[id_column]):
        labels[id_column] = storage.ids_as_text(labels[id_column])
    return labels.drop_duplicates(subset=id_column, keep="last")


def _scored_ids(paths: UseCasePaths, id_column: str) -> pd.Index:
    """Ids of every accepted batch, as text."""
    parts = [
        storage.ids_as_text(pd.read_parquet(f, columns=[id_column])[id_column])
        for f in storage.parquet_files(paths.processed)
    ]
    if not parts:
        return pd.Index([], dtype=object)
    return pd.Index(pd.concat(parts, ignore_index=True).unique())


def admit_label_files(paths: UseCasePaths, usecase: UseCase) -> list[LabelGateDecision]:
    """Gate every label file not gated before; return this call's decisions.

    Args:
        paths: The use case's folders.
        usecase: The use case (id and target columns, task, label policy).

    Returns:
        One decision per newly gated file, in file-name order.
    """
    d = usecase.data
    handled = {x.sha256 for x in label_ledger_decisions(paths)}
    decisions: list[LabelGateDecision] = []
    scored: pd.Index | None = None
    for path in storage.list_files(paths.labels, d.format):
        sha = storage.file_sha256(path)
        if sha in handled:
            continue
        handled.add(sha)
        try:
            frame = storage.read_table(path)
        except Exception as exc:  # noqa: BLE001 - any reader error means unreadable
            decision = LabelGateDecision(
                file=path.name,
                sha256=sha,
                action="quarantine",
                reason=f"the label file cannot be read as {d.format}: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                rows=0,
                accepted_rows=0,
            )
            accepted = None
        else:
            if scored is None:
                scored = _scored_ids(paths, d.id_column)
            known = read_accepted_labels(paths, d.id_column, d.target_column)
            known_by_id = pd.Series(
                known[d.target_column].to_numpy(),
                index=storage.ids_as_text(known[d.id_column]).to_numpy(),
            )
            decision, accepted = check_label_file(
                frame,
                file=path.name,
                sha256=sha,
                id_column=d.id_column,
                target_column=d.target_column,
                task=usecase.model.task,
                scored_ids=scored,
                known=known_by_id,
                policy=usecase.labels,
            )
        if decision.action == "accept":
            assert accepted is not None
            folder = accepted_labels_folder(paths)
            folder.mkdir(parents=True, exist_ok=True)
            sequence = len(list(folder.glob("*.parquet")))
            storage.write_parquet(accepted, folder / f"{sequence:06d}-{path.stem}.parquet")
        else:
            storage.quarantine_batch(
                path, paths.quarantine / "labels", sha, decision.model_dump(mode="json")
            )
        storage.ledger_append(label_ledger(paths), decision.model_dump(mode="json"))
        decisions.append(decision)
    return decisions
