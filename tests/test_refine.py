"""Self-refinement on scripted backends: critique, revise, stop when the gate accepts; the editor hand-off."""

from __future__ import annotations

import json

from jurist.apps.gate import Gate
from jurist.apps.refine import critique, parse_issues, refine
from jurist.backends.base import BackendError
from jurist.backends.scripted import ScriptedBackend


def judge_script(request):
    text = request.messages[-1].text
    if "List its concrete problems" in text:  # the critic
        return json.dumps([{"issue": "the capital is missing", "fix": "name Paris"}])
    response = text.split("[Response]")[1]
    return {"5": 0.97, "1": 0.03} if "Paris" in response else {"1": 0.97, "5": 0.03}


def writer_script(request):
    text = request.messages[-1].text
    if "Revise your response" in text:
        return "The capital of France is Paris." if "name Paris" in text else "Still unsure."
    return "France is a country in Europe."


def test_revises_until_the_gate_accepts_and_stores_the_trajectory():
    gate = Gate.of(ScriptedBackend(judge_script, spec="j"), min_score=4)
    writer = ScriptedBackend(writer_script, spec="w")
    result = refine(writer, "What is the capital of France?", gate, budget=3)
    assert result.status == "accepted" and result.final == "The capital of France is Paris."
    assert [r.decision.decision for r in result.rounds] == ["reject", "accept"]
    first = result.rounds[0].critique
    assert first.issues[0].source == "gate" and first.issues[1].issue == "the capital is missing"
    stored = gate.online.store.find_run(result.run_id)
    assert stored.judge["protocol"] == "refine" and len(stored.info["refine"]["rounds"]) == 2


def test_budget_spent_without_acceptance():
    gate = Gate.of(ScriptedBackend(judge_script, spec="j"), min_score=4)
    stubborn = ScriptedBackend(lambda r: "I do not know.", spec="w")
    result = refine(stubborn, "Capital of France?", gate, budget=2)
    assert result.status == "exhausted" and len(result.rounds) == 2
    assert not any(r.decision.accepted for r in result.rounds)


def test_a_failing_generator_keeps_what_was_done():
    calls = []

    def flaky(request):
        calls.append(1)
        if len(calls) > 1:
            raise BackendError("generator down")
        return "France is in Europe."

    gate = Gate.of(ScriptedBackend(judge_script, spec="j"), min_score=4)
    result = refine(ScriptedBackend(flaky, spec="w"), "Capital of France?", gate, budget=3)
    assert result.status == "failed" and "generator down" in result.error and len(result.rounds) == 1


def test_editor_hand_off_is_json():
    notes = critique(ScriptedBackend(judge_script, spec="j"), "France is in Europe.", "Capital of France?",
                     reasons=["score 1.12 < 4"])
    data = json.loads(notes.model_dump_json())
    assert [i["issue"] for i in data["issues"]] == ["score 1.12 < 4", "the capital is missing"]
    unreadable = critique(ScriptedBackend(lambda r: "looks fine to me", spec="j"), "x")
    assert unreadable.error and unreadable.issues == []


def test_issue_parsing():
    assert parse_issues('Sure! [{"issue": "a", "fix": "b"}, "c"]')[1].issue == "c"
    assert [i.issue for i in parse_issues("- too long\n* no source")] == ["too long", "no source"]
    assert parse_issues("[]") == []
    assert parse_issues("nothing here") is None
