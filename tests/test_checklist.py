"""Checklists: one yes/no request per question, P(yes) each, an aggregate, the failed questions."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from jurist import Item, Judge, ScriptedBackend
from jurist.api import check
from jurist.cli import app
from jurist.io import load_items, read_judgments
from jurist.metrics.checklist import checklist_summary
from jurist.protocols.checklist import ChecklistProtocol, Question, load_checklist, parse_checklist
from jurist.strategies.checklist import ChecklistStrategy
from jurist.testing import MockOpenAIServer

runner = CliRunner()


def question_of(text: str) -> str:
    return text.rsplit("Question about the response:", 1)[1].split("\n", 1)[0].strip()


def by_question(answers: dict[str, object]):
    """A script answering each question from ``answers`` (a {yes, no} dict or text)."""
    def script(request):
        return answers[question_of(request.messages[-1].text)]
    return script


ITEM = Item(id="1", input="Say hello in French, in one word.", candidates=["Bonjour"])


def run(protocol, backend, item=ITEM):
    import asyncio

    return asyncio.run(Judge(backend, protocol).ajudge(item))


def test_each_question_is_one_request_with_the_question_last_and_a_shared_prefix():
    backend = ScriptedBackend(by_question({"Is it in French?": {"yes": 0.9, "no": 0.1},
                                           "Is it one word?": {"yes": 0.6, "no": 0.4}}))
    verdict = run(ChecklistProtocol(["Is it in French?", "Is it one word?"]), backend)
    assert len(backend.calls) == 2
    first, second = (call.messages[-1].text for call in backend.calls)
    assert first.endswith('Reply with only "yes" or "no" and nothing else.')
    prefix = first.split("Question about the response:")[0]
    assert second.startswith(prefix) and "[Response]\nBonjour" in prefix  # input and response precede the question
    assert all(call.labels == ["yes", "no"] for call in backend.calls)
    assert verdict.status == "scored" and verdict.top_label == "pass"
    assert verdict.score == pytest.approx((0.9 + 0.6) / 2)
    assert verdict.distribution == pytest.approx({"Is it in French?": 0.9, "Is it one word?": 0.6})
    assert verdict.confidence == pytest.approx(0.6)  # the least certain answer
    assert verdict.metadata["failed"] == [] and verdict.metadata["unread"] == []


def test_failed_questions_are_listed_and_weights_shape_the_aggregate():
    backend = ScriptedBackend(by_question({"Is it in French?": {"yes": 0.8, "no": 0.2},
                                           "Does it use exactly two words?": {"yes": 0.2, "no": 0.8}}))
    protocol = ChecklistProtocol([Question("Is it in French?", 3.0), Question("Does it use exactly two words?", 1.0)])
    verdict = run(protocol, backend)
    assert verdict.status == "scored" and verdict.top_label == "fail"
    assert verdict.metadata["failed"] == ["Does it use exactly two words?"]
    assert verdict.score == pytest.approx((3 * 0.8 + 1 * 0.2) / 4)
    rows = verdict.metadata["checklist"]
    assert [(r["question"], r["passed"]) for r in rows] == [("Is it in French?", True),
                                                            ("Does it use exactly two words?", False)]


def test_an_unreadable_question_leaves_the_item_unscored_and_names_the_question():
    backend = ScriptedBackend(by_question({"Is it in French?": {"yes": 0.9, "no": 0.1},
                                           "Is it polite?": "I cannot tell."}))
    verdict = run(ChecklistProtocol(["Is it in French?", "Is it polite?"]), backend)
    assert verdict.status == "unscored" and verdict.score is None
    assert verdict.metadata["unread"] == ["Is it polite?"]
    assert "Is it polite?" in verdict.error and "1 of 2" in verdict.error
    assert verdict.metadata["checklist"][0]["p_yes"] == pytest.approx(0.9)  # what was read is kept


def test_text_answers_are_parsed_and_marked_as_parsed():
    backend = ScriptedBackend(by_question({"Is it in French?": "Yes.", "Is it one word?": "no"}))
    verdict = run(ChecklistProtocol(["Is it in French?", "Is it one word?"]), backend)
    assert verdict.status == "scored" and verdict.method == "parsed" and verdict.confidence is None
    assert verdict.score == pytest.approx(0.5) and verdict.metadata["failed"] == ["Is it one word?"]


def test_per_item_questions_follow_the_global_ones_and_a_missing_checklist_fails():
    backend = ScriptedBackend(by_question({"Is it in French?": {"yes": 0.9, "no": 0.1},
                                           "Is it a greeting?": {"yes": 0.7, "no": 0.3}}))
    item = ITEM.model_copy(update={"metadata": {"checklist": ["Is it a greeting?"]}})
    verdict = run(ChecklistProtocol(["Is it in French?"]), backend, item)
    assert list(verdict.distribution) == ["Is it in French?", "Is it a greeting?"]
    none = run(ChecklistProtocol(), ScriptedBackend(lambda r: {"yes": 1.0}))
    assert none.status == "failed" and "no checklist questions" in none.error


def test_judge_uses_the_checklist_strategy_by_default():
    assert isinstance(Judge(ScriptedBackend(lambda r: "yes"), ChecklistProtocol(["Q?"])).strategy, ChecklistStrategy)


def test_checklist_files_and_entries_are_validated(tmp_path):
    lines = tmp_path / "q.txt"
    lines.write_text("# questions\nIs it in French?\n\n  Is it   one word? \n")
    assert [q.text for q in load_checklist(lines)] == ["Is it in French?", "Is it one word?"]
    as_json = tmp_path / "q.json"
    as_json.write_text(json.dumps(["A?", {"question": "B?", "weight": 2}]))
    assert load_checklist(as_json) == [Question("A?"), Question("B?", 2.0)]
    as_json.write_text(json.dumps(["A?", {"question": "B?", "weight": -1}]))
    with pytest.raises(ValueError, match="q.json: question 2: weight must be a positive number"):
        load_checklist(as_json)
    (tmp_path / "dup.txt").write_text("A?\nA?\n")
    with pytest.raises(ValueError, match="appears twice"):
        load_checklist(tmp_path / "dup.txt")
    with pytest.raises(ValueError, match="question 1: expected a non-empty question"):
        parse_checklist([""])


def test_per_item_checklist_is_loaded_into_metadata_and_a_bad_one_names_file_line_and_field(tmp_path):
    data = tmp_path / "items.jsonl"
    data.write_text(json.dumps({"input": "x", "response": "y", "checklist": ["Is it y?"]}) + "\n"
                    + json.dumps({"input": "x", "response": "y", "checklist": [{"q": "typo"}]}) + "\n")
    loaded = load_items(data, "score")
    assert loaded.items[0].metadata["checklist"] == ["Is it y?"]
    assert len(loaded.errors) == 1
    assert str(loaded.errors[0]).startswith(f"{data}:2: field 'checklist': question 1: unknown key(s) ['q']")


def test_api_check_and_the_per_question_summary():
    items = [ITEM, ITEM.model_copy(update={"id": "2", "candidates": ["Hello there"]})]

    def script(request):
        text = request.messages[-1].text
        french = "[Response]\nBonjour" in text
        if question_of(text) == "Is it in French?":
            return {"yes": 0.9, "no": 0.1} if french else {"yes": 0.1, "no": 0.9}
        return {"yes": 0.8, "no": 0.2}

    result = check(items, checklist=["Is it in French?", "Is it polite?"], judge=ScriptedBackend(script),
                   progress=False)
    assert [j.verdict.top_label for j in result.judgments] == ["pass", "fail"]
    stats = {s.question: s for s in checklist_summary(result.judgments)}
    assert stats["Is it in French?"].pass_rate.value == pytest.approx(0.5) and stats["Is it in French?"].n == 2
    assert stats["Is it polite?"].pass_rate.value == 1.0
    assert stats["Is it in French?"].mean_p_yes == pytest.approx(0.5)


def test_cli_check_against_a_loopback_server(tmp_path):
    data, questions = tmp_path / "items.jsonl", tmp_path / "questions.txt"
    data.write_text(json.dumps({"id": "a", "input": "Say hello in French.", "response": "Bonjour",
                                "checklist": ["Is it one word?"]}) + "\n")
    questions.write_text("Is it in French?\n")

    def answer(messages):
        return {"yes": 0.3, "no": 0.7} if "one word" in messages[-1]["content"].rsplit("Question", 1)[1] \
            else {"yes": 0.9, "no": 0.1}

    out = tmp_path / "out.jsonl"
    with MockOpenAIServer(answer) as server:
        result = runner.invoke(app, ["check", str(data), "--checklist", str(questions), "--judge", server.base_url,
                                     "--model", "mock", "--store", str(tmp_path / "runs.db"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "checklist questions across items" in result.output and "Is it one word?" in result.output
    verdict = read_judgments(out)[0].verdict
    assert verdict.metadata["failed"] == ["Is it one word?"] and verdict.score == pytest.approx(0.6)
    bad = runner.invoke(app, ["check", str(data), "--checklist", str(tmp_path / "nope.txt")])
    assert bad.exit_code == 2 and "nope.txt" in bad.output and "--checklist" in bad.output


@pytest.mark.model
def test_embedded_judge_ranks_items_that_meet_their_checklist_above_those_that_break_it(embedded):
    """The 0.5B judge's P(yes) is squeezed low (about 0.2-0.4 for every answer, see docs/judging.md), and
    single questions are often beyond it ("Is 'Bonjour' French?" gets no higher P(yes) than an English
    sentence). What it does get right is the aggregate: of the four example instructions, the response
    that meets its constraints scores above the one that breaks one."""
    import asyncio

    from jurist.protocols.checklist import load_checklist

    from .conftest import EXAMPLES

    items = {item.id: item for item in load_items(EXAMPLES / "checklist_items.jsonl", "score").items}
    judge = Judge(embedded, ChecklistProtocol(load_checklist(EXAMPLES / "checklist.txt")))
    verdicts = {key: asyncio.run(judge.ajudge(item)) for key, item in items.items()}
    assert all(v.status == "scored" and v.method == "logprobs" for v in verdicts.values())
    pairs = [("capital-ok", "capital-long"), ("colors-list", "colors-prose"), ("spanish-ok", "spanish-french"),
             ("caps-ok", "caps-lower")]
    ranked = sum(verdicts[good].score > verdicts[bad].score for good, bad in pairs)
    assert ranked >= 3, {key: round(v.score, 3) for key, v in verdicts.items()}
    # every question after the first reused the prompt prefix left in the KV cache
    assert all(part.usage.cached_prompt_tokens > 0 for v in verdicts.values() for part in v.parts[1:])
