"""Templates (built-in, user files in the sandbox, `jurist templates`) and few-shot examples."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from jurist.api import compare_protocol, score, score_protocol
from jurist.backends.scripted import ScriptedBackend
from jurist.cli import app
from jurist.protocols.base import builtin_template
from jurist.protocols.pairwise import PairwiseProtocol
from jurist.protocols.pointwise import PointwiseProtocol
from jurist.protocols.templating import (
    TemplateError,
    builtin_templates,
    check_template,
    load_examples,
    load_template,
)
from jurist.testing import MockOpenAIServer
from jurist.types import Item

from .conftest import EXAMPLES

runner = CliRunner()

GOOD = """{% if role == "system" %}You grade answers.{% else %}Question: {{ input }}
Answer: {{ response }}
Criterion: {{ rubric }}

Reply with one of {{ labels | join(", ") }} only.{% endif %}"""

ITEM = Item(id="q1", input="What is 2 + 2?", candidates=["4"])


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------ built-ins and `jurist templates`


def test_builtins_have_descriptions_and_variables():
    infos = {info.name: info for info in builtin_templates()}
    assert {"pointwise", "pairwise", "explain", "dimension"} <= set(infos)
    assert infos["pointwise"].description.startswith("Pointwise grading")
    assert set(infos["pointwise"].variables) == {"input", "response", "reference", "rubric", "scale_description",
                                                 "labels"}
    assert "role" not in infos["pairwise"].variables and "response_b" in infos["pairwise"].variables
    assert {"dimension", "task"} <= set(infos["dimension"].variables)


def test_cli_templates_lists_and_shows():
    listing = runner.invoke(app, ["templates"])
    assert listing.exit_code == 0, listing.output
    for name in ("pointwise", "pairwise", "dimension", "summeval", "topical_chat"):
        assert name in listing.output
    shown = runner.invoke(app, ["templates", "show", "pairwise"])
    assert shown.exit_code == 0 and shown.output == builtin_template("pairwise.j2")
    dims = runner.invoke(app, ["templates", "show", "summeval"])
    assert dims.exit_code == 0 and "[dimensions.coherence]" in dims.output
    missing = runner.invoke(app, ["templates", "show", "nope"])
    assert missing.exit_code == 2 and "no built-in template" in missing.output


# ------------------------------------------------------------------ user templates


def test_user_template_renders_in_place_of_the_builtin(tmp_path):
    path = write(tmp_path, "mine.j2", GOOD)
    backend = ScriptedBackend(lambda request: {"5": 0.6, "4": 0.4})
    result = score([ITEM], judge=backend, template=path, rubric="Is it correct?")
    assert result.judgments[0].verdict.score == pytest.approx(4.6)
    system, user = backend.calls[0].messages
    assert system.content == "You grade answers."
    assert user.content.startswith("Question: What is 2 + 2?\nAnswer: 4\nCriterion: Is it correct?")
    assert user.content.endswith("Reply with one of 1, 2, 3, 4, 5 only.")
    # the template is part of the judge's identity, so of every cache key
    assert result.run.judge["template_hash"] != PointwiseProtocol().identity["template_hash"]


def test_unknown_variable_is_an_error_naming_file_and_variable_before_any_call(tmp_path):
    path = write(tmp_path, "typo.j2", GOOD.replace("{{ response }}", "{{ answer }}"))
    backend = ScriptedBackend(lambda request: {"5": 1.0})
    with pytest.raises(TemplateError, match=r"typo\.j2: unknown variable 'answer'.*provides.*response"):
        score([ITEM], judge=backend, template=path)
    assert backend.calls == []


def test_syntax_error_names_file_and_line(tmp_path):
    path = write(tmp_path, "broken.j2", "line one\n{% if role == 'system' %}\nno endif\n")
    with pytest.raises(TemplateError, match=r"broken\.j2:\d+: template syntax error"):
        score_protocol(template=path)


def test_render_error_and_sandbox(tmp_path):
    boom = write(tmp_path, "boom.j2", "{% if role == 'user' %}{{ input.no_such_method() }} 1 2 3 4 5{% endif %}")
    with pytest.raises(TemplateError, match=r"boom\.j2"):
        score_protocol(template=boom)
    # the sandbox: no reaching Python internals from a template
    escape = write(tmp_path, "escape.j2", "{{ input.__class__.__mro__ }} 1 2 3 4 5")
    with pytest.raises(TemplateError, match=r"escape\.j2"):
        score_protocol(template=escape)


def test_template_that_does_not_ask_for_the_labels_warns(tmp_path):
    silent = "{% if role == 'user' %}{{ input }} {{ response }} What do you think?{% endif %}"
    warnings = check_template(silent, "silent.j2", PointwiseProtocol(template=silent))
    assert warnings and "silent.j2" in warnings[0] and "does not mention the label" in warnings[0]
    late = "{% if role == 'user' %}Score 1, 2, 3, 4 or 5.\n\n{{ input }}\n\n{{ response }}{% endif %}"
    warnings = check_template(late, "late.j2", PointwiseProtocol(template=late))
    assert warnings and "does not end with the answer instruction" in warnings[0]
    assert check_template(GOOD, "good.j2", PointwiseProtocol(template=GOOD)) == []


def test_builtin_template_by_name_text_and_missing_file():
    text, origin = load_template("pairwise")
    assert text == builtin_template("pairwise.j2") and "built-in" in origin
    assert load_template(GOOD) == (GOOD, "template text")
    with pytest.raises(TemplateError, match=r"template text: unknown variable 'answer'"):
        score_protocol(template=GOOD.replace("{{ response }}", "{{ answer }}"))
    with pytest.raises(TemplateError, match="no such file"):
        load_template("/nonexistent/t.j2")


def test_cli_template_errors_before_any_model_call(tmp_path):
    path = write(tmp_path, "typo.j2", GOOD.replace("{{ rubric }}", "{{ rubrik }}"))
    with MockOpenAIServer(lambda messages: {"3": 1.0}) as server:
        result = runner.invoke(app, ["score", str(EXAMPLES / "summeval_sample.jsonl"), "--limit", "2",
                                     "--judge", server.base_url, "--model", "mock-judge", "--template", str(path),
                                     "--store", str(tmp_path / "r.db")])
        assert result.exit_code == 2
        assert "typo.j2" in result.output and "'rubrik'" in result.output
        assert server.requests == 0


def test_cli_compare_with_a_user_template_and_a_warning(tmp_path):
    path = write(tmp_path, "cmp.j2", "{% if role == 'user' %}{{ input }}\nFirst: {{ response_a }}\n"
                                     "Second: {{ response_b }}\nWhich is better?{% endif %}")
    with MockOpenAIServer(lambda messages: {"A": 0.7, "B": 0.3}) as server:
        result = runner.invoke(app, ["compare", str(EXAMPLES / "mt_bench_pairs.jsonl"), "--limit", "1",
                                     "--judge", server.base_url, "--model", "mock-judge", "--template", str(path),
                                     "--store", str(tmp_path / "r.db")])
        assert result.exit_code == 0, result.output
        assert "warning" in result.output and "does not mention the label" in result.output
        assert server.requests == 2  # both orders, rendered with the user's template
        assert all("First: " in body["messages"][-1]["content"] for body in server.bodies)


# ------------------------------------------------------------------ few-shot examples


def examples_file(tmp_path, rows, name="shots.jsonl"):
    return write(tmp_path, name, "".join(json.dumps(r) + "\n" for r in rows))


def test_examples_become_prior_turns_with_bare_label_answers(tmp_path):
    path = examples_file(tmp_path, [{"input": "What is 3 + 3?", "response": "6", "answer": 5},
                                    {"input": "What is 5 - 1?", "response": "9", "answer": "1"}])
    backend = ScriptedBackend(lambda request: {"5": 1.0})
    result = score([ITEM], judge=backend, examples=path)
    assert result.judgments[0].verdict.score == 5.0
    messages = backend.calls[0].messages
    assert [m.role for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert "What is 3 + 3?" in messages[1].content and messages[2].content == "5"
    assert "What is 5 - 1?" in messages[3].content and messages[4].content == "1"
    assert "What is 2 + 2?" in messages[5].content
    # the same template renders the examples and the item: same instructions, same answer format
    assert messages[1].content.split("[Instruction]")[0] == messages[5].content.split("[Instruction]")[0]
    assert "examples_hash" in result.run.judge


def test_pairwise_examples_are_the_same_prefix_in_both_orders(tmp_path):
    path = examples_file(tmp_path, [{"input": "Say hi.", "response_a": "Hi!", "response_b": "No.", "answer": "a"}])
    protocol = compare_protocol(examples=path)
    pair = Item(id="p", input="Name a colour.", candidates=["Blue.", "Seven."])
    first, second = protocol.render(pair, 0).messages, protocol.render(pair, 1).messages
    assert first[:3] == second[:3] and first[2].content == "A"
    assert first[3] != second[3]


@pytest.mark.parametrize(("row", "message"), [
    ({"input": "x", "response": "y", "answer": "7"}, r"shots\.jsonl:2: field 'answer': '7' is not a valid label"),
    ({"input": "x", "answer": "3"}, r"shots\.jsonl:2: field 'response': missing"),
])
def test_bad_examples_name_file_line_and_field(tmp_path, row, message):
    path = examples_file(tmp_path, [{"input": "a", "response": "b", "answer": "2"}, row])
    with pytest.raises(ValueError, match=message):
        score_protocol(examples=path)


def test_example_answers_are_checked_against_the_protocol_labels(tmp_path):
    path = examples_file(tmp_path, [{"input": "a", "response": "b", "answer": "4"}])
    with pytest.raises(ValueError, match=r"shots\.jsonl:1: field 'answer': '4' is not a valid label.*pass, fail"):
        score_protocol(scale="pass/fail", examples=path)
    pair_path = examples_file(tmp_path, [{"input": "a", "response_a": "b", "response_b": "c", "answer": "tie"}],
                              name="pairs.jsonl")
    with pytest.raises(ValueError, match=r"pairs\.jsonl:1.*'tie' is not a valid label"):
        PairwiseProtocol(examples=load_examples(pair_path, "compare"))
    assert PairwiseProtocol(allow_tie=True, examples=load_examples(pair_path, "compare")).examples[0].answer == "tie"


def test_cli_examples_error_names_the_line(tmp_path):
    path = examples_file(tmp_path, [{"input": "a", "response": "b", "answer": "2"}, "not an object"])
    result = runner.invoke(app, ["score", str(EXAMPLES / "summeval_sample.jsonl"), "--set", f"protocol.examples={path}",
                                 "--judge", "http://127.0.0.1:9/v1", "--model", "m", "--store", str(tmp_path / "r.db")])
    assert result.exit_code == 2 and "shots.jsonl:2" in result.output


@pytest.mark.model
def test_user_template_with_the_real_model(embedded, tmp_path):
    path = write(tmp_path, "qa.j2", """{% if role == "system" -%}
You check answers to questions. Reply with one word.
{%- else -%}
Question: {{ input }}
Proposed answer: {{ response }}

Is the proposed answer correct? Reply with only "{{ labels[0] }}" or "{{ labels[1] }}".
{%- endif %}""")
    items = [Item(id="right", input="What is the capital of France?", candidates=["Paris."]),
             Item(id="wrong", input="What is the capital of France?", candidates=["Madrid."])]
    result = score(items, judge=embedded, template=path, scale="yes/no")
    verdicts = {j.item_id: j.verdict for j in result.judgments}
    assert all(v.status == "scored" and v.method == "logprobs" for v in verdicts.values())
    assert all(v.label_mass > 0.5 for v in verdicts.values())  # the model answered in the template's format
    assert verdicts["right"].score > verdicts["wrong"].score
