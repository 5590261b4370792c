"""The command line as a new user meets it: help, version, dry runs, checks before paying, exit codes, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from jurist.cli import app
from jurist.engine import Store
from jurist.testing import Failure, MockOpenAIServer

runner = CliRunner()
REPO = Path(__file__).resolve().parent.parent
PAIRS = REPO / "examples" / "data" / "mt_bench_pairs.jsonl"


def test_version_and_short_help():
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.output.startswith("jurist 0.")
    short = runner.invoke(app, ["-h"])
    assert short.exit_code == 0 and "Quick start" in short.output and "JURIST_API_KEY" in short.output
    assert "--install-completion" in short.output  # typer's shell completion


@pytest.mark.parametrize("command", ["score", "compare"])
def test_help_of_score_and_compare_fits_on_one_screen(command):
    result = runner.invoke(app, [command, "-h"], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0
    assert len(result.output.splitlines()) <= 45, result.output
    assert "--dry-run" in result.output and "--timeout" in result.output and "JURIST_STORE" in result.output


def test_dry_run_shows_the_prompts_and_labels_and_calls_no_model(tmp_path):
    with MockOpenAIServer(lambda m: {"A": 0.6, "B": 0.4}) as server:
        result = runner.invoke(app, ["compare", str(PAIRS), "--judge", server.base_url, "--model", "m",
                                     "--dry-run", "--store", str(tmp_path / "r.db")])
        assert server.requests == 0
    assert result.exit_code == 0, result.output
    first = json.loads(PAIRS.read_text().splitlines()[0])
    assert first["input"][:40] in result.output and "view 1" in result.output
    assert "labels read: A, B" in result.output
    assert not (tmp_path / "r.db").exists()  # nothing ran, nothing stored


@pytest.mark.parametrize(("out", "said"), [
    ("verdicts.csv", ".jsonl or .parquet"),
    ("a_directory", "is a directory"),
    ("a_file.txt/verdicts.jsonl", "cannot create"),
])
def test_outputs_are_checked_before_any_judgment_is_paid_for(tmp_path, out, said):
    (tmp_path / "a_directory.jsonl").mkdir()
    (tmp_path / "a_file.txt").write_text("x")
    target = tmp_path / (out + ".jsonl" if out == "a_directory" else out)
    with MockOpenAIServer(lambda m: {"A": 0.6, "B": 0.4}) as server:
        result = runner.invoke(app, ["compare", str(PAIRS), "--judge", server.base_url, "--model", "m",
                                     "--out", str(target), "--store", str(tmp_path / "r.db")])
        assert server.requests == 0
    assert result.exit_code == 2 and "--out" in result.output and said in " ".join(result.output.split())
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("args", "flag"), [
    (["--concurrency", "0"], "--concurrency"),
    (["--limit", "-1"], "--limit"),
    (["--timeout", "0"], "--timeout"),
    (["--set", "engine.rpm=0"], "--set engine.rpm="),
    (["--set", "engine.rpm=-5"], "--set engine.rpm="),
    (["--samples", "0"], "--samples"),
    (["--set", "judge.nope=1"], "--set judge.nope="),
    (["--set", "judge.vision=true"], "--set judge.vision="),
])
def test_bad_option_values_are_refused_naming_the_flag(tmp_path, args, flag):
    result = runner.invoke(app, ["compare", str(PAIRS), *args, "--store", str(tmp_path / "r.db")])
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert flag in said and "Traceback" not in said and "label_map" not in said


def test_a_run_where_every_judgment_failed_exits_1_with_the_first_reason(tmp_path):
    with MockOpenAIServer(lambda m: Failure.bad_request("the prompt is too long")) as server:
        result = runner.invoke(app, ["compare", str(PAIRS), "--limit", "2", "--judge", server.base_url,
                                     "--model", "m", "--store", str(tmp_path / "r.db")])
    assert result.exit_code == 1
    said = " ".join(result.output.split())
    assert "every judgment failed" in said and "the prompt is too long" in said


def test_a_run_with_nothing_to_judge_exits_1(tmp_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text(json.dumps({"id": "x", "input": "q", "response_a": "only one"}) + "\n")
    result = runner.invoke(app, ["compare", str(data), "--judge", "scripted:jurist.testing:hashed_judge",
                                 "--store", str(tmp_path / "r.db")])
    assert result.exit_code == 1 and "no items were judged" in result.output
    assert "field 'response_b'" in " ".join(result.output.split())


@pytest.mark.timeout(120)
def _sigterm_a_run(tmp_path: Path, **popen: Any) -> tuple[int, str, Store]:
    """Start `jurist compare` against a slow loopback judge, SIGTERM it after two requests; its exit code,
    output and store."""
    store = tmp_path / "r.db"
    with MockOpenAIServer(lambda m: {"A": 0.6, "B": 0.4}, latency_s=0.5) as server:
        process = subprocess.Popen(
            [sys.executable, "-m", "jurist.cli", "compare", str(PAIRS), "--judge", server.base_url, "--model", "m",
             "--store", str(store), "--concurrency", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "COLUMNS": "200", "PYTHONPATH": str(REPO / "src")}, **popen)
        deadline = time.monotonic() + 60
        while server.requests < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    return process.returncode, output, Store(store)


def test_sigterm_marks_the_run_interrupted_and_says_how_to_resume(tmp_path):
    code, output, store = _sigterm_a_run(tmp_path)
    assert code == 130, output
    (run,) = store.runs()
    assert run.status == "interrupted"
    assert f"--resume {run.id}" in output and "resume with: " in output


def test_sigterm_stops_a_run_started_with_sigint_ignored(tmp_path):
    """A background job of a script starts with SIGINT ignored; SIGTERM must still stop the run cleanly."""
    code, output, store = _sigterm_a_run(tmp_path, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert code == 130, output
    (run,) = store.runs()
    assert run.status == "interrupted"


def test_a_dry_run_loads_no_model(tmp_path):
    """`--dry-run` with the embedded judges renders the prompts without importing llama.cpp at all."""
    code = ("import sys; from typer.testing import CliRunner; from jurist.cli import app; "
            f"r = CliRunner().invoke(app, ['compare', {str(PAIRS)!r}, '--jury', 'local,local:1.5b', '--dry-run', "
            f"'--store', {str(tmp_path / 'r.db')!r}]); "
            "assert r.exit_code == 0, r.output; assert 'local:1.5b · view 1' in r.output, r.output; "
            "assert 'llama_cpp' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "COLUMNS": "200"})
