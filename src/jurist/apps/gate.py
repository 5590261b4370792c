"""The quality gate: accept, reject or escalate a response, with a confidence and the reasons.

A gate is a plan (task ``score``, ``check`` or ``correct``) plus a bar. The plan's
judge reads a distribution; from it the gate takes P(pass): the probability mass
at or above ``min_score`` (score), the probability that every question is answered
yes (check; every rubric dimension passes, with dimensions), or P(correct)
(correct). The gate then decides:

- accept   when P(pass) >= ``confidence``;
- reject   when P(fail) = 1 - P(pass) >= ``confidence``;
- escalate otherwise: the judge is unsure, and a stronger judge or a human decides.

A verdict that failed or could not be read, or a cascade item waiting for a human, is
escalated, never accepted. The judge runs through the one runner
(:func:`jurist.engine.runner.run`) on a judge built once, with one store, so a response
gated twice is answered from the completion cache.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from jurist.backends.base import Backend
from jurist.apps.online import OnlineJudge
from jurist.engine.store import Store
from jurist.metrics.calibration import Calibrator
from jurist.plan import Plan, PlanError
from jurist.protocols.base import Protocol
from jurist.types import Item, Judgment, Verdict

Decision = Literal["accept", "reject", "escalate"]
GATE_TASKS = ("score", "check", "correct")
DEFAULT_CONFIDENCE = 0.9


class GateDecision(BaseModel):
    """What the gate decided about one response, and why.

    ``confidence`` is the probability (as the judge's distribution says) that the decision
    is right: P(pass) for accept, P(fail) for reject, max of the two for escalate; None when
    there was no usable verdict. ``reasons`` name the failed checklist questions, the low
    dimensions, a low score, or why the verdict is unusable.
    """

    item_id: str
    decision: Decision
    confidence: float | None = None
    p_pass: float | None = None
    score: float | None = None
    bar: float
    min_score: float | None = None
    reasons: list[str] = Field(default_factory=list)
    verdict: Verdict

    @property
    def accepted(self) -> bool:
        return self.decision == "accept"


def _scale_values(protocol: Any) -> dict[str, float] | None:
    scale = getattr(protocol, "scale", None)
    return dict(zip(scale.labels, scale.values, strict=True)) if scale is not None else None


def default_min_score(protocol: Protocol) -> float | None:
    """The scale's midpoint (3 on 1-5, pass on pass/fail); None for protocols that read a probability."""
    values = _scale_values(protocol)
    dimension_set = getattr(protocol, "dimension_set", None)
    if values is None and dimension_set is not None and dimension_set.dimensions:  # the first dimension's scale
        values = _scale_values(dimension_set.dimensions[0])
    if not values:
        return None
    return (min(values.values()) + max(values.values())) / 2


def _mass_at_least(verdict: Verdict, values: Mapping[str, float], min_score: float) -> float | None:
    mass = {label: p for label, p in verdict.distribution.items() if label in values}
    total = sum(mass.values())
    if total <= 0:
        return None
    return sum(p for label, p in mass.items() if values[label] >= min_score - 1e-9) / total


def pass_probability(verdict: Verdict, protocol: Protocol, min_score: float | None) -> tuple[float | None, list[str]]:
    """P(pass) of a scored verdict and the reasons it may fail (failed questions, low dimensions, a low score)."""
    checklist = verdict.metadata.get("checklist")
    if checklist is not None:  # every question must be answered yes; answers are taken as independent
        p = math.prod(row["p_yes"] for row in checklist)
        return p, [f"failed: {q}" for q in verdict.metadata.get("failed", [])]
    if verdict.dimensions:
        p, reasons = 1.0, []
        for name, part in verdict.dimensions.items():
            values = {label: float(label) for label in part.distribution if _is_number(label)}
            p_dim = _mass_at_least(part, values, min_score) if min_score is not None else None
            if p_dim is None:
                return None, [f"dimension {name}: no distribution over its scale"]
            p *= p_dim
            if p_dim < 0.5:
                reasons.append(f"low {name}: {part.score:.2f} < {min_score:g}")
        return p, reasons
    values = _scale_values(protocol)
    if values is None:  # a probability-valued verdict (correct): score = P(correct)
        if verdict.score is None:
            return None, ["no score"]
        return verdict.score, [] if verdict.score >= 0.5 else [f"judged {verdict.top_label or 'incorrect'}"]
    if min_score is None:
        min_score = default_min_score(protocol)
    assert min_score is not None
    p = _mass_at_least(verdict, values, min_score)
    if p is None:
        return None, ["no distribution over the scale's labels"]
    low = verdict.score is not None and verdict.score < min_score
    return p, [f"score {verdict.score:.2f} < {min_score:g}"] if low else []


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_bar(confidence: float) -> float:
    """A bar below 0.5 would let a response be both accepted and rejected; 1 would accept nothing."""
    if not 0.5 <= confidence < 1:
        raise ValueError(f"confidence must be in [0.5, 1), got {confidence}")
    return confidence


def decide(verdict: Verdict, protocol: Protocol, *, min_score: float | None = None,
           confidence: float = DEFAULT_CONFIDENCE, item_id: str = "",
           calibrator: Calibrator | None = None) -> GateDecision:
    """The gate's decision on one verdict (a pure function: no model call). ``calibrator`` maps the judge's
    P(pass) to the rate at which humans found such responses good (:meth:`Gate.calibrate`)."""
    check_bar(confidence)
    if min_score is None:
        min_score = default_min_score(protocol)
    common = {"item_id": item_id, "bar": confidence, "min_score": min_score, "verdict": verdict,
              "score": verdict.score}
    cascade = verdict.metadata.get("cascade") or {}
    if cascade.get("pending_review"):
        return GateDecision(decision="escalate", reasons=[f"waits for a human: {cascade.get('reason')}"], **common)
    if not verdict.ok:
        why = verdict.error or verdict.raw or "no reason given"
        return GateDecision(decision="escalate", reasons=[f"verdict {verdict.status}: {why}"], **common)
    p_pass, reasons = pass_probability(verdict, protocol, min_score)
    if p_pass is None:
        return GateDecision(decision="escalate", reasons=reasons, **common)
    if calibrator is not None:
        p_pass = float(calibrator.transform(p_pass))
    if p_pass >= confidence:
        return GateDecision(decision="accept", confidence=p_pass, p_pass=p_pass, reasons=[], **common)
    if 1 - p_pass >= confidence:
        return GateDecision(decision="reject", confidence=1 - p_pass, p_pass=p_pass,
                            reasons=reasons or [f"P(pass) {p_pass:.2f}"], **common)
    return GateDecision(decision="escalate", confidence=max(p_pass, 1 - p_pass), p_pass=p_pass,
                        reasons=[f"unsure: P(pass) {p_pass:.2f} is within the bar {confidence:g}", *reasons], **common)


class Gate:
    """A judge built once from a plan, and a bar; :meth:`check` gates items through the runner.

    ``store`` keeps the runs and the completion cache (in memory by default): the same
    request is never paid twice. ``backends`` maps judge specs to ready Backends (tests).
    """

    def __init__(self, plan: Plan, *, min_score: float | None = None, confidence: float = DEFAULT_CONFIDENCE,
                 store: Store | str | Path | None = None, backends: Mapping[str, Backend] | None = None,
                 protocol: Protocol | None = None):
        if plan.task not in GATE_TASKS:
            raise PlanError(f"`task` {plan.task}: a gate judges one response (task {', '.join(GATE_TASKS)})",
                            ("task",))
        self.confidence = check_bar(confidence)
        self.online = OnlineJudge(plan, store=store, backends=backends, protocol=protocol)
        self.plan = self.online.plan
        self.min_score = min_score if min_score is not None else default_min_score(self.online.protocol)
        self.calibrator: Calibrator | None = None

    @classmethod
    def of(cls, judge: str | Backend = "local", *, model: str | None = None, rubric: str | None = None,
           scale: str | None = None, checklist: str | Path | Sequence[Any] | None = None,
           mode: str | None = None, **options: Any) -> Gate:
        """A gate from keyword arguments: a rubric (task score), a checklist (task check), or how a gold answer
        is used (``mode`` shown, hidden, adapted: task correct)."""
        task = "check" if checklist is not None else "correct" if mode is not None else "score"
        protocol = {"rubric": rubric, "scale": scale, "reference": mode,
                    "checklist": str(checklist) if isinstance(checklist, Path) else checklist}
        spec = judge.spec if isinstance(judge, Backend) else judge
        plan = Plan.parse({"task": task, "protocol": {k: v for k, v in protocol.items() if v is not None},
                           "judge": {"spec": spec, **({"model": model} if model else {})}}, where="gate")
        backends = {spec: judge} if isinstance(judge, Backend) else options.pop("backends", None)
        return cls(plan, backends=backends, **options)

    def judgments(self, items: Sequence[Item]) -> list[Judgment]:
        """The plan's judgments of ``items`` (one runner call: the engine runs them concurrently)."""
        return self.online.judgments(items)

    def decide(self, verdict: Verdict, item_id: str = "", min_score: float | None = None,
               confidence: float | None = None) -> GateDecision:
        return decide(verdict, self.online.protocol, min_score=self.min_score if min_score is None else min_score,
                      confidence=confidence or self.confidence, item_id=item_id, calibrator=self.calibrator)

    def calibrate(self, items: Sequence[Item], good: Sequence[bool], method: str = "platt") -> Calibrator:
        """Fit how often humans found a response good given the judge's P(pass), on a labelled golden set,
        and use it from now on (``good[i]``: the human verdict on ``items[i]``). Unusable verdicts are left out."""
        from jurist.metrics.calibration import fit_calibrator

        pairs = []
        for judgment, ok in zip(self.judgments(items), good, strict=True):
            p, _ = pass_probability(judgment.verdict, self.online.protocol, self.min_score) if judgment.verdict.ok \
                else (None, [])
            if p is not None:
                pairs.append((p, bool(ok)))
        if len({ok for _, ok in pairs}) < 2:
            raise ValueError("calibrating a gate needs usable verdicts on both good and bad responses")
        self.calibrator = fit_calibrator(method, [p for p, _ in pairs], [ok for _, ok in pairs])
        return self.calibrator

    def check(self, items: Sequence[Item]) -> list[GateDecision]:
        """One decision per item, in order."""
        return [self.decide(j.verdict, j.item_id) for j in self.judgments(items)]

    def __call__(self, response: str, input: str = "", *, reference: str | None = None,
                 item_id: str = "gate") -> GateDecision:
        return self.check([Item(id=item_id, input=input, candidates=[response], reference=reference)])[0]


def gate(response: str, input: str = "", *, judge: str | Backend = "local", plan: Plan | None = None,
         min_score: float | None = None, confidence: float = DEFAULT_CONFIDENCE, reference: str | None = None,
         **settings: Any) -> GateDecision:
    """Accept, reject or escalate one response (see the module docstring).

    ``plan`` gives the whole judge; otherwise ``judge`` with ``rubric``/``scale``, ``checklist``,
    or ``mode`` (how the gold answer ``reference`` is used: shown, the default with a reference,
    hidden, adapted) builds one. Builds the judge on every call: keep a :class:`Gate` to gate many responses.
    """
    if plan is not None:
        the_gate = Gate(plan, min_score=min_score, confidence=confidence, **settings)
    else:
        mode = settings.pop("mode", None) or ("shown" if reference is not None else None)
        the_gate = Gate.of(judge, min_score=min_score, confidence=confidence, mode=mode, **settings)
    return the_gate(response, input, reference=reference)
