"""The engine: concurrency, the store and its cache, resume (also after SIGKILL),
failures, rate limits, totals, and the runs/export commands. No model needed."""

from __future__ import annotations

import importlib.util
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from jurist import (
    Completion,
    CompletionRequest,
    Engine,
    EngineConfig,
    Item,
    Judge,
    OpenAICompatibleBackend,
    PairwiseProtocol,
    PointwiseProtocol,
    ScriptedBackend,
    Single,
    Store,
    Usage,
)
from jurist.backends.base import BackendError
from jurist.io import read_judgments
from jurist.testing import MockOpenAIServer

pytestmark = pytest.mark.timeout(60)


def score_items(n: int, start: int = 0) -> list[Item]:
    return [Item(id=f"i{k}", input=f"Question {k}?", candidates=[f"answer {k}"], label=float(k % 5 + 1),
                 metadata={"k": k, "group": f"g{k % 3}"}) for k in range(start, start + n)]


def pair_items(n: int) -> list[Item]:
    return [Item(id=f"p{k}", input=f"Question {k}?", candidates=[f"GOOD {k}", f"BAD {k}"], label="A")
            for k in range(n)]


def number_in(request: CompletionRequest) -> int:
    return int(re.search(r"answer (\d+)", request.messages[-1].content).group(1))  # type: ignore[union-attr]


def graded(request: CompletionRequest) -> dict[str, float]:
    """A deterministic distribution over 1-5 that depends on the item."""
    k = number_in(request)
    top = str(k % 5 + 1)
    return {label: (0.6 if label == top else 0.1) for label in "12345"}


def prefers_good(request: CompletionRequest) -> dict[str, float]:
    user = request.messages[-1].content
    return {"A": 0.8, "B": 0.2} if user.index("GOOD") < user.index("BAD") else {"A": 0.3, "B": 0.7}


def scorer(script: Any = graded, **options: Any) -> Judge:
    return Judge(ScriptedBackend(script, **options), PointwiseProtocol(scale="1-5"), Single())


def config(**options: Any) -> EngineConfig:
    return EngineConfig(**({"progress": False} | options))


def verdicts(result: Any) -> dict[str, Any]:
    return {j.item_id: j.verdict for j in result.judgments}


class CountingBackend(ScriptedBackend):
    """A scripted backend that records how many requests are in flight at once."""

    def __init__(self, script: Any, latency_s: float = 0.01):
        super().__init__(script, latency_s=latency_s)
        self.in_flight = 0
        self.max_in_flight = 0

    async def complete(self, request: CompletionRequest) -> Completion:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await super().complete(request)
        finally:
            self.in_flight -= 1


# ---------------------------------------------------------------------------
# concurrency


@pytest.mark.parametrize("concurrency", [1, 3, 8])
def test_requests_in_flight_never_exceed_the_concurrency(concurrency: int) -> None:
    for protocol, items, script in ((PointwiseProtocol(), score_items(24), graded),
                                    (PairwiseProtocol(), pair_items(12), prefers_good)):
        backend = CountingBackend(script)
        result = Engine(Judge(backend, protocol), Store(), config(concurrency=concurrency)).run(items)
        assert all(j.verdict.ok for j in result.judgments)
        assert backend.max_in_flight == concurrency, protocol.name


def test_concurrency_over_http_is_bounded() -> None:
    with MockOpenAIServer(lambda m: {"4": 1.0}, latency_s=0.03) as server:
        backend = OpenAICompatibleBackend("m", base_url=server.base_url)
        judge = Judge(backend, PointwiseProtocol(), Single())
        t0 = time.monotonic()
        result = Engine(judge, Store(), config(concurrency=4)).run(score_items(24))
        elapsed = time.monotonic() - t0
    assert result.stats["scored"] == 24 and server.requests == 24
    # The bound is what matters; reaching it exactly depends on scheduling on a loaded machine.
    assert 2 <= server.max_in_flight <= 4
    assert elapsed >= 24 / 4 * 0.03 * 0.9  # a lower bound only: a slow machine cannot break it


# ---------------------------------------------------------------------------
# the store: re-runs and resume


@pytest.mark.parametrize("kind", ["score", "compare"])
def test_a_rerun_on_the_same_store_makes_no_model_calls(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "runs.db"
    items = score_items(20) if kind == "score" else pair_items(10)

    def judge() -> Judge:
        if kind == "score":
            return scorer()
        return Judge(ScriptedBackend(prefers_good), PairwiseProtocol())

    first_judge = judge()
    first = Engine(first_judge, Store(path), config()).run(items, name="first")
    requests = 20
    assert len(first_judge.backend.calls) == requests and first.stats["model_calls"] == requests  # type: ignore[attr-defined]

    again_judge = judge()  # a new process: new backend, new Store on the same file
    again = Engine(again_judge, Store(path), config()).run(items, name="again")
    assert again_judge.backend.calls == []  # type: ignore[attr-defined]
    assert again.stats["model_calls"] == 0 and again.stats["cache_hits"] == requests
    assert again.run.id != first.run.id
    assert verdicts(again) == verdicts(first)
    assert [j.item_id for j in again.judgments] == [item.id for item in items]
    assert all(j.cached for j in again.judgments) and not any(j.cached for j in first.judgments)


def test_resume_judges_only_the_items_not_yet_judged(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    items = score_items(30)
    partial = Engine(scorer(), Store(path), config()).run(items[:12], name="job")
    assert partial.stats["scored"] == 12

    judge = scorer()
    resumed = Engine(judge, Store(path), config(concurrency=5)).run(items, resume="job")
    assert resumed.run.id == partial.run.id and resumed.run.status == "finished"
    assert sorted(number_in(r) for r in judge.backend.calls) == list(range(12, 30))  # type: ignore[attr-defined]
    # Totals describe the whole run: verdicts over all items, calls added across both sessions.
    assert resumed.stats["skipped"] == 12 and resumed.stats["scored"] == 30
    assert resumed.stats["model_calls"] == 30
    ids = [j.item_id for j in resumed.judgments]
    assert ids == [item.id for item in items]  # none lost, none twice, in input order

    fresh = Engine(scorer(), Store(), config()).run(items)
    assert verdicts(resumed) == verdicts(fresh)


def test_resume_retries_failed_items_and_replaces_them(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    items = score_items(10)

    def flaky(request: CompletionRequest) -> dict[str, float]:
        if number_in(request) in (3, 7):
            raise BackendError("the server is gone", retryable=False)
        return graded(request)

    first = Engine(scorer(flaky), Store(path), config()).run(items, name="flaky")
    assert first.stats["failed"] == 2 and first.stats["scored"] == 8

    judge = scorer()
    resumed = Engine(judge, Store(path), config()).run(items, resume="flaky")
    assert sorted(number_in(r) for r in judge.backend.calls) == [3, 7]  # type: ignore[attr-defined]
    assert len(resumed.judgments) == 10 and all(j.verdict.ok for j in resumed.judgments)


def test_resume_refuses_an_id_reused_with_other_content_unless_allowed(tmp_path: Path) -> None:
    from jurist.engine.executor import ResumeError

    path = tmp_path / "runs.db"
    items = score_items(6)
    first = Engine(scorer(), Store(path), config()).run(items, name="job")
    # the same ids, two of them with other content now (answer 12 and 14 instead of 2 and 4)
    edited = [i.model_copy(update={"candidates": [f"answer {k + 10}"]}) if k in (2, 4) else i
              for k, i in enumerate(items)]
    judge = scorer()
    with pytest.raises(ResumeError, match=r"2 item\(s\) judged in the run have other content now: i2, i4") as error:
        Engine(judge, Store(path), config()).run(edited, resume="job")
    assert "resume_changed" in str(error.value) and judge.backend.calls == []  # type: ignore[attr-defined]
    assert [j.verdict for j in Store(path).judgments(first.run.id)] == [j.verdict for j in first.judgments]

    resumed = Engine(judge, Store(path), config()).run(edited, resume="job", resume_changed=True)
    assert sorted(number_in(r) for r in judge.backend.calls) == [12, 14]  # type: ignore[attr-defined]
    assert resumed.stats["skipped"] == 4 and len(resumed.judgments) == 6
    fresh = Engine(scorer(), Store(), config()).run(edited)
    assert verdicts(resumed) == verdicts(fresh)  # the old verdicts of i2 and i4 are gone
    # the same content again (only where it was read changed): nothing to refuse, nothing to judge
    moved = [i.model_copy(update={"source": {"path": "other.jsonl", "line": 9}}) for i in edited]
    idle = scorer()
    again = Engine(idle, Store(path), config()).run(moved, resume="job")
    assert again.stats["skipped"] == 6 and idle.backend.calls == []  # type: ignore[attr-defined]


def test_resume_with_another_input_file_is_refused_unless_allowed(tmp_path: Path) -> None:
    from jurist.engine.executor import ResumeError
    from jurist.engine.runner import run
    from jurist.plan import Plan

    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text("".join(f'{{"id": "{k}", "input": "Question {k}?", "response": "answer {k}"}}\n'
                             for k in range(4)))
    second.write_text("".join(f'{{"id": "{k}", "input": "Question {k}?", "response": "answer {k}"}}\n'
                              for k in range(4, 9)))
    plan = Plan.parse({"task": "score", "judge": {"spec": "graded"}, "engine": {"progress": False}})
    backends = {"graded": ScriptedBackend(graded, spec="graded")}
    store = Store(tmp_path / "runs.db")
    made = run(plan, first, store=store, backends=backends)
    assert made.run.info["input"]["path"] == str(first) and len(made.run.info["input"]["sha256"]) == 64
    with pytest.raises(ResumeError, match="the input differs: the run was made from .*first.jsonl .* this is "
                                          ".*second.jsonl"):
        run(plan, second, store=store, backends=backends, resume=made.run.id)
    assert len(list(store.judgments(made.run.id))) == 4  # nothing mixed in
    # the same file again resumes; another one only when asked
    assert run(plan, first, store=store, backends=backends, resume=made.run.id).stats["skipped"] == 4
    mixed = run(plan, second, store=store, backends=backends, resume=made.run.id, resume_changed=True)
    assert len(mixed.judgments) == 9


def test_the_cli_names_its_flag_when_a_resume_is_refused(tmp_path: Path) -> None:
    from jurist.cli import app

    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    for path, ks in ((first, range(3)), (second, range(3, 6))):
        path.write_text("".join(f'{{"id": "{k}", "input": "q{k}", "response_a": "a{k}", "response_b": "b{k}"}}\n'
                                for k in ks))
    common = ["--judge", "scripted:jurist.testing:hashed_judge", "--store", str(tmp_path / "runs.db")]
    runner = CliRunner()
    assert runner.invoke(app, ["compare", str(first), "--name", "job", *common]).exit_code == 0
    refused = runner.invoke(app, ["compare", str(second), "--resume", "job", *common])
    said = " ".join(refused.output.split())
    assert refused.exit_code == 2 and "the input differs" in said and "--resume-changed" in said, refused.output
    allowed = runner.invoke(app, ["compare", str(second), "--resume", "job", "--resume-changed", *common])
    assert allowed.exit_code == 0, allowed.output
    assert len(Store(tmp_path / "runs.db").judged_ids(Store(tmp_path / "runs.db").find_run("job").id)) == 6


def test_resume_refuses_another_judge_or_an_unknown_run(tmp_path: Path) -> None:
    store = Store(tmp_path / "runs.db")
    Engine(scorer(), store, config()).run(score_items(3), name="job")
    other = Judge(ScriptedBackend(graded, spec="other"), PointwiseProtocol(), Single())
    with pytest.raises(ValueError, match="different judge"):
        Engine(other, store, config()).run(score_items(3), resume="job")
    with pytest.raises(ValueError, match="no run"):
        Engine(scorer(), store, config()).run(score_items(3), resume="nope")


# ---------------------------------------------------------------------------
# failures


def test_an_unexpected_exception_fails_one_item_and_the_others_score() -> None:
    def broken(request: CompletionRequest) -> dict[str, float]:
        if number_in(request) == 4:
            raise ZeroDivisionError("the script divided by zero")
        return graded(request)

    store = Store()
    result = Engine(scorer(broken), store, config(concurrency=3)).run(score_items(10))
    by_id = verdicts(result)
    assert by_id["i4"].status == "failed"
    assert "ZeroDivisionError" in by_id["i4"].error and "divided by zero" in by_id["i4"].error
    assert all(v.status == "scored" for k, v in by_id.items() if k != "i4")
    assert result.stats["failed"] == 1 and result.stats["scored"] == 9 and result.run.status == "finished"
    assert store.count_completions() == 9  # nothing cached for the failure


def test_an_unexpected_exception_in_a_pair_fails_only_that_pair() -> None:
    def broken(request: CompletionRequest) -> dict[str, float]:
        if "GOOD 2" in request.messages[-1].content:
            raise KeyError("boom")
        return prefers_good(request)

    result = Engine(Judge(ScriptedBackend(broken), PairwiseProtocol()), Store(), config()).run(pair_items(5))
    statuses = {j.item_id: j.verdict.status for j in result.judgments}
    assert statuses == {"p0": "scored", "p1": "scored", "p2": "failed", "p3": "scored", "p4": "scored"}


# ---------------------------------------------------------------------------
# rate limits, totals


def test_requests_per_minute_is_respected() -> None:
    judge = scorer()
    n, per_minute = 30, 600.0  # 10/s, bursts of one second's worth (10)
    t0 = time.monotonic()
    result = Engine(judge, Store(), config(concurrency=8, requests_per_minute=per_minute)).run(score_items(n))
    elapsed = time.monotonic() - t0
    expected = (n - per_minute / 60) / (per_minute / 60)  # 2.0 s after the initial burst
    assert result.stats["scored"] == n
    assert expected * 0.95 <= elapsed <= expected + 2.0


def test_totals_record_tokens_and_cost(tmp_path: Path) -> None:
    def priced(request: CompletionRequest) -> Completion:
        return Completion(text="4", top_logprobs=[{"4": 0.0}],
                          usage=Usage(prompt_tokens=100, completion_tokens=2, cached_prompt_tokens=40))

    judge = Judge(ScriptedBackend(priced, spec="priced"), PointwiseProtocol(), Single())
    engine = Engine(judge, Store(tmp_path / "runs.db"), config(prices={"priced": (3.0, 15.0)}))
    result = engine.run(score_items(10), name="priced")
    stats = result.stats
    assert stats["model_calls"] == 10 and stats["cache_hits"] == 0
    assert stats["prompt_tokens"] == 1000 and stats["completion_tokens"] == 20
    assert stats["cached_prompt_tokens"] == 400
    assert stats["cost_usd"] == pytest.approx((1000 * 3.0 + 20 * 15.0) / 1e6)
    assert stats["scored"] == 10 and stats["wall_s"] >= 0
    stored = Store(tmp_path / "runs.db").find_run("priced")
    assert stored is not None and stored.status == "finished" and stored.totals == stats
    assert sum(j.verdict.usage.prompt_tokens for j in result.judgments) == 1000

    again = engine.run(score_items(10), name="priced-again")  # all from the cache: nothing paid
    assert again.stats["model_calls"] == 0 and again.stats["cost_usd"] == 0.0


# ---------------------------------------------------------------------------
# the runs and export commands


def test_runs_and_export_read_back_equal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from jurist.cli import app, runs

    monkeypatch.setattr(runs, "out", Console(width=250))  # run ids in full, whatever the terminal

    db = tmp_path / "runs.db"
    scored = Engine(scorer(), Store(db), config()).run(score_items(8), name="scores")
    pairs = Engine(Judge(ScriptedBackend(prefers_good), PairwiseProtocol()), Store(db), config()).run(
        pair_items(5), name="pairs")
    runner = CliRunner()

    listed = runner.invoke(app, ["runs", "--store", str(db)])
    assert listed.exit_code == 0, listed.output
    for result in (scored, pairs):
        assert result.run.id in listed.output
    assert "scores" in listed.output and "pairs" in listed.output

    for result, ref in ((scored, "scores"), (pairs, pairs.run.id[:6])):
        for suffix in ("jsonl", "parquet"):
            out = tmp_path / f"{ref}.{suffix}"
            exported = runner.invoke(app, ["export", ref, "--out", str(out), "--store", str(db)])
            assert exported.exit_code == 0, exported.output
            assert read_judgments(out) == result.judgments, suffix

    missing = runner.invoke(app, ["export", "nope", "--out", str(tmp_path / "x.jsonl"), "--store", str(db)])
    assert missing.exit_code == 2


# ---------------------------------------------------------------------------
# a run killed with SIGKILL, then resumed

JOB = '''
import re
import sys

from jurist import Engine, EngineConfig, Item, Judge, PointwiseProtocol, ScriptedBackend, Single, Store

N = 300
NAME = "killed-run"


def items():
    return [Item(id=f"i{k}", input=f"Question {k}?", candidates=[f"answer {k}"], label=float(k % 5 + 1))
            for k in range(N)]


def script(request):
    k = int(re.search(r"answer (\\d+)", request.messages[-1].content).group(1))
    top = str(k % 5 + 1)
    return {label: (0.55 if label == top else 0.05 + 0.01 * ((k + int(label)) % 4)) for label in "12345"}


def judge():
    return Judge(ScriptedBackend(script, spec="scripted-5ms", latency_s=0.005), PointwiseProtocol(), Single())


if __name__ == "__main__":
    store = Store(sys.argv[1])
    Engine(judge(), store, EngineConfig(concurrency=2, progress=False)).run(items(), name=NAME)
'''


def committed_judgments(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute("SELECT COUNT(*) FROM judgments").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_a_run_killed_with_sigkill_resumes_without_loss_or_duplicates(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(JOB))
    spec = importlib.util.spec_from_file_location("sigkill_job", script)
    job = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(job)  # type: ignore[union-attr]

    db = tmp_path / "runs.db"
    process = subprocess.Popen([sys.executable, str(script), str(db)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        seen = 0
        while time.monotonic() < deadline and process.poll() is None:
            seen = committed_judgments(db)
            if seen >= 0.4 * job.N:
                break
            time.sleep(0.005)
        assert process.poll() is None, f"the job ended before it could be killed: {process.communicate()}"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL

    store = Store(db)
    run = store.find_run(job.NAME)
    assert run is not None and run.status == "running"  # never finished
    before = store.judged_ids(run.id)
    assert 0.4 * job.N <= len(before) < job.N

    judge = job.judge()
    resumed = Engine(judge, store, EngineConfig(concurrency=4, progress=False)).run(job.items(), resume=job.NAME)
    assert resumed.run.id == run.id and resumed.run.status == "finished"
    assert resumed.stats["skipped"] == len(before)
    assert {number_in(r) for r in judge.backend.calls}.isdisjoint(int(i[1:]) for i in before)
    assert resumed.stats["model_calls"] + resumed.stats["cache_hits"] == job.N - len(before)

    rows = sqlite3.connect(db).execute("SELECT item_id, COUNT(*) FROM judgments WHERE run_id = ? GROUP BY item_id",
                                       (run.id,)).fetchall()
    assert len(rows) == job.N and all(count == 1 for _, count in rows)
    assert [j.item_id for j in resumed.judgments] == [item.id for item in job.items()]

    fresh = Engine(job.judge(), Store(tmp_path / "fresh.db"), EngineConfig(concurrency=4, progress=False)).run(
        job.items())
    assert verdicts(resumed) == verdicts(fresh)
    assert all(v.ok for v in verdicts(resumed).values())


def test_a_rate_limit_that_is_not_positive_is_an_error_not_a_spin() -> None:
    from jurist.engine.middleware import TokenBucket

    for bad in (-5, 0, float("nan")):
        with pytest.raises(ValueError, match="requests_per_minute must be a positive number per minute"):
            EngineConfig(requests_per_minute=bad)
        with pytest.raises(ValueError, match="tokens_per_minute must be a positive"):
            EngineConfig(tokens_per_minute=bad)
        with pytest.raises(ValueError, match="rate limit must be a positive"):
            TokenBucket(bad)
    assert EngineConfig(requests_per_minute=60, tokens_per_minute=1e6).requests_per_minute == 60
