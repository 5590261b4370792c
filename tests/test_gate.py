"""The quality gate's logic on the scripted backend: decisions, reasons, failures never accepted, the cache."""

from __future__ import annotations

import pytest

from jurist.apps.gate import Gate, decide, gate
from jurist.backends.base import BackendError
from jurist.backends.scripted import ScriptedBackend
from jurist.plan import Plan, PlanError
from jurist.protocols.pointwise import PointwiseProtocol
from jurist.types import Item, Verdict


def scores(dist):
    return ScriptedBackend(lambda request: dist, spec="s")


def test_sure_good_answer_is_accepted_with_its_confidence():
    decision = gate("Paris.", "Capital of France?", judge=scores({"5": 0.9, "4": 0.08, "1": 0.02}), min_score=4)
    assert decision.decision == "accept"
    assert decision.confidence == pytest.approx(0.98)
    assert decision.reasons == []
    assert decision.verdict.ok


def test_sure_bad_answer_is_rejected_with_the_low_score_as_reason():
    decision = gate("Lyon.", "Capital of France?", judge=scores({"1": 0.95, "5": 0.05}), min_score=4)
    assert decision.decision == "reject"
    assert decision.confidence == pytest.approx(0.95)
    assert "score" in decision.reasons[0]


def test_unsure_judge_escalates():
    decision = gate("Maybe Paris.", judge=scores({"5": 0.6, "1": 0.4}), min_score=4, confidence=0.9)
    assert decision.decision == "escalate"
    assert decision.p_pass == pytest.approx(0.6)
    assert "unsure" in decision.reasons[0]


def test_failed_or_unreadable_verdict_is_never_accepted():
    def broken(request):
        raise BackendError("server down")

    failed = gate("x", judge=ScriptedBackend(broken, spec="s"))
    assert failed.decision == "escalate" and failed.confidence is None and "failed" in failed.reasons[0]
    unreadable = gate("x", judge=ScriptedBackend(lambda r: "I cannot grade this", spec="s"))
    assert unreadable.decision == "escalate" and not unreadable.verdict.ok


def test_checklist_reasons_name_failed_questions():
    def answers(request):
        return {"no": 0.97, "yes": 0.03} if "polite" in request.messages[-1].text else {"yes": 0.99, "no": 0.01}

    decision = gate("Go away.", "Greet me", judge=ScriptedBackend(answers, spec="s"),
                    checklist=["Is it polite?", "Is it in English?"], confidence=0.9)
    assert decision.decision == "reject"
    assert decision.reasons == ["failed: Is it polite?"]


def test_cascade_waiting_for_a_human_escalates_even_when_scored():
    verdict = Verdict(status="scored", kind="score", score=5.0, distribution={"5": 1.0},
                      metadata={"cascade": {"pending_review": True, "reason": "no judge was sure"}})
    decision = decide(verdict, PointwiseProtocol(), min_score=4)
    assert decision.decision == "escalate" and "human" in decision.reasons[0]


def test_a_gate_reuses_its_judge_and_cache():
    backend = scores({"5": 0.99, "1": 0.01})
    the_gate = Gate.of(backend, min_score=4)
    items = [Item(id=f"i{k}", input="q", candidates=[f"answer {k}"]) for k in range(3)]
    assert [d.decision for d in the_gate.check(items)] == ["accept"] * 3
    assert len(backend.calls) == 3
    the_gate.check(items)  # the same requests again: from the completion cache
    assert len(backend.calls) == 3


def test_bad_bar_and_task_are_refused():
    with pytest.raises(ValueError, match="confidence"):
        Gate.of(scores({"5": 1.0}), confidence=0.3)
    with pytest.raises(PlanError, match="task"):
        Gate(Plan(task="compare"), backends={"local": scores({"A": 1.0})})


def test_a_gold_answer_gates_on_p_correct():
    def graded(request):
        return {"yes": 0.95, "no": 0.05} if "Paris" in request.messages[-1].text.split("[Response]")[-1] else \
            {"yes": 0.05, "no": 0.95}

    judge = ScriptedBackend(graded, spec="s")
    right = gate("Paris", "Capital of France?", judge=judge, reference="Paris")
    assert right.decision == "accept" and right.p_pass == pytest.approx(0.95) and right.min_score is None
    wrong = gate("Lyon", "Capital of France?", judge=judge, reference="Paris")
    assert wrong.decision == "reject"


def test_a_calibrated_gate_turns_a_biased_judge_into_decisions():
    # a judge that always leans "no" (as the 0.5B model does) but says it less firmly for good answers
    def leaning(request):
        good = "good" in request.messages[-1].text.split("[Response]")[-1]
        return {"yes": 0.2, "no": 0.8} if good else {"yes": 0.05, "no": 0.95}

    the_gate = Gate.of(ScriptedBackend(leaning, spec="s"), mode="hidden", confidence=0.8)
    items = [Item(id=f"i{k}", input="q", candidates=["a good answer" if k % 2 else "a bad answer"])
             for k in range(20)]
    assert {d.decision for d in the_gate.check(items)} == {"reject"}  # raw: P(pass) is at most 0.2
    the_gate.calibrate(items, [k % 2 == 1 for k in range(20)])
    decisions = the_gate.check(items)
    assert [d.decision for d in decisions] == ["reject", "accept"] * 10
    with pytest.raises(ValueError, match="both good and bad"):
        the_gate.calibrate(items[:1], [True])
