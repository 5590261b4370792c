"""Summaries of checklist and reference-based correctness runs.

:func:`checklist_summary` gives, per question across a run's items, how often
it passed (P(yes) >= 0.5, with a Wilson 95% interval) and the mean P(yes).
:func:`correctness_summary` gives the share judged correct and, with gold
labels (correct/incorrect, yes/no, 1/0), the judge's accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from jurist.metrics.uncertainty import Estimate, wilson_interval
from jurist.types import Judgment

__all__ = ["CorrectnessSummary", "QuestionStats", "checklist_summary", "correctness_summary", "correctness_label"]


class QuestionStats(BaseModel):
    """One checklist question across items: ``n`` items answered, ``pass_rate`` and ``mean_p_yes``."""

    question: str
    n: int
    unread: int
    pass_rate: Estimate
    mean_p_yes: float | None


def checklist_summary(judgments: Sequence[Judgment]) -> list[QuestionStats]:
    """Per question (in first-seen order): pass rate with a Wilson CI, mean P(yes), unread answers."""
    seen: dict[str, dict[str, Any]] = {}
    for judgment in judgments:
        for row in judgment.verdict.metadata.get("checklist", []):
            stats = seen.setdefault(row["question"], {"p": [], "passed": 0, "unread": 0})
            if row.get("p_yes") is None:
                stats["unread"] += 1
            else:
                stats["p"].append(row["p_yes"])
                stats["passed"] += bool(row.get("passed"))
    return [QuestionStats(question=question, n=len(s["p"]), unread=s["unread"],
                          pass_rate=wilson_interval(s["passed"], len(s["p"])),
                          mean_p_yes=sum(s["p"]) / len(s["p"]) if s["p"] else None)
            for question, s in seen.items()]


_GOLD = {"correct": True, "yes": True, "true": True, "1": True, "1.0": True, "pass": True,
         "incorrect": False, "no": False, "false": False, "0": False, "0.0": False, "fail": False}


def correctness_label(value: Any) -> bool | None:
    """A gold correctness label as True/False (correct/incorrect, yes/no, true/false, 1/0, pass/fail), else None."""
    if value is None or isinstance(value, bool):
        return value
    return _GOLD.get(str(value).strip().lower())


class CorrectnessSummary(BaseModel):
    """Share of scored items judged correct; with gold labels, accuracy of correct/incorrect and n labelled."""

    judged_correct: Estimate
    accuracy: Estimate | None = None

    def rows(self) -> list[tuple[str, str]]:
        rows = [("judged correct", str(self.judged_correct))]
        if self.accuracy is not None:
            rows.append(("accuracy vs gold correctness labels", str(self.accuracy)))
        return rows


def correctness_summary(judgments: Sequence[Judgment]) -> CorrectnessSummary:
    scored = [j for j in judgments if j.verdict.ok and j.verdict.score is not None]
    judged = [j.verdict.score >= 0.5 for j in scored]  # type: ignore[operator]
    gold = [(ok, g) for ok, j in zip(judged, scored, strict=True) if (g := correctness_label(j.label)) is not None]
    return CorrectnessSummary(
        judged_correct=wilson_interval(sum(judged), len(judged)),
        accuracy=wilson_interval(sum(ok == g for ok, g in gold), len(gold)) if gold else None,
    )
