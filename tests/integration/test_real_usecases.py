"""The shipped real-data use cases against the real files, and init-usecase on one of them.

tests/conftest.py finds each file: in ``../shared/data`` beside the repository
when it is there, else in the copies shipped in ``tests/data/real`` (Bike
Sharing and Elec2). Walmart is not shipped: without it its cases are skipped
with a reason that says where to get it.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from flows.cli import app
from mlops_core.config import UseCase, parse_usecase
from mlops_core.label_gate import IdIndex, check_label_file
from tasks.storage import load_usecase_file
from tasks.validation import validate_frame

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SHIPPED_DATA = REPO / "tests" / "data" / "real"

# The use cases that describe a real data file (tests/conftest.py finds each file).
REAL_USECASES = ["bike_sharing", "elec2", "walmart_sales"]


@pytest.mark.parametrize(
    "relative", ["bike_sharing/hour.csv", "bike_sharing/Readme_original.txt", "elec2/elec2.csv"]
)
def test_the_shipped_copies_are_the_published_files_byte_for_byte(relative: str) -> None:
    """Each shipped file has the md5 its README states, so a test gives the same
    result on a fresh clone as on the copy in ../shared/data."""
    path = SHIPPED_DATA / relative
    stated = re.search(
        rf"`{re.escape(path.name)}`.*`([0-9a-f]{{32}})`",
        (path.parent / "README.md").read_text(encoding="utf-8"),
    )
    assert stated is not None, f"{path.parent.name}/README.md states no md5 for {path.name}"
    assert hashlib.md5(path.read_bytes()).hexdigest() == stated.group(1)


def test_walmart_is_never_shipped() -> None:
    """Its terms limit it to research and education: it must not enter the repository."""
    assert not any("walmart" in p.name.lower() for p in SHIPPED_DATA.rglob("*"))


def as_batch(raw: pd.DataFrame, usecase: UseCase) -> pd.DataFrame:
    """The raw file as the replay lands it: a row id added, the target taken out."""
    batch = raw.drop(columns=[usecase.data.target_column])
    batch.insert(0, usecase.data.id_column, [f"r{i:05d}" for i in range(len(batch))])
    return batch


@pytest.mark.parametrize("name", REAL_USECASES)
def test_the_shipped_real_data_use_cases_parse(name: str) -> None:
    usecase = load_usecase_file(REPO / "usecases" / f"{name}.yaml")
    assert usecase.data.period in ("day", "week", "month")
    assert usecase.data.id_column == "row_id"
    time_column = usecase.contract.column(usecase.data.time_column)
    assert time_column is not None and not time_column.feature


@pytest.mark.parametrize("name", REAL_USECASES)
def test_the_real_file_passes_every_error_rule_of_its_contract(name: str, real_data_of) -> None:
    usecase = load_usecase_file(REPO / "usecases" / f"{name}.yaml")
    raw = pd.read_csv(real_data_of(name), encoding="utf-8-sig")
    # Every column of the raw file is described (the target as the target).
    described = {c.name for c in usecase.contract.columns} | {usecase.data.target_column}
    assert set(raw.columns) <= described
    results = validate_frame(as_batch(raw, usecase), usecase)
    failed = [r for r in results if r.severity == "error" and not r.success]
    assert not failed, "; ".join(f"{r.rule}/{r.column}: {r.message}" for r in failed)
    assert {r.rule for r in results} >= {"column_present", "extra_columns", "dtype", "range"}


@pytest.mark.parametrize("name", REAL_USECASES)
def test_the_real_labels_pass_the_label_rules_of_their_use_case(name: str, real_data_of) -> None:
    """Every real label meets its use case's target rules: the rules are limits of
    the quantity (a count is never negative, the classes are the classes), not of
    one sample."""
    usecase = load_usecase_file(REPO / "usecases" / f"{name}.yaml")
    rules = usecase.labels
    assert (rules.target_min, rules.target_max, rules.target_classes) != (None, None, None)
    raw = pd.read_csv(real_data_of(name), encoding="utf-8-sig")
    d = usecase.data
    labels = pd.DataFrame(
        {d.id_column: [f"r{i:05d}" for i in range(len(raw))], d.target_column: raw[d.target_column]}
    )
    decision, accepted = check_label_file(
        labels,
        file="labels.csv",
        sha256="-",
        id_column=d.id_column,
        target_column=d.target_column,
        task=usecase.model.task,
        scored_ids=IdIndex(pd.Index(labels[d.id_column])),
        known=pd.Series(dtype=object),
        policy=rules,
    )
    assert decision.action == "accept" and decision.findings == (), decision.findings
    assert len(accepted) == len(raw)


def test_the_bike_contract_keeps_the_target_parts_out_of_the_features() -> None:
    usecase = load_usecase_file(REPO / "usecases" / "bike_sharing.yaml")
    features = set(usecase.contract.feature_names)
    assert not features & {"casual", "registered", "instant", "dteday", "row_id"}
    assert usecase.data.target_column == "cnt"


def test_the_walmart_use_case_caps_per_store() -> None:
    usecase = load_usecase_file(REPO / "usecases" / "walmart_sales.yaml")
    assert usecase.data.segment_column == "Store"
    caps = [r for r in usecase.guardrails.rules if r.kind == "segment_history_cap"]
    assert len(caps) == 1 and caps[0].action == "clip" and caps[0].multiple > 1


def test_init_usecase_on_bike_hours_writes_a_file_that_parses(
    tmp_path: Path, bike_hours_csv: Path
) -> None:
    source = bike_hours_csv
    out = tmp_path / "bike.yaml"
    args = ["init-usecase", str(source), "--target", "cnt", "--time", "dteday", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Generated by `mlops init-usecase` from hour.csv")
    usecase = parse_usecase(yaml.safe_load(text), str(out))
    assert usecase.name == "hour" and usecase.model.task == "regression"
    assert usecase.data.period == "month" and usecase.data.time_column == "dteday"
    # The profiled contract accepts the very file it was profiled from.
    raw = pd.read_csv(source)
    failed = [
        r
        for r in validate_frame(as_batch(raw, usecase), usecase)
        if r.severity == "error" and not r.success
    ]
    assert not failed, [r.message for r in failed]

    # A second run does not overwrite the reviewed file without --force.
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2 and "--force" in again.output
    assert out.read_text(encoding="utf-8") == text
    forced = CliRunner().invoke(app, [*args, "--force", "--name", "bikes"])
    assert forced.exit_code == 0 and "name: bikes" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--target", "count", "--time", "dteday"], "--target column 'count' is not in the data"),
        (["--target", "cnt", "--time", "dteday", "--period", "year"], "--period must be one of"),
        (["--target", "cnt", "--time", "temp"], "--time column 'temp' holds neither"),
    ],
)
def test_init_usecase_bad_arguments_exit_2_with_one_line(
    tmp_path: Path, extra: list[str], message: str, bike_hours_csv: Path
) -> None:
    source = bike_hours_csv
    out = tmp_path / "bike.yaml"
    result = CliRunner().invoke(app, ["init-usecase", str(source), *extra, "--out", str(out)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not out.exists()
