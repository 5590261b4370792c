"""Protocols and strategies on a scripted backend: reading distributions, parsing, failure states."""

from __future__ import annotations

import asyncio
import math

import pytest

from jurist import Completion, Item, Judge, PairwiseProtocol, PointwiseProtocol, Scale, ScriptedBackend, Single, Swap
from jurist.protocols.base import label_probabilities, parse_label
from jurist.strategies.swap import combine_orders
from jurist.types import Verdict

PAIR = Item(id="p", input="What is 2+2?", candidates=["4", "5"], label="A")
ONE = Item(id="s", input="What is 2+2?", candidates=["4"])


def judge_once(backend: ScriptedBackend, protocol, item: Item, **kwargs) -> Verdict:
    return asyncio.run(Judge(backend, protocol, **kwargs).ajudge(item))


def test_scale_parse():
    assert Scale.parse("1-5").labels == ("1", "2", "3", "4", "5")
    assert Scale.parse("pass/fail").value("pass") == 1.0
    assert Scale.parse("1-10").labels[-1] == "10"
    for bad in ("5-1", "abc", "1-100"):
        with pytest.raises(ValueError):
            Scale.parse(bad)


def test_pointwise_expected_score_from_distribution():
    backend = ScriptedBackend(lambda request: {"4": 0.6, "5": 0.3, "Sure": 0.1})
    verdict = judge_once(backend, PointwiseProtocol(scale="1-5"), ONE)
    assert verdict.status == "scored" and verdict.method == "logprobs"
    assert verdict.score == pytest.approx((4 * 0.6 + 5 * 0.3) / 0.9)
    assert verdict.top_label == "4"
    assert verdict.confidence == pytest.approx(0.6 / 0.9)
    assert verdict.label_mass == pytest.approx(0.9)


def test_token_variants_of_a_label_are_summed():
    completion = Completion(text="A", top_logprobs=[{" A": math.log(0.3), "A": math.log(0.3), "B": math.log(0.2)}])
    distribution, mass = label_probabilities(completion, ["A", "B"])
    assert distribution["A"] == pytest.approx(0.75)
    assert mass == pytest.approx(0.8)


def test_text_without_logprobs_is_parsed_and_marked():
    backend = ScriptedBackend(lambda request: "Score: 3. The answer is fine.")
    verdict = judge_once(backend, PointwiseProtocol(scale="1-5"), ONE)
    assert verdict.status == "scored" and verdict.method == "parsed"
    assert verdict.score == 3.0 and verdict.confidence is None


def test_unreadable_output_is_unscored_with_raw_text():
    backend = ScriptedBackend(lambda request: "I cannot grade this.")
    verdict = judge_once(backend, PointwiseProtocol(scale="1-5"), ONE)
    assert verdict.status == "unscored" and verdict.score is None
    assert verdict.raw == "I cannot grade this."


def test_no_label_in_top_tokens_is_unscored():
    backend = ScriptedBackend(lambda request: {"The": 0.9, "Output": 0.1})
    verdict = judge_once(backend, PointwiseProtocol(scale="1-5"), ONE)
    assert verdict.status == "unscored" and verdict.score is None and verdict.raw == "The"


def test_parse_label_whole_words_only():
    assert parse_label("Response B is better than A", ["A", "B"]).label == "B"
    assert parse_label("BAD", ["A", "B"]).label is None
    assert parse_label("[[A]]", ["A", "B"]).label == "A"


def test_pairwise_views_map_back_to_item_order():
    # The judge always prefers the response that says "4", wherever it is shown.
    def script(request):
        shown_first_is_4 = "[Response A]\n4" in request.messages[-1].content
        return {"A": 0.8, "B": 0.2} if shown_first_is_4 else {"A": 0.2, "B": 0.8}

    backend = ScriptedBackend(script)
    verdict = judge_once(backend, PairwiseProtocol(), PAIR)
    assert len(backend.calls) == 2
    assert verdict.preference == "A" and verdict.orders_agree is True
    assert verdict.p_a == pytest.approx(0.8)
    assert [part.p_a for part in verdict.parts] == [pytest.approx(0.8), pytest.approx(0.8)]


def test_position_bias_cancels_in_both_orders():
    backend = ScriptedBackend(lambda request: {"A": 0.7, "B": 0.3})  # always the first slot
    verdict = judge_once(backend, PairwiseProtocol(), PAIR)
    assert verdict.p_a == pytest.approx(0.5) and verdict.preference == "tie"
    assert verdict.orders_agree is False


def test_no_swap_runs_one_order():
    backend = ScriptedBackend(lambda request: {"A": 0.7, "B": 0.3})
    from jurist import Single

    verdict = judge_once(backend, PairwiseProtocol(), PAIR, strategy=Single())
    assert len(backend.calls) == 1 and verdict.preference == "A" and verdict.orders_agree is None


def test_tie_label_when_allowed():
    backend = ScriptedBackend(lambda request: {"A": 0.2, "B": 0.2, "tie": 0.6})
    verdict = judge_once(backend, PairwiseProtocol(allow_tie=True), PAIR)
    assert verdict.preference == "tie" and verdict.p_tie == pytest.approx(0.6)
    assert "tie" in backend.calls[0].labels


def test_one_failed_order_fails_the_pair():
    good = Verdict(status="scored", kind="compare", method="logprobs", preference="A", p_a=0.9, p_b=0.1, p_tie=0.0,
                   distribution={"A": 0.9, "B": 0.1})
    bad = Verdict(status="unscored", kind="compare", raw="hmm", error="no A/B label")
    combined = combine_orders(good, bad)
    assert combined.status == "unscored" and combined.p_a is None
    assert "swapped order" in combined.error and len(combined.parts) == 2


def test_pair_needs_two_candidates():
    backend = ScriptedBackend(lambda request: {"A": 1.0})
    verdict = judge_once(backend, PairwiseProtocol(), ONE, strategy=Swap())
    assert verdict.status == "failed" and "2 candidates" in verdict.error
    assert backend.calls == []


def test_explain_asks_after_the_verdict_without_changing_it():
    def script(request):
        if request.labels:
            return {"A": 0.9, "B": 0.1}
        return Completion(text="Because 2+2 is 4.")

    backend = ScriptedBackend(script)
    verdict = judge_once(backend, PairwiseProtocol(), PAIR, explain=True)
    assert verdict.rationale == "Because 2+2 is 4."
    assert verdict.p_a == pytest.approx(0.5)  # the scripted judge is position-biased; explain does not alter it
    follow_up = backend.calls[-1]
    assert follow_up.messages[-2].role == "assistant" and follow_up.messages[-2].content == "A"


def test_reference_is_rendered_when_given():
    backend = ScriptedBackend(lambda request: {"5": 1.0})
    item = Item(id="r", input="2+2?", candidates=["4"], reference="The answer is 4.")
    judge_once(backend, PointwiseProtocol(), item)
    assert "The answer is 4." in backend.calls[0].messages[-1].content
    judge_once(backend, PointwiseProtocol(), ONE)
    assert "Reference" not in backend.calls[-1].messages[-1].content


@pytest.mark.parametrize("text,expected", [("Both are good, but B wins", "B"), ("Assistant B is better", "B"),
                                           ("A", "A"), ("tie", "tie"), ("Neither", None)])
def test_parse_respects_word_boundaries_for_every_label(text, expected):
    assert parse_label(text, ["A", "B", "tie"]).label == expected


@pytest.mark.parametrize("protocol,item,top", [
    (PairwiseProtocol(), PAIR, {"The": 0.985, "A": 0.01, "B": 0.005}),
    (PointwiseProtocol(scale="1-5"), ONE, {"I": 0.98, "5": 0.02}),
])
def test_low_label_mass_is_unscored_with_top_tokens(protocol, item, top):
    # 1.5% of the probability on valid labels: renormalised, this read as a confident A (0.67) or a sure 5
    verdict = judge_once(ScriptedBackend(lambda request: top), protocol, item, strategy=Single())
    assert verdict.status == "unscored" and verdict.score is None and verdict.preference is None
    assert "label mass" in verdict.error and "min_label_mass" in verdict.error
    assert verdict.label_mass == pytest.approx(sum(p for t, p in top.items() if t in {"A", "B", "5"}))
    assert set(verdict.metadata["top_tokens"]) == set(top) and verdict.raw in top


def test_min_label_mass_is_a_setting_and_part_of_the_identity():
    backend = ScriptedBackend(lambda request: {"The": 0.985, "A": 0.01, "B": 0.005})
    lenient = PairwiseProtocol(min_label_mass=0.0)
    assert judge_once(backend, lenient, PAIR, strategy=Single()).preference == "A"
    assert lenient.identity["min_label_mass"] == 0.0 and "min_label_mass" not in PairwiseProtocol().identity
    with pytest.raises(ValueError, match="min_label_mass"):
        PointwiseProtocol(min_label_mass=1.5)
