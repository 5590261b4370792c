"""Self-consistency: k sampled answers per view, read by parsing, vote shares as the distribution."""

from __future__ import annotations

import pytest

from jurist.backends.scripted import ScriptedBackend
from jurist.engine import Engine, Store
from jurist.judge import Judge
from jurist.protocols import PairwiseProtocol, PointwiseProtocol
from jurist.strategies.self_consistency import SelfConsistency
from jurist.types import CompletionRequest, Item

GOOD, BAD = "Paris is the capital of France.", "Bananas are yellow."


def sampled_pair_judge(good_share: int, k: int):
    """Answers in text only; for seeds 0..good_share-1 it names the good response's slot, else the other."""

    def script(request: CompletionRequest) -> str:
        assert request.top_logprobs == 0 and not request.labels and request.temperature > 0
        text = request.messages[-1].content
        good_slot = "A" if text.index(GOOD) < text.index(BAD) else "B"
        other = "B" if good_slot == "A" else "A"
        return good_slot if request.seed % k < good_share else other

    return script


def test_pairwise_samples_both_orders_and_reads_vote_shares(tmp_path):
    backend = ScriptedBackend(sampled_pair_judge(good_share=4, k=5))
    judge = Judge(backend, PairwiseProtocol(), SelfConsistency(samples=5, temperature=0.8, views=(0, 1)))
    item = Item(id="p", input="What is the capital of France?", candidates=[BAD, GOOD], label="B")
    store = Store(tmp_path / "r.db")
    v = Engine(judge, store).run([item]).judgments[0].verdict
    assert len(backend.calls) == 10  # 5 samples x 2 orders, each its own seed: no cache hit among them
    assert sorted({c.seed for c in backend.calls}) == [0, 1, 2, 3, 4]
    assert v.ok and v.method == "parsed" and v.preference == "B"
    assert v.p_b == pytest.approx(0.8) and v.confidence == pytest.approx(0.8)
    assert v.orders_agree is True and v.metadata["votes"] == {"B": 8, "A": 2}
    assert v.metadata["samples"] == 5 and v.metadata["unscored"] == 0 and len(v.parts) == 10
    again = Engine(judge, store).run([item])
    assert len(backend.calls) == 10 and again.stats["cache_hits"] == 10  # a re-run pays nothing


def test_pointwise_distribution_score_and_unscored_samples_counted():
    answers = {0: "4", 1: "4", 2: "I cannot say", 3: "5", 4: "4"}
    backend = ScriptedBackend(lambda request: answers[request.seed])
    judge = Judge(backend, PointwiseProtocol(), SelfConsistency(samples=5, temperature=1.0))
    v = Engine(judge).run([Item(id="s", input="q", candidates=["r"])]).judgments[0].verdict
    assert v.ok and v.top_label == "4" and v.distribution == {"4": 0.75, "5": 0.25}
    assert v.confidence == 0.75 and v.score == pytest.approx(4.25)
    assert v.metadata["unscored"] == 1 and v.metadata["scored"] == 4


def test_all_unscored_samples_give_an_unscored_verdict_with_the_raw_texts():
    backend = ScriptedBackend(lambda request: f"no idea (sample {'abc'[request.seed]})")
    judge = Judge(backend, PointwiseProtocol(), SelfConsistency(samples=3, temperature=0.7))
    v = Engine(judge).run([Item(id="s", input="q", candidates=["r"])]).judgments[0].verdict
    assert v.status == "unscored" and v.score is None
    assert "sample a" in v.raw and "sample c" in v.raw and v.metadata["unscored"] == 3


def test_one_order_without_any_label_is_unscored_not_a_one_order_verdict():
    def script(request: CompletionRequest) -> str:
        text = request.messages[-1].content
        return "A" if text.index(GOOD) < text.index(BAD) else "hmm"

    judge = Judge(ScriptedBackend(script), PairwiseProtocol(), SelfConsistency(3, 0.7, views=(0, 1)))
    v = Engine(judge).run([Item(id="p", input="q", candidates=[GOOD, BAD])]).judgments[0].verdict
    assert v.status == "unscored" and "view(s) [1]" in v.error


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="temperature"):
        SelfConsistency(5, 0.0)
    with pytest.raises(ValueError, match="samples"):
        SelfConsistency(0, 0.7)


def test_run_identity_records_k_and_temperature():
    a = Judge(ScriptedBackend(str), PointwiseProtocol(), SelfConsistency(5, 0.7)).identity
    b = Judge(ScriptedBackend(str), PointwiseProtocol(), SelfConsistency(3, 0.7)).identity
    assert a != b and "k=5" in a["strategy"]


@pytest.mark.server
def test_self_consistency_over_http_without_logprobs(llama_server):
    """The real 0.5B model behind llama_cpp.server, log-probabilities off: 4 samples per order at T=1."""
    from jurist.backends.openai_compat import OpenAICompatibleBackend

    backend = OpenAICompatibleBackend("judge", base_url=llama_server, api_key="none")
    judge = Judge(backend, PairwiseProtocol(), SelfConsistency(samples=4, temperature=1.0, views=(0, 1)))
    item = Item(id="p", input="What is the capital of France?",
                candidates=["The capital of France is Paris.", "I like turtles. Turtles are slow animals."])
    v = Engine(judge).run([item]).judgments[0].verdict
    assert v.status == "scored", (v.error, v.raw)
    assert v.method == "parsed" and v.metadata["scored"] + v.metadata["unscored"] == 8
    assert sum(v.metadata["votes"].values()) == v.metadata["scored"]
    assert v.p_a + v.p_b == pytest.approx(1.0) and v.confidence == max(v.p_a, v.p_b)
    assert all(part.method == "parsed" for part in v.parts if part.ok)  # read from text: no log-probs asked


@pytest.mark.model
def test_self_consistency_on_the_embedded_model(embedded):
    """Sampling at T=1 on the embedded 0.5B model: the on-topic answer wins the vote."""
    judge = Judge(embedded, PairwiseProtocol(), SelfConsistency(samples=4, temperature=1.0, views=(0, 1)))
    item = Item(id="p", input="What is the capital of France?",
                candidates=["I like turtles. Turtles are slow animals.", "The capital of France is Paris."])
    v = Engine(judge).run([item]).judgments[0].verdict
    assert v.status == "scored" and v.method == "parsed"
    assert v.metadata["scored"] + v.metadata["unscored"] == 8
    assert v.p_b >= 0.5, v.metadata["votes"]
