"""Per-store models of Walmart store sales: fitted on 1 and on 2 Dask workers.

    uv run python bench/segments.py            # print the speed-up
    uv run python bench/segments.py --json bench/results/segments.json

The use case of ``usecases/walmart_sales.yaml`` with ``model.per_segment`` on:
one model per store (45) plus one on every row, fitted on the whole file of
../shared/data/walmart_sales. The fits go through the retrain's own
submission (``flows.cycle.fit_segments_on``: ``fit segments`` tasks, two
chunks per worker, on the flow's task runner), on a local Dask cluster of 1 and
then 2 worker processes (one thread each). Each cluster fits every store twice:
the first round includes starting the workers and their imports of the project
(reported, not compared); the second round, on warm workers as a long-lived
cluster would serve every retrain, is the one timed for the speed-up. The two
models are checked to predict the same. Printed figures are ratios measured in
this run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from flows.cli import set_environment_defaults  # noqa: E402

set_environment_defaults()
DATA = REPO.parent / "shared" / "data" / "walmart_sales" / "walmart_store_sales.csv"


def _usecase() -> Any:
    import yaml

    from mlops_core.config import parse_usecase

    doc = yaml.safe_load((REPO / "usecases" / "walmart_sales.yaml").read_text(encoding="utf-8"))
    doc["model"]["per_segment"] = True
    doc["model"]["min_segment_rows"] = 30
    return parse_usecase(doc, "walmart_sales.yaml with per_segment")


def measure(workers: int) -> dict[str, Any]:
    """Fit every store's model on a local Dask cluster of ``workers`` processes."""
    from prefect import flow

    from flows.cycle import fit_segments_on
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
    def fit_all() -> dict[str, Any]:
        template = build_pipeline(uc)
        started = time.perf_counter()
        with make_task_runner(parse_runner(f"dask:{workers}")) as runner:
            # The first round pays for starting the workers and their imports of the
            # project (seconds); a long-lived cluster (dask:tcp://...) pays it once.
            fit_segments_on(runner, template, jobs, workers)
            warm = time.perf_counter()
            fitted = fit_segments_on(runner, template, jobs, workers)
            done = time.perf_counter()
        model = SegmentedModel(uc.data.segment_column, template).assemble(jobs, fitted)
        return {
            "workers": workers,
            "fits": len(jobs),
            "first_round_seconds": warm - started,
            "fit_seconds": done - warm,
            "predictions": model.predict(features).tolist(),
        }

    return fit_all()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=None, help="Write the results here.")
    args = parser.parse_args(argv)
    if not DATA.exists():
        raise SystemExit(f"{DATA} is missing: see usecases/walmart_sales.yaml for the source")
    import numpy as np
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        one, two = measure(1), measure(2)
    same = np.allclose(one.pop("predictions"), two.pop("predictions"))
    speedup = one["fit_seconds"] / two["fit_seconds"]
    result = {
        "one_worker": one,
        "two_workers": two,
        "speedup": speedup,
        "same_predictions": bool(same),
        "target_speedup": 1.6,
        "met": bool(speedup >= 1.6 and same),
    }
    print(
        f"Walmart per-store fits ({one['fits']} models): 1 worker {one['fit_seconds']:.1f} s, "
        f"2 workers {two['fit_seconds']:.1f} s: speed-up {speedup:.2f}x (target 1.6x, "
        f"{'met' if result['met'] else 'NOT met'}); same predictions: {same}. First rounds, "
        f"with worker start-up: {one['first_round_seconds']:.1f} s and "
        f"{two['first_round_seconds']:.1f} s."
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0 if result["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
