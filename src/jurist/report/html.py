"""A run as one self-contained HTML file: header, summary table, charts, every item.

:func:`write_report` renders ``templates/report.html.j2`` with jinja2
(autoescape on: every string from the data is escaped) into a single file with
inline CSS, hand-written inline SVG charts and a few lines of optional inline
JavaScript (row filters and column sorting; the page is complete without it).
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

from jinja2 import Environment, StrictUndefined

from jurist.engine.store import RunRecord
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


# ---------------------------------------------------------------- charts


@dataclass
class Bar:
    x: float
    y: float
    w: float
    h: float
    count: int
    tip: str
    cls: str = ""


@dataclass
class Chart:
    """Geometry of a simple vertical bar chart, drawn by the template as inline SVG."""

    title: str
    bars: list[Bar]
    ticks: list[tuple[float, str]]  # (x, text) under the x axis
    ymax: int
    width: int = 360
    height: int = 180
    left: int = 34
    bottom: int = 22
    top: int = 10
    note: str = ""

    @property
    def plot_h(self) -> int:
        return self.height - self.top - self.bottom

    @property
    def plot_w(self) -> int:
        return self.width - self.left - 8


def _fmt_num(x: float) -> str:
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.2f}".rstrip("0").rstrip(".")


def _bar_chart(title: str, labels: Sequence[str], counts: Sequence[int], tips: Sequence[str],
               note: str = "") -> Chart:
    chart = Chart(title=title, bars=[], ticks=[], ymax=max([1, *counts]), note=note)
    n = max(1, len(labels))
    slot = chart.plot_w / n
    gap = min(6.0, slot * 0.15)
    for i, (label, count, tip) in enumerate(zip(labels, counts, tips, strict=True)):
        h = chart.plot_h * count / chart.ymax
        x = chart.left + i * slot + gap / 2
        chart.bars.append(Bar(x=round(x, 2), y=round(chart.top + chart.plot_h - h, 2), w=round(slot - gap, 2),
                              h=round(h, 2), count=count, tip=tip))
        chart.ticks.append((round(x + (slot - gap) / 2, 2), label))
    return chart


def _histogram(title: str, values: Sequence[float], lo: float, hi: float, bins: int, note: str = "",
               tick_every: int | None = None) -> Chart:
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    width = (hi - lo) / bins
    counts = [0] * bins
    for v in values:
        if v is None or not math.isfinite(v):
            continue
        counts[min(bins - 1, max(0, int((v - lo) / width)))] += 1
    edges = [lo + i * width for i in range(bins + 1)]
    tips = [f"[{edges[i]:.2f}, {edges[i + 1]:.2f}{']' if i == bins - 1 else ')'}: {c}" for i, c in enumerate(counts)]
    chart = Chart(title=title, bars=[], ticks=[], ymax=max([1, *counts]), note=note)
    slot = chart.plot_w / bins
    for i, (count, tip) in enumerate(zip(counts, tips, strict=True)):
        h = chart.plot_h * count / chart.ymax
        x = chart.left + i * slot
        chart.bars.append(Bar(x=round(x + 0.5, 2), y=round(chart.top + chart.plot_h - h, 2),
                              w=round(slot - 1, 2), h=round(h, 2), count=count, tip=tip))
    step = tick_every or max(1, bins // 5)
    for i in range(0, bins + 1, step):
        chart.ticks.append((round(chart.left + i * slot, 2), _fmt_num(round(edges[i], 2))))
    if bins % step:
        chart.ticks.append((round(chart.left + bins * slot, 2), _fmt_num(round(edges[-1], 2))))
    return chart


# ---------------------------------------------------------------- rows


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
def _template() -> Any:
    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    source = resources.files("jurist.report").joinpath("templates").joinpath(TEMPLATE).read_text(encoding="utf-8")
    return env.from_string(source)


def _charts(kind: str, judgments: Sequence[Judgment], run: RunRecord | None) -> list[Chart]:
    scored = [j.verdict for j in judgments if j.verdict.ok]
    if kind == "compare":
        p_a = [v.p_a for v in scored if v.p_a is not None]
        agree = [v.orders_agree for v in scored if v.orders_agree is not None]
        charts = [_histogram("P(A) over scored verdicts", p_a, 0.0, 1.0, 10, note=f"n={len(p_a)}")]
        prefs = Counter(v.preference for v in scored if v.preference is not None)
        names = ["A", "B", "tie"]
        charts.append(_bar_chart("Preferences", names, [prefs[p] for p in names],
                                 [f"{p}: {prefs[p]}" for p in names]))
        if agree:
            k = sum(agree)
            chart = _bar_chart("Both orders", ["agree", "disagree"], [k, len(agree) - k],
                               [f"agree: {k}", f"disagree: {len(agree) - k}"],
                               note=f"orders agreed on {k}/{len(agree)} ({k / len(agree):.1%})")
            chart.bars[1].cls = "bad"
            charts.append(chart)
        return charts
    tops = Counter(v.top_label for v in scored if v.top_label is not None)
    scale = [str(s) for s in (run.judge.get("scale") or [])] if run is not None else []
    labels = list(scale) + sorted((t for t in tops if t not in scale), key=_numeric_key)
    charts = [_bar_chart("Top label", labels, [tops[t] for t in labels], [f"{t}: {tops[t]}" for t in labels],
                         note=f"n={sum(tops.values())}")]
    scores = [v.score for v in scored if v.score is not None]
    numeric = [x for x in (_numeric_key(lab) for lab in labels) if not x[0]]
    if numeric:
        lo, hi = min(x[1] for x in numeric), max(x[1] for x in numeric)
    elif scores:
        lo, hi = min(scores), max(scores)
    else:
        lo, hi = 0.0, 1.0
    if scores:
        lo, hi = min(lo, *scores), max(hi, *scores)
    span = hi - lo
    if float(lo).is_integer() and float(hi).is_integer() and 3 <= span <= 10:
        bins, tick_every = int(span) * 4, 4  # quarter-point bins, a tick on every scale point
    else:
        bins, tick_every = (10, 2) if span > 0 else (1, 1)
    mean = f", mean {sum(scores) / len(scores):.3f}" if scores else ""
    charts.append(_histogram("Expected score", scores, lo, hi, bins, note=f"n={len(scores)}{mean}",
                             tick_every=tick_every))
    return charts


def render_report(
    *,
    title: str,
    judgments: Sequence[Judgment],
    items: dict[str, Item] | None = None,
    run: RunRecord | None = None,
    summary_rows: list[tuple[str, str]] | None = None,
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
        charts=_charts(kind, judgments, run),
        rows=rows,
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
) -> Path:
    """Write a self-contained HTML report of ``judgments`` to ``path`` and return the path.

    ``items`` (by id) adds the candidates and fills missing labels; ``run`` adds
    the run header (judge, protocol, versions, totals). ``summary_rows``
    defaults to :func:`~jurist.metrics.compare_summary` for pairwise judgments
    and :func:`~jurist.metrics.score_summary` otherwise. The file is written
    atomically (a temporary file in the same directory, then ``os.replace``);
    parent directories are created.
    """
    html = render_report(title=title, judgments=judgments, items=items, run=run, summary_rows=summary_rows)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(html)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a report is meant to be shared
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return target
