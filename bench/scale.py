"""Scale benchmark: drift, validation and whole monitor cycles from 10k to 1M rows.

    uv run python bench/scale.py                              # everything: about 22 minutes
                                                              # on 2 cores, 10 of them the 1M cycle
    uv run python bench/scale.py --sizes 10k,100k             # a subset of the cases
    uv run python bench/scale.py --skip-evidently-above 100000 --cycle-sizes none
    uv run python bench/scale.py --profile                    # also cProfile the product's steps
    uv run python bench/scale.py --update-readme              # also rewrite the README table
    uv run python bench/scale.py --sizes 1M --cycle-sizes 1M --retrain-reference \
        --skip-evidently-above 100000 --no-segments --repeats 1   # the 1M retrain, both budgets

Four cases: 10k, 100k and 1M rows x 25 columns (20 numeric, 5 categorical) and
100k rows x 100 columns (80 numeric, 20 categorical). Reference and current
frames are synthetic and seeded; the current frame has real drift in 7 features
(a 0.3-std mean shift in 4 numeric columns, a 1.5x spread in 2, reversed
category shares in 1) and a real but small change below the threshold in one
more categorical; every other feature is undrifted. Measured in the same run:

A. drift: the product's ``compute_drift`` (with the reference profile built
   once per model, timed on its own), Evidently's DataDriftPreset with the
   same methods and thresholds, and a bare numpy floor computing the exact
   statistics; the product's per-feature verdicts are compared with
   Evidently's, its scores with both;
B. validation of the current frame: the product's ``validate_frame``, Great
   Expectations run naively with the same rules (context created per batch) and
   a bare pandas floor with the same checks; the failed rules are compared;
C. two whole ``monitor`` cycles through the real flows (Prefect test harness,
   MLflow on SQLite in a temporary data root): one that skips retraining and one
   that retrains; per-step times come from Prefect's task runs. The time outside
   the statistics is the decision path's; the cycle report, rendered after the
   commit, is timed apart. At 1M rows this part needs about 5 GB of memory.
   With --retrain-reference the same cycles run again, in their own process,
   with row budgets that hold every row (the retrain as it was before budgets);
D. (unless --no-segments) the per-store fits of Walmart store sales on 1 and
   2 Dask workers (``bench/segments.py``, needs ../shared/data).

Each measured step runs in a fresh subprocess that generates its own frames
from the seed, so every peak memory figure belongs to one step and a step that
fails (or is killed) shows as failed in the table instead of ending the run.
Results go to ``bench/results/scale.json``.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import io
import json
import os
import platform
import pstats
import re
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from flows.cli import set_environment_defaults  # noqa: E402

# The same process defaults as the `mlops` command (set before the heavy imports);
# the step subprocesses inherit them.
set_environment_defaults()
# A naive GX user would leave analytics on; on a closed network its calls only
# add timeouts to the measurement, which are no cost of validation.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlops_core.config import UseCase

START, END = "<!-- scale:start -->", "<!-- scale:end -->"
DEFAULT_JSON = REPO / "bench" / "results" / "scale.json"
MIB = 1024 * 1024


# ------------------------------------------------------------------------ cases
@dataclass(frozen=True)
class Case:
    """One benchmark size: rows per frame and the number of feature columns by kind."""

    key: str
    rows: int
    numeric: int
    categorical: int

    @property
    def label(self) -> str:
        """Rows x feature columns, as the table shows it."""
        return f"{_count(self.rows)} x {self.numeric + self.categorical}"


def _count(rows: int) -> str:
    return f"{rows // 1_000_000}M" if rows % 1_000_000 == 0 else f"{rows // 1000}k"


CASES: dict[str, Case] = {
    c.key: c
    for c in (
        Case("10k", 10_000, 20, 5),
        Case("100k", 100_000, 20, 5),
        Case("1M", 1_000_000, 20, 5),
        Case("100kx100", 100_000, 80, 20),
    )
}
# The cycle trains a model on the synthetic data: the 25-column cases only
# (10k for quick checks; the targets are at 100k and 1M).
CYCLE_CASES = ("10k", "100k", "1M")
DEFAULT_CYCLE_CASES = ("100k", "1M")

# The planted changes of the current frame (column positions by kind).
MEAN_SHIFTED = (0, 1, 2, 3)  # mean + 0.3 std: normed Wasserstein about 0.3
SPREAD_CHANGED = (4, 5)  # std x 1.5: normed Wasserstein about 0.4
CATEGORY_REVERSED = 0  # shares reversed: Jensen-Shannon about 0.18
CATEGORY_NUDGED = 1  # 5 points moved between two categories: about 0.06, not drift
NULL_COLUMNS = (6, 7)  # 0.1% missing on both sides; the contract allows 1%
OUTLIER_COLUMN = 8  # a few values at +20 std in the current frame: a failed 'warn' range
ID_STRIDE = 10_000_000  # row ids stay unique across the cycle's periods


def numeric_name(j: int) -> str:
    """Name of the j-th numeric column."""
    return f"num_{j:02d}"


def categorical_name(k: int) -> str:
    """Name of the k-th categorical column."""
    return f"cat_{k:02d}"


def numeric_center(j: int) -> tuple[float, float]:
    """Undrifted mean and standard deviation of the j-th numeric column."""
    return 10.0 * (j % 7), 1.0 + (j % 3)


def categories(k: int) -> tuple[str, ...]:
    """Allowed categories of the k-th categorical column (4 to 8 of them)."""
    return tuple(f"c{k:02d}_{i}" for i in range(4 + k % 5))


def planted_drift(case: Case) -> list[str]:
    """The features the current frame really drifted in (above the thresholds)."""
    return [numeric_name(j) for j in (*MEAN_SHIFTED, *SPREAD_CHANGED)] + [
        categorical_name(CATEGORY_REVERSED)
    ]


def make_frame(case: Case, role: str, seed: int, period: int = 0) -> pd.DataFrame:
    """A synthetic batch: ids, period, numeric and categorical features.

    Args:
        case: Size and shape.
        role: ``"reference"`` (undrifted) or ``"current"`` (with the planted changes).
        seed: Seed; the frame is a pure function of the arguments, so any
            subprocess regenerates it instead of receiving it pickled.
        period: Period index written to the ``period`` column (and offsetting ids).
    """
    import numpy as np
    import pandas as pd

    drifted = role == "current"
    rng = np.random.default_rng([seed, case.rows, case.numeric, case.categorical, period, drifted])
    n = case.rows
    data: dict[str, Any] = {
        "row_id": np.arange(n, dtype=np.int64) + period * ID_STRIDE,
        "period": np.full(n, period, dtype=np.int64),
    }
    for j in range(case.numeric):
        mean, std = numeric_center(j)
        if drifted and j in MEAN_SHIFTED:
            mean += 0.3 * std
        if drifted and j in SPREAD_CHANGED:
            std *= 1.5
        values = rng.normal(mean, std, n)
        if j in NULL_COLUMNS:
            values[rng.integers(0, n, n // 1000)] = np.nan
        if drifted and j == OUTLIER_COLUMN:
            values[rng.integers(0, n, max(1, n // 10_000))] = mean + 20 * std
        data[numeric_name(j)] = values
    for k in range(case.categorical):
        labels = np.asarray(categories(k), dtype=object)
        weights = np.linspace(2.0, 1.0, labels.size)
        shares = weights / weights.sum()
        if drifted and k == CATEGORY_REVERSED:
            shares = shares[::-1]
        if drifted and k == CATEGORY_NUDGED:
            shares = shares.copy()
            shares[0] -= 0.05
            shares[-1] += 0.05
        data[categorical_name(k)] = labels[rng.choice(labels.size, n, p=shares)]
    return pd.DataFrame(data)


def make_labels(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A regression target that depends on drifted and undrifted features."""
    import numpy as np
    import pandas as pd

    def z(j: int) -> np.ndarray:
        mean, std = numeric_center(j)
        return (frame[numeric_name(j)].to_numpy() - mean) / std

    rng = np.random.default_rng([seed, len(frame), int(frame["period"].iloc[0])])
    effect = {c: 0.5 * i for i, c in enumerate(categories(CATEGORY_REVERSED))}
    y = (
        2.0 * np.nan_to_num(z(0))
        + np.nan_to_num(z(4))
        + 0.5 * np.nan_to_num(z(10))
        + frame[categorical_name(CATEGORY_REVERSED)].map(effect).to_numpy(dtype=float)
        + rng.normal(0.0, 1.0, len(frame))
    )
    return pd.DataFrame({"row_id": frame["row_id"].to_numpy(), "y": y})


def retrain_bench_inputs(description: str, argv: list[str] | None) -> tuple[Any, UseCase, Any]:
    """The command line of a retraining bench (``--case``, default 1M), its first
    host-speed line printed, and :func:`retrain_inputs` of the chosen case."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--case", choices=list(CASES), default="1M")
    args = parser.parse_args(argv)
    print(f"host speed: {host_speed_seconds():.2f} s (fixed one-core workload)")
    return retrain_inputs(CASES[args.case])


def retrain_inputs(case: Case) -> tuple[pd.DataFrame, UseCase, Any]:
    """What the retraining cycle trains on: the labeled rows of periods 2 and 3 (seed
    0), the case's use case, and the window of period 3 (a fifth of it the holdout)."""
    import pandas as pd

    from mlops_core.decisions import TrainingWindow

    frames = []
    for period in (2, 3):
        frame = make_frame(case, "current", seed=0, period=period)
        frames.append(frame.merge(make_labels(frame, seed=0), on="row_id"))
    window = TrainingWindow(kind="sliding", first_period=3, last_period=3)
    return pd.concat(frames, ignore_index=True), build_usecase(case), window


#: Row budgets that hold every row of the largest case: a fit, the importance,
#: the estimator and the label-free estimates see every row, as before budgets.
EVERY_ROW_MODEL = {
    "train_sample_rows": 100_000_000,
    "importance_sample_rows": 10_000_000,
    "estimator_sample_rows": 10_000_000,
}
EVERY_ROW_RETRAIN = {"estimate_sample_rows": 10_000_000}


def usecase_mapping(case: Case, *, every_row: bool = False) -> dict[str, Any]:
    """The use case of the synthetic data, as its YAML file would hold it.

    Drift as the shipped use cases set it (normed Wasserstein and Jensen-Shannon
    at 0.1) with the domain classifier off, so the drift step is the
    per-feature statistics alone. The retrain policy makes the first monitor
    cycle skip and the second retrain: the champion is trained on period 0,
    cycle 1 (period 2) is 2 periods old (not over ``max_age_periods``), cycle 2
    (period 3) is 3; drift alone never triggers (limit 1.0), no cooldown or cost.
    A retrain trains on the newest labeled period alone (sliding window of 1).
    With ``every_row`` the row budgets hold every row (:data:`EVERY_ROW_MODEL`),
    the reference a retrain with the default budgets is compared with.
    """
    columns: list[dict[str, Any]] = [
        {"name": "row_id", "type": "categorical", "feature": False},
        {"name": "period", "type": "integer", "min": 0, "feature": False},
    ]
    for j in range(case.numeric):
        mean, std = numeric_center(j)
        columns.append(
            {
                "name": numeric_name(j),
                "type": "numeric",
                "min": mean - 10 * std,
                "max": mean + 10 * std,
                "max_null_share": 0.01 if j in NULL_COLUMNS else 0.0,
                "severity": "warn" if j == OUTLIER_COLUMN else "error",
            }
        )
    for k in range(case.categorical):
        columns.append(
            {"name": categorical_name(k), "type": "categorical", "categories": list(categories(k))}
        )
    mapping: dict[str, Any] = {
        "name": "scale_bench",
        "description": "Synthetic data of bench/scale.py.",
        "data": {
            "landing": "scale_bench/landing",
            "labels": "scale_bench/labels",
            "format": "parquet",
            "id_column": "row_id",
            "time_column": "period",
            "target_column": "y",
            "label_delay": 1,
        },
        "contract": {"min_rows": 100, "unique_id": True, "columns": columns},
        "model": {
            "task": "regression",
            "estimator": "sklearn.ensemble.HistGradientBoostingRegressor",
            "params": {
                "max_iter": 50,
                "learning_rate": 0.1,
                "max_leaf_nodes": 31,
                "early_stopping": False,
            },
            "random_state": 0,
        },
        "metric": {"primary": "mae"},
        "drift": {
            "numeric_method": "wasserstein",
            "numeric_threshold": 0.1,
            "categorical_method": "jensenshannon",
            "categorical_threshold": 0.1,
            "domain_classifier": False,
            "importance_drift_limit": 1.0,
        },
        "retrain": {
            "min_new_labels": 100,
            "min_periods_between": 0,
            "max_decay": 0.5,
            "critical_decay": 1.0,
            "max_age_periods": 2,
            "holdout_periods": 1,
            # A fifth of the newest period is the holdout: permutation importance
            # and the bootstraps stay bounded at 1M rows per period.
            "holdout_share": 0.2,
            "bootstrap_samples": 200,
            # A retrain learns from the newest labeled period only: one batch's
            # worth of rows at every size.
            "window": "sliding",
            "sliding_periods": 1,
            "sliding_after_concept_drift": False,
        },
        "promotion": {"floor": 100.0, "bootstrap_samples": 200},
    }
    if every_row:
        mapping["model"].update(EVERY_ROW_MODEL)
        mapping["retrain"].update(EVERY_ROW_RETRAIN)
    return mapping


def build_usecase(case: Case) -> UseCase:
    """The use case of :func:`usecase_mapping` as the product's config object."""
    from mlops_core.config import parse_usecase

    return parse_usecase(usecase_mapping(case), "bench/scale.py")


def feature_names(case: Case) -> tuple[list[str], list[str]]:
    """Numeric and categorical feature names of a case."""
    return [numeric_name(j) for j in range(case.numeric)], [
        categorical_name(k) for k in range(case.categorical)
    ]


# --------------------------------------------------------------- memory, timing
def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _release_free_memory() -> None:
    """Hand memory freed by the set-up (data generation, warm-up) back to the OS.

    Otherwise the step could reuse pages that are already resident and its
    peak above the baseline would read too low (glibc keeps freed heap memory).
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        ctypes.CDLL(name).malloc_trim(0)
    except (OSError, AttributeError, TypeError):
        pass  # not glibc: the figure may read low, never high


class PeakMemory:
    """Peak resident memory of this process above its level at entry.

    Why RSS and not tracemalloc: tracemalloc sees only what goes through
    Python's allocator hooks; pyarrow, scikit-learn's Cython buffers, BLAS and
    allocator fragmentation never show there, yet the machine pays for them.
    Why not ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` in the parent: that is the
    child's lifetime peak, imports and data generation included. So each step
    runs in a fresh process after its imports, data and warm-up, and the kernel's
    high-water mark (VmHWM) is reset right before it (``/proc/self/clear_refs``,
    Linux 4.0+): the figure is the step's own peak above what was already
    resident. Where the reset is refused, ``ru_maxrss`` is used and the figure
    is marked as an upper bound of the process, not of the step.
    """

    def __enter__(self) -> PeakMemory:
        gc.collect()
        _release_free_memory()
        self.base_kib = _status_kib("VmRSS")
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.method = "VmHWM reset before the step"
        except OSError:
            self.method = "ru_maxrss of the process (reset refused)"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.method.startswith("VmHWM"):
            peak = _status_kib("VmHWM")
        else:
            import resource

            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self.peak_kib = peak
        self.increase_mib = max(0, peak - self.base_kib) / 1024


def measure(run: Callable[[], dict[str, Any]], repeats: int, budget_s: float) -> dict[str, Any]:
    """Time ``run`` up to ``repeats`` times (fewer once ``budget_s`` is spent); track memory.

    The best time is reported: on a shared machine the slower repeats measure
    the neighbours, not the code. The memory peak covers every repeat.
    """
    seconds: list[float] = []
    output: dict[str, Any] = {}
    with PeakMemory() as memory:
        while len(seconds) < max(1, repeats) and (not seconds or sum(seconds) < budget_s):
            started = time.perf_counter()
            output = run()
            seconds.append(time.perf_counter() - started)
    return {
        "seconds": seconds,
        "best_s": min(seconds),
        "peak_mib": memory.increase_mib,
        "resident_before_mib": memory.base_kib / 1024,
        "memory_method": memory.method,
        "output": output,
    }


def profile_top(run: Callable[[], object], top: int = 15) -> list[dict[str, Any]]:
    """The ``top`` functions by own time (tottime) of one call of ``run`` under cProfile."""
    profiler = cProfile.Profile()
    profiler.runcall(run)
    stats = pstats.Stats(profiler, stream=io.StringIO())
    rows = []
    for (file, line, name), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = _relative(file)
        rows.append(
            {
                "function": f"{where}:{line}({name})" if line else name,
                "calls": calls,
                "tottime_s": tottime,
                "cumtime_s": cumtime,
            }
        )
    rows.sort(key=lambda r: r["tottime_s"], reverse=True)
    return rows[:top]


def _relative(file: str) -> str:
    """A source file as package-relative text: no machine paths in the results."""
    marker = "site-packages" + os.sep
    if marker in file:
        return file.split(marker, 1)[1]
    if file.startswith(str(REPO)):
        return os.path.relpath(file, REPO)
    return Path(file).name if os.sep in file else file


# ------------------------------------------------------------------ drift steps
def drift_reference(frame: pd.DataFrame, usecase: UseCase) -> Any:
    """What ``compute_drift`` takes as the reference: the profile built once per model."""
    from tasks.drift import profile_reference

    return profile_reference(frame, usecase)


def _verdicts(summary: Any) -> dict[str, Any]:
    return {
        "verdicts": {f.feature: bool(f.drifted) for f in summary.features},
        "scores": {f.feature: float(f.score) for f in summary.features},
    }


def prepare_profile(case: Case, seed: int) -> Callable[[], dict[str, Any]]:
    """Build the reference profile (what training does once per model)."""
    usecase = build_usecase(case)
    reference = make_frame(case, "reference", seed)
    drift_reference(reference.iloc[:1000], usecase)  # warm-up: lazy imports, first calls
    return lambda: {"built": type(drift_reference(reference, usecase)).__name__}


def prepare_drift_product(case: Case, seed: int) -> Callable[[], dict[str, Any]]:
    """The product's drift step on the current frame against the reference (or its profile)."""
    from tasks.drift import compute_drift

    usecase = build_usecase(case)
    numeric, categorical = feature_names(case)
    importance = {f: 1.0 for f in numeric + categorical}  # equal weights
    reference_frame = make_frame(case, "reference", seed)
    current = make_frame(case, "current", seed)
    compute_drift(
        drift_reference(reference_frame.iloc[:1000], usecase),
        current.iloc[:1000],
        usecase,
        importance,
        seed=0,
    )
    reference = drift_reference(reference_frame, usecase)
    if reference is not reference_frame:
        del reference_frame  # a monitor holds the profile, not the training frame
    return lambda: _verdicts(compute_drift(reference, current, usecase, importance, seed=0))


def evidently_preset_drift(
    reference: pd.DataFrame, current: pd.DataFrame, numeric: list[str], categorical: list[str]
) -> dict[str, Any]:
    """Evidently's DataDriftPreset with the product's methods and thresholds, and its verdicts."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    from tasks.drift import _scores_from_snapshot

    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    preset = DataDriftPreset(
        num_method="wasserstein",
        cat_method="jensenshannon",
        num_threshold=0.1,
        cat_threshold=0.1,
    )
    snapshot = Report([preset]).run(
        current_data=Dataset.from_pandas(current, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition),
    )
    raw = snapshot.dict()
    scores = _scores_from_snapshot(raw)
    # Both methods are effect sizes: Evidently's verdict is score >= threshold
    # (evidently.legacy.calculations.stattests); its own drifted-column count
    # is kept to check the verdicts read here against it.
    count = next(
        (
            m["value"]["count"]
            for m in raw.get("metrics", [])
            if str(m.get("config", {}).get("type", "")).endswith("DriftedColumnsCount")
        ),
        None,
    )
    return {
        "verdicts": {f: scores[f] >= 0.1 for f in scores},
        "scores": scores,
        "evidently_drifted_count": count,
    }


def prepare_drift_evidently(case: Case, seed: int) -> Callable[[], dict[str, Any]]:
    """Evidently's DataDriftPreset with the product's methods and thresholds."""
    numeric, categorical = feature_names(case)
    features = numeric + categorical
    reference = make_frame(case, "reference", seed)[features]
    current = make_frame(case, "current", seed)[features]
    evidently_preset_drift(reference.iloc[:1000], current.iloc[:1000], numeric, categorical)
    return lambda: evidently_preset_drift(reference, current, numeric, categorical)


def floor_wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    """Normed 1-Wasserstein distance as scipy computes it: sorted sides, CDF-gap integral."""
    import numpy as np

    ref = np.sort(reference[np.isfinite(reference)])
    cur = np.sort(current[np.isfinite(current)])
    both = np.concatenate([ref, cur])
    both.sort(kind="stable")  # two sorted runs: a linear merge
    gaps = np.diff(both)
    ref_cdf = np.searchsorted(ref, both[:-1], "right") / ref.size
    cur_cdf = np.searchsorted(cur, both[:-1], "right") / cur.size
    return float(np.dot(np.abs(ref_cdf - cur_cdf), gaps) / max(float(ref.std()), 0.001))


def floor_jensen_shannon(reference: np.ndarray, current: np.ndarray) -> float:
    """Jensen-Shannon distance (natural log) of the category shares, from np.unique counts."""
    import numpy as np

    ref_values, ref_counts = np.unique(reference, return_counts=True)
    cur_values, cur_counts = np.unique(current, return_counts=True)
    values = np.union1d(ref_values, cur_values)
    p = np.zeros(values.size)
    q = np.zeros(values.size)
    p[np.searchsorted(values, ref_values)] = ref_counts / ref_counts.sum()
    q[np.searchsorted(values, cur_values)] = cur_counts / cur_counts.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        seen = a > 0
        return float(np.sum(a[seen] * np.log(a[seen] / m[seen])))

    return float(np.sqrt(max(0.0, (kl(p) + kl(q)) / 2)))


def prepare_drift_floor(case: Case, seed: int) -> Callable[[], dict[str, Any]]:
    """The same statistics from raw arrays: no pandas, no validation, no summary."""
    numeric, categorical = feature_names(case)
    reference = make_frame(case, "reference", seed)
    current = make_frame(case, "current", seed)
    # Column arrays are taken before timing: a floor starts from raw arrays.
    num = [(f, reference[f].to_numpy(), current[f].to_numpy()) for f in numeric]
    cat = [(f, reference[f].to_numpy(), current[f].to_numpy()) for f in categorical]
    del reference, current

    def run(rows: int | None = None) -> dict[str, Any]:
        part = slice(None, rows)
        started = time.perf_counter()
        scores = {f: floor_wasserstein(r[part], c[part]) for f, r, c in num}
        numeric_s = time.perf_counter() - started
        scores.update({f: floor_jensen_shannon(r[part], c[part]) for f, r, c in cat})
        return {
            "verdicts": {f: s >= 0.1 for f, s in scores.items()},
            "scores": scores,
            "numeric_s": numeric_s,
            "categorical_s": time.perf_counter() - started - numeric_s,
        }

    run(1000)
    return run


# ------------------------------------------------------------- validation steps
def _product_failures(results: Iterable[Any]) -> list[list[str | None]]:
    return sorted([r.rule, r.column] for r in results if not r.success)


def prepare_validation_product(case: Case, seed: int) -> Callable[[], dict[str, Any]]:
    """The product's validation step on the current frame."""
    from tasks.validation import validate_frame

    usecase = build_usecase(case)
    current = make_frame(case, "current", seed)
    # Warm-up on the same columns: the product keeps its GX context and suite
    # per contract in a long-lived worker, so the steady state is measured.
    validate_frame(current.iloc[:1000], usecase)
    return lambda: {"failed": _product_failures(validate_frame(current, usecase))}


def gx_naive_validate(frame: pd.DataFrame, usecase: UseCase) -> list[list[str | None]]:
    """Great Expectations as a newcomer writes it: a fresh context and suite per batch."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    contract = usecase.contract
    context = gx.get_context(mode="ephemeral")
    batch = (
        context.data_sources.add_pandas("pandas")
        .add_dataframe_asset("batch")
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    suite = context.suites.add(gx.ExpectationSuite(name="contract"))

    def add(rule: str, column: str | None, expectation: Any) -> None:
        expectation.meta = {"rule": rule, "column": column}
        suite.add_expectation(expectation)

    add("min_rows", None, gxe.ExpectTableRowCountToBeBetween(min_value=contract.min_rows))
    for c in contract.columns:
        add("column_present", c.name, gxe.ExpectColumnToExist(column=c.name))
        if c.type in ("numeric", "integer"):
            add(
                "dtype",
                c.name,
                gxe.ExpectColumnValuesToBeInTypeList(
                    column=c.name, type_list=["int64", "float64", "Int64", "Float64"]
                ),
            )
            if c.min is not None or c.max is not None:
                add(
                    "range",
                    c.name,
                    gxe.ExpectColumnValuesToBeBetween(
                        column=c.name, min_value=c.min, max_value=c.max
                    ),
                )
        if c.categories is not None:
            add(
                "categories",
                c.name,
                gxe.ExpectColumnValuesToBeInSet(column=c.name, value_set=list(c.categories)),
            )
        add(
            "null_share",
            c.name,
            gxe.ExpectColumnValuesToNotBeNull(column=c.name, mostly=1.0 - c.max_null_share),
        )
        if c.max_null_share < 1.0:
            add(
                "some_values",
                c.name,
                gxe.ExpectColumnValuesToNotBeNull(column=c.name, mostly=1e-9),
            )
        if contract.unique_id and c.name == usecase.data.id_column:
            add("unique_id", c.name, gxe.ExpectColumnValuesToBeUnique(column=c.name))
    outcome = batch.validate(suite)
    return sorted(
        [r.expectation_config.meta["rule"], r.expectation_config.meta["column"]]
        for r in outcome.results
        if not r.success
    )


def prepare_validation_gx(case: Case, seed: int) -> Callable[[], dict[str, Any]]:
    """Naive GX with the contract's rules; context creation is part of each run."""
    usecase = build_usecase(case)
    current = make_frame(case, "current", seed)
    gx_naive_validate(current.iloc[:1000], usecase)  # imports and first-call costs only
    return lambda: {"failed": gx_naive_validate(current, usecase)}


def pandas_floor_validate(frame: pd.DataFrame, usecase: UseCase) -> list[list[str | None]]:
    """The product's rules as bare vectorised pandas/numpy expressions; the failed ones."""
    import numpy as np
    import pandas as pd

    contract, data = usecase.contract, usecase.data
    failed: list[list[str | None]] = []
    columns = set(frame.columns)
    if frame.columns.duplicated().any():
        failed.append(["duplicate_columns", None])
    failed += [["column_present", c.name] for c in contract.columns if c.name not in columns]
    known = {c.name for c in contract.columns}
    if not contract.allow_extra_columns and columns - known:
        failed.append(["extra_columns", None])
    if data.target_column in columns:
        failed.append(["target_leak", data.target_column])
    if len(frame) < contract.min_rows:
        failed.append(["min_rows", None])
    for c in contract.columns:
        if c.name not in columns:
            continue
        series = frame[c.name]
        missing = series.isna().to_numpy()
        if c.type in ("numeric", "integer"):
            values = series.to_numpy(dtype=float, na_value=np.nan)
            if not pd.api.types.is_numeric_dtype(series) or np.isinf(values).any():
                failed.append(["dtype", c.name])
            elif c.type == "integer" and (values[~missing] % 1 != 0).any():
                failed.append(["dtype", c.name])
            low = -np.inf if c.min is None else c.min
            high = np.inf if c.max is None else c.max
            if c.min is not None or c.max is not None:
                if ((values < low) | (values > high)).any():  # NaN compares False
                    failed.append(["range", c.name])
        elif c.categories is not None and (~series.isin(c.categories).to_numpy() & ~missing).any():
            failed.append(["categories", c.name])
        share = missing.mean()
        if share > c.max_null_share:
            failed.append(["null_share", c.name])
        if c.max_null_share < 1.0 and missing.all():
            failed.append(["some_values", c.name])
        if contract.unique_id and c.name == data.id_column and series.duplicated().any():
            failed.append(["unique_id", c.name])
    return sorted(failed, key=lambda r: (r[0], r[1] or ""))


def prepare_validation_floor(case: Case, seed: int) -> Callable[[], dict[str, Any]]:
    """The pandas floor of the validation step."""
    usecase = build_usecase(case)
    current = make_frame(case, "current", seed)
    pandas_floor_validate(current.iloc[:1000], usecase)
    return lambda: {"failed": pandas_floor_validate(current, usecase)}


# ------------------------------------------------------------------------ cycle
# Task names (tasks/steps.py) whose time is the statistics of a cycle.
STATISTICS_TASKS = ("data drift", "performance")
# The cycle report is rendered after the cycle's decisions are committed, off the
# decision path (flows/cycle.py): its time is reported apart, not hidden.
REPORT_TASKS = ("cycle report",)


def _task_seconds(flow_run_id: Any) -> dict[str, float]:
    """Seconds per task name of one flow run, from the task runs Prefect recorded.

    Prefect's own records, not timing wrappers: they cover every task of the
    flow without touching it, and include each task's orchestration overhead,
    which is the product's cost too. Task run states reach the server as events
    shortly after the run, so this waits until every run has ended.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    runs: list[Any] = []
    with get_client(sync_client=True) as client:
        for _ in range(100):
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
            if runs and all(r.end_time is not None and r.start_time is not None for r in runs):
                break
            time.sleep(0.2)
    seconds: dict[str, float] = {}
    for run in runs:
        if run.start_time is None or run.end_time is None:
            continue
        # Run names are the task's name with a short hex suffix ("data drift-d0b"),
        # sometimes without one.
        name = re.sub(r"-[0-9a-f]{3,}$", "", run.name)
        seconds[name] = seconds.get(name, 0.0) + (run.end_time - run.start_time).total_seconds()
    return seconds


def run_cycles(case: Case, seed: int, *, every_row: bool = False) -> dict[str, Any]:
    """Bootstrap on synthetic history, then measure a skipping and a retraining monitor cycle.

    With ``every_row`` the use case's row budgets hold every row (see
    :func:`usecase_mapping`)."""
    import pandas as pd
    import yaml
    from prefect.testing.utilities import prefect_test_harness

    from flows.cycle import bootstrap, monitor
    from flows.local import without_heartbeats
    from tasks import storage

    out: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory(prefix="mlops-scale-") as tmp,
        prefect_test_harness(server_startup_timeout=120),
        # As `mlops monitor` runs a cycle; a deployment run's heartbeat thread
        # is joined after the run has completed (flows/local.py).
        without_heartbeats(),
    ):
        root = Path(tmp)
        usecase_path = root / "scale_bench.yaml"
        usecase_path.write_text(
            yaml.safe_dump(usecase_mapping(case, every_row=every_row), sort_keys=False)
        )
        paths = storage.UseCasePaths.for_usecase(storage.load_usecase_file(usecase_path), root)

        def land(period: int, role: str, labels_of: int | None) -> str:
            name = f"period_{period:03d}.parquet"
            make_frame(case, role, seed, period).to_parquet(paths.landing / name, index=False)
            if labels_of is not None:
                role_of = "reference" if labels_of < 2 else "current"
                labels = make_labels(make_frame(case, role_of, seed, labels_of), seed)
                labels.to_parquet(paths.labels / f"labels_{labels_of:03d}.parquet", index=False)
            return name

        # History: periods 0 and 1 landed, labels of period 0 only: the champion
        # is trained on period 0, and period 1's labels arrive with cycle 1.
        land(0, "reference", 0)
        land(1, "reference", None)
        started = time.perf_counter()
        boot = bootstrap(str(usecase_path), str(root))
        out["bootstrap_s"] = time.perf_counter() - started
        out["bootstrap_champion"] = boot.champion_version
        if boot.champion_version is None:
            raise RuntimeError(f"bootstrap promoted no champion: {boot.decision}")

        for cycle, (period, labels_of) in (("no retrain", (2, 1)), ("retrain", (3, 2))):
            name = land(period, "current", labels_of)
            batch = pd.read_parquet(paths.landing / name)
            batch_mib = batch.memory_usage(deep=True).sum() / MIB
            del batch
            with PeakMemory() as memory:
                started = time.perf_counter()
                state = monitor(str(usecase_path), name, str(root), return_state=True)
                wall = time.perf_counter() - started
            row = state.result()
            tasks = _task_seconds(state.state_details.flow_run_id)
            statistics = sum(tasks.get(t, 0.0) for t in STATISTICS_TASKS)
            report = sum(tasks.get(t, 0.0) for t in REPORT_TASKS)
            out[cycle] = {
                "period": period,
                "wall_s": wall,
                "statistics_s": statistics,
                "report_s": report,
                # The decision path: everything but the statistics and the report.
                "outside_statistics_s": wall - statistics - report,
                # Flow code between the tasks: the runtime, the decision history,
                # events, the report, the ledger; and Prefect's flow-run overhead.
                "outside_tasks_s": wall - sum(tasks.values()),
                "tasks_s": dict(sorted(tasks.items(), key=lambda kv: -kv[1])),
                "peak_mib": memory.increase_mib,
                "resident_before_mib": memory.base_kib / 1024,
                "memory_method": memory.method,
                "batch_mib": batch_mib,
                "decision": row.decision,
                "reason": row.reason,
                "promotion": row.promotion,
                "drift_share": row.drift_share,
            }
    return out


# ----------------------------------------------------------------------- worker
PREPARE: dict[str, Callable[[Case, int], Callable[[], dict[str, Any]] | str]] = {
    "profile": prepare_profile,
    "drift_product": prepare_drift_product,
    "drift_evidently": prepare_drift_evidently,
    "drift_floor": prepare_drift_floor,
    "validation_product": prepare_validation_product,
    "validation_gx": prepare_validation_gx,
    "validation_floor": prepare_validation_floor,
}
#: The whole-cycle steps: with the default row budgets, and with budgets that hold
#: every row (--retrain-reference).
CYCLE_STEPS = ("cycle", "cycle_every_row")
# Steps profiled with --profile: the product's own.
PROFILED = ("drift_product", "validation_product")


def worker(step: str, case: Case, seed: int, repeats: int, budget_s: float, profile: bool) -> dict:
    """Run one step in this (fresh) process and return its figures."""
    if step in CYCLE_STEPS:
        return {"output": run_cycles(case, seed, every_row=step == "cycle_every_row")}
    run = PREPARE[step](case, seed)
    if isinstance(run, str):
        return {"skipped": run}
    result = measure(run, repeats, budget_s)
    if profile and step in PROFILED:
        result["profile_top"] = profile_top(run)
    return result


def _clean(text: str) -> str:
    """An error message without this machine's paths."""
    return text.replace(str(REPO) + os.sep, "").replace(tempfile.gettempdir(), "<tmp>")


def run_step(
    step: str, case: Case, args: argparse.Namespace, *, repeats: int | None = None
) -> dict[str, Any]:
    """Run one step in a fresh subprocess; a failure comes back as ``{"error": ...}``."""
    with tempfile.TemporaryDirectory(prefix="mlops-scale-step-") as tmp:
        out = Path(tmp) / "result.json"
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--worker",
            step,
            "--case",
            case.key,
            "--seed",
            str(args.seed),
            "--repeats",
            str(args.repeats if repeats is None else repeats),
            "--budget",
            str(args.budget),
            "--worker-out",
            str(out),
        ]
        if args.profile:
            command.append("--profile")
        started = time.perf_counter()
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=args.timeout, check=False
            )
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {args.timeout:.0f} s"}
        elapsed = time.perf_counter() - started
        if done.returncode != 0 or not out.exists():
            lines = [x for x in (done.stderr or "").strip().splitlines() if x.strip()]
            why = lines[-1] if lines else f"exit code {done.returncode}"
            if done.returncode < 0:
                why = f"killed by signal {-done.returncode} (out of memory?)"
            return {"error": _clean(why)[:300], "process_s": elapsed}
        result = json.loads(out.read_text())
        result["process_s"] = elapsed
        return result


def worker_main(args: argparse.Namespace) -> int:
    """Entry point of a step subprocess: write the step's figures or its error as JSON."""
    try:
        result = worker(
            args.worker, CASES[args.case], args.seed, args.repeats, args.budget, args.profile
        )
    except Exception as exc:  # noqa: BLE001 - reported in the table, never a crash of the run
        traceback.print_exc()
        result = {"error": _clean(f"{type(exc).__name__}: {exc}".splitlines()[0])[:300]}
    Path(args.worker_out).write_text(json.dumps(result, default=str))
    return 0


# ---------------------------------------------------------------------- summary
def _agreement(a: Mapping[str, bool], b: Mapping[str, bool]) -> tuple[int, int]:
    common = [f for f in a if f in b]
    return sum(a[f] == b[f] for f in common), len(common)


def _best(result: Mapping[str, Any] | None) -> float | None:
    if not result or "best_s" not in result:
        return None
    return float(result["best_s"])


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b <= 0 else a / b


def summarise(
    cases: Mapping[str, dict[str, Any]],
    cycles: Mapping[str, Any],
    cycles_every_row: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Ratios and the issue's targets from the raw step results."""
    per_case: dict[str, Any] = {}
    agree_total = compared_total = 0
    for key, steps in cases.items():
        product = (steps.get("drift_product") or {}).get("output", {})
        floor = (steps.get("drift_floor") or {}).get("output", {})
        vendor = (steps.get("drift_evidently") or {}).get("output", {})
        row: dict[str, Any] = {
            "drift_product_vs_floor": _ratio(
                _best(steps.get("drift_product")), _best(steps.get("drift_floor"))
            ),
            "evidently_vs_product": _ratio(
                _best(steps.get("drift_evidently")), _best(steps.get("drift_product"))
            ),
            "validation_product_vs_floor": _ratio(
                _best(steps.get("validation_product")), _best(steps.get("validation_floor"))
            ),
            "gx_naive_vs_product": _ratio(
                _best(steps.get("validation_gx")), _best(steps.get("validation_product"))
            ),
        }
        if product.get("verdicts") and vendor.get("verdicts"):
            agree, compared = _agreement(product["verdicts"], vendor["verdicts"])
            row["verdict_agreement"] = agree / compared if compared else None
            row["verdicts_compared"] = compared
            agree_total += agree
            compared_total += compared
        if product.get("verdicts"):
            planted = set(planted_drift(CASES[key]))
            row["product_drifted"] = sorted(f for f, d in product["verdicts"].items() if d)
            row["planted_found"] = sorted(planted & set(row["product_drifted"]))
            row["planted"] = sorted(planted)
        for other, name in ((floor, "floor"), (vendor, "evidently")):
            if product.get("scores") and other.get("scores"):
                # The exact statistic against the product's (a profile may bin).
                row[f"{name}_max_score_gap"] = max(
                    abs(product["scores"][f] - other["scores"][f])
                    for f in product["scores"]
                    if f in other["scores"]
                )
        failed = {
            s: (steps.get(s) or {}).get("output", {}).get("failed")
            for s in ("validation_product", "validation_gx", "validation_floor")
        }
        row["failed_rules"] = failed
        known = [v for v in failed.values() if v is not None]
        row["failed_rules_agree"] = len(known) > 1 and all(v == known[0] for v in known)
        per_case[key] = row
    overall = agree_total / compared_total if compared_total else None

    def at(key: str, field: str) -> float | None:
        return per_case.get(key, {}).get(field)

    def cycle(key: str, kind: str, field: str, runs: Mapping[str, Any] = cycles) -> float | None:
        value = (runs.get(key) or {}).get("output", {}).get(kind, {}).get(field)
        return None if value is None else float(value)

    retrain_wall = cycle("1M", "retrain", "wall_s")
    every_row_wall = cycle("1M", "retrain", "wall_s", cycles_every_row or {})

    peak, batch = cycle("1M", "no retrain", "peak_mib"), cycle("1M", "no retrain", "batch_mib")
    peak_retrain = cycle("1M", "retrain", "peak_mib")
    targets = [
        _target("drift: product / numpy floor, 1M x 25", at("1M", "drift_product_vs_floor"),
                "<= 2x", lambda v: v <= 2, "x"),
        _target("drift: Evidently / product, 1M x 25", at("1M", "evidently_vs_product"),
                ">= 20x", lambda v: v >= 20, "x"),
        _target("drift: Evidently / product, 100k x 100", at("100kx100", "evidently_vs_product"),
                ">= 20x", lambda v: v >= 20, "x"),
        _target("drift verdicts: product = Evidently, all cases", overall,
                ">= 95%", lambda v: v >= 0.95, "%"),
        _target("validation: product / pandas floor, 1M x 25",
                at("1M", "validation_product_vs_floor"), "<= 3x", lambda v: v <= 3, "x"),
        _target("validation: GX naive / product, 1M x 25", at("1M", "gx_naive_vs_product"),
                "(no target)", None, "x"),
        _target("cycle without retrain: time outside statistics (decision path), 100k",
                cycle("100k", "no retrain", "outside_statistics_s"), "<= 2 s",
                lambda v: v <= 2, "s"),
        _target("cycle without retrain: peak memory / batch size, 1M",
                _ratio(peak, batch), "< 3x", lambda v: v < 3, "x"),
        _target("cycle with retrain: peak memory / batch size, 1M",
                _ratio(peak_retrain, batch), "(no target)", None, "x"),
        _target("cycle with retrain: wall, 1M", retrain_wall, "< 60 s", lambda v: v < 60, "s"),
        _target("cycle with retrain: every-row budgets / default budgets, 1M",
                _ratio(every_row_wall, retrain_wall), "(no target)", None, "x"),
    ]  # fmt: skip
    return {"per_case": per_case, "verdict_agreement": overall, "targets": targets}


def _target(
    name: str,
    value: float | None,
    goal: str,
    check: Callable[[float], bool] | None,
    unit: str,
) -> dict[str, Any]:
    if value is None:
        status = "not measured"
    elif check is None:
        status = "-"
    else:
        status = "met" if check(value) else "NOT met"
    return {"target": name, "value": value, "unit": unit, "goal": goal, "status": status}


# ------------------------------------------------------------------------ table
def _fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "%":
        return f"{value:.1%}"
    if unit == "s":
        return f"{value:.2f} s"
    return f"{value:.1f}x" if value >= 10 else f"{value:.2f}x"


def _cell(result: Mapping[str, Any] | None) -> str:
    """'seconds / peak MiB' of a step, or why there is none."""
    if not result:
        return "not run"
    if "error" in result:
        return "failed"
    if "skipped" in result:
        return "n/a"
    return f"{result['best_s']:.2f} s / {result['peak_mib']:.0f} MiB"


def _markdown(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def report(results: Mapping[str, Any]) -> str:
    """The tables of a run, as markdown (printed and written to the README)."""
    cases, cycles, summary = results["cases"], results["cycles"], results["summary"]
    per_case = summary["per_case"]
    blocks = []
    rows = []
    for key, steps in cases.items():
        row = per_case.get(key, {})
        agreement = row.get("verdict_agreement")
        rows.append(
            [
                CASES[key].label,
                _cell(steps.get("profile")),
                _cell(steps.get("drift_product")),
                _cell(steps.get("drift_floor")),
                _cell(steps.get("drift_evidently")),
                _fmt_value(row.get("drift_product_vs_floor"), "x"),
                _fmt_value(row.get("evidently_vs_product"), "x"),
                "-" if agreement is None else f"{agreement:.0%}",
            ]
        )
    gaps = [
        r["evidently_max_score_gap"] for r in per_case.values() if "evidently_max_score_gap" in r
    ]
    note = (
        f"\n\nLargest gap between a product score and Evidently's, any feature and case: "
        f"{max(gaps):.1e} (the product compares the batch with the reference profile)."
        if gaps
        else ""
    )
    blocks.append(
        "Drift (time / peak memory of the step; reference and current both have the "
        "case's rows):\n\n"
        + _markdown(
            [
                "rows x cols",
                "profile (once per model)",
                "product",
                "numpy floor",
                "Evidently",
                "product / floor",
                "Evidently / product",
                "verdicts agree",
            ],
            rows,
        )
        + note
    )
    rows = []
    for key, steps in cases.items():
        row = per_case.get(key, {})
        rows.append(
            [
                CASES[key].label,
                _cell(steps.get("validation_product")),
                _cell(steps.get("validation_floor")),
                _cell(steps.get("validation_gx")),
                _fmt_value(row.get("validation_product_vs_floor"), "x"),
                _fmt_value(row.get("gx_naive_vs_product"), "x"),
                "yes" if row.get("failed_rules_agree") else "NO",
            ]
        )
    blocks.append(
        "Validation of the current frame:\n\n"
        + _markdown(
            [
                "rows x cols",
                "product",
                "pandas floor",
                "GX naive",
                "product / floor",
                "GX naive / product",
                "same failed rules",
            ],
            rows,
        )
    )
    rows = []
    every_row = results.get("cycles_every_row") or {}
    runs = [(key, result, "") for key, result in cycles.items()]
    runs += [(key, result, ", every row") for key, result in every_row.items()]
    for key, result, budgets in runs:
        if "error" in result:
            rows.append(
                [CASES[key].label, f"failed{budgets}", *["-"] * 7, _clean(result["error"])[:80]]
            )
            continue
        for kind in ("no retrain", "retrain"):
            c = result["output"].get(kind, {})
            rows.append(
                [
                    CASES[key].label,
                    kind + budgets,
                    f"{c['wall_s']:.2f} s",
                    f"{c['statistics_s']:.2f} s",
                    f"{c['outside_statistics_s']:.2f} s",
                    f"{c.get('report_s', 0.0):.2f} s",
                    f"{c['peak_mib']:.0f} MiB",
                    f"{c['batch_mib']:.0f} MiB",
                    f"{c['peak_mib'] / c['batch_mib']:.1f}x",
                    f"{c['decision']} ({c['reason']})",
                ]
            )
    if rows:
        blocks.append(
            "Whole monitor cycle, run as `mlops monitor` runs it (wall: from the call to its "
            "return; statistics: the `data drift` and `performance` tasks; outside "
            "statistics: the rest of the decision path, validation, scoring, guardrails, the "
            "label join, recording and Prefect's own overhead; report: the `cycle report` "
            'task, after the commit; "every row": the same cycles, bootstrap included, with '
            "row budgets that hold every row, as before the budgets):\n\n"
            + _markdown(
                [
                    "rows x cols",
                    "cycle",
                    "wall",
                    "statistics",
                    "outside statistics",
                    "report",
                    "peak memory",
                    "batch in memory",
                    "peak / batch",
                    "decision",
                ],
                rows,
            )
        )
    blocks.append(
        "Targets:\n\n"
        + _markdown(
            ["target", "measured", "goal", "status"],
            (
                [t["target"], _fmt_value(t["value"], t["unit"]), t["goal"], t["status"]]
                for t in summary["targets"]
            ),
        )
    )
    machine = results.get("machine", {})
    if "host_speed_s_at_start" in machine and "host_speed_s_at_end" in machine:
        blocks.append(
            f"Host speed: a fixed one-core workload (`host_speed_seconds`) took "
            f"{machine['host_speed_s_at_start']:.2f} s at the start of this run and "
            f"{machine['host_speed_s_at_end']:.2f} s at its end; absolute times such as the "
            "decision path's scale with it."
        )
    return "\n\n".join(blocks)


def profiles_text(results: Mapping[str, Any]) -> str:
    """The cProfile top functions of the product's steps, when --profile was given."""
    lines = []
    for key, steps in results["cases"].items():
        for step in PROFILED:
            top = (steps.get(step) or {}).get("profile_top")
            if not top:
                continue
            lines.append(f"{step}, {CASES[key].label} (top 5 by own time, one profiled call):")
            lines += [
                f"  {r['tottime_s']:7.2f} s own {r['cumtime_s']:7.2f} s cum "
                f"{r['calls']:>8} calls  {r['function']}"
                for r in top[:5]
            ]
    return "\n".join(lines)


def run_segments(timeout: float) -> dict[str, Any]:
    """Walmart per-store fits on 1 and 2 Dask workers (``bench/segments.py``, own process)."""
    with tempfile.TemporaryDirectory(prefix="mlops-segments-") as tmp:
        out = Path(tmp) / "segments.json"
        done = subprocess.run(
            [sys.executable, str(REPO / "bench" / "segments.py"), "--json", str(out)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if not out.exists():
            return {"error": _clean(done.stderr[-2000:] or done.stdout[-2000:])}
        return json.loads(out.read_text(encoding="utf-8"))


def segments_text(result: Mapping[str, Any]) -> str:
    """One paragraph: the per-store fits' speed-up from 1 to 2 Dask workers."""
    if "error" in result:
        return f"Per-store fits on Dask: failed ({result['error'][:300]})."
    one, two = result["one_worker"], result["two_workers"]
    low, high = result["speedup_range"]
    return (
        f"Per-segment fan-out, Walmart store sales, one model per store plus one on every row "
        f"({one['fits']} fits, `bench/segments.py`), on warm workers, median of "
        f"{result['pairs_counted']} alternating pairs of rounds ({result['pairs_clean']} of "
        f"{result['pairs_run']} run on an otherwise quiet machine): {one['fit_seconds']:.1f} s "
        f"on 1 Dask worker, {two['fit_seconds']:.1f} s on 2: speed-up "
        f"{result['speedup']:.2f}x (pairs {low:.2f}x to {high:.2f}x) against a target of "
        f"{result['target_speedup']}x ({'met' if result['met'] else 'not met'}); both give the "
        f"same predictions: {'yes' if result['same_predictions'] else 'NO'}."
    )


def update_readme(text: str) -> None:
    """Replace the block between the scale markers in README.md."""
    readme = REPO / "README.md"
    body = readme.read_text(encoding="utf-8")
    block = f"{START}\n{text}\n{END}"
    new, count = re.subn(
        re.escape(START) + ".*?" + re.escape(END), lambda _: block, body, flags=re.S
    )
    if count != 1:
        raise SystemExit(
            f"README.md needs exactly one {START} ... {END} block (found {count}); "
            "add the markers where the table belongs, then rerun"
        )
    readme.write_text(new, encoding="utf-8")


# ------------------------------------------------------------------------- main
def _selection(text: str, allowed: Sequence[str], option: str) -> list[str]:
    if text.strip().lower() in ("", "none"):
        return []
    lookup = {k.lower(): k for k in allowed}
    chosen = [lookup.get(part.strip().lower()) for part in text.split(",")]
    unknown = [p for p, c in zip(text.split(","), chosen, strict=True) if c is None]
    if unknown:
        raise SystemExit(
            f"{option}: unknown {', '.join(unknown)}; choose from {', '.join(allowed)}"
        )
    return [c for c in allowed if c in chosen]  # table order


def _rows(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*([kKmM]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a row count: {text!r}")
    return int(match.group(1)) * {"": 1, "k": 1000, "m": 1_000_000}[match.group(2).lower()]


def host_speed_seconds(repeats: int = 3) -> float:
    """Best time of a fixed one-core workload (numpy sorts and a Python loop).

    Timed at the start and the end of a run: absolute figures such as the
    decision path's seconds move with the host, which on a shared virtual
    machine can be a third slower for minutes; this says how fast it was.
    """
    import numpy as np

    values = np.random.default_rng(0).random(1_000_000)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(5):
            np.sort(values)
        total = 0
        for i in range(2_000_000):
            total += i * i
        best = min(best, time.perf_counter() - started)
    return best


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    names = ("evidently", "great-expectations", "pandas", "numpy", "scipy", "prefect", "mlflow")
    return {n: version(n) for n in names}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default=",".join(CASES),
        help=f"cases to run, comma-separated ({', '.join(CASES)}; default all)",
    )
    parser.add_argument(
        "--cycle-sizes",
        default=",".join(DEFAULT_CYCLE_CASES),
        help=f"cases of the monitor-cycle part ({', '.join(CYCLE_CASES)} or none; default "
        f"{','.join(DEFAULT_CYCLE_CASES)}); only cases also in --sizes run",
    )
    parser.add_argument(
        "--skip-evidently-above",
        type=_rows,
        default=None,
        metavar="ROWS",
        help="skip Evidently for cases with more rows (e.g. 100k); default none skipped",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per step (best)")
    parser.add_argument(
        "--budget", type=float, default=30.0, help="stop repeating a step after this many seconds"
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per step process")
    parser.add_argument("--profile", action="store_true", help="cProfile the product's steps")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    parser.add_argument("--update-readme", action="store_true")
    parser.add_argument(
        "--no-segments",
        dest="segments",
        action="store_false",
        help="skip the per-store fits on 1 and 2 Dask workers (bench/segments.py)",
    )
    parser.add_argument(
        "--retrain-reference",
        action="store_true",
        help="also run the cycles with row budgets that hold every row (the retrain's "
        "reference; about 4 more minutes at 1M rows)",
    )
    # Internal: the step subprocess.
    parser.add_argument("--worker", choices=[*PREPARE, *CYCLE_STEPS], help=argparse.SUPPRESS)
    parser.add_argument("--case", choices=list(CASES), help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(args)

    sizes = _selection(args.sizes, list(CASES), "--sizes")
    cycle_sizes = [
        k for k in _selection(args.cycle_sizes, CYCLE_CASES, "--cycle-sizes") if k in sizes
    ]
    if args.update_readme and START not in (REPO / "README.md").read_text(encoding="utf-8"):
        # Checked before minutes of measuring, not after.
        raise SystemExit(f"README.md has no {START} ... {END} block: add it, then rerun")

    started = time.perf_counter()
    results: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seed": args.seed,
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_start": os.getloadavg(),
            "python": platform.python_version(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "host_speed_s_at_start": host_speed_seconds(),
        },
        "versions": _versions(),
        "cases": {},
        "cycles": {},
    }
    for key in sizes:
        case = CASES[key]
        steps: dict[str, Any] = {}
        for step in PREPARE:
            if (
                step == "drift_evidently"
                and args.skip_evidently_above is not None
                and case.rows > args.skip_evidently_above
            ):
                steps[step] = {"skipped": f"--skip-evidently-above {args.skip_evidently_above}"}
                continue
            # Evidently runs once per case: at 1M rows one run takes minutes.
            repeats = 1 if step == "drift_evidently" else None
            steps[step] = run_step(step, case, args, repeats=repeats)
            print(f"{case.label:>10} {step:<20} {_cell(steps[step])}", flush=True)
        results["cases"][key] = steps
    for key in cycle_sizes:
        results["cycles"][key] = run_step("cycle", CASES[key], args, repeats=1)
        status = results["cycles"][key].get("error") or "done"
        print(f"{CASES[key].label:>10} cycle{'':<15} {status}", flush=True)
        if args.retrain_reference:
            results.setdefault("cycles_every_row", {})[key] = run_step(
                "cycle_every_row", CASES[key], args, repeats=1
            )
            status = results["cycles_every_row"][key].get("error") or "done"
            print(f"{CASES[key].label:>10} cycle, every row{'':<4} {status}", flush=True)

    if args.segments:
        results["segments"] = run_segments(args.timeout)
    results["summary"] = summarise(
        results["cases"], results["cycles"], results.get("cycles_every_row")
    )
    results["total_s"] = time.perf_counter() - started
    results["machine"]["load_average_at_end"] = os.getloadavg()
    results["machine"]["host_speed_s_at_end"] = host_speed_seconds()
    text = report(results)
    if results.get("segments"):
        text += "\n\n" + segments_text(results["segments"])
    print("\n" + text)
    profiles = profiles_text(results)
    if profiles:
        print("\n" + profiles)
    print(f"\ntotal {results['total_s']:.0f} s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    if args.update_readme:
        update_readme(text)
        print("README.md updated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
