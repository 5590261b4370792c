"""The selection rules of benchmarks/generalization.py, on made-up per-pair correctness (no model): the
issue's worst-case rule, the one-standard-error rule, and the nested choice between them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SETS = ["s1", "s2", "s3", "s4"]


def bench():
    spec = importlib.util.spec_from_file_location("generalization_bench", REPO / "benchmarks" / "generalization.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pairs(accuracy: float, n: int = 100) -> np.ndarray:
    right = round(accuracy * n)
    return np.array([1.0] * right + [0.0] * (n - right))


def configs(**accuracies: list[float]) -> dict[str, dict[str, np.ndarray]]:
    return {name: {s: pairs(a) for s, a in zip(SETS, values)} for name, values in accuracies.items()}


# "flat" leads on the worst case by one pair in a hundred; "strong" is far better everywhere else
NEAR_TIE = configs(flat=[0.60, 0.60, 0.60, 0.60], strong=[0.59, 0.80, 0.80, 0.80])


def test_the_worst_case_rule_takes_the_best_floor_whatever_the_mean():
    g = bench()
    assert g.choose(NEAR_TIE, ["flat", "strong"], SETS, "worst") == "flat"
    # without the set that holds its floor, "strong" has the better worst case
    assert g.choose(NEAR_TIE, ["flat", "strong"], SETS[1:], "worst") == "strong"


def test_one_standard_error_ties_a_lead_of_one_pair_but_not_a_real_gap():
    g = bench()
    assert g.choose(NEAR_TIE, ["flat", "strong"], SETS, "one-se") == "strong"
    # 0.40 against 0.60 on 100 pairs is four standard errors: the floor decides again
    gap = configs(flat=[0.60, 0.60, 0.60, 0.60], weak_floor=[0.40, 0.90, 0.90, 0.90])
    assert g.choose(gap, ["flat", "weak_floor"], SETS, "one-se") == "flat"


def test_nested_picks_the_rule_that_chose_better_on_sets_it_did_not_see():
    g = bench()
    # left out in turn, the worst-case rule picks "flat" three times (0.60 each); the one-SE rule picks
    # "strong" (0.80 each): the same floor (0.59, when s1 is left out) and a better mean
    assert g.inner_rule(NEAR_TIE, ["flat", "strong"], SETS) == "one-se"
    assert g.choose(NEAR_TIE, ["flat", "strong"], SETS, "nested") == "strong"
    # two sets hold the floor of "spiky": left out in turn, the one-SE rule picks it and it falls to 0.59
    # where the worst-case rule kept 0.60, so nesting keeps the worst-case rule
    floor = configs(flat=[0.60, 0.60, 0.60, 0.60], spiky=[0.59, 0.59, 0.85, 0.85])
    assert g.choose(floor, ["flat", "spiky"], SETS, "one-se") == "spiky"
    assert g.inner_rule(floor, ["flat", "spiky"], SETS) == "worst"
    assert g.choose(floor, ["flat", "spiky"], SETS, "nested") == "flat"

def test_an_unknown_rule_is_refused_by_name():
    g = bench()
    with pytest.raises(ValueError, match="unknown selection rule 'median'"):
        g.choose(NEAR_TIE, ["flat", "strong"], SETS, "median")


@pytest.mark.parametrize("head, results", [("pairwise-0.5b", "generalization.json"),
                                           ("pairwise-1.5b", "generalization_round3.json"),
                                           ("pairwise-0.5b-mean", "generalization_round4.json"),
                                           ("pairwise-0.5b-mean-plain", "generalization_round5.json"),
                                           ("pairwise-0.5b-mean-question-last", "generalization_round5.json")])
def test_ship_reads_the_layer_each_shipped_head_was_fitted_at(head, results):
    """Both layouts of probe_choice (round 2's, and "[mass-mean ]<template>[, length-neutral]" keys) give
    the layer and strength recorded on the head's card (a mass-mean head has no strength)."""
    import json

    g = bench()
    transfer = json.loads((REPO / "src" / "jurist" / "heads" / head / "card.json").read_text())["transfer"]
    result = json.loads((REPO / "benchmarks" / "results" / results).read_text())
    from jurist.backends.presets import PRESETS

    model = next(p.model for p in PRESETS.values() if p.head == head)  # the head's base model, as the preset says
    kind = "mass-mean" if transfer["configuration"].startswith("mass-mean") else "logistic"
    choice = g._probe_choice(result["probe_choice"][model], transfer.get("template", "pairwise"),
                             transfer["configuration"].endswith("length-neutral"), kind)
    assert choice["layer"] == transfer["layer"]
    assert transfer["C"] == (choice["C"] if kind == "logistic" else None)


def test_a_probe_layer_is_chosen_by_the_same_worst_case_rule(monkeypatch):
    g = bench()
    held_out = {1: [0.90, 0.90, 0.90, 0.55], 2: [0.70, 0.70, 0.70, 0.70]}  # layer 1: better mean, lower floor

    def scripted_probe(train, test, layer, c, length_neutral=False, kind="logistic"):
        return np.where(pairs(held_out[layer][test["index"]]) > 0, 1.0, -1.0)

    monkeypatch.setattr(g, "probe_on", scripted_probe)
    sets = {s: {"y": np.ones(100), "index": k} for k, s in enumerate(SETS)}
    layer, c, table = g.choose_probe(sets, [1, 2], [0.01])
    assert (layer, c) == (2, 0.01)
    assert table == {"1@0.01": [0.55, 0.8125], "2@0.01": [0.7, 0.7]}


def _synthetic_set(rng: np.random.Generator, shift: float, n: int = 60) -> dict:
    """A made-up set of n pairs: [pair, view, layer, dim] states whose dim 0 says which response is shown
    first and is better (+shift when it is), the other dims noise; labels half A, half B."""
    y = (np.arange(n) % 2).astype(float)
    layers = rng.normal(size=(n, 2, 3, 5))
    layers[:, 0, 1, 0] += shift * (2 * y - 1)  # view 0 shows A first
    layers[:, 1, 1, 0] -= shift * (2 * y - 1)  # view 1 shows B first
    return {"y": y, "layers": layers, "length": np.zeros((n, 2))}


@pytest.mark.parametrize("kind", ["logistic", "mass-mean"])
def test_each_probe_kind_transfers_a_shared_signal_to_a_set_it_was_not_fitted_on(kind):
    g = bench()
    rng = np.random.default_rng(3)
    train = {"s1": _synthetic_set(rng, 2.0), "s2": _synthetic_set(rng, 1.5)}
    held_out = _synthetic_set(rng, 1.0)
    informative = g.accuracy(g.probe_on(train, held_out, 1, 0.01, kind=kind), held_out["y"]).mean()
    blind = g.accuracy(g.probe_on(train, held_out, 0, 0.01, kind=kind), held_out["y"]).mean()
    assert informative > 0.75  # the layer that carries the signal
    assert blind < 0.7  # a layer of noise only: no better than a lucky coin on 60 pairs


def test_a_jury_by_mean_follows_its_surest_member_and_by_majority_counts_votes():
    g = bench()
    # per pair, each member's P(A) - 0.5: one sure "A" against two barely "B"; then a split with an abstention
    members = [np.array([0.40, 0.10]), np.array([-0.01, -0.10]), np.array([-0.01, 0.0])]
    assert g.jury_score(members, "mean")[0] > 0  # mean P(A): the sure member carries the pair
    assert g.jury_score(members, "majority")[0] < 0  # two votes of three for B
    assert g.jury_score(members, "majority")[1] == 0  # one each way, one abstains: a tie
    assert g.accuracy(g.jury_score(members, "majority"), np.array([0.0, 1.0])).tolist() == [1.0, 0.5]


def test_every_jury_member_is_a_row_the_analysis_makes():
    g = bench()
    rng = np.random.default_rng(5)
    templates = ["pairwise", "pairwise_plain", "pairwise_question_last"]
    kinds = ["logistic", "mass-mean"]
    data = {s: _synthetic_set(rng, 1.0, n=20) for s in SETS[:3]}
    for one in data.values():  # responses of different lengths, so the length-neutral rows can be fitted
        one["length"] = rng.normal(size=(20, 2))
    rows = {f"0.5b {t}{neutral}" for t in templates for neutral in ("", ", length-neutral")}
    for t_index, template in enumerate(templates):  # as analyse_phase names its sources
        for kind in kinds:
            for neutral in (False, True):
                made, _ = g._probe_rows(data, list(data), "0.5b", template if t_index else None, [1], [0.01],
                                        neutral, kind)
                rows |= set(made)
    juries = g.wording_juries(templates, kinds)
    assert len(juries) == 2 + 2 * 2 + 3  # prompts and probes across wordings; each wording's prompt and probes
    assert all(len(members) >= 3 and set(members) <= rows for _, members, _ in juries)
    assert len({name for name, _, _ in juries}) == len(juries)


def test_a_calibrated_probe_transfers_and_judges_both_orders_as_a_head_does():
    g = bench()
    rng = np.random.default_rng(7)
    train = {"s1": _synthetic_set(rng, 2.0), "s2": _synthetic_set(rng, 1.5)}
    held_out = _synthetic_set(rng, 1.0)
    probe = g.calibrated_probe(train, 1)
    assert probe[1] > 0 and probe[2] == 1  # a fitted temperature, and the layer it reads
    scores = g.calibrated_scores(probe, held_out)
    assert g.accuracy(scores, held_out["y"]).mean() > 0.75
    swapped = {**held_out, "layers": held_out["layers"][:, ::-1]}  # the same pairs, B shown first
    assert np.allclose(g.calibrated_scores(probe, swapped), -scores)  # order-symmetric, as under Swap


def test_the_fresh_pairs_are_the_wider_samples_pairs_outside_the_old_one(monkeypatch):
    """Round 6's premise: the seeded sample of N pairs is inside the sample of 2N, so the pairs of the wider
    one that are not in the narrower one were never used by a round that sampled N."""
    g = bench()
    monkeypatch.setattr(g, "SHARED", REPO / "tests" / "data")
    monkeypatch.setattr(g, "SETS", {"mtbench": ("llmbar_mt_bench.json", "llmbar")})
    narrow, wide = g.sample("mtbench", 2, 3000), g.sample("mtbench", 6, 3000)  # the file has 3 A and 3 B
    assert {i.id for i in narrow} < {i.id for i in wide}
    fresh = [i for i in wide if i.id not in {j.id for j in narrow}]
    assert len(fresh) == 4 and [i.label for i in fresh].count("A") == 2  # still balanced
    views = {"mtbench": {"id": [i.id for i in wide], "y": np.arange(6.0), "odds": np.zeros((3, 6, 2)),
                         "layers": np.zeros((6, 2, 1, 1)), "tokens": np.zeros((3, 6, 2)),
                         "seconds": np.zeros((3, 6, 2)), "length": np.zeros((6, 2))}}
    used = {"mtbench": {i.id for i in narrow}}
    inside, outside = g._split(views, used, inside=True), g._split(views, used, inside=False)
    assert set(inside["mtbench"]["id"]) == used["mtbench"] and set(outside["mtbench"]["id"]) == {i.id for i in fresh}
    assert sorted(inside["mtbench"]["y"].tolist() + outside["mtbench"]["y"].tolist()) == list(range(6))
