"""Rubric dimensions: one pointwise judge per dimension over the same items, in one run."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from jurist.api import score
from jurist.backends.base import BackendError
from jurist.backends.scripted import ScriptedBackend
from jurist.cli import app
from jurist.io import read_judgments, read_parquet, write_judgments
from jurist.judge import Judge
from jurist.protocols.dimensions import (
    Dimension,
    DimensionSet,
    DimensionsProtocol,
    builtin_dimension_sets,
    load_dimension_set,
)
from jurist.report import write_report
from jurist.strategies.dimensions import Dimensions, dimension_judgments
from jurist.testing import MockOpenAIServer
from jurist.types import CompletionRequest, Item

from .conftest import EXAMPLES

runner = CliRunner()

ITEMS = [
    Item(id="good", input="The council approved the new park on Monday after a long debate.",
         candidates=["The council approved a new park on Monday."], label=4.0, metadata={"fluency": 5.0}),
    Item(id="bad", input="The council approved the new park on Monday after a long debate.",
         candidates=["park park council the monday on approved approved"], label=2.0, metadata={"fluency": 1.0}),
]


def dimension_of(request: CompletionRequest) -> str:
    user = request.messages[-1].content
    return user.split("Grade the response on one dimension only: ", 1)[1].split(".", 1)[0]


def by_dimension(answers: dict[str, object]):
    """A script answering each dimension's request with answers[dimension] (a distribution, text or error)."""

    def script(request: CompletionRequest):
        answer = answers[dimension_of(request)]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return script


def test_each_dimension_gets_its_own_rubric_scale_and_verdict():
    dims = DimensionSet((Dimension.make("fluency", "Fluency: is it well written?", "1-5"),
                         Dimension.make("grounded", "Does it use the fact?", "0-1")))
    backend = ScriptedBackend(by_dimension({"fluency": {"4": 0.5, "5": 0.5}, "grounded": {"1": 0.8, "0": 0.2}}))
    result = score(ITEMS[:1], judge=backend, dimensions=dims)
    verdict = result.judgments[0].verdict
    assert verdict.status == "scored"
    assert list(verdict.dimensions) == ["fluency", "grounded"]
    assert verdict.dimensions["fluency"].score == pytest.approx(4.5)
    assert verdict.dimensions["fluency"].distribution.keys() == {"1", "2", "3", "4", "5"}
    assert verdict.dimensions["grounded"].score == pytest.approx(0.8)
    assert verdict.dimensions["grounded"].top_label == "1"
    # different scales: the summary score is the mean of the scores mapped to [0, 1]
    assert verdict.score == pytest.approx(((4.5 - 1) / 4 + 0.8) / 2)
    # each request carries its own dimension's rubric and labels
    prompts = {dimension_of(r): r for r in backend.calls}
    assert "Fluency: is it well written?" in prompts["fluency"].messages[-1].content
    assert "Does it use the fact?" not in prompts["fluency"].messages[-1].content
    assert prompts["grounded"].labels == ["0", "1"] and prompts["fluency"].labels == ["1", "2", "3", "4", "5"]


def test_source_first_template_shares_the_prefix_up_to_the_response():
    backend = ScriptedBackend(lambda request: {"3": 1.0})
    score(ITEMS, judge=backend, dimensions="summeval")
    assert len(backend.calls) == 8
    users = [r.messages[-1].content for r in backend.calls]
    # the dimensions of one item are asked in order, and share everything up to the end of the response
    assert [dimension_of(r) for r in backend.calls[:4]] == ["coherence", "consistency", "fluency", "relevance"]
    head = users[0].split("[End of response]")[0]
    assert all(u.startswith(head) for u in users[:4])
    assert users[0].index(ITEMS[0].input) < users[0].index("Coherence:")


def test_one_unreadable_dimension_makes_the_whole_unscored_and_says_which():
    backend = ScriptedBackend(by_dimension({"coherence": {"4": 1.0}, "consistency": "I cannot say.",
                                            "fluency": {"5": 1.0}, "relevance": {"3": 1.0}}))
    verdict = score(ITEMS[:1], judge=backend, dimensions="summeval").judgments[0].verdict
    assert verdict.status == "unscored" and verdict.score is None
    assert verdict.error.startswith("consistency: unscored")
    assert "coherence" not in verdict.error
    assert verdict.dimensions["consistency"].raw == "I cannot say."
    assert verdict.dimensions["fluency"].ok and verdict.dimensions["fluency"].score == 5.0


def test_a_backend_error_on_one_dimension_is_a_failed_verdict_naming_it():
    backend = ScriptedBackend(by_dimension({"coherence": {"4": 1.0}, "consistency": BackendError("prompt too long"),
                                           "fluency": "I cannot say.", "relevance": {"3": 1.0}}))
    protocol = DimensionsProtocol(load_dimension_set("summeval"))
    judge = Judge(backend, protocol)  # the protocol brings its own strategy: every dimension is judged
    assert isinstance(judge.strategy, Dimensions)
    verdict = asyncio.run(judge.ajudge(ITEMS[0]))
    assert verdict.status == "failed"
    assert "consistency: failed: prompt too long" in verdict.error and "fluency: unscored" in verdict.error


def test_export_and_report_have_one_column_per_dimension(tmp_path):
    backend = ScriptedBackend(by_dimension({"fluency": {"5": 0.9, "4": 0.1}, "relevance": {"2": 1.0}}))
    result = score(ITEMS, judge=backend, dimensions={"fluency": "Is it fluent?", "relevance": "Is it relevant?"})
    write_judgments(tmp_path / "v.parquet", result.judgments)
    rows = read_parquet(tmp_path / "v.parquet")
    assert rows[0]["score_fluency"] == pytest.approx(4.9) and rows[0]["top_fluency"] == "5"
    assert rows[1]["score_relevance"] == pytest.approx(2.0) and rows[1]["top_relevance"] == "2"
    write_judgments(tmp_path / "v.jsonl", result.judgments)
    back = read_judgments(tmp_path / "v.jsonl")
    assert back[0].verdict.dimensions["fluency"].score == pytest.approx(4.9)
    write_report(tmp_path / "r.html", title="dims", judgments=result.judgments)
    html = (tmp_path / "r.html").read_text()
    assert html.count('title="rubric dimension"') == 2 and "4.900" in html


def test_metrics_on_one_dimension():
    backend = ScriptedBackend(by_dimension({"fluency": {"5": 1.0}, "relevance": {"2": 1.0}}))
    result = score(ITEMS, judge=backend, dimensions={"fluency": "Is it fluent?", "relevance": "Is it relevant?"})
    fluency = dimension_judgments(result.judgments, "fluency")
    assert [j.verdict.score for j in fluency] == [5.0, 5.0]
    assert fluency[0].metadata["fluency"] == 5.0  # the item's human scores travel along
    with pytest.raises(ValueError, match="no dimension 'coherence'.*fluency, relevance"):
        dimension_judgments(result.judgments, "coherence")


def test_dimension_set_files_json_and_toml(tmp_path):
    (tmp_path / "d.toml").write_text('task = "Rate a tweet."\nscale = "1-3"\n[dimensions.wit]\nrubric = "Is it witty?"\n'
                                     '[dimensions.tone]\nrubric = "Is the tone kind?"\nscale = "pass/fail"\n')
    the_set = load_dimension_set(tmp_path / "d.toml")
    assert the_set.names == ["wit", "tone"] and the_set.task == "Rate a tweet."
    assert the_set.dimensions[0].scale.labels == ("1", "2", "3") and the_set.dimensions[1].scale.labels == ("pass", "fail")
    (tmp_path / "d.json").write_text(json.dumps({"dimensions": {"wit": "Is it witty?"}}))
    assert load_dimension_set(tmp_path / "d.json").dimensions[0].scale.labels[-1] == "5"
    (tmp_path / "bad.json").write_text(json.dumps({"dimensions": {"wit": {"rubrik": "typo"}}}))
    with pytest.raises(ValueError, match=r"bad.json: field 'dimensions.wit.rubric'"):
        load_dimension_set(tmp_path / "bad.json")
    (tmp_path / "bad2.json").write_text(json.dumps({"dimensions": {"wit": {"rubric": "x", "scale": "9-2"}}}))
    with pytest.raises(ValueError, match=r"dimensions.wit.*scale"):
        load_dimension_set(tmp_path / "bad2.json")
    with pytest.raises(ValueError, match="neither a built-in"):
        load_dimension_set("nope")
    assert {"summeval", "topical_chat"} <= set(builtin_dimension_sets())
    assert load_dimension_set("topical_chat").names == ["naturalness", "coherence", "engagingness", "groundedness"]


def test_protocol_identity_changes_with_any_rubric():
    a = DimensionsProtocol([Dimension.make("x", "one"), Dimension.make("y", "two")])
    b = DimensionsProtocol([Dimension.make("x", "one"), Dimension.make("y", "TWO")])
    assert a.identity != b.identity
    with pytest.raises(ValueError, match="duplicate"):
        DimensionsProtocol([Dimension.make("x", "one"), Dimension.make("x", "two")])
    with pytest.raises(ValueError, match="dimension name"):
        Dimension.make("bad name", "rubric")


def _mock_answer(messages):
    user = messages[-1]["content"]
    return {"4": 1.0} if "only: fluency" in user else {"2": 0.5, "3": 0.5}


def test_cli_dimensions_columns_summary_and_meta(tmp_path):
    rubric = tmp_path / "fluency.txt"
    rubric.write_text("Fluency: are the sentences well written?")
    out, store = tmp_path / "v.jsonl", tmp_path / "runs.db"
    with MockOpenAIServer(_mock_answer) as server:
        result = runner.invoke(app, ["score", str(EXAMPLES / "summeval_sample.jsonl"), "--limit", "4",
                                     "--judge", server.base_url, "--model", "mock-judge",
                                     "--dimension", f"fluency=@{rubric}", "--dimension", "relevance=Is it on point?",
                                     "--store", str(store), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "per dimension" in result.output and "fluency" in result.output and "4/4" in result.output
    judgments = read_judgments(out)
    assert [j.verdict.dimensions["fluency"].score for j in judgments] == [4.0] * 4
    assert [j.verdict.dimensions["relevance"].score for j in judgments] == [2.5] * 4
    meta = runner.invoke(app, ["meta", str(out), "--dimension", "fluency", "--labels", "fluency"])
    assert meta.exit_code == 0, meta.output
    missing = runner.invoke(app, ["meta", str(out), "--dimension", "coherence"])
    assert missing.exit_code == 2 and "no dimension 'coherence'" in missing.output
    unchosen = runner.invoke(app, ["meta", str(out)])
    assert unchosen.exit_code == 2 and "--dimension NAME" in unchosen.output and "fluency, relevance" in unchosen.output


def test_cli_rejects_options_that_do_not_combine_with_dimensions(tmp_path):
    result = runner.invoke(app, ["score", str(EXAMPLES / "summeval_sample.jsonl"), "--dimensions", "summeval",
                                 "--explain", "--judge", "http://127.0.0.1:9/v1", "--model", "m",
                                 "--store", str(tmp_path / "r.db")])
    assert result.exit_code == 2 and "--explain" in result.output and "not available" in result.output
    bad = runner.invoke(app, ["score", str(EXAMPLES / "summeval_sample.jsonl"), "--dimension", "fluency",
                              "--store", str(tmp_path / "r.db")])
    assert bad.exit_code == 2 and "NAME=RUBRIC" in bad.output


@pytest.mark.model
def test_dimensions_on_the_real_model_share_the_source_prefix(embedded):
    """Two dimensions x two summaries of one article on the embedded judge.

    What is asserted is what the design guarantees: every dimension is read from the
    label distribution, in the requested format, and every request after the first
    reuses the KV cache of the article (the source-first template). Whether the 0.5B
    judge ranks summaries the way humans do is measured in docs/quality.md (on SummEval
    it mostly does not: a fluent and a word-salad summary got the same fluency score).
    """
    article = ("The city council voted on Monday to build a new public library in the old market square. "
               "Construction will start next spring and is expected to take two years. The mayor said the "
               "library will have a children's section and a free study area. " * 3)
    items = [
        Item(id="fluent", input=article,
             candidates=["The city council voted to build a new public library in the old market square, "
                         "with work starting next spring."]),
        Item(id="garbled", input=article,
             candidates=["council the library library square vote monday build old the of spring next next"]),
    ]
    dims = load_dimension_set("summeval")
    the_set = DimensionSet(tuple(d for d in dims.dimensions if d.name in ("fluency", "coherence")), dims.task)
    result = score(items, judge=embedded, dimensions=the_set)
    verdicts = [j.verdict for j in result.judgments]
    assert all(v.status == "scored" and list(v.dimensions) == ["coherence", "fluency"] for v in verdicts)
    parts = [v.dimensions[name] for v in verdicts for name in ("coherence", "fluency")]
    assert all(p.method == "logprobs" and p.label_mass > 0.5 and 1 <= p.score <= 5 for p in parts)
    # requests run item by item, dimension by dimension; each reuses the KV cache of the prefix it
    # shares with the previous one (whole 64-token chunks): the article is evaluated once
    protocol = DimensionsProtocol(the_set)
    prompts = [embedded.prompt_tokens(protocol.render(item, view).messages) for item in items for view in (0, 1)]
    for previous, current, part in zip(prompts, prompts[1:], parts[1:]):
        shared = min(embedded.llm.longest_token_prefix(previous, current), len(current) - 1)
        assert part.usage.cached_prompt_tokens == shared // 64 * 64
        assert part.usage.cached_prompt_tokens >= len(current) // 2  # the article is most of the prompt
