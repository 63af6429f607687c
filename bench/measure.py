"""Small helpers the benchmarks share: peak memory, row counts on the command line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

GIB = 1024**3


def peak_gib() -> float:
    """This process's peak resident memory so far (the kernel's high-water mark), in GiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / GIB
    raise RuntimeError("no VmHWM in /proc/self/status")


def parse_rows(text: str) -> int:
    """A row count as given on the command line: ``50000``, ``250k``, ``20M``."""
    text = text.strip().lower()
    factor = {"k": 1000, "m": 1_000_000}.get(text[-1:], 1)
    return int(text.rstrip("km")) * factor


def rows_label(n: int) -> str:
    """A row count as a table shows it: ``20M``, ``250k``."""
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"


def run_step(command: list[str], step: str) -> dict[str, Any]:
    """Run a bench step in a fresh process; return the JSON line it printed last."""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"step {step} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
