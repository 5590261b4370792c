"""A stored run held to a bar, for CI: pass or fail on a confidence bound, never on noise.

The statistic is the run's mean score (score, check, correct: the mean expected score,
mean P(yes), mean P(correct)) or its win rate of A (compare), with a bootstrap interval
at ``confidence``. Two rules:

- ``lower`` (default): pass only when the interval's lower bound is at or above the bar,
  i.e. the run is shown to meet it;
- ``upper``: fail only when the interval's upper bound is below the bar, i.e. the run is
  shown to miss it (a regression check that tolerates noise).

Unusable verdicts (failed, unscored) carry no score; when more than ``max_unscored`` of
the run's judgments are unusable the check fails, since the interval then describes a
different set of items than the run.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel

from jurist.engine.store import Store
from jurist.metrics.summary import compare_summary, score_summary
from jurist.metrics.uncertainty import Estimate

Rule = Literal["lower", "upper"]


class RunCheck(BaseModel):
    """The outcome of holding one run to a bar, and why."""

    run_id: str
    statistic: str
    estimate: Estimate
    bar: float
    rule: Rule
    unusable: int
    total: int
    passed: bool
    reason: str


def check_run(store: Store, run: str, min_score: float, *, confidence: float = 0.95, rule: Rule = "lower",
              max_unscored: float = 0.05, n_resamples: int = 2000) -> RunCheck:
    """Hold a stored run (id or name) to ``min_score``; a ``LookupError`` when the store has no such run."""
    record = store.find_run(run)
    if record is None:
        raise LookupError(f"no run {run!r} in {store.path}")
    judgments = list(store.judgments(record.id))
    kind = record.judge.get("protocol")
    if kind == "listwise":
        raise ValueError(f"run {record.id} ranks candidates: it has no mean score or win rate to hold to a bar")
    opts = {"confidence": confidence, "n_resamples": n_resamples}
    if kind == "pairwise":
        statistic, estimate = "win rate of A", compare_summary(judgments, **opts).win_rate_a
    else:
        statistic, estimate = "mean score", score_summary(judgments, **opts).mean_score
    unusable = sum(1 for j in judgments if not j.verdict.ok)
    common = {"run_id": record.id, "statistic": statistic, "estimate": estimate, "bar": min_score, "rule": rule,
              "unusable": unusable, "total": len(judgments)}
    level = f"{confidence:.0%}"
    if not judgments or math.isnan(estimate.value):
        return RunCheck(passed=False, reason=f"run {record.id} has no usable verdict", **common)
    if unusable > max_unscored * len(judgments):
        return RunCheck(passed=False, reason=f"{unusable} of {len(judgments)} verdicts are failed or unscored "
                                             f"(more than {max_unscored:.0%}): the interval would not describe "
                                             f"the run", **common)
    if not estimate.has_ci:
        return RunCheck(passed=False, reason=f"{statistic} {estimate}: too few verdicts for a {level} interval",
                        **common)
    shown = f"{statistic} {estimate} ({level} interval)"
    if rule == "lower":
        passed = estimate.low >= min_score
        reason = (f"{shown}: the lower bound {estimate.low:.3f} is at or above the bar {min_score:g}" if passed
                  else f"{shown}: the lower bound {estimate.low:.3f} is below the bar {min_score:g}, so the run is "
                       f"not shown to meet it")
    else:
        passed = estimate.high >= min_score
        reason = (f"{shown}: the bar {min_score:g} is not above the whole interval (not shown to miss it)" if passed
                  else f"{shown}: the upper bound {estimate.high:.3f} is below the bar {min_score:g}")
    return RunCheck(passed=passed, reason=reason, **common)
