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
file (:class:`~mlops_core.records.LabelDecisionLine`): its single writer is
:func:`admit_label_files`, its reader :func:`label_ledger_lines`.

A cycle's cost must not grow with the history: each ledger line also records
the file's name, size and modification time (``file_stat``), so a file seen
before and unchanged is skipped without reading it. A file with the same name
but another size or time is hashed and, if its content is new, gated as a new
file. A file whose content was gated before under another name or time gets a
``seen`` line (name, hash, ``file_stat``; no decision), so it too is hashed
only once. Within one call the accepted labels and the scored ids are read at
most once and extended in memory as files are accepted. Past
:data:`COMPACT_AT` files the accepted labels are merged into one file, so
reading them does not grow with the number of label files either.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlops_core.config import UseCase
from mlops_core.label_gate import LabelGateDecision, check_label_file
from mlops_core.records import FileStat, LabelDecisionLine, LabelLedgerLine, LabelSeenLine
from tasks import storage
from tasks.scored_ids import ScoredIds, scored_ids
from tasks.storage import UseCasePaths

#: Ledger key of a line that only records a file whose content was gated before
#: (:class:`~mlops_core.records.LabelSeenLine`).
SEEN = "seen"


def label_ledger(paths: UseCasePaths) -> Path:
    """The append-only record of every label file gated."""
    return paths.quarantine.parent / "labels_ledger.jsonl"


def accepted_labels_folder(paths: UseCasePaths) -> Path:
    """Where the usable rows of accepted label files are kept."""
    return paths.quarantine.parent / "labels_accepted"


def label_ledger_lines(paths: UseCasePaths) -> list[LabelLedgerLine]:
    """Every whole line of the label ledger, oldest first (a line cut short is skipped).

    Raises:
        RecordError: A whole line is neither kind of label ledger line; the
            message names the file, the line and the field.
    """
    ledger = label_ledger(paths)
    lines: list[LabelLedgerLine] = []
    for number, raw in storage.json_lines(ledger):
        kind = LabelSeenLine if isinstance(raw, dict) and SEEN in raw else LabelDecisionLine
        lines.append(kind.read(raw, f"{ledger} line {number}"))
    return lines


def label_ledger_decisions(paths: UseCasePaths) -> list[LabelGateDecision]:
    """Every gated label file's decision, in the order they were made."""
    return [
        line.decision() for line in label_ledger_lines(paths) if isinstance(line, LabelDecisionLine)
    ]


def read_accepted_labels(paths: UseCasePaths, id_column: str, target_column: str) -> pd.DataFrame:
    """Every accepted label, one row per id (the latest accepted file wins).

    Ids keep their integer type when every accepted file has integer ids (an
    integer's text is unique, so this joins as text would, without converting
    every id); otherwise they are text.
    """
    folder = accepted_labels_folder(paths)
    files = sorted(folder.glob("*.parquet")) if folder.exists() else []
    return _merged_labels(files, id_column, target_column)


def _merged_labels(files: list[Path], id_column: str, target_column: str) -> pd.DataFrame:
    """The labels of accepted files in their order, one row per id (the later file wins)."""
    frames = [pd.read_parquet(f, columns=[id_column, target_column]) for f in files]
    if not frames:
        return pd.DataFrame(columns=[id_column, target_column])
    labels = pd.concat(frames, ignore_index=True)
    if not pd.api.types.is_integer_dtype(labels[id_column]):
        labels[id_column] = storage.ids_as_text(labels[id_column])
    return labels.drop_duplicates(subset=id_column, keep="last")


#: Accepted label files kept apart before they are merged into one (:func:`_compact`).
COMPACT_AT = 32


def _next_sequence(folder: Path) -> int:
    """The sequence of the next accepted file: after every file in ``folder``."""
    sequences = [
        int(f.name.split("-", 1)[0])
        for f in folder.glob("*.parquet")
        if f.name.split("-", 1)[0].isdigit()
    ]
    return max(sequences) + 1 if sequences else 0


def _compact(folder: Path, id_column: str, target_column: str) -> None:
    """Merge the accepted label files into one once there are more than :data:`COMPACT_AT`.

    Every cycle reads the accepted labels, so their number of files must not
    grow with the history. The merged file holds one row per id (the later
    file wins, as :func:`read_accepted_labels` has it) and is named after the
    newest file it replaces, with a suffix that sorts after it
    (``<sequence>-~compacted.parquet``), so files accepted later still sort
    after it and win. It is written before the files it replaces are removed:
    a crash in between leaves them beside it, sorted before it, so the labels
    read are the same.
    """
    files = sorted(folder.glob("*.parquet"))
    if len(files) <= COMPACT_AT:
        return
    merged = _merged_labels(files, id_column, target_column)
    newest = files[-1].name.split("-", 1)[0]
    target = storage.write_parquet(
        merged.reset_index(drop=True), folder / f"{newest}-~compacted.parquet"
    )
    for f in files:
        if f != target:
            f.unlink(missing_ok=True)


def _file_stat(path: Path) -> FileStat:
    """What identifies an unchanged file without reading it: its size and mtime."""
    stat = path.stat()
    return FileStat(size=stat.st_size, mtime_ns=stat.st_mtime_ns)


def _known_files(paths: UseCasePaths) -> tuple[set[str], set[tuple[str, int, int]]]:
    """The content hashes gated so far, and the (name, size, mtime_ns) of files hashed."""
    handled: set[str] = set()
    hashed: set[tuple[str, int, int]] = set()
    for line in label_ledger_lines(paths):
        handled.add(line.sha256)
        stat = line.file_stat
        if stat is not None:
            name = line.seen if isinstance(line, LabelSeenLine) else line.file
            hashed.add((name, stat.size, stat.mtime_ns))
    return handled, hashed


def _labels_by_id(labels: pd.DataFrame, id_column: str, target_column: str) -> pd.Series:
    """Targets indexed by id as text, the form the gate compares corrections in."""
    return pd.Series(
        labels[target_column].to_numpy(),
        index=storage.ids_as_text(labels[id_column]).to_numpy(),
    )


def admit_label_files(paths: UseCasePaths, usecase: UseCase) -> list[LabelGateDecision]:
    """Gate every label file not gated before; return this call's decisions.

    A file already in the ledger with the same name, size and modification time
    is skipped without being read; the accepted labels and the scored ids are
    read at most once per call, and only when a new file is gated.

    Args:
        paths: The use case's folders.
        usecase: The use case (id and target columns, task, label policy).

    Returns:
        One decision per newly gated file, in file-name order.
    """
    d = usecase.data
    ledger = label_ledger(paths)
    handled, hashed = _known_files(paths)
    decisions: list[LabelGateDecision] = []
    scored: ScoredIds | None = None
    known: pd.Series | None = None
    accepted_since: list[pd.DataFrame] = []  # rows accepted after ``known`` was built
    sequence: int | None = None
    for path in storage.list_files(paths.labels, d.format):
        stat = _file_stat(path)
        key = (path.name, stat.size, stat.mtime_ns)
        if key in hashed:
            continue
        hashed.add(key)
        sha = storage.file_sha256(path)
        if sha in handled:
            # Content gated before (another name, or touched): record it, so it is not
            # hashed again, and decide nothing twice.
            storage.append_json_line(
                ledger, LabelSeenLine(seen=path.name, sha256=sha, file_stat=stat)
            )
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
                scored = scored_ids(paths, d.id_column)
            if known is None:
                known = _labels_by_id(
                    read_accepted_labels(paths, d.id_column, d.target_column),
                    d.id_column,
                    d.target_column,
                )
            if accepted_since:
                # The later file wins, as read_accepted_labels has it.
                later = [_labels_by_id(a, d.id_column, d.target_column) for a in accepted_since]
                known = pd.concat([known, *later]) if len(known) else pd.concat(later)
                known = known[~known.index.duplicated(keep="last")]
                accepted_since = []
            decision, accepted = check_label_file(
                frame,
                file=path.name,
                sha256=sha,
                id_column=d.id_column,
                target_column=d.target_column,
                task=usecase.model.task,
                scored_ids=scored,
                known=known,
                policy=usecase.labels,
            )
        if decision.action == "accept":
            assert accepted is not None and known is not None
            folder = accepted_labels_folder(paths)
            folder.mkdir(parents=True, exist_ok=True)
            if sequence is None:
                sequence = _next_sequence(folder)
            storage.write_parquet(accepted, folder / f"{sequence:06d}-{path.stem}.parquet")
            sequence += 1
            # Merged into ``known`` only if another file is checked in this call: at
            # a million labels over 2M known, the merge took about 2 s.
            accepted_since.append(accepted)
        else:
            storage.quarantine_batch(path, paths.quarantine / "labels", sha, decision)
        storage.append_json_line(ledger, LabelDecisionLine(**dict(decision), file_stat=stat))
        decisions.append(decision)
    if sequence is not None:  # a file was accepted in this call
        _compact(accepted_labels_folder(paths), d.id_column, d.target_column)
    return decisions
