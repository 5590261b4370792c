"""The records that travel along jurist's data path.

Item -> (Protocol renders) CompletionRequest -> (Backend) Completion
     -> (Protocol reads) Verdict -> (Strategy combines) Verdict -> Judgment
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant"]


ContentPart = dict[str, Any]
"""An OpenAI-style content part: ``{"type": "text", "text": ...}`` or
``{"type": "image_url", "image_url": {"url": ...}}``."""


class Message(BaseModel):
    """One chat message. ``content`` is plain text, or OpenAI-style content parts for images."""

    model_config = ConfigDict(frozen=True)

    role: Role
    content: str | list[ContentPart]

    @property
    def text(self) -> str:
        """The text of the message (the text parts joined, images left out)."""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(str(part.get("text", "")) for part in self.content if part.get("type") == "text")

    @property
    def has_images(self) -> bool:
        return not isinstance(self.content, str) and any(part.get("type") != "text" for part in self.content)


class Source(BaseModel):
    """Where an item came from, so errors can name the file and line."""

    path: str
    line: int


class Frame(BaseModel):
    """One video frame: an image (path, URL or data URI) at ``timestamp`` seconds."""

    model_config = ConfigDict(frozen=True)

    timestamp: float = Field(ge=0)
    image: str


class Item(BaseModel):
    """One thing to judge: an input and one or more candidate responses.

    ``candidates`` holds one response for pointwise scoring and two (A, B) for a
    pairwise comparison. ``label`` is the human label when there is one: a score
    for pointwise items, ``"A"``/``"B"``/``"tie"`` for pairs.

    ``images`` (paths, URLs or data URIs) and ``frames`` go with the input to judges
    that accept images (see ``jurist.media``); for a text-only judge, ``caption``
    stands in for the images and ``transcript`` for the frames.
    """

    id: str
    input: str
    candidates: list[str] = Field(min_length=1)
    reference: str | None = None
    label: str | float | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    source: Source | None = None
    images: list[str] = Field(default_factory=list)
    frames: list[Frame] = Field(default_factory=list)
    caption: str | None = None
    transcript: str | None = None

    @property
    def response(self) -> str:
        return self.candidates[0]

    def content_hash(self) -> str:
        """SHA-256 of everything the item holds but its id and where it was read (``source``): a resumed
        run compares it with the hash stored with each judgment, so an id reused with other content is seen."""
        payload = json.dumps(self.model_dump(mode="json", exclude={"id", "source"}), sort_keys=True)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class CompletionRequest(BaseModel):
    """What a protocol asks of a backend.

    ``labels`` are the answer strings whose probabilities the protocol reads from
    the first generated token. Backends that can score them exactly (the embedded
    model) do so; others return top-k log-probabilities and the protocol reads them.
    """

    messages: list[Message]
    labels: list[str] = Field(default_factory=list)
    max_tokens: int = 1
    temperature: float = 0.0
    top_logprobs: int = 20
    seed: int | None = 0


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_prompt_tokens=self.cached_prompt_tokens + other.cached_prompt_tokens,
        )


class Completion(BaseModel):
    """A backend's answer: text, the first token's top-k log-probabilities, usage.

    ``label_logprobs`` is filled by backends that score the requested labels
    exactly (log P(label) at the first output position, over the whole vocabulary).
    ``top_logprobs`` is a list with one ``{token_text: logprob}`` dict per
    generated position; empty when the backend offers no log-probabilities.
    """

    text: str
    top_logprobs: list[dict[str, float]] = Field(default_factory=list)
    label_logprobs: dict[str, float] | None = None
    usage: Usage = Field(default_factory=Usage)
    model: str = ""


VerdictStatus = Literal["scored", "unscored", "failed"]
ReadMethod = Literal["logprobs", "parsed", "none"]
Preference = Literal["A", "B", "tie"]


class Verdict(BaseModel):
    """A judge's decision on one item.

    ``status`` is explicit: *scored* (a usable verdict), *unscored* (the judge
    answered but its output could not be read; ``raw`` keeps the text), or
    *failed* (no answer: backend error, prompt too long...; ``error`` says why).
    Nothing unreadable is ever turned into a score.

    Pointwise verdicts fill ``score`` (expectation over the score labels),
    ``top_label`` and ``distribution``. Pairwise verdicts fill ``p_a``, ``p_b``,
    ``p_tie`` and ``preference``; with both orders, ``orders_agree`` tells whether
    the two orders preferred the same response and ``parts`` holds the per-order
    verdicts (mapped back to the original A/B). A verdict over rubric
    dimensions keeps one pointwise verdict per dimension in ``dimensions``.
    """

    status: VerdictStatus
    kind: Literal["score", "compare", "rank"]
    method: ReadMethod = "none"
    score: float | None = None
    top_label: str | None = None
    distribution: dict[str, float] = Field(default_factory=dict)
    confidence: float | None = None
    label_mass: float | None = None
    preference: Preference | None = None
    p_a: float | None = None
    p_b: float | None = None
    p_tie: float | None = None
    orders_agree: bool | None = None
    rationale: str | None = None
    raw: str | None = None
    error: str | None = None
    parts: list[Verdict] = Field(default_factory=list)
    dimensions: dict[str, Verdict] = Field(default_factory=dict)
    usage: Usage = Field(default_factory=Usage)
    # Listwise verdicts: candidate indices (the item's own order), best first.
    ranking: list[int] | None = None
    # What a strategy adds beyond the fields above (jury members and disagreement, sample counts, rank intervals).
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "scored"


class Judgment(BaseModel):
    """A verdict bound to its item and to the judge that produced it."""

    item_id: str
    protocol: str
    judge: str
    verdict: Verdict
    label: str | float | None = None
    latency_s: float = 0.0
    cached: bool = False
    metadata: dict[str, Any] = Field(default_factory=dict)
