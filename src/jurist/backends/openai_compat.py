"""Any OpenAI-compatible chat endpoint: llama.cpp server, vLLM, Ollama, SGLang, TGI, OpenAI.

Asks for the first tokens' top-k log-probabilities. A server that rejects the
log-probability parameters is asked again without them, once, and from then on
its verdicts are parsed from text (recorded as ``method="parsed"`` on each verdict,
never presented as probabilities).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import openai

from jurist.backends.base import Backend, BackendError
from jurist.types import Completion, CompletionRequest, Usage

log = logging.getLogger(__name__)

# OpenAI's API caps top_logprobs at 20; most compatible servers follow it.
MAX_TOP_LOGPROBS = 20


def _retry_after(error: openai.APIStatusError) -> float | None:
    value = error.response.headers.get("retry-after") if error.response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class OpenAICompatibleBackend(Backend):
    """A chat-completions endpoint reached with the official ``openai`` client.

    ``base_url`` is e.g. ``http://127.0.0.1:8080/v1``; ``base_url=None`` means
    OpenAI itself (the key comes from ``OPENAI_API_KEY``). Retries are the
    engine's job, so the client's own are turned off.
    """

    def __init__(self, model: str, base_url: str | None = None, api_key: str | None = None,
                 timeout_s: float = 120.0, extra_body: dict[str, Any] | None = None):
        self.model = model
        self.base_url = base_url
        self.spec = f"openai:{model}" if base_url is None else f"{base_url.rstrip('/')}#{model}"
        self.extra_body = extra_body or {}
        self.logprobs_supported = True
        self._client_options: dict[str, Any] = {"base_url": base_url, "timeout": timeout_s, "max_retries": 0,
                                                "api_key": api_key or ("EMPTY" if base_url else None)}
        self._client = openai.AsyncOpenAI(**self._client_options)
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def _loop_client(self) -> openai.AsyncOpenAI:
        """The client for the running event loop: pooled connections belong to the loop that opened
        them, so a backend reused by a second ``asyncio.run`` (a second ``Engine.run``) gets a new client."""
        loop = asyncio.get_running_loop()
        if self._client_loop is None:
            self._client_loop = loop
        elif self._client_loop is not loop:
            self._client = openai.AsyncOpenAI(**self._client_options)
            self._client_loop = loop
        return self._client

    async def complete(self, request: CompletionRequest) -> Completion:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [m.model_dump() for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.seed is not None:
            kwargs["seed"] = request.seed
        if self.extra_body:
            kwargs["extra_body"] = self.extra_body
        want_logprobs = self.logprobs_supported and request.top_logprobs > 0
        if want_logprobs:
            kwargs |= {"logprobs": True, "top_logprobs": min(request.top_logprobs, MAX_TOP_LOGPROBS)}
        try:
            response = await self._loop_client().chat.completions.create(**kwargs)
        except openai.BadRequestError as error:
            if want_logprobs and "logprob" in str(error).lower():
                log.warning("%s rejects log-probabilities; verdicts will be parsed from text", self.spec)
                self.logprobs_supported = False
                return await self.complete(request)
            raise BackendError(f"{self.spec}: bad request: {error}") from error
        except openai.APIStatusError as error:
            retryable = error.status_code == 429 or error.status_code >= 500
            raise BackendError(f"{self.spec}: HTTP {error.status_code}: {error.message}", retryable=retryable,
                               retry_after=_retry_after(error)) from error
        except (openai.APITimeoutError, openai.APIConnectionError) as error:
            raise BackendError(f"{self.spec}: {type(error).__name__}: {error}", retryable=True) from error
        return self._to_completion(response)

    def _to_completion(self, response: Any) -> Completion:
        if not response.choices:
            raise BackendError(f"{self.spec}: the response has no choices", retryable=True)
        choice = response.choices[0]
        top_logprobs: list[dict[str, float]] = []
        content = getattr(choice.logprobs, "content", None) if choice.logprobs else None
        for position in content or []:
            alternatives = {alt.token: alt.logprob for alt in (position.top_logprobs or [])}
            alternatives.setdefault(position.token, position.logprob)
            top_logprobs.append(alternatives)
        usage = Usage()
        if response.usage is not None:
            details = getattr(response.usage, "prompt_tokens_details", None)
            usage = Usage(prompt_tokens=response.usage.prompt_tokens or 0,
                          completion_tokens=response.usage.completion_tokens or 0,
                          cached_prompt_tokens=(getattr(details, "cached_tokens", 0) or 0) if details else 0)
        return Completion(text=choice.message.content or "", top_logprobs=top_logprobs, usage=usage,
                          model=response.model or self.model)

    async def aclose(self) -> None:
        if self._client_loop in (None, asyncio.get_running_loop()):  # another loop's connections are gone
            await self._client.close()
