"""The escalation cascade: Learn-then-Test thresholds, the guarantee by simulation, the runner, the CLI."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from jurist.backends import ScriptedBackend
from jurist.cli import app
from jurist.engine import EngineConfig, Store
from jurist.io import read_judgments
from jurist.protocols import PairwiseProtocol
from jurist.strategies.cascade import (
    CascadeSpec,
    Stage,
    SyntheticJudge,
    calibrate_chain,
    evaluate_cascade,
    fit_cascade,
    fit_stage,
    load_cascade,
    min_accept,
    run_cascade,
    simulate_cascade,
)
from jurist.testing import MockOpenAIServer
from jurist.types import Item

runner = CliRunner()


# ---------------------------------------------------------------- one stage


def test_min_accept_is_the_smallest_all_correct_sample_that_rejects():
    assert min_accept(0.9, 0.05) == 29  # 0.9^29 = 0.047 <= 0.05 < 0.9^28 = 0.052
    assert min_accept(0.8, 0.1) == 11
    for target, delta in [(0.9, 0.05), (0.7, 0.01), (0.95, 0.1)]:
        n = min_accept(target, delta)
        assert target**n <= delta < target ** (n - 1)
    with pytest.raises(ValueError, match="target"):
        min_accept(1.0, 0.05)
    with pytest.raises(ValueError, match="risk"):
        min_accept(0.9, 0.0)


def test_fit_stage_needs_enough_correct_items():
    conf = np.linspace(0.99, 0.6, 29)
    threshold, fit = fit_stage(conf, np.ones(29), target=0.9, delta=0.05)
    assert threshold == pytest.approx(0.6) and fit.accepted == 29 and fit.errors == 0
    assert fit.p_value == pytest.approx(0.9**29)
    threshold, fit = fit_stage(conf[:28], np.ones(28), target=0.9, delta=0.05)
    assert math.isinf(threshold) and fit.accepted == 0 and fit.p_value is None


def test_fit_stage_p_value_is_the_exact_binomial_tail():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.5, 1.0, 400)
    correct = (rng.random(400) < 0.5 + (conf - 0.5) * 1.6).astype(float)
    threshold, fit = fit_stage(conf, correct, target=0.85, delta=0.1)
    accepted = conf >= threshold
    errors = int((1 - correct[accepted]).sum())
    assert (fit.accepted, fit.errors) == (int(accepted.sum()), errors)
    assert fit.p_value == pytest.approx(stats.binomtest(errors, fit.accepted, 0.15, alternative="less").pvalue)
    assert fit.p_value <= 0.1


def test_fixed_sequence_stops_at_the_first_failure():
    # 60 confident and right, then a block of 25 wrong, then 400 right: the cumulative agreement
    # recovers at the loose end, but the sequence stops when it first fails and never gets there
    conf = np.linspace(1.0, 0.5, 485)
    correct = np.r_[np.ones(60), np.zeros(25), np.ones(400)]
    threshold, fit = fit_stage(conf, correct, target=0.9, delta=0.05)
    assert conf[70] <= threshold < conf[0]
    assert fit.accepted <= 70 and fit.errors <= 10
    loose = np.flatnonzero(stats.binom.cdf(np.cumsum(1 - correct), np.arange(1, 486), 0.1) <= 0.05)
    assert loose.max() == 484  # testing the loosest threshold alone would (wrongly) accept everything


def test_items_without_a_confidence_are_never_accepted():
    conf = np.r_[np.full(40, 0.9), np.full(10, np.nan)]
    threshold, fit = fit_stage(conf, np.ones(50), target=0.9, delta=0.05)
    assert threshold == 0.9 and fit.accepted == 40 and fit.n == 50


def test_evaluate_cascade_routes_items():
    c1 = np.array([0.95, 0.6, 0.7, np.nan, 0.55])
    c2 = np.array([0.5, 0.9, 0.6, 0.99, 0.7])
    y1 = np.array([1, 0, 1, 0, 1])
    y2 = np.array([0, 1, 1, 1, 0])
    out = evaluate_cascade([0.9, 0.8], [c1, c2], [y1, y2])
    assert out["decided"].tolist() == [0, 1, -1, 1, -1]
    assert out["stages"] == [{"reached": 5, "accepted": 1, "correct": 1}, {"reached": 4, "accepted": 2, "correct": 2}]
    assert (out["coverage"], out["human"], out["agreement"]) == (0.6, 2, 1.0)
    # without a human stage the last judge takes everything left
    assert evaluate_cascade([0.9, None], [c1, c2])["decided"].tolist() == [0, 1, 1, 1, 1]


def test_fit_cascade_splits_the_risk_over_stages_and_fits_later_stages_on_escalated_items():
    rng = np.random.default_rng(1)
    n = 600
    c1 = rng.uniform(0.5, 1, n)
    c2 = rng.uniform(0.5, 1, n)
    y1 = (rng.random(n) < c1).astype(float)
    y2 = (rng.random(n) < np.minimum(1, c2 + 0.1)).astype(float)
    thresholds, fits = fit_cascade([c1, c2], [y1, y2], target=0.85, risk=0.1)
    assert [f.delta for f in fits] == [0.05, 0.05]
    escalated = c1 < thresholds[0]
    assert fits[1].n == int(escalated.sum())
    t2, _ = fit_stage(c2[escalated], y2[escalated], target=0.85, delta=0.05)
    assert thresholds[1] == t2
    no_human, fits = fit_cascade([c1, c2], [y1, y2], target=0.85, risk=0.1, human=False)
    assert no_human[1] is None and fits[0].delta == 0.1


# ---------------------------------------------------------------- the guarantee, by simulation


@pytest.mark.parametrize(("name", "judges", "target", "risk"), [
    ("calibrated judge", [SyntheticJudge(a=2.0, b=1.2)], 0.85, 0.1),
    ("over-confident judge", [SyntheticJudge(a=3.0, b=1.0, slope=0.8, offset=0.05)], 0.85, 0.1),
    ("cheap judge then strong judge", [SyntheticJudge(a=3.0, b=1.0, slope=1.0, cost=1.0),
                                       SyntheticJudge(a=4.0, b=1.0, offset=0.04, cost=3.0)], 0.9, 0.05),
])
def test_simulated_guarantee_holds_over_many_golden_test_splits(name, judges, target, risk):
    """200 golden sets of 500 synthetic items: the fitted cascade misses the target in at most ~risk of them."""
    result = simulate_cascade(judges, target=target, risk=risk, n_golden=500, n_test=2000, splits=200,
                              pool=100_000, seed=1)
    slack = 2.5 * math.sqrt(risk * (1 - risk) / 200)  # binomial noise of a rate measured on 200 splits
    assert result.violation_rate <= risk + slack, result
    assert result.realised_violation_rate <= risk + slack, result
    assert result.mean_coverage > 0.05, result  # and it does decide things automatically
    assert result.mean_agreement >= target, result


def test_a_judge_that_cannot_reach_the_target_decides_nothing():
    # at best 0.8 right, asked for 0.9: every fit should escalate everything (up to the risk)
    result = simulate_cascade([SyntheticJudge(a=3, b=1, slope=0.6)], target=0.9, risk=0.05, splits=100,
                              pool=50_000, seed=2)
    assert result.no_decision_rate >= 0.9 and result.violation_rate <= 0.05 + 0.05


# ---------------------------------------------------------------- the cascade file


def test_cascade_file_round_trip_keeps_accept_nothing(tmp_path):
    spec = CascadeSpec(task="compare", target=0.9, risk=0.05,
                       stages=[Stage(judge="local", threshold=math.inf), Stage(judge="local:1.5b", threshold=0.7),
                               Stage(judge="human")])
    path = tmp_path / "cascade.json"
    spec.save(path)
    raw = json.loads(path.read_text())  # standard JSON: no Infinity literal
    assert raw["stages"][0]["threshold"] == "inf" and raw["stages"][2]["threshold"] is None
    loaded = load_cascade(path)
    assert math.isinf(loaded.stages[0].threshold) and loaded.stages[1].threshold == 0.7
    assert loaded.has_human and [s.judge for s in loaded.automatic] == ["local", "local:1.5b"]
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="bad.json: not a cascade file"):
        load_cascade(tmp_path / "bad.json")


# ---------------------------------------------------------------- running a chain (scripted judges)


def _items(n_sure1: int, n_sure2: int, n_unsure: int, seed: int = 0) -> list[Item]:
    """Pairs where one response is RIGHT; the input tells each scripted judge its confidence and mistakes."""
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n_sure1 + n_sure2 + n_unsure):
        c1, c2, wrong1, wrong2 = (0.97, 0.6, False, False) if i < n_sure1 else \
            (0.6, 0.95, bool(i % 2), False) if i < n_sure1 + n_sure2 else (0.55, 0.6, bool(i % 2), bool(i % 3 == 0))
        right_first = bool(rng.random() < 0.5)
        pair = ["RIGHT answer", "WRONG answer"] if right_first else ["WRONG answer", "RIGHT answer"]
        items.append(Item(id=f"q{i}", input=f"question {i} c1={c1} c2={c2} w1={int(wrong1)} w2={int(wrong2)}",
                          candidates=pair, label="A" if right_first else "B"))
    return items


def _script(stage: int):
    def answer(messages):
        text = messages[-1]["content"] if isinstance(messages[-1], dict) else messages[-1].content
        conf = float(re.search(rf"c{stage}=([\d.]+)", text).group(1))
        wrong = re.search(rf"w{stage}=(\d)", text).group(1) == "1"
        first_is_right = text.index("RIGHT answer") < text.index("WRONG answer")
        p_first = conf if first_is_right != wrong else 1 - conf
        return {"A": p_first, "B": 1 - p_first}
    return answer


def _backends():
    return {"j1": ScriptedBackend(lambda r: _script(1)([m.model_dump() for m in r.messages]), spec="j1"),
            "j2": ScriptedBackend(lambda r: _script(2)([m.model_dump() for m in r.messages]), spec="j2")}


def test_calibrate_then_run_a_chain_with_a_review_queue(tmp_path):
    store = Store(tmp_path / "runs.db")
    backends = _backends()
    config = EngineConfig(concurrency=4, progress=False)
    golden = _items(60, 40, 20)
    spec = calibrate_chain(golden, ["j1", "j2", "human"], protocol=PairwiseProtocol(), target=0.9, risk=0.1,
                           store=store, config=config, backends=backends, calibration="isotonic")
    assert [s.judge for s in spec.stages] == ["j1", "j2", "human"]
    assert spec.stages[0].threshold == pytest.approx(0.97) and spec.stages[0].fit.accepted == 60
    assert spec.stages[1].threshold == pytest.approx(0.95) and spec.stages[1].fit.accepted == 40
    assert spec.stages[0].fit.delta == 0.05  # risk split over two automatic stages
    assert spec.fitted_on["coverage"] == pytest.approx(100 / 120) and spec.fitted_on["human"] == 20
    assert len(backends["j2"].calls) == 2 * 60  # the strong judge only saw the 60 escalated pairs, both orders
    assert spec.stages[0].calibration["kind"] == "isotonic"
    path = tmp_path / "cascade.json"
    spec.save(path)

    test = _items(30, 20, 10, seed=1)
    result = run_cascade(load_cascade(path), test, protocol=PairwiseProtocol(), store=store, config=config,
                         backends=backends, name="cascade-test")
    report = result.judge_report
    assert [s.accepted for s in report.stages] == [30, 20] and [s.reached for s in report.stages] == [60, 30]
    assert report.queued == 10
    assert [j.item_id for j in result.judgments] == [item.id for item in test]  # input order
    by_stage = [j.metadata["cascade"]["decided_by"] for j in result.judgments]
    assert by_stage == ["j1"] * 30 + ["j2"] * 20 + ["human"] * 10
    assert result.judgments[35].metadata["cascade"]["confidences"] == pytest.approx([0.6, 0.95])
    assert "calibrated_confidence" in result.judgments[0].metadata
    assert sum(s.correct_accepted for s in report.stages) == 50  # the confident verdicts were all right
    # each stage's requests (both orders of every item that reached it), paid for or from the cache
    assert [s.model_calls + s.cache_hits for s in report.stages] == [120, 60]
    queue = store.review_queue(result.run.id)
    assert [e.item_id for e in queue] == [f"q{i}" for i in range(50, 60)]
    assert queue[0].confidences == pytest.approx({"j1": 0.55, "j2": 0.6}) and queue[0].item.candidates
    store.resolve_review(result.run.id, "q50", "A")
    assert len(store.review_queue(result.run.id)) == 9
    assert store.review_queue(result.run.id, status="resolved")[0].label == "A"
    stored = list(store.judgments(result.run.id))
    assert all("cascade" in j.metadata and "cascade" not in j.verdict.metadata for j in stored)
    assert len(stored) == 60 and store.find_run("cascade-test").judge["judge"] == "cascade:j1>j2>human"
    rows = dict(report.rows(len(result.judgments)))
    assert rows["coverage (decided automatically)"].startswith("50 (83.3%)")
    assert rows["human review queue"].startswith("10")

    # a re-run pays nothing: every stage's completions come from the store
    before = [len(b.calls) for b in backends.values()]
    again = run_cascade(load_cascade(path), test, protocol=PairwiseProtocol(), store=store, config=config,
                        backends=backends)
    assert [len(b.calls) for b in backends.values()] == before and again.judge_report.queued == 10


def test_a_cascade_fitted_for_pairs_refuses_to_score():
    from jurist.protocols import PointwiseProtocol

    spec = CascadeSpec(task="compare", target=0.9, risk=0.05, stages=[Stage(judge="j1", threshold=0.9)])
    with pytest.raises(ValueError, match="fitted for `jurist compare`"):
        run_cascade(spec, [], protocol=PointwiseProtocol())


def test_chain_validation():
    with pytest.raises(ValueError, match="only be the last"):
        calibrate_chain(_items(1, 0, 0), ["human", "j1"], protocol=PairwiseProtocol(), target=0.9, risk=0.05)
    with pytest.raises(ValueError, match="at least one automatic"):
        calibrate_chain(_items(1, 0, 0), ["human"], protocol=PairwiseProtocol(), target=0.9, risk=0.05)
    with pytest.raises(ValueError, match="no labelled"):
        calibrate_chain([Item(id="1", input="x", candidates=["a", "b"])], ["j1", "human"],
                        protocol=PairwiseProtocol(), target=0.9, risk=0.05, backends=_backends())


# ---------------------------------------------------------------- the command line (mock http judges)


def _write_jsonl(path, items):
    path.write_text("".join(json.dumps({"id": i.id, "input": i.input, "response_a": i.candidates[0],
                                        "response_b": i.candidates[1], "label": i.label}) + "\n" for i in items))


def test_cli_calibrate_then_compare_with_cascade_then_meta(tmp_path):
    golden, test = tmp_path / "golden.jsonl", tmp_path / "test.jsonl"
    _write_jsonl(golden, _items(30, 20, 10))
    _write_jsonl(test, _items(15, 10, 5, seed=1))
    store, cascade, verdicts = tmp_path / "runs.db", tmp_path / "cascade.json", tmp_path / "out.jsonl"
    with MockOpenAIServer(_script(1)) as s1, MockOpenAIServer(_script(2)) as s2:
        fitted = runner.invoke(app, ["calibrate", str(golden), "--chain", f"{s1.base_url},{s2.base_url},human",
                                     "--model", "mock", "--target-agreement", "0.85", "--risk", "0.2",
                                     "--store", str(store), "--out", str(cascade)])
        assert fitted.exit_code == 0, fitted.output
        assert "learn-then-test" in fitted.output and "83.3%" in fitted.output
        spec = load_cascade(cascade)
        assert spec.golden["labelled"] == 60 and len(spec.golden["sha256"]) == 64
        assert spec.stages[0].model == "mock" and spec.stages[1].threshold == pytest.approx(0.95)

        ran = runner.invoke(app, ["compare", str(test), "--cascade", str(cascade), "--store", str(store),
                                  "--out", str(verdicts)])
        assert ran.exit_code == 0, ran.output
        assert "human review queue" in ran.output and "5 items wait in the review queue" in ran.output
        judgments = read_judgments(verdicts)
        assert sum(j.metadata["cascade"]["decided_by"] == "human" for j in judgments) == 5

        wrong_task = runner.invoke(app, ["score", str(test), "--cascade", str(cascade), "--store", str(store)])
        assert wrong_task.exit_code == 2 and "fitted for `jurist compare`" in wrong_task.output

    report = runner.invoke(app, ["meta", str(verdicts)])
    assert report.exit_code == 0, report.output
    assert "accuracy" in report.output and "ECE" in report.output
    run_id = re.search(r"run ([0-9a-f]{12})", ran.output).group(1)
    by_run = runner.invoke(app, ["meta", run_id, "--store", str(store)])
    assert by_run.exit_code == 0 and "Brier" in by_run.output
    missing = runner.invoke(app, ["meta", "nope", "--store", str(store)])
    assert missing.exit_code == 2 and "neither a judgments file nor a run" in missing.output


def test_a_pointwise_cascade_uses_the_top_score():
    from jurist.protocols import PointwiseProtocol

    def script(request):
        text = request.messages[-1].content
        score, conf = re.search(r"s=(\d) c=([\d.]+)", text).groups()
        rest = (1 - float(conf)) / 4
        return {str(k): float(conf) if str(k) == score else rest for k in range(1, 6)}

    items = [Item(id=str(i), input=f"q{i} s={1 + i % 5} c={0.9 if i < 40 else 0.3}", candidates=["answer"],
                  label=float(1 + i % 5) if i < 40 or i % 2 else float(1 + (i + 1) % 5)) for i in range(60)]
    backends = {"s1": ScriptedBackend(script, spec="s1")}
    spec = calibrate_chain(items, ["s1", "human"], protocol=PointwiseProtocol(), target=0.9, risk=0.05,
                           backends=backends, config=EngineConfig(concurrency=4, progress=False))
    assert spec.task == "score" and spec.stages[0].threshold == pytest.approx(0.9)
    assert spec.stages[0].fit.accepted == 40 and spec.stages[0].fit.errors == 0
    result = run_cascade(spec, items, protocol=PointwiseProtocol(), backends=backends,
                         config=EngineConfig(concurrency=4, progress=False))
    assert result.judge_report.queued == 20 and result.judge_report.stages[0].correct_accepted == 40


def test_a_stage_without_a_certified_threshold_is_not_run():
    backends = _backends()
    spec = CascadeSpec(task="compare", target=0.9, risk=0.1,
                       stages=[Stage(judge="j1", threshold=0.96), Stage(judge="j2", threshold=math.inf),
                               Stage(judge="human")])
    result = run_cascade(spec, _items(3, 2, 1), protocol=PairwiseProtocol(), backends=backends,
                         config=EngineConfig(concurrency=2, progress=False))
    report = result.judge_report
    assert backends["j2"].calls == [] and report.stages[1].reached == 3 and report.stages[1].accepted == 0
    assert report.queued == 3
    assert result.judgments[4].metadata["cascade"]["confidences"] == pytest.approx([0.6, None])
    assert "not run" in dict(report.rows(len(result.judgments))).__repr__()


def test_the_last_stage_of_a_chain_without_human_does_not_decide_failed_verdicts():
    # j2, the last judge, answers in a format the parser cannot read for items 3 and 4 (unscored)
    def j2(request):
        text = request.messages[-1].content
        if "question 3 " in text or "question 4 " in text:
            return "I cannot decide."
        return _script(2)([m.model_dump() for m in request.messages])

    backends = {"j1": _backends()["j1"], "j2": ScriptedBackend(j2, spec="j2")}
    spec = CascadeSpec(task="compare", target=0.9, risk=0.1,
                       stages=[Stage(judge="j1", threshold=0.96), Stage(judge="j2", threshold=None)])
    items = _items(2, 3, 0)
    result = run_cascade(spec, items, protocol=PairwiseProtocol(), backends=backends,
                         config=EngineConfig(concurrency=2, progress=False))
    records = [j.metadata["cascade"] for j in result.judgments]
    assert [r["decided_by"] for r in records] == ["j1", "j1", "j2", None, None]
    assert [j.verdict.status for j in result.judgments][3:] == ["unscored", "unscored"]
    assert not any(r.get("pending_review") for r in records) and records[3]["reason"] == "no usable verdict"
    report = result.judge_report
    assert [s.accepted for s in report.stages] == [2, 1] and report.queued == 0
    rows = dict(report.rows(len(result.judgments)))
    assert rows["coverage (decided automatically)"].startswith("3 (60.0%)")
    assert rows["undecided (no usable verdict)"].startswith("2")
    # the same rule when routing and fitting on confidences: NaN (no usable verdict) is never taken
    c1, c2 = np.array([0.99, 0.5, 0.5]), np.array([0.7, 0.8, np.nan])
    assert evaluate_cascade([0.9, None], [c1, c2])["decided"].tolist() == [0, 1, -1]
    _, fits = fit_cascade([np.full(3, np.nan), c2], [np.ones(3), np.array([1, 1, np.nan])], target=0.5, risk=0.4,
                          human=False)
    assert (fits[1].n, fits[1].accepted, fits[1].errors) == (3, 2, 0)
