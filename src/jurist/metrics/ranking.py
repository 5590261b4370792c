"""Leaderboards from pairwise verdicts: Bradley-Terry with bootstrap CIs, Elo, win rates against an anchor.

Each comparison says which of two models' responses won (A, B or a tie). From them:

- **Bradley-Terry** log-strengths ``theta`` (P(i beats j) = sigmoid(theta_i - theta_j)), fitted by maximum
  likelihood with ``scipy.optimize.minimize``; a tie counts as half a win for each side. A weak Gaussian
  prior (``alpha * |theta|^2``, as ``choix.opt_pairwise`` does) keeps the fit finite when a model wins or
  loses every comparison of a resample. Ratings are shown on the Elo scale, ``1000 + 400 * theta / ln 10``.
- **Elo**: the online update (``k`` points per game) in the order the comparisons came; it depends on that
  order, which is why Bradley-Terry is the rating to trust and Elo is there to compare with other boards.
- **Win rate against an anchor**: the direct rate over the comparisons with the anchor (ties half), and the
  one Bradley-Terry implies for every model, including those never compared with the anchor.
- **Length-controlled win rate** (AlpacaEval 2's idea, simplified to one length coefficient): the same
  logistic model plus ``beta * tanh(length difference / its standard deviation)``, read at zero length
  difference: what the judge would prefer if the two responses were equally long. ``beta`` is the judge's
  length preference.
- **Mediocrity anchor**: a warning when the anchor is the best or the worst model of the field. Against an
  extreme anchor every model wins (or loses) almost always, so win rates are squeezed towards 0 or 1 and rank
  the others poorly (Don-Yehiya et al. 2026, "Mediocrity is the key for LLM as a Judge Anchor Selection",
  arXiv:2603.16848).
- **Separable pairs**: two models are separable at 95% when the bootstrap interval of their Bradley-Terry
  difference excludes 0 (per pair; no correction for the number of pairs).

Every interval is one percentile bootstrap (``scipy.stats.bootstrap``) over comparisons, refitting everything
on each resample, so the ratings, win rates and differences come from the same resamples.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy import optimize, stats
from scipy.special import expit, log_expit

from jurist.metrics.estimation import percentile_interval
from jurist.metrics.uncertainty import Estimate
from jurist.types import Judgment

__all__ = ["Comparison", "Comparisons", "Leaderboard", "Separation", "Standing", "bradley_terry", "comparisons_from_judgments",
           "elo", "leaderboard", "models_of", "rank_agreement"]

ELO_SCALE = 400.0 / math.log(10.0)
ELO_BASE = 1000.0
_OUTCOME = {"A": 1.0, "B": 0.0, "TIE": 0.5}


@dataclass(frozen=True)
class Comparison:
    """Model ``a``'s response against model ``b``'s: ``winner`` is "A", "B" or "tie"; lengths are optional."""

    a: str
    b: str
    winner: str
    length_a: float | None = None
    length_b: float | None = None


@dataclass(frozen=True)
class Comparisons:
    """Comparisons as arrays: model indices ``a`` and ``b``, outcome ``y`` (1: A won, 0: B won, 0.5: tie)."""

    models: tuple[str, ...]
    a: np.ndarray
    b: np.ndarray
    y: np.ndarray
    length_diff: np.ndarray | None = None

    @classmethod
    def of(cls, comparisons: Iterable[Comparison]) -> Comparisons:
        rows = list(comparisons)
        names = tuple(sorted({c.a for c in rows} | {c.b for c in rows}))
        index = {name: i for i, name in enumerate(names)}
        outcomes = []
        for c in rows:
            if c.a == c.b:
                raise ValueError(f"a comparison of model {c.a!r} with itself")
            key = str(c.winner).strip().upper()
            if key not in _OUTCOME:
                raise ValueError(f"unknown winner {c.winner!r} (expected A, B or tie)")
            outcomes.append(_OUTCOME[key])
        lengths = None
        if rows and all(c.length_a is not None and c.length_b is not None for c in rows):
            lengths = np.array([float(c.length_a) - float(c.length_b) for c in rows])  # type: ignore[arg-type]
        return cls(names, np.array([index[c.a] for c in rows], dtype=np.intp),
                   np.array([index[c.b] for c in rows], dtype=np.intp), np.array(outcomes, dtype=float), lengths)

    def __len__(self) -> int:
        return int(self.y.size)

    def take(self, rows: np.ndarray) -> Comparisons:
        return Comparisons(self.models, self.a[rows], self.b[rows], self.y[rows],
                           None if self.length_diff is None else self.length_diff[rows])


def _fit(c: Comparisons, covariate: np.ndarray | None, alpha: float) -> np.ndarray:
    """Penalised logistic fit of P(A wins) = sigmoid(theta_a - theta_b [+ beta * covariate]).

    Returns the centred thetas, followed by beta when there is a covariate.
    """
    k = len(c.models)
    rows = np.arange(len(c))
    design = np.zeros((len(c), k + (covariate is not None)))
    design[rows, c.a] += 1.0
    design[rows, c.b] -= 1.0
    if covariate is not None:
        design[:, k] = covariate
    ridge = 2 * alpha * np.eye(design.shape[1])

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        d = design @ params
        value = -np.sum(c.y * log_expit(d) + (1 - c.y) * log_expit(-d)) + alpha * np.sum(params ** 2)
        return float(value), design.T @ (expit(d) - c.y) + 2 * alpha * params

    def hessian(params: np.ndarray) -> np.ndarray:
        p = expit(design @ params)
        return (design.T * (p * (1 - p))) @ design + ridge

    # Newton steps with the exact Hessian: a handful of iterations for a few dozen parameters.
    result = optimize.minimize(loss, np.zeros(design.shape[1]), jac=True, hess=hessian, method="trust-exact",
                               options={"gtol": 1e-9})
    params = result.x
    params[:k] -= params[:k].mean()  # only differences are identified
    return params


def bradley_terry(comparisons: Comparisons | Iterable[Comparison], alpha: float = 1e-3) -> dict[str, float]:
    """Bradley-Terry log-strengths (centred on 0), fitted with scipy; ties count half a win for each side."""
    c = comparisons if isinstance(comparisons, Comparisons) else Comparisons.of(comparisons)
    return dict(zip(c.models, (float(t) for t in _fit(c, None, alpha)), strict=True))


def elo(comparisons: Comparisons | Iterable[Comparison], k: float = 4.0) -> dict[str, float]:
    """Online Elo ratings (start 1000, ``k`` points per game, scale 400) in the order of the comparisons."""
    c = comparisons if isinstance(comparisons, Comparisons) else Comparisons.of(comparisons)
    return dict(zip(c.models, (float(r) for r in _elo(c, k)), strict=True))


def _elo(c: Comparisons, k: float) -> np.ndarray:
    ratings = np.full(len(c.models), ELO_BASE)
    for a, b, y in zip(c.a.tolist(), c.b.tolist(), c.y.tolist(), strict=True):  # sequential by definition
        expected = 1.0 / (1.0 + 10 ** ((ratings[b] - ratings[a]) / 400.0))
        ratings[a] += k * (y - expected)
        ratings[b] -= k * (y - expected)
    return ratings


def _direct_win_rates(c: Comparisons, anchor: int) -> np.ndarray:
    """Each model's mean outcome against the anchor (NaN when never compared; the anchor's own is NaN)."""
    k = len(c.models)
    against = np.where(c.b == anchor, c.a, np.where(c.a == anchor, c.b, -1))
    won = np.where(c.b == anchor, c.y, 1.0 - c.y)
    mask = against >= 0
    totals = np.bincount(against[mask], won[mask], k)
    counts = np.bincount(against[mask], minlength=k)
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = totals / counts
    rates[anchor] = np.nan
    return rates


class Standing(BaseModel):
    """One model's row of the leaderboard."""

    model_config = ConfigDict(frozen=True)

    model: str
    rank: int
    rating: Estimate
    elo: Estimate
    win_rate: Estimate
    bt_win_rate: Estimate
    lc_win_rate: Estimate | None = None
    comparisons: int


class Separation(BaseModel):
    """Whether two models' Bradley-Terry ratings differ at the board's confidence (Elo-scale difference)."""

    model_config = ConfigDict(frozen=True)

    better: str
    worse: str
    difference: Estimate
    separable: bool


class Leaderboard(BaseModel):
    """Models ranked by Bradley-Terry rating, with win rates against ``anchor`` and the separable pairs."""

    standings: list[Standing]
    anchor: str
    anchor_warning: str | None = None
    length_coefficient: Estimate | None = None
    pairs: list[Separation]
    n: int
    confidence: float = 0.95


def _estimate(value: float, draws: np.ndarray, n: int, confidence: float) -> Estimate:
    low, high = percentile_interval(draws, confidence) if math.isfinite(value) else (math.nan, math.nan)
    return Estimate(value=value, low=low, high=high, n=n, method="bootstrap", confidence=confidence)


def leaderboard(comparisons: Iterable[Comparison] | Comparisons, *, anchor: str | None = None,
                alpha: float = 1e-3, elo_k: float = 4.0, confidence: float = 0.95, n_resamples: int = 1000,
                seed: int | None = 0) -> Leaderboard:
    """The leaderboard of the compared models (see the module docstring).

    ``anchor`` defaults to the model in the most comparisons. The length-controlled win rate needs
    ``length_a``/``length_b`` on every comparison and is ``None`` otherwise. Raises ``ValueError`` with
    fewer than two models or an unknown anchor.
    """
    c = comparisons if isinstance(comparisons, Comparisons) else Comparisons.of(comparisons)
    k = len(c.models)
    if k < 2:
        raise ValueError(f"a leaderboard needs comparisons between at least two models, got {list(c.models)}")
    games = np.bincount(c.a, minlength=k) + np.bincount(c.b, minlength=k)
    anchor_index = int(np.argmax(games)) if anchor is None else c.models.index(anchor) if anchor in c.models else -1
    if anchor_index < 0:
        raise ValueError(f"anchor {anchor!r} is not among the compared models {list(c.models)}")
    covariate = None
    if c.length_diff is not None and np.std(c.length_diff) > 0:
        covariate = np.tanh(c.length_diff / np.std(c.length_diff))  # scale fixed on the full data

    def statistic(rows: np.ndarray) -> np.ndarray:
        sample = c.take(rows.astype(np.intp))
        theta = _fit(sample, None, alpha)
        parts = [theta, _elo(sample, elo_k), _direct_win_rates(sample, anchor_index)]
        if covariate is not None:
            lc = _fit(sample, covariate[rows.astype(np.intp)], alpha)
            parts += [lc[:k], lc[k:]]
        return np.concatenate(parts)

    point = statistic(np.arange(len(c)))
    draws = np.full((point.size, 0), np.nan)
    if n_resamples > 0 and len(c) >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", stats.DegenerateDataWarning)
            draws = stats.bootstrap((np.arange(len(c)),), statistic, n_resamples=n_resamples, vectorized=False,
                                    method="percentile", confidence_level=confidence,
                                    rng=np.random.default_rng(seed)).bootstrap_distribution
    draws = draws.reshape(point.size, -1)
    n = len(c)

    def est(index: int, transform=lambda x: x) -> Estimate:  # noqa: ANN001
        return _estimate(float(transform(point[index])), transform(draws[index]), n, confidence)

    theta, theta_draws = point[:k], draws[:k]
    order = np.argsort(-theta, kind="stable")
    standings = []
    versus = np.bincount(np.where(c.a == anchor_index, c.b, c.a)[(c.a == anchor_index) | (c.b == anchor_index)],
                         minlength=k)
    for rank, i in enumerate(order, start=1):
        win = est(2 * k + i).model_copy(update={"n": int(versus[i]) if i != anchor_index else 0})
        implied = _estimate(float(expit(theta[i] - theta[anchor_index])),
                            expit(theta_draws[i] - theta_draws[anchor_index]), n, confidence)
        lc = None
        if covariate is not None:
            lc = _estimate(float(expit(point[3 * k + i] - point[3 * k + anchor_index])),
                           expit(draws[3 * k + i] - draws[3 * k + anchor_index]), n, confidence)
        standings.append(Standing(model=c.models[i], rank=rank, rating=est(i, lambda t: ELO_BASE + ELO_SCALE * t),
                                  elo=est(k + i), win_rate=win, bt_win_rate=implied, lc_win_rate=lc,
                                  comparisons=int(games[i])))
    pairs = []
    for x, i in enumerate(order):
        for j in order[x + 1:]:
            diff = _estimate(float(ELO_SCALE * (theta[i] - theta[j])), ELO_SCALE * (theta_draws[i] - theta_draws[j]),
                             n, confidence)
            pairs.append(Separation(better=c.models[i], worse=c.models[j], difference=diff,
                                    separable=diff.has_ci and (diff.low > 0 or diff.high < 0)))
    warning = None
    others = np.delete(theta, anchor_index)
    # strictly above or below every other model: a field of equals has no extreme
    if k >= 3 and (theta[anchor_index] > others.max() + 1e-9 or theta[anchor_index] < others.min() - 1e-9):
        where = "best" if theta[anchor_index] > others.max() else "worst"
        warning = (f"the anchor {c.models[anchor_index]!r} is the {where} model of the field: win rates against it "
                   "crowd towards 0 or 1 and rank the others poorly (the mediocrity-anchor finding); prefer a "
                   "mid-field anchor, or read the Bradley-Terry ratings")
    beta = est(4 * k) if covariate is not None else None
    return Leaderboard(standings=standings, anchor=c.models[anchor_index], anchor_warning=warning,
                       length_coefficient=beta, pairs=pairs, n=n, confidence=confidence)


def rank_agreement(first: Comparisons, second: Comparisons, *, alpha: float = 1e-3, confidence: float = 0.95,
                   n_resamples: int = 1000, seed: int | None = 0) -> Estimate:
    """Kendall's tau between the Bradley-Terry ratings of two sets of outcomes on the same comparisons.

    ``first`` and ``second`` hold the same pairs in the same order (e.g. the judge's verdicts and the human
    labels of one set of items); the interval redraws those items, refitting both boards on each resample.
    """
    if first.models != second.models or not (np.array_equal(first.a, second.a) and np.array_equal(first.b, second.b)):
        raise ValueError("rank_agreement needs the same comparisons (models and pairs, in order) on both sides")
    from jurist.metrics.uncertainty import bootstrap

    def tau(a: np.ndarray, b: np.ndarray, y1: np.ndarray, y2: np.ndarray) -> float:
        one = _fit(Comparisons(first.models, a, b, y1), None, alpha)[:len(first.models)]
        two = _fit(Comparisons(first.models, a, b, y2), None, alpha)[:len(first.models)]
        return float(stats.kendalltau(one, two).statistic)

    return bootstrap(tau, first.a, first.b, first.y, second.y, n_resamples=n_resamples, confidence=confidence,
                     seed=seed)


def models_of(metadata: Mapping[str, Any]) -> tuple[str, str] | None:
    """The two models of a pair from item metadata: ``model_a``/``model_b``, else PandaLM's ``cmp_key``
    (``"<model of A>_<model of B>"``, split at its only underscore). ``None`` when neither is there."""
    if metadata.get("model_a") is not None and metadata.get("model_b") is not None:
        return str(metadata["model_a"]), str(metadata["model_b"])
    key = metadata.get("cmp_key")
    if key is None:
        return None
    parts = str(key).split("_")
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"cmp_key {key!r} does not split into two model names at one '_'; "
                         "give model_a and model_b in the metadata instead")
    return parts[0], parts[1]


def comparisons_from_judgments(judgments: Iterable[Judgment], *, use: Literal["verdicts", "labels"] = "verdicts",
                               lengths: Mapping[str, tuple[float, float]] | None = None) -> list[Comparison]:
    """Comparisons from pairwise judgments: the judge's preference (``use="verdicts"``, scored verdicts only) or
    the human label (``use="labels"``, labelled items only), with the responses' lengths by item id if given.

    Raises ``ValueError`` naming the first judgment without model names.
    """
    out = []
    for j in judgments:
        winner = j.verdict.preference if use == "verdicts" and j.verdict.ok else j.label if use == "labels" else None
        if winner is None:
            continue
        names = models_of(j.metadata)
        if names is None:
            raise ValueError(f"item {j.item_id!r} names no models: leaderboards need model_a and model_b "
                             "(or cmp_key) in the item metadata")
        la, lb = (lengths or {}).get(j.item_id, (None, None))
        out.append(Comparison(names[0], names[1], str(winner), la, lb))
    return out
