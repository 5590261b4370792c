"""Pointwise scoring: one response graded on a scale against a rubric."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jurist.protocols.base import (
    MIN_LABEL_MASS,
    Protocol,
    builtin_template,
    render_chat,
    text_hash,
)
from jurist.protocols.templating import examples_identity, few_shot
from jurist.types import Completion, CompletionRequest, Item, Message, Verdict

if TYPE_CHECKING:
    from jurist.protocols.templating import Example

DEFAULT_RUBRIC = (
    "How well does the response follow the instruction? Consider correctness, helpfulness, "
    "relevance and clarity."
)


@dataclass(frozen=True)
class Scale:
    """The answer labels a judge may give and the value of each.

    ``Scale.parse("1-5")`` gives labels "1".."5"; ``"pass/fail"`` gives
    pass = 1, fail = 0; ``"yes/no"`` likewise.
    """

    labels: tuple[str, ...]
    values: tuple[float, ...]
    description: str

    @classmethod
    def parse(cls, text: str) -> Scale:
        text = text.strip().lower()
        numeric = re.fullmatch(r"(\d+)\s*-\s*(\d+)", text)
        if numeric:
            low, high = int(numeric.group(1)), int(numeric.group(2))
            if high <= low or high - low > 20:
                raise ValueError(f"scale {text!r}: expected LOW-HIGH with LOW < HIGH and at most 21 points")
            labels = tuple(str(v) for v in range(low, high + 1))
            return cls(labels, tuple(float(v) for v in range(low, high + 1)),
                       f"an integer from {low} (worst) to {high} (best)")
        binary = {"pass/fail": ("pass", "fail"), "yes/no": ("yes", "no")}
        if text in binary:
            good, bad = binary[text]
            return cls((good, bad), (1.0, 0.0), f'"{good}" if the response meets the rubric, otherwise "{bad}"')
        raise ValueError(f"unknown scale {text!r}: use LOW-HIGH (e.g. 1-5, 1-10), pass/fail or yes/no")

    def value(self, label: str) -> float:
        return self.values[self.labels.index(label)]


class PointwiseProtocol(Protocol):
    """Grades ``item.response`` on ``scale`` against ``rubric``.

    The verdict's ``score`` is the expectation of the scale values under the
    judge's label distribution; ``top_label`` the most likely label; confidence
    the probability of that label.
    """

    name = "pointwise"
    kind = "score"
    version = "1"

    def __init__(self, rubric: str = DEFAULT_RUBRIC, scale: Scale | str = "1-5", template: str | None = None,
                 examples: Sequence[Example] = (), variables: Mapping[str, Any] | None = None,
                 min_label_mass: float = MIN_LABEL_MASS):
        self._set_min_label_mass(min_label_mass)
        from jurist.protocols.templating import check_examples

        self.rubric = rubric
        self.scale = Scale.parse(scale) if isinstance(scale, str) else scale
        self.template = template if template is not None else builtin_template("pointwise.j2")
        # few-shot examples: answers must be labels of this scale (an error names file:line otherwise)
        self.examples = check_examples(examples, self.scale.labels)
        # extra template variables (e.g. the dimension name); part of the identity
        self.variables = dict(variables or {})
        self._shots: list[tuple[list[Message], str]] | None = None

    @property
    def identity(self) -> dict[str, Any]:
        return {
            "protocol": self.name,
            "version": self.version,
            "scale": list(self.scale.labels),
            "rubric_hash": text_hash(self.rubric),
            "template_hash": text_hash(self.template),
            **({"variables_hash": text_hash(repr(sorted(self.variables.items())))} if self.variables else {}),
            **examples_identity(self.examples),
            **self._mass_identity(),
        }

    def _messages(self, item: Item) -> list[Message]:
        return render_chat(
            self.template,
            input=item.input,
            response=item.response,
            reference=item.reference,
            rubric=self.rubric,
            scale_description=self.scale.description,
            labels=list(self.scale.labels),
            **self.variables,
        )

    def render(self, item: Item, view: int = 0) -> CompletionRequest:
        messages = self._messages(item)
        if self.examples:
            if self._shots is None:  # the same for every item: rendered once
                self._shots = [(self._messages(e.item), e.answer) for e in self.examples]
            messages = few_shot(messages, self._shots)
        return CompletionRequest(messages=messages, labels=list(self.scale.labels), max_tokens=4)

    def read(self, completion: Completion, view: int = 0) -> Verdict:
        labels = list(self.scale.labels)
        read = self.read_labels(completion, labels, "score")
        if isinstance(read, Verdict):
            return read
        if read.method == "logprobs":
            distribution, mass = read.distribution, read.label_mass
            top = max(distribution, key=distribution.__getitem__)
            score = sum(p * self.scale.value(label) for label, p in distribution.items())
            return Verdict(status="scored", kind="score", method="logprobs", score=score, top_label=top,
                           distribution=distribution, confidence=distribution[top], label_mass=mass,
                           raw=completion.text, usage=completion.usage)
        found = max(read.distribution, key=read.distribution.__getitem__)
        return Verdict(status="scored", kind="score", method="parsed", score=self.scale.value(found),
                       top_label=found, distribution={found: 1.0}, raw=completion.text, usage=completion.usage)
