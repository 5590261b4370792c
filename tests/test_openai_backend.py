"""OpenAICompatibleBackend against the loopback MockOpenAIServer (no model needed).

Covers: top log-probabilities read into the Completion, the probabilities the
pointwise and pairwise judges give, servers without log-probabilities (parsed
verdicts, never fake probabilities), unreadable answers, and the engine's
handling of 429 / 500 / 400 / dropped and refused connections.
"""

from __future__ import annotations

import asyncio
import math
import re
import socket
import time
from typing import Any

import openai
import pytest

from jurist import (
    Completion,
    CompletionRequest,
    Engine,
    EngineConfig,
    Item,
    Judge,
    Message,
    OpenAICompatibleBackend,
    PairwiseProtocol,
    PointwiseProtocol,
    Single,
    Store,
)
from jurist.backends.base import BackendError
from jurist.testing import AsyncMockOpenAIServer, Failure, MockOpenAIServer

pytestmark = pytest.mark.timeout(60)

QUIET = {"progress": False}


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def complete(backend: OpenAICompatibleBackend, request: CompletionRequest) -> Completion:
    async def go() -> Completion:
        try:
            return await backend.complete(request)
        finally:
            await backend.close_connections()

    return asyncio.run(go())


def request(text: str = "Grade this.", **options: Any) -> CompletionRequest:
    return CompletionRequest(messages=[Message(role="system", content="You grade."),
                                       Message(role="user", content=text)], labels=["A", "B"], **options)


def run(backend: OpenAICompatibleBackend, protocol: Any, items: list[Item], **config: Any):
    judge = Judge(backend, protocol, Single() if protocol.kind == "score" else None)
    return Engine(judge, Store(":memory:"), EngineConfig(**(QUIET | config))).run(items)


def pair_item(n: int = 0) -> Item:
    return Item(id=f"p{n}", input=f"Question {n}?", candidates=[f"GOOD answer {n}", f"BAD answer {n}"], label="A")


def scored_item(n: int = 0) -> Item:
    return Item(id=f"s{n}", input=f"Question {n}?", candidates=[f"answer {n}"], label=4.0)


def position_biased_answer(messages: list[dict[str, Any]]) -> dict[str, float]:
    """Prefers the GOOD response, and also the first position; 20% of the mass is not a label."""
    user = messages[-1]["content"]
    good_first = user.index("GOOD") < user.index("BAD")
    return {"A": 0.6, "B": 0.2, "The": 0.2} if good_first else {"A": 0.24, "B": 0.56, "The": 0.2}


# ---------------------------------------------------------------------------
# the mock server itself


def test_mock_server_is_loopback_only_and_stops_serving_after_the_context() -> None:
    with MockOpenAIServer() as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        response = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}],
                                                  logprobs=True, top_logprobs=2)
        assert response.object == "chat.completion" and response.id.startswith("chatcmpl-")
        assert response.choices[0].message.content == "A" and response.choices[0].finish_reason == "stop"
        first = response.choices[0].logprobs.content[0]
        assert first.token == "A" and first.bytes == [65]
        assert [t.token for t in first.top_logprobs] == ["A", "B"]
        assert math.isclose(first.top_logprobs[1].logprob, math.log(0.1))
        assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens
        assert [m.id for m in client.models.list()] == ["mock-judge"]
        port = server.port
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    assert server.requests == 1 and server.answered == 1


SERVERS = pytest.mark.parametrize("server_class", [MockOpenAIServer, AsyncMockOpenAIServer])


@SERVERS
def test_mock_server_concurrency_cap_and_latency(server_class: type[MockOpenAIServer]) -> None:
    with server_class(latency_s=0.05, max_concurrency=2) as server:
        backend = OpenAICompatibleBackend("m", base_url=server.base_url)

        async def many() -> list[Completion]:
            return await asyncio.gather(*(backend.complete(request(f"q{i}")) for i in range(8)))

        t0 = time.monotonic()
        answers = asyncio.run(many())
        elapsed = time.monotonic() - t0
    assert len(answers) == 8 and server.requests == 8
    assert server.max_active == 2 and server.max_in_flight > 2  # the rest waited on the server
    assert elapsed >= 4 * 0.05 * 0.9


# ---------------------------------------------------------------------------
# reading log-probabilities


def test_top_logprobs_are_read_into_the_completion() -> None:
    with MockOpenAIServer(lambda messages: {"A": 0.7, "B": 0.2, " C": 0.1}) as server:
        backend = OpenAICompatibleBackend("judge-model", base_url=server.base_url)
        completion = complete(backend, request(top_logprobs=50, max_tokens=2, seed=7))
    assert completion.text == "A" and completion.model == "judge-model"
    assert len(completion.top_logprobs) == 1
    top = completion.top_logprobs[0]
    assert set(top) == {"A", "B", " C"}
    for token, p in {"A": 0.7, "B": 0.2, " C": 0.1}.items():
        assert math.isclose(top[token], math.log(p))
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens == 1
    body = server.bodies[0]
    assert body["logprobs"] is True and body["top_logprobs"] == 20  # capped at the OpenAI limit
    assert body["max_tokens"] == 2 and body["temperature"] == 0.0 and body["seed"] == 7
    assert body["model"] == "judge-model"
    assert body["messages"] == [{"role": "system", "content": "You grade."}, {"role": "user", "content": "Grade this."}]


def test_pointwise_judge_gives_the_expected_distribution() -> None:
    answer = {"4": 0.5, "5": 0.25, "3": 0.15, "Score": 0.1}
    with MockOpenAIServer(lambda messages: answer) as server:
        backend = OpenAICompatibleBackend("m", base_url=server.base_url)
        result = run(backend, PointwiseProtocol(scale="1-5"), [scored_item(0), scored_item(1)])
    assert server.requests == 2
    for judgment in result.judgments:
        v = judgment.verdict
        assert v.status == "scored" and v.method == "logprobs"
        assert v.top_label == "4"
        assert v.distribution == pytest.approx({"1": 0.0, "2": 0.0, "3": 0.15 / 0.9, "4": 0.5 / 0.9,
                                                "5": 0.25 / 0.9})
        assert v.score == pytest.approx((3 * 0.15 + 4 * 0.5 + 5 * 0.25) / 0.9)
        assert v.confidence == pytest.approx(0.5 / 0.9)
        assert v.label_mass == pytest.approx(0.9)


def test_pairwise_judge_averages_both_orders() -> None:
    with MockOpenAIServer(position_biased_answer) as server:
        backend = OpenAICompatibleBackend("m", base_url=server.base_url)
        result = run(backend, PairwiseProtocol(), [pair_item(0), pair_item(1), pair_item(2)])
    assert server.requests == 6  # both orders of each pair
    for judgment in result.judgments:
        v = judgment.verdict
        assert v.status == "scored" and v.method == "logprobs"
        # original order: P(A) = 0.6/0.8 = 0.75; swapped: GOOD is shown as B with 0.56/0.8 = 0.7
        assert v.p_a == pytest.approx((0.75 + 0.7) / 2)
        assert v.p_b == pytest.approx((0.25 + 0.3) / 2)
        assert v.preference == "A" and v.orders_agree is True
        assert v.confidence == pytest.approx(0.725)
        assert v.label_mass == pytest.approx(0.8)
        assert [part.p_a for part in v.parts] == pytest.approx([0.75, 0.7])


# ---------------------------------------------------------------------------
# servers without log-probabilities


def labelled_text(messages: list[dict[str, Any]]) -> str:
    user = messages[-1]["content"]
    if "GOOD" in user:
        return "A" if user.index("GOOD") < user.index("BAD") else "B"
    return "4"


@pytest.mark.parametrize("mode", ["reject", "omit"])
def test_server_without_logprobs_gives_parsed_verdicts_never_probabilities(mode: str) -> None:
    with MockOpenAIServer(labelled_text, logprobs=False, unsupported_logprobs=mode) as server:
        backend = OpenAICompatibleBackend("m", base_url=server.base_url)
        scored = run(backend, PointwiseProtocol(), [scored_item(0), scored_item(1)], concurrency=1)
        pairs = run(backend, PairwiseProtocol(), [pair_item(0)], concurrency=1)
    if mode == "reject":
        assert server.failed == 1  # rejected once, then never asked for logprobs again
        assert backend.logprobs_supported is False
        assert "logprobs" in server.bodies[0] and all("logprobs" not in b for b in server.bodies[1:])
    else:
        assert server.failed == 0
    for judgment in scored.judgments:
        v = judgment.verdict
        assert v.status == "scored" and v.method == "parsed"
        assert v.score == 4.0 and v.top_label == "4" and v.distribution == {"4": 1.0}
        assert v.confidence is None and v.label_mass is None
    v = pairs.judgments[0].verdict
    assert v.status == "scored" and v.method == "parsed" and v.preference == "A"
    assert v.confidence is None and v.label_mass is None
    assert all(part.method == "parsed" and part.confidence is None for part in v.parts)


@pytest.mark.parametrize("logprobs", [True, False])
def test_an_answer_without_a_label_is_unscored_and_keeps_the_text(logprobs: bool) -> None:
    text = "I would rather not choose."
    with MockOpenAIServer(lambda messages: text, logprobs=logprobs) as server:
        backend = OpenAICompatibleBackend("m", base_url=server.base_url)
        scored = run(backend, PointwiseProtocol(), [scored_item(0)])
        pairs = run(backend, PairwiseProtocol(), [pair_item(0)])
    for result in (scored, pairs):
        v = result.judgments[0].verdict
        assert v.status == "unscored", v
        assert v.raw == text and v.error
        assert v.score is None and v.p_a is None and v.confidence is None
    assert scored.stats["unscored"] == 1 and server.requests >= 3


# ---------------------------------------------------------------------------
# errors, retries


@SERVERS
def test_rate_limited_requests_are_retried_after_retry_after(server_class: type[MockOpenAIServer]) -> None:
    with server_class(lambda m: {"5": 1.0}, failures=[Failure.rate_limit(0.05)] * 2) as server:
        backend = OpenAICompatibleBackend("m", base_url=server.base_url)
        result = run(backend, PointwiseProtocol(), [scored_item(0)])
    assert server.requests == 3 and server.failed == 2
    assert result.judgments[0].verdict.status == "scored" and result.judgments[0].verdict.score == 5.0
    assert result.stats["retries"] == 2 and result.stats["model_calls"] == 1


@SERVERS
def test_server_errors_and_dropped_connections_are_retried(server_class: type[MockOpenAIServer]) -> None:
    with server_class(lambda m: {"3": 1.0}, failures=[Failure.server_error(), Failure.disconnect()]) as server:
        backend = OpenAICompatibleBackend("m", base_url=server.base_url)
        result = run(backend, PointwiseProtocol(), [scored_item(0)])
    assert server.requests == 3
    assert result.judgments[0].verdict.score == 3.0 and result.stats["retries"] == 2


def test_a_bad_request_is_not_retried_and_names_the_error() -> None:
    def answer(messages: list[dict[str, Any]]) -> Any:
        if "answer 1" in messages[-1]["content"]:
            return Failure.bad_request("This model's maximum context length is 2048 tokens")
        return {"4": 1.0}

    with MockOpenAIServer(answer) as server:
        backend = OpenAICompatibleBackend("m", base_url=server.base_url)
        result = run(backend, PointwiseProtocol(), [scored_item(0), scored_item(1), scored_item(2)])
    assert server.requests == 3  # no retry
    by_id = {j.item_id: j.verdict for j in result.judgments}
    failed = by_id["s1"]
    assert failed.status == "failed" and failed.score is None
    assert "bad request" in failed.error and "maximum context length" in failed.error
    assert by_id["s0"].status == by_id["s2"].status == "scored"
    assert result.stats["retries"] == 0 and result.stats["failed"] == 1


def test_a_refused_connection_is_retryable_and_fails_after_the_retries() -> None:
    backend = OpenAICompatibleBackend("m", base_url=f"http://127.0.0.1:{closed_port()}/v1", timeout_s=5)
    with pytest.raises(BackendError) as raised:
        complete(backend, request())
    assert raised.value.retryable and "connection error" in str(raised.value)

    result = run(backend, PointwiseProtocol(), [scored_item(0)], max_attempts=2)
    v = result.judgments[0].verdict
    assert v.status == "failed" and "connection error" in v.error and "after 2 attempts" in v.error
    assert result.stats["retries"] == 1 and result.stats["model_calls"] == 0
    assert result.run.status == "finished"


def test_a_backend_serves_several_engine_runs() -> None:
    """Each Engine.run has its own event loop; the backend must not reuse the last loop's connections."""
    with MockOpenAIServer(lambda m: {"2": 1.0}) as server:
        backend = OpenAICompatibleBackend("m", base_url=server.base_url)
        for n in range(3):
            result = run(backend, PointwiseProtocol(), [scored_item(10 * n + i) for i in range(3)])
            assert [j.verdict.status for j in result.judgments] == ["scored"] * 3
    assert server.requests == 9


def test_usage_from_the_server_reaches_the_totals() -> None:
    with MockOpenAIServer(lambda m: {"4": 1.0}) as server:
        backend = OpenAICompatibleBackend("m", base_url=server.base_url)
        judge = Judge(backend, PointwiseProtocol(), Single())
        config = EngineConfig(progress=False, prices={backend.spec: (1.0, 2.0)})
        result = Engine(judge, Store(":memory:"), config).run([scored_item(i) for i in range(4)])
    prompt = sum(len(re.findall(r"\s*\w+|\s*[^\w\s]|\s+", m["content"])) for b in server.bodies
                 for m in b["messages"])
    assert result.stats["prompt_tokens"] == prompt and result.stats["completion_tokens"] == 4
    assert result.stats["cost_usd"] == pytest.approx((prompt * 1.0 + 4 * 2.0) / 1e6)
