"""The cycle report and the history report of real cycles, opened in Chromium with the network off.

A short scenario runs through the real flows: the bootstrap (version 1), a
week with price inflation and a changed promotion effect, a corrupt batch
(blocked), then the week the labels show the decay: the model is retrained,
a demand spike trips the capacity rule (its rows are held for review), and the
challenger (version 2) is promoted; then a person rolls it back. The reports
are written from what MLflow recorded and opened in headless Chromium inside a
network namespace with no interface up (``bench/screenshots.py``): nothing the
page might try to fetch can succeed, and every request it makes is recorded.
"""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.cycle import monitor, rollback
from flows.report_writer import history_report, write_cycle_report
from mlops_core.records import CycleRecord
from mlops_core.report import champion_change_sentence, cycle_summary
from mlops_core.sentences import wording_for
from mlops_core.simulator import RetailDemandSimulator, ScenarioEvent, SimulatorConfig
from tasks import decision_store, history
from tasks.runtime import open_runtime

pytestmark = pytest.mark.flows


EVENTS = (
    ScenarioEvent(
        kind="covariate_shift", period=8, description="prices jump", details={"inflation": 0.35}
    ),
    ScenarioEvent(
        kind="concept_drift",
        period=8,
        description="promotions sell more",
        details={"promotion_uplift": 1.5},
    ),
    ScenarioEvent(kind="corrupt_batch", period=9, description="price column renamed"),
    ScenarioEvent(
        kind="demand_spike", period=10, description="spike", details={"stores": "S05,S06"}
    ),
)
SIM = RetailDemandSimulator(SimulatorConfig(seed=7, live_periods=4, events=EVENTS))
FIRST_LIVE = SIM.config.initial_periods
ROLLBACK_REASON = "stores report odd orders"


def _changes() -> dict[str, Any]:
    """The shipped use case, with the capacity rule holding rows instead of clipping them."""
    import yaml

    from flows.demo import SHIPPED_USECASE

    rules = yaml.safe_load(SHIPPED_USECASE.read_text(encoding="utf-8"))["guardrails"]["rules"]
    for rule in rules:
        if rule["kind"] == "cap_column":
            rule["action"] = "quarantine"
    return {
        # Retrain as soon as labels show anything (what triggers it is not under test).
        "retrain": {"max_age_periods": 2},
        # One labeled week of the new promotion effect is little evidence; a lenient
        # significance lets the challenger through so the timeline has a promotion.
        "promotion": {"significance": 0.45},
        "guardrails": {"rules": rules},
    }


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory, bootstrapped_variant) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("reports")
    usecase, paths = bootstrapped_variant(root, SIM, _changes(), cycle_report=True)
    cycles = {}
    for period in range(FIRST_LIVE, SIM.total_periods):
        SIM.batch(period).to_csv(paths.landing / f"period_{period:03d}.csv", index=False)
        for late in SIM.labels_arriving_at(period):
            SIM.labels(late).to_csv(paths.labels / f"labels_{late:03d}.csv", index=False)
        cycles[period] = monitor(str(usecase), f"period_{period:03d}.csv", str(root))
    promoted = [c for c in cycles.values() if c.promotion == "promote"]
    assert len(promoted) == 1, {p: (c.decision, c.promotion) for p, c in cycles.items()}
    rolled = rollback(str(usecase), reason=ROLLBACK_REASON, data_root=str(root), requested_by="Ana")
    return {
        "root": root,
        "usecase": usecase,
        "rt": open_runtime(usecase, str(root)),
        "cycles": cycles,
        "promoted": promoted[0],
        "rollback": rolled,
    }


# ------------------------------------------------------------ DOM reading
class _Dom(HTMLParser):
    """The parts of a rendered report a reader sees: summary, charts, tables."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict[str, str]]] = []
        self.summary = ""
        self.charts: list[dict[str, str]] = []
        self.tables: dict[str, list[list[str]]] = {}
        self._cell: list[str] | None = None
        self._table: str | None = None

    def _inside(self, tag: str, **attrs: str) -> bool:
        return any(t == tag and all(a.get(k) == v for k, v in attrs.items()) for t, a in self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.stack.append((tag, a))
        if tag == "figure" and "chart" in a.get("class", "").split():
            self.charts.append({"id": a.get("id", ""), "caption": "", "title": "", "svg": ""})
        if tag == "svg" and self.charts and self._inside("figure"):
            self.charts[-1]["svg"] = "yes"
        if tag == "table" and a.get("id"):
            self._table = a["id"]
            self.tables[self._table] = []
        if tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        if tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        if tag == "table":
            self._table = None
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._inside("section", id="summary"):
            self.summary += data
        if self.charts and self._inside("figure"):
            if self._inside("figcaption"):
                self.charts[-1]["caption"] += data
            elif self._inside("title") and self._inside("svg"):
                self.charts[-1]["title"] += data


def _dom(text: str) -> _Dom:
    parsed = _Dom()
    parsed.feed(text)
    return parsed


def _not_blank(png: bytes) -> tuple[int, int, float, int]:
    """(width, height, share of non-white pixels, distinct colours) of a screenshot."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    small = image.resize((image.width // 4, image.height // 4))
    pixels = list(small.getdata())
    inked = sum(1 for r, g, b in pixels if min(r, g, b) < 235) / len(pixels)
    return image.width, image.height, inked, len(set(pixels))


def _assert_self_contained(text: str) -> None:
    # No address of any kind in the file: nothing can be fetched even with a network.
    assert not re.search(r"https?:|ftp:|//[a-z0-9.-]+\.[a-z]{2,}/", text, re.IGNORECASE)
    for value in re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", text, re.IGNORECASE):
        assert value.startswith(("#", "data:")), value
    assert 'http-equiv="Content-Security-Policy"' in text and "default-src 'none'" in text


# ------------------------------------------------------------ cycle report
def test_cycle_report_opens_offline_with_summary_charts_and_decisions(
    scenario, tmp_path, screenshots
):
    rt, cycle = scenario["rt"], scenario["promoted"]
    path = write_cycle_report(rt, cycle.decision_run_id)
    assert path is not None and path.parent == rt.paths.reports
    text = path.read_text(encoding="utf-8")
    _assert_self_contained(text)

    shots = screenshots
    frame_svgs = (
        "document.getElementById('evidently-report').contentDocument.querySelectorAll('svg').length"
    )
    capture = shots.capture_offline(
        path, ready=shots.EVIDENTLY_DRAWN, evaluate={"evidently_svgs": frame_svgs}
    )
    (tmp_path / "cycle-report.png").write_bytes(capture.png)
    assert capture.requests == [path.resolve().as_uri()], capture.requests
    assert not capture.console, capture.console  # no CSP violation, no script error

    width, height, inked, colours = _not_blank(capture.png)
    assert width == 1280 and height > 3000
    assert inked > 0.05 and colours > 50, (inked, colours)

    # The summary is the sentence computed from the recorded decisions.
    record = decision_store.read_decision_record(rt.client, cycle.decision_run_id, CycleRecord)
    expected = cycle_summary(record.outcome(), wording_for(rt.usecase))
    dom = _dom(capture.dom)
    assert " ".join(dom.summary.split()) == expected
    assert expected.startswith(
        "We replaced the model in production: version 2 now makes the forecasts instead of "
        "version 1."
    )
    assert record.performance is not None and record.performance.realized is not None
    realized = record.performance.realized.value
    assert f"The forecast error was {realized:.3g} against" in expected

    # Every chart drawn, each titled (caption and the SVG's own title agree).
    keys = [c["id"] for c in dom.charts]
    assert keys == [
        "chart-metric-over-time",
        "chart-estimated-vs-realized",
        "chart-drift-by-feature",
        "chart-guardrails-by-rule",
    ]
    for chart in dom.charts:
        assert chart["svg"] == "yes" and chart["caption"].strip()
        assert chart["caption"].strip() == chart["title"].strip()

    # The decision table: each decision with its action and coded reasons.
    rows = {r[0]: r for r in dom.tables["decisions"][1:]}
    assert rows["Data checks (gate)"][1] == "pass"
    assert record.retrain is not None and record.promotion is not None
    assert rows["Retrain"][1] == record.retrain.action == "retrain"
    assert rows["Promotion"][1] == record.promotion.action == "promote"
    assert "realized_decay" in rows["Retrain"][2] and "improvement_met" in rows["Promotion"][2]
    assert record.guardrails is not None
    held, acted = record.guardrails.held_rows, record.guardrails.violating_rows
    assert held > 0 and rows["Business limits (guardrails)"][1] == f"{acted} acted on"

    # The review queue lists the held rows; Evidently's report was drawn inside the page.
    assert len(dom.tables["review-queue"]) - 1 == min(held, 50)
    assert all(r[-1] == "pending" for r in dom.tables["review-queue"][1:])
    assert capture.values["evidently_svgs"] > 0


def test_blocked_cycle_report_says_why_and_has_no_drift(scenario):
    rt = scenario["rt"]
    blocked = scenario["cycles"][FIRST_LIVE + 1]
    assert blocked.decision == "block"
    path = write_cycle_report(rt, blocked.decision_run_id)
    assert path is not None
    text = path.read_text(encoding="utf-8")
    _assert_self_contained(text)
    dom = _dom(text)
    assert " ".join(dom.summary.split()).startswith(
        f"We set the data of period {FIRST_LIVE + 1} (period_{FIRST_LIVE + 1:03d}.csv) aside "
        "unused: column 'price' is missing"
    )
    assert [c["id"] for c in dom.charts] == [
        "chart-metric-over-time",
        "chart-estimated-vs-realized",
    ]
    assert {r[0]: r[1] for r in dom.tables["decisions"][1:]} == {
        "Data checks (gate)": "fail",
        "Retrain": "block",
    }
    assert "evidently-data" not in text


def test_a_report_that_cannot_be_written_never_fails_the_caller(scenario, caplog):
    # A rollback run is no cycle: the report is refused with a warning, not an error.
    assert write_cycle_report(scenario["rt"], scenario["rollback"].decision_run_id) is None
    assert "was not written" in caplog.text and "is not a cycle's decision run" in caplog.text


# ---------------------------------------------------------- history report
def test_history_report_names_each_champion_and_why_it_changed(scenario, tmp_path, screenshots):
    rt, root = scenario["rt"], scenario["root"]
    path = history_report(scenario["usecase"], None, str(root), tmp_path / "history.html")
    text = path.read_text(encoding="utf-8")
    _assert_self_contained(text)
    shots = screenshots
    capture = shots.capture_offline(path)
    assert capture.requests == [path.resolve().as_uri()] and not capture.console
    width, height, inked, colours = _not_blank(capture.png)
    assert inked > 0.05 and colours > 50
    dom = _dom(capture.dom)

    timeline = dom.tables["champion-timeline"][1:]
    assert [(r[0], r[3]) for r in timeline] == [
        ("version 1", "first"),
        ("version 2", "promotion"),
        ("version 1", "rollback"),
    ]
    spans = history.load_history(rt.client, rt.decisions_experiment_id).timeline
    words = wording_for(rt.usecase)
    assert [r[4] for r in timeline] == [champion_change_sentence(s.change, words) for s in spans]
    promoted = scenario["promoted"]
    record = decision_store.read_decision_record(rt.client, promoted.decision_run_id, CycleRecord)
    assert record.promotion is not None
    challenger = record.promotion.inputs.challenger_metric
    assert timeline[1][4].startswith(f"Version 2 replaced version 1 in period {promoted.period}.")
    assert f"was {challenger:.3g} against" in timeline[1][4]
    assert timeline[2][4] == (
        f'Version 1 came back when Ana rolled back version 2: "{ROLLBACK_REASON}".'
    )
    last = max(scenario["cycles"])
    assert [r[1] for r in timeline] == [
        f"period {FIRST_LIVE - 1} to period {promoted.period}",
        f"period {promoted.period} to period {last}",
        f"period {last + 1} to now",
    ]

    decisions = dom.tables["history-decisions"][1:]
    assert [int(r[0]) for r in decisions] == sorted(
        [c.period for c in scenario["cycles"].values()] + [FIRST_LIVE - 1], reverse=True
    )
    assert [c["id"] for c in dom.charts] == [
        "chart-champion-timeline",
        "chart-metric-over-time",
        "chart-estimated-vs-realized",
    ]
    assert "2 promotion(s), 1 rollback(s). Version 1 is in production now." in dom.summary


def test_history_since_a_period_or_a_date(scenario, tmp_path):
    root, usecase = scenario["root"], scenario["usecase"]
    since = FIRST_LIVE + 2
    dom = _dom(history_report(usecase, str(since), str(root), tmp_path / "a.html").read_text())
    assert {int(r[0]) for r in dom.tables["history-decisions"][1:]} == {since, since + 1}
    dom = _dom(history_report(usecase, "2999-01-01", str(root), tmp_path / "b.html").read_text())
    assert dom.tables["history-decisions"][1:] == []
    dom = _dom(history_report(usecase, "2000-01-01", str(root), tmp_path / "c.html").read_text())
    assert len(dom.tables["history-decisions"]) - 1 == len(scenario["cycles"]) + 1


def test_report_command_writes_the_file_and_refuses_a_bad_since(scenario, tmp_path):
    args = ["report", str(scenario["usecase"]), "--home", str(scenario["root"])]
    out = tmp_path / "cli.html"
    done = CliRunner().invoke(app, [*args, "--since", str(FIRST_LIVE), "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert out.exists() and f"wrote {out}" in done.output
    bad = CliRunner().invoke(app, [*args, "--since", "last tuesday"])
    assert bad.exit_code == 2 and "expected a period number" in bad.output
