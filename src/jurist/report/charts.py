"""The report's charts as Vega-Lite specs (built with Altair), drawn in the page by Vega with its JavaScript inlined.

Every number a chart shows comes from :mod:`jurist.metrics` (reliability bins, order consistency, the
leaderboard) or is a plain count of verdicts; nothing here estimates a metric of its own. Each function
takes one :class:`ChartRun` per run and draws the runs side by side (a column per run, or a colour per run),
so judge A and judge B on the same items read as one picture. A function returns None when no run has
the data its chart needs (no labels, no confidences, no model names...).

The Vega, Vega-Lite and vega-embed JavaScript comes from ``vl-convert-python``, which bundles it: nothing is
fetched when the report is written or opened.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from jurist.metrics.calibration import confidence_and_correct, reliability_diagram
from jurist.metrics.consistency import order_consistency
from jurist.metrics.ranking import comparisons_from_judgments, leaderboard
from jurist.metrics.uncertainty import Estimate
from jurist.types import Judgment

__all__ = ["Chart", "ChartRun", "charts_available", "charts_for", "vega_javascript"]

MISSING = "charts need the report extra: pip install 'jurist[report]' (Altair and vl-convert, which bundles Vega)"

WIDTH = 260  # of one facet; the page wraps the charts


@dataclass
class ChartRun:
    """One run as the charts see it: a display name, its kind and its judgments (labels filled in)."""

    name: str
    kind: str  # "compare" or "score"
    judgments: list[Judgment]
    scale: list[str] = field(default_factory=list)


@dataclass
class Chart:
    """One chart of the report: an id for the page, a title, a note under it, and the Vega-Lite spec."""

    id: str
    title: str
    spec: dict[str, Any]
    note: str = ""


def vega_javascript() -> str:
    """Vega, Vega-Lite and vega-embed in one script (globals ``vega``, ``vegaLite``, ``vegaEmbed``), ~0.9 MB;
    empty without the ``report`` extra (the page then has no charts to draw)."""
    return _bundle() if charts_available() else ""


@lru_cache(maxsize=1)
def _bundle() -> str:
    import vl_convert

    return vl_convert.javascript_bundle()  # ~3 s to assemble: once per process


def _spec(chart: Any) -> dict[str, Any]:
    spec: dict[str, Any] = chart.to_dict()
    spec.pop("$schema", None)
    return spec


def _column(runs: Sequence[ChartRun]) -> Any:
    """One facet column per run, in the order the runs were given (not alphabetical)."""
    import altair as alt

    return alt.Column("run:N", title=None, sort=[r.name for r in runs])


def _color(runs: Sequence[ChartRun], title: str | None = None, extra: Sequence[str] = ()) -> Any:
    """A colour per run, the same in every chart (a fixed domain in the runs' order)."""
    import altair as alt

    names = [r.name for r in runs] + list(extra)
    return alt.Color("run:N", title=title, legend=alt.Legend() if title else None,
                     scale=alt.Scale(domain=names), sort=names)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _estimate_row(est: Estimate) -> dict[str, Any]:
    return {"value": _finite(est.value), "low": _finite(est.low), "high": _finite(est.high), "n": est.n,
            "text": est.format()}


def _gold(j: Judgment) -> str | None:
    label = j.label
    if label is None:
        return None
    if j.verdict.kind == "compare":
        return {"a": "A", "b": "B", "tie": "tie"}.get(str(label).strip().lower())
    try:
        return _fmt(float(label))
    except (TypeError, ValueError):
        return str(label)


def _fmt(x: float) -> str:
    return f"{x:.0f}" if float(x).is_integer() else f"{x:g}"


def distribution(runs: Sequence[ChartRun]) -> Chart | None:
    """P(A) (pairs) or the expected score (scores) of the scored verdicts, one histogram per run."""
    import altair as alt

    rows = [{"run": r.name, "value": (j.verdict.p_a if r.kind == "compare" else j.verdict.score)}
            for r in runs for j in r.judgments if j.verdict.ok]
    rows = [row for row in rows if row["value"] is not None]
    if not rows:
        return None
    compare = all(r.kind == "compare" for r in runs)
    what = "P(A)" if compare else "expected score"
    chart = alt.Chart(alt.Data(values=rows)).mark_bar().encode(
        x=alt.X("value:Q", bin=alt.Bin(maxbins=20, extent=[0, 1]) if compare else alt.Bin(maxbins=20), title=what),
        y=alt.Y("count():Q", title="verdicts"),
        color=_color(runs),
        tooltip=[alt.Tooltip("run:N"), alt.Tooltip("count():Q", title="verdicts")],
    ).properties(width=WIDTH, height=160).facet(column=_column(runs))
    return Chart("distribution", f"Distribution of {what}", _spec(chart), note=f"{len(rows)} scored verdicts")


def confusion(runs: Sequence[ChartRun]) -> Chart | None:
    """The judge's decision against the human label: counts per (label, decision) cell, one matrix per run."""
    import altair as alt

    rows: list[dict[str, Any]] = []
    for r in runs:
        cells: Counter[tuple[str, str]] = Counter()
        for j in r.judgments:
            gold = _gold(j)
            if gold is None or not j.verdict.ok:
                continue
            decided = j.verdict.preference if r.kind == "compare" else j.verdict.top_label
            if decided is not None:
                cells[(gold, str(decided))] += 1
        rows += [{"run": r.name, "label": g, "judge": d, "count": n} for (g, d), n in cells.items()]
    if not rows:
        return None
    base = alt.Chart().encode(x=alt.X("judge:O", title="judge"), y=alt.Y("label:O", title="human label"))
    heat = base.mark_rect().encode(color=alt.Color("count:Q", scale=alt.Scale(scheme="blues"), legend=None),
                                   tooltip=["run:N", "label:O", "judge:O", "count:Q"])
    text = base.mark_text(fontSize=13).encode(text="count:Q")
    chart = alt.layer(heat, text, data=alt.Data(values=rows)).properties(width=160, height=160).facet(
        column=_column(runs))
    return Chart("confusion", "Agreement with the labels: confusion matrix", _spec(chart),
                 note="rows: the human label; columns: the judge's decision")


def reliability(runs: Sequence[ChartRun], n_bins: int = 10) -> Chart | None:
    """Accuracy against confidence per bin (jurist.metrics.calibration), with Wilson intervals; the diagonal is
    perfect calibration."""
    import altair as alt

    rows = []
    for r in runs:
        conf, ok = confidence_and_correct(r.judgments)
        if len(conf) == 0:
            continue
        for b in reliability_diagram(conf, ok, n_bins=n_bins):
            rows.append({"run": r.name, "confidence": b.mean_confidence, "count": b.count,
                         **{k: v for k, v in _estimate_row(b.accuracy).items() if k != "n"}})
    if not rows:
        return None
    lo = max(0.0, math.floor(min(0.5, *(row["confidence"] for row in rows)) * 10) / 10 - 0.05)
    data = alt.Data(values=rows)
    diagonal = alt.Chart(alt.Data(values=[{"x": lo, "y": lo}, {"x": 1.0, "y": 1.0}])).mark_line(
        color="#999", strokeDash=[4, 4]).encode(x="x:Q", y="y:Q")
    bars = alt.Chart(data).mark_errorbar().encode(x="confidence:Q", y=alt.Y("low:Q", title="accuracy"), y2="high:Q",
                                                  color=_color(runs))
    points = alt.Chart(data).mark_point(filled=True).encode(
        x=alt.X("confidence:Q", title="confidence (bin mean)", scale=alt.Scale(domain=[lo, 1])),
        y=alt.Y("value:Q", title="accuracy", scale=alt.Scale(domain=[0, 1])),
        size=alt.Size("count:Q", legend=None), color=_color(runs, "run"),
        tooltip=["run:N", "confidence:Q", "count:Q", alt.Tooltip("text:N", title="accuracy")])
    chart = alt.layer(diagonal, bars, points).properties(width=WIDTH + 80, height=220)
    return Chart("reliability", "Reliability diagram", _spec(chart),
                 note="accuracy per confidence bin, 95% Wilson intervals; dashed: perfect calibration")


def _estimate_bars(runs: Sequence[ChartRun], rows: list[dict[str, Any]], x_title: str) -> Any:
    """A bar per run with its interval as a whisker."""
    import altair as alt

    data = alt.Data(values=rows)
    y = alt.Y("run:N", title=None, sort=[r.name for r in runs])
    bars = alt.Chart(data).mark_bar(opacity=0.75).encode(
        x=alt.X("value:Q", title=x_title, scale=alt.Scale(domain=[0, 1])), y=y,
        color=_color(runs), tooltip=["run:N", alt.Tooltip("text:N", title=x_title)])
    whiskers = alt.Chart(data).mark_errorbar(ticks=True).encode(x=alt.X("low:Q", title=x_title), x2="high:Q", y=y)
    return alt.layer(bars, whiskers).properties(width=WIDTH + 80, height=alt.Step(28))


def order(runs: Sequence[ChartRun]) -> Chart | None:
    """Order consistency (both orders preferred the same response) per run, with its Wilson interval."""
    rows = []
    for r in runs:
        est = order_consistency(r.judgments)
        if est.n:
            rows.append({"run": r.name, **_estimate_row(est)})
    if not rows:
        return None
    return Chart("order", "Order consistency", _spec(_estimate_bars(runs, rows, "share of verdicts whose orders agree")),
                 note="pairs judged in both orders; 95% Wilson intervals")


def jury(runs: Sequence[ChartRun]) -> Chart | None:
    """The jury's disagreement (spread of the members' P(A) or scores) per verdict, one histogram per run."""
    import altair as alt

    rows = []
    for r in runs:
        for j in r.judgments:
            spread = (j.verdict.metadata.get("disagreement") or {})
            value = spread.get("p_std", spread.get("score_std"))
            if value is not None:
                rows.append({"run": r.name, "spread": value})
    if not rows:
        return None
    chart = alt.Chart(alt.Data(values=rows)).mark_bar().encode(
        x=alt.X("spread:Q", bin=alt.Bin(maxbins=15), title="standard deviation across jurors"),
        y=alt.Y("count():Q", title="verdicts"), color=_color(runs),
    ).properties(width=WIDTH, height=150).facet(column=_column(runs))
    return Chart("jury", "Jury disagreement", _spec(chart), note="high: the jurors did not agree; worth a look")


def ranking(runs: Sequence[ChartRun]) -> Chart | None:
    """Bradley-Terry win rates against the anchor (jurist.metrics.ranking) with bootstrap intervals, per judge,
    and per the human labels when the items have them."""
    rows = []
    sources: list[tuple[str, list[Judgment], str]] = [(r.name, r.judgments, "verdicts") for r in runs
                                                      if r.kind == "compare"]
    if sources:
        sources.append(("humans", sources[0][1], "labels"))
    for name, judgments, use in sources:
        try:
            comparisons = comparisons_from_judgments(judgments, use=use)  # type: ignore[arg-type]
        except ValueError:  # items without model names: no leaderboard
            return None
        if len({c.a for c in comparisons} | {c.b for c in comparisons}) < 2:
            continue
        board = leaderboard(comparisons, n_resamples=500)
        rows += [{"run": name, "model": s.model, **_estimate_row(s.bt_win_rate)} for s in board.standings]
    if not rows:
        return None
    import altair as alt

    data = alt.Data(values=rows)
    points = alt.Chart(data).mark_point(filled=True, size=80).encode(
        x=alt.X("value:Q", title="Bradley-Terry win rate vs the anchor", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("model:N", title=None, sort="-x"), yOffset="run:N",
        color=_color(runs, "judged by", extra=["humans"]),
        tooltip=["run:N", "model:N", alt.Tooltip("text:N", title="win rate")])
    whiskers = alt.Chart(data).mark_rule().encode(x="low:Q", x2="high:Q", y=alt.Y("model:N", sort="-x"),
                                                  yOffset="run:N", color=_color(runs, "judged by", extra=["humans"]))
    chart = alt.layer(whiskers, points).properties(width=WIDTH + 80, height=alt.Step(22))
    return Chart("leaderboard", "Leaderboard", _spec(chart), note="95% bootstrap intervals; 'humans' ranks by the labels")


def charts_available() -> bool:
    """Whether Altair and vl-convert are installed (the ``report`` extra); without them a report has no charts."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("altair", "vl_convert"))


def charts_for(runs: Sequence[ChartRun]) -> list[Chart]:
    """Every chart the runs have data for, in reading order (none without the ``report`` extra)."""
    if not charts_available():
        return []
    makers = (distribution, confusion, reliability, order, jury, ranking)
    return [c for c in (make(runs) for make in makers) if c is not None]
