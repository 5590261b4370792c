"""Judging under injected faults (issue 17, item 1): a loopback server (``jurist.testing.FaultPlan``) injects
timeouts, 429 with Retry-After, 500/503, connections reset mid-body, truncated JSON, empty and garbage
completions and missing log-probabilities; every item ends judged or recorded with its reason, none lost,
none stored twice, none scored wrong, retries bounded. ``benchmarks/faults.py`` prints the same figures
for 2,000 judgments on both engines."""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from pathlib import Path

import pytest

from jurist import Engine, EngineConfig, Judge, OpenAICompatibleBackend, PairwiseProtocol
from jurist.backends.base import Backend, BackendError
from jurist.engine.middleware import CallStats, RetryingBackend
from jurist.engine.store import Store
from jurist.testing import CONTENT_FAULTS, EXTRA_FAULTS, FAULT_KINDS, TRANSPORT_FAULTS, FaultPlan, MockOpenAIServer
from jurist.types import Completion, CompletionRequest, Item
from tests.faults import answer, make_pairs, right_verdicts, run_under_faults


def test_a_fault_plan_is_seeded_and_keeps_its_rate():
    plan = FaultPlan(rate=0.2, seed=3)
    draws = [plan.draw(f"prompt {k}", 1)[0] for k in range(5000)]
    assert draws == [plan.draw(f"prompt {k}", 1)[0] for k in range(5000)]  # the same faults whatever the order
    assert draws != [FaultPlan(rate=0.2, seed=4).draw(f"prompt {k}", 1)[0] for k in range(5000)]
    assert draws != [plan.draw(f"prompt {k}", 2)[0] for k in range(5000)]  # a retry is drawn afresh
    faulty = Counter(d for d in draws if d is not None)
    assert 0.18 < sum(faulty.values()) / len(draws) < 0.22
    assert set(faulty) == set(FAULT_KINDS) and min(faulty.values()) > 80
    with pytest.raises(ValueError, match="kinds among"):
        FaultPlan(kinds=("meteor",))


EXPECTED = {  # what each fault, on every attempt, leaves in the verdict
    "timeout": ("failed", "timed out"), "rate_limit": ("failed", "HTTP 429"), "server_error": ("failed", "HTTP 50"),
    "reset": ("failed", "connection error"), "truncated": ("failed", "unreadable response"),
    "empty": ("unscored", "no A/B label read"), "garbage": ("unscored", "no A/B label among the judge's top tokens"),
    "no_logprobs": ("scored", None),
    # an AttributeError escaped the backend: not retried, and the reason named no judge
    "wrong_shape": ("failed", "unreadable response"),
}


@pytest.mark.parametrize("kind", FAULT_KINDS + EXTRA_FAULTS)
def test_each_fault_kind_ends_as_intended(kind):
    """A server that fails every request with one kind: transport faults are retried up to max_attempts and end
    failed with the reason; empty and garbage completions are unscored with the raw text; a completion without
    log-probabilities is read from its text (method "parsed", no confidence)."""
    items = [Item(id=f"x{k}", input=f"[item x{k}] Which?", candidates=[f"one {k}", f"two {k}"]) for k in range(3)]
    with MockOpenAIServer(answer, faults=FaultPlan(rate=1.0, kinds=(kind,), timeout_s=0.6)) as server:
        backend = OpenAICompatibleBackend("m", base_url=server.base_url, timeout_s=0.3)
        engine = Engine(Judge(backend, PairwiseProtocol()),
                        config=EngineConfig(concurrency=4, max_attempts=2, retry_delay_s=0.01, progress=False))
        result = engine.run(items)
        requests = sum(server.attempts.values())
    status, reason = EXPECTED[kind]
    assert [j.verdict.status for j in result.judgments] == [status] * 3
    retried = kind in TRANSPORT_FAULTS + EXTRA_FAULTS
    assert requests == 3 * 2 * (2 if retried else 1)  # 3 items, 2 orders, 2 attempts if retried
    for judgment in result.judgments:
        verdict = judgment.verdict
        if reason is None:
            assert verdict.method == "parsed" and verdict.confidence is None
            assert [part.preference in ("A", "B") and part.method == "parsed" for part in verdict.parts] == [True] * 2
        else:
            assert reason in verdict.error, verdict.error
        if kind in CONTENT_FAULTS[:2]:
            assert verdict.raw is not None  # the judge's text is kept
        if status == "failed":
            assert "after 2 attempts" in verdict.error


@pytest.mark.timeout(180)
def test_2000_judgments_under_20_percent_faults_lose_nothing(tmp_path):
    data = tmp_path / "pairs.jsonl"
    ids = make_pairs(data, 2000)
    run = run_under_faults(data, ids, right_verdicts(data, tmp_path), tmp_path)
    run.check()
    injected = Counter(kind for _, kind in run.faults)
    assert set(injected) == set(FAULT_KINDS) and sum(injected.values()) > 0.15 * 4000
    status = run.status
    assert status["scored"] > 0.8 * 2000  # most faults are survived: retried, or read from the text
    assert status["failed"] < 0.01 * 2000  # four faults in a row on one request
    # the server saw each request once plus once per retry the engine counted; every transport fault was retried
    # but those on a request's last attempt (a request may also time out on a loaded machine: the engine may count
    # more retries than faults, never fewer)
    retried = Store(tmp_path / "local.db", create=False).find_run("local").totals["retries"]
    assert sum(run.attempts.values()) == 2 * 2000 + retried
    assert 0 < run.retries <= retried


@pytest.mark.ray
@pytest.mark.timeout(300)
def test_faults_on_the_ray_engine_lose_nothing(tmp_path):
    data = tmp_path / "pairs.jsonl"
    ids = make_pairs(data, 300)
    run = run_under_faults(data, ids, right_verdicts(data, tmp_path), tmp_path, engine="ray", seed=5)
    run.check()
    assert len(run.rows) == len(set(run.rows)) == 300  # one Parquet row per item
    assert run.status["scored"] > 0.8 * 300


class _Throttled(Backend):
    spec = "throttled"

    def __init__(self, retry_after: float):
        self.retry_after = retry_after
        self.calls = 0

    async def complete(self, request: CompletionRequest) -> Completion:
        self.calls += 1
        raise BackendError("HTTP 429: slow down", retryable=True, retry_after=self.retry_after)


@pytest.mark.parametrize("retry_after", [3600.0, math.inf, math.nan, -5.0])
def test_a_huge_or_odd_retry_after_never_waits_past_the_cap(monkeypatch, retry_after):
    """`Retry-After: inf` (float() reads it) made the engine sleep forever, and 3600 for an hour per attempt."""
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    inner = _Throttled(retry_after)
    backend = RetryingBackend(inner, CallStats(), max_attempts=4, base_delay_s=0.01, max_delay_s=2.0)
    request = CompletionRequest(messages=[{"role": "user", "content": "x"}])
    with pytest.raises(BackendError, match="after 4 attempts"):
        asyncio.run(backend.complete(request))
    assert inner.calls == 4 and len(waits) == 3
    assert all(0 < wait <= 2.0 for wait in waits), waits
