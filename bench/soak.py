"""Soak test: many consecutive simulator cycles through the real flows in one process.

    uv run python bench/soak.py               # 200 cycles (about 15 minutes on 2 cores)
    uv run python bench/soak.py --cycles 50
    uv run python bench/soak.py --label-fault-every 0   # clean label files only
    uv run python bench/soak.py --profile-cycles 16,17,189,190 --profile-dir prof

Bootstraps the retail demand use case, then lands one simulated week at a time
(labels arriving late, as in the demo) and runs a ``monitor`` cycle on it. After
every cycle it records the process's resident memory and the cycle's wall time.
At the end it prints, measured in this run:

- memory growth: median resident memory of the last 20 cycles against the 20
  after the warm-up (target under 10%; single samples and the peak are printed
  too);
- cycle-time drift: median cycle time of the last 20 cycles against the 20
  after the warm-up (target under 20%; retraining cycles are slower, so both
  medians mix them alike), with the process's CPU time beside it (other work
  on the cores inflates wall time, hardly CPU time);
- reconciliation: every landed batch is in the ledger exactly once, scored or
  quarantined, and nothing is left in landing;
- label faults: every ``--label-fault-every``-th live week's label file (5 by
  default) carries one fault, in turn: conflicting duplicate ids, blank
  targets, a decimal-comma target, negative targets, a wrong header, too many
  negative targets. The label ledger must hold, for each label file landed,
  exactly the decision its fault calls for (accepted with the bad rows left
  out and counted under their rule, or quarantined), and clean files accepted
  whole.

The exit status is 0 only when memory, cycle time, reconciliation and the label
gate all meet their targets.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from flows.cli import set_environment_defaults  # noqa: E402
from mlops_core.reasons import ReasonCode  # noqa: E402

# The same process defaults as the `mlops` command (set before the heavy imports).
set_environment_defaults()
WARM_UP = 10
WINDOW = 20
MEMORY_TARGET = 0.10
CYCLE_TIME_TARGET = 0.20
#: The label faults mixed in, in turn: what each does to a week's label file
#: (``faulty_labels``) and what the label gate must decide about it.
LABEL_FAULTS = (
    ReasonCode.CONFLICTING_DUPLICATES,
    ReasonCode.TARGET_MISSING,
    ReasonCode.TARGET_NOT_NUMERIC,
    ReasonCode.TARGET_OUT_OF_RANGE,
    "wrong_header",
    "too_many_bad_rows",
)


def rss_mib() -> float:
    """Resident memory of this process, MiB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def faulty_labels(labels, fault: str, target: str):
    """A week's label file with one fault, and the decision the gate must make.

    Returns:
        The frame to write, the expected action and the expected rows per rule.
    """
    import pandas as pd

    fault = str(fault)  # a rule's name, as the label gate's findings have it
    out = labels.copy()
    if fault == ReasonCode.CONFLICTING_DUPLICATES:
        twins = out.iloc[:10].assign(**{target: out[target].iloc[:10] + 100.0})
        return pd.concat([out, twins], ignore_index=True), "accept", {fault: 20}
    if fault == ReasonCode.TARGET_MISSING:
        out.loc[out.index[:15], target] = None  # the sensor failed: labels not known
        return out, "accept", {fault: 15}
    if fault == ReasonCode.TARGET_NOT_NUMERIC:
        out[target] = out[target].astype(object)
        out.loc[out.index[:3], target] = "12,5"  # a decimal comma
        return out, "accept", {fault: 3}
    if fault == ReasonCode.TARGET_OUT_OF_RANGE:
        rows = out.index[:4]
        out.loc[rows, target] = -out.loc[rows, target] - 1.0  # a sign flipped
        return out, "accept", {fault: 4}
    if fault == "wrong_header":
        return out.rename(columns={target: "count"}), "quarantine", {}
    if fault == "too_many_bad_rows":
        rows = out.index[: int(len(out) * 0.3)]
        out.loc[rows, target] = -out.loc[rows, target] - 1.0
        return out, "quarantine", {str(ReasonCode.TARGET_OUT_OF_RANGE): len(rows)}
    raise ValueError(f"unknown label fault {fault!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--label-fault-every",
        type=int,
        default=5,
        help="Every k-th live week's label file carries a fault (0: none).",
    )
    parser.add_argument("--json", type=Path, help="Also write the per-cycle figures here.")
    parser.add_argument(
        "--profile-cycles",
        default="",
        help="Comma-separated cycle numbers (1 = first after the bootstrap) to run under "
        "cProfile; each writes cycle-<n>.prof into --profile-dir (read with pstats).",
    )
    parser.add_argument("--profile-dir", type=Path, default=Path("."))
    args = parser.parse_args(argv)
    if args.cycles < WARM_UP + 2 * WINDOW:
        parser.error(f"--cycles must be at least {WARM_UP + 2 * WINDOW}")
    profiled = {int(n) for n in args.profile_cycles.split(",") if n.strip()}

    from flows.cycle import bootstrap, monitor
    from flows.demo import SHIPPED_USECASE
    from flows.local import without_heartbeats
    from mlops_core.simulator import RetailDemandSimulator, SimulatorConfig
    from tasks import storage
    from tasks.labels import label_ledger_decisions

    sim = RetailDemandSimulator(SimulatorConfig(seed=args.seed, live_periods=args.cycles))
    usecase = storage.load_usecase_file(SHIPPED_USECASE)
    with tempfile.TemporaryDirectory(prefix="mlops-soak-") as tmp:
        root = Path(tmp)
        paths = storage.UseCasePaths.for_usecase(usecase, root)
        for p in range(sim.config.initial_periods):
            sim.batch(p).to_csv(paths.landing / f"period_{p:03d}.csv", index=False)
            sim.labels(p).to_csv(paths.labels / f"labels_{p:03d}.csv", index=False)
        landed = sim.config.initial_periods
        bootstrap(str(SHIPPED_USECASE), str(root))

        cycles = []
        first_live = sim.config.initial_periods
        target = sim.target_column
        # Label file name -> (fault, expected action, expected rows per rule).
        expected = {f"labels_{q:03d}.csv": ("clean", "accept", {}) for q in range(first_live)}
        faults_landed = 0
        for p in range(first_live, sim.total_periods):
            name = f"period_{p:03d}.csv"
            sim.batch(p).to_csv(paths.landing / name, index=False)
            landed += 1
            for q in sim.labels_arriving_at(p):
                if q >= first_live:
                    labels, fault = sim.labels(q), "clean"
                    every = args.label_fault_every
                    if every and (q - first_live) % every == every - 1:
                        fault = LABEL_FAULTS[faults_landed % len(LABEL_FAULTS)]
                        faults_landed += 1
                        labels, action, rules = faulty_labels(labels, fault, target)
                    else:
                        action, rules = "accept", {}
                    label_file = f"labels_{q:03d}.csv"
                    labels.to_csv(paths.labels / label_file, index=False)
                    expected[label_file] = (fault, action, rules)
            profiler = cProfile.Profile() if len(cycles) + 1 in profiled else None
            started, cpu_started = time.perf_counter(), time.process_time()
            # As `mlops monitor` runs a cycle: without the heartbeat thread, whose
            # 1 s sleep steps would hold every run up to 1 s (flows/local.py) and
            # make cycle times move in whole seconds.
            with without_heartbeats():
                if profiler is not None:
                    profiler.enable()
                row = monitor(str(SHIPPED_USECASE), name, str(root))
                if profiler is not None:
                    profiler.disable()
            seconds = time.perf_counter() - started
            cpu_seconds = time.process_time() - cpu_started
            if profiler is not None:
                args.profile_dir.mkdir(parents=True, exist_ok=True)
                profiler.dump_stats(args.profile_dir / f"cycle-{len(cycles) + 1}.prof")
            gc.collect()
            cycles.append(
                {
                    "period": p,
                    "seconds": seconds,
                    "cpu_seconds": cpu_seconds,
                    "rss_mib": rss_mib(),
                    "decision": row.decision,
                    "validation": row.validation,
                }
            )
            if len(cycles) % 20 == 0:
                print(
                    f"cycle {len(cycles)}: {seconds:.2f} s, {cycles[-1]['rss_mib']:.0f} MiB",
                    flush=True,
                )

        # The bootstrap's own decision is in the ledger too (batch "bootstrap"); it
        # is no landed batch.
        entries = [e for e in storage.ledger_entries(paths.ledger) if e.batch != "bootstrap"]
        shas = [e.sha256 for e in entries]
        scored = sum(1 for e in entries if e.gate == "pass")
        quarantined = sum(1 for e in entries if e.gate == "fail")
        left = list(paths.landing.iterdir())
        gated = label_ledger_decisions(paths)
        in_label_quarantine = sorted(
            f.name
            for f in (paths.quarantine / "labels").glob("*")
            if not f.name.endswith(".reason.json")
        )

    # The label gate: one decision per landed label file, the one its fault calls for.
    label_mismatches = []
    for decision in gated:
        fault, action, rules = expected.get(decision.file, ("unexpected", "-", {}))
        found = {f.rule: f.rows for f in decision.findings if f.dropped}
        if decision.action != action or found != rules:
            label_mismatches.append(
                f"{decision.file} ({fault}): {decision.action} {found}, expected {action} {rules}"
            )
    decided = [x.file for x in gated]
    quarantined_labels = sorted(x.file for x in gated if x.action == "quarantine")
    labels_ok = (
        sorted(decided) == sorted(expected)
        and not label_mismatches
        and quarantined_labels == in_label_quarantine
    )
    by_fault: dict[str, int] = {}
    for fault, _, _ in expected.values():
        by_fault[fault] = by_fault.get(fault, 0) + 1
    left_out: dict[str, int] = {}
    for decision in gated:
        for f in decision.findings:
            if f.dropped and decision.action == "accept":
                left_out[f.rule] = left_out.get(f.rule, 0) + f.rows

    # Both figures compare medians of two windows of cycles: resident memory
    # moves by +-15 MiB from one cycle to the next (a cycle that compacts the
    # accepted labels reads and writes them all), so one sample at each end
    # would measure where the last cycle fell, not a trend.
    base = statistics.median(c["rss_mib"] for c in cycles[WARM_UP : WARM_UP + WINDOW])
    end = statistics.median(c["rss_mib"] for c in cycles[-WINDOW:])
    growth = end / base - 1
    early = statistics.median(c["seconds"] for c in cycles[WARM_UP : WARM_UP + WINDOW])
    late = statistics.median(c["seconds"] for c in cycles[-WINDOW:])
    drift = late / early - 1
    # CPU time of this process (every thread): unlike wall time, other work on
    # the machine's cores hardly moves it, so it tells growth from contention.
    cpu_early = statistics.median(c["cpu_seconds"] for c in cycles[WARM_UP : WARM_UP + WINDOW])
    cpu_late = statistics.median(c["cpu_seconds"] for c in cycles[-WINDOW:])
    memory_ok = growth < MEMORY_TARGET
    time_ok = drift < CYCLE_TIME_TARGET
    print(f"\n{len(cycles)} cycles after the bootstrap, seed {args.seed}")
    print(
        f"memory: median {base:.0f} MiB (cycles {WARM_UP + 1}-{WARM_UP + WINDOW}), "
        f"{end:.0f} MiB (last {WINDOW}): {growth:+.1%} (target under +{MEMORY_TARGET:.0%}): "
        f"{'OK' if memory_ok else 'OVER TARGET'}; single samples: "
        f"{cycles[WARM_UP - 1]['rss_mib']:.0f} MiB after cycle {WARM_UP}, "
        f"{cycles[-1]['rss_mib']:.0f} MiB after cycle {len(cycles)}, "
        f"peak {max(c['rss_mib'] for c in cycles):.0f} MiB"
    )
    print(
        f"cycle time: median {early:.2f} s (cycles {WARM_UP + 1}-{WARM_UP + WINDOW}), "
        f"{late:.2f} s (last {WINDOW}): {drift:+.1%} (target under +{CYCLE_TIME_TARGET:.0%}): "
        f"{'OK' if time_ok else 'OVER TARGET'}; CPU time of the process: median "
        f"{cpu_early:.2f} s, then {cpu_late:.2f} s ({cpu_late / cpu_early - 1:+.1%}); "
        f"load average at the end {os.getloadavg()[0]:.1f}"
    )
    ok = len(shas) == len(set(shas)) == landed and scored + quarantined == landed and not left
    print(
        f"reconciliation: {landed} landed = {scored} scored + {quarantined} quarantined; "
        f"ledger entries {len(shas)} (unique {len(set(shas))}); left in landing {len(left)}: "
        f"{'OK' if ok else 'MISMATCH'}"
    )
    faults = ", ".join(f"{n} {k}" for k, n in sorted(by_fault.items()) if k != "clean")
    print(
        f"label gate: {len(expected)} label files landed ({by_fault.get('clean', 0)} clean; "
        f"{faults or 'no faults'}); {len(decided)} decided = "
        f"{len(decided) - len(quarantined_labels)} accepted + {len(quarantined_labels)} "
        f"quarantined ({len(in_label_quarantine)} in quarantine/labels); rows left out of "
        f"accepted files: {', '.join(f'{n} {k}' for k, n in sorted(left_out.items())) or 'none'}"
        f": {'OK' if labels_ok else 'MISMATCH'}"
    )
    for line in label_mismatches[:10]:
        print(f"  {line}")
    if args.json:
        args.json.write_text(json.dumps(cycles, indent=1))
    return 0 if ok and labels_ok and memory_ok and time_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
