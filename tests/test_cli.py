"""The command line, end to end on the real embedded model."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from jurist.cli import app
from jurist.io import read_judgments

from .conftest import DATA, EXAMPLES

runner = CliRunner()


@pytest.mark.model
def test_compare_runs_writes_verdicts_and_report_and_reuses_the_cache(tmp_path):
    store, out, report = tmp_path / "runs.db", tmp_path / "verdicts.jsonl", tmp_path / "report.html"
    args = ["compare", str(EXAMPLES / "mt_bench_pairs.jsonl"), "--judge", "local", "--limit", "3",
            "--store", str(store), "--out", str(out), "--report", str(report)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "accuracy" in first.output and "order consistency" in first.output
    judgments = read_judgments(out)
    assert len(judgments) == 3 and all(j.verdict.status == "scored" for j in judgments)
    assert all(j.verdict.p_a + j.verdict.p_b == pytest.approx(1.0) for j in judgments)
    assert "mt_bench_pairs.jsonl" in report.read_text()
    again = runner.invoke(app, args)
    assert again.exit_code == 0
    assert "0 / 6" in again.output  # model calls / cache hits: nothing paid twice
    listing = runner.invoke(app, ["runs", "--store", str(store)])
    assert listing.exit_code == 0 and listing.output.count("finished") == 2


@pytest.mark.model
def test_score_with_field_mapping_and_labels(tmp_path):
    out = tmp_path / "scores.jsonl"
    result = runner.invoke(app, ["score", str(EXAMPLES / "summeval_sample.jsonl"), "--limit", "3", "--store",
                                 str(tmp_path / "runs.db"), "--out", str(out), "--rubric",
                                 "Coherence: is the summary well-structured and organised?"])
    assert result.exit_code == 0, result.output
    assert "spearman" in result.output.lower()
    judgments = read_judgments(out)
    assert len(judgments) == 3 and all(1 <= j.verdict.score <= 5 for j in judgments)
    assert all(isinstance(j.label, float) for j in judgments)  # the coherence labels came along


@pytest.mark.model
def test_bad_rows_are_reported_with_file_line_and_field_and_the_rest_run(tmp_path):
    result = runner.invoke(app, ["compare", str(DATA / "broken_pairs.jsonl"), "--store", str(tmp_path / "r.db")])
    assert result.exit_code == 0, result.output
    assert "broken_pairs.jsonl:2" in result.output  # invalid JSON on line 2
    assert "field 'response_b'" in result.output
    assert "judgments" in result.output


def test_unknown_judge_is_an_error_not_a_fallback(tmp_path):
    result = runner.invoke(app, ["compare", str(EXAMPLES / "mt_bench_pairs.jsonl"), "--judge", "gpt5",
                                 "--store", str(tmp_path / "r.db")])
    assert result.exit_code == 2 and "unknown judge" in result.output


def test_http_judge_needs_a_model_name(tmp_path):
    result = runner.invoke(app, ["compare", str(EXAMPLES / "mt_bench_pairs.jsonl"), "--judge",
                                 "http://127.0.0.1:9/v1", "--store", str(tmp_path / "r.db")])
    assert result.exit_code == 2 and "--model" in result.output


def test_missing_input_file(tmp_path):
    result = runner.invoke(app, ["score", str(tmp_path / "nope.jsonl"), "--judge", "http://127.0.0.1:9/v1",
                                 "--model", "m", "--store", str(tmp_path / "r.db")])
    assert result.exit_code == 2 and "nope.jsonl" in result.output


def test_bad_scale_is_rejected():
    result = runner.invoke(app, ["score", str(EXAMPLES / "summeval_sample.jsonl"), "--scale", "7-3"])
    assert result.exit_code != 0 and "scale" in result.output


def test_engine_options_price_retries_and_rate_limit_over_http(tmp_path):
    """--price adds the run's cost, --max-attempts bounds retries, --rpm is accepted; a bad --price is refused."""
    from jurist.testing import Failure, MockOpenAIServer

    store, out = tmp_path / "runs.db", tmp_path / "v.jsonl"
    with MockOpenAIServer(lambda m: {"A": 0.7, "B": 0.3}, failures=[Failure.server_error()] * 3) as server:
        result = runner.invoke(app, ["compare", str(EXAMPLES / "mt_bench_pairs.jsonl"), "--limit", "2",
                                     "--judge", server.base_url, "--model", "m", "--store", str(store),
                                     "--out", str(out), "--set", "engine.price=[1000, 2000]", "--set", "engine.max_attempts=2",
                                     "--set", "engine.rpm=6000", "--concurrency", "1"])
    assert result.exit_code == 0, result.output
    assert "cost" in result.output and "$0.0000" not in result.output
    judgments = read_judgments(out)
    # Three server errors: one of the first pair's two requests failed twice, and --max-attempts 2 gave up.
    assert [j.verdict.status for j in judgments] == ["failed", "scored"]
    assert "after 2 attempts" in judgments[0].verdict.error
    assert server.requests == 6  # 3 failures + 3 answers

    bad = runner.invoke(app, ["compare", str(EXAMPLES / "mt_bench_pairs.jsonl"), "--judge", "http://127.0.0.1:9/v1",
                              "--model", "m", "--store", str(store), "--set", "engine.price=cheap"])
    assert bad.exit_code == 2 and "--set engine.price=" in bad.output
