"""How well does the product notice decay, and say why? Measured on known truth.

Replays simulated scenarios whose events have a known type and period
(control, a covariate shift that moves rows into harder cases, a concept
drift) over several seeds, for a regressor and a classifier, through the same
functions the ``monitor`` flow calls: ``assess_performance`` (realized and
label-free estimated performance), the Evidently drift adapter,
``attribute_decay``, ``build_retrain_inputs`` and ``decide_retrain``. The
champion is never replaced, so every alarm is about the model that was
trained before the event.

Prints, per task: detection delay per event type (periods from the labels of
the event's first period arriving to the first decay alarm), the false-alarm
rate over stable periods, attribution accuracy, and the error of the
label-free estimate against realized performance on stable periods. Then, on
the real Elec2 data, estimated against realized accuracy week by week and
their correlation.

    uv run python bench/detection.py --seeds 5
    uv run python bench/detection.py --seeds 5 --elec2 path/to/elec2.csv

Without ``--elec2`` it reads ../shared/data/elec2/elec2.csv beside the
repository, else the copy shipped in tests/data/real/elec2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mlops_core.config import UseCase  # noqa: E402
from mlops_core.cycle import DecisionHistory, build_retrain_inputs  # noqa: E402
from mlops_core.decisions import TrainingWindow  # noqa: E402
from mlops_core.features import model_input  # noqa: E402
from mlops_core.monitoring import assess_performance  # noqa: E402
from mlops_core.reasons import ReasonCode  # noqa: E402
from mlops_core.retrain import decide_retrain  # noqa: E402
from mlops_core.simulator import RetailDemandSimulator, evaluation_scenarios  # noqa: E402
from mlops_core.stats import attribute_decay  # noqa: E402
from mlops_core.training import (  # noqa: E402
    TrainingResult,
    decay_reference_of,
    predict,
    train_model,
)
from tasks.storage import load_usecase_file  # noqa: E402

USECASES = {
    "regression": REPO / "usecases" / "retail_demand.yaml",
    "classification": REPO / "usecases" / "retail_demand_up.yaml",
}
TARGETS = {"false_alarm_rate": 0.05, "attribution": 0.80, "max_delay": 2, "estimate_error": 0.03}


@dataclass
class PeriodRecord:
    """One replayed cycle."""

    task: str
    seed: int
    scenario: str
    period: int
    labeled_period: int | None
    stable: bool | None
    realized: float | None
    estimated: float | None
    estimated_low: float | None
    estimated_high: float | None
    decay: float | None
    alarm: bool
    cause: str
    decision: str
    reason: str
    drift_share: float | None
    domain_auc: float | None


def _champion(sim: RetailDemandSimulator, usecase: UseCase) -> TrainingResult:
    history = sim.labeled_history()
    last = sim.config.initial_periods - 1
    return train_model(history, usecase, TrainingWindow(kind="expanding", last_period=last))


def replay(cfg, usecase: UseCase, *, with_drift: bool) -> list[PeriodRecord]:
    """Replay one scenario with a fixed champion; one record per live period."""
    from tasks.drift import compute_drift

    sim = RetailDemandSimulator(cfg)
    truth = {p["period"]: p for p in sim.ground_truth()["periods"]}
    champ = _champion(sim, usecase)
    metric = usecase.metric.primary
    # The reference the monitor flow measures decay against (out of time).
    reference_metric = decay_reference_of(champ).metrics[metric]
    reference = champ.reference.drop(columns=["prediction"])
    trained_through = cfg.initial_periods - 1
    labels_through: int | None = None
    out = []
    for p in range(cfg.initial_periods, sim.total_periods):
        frame = sim.batch(p)
        arrived = [q for q in sim.labels_arriving_at(p) if q >= cfg.initial_periods]
        new_rows = (
            pd.concat(
                [sim.batch(q).merge(sim.labels(q), on="row_id") for q in arrived], ignore_index=True
            )
            if arrived
            else frame.iloc[0:0].assign(**{sim.target_column: []})
        )
        perf = assess_performance(
            usecase,
            champ.model,
            reference_metric,
            champ.estimator,
            new_rows,
            frame,
            seed=cfg.seed * 1000 + p,
        )
        drift = None
        if with_drift:
            pred, _ = predict(champ.model, frame, usecase)
            drift = compute_drift(
                champ.reference_profile,
                model_input(frame, usecase),
                usecase,
                champ.importance,
                reference_sample=reference,
                current_predictions=pred if usecase.model.task == "regression" else None,
                seed=p,
            )
        cause = attribute_decay(perf, metric)
        history = DecisionHistory(
            labels_through=labels_through, last_retrain_period=None, retrain_periods=()
        )
        inputs = build_retrain_inputs(
            period=p,
            gate_passed=True,
            champion_trained_period=trained_through,
            has_champion=True,
            history=history,
            budget_window_periods=usecase.retrain.budget_window_periods,
            new_labeled_rows=len(new_rows),
            last_labeled_period=max(arrived) if arrived else None,
            rows_per_period=float(len(frame)),
            performance=perf,
            drift=drift,
            decay_cause=cause,
        )
        decision = decide_retrain(inputs, usecase.retrain, usecase.drift, metric)
        if arrived:
            labels_through = max(arrived)
        q = max(arrived) if arrived else None
        out.append(
            PeriodRecord(
                task=usecase.model.task,
                seed=cfg.seed,
                scenario=cfg.name,
                period=p,
                labeled_period=q,
                stable=truth[q]["stable"] if q is not None else None,
                realized=perf.realized.value if perf.realized else None,
                estimated=perf.estimated,
                estimated_low=perf.estimated_low,
                estimated_high=perf.estimated_high,
                decay=perf.decay,
                alarm=any(
                    r.code == ReasonCode.REALIZED_DECAY and r.passed is False
                    for r in decision.checked
                ),
                cause=cause,
                decision=decision.action,
                reason=decision.reasons[0].code,
                drift_share=drift.drift_share if drift else None,
                domain_auc=drift.domain_auc if drift else None,
            )
        )
    return out


def summarise(records: list[PeriodRecord], events: list[dict]) -> dict:
    """Detection delay, false alarms, attribution and estimate error for one task."""
    by_run: dict[tuple[int, str], list[PeriodRecord]] = {}
    for r in records:
        by_run.setdefault((r.seed, r.scenario), []).append(r)
    delays: dict[str, list[int | None]] = {}
    attributed: dict[str, list[bool]] = {}
    for ev in events:
        run = by_run[(ev["seed"], ev["scenario"])]
        alarms = [r for r in run if r.alarm and r.period >= ev["labels_arrive_at"]]
        first = alarms[0] if alarms else None
        delay = first.period - ev["labels_arrive_at"] if first else None
        delays.setdefault(ev["kind"], []).append(delay)
        attributed.setdefault(ev["kind"], []).append(
            first is not None and first.cause == ev["kind"]
        )
    stable = [r for r in records if r.stable and r.realized is not None]
    false_alarms = sum(r.alarm for r in stable)
    est = [r for r in stable if r.estimated is not None]
    errors = np.array([abs(r.estimated - r.realized) for r in est])
    rel = np.array([abs(r.estimated - r.realized) / max(abs(r.realized), 1e-9) for r in est])
    covered = (
        np.mean([r.estimated_low <= r.realized <= r.estimated_high for r in est]) if est else None
    )
    n_events = sum(len(v) for v in attributed.values())
    return {
        "events": {
            kind: {
                "n": len(d),
                "detected": sum(x is not None for x in d),
                "within_2": sum(x is not None and x <= TARGETS["max_delay"] for x in d),
                "mean_delay": float(np.mean([x for x in d if x is not None]))
                if any(x is not None for x in d)
                else None,
                "max_delay": max((x for x in d if x is not None), default=None),
                "attribution_right": sum(attributed[kind]),
            }
            for kind, d in delays.items()
        },
        "stable_periods": len(stable),
        "false_alarms": int(false_alarms),
        "false_alarm_rate": false_alarms / max(len(stable), 1),
        "attribution_accuracy": sum(sum(v) for v in attributed.values()) / max(n_events, 1),
        "estimate_mae": float(errors.mean()) if errors.size else None,
        "estimate_relative_error": float(rel.mean()) if rel.size else None,
        "estimate_interval_coverage": float(covered) if covered is not None else None,
    }


def run_simulated(
    seeds: int, tasks: list[str], with_drift: bool
) -> tuple[dict, list[PeriodRecord]]:
    results, records = {}, []
    for task in tasks:
        usecase = load_usecase_file(USECASES[task])
        task_records, events = [], []
        for seed in range(seeds):
            for cfg in evaluation_scenarios(seed, task):
                t0 = time.perf_counter()
                task_records += replay(cfg, usecase, with_drift=with_drift)
                sim = RetailDemandSimulator(cfg)
                for ev in sim.ground_truth()["decay_events"]:
                    events.append({**ev, "seed": seed, "scenario": cfg.name})
                print(
                    f"  {task:<14} seed {seed} {cfg.name:<14} {time.perf_counter() - t0:5.1f} s",
                    file=sys.stderr,
                )
        results[task] = summarise(task_records, events)
        records += task_records
    return results, records


def run_elec2(path: Path, train_weeks: int = 8, refresh_every: int = 4) -> dict:
    """Estimated (CBPE) against realized accuracy per week on the real Elec2 data.

    The champion is trained on the ``train_weeks`` weeks before, and refreshed
    every ``refresh_every`` weeks on a sliding window of the same length (a
    model that is maintained); the static champion's figures are reported too.
    """
    from tasks.backtest import prepare

    usecase = load_usecase_file(REPO / "usecases" / "elec2.yaml")
    # Weekly periods from the timestamp, exactly as the backtester cuts them.
    raw = prepare(pd.read_csv(path), usecase).frame
    week_col = usecase.data.time_column
    weeks = sorted(raw[week_col].unique())
    out: dict[str, list[dict]] = {"refreshed": [], "static": []}
    static = None
    current = None
    for i, w in enumerate(weeks[train_weeks:], start=train_weeks):
        if current is None or (i - train_weeks) % refresh_every == 0:
            window = TrainingWindow(
                kind="sliding", first_period=weeks[i - train_weeks], last_period=weeks[i - 1]
            )
            current = train_model(raw[raw[week_col] < w], usecase, window)
            static = static or current
        rows = raw[raw[week_col] == w]
        for name, champ in (("refreshed", current), ("static", static)):
            perf = assess_performance(
                usecase,
                champ.model,
                decay_reference_of(champ).metrics[usecase.metric.primary],
                champ.estimator,
                rows,
                None,
                seed=int(w),
            )
            out[name].append(
                {
                    "week": int(w),
                    "rows": len(rows),
                    "realized": perf.realized.value if perf.realized else None,
                    "estimated": perf.estimated,
                }
            )
    summary = {}
    for name, rows in out.items():
        r = np.array([x["realized"] for x in rows], dtype=float)
        e = np.array([x["estimated"] for x in rows], dtype=float)
        ok = np.isfinite(r) & np.isfinite(e)
        summary[name] = {
            "weeks": int(ok.sum()),
            "correlation": float(np.corrcoef(r[ok], e[ok])[0, 1]),
            "mean_abs_error": float(np.mean(np.abs(r[ok] - e[ok]))),
            "mean_realized": float(r[ok].mean()),
            "mean_estimated": float(e[ok].mean()),
        }
    return {"weekly": out, "summary": summary}


def _print_simulated(results: dict) -> None:
    for task, res in results.items():
        unit = "accuracy" if task == "classification" else "MAE"
        print(f"\n== {task} ({unit}) ==")
        print(
            f"{'event':<16}{'detected':>10}{'within 2':>10}{'mean delay':>12}{'max delay':>11}"
            f"{'attributed':>12}"
        )
        for kind, e in res["events"].items():
            md = "-" if e["mean_delay"] is None else f"{e['mean_delay']:.2f}"
            print(
                f"{kind:<16}{e['detected']:>6}/{e['n']:<3}{e['within_2']:>6}/{e['n']:<3}"
                f"{md:>12}{e['max_delay'] if e['max_delay'] is not None else '-':>11}"
                f"{e['attribution_right']:>8}/{e['n']:<3}"
            )
        print(
            f"false alarms: {res['false_alarms']} of {res['stable_periods']} stable periods "
            f"= {res['false_alarm_rate']:.1%} (target <= {TARGETS['false_alarm_rate']:.0%})"
        )
        print(
            f"attribution accuracy: {res['attribution_accuracy']:.0%} "
            f"(target >= {TARGETS['attribution']:.0%})"
        )
        err = res["estimate_mae"]
        rel = res["estimate_relative_error"]
        cov = res["estimate_interval_coverage"]
        target = f" (target <= {TARGETS['estimate_error']})" if task == "classification" else ""
        print(
            f"label-free estimate vs realized on stable periods: mean abs error "
            f"{err:.4f} {unit}{target}, {rel:.1%} relative; interval covers realized "
            f"{cov:.0%}"
        )


def _default_elec2() -> Path:
    """``../shared/data/elec2/elec2.csv`` when present, else the byte-identical copy
    shipped for the tests."""
    shared = REPO.parent / "shared" / "data" / "elec2" / "elec2.csv"
    shipped = REPO / "tests" / "data" / "real" / "elec2" / "elec2.csv"
    return shared if shared.exists() or not shipped.exists() else shipped


def _print_elec2(res: dict) -> None:
    print("\n== Elec2 (real data): weekly accuracy, estimated (CBPE) vs realized ==")
    print(f"{'week':>5}{'rows':>6}{'realized':>10}{'estimated':>11}   static: realized  estimated")
    for a, b in zip(res["weekly"]["refreshed"], res["weekly"]["static"], strict=True):
        print(
            f"{a['week']:>5}{a['rows']:>6}{a['realized']:>10.3f}{a['estimated']:>11.3f}"
            f"{b['realized']:>18.3f}{b['estimated']:>11.3f}"
        )
    for name, s in res["summary"].items():
        print(
            f"{name:<9} champion: correlation {s['correlation']:+.2f} over {s['weeks']} weeks, "
            f"mean |estimated - realized| {s['mean_abs_error']:.3f}, mean realized "
            f"{s['mean_realized']:.3f}, mean estimated {s['mean_estimated']:.3f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--tasks", default="regression,classification")
    parser.add_argument(
        "--no-drift",
        action="store_true",
        help="skip the Evidently drift step (faster; alarms do not use it)",
    )
    parser.add_argument(
        "--elec2",
        type=Path,
        default=_default_elec2(),
        help="Elec2 CSV (default: ../shared/data/elec2/elec2.csv, else the shipped copy)",
    )
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "detection.json")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    results, records = run_simulated(args.seeds, args.tasks.split(","), not args.no_drift)
    _print_simulated(results)
    elec2 = None
    if args.elec2 and args.elec2.exists():
        elec2 = run_elec2(args.elec2)
        _print_elec2(elec2)
    else:
        print(f"\n(Elec2 not found at {args.elec2}; skipped)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {"simulated": results, "elec2": elec2, "records": [asdict(r) for r in records]},
            indent=1,
            default=str,
        )
    )
    print(f"\n{time.perf_counter() - t0:.0f} s; results in {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
