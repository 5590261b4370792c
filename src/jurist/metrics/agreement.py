"""Agreement between a judge and human labels (or between raters).

Every function returns an :class:`~jurist.metrics.uncertainty.Estimate` whose
interval is a percentile bootstrap over items (over units for Krippendorff's
alpha, over groups for :func:`grouped_correlation`); ``ci=False`` skips the
resampling and leaves the bounds NaN. Pairs where either value is missing
(``None`` or NaN) are dropped before anything is computed.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Literal

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


def _estimate(
    stat_fn: Callable[..., Any],
    *arrays: np.ndarray,
    ci: bool,
    n_resamples: int,
    confidence: float,
    seed: int | None,
    groups: Sequence[Hashable] | None = None,
    vectorized: bool = True,
) -> Estimate:
    return bootstrap(
        stat_fn,
        *arrays,
        n_resamples=n_resamples if ci else 0,
        confidence=confidence,
        seed=seed,
        groups=groups,
        vectorized=vectorized,
    )


def _sort_labels(values: Sequence[Any]) -> list[Any]:
    """Distinct values, sorted when they are mutually comparable, else by first appearance."""
    distinct = list(dict.fromkeys(values))
    try:
        return sorted(distinct)
    except TypeError:
        return distinct


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
    x, y, kept = _pairs(a, b, groups)
    cats = list(labels) if labels is not None else _sort_labels([*x.tolist(), *y.tolist()])
    index = {c: i for i, c in enumerate(cats)}
    unknown = {v for v in [*x.tolist(), *y.tolist()] if v not in index}
    if unknown:
        raise ValueError(f"values not in labels: {sorted(map(repr, unknown))}")
    k = max(len(cats), 1)
    cell = np.array([index[u] * k + index[v] for u, v in zip(x.tolist(), y.tolist(), strict=True)], dtype=np.intp)
    w = _kappa_weights(k, weights)

    def stat(cells: np.ndarray) -> np.ndarray:
        batch = cells.shape[0]
        flat = cells + (np.arange(batch) * k * k)[:, None]
        conf = np.bincount(flat.ravel(), minlength=batch * k * k).reshape(batch, k, k).astype(float)
        return _kappa_from_confusion(conf, w)

    return _estimate(stat, cell, ci=ci, n_resamples=n_resamples, confidence=confidence, seed=seed, groups=kept)


# ---------------------------------------------------------------- Krippendorff's alpha


def _alpha_from_counts(counts: np.ndarray, values: np.ndarray | None, level: AlphaLevel) -> np.ndarray:
    """Alpha for a batch of unit-by-value count matrices ``(batch, units, values)``.

    Only pairable units (two or more values) may be present. Builds the
    coincidence matrix o_ck = sum_u (n_uc n_uk - [c = k] n_uc) / (m_u - 1) and
    returns 1 - (n - 1) sum o_ck d_ck / sum n_c n_k d_ck.
    """
    m = counts.sum(axis=2, keepdims=True)
    scaled = counts / (m - 1)
    coinc = np.matmul(np.swapaxes(scaled, 1, 2), counts)  # (batch, V, V)
    diag = scaled.sum(axis=1)
    k = coinc.shape[1]
    coinc[:, np.arange(k), np.arange(k)] -= diag
    n_c = coinc.sum(axis=2)  # marginals (batch, V)
    n = n_c.sum(axis=1)
    if level == "nominal":
        delta = np.broadcast_to(1.0 - np.eye(k), coinc.shape)
    elif level == "ordinal":
        cum = np.cumsum(n_c, axis=1)
        # sum_{g=c..k} n_g - (n_c + n_k) / 2, symmetric in c and k once squared
        delta = (cum[:, None, :] - cum[:, :, None] + (n_c[:, :, None] - n_c[:, None, :]) / 2) ** 2
    elif level == "interval":
        assert values is not None
        delta = np.broadcast_to((values[:, None] - values[None, :]) ** 2, coinc.shape)
    elif level == "ratio":
        assert values is not None
        total = values[:, None] + values[None, :]
        diff = values[:, None] - values[None, :]
        ratio = np.divide(diff, total, out=np.zeros_like(diff), where=total != 0)
        delta = np.broadcast_to(ratio**2, coinc.shape)
    else:
        raise ValueError(f"level must be nominal, ordinal, interval or ratio, got {level!r}")
    observed = (coinc * delta).sum(axis=(1, 2))
    expected = np.einsum("bc,bck,bk->b", n_c, delta, n_c)
    return np.asarray(1.0 - (n - 1) * observed / expected, dtype=float)


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

    Computed from the coincidence matrix (Krippendorff 2011, "Computing
    Krippendorff's alpha-reliability"). Units with fewer than two values are
    not pairable and are ignored; ``n`` is the number of pairable units, which
    the bootstrap resamples. ``value_domain`` fixes the order of the categories
    for ``level="ordinal"`` (default: sorted values); ``interval`` and
    ``ratio`` need numbers. Alpha is NaN when there is no expected
    disagreement (a single value observed).
    """
    if level not in ("nominal", "ordinal", "interval", "ratio"):
        raise ValueError(f"level must be nominal, ordinal, interval or ratio, got {level!r}")
    rows = [list(r) for r in reliability_data]
    if not rows:
        return Estimate(value=math.nan, n=0, method="none", confidence=confidence)
    n_units = len(rows[0])
    if any(len(r) != n_units for r in rows):
        raise ValueError("every rater needs one entry per unit")
    present = [v for r in rows for v in r if not _is_missing(v)]
    domain = list(value_domain) if value_domain is not None else _sort_labels(present)
    index = {v: i for i, v in enumerate(domain)}
    unknown = {v for v in present if v not in index}
    if unknown:
        raise ValueError(f"values not in value_domain: {sorted(map(repr, unknown))}")
    values = None
    if level in ("interval", "ratio"):
        if not all(isinstance(v, numbers.Real) for v in domain):
            raise ValueError(f"level={level!r} needs numeric values")
        values = np.asarray(domain, dtype=float)
    counts = np.zeros((n_units, max(len(domain), 1)))
    for r in rows:
        for u, v in enumerate(r):
            if not _is_missing(v):
                counts[u, index[v]] += 1
    pairable = counts[counts.sum(axis=1) >= 2]

    def stat(batch: np.ndarray) -> np.ndarray:
        return _alpha_from_counts(batch, values, level)

    return _estimate(stat, pairable, ci=ci, n_resamples=n_resamples, confidence=confidence, seed=seed)


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


def _ranks_of_codes(codes: np.ndarray, k: int) -> np.ndarray:
    """Average ranks within each row of ``codes`` (batch, n), codes in 0..k-1 ordered like the values.

    Equals ``scipy.stats.rankdata(values, axis=-1)`` but costs O(batch * (n + k))
    instead of a sort per row: the bootstrap ranks the rows of resampled codes.
    """
    batch = codes.shape[0]
    counts = np.bincount((codes + (np.arange(batch) * k)[:, None]).ravel(), minlength=batch * k).reshape(batch, k)
    table = np.cumsum(counts, axis=1) - counts + (counts + 1) / 2.0
    return np.take_along_axis(table, codes, axis=1)


def _spearman_on_codes(x: np.ndarray, y: np.ndarray) -> tuple[Callable[..., np.ndarray], np.ndarray, np.ndarray]:
    """A batched Spearman statistic on value codes, with the codes of ``x`` and ``y``."""
    ux, cx = np.unique(x, return_inverse=True)
    uy, cy = np.unique(y, return_inverse=True)

    def stat(bx: np.ndarray, by: np.ndarray) -> np.ndarray:
        return _pearson_rows(_ranks_of_codes(bx, len(ux)), _ranks_of_codes(by, len(uy)))

    return stat, cx.reshape(-1), cy.reshape(-1)


_CORRELATIONS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "spearman": _spearman_rows,
    "kendall": _kendall_rows,
    "pearson": _pearson_rows,
}


def _numeric_pairs(
    x: Sequence[Any], y: Sequence[Any], groups: Sequence[Hashable] | None = None
) -> tuple[np.ndarray, np.ndarray, list[Hashable] | None]:
    a, b, kept = _pairs(x, y, groups)
    return a.astype(float), b.astype(float), kept


def _correlation(
    method: CorrelationMethod,
    x: Sequence[Any],
    y: Sequence[Any],
    ci: bool,
    n_resamples: int,
    confidence: float,
    seed: int | None,
    groups: Sequence[Hashable] | None,
) -> Estimate:
    a, b, kept = _numeric_pairs(x, y, groups)
    stat = _CORRELATIONS[method]
    if method == "spearman":  # same statistic, ranked from precomputed value codes (faster resamples)
        stat, a, b = _spearman_on_codes(a, b)
    return _estimate(stat, a, b, ci=ci, n_resamples=n_resamples, confidence=confidence, seed=seed, groups=kept)


def spearman(
    x: Sequence[Any],
    y: Sequence[Any],
    *,
    ci: bool = True,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
    groups: Sequence[Hashable] | None = None,
) -> Estimate:
    """Spearman's rank correlation (average ranks for ties). NaN if either side is constant."""
    return _correlation("spearman", x, y, ci, n_resamples, confidence, seed, groups)


def kendall(
    x: Sequence[Any],
    y: Sequence[Any],
    *,
    ci: bool = True,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
    groups: Sequence[Hashable] | None = None,
) -> Estimate:
    """Kendall's tau-b (``scipy.stats.kendalltau``). NaN if either side is constant."""
    return _correlation("kendall", x, y, ci, n_resamples, confidence, seed, groups)


def pearson(
    x: Sequence[Any],
    y: Sequence[Any],
    *,
    ci: bool = True,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
    groups: Sequence[Hashable] | None = None,
) -> Estimate:
    """Pearson's linear correlation (``scipy.stats.pearsonr``). NaN if either side is constant."""
    return _correlation("pearson", x, y, ci, n_resamples, confidence, seed, groups)


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
