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

    @abstractmethod
    async def complete(self, request: CompletionRequest) -> Completion:
        """Answer one request. Raise BackendError when there is no answer."""

    async def aclose(self) -> None:
        """Release connections or model memory."""
