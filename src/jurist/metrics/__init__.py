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
from jurist.metrics.calibration import (
    Calibrator,
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
from jurist.metrics.consistency import order_consistency, score_pair_inconsistency, transitivity
from jurist.metrics.meta import MetaReport, meta_report
from jurist.metrics.summary import CompareSummary, Counts, ScoreSummary, compare_summary, score_summary
from jurist.metrics.uncertainty import Estimate, bootstrap, wilson_interval

__all__ = [
    "Calibrator",
    "IsotonicCalibration",
    "MetaReport",
    "PlattScaling",
    "TemperatureScaling",
    "apply_calibration",
    "brier_score",
    "expected_calibration_error",
    "fit_calibrator",
    "load_calibrator",
    "meta_report",
    "order_consistency",
    "reliability_diagram",
    "score_pair_inconsistency",
    "transitivity",
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
