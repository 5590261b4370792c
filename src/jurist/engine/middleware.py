"""Backend wrappers the engine stacks around a judge's backend: cache, retries, rate limits.

Judge -> CachedBackend -> RetryingBackend -> RateLimitedBackend -> ConcurrencyLimitedBackend -> the real backend.
Each wrapper is itself a Backend with the same ``spec``, so nothing above notices.
"""

from __future__ import annotations

import asyncio
import contextvars
import random
import time
from dataclasses import dataclass, field

from jurist.backends.base import Backend, BackendError, WrappingBackend
from jurist.engine.store import Store, completion_key
from jurist.types import Completion, CompletionRequest


@dataclass
class CallStats:
    """What the engine paid for: model calls made, answered from the cache, retried, tokens."""

    model_calls: int = 0
    cache_hits: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    by_backend: dict[str, dict[str, int]] = field(default_factory=dict)  # spec -> model_calls, cache_hits

    def count(self, spec: str, what: str) -> None:
        """One model call or cache hit, in the totals and in ``spec``'s own (a jury's or cascade's members)."""
        setattr(self, what, getattr(self, what) + 1)
        mine = self.by_backend.setdefault(spec, {"model_calls": 0, "cache_hits": 0})
        mine[what] += 1

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


# Per item: [model calls, cache hits], so a judgment can say whether it cost anything.
ITEM_CALLS: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("jurist_item_calls", default=None)


class CachedBackend(WrappingBackend):
    """Answers a request from the store when the same backend already answered it."""

    def __init__(self, inner: Backend, store: Store, stats: CallStats):
        super().__init__(inner)
        self.store, self.stats = store, stats

    async def complete(self, request: CompletionRequest) -> Completion:
        key = completion_key(self.spec, request)
        cached = self.store.get_completion(key)
        item_calls = ITEM_CALLS.get()
        if cached is not None:
            self.stats.count(self.spec, "cache_hits")
            if item_calls is not None:
                item_calls[1] += 1
            return cached
        completion = await self.inner.complete(request)
        self.stats.count(self.spec, "model_calls")
        if item_calls is not None:
            item_calls[0] += 1
        self.stats.prompt_tokens += completion.usage.prompt_tokens
        self.stats.completion_tokens += completion.usage.completion_tokens
        self.stats.cached_prompt_tokens += completion.usage.cached_prompt_tokens
        self.store.put_completion(key, self.spec, request, completion)
        return completion


class RetryingBackend(WrappingBackend):
    """Retries retryable failures with jittered exponential backoff, honouring Retry-After.

    Every wait is at most ``max_delay_s``: a server asking for an hour (or ``Retry-After: inf``) gets
    ``max_delay_s``, so ``max_attempts`` bounds a request's time as well as its attempts.
    """

    def __init__(self, inner: Backend, stats: CallStats, max_attempts: int = 4, base_delay_s: float = 0.5,
                 max_delay_s: float = 60.0):
        super().__init__(inner)
        self.stats = stats
        self.max_attempts, self.base_delay_s, self.max_delay_s = max_attempts, base_delay_s, max_delay_s

    async def complete(self, request: CompletionRequest) -> Completion:
        for attempt in range(1, self.max_attempts + 1):
            try:
                return await self.inner.complete(request)
            except BackendError as error:
                if not error.retryable or attempt == self.max_attempts:
                    if attempt > 1:
                        raise BackendError(f"{error} (after {attempt} attempts)", retryable=False) from error
                    raise
                self.stats.retries += 1
                backoff = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
                asked = error.retry_after if error.retry_after is not None and error.retry_after > 0 else 0.0
                await asyncio.sleep(max(backoff, min(asked, self.max_delay_s)))
        raise AssertionError("unreachable")



def check_rate(name: str, per_minute: float | None) -> None:
    """A rate limit must be positive: a zero, negative or NaN rate never refills, and waiting for it spins."""
    if per_minute is not None and not per_minute > 0:
        raise ValueError(f"{name} must be a positive number per minute, got {per_minute}")


class TokenBucket:
    """Allows ``per_minute`` units a minute, in bursts of at most a second's worth or one unit."""

    def __init__(self, per_minute: float):
        check_rate("rate limit", per_minute)
        self.rate = per_minute / 60.0
        self.capacity = max(self.rate, 1.0)
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def take(self, amount: float = 1.0) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= min(amount, self.capacity):
                    self.tokens -= amount  # may go negative for a large request: later callers wait longer
                    return
                await asyncio.sleep((min(amount, self.capacity) - self.tokens) / self.rate)


class RateLimitedBackend(WrappingBackend):
    """Keeps requests/min and (estimated prompt) tokens/min under the given limits."""

    def __init__(self, inner: Backend, requests_per_minute: float | None = None,
                 tokens_per_minute: float | None = None):
        super().__init__(inner)
        self.requests = TokenBucket(requests_per_minute) if requests_per_minute else None
        self.tokens = TokenBucket(tokens_per_minute) if tokens_per_minute else None

    async def complete(self, request: CompletionRequest) -> Completion:
        if self.requests:
            await self.requests.take()
        if self.tokens:
            # About four characters a token: the real count is known only after the call.
            estimate = sum(len(m.text) for m in request.messages) / 4 + request.max_tokens
            await self.tokens.take(estimate)
        return await self.inner.complete(request)



class ConcurrencyLimitedBackend(WrappingBackend):
    """At most ``limit`` requests in flight to the inner backend (a pairwise item sends two at once)."""

    def __init__(self, inner: Backend, limit: int):
        super().__init__(inner)
        self._slots = asyncio.Semaphore(max(1, limit))

    async def complete(self, request: CompletionRequest) -> Completion:
        async with self._slots:
            return await self.inner.complete(request)

