"""Calibration metrics and recalibrators against hand computations and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special
from sklearn.calibration import calibration_curve
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss

from jurist.metrics import (
    IsotonicCalibration,
    PlattScaling,
    TemperatureScaling,
    apply_calibration,
    brier_score,
    expected_calibration_error,
    fit_calibrator,
    load_calibrator,
    reliability_diagram,
)
from jurist.metrics.calibration import confidence_and_correct
from jurist.types import Judgment, Verdict


def _synthetic(n: int, temperature: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A judge whose reported confidence is sigmoid(z) while the truth is sigmoid(z / temperature)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(1.5, 1.5, n)
    reported = special.expit(z)
    correct = (rng.random(n) < special.expit(z / temperature)).astype(float)
    return reported, correct


# ---------------------------------------------------------------- metrics


def test_ece_by_hand():
    # bin (0.5, 0.6]: conf .55 .55, 1 of 2 right -> |0.5 - 0.55| = 0.05, weight 2/5
    # bin (0.8, 0.9]: conf .85 .85 .85, 3 of 3 right -> |1 - 0.85| = 0.15, weight 3/5
    conf = [0.55, 0.55, 0.85, 0.85, 0.85]
    correct = [1, 0, 1, 1, 1]
    est = expected_calibration_error(conf, correct, n_bins=10)
    assert est.value == pytest.approx(2 / 5 * 0.05 + 3 / 5 * 0.15)
    assert est.n == 5 and est.low <= est.value <= est.high


def test_ece_matches_a_plain_loop_and_is_zero_when_calibrated():
    rng = np.random.default_rng(3)
    conf = rng.uniform(0, 1, 400)
    correct = (rng.random(400) < conf).astype(float)
    edges = np.linspace(0, 1, 16)
    expected = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        mask = (conf > lo) & (conf <= hi) if lo > 0 else (conf >= lo) & (conf <= hi)
        if mask.any():
            expected += mask.mean() * abs(correct[mask].mean() - conf[mask].mean())
    assert expected_calibration_error(conf, correct, n_bins=15, ci=False).value == pytest.approx(expected)
    # perfectly calibrated bins: in each bin the accuracy equals the mean confidence
    perfect_conf = np.repeat([0.25, 0.75], 4)
    perfect_ok = [1, 0, 0, 0, 1, 1, 1, 0]
    assert expected_calibration_error(perfect_conf, perfect_ok, ci=False).value == pytest.approx(0.0)


def test_quantile_bins_have_equal_mass():
    rng = np.random.default_rng(1)
    conf = rng.beta(5, 2, 1000)
    correct = (rng.random(1000) < conf).astype(float)
    bins = reliability_diagram(conf, correct, n_bins=5, binning="quantile")
    assert [b.count for b in bins] == [200] * 5
    assert expected_calibration_error(conf, correct, binning="quantile", ci=False).value < 0.06


def test_brier_matches_sklearn():
    rng = np.random.default_rng(2)
    conf = rng.uniform(0.5, 1, 300)
    correct = (rng.random(300) < conf).astype(int)
    est = brier_score(conf, correct)
    assert est.value == pytest.approx(brier_score_loss(correct, conf))
    assert est.low < est.value < est.high


def test_reliability_diagram_matches_sklearn_calibration_curve():
    rng = np.random.default_rng(4)
    conf = np.round(rng.uniform(0.01, 0.99, 500), 3) + 0.0004  # keep clear of the bin edges
    correct = (rng.random(500) < conf ** 2).astype(int)
    bins = reliability_diagram(conf, correct, n_bins=10)
    prob_true, prob_pred = calibration_curve(correct, conf, n_bins=10)
    assert [b.accuracy.value for b in bins] == pytest.approx(prob_true)
    assert [b.mean_confidence for b in bins] == pytest.approx(prob_pred)
    assert sum(b.count for b in bins) == 500
    assert all(b.accuracy.low <= b.accuracy.value <= b.accuracy.high for b in bins)


def test_missing_confidences_are_dropped_and_out_of_range_rejected():
    assert brier_score([0.9, None, math.nan], [1, 1, 0], ci=False).n == 1
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        brier_score([1.2], [1])


# ---------------------------------------------------------------- recalibration


def test_temperature_recovers_the_true_temperature():
    conf, correct = _synthetic(20000, temperature=2.5)
    fitted = TemperatureScaling().fit(conf, correct)
    assert fitted.temperature == pytest.approx(2.5, rel=0.1)
    # a calibrated judge gets T close to 1
    conf1, correct1 = _synthetic(20000, temperature=1.0, seed=1)
    assert TemperatureScaling().fit(conf1, correct1).temperature == pytest.approx(1.0, rel=0.1)


def test_temperature_minimises_the_log_loss():
    conf, correct = _synthetic(3000, temperature=0.6, seed=5)
    t = TemperatureScaling().fit(conf, correct).temperature
    z = np.log(conf) - np.log1p(-conf)

    def nll(temp: float) -> float:
        p = np.clip(special.expit(z / temp), 1e-12, 1 - 1e-12)
        return float(-(correct * np.log(p) + (1 - correct) * np.log1p(-p)).mean())

    grid = np.linspace(0.3, 1.5, 1201)
    assert t == pytest.approx(grid[np.argmin([nll(g) for g in grid])], abs=2e-3)


def test_platt_matches_unregularised_logistic_regression():
    conf, correct = _synthetic(5000, temperature=1.8, seed=6)
    platt = PlattScaling().fit(conf, correct)
    z = (np.log(conf) - np.log1p(-conf)).reshape(-1, 1)
    ref = LogisticRegression(C=1e12, tol=1e-12, max_iter=10000).fit(z, correct)
    assert platt.a == pytest.approx(ref.coef_[0, 0], rel=1e-3)
    assert platt.b == pytest.approx(ref.intercept_[0], abs=1e-3)
    assert platt.transform(conf) == pytest.approx(ref.predict_proba(z)[:, 1], abs=1e-4)


def test_isotonic_matches_sklearn():
    rng = np.random.default_rng(7)
    conf = np.round(rng.uniform(0.5, 1.0, 800), 2)  # repeated values, as real confidences have
    correct = (rng.random(800) < conf - 0.1).astype(float)
    ours = IsotonicCalibration().fit(conf, correct)
    ref = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(conf, correct)
    probe = np.linspace(0.4, 1.05, 300)
    assert ours.transform(probe) == pytest.approx(ref.predict(probe), abs=1e-9)
    assert np.all(np.diff(ours.transform(probe)) >= -1e-12)  # monotone


@pytest.mark.parametrize("method", ["temperature", "platt", "isotonic"])
def test_recalibration_lowers_ece_on_held_out_data_and_round_trips(method, tmp_path):
    conf, correct = _synthetic(6000, temperature=3.0, seed=8)  # an over-confident judge
    fit_c, fit_y, test_c, test_y = conf[:3000], correct[:3000], conf[3000:], correct[3000:]
    calibrator = fit_calibrator(method, fit_c, fit_y)
    before = expected_calibration_error(test_c, test_y, ci=False).value
    after = expected_calibration_error(calibrator.transform(test_c), test_y, ci=False).value
    assert before > 0.1 and after < 0.04
    path = tmp_path / "cal.json"
    calibrator.save(path)
    loaded = load_calibrator(path)
    assert loaded.kind == method and loaded.n_fit == 3000
    assert loaded.transform(test_c) == pytest.approx(calibrator.transform(test_c))
    assert isinstance(loaded.transform(0.8), float)


def test_load_calibrator_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"kind": "magic"}')
    with pytest.raises(ValueError, match="bad.json.*magic"):
        load_calibrator(bad)
    with pytest.raises(ValueError, match="calibration method"):
        fit_calibrator("histogram", [0.5], [1])


def test_apply_calibration_to_judgments():
    verdicts = [Verdict(status="scored", kind="compare", method="logprobs", preference=p, p_a=pa, p_b=1 - pa,
                        confidence=max(pa, 1 - pa)) for p, pa in (("A", 0.9), ("B", 0.2), ("A", 0.6))]
    judgments = [Judgment(item_id=str(i), protocol="pairwise", judge="x", verdict=v, label=lab)
                 for i, (v, lab) in enumerate(zip(verdicts, ["A", "A", "A"], strict=True))]
    judgments.append(Judgment(item_id="3", protocol="pairwise", judge="x",
                              verdict=Verdict(status="failed", kind="compare", error="boom"), label="A"))
    conf, ok = confidence_and_correct(judgments)
    assert conf.tolist() == pytest.approx([0.9, 0.8, 0.6]) and ok.tolist() == [1, 0, 1]
    calibrated = apply_calibration(judgments, TemperatureScaling(2.0))
    assert calibrated[0].metadata["calibrated_confidence"] == pytest.approx(special.expit(special.logit(0.9) / 2))
    assert "calibrated_confidence" not in calibrated[3].metadata
    c2, _ = confidence_and_correct(calibrated, calibrated=True)
    assert c2[0] < 0.9


def test_cli_calibration_option_stores_calibrated_confidences(tmp_path):
    import json as _json

    from typer.testing import CliRunner

    from jurist.cli import app
    from jurist.engine import Store
    from jurist.io import read_judgments
    from jurist.testing import MockOpenAIServer

    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(_json.dumps({"id": str(i), "input": f"q{i}", "response_a": "x", "response_b": "y",
                                         "label": "A"}) + "\n" for i in range(4)))
    cal = tmp_path / "cal.json"
    TemperatureScaling(4.0).save(cal)
    store, out = tmp_path / "runs.db", tmp_path / "out.jsonl"
    with MockOpenAIServer(lambda messages: {"A": 0.9, "B": 0.1}) as server:
        result = CliRunner().invoke(app, ["compare", str(data), "--judge", server.base_url, "--model", "m",
                                          "--set", f"calibration={cal}", "--store", str(store), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "calibration: temperature" in result.output
    judgments = read_judgments(out)
    # both orders say "first is better" with 0.9: averaged, P(A) = 0.5, confidence 0.5 stays 0.5
    assert all(j.metadata["calibrated_confidence"] == pytest.approx(
        float(special.expit(special.logit(j.verdict.confidence) / 4.0))) for j in judgments)
    run = Store(store).runs()[-1]
    stored = list(Store(store).judgments(run.id))
    assert all("calibrated_confidence" in j.metadata for j in stored)
    bad = CliRunner().invoke(app, ["compare", str(data), "--judge", "http://127.0.0.1:9/v1", "--model", "m",
                                   "--set", f"calibration={tmp_path / 'missing.json'}", "--store", str(store)])
    assert bad.exit_code == 2 and "missing.json" in bad.output
