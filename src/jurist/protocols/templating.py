"""Templates and few-shot examples: the built-ins, user template files, worked examples.

Built-in templates live in ``jurist/protocols/templates/*.j2``; each starts with a
``{#- ... -#}`` comment whose first sentence describes it. A template is rendered
twice, with ``role`` set to ``"system"`` and then ``"user"`` (see
:func:`jurist.protocols.base.render_chat`), in Jinja2's sandbox with
``StrictUndefined``: a template cannot reach Python internals, and a variable
the protocol does not provide is an error, not an empty string.

User templates (``--template FILE``) are checked before any model call by
:func:`check_template`: every variable must be one the protocol provides, a
trial render on the first item must succeed (errors name the file, the line
and the variable), and the user message must state the answer labels, or a
warning says that the judge's first token may not be a label.

Few-shot examples (``--examples FILE``, JSONL) are rendered with the *same*
template as the item and put before it as prior chat turns: the example's user
message, then an assistant message holding only its answer label. Prior turns
rather than an examples block because (1) the model sees exactly the question
format it will be asked, followed by a bare-label answer, which is the format
the verdict is read from; (2) the system message and the examples are the same
for every item, so they form a shared prompt prefix that a KV/prefix cache
evaluates once per run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from jinja2 import meta

from jurist.protocols.base import _ENV, builtin_template
from jurist.types import Item, Message

if TYPE_CHECKING:
    from jurist.protocols.base import Protocol

# The variables each protocol gives its template (``role`` is always given).
PROTOCOL_VARIABLES: dict[str, tuple[str, ...]] = {
    "pointwise": ("input", "response", "reference", "rubric", "scale_description", "labels"),
    "dimensions": ("input", "response", "reference", "rubric", "scale_description", "labels", "dimension", "task"),
    "pairwise": ("input", "response_a", "response_b", "reference", "criteria", "allow_tie"),
}


class TemplateError(ValueError):
    """A template that cannot be used; the message names the file, line and variable."""


# The hardened template of each protocol: every response between delimiters it cannot close (see
# ``pairwise_hardened.j2``). ``protocol.template: hardened`` (CLI ``--template hardened``) picks the one of
# the plan's protocol; the audit's ``hardened`` mitigation is that setting.
HARDENED: dict[str, str] = {"pairwise": "pairwise_hardened", "reference": "reference_hardened",
                            "pointwise": "pointwise_hardened", "dimensions": "dimension_hardened",
                            "checklist": "checklist_hardened"}
HARDENED_ALIAS = "hardened"


def hardened_template(protocol: str) -> str:
    """The built-in name of ``protocol``'s hardened template; TemplateError when it has none."""
    if protocol not in HARDENED:
        raise TemplateError(f"template {HARDENED_ALIAS!r}: the {protocol} protocol has no hardened template "
                            f"(protocols with one: {', '.join(HARDENED)})")
    return HARDENED[protocol]


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    description: str
    variables: tuple[str, ...]


def template_variables(text: str) -> set[str]:
    """The variables a template reads (``role`` included)."""
    return set(meta.find_undeclared_variables(_ENV.parse(text)))


def _description(text: str) -> str:
    match = re.match(r"\s*\{#-?\s*(.*?)\s*-?#\}", text, flags=re.DOTALL)
    if not match:  # a template without a leading comment (explain.j2 is sent as plain text): its first line
        return text.strip().splitlines()[0] if text.strip() else ""
    first = re.split(r"(?<=\.)\s", " ".join(match.group(1).split()), maxsplit=1)[0]
    return first


def builtin_templates() -> list[TemplateInfo]:
    """Every built-in template with its one-line description and the variables it uses."""
    folder = resources.files("jurist.protocols").joinpath("templates")
    infos = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".j2"):
            text = entry.read_text(encoding="utf-8")
            infos.append(TemplateInfo(entry.name[:-3], _description(text),
                                      tuple(sorted(template_variables(text) - {"role"}))))
    return infos


def load_template(source: str | Path, protocol: str | None = None) -> tuple[str, str]:
    """``(text, origin)`` of a template file, a built-in given by name (``pointwise``), or template text.

    A string with a line break or a Jinja2 tag is the template itself (API use); ``hardened`` is the hardened
    template of ``protocol`` (a protocol name, ``pointwise``).
    """
    if isinstance(source, str) and ("\n" in source or "{{" in source or "{%" in source):
        return source, "template text"
    path = Path(source)
    if path.is_file():
        return path.read_text(encoding="utf-8"), str(path)
    if str(source) == HARDENED_ALIAS and protocol is not None:
        source = path = Path(hardened_template(protocol))
    names = {info.name for info in builtin_templates()}
    name = str(source).removesuffix(".j2")
    if not path.suffix or path.suffix == ".j2" and "/" not in str(source):
        if name in names:
            return builtin_template(f"{name}.j2"), f"built-in template {name!r}"
    raise TemplateError(f"template {source}: no such file (built-ins: {', '.join(sorted(names))})")


def check_template(text: str, origin: str, protocol: Protocol, sample: Item | None = None) -> list[str]:
    """Raise TemplateError if ``protocol`` cannot render ``text``; return warnings.

    Checked before any model call: the syntax, every variable against what the
    protocol provides, and a trial render of ``sample`` (an item of the run) in
    every view. The warnings say when the user message does not state the
    answer labels, since the verdict is read from the judge's first token.
    """
    try:
        used = template_variables(text) - {"role"}
    except jinja2.TemplateSyntaxError as error:
        raise TemplateError(f"{origin}:{error.lineno}: template syntax error: {error.message}") from error
    provided = set(PROTOCOL_VARIABLES.get(protocol.name, ()))
    unknown = sorted(used - provided) if provided else []
    if unknown:
        raise TemplateError(f"{origin}: unknown variable {', '.join(repr(v) for v in unknown)}; the {protocol.name} "
                            f"protocol provides {', '.join(sorted(provided))} (and role)")
    sample = sample or _dummy_item(protocol)
    warnings: list[str] = []
    for view in getattr(protocol, "views", (0,)):
        try:
            request = protocol.render(sample, view)
        except jinja2.UndefinedError as error:
            raise TemplateError(f"{origin}{_template_line(error)}: cannot render item {sample.id!r}: "
                                f"{error.message}") from error
        except (jinja2.TemplateError, ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as error:
            # a template's own expressions fail at render time too ({{ 1/0 }}, {{ 'a' + 1 }}, {{ labels[9] }})
            line = _template_line(error)
            what = str(error) if isinstance(error, jinja2.TemplateError) else f"{type(error).__name__}: {error}"
            raise TemplateError(f"{origin}{line}: cannot render item {sample.id!r}: {what}") from error
        user = request.messages[-1].content
        last = user.strip().rsplit("\n\n", 1)[-1]
        missing = [label for label in request.labels if not re.search(rf"(?<!\w){re.escape(label)}(?!\w)", user)]
        if missing:
            warnings.append(f"{origin}: the user message does not mention the label(s) {', '.join(missing)}; "
                            "the judge is read from its first token, so the template should end by asking for "
                            f"one of {', '.join(request.labels)}")
        elif not any(re.search(rf"(?<!\w){re.escape(label)}(?!\w)", last) for label in request.labels):
            warnings.append(f"{origin}: the user message does not end with the answer instruction (its last "
                            "paragraph names no label); a small judge may not answer with a label first")
        if warnings:
            break
    return warnings


def _template_line(error: Exception) -> str:
    """``:LINE`` of the template where ``error`` happened: a syntax error carries it, a runtime error's
    traceback has a frame in the template (Jinja2 names its file ``<template>``)."""
    lineno = getattr(error, "lineno", None)
    trace = error.__traceback__
    while trace is not None and not lineno:
        if trace.tb_frame.f_code.co_filename == "<template>":
            lineno = trace.tb_lineno
        trace = trace.tb_next
    return f":{lineno}" if lineno else ""


def _dummy_item(protocol: Protocol) -> Item:
    candidates = ["Response A text.", "Response B text."] if protocol.kind == "compare" else ["Response text."]
    return Item(id="template-check", input="Instruction text.", candidates=candidates)


# ------------------------------------------------------------------ few-shot examples


@dataclass(frozen=True)
class Example:
    """A worked example: an item and the answer label a good judge gives it."""

    item: Item
    answer: str
    where: str  # "file:line"


def load_examples(path: str | Path, task: str, labels: Sequence[str] | None = None) -> list[Example]:
    """Worked examples from a JSONL file, one per line.

    ``task="score"``: ``{"input", "response", "answer"}``; ``task="compare"``:
    ``{"input", "response_a", "response_b", "answer"}`` (answer A, B or tie);
    ``reference`` is optional. With ``labels``, every answer must be one of
    them. Errors name ``file:line`` and the field.
    """
    the_path = Path(path)
    if not the_path.is_file():
        raise ValueError(f"examples file {the_path}: no such file")
    fields = ("response",) if task == "score" else ("response_a", "response_b")
    examples = []
    with the_path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            where = f"{the_path}:{number}"
            try:  # decoded line by line, so a bad byte is reported with its line
                line = raw.decode("utf-8").lstrip("\ufeff") if number == 1 else raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(f"{where}: not valid UTF-8 ({error.reason} at byte {error.start})") from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{where}: not valid JSON: {error.msg}") from error
            if not isinstance(record, dict):
                raise ValueError(f"{where}: expected a JSON object")
            for name in ("input", *fields, "answer"):
                value = record.get(name)
                if value is None or (isinstance(value, str) and not value.strip()):
                    raise ValueError(f"{where}: field {name!r}: missing")
            answer = str(record["answer"]).strip()
            if isinstance(record["answer"], float) and record["answer"].is_integer():
                answer = str(int(record["answer"]))
            if labels is not None:
                answer = _as_label(answer, labels, f"{where}: field 'answer'")
            reference = record.get("reference")
            item = Item(id=f"example-{number}", input=str(record["input"]),
                        candidates=[str(record[name]) for name in fields],
                        reference=str(reference) if reference is not None else None)
            examples.append(Example(item, answer, where))
    if not examples:
        raise ValueError(f"examples file {the_path}: no examples")
    return examples


def _as_label(answer: str, labels: Sequence[str], where: str) -> str:
    for label in labels:
        if answer.lower() == label.lower():
            return label
    raise ValueError(f"{where}: {answer!r} is not a valid label (expected one of {', '.join(labels)})")


def check_examples(examples: Sequence[Example], labels: Sequence[str]) -> list[Example]:
    """The examples with answers normalised to ``labels``; an invalid answer is an error naming file:line."""
    return [Example(e.item, _as_label(e.answer, labels, f"{e.where}: field 'answer'"), e.where) for e in examples]


def few_shot(messages: list[Message], shots: Sequence[tuple[list[Message], str]]) -> list[Message]:
    """``messages`` with each shot (its rendered messages, its answer) inserted as prior turns.

    The system message (if any) stays first; each shot contributes its user
    message and an assistant message holding the answer.
    """
    if not shots:
        return messages
    head = [m for m in messages[:-1] if m.role == "system"]
    turns: list[Message] = []
    for shot_messages, answer in shots:
        turns.append(shot_messages[-1])
        turns.append(Message(role="assistant", content=answer))
    return [*head, *turns, messages[-1]]


def examples_identity(examples: Sequence[Example]) -> dict[str, Any]:
    """Part of a protocol's identity (cache keys): a hash of the examples, only when there are some."""
    if not examples:
        return {}
    from jurist.protocols.base import text_hash

    blob = json.dumps([[e.item.input, e.item.candidates, e.item.reference, e.answer] for e in examples])
    return {"examples_hash": text_hash(blob)}
