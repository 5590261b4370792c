"""Run every checklist question about an item and combine the answers into one verdict."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from jurist.protocols.checklist import ChecklistProtocol, Question
from jurist.strategies.base import RunView, Strategy
from jurist.types import Item, Usage, Verdict

PASS_THRESHOLD = 0.5  # a question fails when P(yes) < 0.5


def combine_checklist(questions: Sequence[Question], parts: Sequence[Verdict]) -> Verdict:
    """One verdict from the per-question verdicts (in question order).

    - ``score``: the weighted mean of P(yes) (plain mean with equal weights);
    - ``distribution``: ``{question: P(yes)}``;
    - ``top_label``: ``"pass"`` when no question failed, else ``"fail"``;
    - ``confidence``: the least confident answer (min over questions of max(P(yes), P(no)));
    - ``metadata["checklist"]``: per question ``question``, ``weight``, ``p_yes``, ``passed``
      (``None`` when the question was not read) and ``error``; ``metadata["failed"]``: the questions with
      P(yes) < 0.5; ``metadata["unread"]``: the questions without an answer.

    The verdict is scored only when every question was read: an aggregate over the
    questions that happened to be readable would silently be a different checklist.
    """
    usage = sum((part.usage for part in parts), Usage())
    rows = []
    for question, part in zip(questions, parts, strict=True):
        p_yes = part.score if part.ok else None
        rows.append({"question": question.text, "weight": question.weight, "p_yes": p_yes,
                     "passed": None if p_yes is None else p_yes >= PASS_THRESHOLD,
                     **({"error": part.error or part.status} if not part.ok else {})})
    failed = [row["question"] for row in rows if row["passed"] is False]
    unread = [row["question"] for row in rows if row["passed"] is None]
    metadata = {"checklist": rows, "failed": failed, "unread": unread}
    if unread:
        status = "failed" if any(part.status == "failed" for part in parts) else "unscored"
        reasons = "; ".join(f"{row['question']!r}: {row['error']}" for row in rows if row["passed"] is None)
        return Verdict(status=status, kind="score",  # type: ignore[arg-type]
                       error=f"{len(unread)} of {len(rows)} questions not read: {reasons}",
                       raw=next((p.raw for p in parts if not p.ok and p.raw), None), parts=list(parts), usage=usage,
                       metadata=metadata)
    total = sum(question.weight for question in questions)
    weighted = (question.weight * part.score for question, part in zip(questions, parts, strict=True))
    score = sum(weighted) / total  # type: ignore[arg-type,misc]
    by_logprobs = all(part.method == "logprobs" for part in parts)
    masses = [part.label_mass for part in parts if part.label_mass is not None]
    return Verdict(
        status="scored", kind="score", method="logprobs" if by_logprobs else "parsed", score=score,
        top_label="fail" if failed else "pass", distribution={row["question"]: row["p_yes"] for row in rows},
        # the least certain answer bounds how sure the whole checklist is
        confidence=min(max(p.score, 1 - p.score) for p in parts) if by_logprobs else None,  # type: ignore[operator]
        label_mass=sum(masses) / len(masses) if masses else None, parts=list(parts), usage=usage, metadata=metadata,
    )


class ChecklistStrategy(Strategy):
    """Ask every question of ``protocol`` about the item (one request each) and combine the answers."""

    name = "checklist"

    def __init__(self, protocol: ChecklistProtocol):
        self.protocol = protocol

    async def judge(self, item: Item, run_view: RunView) -> Verdict:
        try:
            questions = self.protocol.questions_for(item)
        except ValueError as error:
            return Verdict(status="failed", kind="score", error=str(error))
        # Requests go out in question order; with one request at a time (the embedded judge), each one
        # reuses the shared prefix the previous one left in the KV cache.
        parts = await asyncio.gather(*(run_view(item, index) for index in range(len(questions))))
        return combine_checklist(questions, parts)
