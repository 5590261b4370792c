"""A Judge: a backend, a protocol and a strategy bound together.

``Judge.ajudge(item)`` walks one item along the data path:
Protocol.render -> Backend.complete -> Protocol.read -> Strategy (combine views).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol as TypingProtocol, runtime_checkable

from jurist.backends.base import Backend, BackendError
from jurist.media import attach_media, has_media, modality_of
from jurist.protocols.base import Protocol, builtin_template
from jurist.strategies.base import Strategy
from jurist.strategies.choice import strategy_for
from jurist.types import CompletionRequest, Item, Message, Verdict

if TYPE_CHECKING:
    from jurist.strategies.self_consistency import Sample


@runtime_checkable
class JudgeLike(TypingProtocol):
    """What the engine, Ray, the store and every application need of a judge.

    ``Judge`` (one model), ``Jury`` (several, aggregated) and ``Cascade`` (escalation
    by confidence) all satisfy it, so anything that runs one runs them all.
    """

    protocol: Protocol

    @property
    def spec(self) -> str:
        """A short name of who judges (reports, judgment rows)."""

    @property
    def identity(self) -> dict[str, Any]:
        """Everything that defines the verdicts (run records, resume checks, idempotence keys)."""

    def wrapped(self, wrap: Callable[[Backend], Backend]) -> JudgeLike:
        """The same judge with every backend passed through ``wrap`` (the engine's middleware)."""

    async def close_connections(self) -> None:
        """Close connections opened on the running event loop."""

    async def ajudge(self, item: Item) -> Verdict:
        """One verdict for the item; failures are failed verdicts, not exceptions."""


class Judge:
    """Judges items with ``protocol`` on ``backend``.

    ``strategy`` defaults to the protocol's natural one (``jurist.strategies.choice``):
    both orders for a pair, a single view for a score. With ``explain=True`` a short rationale is asked for *after*
    the verdict, in a follow-up turn, so asking for it never changes the verdict.
    """

    def __init__(self, backend: Backend, protocol: Protocol, strategy: Strategy | None = None, explain: bool = False):
        self.backend = backend
        self.protocol = protocol
        self.strategy = strategy or strategy_for(protocol)
        self.explain = explain

    @property
    def spec(self) -> str:
        return self.backend.spec

    def wrapped(self, wrap: Callable[[Backend], Backend]) -> Judge:
        """The same judge with its backend passed through ``wrap`` (the engine's middleware)."""
        return Judge(wrap(self.backend), self.protocol, self.strategy, self.explain)

    async def close_connections(self) -> None:
        await self.backend.close_connections()

    @property
    def identity(self) -> dict[str, Any]:
        return {"judge": self.backend.spec, "strategy": self.strategy.name, "explain": self.explain,
                **self.protocol.identity}

    def render(self, item: Item, view: int) -> tuple[CompletionRequest, str]:
        """The request for one view, with the item's images/frames (or their text stand-ins) attached,
        and the modality judged (``jurist.media``)."""
        return attach_media(self.protocol.render(item, view), item, self.backend.accepts_images)

    async def run_view(self, item: Item, view: int, sample: Sample | None = None) -> Verdict:
        """Render, complete and read one view of an item; failures become failed verdicts.

        ``sample`` (self-consistency) turns the request into a sampled one: a temperature, a seed, no log-probs.
        """
        try:
            request, modality = self.render(item, view)
            if sample is not None:
                request = sample.apply(request)
        except ValueError as error:
            verdict = Verdict(status="failed", kind=self.protocol.kind, error=f"render: {error}")  # type: ignore[arg-type]
        else:
            try:
                completion = await self.backend.complete(request)
            except BackendError as error:
                verdict = Verdict(status="failed", kind=self.protocol.kind, error=str(error))  # type: ignore[arg-type]
            else:
                verdict = self.protocol.read(completion, view)
                if has_media(item):
                    verdict.metadata["modality"] = modality
        return verdict

    async def ajudge(self, item: Item) -> Verdict:
        verdict = await self.strategy.judge(item, self.run_view)
        if has_media(item) and verdict.status != "failed":
            # which modality the judge saw (a text-only judge may have read a caption instead of the image)
            verdict.metadata.setdefault("modality", modality_of(item, self.backend.accepts_images))
        if self.explain and verdict.ok:
            verdict.rationale = await self._rationale(item, verdict)
        return verdict

    async def _rationale(self, item: Item, verdict: Verdict) -> str | None:
        first_view = verdict.parts[0] if verdict.parts else verdict
        try:
            request, _ = self.render(item, 0)
        except ValueError as error:
            return f"(no rationale: {error})"
        answer = first_view.top_label or ""
        messages = [*request.messages, Message(role="assistant", content=answer),
                    Message(role="user", content=builtin_template("explain.j2").strip())]
        try:
            completion = await self.backend.complete(
                CompletionRequest(messages=messages, max_tokens=160, top_logprobs=0))
        except BackendError as error:
            return f"(no rationale: {error})"
        verdict.usage = verdict.usage + completion.usage
        return completion.text.strip()
