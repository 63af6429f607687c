"""The project as a package: a wheel carries what ``mlops demo`` needs outside a checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mlops_core.config import parse_usecase

# Building the wheel and installing it get 300 s and 120 s.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]


def _uv() -> str:
    found = REPO / ".tools" / "bin" / "uv"
    if found.exists():
        return str(found)
    on_path = shutil.which("uv")
    if on_path is None:
        pytest.fail("no uv: run `make setup` (it installs uv into .tools/)")
    return on_path


def test_the_wheel_ships_every_use_case_where_the_demo_looks_for_it(tmp_path: Path) -> None:
    import yaml

    subprocess.run(
        [_uv(), "build", "--wheel", "--quiet", "--out-dir", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
        env={**os.environ, "UV_PYTHON": sys.executable},
        timeout=300,
    )
    [wheel] = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        shipped = sorted(p.name for p in (REPO / "usecases").glob("*.yaml"))
        assert shipped, "the checkout ships use cases"
        for name in shipped:
            member = f"flows/usecases/{name}"
            assert member in names, f"{member} is not in the wheel"
            parse_usecase(yaml.safe_load(archive.read(member)), member)
        archive.extractall(tmp_path / "site")
    # Installed from the wheel, the demo finds the packaged copy (no checkout around it).
    found = subprocess.run(
        [sys.executable, "-c", "from flows.demo import SHIPPED_USECASE; print(SHIPPED_USECASE)"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path / "site")},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert Path(found.stdout.strip()) == tmp_path / "site" / "flows" / "usecases" / (
        "retail_demand.yaml"
    )
