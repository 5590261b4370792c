"""The Backend interface: one chat request in, text plus log-probabilities out."""

from __future__ import annotations

from abc import ABC, abstractmethod

from jurist.types import Completion, CompletionRequest


class BackendError(RuntimeError):
    """A backend could not answer (server error, prompt too long, model missing...).

    ``retryable`` tells the engine whether trying again may help.
    """

    def __init__(self, message: str, *, retryable: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class Backend(ABC):
    """A language model that answers chat requests.

    ``spec`` identifies the judge model (it goes into cache keys and reports), so
    two backends with the same spec must give the same answers to the same request.
    """

    spec: str

    @property
    def accepts_images(self) -> bool:
        """Whether requests may carry image content parts (``jurist.media``).

        A backend says so with a ``vision`` attribute; a wrapper (the engine's
        cache, retries... keep the wrapped backend in ``inner``) answers for the
        backend it wraps.
        """
        inner = getattr(self, "inner", None)
        if isinstance(inner, Backend):
            return inner.accepts_images
        return bool(getattr(self, "vision", False))

    @abstractmethod
    async def complete(self, request: CompletionRequest) -> Completion:
        """Answer one request. Raise BackendError when there is no answer."""

    async def aclose(self) -> None:
        """Release connections or model memory."""

    async def close_connections(self) -> None:
        """Close network connections opened on the running event loop; the backend stays usable.

        The engine calls it at the end of each run, before its event loop closes."""


class WrappingBackend(Backend):
    """A backend that adds behaviour (cache, retries, limits, counting) around ``inner``."""

    def __init__(self, inner: Backend):
        self.inner = inner
        self.spec = inner.spec

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def close_connections(self) -> None:
        await self.inner.close_connections()
