"""The service over HTTP on 127.0.0.1: verdicts, gate decisions, 4xx for bad requests, batching, the token."""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time

import pytest

pytest.importorskip("fastapi")  # the serve extra (in the test extra)
httpx = pytest.importorskip("httpx")

from jurist.apps.online import OnlineJudge  # noqa: E402
from jurist.apps.serve import check_binding, create_app, serving  # noqa: E402
from jurist.backends.scripted import ScriptedBackend  # noqa: E402
from jurist.plan import Plan  # noqa: E402


def graded(request):
    return {"5": 0.97, "1": 0.03} if "good" in request.messages[-1].text else {"1": 0.97, "5": 0.03}


@pytest.fixture(scope="module")
def backend():
    return ScriptedBackend(graded, spec="s", latency_s=0.02)


@pytest.fixture(scope="module")
def url(backend):
    online = OnlineJudge(Plan.parse({"task": "score", "judge": {"spec": "s"}, "engine": {"concurrency": 8}}),
                         backends={"s": backend})
    with serving(create_app(online, min_score=4, confidence=0.9, max_body_bytes=20_000)) as base:
        yield base


def test_judge_and_gate(url):
    with httpx.Client(base_url=url) as client:
        verdict = client.post("/v1/judge", json={"id": "a", "input": "q", "response": "a good answer"}).json()
        assert verdict["id"] == "a" and verdict["verdict"]["status"] == "scored"
        assert verdict["verdict"]["score"] == pytest.approx(0.97 * 5 + 0.03)
        accept = client.post("/v1/gate", json={"id": "g", "input": "q", "response": "a good answer"}).json()
        assert accept["decision"] == "accept" and accept["item_id"] == "g" and accept["confidence"] > 0.9
        reject = client.post("/v1/gate", json={"input": "q", "response": "a poor answer"}).json()
        assert reject["decision"] == "reject" and reject["reasons"]
        unsure = client.post("/v1/gate", json={"input": "q", "response": "a poor answer", "confidence": 0.99}).json()
        assert unsure["decision"] == "escalate"
        health = client.get("/healthz").json()
        assert health["status"] == "ok" and health["task"] == "score"
        assert "/v1/gate" in client.get("/openapi.json").json()["paths"]
        assert client.get("/docs").status_code == 200


@pytest.mark.parametrize("body, status", [
    (b"{not json", 422),
    (b"[1, 2]", 422),
    (json.dumps({"input": "q"}).encode(), 422),  # no response
    (json.dumps({"response": "x", "candidates": ["a"]}).encode(), 422),  # both
    (json.dumps({"response": 3}).encode(), 422),
    (json.dumps({"response": "x", "colour": "red"}).encode(), 422),  # unknown field
    (json.dumps({"response": "x" * 30_000}).encode(), 413),
])
def test_bad_requests_are_4xx_and_the_service_lives_on(url, body, status):
    with httpx.Client(base_url=url) as client:
        for path in ("/v1/judge", "/v1/gate"):
            answer = client.post(path, content=body, headers={"content-type": "application/json"})
            assert answer.status_code == status, answer.text
            assert "detail" in answer.json()
        assert client.post("/v1/gate", json={"response": "x", "confidence": 2}).status_code == 422
        assert client.get("/healthz").status_code == 200


def test_streamed_oversized_body_is_413(url):
    def chunks():
        for _ in range(30):
            yield b"x" * 1000

    with httpx.Client(base_url=url) as client:
        answer = client.post("/v1/judge", content=chunks(), headers={"content-type": "application/json"})
        assert answer.status_code == 413


def test_concurrent_requests_are_batched(url, backend):
    with httpx.Client(base_url=url) as client:
        before = client.get("/healthz").json()

        def one(k):
            return client.post("/v1/gate", json={"id": str(k), "response": f"good answer {k}"}).json()

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(one, range(48)))
        after = client.get("/healthz").json()
    assert sorted(int(a["item_id"]) for a in answers) == list(range(48))
    assert all(a["decision"] == "accept" for a in answers)
    assert after["requests"] - before["requests"] == 48
    assert after["batches"] - before["batches"] < 48  # requests that arrived together were judged together


def test_token_required_when_given_and_off_loopback():
    online = OnlineJudge(Plan.parse({"task": "score", "judge": {"spec": "s"}}),
                         backends={"s": ScriptedBackend(graded, spec="s")})
    with serving(create_app(online, token="sesame")) as base, httpx.Client(base_url=base) as client:
        assert client.post("/v1/judge", json={"response": "good"}).status_code == 401
        assert client.post("/v1/judge", json={"response": "good"},
                           headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.post("/v1/judge", json={"response": "good"},
                           headers={"Authorization": "Bearer sesame"}).status_code == 200
        assert client.get("/healthz").status_code == 200
    with pytest.raises(ValueError, match="token"):
        check_binding("0.0.0.0", None)
    check_binding("0.0.0.0", "t")
    check_binding("127.0.0.1", None)
    check_binding("::1", None)


def test_compare_service_refuses_gate_and_wrong_counts():
    online = OnlineJudge(Plan.parse({"task": "compare", "judge": {"spec": "s"}}),
                         backends={"s": ScriptedBackend(lambda r: {"A": 0.8, "B": 0.2}, spec="s")})
    with serving(create_app(online)) as base, httpx.Client(base_url=base) as client:
        assert client.post("/v1/gate", json={"response": "x"}).status_code == 409
        assert client.post("/v1/judge", json={"candidates": ["a"]}).status_code == 422
        ok = client.post("/v1/judge", json={"input": "q", "candidates": ["a", "b"]}).json()
        assert ok["verdict"]["kind"] == "compare" and ok["verdict"]["preference"] == "tie"  # "A" in both orders


def test_cli_refuses_an_open_address_without_a_token():
    from typer.testing import CliRunner

    from jurist.cli import app

    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--judge", "scripted:jurist.testing:hashed_judge"])
    assert result.exit_code == 2 and "token" in result.output


def test_a_full_queue_is_a_503_with_retry_after_and_a_form_post_is_not_json():
    release = threading.Event()

    def slow(request):
        release.wait(10)
        return graded(request)

    online = OnlineJudge(Plan.parse({"task": "score", "judge": {"spec": "s"}, "engine": {"concurrency": 8}}),
                         backends={"s": ScriptedBackend(slow, spec="s")})
    with serving(create_app(online, max_pending=2, max_batch=1)) as base, httpx.Client(base_url=base) as client:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            held = [pool.submit(client.post, "/v1/judge", json={"response": f"good {k}"}) for k in range(2)]
            deadline = time.monotonic() + 10
            while client.get("/healthz").json()["pending"] < 2 and time.monotonic() < deadline:
                pass
            busy = client.post("/v1/judge", json={"response": "good"})
            assert busy.status_code == 503 and busy.headers["retry-after"] == "1" and "busy" in busy.json()["detail"]
            release.set()
            assert [f.result().status_code for f in held] == [200, 200]
        health = client.get("/healthz").json()
        assert health["refused"] == 1 and health["pending"] == 0
        assert client.post("/v1/judge", json={"response": "good"}).status_code == 200
        # a cross-site HTML form can only send form or text bodies: they are not read as JSON
        for kind in ("text/plain", "application/x-www-form-urlencoded"):
            answer = client.post("/v1/judge", content=json.dumps({"response": "good"}), headers={"content-type": kind})
            assert answer.status_code == 422, kind
