"""Reference-based correctness: shown, hidden and response-adapted references."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from jurist import Item, Judge, ScriptedBackend
from jurist.api import correct
from jurist.cli import app
from jurist.io import load_items, read_judgments
from jurist.metrics.checklist import correctness_label, correctness_summary
from jurist.protocols.reference import ReferenceProtocol
from jurist.strategies.reference import AdaptedReference
from jurist.testing import MockOpenAIServer

from .conftest import EXAMPLES

runner = CliRunner()
ITEM = Item(id="sum", input="What is 2 + 3?", candidates=["2 + 3 = 6."], reference="5")


def judge(protocol, backend, item=ITEM):
    return asyncio.run(Judge(backend, protocol).ajudge(item))


def test_shown_reference_is_in_the_prompt_and_p_correct_is_read_from_yes_no():
    backend = ScriptedBackend(lambda request: {"yes": 0.2, "no": 0.8})
    verdict = judge(ReferenceProtocol("shown"), backend)
    prompt = backend.calls[0].messages[-1].text
    assert "[Reference answer]\n5\n[End of reference answer]" in prompt and backend.calls[0].labels == ["yes", "no"]
    assert verdict.status == "scored" and verdict.score == pytest.approx(0.2)
    assert verdict.top_label == "incorrect" and verdict.distribution == pytest.approx({"correct": 0.2,
                                                                                      "incorrect": 0.8})
    assert verdict.metadata["reference"] == "shown"


def test_hidden_reference_is_never_sent_and_the_verdict_says_so():
    backend = ScriptedBackend(lambda request: {"yes": 0.7, "no": 0.3})
    item = ITEM.model_copy(update={"reference": "a very particular gold answer"})
    verdict = judge(ReferenceProtocol("hidden"), backend, item)
    assert "particular gold answer" not in json.dumps([m.model_dump() for m in backend.calls[0].messages])
    assert verdict.top_label == "correct" and verdict.metadata["reference"] == "hidden"
    no_reference = judge(ReferenceProtocol("hidden"), backend, ITEM.model_copy(update={"reference": None}))
    assert no_reference.status == "scored"  # hidden needs no reference


def test_a_missing_reference_fails_the_item_and_names_its_file_line_and_field(tmp_path):
    data = tmp_path / "items.jsonl"
    data.write_text(json.dumps({"id": "x", "input": "What is 2 + 3?", "response": "5"}) + "\n")
    result = correct(data, judge=ScriptedBackend(lambda request: {"yes": 1.0}), progress=False)
    verdict = result.judgments[0].verdict
    assert verdict.status == "failed"
    assert f"{data}:1" in verdict.error and "field 'reference'" in verdict.error


def test_adapted_reference_revises_first_then_judges_against_the_revision():
    def script(request):
        if not request.labels:  # the revision: a bounded generation
            assert request.max_tokens == 64
            assert "[Reference answer]\n5" in request.messages[-1].text
            return "2 + 3 = 5."
        return {"yes": 0.1, "no": 0.9}

    backend = ScriptedBackend(script)
    protocol = ReferenceProtocol("adapted", max_revision_tokens=64)
    assert isinstance(Judge(backend, protocol).strategy, AdaptedReference)
    verdict = judge(protocol, backend)
    assert len(backend.calls) == 2
    judged = backend.calls[1].messages[-1].text
    assert "[Reference answer]\n2 + 3 = 5.\n[End of reference answer]" in judged  # the revision, not the gold
    assert "[Response]\n2 + 3 = 6." in judged
    assert verdict.status == "scored" and verdict.top_label == "incorrect"
    assert verdict.metadata == {"reference": "adapted", "adapted_reference": "2 + 3 = 5."}
    prompt_tokens = sum(len(m.text.split()) for call in backend.calls for m in call.messages)
    assert verdict.usage.prompt_tokens == prompt_tokens  # both requests counted


def test_an_empty_revision_leaves_the_item_unscored_without_a_judgment():
    backend = ScriptedBackend(lambda request: "   " if not request.labels else {"yes": 1.0})
    verdict = judge(ReferenceProtocol("adapted"), backend)
    assert verdict.status == "unscored" and "revision" in verdict.error and len(backend.calls) == 1


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError, match="expected one of shown, hidden, adapted"):
        ReferenceProtocol("secret")  # type: ignore[arg-type]


def test_correctness_summary_against_gold_labels():
    data = EXAMPLES / "reference_correctness.jsonl"
    loaded = load_items(data, "score")
    assert loaded.ok and len(loaded.items) == 30
    # a scripted judge that calls every response correct: judged correct 100%, accuracy = share of correct labels
    result = correct(data, judge=ScriptedBackend(lambda request: {"yes": 0.9, "no": 0.1}), progress=False)
    summary = correctness_summary(result.judgments)
    assert summary.judged_correct.value == 1.0 and summary.accuracy.value == pytest.approx(20 / 30)
    assert [correctness_label(v) for v in ("correct", "No", 1, 0.0, "maybe")] == [True, False, True, False, None]


def test_cli_correct_on_a_loopback_server(tmp_path):
    def answer(messages):  # says "correct" when the response repeats the reference's final number
        text = messages[-1]["content"]
        reference = text.split("[Reference answer]\n")[1].split("\n[End")[0]
        response = text.split("[Response]\n")[1].split("\n[End")[0]
        return {"yes": 0.8, "no": 0.2} if reference.split()[-1] in response else {"yes": 0.3, "no": 0.7}

    data = tmp_path / "items.jsonl"
    data.write_text(json.dumps({"id": "ok", "input": "2+3?", "response": "It is 5", "reference": "5", "label": 1})
                    + "\n" + json.dumps({"id": "bad", "input": "2+3?", "response": "6", "reference": "5",
                                         "label": 0}) + "\n")
    out = tmp_path / "out.jsonl"
    with MockOpenAIServer(answer) as server:
        result = runner.invoke(app, ["correct", str(data), "--judge", server.base_url, "--model", "mock",
                                     "--store", str(tmp_path / "runs.db"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "accuracy vs gold correctness labels" in result.output
    verdicts = {j.item_id: j.verdict for j in read_judgments(out)}
    assert verdicts["ok"].top_label == "correct" and verdicts["bad"].top_label == "incorrect"
    bad = runner.invoke(app, ["correct", str(data), "--reference", "peek"])
    assert bad.exit_code == 2 and "peek" in bad.output


@pytest.mark.model
def test_embedded_judge_tells_a_matching_answer_from_a_contradicting_one(embedded):
    """Clear arithmetic cases with the reference shown: the 0.5B judge ranks the matching answer higher."""
    cases = [("What is 12 + 30?", "42"), ("What is 7 times 8?", "56"), ("How many days are in a week?", "7")]
    wrong = {"42": "52", "56": "63", "7": "5"}
    protocol = ReferenceProtocol("shown")
    for question, gold in cases:
        right = judge(protocol, embedded, Item(id="r", input=question, candidates=[f"The answer is {gold}."],
                                               reference=gold))
        bad = judge(protocol, embedded, Item(id="w", input=question, candidates=[f"The answer is {wrong[gold]}."],
                                             reference=gold))
        assert right.status == bad.status == "scored" and right.method == "logprobs"
        assert right.score > bad.score, (question, right.score, bad.score)
