"""Step verification: P(step correct) for each step of a trajectory, and the first failing step.

A trajectory is a problem and its steps (reasoning paragraphs, or tool calls with their
results). Step ``k`` is judged as a response whose input is the problem and steps
``0..k-1`` (process-reward style), by a plan of task ``score`` on scale ``yes/no``:
``P(step correct)`` is the judge's P(yes). The first failing step is the first whose
P(correct) is below ``threshold``; when an earlier step has no usable verdict, the first
error is unknown (None), never "no error".

Input (JSONL, one trajectory a line; ProcessBench's own fields)::

    {"id": "t1", "problem": "...", "steps": ["step text", ...], "label": 2}

``input`` may stand for ``problem``; a step may be ``{"call": ..., "result": ...}`` (a tool
call) or ``{"text": ...}``; ``label`` (optional) is the 0-based index of the first wrong
step, or -1 when every step is right.

Offline, :meth:`StepVerifier.verify` judges every step of a trajectory in one runner call;
online, :meth:`StepVerifier.check` judges one new step before the next one runs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from jurist.apps.online import OnlineJudge
from jurist.backends.base import Backend
from jurist.engine.store import Store
from jurist.metrics.uncertainty import Estimate, bootstrap, wilson_interval
from jurist.plan import Plan, PlanError
from jurist.types import Item, Verdict

STEP_RUBRIC = ("The response is the next step of a step-by-step solution; the instruction holds the problem "
               "and the steps so far. Answer yes if this step is correct: its calculations, facts and logic are "
               "right and it follows from the problem and the previous steps. Answer no if it contains any error.")
DEFAULT_THRESHOLD = 0.5


class Trajectory(BaseModel):
    """A problem and its steps; ``label``: the first wrong step (-1: none), when known."""

    id: str
    problem: str
    steps: list[str] = Field(min_length=1)
    label: int | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class StepVerdict(BaseModel):
    index: int
    p_correct: float | None  # None: the verdict failed or could not be read
    passed: bool | None
    verdict: Verdict


class TrajectoryVerdict(BaseModel):
    """Every step's P(correct) and the first failing step: -1 none, None unknown (an unusable verdict first)."""

    id: str
    steps: list[StepVerdict]
    first_error: int | None
    label: int | None = None
    reason: str = ""

    def at(self, threshold: float) -> TrajectoryVerdict:
        """The same probabilities read at another threshold: each step's pass and the first failing step anew."""
        steps = [s.model_copy(update={"passed": None if s.p_correct is None else s.p_correct >= threshold})
                 for s in self.steps]
        first, reason = first_error(steps)
        return self.model_copy(update={"steps": steps, "first_error": first, "reason": reason})


def step_text(step: Any) -> str:
    """A step as text: a string, ``{"text"}``, or a tool call ``{"call", "result"}``."""
    if isinstance(step, str):
        return step
    if isinstance(step, Mapping):
        if "text" in step:
            return str(step["text"])
        if "call" in step:
            call = step["call"] if isinstance(step["call"], str) else json.dumps(step["call"], ensure_ascii=False)
            result = step.get("result")
            return f"Tool call: {call}" + (f"\nResult: {result if isinstance(result, str) else json.dumps(result)}"
                                           if result is not None else "")
    raise ValueError(f"a step is a string, {{'text'}} or {{'call', 'result'}}, got {step!r:.80}")


def load_trajectories(path: str | Path, limit: int | None = None) -> list[Trajectory]:
    """Trajectories from JSONL (the format above, which ProcessBench files already have); a bad line is a
    ``ValueError`` naming the file, the line and the field."""
    from jurist.io import RecordReader

    trajectories = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            row = RecordReader.parse_line(line, where)  # JSON objects only, as the item loader reads them
            problem = row.get("problem", row.get("input"))
            if not isinstance(problem, str):
                raise ValueError(f"{where}: `problem` (or `input`) must be a string")
            steps = row.get("steps")
            if not isinstance(steps, list) or not steps:
                raise ValueError(f"{where}: `steps` must be a non-empty list")
            try:
                texts = [step_text(step) for step in steps]
            except ValueError as error:
                raise ValueError(f"{where}: `steps`: {error}") from None
            label = row.get("label")
            if label is not None and (not isinstance(label, int) or not -1 <= label < len(texts)):
                raise ValueError(f"{where}: `label` must be -1 or a step index below {len(texts)}, got {label!r}")
            extra = {k: v for k, v in row.items() if k not in ("id", "problem", "input", "steps", "label")}
            trajectories.append(Trajectory(id=str(row.get("id", f"line-{number}")), problem=problem, steps=texts,
                                           label=label, metadata=extra))
            if limit and len(trajectories) >= limit:
                break
    return trajectories


def step_plan(judge: str = "local", rubric: str = STEP_RUBRIC, **judge_settings: Any) -> Plan:
    """The plan that judges one step: task score, scale yes/no, the step rubric."""
    return Plan.parse({"task": "score", "protocol": {"rubric": rubric, "scale": "yes/no"},
                       "judge": {"spec": judge, **judge_settings}}, where="steps")


class StepVerifier:
    """Judges steps with a plan built once (task score on scale yes/no: P(yes) is P(step correct))."""

    def __init__(self, online: OnlineJudge, threshold: float = DEFAULT_THRESHOLD):
        scale = getattr(online.protocol, "scale", None)
        if online.plan.task != "score" or scale is None or "yes" not in scale.labels:
            raise PlanError("step verification reads P(yes): the plan needs task score with `protocol.scale` yes/no",
                            ("protocol.scale",))
        self.online, self.threshold = online, threshold

    @classmethod
    def of(cls, judge: str | Backend = "local", *, threshold: float = DEFAULT_THRESHOLD, rubric: str = STEP_RUBRIC,
           store: Store | str | Path | None = None) -> StepVerifier:
        spec = judge.spec if isinstance(judge, Backend) else judge
        backends = {spec: judge} if isinstance(judge, Backend) else None
        return cls(OnlineJudge(step_plan(spec, rubric), store=store, backends=backends), threshold)

    @staticmethod
    def item(problem: str, previous: Sequence[str], step: str, item_id: str) -> Item:
        shown = "\n\n".join(f"Step {k + 1}: {text}" for k, text in enumerate(previous))
        context = f"{problem}\n\n[Steps so far]\n{shown}" if previous else f"{problem}\n\n[Steps so far]\n(none)"
        return Item(id=item_id, input=context, candidates=[f"Step {len(previous) + 1}: {step}"])

    def _step(self, index: int, verdict: Verdict) -> StepVerdict:
        p = verdict.score if verdict.ok and verdict.score is not None else None
        return StepVerdict(index=index, p_correct=p, passed=None if p is None else p >= self.threshold,
                           verdict=verdict)

    def check(self, problem: str, previous: Sequence[str], step: str) -> StepVerdict:
        """Online: judge one new step (after ``previous``) before the next one runs."""
        verdict = self.online.judgments([self.item(problem, previous, step, "step")])[0].verdict
        return self._step(len(previous), verdict)

    def verify(self, trajectory: Trajectory) -> TrajectoryVerdict:
        return self.verify_many([trajectory])[0]

    def verify_many(self, trajectories: Sequence[Trajectory]) -> list[TrajectoryVerdict]:
        """Every step of every trajectory in one runner call; then each trajectory's first failing step."""
        items = [self.item(t.problem, t.steps[:k], step, f"{n}:{k}")
                 for n, t in enumerate(trajectories) for k, step in enumerate(t.steps)]
        verdicts = iter(j.verdict for j in self.online.judgments(items))
        results = []
        for t in trajectories:
            steps = [self._step(k, next(verdicts)) for k in range(len(t.steps))]
            first, reason = first_error(steps)
            results.append(TrajectoryVerdict(id=t.id, steps=steps, first_error=first, label=t.label, reason=reason))
        return results


def first_error(steps: Sequence[StepVerdict]) -> tuple[int | None, str]:
    """The first failing step (-1: none); None when a step before any failure has no usable verdict."""
    for step in steps:
        if step.passed is None:
            return None, f"step {step.index} has no usable verdict ({step.verdict.error or step.verdict.status})"
        if not step.passed:
            return step.index, f"step {step.index}: P(correct) {step.p_correct:.2f}"
    return -1, "every step passed"


class FirstErrorScores(BaseModel):
    """ProcessBench's scores: accuracy on the erroneous trajectories (the first error found exactly), on the
    correct ones (no error claimed), and their harmonic mean F1. Unknown predictions count as wrong."""

    erroneous: Estimate
    correct: Estimate
    f1: float
    unknown: int

    def rows(self) -> list[tuple[str, str]]:
        return [("accuracy, erroneous (first error exact)", str(self.erroneous)),
                ("accuracy, correct (no error claimed)", str(self.correct)), ("F1", f"{self.f1:.3f}"),
                ("unknown (an unusable verdict)", str(self.unknown))]


def first_error_scores(verdicts: Sequence[TrajectoryVerdict]) -> FirstErrorScores:
    labelled = [v for v in verdicts if v.label is not None]
    wrong = [v for v in labelled if v.label >= 0]  # type: ignore[operator]
    right = [v for v in labelled if v.label == -1]
    erroneous = wilson_interval(sum(v.first_error == v.label for v in wrong), len(wrong))
    correct = wilson_interval(sum(v.first_error == -1 for v in right), len(right))
    a, b = erroneous.value, correct.value
    f1 = 2 * a * b / (a + b) if a + b > 0 else 0.0
    return FirstErrorScores(erroneous=erroneous, correct=correct, f1=f1,
                            unknown=sum(v.first_error is None for v in labelled))


def _auc(p: np.ndarray, right: np.ndarray) -> float:
    """P(a right step's P(correct) > a first wrong step's), ties count one half (Mann-Whitney)."""
    good, bad = p[right], p[~right]
    if not len(good) or not len(bad):
        return math.nan
    return float(((good[:, None] > bad[None, :]).sum() + 0.5 * (good[:, None] == bad[None, :]).sum())
                 / (len(good) * len(bad)))


def step_auc(verdicts: Sequence[TrajectoryVerdict], *, n_resamples: int = 2000, seed: int | None = 0) -> Estimate:
    """Whether P(correct) separates right steps from wrong ones, at no threshold: the AUC of P(correct) on the
    steps before the first error (every step of a trajectory labelled -1) against the first wrong steps.

    0.5 is no signal, 1 a perfect ordering. The steps after the first error are left out (the label says
    nothing of them), and so are unusable verdicts. The interval is a cluster bootstrap over trajectories
    (a trajectory's steps travel together). ``n`` counts the steps."""
    p: list[float] = []
    right: list[bool] = []
    groups: list[str] = []
    for v in verdicts:
        if v.label is None:
            continue
        for s in v.steps:
            if s.p_correct is not None and (v.label == -1 or s.index <= v.label):
                p.append(s.p_correct)
                right.append(v.label == -1 or s.index < v.label)
                groups.append(v.id)
    return bootstrap(_auc, np.array(p, dtype=float), np.array(right, dtype=bool), groups=groups,
                     n_resamples=n_resamples, seed=seed)
