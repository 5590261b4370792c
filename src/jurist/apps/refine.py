"""Self-refinement: a generator writes, the judge critiques, the generator revises, until the gate accepts.

Each round: the gate (:class:`jurist.apps.gate.Gate`, on the one runner) decides on the draft; if it
does not accept, the critic (by default the gate's own judge model) lists concrete issues as JSON,
the gate's reasons (failed checklist questions, low dimensions) joined to them, and the generator
revises. It stops when the gate accepts or ``budget`` drafts have been written. The trajectory
(drafts, decisions with their verdicts, critiques) is returned and kept in the gate's store as a
run of protocol ``refine``. :func:`critique` alone hands the issue list to an editor (JSON out).
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Literal

from pydantic import BaseModel, Field

from jurist.apps.gate import Gate, GateDecision
from jurist.backends.base import Backend, BackendError
from jurist.types import CompletionRequest, Message

CRITIQUE_PROMPT = """Review the response to the task below. List its concrete problems: errors, missing parts,
unclear wording. Reply with a JSON list only, one object per problem:
[{{"issue": "what is wrong", "fix": "what to change"}}]. Reply [] if there is nothing to fix.

[Task]
{input}
[Response]
{response}
{reasons}"""

REVISE_PROMPT = """Revise your response to the task below so that it fixes every listed issue. Reply with the
revised response only.

[Task]
{input}
[Your response]
{response}
[Issues]
{issues}"""


class Issue(BaseModel):
    issue: str
    fix: str = ""
    source: Literal["critic", "gate"] = "critic"


class Critique(BaseModel):
    """The issues found in one response; ``raw`` is the critic's text, ``error`` why there is none."""

    issues: list[Issue] = Field(default_factory=list)
    raw: str = ""
    error: str | None = None


class Round(BaseModel):
    draft: str
    decision: GateDecision
    critique: Critique | None = None


class Refinement(BaseModel):
    """The trajectory; ``status`` accepted (the last draft passed the gate), exhausted (budget spent) or failed."""

    status: Literal["accepted", "exhausted", "failed"]
    final: str | None
    rounds: list[Round]
    run_id: str | None = None
    error: str | None = None


def _complete(backend: Backend, prompt: str, max_tokens: int) -> str:
    request = CompletionRequest(messages=[Message(role="user", content=prompt)], max_tokens=max_tokens,
                                temperature=0.0, top_logprobs=0)

    async def call() -> str:
        try:
            return (await backend.complete(request)).text.strip()
        finally:
            await backend.close_connections()  # connections belong to this call's event loop

    return asyncio.run(call())


def parse_issues(text: str) -> list[Issue] | None:
    """Issues from the critic's text: a JSON list (of objects or strings) anywhere in it, else "- " lines;
    None when neither is there."""
    match = re.search(r"\[.*\]", text, re.DOTALL)
    if match:
        try:
            data = json.loads(match.group(0))
        except json.JSONDecodeError:
            data = None
        if isinstance(data, list):
            issues = []
            for entry in data:
                if isinstance(entry, str) and entry.strip():
                    issues.append(Issue(issue=entry.strip()))
                elif isinstance(entry, dict) and str(entry.get("issue", "")).strip():
                    issues.append(Issue(issue=str(entry["issue"]).strip(), fix=str(entry.get("fix", "")).strip()))
            return issues
    bullets = [line.strip()[1:].strip() for line in text.splitlines() if line.strip()[:1] in "-*•"
               and line.strip()[1:].strip()]
    return [Issue(issue=b) for b in bullets] if bullets else None


def critique(critic: Backend, response: str, input: str = "", *, reasons: list[str] | None = None,
             max_tokens: int = 300) -> Critique:
    """The critic's issues with ``response``, the gate's ``reasons`` first: the list an editor gets."""
    from_gate = [Issue(issue=reason, source="gate") for reason in reasons or []]
    shown = "\n[A judge already found]\n" + "\n".join(f"- {r}" for r in reasons) if reasons else ""
    try:
        text = _complete(critic, CRITIQUE_PROMPT.format(input=input, response=response, reasons=shown), max_tokens)
    except BackendError as error:
        return Critique(issues=from_gate, error=f"critic: {error}")
    issues = parse_issues(text)
    if issues is None:
        return Critique(issues=from_gate, raw=text, error="the critic's answer holds no issue list")
    return Critique(issues=from_gate + issues, raw=text)


def critic_of(gate: Gate) -> Backend:
    """The gate's judge model (one judge); a jury or a cascade has none: give a critic."""
    backend = getattr(gate.online.judge, "backend", None)
    if backend is None:
        raise ValueError(f"the gate's judge {gate.online.judge.spec} is not one model: give a critic backend")
    return backend


def refine(generator: Backend, input: str, gate: Gate, *, critic: Backend | None = None, budget: int = 3,
           draft: str | None = None, max_tokens: int = 512) -> Refinement:
    """Write (or start from ``draft``), gate, critique and revise until accepted or ``budget`` drafts are spent."""
    if budget < 1:
        raise ValueError(f"budget must be at least 1 draft, got {budget}")
    critic = critic or critic_of(gate)
    rounds: list[Round] = []
    status: Literal["accepted", "exhausted", "failed"] = "exhausted"
    error = None
    try:
        current = draft if draft is not None else _complete(generator, input, max_tokens)
        for number in range(budget):
            decision = gate(current, input, item_id=f"draft-{number}")
            rounds.append(Round(draft=current, decision=decision))
            if decision.accepted:
                status = "accepted"
                break
            if number == budget - 1:
                break
            notes = critique(critic, current, input, reasons=decision.reasons)
            rounds[-1].critique = notes
            issues = "\n".join(f"- {i.issue}" + (f" (fix: {i.fix})" if i.fix else "") for i in notes.issues)
            current = _complete(generator, REVISE_PROMPT.format(input=input, response=current,
                                                                issues=issues or "- improve it"), max_tokens)
    except BackendError as failure:  # the generator failed: what was done is kept
        status, error = "failed", f"generator: {failure}"
    result = Refinement(status=status, final=rounds[-1].draft if rounds else None, rounds=rounds, error=error)
    record = gate.online.store.start_run({"judge": gate.online.judge.spec, "protocol": "refine",
                                          "generator": generator.spec}, info={"refine": result.model_dump(mode="json")})
    gate.online.store.finish_run(record.id, "finished", {"drafts": len(rounds), "status": status})
    gate.online.store.commit()
    return result.model_copy(update={"run_id": record.id})
