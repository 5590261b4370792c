"""The Protocol interface and the shared logic for reading label distributions.

A protocol renders an item into a chat request whose first output token is the
answer label, and reads a Verdict back from the completion: from the label
log-probabilities when the backend returns them, else by parsing the text.
"""

from __future__ import annotations

import hashlib
import math
import re
from abc import ABC, abstractmethod
from functools import lru_cache
from importlib import resources
from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from jurist.types import Completion, CompletionRequest, Item, Message, Verdict


_ENV = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=False, autoescape=False)


@lru_cache(maxsize=None)
def builtin_template(name: str) -> str:
    """The text of a built-in template, e.g. ``pointwise.j2``."""
    return resources.files("jurist.protocols").joinpath("templates").joinpath(name).read_text(encoding="utf-8")


@lru_cache(maxsize=64)
def _compiled(template_text: str) -> Any:
    """A template compiled once per text (compiling costs milliseconds, rendering microseconds)."""
    return _ENV.from_string(template_text)


def render_chat(template_text: str, **context: Any) -> list[Message]:
    """Render a two-role template (``role`` is ``system`` then ``user``) into chat messages."""
    template = _compiled(template_text)
    system = template.render(role="system", **context).strip()
    user = template.render(role="user", **context).strip()
    messages = [Message(role="system", content=system)] if system else []
    messages.append(Message(role="user", content=user))
    return messages


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def normalise_token(token: str) -> str:
    """Token text as a label candidate: surrounding space, quotes and brackets removed."""
    return token.strip().strip("\"'`*[]().:").lower()


def label_probabilities(completion: Completion, labels: list[str]) -> tuple[dict[str, float], float] | None:
    """P(label) at the first output position, renormalised over ``labels``.

    Returns ``(distribution, label_mass)`` where label_mass is the probability the
    model put on any label before renormalisation (low mass means the model did
    not answer in the requested format), or None when the completion carries no
    log-probabilities. With top-k log-probabilities, a label absent from the top k
    gets no mass; token variants (" A", "a") of the same label are summed.
    """
    if completion.label_logprobs is not None:
        mass = {label: math.exp(completion.label_logprobs.get(label, -math.inf)) for label in labels}
    elif completion.top_logprobs:
        wanted = {normalise_token(label): label for label in labels}
        mass = dict.fromkeys(labels, 0.0)
        for token, logprob in completion.top_logprobs[0].items():
            normalised = normalise_token(token)
            label = wanted.get(normalised) if normalised else None
            if label is not None:
                mass[label] += math.exp(logprob)
    else:
        return None
    total = sum(mass.values())
    if total <= 0.0:
        return {}, 0.0
    return {label: p / total for label, p in mass.items()}, min(total, 1.0)


def parse_first_label(text: str, labels: list[str]) -> str | None:
    """The first label that appears in ``text`` as a whole word, or None.

    Used only when the backend gives no log-probabilities.
    """
    alternatives = "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True))
    match = re.search(rf"(?<!\w)(?:{alternatives})(?!\w)", text, flags=re.IGNORECASE)
    if not match:
        return None
    found = match.group(0).lower()
    return next(label for label in labels if label.lower() == found)


class Protocol(ABC):
    """Renders an item into a request and reads a verdict from the completion.

    ``views`` lists the ways one item is presented (one for pointwise scoring,
    two orders for a pair); a Strategy decides which views to run and how to
    combine their verdicts.
    """

    name: str
    kind: str
    version: str = "1"

    @abstractmethod
    def render(self, item: Item, view: int = 0) -> CompletionRequest:
        """The request for one view of an item."""

    @abstractmethod
    def read(self, completion: Completion, view: int = 0) -> Verdict:
        """The verdict for one view, in the item's own terms (view-independent)."""

    @property
    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """Everything that defines the protocol's behaviour (for cache keys and run records)."""


    def unreadable(self, completion: Completion, why: str) -> Verdict:
        return Verdict(status="unscored", kind=self.kind, raw=completion.text, error=why, usage=completion.usage)  # type: ignore[arg-type]
