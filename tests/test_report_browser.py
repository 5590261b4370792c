"""`jurist report` over several runs: the file is self-contained, every chart renders in headless Chromium
(an SVG with marks, not an empty div) with the network cut off, and the judge card of an audited judge shows."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))

from browser import chromium_page, screenshot  # noqa: E402
from review_data import cascade_store, judge_runs  # noqa: E402

from jurist.cli import app as cli  # noqa: E402
from jurist.io import write_jsonl  # noqa: E402

runner = CliRunner()
CHARTS = ["distribution", "confusion", "reliability", "order", "jury", "leaderboard"]


@pytest.fixture
def runs_report(tmp_path):
    store, ids, items = judge_runs(tmp_path / "runs.db", audit=True)
    data = tmp_path / "items.jsonl"
    write_jsonl(data, [{"id": i.id, "input": i.input, "response_a": i.candidates[0], "response_b": i.candidates[1],
                        "label": i.label, "metadata": i.metadata} for i in items.values()])
    out = tmp_path / "report.html"
    result = runner.invoke(cli, ["report", "sharp", "biased", "jury", "--store", str(tmp_path / "runs.db"),
                                 "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_the_report_compares_runs_and_is_self_contained(runs_report):
    html = runs_report.read_text(encoding="utf-8")
    assert "<th>sharp</th><th>biased</th><th>jury</th>" in html
    assert "order consistency" in html and "accuracy" in html
    for chart in CHARTS:
        assert f'id="chart-{chart}"' in html, chart
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing fetched
    assert "Where the judge and the humans disagree most" in html
    assert "Six. (bad)" in html  # the texts of a disagreement, side by side
    # the audited judge's card, once, said to be the audit of that run's judge (sharp and the jury were not audited)
    assert html.count('<section class="judge-card">') == 1 and "Judge card: biased" in html
    assert "Shown for biased: the newest audit of this judge in the store" in html


def test_the_report_of_a_cascade_run_takes_texts_from_the_queue(tmp_path):
    store, run = cascade_store(tmp_path / "runs.db")
    out = tmp_path / "r.html"
    result = runner.invoke(cli, ["report", run, "--store", str(tmp_path / "runs.db"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert 'id="chart-distribution"' in html
    assert runner.invoke(cli, ["report", "nope", "--store", str(tmp_path / "runs.db")]).exit_code == 2


def test_without_the_report_extra_the_report_says_how_to_get_charts(tmp_path, monkeypatch):
    from jurist.report import charts

    monkeypatch.setattr(charts, "charts_available", lambda: False)
    store, run = cascade_store(tmp_path / "runs.db")
    out = tmp_path / "r.html"
    assert runner.invoke(cli, ["report", run, "--store", str(tmp_path / "runs.db"), "--out", str(out)]).exit_code == 0
    html = out.read_text()
    assert "pip install &#39;jurist[report]&#39;" in html and "figure" not in html and "vegaEmbed" not in html


@pytest.mark.browser
def test_every_chart_renders_in_chromium(runs_report):
    with chromium_page(width=1400, height=1000) as page:
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                   else route.abort())  # offline: any fetch would fail the chart
        page.goto(runs_report.as_uri())
        page.wait_for_function("document.querySelectorAll('figure.vega[data-rendered], figure.vega[data-error]')"
                               ".length === document.querySelectorAll('figure.vega').length", timeout=20000)
        for chart in CHARTS:
            figure = page.locator(f"#chart-{chart}")
            assert figure.get_attribute("data-error") is None, figure.get_attribute("data-error")
            marks = figure.locator("svg g.role-mark > path, svg g.role-mark > text, svg g.role-mark > line")
            assert figure.locator("svg").count() >= 1 and marks.count() > 0, chart
        # the marks carry the data: one confusion cell per (label, decision) seen, the leaderboard's points
        assert page.locator("#chart-confusion svg g.mark-rect > path").count() >= 3
        assert page.locator("#chart-leaderboard svg g.mark-symbol > path").count() >= 4
        # the judge card: a row per probe; the biased judge's position bias fails and both orders remove it
        card = page.locator("#judge-cards .judge-card")
        assert card.is_visible() and card.locator("tbody tr").count() == 4
        position = card.locator("tbody tr", has_text="position")
        assert position.locator("td.v-fail").inner_text() == "fail" and position.locator("td").last.inner_text() == "swap"
        assert not page.errors
        screenshot(page, "report.png")


@pytest.mark.browser
def test_the_single_run_report_of_compare_draws_its_charts(tmp_path):
    from jurist.report import write_report

    store, ids, items = judge_runs(tmp_path / "runs.db")
    out = write_report(tmp_path / "one.html", title="biased", judgments=list(store.judgments(ids[1])), items=items,
                       run=store.find_run(ids[1]))
    with chromium_page() as page:
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                   else route.abort())
        page.goto(out.as_uri())
        page.wait_for_function("document.querySelectorAll('figure.vega[data-rendered]').length === "
                               "document.querySelectorAll('figure.vega').length")
        for chart in ("distribution", "confusion", "reliability", "order", "leaderboard"):
            assert page.locator(f"#chart-{chart} svg g.role-mark > path").count() > 0, chart
        assert not page.errors
        screenshot(page, "report-single.png")
