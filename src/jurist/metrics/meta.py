"""``jurist meta``: how far to trust a judge, from its verdicts and the human labels.

:func:`meta_report` takes judgments (a run's, or a verdicts file's) and returns a
:class:`MetaReport` with, where the data allows:

Human ceiling (items with several human labels, e.g. PandaLM's three annotators)
    Krippendorff's alpha among the humans, their mean pairwise Cohen's kappa and
    raw agreement: the reference a judge is compared with, not a bound (a judge
    that predicts the majority agrees with each annotator more often than they
    agree with each other; benchmarks/human_ceiling.py). Next to it, the judge's
    mean kappa and agreement with each annotator (the same statistic, so the two
    are comparable), and alpha with the judge added as one more rater.
Where the judge fails
    Items split into *humans unanimous* and *humans split*. Disagreement on
    unanimous items is "the judge is wrong"; on split items it is "the guideline
    is unclear" (humans disagree too). Counts and the judge's accuracy on each.
Agreement with the (majority) label
    Accuracy, Cohen's kappa (quadratically weighted for numeric scales),
    Krippendorff's alpha (judge and label as two raters; nominal for
    preferences, interval for scores) and, for scores, Spearman, Kendall and
    Pearson of the expected score with the label, overall and averaged within
    groups (``group=`` a metadata field, e.g. the document, as G-Eval does).
Calibration
    ECE, Brier score and the reliability diagram of the verdict confidences
    (and of ``metadata["calibrated_confidence"]`` when a calibrator was applied).
Consistency
    Order consistency of pairwise verdicts judged in both orders and, when the
    judgments carry ``group``/``model_a``/``model_b`` metadata (items expanded
    with :func:`~jurist.metrics.consistency.expand_pairs`), transitivity over
    the full preference sets.

Every number is an :class:`~jurist.metrics.uncertainty.Estimate` with a 95% interval.
"""

from __future__ import annotations

import itertools
import warnings
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from jurist.metrics.agreement import (
    _codes,
    _confusions,
    _kappa_from_confusion,
    _kappa_weights,
    _label_value,
    accuracy,
    cohen_kappa,
    grouped_correlation,
    kendall,
    krippendorff_alpha,
    pearson,
    spearman,
)
from jurist.metrics.calibration import (
    Binning,
    ReliabilityBin,
    brier_score,
    expected_calibration_error,
    reliability_diagram,
)
from jurist.metrics.consistency import TransitivityReport, order_consistency, pair_preferences, transitivity
from jurist.metrics.uncertainty import Estimate, bootstrap, wilson_interval
from jurist.types import Judgment

__all__ = ["CalibrationReport", "CeilingReport", "MetaReport", "SplitReport", "labels_of", "meta_report"]

PREFERENCES = ("A", "B", "tie")


# ---------------------------------------------------------------- labels


def _norm_pref(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return {"a": "A", "b": "B", "tie": "tie"}.get(value.strip().lower())


def _lookup(judgment: Judgment, field: str) -> Any:
    """``label`` is the judgment's label; anything else a (dotted) metadata field."""
    if field == "label":
        return judgment.label
    value: Any = judgment.metadata
    for part in field.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def labels_of(judgment: Judgment, field: str = "label") -> list[Any]:
    """The human labels of one judgment: a list field gives several, a scalar one; missing ones dropped."""
    raw = _lookup(judgment, field)
    values = raw if isinstance(raw, (list, tuple)) else [raw]
    norm = _norm_pref if judgment.verdict.kind == "compare" else _label_value
    return [norm(v) for v in values]


def _majority(labels: Sequence[Any]) -> Any:
    """The strict majority label (more than half of the present labels), else None (no consensus)."""
    present = [v for v in labels if v is not None]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    top, count = Counter(present).most_common(1)[0]
    return top if count * 2 > len(present) else None


# ---------------------------------------------------------------- report models


class CeilingReport(BaseModel):
    """Human-human agreement (the ceiling) and the judge's agreement measured the same way."""

    raters: int
    items: int
    human_alpha: Estimate
    human_kappa: Estimate          # mean pairwise Cohen's kappa between annotators
    human_agreement: Estimate      # mean pairwise raw agreement between annotators
    judge_kappa: Estimate          # mean Cohen's kappa of the judge with each annotator
    judge_agreement: Estimate      # mean raw agreement of the judge with each annotator
    alpha_with_judge: Estimate     # alpha with the judge as one more rater

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("human raters per item (max)", str(self.raters)),
            ("human-human Krippendorff's alpha (ceiling)", str(self.human_alpha)),
            ("human-human mean pairwise kappa", str(self.human_kappa)),
            ("human-human mean pairwise agreement", str(self.human_agreement)),
            ("judge-human mean kappa (vs each annotator)", str(self.judge_kappa)),
            ("judge-human mean agreement (vs each annotator)", str(self.judge_agreement)),
            ("alpha with the judge as an extra rater", str(self.alpha_with_judge)),
        ]


class SplitReport(BaseModel):
    """Judge errors on items the humans agree on vs items they split on."""

    unanimous: int = 0
    unanimous_judge_agrees: int = 0
    split: int = 0
    split_judge_agrees_majority: int = 0
    no_majority: int = 0
    judge_wrong_humans_agree: Estimate   # share of unanimous items the judge gets wrong
    accuracy_unanimous: Estimate
    accuracy_split: Estimate             # against the majority, on split items that have one
    share_split: Estimate                # share of items where the humans disagree

    def rows(self) -> list[tuple[str, str]]:
        wrong = self.unanimous - self.unanimous_judge_agrees
        return [
            ("items, humans unanimous", f"{self.unanimous}: judge agrees on {self.unanimous_judge_agrees}, "
                                        f"wrong on {wrong} (the judge is wrong)"),
            ("items, humans split", f"{self.split}: judge agrees with the majority on "
                                    f"{self.split_judge_agrees_majority} (unclear guideline)"
                                    + (f"; {self.no_majority} without a majority" if self.no_majority else "")),
            ("judge accuracy, humans unanimous", str(self.accuracy_unanimous)),
            ("judge accuracy vs majority, humans split", str(self.accuracy_split)),
            ("share of items where humans disagree", str(self.share_split)),
        ]


class CalibrationReport(BaseModel):
    """Calibration of one kind of confidence against agreement with the label."""

    source: str
    n: int
    mean_confidence: float
    accuracy: Estimate
    ece: Estimate
    brier: Estimate
    reliability: list[ReliabilityBin] = Field(default_factory=list)

    def rows(self) -> list[tuple[str, str]]:
        prefix = f"{self.source} confidence"
        rows = [
            (f"{prefix}: mean vs accuracy", f"{self.mean_confidence:.3f} vs {self.accuracy}"),
            (f"{prefix}: ECE", str(self.ece)),
            (f"{prefix}: Brier score", str(self.brier)),
        ]
        for b in self.reliability:
            rows.append((f"  ({b.low:.4g}, {b.high:.4g}]", f"n={b.count} conf {b.mean_confidence:.4f} "
                                                            f"acc {b.accuracy.format()}"))
        return rows


class MetaReport(BaseModel):
    """Everything :func:`meta_report` could compute; ``rows()`` renders it as a two-column table."""

    kind: str
    judge: str
    judgments: int
    scored: int
    labelled: int
    labels_field: str
    ceiling: CeilingReport | None = None
    split: SplitReport | None = None
    agreement: dict[str, Estimate] = Field(default_factory=dict)
    grouped: dict[str, Estimate] = Field(default_factory=dict)
    group_field: str | None = None
    calibration: list[CalibrationReport] = Field(default_factory=list)
    order_consistency: Estimate | None = None
    transitivity: TransitivityReport | None = None
    notes: list[str] = Field(default_factory=list)

    def sections(self) -> list[tuple[str, list[tuple[str, str]]]]:
        out: list[tuple[str, list[tuple[str, str]]]] = [(
            "data", [("judge", self.judge), ("kind", self.kind), ("judgments", str(self.judgments)),
                     ("scored", str(self.scored)), (f"labelled ({self.labels_field})", str(self.labelled))])]
        if self.ceiling is not None:
            out.append(("human ceiling vs judge", self.ceiling.rows()))
        if self.split is not None:
            out.append(("where the judge fails", self.split.rows()))
        if self.agreement:
            out.append(("agreement with the " + ("majority label" if self.ceiling else "label"),
                        [(k, str(v)) for k, v in self.agreement.items()]))
        if self.grouped:
            out.append((f"within-group correlation (group = {self.group_field})",
                        [(k, str(v)) for k, v in self.grouped.items()]))
        for cal in self.calibration:
            out.append((f"calibration ({cal.source})", cal.rows()))
        consistency = []
        if self.order_consistency is not None:
            consistency.append(("order consistency (both orders agree)", str(self.order_consistency)))
        if self.transitivity is not None:
            consistency += self.transitivity.rows()
        if consistency:
            out.append(("consistency", consistency))
        if self.notes:
            out.append(("notes", [("", n) for n in self.notes]))
        return out

    def rows(self) -> list[tuple[str, str]]:
        return [row for _, rows in self.sections() for row in rows]


# ---------------------------------------------------------------- helpers


def _pairwise_mean_kappa(columns: np.ndarray, cats: list[Any], weights: Any, opts: dict[str, Any],
                         pairs: Sequence[tuple[int, int]] | None = None) -> tuple[Estimate, Estimate]:
    """Mean over rater pairs of Cohen's kappa and of raw agreement, with a bootstrap over items.

    ``columns`` is (items, raters) of category codes, -1 where missing; a pair of
    raters enters on the items both labelled. ``pairs`` defaults to every pair.
    """
    chosen = list(pairs) if pairs is not None else list(itertools.combinations(range(columns.shape[1]), 2))

    def mean_over_pairs(index: int) -> Any:
        def stat(batch: np.ndarray) -> np.ndarray:
            vals = np.stack([_pairwise_stats(batch[:, :, [i, j]], cats, weights)[:, index] for i, j in chosen], axis=1)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows stay NaN
                return np.asarray(np.nanmean(vals, axis=1), dtype=float)
        return stat

    return (bootstrap(mean_over_pairs(0), columns, vectorized=True, **opts),
            bootstrap(mean_over_pairs(1), columns, vectorized=True, **opts))


def _calibration(source: str, conf: list[float], correct: list[float], opts: dict[str, Any],
                 n_bins: int, binning: Binning) -> CalibrationReport:
    seed, n_res, level = opts["seed"], opts["n_resamples"], opts["confidence"]
    return CalibrationReport(
        source=source, n=len(conf), mean_confidence=float(np.mean(conf)),
        accuracy=wilson_interval(int(sum(correct)), len(correct), level),
        ece=expected_calibration_error(conf, correct, n_bins=n_bins, binning=binning, n_resamples=n_res,
                                       confidence_level=level, seed=seed),
        brier=brier_score(conf, correct, n_resamples=n_res, confidence_level=level, seed=seed),
        reliability=reliability_diagram(conf, correct, n_bins=n_bins, binning=binning))


# ---------------------------------------------------------------- the report


def meta_report(
    judgments: Sequence[Judgment],
    *,
    labels: str = "label",
    group: str | None = None,
    n_bins: int = 10,
    binning: Binning = "uniform",
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> MetaReport:
    """Agreement with humans (and the human ceiling), calibration and consistency of ``judgments``.

    ``labels`` names where the human labels are: ``"label"`` (the judgment's
    label) or a metadata field holding one label or a list of labels (one per
    annotator, in a fixed annotator order). With several labels the gold label
    is their strict majority (items without one are left out of the
    agreement metrics, and counted). ``group`` is a metadata field for
    within-group correlations (pointwise scores). ``binning="quantile"`` uses
    equal-mass bins for ECE and the reliability diagram (for a judge whose
    confidences crowd into a narrow range).
    """
    opts: dict[str, Any] = {"n_resamples": n_resamples, "confidence": confidence, "seed": seed}
    js = list(judgments)
    kinds = Counter(j.verdict.kind for j in js)
    kind = kinds.most_common(1)[0][0] if kinds else "compare"
    js = [j for j in js if j.verdict.kind == kind]
    judges = Counter(j.judge for j in js)
    notes: list[str] = []
    if len(kinds) > 1:
        notes.append(f"mixed verdict kinds {dict(kinds)}: only {kind!r} verdicts were used")
    scored = [j for j in js if j.verdict.ok]
    per_item = [labels_of(j, labels) for j in scored]
    multi = max((sum(v is not None for v in ls) for ls in per_item), default=0) >= 2
    gold = [_majority(ls) for ls in per_item]

    if kind == "compare":
        pred: list[Any] = [_norm_pref(j.verdict.preference) for j in scored]
        cats_all: list[Any] = [c for c in PREFERENCES if c in set(pred) | {v for ls in per_item for v in ls} | {"A", "B"}]
        weights = None
    else:
        pred = [_label_value(j.verdict.top_label) for j in scored]
        observed = {v for v in pred if v is not None} | {v for ls in per_item for v in ls if v is not None}
        cats_all = sorted(observed)
        weights = "quadratic"
    labelled_idx = [i for i, g in enumerate(gold) if g is not None and pred[i] is not None]
    report = MetaReport(kind=kind, judge=", ".join(judges) or "-", judgments=len(js), scored=len(scored),
                        labelled=len(labelled_idx), labels_field=labels, group_field=group, notes=notes)

    # -- human ceiling and the split ------------------------------------------------------
    if multi:
        width = max(len(ls) for ls in per_item)
        rows_h = [ls + [None] * (width - len(ls)) for ls in per_item]
        keep = [i for i, ls in enumerate(per_item) if sum(v is not None for v in ls) >= 2]
        humans = np.array([_codes(rows_h[i], cats_all, "labels") for i in keep], dtype=np.intp).reshape(len(keep), width)
        judge_codes = _codes([pred[i] for i in keep], cats_all, "labels")
        h_kappa, h_agree = _pairwise_mean_kappa(humans, cats_all, weights, opts)
        # the judge against each annotator, the same statistic: mean over annotators r of kappa(judge, r)
        with_judge = np.concatenate([humans, judge_codes[:, None]], axis=1)
        j_kappa, j_agree = _pairwise_mean_kappa(with_judge, cats_all, weights, opts,
                                                pairs=[(width, r) for r in range(width)])
        level = "nominal" if kind == "compare" else "interval"
        domain = cats_all
        human_rows = [[rows_h[i][r] for i in keep] for r in range(width)]
        judge_row = [pred[i] for i in keep]
        report.ceiling = CeilingReport(
            raters=width, items=len(keep),
            human_alpha=krippendorff_alpha(human_rows, level=level, value_domain=domain, **opts),
            human_kappa=h_kappa, human_agreement=h_agree, judge_kappa=j_kappa, judge_agreement=j_agree,
            alpha_with_judge=krippendorff_alpha([*human_rows, judge_row], level=level, value_domain=domain, **opts),
        )
        # split: unanimous vs not
        unanimous_ok, split_ok = [], []
        no_majority = 0
        for i in keep:
            present = [v for v in per_item[i] if v is not None]
            if pred[i] is None:
                continue
            if len(set(present)) == 1:
                unanimous_ok.append(float(pred[i] == present[0]))
            elif gold[i] is None:
                no_majority += 1
            else:
                split_ok.append(float(pred[i] == gold[i]))
        n_split = len(split_ok) + no_majority
        report.split = SplitReport(
            unanimous=len(unanimous_ok), unanimous_judge_agrees=int(sum(unanimous_ok)),
            split=n_split, split_judge_agrees_majority=int(sum(split_ok)), no_majority=no_majority,
            judge_wrong_humans_agree=wilson_interval(len(unanimous_ok) - int(sum(unanimous_ok)), len(unanimous_ok),
                                                     confidence),
            accuracy_unanimous=wilson_interval(int(sum(unanimous_ok)), len(unanimous_ok), confidence),
            accuracy_split=wilson_interval(int(sum(split_ok)), len(split_ok), confidence),
            share_split=wilson_interval(n_split, len(unanimous_ok) + n_split, confidence),
        )
        if no_majority:
            notes.append(f"{no_majority} items have no majority among the human labels: left out of the "
                         "agreement with the majority label")

    # -- agreement with the (majority) label --------------------------------------------------
    p = [pred[i] for i in labelled_idx]
    g = [gold[i] for i in labelled_idx]
    if labelled_idx:
        if kind == "compare":
            report.agreement["accuracy"] = accuracy(p, g, **opts)
            report.agreement["Cohen's kappa"] = cohen_kappa(p, g, labels=cats_all, **opts)
            report.agreement["Krippendorff's alpha (nominal)"] = krippendorff_alpha(
                [p, g], level="nominal", value_domain=cats_all, **opts)
        else:
            integral = all(float(v).is_integer() for v in g)
            if integral:
                report.agreement["accuracy (top score = label)"] = accuracy(p, g, **opts)
                report.agreement["Cohen's kappa (quadratic)"] = cohen_kappa(
                    p, g, weights="quadratic", labels=sorted(set(p) | set(g)), **opts)
            else:
                notes.append("labels are not whole numbers (averages?): accuracy and kappa left out")
            report.agreement["Krippendorff's alpha (interval)"] = krippendorff_alpha([p, g], level="interval", **opts)
            expected = [scored[i].verdict.score for i in labelled_idx]
            for name, fn in (("Spearman", spearman), ("Kendall", kendall), ("Pearson", pearson)):
                report.agreement[f"{name} (expected score vs label)"] = fn(expected, g, **opts)
            if group:
                groups: list[Hashable] = []
                for i in labelled_idx:
                    value = _lookup(scored[i], group)
                    groups.append(value if isinstance(value, Hashable) else repr(value))
                for name in ("spearman", "kendall", "pearson"):
                    report.grouped[name.capitalize()] = grouped_correlation(
                        expected, g, groups, method=name, **opts)  # type: ignore[arg-type]
    elif scored:
        notes.append(f"no labels found in {labels!r}: agreement and calibration need human labels")

    # -- calibration --------------------------------------------------------------------------
    for source, key in (("raw", None), ("calibrated", "calibrated_confidence")):
        conf, ok = [], []
        for i in labelled_idx:
            j = scored[i]
            c = j.verdict.confidence if key is None else j.metadata.get(key)
            if c is None:
                continue
            conf.append(float(c))
            ok.append(float(pred[i] == gold[i]))
        if conf:
            report.calibration.append(_calibration(source, conf, ok, opts, n_bins, binning))

    # -- consistency ----------------------------------------------------------------------------
    if kind == "compare":
        oc = order_consistency(js, confidence)
        if oc.n:
            report.order_consistency = oc
        prefs = pair_preferences(js)  # full preference sets (jurist.metrics.consistency.expand_pairs)
        if prefs:
            trans = transitivity(prefs, **opts)
            if trans.groups_complete:
                report.transitivity = trans
    report.notes = notes
    return report


def _pairwise_stats(batch: np.ndarray, cats: list[Any], weights: Any) -> np.ndarray:
    """(B, items, 2) codes -> (B, 2): kappa and raw agreement of the two columns (items where both present)."""
    k = len(cats)
    a, b = batch[:, :, 0], batch[:, :, 1]
    conf = _confusions(np.where((a >= 0) & (b >= 0), a * k + b, k * k), k)
    with np.errstate(divide="ignore", invalid="ignore"):
        kap = _kappa_from_confusion(conf, _kappa_weights(k, weights))
        agr = np.trace(conf, axis1=1, axis2=2) / conf.sum(axis=(1, 2))
    return np.stack([kap, agr], axis=1)
