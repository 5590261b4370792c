"""Several runs in one report, side by side: judge A vs judge B on the same items.

The page holds, for every run, its summary with confidence intervals (:mod:`jurist.metrics.summary`), the
charts of :mod:`jurist.report.charts` drawn for all runs together, the judge card of each run whose judge was
audited in the store, and the items where the judges and the
humans disagree most, with the texts side by side. One run gives the same page with one column.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from markupsafe import Markup

from jurist.audits.card import StoredCard
from jurist.engine.store import RunRecord
from jurist.metrics.agreement import judgment_correct
from jurist.metrics.summary import compare_summary, score_summary
from jurist.report import charts
from jurist.report.card import CSS as CARD_CSS
from jurist.report.card import card_sections
from jurist.report.charts import MISSING, ChartRun, charts_for, vega_javascript
from jurist.report.html import _chart_run, _kind, _template, _time, _version, write_html
from jurist.types import Item, Judgment

__all__ = ["Disagreement", "render_runs_report", "write_runs_report"]

TEMPLATE = "runs.html.j2"


@dataclass
class Decision:
    """One run's decision on an item, as shown next to the texts."""

    text: str
    wrong: bool | None


@dataclass
class Disagreement:
    """An item the judges got wrong (or far from the label), the most confidently wrong first."""

    item_id: str
    item: Item | None
    label: str
    decisions: list[Decision]
    weight: float


def _decision(j: Judgment | None) -> Decision:
    if j is None:
        return Decision("not judged", None)
    v = j.verdict
    if not v.ok:
        return Decision(v.status, None)
    if v.kind == "compare":
        probs = " ".join(f"{name} {p:.2f}" for name, p in (("P(A)", v.p_a), ("P(B)", v.p_b)) if p is not None)
        text = f"{v.preference} ({probs})"
    else:
        text = f"{v.score:.2f}" + (f" (top {v.top_label})" if v.top_label is not None else "")
    return Decision(text, None if j.label is None else not judgment_correct(j))


def _weight(j: Judgment | None) -> float:
    """How badly a verdict misses its label: the confidence of a wrong preference, the score's distance."""
    if j is None or not j.verdict.ok or j.label is None:
        return 0.0
    if j.verdict.kind == "compare":
        correct = judgment_correct(j)
        return 0.0 if correct is None or correct else (j.verdict.confidence or 0.5)
    try:
        return abs(float(j.verdict.score or 0.0) - float(j.label))
    except (TypeError, ValueError):
        return 0.0


def disagreements(runs: Sequence[ChartRun], items: dict[str, Item], limit: int = 12) -> list[Disagreement]:
    """The items where the runs' verdicts miss the human label most (summed over runs), worst first."""
    by_run = [{j.item_id: j for j in r.judgments} for r in runs]
    ids = list(dict.fromkeys(i for table in by_run for i in table))
    out = []
    for item_id in ids:
        judged = [table.get(item_id) for table in by_run]
        weight = sum(_weight(j) for j in judged)
        if weight <= 0 or not math.isfinite(weight):
            continue
        label = next((j.label for j in judged if j is not None and j.label is not None), None)
        out.append(Disagreement(item_id, items.get(item_id), "" if label is None else str(label),
                                [_decision(j) for j in judged], weight))
    return sorted(out, key=lambda d: -d.weight)[:limit]


def render_runs_report(runs: Sequence[tuple[RunRecord, list[Judgment]]], *, items: dict[str, Item] | None = None,
                       title: str = "jurist report", cards: Sequence[StoredCard | None] = ()) -> str:
    """The HTML page (see :func:`write_runs_report`)."""
    items = items or {}
    names = [record.name or record.id for record, _ in runs]
    if len(set(names)) < len(names):  # two runs of one name: tell them apart by id
        names = [f"{n} ({record.id[:6]})" for n, (record, _) in zip(names, runs, strict=True)]
    views = [_chart_run(name, _kind(js), js, items, record) for name, (record, js) in zip(names, runs, strict=True)]
    summaries = [(compare_summary(v.judgments) if v.kind == "compare" else score_summary(v.judgments)).rows()
                 for v in views]
    metrics = list(dict.fromkeys(name for rows in summaries for name, _ in rows))
    table = [(m, [dict(rows).get(m, "") for rows in summaries]) for m in metrics]
    headers = [[("judge", str(r.judge.get("judge", ""))), ("protocol", str(r.judge.get("protocol", ""))),
                ("strategy", str(r.judge.get("strategy", ""))), ("status", r.status), ("created", _time(r.created)),
                ("judgments", str(len(js)))] for r, js in runs]
    return _template(TEMPLATE).render(
        title=title, names=names, headers=headers, table=table, charts=charts_for(views),
        disagreements=disagreements(views, items),
        cards=card_sections([(name, card) for name, card in zip(names, cards, strict=False) if card is not None]),
        card_css=Markup(CARD_CSS), vega_js=vega_javascript(), charts_available=charts.charts_available(),
        charts_missing=MISSING, version=_version(),
        generated=_time(datetime.now(tz=timezone.utc).timestamp()))


def write_runs_report(path: str | os.PathLike[str], runs: Sequence[tuple[RunRecord, list[Judgment]]], *,
                      items: dict[str, Item] | None = None, title: str = "jurist report",
                      cards: Sequence[StoredCard | None] = ()) -> Path:
    """Write one self-contained HTML file comparing ``runs`` (a run and its judgments each); ``items`` (by id)
    add the texts and fill missing labels; ``cards`` (one per run, None for a run without one:
    :func:`jurist.audits.card_for_run`) add the judge cards. Written atomically, like
    :func:`~jurist.report.write_report`."""
    return write_html(path, render_runs_report(runs, items=items, title=title, cards=cards))
