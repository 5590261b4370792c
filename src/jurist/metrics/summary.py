"""Summaries of a run's judgments, for the CLI's summary table and the report.

:func:`score_summary` covers pointwise scoring and :func:`compare_summary`
pairwise comparison. Both return pydantic models whose ``rows()`` give
``(name, formatted value)`` pairs ready for a two-column table.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from jurist.metrics.agreement import accuracy, cohen_kappa, kendall, pearson, spearman
from jurist.metrics.uncertainty import Estimate, bootstrap, wilson_interval
from jurist.types import Judgment, Preference

__all__ = ["CompareSummary", "Counts", "RankSummary", "ScoreSummary", "compare_summary", "rank_summary", "score_summary"]

PREFERENCES: tuple[Preference, ...] = ("A", "B", "tie")
_CORRELATIONS = {"spearman": spearman, "kendall": kendall, "pearson": pearson}


class Counts(BaseModel):
    """How many judgments there are, by verdict status."""

    total: int = 0
    scored: int = 0
    unscored: int = 0
    failed: int = 0

    @classmethod
    def of(cls, judgments: Sequence[Judgment]) -> Counts:
        status = Counter(j.verdict.status for j in judgments)
        return cls(total=len(judgments), scored=status["scored"], unscored=status["unscored"], failed=status["failed"])

    def rows(self) -> list[tuple[str, str]]:
        def share(k: int) -> str:
            return f"{k} ({k / self.total:.1%})" if self.total else str(k)

        return [
            ("judgments", str(self.total)),
            ("scored", share(self.scored)),
            ("unscored", share(self.unscored)),
            ("failed", share(self.failed)),
        ]


def _numeric(value: Any) -> float | None:
    """``value`` as a finite float (numbers and numeric strings), else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _preference(value: Any) -> Preference | None:
    """A pairwise label normalised to ``"A"``, ``"B"`` or ``"tie"`` (case-insensitive), else None."""
    if not isinstance(value, str):
        return None
    return {"a": "A", "b": "B", "tie": "tie"}.get(value.strip().lower())  # type: ignore[return-value]


def _mean(x: Any) -> Any:
    return x.mean(axis=-1)


def _distribution_text(dist: dict[str, int]) -> str:
    total = sum(dist.values())
    return ", ".join(f"{k}: {v} ({v / total:.0%})" for k, v in dist.items()) if total else "-"


class ScoreSummary(BaseModel):
    """Summary of pointwise judgments.

    ``mean_score`` averages ``verdict.score`` (the expected score) over scored
    verdicts. ``top_labels`` counts ``verdict.top_label``. With numeric human
    labels, ``score_vs_label`` and ``top_vs_label`` hold Spearman, Kendall
    (tau-b) and Pearson correlations of the expected score, and of the most
    likely score, with the label, over the ``n_labeled`` scored, labelled items.
    """

    counts: Counts
    mean_score: Estimate
    top_labels: dict[str, int] = Field(default_factory=dict)
    n_labeled: int = 0
    score_vs_label: dict[str, Estimate] = Field(default_factory=dict)
    top_vs_label: dict[str, Estimate] = Field(default_factory=dict)

    def rows(self) -> list[tuple[str, str]]:
        rows = [*self.counts.rows(), ("mean score", str(self.mean_score))]
        rows.append(("top labels", _distribution_text(self.top_labels)))
        if self.n_labeled:
            rows.append(("labelled", str(self.n_labeled)))
            rows += [(f"{name} (score vs label)", str(est)) for name, est in self.score_vs_label.items()]
            rows += [(f"{name} (top label vs label)", str(est)) for name, est in self.top_vs_label.items()]
        return rows


def score_summary(
    judgments: Sequence[Judgment],
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> ScoreSummary:
    """Counts, mean expected score, top-label distribution and, with numeric labels, correlations.

    Only scored verdicts enter the statistics. A label is numeric when it is a
    number or a string that parses as one; an item enters a correlation when
    its verdict has a score (or a numeric top label) and it has a numeric label.
    """
    opts: dict[str, Any] = {"n_resamples": n_resamples, "confidence": confidence, "seed": seed}
    scored = [j for j in judgments if j.verdict.ok]
    scores = [j.verdict.score for j in scored if j.verdict.score is not None]
    mean_score = bootstrap(_mean, scores, vectorized=True, **opts)

    tops = Counter(j.verdict.top_label for j in scored if j.verdict.top_label is not None)
    keys = sorted(tops, key=lambda k: (_numeric(k) is None, _numeric(k) or 0.0, k))
    top_labels = {k: tops[k] for k in keys}

    labelled = [(j, y) for j in scored if (y := _numeric(j.label)) is not None]
    score_pairs = [(j.verdict.score, y) for j, y in labelled if j.verdict.score is not None]
    top_pairs = [(t, y) for j, y in labelled if (t := _numeric(j.verdict.top_label)) is not None]
    score_vs: dict[str, Estimate] = {}
    top_vs: dict[str, Estimate] = {}
    if labelled:
        for name, fn in _CORRELATIONS.items():
            if score_pairs:
                score_vs[name] = fn([p for p, _ in score_pairs], [y for _, y in score_pairs], **opts)
            if top_pairs:
                top_vs[name] = fn([t for t, _ in top_pairs], [y for _, y in top_pairs], **opts)
    return ScoreSummary(
        counts=Counts.of(judgments),
        mean_score=mean_score,
        top_labels=top_labels,
        n_labeled=len(labelled),
        score_vs_label=score_vs,
        top_vs_label=top_vs,
    )


class CompareSummary(BaseModel):
    """Summary of pairwise judgments.

    ``win_rate_a`` is (#A + 0.5 #tie) / #preferences over scored verdicts and
    ``p_a_mean`` the mean P(A). ``order_consistency`` is the share of scored
    verdicts (with both orders run) whose two orders agreed, with a Wilson
    interval. With A/B/tie labels: ``accuracy`` and ``kappa`` of the preference
    against the label; ``accuracy_orders_agree`` on the labelled items whose
    orders agreed and ``share_orders_agree`` the share of such items among the
    labelled items with order information; ``per_order_accuracy`` the accuracy
    of each order's own verdict (``verdict.parts``).
    """

    counts: Counts
    preferences: dict[str, int] = Field(default_factory=dict)
    win_rate_a: Estimate
    p_a_mean: Estimate
    order_consistency: Estimate | None = None
    n_labeled: int = 0
    accuracy: Estimate | None = None
    kappa: Estimate | None = None
    accuracy_orders_agree: Estimate | None = None
    share_orders_agree: Estimate | None = None
    per_order_accuracy: list[Estimate] = Field(default_factory=list)

    def rows(self) -> list[tuple[str, str]]:
        rows = [*self.counts.rows(), ("preferences", _distribution_text(self.preferences))]
        rows += [("win rate A", str(self.win_rate_a)), ("mean P(A)", str(self.p_a_mean))]
        if self.order_consistency is not None:
            rows.append(("order consistency", str(self.order_consistency)))
        if self.n_labeled:
            rows.append(("labelled", str(self.n_labeled)))
            optional = [
                ("accuracy", self.accuracy),
                ("Cohen's kappa", self.kappa),
                ("accuracy (orders agree)", self.accuracy_orders_agree),
                ("share orders agree (labelled)", self.share_orders_agree),
            ]
            rows += [(name, str(est)) for name, est in optional if est is not None]
            rows += [(f"accuracy (order {i + 1})", str(est)) for i, est in enumerate(self.per_order_accuracy)]
        return rows


def compare_summary(
    judgments: Sequence[Judgment],
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> CompareSummary:
    """Counts, win rate, P(A), order consistency and, with A/B/tie labels, agreement.

    Only scored verdicts enter the statistics. Labels are read
    case-insensitively; other labels count as missing. Per-order accuracy is
    reported when verdicts carry two ``parts``; part ``i`` counts when it is
    scored with a preference.
    """
    opts: dict[str, Any] = {"n_resamples": n_resamples, "confidence": confidence, "seed": seed}
    scored = [j for j in judgments if j.verdict.ok]
    prefs = [j.verdict.preference for j in scored if j.verdict.preference is not None]
    counted = Counter(prefs)
    wins = [{"A": 1.0, "B": 0.0, "tie": 0.5}[p] for p in prefs]
    p_a = [j.verdict.p_a for j in scored if j.verdict.p_a is not None]
    agree = [j.verdict.orders_agree for j in scored if j.verdict.orders_agree is not None]
    summary = CompareSummary(
        counts=Counts.of(judgments),
        preferences={p: counted[p] for p in PREFERENCES},
        win_rate_a=bootstrap(_mean, wins, vectorized=True, **opts),
        p_a_mean=bootstrap(_mean, p_a, vectorized=True, **opts),
        order_consistency=wilson_interval(sum(agree), len(agree), confidence) if agree else None,
    )

    labelled = [(j, y) for j in scored if (y := _preference(j.label)) is not None and j.verdict.preference]
    if not labelled:
        return summary
    pred = [j.verdict.preference for j, _ in labelled]
    gold = [y for _, y in labelled]
    with_order = [
        (j.verdict.preference, y, j.verdict.orders_agree) for j, y in labelled if j.verdict.orders_agree is not None
    ]
    consistent = [(p, y) for p, y, ok in with_order if ok]
    per_order: list[Estimate] = []
    # Parts are the two orders only when the verdict says whether they agreed (a jury's parts are its members).
    if any(len(j.verdict.parts) == 2 and j.verdict.orders_agree is not None for j, _ in labelled):
        for i in range(2):
            pairs = [
                (part.preference, y)
                for j, y in labelled
                if len(j.verdict.parts) == 2 and j.verdict.orders_agree is not None
                and (part := j.verdict.parts[i]).ok and part.preference is not None
            ]
            per_order.append(accuracy([p for p, _ in pairs], [y for _, y in pairs], **opts))
    return summary.model_copy(
        update={
            "n_labeled": len(labelled),
            "accuracy": accuracy(pred, gold, **opts),
            "kappa": cohen_kappa(pred, gold, labels=list(PREFERENCES), **opts),
            "accuracy_orders_agree": (
                accuracy([p for p, _ in consistent], [y for _, y in consistent], **opts) if with_order else None
            ),
            "share_orders_agree": wilson_interval(len(consistent), len(with_order), confidence) if with_order else None,
            "per_order_accuracy": per_order,
        }
    )


class RankSummary(BaseModel):
    """Summary of listwise rankings.

    ``views_agree`` is the mean share of permutations whose own best candidate is
    the aggregate's; ``confidence`` the mean P(best) of the chosen candidate. With
    labels: ``top1_accuracy`` (the judge's best is the labelled best, over
    ``n_labeled`` items) and, for items with a full human ranking
    (``metadata["label_ranking"]``), ``kendall_tau``: the mean over items of
    Kendall's tau between the judge's and the human ranking, with a bootstrap CI
    over items.
    """

    counts: Counts
    views_agree: Estimate
    confidence: Estimate
    n_labeled: int = 0
    top1_accuracy: Estimate | None = None
    n_ranked: int = 0
    kendall_tau: Estimate | None = None

    def rows(self) -> list[tuple[str, str]]:
        rows = [*self.counts.rows(), ("orders agree on the best", str(self.views_agree)),
                ("mean P(best)", str(self.confidence))]
        if self.top1_accuracy is not None:
            rows += [("labelled", str(self.n_labeled)), ("top-1 accuracy", str(self.top1_accuracy))]
        if self.kendall_tau is not None:
            rows.append((f"Kendall tau vs human ranking ({self.n_ranked} items)", str(self.kendall_tau)))
        return rows


def rank_summary(
    judgments: Sequence[Judgment],
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> RankSummary:
    """Counts, agreement across orders, top-1 accuracy and Kendall tau against human rankings."""
    from scipy.stats import kendalltau

    opts: dict[str, Any] = {"n_resamples": n_resamples, "confidence": confidence, "seed": seed}
    scored = [j for j in judgments if j.verdict.ok and j.verdict.ranking]
    agree = [float(j.verdict.metadata["views_agree"]) for j in scored if "views_agree" in j.verdict.metadata]
    conf = [j.verdict.confidence for j in scored if j.verdict.confidence is not None]
    summary = RankSummary(counts=Counts.of(judgments), views_agree=bootstrap(_mean, agree, vectorized=True, **opts),
                          confidence=bootstrap(_mean, conf, vectorized=True, **opts))
    labelled = [j for j in scored if j.label is not None]
    if labelled:
        summary.n_labeled = len(labelled)
        summary.top1_accuracy = accuracy([j.verdict.top_label for j in labelled], [str(j.label) for j in labelled],
                                         **opts)
    taus = []
    for j in scored:
        human = j.metadata.get("label_ranking")
        if isinstance(human, list) and sorted(human) == sorted(j.verdict.ranking or []):
            judge_rank = {c: r for r, c in enumerate(j.verdict.ranking or [])}
            human_rank = {c: r for r, c in enumerate(human)}
            tau = kendalltau([judge_rank[c] for c in human], [human_rank[c] for c in human]).statistic
            if math.isfinite(tau):
                taus.append(float(tau))
    if taus:
        summary.n_ranked = len(taus)
        summary.kendall_tau = bootstrap(_mean, taus, vectorized=True, **opts)
    return summary
