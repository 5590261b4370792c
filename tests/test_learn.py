"""Learned judges: probe fitting, cross-validation, saving/loading, the probe as a backend, `jurist learn`."""

from __future__ import annotations

import asyncio
import hashlib
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from jurist.cli import app
from jurist.io import read_judgments
from jurist.judge import Judge
from jurist.learn import learner as learner_module
from jurist.learn.learner import ProbeBackend, learn
from jurist.learn.probe import (
    ProbeError,
    fit_mass_mean,
    fit_probe,
    length_ratio,
    load_probe,
    pair_probability,
    save_probe,
)
from jurist.learn.views import match_request, skeletons
from jurist.protocols import PairwiseProtocol, PointwiseProtocol
from jurist.strategies import Single, Swap
from jurist.types import CompletionRequest, Item

from .conftest import EXAMPLES

runner = CliRunner()


class FakeFeatures:
    """Features computed from the fields read back from the prompt (no model).

    Feature 0: words of the response shown first minus words of the one shown second
    (pairs) or the overlap with the reference (pointwise). Three more features are
    deterministic noise from a hash of the prompt. The decision rule "the longer
    response is better" is therefore learnable, and only through the fields.
    """

    groups = ("fake",)

    def __init__(self, sha256: str = "f" * 64):
        self.spec = "fake"
        self.sha256 = sha256
        self.calls = 0

    def dimension(self, labels):
        return 4

    def vector(self, request: CompletionRequest, fields):
        self.calls += 1
        if "response_a" in fields:
            signal = (len(fields["response_a"].split()) - len(fields["response_b"].split())) / 5
        else:
            signal = float(fields.get("reference", "") in fields["response"]) * 2 - 1
        seed = int(hashlib.sha256(json.dumps([m.content for m in request.messages]).encode()).hexdigest()[:8], 16)
        noise = np.random.default_rng(seed).normal(size=3)
        return np.array([signal, *noise]), 10


def _pairs(n: int, seed: int = 0) -> list[Item]:
    """Pairs where the longer response is better, A and B balanced, short noise words."""
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        short, long = rng.integers(2, 8), rng.integers(9, 16)
        better, worse = " ".join(["good"] * int(long)), " ".join(["bad"] * int(short))
        a_wins = i % 2 == 0
        items.append(Item(id=f"p{i}", input=f"question {i}", candidates=[better, worse] if a_wins else [worse, better],
                          label="A" if a_wins else "B"))
    return items


# -- fitting ---------------------------------------------------------------------------------

def test_a_known_linear_rule_is_recovered_out_of_fold():
    rng = np.random.default_rng(0)
    n, d = 300, 10
    w = np.zeros(d)
    w[:3] = [2.0, -1.5, 1.0]
    x = rng.normal(size=(n, d))
    logits = x @ w
    y = (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(float)
    bayes = np.mean((logits > 0) == (y > 0.5))  # the accuracy of the true rule on these labels
    fit = fit_probe("binary", x, y, folds=5)
    accuracy = fit.cv["calibrated"]["accuracy"]
    assert accuracy > bayes - 0.06
    coef = fit.model.coef / fit.model.scale  # back in the units of x
    assert np.dot(coef, w) / (np.linalg.norm(coef) * np.linalg.norm(w)) > 0.9
    assert fit.cv["calibrated"]["ece"] < 0.1  # a logistic rule is calibrated once its temperature is fitted


def test_a_mass_mean_probe_points_along_the_difference_of_the_class_means():
    rng = np.random.default_rng(5)
    n, d = 400, 8
    y = (np.arange(n) % 2).astype(float)
    shift = np.zeros(d)
    shift[:2] = [1.0, -0.5]
    scale = np.array([1.0, 1.0, 50.0, 1, 1, 1, 1, 1])  # a loud column with no class information
    x = rng.normal(size=(n, d)) * scale + np.outer(y - 0.5, shift) * 2
    model = fit_mass_mean(x, y)
    # on the standardised columns: the two informative ones carry the direction, with their signs; the loud
    # one without class information does not
    assert model.coef[0] > 0 > model.coef[1]
    assert np.linalg.norm(model.coef[:2]) / np.linalg.norm(model.coef) > 0.9
    assert abs(model.coef[2]) < 0.2 * model.coef[0]
    scores = model.decision(x)
    assert abs(float(np.std(scores)) - 1.0) < 1e-9  # unit spread, so two views never saturate when averaged
    assert abs(float(np.mean(scores))) < 0.1  # the midpoint of the two means is the boundary
    fresh_y = (np.arange(n) % 2).astype(float)
    fresh = rng.normal(size=(n, d)) * scale + np.outer(fresh_y - 0.5, shift) * 2
    assert np.mean((model.decision(fresh) > 0) == (fresh_y > 0.5)) > 0.8
    with pytest.raises(ProbeError, match="both classes"):
        fit_mass_mean(x, np.ones(n))


def test_a_pure_noise_probe_reports_chance_not_its_training_fit():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(100, 150)), (rng.random(100) < 0.5).astype(float)
    fit = fit_probe("binary", x, y, folds=5)
    # 150 features and 100 items: a training fit could be perfect; the reported number is out-of-fold
    assert fit.cv["calibrated"]["accuracy"] < 0.65


def test_score_probe_predicts_a_distribution_over_the_scale():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(150, 5))
    y = np.clip(np.round(3 + x[:, 0] + 0.3 * rng.normal(size=150)), 1, 5)
    fit = fit_probe("score", x, y, values=[1, 2, 3, 4, 5])
    assert fit.cv["spearman"] > 0.8 and fit.sigma is not None and fit.sigma < 1.0


def test_pair_probability_of_the_swapped_item_is_the_complement():
    s0, s1 = np.array([1.3, -0.2, 4.0]), np.array([-0.7, 0.5, 2.0])
    assert np.allclose(pair_probability(s0, s1) + pair_probability(s1, s0), 1.0, atol=1e-15)


def _length_confounded_views(n: int, rng: np.random.Generator, length_follows_label: float):
    """Both views of n pairs: feature 0 is the length ratio, feature 1 a noisy quality signal, three noise.
    The longer response is the better one in ``length_follows_label`` of the pairs."""
    y = (np.arange(n) % 2).astype(float)
    sign = 2 * y - 1
    quality = sign + rng.normal(scale=1.2, size=n)
    length = np.where(rng.random(n) < length_follows_label, sign, -sign) * rng.uniform(0.3, 1.5, size=n)
    x = np.column_stack([length, quality, rng.normal(size=(n, 3))])
    x_swapped = np.column_stack([-length, -quality + rng.normal(scale=0.3, size=n), rng.normal(size=(n, 3))])
    return x, x_swapped, y, length


def test_a_length_neutral_probe_cannot_prefer_the_longer_response():
    rng = np.random.default_rng(4)
    x, x_swapped, y, length = _length_confounded_views(400, rng, 0.9)  # in training, longer is mostly better
    neutral = fit_probe("compare", x, y, x_swapped=x_swapped, length=length)
    plain = fit_probe("compare", x, y, x_swapped=x_swapped)
    # on its training pairs (both views) the neutral probe's score has no linear relation with length at all
    scores = np.concatenate([neutral.model.decision(x, length), neutral.model.decision(x_swapped, -length)])
    assert abs(np.corrcoef(scores, np.concatenate([length, -length]))[0, 1]) < 1e-9
    # where length misleads (the longer response is always the worse one), only the neutral probe still judges
    tx, tx_swapped, ty, t_length = _length_confounded_views(400, rng, 0.0)

    def accuracy(model, neutral_model):
        p = pair_probability(model.decision(tx, t_length if neutral_model else None),
                             model.decision(tx_swapped, -t_length if neutral_model else None))
        return np.mean((p > 0.5) == (ty > 0.5))

    assert accuracy(plain.model, False) < 0.5 < 0.75 < accuracy(neutral.model, True)
    with pytest.raises(ProbeError, match="length ratio"):
        neutral.model.decision(tx)
    with pytest.raises(ProbeError, match="only a pairwise probe"):
        fit_probe("binary", x, y, length=length)


def test_length_ratio_is_antisymmetric():
    assert length_ratio("abc", "a") == -length_ratio("a", "abc") > 0
    assert length_ratio("", "") == 0.0


# -- views -------------------------------------------------------------------------------

def test_requests_are_matched_to_the_protocol_they_were_rendered_by():
    protocol = PairwiseProtocol()
    item = Item(id="x", input="Q [Response A] tricky", candidates=["first", "second"], reference="ref")
    fields = match_request(protocol.render(item, 1), skeletons(protocol))
    assert fields == {"input": "Q [Response A] tricky", "reference": "ref", "response_a": "second",
                      "response_b": "first"}
    other = PairwiseProtocol(criteria="Prefer the shorter response.")
    assert match_request(other.render(item, 0), skeletons(protocol)) is None


# -- the probe as a judge ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    source = FakeFeatures()
    learned = learn(_pairs(120), PairwiseProtocol(), source, folds=5)
    directory = save_probe(tmp_path_factory.mktemp("learn") / "probe", learned.card, learned.model)
    return directory, learned, source


def test_pairwise_probe_learns_the_rule_and_round_trips(fitted):
    directory, learned, source = fitted
    assert learned.card.cv["calibrated"]["accuracy"] > 0.95
    assert learned.card.data["n"] == 120 and learned.card.data["balance"] == {"A": 60, "B": 60}
    card, model = load_probe(directory)
    assert card.hash == learned.card.hash
    x = np.random.default_rng(3).normal(size=(5, 4))
    assert np.array_equal(model.decision(x), learned.model.decision(x))
    backend = ProbeBackend(directory, source=source)
    assert backend.spec == f"probe:{learned.card.hash[:16]}"


def test_probe_verdicts_are_exact_mirrors_under_swap(fitted):
    directory, _, source = fitted
    judge = Judge(ProbeBackend(directory, source=source), PairwiseProtocol(), Swap())
    for item in _pairs(6, seed=9):
        mirrored = item.model_copy(update={"candidates": item.candidates[::-1]})
        forward, backward = asyncio.run(judge.ajudge(item)), asyncio.run(judge.ajudge(mirrored))
        assert forward.status == backward.status == "scored"
        assert forward.p_a == backward.p_b and forward.p_b == backward.p_a
        assert forward.preference == item.label


def test_a_length_neutral_probe_round_trips_and_judges_through_the_fields(tmp_path):
    # the fake features are the word-count difference: "the longer response is better" is all there is to
    # learn, and a length-neutral probe must not learn it
    source = FakeFeatures()
    plain = learn(_pairs(120), PairwiseProtocol(), source, folds=5)
    neutral = learn(_pairs(120), PairwiseProtocol(), source, folds=5, length_neutral=True)
    assert plain.card.cv["calibrated"]["accuracy"] > 0.95
    assert neutral.card.cv["calibrated"]["accuracy"] < 0.65 and neutral.card.features["length_neutral"] is True
    directory = save_probe(tmp_path / "neutral", neutral.card, neutral.model)
    card, model = load_probe(directory)
    assert np.array_equal(model.length_slope, neutral.model.length_slope) and card.hash == neutral.card.hash
    judge = Judge(ProbeBackend(directory, source=source), PairwiseProtocol(), Swap())
    item = _pairs(1, seed=5)[0]
    mirrored = item.model_copy(update={"candidates": item.candidates[::-1]})
    forward, backward = asyncio.run(judge.ajudge(item)), asyncio.run(judge.ajudge(mirrored))
    assert forward.status == "scored" and forward.p_a == backward.p_b
    with pytest.raises(ProbeError, match="pairwise"):
        learn(_pairs(20), PointwiseProtocol(scale="pass/fail"), source, length_neutral=True)


def test_probe_refuses_another_base_model(fitted):
    directory, _, _ = fitted
    with pytest.raises(ProbeError, match="sha256"):
        ProbeBackend(directory, source=FakeFeatures(sha256="0" * 64))


def test_probe_refuses_requests_of_another_protocol(fitted):
    directory, _, source = fitted
    backend = ProbeBackend(directory, source=source)
    item = _pairs(1)[0]
    other = Judge(backend, PairwiseProtocol(criteria="Prefer the shorter response."), Single())
    verdict = asyncio.run(other.ajudge(item))
    assert verdict.status == "failed" and "not rendered by the protocol" in verdict.error
    pointwise = asyncio.run(Judge(backend, PointwiseProtocol(), Single()).ajudge(Item(id="s", input="q",
                                                                                       candidates=["r"])))
    assert pointwise.status == "failed" and "labels" in pointwise.error


def test_replaced_weights_are_detected(fitted, tmp_path):
    import shutil

    directory = shutil.copytree(fitted[0], tmp_path / "copy")
    np.savez(directory / "weights.npz", mean=np.zeros(4), scale=np.ones(4), coef=np.ones(4), intercept=np.zeros(1))
    with pytest.raises(ProbeError, match="sha256"):
        load_probe(directory)


def test_small_and_unbalanced_golden_sets_are_flagged(fitted):
    items = _pairs(40)
    unbalanced = [i for i in items if i.label == "A"] + [i for i in items if i.label == "B"][:3]
    learned = learn(unbalanced, PairwiseProtocol(), FakeFeatures(), folds=3)
    text = " ".join(learned.card.warnings)
    assert "only 23 labelled items" in text and "unbalanced labels" in text
    assert fitted[1].card.warnings == []  # 120 balanced pairs: nothing to warn about


def test_pass_fail_probe_on_reference_items(tmp_path):
    rng = np.random.default_rng(4)
    items = []
    for i in range(60):
        ok = bool(rng.random() < 0.5)
        items.append(Item(id=f"r{i}", input=f"what is {i}?", reference=f"answer{i}",
                          candidates=[f"It is answer{i}." if ok else "It is unknown."], label="pass" if ok else "fail"))
    protocol = PointwiseProtocol(scale="pass/fail")
    learned = learn(items, protocol, FakeFeatures())
    assert learned.card.kind == "binary" and learned.card.cv["calibrated"]["accuracy"] > 0.9
    save_probe(tmp_path / "rp", learned.card, learned.model)
    verdict = asyncio.run(Judge(ProbeBackend(tmp_path / "rp", source=FakeFeatures()), protocol, Single())
                          .ajudge(items[0]))
    assert verdict.status == "scored" and verdict.top_label == items[0].label


# -- the CLI ---------------------------------------------------------------------------------

def _write_golden(path, items):
    with path.open("w") as handle:
        for item in items:
            handle.write(json.dumps({"id": item.id, "input": item.input, "response_a": item.candidates[0],
                                     "response_b": item.candidates[1], "label": item.label}) + "\n")


def _fake_cli_data(tmp_path, monkeypatch):
    """`jurist learn` reading FakeFeatures instead of a model; a golden file of 60 pairs, a test file of 8."""
    source = FakeFeatures()
    monkeypatch.setattr(learner_module, "make_features", lambda base, layer=None: source)
    golden, test = tmp_path / "golden.jsonl", tmp_path / "test.jsonl"
    _write_golden(golden, _pairs(60))
    _write_golden(test, _pairs(8, seed=5))
    return golden, test


def test_cli_learn_then_compare_with_the_probe(tmp_path, monkeypatch):
    golden, test = _fake_cli_data(tmp_path, monkeypatch)
    result = runner.invoke(app, ["learn", str(golden), "--out", str(tmp_path / "judge"), "--folds", "3"])
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output and "only 60 labelled items" in result.output
    card = json.loads((tmp_path / "judge" / "card.json").read_text())
    assert card["data"]["n"] == 60 and card["cv"]["calibrated"]["n"] == 60
    out = tmp_path / "verdicts.jsonl"
    judged = runner.invoke(app, ["compare", str(test), "--judge", f"probe:{tmp_path / 'judge'}",
                                 "--store", str(tmp_path / "runs.db"), "--out", str(out)])
    assert judged.exit_code == 0, judged.output
    judgments = read_judgments(out)
    assert len(judgments) == 8 and all(j.verdict.preference == j.label for j in judgments)
    refused = runner.invoke(app, ["compare", str(test), "--judge", f"probe:{tmp_path / 'judge'}", "--no-swap",
                                  "--store", str(tmp_path / "runs.db")])
    assert refused.exit_code != 0 and "--no-swap" in refused.output
    # a task or criteria the probe was not fitted for stops before the run, with the probe's reason
    other = runner.invoke(app, ["compare", str(test), "--judge", f"probe:{tmp_path / 'judge'}",
                                "--criteria", "Prefer the shorter response.", "--store", str(tmp_path / "runs.db")])
    assert other.exit_code != 0 and "not rendered by the protocol this probe was fitted for" in other.output
    assert len(read_judgments(out)) == 8  # nothing was judged or overwritten


def test_cli_learn_a_mass_mean_probe_records_it_and_judges_through_it(tmp_path, monkeypatch):
    golden, test = _fake_cli_data(tmp_path, monkeypatch)
    result = runner.invoke(app, ["learn", str(golden), "--out", str(tmp_path / "judge"), "--folds", "3",
                                 "--estimator", "mass-mean"])
    assert result.exit_code == 0, result.output
    assert "mass-mean" in result.output
    card = json.loads((tmp_path / "judge" / "card.json").read_text())
    assert card["features"]["estimator"] == "mass-mean" and card["regularisation"] == 0.0
    assert card["cv"]["calibrated"]["accuracy"] > 0.9  # the length rule of FakeFeatures, read out of fold
    judged = runner.invoke(app, ["compare", str(test), "--judge", f"probe:{tmp_path / 'judge'}",
                                 "--store", str(tmp_path / "runs.db"), "--out", str(tmp_path / "v.jsonl")])
    assert judged.exit_code == 0, judged.output
    assert all(j.verdict.preference == j.label for j in read_judgments(tmp_path / "v.jsonl"))


def test_cli_learn_refuses_an_unknown_estimator_and_a_mass_mean_scale(tmp_path):
    golden = tmp_path / "golden.jsonl"
    _write_golden(golden, _pairs(20))
    unknown = runner.invoke(app, ["learn", str(golden), "--out", str(tmp_path / "j"), "--estimator", "svm"])
    assert unknown.exit_code == 2 and "--estimator" in unknown.output and "'svm'" in unknown.output
    with pytest.raises(ProbeError, match="not a scale"):
        fit_probe("score", np.zeros((20, 2)), np.arange(20.0), estimator="mass-mean")
    with pytest.raises(ProbeError, match="unknown estimator 'svm': use logistic or mass-mean"):
        fit_probe("compare", np.zeros((20, 2)), np.arange(20.0) % 2, estimator="svm")  # type: ignore[arg-type]


def test_cli_learn_rejects_an_unknown_base(tmp_path):
    golden = tmp_path / "golden.jsonl"
    _write_golden(golden, _pairs(20))
    result = runner.invoke(app, ["learn", str(golden), "--out", str(tmp_path / "j"), "--base", "gpt-9"])
    assert result.exit_code == 2 and "unknown base" in result.output


# -- the real embedded model -----------------------------------------------------------------

@pytest.mark.model
def test_probe_on_the_embedded_model_end_to_end(tmp_path):
    """Fit on 12 real MT-Bench pairs, then judge 3 others through --judge probe:DIR."""
    golden = EXAMPLES / "mt_bench_pairs.jsonl"
    lines = golden.read_text().splitlines()
    (tmp_path / "golden.jsonl").write_text("\n".join(lines[:12]) + "\n")
    (tmp_path / "test.jsonl").write_text("\n".join(lines[12:15]) + "\n")
    result = runner.invoke(app, ["learn", str(tmp_path / "golden.jsonl"), "--out", str(tmp_path / "judge"),
                                 "--folds", "2"])
    assert result.exit_code == 0, result.output
    card = json.loads((tmp_path / "judge" / "card.json").read_text())
    from jurist.backends.models import MODELS

    assert card["base"]["sha256"] == MODELS["0.5b"].sha256
    assert card["features"]["dimension"] == 896 + 2  # last hidden state + log P(A), log P(B)
    out = tmp_path / "verdicts.jsonl"
    judged = runner.invoke(app, ["compare", str(tmp_path / "test.jsonl"), "--judge", f"probe:{tmp_path / 'judge'}",
                                 "--store", str(tmp_path / "runs.db"), "--out", str(out)])
    assert judged.exit_code == 0, judged.output
    judgments = read_judgments(out)
    assert len(judgments) == 3 and all(j.verdict.status == "scored" for j in judgments)
    assert all(j.verdict.p_a + j.verdict.p_b == pytest.approx(1.0) for j in judgments)
    assert all(j.judge.startswith("probe:") for j in judgments)


# -- the encoder judge -------------------------------------------------------------------------

def test_numpy_minilm_reproduces_the_published_sentence_transformers_similarities():
    """sentence-transformers documents these cosines for all-MiniLM-L6-v2: 0.6660, 0.1046, 0.1411."""
    from jurist.learn.encoder import MiniLM

    encoder = MiniLM()
    sentences = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    e = np.array([encoder.embed(s) for s in sentences])
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    similarity = e @ e.T
    assert similarity[0, 1] == pytest.approx(0.6660, abs=5e-4)
    assert similarity[0, 2] == pytest.approx(0.1046, abs=5e-4)
    assert similarity[1, 2] == pytest.approx(0.1411, abs=5e-4)


FACTS = [("capital of France", "Paris"), ("largest planet", "Jupiter"), ("author of Hamlet", "Shakespeare"),
         ("boiling point of water at sea level", "100 degrees Celsius"), ("chemical symbol of gold", "Au"),
         ("speed of light", "about 300,000 km per second"), ("first man on the moon", "Neil Armstrong"),
         ("square root of 81", "9"), ("painter of the Mona Lisa", "Leonardo da Vinci"),
         ("currency of Japan", "the yen"), ("longest river in Africa", "the Nile"),
         ("freezing point of water", "0 degrees Celsius"), ("inventor of the telephone", "Alexander Graham Bell"),
         ("tallest mountain", "Mount Everest")]


def test_cli_learn_encoder_judge_on_reference_items(tmp_path):
    golden, test = tmp_path / "golden.jsonl", tmp_path / "test.jsonl"
    rows = []
    for i, (question, answer) in enumerate(FACTS):
        wrong = FACTS[(i + 5) % len(FACTS)][1]
        rows.append({"id": f"{i}-ok", "input": f"What is the {question}?", "reference": f"The answer is {answer}.",
                     "response": f"It is {answer}.", "label": 1})
        rows.append({"id": f"{i}-bad", "input": f"What is the {question}?", "reference": f"The answer is {answer}.",
                     "response": f"It is {wrong}.", "label": 0})
    golden.write_text("".join(json.dumps(r) + "\n" for r in rows[:20]))
    test.write_text("".join(json.dumps(r) + "\n" for r in rows[20:]))
    result = runner.invoke(app, ["learn", str(golden), "--base", "encoder", "--protocol", "score", "--scale",
                                 "pass/fail", "--out", str(tmp_path / "enc"), "--folds", "4"])
    assert result.exit_code == 0, result.output
    card = json.loads((tmp_path / "enc" / "card.json").read_text())
    assert card["kind"] == "binary" and card["features"]["dimension"] == 4 * 384 + 1
    out = tmp_path / "scores.jsonl"
    judged = runner.invoke(app, ["score", str(test), "--judge", f"probe:{tmp_path / 'enc'}", "--scale", "pass/fail",
                                 "--store", str(tmp_path / "runs.db"), "--out", str(out)])
    assert judged.exit_code == 0, judged.output
    judgments = read_judgments(out)
    assert len(judgments) == 8
    assert sum(j.verdict.top_label == ("pass" if j.label == 1 else "fail") for j in judgments) >= 7
    no_reference = runner.invoke(app, ["learn", str(EXAMPLES / "summeval_sample.jsonl"), "--base", "encoder",
                                       "--protocol", "score", "--out", str(tmp_path / "x")])
    assert no_reference.exit_code == 2 and "reference" in no_reference.output


# -- the layer tap (llama.cpp's eval callback) --------------------------------------------------

def test_a_layer_tap_that_saw_no_tensor_is_an_error_not_zeros():
    from jurist.backends.base import BackendError
    from jurist.learn.layers import LayerTap

    tap = LayerTap(n_layer=2, n_embd=4)
    with tap.armed_for():
        pass  # no evaluation: nothing was copied
    with pytest.raises(BackendError, match="no tensor for layers"):
        tap.collect()


@pytest.mark.model
def test_the_layer_tap_reads_every_layer_and_the_same_last_state():
    """cb_eval extraction: the last row equals the existing extraction's hidden state, bit for bit."""
    import numpy as np

    from jurist.backends.embedded import EmbeddedBackend
    from jurist.io import load_items
    from jurist.learn.features import LlamaFeatureExtractor
    from jurist.protocols import PairwiseProtocol

    items = load_items(EXAMPLES / "mt_bench_pairs.jsonl", task="compare").items[:2]
    requests = [PairwiseProtocol().render(item, view) for item in items for view in (0, 1)]
    backend = EmbeddedBackend(n_ctx=2048)
    try:
        plain = [LlamaFeatureExtractor(backend).extract(r) for r in requests]
        tapped_extractor = LlamaFeatureExtractor(backend, layers=True)
        tapped = [tapped_extractor.extract(r) for r in requests]
        again = tapped_extractor.extract(requests[0])  # after other prompts: the KV-cache reuse changes nothing
    finally:
        backend.llm.close()
    n_layer = int(backend.llm.metadata["qwen2.block_count"])
    for before, after in zip(plain, tapped):
        assert after.layers.shape == (n_layer + 1, 896)
        assert np.array_equal(after.layers[-1], before.hidden)
        assert np.array_equal(after.hidden, before.hidden)
        assert after.label_logprobs == before.label_logprobs  # the armed tap does not change the computation
        assert np.isfinite(after.layers).all()
        # the residual stream changes from layer to layer (not one row copied everywhere)
        assert min(float(np.abs(a - b).max()) for a, b in zip(after.layers[:-2], after.layers[1:-1])) > 0
    assert not np.array_equal(tapped[0].layers[n_layer // 2], tapped[1].layers[n_layer // 2])  # other prompt
    assert np.array_equal(again.layers, tapped[0].layers)
