"""Leaderboards: Bradley-Terry against choix, Elo, anchors, length control, separable pairs, the CLI."""

from __future__ import annotations

import json

import choix
import numpy as np
import pytest
from scipy.special import expit
from typer.testing import CliRunner

import jurist
from jurist import Item, ScriptedBackend
from jurist.cli import app
from jurist.metrics.ranking import (
    Comparison,
    Comparisons,
    bradley_terry,
    comparisons_from_judgments,
    elo,
    leaderboard,
    models_of,
    rank_agreement,
)

runner = CliRunner()
NAMES = ["m0", "m1", "m2", "m3", "m4"]
STRENGTH = np.array([1.0, 0.5, 0.0, -0.3, -1.0])


def games(n: int, seed: int = 0, length_bias: float = 0.0) -> list[Comparison]:
    """Random pairs won by Bradley-Terry with STRENGTH; m3 writes long answers, which a biased judge likes."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        i, j = rng.choice(len(NAMES), 2, replace=False)
        la, lb = (rng.normal(900 if m == 3 else 300, 80) for m in (i, j))
        p = expit(STRENGTH[i] - STRENGTH[j] + length_bias * np.tanh((la - lb) / 400))
        out.append(Comparison(NAMES[i], NAMES[j], "A" if rng.random() < p else "B", la, lb))
    return out


def test_bradley_terry_matches_choix_on_the_same_comparisons():
    comparisons = games(600, seed=1)
    ours = bradley_terry(comparisons, alpha=1e-4)
    index = {name: k for k, name in enumerate(NAMES)}
    data = [(index[c.a], index[c.b]) if c.winner == "A" else (index[c.b], index[c.a]) for c in comparisons]
    theirs = choix.opt_pairwise(len(NAMES), data, alpha=1e-4)
    theirs -= theirs.mean()
    assert [ours[name] for name in NAMES] == pytest.approx(list(theirs), abs=1e-5)


def test_a_tie_is_half_a_win_for_each_side():
    tied = bradley_terry([Comparison("x", "y", "tie"), Comparison("x", "y", "A"), Comparison("y", "z", "A")])
    split = bradley_terry([Comparison("x", "y", "A"), Comparison("y", "x", "A"), Comparison("x", "y", "A"),
                           Comparison("x", "y", "A"), Comparison("y", "z", "A"), Comparison("y", "z", "A")])
    # doubling every game and splitting the tie into one win each gives the same likelihood up to the prior
    assert tied["x"] - tied["y"] == pytest.approx(split["x"] - split["y"], abs=0.05)


def test_elo_moves_k_times_the_surprise():
    ratings = elo([Comparison("x", "y", "A")], k=4)
    assert ratings == {"x": pytest.approx(1002.0), "y": pytest.approx(998.0)}


def test_leaderboard_recovers_the_order_and_separates_distant_models():
    board = leaderboard(games(1500, seed=2), anchor="m2", n_resamples=300)
    assert [s.model for s in board.standings] == NAMES
    assert board.anchor_warning is None
    separable = {(p.better, p.worse): p.separable for p in board.pairs}
    assert separable[("m0", "m4")] and separable[("m1", "m3")]
    truth = expit(STRENGTH[0] - STRENGTH[2])
    m0 = board.standings[0]
    assert m0.bt_win_rate.low <= truth <= m0.bt_win_rate.high and m0.win_rate.low <= truth <= m0.win_rate.high
    assert all(s.rating.low <= s.rating.value <= s.rating.high for s in board.standings)


def test_equal_models_are_not_separable():
    rng = np.random.default_rng(3)
    board = leaderboard([Comparison("x", "y", "A" if rng.random() < 0.5 else "B") for _ in range(200)],
                        n_resamples=300)
    assert not board.pairs[0].separable


def test_an_extreme_anchor_is_warned_about():
    board = leaderboard(games(600, seed=4), anchor="m0", n_resamples=50)
    assert board.anchor_warning and "best" in board.anchor_warning and "mediocrity" in board.anchor_warning
    assert "worst" in leaderboard(games(600, seed=4), anchor="m4", n_resamples=50).anchor_warning


def test_length_controlled_win_rate_removes_a_planted_length_preference():
    board = leaderboard(games(4000, seed=5, length_bias=1.5), anchor="m2", n_resamples=200)
    m3 = next(s for s in board.standings if s.model == "m3")
    truth = expit(STRENGTH[3] - STRENGTH[2])  # 0.43: m3 is worse than the anchor at equal length
    assert m3.win_rate.value > 0.6  # the judge's love of length makes it look better
    assert m3.lc_win_rate.low <= truth <= m3.lc_win_rate.high
    assert board.length_coefficient.low > 0.5


def test_rank_agreement_of_a_board_with_itself_and_with_noise():
    c = Comparisons.of(games(800, seed=6))
    same = rank_agreement(c, c, n_resamples=100)
    assert same.value == pytest.approx(1.0) and same.low == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    noise = Comparisons(c.models, c.a, c.b, (rng.random(len(c)) < 0.5).astype(float))
    assert rank_agreement(c, noise, n_resamples=100).value < 0.9


def test_model_names_from_metadata():
    assert models_of({"model_a": "x", "model_b": "y"}) == ("x", "y")
    assert models_of({"cmp_key": "bloom-7b_llama-7b"}) == ("bloom-7b", "llama-7b")
    assert models_of({}) is None
    with pytest.raises(ValueError, match="cmp_key"):
        models_of({"cmp_key": "a_b_c"})


# -------------------------------------------------------------------- runs in a store

QUALITY = {"alpha": 3, "beta": 2, "gamma": 1}


def _pairs(n: int = 60) -> list[Item]:
    names = list(QUALITY)
    items = []
    for k in range(n):
        a, b = names[k % 3], names[(k + 1 + k // 3 % 2) % 3]
        if a == b:
            continue
        items.append(Item(id=f"p{k}", input=f"Question {k}?", candidates=[f"{a} says {'x' * QUALITY[a] * 10}",
                                                                         f"{b} says {'x' * QUALITY[b] * 10}"],
                          label="A" if QUALITY[a] > QUALITY[b] else "B", metadata={"model_a": a, "model_b": b}))
    return items


def _prefer_quality(request):
    """Prefers the response of the better model (alpha > beta > gamma), whichever slot it is in."""
    text = request.messages[-1].text
    order = sorted((text.index(f"{n} says"), n) for n in QUALITY if f"{n} says" in text)
    a, b = order[0][1], order[1][1]
    return {"A": 0.8, "B": 0.2} if QUALITY[a] > QUALITY[b] else {"A": 0.2, "B": 0.8}


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "runs.db"
    jurist.compare(_pairs(), judge=ScriptedBackend(_prefer_quality), store=path, name="pairs", progress=False)
    return path


def test_comparisons_from_judgments_read_verdicts_or_labels(store):
    s = jurist.Store(store)
    judgments = list(s.judgments(s.find_run("pairs").id))
    from_verdicts = comparisons_from_judgments(judgments)
    from_labels = comparisons_from_judgments(judgments, use="labels")
    assert len(from_verdicts) == len(from_labels) == len(judgments)
    assert [c.winner for c in from_verdicts] == [c.winner for c in from_labels]


def test_cli_leaderboard(store, tmp_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text("\n".join(json.dumps({"id": i.id, "input": i.input, "response_a": i.candidates[0],
                                          "response_b": i.candidates[1], "label": i.label, **i.metadata})
                              for i in _pairs()) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["leaderboard", "pairs", "--store", str(store), "--anchor", "beta", "--data", str(data),
                                 "--resamples", "100", "--json", str(tmp_path / "board.json")])
    assert result.exit_code == 0, result.output
    board = json.loads((tmp_path / "board.json").read_text())
    assert [s["model"] for s in board["standings"]] == ["alpha", "beta", "gamma"]
    assert board["anchor_warning"] is None and board["standings"][0]["lc_win_rate"] is not None
    assert "separable" in result.output
    humans = runner.invoke(app, ["leaderboard", "pairs", "--store", str(store), "--from", "labels",
                                 "--anchor", "alpha", "--resamples", "50"])
    assert humans.exit_code == 0 and "mediocrity" in " ".join(humans.output.split())


def test_cli_leaderboard_errors(store, tmp_path):
    missing = runner.invoke(app, ["leaderboard", "nope", "--store", str(store)])
    assert missing.exit_code == 2 and "'nope'" in missing.output
    unknown = runner.invoke(app, ["leaderboard", "pairs", "--store", str(store), "--anchor", "delta"])
    assert unknown.exit_code == 2 and "delta" in unknown.output
    anonymous = [Item(id=f"q{k}", input="q", candidates=["a", "b"]) for k in range(3)]
    jurist.compare(anonymous, judge=ScriptedBackend(lambda r: {"A": 0.7, "B": 0.3}), store=store, name="anon",
                   progress=False)
    nameless = runner.invoke(app, ["leaderboard", "anon", "--store", str(store)])
    assert nameless.exit_code == 2 and "model_a" in nameless.output
