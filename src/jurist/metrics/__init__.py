"""Metrics for judges: agreement with human labels, uncertainty, run summaries.

Every statistic is an :class:`Estimate` (value, confidence interval, n).
"""

from jurist.metrics.agreement import (
    GroupedEstimate,
    accuracy,
    cohen_kappa,
    grouped_correlation,
    kendall,
    krippendorff_alpha,
    pearson,
    spearman,
)
from jurist.metrics.summary import CompareSummary, Counts, ScoreSummary, compare_summary, score_summary
from jurist.metrics.uncertainty import Estimate, bootstrap, wilson_interval

__all__ = [
    "CompareSummary",
    "Counts",
    "Estimate",
    "GroupedEstimate",
    "ScoreSummary",
    "accuracy",
    "bootstrap",
    "cohen_kappa",
    "compare_summary",
    "grouped_correlation",
    "kendall",
    "krippendorff_alpha",
    "pearson",
    "score_summary",
    "spearman",
    "wilson_interval",
]
