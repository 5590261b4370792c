"""Pairwise comparison: which of two responses is better (or a tie).

View 0 shows the responses in their own order (A first); view 1 swaps them.
``read`` always maps the judge's answer back to the item's own A and B, so the
verdicts of both views can be combined directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from jurist.protocols.base import (
    MIN_LABEL_MASS,
    Protocol,
    builtin_template,
    render_chat,
    text_hash,
)
from jurist.protocols.templating import check_examples, examples_identity, few_shot
from jurist.types import Completion, CompletionRequest, Item, Message, Preference, Verdict

if TYPE_CHECKING:
    from jurist.protocols.templating import Example

DEFAULT_CRITERIA = (
    "Prefer the response that follows the instruction more faithfully and is more helpful, "
    "accurate and harmless."
)


def preference_of(p_a: float, p_b: float, p_tie: float) -> Preference:
    """The most likely outcome; exact equality of A and B is a tie."""
    if p_tie >= max(p_a, p_b) or p_a == p_b:
        return "tie"
    return "A" if p_a > p_b else "B"


class PairwiseProtocol(Protocol):
    """Compares ``item.candidates[0]`` (A) with ``item.candidates[1]`` (B)."""

    name = "pairwise"
    kind = "compare"
    version = "1"
    views = (0, 1)

    def __init__(self, criteria: str = DEFAULT_CRITERIA, allow_tie: bool = False, template: str | None = None,
                 examples: Sequence[Example] = (), min_label_mass: float = MIN_LABEL_MASS):
        self._set_min_label_mass(min_label_mass)
        self.criteria = criteria
        self.allow_tie = allow_tie
        self.template = template if template is not None else builtin_template("pairwise.j2")
        self.labels = ["A", "B", "tie"] if allow_tie else ["A", "B"]
        # few-shot examples, shown in their own order in both views (the same prefix for every request)
        self.examples = check_examples(examples, self.labels)
        self._shots: list[tuple[list[Message], str]] | None = None

    @property
    def identity(self) -> dict[str, Any]:
        return {
            "protocol": self.name,
            "version": self.version,
            "allow_tie": self.allow_tie,
            "criteria_hash": text_hash(self.criteria),
            "template_hash": text_hash(self.template),
            **examples_identity(self.examples),
            **self._mass_identity(),
        }

    def _messages(self, item: Item, first: str, second: str) -> list[Message]:
        return render_chat(self.template, input=item.input, response_a=first, response_b=second,
                           reference=item.reference, criteria=self.criteria, allow_tie=self.allow_tie)

    def render(self, item: Item, view: int = 0) -> CompletionRequest:
        if len(item.candidates) != 2:
            raise ValueError(f"item {item.id}: a pairwise comparison needs exactly 2 candidates, got {len(item.candidates)}")
        first, second = item.candidates if view == 0 else reversed(item.candidates)
        messages = self._messages(item, first, second)
        if self.examples:
            if self._shots is None:
                self._shots = [(self._messages(e.item, *e.item.candidates), e.answer) for e in self.examples]
            messages = few_shot(messages, self._shots)
        return CompletionRequest(messages=messages, labels=list(self.labels), max_tokens=2)

    def read(self, completion: Completion, view: int = 0) -> Verdict:
        read = self.read_labels(completion, self.labels, "A/B")
        if isinstance(read, Verdict):
            return read
        shown, mass, method = read.distribution, read.label_mass, read.method
        p_first, p_second, p_tie = shown["A"], shown["B"], shown.get("tie", 0.0)
        p_a, p_b = (p_first, p_second) if view == 0 else (p_second, p_first)
        preference = preference_of(p_a, p_b, p_tie)
        distribution = {"A": p_a, "B": p_b, "tie": p_tie} if self.allow_tie else {"A": p_a, "B": p_b}
        return Verdict(status="scored", kind="compare", method=method, preference=preference, p_a=p_a, p_b=p_b,
                       p_tie=p_tie, distribution=distribution, top_label=preference,
                       confidence=max(distribution.values()) if method == "logprobs" else None,
                       label_mass=mass, raw=completion.text, usage=completion.usage)
