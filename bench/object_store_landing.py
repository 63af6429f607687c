"""The demo's weeks through a bucket beside the same weeks through a folder, in one run.

    OMP_NUM_THREADS=1 uv run python bench/object_store_landing.py        # 26 live weeks
    OMP_NUM_THREADS=1 uv run python bench/object_store_landing.py --live-weeks 6  # no events

Two data roots get the shipped retail use case and the simulator's weeks (seed
7, as ``mlops demo``): one with ``data.landing`` and ``data.labels`` local
folders, one with them in a bucket of moto's S3 server, started on loopback
and reached over HTTP as any S3 endpoint. Each root is bootstrapped on the
history weeks, then each live week's batch, and the labels that arrive that
week, are put where the producers would put them and ``monitor_landed`` runs.
The cycle reports are off in both (they decide nothing).

Printed: one row per cycle of the bucket's root, whether the two roots agree on
every decision (validation, retrain action and reason, promotion, champion,
realized error), whether each batch put in the bucket was archived or
quarantined byte for byte and the bucket left empty, and the time of each
root's run with their ratio, after a warm-up week in a throwaway root, and how
much of the bucket's run the fetches took. A host-speed line comes first and last.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import fsspec

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "bench")]

from flows.cli import set_environment_defaults  # noqa: E402

# The same process defaults as the `mlops` command (set before the heavy imports).
set_environment_defaults()

BUCKET = "bench-shop"


def _run(
    root: Path, live_weeks: int, put: Callable[[str, str, bytes], None], landing: str, labels: str
) -> tuple[list[tuple[object, ...]], float]:
    """Bootstrap ``root`` and run the live weeks; each cycle's decision fields, the flows' time."""
    from usecase_variant import write_shipped_variant

    from flows.cycle import bootstrap, monitor_landed
    from mlops_core.simulator import RetailDemandSimulator, SimulatorConfig

    # Fewer weeks than the demo's event schedule needs: a quiet simulator (the warm-up).
    events = {} if live_weeks >= 18 else {"events": ()}
    sim = RetailDemandSimulator(SimulatorConfig(seed=7, live_periods=live_weeks, **events))
    usecase = str(write_shipped_variant(root, {"data": {"landing": landing, "labels": labels}}))
    for p in range(sim.config.initial_periods):
        put("landing", f"period_{p:03d}.csv", sim.batch(p).to_csv(index=False).encode())
        put("labels", f"labels_{p:03d}.csv", sim.labels(p).to_csv(index=False).encode())
    # Only the flows are timed, not the producers' writes or uploads.
    started = time.perf_counter()
    results = [bootstrap(usecase, str(root))]
    seconds = time.perf_counter() - started
    first_live = sim.config.initial_periods
    for p in range(first_live, sim.total_periods):
        put("landing", f"period_{p:03d}.csv", sim.batch(p).to_csv(index=False).encode())
        for q in sim.labels_arriving_at(p):
            if q >= first_live:
                put("labels", f"labels_{q:03d}.csv", sim.labels(q).to_csv(index=False).encode())
        started = time.perf_counter()
        results.extend(monitor_landed(usecase, str(root)).cycles)
        seconds += time.perf_counter() - started
    rows = [
        (
            r.batch,
            r.validation,
            r.decision,
            r.reason,
            r.promotion,
            r.champion_version,
            None if r.realized is None else round(r.realized, 9),
        )
        for r in results
    ]
    return rows, seconds


#: The shipped use case's own landing and labels folders (relative to the data root).
LOCAL_FOLDERS = ("retail_demand/landing", "retail_demand/labels")


def put_local_to(root: Path) -> Callable[[str, str, bytes], None]:
    """A producer writing into the use case's local landing or labels folder of ``root``."""

    def put(kind: str, name: str, data: bytes) -> None:
        folder = root / "retail_demand" / kind
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)

    return put


def _time_fetches() -> tuple[list[float], list[int]]:
    """From now on, the seconds of each fetch from a bucket and the bytes it moved."""
    from tasks import remote_folders

    seconds: list[float] = []
    moved: list[int] = []
    fetch = remote_folders.fetch_arrivals

    def timed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        started = time.perf_counter()
        fetched = fetch(*args, **kwargs)
        seconds.append(time.perf_counter() - started)
        moved.extend(f.size for f in fetched)
        return fetched

    remote_folders.fetch_arrivals = timed
    return seconds, moved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--live-weeks", type=int, default=26, help="Weeks after the bootstrap.")
    args = parser.parse_args()

    from s3_server import s3_environment, s3_server
    from scale import host_speed_seconds

    from flows.local import without_heartbeats

    print(f"host speed: {host_speed_seconds():.2f} s (fixed one-core workload)")
    with (
        tempfile.TemporaryDirectory(prefix="mlops-bench-s3-") as work,
        s3_server(Path(work) / "moto.log") as env,
        s3_environment(env),
        without_heartbeats(),
    ):
        local_root = Path(work) / "local"
        put_local = put_local_to(local_root)

        fs = fsspec.filesystem("s3")
        fs.mkdir(BUCKET)
        uploaded: dict[str, str] = {}

        def put_bucket(kind: str, name: str, data: bytes) -> None:
            with fsspec.open(f"s3://{BUCKET}/retail/{kind}/{name}", "wb") as out:
                out.write(data)
            uploaded[f"{kind}/{name}"] = hashlib.sha256(data).hexdigest()

        # A warm-up week in a throwaway root first: this process's first flow
        # run starts Prefect's server and MLflow's database (tens of seconds),
        # which would otherwise count against whichever root ran first.
        _run(Path(work) / "warm-up", 1, put_local_to(Path(work) / "warm-up"), *LOCAL_FOLDERS)
        fetch_seconds, fetched_bytes = _time_fetches()
        bucket_root = Path(work) / "bucket"
        bucket_rows, bucket_seconds = _run(
            bucket_root,
            args.live_weeks,
            put_bucket,
            f"s3://{BUCKET}/retail/landing",
            f"s3://{BUCKET}/retail/labels",
        )
        local_rows, local_seconds = _run(local_root, args.live_weeks, put_local, *LOCAL_FOLDERS)
        fs.invalidate_cache()
        left = fs.find(f"{BUCKET}/retail")
        # Each batch is archived (accepted) or quarantined (refused), byte for byte.
        kept = {
            f"landing/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest()
            for folder in ("archive", "quarantine")
            for p in (bucket_root / "retail_demand" / folder).iterdir()
            if p.is_file() and not p.name.endswith(".reason.json")
        }

    print(f"{'batch':<16} {'validation':<10} {'decision':<10} {'reason':<28} promotion champion")
    for row in bucket_rows:
        batch, validation, decision, reason, promotion, champion, _ = row
        print(
            f"{batch:<16} {validation:<10} {decision:<10} {reason:<28} "
            f"{promotion or '-':<9} {champion or '-'}"
        )
    same = local_rows == bucket_rows
    print(
        f"cycles: {len(bucket_rows)}; the same decisions through the bucket and the folder: {same}"
    )
    if not same:
        for a, b in zip(local_rows, bucket_rows, strict=False):
            if a != b:
                print(f"  folder {a}\n  bucket {b}")
    batches = {k: v for k, v in uploaded.items() if k.startswith("landing/")}
    byte_for_byte = all(kept.get(k) == v for k, v in batches.items())
    print(
        f"put in the bucket: {len(batches)} batches, {len(uploaded) - len(batches)} label files; "
        f"left in it: {len(left)}; each batch archived or quarantined byte for byte: "
        f"{byte_for_byte}"
    )
    print(
        f"time: folder {local_seconds:.1f} s, bucket {bucket_seconds:.1f} s "
        f"(ratio {bucket_seconds / local_seconds:.2f}); of the bucket's, moving the files "
        f"into the data root took {sum(fetch_seconds):.1f} s over {len(fetch_seconds)} fetches "
        f"({sum(fetched_bytes) / 1e6:.1f} MB)"
    )
    print(f"host speed: {host_speed_seconds():.2f} s (fixed one-core workload)")
    if not (same and byte_for_byte and not left):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
