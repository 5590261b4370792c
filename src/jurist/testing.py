"""Test helpers: a mock OpenAI-compatible server on the loopback interface.

``MockOpenAIServer`` answers ``POST /v1/chat/completions`` like an OpenAI-compatible
server (llama.cpp server, vLLM, OpenAI), from a Python function, with configurable
latency, a server-side concurrency cap, log-probability support (or its absence),
a plan of failures (429 with Retry-After, 500, 400, dropped connections), and
seeded fault injection (:class:`FaultPlan`: timeouts, 429, 500/503, connections
reset mid-body, truncated JSON, empty or garbage completions, missing
log-probabilities, each request drawn at a rate). It uses the standard library
only and serves only while its context is open::

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

import hashlib
import json
import math
import random
import re
import socket
import struct
import threading
import time
import uuid
from collections import Counter
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


# What a FaultPlan injects. Transport faults the client sees as an error (retried by the engine); content faults
# are answers with status 200 that no judge may score as if they were right.
TRANSPORT_FAULTS = ("timeout", "rate_limit", "server_error", "reset", "truncated")
CONTENT_FAULTS = ("empty", "garbage", "no_logprobs")
FAULT_KINDS = TRANSPORT_FAULTS + CONTENT_FAULTS
# Drawn only when asked for (FaultPlan(kinds=...)): a 200 whose JSON is valid but not a chat completion.
EXTRA_FAULTS = ("wrong_shape",)
_GARBAGE = ("zxq", "blorf", "##", "lorem", "\u2603", "qwv", "~~", "ipsum", "\u00bf", "frob")


@dataclass(frozen=True)
class FaultPlan:
    """Faults a :class:`MockOpenAIServer` injects: each request is faulty with probability ``rate``, of a kind
    drawn uniformly from ``kinds`` (``FAULT_KINDS`` by default; ``EXTRA_FAULTS`` may be added).

    The draw is seeded by ``seed``, the request's prompt and how many times that prompt was asked before, so a
    run meets the same faults whatever the order in which its requests arrive, and a retried request is drawn
    afresh. ``timeout_s`` is how long a "timeout" stalls before answering (longer than the client's timeout);
    ``retry_after_s`` is the Retry-After of a 429.
    """

    rate: float = 0.2
    seed: int = 0
    kinds: tuple[str, ...] = FAULT_KINDS
    timeout_s: float = 1.0
    retry_after_s: float = 0.01

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(FAULT_KINDS + EXTRA_FAULTS)
        if unknown or not self.kinds or not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"a FaultPlan needs a rate in [0, 1] and kinds among "
                             f"{', '.join(FAULT_KINDS + EXTRA_FAULTS)}")

    def draw(self, prompt: str, attempt: int) -> tuple[str | None, random.Random]:
        """The fault of the ``attempt``-th request (1, 2, ...) with this prompt (None: no fault), and the
        generator that shapes it (which 5xx, which garbage)."""
        digest = hashlib.sha256(f"{self.seed}\0{attempt}\0{prompt}".encode("utf-8", "surrogatepass")).digest()
        rng = random.Random(digest)
        return (rng.choice(self.kinds) if rng.random() < self.rate else None), rng


@dataclass(frozen=True)
class _Broken:
    """A 200 answer the handler breaks on the wire: ``reset`` (connection reset mid-body) or ``truncated``
    (a complete HTTP message whose JSON body is cut)."""

    kind: str
    payload: dict[str, Any]


def _prompt_of(messages: list[dict[str, Any]]) -> str:
    """What a request is counted and drawn by: its last message's text."""
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    content = last.get("content")
    return content if isinstance(content, str) else json.dumps(content, sort_keys=True)


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

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):  # the client left (a timeout, a reset)
            return
        super().handle_error(request, client_address)


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
        elif isinstance(payload, _Broken):
            self._send_broken(payload)
        else:
            self._send_json(status, payload, headers)

    def _send_broken(self, broken: _Broken) -> None:
        data = json.dumps(broken.payload).encode("utf-8")
        cut = data[: len(data) // 2]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data) if broken.kind == "reset" else len(cut)))
        self.end_headers()
        self.wfile.write(cut)
        self.wfile.flush()
        if broken.kind == "reset":  # half the promised body, then a TCP reset (SO_LINGER 0 on close)
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


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
    - ``faults``: a :class:`FaultPlan` drawing faults at random, seeded (thread server only).

    Counters: ``requests`` (all received), ``answered`` (200 responses), ``failed``
    (failures served, including logprob rejections), ``max_in_flight`` (most requests
    received and not yet answered at once), ``max_active`` (most being processed at once,
    at most ``max_concurrency``). ``bodies`` records every request body received.
    ``attempts`` counts requests by prompt (the last message's text); ``fault_log`` lists the
    faults injected (prompt, kind), ``injected`` counts them by kind.
    """

    def __init__(self, answer: AnswerFn | None = None, *, latency_s: float = 0.0,
                 max_concurrency: int | None = None, logprobs: bool = True,
                 unsupported_logprobs: Literal["reject", "omit"] = "reject",
                 failures: Iterable[Failure] = (), model: str = "mock-judge", faults: FaultPlan | None = None):
        self.answer = answer or default_answer
        self.faults = faults
        self.attempts: Counter[str] = Counter()
        self.fault_log: list[tuple[str, str]] = []  # (prompt, kind) of every fault injected
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

    def _draw_fault(self, body: dict[str, Any]) -> tuple[str | None, random.Random | None]:
        """Count the request by prompt and draw its fault (None without a FaultPlan)."""
        prompt = _prompt_of(body.get("messages") or [])
        with self._lock:
            self.attempts[prompt] += 1
            attempt = self.attempts[prompt]
        if self.faults is None:
            return None, None
        fault, rng = self.faults.draw(prompt, attempt)
        if fault is not None:
            with self._lock:
                self.fault_log.append((prompt, fault))
        return fault, rng

    @property
    def injected(self) -> Counter[str]:
        """Faults injected, by kind."""
        with self._lock:
            return Counter(kind for _, kind in self.fault_log)

    def _reply(self, body: dict[str, Any], fault: str | None = None,
               rng: random.Random | None = None) -> tuple[int, Any, dict[str, str]]:
        rng = rng or random.Random(0)
        if fault == "rate_limit":
            answer: Any = Failure.rate_limit(self.faults.retry_after_s)  # type: ignore[union-attr]
        elif fault == "server_error":
            answer = Failure(rng.choice((500, 503)), "injected server error")
        elif fault == "empty":
            answer = ""
        elif fault == "garbage":
            answer = " ".join(rng.choices(_GARBAGE, k=rng.randint(1, 6)))
        else:
            try:
                answer = self.answer(body.get("messages") or [])
            except Exception as error:  # a broken script is a 500, not a dropped connection
                answer = Failure.server_error(f"answer function raised {type(error).__name__}: {error}")
        if isinstance(answer, Failure):
            with self._lock:
                self.failed += 1
            return 0, answer, {}
        payload = self._response(body, answer)
        if fault == "no_logprobs":
            payload["choices"][0]["logprobs"] = None
        elif fault == "wrong_shape":  # valid JSON, not a chat completion
            payload = rng.choice([[], "A", {"choices": ["A"]}, {"choices": [{"message": "A"}]},
                                  {"choices": [{"message": {"content": "A"}, "logprobs": {"content": "A"}}]}])
        with self._lock:
            self.answered += 1
        if fault in ("reset", "truncated"):
            return 200, _Broken(fault, payload), {}
        return 200, payload, {}

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _handle(self, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        try:
            early = self._admit(body)
            if early is not None:
                return early
            fault, rng = self._draw_fault(body)
            if self._slots is not None:
                self._slots.acquire()
            try:
                self._activity(+1)
                if self.latency_s:
                    time.sleep(self.latency_s)
                if fault == "timeout":  # the client gives up first; the answer goes to a closed connection
                    time.sleep(self.faults.timeout_s)  # type: ignore[union-attr]
                return self._reply(body, fault, rng)
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

    The thread-per-connection server answers about 660 requests/s on a 2-core machine at 50 ms and 64 at
    once, half of what that setting allows (1,280/s); this one waits with ``asyncio.sleep`` and does
    better (``benchmarks/http_overhead.py``). Same answers, failures and counters.
    """

    def __init__(self, answer: AnswerFn | None = None, **options: Any):
        if options.get("faults") is not None:
            raise ValueError("fault injection (faults=) needs MockOpenAIServer: it breaks responses on the wire")
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


__all__ = ["EXTRA_FAULTS", "FAULT_KINDS", "AsyncMockOpenAIServer", "Failure", "FaultPlan", "MockOpenAIServer", "default_answer",
           "first_token"]


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
