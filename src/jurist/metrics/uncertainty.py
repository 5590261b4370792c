"""Point estimates with confidence intervals: the percentile bootstrap and Wilson.

Every metric in :mod:`jurist.metrics` returns an :class:`Estimate`: the statistic
on the full data plus a confidence interval. Intervals come from
:func:`bootstrap` (``scipy.stats.bootstrap`` drawing items with replacement, or
whole groups of items for a cluster bootstrap) or, for a plain proportion,
:func:`wilson_interval` (``scipy.stats.binomtest``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, field_validator
from scipy import stats

__all__ = ["Estimate", "bootstrap", "wilson_interval"]

# Upper bound on the elements of one batch of resampled indices (resamples x units).
_BATCH_ELEMENTS = 2_000_000


class Estimate(BaseModel):
    """A statistic with a confidence interval.

    ``value`` is the statistic on the full data; ``low``/``high`` bound the
    ``confidence`` interval (both NaN when no interval was computed or none
    could be). ``n`` counts the items the statistic was computed on and
    ``n_groups`` the groups when groups were the resampling unit. ``method``
    names how the interval was obtained (``"bootstrap"``, ``"cluster
    bootstrap"``, ``"wilson"`` or ``"none"``).
    """

    model_config = ConfigDict(frozen=True)

    value: float
    low: float = math.nan
    high: float = math.nan
    n: int
    method: str = "none"
    confidence: float = 0.95
    n_groups: int | None = None

    @field_validator("value", "low", "high", mode="before")
    @classmethod
    def _none_is_nan(cls, v: Any) -> Any:
        """JSON has no NaN: it is written as ``null`` and read back as NaN."""
        return math.nan if v is None else v

    @property
    def has_ci(self) -> bool:
        """Whether both interval bounds are finite numbers."""
        return not (math.isnan(self.low) or math.isnan(self.high))

    def format(self, digits: int = 3) -> str:
        """Render as ``0.615 [0.547, 0.680] n=200`` (``n/a n=0`` without a value)."""
        size = f"n={self.n}"
        if self.n_groups is not None:
            size += f" ({self.n_groups} groups)"
        if math.isnan(self.value):
            return f"n/a {size}"
        text = f"{self.value:.{digits}f}"
        if self.has_ci:
            text += f" [{self.low:.{digits}f}, {self.high:.{digits}f}]"
        return f"{text} {size}"

    def __str__(self) -> str:
        return self.format()


def _empty(method: str, confidence: float, n: int = 0) -> Estimate:
    return Estimate(value=math.nan, n=n, method=method, confidence=confidence)


def _group_codes(groups: Sequence[Hashable] | np.ndarray, n: int) -> np.ndarray:
    """Map arbitrary hashable group labels to 0..G-1 in order of first appearance."""
    labels = list(groups)
    if len(labels) != n:
        raise ValueError(f"groups has {len(labels)} entries, the data {n}")
    mapping: dict[Any, int] = {}
    return np.array([mapping.setdefault(g, len(mapping)) for g in labels], dtype=np.intp)


def bootstrap(
    stat_fn: Callable[..., Any],
    *arrays: Sequence[Any] | np.ndarray,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
    groups: Sequence[Hashable] | np.ndarray | None = None,
    vectorized: bool = False,
) -> Estimate:
    """Percentile bootstrap confidence interval of ``stat_fn(*arrays)``, drawn by ``scipy.stats.bootstrap``.

    The arrays are paired along their first axis (all have the same length
    ``n``): each resample draws ``n`` items with replacement, the same rows from
    every array. With ``groups`` (one label per item) whole groups are drawn
    instead (a cluster bootstrap: e.g. all judgments of one document travel
    together); a group drawn twice contributes its items twice.

    ``stat_fn`` receives the resampled arrays and returns a float. With
    ``vectorized=True`` it instead receives arrays with a leading batch axis,
    ``(batch, n, ...)``, and returns one value per row, shape ``(batch,)``;
    the point value is then computed on a batch of one. (Cluster resamples
    differ in length, so they are passed one at a time, still with a batch axis.)

    The interval is the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2``
    quantiles of the resampled statistics. Resamples on which the statistic is
    NaN (e.g. a correlation of a constant resample) are left out; when more
    than half are NaN, or there are fewer than two resampling units, the bounds
    are NaN. With ``n == 0`` the value is NaN too and ``stat_fn`` is not called.
    ``n_resamples=0`` computes the value only (``method="none"``).
    Results depend only on the data, the arguments and ``seed`` (the resamples
    are those of ``scipy.stats.bootstrap(..., rng=numpy.random.default_rng(seed))``).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if not arrays:
        raise ValueError("bootstrap needs at least one array")
    data = tuple(np.asarray(a) for a in arrays)
    n = len(data[0])
    if any(len(a) != n for a in data):
        raise ValueError(f"arrays differ in length: {[len(a) for a in data]}")
    method = "none" if n_resamples <= 0 else "bootstrap" if groups is None else "cluster bootstrap"
    codes = None if groups is None else _group_codes(groups, n)
    n_groups = None if codes is None else int(codes.max() + 1 if n else 0)
    if n == 0:
        return Estimate(value=math.nan, n=0, method=method, confidence=confidence, n_groups=n_groups)

    def evaluate(rows: np.ndarray) -> np.ndarray:
        """Statistic of each row of item indices ``(batch, items)``, as a float array."""
        with np.errstate(divide="ignore", invalid="ignore"):
            if vectorized:
                return np.asarray(stat_fn(*(a[rows] for a in data)), dtype=float).reshape(-1)
            return np.array([stat_fn(*(a[row] for a in data)) for row in rows], dtype=float)

    value = float(evaluate(np.arange(n)[None])[0])
    n_units = n if codes is None else n_groups
    assert n_units is not None
    low = high = math.nan
    if n_units >= 2 and n_resamples > 0:
        if codes is None:
            def resampled(draws: np.ndarray, axis: int = -1) -> np.ndarray:
                return evaluate(draws)
        else:
            order = np.argsort(codes, kind="stable")
            sizes = np.bincount(codes, minlength=n_units)
            starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))

            def resampled(draws: np.ndarray, axis: int = -1) -> np.ndarray:
                """Each row of drawn groups becomes the items of those groups (resamples differ in length)."""
                out = []
                for row in draws:
                    sel = sizes[row]
                    # positions in `order` of every item of every drawn group
                    pos = np.repeat(starts[row] - np.cumsum(sel) + sel, sel) + np.arange(sel.sum())
                    out.append(evaluate(order[pos][None]))
                return np.concatenate(out)

        # scipy draws the resampling units (items, or groups) and collects the statistic; the interval
        # is the percentile one, taken here over the resamples whose statistic is not NaN (scipy's own
        # bounds turn NaN as soon as one resample is).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", stats.DegenerateDataWarning)
            boot = stats.bootstrap((np.arange(n_units),), resampled, n_resamples=n_resamples,
                                   batch=max(1, _BATCH_ELEMENTS // n_units), vectorized=True, method="percentile",
                                   confidence_level=confidence, rng=np.random.default_rng(seed)).bootstrap_distribution
        valid = boot[~np.isnan(boot)]
        if valid.size * 2 >= boot.size and valid.size > 0:
            alpha = 1.0 - confidence
            low, high = (float(q) for q in np.quantile(valid, [alpha / 2, 1 - alpha / 2]))
    return Estimate(value=value, low=low, high=high, n=n, method=method, confidence=confidence, n_groups=n_groups)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Estimate:
    """The proportion ``successes / n`` with its Wilson score interval.

    Uses :meth:`scipy.stats.binomtest(...).proportion_ci <scipy.stats.binomtest>`
    (``method="wilson"``). With ``n == 0`` the value and bounds are NaN.
    """
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return _empty("wilson", confidence)
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return Estimate(
        value=successes / n,
        low=float(ci.low),
        high=float(ci.high),
        n=int(n),
        method="wilson",
        confidence=confidence,
    )
