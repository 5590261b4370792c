"""Listwise ranking: permutation views, aggregation, uncertainty, loading, summary, CLI."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from jurist.backends.scripted import ScriptedBackend
from jurist.cli import app
from jurist.engine import Engine
from jurist.io import load_items, read_judgments
from jurist.judge import Judge
from jurist.protocols.listwise import ListwiseProtocol, permutation
from jurist.strategies.permutations import Permutations
from jurist.types import Completion, CompletionRequest, Item

from .conftest import EXAMPLES

BEST = "Paris is the capital of France."


def shown(request: CompletionRequest) -> list[tuple[str, str]]:
    return re.findall(r"\[Response (\w)\]\n(.*?)\n\[End of response", request.messages[-1].content, re.S)


def biased_judge(slot_bias: float = 0.3, quality: float = 0.5):
    """Likes the slot holding BEST, and slot A whatever it holds (position bias)."""

    def script(request: CompletionRequest) -> dict[str, float]:
        slots = shown(request)
        weights = {label: 0.2 + (quality if text == BEST else 0.0) for label, text in slots}
        weights["A"] += slot_bias
        total = sum(weights.values())
        return {label: w / total for label, w in weights.items()}

    return script


def test_views_put_every_candidate_in_every_slot_once():
    for n in (2, 3, 5):
        perms = [permutation(n, v) for v in range(n)]
        for slot in range(n):
            assert sorted(p[slot] for p in perms) == list(range(n))
    assert sorted(permutation(4, 7, seed=1)) == [0, 1, 2, 3]
    assert ListwiseProtocol.views(3) == [3, 35, 67]


def test_read_maps_labels_back_to_the_items_own_candidates():
    protocol = ListwiseProtocol()
    item = Item(id="x", input="q", candidates=["c0", "c1", "c2"])
    view = ListwiseProtocol.views(3)[1]  # shift 1: slots show candidates 1, 2, 0
    request = protocol.render(item, view)
    assert [text for _, text in shown(request)] == ["c1", "c2", "c0"] and request.labels == ["A", "B", "C"]
    verdict = protocol.read(Completion(text="B", label_logprobs={"A": -2.0, "B": -0.2, "C": -3.0}), view)
    assert verdict.ranking == [2, 1, 0] and verdict.top_label == "2"
    parsed = protocol.read(Completion(text="C"), view)
    assert parsed.method == "parsed" and parsed.ranking[0] == 0
    assert protocol.read(Completion(text="none of them"), view).status == "unscored"


def test_permutations_cancel_slot_bias_and_report_uncertainty():
    backend = ScriptedBackend(biased_judge())
    judge = Judge(backend, ListwiseProtocol(), Permutations())
    item = Item(id="x", input="What is the capital of France?",
                candidates=["Turtles are slow.", BEST, "Bananas are yellow."], label="1")
    v = Engine(judge).run([item]).judgments[0].verdict
    assert len(backend.calls) == 3 and v.ok and v.kind == "rank"
    assert v.ranking[0] == 1 and v.distribution["0"] == pytest.approx(v.distribution["2"])  # slot bias cancelled
    assert v.metadata["p_best"]["1"] == 1.0 and v.metadata["rank_interval"]["1"] == [1, 1]
    assert v.metadata["views_agree"] == 1.0 and len(v.parts) == 3
    one = Engine(Judge(ScriptedBackend(biased_judge(slot_bias=0.6)), ListwiseProtocol(),
                       Permutations(orders=1))).run([item]).judgments[0].verdict
    assert one.ranking[0] == 0  # one order: the slot-A candidate wins, which is why orders are permuted


def test_disagreeing_orders_give_wide_uncertainty():
    def fickle(request: CompletionRequest) -> dict[str, float]:
        return {"A": 0.9, "B": 0.05, "C": 0.05}  # always the first slot

    v = Engine(Judge(ScriptedBackend(fickle), ListwiseProtocol(), Permutations())).run(
        [Item(id="x", input="q", candidates=["a", "b", "c"])]).judgments[0].verdict
    assert v.ok and v.distribution == pytest.approx({"0": 1 / 3, "1": 1 / 3, "2": 1 / 3})
    assert pytest.approx(v.metadata["views_agree"]) == 1 / 3
    assert all(p < 0.9 for p in v.metadata["p_best"].values())
    assert v.metadata["rank_interval"]["0"] == [1, 3]


def test_a_judge_without_a_strategy_permutes_by_default():
    judge = Judge(ScriptedBackend(biased_judge()), ListwiseProtocol())
    assert isinstance(judge.strategy, Permutations)
    v = Engine(judge).run([Item(id="x", input="q", candidates=["a", BEST])]).judgments[0].verdict
    assert v.ok and v.ranking == [1, 0] and len(v.parts) == 2


def test_an_unreadable_order_leaves_the_item_unscored():
    def script(request: CompletionRequest) -> str:
        return "A" if shown(request)[0][1] == "a" else "I refuse"

    v = Engine(Judge(ScriptedBackend(script), ListwiseProtocol(), Permutations())).run(
        [Item(id="x", input="q", candidates=["a", "b", "c"])]).judgments[0].verdict
    assert v.status == "unscored" and v.error.startswith("order 2")


def test_sampled_orders_for_backends_without_logprobs():
    def script(request: CompletionRequest) -> str:
        assert request.top_logprobs == 0 and request.temperature == 1.0
        good = next(label for label, text in shown(request) if text == BEST)
        return good if request.seed != 2 else "A"

    v = Engine(Judge(ScriptedBackend(script), ListwiseProtocol(), Permutations(samples=3, temperature=1.0))).run(
        [Item(id="x", input="q", candidates=["a", BEST, "c"])]).judgments[0].verdict
    assert v.ok and v.method == "parsed" and v.ranking[0] == 1
    assert v.distribution["1"] == pytest.approx(7 / 9)  # 3 orders x 3 samples, seed 2 always says slot A


def test_load_rank_items_from_lists_and_columns_with_clear_errors(tmp_path):
    path = tmp_path / "rank.jsonl"
    rows = [{"input": "q", "candidates": ["a", "b", "c"], "label": [2, 0, 1]},
            {"input": "q", "response_1": "a", "response_2": "b", "label": 1},
            {"input": "q", "candidates": ["a"]},
            {"input": "q", "candidates": ["a", "b"], "label": 5},
            {"input": "q", "candidates": ["a", "b"], "label": [0, 0]}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    loaded = load_items(path, "rank")
    first, second = loaded.items
    assert first.candidates == ["a", "b", "c"] and first.label == "2" and first.metadata["label_ranking"] == [2, 0, 1]
    assert second.candidates == ["a", "b"] and second.label == "1" and "response_1" not in second.metadata
    errors = [str(e) for e in loaded.errors]
    assert "rank.jsonl:3" in errors[0] and "at least 2 candidates" in errors[0]
    assert "rank.jsonl:4" in errors[1] and "label" in errors[1] and "0..1" in errors[1]
    assert "rank.jsonl:5" in errors[2] and "each candidate index" in errors[2]


def test_rank_summary_top1_and_kendall_against_human_rankings():
    items = [Item(id=f"i{k}", input=f"q{k}", candidates=["x", BEST, "y"], label="1",
                  metadata={"label_ranking": [1, 0, 2] if k % 2 else [1, 2, 0]}) for k in range(4)]
    result = Engine(Judge(ScriptedBackend(biased_judge()), ListwiseProtocol(), Permutations())).run(items)
    summary = result.summary()
    assert summary.top1_accuracy.value == 1.0 and summary.n_ranked == 4
    # The judge ranks 1, 0, 2 (x and y tie: index order): tau 1 against [1, 0, 2], 1/3 against [1, 2, 0].
    assert summary.kendall_tau.value == pytest.approx((1 + 1 / 3) / 2)
    assert "top-1 accuracy" in dict(summary.rows())


def test_cli_rank_rejects_bad_options(tmp_path):
    result = CliRunner().invoke(app, ["rank", str(EXAMPLES / "mt_bench_rank.jsonl"), "--orders", "0",
                                      "--store", str(tmp_path / "r.db")])
    assert result.exit_code == 2 and "--orders" in result.output and "greater than or equal to 1" in " ".join(result.output.split())


@pytest.mark.model
def test_on_topic_answer_ranks_first_under_every_order(embedded, tmp_path):
    """The embedded 0.5B judge: one on-topic answer among two off-topic ones wins in all 3 orders."""
    item = Item(id="x", input="What is the capital of France?",
                candidates=["I like turtles. Turtles are slow animals that live a long time.",
                            "The capital of France is Paris.",
                            "Bananas are yellow fruits rich in potassium."], label="1")
    v = Engine(Judge(embedded, ListwiseProtocol(), Permutations())).run([item]).judgments[0].verdict
    assert v.ok and v.method == "logprobs"
    assert [part.ranking[0] for part in v.parts] == [1, 1, 1], [p.distribution for p in v.parts]
    assert v.ranking[0] == 1 and v.metadata["p_best"]["1"] == 1.0


@pytest.mark.model
def test_cli_rank_on_the_mt_bench_rankings(tmp_path):
    out = tmp_path / "v.jsonl"
    result = CliRunner().invoke(app, ["rank", str(EXAMPLES / "mt_bench_rank.jsonl"), "--limit", "2",
                                      "--store", str(tmp_path / "r.db"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "top-1 accuracy" in result.output and "Kendall tau" in result.output
    judgments = read_judgments(out)
    assert len(judgments) == 2 and all(sorted(j.verdict.ranking) == [0, 1, 2] for j in judgments)
