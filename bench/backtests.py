"""Backtest the three real datasets under all five policies; regenerate the README tables.

    uv run python bench/backtests.py                 # print the tables
    uv run python bench/backtests.py --update-readme # also rewrite them in README.md
    uv run python bench/backtests.py --only curated  # (or generated) one of the two tables

Two tables: the curated use cases of ``usecases/``, and use cases GENERATED
by ``mlops init-usecase`` from the same files (:data:`GENERATED`: the command
line a new user would type, the YAML written to a temporary folder and replayed
unedited), which show what the generated defaults do on data nobody tuned them
to.
    uv run python bench/backtests.py --search        # default vs default+search (bike sharing)
    uv run python bench/backtests.py --search --update-readme

``--search`` replays bike sharing under ``default`` and ``default+search``:
the same decisions, but each retrain of the second searches Ridge and
HistGradientBoostingRegressor (:data:`SEARCH_CANDIDATES`, 60 s budget per
retrain) with time-ordered cross-validation and trains the best, so the table
shows whether refreshing the model beats refreshing the data alone.
``--periods N`` replays only the first N periods (a quick check).

Reads the data from ../shared/data beside the repository, else (Bike Sharing and
Elec2) from the byte-identical copies shipped in tests/data/real; Walmart is not
shipped (see each use-case file's header for where to get it). Each dataset runs
through the real ``backtest`` flow, so the runs, tables and plots also land in
MLflow under the data root (a temporary one by default).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from flows.cli import set_environment_defaults  # noqa: E402

# The same process defaults as the `mlops` command (set before the heavy imports).
set_environment_defaults()
DATA = REPO.parent / "shared" / "data"
#: Copies shipped for the tests (the datasets whose license allows it).
SHIPPED_DATA = REPO / "tests" / "data" / "real"


def data_file(relative: str) -> Path:
    """``../shared/data/<relative>`` when present, else the shipped copy when there is one."""
    shared, shipped = DATA / relative, SHIPPED_DATA / relative
    return shared if shared.exists() or not shipped.exists() else shipped


DATASETS = {
    "bike_sharing": ("usecases/bike_sharing.yaml", data_file("bike_sharing/hour.csv")),
    "elec2": ("usecases/elec2.yaml", data_file("elec2/elec2.csv")),
    "walmart_sales": (
        "usecases/walmart_sales.yaml",
        data_file("walmart_sales/walmart_store_sales.csv"),
    ),
}
#: Per dataset: the file, the columns a user would drop first (bike sharing's
#: ``casual`` and ``registered`` add up to the target ``cnt``) and the
#: ``mlops init-usecase`` options.
GENERATED = {
    "bike_sharing": (
        DATA / "bike_sharing" / "hour.csv",
        ("casual", "registered"),
        ["--target", "cnt", "--time", "dteday", "--period", "month", "--id", "instant"],
    ),
    "elec2": (
        DATA / "elec2" / "elec2.csv",
        (),
        ["--target", "class", "--time", "timestamp", "--period", "week"],
    ),
    "walmart_sales": (
        DATA / "walmart_sales" / "walmart_store_sales.csv",
        (),
        ["--target", "Weekly_Sales", "--time", "Date", "--period", "week", "--segment", "Store"],
    ),
}
START, END = "<!-- backtests:start -->", "<!-- backtests:end -->"
GEN_START, GEN_END = "<!-- generated-backtests:start -->", "<!-- generated-backtests:end -->"
SEARCH_START, SEARCH_END = "<!-- search-backtest:start -->", "<!-- search-backtest:end -->"

#: The candidates a bike sharing retrain searches with ``--search``: a linear
#: model and the use case's own boosted trees, each with a small space.
SEARCH_CANDIDATES = [
    {
        "estimator": "sklearn.linear_model.Ridge",
        "space": {"alpha": {"low": 0.01, "high": 100.0, "log": True}},
    },
    {
        "estimator": "sklearn.ensemble.HistGradientBoostingRegressor",
        # The use case's own parameters are the fixed ones (added at run time).
        "space": {
            "learning_rate": [0.05, 0.1, 0.2],
            "max_leaf_nodes": [15, 31, 63],
            "min_samples_leaf": [10, 20, 40],
        },
    },
]
SEARCH_SETTINGS = {
    "budget_seconds": 60.0,
    "trials": 8,
    "folds": 3,
    "recent_fold_weight": 2.0,
    "seed": 0,
}


def generated_verdict(table: list[dict]) -> str:
    """The generated defaults' targets, said plainly from the numbers."""
    by = {r["policy"]: r for r in table}
    d, never, every = by.get("default"), by.get("never"), by.get("every:1")
    if not (d and never and every):
        return ""
    vs_never = d["total_error"] / never["total_error"] - 1
    vs_every = d["total_error"] / every["total_error"] - 1
    share = d["retrains"] / every["retrains"] if every["retrains"] else float("nan")
    return (
        f"default {vs_never:+.1%} against never (target at most -5%), {vs_every:+.1%} against "
        f"every:1 (target at most +5%), {d['retrains']} retrains against every:1's "
        f"{every['retrains']} ({share:.0%}; target at most 60%)."
    )


def generate_usecase(name: str, folder: Path) -> tuple[Path, Path, str]:
    """Write the data a user would profile and run ``mlops init-usecase`` on it.

    Returns:
        The use-case file, the data file to replay and the command line shown.
    """
    import subprocess

    import pandas as pd

    source, dropped, options = GENERATED[name]
    folder.mkdir(parents=True, exist_ok=True)
    data = source
    if dropped:
        data = folder / source.name
        pd.read_csv(source).drop(columns=list(dropped)).to_csv(data, index=False)
    out = folder / f"{name}.yaml"
    command = ["init-usecase", str(data), *options, "--name", name, "--out", str(out), "--force"]
    subprocess.run([sys.executable, "-m", "flows.cli", *command], check=True, cwd=REPO)
    shown = f"mlops init-usecase {source.name} {' '.join(options)}" + (
        f" (columns {', '.join(dropped)} dropped first)" if dropped else ""
    )
    return out, data, shown


def run_generated(home: Path) -> list[str]:
    """Each dataset's generated use case, unedited, under the five policies."""
    from flows.backtest import backtest

    sections = []
    for name, (source, _, _) in GENERATED.items():
        if not source.exists():
            print(f"{name}: {source} not found, skipped", file=sys.stderr)
            continue
        usecase, data, shown = generate_usecase(name, home / "generated")
        t0 = time.perf_counter()
        out = backtest(str(usecase), str(data), data_root=str(home))
        seconds = time.perf_counter() - t0
        text = (
            f"**{name}, generated** (`{shown}`, unedited; {out.periods} periods, first "
            f"champion on {out.initial_periods}; {seconds:.0f} s for five policies)\n\n"
            f"{out.markdown}\n\n{generated_verdict(out.table)}\n"
        )
        print(text, flush=True)
        sections.append(text)
    return sections


def verdict(table: list[dict]) -> str:
    """The issue's checks, said plainly from the numbers."""
    by = {r["policy"]: r for r in table}
    d, never, every = by.get("default"), by.get("never"), by.get("every:1")
    if not (d and never and every):
        return ""
    gap = d["total_error"] / every["total_error"] - 1
    parts = [
        f"default total error {'below' if d['total_error'] < never['total_error'] else 'NOT below'}"
        f" never's ({d['total_error'] / never['total_error'] - 1:+.1%})",
        f"{gap:+.1%} against every:1 (target within +5%)",
        f"{d['retrains']} retrains against every:1's {every['retrains']} "
        f"(target at most {every['retrains'] / 2:g})",
    ]
    return "; ".join(parts) + "."


def search_usecase(usecase: Path, folder: Path, budget: float) -> Path:
    """Write a copy of a use case with :data:`SEARCH_CANDIDATES` into ``folder``."""
    import yaml

    doc = yaml.safe_load(usecase.read_text(encoding="utf-8"))
    candidates = [dict(c) for c in SEARCH_CANDIDATES]
    for cand in candidates:
        if cand["estimator"] == doc["model"]["estimator"]:
            cand["params"] = dict(doc["model"].get("params") or {})
    doc["model"]["candidates"] = candidates
    doc["model"]["search"] = {**SEARCH_SETTINGS, "budget_seconds": budget}
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{usecase.stem}_search.yaml"
    out.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return out


def first_periods(data: Path, usecase: Path, periods: int, folder: Path) -> Path:
    """Write the rows of the first ``periods`` periods of ``data`` into ``folder`` (a quick run)."""
    import numpy as np

    from tasks import storage
    from tasks.backtest import prepare

    uc = storage.load_usecase_file(usecase)
    raw = storage.read_table(data).reset_index(drop=True)
    # The period of every raw row, cut as the replay cuts it (the position column
    # finds the rows again after prepare sorts them).
    prepared = prepare(raw.assign(_position=np.arange(len(raw))), uc)
    keep = prepared.frame[uc.data.time_column].isin(prepared.periods[:periods])
    rows = np.sort(prepared.frame.loc[keep, "_position"].to_numpy())
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{data.stem}_first_{periods}.csv"
    raw.iloc[rows].to_csv(out, index=False)
    return out


def search_verdict(out: dict) -> str:
    """The search policy against the plain one, said plainly from the numbers."""
    by = {r["policy"]: r for r in out.table}
    plain, search = by.get("default"), by.get("default+search")
    if not (plain and search):
        return ""
    change = search["total_error"] / plain["total_error"] - 1
    chosen = out.estimators.get("default+search", {})
    picks = ", ".join(f"{name} {n}x" for name, n in sorted(chosen.items())) or "none"
    lines = [
        f"default+search total error {change:+.1%} against default "
        f"({search['retrains']} retrains against {plain['retrains']}); challengers chosen: "
        f"{picks}.",
        "",
    ]
    lines += [f"- period {p}: {msg}" for p, msg in out.searches.get("default+search", [])]
    return "\n".join(lines)


def run_search_backtest(home: Path, periods: int | None, budget: float) -> str:
    """Bike sharing under ``default`` and ``default+search``; the README section."""
    from flows.backtest import backtest

    usecase, data = DATASETS["bike_sharing"]
    if not data.exists():
        print(f"bike_sharing: {data} not found", file=sys.stderr)
        return ""
    searched = search_usecase(REPO / usecase, home / "usecases", budget)
    source = data if periods is None else first_periods(data, REPO / usecase, periods, home)
    t0 = time.perf_counter()
    out = backtest(
        str(searched), str(source), policies=["default", "default+search"], data_root=str(home)
    )
    seconds = time.perf_counter() - t0
    names = " and ".join(c["estimator"].rpartition(".")[2] for c in SEARCH_CANDIDATES)
    return (
        f"**bike_sharing with candidate search** (`{usecase}` plus candidates {names}, "
        f"{SEARCH_SETTINGS['trials']} trials, {SEARCH_SETTINGS['folds']} time-ordered folds, "
        f"{budget:g} s budget per retrain; {out.periods} periods, first champion on "
        f"{out.initial_periods}; {seconds:.0f} s)\n\n{out.markdown}\n\n"
        f"{search_verdict(out)}\n"
    )


def _replace_block(body: str, start: str, end: str, block: str) -> str:
    if start in body:
        return re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, body, flags=re.S)
    return body + "\n" + block + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update-readme", action="store_true")
    parser.add_argument("--home", type=Path, default=None, help="data root (default: temporary)")
    parser.add_argument(
        "--search",
        action="store_true",
        help="bike sharing under default and default+search (Ridge, HistGradientBoosting)",
    )
    parser.add_argument(
        "--periods", type=int, default=None, help="with --search: replay the first N periods only"
    )
    parser.add_argument(
        "--budget", type=float, default=60.0, help="with --search: seconds per retrain's search"
    )
    parser.add_argument(
        "--only",
        choices=("curated", "generated"),
        default=None,
        help="one of the two tables (default: both)",
    )
    args = parser.parse_args(argv)
    from flows.backtest import backtest

    home = args.home or Path(tempfile.mkdtemp(prefix="mlops-backtests-"))
    if args.search:
        text = run_search_backtest(home, args.periods, args.budget)
        print(text)
        if args.update_readme and text and args.periods is None:
            readme = REPO / "README.md"
            block = SEARCH_START + "\n" + text + SEARCH_END
            body = _replace_block(
                readme.read_text(encoding="utf-8"), SEARCH_START, SEARCH_END, block
            )
            readme.write_text(body, encoding="utf-8")
            print(f"README.md updated; runs under {home}")
        return 0 if text else 1
    sections = []
    for name, (usecase, data) in DATASETS.items() if args.only != "generated" else ():
        if not data.exists():
            print(f"{name}: {data} not found, skipped", file=sys.stderr)
            continue
        t0 = time.perf_counter()
        out = backtest(str(REPO / usecase), str(data), data_root=str(home))
        seconds = time.perf_counter() - t0
        text = (
            f"**{name}** (`{usecase}`, {out.periods} periods, first champion on "
            f"{out.initial_periods}; {seconds:.0f} s for five policies)\n\n"
            f"{out.markdown}\n\n{verdict(out.table)}\n"
        )
        print(text, flush=True)
        sections.append(text)
    generated = run_generated(home) if args.only != "curated" else []
    if args.update_readme and (sections or generated):
        readme = REPO / "README.md"
        body = readme.read_text(encoding="utf-8")
        if sections:
            block = START + "\n" + "\n".join(sections) + END
            body = _replace_block(body, START, END, block)
        if generated:
            block = GEN_START + "\n" + "\n".join(generated) + GEN_END
            body = _replace_block(body, GEN_START, GEN_END, block)
        readme.write_text(body, encoding="utf-8")
        print(f"README.md updated; runs under {home}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
