"""Any OpenAI-compatible chat endpoint: llama.cpp server, vLLM, Ollama, SGLang, TGI, OpenAI.

Asks for the first tokens' top-k log-probabilities. A server that rejects the
log-probability parameters is asked again without them, once, and from then on
its verdicts are parsed from text (recorded as ``method="parsed"`` on each verdict,
never presented as probabilities).

Requests go out over ``aiohttp`` and the JSON answer is read as a dict. The
``openai`` client spent ~2.5 ms of CPU per request here (building httpx requests,
validating the whole response into pydantic models), aiohttp ~0.4 ms; at thousands
of judgments a second the client's CPU, not the server, was the limit
(benchmarks/engine.py, docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp

from jurist.backends.base import Backend, BackendError
from jurist.types import Completion, CompletionRequest, Usage

log = logging.getLogger(__name__)

# OpenAI's API caps top_logprobs at 20; most compatible servers follow it.
MAX_TOP_LOGPROBS = 20


OPENAI_BASE_URL = "https://api.openai.com/v1"


def _retry_after(headers: Any) -> float | None:
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _error_message(body: bytes) -> str:
    """The server's error message (OpenAI's ``{"error": {"message": ...}}`` or the raw text, shortened)."""
    try:
        data = json.loads(body)
        error = data.get("error", data) if isinstance(data, dict) else data
        message = error.get("message", error) if isinstance(error, dict) else error
        return str(message)[:500]
    except ValueError:
        return body.decode("utf-8", "replace")[:500]


class OpenAICompatibleBackend(Backend):
    """A chat-completions endpoint (``POST {base_url}/chat/completions``).

    ``base_url`` is e.g. ``http://127.0.0.1:8080/v1``; ``base_url=None`` means
    OpenAI itself (the key comes from ``OPENAI_API_KEY`` via ``resolve_backend``).
    Retries are the engine's job: this backend makes exactly one attempt per call
    and says in the BackendError whether another attempt may help.
    """

    def __init__(self, model: str, base_url: str | None = None, api_key: str | None = None,
                 timeout_s: float = 120.0, extra_body: dict[str, Any] | None = None, vision: bool = False):
        self.model = model
        self.vision = vision  # the served model accepts image content parts (say so: servers differ)
        self.base_url = base_url
        self.spec = f"openai:{model}" if base_url is None else f"{base_url.rstrip('/')}#{model}"
        self.extra_body = extra_body or {}
        self.logprobs_supported = True
        self._url = f"{(base_url or OPENAI_BASE_URL).rstrip('/')}/chat/completions"
        self._headers = {"Authorization": f"Bearer {api_key or 'EMPTY'}", "Content-Type": "application/json"}
        self._key = api_key or None  # never in a message: a server may quote the key it refused
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None

    def _loop_session(self) -> aiohttp.ClientSession:
        """The session of the running event loop: pooled connections belong to the loop that opened them,
        so a backend reused by a second ``asyncio.run`` (a second ``Engine.run``) opens a new session."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            self._session_loop = loop
            # No connection cap here: the engine bounds requests in flight (--concurrency).
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=self._timeout,
                                                  headers=self._headers)
        return self._session

    async def complete(self, request: CompletionRequest) -> Completion:
        try:
            return await self._complete(request)
        except BackendError as error:
            if self._key and self._key in str(error):
                raise BackendError(str(error).replace(self._key, "***"), retryable=error.retryable,
                                   retry_after=error.retry_after) from None
            raise

    async def _complete(self, request: CompletionRequest) -> Completion:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [m.model_dump() for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        want_logprobs = self.logprobs_supported and request.top_logprobs > 0
        if want_logprobs:
            body |= {"logprobs": True, "top_logprobs": min(request.top_logprobs, MAX_TOP_LOGPROBS)}
        body |= self.extra_body
        try:
            async with self._loop_session().post(self._url, data=json.dumps(body)) as response:
                status, headers, payload = response.status, response.headers, await response.read()
        except asyncio.TimeoutError as error:
            raise BackendError(f"{self.spec}: timed out", retryable=True) from error
        except aiohttp.ClientError as error:
            raise BackendError(f"{self.spec}: connection error ({type(error).__name__}): {error}",
                               retryable=True) from error
        if status == 400 and want_logprobs and b"logprob" in payload.lower():
            log.warning("%s rejects log-probabilities; verdicts will be parsed from text", self.spec)
            self.logprobs_supported = False
            return await self._complete(request)
        if status >= 400:
            retryable = status in (408, 409, 429) or status >= 500
            kind = "bad request" if status == 400 else f"HTTP {status}"
            raise BackendError(f"{self.spec}: {kind}: {_error_message(payload)}", retryable=retryable,
                               retry_after=_retry_after(headers))
        try:
            return self._to_completion(json.loads(payload))
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as error:  # any JSON of another shape
            raise BackendError(f"{self.spec}: unreadable response ({type(error).__name__}: {error}): "
                               f"{payload[:200]!r}", retryable=True) from error

    def _to_completion(self, response: dict[str, Any]) -> Completion:
        choices = response.get("choices")
        if not choices:
            raise BackendError(f"{self.spec}: the response has no choices", retryable=True)
        choice = choices[0]
        top_logprobs: list[dict[str, float]] = []
        for position in (choice.get("logprobs") or {}).get("content") or []:
            alternatives = {alt["token"]: alt["logprob"] for alt in position.get("top_logprobs") or []}
            alternatives.setdefault(position["token"], position["logprob"])
            top_logprobs.append(alternatives)
        usage = Usage()
        if response.get("usage"):
            counts = response["usage"]
            details = counts.get("prompt_tokens_details") or {}
            usage = Usage(prompt_tokens=counts.get("prompt_tokens") or 0,
                          completion_tokens=counts.get("completion_tokens") or 0,
                          cached_prompt_tokens=details.get("cached_tokens") or 0)
        return Completion(text=(choice.get("message") or {}).get("content") or "", top_logprobs=top_logprobs,
                          usage=usage, model=response.get("model") or self.model)

    async def close_connections(self) -> None:
        if self._session is not None and not self._session.closed and \
                self._session_loop is asyncio.get_running_loop():  # another loop's connections are gone
            await self._session.close()

    async def aclose(self) -> None:
        await self.close_connections()
