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
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from jurist.types import Completion, CompletionRequest, Item, Message, Verdict


# Below this label mass a log-probability verdict is unscored: the judge was more likely to say something
# other than a label, so renormalising would turn its stray label probability into a confident verdict.
# Measured (benchmarks/label_mass.py --limit 20, the embedded 0.5B judge, 120 readings over MT-Bench pairs in
# both orders, PandaLM pairs with ties in both orders, SummEval pointwise 1-5 and MT-Bench reference yes/no):
# label mass 0.983 at the lowest, 0.990 at the 5th percentile, median 0.999. 0.5 drops none of them, and
# drops a reply that put 1% on the labels.
MIN_LABEL_MASS = 0.5

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


def _probability(logprob: float) -> float:
    """exp(logprob) of what a server sent: NaN is no probability, a positive log-probability (invalid,
    and exp() of one above 709 overflows) is certainty."""
    return 0.0 if math.isnan(logprob) else math.exp(min(logprob, 0.0))


def label_probabilities(completion: Completion, labels: list[str]) -> tuple[dict[str, float], float] | None:
    """P(label) at the first output position, renormalised over ``labels``.

    Returns ``(distribution, label_mass)`` where label_mass is the probability the
    model put on any label before renormalisation (low mass means the model did
    not answer in the requested format), or None when the completion carries no
    log-probabilities. With top-k log-probabilities, a label absent from the top k
    gets no mass; token variants (" A", "a") of the same label are summed.
    """
    if completion.label_logprobs is not None:
        mass = {label: _probability(completion.label_logprobs.get(label, -math.inf)) for label in labels}
    elif completion.top_logprobs:
        wanted = {normalise_token(label): label for label in labels}
        mass = dict.fromkeys(labels, 0.0)
        for token, logprob in completion.top_logprobs[0].items():
            normalised = normalise_token(token)
            label = wanted.get(normalised) if normalised else None
            if label is not None:
                mass[label] += _probability(logprob)
    else:
        return None
    total = sum(mass.values())
    if total <= 0.0:
        return {}, 0.0
    return {label: p / total for label, p in mass.items()}, min(total, 1.0)


@dataclass(frozen=True)
class ParsedLabel:
    """A label read from a judge's text, or None with the reason (``why``) it could not be read safely."""

    label: str | None
    why: str | None = None


# What may stand before the answer at the start of a reply: markup, and a cue such as "Answer:" or "Response".
_OPENING = r"[\s*_#>\"'`\[(]*"
_CUE = (r"(?i:(?:the\s+)?(?:final\s+|best\s+|better\s+)?(?:answer|score|verdict|rating|grade|result|label|choice"
        r"|judge?ment|decision|response|assistant|option|candidate|output)(?:\s+is)?)[\s\]:=-]*")
_SLOT_BEFORE = re.compile(rf"{_OPENING}(?:{_CUE}{_OPENING})?")
# The answer stands alone: closing markup, then the end, a line break or punctuation ("B.", "**B**", "B, because").
_STANDALONE = re.compile(r"[*_\"'`\])]*(?:\s*$|[.,;:!?\n])")
# "B is better than A" names A after the answer, but still answers B.
_PREFERRED = re.compile(r"\s+(?:is\s+|was\s+|seems\s+|looks\s+)?(?:better|best|superior|preferred|stronger|wins)\b",
                        re.I)
_CUED = re.compile(rf"{_CUE}{_OPENING}$")
# A text that negates or demotes a label cannot be read by a parser ("A is not as good as B", "no error").
_NEGATION = re.compile(r"\b(?:not|no|never|neither|nor|cannot|none|worse|worst|less|inferior|weaker)\b|n't\b", re.I)
# After a capital letter, a lowercase word other than these makes the letter the article "A" or the pronoun "I".
_LABEL_VERBS = frozenset("is was are were wins won seems looks appears has have does did gives provides answers follows "
                         "performs better best and or because since as than".split())
_NEXT_WORD = re.compile(r"\s+([a-z][a-z'’]*)")
# A number in a range, a decimal or a denominator ("1-5", "3.5", "4/5", "out of 5") is not a score label.
_NUMBER_BEFORE = re.compile(r"(?:\d\s*[-–/]\s*|\d[.,]|/\s*|\bout\s+of\s+)$", re.I)
_NUMBER_AFTER = re.compile(r"(?:\s*[-–]\s*\d|[.,]\d)")


@lru_cache(maxsize=256)
def _mention_pattern(labels: tuple[str, ...]) -> re.Pattern[str]:
    """Whole-word occurrences of any label: letters case-sensitive, words ignoring case."""
    alternatives = []
    for label in sorted(labels, key=len, reverse=True):
        escaped = re.escape(label)
        exact = (len(label) == 1 and label.isalpha()) or label.isdigit()
        alternatives.append(escaped if exact else f"(?i:{escaped})")
    return re.compile(rf"(?<![\w'’-])(?:{'|'.join(alternatives)})(?![\w]|['’-]\w)")


def _label_of(found: str, labels: tuple[str, ...]) -> str:
    return next((label for label in labels if label == found), None) or next(
        label for label in labels if label.lower() == found.lower())


def _mentions(text: str, labels: tuple[str, ...]) -> list[tuple[int, int, str]]:
    """(start, end, label) of every occurrence that can be an answer, in order."""
    found = []
    for match in _mention_pattern(labels).finditer(text):
        start, end, label = match.start(), match.end(), _label_of(match.group(0), labels)
        before, after = text[:start], text[end:]
        if label.isdigit() and (_NUMBER_BEFORE.search(before) or _NUMBER_AFTER.match(after)):
            continue
        if len(label) == 1 and label.isalpha() and not _CUED.search(before):
            word = _NEXT_WORD.match(after)
            if word and word.group(1) not in _LABEL_VERBS:
                continue  # "A careful comparison", "I think"
        found.append((start, end, label))
    return found


def parse_label(text: str, labels: list[str] | tuple[str, ...]) -> ParsedLabel:
    """The label a judge's text answers with, or None (with the reason) when no label can be read safely.

    Used only when the backend gives no log-probabilities (and for self-consistency votes). The
    templates ask for the label alone, so the answer is read where it was asked for: the first
    label of the reply, after markup and an optional cue ("Answer:", "Score:", "Response", "The
    better response is"). It stands if it is alone ("B.", "**B**", "B, because ..."), if no other
    label follows, or if it is preferred in so many words ("B is better than A") with no negation.
    A reply that does not start with its answer is read only if it names exactly one label and
    negates nothing ("Both are good, but B wins"). Labels match as whole words; letter labels are
    case-sensitive, and a capital followed by an ordinary lowercase word is the article ("A
    careful comparison") or the pronoun ("I think"); numbers in a range, a decimal or a
    denominator ("1-5", "3.5", "out of 5") are not labels. Anything else, e.g. "A or B", "A is
    not as good as B", "there is no error" for yes/no, is ambiguous: None, never a guess.
    """
    labels = tuple(labels)
    mentions = _mentions(text, labels)
    if not mentions:
        return ParsedLabel(None, f"no label ({', '.join(labels)}) in the text")
    start, end, first = mentions[0]
    others = sorted({label for _, _, label in mentions} - {first})
    negated = _NEGATION.search(text)
    if _SLOT_BEFORE.fullmatch(text[:start]):
        if _STANDALONE.match(text[end:]) or not others or (_PREFERRED.match(text[end:]) and not negated):
            return ParsedLabel(first)
        return ParsedLabel(None, f"ambiguous: the answer {first!r} is followed by {', '.join(map(repr, others))}")
    if others:
        return ParsedLabel(None, f"ambiguous: the text names {', '.join(map(repr, [first, *others]))}")
    if negated:
        return ParsedLabel(None, f"ambiguous: {first!r} appears with {negated.group(0)!r}")
    return ParsedLabel(first)


@dataclass(frozen=True)
class LabelReading:
    """A label distribution read from one completion (over every label), with how it was read."""

    distribution: dict[str, float]
    label_mass: float | None
    method: Literal["logprobs", "parsed"]


class Protocol(ABC):
    """Renders an item into a request and reads a verdict from the completion.

    ``views`` lists the ways one item is presented (one for pointwise scoring,
    two orders for a pair); a Strategy decides which views to run and how to
    combine their verdicts.
    """

    name: str
    kind: str
    version: str = "1"
    #: A log-probability reading whose label mass (the probability on any valid label before
    #: renormalising) is below this is unscored, with the mass, the renormalised distribution and the
    #: top tokens kept. Default :data:`MIN_LABEL_MASS` (0.5; the embedded judge's masses, measured by
    #: benchmarks/label_mass.py, are 0.98-1.0). A protocol takes it as ``min_label_mass``.
    min_label_mass: float = MIN_LABEL_MASS

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


    def _set_min_label_mass(self, min_label_mass: float) -> None:
        if not 0.0 <= min_label_mass <= 1.0:
            raise ValueError(f"min_label_mass must be between 0 and 1, got {min_label_mass}")
        self.min_label_mass = min_label_mass

    def _mass_identity(self) -> dict[str, Any]:
        """The threshold in the identity only when it is not the default (older run identities stay valid)."""
        return {} if self.min_label_mass == MIN_LABEL_MASS else {"min_label_mass": self.min_label_mass}

    def read_labels(self, completion: Completion, labels: list[str], what: str) -> LabelReading | Verdict:
        """The label distribution of a completion, or the unscored verdict saying why there is none.

        ``what`` names the labels in the reason ("A/B", "score", "yes/no").
        """
        read = label_probabilities(completion, labels)
        if read is None:
            parsed = parse_label(completion.text, labels)
            if parsed.label is None:
                return self.unreadable(completion, f"no {what} label read from the judge's text: {parsed.why}")
            return LabelReading({label: float(label == parsed.label) for label in labels}, None, "parsed")
        distribution, mass = read
        if not distribution:
            return self.unreadable(completion, f"no {what} label among the judge's top tokens")
        if mass < self.min_label_mass:
            return self.unreadable(
                completion, f"label mass {mass:.3g} is below min_label_mass {self.min_label_mass:g}: the judge "
                f"put almost no probability on any {what} label", label_mass=mass,
                metadata={"label_distribution": distribution,
                          "top_tokens": completion.top_logprobs[0] if completion.top_logprobs else {}})
        return LabelReading(distribution, mass, "logprobs")

    def unreadable(self, completion: Completion, why: str, label_mass: float | None = None,
                   metadata: dict[str, Any] | None = None) -> Verdict:
        return Verdict(status="unscored", kind=self.kind, raw=completion.text, error=why,  # type: ignore[arg-type]
                       label_mass=label_mass, metadata=metadata or {}, usage=completion.usage)
