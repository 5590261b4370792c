"""Reference-based correctness: is the response correct, given (or without) a gold answer?

``reference`` says how the gold answer is used:

``"shown"`` (default)
    the judge sees the reference answer and compares;
``"hidden"``
    the judge answers from its own knowledge (items need no reference);
``"adapted"``
    a response-adapted reference (RevisEval, Zhang et al. 2024): the judge model
    first revises the response with the gold answer (a generation request of at
    most ``max_revision_tokens``), then judges the response against that
    revision. The revision is kept in ``verdict.metadata["adapted_reference"]``
    and both requests' usage is counted. Run it with
    :class:`~jurist.strategies.reference.AdaptedReference` (the default strategy
    of this protocol in that mode).

The judge answers yes/no (one token, read from the label distribution); the
verdict reports ``score`` = P(correct), ``top_label`` ``"correct"`` or
``"incorrect"``, ``distribution`` over those two, and
``metadata["reference"]`` = the mode.
"""

from __future__ import annotations

from typing import Any, Literal

from jurist.media import media_marker
from jurist.protocols.base import (
    MIN_LABEL_MASS,
    Protocol,
    builtin_template,
    render_chat,
    text_hash,
)
from jurist.types import Completion, CompletionRequest, Item, Verdict


ReferenceMode = Literal["shown", "hidden", "adapted"]
REFERENCE_MODES: tuple[str, ...] = ("shown", "hidden", "adapted")
JUDGE_VIEW, REVISE_VIEW = 0, 1
CORRECT, INCORRECT = "correct", "incorrect"


class ReferenceProtocol(Protocol):
    """Judges whether ``item.response`` is correct; view 0 judges, view 1 revises (adapted mode)."""

    name = "reference"
    kind = "score"
    version = "1"

    def __init__(self, reference: ReferenceMode = "shown", template: str | None = None,
                 revise_template: str | None = None, max_revision_tokens: int = 512,
                 min_label_mass: float = MIN_LABEL_MASS):
        self._set_min_label_mass(min_label_mass)
        if reference not in REFERENCE_MODES:
            raise ValueError(f"reference={reference!r}: expected one of {', '.join(REFERENCE_MODES)}")
        if max_revision_tokens < 1:
            raise ValueError("max_revision_tokens must be at least 1")
        self.mode: ReferenceMode = reference
        self.template = template if template is not None else builtin_template("reference.j2")
        self.revise_template = revise_template if revise_template is not None else builtin_template("revise.j2")
        self.max_revision_tokens = max_revision_tokens

    @property
    def identity(self) -> dict[str, Any]:
        identity = {"protocol": self.name, "version": self.version, "reference": self.mode,
                    "template_hash": text_hash(self.template), **self._mass_identity()}
        if self.mode == "adapted":
            identity |= {"revise_template_hash": text_hash(self.revise_template),
                         "max_revision_tokens": self.max_revision_tokens}
        return identity


    def _reference(self, item: Item) -> str:
        if item.reference is None or not item.reference.strip():
            where = f" ({item.source.path}:{item.source.line})" if item.source else ""
            raise ValueError(f"item {item.id}{where} has no reference answer (field 'reference'); "
                             f"reference={self.mode!r} needs one (use reference='hidden' to judge without)")
        return item.reference

    def render(self, item: Item, view: int = JUDGE_VIEW) -> CompletionRequest:
        if view == REVISE_VIEW:
            messages = render_chat(self.revise_template, input=item.input, response=item.response,
                                   reference=self._reference(item), media=media_marker(item))
            return CompletionRequest(messages=messages, max_tokens=self.max_revision_tokens, top_logprobs=0)
        if view != JUDGE_VIEW:
            raise ValueError(f"reference protocol: no view {view}")
        reference = None if self.mode == "hidden" else self._reference(item)
        messages = render_chat(self.template, input=item.input, response=item.response, reference=reference,
                               media=media_marker(item))
        return CompletionRequest(messages=messages, labels=["yes", "no"], max_tokens=2)

    def read(self, completion: Completion, view: int = JUDGE_VIEW) -> Verdict:
        if view == REVISE_VIEW:
            text = completion.text.strip()
            if not text:
                return self.unreadable(completion, "the revision is empty")
            return Verdict(status="scored", kind="score", raw=text, usage=completion.usage,
                           metadata={"reference": self.mode})
        read = self.read_labels(completion, ["yes", "no"], "yes/no")
        if isinstance(read, Verdict):
            return read
        shown, mass, method = read.distribution, read.label_mass, read.method
        distribution = {CORRECT: shown["yes"], INCORRECT: shown["no"]}
        top = CORRECT if shown["yes"] >= shown["no"] else INCORRECT
        return Verdict(status="scored", kind="score", method=method,  # type: ignore[arg-type]
                       score=shown["yes"], top_label=top, distribution=distribution, confidence=distribution[top] if method == "logprobs" else None,
                       label_mass=mass, raw=completion.text, usage=completion.usage,
                       metadata={"reference": self.mode})
