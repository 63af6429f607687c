"""Backtest the three real datasets under all five policies; regenerate the README tables.

    uv run python bench/backtests.py                 # print the tables
    uv run python bench/backtests.py --update-readme # also rewrite them in README.md

Reads the data from ../shared/data (see each use-case file's header for where
to get it). Each dataset runs through the real ``backtest`` flow, so the runs,
tables and plots also land in MLflow under the data root (a temporary one by
default).
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

DATASETS = {
    "bike_sharing": ("usecases/bike_sharing.yaml", DATA / "bike_sharing" / "hour.csv"),
    "elec2": ("usecases/elec2.yaml", DATA / "elec2" / "elec2.csv"),
    "walmart_sales": (
        "usecases/walmart_sales.yaml",
        DATA / "walmart_sales" / "walmart_store_sales.csv",
    ),
}
START, END = "<!-- backtests:start -->", "<!-- backtests:end -->"


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update-readme", action="store_true")
    parser.add_argument("--home", type=Path, default=None, help="data root (default: temporary)")
    args = parser.parse_args(argv)
    from flows.backtest import backtest

    home = args.home or Path(tempfile.mkdtemp(prefix="mlops-backtests-"))
    sections = []
    for name, (usecase, data) in DATASETS.items():
        if not data.exists():
            print(f"{name}: {data} not found, skipped", file=sys.stderr)
            continue
        t0 = time.perf_counter()
        out = backtest(str(REPO / usecase), str(data), data_root=str(home))
        seconds = time.perf_counter() - t0
        text = (
            f"**{name}** (`{usecase}`, {out['periods']} periods, first champion on "
            f"{out['initial_periods']}; {seconds:.0f} s for five policies)\n\n"
            f"{out['markdown']}\n\n{verdict(out['table'])}\n"
        )
        print(text)
        sections.append(text)
    if args.update_readme and sections:
        readme = REPO / "README.md"
        body = readme.read_text(encoding="utf-8")
        block = START + "\n" + "\n".join(sections) + END
        if START in body:
            body = re.sub(
                re.escape(START) + r".*?" + re.escape(END), lambda _: block, body, flags=re.S
            )
        else:
            body += "\n" + block + "\n"
        readme.write_text(body, encoding="utf-8")
        print(f"README.md updated; runs under {home}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
