"""Checklists: a response checked against a list of yes/no questions.

Each question is one view of the item (one request, so each P(yes) is read
from the label distribution, not parsed). The prompt puts the input and the
response first and the question last, so all questions about one response
share the prompt prefix and the embedded backend evaluates it once.
:class:`~jurist.strategies.checklist.ChecklistStrategy` runs every question and
combines the answers (aggregate score, failed questions).

Questions are global (the protocol's ``questions``, e.g. ``--checklist FILE``)
and/or per item (``item.metadata["checklist"]``, the ``checklist`` field of a
JSONL row); an item gets the global questions first, then its own.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jurist.media import media_marker
from jurist.protocols.base import (
    MIN_LABEL_MASS,
    Protocol,
    builtin_template,
    render_chat,
    text_hash,
)
from jurist.types import Completion, CompletionRequest, Item, Verdict


YES, NO = "yes", "no"


@dataclass(frozen=True)
class Question:
    """One yes/no question; ``weight`` is its share of the aggregate score."""

    text: str
    weight: float = 1.0


def parse_checklist(entries: Iterable[Any]) -> list[Question]:
    """Questions from strings or ``{"question": ..., "weight": ...}`` objects; raises ValueError naming the entry."""
    questions: list[Question] = []
    for index, entry in enumerate(entries):
        where = f"question {index + 1}"
        weight: Any = 1.0
        if isinstance(entry, dict):
            unknown = sorted(set(entry) - {"question", "weight"})
            if unknown:
                raise ValueError(f"{where}: unknown key(s) {unknown} (expected 'question' and optional 'weight')")
            text, weight = entry.get("question"), entry.get("weight", 1.0)
        else:
            text = entry
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{where}: expected a non-empty question, got {text!r}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight <= 0:
            raise ValueError(f"{where}: weight must be a positive number, got {weight!r}")
        questions.append(Question(" ".join(text.split()), float(weight)))
    return questions


def load_checklist(path: str | Path) -> list[Question]:
    """Questions from a file: a JSON list (``.json``) or one question per line (blank and ``#`` lines skipped)."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"{path}: no such checklist file")
    text = file.read_text(encoding="utf-8-sig")
    if file.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: invalid JSON at line {error.lineno}: {error.msg}") from error
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a JSON list of questions")
        try:
            questions = parse_checklist(data)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from error
    else:
        questions = [Question(" ".join(line.split())) for line in text.splitlines()
                     if line.strip() and not line.lstrip().startswith("#")]
    if not questions:
        raise ValueError(f"{path}: the checklist has no questions")
    _check_unique(questions, str(path))
    return questions


def _check_unique(questions: Sequence[Question], where: str) -> None:
    seen: set[str] = set()
    for question in questions:
        if question.text in seen:
            raise ValueError(f"{where}: the question {question.text!r} appears twice")
        seen.add(question.text)


class ChecklistProtocol(Protocol):
    """Asks each checklist question about ``item.response``; view ``i`` is question ``i``.

    ``read`` gives one question's verdict: ``score`` = P(yes), ``distribution``
    over yes/no. The strategy combines them (see the module docstring).
    """

    name = "checklist"
    kind = "score"
    version = "1"

    def __init__(self, questions: Sequence[str | Question] = (), template: str | None = None,
                 min_label_mass: float = MIN_LABEL_MASS):
        self._set_min_label_mass(min_label_mass)
        self.questions = [q if isinstance(q, Question) else Question(q) for q in questions]
        self.questions = parse_checklist({"question": q.text, "weight": q.weight} for q in self.questions)
        _check_unique(self.questions, "checklist")
        self.template = template if template is not None else builtin_template("checklist.j2")

    @property
    def identity(self) -> dict[str, Any]:
        return {
            "protocol": self.name,
            "version": self.version,
            "questions_hash": text_hash(json.dumps([[q.text, q.weight] for q in self.questions])),
            "n_questions": len(self.questions),
            "template_hash": text_hash(self.template),
            **self._mass_identity(),
        }


    def questions_for(self, item: Item) -> list[Question]:
        """The global questions, then the item's own; ValueError when there are none or one repeats."""
        own = item.metadata.get("checklist")
        where = f"item {item.id}" + (f" ({item.source.path}:{item.source.line})" if item.source else "")
        try:
            questions = self.questions + (parse_checklist(own) if own else [])
        except (ValueError, TypeError) as error:
            raise ValueError(f"{where}, field 'checklist': {error}") from error
        if not questions:
            raise ValueError(f"{where}: no checklist questions (give --checklist FILE or a 'checklist' field)")
        _check_unique(questions, where)
        return questions

    def render(self, item: Item, view: int = 0) -> CompletionRequest:
        questions = self.questions_for(item)
        if not 0 <= view < len(questions):
            raise ValueError(f"item {item.id}: no checklist question {view} (it has {len(questions)})")
        messages = render_chat(self.template, input=item.input, response=item.response, reference=item.reference,
                               media=media_marker(item), question=questions[view].text)
        return CompletionRequest(messages=messages, labels=[YES, NO], max_tokens=2)

    def read(self, completion: Completion, view: int = 0) -> Verdict:
        read = self.read_labels(completion, [YES, NO], "yes/no")
        if isinstance(read, Verdict):
            return read
        distribution, mass, method = read.distribution, read.label_mass, read.method
        top = YES if distribution[YES] >= distribution[NO] else NO
        return Verdict(status="scored", kind="score", method=method,  # type: ignore[arg-type]
                       score=distribution[YES], top_label=top, distribution=distribution, confidence=distribution[top] if method == "logprobs" else None,
                       label_mass=mass, raw=completion.text, usage=completion.usage)
