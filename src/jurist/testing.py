"""Test helpers: a mock OpenAI-compatible server on the loopback interface.

``MockOpenAIServer`` answers ``POST /v1/chat/completions`` like an OpenAI-compatible
server (llama.cpp server, vLLM, OpenAI), from a Python function, with configurable
latency, a server-side concurrency cap, log-probability support (or its absence),
and a plan of failures (429 with Retry-After, 500, 400, dropped connections). It
uses the standard library only and serves only while its context is open::

    with MockOpenAIServer(lambda messages: {"A": 0.8, "B": 0.2}, latency_s=0.01) as server:
        backend = OpenAICompatibleBackend("mock", base_url=server.base_url)
        ...
    assert server.requests == ...

The scripted answer function gets the request's ``messages`` (a list of
``{"role", "content"}`` dicts) and returns either ``{label: probability}`` (the
text is the most likely label and the first token's top log-probabilities are
those labels) or plain text, or a :class:`Failure` to fail that one request.
"""

from __future__ import annotations

import json
import math
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

AnswerFn = Callable[[list[dict[str, Any]]], Any]


@dataclass(frozen=True)
class Failure:
    """One failed response: an HTTP error (``status``) or a dropped connection (``status=0``).

    ``retry_after`` (seconds) is sent as the ``Retry-After`` header when given.
    """

    status: int = 500
    message: str = "mock server error"
    retry_after: float | None = None

    @classmethod
    def rate_limit(cls, retry_after: float | None = 0.05) -> Failure:
        return cls(429, "Rate limit reached for requests", retry_after)

    @classmethod
    def server_error(cls, message: str = "internal server error") -> Failure:
        return cls(500, message)

    @classmethod
    def bad_request(cls, message: str = "invalid request") -> Failure:
        return cls(400, message)

    @classmethod
    def disconnect(cls) -> Failure:
        """Close the connection without answering."""
        return cls(0, "connection dropped")


def default_answer(messages: list[dict[str, Any]]) -> dict[str, float]:
    """Always "A", with some mass on "B"."""
    return {"A": 0.9, "B": 0.1}


_TOKEN = re.compile(r"\s*\w+|\s*[^\w\s]|\s+")


def first_token(text: str) -> str:
    """A crude first token of ``text`` (a word with its leading space, or one symbol)."""
    match = _TOKEN.match(text)
    return match.group(0) if match else ""


def _token_count(text: str) -> int:
    return len(_TOKEN.findall(text))


def _top_entry(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8"))}


def _failure_response(failure: Failure) -> tuple[dict[str, Any], dict[str, str]]:
    """The OpenAI-style error body and headers of an HTTP failure."""
    kind = {400: "invalid_request_error", 429: "rate_limit_error"}.get(failure.status, "server_error")
    headers = {"Retry-After": f"{failure.retry_after:g}"} if failure.retry_after is not None else {}
    return {"error": {"message": failure.message, "type": kind, "param": None, "code": None}}, headers


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # many clients connect at once in concurrency tests
    mock: MockOpenAIServer

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        self.mock._track(conn)
        return conn, addr

    def shutdown_request(self, request: Any) -> None:
        self.mock._untrack(request)
        super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients expect
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_failure(self, failure: Failure) -> None:
        if failure.status == 0:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._send_json(failure.status, *_failure_response(failure))

    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._send_json(200, {"object": "list", "data": [{"id": self.server.mock.model, "object": "model",
                                                              "created": 0, "owned_by": "jurist"}]})
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError as error:
            self._send_json(400, {"error": {"message": f"invalid JSON: {error}", "type": "invalid_request_error"}})
            return
        status, payload, headers = self.server.mock._handle(body)
        if isinstance(payload, Failure):
            self._send_failure(payload)
        else:
            self._send_json(status, payload, headers)


class MockOpenAIServer:
    """A loopback OpenAI-compatible chat-completions server for tests and benchmarks.

    - ``answer(messages)``: ``{label: prob}``, text, or a :class:`Failure` (default: "A" 0.9 / "B" 0.1).
    - ``latency_s``: time each answered request takes on the server.
    - ``max_concurrency``: requests processed at once; the rest wait (a semaphore).
    - ``logprobs``: whether log-probabilities are offered. When False,
      ``unsupported_logprobs="reject"`` answers requests that ask for them with HTTP 400
      (mentioning 'logprobs'), ``"omit"`` answers them without log-probabilities.
    - ``failures``: the first ``len(failures)`` requests get these failures, in order and
      without latency (e.g. ``[Failure.rate_limit(0.05)] * 3``). For failures tied to a
      request's content, let ``answer`` return a :class:`Failure`; an exception raised by
      ``answer`` becomes a 500.

    Counters: ``requests`` (all received), ``answered`` (200 responses), ``failed``
    (failures served, including logprob rejections), ``max_in_flight`` (most requests
    received and not yet answered at once), ``max_active`` (most being processed at once,
    at most ``max_concurrency``). ``bodies`` records every request body received.
    """

    def __init__(self, answer: AnswerFn | None = None, *, latency_s: float = 0.0,
                 max_concurrency: int | None = None, logprobs: bool = True,
                 unsupported_logprobs: Literal["reject", "omit"] = "reject",
                 failures: Iterable[Failure] = (), model: str = "mock-judge"):
        self.answer = answer or default_answer
        self.latency_s = latency_s
        self.max_concurrency = max_concurrency
        self.logprobs = logprobs
        self.unsupported_logprobs = unsupported_logprobs
        self.failures = list(failures)
        self.model = model
        self.requests = 0
        self.answered = 0
        self.failed = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.active = 0
        self.max_active = 0
        self.bodies: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._slots = threading.Semaphore(max_concurrency) if max_concurrency else None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the mock server is not running (use it as a context manager)")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> MockOpenAIServer:
        if self._server is not None:
            raise RuntimeError("the mock server is already running")
        server = _Server(("127.0.0.1", 0), _Handler)
        server.mock = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"MockOpenAIServer:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            connections, self._connections = self._connections, set()
        for conn in connections:  # end keep-alive connections, so nothing is served after the context
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> MockOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _track(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)

    def _untrack(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    # -- requests -----------------------------------------------------------------------

    # A request goes through _admit (counters, planned failures, validation), then waits for a slot and
    # the latency (blocking here, awaited in AsyncMockOpenAIServer), then _reply; _leave ends it.

    def _admit(self, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]] | None:
        """Count the request; an early answer (planned failure, invalid body) or None to go on."""
        with self._lock:
            self.requests += 1
            number = self.requests
            self.bodies.append(body)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if number <= len(self.failures):
            with self._lock:
                self.failed += 1
            return 0, self.failures[number - 1], {}
        problem = self._validate(body)
        if problem is not None:
            with self._lock:
                self.failed += 1
            return 400, {"error": {"message": problem, "type": "invalid_request_error", "param": None,
                                   "code": None}}, {}
        return None

    def _activity(self, delta: int) -> None:
        with self._lock:
            self.active += delta
            self.max_active = max(self.max_active, self.active)

    def _reply(self, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        try:
            answer = self.answer(body.get("messages") or [])
        except Exception as error:  # a broken script is a 500, not a dropped connection
            answer = Failure.server_error(f"answer function raised {type(error).__name__}: {error}")
        if isinstance(answer, Failure):
            with self._lock:
                self.failed += 1
            return 0, answer, {}
        payload = self._response(body, answer)
        with self._lock:
            self.answered += 1
        return 200, payload, {}

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _handle(self, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        try:
            early = self._admit(body)
            if early is not None:
                return early
            if self._slots is not None:
                self._slots.acquire()
            try:
                self._activity(+1)
                if self.latency_s:
                    time.sleep(self.latency_s)
                return self._reply(body)
            finally:
                self._activity(-1)
                if self._slots is not None:
                    self._slots.release()
        finally:
            self._leave()

    def _validate(self, body: dict[str, Any]) -> str | None:
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return "'messages' must be a non-empty list"
        if body.get("stream"):
            return "MockOpenAIServer does not stream"
        wants = bool(body.get("logprobs"))
        top = body.get("top_logprobs")
        if top is not None and not wants:
            return "'top_logprobs' requires 'logprobs' to be true"
        if top is not None and not (isinstance(top, int) and 0 <= top <= 20):
            return "'top_logprobs' must be an integer from 0 to 20"
        if wants and not self.logprobs and self.unsupported_logprobs == "reject":
            return "this server does not support 'logprobs' / 'top_logprobs'"
        return None

    def _response(self, body: dict[str, Any], answer: Any) -> dict[str, Any]:
        if isinstance(answer, dict):
            probs = {str(label): float(p) for label, p in answer.items()}
            text = max(probs, key=probs.__getitem__) if probs else ""
            ranked = sorted(((label, math.log(p)) for label, p in probs.items() if p > 0),
                            key=lambda pair: pair[1], reverse=True)
        else:
            text = str(answer)
            ranked = [(first_token(text), 0.0)] if text else []
        logprobs = None
        if body.get("logprobs") and self.logprobs and ranked:
            k = int(body.get("top_logprobs") or 0)
            chosen = next(((token, lp) for token, lp in ranked if token == first_token(text) or token == text),
                          ranked[0])
            logprobs = {"content": [{**_top_entry(*chosen),
                                     "top_logprobs": [_top_entry(token, lp) for token, lp in ranked[:k]]}],
                        "refusal": None}
        messages = body.get("messages") or []
        prompt_tokens = sum(_token_count(str(m.get("content") or "")) for m in messages if isinstance(m, dict))
        completion_tokens = max(1, _token_count(text))
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.model,
            "system_fingerprint": "mock",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": logprobs,
                "finish_reason": "stop",
            }],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }


class AsyncMockOpenAIServer(MockOpenAIServer):
    """The same mock on an asyncio (aiohttp) server in a background thread, for load benchmarks.

    The thread-per-connection server tops out near 700 requests/s on a 2-core machine, below what a
    benchmark at 64 in flight and 50 ms needs (1,280/s); this one waits with ``asyncio.sleep`` and
    serves thousands a second. Same answers, failures and counters.
    """

    def __init__(self, answer: AnswerFn | None = None, **options: Any):
        super().__init__(answer, **options)
        self._loop: Any = None
        self._runner: Any = None
        self._port = 0
        self._async_slots: Any = None

    @property
    def port(self) -> int:
        if self._runner is None:
            raise RuntimeError("the mock server is not running (use it as a context manager)")
        return self._port

    def start(self) -> AsyncMockOpenAIServer:
        import asyncio

        from aiohttp import web

        if self._runner is not None:
            raise RuntimeError("the mock server is already running")
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        async def setup() -> None:
            if self.max_concurrency:
                self._async_slots = asyncio.Semaphore(self.max_concurrency)
            app = web.Application()
            app.router.add_post("/v1/chat/completions", self._serve)
            app.router.add_post("/chat/completions", self._serve)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
            await site.start()
            self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(setup())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="AsyncMockOpenAIServer", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        import asyncio

        if self._runner is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._runner = None

    async def _serve(self, request: Any) -> Any:
        import asyncio

        from aiohttp import web

        try:
            body = json.loads(await request.read() or b"{}")
        except json.JSONDecodeError as error:
            return web.json_response({"error": {"message": f"invalid JSON: {error}",
                                                "type": "invalid_request_error"}}, status=400)
        try:
            result = self._admit(body)
            if result is None:
                if self._async_slots is not None:
                    await self._async_slots.acquire()
                try:
                    self._activity(+1)
                    if self.latency_s:
                        await asyncio.sleep(self.latency_s)
                    result = self._reply(body)
                finally:
                    self._activity(-1)
                    if self._async_slots is not None:
                        self._async_slots.release()
        finally:
            self._leave()
        status, payload, headers = result
        if isinstance(payload, Failure):
            if payload.status == 0:
                request.transport.close()  # drop the connection without an answer
                return web.Response(status=500)
            error, headers = _failure_response(payload)
            return web.json_response(error, status=payload.status, headers=headers)
        return web.Response(body=json.dumps(payload).encode("utf-8"), status=status, headers=headers,
                            content_type="application/json")


__all__ = ["AsyncMockOpenAIServer", "Failure", "MockOpenAIServer", "default_answer", "first_token"]


# ---------------------------------------------------------------------------
# scripted judges, named by a judge spec (``scripted:jurist.testing:hashed_judge``), so a plan that uses them
# is rebuilt the same in any process (Ray actors).


def _hashed(request: Any, salt: str) -> str | dict[str, float]:
    """A deterministic answer that depends on the whole request (messages, seed, temperature) and ``salt``."""
    import hashlib

    payload = json.dumps([salt, request.model_dump(mode="json")], sort_keys=True)
    digest = int(hashlib.sha256(payload.encode("utf-8")).hexdigest()[:8], 16)
    labels = list(request.labels)
    if labels and request.top_logprobs:
        first = 0.05 + 0.9 * (digest % 1000) / 1000
        rest = (1 - first) / max(len(labels) - 1, 1)
        return {label: first if k == digest % len(labels) else rest for k, label in enumerate(labels)}
    return ["A", "B"][digest % 2]  # a sampled pairwise answer: the text names a label


def hashed_judge(request: Any) -> str | dict[str, float]:
    """A scripted judge (``scripted:jurist.testing:hashed_judge``): log-probabilities when asked, else a label."""
    return _hashed(request, "one")


def other_hashed_judge(request: Any) -> str | dict[str, float]:
    """A second, different scripted judge (for juries)."""
    return _hashed(request, "two")
