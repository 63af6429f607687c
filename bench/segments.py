"""Per-store models of Walmart store sales: fitted on 1 and on 2 Dask workers.

    uv run python bench/segments.py            # print the speed-up
    uv run python bench/segments.py --pairs 15 --json bench/results/segments.json

The use case of ``usecases/walmart_sales.yaml`` with ``model.per_segment`` on:
one model per store (45) plus one on every row, fitted on the whole file of
../shared/data/walmart_sales. The fits go through the retrain's own
submission (``flows.challenger.fit_segments_on``: ``fit segments`` tasks on the
flow's task runner) on two local Dask clusters open side by side, of 1 and of 2
worker processes (one thread each). Each cluster first fits every store once:
that round includes starting the workers and their imports of the project
(reported, not compared). The timed rounds then run on the warm workers, as a
long-lived cluster serves every retrain, in pairs that alternate the order
(1 then 2, 2 then 1, ...), so a drift in the machine's speed hits both sides.

On a shared machine other processes take the cores the workers need. Before
each timed round the bench waits (up to ``--settle`` seconds) until they use
less than ``QUIET_CORES``, and it measures how many cores they used during the
round: the machine's busy time minus the CPU time of this process and its
children. A pair is clean when neither of its rounds was disturbed; the
speed-up is the median of the clean pairs' ratios, reported with their range.
Every round, clean or not, is in the JSON with the CPU time of each part: the
flow's process (Prefect client, Dask scheduler and nannies), the round's
workers, the other cluster's idle workers, and the Prefect API server. The two
clusters' models must predict the same.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from flows.cli import set_environment_defaults  # noqa: E402

set_environment_defaults()
DATA = REPO.parent / "shared" / "data" / "walmart_sales" / "walmart_store_sales.csv"

#: Speed-up of 2 workers over 1 the product must reach.
TARGET_SPEEDUP = 1.6
#: Cores other processes may use on average during a round that still counts.
#: Against two busy workers, a fifth of a core stretches a round by about a tenth.
QUIET_CORES = 0.2
#: Fewest clean pairs for a verdict.
MIN_CLEAN_PAIRS = 3
#: Seconds the idle clusters are measured before the timed rounds.
IDLE_SECONDS = 3.0


def _usecase() -> Any:
    import yaml

    from mlops_core.config import parse_usecase

    doc = yaml.safe_load((REPO / "usecases" / "walmart_sales.yaml").read_text(encoding="utf-8"))
    doc["model"]["per_segment"] = True
    doc["model"]["min_segment_rows"] = 30
    return parse_usecase(doc, "walmart_sales.yaml with per_segment")


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds used so far: by the whole machine, and by this process tree per pid."""

    machine_busy: float
    by_pid: Mapping[int, float]

    @classmethod
    def take(cls) -> CpuSnapshot:
        """Read the counters now."""
        import psutil

        t = psutil.cpu_times()
        # Guest time is counted in user time too; time waiting for I/O is idle.
        idle = t.idle + getattr(t, "iowait", 0.0) + getattr(t, "guest", 0.0)
        busy = sum(t) - idle - getattr(t, "guest_nice", 0.0)
        me = psutil.Process()
        mine = me.cpu_times()
        by_pid = {me.pid: mine.user + mine.system}
        for child in me.children(recursive=True):
            with contextlib.suppress(psutil.Error):  # a process that just ended
                times = child.cpu_times()
                by_pid[child.pid] = times.user + times.system
        return cls(busy, by_pid)


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds each part of the bench used over a span, and what other processes used.

    Attributes:
        flow: The flow's process: Prefect client, Dask scheduler and nannies.
        workers: The worker processes of the cluster that ran the round.
        idle_workers: The other cluster's workers, idle meanwhile.
        server: This process's other children: the Prefect API server.
        others_cores: Cores the machine's other processes used on average.
    """

    flow: float
    workers: float
    idle_workers: float
    server: float
    others_cores: float


def cpu_use(
    before: CpuSnapshot,
    after: CpuSnapshot,
    seconds: float,
    busy_workers: set[int],
    idle_workers: set[int],
) -> CpuUse:
    """Share out the CPU used between two snapshots ``seconds`` apart."""
    used = {pid: cpu - before.by_pid.get(pid, 0.0) for pid, cpu in after.by_pid.items()}
    flow = used.pop(os.getpid())
    workers = sum(used.pop(pid, 0.0) for pid in busy_workers)
    idle = sum(used.pop(pid, 0.0) for pid in idle_workers)
    server = sum(used.values())
    ours = flow + workers + idle + server
    others = max(0.0, after.machine_busy - before.machine_busy - ours) / seconds
    return CpuUse(flow, workers, idle, server, others)


@dataclass(frozen=True)
class Round:
    """One timed round: every fit on one cluster.

    Attributes:
        workers: Worker processes of the cluster.
        seconds: Wall time of the round.
        waited_seconds: Time spent before it waiting for other processes to settle.
        cpu: CPU time of each part during the round.
    """

    workers: int
    seconds: float
    waited_seconds: float
    cpu: CpuUse

    @property
    def clean(self) -> bool:
        """Other processes left the cores to the round."""
        return self.cpu.others_cores < QUIET_CORES


def _wait_until_quiet(limit_seconds: float) -> float:
    """Wait until other processes use under ``QUIET_CORES`` for a second; the time waited."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit_seconds:
        before = CpuSnapshot.take()
        time.sleep(1.0)
        if cpu_use(before, CpuSnapshot.take(), 1.0, set(), set()).others_cores < QUIET_CORES:
            break
    return time.perf_counter() - started


def _timed_round(
    workers: int,
    fit: Callable[[], list[Any]],
    pids: Mapping[int, set[int]],
    settle: float,
) -> tuple[list[Any], Round]:
    """One round of ``fit`` on the cluster of ``workers``, timed and its CPU shared out."""
    waited = _wait_until_quiet(settle)
    before = CpuSnapshot.take()
    started = time.perf_counter()
    fitted = fit()
    seconds = time.perf_counter() - started
    idle = set().union(*(p for w, p in pids.items() if w != workers))
    use = cpu_use(before, CpuSnapshot.take(), seconds, pids[workers], idle)
    return fitted, Round(workers, seconds, waited, use)


def _clean(pair: tuple[Round, Round]) -> bool:
    return pair[0].clean and pair[1].clean


def measure(pairs: int, max_pairs: int, settle: float, budget: float) -> dict[str, Any]:
    """Fit every store's model, alternately on local Dask clusters of 1 and 2 processes.

    Args:
        pairs: Clean pairs of rounds wanted.
        max_pairs: Most pairs to run while waiting for clean ones.
        settle: Longest wait, before each round, for other processes to settle.
        budget: Seconds after which no new pair is started.

    Returns:
        The start-up rounds' seconds, the idle clusters' CPU use, every timed
        pair, and both clusters' predictions on the training rows.
    """
    from prefect import flow

    from flows.challenger import fit_segments_on
    from flows.runners import make_task_runner, parse_runner
    from mlops_core.features import build_pipeline, model_input
    from mlops_core.segmented import SegmentedModel, segment_jobs
    from tasks import storage
    from tasks.backtest import prepare

    uc = _usecase()
    frame = prepare(storage.read_table(DATA), uc).frame
    features = model_input(frame, uc)
    target = frame[uc.data.target_column].to_numpy()
    jobs = segment_jobs(features, target, uc.data.segment_column, uc.model.min_segment_rows)

    @flow(name="bench-per-store-fits")
    def fit_alternately() -> dict[str, Any]:
        template = build_pipeline(uc)
        with (
            make_task_runner(parse_runner("dask:1")) as one,
            make_task_runner(parse_runner("dask:2")) as two,
        ):
            runners = {1: one, 2: two}

            def fit(workers: int) -> list[Any]:
                return fit_segments_on(runners[workers], template, jobs, workers)

            first_round: dict[int, float] = {}
            fitted: dict[int, list[Any]] = {}
            for workers in runners:
                # Starts the workers, which import the project: seconds a long-lived
                # cluster (dask:tcp://...) pays once.
                started = time.perf_counter()
                fitted[workers] = fit(workers)
                first_round[workers] = time.perf_counter() - started
            pids = {w: set(r.client.run(os.getpid).values()) for w, r in runners.items()}
            before = CpuSnapshot.take()
            time.sleep(IDLE_SECONDS)
            idle = cpu_use(before, CpuSnapshot.take(), IDLE_SECONDS, set(), pids[1] | pids[2])
            timed: list[tuple[Round, Round]] = []
            deadline = time.perf_counter() + budget
            while (
                len(timed) < max_pairs
                and sum(_clean(p) for p in timed) < pairs
                and time.perf_counter() < deadline
            ):
                pair: dict[int, Round] = {}
                for w in (1, 2) if len(timed) % 2 == 0 else (2, 1):
                    fitted[w], pair[w] = _timed_round(w, lambda w=w: fit(w), pids, settle)
                timed.append((pair[1], pair[2]))
        models = {
            w: SegmentedModel(uc.data.segment_column, template).assemble(jobs, fitted[w])
            for w in runners
        }
        return {
            "fits": len(jobs),
            "first_round_seconds": first_round,
            "idle": idle,
            "pairs": timed,
            "predictions": {w: m.predict(features) for w, m in models.items()},
        }

    return fit_alternately()


def summarize(measured: Mapping[str, Any]) -> dict[str, Any]:
    """The speed-up of the clean pairs (of all pairs when none is clean) and its spread."""
    import numpy as np

    pairs: list[tuple[Round, Round]] = measured["pairs"]
    clean = [p for p in pairs if _clean(p)]
    counted = clean or pairs
    ratios = [one.seconds / two.seconds for one, two in counted]
    same = bool(np.array_equal(measured["predictions"][1], measured["predictions"][2]))
    speedup = statistics.median(ratios)

    def side(i: int) -> dict[str, Any]:
        rounds = [p[i] for p in counted]
        seconds = [r.seconds for r in rounds]
        return {
            "workers": i + 1,
            "fits": measured["fits"],
            "first_round_seconds": measured["first_round_seconds"][i + 1],
            "fit_seconds": statistics.median(seconds),
            "fit_seconds_range": [min(seconds), max(seconds)],
            "median_cpu_seconds": {
                part: statistics.median(getattr(r.cpu, part) for r in rounds)
                for part in ("flow", "workers", "idle_workers", "server")
            },
        }

    idle: CpuUse = measured["idle"]
    return {
        "one_worker": side(0),
        "two_workers": side(1),
        "speedup": speedup,
        "speedup_range": [min(ratios), max(ratios)],
        "pairs_counted": len(counted),
        "pairs_clean": len(clean),
        "pairs_run": len(pairs),
        "quiet_cores": QUIET_CORES,
        "idle_cores": {
            part: getattr(idle, part) / IDLE_SECONDS for part in ("flow", "idle_workers", "server")
        },
        "same_predictions": same,
        "target_speedup": TARGET_SPEEDUP,
        "met": bool(len(clean) >= MIN_CLEAN_PAIRS and speedup >= TARGET_SPEEDUP and same),
        "rounds": [
            {**asdict(r), "clean": r.clean, "pair": i} for i, pair in enumerate(pairs) for r in pair
        ],
    }


def report(result: Mapping[str, Any]) -> str:
    """The result in a few lines: the speed-up, then every round."""
    one, two = result["one_worker"], result["two_workers"]
    low, high = result["speedup_range"]
    if result["pairs_clean"] >= MIN_CLEAN_PAIRS:
        verdict = "met" if result["met"] else "NOT met"
    else:
        verdict = (
            f"no verdict: {result['pairs_clean']} of {result['pairs_run']} pairs ran while "
            f"other processes used under {QUIET_CORES} of a core"
        )
    idle = result["idle_cores"]
    lines = [
        f"Walmart per-store fits ({one['fits']} models) on warm workers, median of "
        f"{result['pairs_counted']} pairs of rounds: 1 worker {one['fit_seconds']:.2f} s, "
        f"2 workers {two['fit_seconds']:.2f} s: speed-up {result['speedup']:.2f}x (pairs "
        f"{low:.2f}-{high:.2f}x; target {TARGET_SPEEDUP}x: {verdict}); same predictions: "
        f"{result['same_predictions']}.",
        f"First rounds, with worker start-up: {one['first_round_seconds']:.1f} s and "
        f"{two['first_round_seconds']:.1f} s. Idle cores: flow process {idle['flow']:.3f}, "
        f"3 workers {idle['idle_workers']:.3f}, API server {idle['server']:.3f}.",
    ]
    for r in result["rounds"]:
        cpu = r["cpu"]
        lines.append(
            f"  pair {r['pair']}, {r['workers']} worker(s): {r['seconds']:.2f} s; CPU s: flow "
            f"{cpu['flow']:.2f}, workers {cpu['workers']:.2f}, idle workers "
            f"{cpu['idle_workers']:.2f}, server {cpu['server']:.2f}; other processes "
            f"{cpu['others_cores']:.2f} cores{'' if r['clean'] else ' (disturbed)'}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=9, help="Clean pairs of rounds wanted.")
    parser.add_argument(
        "--max-pairs", type=int, default=20, help="Most pairs to run while waiting for clean ones."
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=60.0,
        help="Longest wait in seconds, before each round, for other processes to settle.",
    )
    parser.add_argument(
        "--budget", type=float, default=600.0, help="Seconds after which no new pair starts."
    )
    parser.add_argument("--json", type=Path, default=None, help="Write the results here.")
    args = parser.parse_args(argv)
    if not DATA.exists():
        raise SystemExit(f"{DATA} is missing: see usecases/walmart_sales.yaml for the source")
    if not 1 <= args.pairs <= args.max_pairs:
        raise SystemExit("--pairs must be at least 1 and at most --max-pairs")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        result = summarize(measure(args.pairs, args.max_pairs, args.settle, args.budget))
    print(report(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0 if result["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
