"""The cycle report and the history report: one self-contained HTML file each.

Both are written for the people who own the business as much as for engineers:
a plain-language summary first (``mlops_core.report``: every word derived from
the decision values), then every decision with its reasons and numbers, then
charts and tables. A report is a single file that opens offline: styles are
inline, charts are inline SVG drawn with matplotlib, and the document carries a
Content-Security-Policy that forbids loading anything from anywhere. Evidently's
interactive drift report is embedded gzip-compressed (a quarter of its size) and
unpacked by the browser into an inline frame, so the file holds no external
address at all; everything else reads without JavaScript.

The renderers take typed values (``tasks.history``); matplotlib and Evidently
are imported inside the functions that use them.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import html
import io
import math
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mlops_core.config import UseCase
from mlops_core.decisions import DriftSummary, GuardrailSummary, Reason
from mlops_core.periods import PeriodUnit, short_label
from mlops_core.reasons import ReasonCode
from mlops_core.report import (
    attribution_sentence,
    champion_change_sentence,
    cycle_summary,
    drift_sentence,
    estimate_sentence,
    guardrail_sentence,
    sample_note,
)
from mlops_core.sentences import Numbers, Wording, reason, wording_for
from tasks.history import ChampionSpan, History, HistoryPoint, RecordedCycle, ReviewQueue

#: Nothing may be fetched: no script, style, font, image, frame or connection
#: from any address. Inline styles and scripts only (ours unpacks the embedded
#: Evidently report, whose own bundle and icon font are inline too), data: images
#: and fonts. The frame of the Evidently report inherits the policy.
REPORT_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; font-src data:; base-uri 'none'; form-action 'none'"
)

_CSS = """
:root { --ink: #1d2430; --muted: #5b6575; --line: #d9dee6; --pass: #1b7f4b;
  --fail: #b42318; --fact: #5b6575; --accent: #1f5fae; --bg: #f6f8fb; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Arial,
  sans-serif; color: var(--ink); background: #fff; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 28px 60px; }
header h1 { font-size: 24px; margin: 0 0 4px; }
header p { margin: 2px 0; color: var(--muted); }
h2 { font-size: 19px; margin: 34px 0 10px; padding-bottom: 4px;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 20px 0 6px; }
#summary { background: var(--bg); border-left: 5px solid var(--accent); padding: 14px 18px;
  margin: 18px 0 8px; border-radius: 4px; }
#summary p.summary { font-size: 17px; margin: 0; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 14px; font-size: 14px; }
th, td { text-align: left; vertical-align: top; padding: 6px 8px;
  border-bottom: 1px solid var(--line); }
th { background: var(--bg); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
ul.reasons { margin: 0; padding-left: 0; list-style: none; }
ul.reasons li { margin: 0 0 6px; }
code { font: 12.5px/1.4 ui-monospace, Menlo, Consolas, monospace; background: var(--bg);
  padding: 1px 4px; border-radius: 3px; }
.mark { display: inline-block; min-width: 38px; font-size: 12px; font-weight: 600;
  text-transform: uppercase; }
.pass { color: var(--pass); } .fail { color: var(--fail); } .fact { color: var(--fact); }
.numbers { display: block; color: var(--muted); font-size: 12.5px; }
.action { font-weight: 600; }
figure.chart { margin: 14px 0 22px; }
figure.chart figcaption { font-weight: 600; margin-bottom: 4px; }
figure.chart svg { max-width: 100%; height: auto; display: block; }
.note { color: var(--muted); font-size: 13.5px; }
iframe#evidently-report { width: 100%; height: 900px; border: 1px solid var(--line); }
"""

#: Unpacks the embedded Evidently report into its frame and sizes the frame to it
#: (DecompressionStream: Chromium 80+, Firefox 113+, Safari 16.4+).
_EVIDENTLY_SCRIPT = """
(async () => {
  const frame = document.getElementById("evidently-report");
  const packed = document.getElementById("evidently-data").textContent.trim();
  const bytes = Uint8Array.from(atob(packed), (c) => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  frame.srcdoc = await new Response(stream).text();
  frame.addEventListener("load", () => {
    let rounds = 0;
    const fit = setInterval(() => {
      const doc = frame.contentDocument;
      if (doc && doc.documentElement.scrollHeight > 200) {
        frame.style.height = doc.documentElement.scrollHeight + 20 + "px";
      }
      if (++rounds > 40) clearInterval(fit);
    }, 250);
  });
})();
"""

#: Rows of the review queue shown in a cycle report; the rest stay in the folder.
REVIEW_ROWS_SHOWN = 50


# ------------------------------------------------------------------ helpers
def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _fmt(x: object) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if not math.isfinite(x):
            return "n/a"
        return f"{x:.4g}" if abs(x) < 10_000 else f"{x:,.0f}"
    return str(x)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def _metric_label(metric: str, w: Wording) -> str:
    return f"{w.metric} ({metric})"


@dataclass(frozen=True)
class Chart:
    """One chart: its title and its inline SVG."""

    key: str
    title: str
    svg: str

    def html(self) -> str:
        """The chart as a titled figure."""
        return (
            f'<figure class="chart" id="chart-{_e(self.key)}">'
            f"<figcaption>{_e(self.title)}</figcaption>{self.svg}</figure>"
        )


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    fig.set_layout_engine("constrained")
    return fig


def _svg(fig: Any, key: str, title: str) -> Chart:
    """Inline SVG of a figure: no metadata, no namespace addresses, a title for screen readers."""
    import matplotlib

    buf = io.StringIO()
    # A salt per chart keeps element ids unique when several charts share a page;
    # text as paths keeps the drawing independent of installed fonts.
    with matplotlib.rc_context({"svg.hashsalt": f"mlops-{key}", "svg.fonttype": "path"}):
        fig.savefig(
            buf,
            format="svg",
            metadata={"Creator": None, "Date": None, "Format": None, "Type": None},
        )
    text = buf.getvalue()
    svg = text[text.index("<svg") :]
    # Inside HTML the parser gives <svg> its namespace; the addresses are not needed.
    svg = svg.replace(' xmlns="http://www.w3.org/2000/svg"', "")
    svg = svg.replace(' xmlns:xlink="http://www.w3.org/1999/xlink"', "")
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{_e(title)}" ', 1)
    head = svg.index(">") + 1
    svg = f"{svg[:head]}<title>{_e(title)}</title>{svg[head:]}"
    return Chart(key=key, title=title, svg=svg)


def _style_axes(ax: Any, *, periods: bool = False, unit: PeriodUnit | None = None) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.grid(alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if periods:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if unit is not None:
            # Periods cut from dates read as dates ("2012-03"), not as period indexes.
            ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: short_label(round(x), unit)))
            ax.tick_params(axis="x", labelrotation=30, labelsize=8)


def _legend(ax: Any) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def _empty_note(ax: Any, text: str) -> None:
    """Say, in the middle of an empty chart, why nothing is drawn."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#5b6575")


def _period_markers(
    ax: Any, periods: Sequence[int], height: float, marker: str, size: float, color: str, label: str
) -> None:
    """One marker per period at a fixed height of the axes (a share of it), in the legend.

    Markers sit on the axes' height, not on data, so they stay in view whatever
    the metric's scale; nothing is drawn (or listed) when there is no period.
    """
    if periods:
        ax.scatter(
            periods,
            [height] * len(periods),
            transform=ax.get_xaxis_transform(),
            marker=marker,
            s=size,
            color=color,
            label=label,
            zorder=3,
        )


# ------------------------------------------------------------------- charts
_RETRAIN_COLOR = "#7a4fb3"
_PROMOTE_COLOR = "#1b7f4b"
_BLOCK_COLOR = "#b42318"
_ROLLBACK_COLOR = "#d97706"


def metric_chart(
    points: Sequence[HistoryPoint],
    metric: str,
    w: Wording,
    *,
    current_period: int | None = None,
    rollback_periods: Sequence[int] = (),
) -> Chart:
    """The realized metric per cycle with its interval, the reference, and markers.

    Markers: a retrain (challenger trained), a promotion (challenger became
    champion), a blocked batch, a rollback; the current cycle is shaded.

    Args:
        points: Cycles, oldest first.
        metric: Primary metric name.
        w: The use case's words.
        current_period: Period of the cycle the report is about, shaded.
        rollback_periods: Periods from which a rolled-back-to version served.

    Returns:
        The chart.
    """
    title = f"{w.metric[:1].upper()}{w.metric[1:]} over time, with retrains and promotions"
    fig = _figure(10, 4.2)
    ax = fig.add_subplot()
    measured = [p for p in points if p.period is not None and p.realized is not None]
    if measured:
        xs = [p.period for p in measured]
        ax.plot(
            xs,
            [p.realized for p in measured],
            "o-",
            color="#1f5fae",
            lw=1.6,
            ms=4,
            label="realized on the labels that arrived",
        )
        lows = [p.realized_low if p.realized_low is not None else p.realized for p in measured]
        highs = [p.realized_high if p.realized_high is not None else p.realized for p in measured]
        ax.fill_between(xs, lows, highs, color="#1f5fae", alpha=0.15, lw=0, label="interval")
    refs = [p for p in points if p.period is not None and p.reference is not None]
    if refs:
        ax.step(
            [p.period for p in refs],
            [p.reference for p in refs],
            where="post",
            color="#5b6575",
            ls="--",
            lw=1.2,
            label="normal (champion at training)",
        )
    retrains = [
        p.period for p in points if p.action in ("train", "retrain") and p.period is not None
    ]
    promoted = [p.period for p in points if p.promoted and p.period is not None]
    blocked = [p.period for p in points if p.action == "block" and p.period is not None]
    for x in retrains:
        ax.axvline(x, color=_RETRAIN_COLOR, ls=":", lw=1)
    _period_markers(ax, retrains, 0.97, "v", 60, _RETRAIN_COLOR, "retrain (challenger trained)")
    _period_markers(ax, promoted, 0.90, "*", 140, _PROMOTE_COLOR, "promotion (new champion)")
    _period_markers(ax, blocked, 0.04, "X", 60, _BLOCK_COLOR, "batch rejected by the checks")
    _period_markers(ax, list(rollback_periods), 0.83, "D", 40, _ROLLBACK_COLOR, "rollback")
    if current_period is not None:
        ax.axvspan(
            current_period - 0.5,
            current_period + 0.5,
            color="#f2c94c",
            alpha=0.25,
            lw=0,
            label="this cycle",
        )
    # Markers sit on the axes' height, not on data: the period range is set here.
    xs_all = [p.period for p in points if p.period is not None] + list(rollback_periods)
    if current_period is not None:
        xs_all.append(current_period)
    if xs_all:
        ax.set_xlim(min(xs_all) - 0.6, max(xs_all) + 0.6)
    if not measured:
        _empty_note(ax, f"No {w.outcomes} have arrived yet: nothing measured")
    ax.set_xlabel(w.period)
    ax.set_ylabel(_metric_label(metric, w))
    _style_axes(ax, periods=True, unit=w.unit)
    _legend(ax)
    return _svg(fig, "metric-over-time", title)


def estimate_chart(points: Sequence[HistoryPoint], metric: str, w: Wording) -> Chart:
    """The label-free estimate made when a batch was scored against what was realized later.

    Both are placed at the period the rows belong to: the estimate at the
    cycle that scored the batch, the realized metric (and the estimate on the
    same rows under unchanged P(y|x)) at the latest labeled period of the cycle
    that measured it.

    Args:
        points: Cycles, oldest first.
        metric: Primary metric name.
        w: The use case's words.

    Returns:
        The chart.
    """
    title = f"{w.metric[:1].upper()}{w.metric[1:]}: estimated before the {w.outcomes} arrived, "
    title += "and realized after"
    fig = _figure(10, 4.0)
    ax = fig.add_subplot()
    early = [
        (p.period, p.estimated_current)
        for p in points
        if p.period is not None and p.estimated_current is not None
    ]
    if early:
        xs, ys = zip(*sorted(early), strict=True)
        ax.plot(
            xs,
            ys,
            "s--",
            color="#d97706",
            ms=4,
            lw=1.2,
            label="estimated when scored (no labels yet)",
        )
    real = [p for p in points if p.realized is not None and p.labels_through is not None]
    if real:
        xs = [p.labels_through for p in real]
        ax.plot(
            xs,
            [p.realized for p in real],
            "o-",
            color="#1f5fae",
            ms=4,
            lw=1.6,
            label="realized once labels arrived",
        )
    same = [p for p in real if p.estimated is not None]
    if same:
        xs = [p.labels_through for p in same]
        ax.plot(
            xs,
            [p.estimated for p in same],
            "^:",
            color="#7a4fb3",
            ms=4,
            lw=1.2,
            label="estimated on the same rows (relationship unchanged)",
        )
        lows = [p.estimated_low if p.estimated_low is not None else p.estimated for p in same]
        highs = [p.estimated_high if p.estimated_high is not None else p.estimated for p in same]
        ax.fill_between(xs, lows, highs, color="#7a4fb3", alpha=0.12, lw=0)
    if not (early or real):
        _empty_note(ax, "No estimate or realized value yet")
    ax.set_xlabel(f"{w.period} the rows belong to")
    ax.set_ylabel(_metric_label(metric, w))
    _style_axes(ax, periods=True, unit=w.unit)
    _legend(ax)
    return _svg(fig, "estimated-vs-realized", title)


#: Most features drawn in the drift chart; the table lists all of them.
DRIFT_CHART_FEATURES = 30


def drift_chart(drift: DriftSummary) -> Chart:
    """Each input's drift score as a multiple of its threshold, most important input on top.

    Args:
        drift: The batch's drift summary (importance is the champion's).

    Returns:
        The chart; without known importance, inputs are ranked by score.
    """
    known = sum(f.importance for f in drift.features) > 0
    order = sorted(drift.features, key=lambda f: (-f.importance, -f.score) if known else -f.score)
    shown = order[:DRIFT_CHART_FEATURES]
    title = (
        "Drift per input, ranked by how much the model relies on it"
        if known
        else "Drift per input (the model's reliance on its inputs is not known)"
    )
    fig = _figure(10, 0.9 + 0.34 * max(len(shown), 1))
    ax = fig.add_subplot()
    ratios = [f.score / f.threshold if f.threshold > 0 else 0.0 for f in shown]
    ys = list(range(len(shown)))[::-1]
    colors = ["#b42318" if f.drifted else "#8aa4c8" for f in shown]
    ax.barh(ys, ratios, color=colors, height=0.65)
    labels = [
        f"{f.feature} ({f.importance:.0%})" if known else f.feature for f in shown
    ]  # the share of the model's importance in brackets
    ax.set_yticks(ys, labels=labels, fontsize=9)
    ax.axvline(1.0, color="#1d2430", ls="--", lw=1)
    for y, ratio, f in zip(ys, ratios, shown, strict=True):
        ax.text(ratio, y, f"  {f.score:.3g} ({f.method})", va="center", fontsize=8, color="#1d2430")
    ax.set_xlabel("drift score / threshold (1 = drifted; red bars drifted)")
    ax.set_xlim(0, max([1.3, *ratios]) * 1.25)
    _style_axes(ax)
    return _svg(fig, "drift-by-feature", title)


def guardrail_chart(g: GuardrailSummary, w: Wording) -> Chart:
    """Rows each business-limit rule acted on, by rule and action.

    Args:
        g: The batch's guardrail summary.
        w: The use case's words.

    Returns:
        The chart.
    """
    title = f"Business limits: {w.predictions} acted on, by rule"
    items = sorted(g.actions.items(), key=lambda kv: kv[1])
    fig = _figure(10, 0.9 + 0.4 * max(len(items), 1))
    ax = fig.add_subplot()
    if items:
        ys = list(range(len(items)))
        ax.barh(ys, [v for _, v in items], color="#1f5fae", height=0.6)
        ax.set_yticks(ys, labels=[k.replace(":", ": ") for k, _ in items], fontsize=9)
        for y, (_, v) in zip(ys, items, strict=True):
            ax.text(v, y, f"  {v:,}", va="center", fontsize=8)
        ax.set_xlim(0, max(v for _, v in items) * 1.2)
    else:
        _empty_note(ax, f"No {w.prediction} broke a business limit")
        ax.set_yticks([])
    ax.set_xlabel(f"{w.predictions} (of {g.rows:,}; a {w.prediction} can break several rules)")
    _style_axes(ax)
    return _svg(fig, "guardrails-by-rule", title)


def timeline_chart(spans: Sequence[ChampionSpan], last_period: int | None, w: Wording) -> Chart:
    """Which version was champion in which periods, coloured by how it became champion.

    Args:
        spans: The champion timeline, oldest first.
        last_period: Latest cycle period (where the current champion's bar ends).
        w: The use case's words.

    Returns:
        The chart.
    """
    title = "Which version was in production when"
    versions = sorted({s.change.version for s in spans}, key=lambda v: int(v) if v.isdigit() else 0)
    fig = _figure(10, 0.9 + 0.45 * max(len(versions), 1))
    ax = fig.add_subplot()
    colors = {"first": "#1f5fae", "promotion": _PROMOTE_COLOR, "rollback": _ROLLBACK_COLOR}
    drawn: set[str] = set()
    for s in spans:
        start = s.first_period
        if start is None:
            continue
        end = max((s.last_period if s.end is not None else last_period) or start, start)
        y = versions.index(s.change.version)
        label = {"first": "first model", "promotion": "promotion", "rollback": "rollback"}[
            s.change.kind
        ]
        ax.barh(
            y,
            end - start + 1,
            left=start - 0.5,
            height=0.55,
            color=colors[s.change.kind],
            label=None if label in drawn else label,
        )
        drawn.add(label)
    ax.set_yticks(range(len(versions)), labels=[f"version {v}" for v in versions], fontsize=9)
    ax.set_xlabel(w.period)
    _style_axes(ax, periods=True, unit=w.unit)
    _legend(ax)
    if not drawn:
        _empty_note(ax, "No model was put in production yet")
    return _svg(fig, "champion-timeline", title)


# ------------------------------------------------------------------- tables
def _numbers(numbers: Numbers) -> str:
    shown = [f"{k} = {_fmt(v)}" for k, v in numbers.items() if v is not None]
    return f'<span class="numbers">{_e("; ".join(shown))}</span>' if shown else ""


@dataclass(frozen=True)
class _RuleCount:
    """A count of rows per guardrail rule, listed like a reason for an older record.

    Not a ``Reason``: its code names a rule and action (``rule:cap:clip``), not a
    reason code.
    """

    code: str
    message: str
    numbers: Numbers = field(default_factory=dict)
    passed: bool | None = None


def _reason_items(reasons: Iterable[Reason | _RuleCount]) -> str:
    items = []
    for r in reasons:
        mark, css = {True: ("pass", "pass"), False: ("fail", "fail"), None: ("fact", "fact")}[
            r.passed
        ]
        items.append(
            f'<li><span class="mark {css}">{mark}</span> <code>{_e(r.code)}</code> '
            f"{_e(r.message)}{_numbers(r.numbers)}</li>"
        )
    return f'<ul class="reasons">{"".join(items)}</ul>' if items else "-"


def _decision_table(cycle: RecordedCycle, w: Wording) -> str:
    o = cycle.outcome
    rows: list[tuple[str, str, str]] = [
        ("Data checks (gate)", o.gate.action, _reason_items(o.gate.reasons))
    ]
    if o.guardrails is not None:
        g = o.guardrails
        action = "whole batch held" if g.breaker_tripped else f"{g.violating_rows:,} acted on"
        if g.findings:
            action += f"; {len(g.findings)} batch finding{'' if len(g.findings) == 1 else 's'}"
        # Records carry one reason per rule with its count; an older record without
        # them still shows the counts per rule and action.
        facts = [
            _RuleCount(
                code=f"rule:{k}",
                message=f"{v:,} {w.prediction}{'' if v == 1 else 's'} ({k.split(':')[-1]})",
            )
            for k, v in sorted(g.actions.items())
            if not g.reasons
        ]
        rows.append(("Business limits (guardrails)", action, _reason_items([*g.reasons, *facts])))
    if o.retrain is not None:
        rows.append(("Retrain", o.retrain.action, _reason_items(o.retrain.checked)))
    if o.promotion is not None:
        action = o.promotion.action
        extra = []
        if o.superseded_by is not None:
            action = "superseded"
            extra.append(
                reason(
                    ReasonCode.SUPERSEDED,
                    {"champion": o.superseded_by},
                    passed=False,
                    action=o.promotion.action,
                )
            )
        rows.append(("Promotion", action, _reason_items([*extra, *o.promotion.reasons])))
    body = "".join(
        f'<tr><th scope="row">{_e(name)}</th><td class="action">{_e(action)}</td>'
        f"<td>{reasons}</td></tr>"
        for name, action, reasons in rows
    )
    return (
        '<table id="decisions"><thead><tr><th>decision</th><th>action</th>'
        f"<th>reasons (code, outcome, numbers)</th></tr></thead><tbody>{body}</tbody></table>"
    )


def _performance_table(cycle: RecordedCycle, w: Wording) -> str:
    p = cycle.outcome.performance
    if p is None:
        return "<p>No performance was measured in this cycle (no model scored the data).</p>"
    rows = [("normal: the champion one step after its training", "-", p.reference, None, None)]
    if p.realized is not None:
        r = p.realized
        rows.append(("realized on the newly labeled rows", r.rows, r.value, r.low, r.high))
    if p.estimated is not None:
        rows.append(
            (
                f"estimated on the same rows, relationship unchanged ({p.estimate_method})",
                _fmt(p.new_labeled_rows) + sample_note(p.estimated_sampled_rows),
                p.estimated,
                p.estimated_low,
                p.estimated_high,
            )
        )
    if p.current_estimate is not None:
        e = p.current_estimate
        rows.append(
            (
                "estimated on the batch just scored (no labels yet)",
                _fmt(e.rows) + sample_note(e.sampled_rows),
                e.value,
                e.low,
                e.high,
            )
        )
    body = "".join(
        f"<tr><td>{_e(what)}</td><td class='num'>{_fmt(n)}</td><td class='num'>{_fmt(v)}</td>"
        f"<td class='num'>{'-' if lo is None else f'{_fmt(lo)} to {_fmt(hi)}'}</td></tr>"
        for what, n, v, lo, hi in rows
    )
    said = [
        s
        for s in (
            attribution_sentence(p, cycle.decay_cause, w),
            estimate_sentence(p, w),
        )
        if s
    ]
    notes = "".join(f"<p>{_e(s)}</p>" for s in said)
    return (
        f'<table id="performance"><thead><tr><th>{_e(_metric_label(p.metric, w))}</th>'
        "<th class='num'>rows</th><th class='num'>value</th><th class='num'>interval</th>"
        f"</tr></thead><tbody>{body}</tbody></table>{notes}"
    )


def _drift_table(drift: DriftSummary) -> str:
    order = sorted(drift.features, key=lambda f: (-f.importance, -f.score))
    body = "".join(
        f"<tr><td>{_e(f.feature)}</td><td class='num'>{_pct(f.importance)}</td>"
        f"<td>{_e(f.method)}</td><td class='num'>{_fmt(f.score)}</td>"
        f"<td class='num'>{_fmt(f.threshold)}</td>"
        f"<td class='num'>{_fmt(f.p_value)}</td>"
        + (
            "<td class='fail'>drifted</td></tr>"
            if f.drifted
            else "<td class='pass'>stable</td></tr>"
        )
        for f in order
    )
    extra = [f"drift share {_pct(drift.drift_share)}"]
    extra.append(f"importance-weighted {_pct(drift.importance_weighted_share)}")
    if drift.prediction_drift is not None:
        extra.append(f"prediction drift {_fmt(drift.prediction_drift)}")
    if drift.domain_auc is not None:
        extra.append(f"domain classifier AUC {_fmt(drift.domain_auc)}")
    extra.append(f"{drift.reference_rows:,} reference rows vs {drift.current_rows:,} new rows")
    return (
        f"<p>{_e(drift_sentence(drift) or '')} <span class='note'>({_e(', '.join(extra))})"
        "</span></p>"
        '<table id="drift"><thead><tr><th>input</th><th class="num">importance</th>'
        "<th>method</th><th class='num'>score</th><th class='num'>threshold</th>"
        f"<th class='num'>p-value</th><th>verdict</th></tr></thead><tbody>{body}</tbody></table>"
    )


def _review_table(queue: ReviewQueue, usecase: UseCase, w: Wording) -> str:
    if queue.total == 0:
        return f"<p>No {w.prediction} of this batch was held back for review.</p>"
    seg = usecase.data.segment_column
    head = (
        f"<th>{_e(usecase.data.id_column)}</th>"
        + (f"<th>{_e(seg)}</th>" if seg else "")
        + f"<th class='num'>model's {_e(w.prediction)}</th>"
        + f"<th class='num'>proposed {_e(w.prediction)}</th><th>rules broken</th><th>status</th>"
    )
    body = "".join(
        f"<tr><td>{_e(r.row_id)}</td>"
        + (f"<td>{_e(r.segment or '-')}</td>" if seg else "")
        + f"<td class='num'>{_fmt(r.raw_prediction)}</td>"
        + f"<td class='num'>{_fmt(r.proposed_prediction)}</td>"
        + f"<td>{_e('; '.join(r.violations) or '-')}</td><td>{_e(r.status)}</td></tr>"
        for r in queue.rows
    )
    rules = ", ".join(f"{k}: {v:,}" for k, v in queue.by_rule.items())
    status = ", ".join(f"{k}: {v:,}" for k, v in queue.by_status.items())
    more = (
        f" The first {len(queue.rows)} are listed; the rest are in the review folder."
        if queue.total > len(queue.rows)
        else ""
    )
    return (
        f"<p>{queue.total:,} {w.predictions} of this batch wait in the review queue instead of "
        f"being sent (by rule: {_e(rules or '-')}; by status: {_e(status or '-')}).{more}</p>"
        f'<table id="review-queue"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    )


def _evidently_section(drift_html: str | None, sample_rows: int | None) -> str:
    if drift_html is None:
        return (
            '<section id="drift-report"><h2>Evidently drift report</h2><p class="note">'
            "Not included: this cycle measured no drift (no model scored the data), or the "
            "report was not requested.</p></section>"
        )
    packed = base64.b64encode(gzip.compress(drift_html.encode("utf-8"), 6)).decode("ascii")
    sample = f" on a sample of at most {sample_rows:,} rows per side" if sample_rows else ""
    return (
        '<section id="drift-report"><h2>Evidently drift report</h2>'
        f"<p class='note'>Evidently's interactive report{_e(sample)}, the same methods per "
        "input type as the decision (its per-input verdicts for tests are uncorrected p-values: "
        "the table above is the record). It needs JavaScript; it is packed inside this file.</p>"
        '<iframe id="evidently-report" title="Evidently data drift report"></iframe>'
        f'<script type="application/octet-stream" id="evidently-data">{packed}</script>'
        f"<script>{_EVIDENTLY_SCRIPT}</script></section>"
    )


def _page(title: str, header: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        # The policy holds no double quote: single quotes stay readable in the file.
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(REPORT_CSP, False)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f"<body><main><header>{header}</header>{body}</main></body></html>\n"
    )


# ------------------------------------------------------------- cycle report
def render_cycle_report(
    cycle: RecordedCycle,
    history: History,
    usecase: UseCase,
    *,
    generated_at: dt.datetime,
    review: ReviewQueue | None = None,
    drift_report_html: str | None = None,
    drift_sample_rows: int | None = None,
) -> str:
    """The report of one cycle as one self-contained HTML document.

    Args:
        cycle: The cycle's recorded decisions.
        history: Earlier cycles (for the charts over time), up to this one.
        usecase: The use case (its words, metric and columns).
        generated_at: When the report is made (shown in the header).
        review: The batch's review queue, if any rows were held.
        drift_report_html: Evidently's HTML report of the batch, embedded packed.
        drift_sample_rows: Rows each side of the Evidently report was sampled to.

    Returns:
        The HTML document.
    """
    o = cycle.outcome
    w = wording_for(usecase)
    metric = usecase.metric.primary
    charts: list[Chart] = [
        metric_chart(history.points, metric, w, current_period=o.period),
        estimate_chart(history.points, metric, w),
    ]
    if o.drift is not None:
        charts.append(drift_chart(o.drift))
    if o.guardrails is not None:
        charts.append(guardrail_chart(o.guardrails, w))
    summary = cycle_summary(o, w)
    champion = o.champion_version or "none"
    header = (
        f"<h1>{_e(usecase.name)}: {_e(w.when(o.period))}</h1>"
        + (f"<p>{_e(usecase.description)}</p>" if usecase.description else "")
        + f"<p>Batch <code>{_e(o.batch)}</code> ({o.gate.rows:,} rows, sha256 "
        f"<code>{_e(o.gate.batch_sha256[:12])}</code>) &middot; model in production after this "
        f"cycle: version {_e(champion)} &middot; decision run <code>{_e(cycle.run_id)}</code>"
        f" &middot; report made {_e(generated_at.strftime('%Y-%m-%d %H:%M UTC'))}</p>"
    )
    by_key = {c.key: c for c in charts}
    sections = [
        f'<section id="summary"><p class="summary">{_e(summary)}</p></section>',
        "<h2>Decisions, with their reasons and numbers</h2>",
        _decision_table(cycle, w),
        "<h2>Performance</h2>",
        by_key["metric-over-time"].html(),
        _performance_table(cycle, w),
        by_key["estimated-vs-realized"].html(),
    ]
    if o.drift is not None:
        sections += [
            "<h2>Data drift</h2>",
            by_key["drift-by-feature"].html(),
            _drift_table(o.drift),
        ]
    if o.guardrails is not None:
        sections += [
            "<h2>Business limits and the review queue</h2>",
            f"<p>{_e(guardrail_sentence(o.guardrails, w) or '')}</p>",
            by_key["guardrails-by-rule"].html(),
            _review_table(review or ReviewQueue(o.batch, 0, (), {}, {}), usecase, w),
        ]
    sections.append(_evidently_section(drift_report_html, drift_sample_rows))
    return _page(f"{usecase.name}: {w.when(o.period)}", header, "".join(sections))


def evidently_drift_html(
    reference: pd.DataFrame, current: pd.DataFrame, usecase: UseCase, *, seed: int
) -> str:
    """Evidently's drift report of a batch against a reference, on the use case's bounded sample.

    Args:
        reference: The champion's reference data.
        current: The batch.
        usecase: Gives the features, methods and ``drift.report_sample_rows``.
        seed: Seed of the sampling.

    Returns:
        Evidently's HTML document.
    """
    from tasks.drift import render_drift_report

    with tempfile.TemporaryDirectory(prefix="mlops-drift-report-") as tmp:
        path = render_drift_report(
            reference,
            current,
            usecase,
            Path(tmp) / "drift.html",
            sample_rows=usecase.drift.report_sample_rows,
            seed=seed,
        )
        return path.read_text(encoding="utf-8")


# ----------------------------------------------------------- history report
def _history_table(history: History, w: Wording) -> str:
    body = []
    for p in reversed(history.points):
        summary = (
            cycle_summary(p.cycle.outcome, w) if p.cycle is not None else "(record not readable)"
        )
        promotion = p.promotion or "-"
        if p.superseded_by:
            promotion = f"superseded by version {p.superseded_by}"
        body.append(
            f"<tr><td class='num'>{_fmt(p.period)}</td><td>{_e(p.batch)}</td>"
            f"<td class='action'>{_e(p.action)}</td><td><code>{_e(', '.join(p.reasons[:1]))}"
            f"</code></td><td>{_e(promotion)}</td><td>{_e(p.champion_version or '-')}</td>"
            f"<td class='num'>{_fmt(p.realized)}</td><td>{_e(summary)}</td></tr>"
        )
    return (
        '<table id="history-decisions"><thead><tr><th class="num">' + _e(w.period) + "</th>"
        "<th>batch</th><th>decision</th><th>deciding reason</th><th>promotion</th>"
        f"<th>champion after</th><th class='num'>realized</th><th>summary</th></tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _timeline_table(spans: Sequence[ChampionSpan], w: Wording) -> str:
    body = []
    for s in spans:
        c = s.change
        served = "-"
        if s.first_period is not None:
            until = "now" if s.end is None else w.when(s.last_period)
            served = f"{w.when(s.first_period)} to {until}"
        when = f"{s.start.strftime('%Y-%m-%d %H:%M')} to " + (
            "now" if s.end is None else s.end.strftime("%Y-%m-%d %H:%M")
        )
        body.append(
            f"<tr><td>version {_e(c.version)}</td><td>{_e(served)}</td><td>{_e(when)}</td>"
            f"<td>{_e(c.kind)}</td><td>{_e(champion_change_sentence(c, w))}</td></tr>"
        )
    return (
        '<table id="champion-timeline"><thead><tr><th>champion</th><th>served</th>'
        "<th>from - to (UTC)</th><th>how</th><th>why it changed</th></tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def render_history_report(
    history: History, usecase: UseCase, *, generated_at: dt.datetime, since_label: str | None
) -> str:
    """The history of a use case across cycles as one self-contained HTML document.

    Champion timeline (which version was champion when, and why it changed),
    every cycle's decision, and performance over time.

    Args:
        history: The decisions (records read).
        usecase: The use case.
        generated_at: When the report is made.
        since_label: How the window was asked for (e.g. "period 12"), or None for all.

    Returns:
        The HTML document.
    """
    w = wording_for(usecase)
    metric = usecase.metric.primary
    periods = [p.period for p in history.points if p.period is not None]
    last = max(periods) if periods else None
    rollback_periods = [
        s.first_period
        for s in history.timeline
        if s.change.kind == "rollback" and s.first_period is not None
    ]
    charts = [
        timeline_chart(history.timeline, last, w),
        metric_chart(history.points, metric, w, rollback_periods=rollback_periods),
        estimate_chart(history.points, metric, w),
    ]
    counts: dict[str, int] = {}
    for p in history.points:
        counts[p.action] = counts.get(p.action, 0) + 1
    promoted = sum(p.promoted for p in history.points)
    window = f"since {since_label}" if since_label else "all recorded cycles"
    span = w.span(min(periods), max(periods)) if periods else "no cycle"
    facts = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "none"
    current = next((s for s in reversed(history.timeline) if s.end is None), None)
    now = (
        f"Version {current.change.version} is in production now."
        if current is not None
        else "No model is in production."
    )
    summary = (
        f"{len(history.points)} cycles ({span}): decisions {facts}; {promoted} promotion(s), "
        f"{len(history.rollbacks)} rollback(s). {now}"
    )
    header = (
        f"<h1>{_e(usecase.name)}: history, {_e(window)}</h1>"
        + (f"<p>{_e(usecase.description)}</p>" if usecase.description else "")
        + f"<p>Report made {_e(generated_at.strftime('%Y-%m-%d %H:%M UTC'))}"
        + (" &middot; only the newest decisions were read" if history.truncated else "")
        + "</p>"
    )
    body = [
        f'<section id="summary"><p class="summary">{_e(summary)}</p></section>',
        "<h2>Champion timeline</h2>",
        charts[0].html(),
        _timeline_table(history.timeline, w),
        "<h2>Performance</h2>",
        charts[1].html(),
        charts[2].html(),
        "<h2>Decisions, newest first</h2>",
        _history_table(history, w),
    ]
    return _page(f"{usecase.name}: history", header, "".join(body))


__all__ = [
    "REPORT_CSP",
    "Chart",
    "drift_chart",
    "estimate_chart",
    "evidently_drift_html",
    "guardrail_chart",
    "metric_chart",
    "render_cycle_report",
    "render_history_report",
    "timeline_chart",
]
