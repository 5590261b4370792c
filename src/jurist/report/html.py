"""A run as one self-contained HTML file: header, summary table, charts, the judge card, every item.

:func:`write_report` renders ``templates/report.html.j2`` with jinja2
(autoescape on: every string from the data is escaped) into a single file with
inline CSS, Vega-Lite charts (:mod:`jurist.report.charts`, Vega's JavaScript inlined) and a few lines of
inline JavaScript for column sorting.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from jurist.audits.card import StoredCard
from jurist.engine.store import RunRecord
from jurist.report import charts
from jurist.report.card import CSS as CARD_CSS
from jurist.report.card import card_sections
from jurist.report.charts import MISSING, ChartRun, charts_for, vega_javascript
from jurist.metrics.summary import compare_summary, score_summary
from jurist.types import Item, Judgment, Verdict

__all__ = ["render_report", "write_report"]

TEMPLATE = "report.html.j2"
TRUNCATE = 300

# Totals written by the engine, in display order, with their labels.
_TOTALS = [
    ("model_calls", "model calls"),
    ("cache_hits", "cache hits"),
    ("retries", "retries"),
    ("prompt_tokens", "prompt tokens"),
    ("completion_tokens", "completion tokens"),
    ("cached_prompt_tokens", "cached prompt tokens"),
    ("scored", "scored"),
    ("unscored", "unscored"),
    ("failed", "failed"),
    ("skipped", "skipped (resumed)"),
    ("input_skipped", "skipped input rows"),
    ("wall_s", "wall time"),
    ("cost_usd", "cost"),
    ("errors", "errors"),
]


# ---------------------------------------------------------------- rows


def _fmt_num(x: float) -> str:
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.2f}".rstrip("0").rstrip(".")


def _preference(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return {"a": "A", "b": "B", "tie": "tie"}.get(value.strip().lower())


def _pct(p: float | None) -> str:
    return "" if p is None else f"{p:.3f}"


def _numeric_key(label: str) -> tuple[bool, float, str]:
    try:
        x = float(label)
    except ValueError:
        return (True, 0.0, label)
    return (not math.isfinite(x), x if math.isfinite(x) else 0.0, label)


@dataclass
class Row:
    id: str
    input: str | None
    reference: str | None
    candidates: list[tuple[str, str]]
    verdict: Verdict
    status: str
    decision: str
    probs: list[tuple[str, str]]
    label: str
    match: bool | None

    @property
    def flags(self) -> str:
        out = [self.status]
        if self.status != "scored":
            out.append("problem")
        if self.match is False:
            out.append("disagree")
        if self.verdict.orders_agree is False:
            out.append("orders-disagree")
        return " ".join(out)


def _row(j: Judgment, item: Item | None, kind: str) -> Row:
    v = j.verdict
    label_value = j.label if j.label is not None else (item.label if item is not None else None)
    label = "" if label_value is None else (_fmt_num(label_value) if isinstance(label_value, float | int)
                                            and not isinstance(label_value, bool) else str(label_value))
    match: bool | None = None
    if kind == "compare":
        names = ["A", "B"] if item is not None and len(item.candidates) == 2 else None
        decision = v.preference or ""
        probs = [(name, _pct(p)) for name, p in (("P(A)", v.p_a), ("P(B)", v.p_b), ("P(tie)", v.p_tie))
                 if p is not None]
        gold = _preference(label_value)
        if gold is not None and v.ok and v.preference is not None:
            match = v.preference == gold
    else:
        names = None
        decision = "" if v.score is None else f"{v.score:.3f}"
        if v.top_label is not None:
            decision += f" (top {v.top_label})" if decision else f"top {v.top_label}"
        keys = sorted(v.distribution, key=_numeric_key)
        probs = [(k, f"{v.distribution[k]:.3f}") for k in keys]
    if v.metadata.get("modality"):  # what the judge saw: the images, or a caption/transcript standing in
        decision += f" · judged from {v.metadata['modality']}"
    candidates: list[tuple[str, str]] = []
    if item is not None:
        if names is None:
            names = ["response"] if len(item.candidates) == 1 else [f"#{i + 1}" for i in range(len(item.candidates))]
        candidates = list(zip(names, item.candidates, strict=True))
    return Row(id=j.item_id, input=item.input if item is not None else None,
               reference=item.reference if item is not None else None, candidates=candidates, verdict=v,
               status=v.status, decision=decision, probs=probs, label=label, match=match)


# ---------------------------------------------------------------- header


def _time(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{int(minutes)} min {sec:.0f} s"
    hours, minutes = divmod(minutes, 60)
    return f"{int(hours)} h {int(minutes)} min"


def _total_text(key: str, value: Any) -> str:
    if key == "wall_s" and isinstance(value, int | float):
        return _duration(float(value))
    if key == "cost_usd" and isinstance(value, int | float):
        return f"${value:.4f}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items()) or "none"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3f}"
    return str(value)


def _totals(totals: dict[str, Any]) -> list[tuple[str, str]]:
    known = dict(_TOTALS) | {"input_errors": ""}  # the reasons are listed under the totals, one per line
    rows = [(name, _total_text(key, totals[key])) for key, name in _TOTALS if key in totals]
    rows += [(key, _total_text(key, value)) for key, value in totals.items() if key not in known]
    if "prompt_tokens" in totals and "completion_tokens" in totals:
        total = totals["prompt_tokens"] + totals["completion_tokens"]
        at = next(i for i, (name, _) in enumerate(rows) if name == "completion tokens") + 1
        rows.insert(at, ("total tokens", f"{total:,}"))
    return rows


def _kind(judgments: Sequence[Judgment]) -> str:
    kinds = Counter(j.verdict.kind for j in judgments)
    return "compare" if kinds["compare"] > kinds["score"] else "score"


def _version() -> str:
    try:
        return metadata.version("jurist")
    except metadata.PackageNotFoundError:
        return ""


# ---------------------------------------------------------------- rendering


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(loader=PackageLoader("jurist.report", "templates"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _template(name: str = TEMPLATE) -> Any:
    return _environment().get_template(name)


def _chart_run(name: str, kind: str, judgments: Sequence[Judgment], items: dict[str, Item],
               run: RunRecord | None) -> ChartRun:
    """The run as the charts see it: labels filled in from the items where the judgments lack them."""
    filled = [j if j.label is not None or j.item_id not in items or items[j.item_id].label is None
              else j.model_copy(update={"label": items[j.item_id].label}) for j in judgments]
    scale = [str(s) for s in (run.judge.get("scale") or [])] if run is not None else []
    return ChartRun(name=name, kind=kind, judgments=filled, scale=scale)


def render_report(
    *,
    title: str,
    judgments: Sequence[Judgment],
    items: dict[str, Item] | None = None,
    run: RunRecord | None = None,
    summary_rows: list[tuple[str, str]] | None = None,
    card: StoredCard | None = None,
) -> str:
    """The report as an HTML string (see :func:`write_report`)."""
    judgments = list(judgments)
    kind = _kind(judgments)
    if summary_rows is None:
        summary_rows = (compare_summary(judgments) if kind == "compare" else score_summary(judgments)).rows()
    items = items or {}
    rows = [_row(j, items.get(j.item_id), kind) for j in judgments]
    has_label = any(r.label for r in rows)
    header: list[tuple[str, str]] = []
    judge: dict[str, Any] = {}
    versions: dict[str, Any] = {}
    totals: list[tuple[str, str]] = []
    input_errors: list[str] = []
    if run is not None:
        judge = dict(run.judge)
        header = [("run", run.id + (f" ({run.name})" if run.name else "")), ("status", run.status)]
        if "judge" in judge:
            header.append(("judge", str(judge["judge"])))
        if "protocol" in judge:
            proto = str(judge["protocol"]) + (f" v{judge['version']}" if judge.get("version") is not None else "")
            header.append(("protocol", proto))
        if "strategy" in judge:
            header.append(("strategy", str(judge["strategy"])))
        header.append(("created", _time(run.created)))
        if run.finished is not None:
            header.append(("finished", _time(run.finished)))
        if run.command:
            header.append(("command", run.command))
        versions = dict(run.info.get("versions") or {})
        totals = _totals(run.totals)
        input_errors = [str(reason) for reason in run.totals.get("input_errors") or []]
    else:
        for name, values in (("judge", {j.judge for j in judgments}), ("protocol", {j.protocol for j in judgments})):
            if values:
                header.append((name, ", ".join(sorted(values))))
    counts = Counter(r.status for r in rows)
    filters = [("all", "all", len(rows))]
    if has_label and kind == "compare":
        filters.append(("disagree", "disagree with label", sum(r.match is False for r in rows)))
    filters.append(("problem", "unscored + failed", counts["unscored"] + counts["failed"]))
    if kind == "compare":
        filters.append(("orders-disagree", "orders disagree", sum(r.verdict.orders_agree is False for r in rows)))
    return _template().render(
        title=title,
        kind=kind,
        header=header,
        judge=judge,
        versions=versions,
        totals=totals,
        input_errors=input_errors,
        input_skipped=run.totals.get("input_skipped", 0) if run is not None else 0,
        summary_rows=summary_rows,
        charts=charts_for([_chart_run(run.name or run.id if run is not None else title, kind, judgments, items,
                                      run)]),
        vega_js=vega_javascript(), charts_available=charts.charts_available(), charts_missing=MISSING,
        rows=rows,
        cards=card_sections([(run.name or run.id if run is not None else title, card)] if card else []),
        card_css=Markup(CARD_CSS),
        dimension_names=list(dict.fromkeys(name for j in judgments for name in j.verdict.dimensions)),
        show_candidates=bool(items) and any(r.candidates for r in rows),
        has_label=has_label,
        show_match=has_label and kind == "compare",
        filters=filters,
        truncate=TRUNCATE,
        generated=_time(datetime.now(tz=timezone.utc).timestamp()),
        version=_version(),
    )


def write_report(
    path: str | os.PathLike[str],
    *,
    title: str,
    judgments: list[Judgment],
    items: dict[str, Item] | None = None,
    run: RunRecord | None = None,
    summary_rows: list[tuple[str, str]] | None = None,
    card: StoredCard | None = None,
) -> Path:
    """Write a self-contained HTML report of ``judgments`` to ``path`` and return the path.

    ``items`` (by id) adds the candidates and fills missing labels; ``run`` adds
    the run header (judge, protocol, versions, totals). ``summary_rows``
    defaults to :func:`~jurist.metrics.compare_summary` for pairwise judgments
    and :func:`~jurist.metrics.score_summary` otherwise; ``card`` (an audit's judge card of the run's judge,
    :func:`jurist.audits.card_for_run`) adds its section. The file is written
    atomically (a temporary file in the same directory, then ``os.replace``);
    parent directories are created.
    """
    html = render_report(title=title, judgments=judgments, items=items, run=run, summary_rows=summary_rows, card=card)
    return write_html(path, html)


def write_html(path: str | os.PathLike[str], html: str) -> Path:
    """Write ``html`` to ``path`` atomically (a temporary file in the same directory, then ``os.replace``),
    readable by all (a report is meant to be shared); parent directories are created."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(html)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return target
