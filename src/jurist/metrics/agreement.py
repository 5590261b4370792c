"""Agreement between a judge and human labels (or between raters).

Every function returns an :class:`~jurist.metrics.uncertainty.Estimate` whose
interval is a percentile bootstrap over items (over units for Krippendorff's
alpha, over groups for :func:`grouped_correlation`); ``ci=False`` skips the
resampling and leaves the bounds NaN. Pairs where either value is missing
(``None`` or NaN) are dropped before anything is computed.

Krippendorff's alpha is the ``krippendorff`` package's and the correlations are
scipy's; Cohen's kappa is computed here (see :func:`cohen_kappa` for why).
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Literal

import krippendorff
import numpy as np
from scipy import stats

from jurist.metrics.uncertainty import Estimate, bootstrap

__all__ = [
    "judgment_correct",
    "GroupedEstimate",
    "accuracy",
    "cohen_kappa",
    "grouped_correlation",
    "kendall",
    "krippendorff_alpha",
    "pearson",
    "spearman",
]

KappaWeights = Literal["linear", "quadratic"] | None
AlphaLevel = Literal["nominal", "ordinal", "interval", "ratio"]
CorrelationMethod = Literal["spearman", "kendall", "pearson"]


# ---------------------------------------------------------------- helpers


def _is_missing(x: Any) -> bool:
    return x is None or (isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isnan(x))


def _to_array(values: Sequence[Any]) -> np.ndarray:
    """A float array when every value is a real number, else an object array."""
    if all(isinstance(v, numbers.Real) for v in values):
        return np.asarray(values, dtype=float)
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def _pairs(
    a: Sequence[Any] | np.ndarray, b: Sequence[Any] | np.ndarray, groups: Sequence[Hashable] | None = None
) -> tuple[np.ndarray, np.ndarray, list[Hashable] | None]:
    """Keep the positions where neither ``a`` nor ``b`` is missing."""
    la, lb = list(a), list(b)
    if len(la) != len(lb):
        raise ValueError(f"inputs differ in length: {len(la)} and {len(lb)}")
    lg = None if groups is None else list(groups)
    if lg is not None and len(lg) != len(la):
        raise ValueError(f"groups has {len(lg)} entries, the data {len(la)}")
    keep = [i for i in range(len(la)) if not (_is_missing(la[i]) or _is_missing(lb[i]))]
    kept_groups = None if lg is None else [lg[i] for i in keep]
    return _to_array([la[i] for i in keep]), _to_array([lb[i] for i in keep]), kept_groups


def _estimate(stat_fn: Callable[..., Any], *arrays: np.ndarray, ci: bool, n_resamples: int, vectorized: bool = True,
              **options: Any) -> Estimate:
    """:func:`bootstrap` with ``ci=False`` meaning no resamples (``options``: confidence, seed, groups)."""
    return bootstrap(stat_fn, *arrays, n_resamples=n_resamples if ci else 0, vectorized=vectorized, **options)


def _sort_labels(values: Sequence[Any]) -> list[Any]:
    """Distinct values, sorted when they are mutually comparable, else by first appearance."""
    distinct = list(dict.fromkeys(values))
    try:
        return sorted(distinct)
    except TypeError:
        return distinct


def _codes(values: Sequence[Any], categories: Sequence[Any], name: str) -> np.ndarray:
    """Position of each value in ``categories``, -1 for a missing one; a value outside them raises."""
    index = {c: i for i, c in enumerate(categories)}
    codes = np.array([index.get(v, -1) for v in values], dtype=np.intp)
    unknown = {values[i] for i in np.flatnonzero(codes < 0) if not _is_missing(values[i])}
    if unknown:
        raise ValueError(f"values not in {name}: {sorted(map(repr, unknown))}")
    return codes


# ---------------------------------------------------------------- accuracy


def _mean_rows(x: np.ndarray) -> np.ndarray:
    return np.asarray(x.mean(axis=-1), dtype=float)


def accuracy(
    pred: Sequence[Any],
    gold: Sequence[Any],
    *,
    ci: bool = True,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
    groups: Sequence[Hashable] | None = None,
) -> Estimate:
    """Share of items where ``pred == gold``, with a bootstrap interval.

    ``groups`` (one label per item) switches to a cluster bootstrap.
    """
    p, g, kept = _pairs(pred, gold, groups)
    correct = (p == g).astype(float)
    return _estimate(_mean_rows, correct, ci=ci, n_resamples=n_resamples, confidence=confidence, seed=seed, groups=kept)


# ---------------------------------------------------------------- Cohen's kappa


def _kappa_weights(k: int, weights: KappaWeights) -> np.ndarray:
    i, j = np.indices((k, k))
    if weights is None:
        return np.asarray(i != j, dtype=float)
    if weights == "linear":
        return np.asarray(np.abs(i - j), dtype=float)
    if weights == "quadratic":
        return np.asarray((i - j) ** 2, dtype=float)
    raise ValueError(f"weights must be None, 'linear' or 'quadratic', got {weights!r}")


def _confusions(cells: np.ndarray, k: int) -> np.ndarray:
    """Confusion matrices ``(batch, k, k)`` of rows of cells ``a * k + b``; cell ``k * k`` (a gap) is skipped."""
    batch = cells.shape[0]
    flat = cells + (np.arange(batch) * (k * k + 1))[:, None]
    counts = np.bincount(flat.ravel(), minlength=batch * (k * k + 1)).reshape(batch, k * k + 1)
    return counts[:, : k * k].reshape(batch, k, k).astype(float)


def _kappa_from_confusion(conf: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Kappa of a batch of confusion matrices ``(batch, k, k)``: 1 - sum(w*O) / sum(w*E)."""
    n = conf.sum(axis=(1, 2))
    expected = conf.sum(axis=2)[:, :, None] * conf.sum(axis=1)[:, None, :] / n[:, None, None]
    return np.asarray(1.0 - (w * conf).sum(axis=(1, 2)) / (w * expected).sum(axis=(1, 2)), dtype=float)


def cohen_kappa(
    a: Sequence[Any],
    b: Sequence[Any],
    *,
    weights: KappaWeights = None,
    labels: Sequence[Any] | None = None,
    ci: bool = True,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
    groups: Sequence[Hashable] | None = None,
) -> Estimate:
    """Cohen's kappa between two raters, optionally linearly or quadratically weighted.

    ``labels`` fixes the categories and their order (the weights use the
    distance between positions in that order, as scikit-learn does); by default
    the sorted union of the observed values. A value outside ``labels`` raises
    ``ValueError``. Kappa is NaN when the expected disagreement is zero (both
    raters always use one and the same category).
    """
    # Hand-written, and checked against sklearn.metrics.cohen_kappa_score in the tests: one batched
    # bincount gives the kappa of all 2,000 resamples 70-170x faster than cohen_kappa_score called per
    # resample (benchmarks/kappa_bootstrap.py); scikit-learn is also 51 MB to install, so it stays an extra.
    x, y, kept = _pairs(a, b, groups)
    cats = list(labels) if labels is not None else _sort_labels([*x.tolist(), *y.tolist()])
    k = max(len(cats), 1)
    w = _kappa_weights(k, weights)
    cells = _codes(x.tolist(), cats, "labels") * k + _codes(y.tolist(), cats, "labels")
    return _estimate(lambda c: _kappa_from_confusion(_confusions(c, k), w), cells, ci=ci, n_resamples=n_resamples,
                     confidence=confidence, seed=seed, groups=kept)


# ---------------------------------------------------------------- Krippendorff's alpha


def krippendorff_alpha(
    reliability_data: Sequence[Sequence[Any]] | np.ndarray,
    *,
    level: AlphaLevel = "nominal",
    value_domain: Sequence[Any] | None = None,
    ci: bool = True,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> Estimate:
    """Krippendorff's alpha for ``reliability_data``: raters x units, ``None``/NaN = missing.

    ``krippendorff.alpha`` computes it from the unit-by-value counts
    (Krippendorff 2011, "Computing Krippendorff's alpha-reliability"). Units with
    fewer than two values are not pairable and are ignored; ``n`` is the number
    of pairable units, which the bootstrap resamples. ``value_domain`` fixes the
    order of the categories for ``level="ordinal"`` (default: sorted values);
    ``interval`` and ``ratio`` need numbers. Alpha is NaN when there is no
    expected disagreement (a single value observed) or no pairable unit.
    """
    if level not in ("nominal", "ordinal", "interval", "ratio"):
        raise ValueError(f"level must be nominal, ordinal, interval or ratio, got {level!r}")
    try:
        rows = [list(r) for r in reliability_data]
    except TypeError:
        raise ValueError("reliability_data must be raters x units (one sequence of values per rater)") from None
    if not rows:
        return Estimate(value=math.nan, n=0, method="none", confidence=confidence)
    n_units = len(rows[0])
    if any(len(r) != n_units for r in rows):
        raise ValueError("every rater needs one entry per unit")
    present = [v for r in rows for v in r if not _is_missing(v)]
    domain = list(value_domain) if value_domain is not None else _sort_labels(present)
    if level in ("interval", "ratio") and not all(isinstance(v, numbers.Real) for v in domain):
        raise ValueError(f"level={level!r} needs numeric values")
    codes = np.array([_codes(r, domain, "value_domain") for r in rows], dtype=np.intp).reshape(len(rows), n_units)
    units = np.broadcast_to(np.arange(n_units), codes.shape)
    counts = np.zeros((n_units, max(len(domain), 1)))
    np.add.at(counts, (units[codes >= 0], codes[codes >= 0]), 1)
    pairable = counts[counts.sum(axis=1) >= 2]
    # the package's distances use these values: the numbers themselves, or the positions in the domain
    values = np.asarray(domain, dtype=float) if level in ("interval", "ratio") else np.arange(len(domain))

    def stat(unit_counts: np.ndarray) -> float:
        if len(domain) < 2:  # no disagreement is possible (the package raises)
            return math.nan
        return float(krippendorff.alpha(value_counts=unit_counts, value_domain=values, level_of_measurement=level))

    return _estimate(stat, pairable, ci=ci, n_resamples=n_resamples, confidence=confidence, seed=seed,
                     vectorized=False)


# ---------------------------------------------------------------- correlations


def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of each row pair (NaN for constant rows or rows shorter than two)."""
    if x.shape[-1] < 2:
        return np.full(x.shape[:-1], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(stats.pearsonr(x, y, axis=-1).statistic, dtype=float)


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman rho of each row pair: Pearson r of the average ranks (as scipy.stats.spearmanr)."""
    return _pearson_rows(stats.rankdata(x, axis=-1), stats.rankdata(y, axis=-1))


def _kendall_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall tau-b of each row pair (scipy.stats.kendalltau)."""
    out = np.full(x.shape[0], np.nan)
    if x.shape[-1] < 2:
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(x.shape[0]):
            out[i] = stats.kendalltau(x[i], y[i]).statistic
    return out


_CORRELATIONS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "spearman": _spearman_rows,
    "kendall": _kendall_rows,
    "pearson": _pearson_rows,
}


def _numeric_pairs(
    x: Sequence[Any], y: Sequence[Any], groups: Sequence[Hashable] | None = None
) -> tuple[np.ndarray, np.ndarray, list[Hashable] | None]:
    a, b, kept = _pairs(x, y, groups)
    try:
        return a.astype(float), b.astype(float), kept
    except (TypeError, ValueError) as error:
        raise ValueError(f"correlations need numbers: {error}") from None


def _correlation(method: CorrelationMethod, doc: str) -> Callable[..., Estimate]:
    """The public function for one correlation method (the three differ only in the statistic)."""

    def correlation(
        x: Sequence[Any],
        y: Sequence[Any],
        *,
        ci: bool = True,
        n_resamples: int = 2000,
        confidence: float = 0.95,
        seed: int | None = 0,
        groups: Sequence[Hashable] | None = None,
    ) -> Estimate:
        a, b, kept = _numeric_pairs(x, y, groups)
        return _estimate(_CORRELATIONS[method], a, b, ci=ci, n_resamples=n_resamples, confidence=confidence,
                         seed=seed, groups=kept)

    correlation.__name__ = correlation.__qualname__ = method
    correlation.__doc__ = doc
    return correlation


spearman = _correlation("spearman", "Spearman's rank correlation (average ranks for ties, ``scipy.stats.rankdata``). "
                        "NaN if either side is constant.")
kendall = _correlation("kendall", "Kendall's tau-b (``scipy.stats.kendalltau``). NaN if either side is constant.")
pearson = _correlation("pearson", "Pearson's linear correlation (``scipy.stats.pearsonr``). NaN if either side is "
                       "constant.")


class GroupedEstimate(Estimate):
    """An :class:`Estimate` averaged over groups, with the groups that were left out.

    ``n_groups`` counts the groups that entered the average, ``skipped`` those
    left out, and ``n`` the items in the groups that entered.
    """

    skipped: int = 0

    def format(self, digits: int = 3) -> str:
        text = super().format(digits)
        return f"{text}, {self.skipped} skipped" if self.skipped else text


def grouped_correlation(
    pred: Sequence[Any],
    gold: Sequence[Any],
    groups: Sequence[Hashable],
    *,
    method: CorrelationMethod = "spearman",
    ci: bool = True,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> GroupedEstimate:
    """Mean within-group correlation (G-Eval's per-document correlation).

    The correlation of ``pred`` and ``gold`` is computed within each group
    (e.g. the candidate summaries of one document) and averaged over groups.
    Groups where either vector is constant (which includes single-item groups)
    have no correlation and are skipped; ``skipped`` says how many. The interval
    resamples groups.
    """
    if method not in _CORRELATIONS:
        raise ValueError(f"method must be spearman, kendall or pearson, got {method!r}")
    a, b, kept = _numeric_pairs(pred, gold, groups)
    assert kept is not None
    members: dict[Hashable, list[int]] = {}
    for i, g in enumerate(kept):
        members.setdefault(g, []).append(i)
    per_group: list[float] = []
    items = 0
    for idx in members.values():
        ga, gb = a[idx], b[idx]
        if len(idx) < 2 or np.ptp(ga) == 0 or np.ptp(gb) == 0:
            continue
        per_group.append(float(_CORRELATIONS[method](ga[None], gb[None])[0]))
        items += len(idx)
    est = _estimate(
        _mean_rows,
        np.asarray(per_group, dtype=float),
        ci=ci,
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
    )
    return GroupedEstimate(
        value=est.value,
        low=est.low,
        high=est.high,
        n=items,
        method="cluster bootstrap" if est.method != "none" else "none",
        confidence=confidence,
        n_groups=len(per_group),
        skipped=len(members) - len(per_group),
    )


_BINARY_VALUES = {"pass": 1.0, "fail": 0.0, "yes": 1.0, "no": 0.0}


def _label_value(label: Any) -> float | None:
    if label is None or isinstance(label, bool):
        return None
    if isinstance(label, str) and label.strip().lower() in _BINARY_VALUES:
        return _BINARY_VALUES[label.strip().lower()]
    try:
        value = float(label)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def judgment_correct(judgment: Any, gold: Any = None, *, tolerance: float = 0.0) -> bool | None:
    """Whether a scored verdict agrees with the human label (``gold``, default ``judgment.label``).

    Pairwise: the preference equals the label (A/B/tie, any case). Pointwise: the
    most likely score is within ``tolerance`` of the label (pass/fail and yes/no
    count as 1/0); other labels must match as text. None when there is no usable
    verdict or label. Calibration, the cascade and the jury all use this one rule.
    """
    gold = judgment.label if gold is None else gold
    v = judgment.verdict
    if not v.ok or gold is None:
        return None
    if v.kind == "compare":
        if v.preference is None or not isinstance(gold, str):
            return None
        return v.preference.lower() == gold.strip().lower()
    if v.top_label is None:
        return None
    top, want = _label_value(v.top_label), _label_value(gold)
    if top is None or want is None:
        return str(v.top_label).strip().lower() == str(gold).strip().lower()
    return abs(top - want) <= tolerance + 1e-9
