"""Validation and scoring of a batch too large to hold: chunk by chunk beside whole.

    uv run python bench/chunked_batch.py                       # 5M x 25, 250k rows a chunk
    uv run python bench/chunked_batch.py --rows 20M --skip-whole   # chunks only
    uv run python bench/chunked_batch.py --rows 200k --rows-per-chunk 50k  # quick

One Parquet file is written first (``--rows`` rows: an id, a period and
``--columns`` features, every fifth a category), in a temporary folder, with
faults planted far apart so that several chunks hold a part of them: values
out of range in the first and the last row group, an unknown category in the
middle, and an id repeated at both ends (no chunk sees both rows). Each step
then runs in a fresh process, whose peak memory is the kernel's high-water mark
of the whole process (imports included):

- ``one_chunk``: the file read whole (``read_batch_file``) and validated as
  one chunk (``validate_chunks`` given the whole frame): GX runs on the whole
  frame, as the cycle's validation did before it was sliced;
- ``whole``: the file read whole and validated by ``validate_frame``, as the
  cycle does now: on slices of the frame held in memory (``chunk_rows``);
- ``chunked``: the same file read ``--rows-per-chunk`` rows at a time
  (``batch_chunks``) and validated chunk by chunk (``validate_chunks``), as a
  batch too large to hold is;
- ``score_whole``: the file read whole, predicted and guarded
  (``predict``, ``apply_guardrails``) and its predictions and review files
  written (``scored_rows``, ``storage.write_parquet``), as the cycle does;
- ``score_chunked``: the same ``--rows-per-chunk`` rows at a time
  (``score_in_chunks``);
- ``same_scores``: both steps' files read back and compared.

The model is a ridge regression fitted first on 50,000 rows of the same kind
(every column as a feature), with three guardrail rules: a range the
prediction must stay in (held when it does not), inputs outside the training
range (flagged), and finite predictions. Rows out of the training range are
the batch's own tails beyond the training rows' and the planted values; none
reaches ``batch_share`` of the batch, so they are flagged row by row (the
tests cover a batch finding that no single chunk makes).

Printed: each step's time and peak memory, whether the validation results are
equal field for field (counts, shares, examples, messages) and whether the
written files and guardrail summaries are equal. A host-speed line (a fixed
one-core workload) comes first and last.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import measure  # noqa: E402
from measure import GIB, parse_rows, peak_gib, rows_label  # noqa: E402

from flows.cli import set_environment_defaults  # noqa: E402

set_environment_defaults()
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

ROWS_PER_GROUP = 250_000  # rows generated and written at once (one row group each)
CATEGORY_EVERY = 5
LEVELS = ("v0", "v1", "v2", "v3", "v4")
BOUND = 50.0  # every number must lie in [-BOUND, BOUND]


def _name(j: int) -> str:
    return f"c{j:02d}_cat" if j % CATEGORY_EVERY == CATEGORY_EVERY - 1 else f"c{j:02d}"


def build_usecase(columns: int) -> Any:
    """A regression use case with bounded numbers and closed categories."""
    from mlops_core.config import parse_usecase

    features = [
        {"name": _name(j), "type": "categorical", "categories": list(LEVELS)}
        if j % CATEGORY_EVERY == CATEGORY_EVERY - 1
        else {"name": _name(j), "type": "numeric", "min": -BOUND, "max": BOUND}
        for j in range(columns)
    ]
    raw = {
        "name": "chunked-validation",
        "data": {
            "landing": "landing",
            "labels": "labels",
            "id_column": "id",
            "time_column": "period",
            "target_column": "y",
        },
        "contract": {
            "columns": [
                {"name": "id", "type": "integer", "feature": False},
                {"name": "period", "type": "integer", "min": 0, "feature": False},
                *features,
            ]
        },
        "model": {"task": "regression", "estimator": "sklearn.linear_model.Ridge"},
        "metric": {"primary": "mae"},
        "guardrails": {
            "rules": [
                {"kind": "range", "min": -30, "max": 30, "action": "quarantine"},
                {"kind": "input_out_of_range", "action": "flag"},
                {"kind": "finite", "action": "quarantine"},
            ],
            "max_violation_rate": 0.5,
        },
    }
    return parse_usecase(raw, "chunked-batch.yaml")


def fit_model(work: Path, columns: int) -> None:
    """Fit the ridge on 50,000 rows of the same kind; pickle it with its training ranges."""
    import pickle

    import numpy as np
    import pandas as pd

    from mlops_core.features import build_pipeline, model_input, training_ranges

    usecase = build_usecase(columns)
    rng = np.random.default_rng(11)
    rows = 50_000
    train = pd.DataFrame(
        {
            _name(j): rng.choice(LEVELS, rows)
            if j % CATEGORY_EVERY == CATEGORY_EVERY - 1
            else rng.normal(0.0, 5.0, rows)
            for j in range(columns)
        }
    )
    target = 2 * train[_name(0)] + train[_name(1)] - train[_name(2)] + rng.normal(0, 1, rows)
    model = build_pipeline(usecase).fit(model_input(train, usecase), target.to_numpy())
    with (work / "model.pkl").open("wb") as out:
        pickle.dump((model, training_ranges(train, usecase)), out)


def write_batch(path: Path, rows: int, columns: int) -> None:
    """Write the batch a row group at a time, with the faults planted far apart."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(7)
    levels = np.array(LEVELS, dtype=object)
    writer = None
    middle = (rows // 2) // ROWS_PER_GROUP * ROWS_PER_GROUP
    try:
        for start in range(0, rows, ROWS_PER_GROUP):
            n = min(ROWS_PER_GROUP, rows - start)
            ids = np.arange(start, start + n, dtype=np.int64)
            if start + n == rows:
                ids[-1] = 10  # the id of the file's eleventh row, again in its last
            arrays: dict[str, Any] = {"id": ids, "period": np.full(n, 7, dtype=np.int64)}
            for j in range(columns):
                if j % CATEGORY_EVERY == CATEGORY_EVERY - 1:
                    values = levels[rng.integers(0, len(LEVELS), n)]
                    if start == middle and j == CATEGORY_EVERY - 1:
                        values[:3] = "v9"
                    arrays[_name(j)] = values
                else:
                    numbers = rng.normal(0.0, 5.0, n)
                    if j == 0 and (start == 0 or start + n == rows):
                        numbers[-2:] = 2 * BOUND
                    arrays[_name(j)] = numbers
            table = pa.table(arrays)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="none")
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def _summary(rows: int, results: Any, seconds: float) -> dict[str, Any]:
    text = json.dumps([r.model_dump() for r in results], sort_keys=True)
    return {
        "rows": rows,
        "seconds": seconds,
        "peak_gib": peak_gib(),
        "digest": hashlib.sha256(text.encode()).hexdigest(),
        "failed": sorted(
            f"{r.rule}:{r.column}:{r.unexpected_count}" for r in results if not r.success
        ),
    }


def step_one_chunk(args: argparse.Namespace) -> dict[str, Any]:
    """The file read whole and validated as one chunk (GX on the whole frame)."""
    from tasks.batch_file import read_batch_file
    from tasks.validation import validate_chunks

    usecase = build_usecase(args.columns)
    started = time.perf_counter()
    frame, problems = read_batch_file(Path(args.workdir) / "batch.parquet", "parquet")
    assert frame is not None, problems
    rows, results = validate_chunks(lambda: (frame,), usecase)
    return _summary(rows, results, time.perf_counter() - started)


def step_whole(args: argparse.Namespace) -> dict[str, Any]:
    """The file read whole and validated in memory, as the cycle does."""
    from tasks.batch_file import read_batch_file
    from tasks.validation import validate_frame

    usecase = build_usecase(args.columns)
    started = time.perf_counter()
    frame, problems = read_batch_file(Path(args.workdir) / "batch.parquet", "parquet")
    assert frame is not None, problems
    results = validate_frame(frame, usecase)
    return _summary(len(frame), results, time.perf_counter() - started)


def step_chunked(args: argparse.Namespace) -> dict[str, Any]:
    """The file read and validated chunk by chunk."""
    from tasks.batch_file import batch_chunks
    from tasks.validation import validate_chunks

    usecase = build_usecase(args.columns)
    started = time.perf_counter()
    chunks, problems = batch_chunks(
        Path(args.workdir) / "batch.parquet", "parquet", args.rows_per_chunk
    )
    assert chunks is not None, problems
    rows, results = validate_chunks(chunks, usecase)
    return _summary(rows, results, time.perf_counter() - started)


def _model(args: argparse.Namespace) -> tuple[Any, Any]:
    import pickle

    with (Path(args.workdir) / "model.pkl").open("rb") as model:
        return pickle.load(model)  # noqa: S301 - the bench's own file, written above


def step_score_whole(args: argparse.Namespace) -> dict[str, Any]:
    """The file read whole, predicted, guarded and written, as the cycle does."""
    import numpy as np

    from mlops_core.guardrails import apply_guardrails
    from mlops_core.training import predict
    from tasks import storage
    from tasks.batch_file import read_batch_file
    from tasks.scored_rows import scored_rows

    usecase = build_usecase(args.columns)
    model, ranges = _model(args)
    folder = Path(args.workdir) / "whole"
    started = time.perf_counter()
    frame, _ = read_batch_file(Path(args.workdir) / "batch.parquet", "parquet")
    assert frame is not None
    predicted, probability = predict(model, frame, usecase)
    guarded = apply_guardrails(predicted, frame, usecase.guardrails, ranges)
    out, review = scored_rows(
        frame,
        usecase,
        values=guarded.values,
        raw=guarded.raw,
        probability=probability,
        flagged=guarded.flagged,
        violations=guarded.violations,
        held=np.asarray(guarded.held),
        champion_version="1",
        batch_sha256="bench",
    )
    storage.write_parquet(out, folder / "predictions" / "batch.parquet")
    if len(review):
        storage.write_parquet(review, folder / "review" / "batch.parquet")
    seconds = time.perf_counter() - started
    (folder / "summary.json").write_text(guarded.summary.model_dump_json())
    return {"seconds": seconds, "peak_gib": peak_gib(), "held": int(guarded.held.sum())}


def step_score_chunked(args: argparse.Namespace) -> dict[str, Any]:
    """The file read, predicted, guarded and written chunk by chunk."""
    from tasks.batch_file import batch_chunks
    from tasks.chunked_scoring import score_in_chunks

    usecase = build_usecase(args.columns)
    model, ranges = _model(args)
    folder = Path(args.workdir) / "chunked"
    started = time.perf_counter()
    chunks, _ = batch_chunks(Path(args.workdir) / "batch.parquet", "parquet", args.rows_per_chunk)
    assert chunks is not None
    scored = score_in_chunks(
        chunks,
        model,
        usecase,
        usecase,
        ranges,
        batch="batch.parquet",
        batch_sha256="bench",
        champion_version="1",
        folders=(folder / "predictions", folder / "review"),
        work=folder / "work",
    )
    seconds = time.perf_counter() - started
    (folder / "summary.json").write_text(scored.summary.model_dump_json())
    return {"seconds": seconds, "peak_gib": peak_gib(), "held": scored.summary.held_rows}


def step_same_scores(args: argparse.Namespace) -> dict[str, Any]:
    """Both scoring steps' files read back and compared, and their summaries."""
    import pandas as pd

    work = Path(args.workdir)
    same = {}
    for name in ("predictions", "review"):
        paths = [work / step / name / "batch.parquet" for step in ("whole", "chunked")]
        if not any(p.exists() for p in paths):
            same[name] = True
            continue
        frames = [pd.read_parquet(p) for p in paths]
        same[name] = frames[0].reset_index(drop=True).equals(frames[1])
    summaries = [(work / s / "summary.json").read_text() for s in ("whole", "chunked")]
    summary = json.loads(summaries[0])
    return {
        "files_equal": same,
        "summaries_equal": summaries[0] == summaries[1],
        "actions": summary["actions"],
        "findings": len(summary["findings"]),
    }


STEPS = {
    "one_chunk": step_one_chunk,
    "whole": step_whole,
    "chunked": step_chunked,
    "score_whole": step_score_whole,
    "score_chunked": step_score_chunked,
    "same_scores": step_same_scores,
}


def run_step(step: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one step in a fresh process; return what it printed (one JSON line)."""
    command = [sys.executable, __file__, "--step", step, "--workdir", args.workdir]
    command += ["--rows", str(args.rows), "--columns", str(args.columns)]
    command += ["--rows-per-chunk", str(args.rows_per_chunk)]
    return measure.run_step(command, step)


def main(argv: list[str] | None = None) -> int:
    """Write the batch, run the steps, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=parse_rows, default=5_000_000)
    parser.add_argument("--columns", type=int, default=25)
    parser.add_argument("--rows-per-chunk", type=parse_rows, default=250_000)
    parser.add_argument("--skip-whole", action="store_true", help="run the chunked step only")
    parser.add_argument("--workdir", help="where the batch goes (default: a temporary folder)")
    parser.add_argument("--step", choices=list(STEPS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step:
        print(json.dumps(STEPS[args.step](args)))
        return 0

    import scale

    print(f"host speed: {scale.host_speed_seconds():.2f} s (fixed one-core workload)")
    own_folder = args.workdir is None
    args.workdir = args.workdir or tempfile.mkdtemp(prefix="chunked-batch-")
    try:
        started = time.perf_counter()
        write_batch(Path(args.workdir) / "batch.parquet", args.rows, args.columns)
        size = (Path(args.workdir) / "batch.parquet").stat().st_size / GIB
        print(
            f"wrote a batch of {args.rows:,} rows x {args.columns + 2} columns "
            f"({size:.1f} GiB on disk) in {time.perf_counter() - started:.0f} s"
        )
        fit_model(Path(args.workdir), args.columns)
        steps = (
            ["chunked", "score_chunked"]
            if args.skip_whole
            else ["one_chunk", "whole", "chunked", "score_whole", "score_chunked", "same_scores"]
        )
        results = {step: run_step(step, args) for step in steps}
    finally:
        if own_folder:
            shutil.rmtree(args.workdir, ignore_errors=True)

    case = f"{rows_label(args.rows)} x {args.columns + 2}"
    print()
    print("| validation | rows x cols | time | peak memory (process) |")
    print("|---|---|---|---|")
    if "whole" in results:
        one, whole = results["one_chunk"], results["whole"]
        print(
            f"| read whole, validated as one chunk | {case} | {one['seconds']:.1f} s "
            f"| {one['peak_gib']:.2f} GiB |"
        )
        print(
            f"| read whole, validated in slices of the frame (the cycle now) | {case} "
            f"| {whole['seconds']:.1f} s | {whole['peak_gib']:.2f} GiB |"
        )
    chunked = results["chunked"]
    print(
        f"| read and validated {rows_label(args.rows_per_chunk)} rows at a time | {case} "
        f"| {chunked['seconds']:.1f} s | {chunked['peak_gib']:.2f} GiB |"
    )
    if "score_whole" in results:
        scored = results["score_whole"]
        print(
            f"| scoring: read whole, predicted, guarded, written (the cycle now) | {case} "
            f"| {scored['seconds']:.1f} s | {scored['peak_gib']:.2f} GiB |"
        )
    scored_chunks = results["score_chunked"]
    print(
        f"| scoring: {rows_label(args.rows_per_chunk)} rows at a time (score_in_chunks) | {case} "
        f"| {scored_chunks['seconds']:.1f} s | {scored_chunks['peak_gib']:.2f} GiB |"
    )
    print()
    print(f"- Failed rules (rule:column:rows): {', '.join(chunked['failed'])}")
    if "same_scores" in results:
        same = results["same_scores"]
        print(
            f"- Scoring, whole vs chunks: files equal {same['files_equal']}, guardrail "
            f"summaries equal {same['summaries_equal']}; actions {same['actions']}, "
            f"batch findings {same['findings']}"
        )
    if "whole" in results:
        digests = {results[s]["digest"] for s in ("one_chunk", "whole", "chunked")}
        print(f"- Results equal, field for field, in all three: {len(digests) == 1}")
        for name, step in (("slices", whole), ("file chunks", chunked)):
            print(
                f"- Ratios, {name} / one chunk: time {step['seconds'] / one['seconds']:.2f}, "
                f"peak memory {step['peak_gib'] / one['peak_gib']:.2f}"
            )
    print(f"host speed: {scale.host_speed_seconds():.2f} s (fixed one-core workload)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
