"""A retrain's fits on their row budgets against fits on every row, at a million rows.

    uv run python bench/training_budget.py              # 1M rows (about 3 minutes, 3 GB)
    uv run python bench/training_budget.py --case 100k  # a quick check (within the budget)

``train_model`` trains the synthetic use case of ``bench/scale.py`` on one
period of the case's rows (a fifth of it is the holdout), as the scale
bench's retraining cycle does: once with the use case's default
``model.train_sample_rows`` and ``model.estimator_sample_rows``, once with
budgets that hold every row. Printed, from this one run: each training's CPU
time, the training rows its model was fitted on and the holdout rows its
label-free estimator learned from, the CPU ratio, both models' holdout
metrics (the same holdout rows) with their relative difference, and each
estimator's estimate of its own model's metric on the whole holdout, beside
the realized one. A host-speed line (a fixed one-core workload) comes first
and last.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from flows.cli import set_environment_defaults  # noqa: E402

# The same process defaults as the `mlops` command (set before the heavy imports).
set_environment_defaults()


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; print it."""
    import scale

    from mlops_core import training
    from mlops_core.estimation import estimate_performance
    from mlops_core.features import model_input

    labeled, usecase, window = scale.retrain_bench_inputs(__doc__.splitlines()[0], argv)

    every_row = usecase.model.model_copy(
        update={"train_sample_rows": len(labeled), "estimator_sample_rows": len(labeled)}
    )
    runs = {}
    for label, case_usecase in (
        ("budget", usecase),
        ("every row", usecase.model_copy(update={"model": every_row})),
    ):
        started = time.process_time()
        result = training.train_model(labeled, case_usecase, window)
        runs[label] = (time.process_time() - started, result)
        print(
            f"train_model, {label}: {runs[label][0]:.1f} CPU-s; model fitted on "
            f"{result.fit_rows:,} of {len(result.split.train):,} training rows "
            f"(model.train_sample_rows = {case_usecase.model.train_sample_rows:,}), "
            f"estimator on {result.estimator_rows:,} of {len(result.split.holdout):,} holdout "
            f"rows (model.estimator_sample_rows = {case_usecase.model.estimator_sample_rows:,})"
        )
    (budget_s, budget), (whole_s, whole) = runs["budget"], runs["every row"]
    print(f"every row / budget: {whole_s / budget_s:.2f}x the CPU time")
    for name, value in whole.holdout_metrics.items():
        sampled = budget.holdout_metrics[name]
        change = (sampled - value) / abs(value) if value else float("nan")
        print(
            f"holdout {name} on {len(whole.split.holdout):,} rows: every row {value:.4g}, "
            f"budget {sampled:.4g} ({100 * change:+.2f}%)"
        )
    metric = usecase.metric.primary
    for label, (_, result) in runs.items():
        assert result.estimator is not None, result.estimator_error
        pred, proba = training.predict(result.model, result.split.holdout, result.usecase)
        estimate = estimate_performance(
            result.estimator,
            model_input(result.split.holdout, result.usecase),
            pred,
            proba,
            confidence=0.9,
            seed=0,
        )
        print(
            f"{label}: estimated {metric} on the whole holdout {estimate.value:.4g} "
            f"(90% interval {estimate.low:.4g} to {estimate.high:.4g}), "
            f"realized {result.holdout_metrics[metric]:.4g}"
        )
    print(f"host speed: {scale.host_speed_seconds():.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
