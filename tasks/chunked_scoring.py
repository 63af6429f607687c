"""Scoring a batch too large to hold: predictions and guardrails chunk by chunk.

What :func:`tasks.steps.score` and :func:`tasks.steps.write_scored` do for a
batch held in memory, done for a batch read in chunks, with the same output
files (read back, the same frames) and the same guardrail summary:

1. Each chunk is predicted and guarded with no input-range finding decided
   (:func:`mlops_core.guardrails.guard_rows`), and its outputs are staged: a
   small Parquet part per chunk (predictions as made and as guarded, flags,
   violations, holds). The chunks' tallies merge.
2. Only when the merged tally makes a finding (an input column out of its
   training range on ``batch_share`` of the whole batch): each chunk is guarded
   again with the batch's findings, from its staged predictions (the model is
   not run twice), and its part rewritten.
3. The circuit breaker is decided on the whole batch's tally; then the batch's
   chunks are read once more beside their parts and the rows stream into one
   predictions file and one review file (the held rows, every row when the
   breaker tripped), each written under a temporary name and renamed.

Memory is a chunk and its outputs (in the first pass, while a chunk's output
columns are typed, its rows twice). Chunks may type a column differently (a
whole-number column with a gap reads as floats in that chunk only): the output
files take each column's widest type over the chunks, as the whole batch would.
The cycle does not call this yet (docs/design.md, section 1.2).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_core.config import GuardrailPolicy, UseCase
from mlops_core.decisions import GuardrailSummary
from mlops_core.guardrails import GuardedRows, GuardrailTally, guard_rows, summarize
from mlops_core.training import predict
from tasks import storage
from tasks.batch_file import ChunkSource
from tasks.scored_rows import reviewed_already, scored_rows


@dataclass(frozen=True)
class ScoredInChunks:
    """A batch scored chunk by chunk.

    Attributes:
        rows: Rows scored.
        summary: The guardrails' summary of the whole batch.
        predictions: The file of the rows delivered downstream.
        review: The file of the rows held for review (None when none is held).
    """

    rows: int
    summary: GuardrailSummary
    predictions: Path
    review: Path | None


def score_in_chunks(
    chunks: ChunkSource,
    model: Any,
    model_usecase: UseCase,
    usecase: UseCase,
    training_ranges: Mapping[str, tuple[float, float]] | None,
    *,
    batch: str,
    batch_sha256: str,
    champion_version: str,
    folders: tuple[Path, Path],
    work: Path,
    published_review: Path | None = None,
) -> ScoredInChunks:
    """Predict, guard and write a batch chunk by chunk, as ``score`` and ``write_scored`` do.

    Args:
        chunks: Reads the batch's chunks, in row order, each time it is called.
        model: The champion's fitted pipeline.
        model_usecase: The use case the champion was trained under (its inputs).
        usecase: The current use case (its data roles and guardrail policy).
        training_ranges: The champion's training ranges, for the input-range rule.
        batch: The batch file's name (names the output files).
        batch_sha256: Its content hash (stored with each prediction).
        champion_version: The version that scores it.
        folders: The predictions folder and the review folder (staging folders
            when the outputs wait for a commit).
        work: A folder for the staged parts (created, and removed at the end).
        published_review: The batch's published review file, when ``folders``
            are staging folders: a reviewer's work there is never reopened
            (default: the review file in ``folders``).

    Returns:
        The rows, the guardrail summary and the files written.
    """
    policy = usecase.guardrails
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    columns = _OutputColumns()
    try:
        tally = _first_pass(chunks, model, model_usecase, usecase, training_ranges, work, columns)
        findings = tally.findings()
        if any(findings.values()):
            tally = _guard_again(chunks, policy, training_ranges, findings, work)
        summary = summarize(tally, policy)
        predictions, review = _write_outputs(
            chunks,
            usecase,
            work,
            columns.schemas(),
            summary,
            batch=batch,
            batch_sha256=batch_sha256,
            champion_version=champion_version,
            folders=folders,
            published_review=published_review,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ScoredInChunks(tally.rows, summary, predictions, review)


class _OutputColumns:
    """The widest type of each column of the two output files, over the chunks.

    A chunk types a column by its own values (a whole-number column with a gap
    reads as floats in that chunk only; a text column without a value has no
    type), so the files take each column's widest type, as the whole batch
    would give it. The types come from every row of a chunk, delivered or held
    alike: which rows are held is known only once the whole batch is guarded.
    """

    def __init__(self) -> None:
        self.delivered: list[Any] = []
        self.held: list[Any] = []

    def add(self, chunk: pd.DataFrame, staged: pd.DataFrame, usecase: UseCase) -> None:
        """Type the outputs of one chunk (its staged part)."""
        import pyarrow as pa

        if not len(chunk) and self.delivered:
            return
        for held, kinds in ((False, self.delivered), (True, self.held)):
            out = _outputs_of(chunk, staged, usecase, held=np.full(len(chunk), held))
            kinds.append(pa.Schema.from_pandas(out[1] if held else out[0], preserve_index=False))

    def schemas(self) -> tuple[Any, Any]:
        """The delivered rows' and the held rows' schemas (without pandas' metadata)."""
        import pyarrow as pa

        return tuple(  # type: ignore[return-value]
            pa.unify_schemas(kinds, promote_options="permissive").remove_metadata()
            for kinds in (self.delivered, self.held)
        )


def _part(work: Path, number: int) -> Path:
    return work / f"part-{number:06d}.parquet"


def _stage(work: Path, number: int, guarded: GuardedRows, probability: Any) -> pd.DataFrame:
    """Write a chunk's outputs as its part; return them as written."""
    staged = pd.DataFrame(
        {
            "raw_prediction": guarded.raw,
            "raw_probability": probability if probability is not None else np.nan,
            "prediction": guarded.values,
            "flagged": guarded.flagged,
            "violations": guarded.violations.astype(str),
            "held": guarded.held,
        }
    )
    staged.to_parquet(_part(work, number), index=False)
    return staged


def _first_pass(
    chunks: ChunkSource,
    model: Any,
    model_usecase: UseCase,
    usecase: UseCase,
    training_ranges: Mapping[str, tuple[float, float]] | None,
    work: Path,
    columns: _OutputColumns,
) -> GuardrailTally:
    """Predict and guard each chunk with no finding decided; stage its outputs.

    Each chunk's output columns are typed on the way (``columns``), so the files
    can be opened with the batch's types before the rows stream into them.
    """
    policy = usecase.guardrails
    tally: GuardrailTally | None = None
    for number, chunk in enumerate(chunks()):
        # An empty chunk (a Parquet file without rows) stages an empty part.
        predicted, probability = (
            predict(model, chunk, model_usecase) if len(chunk) else (np.empty(0), None)
        )
        guarded, seen = guard_rows(predicted, chunk, policy, training_ranges, findings={})
        columns.add(chunk, _stage(work, number, guarded, probability), usecase)
        tally = seen if tally is None else tally.merged(seen)
    if tally is None:
        raise ValueError("a batch's chunks must include at least one")
    return tally


def _guard_again(
    chunks: ChunkSource,
    policy: GuardrailPolicy,
    training_ranges: Mapping[str, tuple[float, float]] | None,
    findings: Mapping[int, frozenset[str]],
    work: Path,
) -> GuardrailTally:
    """Guard each chunk again with the batch's findings, from its staged predictions."""
    tally: GuardrailTally | None = None
    for number, chunk in enumerate(chunks()):
        staged = pd.read_parquet(_part(work, number))
        guarded, seen = guard_rows(
            staged["raw_prediction"].to_numpy(),
            chunk,
            policy,
            training_ranges,
            findings=findings,
        )
        probability = staged["raw_probability"].to_numpy()
        _stage(work, number, guarded, probability)
        tally = seen if tally is None else tally.merged(seen)
    assert tally is not None
    return tally


def _outputs_of(
    chunk: pd.DataFrame,
    staged: pd.DataFrame,
    usecase: UseCase,
    *,
    held: np.ndarray,
    batch_sha256: str = "",
    champion_version: str = "",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A chunk's delivered rows and held rows, from its staged outputs."""
    probability = staged["raw_probability"]
    return scored_rows(
        chunk,
        usecase,
        values=staged["prediction"].to_numpy(),
        raw=staged["raw_prediction"].to_numpy(),
        probability=None if probability.isna().all() else probability.to_numpy(),
        flagged=staged["flagged"].to_numpy(),
        violations=staged["violations"].to_numpy(),
        held=held,
        champion_version=champion_version,
        batch_sha256=batch_sha256,
    )


def _write_outputs(
    chunks: ChunkSource,
    usecase: UseCase,
    work: Path,
    schemas: tuple[Any, Any],
    summary: GuardrailSummary,
    *,
    batch: str,
    batch_sha256: str,
    champion_version: str,
    folders: tuple[Path, Path],
    published_review: Path | None,
) -> tuple[Path, Path | None]:
    """Stream the delivered and the held rows into their files, in row order."""
    import pyarrow as pa

    stem = Path(batch).stem
    predictions_path = folders[0] / f"{stem}.parquet"
    review_path = folders[1] / f"{stem}.parquet"
    any_held = summary.held_rows > 0
    write_review = any_held and not reviewed_already(published_review or review_path)
    with storage.replacing(predictions_path) as pred_tmp:
        review_file = storage.replacing(review_path) if write_review else nullcontext(None)
        with review_file as review_tmp:
            writers = [
                _writer(pred_tmp, schemas[0]),
                _writer(review_tmp, schemas[1]) if review_tmp is not None else None,
            ]
            try:
                for number, chunk in enumerate(chunks()):
                    staged = pd.read_parquet(_part(work, number))
                    held = (
                        np.ones(len(chunk), dtype=bool)
                        if summary.breaker_tripped
                        else staged["held"].to_numpy()
                    )
                    frames = _outputs_of(
                        chunk,
                        staged,
                        usecase,
                        held=held,
                        batch_sha256=batch_sha256,
                        champion_version=champion_version,
                    )
                    for frame, writer, schema in zip(frames, writers, schemas, strict=True):
                        if writer is not None and len(frame):
                            table = pa.Table.from_pandas(frame, preserve_index=False)
                            writer.write_table(table.replace_schema_metadata().cast(schema))
            finally:
                for writer in writers:
                    if writer is not None:
                        writer.close()
    if not any_held:
        return predictions_path, None
    return predictions_path, review_path if write_review else published_review or review_path


def _writer(path: Path, schema: Any) -> Any:
    import pyarrow.parquet as pq

    # As storage.write_parquet: floats are not dictionary-encoded.
    dictionary = [f.name for f in schema if not str(f.type).startswith(("double", "float"))]
    return pq.ParquetWriter(path, schema, use_dictionary=dictionary)
