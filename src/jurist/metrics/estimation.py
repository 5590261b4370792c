"""Pass rates corrected for the judge's own measured error (Rogan-Gladen).

A judge that passes 70% of a run's items does not say that 70% deserve to pass: it
misses some good items (its true positive rate, *sensitivity*, is below 1) and passes
some bad ones (its false positive rate, ``1 - specificity``, is above 0). Measured on a
golden set (items a human labelled, judged by the same judge), these two rates invert
the judge's raw pass rate ``q`` into an estimate of the true one (Rogan & Gladen, 1978)::

    p = (q + specificity - 1) / (sensitivity + specificity - 1)      clipped to [0, 1]

The denominator is Youden's J (``sensitivity + specificity - 1``): 1 for a perfect
judge, 0 for one whose verdicts are independent of the truth. Every error of ``q`` and
of the two rates is multiplied by ``1 / J``, so the confidence interval comes from a
bootstrap over **both** samples: the run (which fixes ``q``) and the golden set (which
fixes the rates), each redrawn with replacement, and the percentile interval of the
redrawn estimates (``benchmarks/estimation.py`` measures its coverage in simulation; a
BCa interval covered no better there). Binary outcomes make that bootstrap a multinomial
draw of the cell counts (numpy), the same distribution as redrawing items, at a cost that
does not grow with the run.

When the judge is too weak the correction is a state, not a number: :data:`MIN_YOUDEN`.
The golden items may be part of the run (a labelled sample of it); the two samples are
then slightly dependent, which the bootstrap ignores.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from jurist.metrics.uncertainty import Estimate, wilson_interval
from jurist.types import Item, Judgment

__all__ = ["MIN_YOUDEN", "CorrectedRate", "ErrorRates", "corrected_pass_rate", "error_rates", "estimate_run",
           "golden_decisions", "rogan_gladen"]

MIN_YOUDEN = 0.1
"""The correction is reported only when the lower bound of Youden's J (95% bootstrap over the golden set)
reaches this. Below it the data allow a judge whose verdicts barely depend on the truth: every point of
error in the raw rate would become more than ten points in the corrected one, and the denominator of the
correction may be 0, so the corrected rate could be anything in [0, 1]."""

CorrectionState = Literal["corrected", "too_weak", "undefined"]


class ErrorRates(BaseModel):
    """A judge's error rates on a golden set: P(judge passes | human passes) and P(judge fails | human fails)."""

    model_config = ConfigDict(frozen=True)

    sensitivity: Estimate
    specificity: Estimate
    youden: Estimate
    n_positive: int
    n_negative: int

    @property
    def fpr(self) -> float:
        """False positive rate: the judge passes an item a human failed."""
        return 1.0 - self.specificity.value

    @property
    def fnr(self) -> float:
        """False negative rate: the judge fails an item a human passed."""
        return 1.0 - self.sensitivity.value

    def as_dict(self) -> dict[str, object]:
        """The rates as JSON (to store beside a corrected reward or a report)."""
        return {"fpr": self.fpr, "fnr": self.fnr, **self.model_dump(mode="json")}


class CorrectedRate(BaseModel):
    """The judge's raw pass rate and, when the judge is strong enough, the rate corrected for its error.

    ``state`` is ``"corrected"`` (``corrected`` holds the estimate), ``"too_weak"`` (Youden's J may be
    below :data:`MIN_YOUDEN`) or ``"undefined"`` (the golden set has no human pass or no human fail, so
    one of the rates cannot be measured); ``reason`` says why in words.
    """

    state: CorrectionState
    raw: Estimate
    corrected: Estimate | None = None
    rates: ErrorRates
    min_youden: float = MIN_YOUDEN
    reason: str = ""

    def rows(self) -> list[tuple[str, str]]:
        r = self.rates
        return [
            ("raw pass rate (judge)", str(self.raw)),
            ("sensitivity (TPR) on golden", str(r.sensitivity)),
            ("specificity (1 - FPR) on golden", str(r.specificity)),
            ("Youden's J", str(r.youden)),
            ("corrected pass rate", str(self.corrected) if self.corrected is not None else f"{self.state}: {self.reason}"),
        ]


def rogan_gladen(q: float | np.ndarray, sensitivity: float | np.ndarray,
                 specificity: float | np.ndarray) -> np.ndarray:
    """The Rogan-Gladen prevalence, clipped to [0, 1]; NaN where Youden's J <= 0 (no correction exists)."""
    j = np.asarray(sensitivity, dtype=float) + np.asarray(specificity, dtype=float) - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        p = (np.asarray(q, dtype=float) + np.asarray(specificity, dtype=float) - 1.0) / j
    return np.where(j > 0, np.clip(p, 0.0, 1.0), np.nan)


def percentile_interval(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile interval over the finite bootstrap draws; NaN when more than half are undefined (the rule of
    :func:`jurist.metrics.uncertainty.bootstrap`, for draws made elsewhere)."""
    valid = draws[np.isfinite(draws)]
    if valid.size == 0 or valid.size * 2 < draws.size:
        return math.nan, math.nan
    alpha = 1.0 - confidence
    low, high = np.quantile(valid, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def _golden_cells(judge_pass: np.ndarray, human_pass: np.ndarray) -> np.ndarray:
    """Counts of (human pass & judge pass, human pass & judge fail, human fail & judge pass, both fail)."""
    return np.array([np.sum(human_pass & judge_pass), np.sum(human_pass & ~judge_pass),
                     np.sum(~human_pass & judge_pass), np.sum(~human_pass & ~judge_pass)])


def _rates_of(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sensitivity and specificity from cell counts (last axis), NaN where a class is empty."""
    with np.errstate(divide="ignore", invalid="ignore"):
        sens = cells[..., 0] / (cells[..., 0] + cells[..., 1])
        spec = cells[..., 3] / (cells[..., 2] + cells[..., 3])
    return sens, spec


def _as_bool(values: Sequence[bool] | np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    return array.astype(bool)


def error_rates(judge_pass: Sequence[bool] | np.ndarray, human_pass: Sequence[bool] | np.ndarray, *,
                confidence: float = 0.95, n_resamples: int = 2000, seed: int | None = 0) -> ErrorRates:
    """Sensitivity and specificity (Wilson intervals) and Youden's J (bootstrap) of a judge on a golden set."""
    judge, human = _as_bool(judge_pass, "judge_pass"), _as_bool(human_pass, "human_pass")
    if judge.size != human.size:
        raise ValueError(f"judge_pass has {judge.size} entries, human_pass {human.size}")
    cells = _golden_cells(judge, human)
    n_pos, n_neg = int(cells[0] + cells[1]), int(cells[2] + cells[3])
    sens, spec = _rates_of(cells)
    low = high = math.nan
    if judge.size:
        draws = np.random.default_rng(seed).multinomial(judge.size, cells / judge.size, size=n_resamples)
        draw_sens, draw_spec = _rates_of(draws)
        low, high = percentile_interval(draw_sens + draw_spec - 1.0, confidence)
    youden = Estimate(value=float(sens + spec - 1.0), low=low, high=high, n=int(judge.size), method="bootstrap",
                      confidence=confidence)
    return ErrorRates(sensitivity=wilson_interval(int(cells[0]), n_pos, confidence),
                      specificity=wilson_interval(int(cells[3]), n_neg, confidence),
                      youden=youden, n_positive=n_pos, n_negative=n_neg)


def corrected_pass_rate(run_pass: Sequence[bool] | np.ndarray, golden_judge_pass: Sequence[bool] | np.ndarray,
                        golden_human_pass: Sequence[bool] | np.ndarray, *, min_youden: float = MIN_YOUDEN,
                        confidence: float = 0.95, n_resamples: int = 2000, seed: int | None = 0) -> CorrectedRate:
    """The run's raw pass rate and its Rogan-Gladen correction, with a bootstrap over the run and the golden set.

    ``run_pass`` holds the judge's pass/fail on every judged item of the run; the golden arrays hold the
    judge's and the human's pass/fail on the labelled items.
    """
    run = _as_bool(run_pass, "run_pass")
    judge, human = _as_bool(golden_judge_pass, "golden_judge_pass"), _as_bool(golden_human_pass, "golden_human_pass")
    rates = error_rates(judge, human, confidence=confidence, n_resamples=n_resamples, seed=seed)
    raw = wilson_interval(int(run.sum()), int(run.size), confidence)
    if rates.n_positive == 0 or rates.n_negative == 0:
        missing = "pass" if rates.n_positive == 0 else "fail"
        return CorrectedRate(state="undefined", raw=raw, rates=rates, min_youden=min_youden,
                             reason=f"no golden item a human labelled {missing}: the judge's "
                                    f"{'sensitivity' if missing == 'pass' else 'specificity'} cannot be measured")
    if run.size == 0:
        return CorrectedRate(state="undefined", raw=raw, rates=rates, min_youden=min_youden,
                             reason="no judged item in the run")
    j = rates.youden
    if not j.low >= min_youden:  # also when the bound is NaN: nothing shows the judge is strong enough
        return CorrectedRate(state="too_weak", raw=raw, rates=rates, min_youden=min_youden,
                             reason=f"Youden's J is {j.format()}; the correction needs its lower bound >= {min_youden}")
    rng = np.random.default_rng(None if seed is None else seed + 1)
    # Independent redraws of the golden set (its four cells) and of the run (its pass count).
    cells = _golden_cells(judge, human)
    golden_draws = rng.multinomial(judge.size, cells / judge.size, size=n_resamples)
    q_draws = rng.binomial(run.size, run.mean(), size=n_resamples) / run.size
    point = float(rogan_gladen(run.mean(), rates.sensitivity.value, rates.specificity.value))
    low, high = percentile_interval(rogan_gladen(q_draws, *_rates_of(golden_draws)), confidence)
    corrected = Estimate(value=point, low=low, high=high, n=int(run.size), method="bootstrap (run x golden)",
                         confidence=confidence)
    return CorrectedRate(state="corrected", raw=raw, corrected=corrected, rates=rates, min_youden=min_youden)


# -------------------------------------------------------------------- from judgments


def _binary_scale(judgments: Sequence[Judgment]) -> bool:
    labels = {label for j in judgments for label in j.verdict.distribution}
    return bool(labels) and labels <= {"pass", "fail", "yes", "no"}


def _passes(value: object, kind: str, pass_at: float) -> bool:
    """A verdict or a human label as pass/fail: a score >= ``pass_at``; a comparison "A" (A wins)."""
    if kind == "compare":
        return str(value).strip().upper() == "A"
    return float(value) >= pass_at  # type: ignore[arg-type]


def golden_decisions(judgments: Iterable[Judgment], golden: Iterable[Item], *, pass_at: float | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The judge's pass/fail on every scored item of a run, and the judge's and the human's on the golden items.

    A pointwise verdict passes when its score is >= ``pass_at`` (default 0.5 on a pass/fail or yes/no
    scale; required on a numeric scale), and so does a human score. A pairwise verdict "passes" when it
    prefers A, and a human label when it is "A": the rate is then A's win rate over B. Unscored and
    failed verdicts are left out; golden items without a label are ignored.

    Raises ``ValueError`` when there is nothing to estimate from (no scored verdict, no golden id in the
    run, a numeric scale without ``pass_at``).
    """
    scored = [j for j in judgments if j.verdict.ok]
    if not scored:
        raise ValueError("the run has no scored verdict")
    kinds = {j.verdict.kind for j in scored}
    if len(kinds) != 1 or not kinds <= {"score", "compare"}:
        raise ValueError(f"estimate needs pointwise (score) or pairwise (compare) verdicts, got {sorted(kinds)}")
    kind = kinds.pop()
    if kind == "score" and pass_at is None:
        if not _binary_scale(scored):
            raise ValueError("the verdicts are on a numeric scale: say which score passes (pass_at, e.g. 4)")
        pass_at = 0.5
    threshold = 0.5 if pass_at is None else pass_at
    verdict_value = {j.item_id: (j.verdict.preference if kind == "compare" else j.verdict.score) for j in scored}
    run_pass = np.array([_passes(v, kind, threshold) for v in verdict_value.values()], dtype=bool)
    labelled = [item for item in golden if item.label is not None]
    if not labelled:
        raise ValueError("no golden item has a label")
    matched = [item for item in labelled if item.id in verdict_value]
    if not matched:
        some = ", ".join(repr(i.id) for i in labelled[:3])
        theirs = ", ".join(repr(k) for k in list(verdict_value)[:3])
        raise ValueError(f"no golden item id is a scored item of the run (golden ids e.g. {some}; run ids e.g. {theirs})")
    judge = np.array([_passes(verdict_value[i.id], kind, threshold) for i in matched], dtype=bool)
    human = np.array([_passes(i.label, kind, threshold) for i in matched], dtype=bool)
    return run_pass, judge, human


def estimate_run(judgments: Iterable[Judgment], golden: Iterable[Item], *, pass_at: float | None = None,
                 min_youden: float = MIN_YOUDEN, confidence: float = 0.95, n_resamples: int = 2000,
                 seed: int | None = 0) -> CorrectedRate:
    """:func:`corrected_pass_rate` of a run's judgments with the human labels of ``golden`` items (same ids);
    what passes is :func:`golden_decisions`'s rule."""
    run_pass, judge, human = golden_decisions(judgments, golden, pass_at=pass_at)
    return corrected_pass_rate(run_pass, judge, human, min_youden=min_youden, confidence=confidence,
                               n_resamples=n_resamples, seed=seed)
