"""Juries: several judges on the same items, aggregated, with disagreement and flags."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from jurist.backends.scripted import ScriptedBackend
from jurist.cli import app
from jurist.engine import Engine, Store
from jurist.judge import Judge
from jurist.protocols import PairwiseProtocol, PointwiseProtocol
from jurist.strategies.jury import Jury, JuryWeights, aggregate, fit_weights
from jurist.types import CompletionRequest, Item, Verdict

GOOD, BAD = "The capital of France is Paris.", "Bananas are yellow."


def pair_judge(p_good: float):
    """A scripted pairwise judge giving the good response probability ``p_good`` in whichever slot it is shown."""

    def script(request: CompletionRequest) -> dict[str, float]:
        text = request.messages[-1].content
        good_first = text.index(GOOD) < text.index(BAD)
        return {"A": p_good, "B": 1 - p_good} if good_first else {"A": 1 - p_good, "B": p_good}

    return script


def items(n: int = 3) -> list[Item]:
    return [Item(id=f"i{k}", input=f"Question {k}: what is the capital of France?",
                 candidates=[GOOD, BAD] if k % 2 == 0 else [BAD, GOOD], label="A" if k % 2 == 0 else "B")
            for k in range(n)]


def jury_of(*p_goods: float, how: str = "mean", weights: JuryWeights | None = None, **kw) -> tuple[Jury, list]:
    backends = [ScriptedBackend(pair_judge(p), spec=f"judge{k}") for k, p in enumerate(p_goods)]
    members = [Judge(b, PairwiseProtocol()) for b in backends]
    return Jury(members, how, weights, **kw), backends  # type: ignore[arg-type]


def test_mean_jury_runs_through_the_engine_with_each_member_cached(tmp_path):
    jury, backends = jury_of(0.9, 0.3)
    store = Store(tmp_path / "runs.db")
    result = Engine(jury, store).run(items())
    assert [len(b.calls) for b in backends] == [6, 6]  # 3 items x both orders, per member
    for judgment in result.judgments:
        v = judgment.verdict
        assert v.ok and judgment.judge == "jury(judge0,judge1)"
        p_good = v.p_a if judgment.label == "A" else v.p_b
        assert p_good == pytest.approx(0.6)  # mean of 0.9 and 0.3
        assert v.preference == judgment.label
        assert [len(p.parts) for p in v.parts] == [2, 2]  # each member ran both orders
        assert v.metadata["members"] == ["judge0", "judge1"]
        assert v.metadata["flagged"] is True  # the members prefer different responses
        assert v.metadata["disagreement"]["p_std"] == pytest.approx(0.3)
        assert v.metadata["disagreement"]["vote_entropy"] == pytest.approx(1.0)
    rows = dict(result.summary().rows())
    assert rows["flagged (members disagree)"] == "3 of 3"
    assert rows["accuracy (judge0 alone)"].startswith("1.000")
    assert rows["accuracy (judge1 alone)"].startswith("0.000")
    assert "Krippendorff's alpha (members)" in rows
    assert not any(name.startswith("accuracy (order") for name in rows)  # parts are members, not orders
    again = Engine(jury, store).run(items())
    assert [len(b.calls) for b in backends] == [6, 6] and again.stats["cache_hits"] == 12


def test_unanimous_jury_is_not_flagged_and_majority_split_is_an_explicit_tie():
    jury, _ = jury_of(0.8, 0.7)
    v = Engine(jury).run(items(1)).judgments[0].verdict
    assert v.metadata["flagged"] is False and v.metadata["disagreement"]["vote_entropy"] == 0.0
    split, _ = jury_of(0.9, 0.2, how="majority")
    v = Engine(split).run(items(1)).judgments[0].verdict
    assert v.preference == "tie" and v.metadata["vote_tie"] is True and v.p_a == v.p_b == 0.5
    three, _ = jury_of(0.9, 0.2, 0.6, how="majority")
    v = Engine(three).run(items(1)).judgments[0].verdict
    assert v.preference == "A" and v.metadata["vote_tie"] is False and v.p_a == pytest.approx(2 / 3)


def test_flag_threshold_flags_large_spread_even_when_the_votes_agree():
    jury, _ = jury_of(0.95, 0.55, flag_threshold=0.1)
    v = Engine(jury).run(items(1)).judgments[0].verdict
    assert v.metadata["flagged"] is True and v.metadata["votes"] == ["A", "A"]


def test_a_failed_member_fails_the_jury_verdict_and_names_the_member():
    def broken(request):
        return "no label here"

    members = [Judge(ScriptedBackend(pair_judge(0.9), spec="good"), PairwiseProtocol()),
               Judge(ScriptedBackend(broken, spec="mute"), PairwiseProtocol())]
    v = Engine(Jury(members)).run(items(1)).judgments[0].verdict
    assert v.status == "unscored" and "jury member mute" in v.error and len(v.parts) == 2


def _verdict(p_a: float) -> Verdict:
    return Verdict(status="scored", kind="compare", method="logprobs", p_a=p_a, p_b=1 - p_a,
                   preference="A" if p_a > 0.5 else "B", top_label="A" if p_a > 0.5 else "B",
                   distribution={"A": p_a, "B": 1 - p_a})


def test_learned_weights_favour_the_informative_judge_and_round_trip(tmp_path):
    import numpy as np

    rng = np.random.default_rng(1)
    parts, labels = [], []
    for _ in range(200):
        label = rng.choice(["A", "B"])
        informative = 0.75 if label == "A" else 0.25
        parts.append([_verdict(float(rng.uniform(0.2, 0.8))), _verdict(informative + float(rng.normal(0, 0.05)))])
        labels.append(str(label))
    weights = fit_weights(parts, labels, ["noise", "oracle"], "compare")
    assert weights.coef[1] > 5 * abs(weights.coef[0])
    path = tmp_path / "w.json"
    weights.save(path)
    loaded = JuryWeights.load(path)
    assert loaded == weights
    v = aggregate([_verdict(0.9), _verdict(0.3)], ["noise", "oracle"], "learned", loaded)
    assert v.preference == "B"  # the noise judge's confident A is outweighed
    assert aggregate([_verdict(0.9), _verdict(0.3)], ["noise", "oracle"], "mean").preference == "A"
    path.write_text(json.dumps({"kind": "something"}))
    with pytest.raises(ValueError, match="w.json: not a jury weights file"):
        JuryWeights.load(path)


def test_score_jury_mean_and_learned():
    def scorer(label: str):
        return lambda request: {label: 0.9, "1": 0.1} if label != "1" else {"1": 1.0}

    members = [Judge(ScriptedBackend(scorer("5"), spec="hi"), PointwiseProtocol()),
               Judge(ScriptedBackend(scorer("3"), spec="mid"), PointwiseProtocol())]
    item = Item(id="s", input="q", candidates=["r"], label=4.0)
    v = Engine(Jury(members)).run([item]).judgments[0].verdict
    assert v.kind == "score" and v.score == pytest.approx((4.6 + 2.8) / 2)
    assert v.metadata["disagreement"]["score_std"] == pytest.approx(0.9) and v.metadata["flagged"] is True
    weights = JuryWeights(task="score", members=["hi", "mid"], intercept=1.0, coef=[0.0, 1.0], n=10)
    v = Engine(Jury(members, "learned", weights)).run([item]).judgments[0].verdict
    assert v.score == pytest.approx(3.8)


def test_jury_rejects_bad_setups():
    one = Judge(ScriptedBackend(pair_judge(0.9), spec="a"), PairwiseProtocol())
    with pytest.raises(ValueError, match="at least 2"):
        Jury([one])
    with pytest.raises(ValueError, match="distinct"):
        Jury([one, Judge(ScriptedBackend(pair_judge(0.9), spec="a"), PairwiseProtocol())])
    other = Judge(ScriptedBackend(pair_judge(0.9), spec="b"), PairwiseProtocol(criteria="Shorter is better."))
    with pytest.raises(ValueError, match="same protocol"):
        Jury([one, other])
    two = Judge(ScriptedBackend(pair_judge(0.9), spec="b"), PairwiseProtocol())
    with pytest.raises(ValueError, match="needs weights"):
        Jury([one, two], "learned")
    wrong = JuryWeights(task="compare", members=["x", "y"], intercept=0, coef=[1, 1], n=5)
    with pytest.raises(ValueError, match="fitted for the jury"):
        Jury([one, two], "learned", wrong)


def test_a_jury_of_wordings_renders_each_member_in_its_own_template_and_averages_them():
    from jurist.protocols.base import builtin_template

    wordings = ["pairwise.j2", "pairwise_plain.j2", "pairwise_question_last.j2"]
    seen: dict[str, list[str]] = {}

    def reader(name: str, p_good: float):
        script = pair_judge(p_good)

        def read(request: CompletionRequest) -> dict[str, float]:
            seen.setdefault(name, []).append(request.messages[-1].content)
            return script(request)

        return read

    members = [Judge(ScriptedBackend(reader(w, p), spec=w), PairwiseProtocol(template=builtin_template(w)))
               for w, p in zip(wordings, (0.9, 0.6, 0.3), strict=True)]
    result = Engine(Jury(members)).run(items(2))
    for judgment in result.judgments:
        p_good = judgment.verdict.p_a if judgment.label == "A" else judgment.verdict.p_b
        assert p_good == pytest.approx(0.6)  # the mean of 0.9, 0.6 and 0.3
    prompts = {name: texts[0] for name, texts in seen.items()}
    assert len(prompts) == 3 and len(set(prompts.values())) == 3  # each member read its own wording
    # the question is last only in the question-last wording
    assert prompts["pairwise_question_last.j2"].index(GOOD) < prompts["pairwise_question_last.j2"].index("Question 0")
    assert prompts["pairwise.j2"].index("Question 0") < prompts["pairwise.j2"].index(GOOD)


def test_a_jury_may_differ_in_wording_but_not_in_what_it_asks():
    plain = Judge(ScriptedBackend(pair_judge(0.9), spec="a"),
                  PairwiseProtocol(template=PairwiseProtocol().template.replace("Which response", "Which answer")))
    Jury([plain, Judge(ScriptedBackend(pair_judge(0.9), spec="b"), PairwiseProtocol())])  # wording alone: accepted
    for other in (PairwiseProtocol(allow_tie=True), PairwiseProtocol(criteria="Shorter is better.")):
        with pytest.raises(ValueError, match="only the template may differ"):
            Jury([plain, Judge(ScriptedBackend(pair_judge(0.9), spec="b"), other)])


def test_cli_jury_options_fail_clearly(tmp_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text(json.dumps({"input": "q", "response_a": "a", "response_b": "b"}) + "\n")
    runner = CliRunner()
    result = runner.invoke(app, ["compare", str(data), "--jury", "local", "--store", str(tmp_path / "r.db")])
    assert result.exit_code == 2 and "at least two judges" in result.output
    result = runner.invoke(app, ["compare", str(data), "--jury", "local,local:1.5b", "--set", "judge.aggregate=learned",
                                 "--store", str(tmp_path / "r.db")])
    assert result.exit_code == 2 and "needs --set judge.weights=" in " ".join(result.output.split())
    bad = tmp_path / "w.json"
    bad.write_text("{not json")
    result = runner.invoke(app, ["compare", str(data), "--jury", "local,local:1.5b", "--set", "judge.aggregate=learned",
                                 "--set", f"judge.weights={bad}", "--store", str(tmp_path / "r.db")])
    said = " ".join(result.output.split())  # rich wraps long paths
    assert result.exit_code == 2 and "w.json: not JSON (line 1" in said
    result = runner.invoke(app, ["compare", str(data), "--jury", "local,local:1.5b", "--cascade", "c.json",
                                 "--store", str(tmp_path / "r.db")])
    assert result.exit_code == 2 and "--jury and --cascade are two ways to combine judges" in result.output


@pytest.mark.model
def test_jury_of_the_two_local_judges_on_the_cli(tmp_path):
    """The 0.5B and 1.5B embedded judges as a jury on 2 pairs; the per-member verdicts are kept."""
    from jurist.io import read_judgments

    from .conftest import EXAMPLES

    out = tmp_path / "v.jsonl"
    result = CliRunner().invoke(app, ["compare", str(EXAMPLES / "mt_bench_pairs.jsonl"), "--limit", "2",
                                      "--jury", "local,local:1.5b", "--store", str(tmp_path / "r.db"),
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Krippendorff's alpha (members)" in result.output
    judgments = read_judgments(out)
    assert len(judgments) == 2
    for j in judgments:
        v = j.verdict
        assert v.ok and len(v.parts) == 2 and all(p.ok and len(p.parts) == 2 for p in v.parts)
        assert v.p_a == pytest.approx((v.parts[0].p_a + v.parts[1].p_a) / 2)
        assert isinstance(v.metadata["flagged"], bool)


def test_jury_fit_then_learned_jury_on_the_cli_with_two_http_judges(tmp_path):
    """Two OpenAI-compatible judges on loopback: one reads quality, one answers at random."""
    import random

    from jurist.testing import MockOpenAIServer

    def informative(messages):
        text = messages[-1]["content"]
        good_first = text.index("GOOD") < text.index("POOR")
        return {"A": 0.8, "B": 0.2} if good_first else {"A": 0.2, "B": 0.8}

    def noisy(messages):
        p = random.Random(messages[-1]["content"]).uniform(0.05, 0.95)
        return {"A": p, "B": 1 - p}

    golden = tmp_path / "golden.jsonl"
    rows = []
    for k in range(30):
        good, poor = f"GOOD answer {k}", f"POOR answer {k}"
        a_good = k % 3 != 0
        rows.append({"id": f"g{k}", "input": f"question {k}", "response_a": good if a_good else poor,
                     "response_b": poor if a_good else good, "label": "A" if a_good else "B"})
    golden.write_text("".join(json.dumps(r) + "\n" for r in rows))
    weights = tmp_path / "weights.json"
    runner = CliRunner()
    with MockOpenAIServer(informative) as one, MockOpenAIServer(noisy) as two:
        jury = f"{one.base_url},{two.base_url}"
        fitted = runner.invoke(app, ["jury-fit", str(golden), "--jury", jury, "--model", "m", "--out", str(weights),
                                     "--store", str(tmp_path / "r.db")])
        assert fitted.exit_code == 0, fitted.output
        assert "5-fold CV" in fitted.output and "golden items used" in fitted.output
        loaded = JuryWeights.load(weights)
        assert loaded.n == 30 and loaded.coef[0] > 3 * abs(loaded.coef[1])
        used = runner.invoke(app, ["compare", str(golden), "--jury", jury, "--model", "m", "--set", "judge.aggregate=learned",
                                   "--set", f"judge.weights={weights}", "--store", str(tmp_path / "r.db")])
        assert used.exit_code == 0, used.output
        assert "accuracy" in used.output and "0 / 120" in used.output  # every request came from the cache
        swapped = runner.invoke(app, ["compare", str(golden), "--jury", f"{two.base_url},{one.base_url}",
                                      "--model", "m", "--set", "judge.aggregate=learned", "--set", f"judge.weights={weights}",
                                      "--store", str(tmp_path / "r.db")])
        assert swapped.exit_code == 2 and "fitted for the jury" in " ".join(swapped.output.split())
