"""Soak test: many consecutive simulator cycles through the real flows in one process.

    uv run python bench/soak.py               # 200 cycles (about 12 minutes on 2 cores)
    uv run python bench/soak.py --cycles 50

Bootstraps the retail demand use case, then lands one simulated week at a time
(labels arriving late, as in the demo) and runs a ``monitor`` cycle on it. After
every cycle it records the process's resident memory and the cycle's wall time.
At the end it prints, measured in this run:

- memory growth: resident memory after the last cycle against after the
  warm-up cycles (target under 10%);
- cycle-time drift: median cycle time of the last 20 cycles against the 20
  after the warm-up (target under 20%; retraining cycles are slower, so both
  medians mix them alike);
- reconciliation: every landed batch is in the ledger exactly once, scored or
  quarantined, and nothing is left in landing.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from flows.cli import set_environment_defaults  # noqa: E402

# The same process defaults as the `mlops` command (set before the heavy imports).
set_environment_defaults()
WARM_UP = 10
WINDOW = 20


def rss_mib() -> float:
    """Resident memory of this process, MiB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="Also write the per-cycle figures here.")
    args = parser.parse_args(argv)
    if args.cycles < WARM_UP + 2 * WINDOW:
        parser.error(f"--cycles must be at least {WARM_UP + 2 * WINDOW}")

    from flows.cycle import bootstrap, monitor
    from flows.demo import SHIPPED_USECASE
    from mlops_core.simulator import RetailDemandSimulator, SimulatorConfig
    from tasks import storage

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
        for p in range(first_live, sim.total_periods):
            name = f"period_{p:03d}.csv"
            sim.batch(p).to_csv(paths.landing / name, index=False)
            landed += 1
            for q in sim.labels_arriving_at(p):
                if q >= first_live:
                    sim.labels(q).to_csv(paths.labels / f"labels_{q:03d}.csv", index=False)
            started = time.perf_counter()
            row = monitor(str(SHIPPED_USECASE), name, str(root))
            seconds = time.perf_counter() - started
            gc.collect()
            cycles.append(
                {
                    "period": p,
                    "seconds": seconds,
                    "rss_mib": rss_mib(),
                    "decision": row.get("decision"),
                    "validation": row.get("validation"),
                }
            )
            if len(cycles) % 20 == 0:
                print(
                    f"cycle {len(cycles)}: {seconds:.2f} s, {cycles[-1]['rss_mib']:.0f} MiB",
                    flush=True,
                )

        # The bootstrap's own decision is in the ledger too (batch "bootstrap"); it
        # is no landed batch.
        entries = [
            e
            for e in (json.loads(x) for x in paths.ledger.read_text().splitlines())
            if e["batch"] != "bootstrap"
        ]
        shas = [e["sha256"] for e in entries]
        scored = sum(1 for e in entries if e["gate"] == "pass")
        quarantined = sum(1 for e in entries if e["gate"] == "fail")
        left = list(paths.landing.iterdir())

    base = cycles[WARM_UP - 1]["rss_mib"]
    growth = cycles[-1]["rss_mib"] / base - 1
    early = statistics.median(c["seconds"] for c in cycles[WARM_UP : WARM_UP + WINDOW])
    late = statistics.median(c["seconds"] for c in cycles[-WINDOW:])
    drift = late / early - 1
    print(f"\n{len(cycles)} cycles after the bootstrap, seed {args.seed}")
    print(
        f"memory: {base:.0f} MiB after cycle {WARM_UP}, {cycles[-1]['rss_mib']:.0f} MiB "
        f"after cycle {len(cycles)}: {growth:+.1%} (target under +10%)"
    )
    print(
        f"cycle time: median {early:.2f} s (cycles {WARM_UP + 1}-{WARM_UP + WINDOW}), "
        f"{late:.2f} s (last {WINDOW}): {drift:+.1%} (target under +20%)"
    )
    ok = len(shas) == len(set(shas)) == landed and scored + quarantined == landed and not left
    print(
        f"reconciliation: {landed} landed = {scored} scored + {quarantined} quarantined; "
        f"ledger entries {len(shas)} (unique {len(set(shas))}); left in landing {len(left)}: "
        f"{'OK' if ok else 'MISMATCH'}"
    )
    if args.json:
        args.json.write_text(json.dumps(cycles, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
