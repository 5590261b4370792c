"""The HTML report: content, escaping, charts, and that it parses."""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from jurist.engine.store import RunRecord
from jurist.metrics import compare_summary, score_summary
from jurist.report import write_report
from jurist.types import Item, Judgment, Verdict


class _Checker(HTMLParser):
    """Consumes the document and checks that non-void tags are balanced."""

    VOID = {"meta", "link", "br", "hr", "img", "input", "col", "wbr"}  # SVG elements self-close

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}>, open: {self.stack[-5:]}"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Checker:
    checker = _Checker()
    checker.feed(html)
    checker.close()
    assert checker.stack == [], f"unclosed tags: {checker.stack}"
    return checker


def _pair(p_a: float, pref: str, agree: bool, **kw: object) -> Verdict:
    return Verdict(status="scored", kind="compare", method="logprobs", preference=pref, p_a=p_a, p_b=1 - p_a,
                   p_tie=0.0, confidence=max(p_a, 1 - p_a), orders_agree=agree, **kw)


@pytest.fixture
def compare_data() -> tuple[list[Judgment], dict[str, Item]]:
    long_input = "Which answer is better? " + "x" * 400 + " END-OF-INPUT"
    items = {
        "c1": Item(id="c1", input=long_input, candidates=["alpha answer", "beta answer"], label="A"),
        "c2": Item(id="c2", input="q2", candidates=["<script>alert(1)</script>", "fine"], label="B"),
        "c3": Item(id="c3", input="q3", candidates=["one", "two"], label="B"),
        "c4": Item(id="c4", input="q4", candidates=["three", "four"], label="A"),
        "c5": Item(id="c5", input="q5", candidates=["five", "six"], label="tie"),
    }
    verdicts = {
        "c1": _pair(0.91, "A", True, rationale="A is more precise"),
        "c2": _pair(0.30, "A", False),  # disagrees with label B, orders disagree
        "c3": _pair(0.12, "B", True),
        "c4": Verdict(status="unscored", kind="compare", raw="I cannot decide <b>either</b> way", error="no A/B"),
        "c5": Verdict(status="failed", kind="compare", error="BackendError: context length exceeded"),
    }
    judgments = [Judgment(item_id=k, protocol="pairwise", judge="scripted:test", verdict=v, label=items[k].label)
                 for k, v in verdicts.items()]
    return judgments, items


@pytest.fixture
def score_data() -> tuple[list[Judgment], dict[str, Item]]:
    dists = {
        "s1": {"1": 0.05, "2": 0.05, "3": 0.1, "4": 0.2, "5": 0.6},
        "s2": {"1": 0.7, "2": 0.2, "3": 0.1, "4": 0.0, "5": 0.0},
        "s3": {"1": 0.0, "2": 0.1, "3": 0.7, "4": 0.1, "5": 0.1},
    }
    items = {f"s{i}": Item(id=f"s{i}", input=f"question {i}", candidates=[f"response {i}"], label=float(6 - i))
             for i in range(1, 6)}
    judgments = []
    for k, d in dists.items():
        score = sum(float(label) * p for label, p in d.items())
        top = max(d, key=d.__getitem__)
        v = Verdict(status="scored", kind="score", method="logprobs", score=score, top_label=top, distribution=d,
                    confidence=d[top])
        judgments.append(Judgment(item_id=k, protocol="pointwise", judge="scripted:test", verdict=v,
                                  label=items[k].label))
    judgments.append(Judgment(item_id="s4", protocol="pointwise", judge="scripted:test", label=items["s4"].label,
                              verdict=Verdict(status="unscored", kind="score", raw="Score: <script>seven</script>",
                                              error="no score label")))
    judgments.append(Judgment(item_id="s5", protocol="pointwise", judge="scripted:test", label=items["s5"].label,
                              verdict=Verdict(status="failed", kind="score", error="TimeoutError: 60 s")))
    return judgments, items


def _run(judge: dict[str, object]) -> RunRecord:
    return RunRecord(id="abc123def456", name="nightly", command="jurist score data.jsonl", created=1_700_000_000.0,
                     finished=1_700_000_042.5, status="finished", judge=judge,
                     info={"versions": {"jurist": "0.1.0", "pydantic": "2.9.9"}},
                     totals={"scored": 3, "unscored": 1, "failed": 1, "skipped": 0, "model_calls": 7, "cache_hits": 3,
                             "retries": 1, "prompt_tokens": 12345, "completion_tokens": 67,
                             "cached_prompt_tokens": 0, "errors": {"TimeoutError": 1}, "wall_s": 42.5,
                             "cost_usd": 0.0123})


def test_compare_report(tmp_path: Path, compare_data: tuple[list[Judgment], dict[str, Item]]) -> None:
    judgments, items = compare_data
    run = _run({"judge": "scripted:test", "strategy": "swap", "explain": False, "protocol": "pairwise", "version": 2})
    out = write_report(tmp_path / "deep" / "dir" / "report.html", title="Pairwise <test>", judgments=judgments,
                       items=items, run=run)
    assert out == tmp_path / "deep" / "dir" / "report.html"
    html = out.read_text(encoding="utf-8")
    checker = _parse(html)

    # header
    assert "<title>Pairwise &lt;test&gt;</title>" in html
    for text in ("abc123def456", "nightly", "scripted:test", "pairwise v2", "swap", "2023-11-14 22:13:20 UTC",
                 "pydantic", "2.9.9", "12,345", "model calls", "cache hits", "$0.0123", "42.5 s", "TimeoutError: 1"):
        assert text in html, text
    # summary computed from the judgments
    for name, value in compare_summary(judgments).rows():
        assert f"<th>{name}</th><td>{value}</td>".replace("'", "&#39;") in html
    assert "win rate A" in html and "order consistency" in html
    # items, escaping, truncation
    for item_id in items:
        assert f"<td>{item_id}</td>" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert" not in html
    # the report's own scripts: sorting, the inlined Vega bundle, the chart loader (and JSON specs, never run)
    assert len(re.findall(r"<script>", html)) == 3
    assert "END-OF-INPUT" in html and "<details class=\"long\">" in html
    assert "alpha answer" in html and "beta answer" in html
    # verdict details
    assert "I cannot decide &lt;b&gt;either&lt;/b&gt; way" in html
    assert "BackendError: context length exceeded" in html
    assert "A is more precise" in html
    assert "P(A): 0.910" in html
    # rows carry their flags (highlighting and filters)
    assert '<tr class="scored"' in html
    assert '<tr class="scored disagree orders-disagree"' in html
    assert '<tr class="unscored problem"' in html and '<tr class="failed problem"' in html
    for label in ("disagree with label (1)", "unscored + failed (2)", "orders disagree (1)"):
        assert label in html
    assert html.count('<span class="yes">✓</span>') == 2 and html.count('<span class="no">✗</span>') == 1
    # charts: Vega-Lite specs drawn by the inlined Vega (tests/test_report_browser.py checks they render)
    assert 'id="chart-distribution"' in html and "Distribution of P(A)" in html
    assert 'id="chart-order"' in html and 'id="chart-confusion"' in html and 'id="chart-reliability"' in html
    assert "vegaEmbed" in html
    # self-contained
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "<link" not in html
    assert oct(os.stat(out).st_mode & 0o777) == oct(0o644)
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no temporary file left behind


def test_score_report(tmp_path: Path, score_data: tuple[list[Judgment], dict[str, Item]]) -> None:
    judgments, items = score_data
    run = _run({"judge": "scripted:test", "strategy": "single", "protocol": "pointwise", "version": 1,
                "scale": ["1", "2", "3", "4", "5"]})
    out = write_report(tmp_path / "score.html", title="Scores", judgments=judgments, items=items, run=run)
    html = out.read_text(encoding="utf-8")
    checker = _parse(html)
    for name, value in score_summary(judgments).rows():
        assert f"<th>{name}</th><td>{value}</td>" in html
    assert "mean score" in html and "top labels" in html
    for item_id in items:
        assert f"<td>{item_id}</td>" in html
    # the unscored verdict's raw text, escaped
    assert "Score: &lt;script&gt;seven&lt;/script&gt;" in html
    assert "TimeoutError: 60 s" in html
    assert "response 1" in html and "question 3" in html
    # distribution, score and no match column
    assert "4.250 (top 5)" in html and "5: 0.600" in html
    assert "✓/✗" not in html and "orders disagree" not in html
    assert "Distribution of expected score" in html and 'id="chart-confusion"' in html
    assert '<tr class="unscored problem"' in html and '<tr class="failed problem"' in html


def test_explicit_rows_without_run_or_items(tmp_path: Path,
                                            compare_data: tuple[list[Judgment], dict[str, Item]]) -> None:
    judgments, _ = compare_data
    rows = [("custom metric", "0.777 [0.1, 0.9] n=3"), ("<odd> name", "x & y")]
    out = write_report(str(tmp_path / "r.html"), title="t", judgments=judgments, summary_rows=rows)
    html = out.read_text(encoding="utf-8")
    _parse(html)
    assert "<th>custom metric</th><td>0.777 [0.1, 0.9] n=3</td>" in html
    assert "<th>&lt;odd&gt; name</th><td>x &amp; y</td>" in html
    assert "win rate A" not in html
    assert "alpha answer" not in html  # candidates omitted without items
    assert "scripted:test" in html and "pairwise" in html  # judge and protocol from the judgments
    for item_id in ("c1", "c2", "c3", "c4", "c5"):
        assert f"<td>{item_id}</td>" in html


def test_overwrite_and_empty(tmp_path: Path) -> None:
    path = tmp_path / "r.html"
    path.write_text("OLD-REPORT-TEXT")
    write_report(path, title="empty", judgments=[], summary_rows=[])
    html = path.read_text(encoding="utf-8")
    _parse(html)
    assert "OLD-REPORT-TEXT" not in html and "Items <span class=\"muted\">(0)</span>" in html
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]


def test_write_failure_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_report(tmp_path / "r.html", title="t", judgments=[], summary_rows=[])
    assert list(tmp_path.iterdir()) == []


def test_skipped_input_rows_are_shown_with_their_reasons(tmp_path: Path) -> None:
    run = RunRecord(id="r1", created=0.0, status="finished", judge={"judge": "scripted"},
                    totals={"scored": 2, "unscored": 0, "failed": 0, "skipped": 0, "input_skipped": 8,
                            "input_errors": ["pairs.jsonl:2: invalid JSON", "pairs.jsonl:3: field 'response_b': missing"]})
    judgments = [Judgment(item_id="g0", protocol="pairwise", judge="scripted",
                          verdict=Verdict(status="scored", kind="compare", preference="A", p_a=0.9, p_b=0.1))]
    path = tmp_path / "report.html"
    write_report(path, title="t", judgments=judgments, run=run)
    text = path.read_text()
    assert re.search(r"skipped input rows</th>\s*<td>8<", text)
    assert "pairs.jsonl:3: field &#39;response_b&#39;: missing" in text  # every reason shown, escaped
