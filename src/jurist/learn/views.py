"""Which prompts a probe accepts: the protocol's rendering skeleton, and the fields read back from it.

A probe is fitted on prompts rendered by one protocol (template, rubric or
criteria, scale). At judging time it receives only the rendered request, so it
checks that the request has the same shape: the protocol is rendered once with
sentinel field values, the rest of the text is kept literally, and the sentinels
become capture groups. A request that does not match was rendered by another
protocol (another rubric, template, few-shot examples...) and is refused. The
captured fields (``input``, ``response``, ``reference``...) are what the encoder
judge reads.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from jurist.protocols.base import Protocol
from jurist.types import CompletionRequest, Item

_SENTINEL = "\u241f{}\u241f"  # "␟name␟": never in real text, survives the template unchanged


def _sentinel_item(kind: str, with_reference: bool) -> Item:
    def s(name: str) -> str:
        return _SENTINEL.format(name)

    candidates = [s("response_a"), s("response_b")] if kind == "compare" else [s("response")]
    return Item(id="skeleton", input=s("input"), candidates=candidates,
                reference=s("reference") if with_reference else None)


def skeletons(protocol: Protocol) -> list[list[list[str]]]:
    """The protocol's view-0 prompt with sentinel fields, without and with a reference."""
    out = []
    for with_reference in (False, True):
        request = protocol.render(_sentinel_item(protocol.kind, with_reference), 0)
        out.append([[m.role, _text(m)] for m in request.messages])
    return out


def _text(message: object) -> str:
    return str(getattr(message, "text", None) or getattr(message, "content", ""))


def _pattern(text: str) -> re.Pattern[str]:
    parts = re.split("\u241f(\\w+)\u241f", text)
    regex = ""
    seen: set[str] = set()
    for index, part in enumerate(parts):
        if index % 2 == 0:
            regex += re.escape(part)
        elif part in seen:
            regex += f"(?P={part})"
        else:
            seen.add(part)
            regex += f"(?P<{part}>.*)"
    return re.compile(regex, re.DOTALL)


def match_request(request: CompletionRequest, variants: Sequence[Sequence[Sequence[str]]]) -> dict[str, str] | None:
    """The fields of ``request`` if it has the shape of one of ``variants``, else None.

    In a swapped pairwise view, ``response_a`` is the response shown first.
    """
    messages = [[m.role, _text(m)] for m in request.messages]
    for variant in variants:
        if len(variant) != len(messages):
            continue
        fields: dict[str, str] = {}
        for (role, skeleton), (got_role, text) in zip(variant, messages):
            if role != got_role:
                break
            found = _pattern(skeleton).fullmatch(text)
            if found is None:
                break
            fields.update(found.groupdict())
        else:
            return fields
    return None
