"""A scripted backend for tests and examples: answers come from a Python function."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

from jurist.backends.base import Backend
from jurist.types import Completion, CompletionRequest, Usage

Script = Callable[[CompletionRequest], "Completion | str | dict[str, float]"]


class ScriptedBackend(Backend):
    """Answers each request with ``script(request)``.

    The script may return a ``Completion``, plain text (no log-probabilities, as from
    a server that offers none), or a ``{label: probability}`` dict, which becomes the
    first token's top log-probabilities with the most likely label as the text.
    ``calls`` records every request, so tests can count model calls (``record=False``: only ``n_calls``
    counts them, so a long run, e.g. a benchmark over a million items, does not keep every request).
    """

    def __init__(self, script: Script, spec: str = "scripted", latency_s: float = 0.0, vision: bool = False,
                 record: bool = True):
        self.script = script
        self.record = record
        self.n_calls = 0
        self.vision = vision
        self.spec = spec
        self.latency_s = latency_s
        self.calls: list[CompletionRequest] = []

    async def complete(self, request: CompletionRequest) -> Completion:
        self.n_calls += 1
        if self.record:
            self.calls.append(request)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        answer = self.script(request)
        if isinstance(answer, Completion):
            return answer
        prompt_tokens = sum(len(m.text.split()) for m in request.messages)
        if isinstance(answer, str):
            return Completion(text=answer, usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=1), model=self.spec)
        top = {label: math.log(p) for label, p in answer.items() if p > 0}
        text = max(answer, key=answer.__getitem__)
        return Completion(
            text=text,
            top_logprobs=[top],
            usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=1),
            model=self.spec,
        )
