"""``mlops review``: a domain expert lists, approves, overrides and rejects held forecasts.

The held rows are written by the product's scoring step from real guardrail
results on a simulator batch (forecasts above a store's capacity are held in
this use case); every review goes through the installed command.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlops_core.decisions import GateDecision
from mlops_core.guardrails import apply_guardrails
from mlops_core.simulator import RetailDemandSimulator, SimulatorConfig
from tasks import review, steps
from tasks.runtime import open_runtime

# One test runs seven `mlops review` commands (up to 180 s each).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "usecases" / "retail_demand.yaml"
MLOPS = Path(sys.executable).parent / "mlops"
SIM = RetailDemandSimulator(SimulatorConfig(seed=7))
HELD = 6


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLOPS_HOME")}
    return subprocess.run(
        [str(MLOPS), *args], cwd=cwd, capture_output=True, text=True, timeout=180, env=env
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A data root with one scored batch whose forecasts above capacity wait for review."""
    mp = pytest.MonkeyPatch()
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    root = tmp_path_factory.mktemp("review-cli")
    doc = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    for rule in doc["guardrails"]["rules"]:
        if rule["kind"] == "cap_column":
            rule["action"] = "quarantine"
    usecase = root / "retail_demand.yaml"
    usecase.write_text(yaml.safe_dump(doc), encoding="utf-8")
    rt = open_runtime(usecase, str(root / "home"))
    frame = SIM.batch(9)
    pred = frame["units_last_week"].to_numpy(dtype=float)
    pred[:HELD] = frame["store_capacity"].to_numpy(dtype=float)[:HELD] + 50
    gate = GateDecision(
        action="pass",
        batch="period_009.csv",
        batch_sha256=hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest(),
        rows=len(frame),
        reasons=(),
        results=(),
    )
    steps.write_scored.fn(
        rt, frame, gate, apply_guardrails(pred, frame, rt.usecase.guardrails), "1"
    )
    assert len(review.pending_rows(rt)) == HELD
    yield usecase, root / "home"
    mp.undo()


def _pending(usecase: Path, home: Path) -> list[dict]:
    done = _run("review", "list", str(usecase), "--home", str(home), "--json", cwd=home)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["rows"]


def test_help_lists_the_review_commands(tmp_path: Path) -> None:
    top = _run("--help", cwd=tmp_path)
    assert top.returncode == 0 and "review" in top.stdout
    sub = _run("review", "--help", cwd=tmp_path)
    assert sub.returncode == 0
    for command in ("list", "approve", "override", "reject"):
        assert command in sub.stdout


def test_list_shows_each_held_forecast_and_why(home) -> None:
    usecase, root = home
    table = _run("review", "list", str(usecase), "--home", str(root), cwd=root)
    assert table.returncode == 0, table.stderr
    assert f"{HELD} held prediction(s) wait for review" in table.stdout
    assert "period_009" in table.stdout and "store_capacity (held for review)" in table.stdout
    done = _run("review", "list", str(usecase), "--home", str(root), "--json", cwd=root)
    listed = json.loads(done.stdout)
    assert listed["pending_rows"] == HELD and listed["batches"] == {"period_009": {"pending": HELD}}
    first = listed["rows"][0]
    assert first["batch"] == "period_009" and first["status"] == "pending"
    assert first["violations"][0] == "store_capacity:quarantine"
    assert "store_capacity (held for review)" in first["reasons"]


def test_approve_override_reject_release_once_and_record(home) -> None:
    usecase, root = home
    ids = [row["row_id"] for row in _pending(usecase, root)]
    base = ("--batch", "period_009", "--home", str(root))

    approve = ("review", "approve", str(usecase), *base, "--reviewer", "Maria")
    approved = _run(*approve, "--rows", f"{ids[0]},{ids[1]}", "--comment", "fridge", cwd=root)
    assert approved.returncode == 0, approved.stderr
    out = json.loads(approved.stdout)
    assert out["status"] == "applied" and out["approved"] == 2 and out["released"] == 2
    again = _run(*approve, "--rows", f"{ids[0]},{ids[1]}", "--comment", "fridge", cwd=root)
    assert json.loads(again.stdout)["status"] == "already_applied"

    override = ("review", "override", str(usecase), *base, "--reviewer", "Maria")
    too_high = _run(*override, "--row", ids[2], "--value", "100000", cwd=root)
    assert too_high.returncode == 2
    assert "refused:" in too_high.stderr and "store_capacity" in too_high.stderr
    assert "nothing was changed" in too_high.stderr
    fine = _run(*override, "--row", ids[2], "--value", "12.5", cwd=root)
    assert fine.returncode == 0, fine.stderr
    assert json.loads(fine.stdout)["overridden"] == 1
    allowed = _run(
        *override, "--row", ids[3], "--value", "100000", "--allow-outside-limits", cwd=root
    )
    assert allowed.returncode == 0, allowed.stderr

    rejected = _run("review", "reject", str(usecase), *base, "--reviewer", "Ahmed", cwd=root)
    assert rejected.returncode == 0, rejected.stderr
    assert json.loads(rejected.stdout)["rejected"] == HELD - 4
    nothing = _run("review", "reject", str(usecase), *base, "--reviewer", "Ahmed", cwd=root)
    assert nothing.returncode == 0 and "nothing pending in batch period_009" in nothing.stdout
    assert _pending(usecase, root) == []

    predictions = root / "retail_demand" / "predictions"
    released = pd.concat(
        [pd.read_parquet(p) for p in sorted(predictions.glob("period_009.reviewed-*.parquet"))]
    )
    assert released["row_id"].tolist() == ids[:4]
    assert released["prediction"].iloc[2] == 12.5
    assert released["outside_limits"].tolist()[3].startswith("store_capacity")
    assert np.isfinite(released["prediction"]).all()
    queue = pd.read_parquet(root / "retail_demand" / "review" / "period_009.parquet")
    assert queue["review_status"].tolist() == ["approved"] * 2 + ["overridden"] * 2 + [
        "rejected"
    ] * (HELD - 4)


def test_mistakes_exit_2_with_one_clear_line(home) -> None:
    usecase, root = home
    base = ("--home", str(root), "--reviewer", "Maria")
    unknown = _run("review", "approve", str(usecase), "--batch", "period_999", *base, cwd=root)
    assert unknown.returncode == 2
    assert "period_999" in unknown.stderr and "period_009" in unknown.stderr
    uneven = _run(
        "review", "override", str(usecase), "--batch", "period_009", "--row", "a", "--row", "b",
        "--value", "1", *base, cwd=root,
    )  # fmt: skip
    assert uneven.returncode == 2 and "one value per row" in uneven.stderr
