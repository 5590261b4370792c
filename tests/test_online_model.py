"""Each online application once on the embedded model (0.5B): the mechanics end to end, on clear-cut cases.

The 0.5B judge separates an answer from an off-topic reply, not a right answer from a plausible wrong
one (tests/test_embedded.py); these tests assert what it can do and that nothing unusable is accepted.
"""

from __future__ import annotations

import httpx
import pytest

from jurist.apps.best_of_n import Selector
from jurist.apps.gate import Gate
from jurist.apps.online import OnlineJudge
from jurist.apps.refine import refine
from jurist.apps.serve import create_app, serving
from jurist.apps.steps import StepVerifier, Trajectory, step_plan
from jurist.plan import Plan

pytestmark = pytest.mark.model

QUESTION = "What is the capital of France?"
RIGHT = "The capital of France is Paris."
OFF_TOPIC = "I like turtles and the ocean."


def backends(embedded):
    return {"local": embedded}


def consistent(decision, bar):
    """The decision follows from P(pass) and the bar (the 0.5B judge scores an off-topic reply about 3.4 of 5,
    so no test here relies on where it puts a response, only on the order and the rule)."""
    expected = "accept" if decision.p_pass >= bar else "reject" if 1 - decision.p_pass >= bar else "escalate"
    return decision.decision == expected and 0.5 <= decision.confidence <= 1


def test_gate_prefers_the_answer_and_decides_by_its_rule(embedded):
    gate = Gate(Plan(task="score"), backends=backends(embedded), min_score=4, confidence=0.6)
    right, off = gate.check([_item("r", RIGHT), _item("o", OFF_TOPIC)])
    assert right.verdict.method == "logprobs" and off.verdict.method == "logprobs"
    assert right.p_pass > off.p_pass and right.score > off.score
    assert consistent(right, 0.6) and consistent(off, 0.6)


def test_service_judges_on_the_embedded_model(embedded):
    online = OnlineJudge(Plan(task="score"), backends=backends(embedded))
    with serving(create_app(online, min_score=4, confidence=0.6)) as url, httpx.Client(base_url=url,
                                                                                         timeout=120) as client:
        verdict = client.post("/v1/judge", json={"input": QUESTION, "response": RIGHT}).json()["verdict"]
        assert verdict["status"] == "scored" and 1 <= verdict["score"] <= 5
        decision = client.post("/v1/gate", json={"input": QUESTION, "response": OFF_TOPIC}).json()
        assert decision["verdict"]["status"] == "scored" and decision["verdict"]["score"] < verdict["score"]
        assert decision["decision"] in ("accept", "reject", "escalate") and decision["p_pass"] is not None


def test_best_of_n_round_robin_picks_the_answer_over_off_topic_replies(embedded):
    online = OnlineJudge(Plan(task="compare"), backends=backends(embedded))
    chosen = Selector(online, "round_robin").choose(QUESTION, [OFF_TOPIC, RIGHT, "Banana bread needs flour."])
    assert chosen.status == "chosen" and chosen.winner == 1
    assert chosen.judgments == 3 and chosen.model_calls == 6  # three pairs, both orders
    assert chosen.margin > 0 and 0.5 < chosen.sure <= 1


def test_steps_each_step_gets_a_probability(embedded):
    verifier = StepVerifier(OnlineJudge(step_plan("local"), backends=backends(embedded)))
    result = verifier.verify(Trajectory(id="t", problem="Tom has 3 apples and buys 4 more. How many apples?",
                                        steps=["Tom starts with 3 apples.", "He buys 4 more: 3 + 4 = 7.",
                                               "So Tom has 7 apples."]))
    assert [s.index for s in result.steps] == [0, 1, 2]
    assert all(s.verdict.method == "logprobs" and 0 <= s.p_correct <= 1 for s in result.steps)
    assert result.first_error in (-1, 0, 1, 2)
    online = verifier.check("Tom has 3 apples and buys 4 more. How many apples?", ["Tom starts with 3 apples."],
                            "He buys 4 more: 3 + 4 = 7.")
    assert online.p_correct == pytest.approx(result.steps[1].p_correct)  # the same request: the same answer


def test_refine_writes_gates_and_keeps_the_trajectory(embedded):
    gate = Gate(Plan(task="score"), backends=backends(embedded), min_score=4, confidence=0.9)
    result = refine(embedded, "Name the capital of France in one sentence.", gate, budget=2, max_tokens=48)
    assert result.status in ("accepted", "exhausted") and 1 <= len(result.rounds) <= 2
    assert all(r.draft.strip() and r.decision.verdict.status == "scored" for r in result.rounds)
    if result.status == "exhausted":
        assert result.rounds[0].critique is not None
    assert gate.online.store.find_run(result.run_id).info["refine"]["status"] == result.status


def _item(item_id, response):
    from jurist.types import Item

    return Item(id=item_id, input=QUESTION, candidates=[response])
