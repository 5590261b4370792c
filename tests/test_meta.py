"""``jurist meta``: human ceiling, where the judge fails, agreement, calibration, against reference packages."""

from __future__ import annotations

import itertools
import json
from collections import Counter

import krippendorff
import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import cohen_kappa_score
from typer.testing import CliRunner

from jurist.cli import app
from jurist.io import load_items, write_judgments
from jurist.metrics import meta_report
from jurist.types import Judgment, Verdict

from .conftest import DATA

runner = CliRunner()
PREFS = ["A", "B", "tie"]


def _pair_judgment(i: int, pref: str, conf: float, humans: list[str] | None = None, label: str | None = None,
                   agree: bool | None = None, **meta) -> Judgment:
    p_a = conf if pref == "A" else 1 - conf
    verdict = Verdict(status="scored", kind="compare", method="logprobs", preference=pref, p_a=p_a, p_b=1 - p_a,
                      confidence=conf, orders_agree=agree)
    if humans is not None:
        meta["human_labels"] = humans
    return Judgment(item_id=str(i), protocol="pairwise", judge="judge-x", verdict=verdict, label=label,
                    metadata=meta)


def _pandalm_like(n: int = 400, seed: int = 0) -> tuple[list[Judgment], np.ndarray, list[str]]:
    """Three annotators who mostly agree, a judge right ~70% of the time; returns judgments, humans, judge."""
    rng = np.random.default_rng(seed)
    judgments, humans, judge = [], [], []
    for i in range(n):
        truth = str(rng.choice(PREFS, p=[0.45, 0.45, 0.1]))
        row = [truth if rng.random() < 0.85 else str(rng.choice(PREFS)) for _ in range(3)]
        pref = truth if rng.random() < 0.7 else str(rng.choice(["A", "B"]))
        majority = Counter(row).most_common(1)[0]
        label = majority[0] if majority[1] >= 2 else None
        judgments.append(_pair_judgment(i, pref, float(rng.uniform(0.5, 1)), row, label, agree=bool(rng.random() < 0.6)))
        humans.append(row)
        judge.append(pref)
    return judgments, np.array(humans), judge


def test_human_ceiling_matches_krippendorff_and_sklearn():
    judgments, humans, judge = _pandalm_like()
    report = meta_report(judgments, labels="human_labels", n_resamples=200)
    ceiling = report.ceiling
    assert ceiling is not None and ceiling.raters == 3 and ceiling.items == 400
    codes = np.vectorize(PREFS.index)(humans).T.astype(float)  # raters x units
    assert ceiling.human_alpha.value == pytest.approx(
        krippendorff.alpha(reliability_data=codes, level_of_measurement="nominal"))
    pairs = list(itertools.combinations(range(3), 2))
    assert ceiling.human_kappa.value == pytest.approx(
        np.mean([cohen_kappa_score(humans[:, i], humans[:, j]) for i, j in pairs]))
    assert ceiling.human_agreement.value == pytest.approx(np.mean([(humans[:, i] == humans[:, j]).mean()
                                                                   for i, j in pairs]))
    assert ceiling.judge_kappa.value == pytest.approx(
        np.mean([cohen_kappa_score(judge, humans[:, r]) for r in range(3)]))
    assert ceiling.judge_agreement.value == pytest.approx(np.mean([(np.array(judge) == humans[:, r]).mean()
                                                                   for r in range(3)]))
    with_judge = np.vstack([codes, [PREFS.index(p) for p in judge]])
    assert ceiling.alpha_with_judge.value == pytest.approx(
        krippendorff.alpha(reliability_data=with_judge, level_of_measurement="nominal"))
    # humans agree with each other more than the judge agrees with them
    assert ceiling.human_kappa.value > ceiling.judge_kappa.value
    for est in (ceiling.human_alpha, ceiling.human_kappa, ceiling.judge_kappa):
        assert est.low < est.value < est.high


def test_split_separates_judge_errors_from_unclear_items():
    humans = [["A", "A", "A"], ["A", "A", "A"], ["B", "B", "B"], ["A", "B", "A"], ["A", "B", "tie"],
              ["B", "B", "A"]]
    judge = ["A", "B", "B", "B", "A", "B"]
    judgments = [_pair_judgment(i, p, 0.8, h) for i, (p, h) in enumerate(zip(judge, humans, strict=True))]
    split = meta_report(judgments, labels="human_labels", n_resamples=0).split
    assert split is not None
    assert (split.unanimous, split.unanimous_judge_agrees) == (3, 2)       # wrong on item 1: the judge is wrong
    assert (split.split, split.split_judge_agrees_majority, split.no_majority) == (3, 1, 1)
    assert split.judge_wrong_humans_agree.value == pytest.approx(1 / 3)
    assert split.share_split.value == pytest.approx(0.5)
    report = meta_report(judgments, labels="human_labels", n_resamples=0)
    assert report.labelled == 5  # item 4 has no majority
    assert any("no majority" in note for note in report.notes)


def test_pairwise_agreement_calibration_and_order_consistency():
    judgments, _, _ = _pandalm_like(300, seed=3)
    report = meta_report(judgments, n_resamples=200)  # labels from Judgment.label
    labelled = [j for j in judgments if j.label is not None]
    pred = [j.verdict.preference for j in labelled]
    gold = [j.label for j in labelled]
    assert report.labelled == len(labelled) and report.ceiling is None
    assert report.agreement["accuracy"].value == pytest.approx(np.mean(np.array(pred) == np.array(gold)))
    assert report.agreement["Cohen's kappa"].value == pytest.approx(cohen_kappa_score(pred, gold))
    cal = report.calibration[0]
    assert cal.source == "raw" and cal.n == len(labelled) and 0 <= cal.ece.value <= 1
    assert sum(b.count for b in cal.reliability) == cal.n
    assert report.order_consistency.value == pytest.approx(
        np.mean([j.verdict.orders_agree for j in judgments]))
    titles = [title for title, _ in report.sections()]
    assert titles[:2] == ["data", "agreement with the label"] and "consistency" in titles


def test_calibrated_confidence_gets_its_own_calibration_section():
    judgments, _, _ = _pandalm_like(100)
    for j in judgments:
        j.metadata["calibrated_confidence"] = 0.6
    sources = [c.source for c in meta_report(judgments, n_resamples=0).calibration]
    assert sources == ["raw", "calibrated"]


def _score_judgment(i: int, top: int, score: float, label: float, doc: str, humans: list[int] | None = None) -> Judgment:
    verdict = Verdict(status="scored", kind="score", method="logprobs", score=score, top_label=str(top),
                      confidence=0.6)
    meta = {"doc": doc} | ({"scores": humans} if humans else {})
    return Judgment(item_id=str(i), protocol="pointwise", judge="judge-x", verdict=verdict, label=label, metadata=meta)


def test_scores_correlations_weighted_kappa_and_grouped_correlation():
    rng = np.random.default_rng(5)
    gold = rng.integers(1, 6, 240)
    expected = np.clip(gold + rng.normal(0, 1.0, 240), 1, 5)
    top = np.clip(np.round(expected), 1, 5).astype(int)
    docs = [f"d{i // 8}" for i in range(240)]
    judgments = [_score_judgment(i, int(t), float(e), float(g), d)
                 for i, (t, e, g, d) in enumerate(zip(top, expected, gold, docs, strict=True))]
    report = meta_report(judgments, group="doc", n_resamples=200)
    agreement = report.agreement
    assert agreement["Spearman (expected score vs label)"].value == pytest.approx(stats.spearmanr(expected, gold)[0])
    assert agreement["Kendall (expected score vs label)"].value == pytest.approx(stats.kendalltau(expected, gold)[0])
    assert agreement["Pearson (expected score vs label)"].value == pytest.approx(stats.pearsonr(expected, gold)[0])
    assert agreement["Cohen's kappa (quadratic)"].value == pytest.approx(
        cohen_kappa_score(top, gold, weights="quadratic"))
    assert agreement["accuracy (top score = label)"].value == pytest.approx(np.mean(top == gold))
    assert agreement["Krippendorff's alpha (interval)"].value == pytest.approx(
        krippendorff.alpha(reliability_data=np.vstack([top, gold]).astype(float), level_of_measurement="interval"))
    per_doc = [stats.spearmanr(expected[i:i + 8], gold[i:i + 8])[0] for i in range(0, 240, 8)]
    assert report.grouped["Spearman"].value == pytest.approx(np.nanmean(per_doc))
    assert report.grouped["Spearman"].n_groups == sum(not np.isnan(r) for r in per_doc)


def test_average_labels_skip_kappa_and_several_score_raters_give_a_ceiling():
    judgments = [_score_judgment(i, t, t + 0.1, lab, "d", humans=h) for i, (t, lab, h) in enumerate(
        [(3, 3.5, [3, 4, 3]), (4, 4.0, [4, 4, 4]), (2, 1.5, [1, 2, 1]), (5, 4.5, [5, 5, 4]), (1, 1.0, [1, 1, 2])])]
    report = meta_report(judgments, n_resamples=0)
    assert "Cohen's kappa (quadratic)" not in report.agreement
    assert any("not whole numbers" in n for n in report.notes)
    with_raters = meta_report(judgments, labels="scores", n_resamples=0)
    humans = np.array([j.metadata["scores"] for j in judgments], dtype=float).T
    assert with_raters.ceiling.human_alpha.value == pytest.approx(
        krippendorff.alpha(reliability_data=humans, level_of_measurement="interval"))


def test_pandalm_preset_labels_feed_the_ceiling(tmp_path):
    """The real PandaLM records (three annotators each) through the preset, with a judge that always says B."""
    items = load_items(DATA / "pandalm_testset.json", "compare", preset="pandalm").items
    judgments = [_pair_judgment(i, "B", 0.7, label=item.label, **item.metadata) for i, item in enumerate(items)]
    report = meta_report(judgments, labels="human_labels", n_resamples=0)
    humans = [item.metadata["human_labels"] for item in items]
    assert report.ceiling.items == len(items)
    unanimous = [h for h in humans if len(set(h)) == 1]
    assert report.split.unanimous == len(unanimous)
    assert report.split.unanimous_judge_agrees == sum(h[0] == "B" for h in unanimous)
    # and through the command line, from a judgments file
    path = tmp_path / "verdicts.jsonl"
    write_judgments(path, judgments)
    result = runner.invoke(app, ["meta", str(path), "--labels", "human_labels", "--json", str(tmp_path / "m.json"),
                                 "--fit-calibration", "platt", "--save-calibration", str(tmp_path / "cal.json")])
    assert result.exit_code == 0, result.output
    assert "human-human Krippendorff's alpha (ceiling)" in result.output
    assert "humans unanimous" in result.output
    saved = json.loads((tmp_path / "m.json").read_text())
    assert saved["ceiling"]["raters"] == 3
    assert json.loads((tmp_path / "cal.json").read_text())["kind"] == "platt"


def test_missing_labels_are_reported_not_invented():
    judgments = [_pair_judgment(i, "A", 0.9) for i in range(5)]
    report = meta_report(judgments, labels="nothing_here", n_resamples=0)
    assert report.labelled == 0 and not report.agreement and not report.calibration
    assert any("no labels found" in n for n in report.notes)
