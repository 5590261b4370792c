"""The application commands on a scripted judge: best-of-n, steps, critique, each writing JSONL."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from jurist.cli import app

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "data"
JUDGE = ["--judge", "scripted:jurist.testing:hashed_judge"]


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_best_of_n_over_a_file(tmp_path):
    out = tmp_path / "choices.jsonl"
    result = CliRunner().invoke(app, ["best-of-n", str(EXAMPLES / "mt_bench_rank.jsonl"), "--method", "knockout",
                                      *JUDGE, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "picked the labelled best" in result.output
    chosen = rows(out)
    assert len(chosen) == 8 and all(r["winner"] in (0, 1, 2) and r["judgments"] == 2 for r in chosen)
    bad = CliRunner().invoke(app, ["best-of-n", str(EXAMPLES / "mt_bench_rank.jsonl"), "--method", "vibes", *JUDGE])
    assert bad.exit_code == 2 and "--method" in bad.output


def test_steps_over_processbench(tmp_path):
    out = tmp_path / "steps.jsonl"
    result = CliRunner().invoke(app, ["steps", str(EXAMPLES / "processbench_gsm8k_sample.jsonl"), "--limit", "4",
                                      *JUDGE, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "F1" in result.output
    assert "step AUC" in result.output
    assert len(rows(out)) == 4 and all(len(r["p_correct"]) >= 1 for r in rows(out))


def test_critique_writes_issues_for_an_editor(tmp_path):
    out = tmp_path / "issues.jsonl"
    result = CliRunner().invoke(app, ["critique", str(EXAMPLES / "qa_items.jsonl"), *JUDGE, "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = rows(out)
    assert len(written) == 4 and all("issues" in r and "error" in r for r in written)
