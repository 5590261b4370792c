"""Pass rates corrected for the judge's error (Rogan-Gladen): the estimator, its interval, its states, the CLI."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

import jurist
from jurist import Item, ScriptedBackend
from jurist.cli import app
from jurist.metrics.estimation import (
    MIN_YOUDEN,
    corrected_pass_rate,
    error_rates,
    estimate_run,
    golden_decisions,
    rogan_gladen,
)

runner = CliRunner()


def simulate(seed: int, truth: float = 0.3, sensitivity: float = 0.85, specificity: float = 0.8,
             golden: int = 400, run: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A run and a golden set drawn from the same population, judged by a judge with the given rates."""
    rng = np.random.default_rng(seed)

    def judged(n: int) -> tuple[np.ndarray, np.ndarray]:
        human = rng.random(n) < truth
        return np.where(human, rng.random(n) < sensitivity, rng.random(n) > specificity), human

    run_pass, _ = judged(run)
    judge, human = judged(golden)
    return run_pass, judge, human


def test_rogan_gladen_inverts_the_judge_error():
    # truth 0.3, sensitivity 0.9, specificity 0.8: the judge passes 0.3 * 0.9 + 0.7 * 0.2 = 0.41
    assert float(rogan_gladen(0.41, 0.9, 0.8)) == pytest.approx(0.3)
    assert float(rogan_gladen(0.05, 0.9, 0.8)) == 0.0  # below the false positive rate: clipped
    assert np.isnan(rogan_gladen(0.5, 0.5, 0.5))  # J = 0: no correction exists


def test_recovers_a_planted_rate_within_its_interval_in_at_least_93_of_100_runs():
    covered = 0
    for seed in range(100):
        result = corrected_pass_rate(*simulate(seed), seed=seed)
        assert result.state == "corrected"
        covered += result.corrected.low <= 0.3 <= result.corrected.high
    assert covered >= 93, covered


def test_the_interval_accounts_for_the_golden_set_size():
    small = corrected_pass_rate(*simulate(0, golden=150), seed=0).corrected
    large = corrected_pass_rate(*simulate(0, golden=3000), seed=0).corrected
    assert small.high - small.low > 1.5 * (large.high - large.low)


def test_a_judge_independent_of_the_truth_is_too_weak_not_a_number():
    result = corrected_pass_rate(*simulate(1, sensitivity=0.55, specificity=0.5, golden=200), seed=1)
    assert result.state == "too_weak" and result.corrected is None
    assert result.rates.youden.low < MIN_YOUDEN and "Youden" in result.reason
    assert result.raw.has_ci  # the raw rate is still reported


def test_no_human_fail_leaves_specificity_unmeasured():
    result = corrected_pass_rate([True, False, True], [True, True], [True, True])
    assert result.state == "undefined" and "specificity" in result.reason


def test_error_rates_name_fpr_and_fnr():
    rates = error_rates([True, True, False, False, True], [True, True, True, False, False])
    assert rates.sensitivity.value == pytest.approx(2 / 3) and rates.fnr == pytest.approx(1 / 3)
    assert rates.specificity.value == pytest.approx(1 / 2) and rates.fpr == pytest.approx(1 / 2)
    assert rates.n_positive == 3 and rates.n_negative == 2


# -------------------------------------------------------------------- runs in a store


def _item(k: int) -> Item:
    good = k % 3 != 0
    return Item(id=f"i{k}", input=f"Question {k}?", candidates=[f"{'good' if good else 'bad'} answer {k}"],
                label=1.0 if good else 0.0)


def _script(request):
    """Passes good answers, and bad ones whose number ends in 3 (a false positive now and then)."""
    text = request.messages[-1].text
    bad = re.search(r"bad answer (\d+)", text)
    if bad is None or int(bad.group(1)) % 10 == 3:
        return {"pass": 0.9, "fail": 0.1}
    return {"pass": 0.2, "fail": 0.8}


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "runs.db"
    jurist.score([_item(k) for k in range(300)], judge=ScriptedBackend(_script), scale="pass/fail", store=path,
                 name="run1", progress=False)
    return path


def _golden(tmp_path, items, extra_lines=()):
    path = tmp_path / "golden.jsonl"
    lines = [json.dumps({"id": i.id, "input": i.input, "response": i.response, "label": i.label}) for i in items]
    path.write_text("\n".join([*lines, *extra_lines]) + "\n", encoding="utf-8")
    return path


def test_estimate_run_from_judgments_and_golden_items(store):
    judgments = list(jurist.Store(store).judgments(jurist.Store(store).find_run("run1").id))
    # truth 200/300; the judge also passes the bad answers 3, 33, ..., 273 (10 of 100): raw 210/300. Labelled
    # throughout, the golden set measures exactly those rates and the correction returns the truth.
    result = estimate_run(judgments, [_item(k) for k in range(300)])
    assert result.state == "corrected" and result.raw.value == pytest.approx(0.7)
    assert result.corrected.value == pytest.approx(2 / 3) and result.corrected.low <= 2 / 3 <= result.corrected.high
    # the same rates, for a reward correction
    _, judge, human = golden_decisions(judgments, [_item(k) for k in range(300)])
    rates = error_rates(judge, human)
    assert rates == result.rates and (rates.fnr, rates.fpr) == (0.0, pytest.approx(0.1))
    with pytest.raises(ValueError, match="no golden item id"):
        estimate_run(judgments, [Item(id="x1", input="q", candidates=["a"], label=1.0)])


def test_a_numeric_scale_needs_pass_at():
    judgment = jurist.Judgment(item_id="1", protocol="pointwise", judge="s", label=4.0,
                               verdict=jurist.Verdict(status="scored", kind="score", score=4.2,
                                                      distribution={"4": 0.8, "5": 0.2}))
    with pytest.raises(ValueError, match="pass_at"):
        estimate_run([judgment], [Item(id="1", input="q", candidates=["a"], label=4.0)])


def test_cli_estimate_prints_raw_and_corrected(store, tmp_path):
    golden = _golden(tmp_path, [_item(k) for k in range(300)])
    result = runner.invoke(app, ["estimate", "run1", "--golden", str(golden), "--store", str(store),
                                 "--json", str(tmp_path / "e.json")])
    assert result.exit_code == 0, result.output
    assert "raw pass rate" in result.output and "corrected pass rate" in result.output
    saved = json.loads((tmp_path / "e.json").read_text())
    assert saved["state"] == "corrected" and saved["corrected"]["low"] <= 2 / 3 <= saved["corrected"]["high"]


def test_cli_estimate_errors(store, tmp_path):
    golden = _golden(tmp_path, [_item(k) for k in range(10)])
    missing = runner.invoke(app, ["estimate", "nope", "--golden", str(golden), "--store", str(store)])
    assert missing.exit_code == 2 and "'nope'" in missing.output
    other = _golden(tmp_path, [Item(id=f"x{k}", input="q", candidates=["a"], label=1.0) for k in range(3)])
    disjoint = runner.invoke(app, ["estimate", "run1", "--golden", str(other), "--store", str(store)])
    assert disjoint.exit_code == 2 and "no golden item id" in disjoint.output
    bad = _golden(tmp_path, [_item(k) for k in range(3)],
                  ['{"id": "i7", "input": "q", "label": 1}', '{"id": "i8", "input": "q", "response": "a", "label": "maybe"}'])
    broken = runner.invoke(app, ["estimate", "run1", "--golden", str(bad), "--store", str(store)])
    assert broken.exit_code == 2
    said = " ".join(broken.output.split())  # rich wraps long lines
    assert "golden.jsonl:4: field 'response'" in said and "golden.jsonl:5: field 'label'" in said
