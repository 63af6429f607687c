"""Drift of a batch too large to hold whole: the product beside Evidently, in one run.

    uv run python bench/wide_drift.py            # 1M x 1,000 (about 8 minutes, 18 GB of disk)
    uv run python bench/wide_drift.py --rows 50M --columns 25 --rows-per-read 1M \
        --columns-per-read 1 --same-columns 4    # 50M x 25, a million rows at a time
    uv run python bench/wide_drift.py --rows 100k --columns 200  # a quick check
    uv run python bench/wide_drift.py --rows 50M --columns 25 --columns-per-read 1 \
        --same-columns 4 --dask 2    # and partition by partition on 2 Dask workers

Two Parquet files are written first, a reference and a current batch of the
case's size (float columns, every 50th a text category; drift planted in every
10th number and every 4th category), in a temporary folder (``--workdir``), and
removed at the end. Each step then runs in a fresh process, whose peak memory
is the kernel's high-water mark of the whole process (imports included):

- ``profile``: the reference profile, ``--columns-per-read`` columns at a time,
  or with ``--rows-per-read`` that many rows of one column at a time (exact
  quantile edges picked in passes) (``tasks.columnwise_drift.profile_parquet``;
  once per model, at training), and the domain classifier's reference sample;
- ``profile_whole`` (with ``--rows-per-read``): the same profile read by whole
  columns, timed beside it;
- ``drift``: the product's drift of the current batch against that profile,
  ``--columns-per-read`` columns (and ``--rows-per-read`` rows, when given) at
  a time (``compute_parquet_drift``), with the use case's default policy
  (domain classifier on);
- ``evidently``: Evidently's DataDriftPreset on a sample it can finish (the
  first ``--evidently-rows`` rows of the first ``--evidently-columns``
  features of both files), timed; its time for the whole case is extrapolated
  linearly in rows x columns and printed as such. The product's in-memory
  drift on the same sample gives the verdict agreement;
- ``dask`` (with ``--dask N``): the same drift partition by partition on a
  local Dask cluster of N worker processes (``compute_partitioned_drift``, the
  Parquet files read as a ``dask.dataframe``); its peak memory is the sum of
  the high-water marks of this process and of each worker (an upper bound of
  the processes' peak together), and its verdicts are compared with the
  ``drift`` step's;
- ``same``: the in-memory path (``compute_drift`` on the rows read whole) and
  the chunked path, as the ``drift`` step reads, on every row of the first
  ``--same-columns`` features: the same verdicts, and the largest difference
  between two scores (read in chunks of rows, float sums are added in another
  order); and the ``profile`` step's profile against the in-memory one on those
  features (the same edges and counts, the largest relative gap of a moment).

A host-speed line (a fixed one-core workload) comes first and last.
"""

from __future__ import annotations

import argparse
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

# The same process defaults as the `mlops` command (set before the heavy imports).
set_environment_defaults()
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

CATEGORY_EVERY = 50  # every 50th column is a text category
NUMBER_DRIFT_EVERY = 10  # every 10th number: mean + 0.3 std (normed Wasserstein about 0.3)
CATEGORY_DRIFT_EVERY = 4  # every 4th category: shares reversed
ROWS_PER_GROUP = 50_000  # rows generated and written at once
TARGETS = {"drift_seconds": 120.0, "drift_peak_gib": 4.0}


def column_name(j: int) -> str:
    """Name of the j-th feature column."""
    return f"c{j:04d}_cat" if j % CATEGORY_EVERY == CATEGORY_EVERY - 1 else f"c{j:04d}"


def is_category(j: int) -> bool:
    """Whether the j-th column is a text category."""
    return j % CATEGORY_EVERY == CATEGORY_EVERY - 1


def build_usecase(columns: int) -> Any:
    """A regression use case whose features are the first ``columns`` columns."""
    from mlops_core.config import parse_usecase

    contract = [
        {"name": "id", "type": "integer", "feature": False},
        {"name": "period", "type": "integer", "feature": False},
    ] + [
        {"name": column_name(j), "type": "categorical" if is_category(j) else "numeric"}
        for j in range(columns)
    ]
    raw = {
        "name": "wide-drift",
        "data": {
            "landing": "landing",
            "labels": "labels",
            "id_column": "id",
            "time_column": "period",
            "target_column": "y",
        },
        "contract": {"columns": contract},
        "model": {"task": "regression", "estimator": "sklearn.linear_model.Ridge"},
        "metric": {"primary": "mae"},
    }
    return parse_usecase(raw, "wide-drift.yaml")


def write_batch(path: Path, rows: int, columns: int, *, drifted: bool, seed: int) -> None:
    """Write one batch, ``ROWS_PER_GROUP`` rows at a time (one row group each)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    levels = np.array([f"v{i}" for i in range(5)], dtype=object)
    writer = None
    try:
        for start in range(0, rows, ROWS_PER_GROUP):
            n = min(ROWS_PER_GROUP, rows - start)
            arrays = {}
            for j in range(columns):
                if is_category(j):
                    shares = np.array([0.4, 0.25, 0.15, 0.12, 0.08])
                    if drifted and (j // CATEGORY_EVERY) % CATEGORY_DRIFT_EVERY == 0:
                        shares = shares[::-1]
                    arrays[column_name(j)] = pa.array(levels[rng.choice(5, n, p=shares)])
                else:
                    values = rng.normal(float(j % 7), 1.0 + j % 3, n)
                    if drifted and j % NUMBER_DRIFT_EVERY == 0:
                        values += 0.3 * (1.0 + j % 3)
                    arrays[column_name(j)] = pa.array(values)
            table = pa.table(arrays)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="none")
            writer.write_table(table)
            del table, arrays
    finally:
        if writer is not None:
            writer.close()


def planted(columns: int) -> set[str]:
    """The features whose drift was planted."""
    return {
        column_name(j)
        for j in range(columns)
        if (is_category(j) and (j // CATEGORY_EVERY) % CATEGORY_DRIFT_EVERY == 0)
        or (not is_category(j) and j % NUMBER_DRIFT_EVERY == 0)
    }


# ------------------------------------------------------------------ steps
def step_profile(args: argparse.Namespace) -> dict[str, Any]:
    """The reference profile and the domain classifier's reference sample."""
    import numpy as np
    import pandas as pd

    from tasks.columnwise_drift import profile_parquet

    usecase = build_usecase(args.columns)
    work = Path(args.workdir)
    started = time.perf_counter()
    profile = profile_parquet(
        work / "reference.parquet",
        usecase,
        columns_per_read=args.columns_per_read,
        rows_per_read=args.rows_per_read,
    )
    seconds = time.perf_counter() - started
    (work / "profile.json").write_text(profile.to_json())
    # What a training run stores for the classifier: a seeded sample of reference rows.
    rows = usecase.drift.domain_max_rows
    at = np.sort(np.random.default_rng(0).choice(args.rows, min(rows, args.rows), False))
    names = list(usecase.contract.feature_names)
    if args.rows_per_read is None:
        parts = [
            pd.read_parquet(work / "reference.parquet", columns=group)
            .iloc[at]
            .reset_index(drop=True)
            for group in _groups(names, args.columns_per_read)
        ]
        sample = pd.concat(parts, axis=1)
    else:
        sample = _rows_at(
            work / "reference.parquet",
            _groups(names, args.columns_per_read),
            at,
            args.rows_per_read,
        )
    sample.to_parquet(work / "reference_sample.parquet", index=False)
    return {"seconds": seconds, "peak_gib": peak_gib()}


def _rows_at(path: Path, groups: list[list[str]], at: Any, rows_per_read: int) -> Any:
    """The rows at positions ``at`` (sorted) of a Parquet file: a group of columns and a
    chunk of rows at a time, read as the product's chunked drift reads them (Arrow
    reads ahead over many columns at once)."""
    import numpy as np
    import pandas as pd

    from tasks.columnwise_drift import _open, _row_chunks

    batch, columns = _open(path), []
    for names in groups:
        picked, start = [], 0
        for chunk in _row_chunks(batch, names, rows_per_read):
            lo, hi = np.searchsorted(at, [start, start + len(chunk)])
            picked.append(chunk.iloc[at[lo:hi] - start])
            start += len(chunk)
        columns.append(pd.concat(picked, ignore_index=True))
    return pd.concat(columns, axis=1)


def step_profile_whole(args: argparse.Namespace) -> dict[str, Any]:
    """The reference profile read by whole columns, to set beside the chunked one."""
    from tasks.columnwise_drift import profile_parquet

    started = time.perf_counter()
    profile_parquet(
        Path(args.workdir) / "reference.parquet",
        build_usecase(args.columns),
        columns_per_read=args.columns_per_read,
    )
    return {"seconds": time.perf_counter() - started, "peak_gib": peak_gib()}


def _groups(names: list[str], size: int) -> list[list[str]]:
    return [names[i : i + size] for i in range(0, len(names), size)]


def chunked_drift(
    args: argparse.Namespace, profile: Any, usecase: Any, importance: Any, sample: Any
) -> Any:
    """The product's drift of the current batch, read as the command line says."""
    from tasks.columnwise_drift import compute_parquet_drift

    return compute_parquet_drift(
        profile,
        Path(args.workdir) / "current.parquet",
        usecase,
        importance,
        reference_sample=sample,
        columns_per_read=args.columns_per_read,
        rows_per_read=args.rows_per_read,
    )


def _drift_inputs(args: argparse.Namespace) -> tuple[Any, Any, Any, dict[str, float]]:
    """The use case, the stored profile, the reference sample and a flat importance."""
    import pandas as pd

    from mlops_core.reference_profile import ReferenceProfile

    usecase = build_usecase(args.columns)
    work = Path(args.workdir)
    profile = ReferenceProfile.from_json((work / "profile.json").read_text())
    sample = pd.read_parquet(work / "reference_sample.parquet")
    return usecase, profile, sample, dict.fromkeys(usecase.contract.feature_names, 1.0)


def step_drift(args: argparse.Namespace) -> dict[str, Any]:
    """The product's drift of the current batch, a group of columns (and rows) at a time."""
    usecase, profile, sample, importance = _drift_inputs(args)
    started = time.perf_counter()
    summary = chunked_drift(args, profile, usecase, importance, sample)
    seconds = time.perf_counter() - started
    drifted = {f.feature for f in summary.features if f.drifted}
    want = planted(args.columns)
    return {
        "seconds": seconds,
        "peak_gib": peak_gib(),
        "features": len(summary.features),
        "drifted": len(drifted),
        "planted_found": len(drifted & want),
        "planted": len(want),
        "false_alarms": len(drifted - want),
        "domain_auc": summary.domain_auc,
        "drifted_names": sorted(drifted),
        "scores": {f.feature: f.score for f in summary.features},
    }


def step_dask(args: argparse.Namespace) -> dict[str, Any]:
    """The drift partition by partition on a local Dask cluster of ``--dask`` processes."""
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    from tasks.columnwise_drift import compute_partitioned_drift

    usecase, profile, sample, importance = _drift_inputs(args)
    work = Path(args.workdir)
    with (
        LocalCluster(
            n_workers=args.dask, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        started = time.perf_counter()
        summary = compute_partitioned_drift(
            profile,
            work / "current.parquet",
            usecase,
            importance,
            scheduler=client,
            reference_sample=sample,
            columns_per_read=args.columns_per_read,
        )
        seconds = time.perf_counter() - started
        workers = client.run(peak_gib)
    partitions = dd.read_parquet(work / "current.parquet").npartitions
    return {
        "seconds": seconds,
        "peak_gib": peak_gib() + sum(workers.values()),
        "worker_peak_gib": max(workers.values()),
        "workers": len(workers),
        "partitions": partitions,
        "drifted_names": sorted(f.feature for f in summary.features if f.drifted),
        "scores": {f.feature: f.score for f in summary.features},
        "domain_auc": summary.domain_auc,
    }


def _sample(args: argparse.Namespace, name: str) -> Any:
    """The first ``--evidently-rows`` rows of the first ``--evidently-columns`` features."""
    import pyarrow.parquet as pq

    names = list(build_usecase(args.evidently_columns).contract.feature_names)
    with pq.ParquetFile(Path(args.workdir) / name) as file:
        batch = next(file.iter_batches(batch_size=args.evidently_rows, columns=names))
    return batch.to_pandas()


def step_evidently(args: argparse.Namespace) -> dict[str, Any]:
    """Evidently's DataDriftPreset on a sample, and the product's verdicts on the same rows."""
    import scale

    from mlops_core.reference_profile import profile_reference
    from tasks.drift import compute_drift

    usecase = build_usecase(args.evidently_columns)
    reference, current = _sample(args, "reference.parquet"), _sample(args, "current.parquet")
    names = list(reference.columns)
    numeric = [n for n in names if not n.endswith("_cat")]
    categorical = [n for n in names if n.endswith("_cat")]
    scale.evidently_preset_drift(reference.iloc[:1000], current.iloc[:1000], numeric, categorical)
    started = time.perf_counter()
    vendor = scale.evidently_preset_drift(reference, current, numeric, categorical)
    seconds = time.perf_counter() - started
    ours = compute_drift(
        profile_reference(reference, usecase), current, usecase, dict.fromkeys(names, 1.0)
    )
    product = {f.feature: f.drifted for f in ours.features}
    agree = sum(product[n] == vendor["verdicts"][n] for n in names)
    return {
        "seconds": seconds,
        "peak_gib": peak_gib(),
        "agree": agree,
        "compared": len(names),
        "largest_score_gap": max(abs(f.score - vendor["scores"][f.feature]) for f in ours.features),
    }


def step_same(args: argparse.Namespace) -> dict[str, Any]:
    """The in-memory and the chunked paths on every row of the first features."""
    import numpy as np
    import pandas as pd

    from mlops_core.reference_profile import ReferenceProfile, profile_reference
    from tasks.drift import compute_drift

    usecase = build_usecase(args.same_columns)
    names = list(usecase.contract.feature_names)
    work = Path(args.workdir)
    reference = pd.read_parquet(work / "reference.parquet", columns=names)
    profile = profile_reference(reference, usecase)
    sample = reference.sample(n=usecase.drift.domain_max_rows, random_state=0)
    del reference
    current = pd.read_parquet(work / "current.parquet", columns=names)
    importance = dict.fromkeys(names, 1.0)
    whole = compute_drift(profile, current, usecase, importance, reference_sample=sample)
    del current
    chunked = chunked_drift(args, profile, usecase, importance, sample)
    pairs = list(zip(whole.features, chunked.features, strict=True))
    # The profile step's profile (chunk by chunk with --rows-per-read) beside this one.
    stored = ReferenceProfile.from_json((work / "profile.json").read_text())
    kept = [(stored.features[n], profile.features[n]) for n in names]
    return {
        "profile_same_edges_and_counts": all(
            np.array_equal(a.values, b.values) and np.array_equal(a.counts, b.counts)
            for a, b in kept
        ),
        "profile_largest_difference": max(
            abs(getattr(a, m) - getattr(b, m)) / max(abs(getattr(b, m)), 1.0)
            for a, b in kept
            for m in ("mean", "std")
        ),
        "equal": whole == chunked,
        "same_verdicts": all(a.drifted == b.drifted for a, b in pairs)
        and whole.drift_share == chunked.drift_share
        and whole.domain_auc == chunked.domain_auc,
        "largest_score_difference": max(abs(a.score - b.score) for a, b in pairs),
        "features": len(names),
    }


STEPS = {
    "profile": step_profile,
    "profile_whole": step_profile_whole,
    "drift": step_drift,
    "evidently": step_evidently,
    "same": step_same,
    "dask": step_dask,
}


def run_step(step: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one step in a fresh process; return what it printed (one JSON line)."""
    command = [sys.executable, __file__, "--step", step, "--workdir", args.workdir]
    command += ["--rows", str(args.rows), "--columns", str(args.columns)]
    command += ["--evidently-rows", str(args.evidently_rows)]
    command += ["--evidently-columns", str(args.evidently_columns)]
    command += ["--same-columns", str(args.same_columns)]
    command += ["--columns-per-read", str(args.columns_per_read)]
    if args.rows_per_read is not None:
        command += ["--rows-per-read", str(args.rows_per_read)]
    if args.dask is not None:
        command += ["--dask", str(args.dask)]
    return measure.run_step(command, step)


def main(argv: list[str] | None = None) -> int:
    """Write the batches, run the steps, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=parse_rows, default=1_000_000)
    parser.add_argument("--columns", type=int, default=1000)
    parser.add_argument("--evidently-rows", type=parse_rows, default=100_000)
    parser.add_argument("--evidently-columns", type=int, default=100)
    parser.add_argument("--same-columns", type=int, default=100)
    parser.add_argument("--columns-per-read", type=int, default=64)
    parser.add_argument("--rows-per-read", type=parse_rows, default=None)
    parser.add_argument(
        "--dask", type=int, default=None, help="also run the drift on a local Dask cluster of N"
    )
    parser.add_argument("--workdir", help="where the batches go (default: a temporary folder)")
    parser.add_argument("--step", choices=list(STEPS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    # The sample and the in-memory check take at most the case's columns.
    args.evidently_columns = min(args.evidently_columns, args.columns)
    args.same_columns = min(args.same_columns, args.columns)
    if args.step:
        print(json.dumps(STEPS[args.step](args)))
        return 0

    import scale

    print(f"host speed: {scale.host_speed_seconds():.2f} s (fixed one-core workload)")
    own_folder = args.workdir is None
    args.workdir = args.workdir or tempfile.mkdtemp(prefix="wide-drift-")
    work = Path(args.workdir)
    try:
        started = time.perf_counter()
        for name, drifted, seed in (("reference", False, 1), ("current", True, 2)):
            write_batch(
                work / f"{name}.parquet", args.rows, args.columns, drifted=drifted, seed=seed
            )
        size = (work / "current.parquet").stat().st_size / GIB
        print(
            f"wrote two batches of {args.rows:,} rows x {args.columns:,} columns "
            f"({size:.1f} GiB each on disk) in {time.perf_counter() - started:.0f} s"
        )
        steps = [
            s
            for s in STEPS
            if (s != "dask" or args.dask is not None)
            and (s != "profile_whole" or args.rows_per_read is not None)
        ]
        results = {step: run_step(step, args) for step in steps}
    finally:
        if own_folder:
            shutil.rmtree(work, ignore_errors=True)

    case = f"{rows_label(args.rows)} x {args.columns:,}"
    sample = f"{rows_label(args.evidently_rows)} x {args.evidently_columns:,}"
    reads = f"{args.columns_per_read} column{'s' if args.columns_per_read > 1 else ''}"
    if args.rows_per_read is not None:
        reads += f" x {rows_label(args.rows_per_read)} rows"
    profile_reads = (
        reads.split(" x ")[0]
        if args.rows_per_read is None
        else f"1 column x {rows_label(args.rows_per_read)} rows"
    )
    profile, drift, vendor, same = (results[s] for s in ("profile", "drift", "evidently", "same"))
    on_dask = results.get("dask")
    scale_up = (args.rows / args.evidently_rows) * (args.columns / args.evidently_columns)
    extrapolated = vendor["seconds"] * scale_up
    print()
    print("| step | rows x cols | time | peak memory (process) |")
    print("|---|---|---|---|")
    print(
        f"| reference profile, {profile_reads} at a time (once per model) "
        f"| {case} | {profile['seconds']:.1f} s | {profile['peak_gib']:.2f} GiB |"
    )
    whole_profile = results.get("profile_whole")
    if whole_profile is not None:
        print(
            f"| reference profile, {reads.split(' x ')[0]} at a time, whole columns "
            f"| {case} | {whole_profile['seconds']:.1f} s | {whole_profile['peak_gib']:.2f} GiB |"
        )
    print(
        f"| product drift, {reads} at a time | {case} | {drift['seconds']:.1f} s "
        f"| {drift['peak_gib']:.2f} GiB |"
    )
    if on_dask is not None:
        print(
            f"| product drift, {reads.split(' x ')[0]} of a partition at a time on "
            f"{on_dask['workers']} Dask workers ({on_dask['partitions']} partition"
            f"{'s' if on_dask['partitions'] != 1 else ''}) | {case} "
            f"| {on_dask['seconds']:.1f} s | {on_dask['peak_gib']:.2f} GiB (sum of "
            f"{on_dask['workers'] + 1} processes; largest worker "
            f"{on_dask['worker_peak_gib']:.2f} GiB) |"
        )
    print(
        f"| Evidently DataDriftPreset, measured on a sample | {sample} "
        f"| {vendor['seconds']:.1f} s | {vendor['peak_gib']:.2f} GiB |"
    )
    print(
        f"| Evidently DataDriftPreset, extrapolated (x{scale_up:.0f}, linear in rows x "
        f"columns), not measured | {case} | {extrapolated:,.0f} s | - |"
    )
    print()
    print(
        f"- Extrapolated Evidently / product: {extrapolated / drift['seconds']:.0f}x. "
        f"Verdicts on the sample, product (in memory) vs Evidently: "
        f"{vendor['agree']} of {vendor['compared']} agree; largest score gap "
        f"{vendor['largest_score_gap']:.1e}."
    )
    print(
        f"- Product verdicts on {case}: {drift['drifted']} drifted features, "
        f"{drift['planted_found']} of the {drift['planted']} planted found, "
        f"{drift['false_alarms']} false alarms; domain classifier AUC "
        f"{drift['domain_auc']:.3f}."
    )
    print(
        f"- In memory vs {reads} at a time, on every row of the first {same['features']} "
        f"features: same verdicts: {'yes' if same['same_verdicts'] else 'NO'}; equal "
        f"summaries: {'yes' if same['equal'] else 'no'}; largest score difference "
        f"{same['largest_score_difference']:.1e}."
    )
    print(
        f"- Reference profile ({profile_reads} at a time) vs in memory, first "
        f"{same['features']} features: same edges and counts: "
        f"{'yes' if same['profile_same_edges_and_counts'] else 'NO'}; largest relative "
        f"difference of a mean or deviation {same['profile_largest_difference']:.1e}."
    )
    same_on_dask = True
    if on_dask is not None:
        same_on_dask = (
            on_dask["drifted_names"] == drift["drifted_names"]
            and on_dask["domain_auc"] == drift["domain_auc"]
        )
        gap = max(abs(on_dask["scores"][k] - v) for k, v in drift["scores"].items())
        print(
            f"- On Dask vs {reads} at a time, every feature: same verdicts: "
            f"{'yes' if same_on_dask else 'NO'}; largest score difference {gap:.1e}."
        )
    if (args.rows, args.columns) == (1_000_000, 1000):
        for key, goal in TARGETS.items():
            value = drift[key.removeprefix("drift_")]
            unit = "s" if key.endswith("seconds") else "GiB"
            status = "met" if value < goal else "not met"
            print(f"- target {key}, 1M x 1,000: {value:.2f} {unit} < {goal:g} {unit}: {status}")
    print(f"host speed: {scale.host_speed_seconds():.2f} s (fixed one-core workload)")
    same_profile = same["profile_same_edges_and_counts"]
    return 0 if same["same_verdicts"] and same_on_dask and same_profile else 1


if __name__ == "__main__":
    raise SystemExit(main())
