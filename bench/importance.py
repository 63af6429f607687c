"""Permutation importance on a row budget against the whole holdout, at a million rows.

    uv run python bench/importance.py              # 1M rows (about 4 minutes, 3 GB)
    uv run python bench/importance.py --case 100k  # a quick check

``train_model`` trains the synthetic use case of ``bench/scale.py`` on one
period of the case's rows (a fifth of it is the holdout), as the scale
bench's retraining cycle does, with the use case's default
``model.importance_sample_rows``. The same model's permutation importance is
then computed on the whole holdout. Printed, from this one run: the CPU time
of the training and of the whole-holdout importance, their ratio, and the
largest difference between the two importance shares of any feature, with
the five most important features of each. A host-speed line (a fixed
one-core workload) comes first and last.
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

    labeled, usecase, window = scale.retrain_bench_inputs(__doc__.splitlines()[0], argv)
    started = time.process_time()
    result = training.train_model(labeled, usecase, window)
    trained = time.process_time() - started
    holdout = len(result.split.holdout)
    print(
        f"train_model, {len(result.split.train):,} training rows: {trained:.1f} CPU-s, "
        f"importance on {result.importance_rows:,} of the {holdout:,} holdout rows "
        f"(model.importance_sample_rows = {usecase.model.importance_sample_rows:,})"
    )

    whole_model = result.usecase.model.model_copy(update={"importance_sample_rows": holdout})
    whole_usecase = result.usecase.model_copy(update={"model": whole_model})
    started = time.process_time()
    whole, _ = training._permutation_importance(result.model, result.split.holdout, whole_usecase)
    on_whole = time.process_time() - started
    print(
        f"importance on the whole holdout alone: {on_whole:.1f} CPU-s "
        f"({on_whole / trained:.2f}x the whole training with the budget)"
    )
    gap = max(abs(whole[name] - result.importance[name]) for name in whole)
    print(f"largest share difference, any feature: {100 * gap:.2f} percentage points")
    for label, shares in (("whole holdout", whole), ("sampled", result.importance)):
        top = sorted(shares, key=shares.__getitem__, reverse=True)[:5]
        print(f"five most important ({label}): {', '.join(top)}")
    print(f"host speed: {scale.host_speed_seconds():.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
