"""Probes: small regularised models fitted on a base model's features, cross-validated and calibrated.

Kinds
    ``compare``  pairwise preference. Each labelled pair gives two rows, one per
                 order, with the target "the response shown first is better"
                 (flipped for the swapped order) and no position feature. The
                 probe gives a per-view score ``s(view)``; a verdict averages the
                 two orders mapped back (the Swap strategy), see :func:`pair_probability`.
    ``binary``   pass/fail (or yes/no) pointwise: logistic, P(good label).
    ``score``    a numeric scale (1-5, 1-10): ridge regression; the verdict is a
                 discretised Gaussian over the scale labels around the prediction,
                 with sigma from the cross-validated residuals.

Fitting (scikit-learn, only needed at fit time): standardise, L2 logistic (or
ridge) with the regularisation chosen by an inner grouped cross-validation, inside
an outer grouped k-fold (the two orders of a pair always fall in the same fold).
Every metric reported is out-of-fold; the training-set fit is never reported.
Calibration: one temperature on the logit, fitted on out-of-fold scores (and, for
the reported calibration metrics, cross-fitted: each fold's temperature comes from
the other folds).

Length-neutral (``compare`` only): before fitting, every feature is residualised on the
length log-ratio of the two responses (:func:`length_ratio`; slopes by least squares over both
views of every pair, no labels needed), so the probe cannot read "the first response is the
longer one" linearly (in the spirit of AlpacaEval's length control, on the representation). The slopes
are part of the model and applied again at judging time.

Inference needs only numpy: a probe is a mean/scale/coef/intercept/temperature in
``weights.npz`` plus ``card.json``.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
from pydantic import BaseModel, Field
from scipy.optimize import minimize_scalar
from scipy.special import expit, log_expit

from jurist.backends.base import BackendError

ProbeKind = Literal["compare", "binary", "score"]
Estimator = Literal["logistic", "mass-mean"]  # how a compare or binary probe's direction is fitted
MIN_ITEMS = 100  # below this, cross-validated metrics are too noisy to trust
MIN_MINORITY = 0.20  # a label with less than this share makes accuracy misleading


class ProbeError(BackendError):
    """A probe cannot be fitted, loaded or used (wrong base model, wrong protocol...)."""


class ProbeCard(BaseModel):
    """What a fitted probe is, what it was fitted on and how well it does (out-of-fold)."""

    kind: ProbeKind
    labels: list[str]
    values: list[float] = Field(default_factory=list)  # scale values (kind score/binary)
    protocol: dict[str, Any]
    skeletons: list[list[list[str]]]  # rendered prompts with field sentinels: [[role, text], ...] per variant
    features: dict[str, Any]  # {"groups": [...], "dimension": int, "extractor": str}
    base: dict[str, str]  # {"spec": ..., "sha256": ...}
    data: dict[str, Any]  # {"sha256", "n", "balance", "dropped"}
    cv: dict[str, Any]
    regularisation: float
    temperature: float = 1.0
    sigma: float | None = None  # score probes: residual standard deviation
    warnings: list[str] = Field(default_factory=list)
    # accuracy on datasets left out of the fit (a shipped head: benchmarks/generalization.py ship)
    transfer: dict[str, Any] = Field(default_factory=dict)
    jurist_version: str = ""
    created: str = ""
    weights_sha256: str = ""

    @property
    def hash(self) -> str:
        payload = self.model_dump(exclude={"created"})
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


@dataclass
class LinearModel:
    """``(x - mean) / scale @ coef + intercept``: the fitted standardiser and linear model.

    With ``length_slope`` (a length-neutral probe) ``x`` is first residualised: ``x - length * length_slope``,
    where ``length`` is each row's :func:`length_ratio`.
    """

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    length_slope: np.ndarray | None = None

    def decision(self, x: np.ndarray, length: np.ndarray | float | None = None) -> np.ndarray:
        x = np.atleast_2d(x)
        if self.length_slope is not None:
            if length is None:
                raise ProbeError("a length-neutral probe needs the length ratio of the responses it judges")
            x = x - np.outer(np.atleast_1d(np.asarray(length, dtype=float)), self.length_slope)
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept


def length_ratio(first: str, second: str) -> float:
    """log of (characters of the response shown first + 1) / (characters of the one shown second + 1)."""
    return math.log((len(first) + 1) / (len(second) + 1))


def length_slope(x: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Least-squares slope of every column of ``x`` on ``length``. For the two views of every pair the
    ratios are opposite, so ``length`` has mean zero and only ``x`` needs centring."""
    centred = x - x.mean(axis=0)
    denominator = float(length @ length)
    if denominator <= 0:
        raise ProbeError("a length-neutral probe needs pairs whose responses differ in length")
    return (length @ centred) / denominator


def residualise_length(x: np.ndarray, x_swapped: np.ndarray, length: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both views' features with the length slope taken out, and the slope. ``length`` is each pair's
    :func:`length_ratio` as shown in ``x`` (A first); the swapped view shows the opposite ratio."""
    slope = length_slope(np.vstack([x, x_swapped]), np.concatenate([length, -length]))
    return x - np.outer(length, slope), x_swapped - np.outer(-length, slope), slope


# -- fitting ------------------------------------------------------------------------------

C_GRID = np.logspace(-4, 1, 7)
ALPHA_GRID = np.logspace(-1, 5, 9)


def _folds(groups: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Grouped k-fold with shuffled groups: every group lands in exactly one test fold."""
    unique = np.unique(groups)
    rng = np.random.default_rng(seed)
    assignment = dict(zip(rng.permutation(unique).tolist(), np.arange(len(unique)) % k))
    fold_of = np.array([assignment[g] for g in groups.tolist()])
    return [(np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)) for f in range(k) if (fold_of == f).any()]


def fit_linear(x: np.ndarray, y: np.ndarray, groups: np.ndarray, regression: bool, seed: int,
                inner_folds: int = 3, strength: float | None = None) -> tuple[LinearModel, float]:
    """Standardise and fit L2 logistic (or ridge); the strength comes from an inner grouped CV when not given."""
    from sklearn.linear_model import LogisticRegression, Ridge

    def make(value: float) -> Any:
        return Ridge(alpha=value) if regression else LogisticRegression(C=value, max_iter=2000)

    if strength is None:
        grid = ALPHA_GRID if regression else C_GRID
        losses = np.zeros(len(grid))
        for train, test in _folds(groups, inner_folds, seed + 1):
            mean, scale = _standardiser(x[train])
            xt, xv = (x[train] - mean) / scale, (x[test] - mean) / scale
            for index, value in enumerate(grid):
                model = make(value).fit(xt, y[train])
                if regression:
                    losses[index] += float(((model.predict(xv) - y[test]) ** 2).sum())
                else:
                    s = model.decision_function(xv)
                    losses[index] -= float((y[test] * log_expit(s) + (1 - y[test]) * log_expit(-s)).sum())
        strength = float(grid[int(np.argmin(losses))])
    mean, scale = _standardiser(x)
    model = make(strength).fit((x - mean) / scale, y)
    coef = np.ravel(model.coef_).astype(np.float64)
    return LinearModel(mean, scale, coef, float(np.ravel(model.intercept_)[0])), strength


def fit_mass_mean(x: np.ndarray, y: np.ndarray) -> LinearModel:
    """A mass-mean probe: the direction is the difference of the two classes' means of the standardised
    features, and the intercept puts the midpoint of the two means at 0. It has no strength to tune and
    reads the direction that separates the classes on average rather than the one that best separates
    this training set; Marks & Tegmark (2023, "The Geometry of Truth") report that such probes transfer
    better to other distributions than logistic ones. The scores are scaled to unit standard deviation
    on the training rows, so that two views' probabilities do not saturate when they are averaged."""
    if not ((y > 0.5).any() and (y <= 0.5).any()):
        raise ProbeError("a mass-mean probe needs rows of both classes")
    mean, scale = _standardiser(x)
    z = (x - mean) / scale
    positive, negative = z[y > 0.5].mean(axis=0), z[y <= 0.5].mean(axis=0)
    coef = positive - negative
    intercept = -float(coef @ (positive + negative)) / 2
    spread = float(np.std(z @ coef + intercept)) or 1.0
    return LinearModel(mean, scale, coef / spread, intercept / spread)


def _standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations; a column that is constant up to rounding keeps scale 1, so its
    rounding noise is not blown up to unit variance (a feature that was exactly the length ratio is
    such a column once a length-neutral probe has residualised it)."""
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x)
    floor = 1e-9 * max(1.0, float(np.max(np.abs(scaler.mean_), initial=0.0)), float(np.max(scaler.scale_, initial=0.0)))
    return scaler.mean_.astype(np.float64), np.where(scaler.scale_ > floor, scaler.scale_, 1.0).astype(np.float64)


def pair_probability(s_first: np.ndarray, s_second: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """P(A better) from the per-view scores of the two orders, as the Swap strategy combines them.

    ``s_first`` is the score of the view showing A first, ``s_second`` of the view
    showing B first; each says "the response shown first is better", from the same
    features and weights with no position feature. Swapping the item exchanges the
    two prompts, hence the two scores: P_A(A, B) = (σ(s0) + σ(-s1)) / 2 and
    P_B(B, A) = (σ(-s1) + σ(s0)) / 2 are the same sum of the same two numbers, so
    the verdicts are exact mirrors (bit for bit, as the Swap strategy computes them).
    A single order has no such guarantee, which is why a pairwise probe always
    judges both orders.
    """
    return (expit(s_first / temperature) + expit(-s_second / temperature)) / 2.0


def _fit_temperature(loss: Any) -> float:
    result = minimize_scalar(lambda log_t: loss(math.exp(log_t)), bounds=(-4.0, 4.0), method="bounded")
    return float(math.exp(result.x))


def _binary_loss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


@dataclass
class FitResult:
    model: LinearModel
    strength: float
    temperature: float
    sigma: float | None
    cv: dict[str, Any]
    oof: np.ndarray  # out-of-fold calibrated probabilities (compare/binary) or predictions (score)


def _binary_metrics(p: np.ndarray, y: np.ndarray, seed: int) -> dict[str, Any]:
    from jurist.metrics.calibration import expected_calibration_error
    from jurist.metrics.uncertainty import bootstrap

    correct = ((p > 0.5) == (y > 0.5)).astype(float)
    accuracy = bootstrap(lambda c: np.asarray(c.mean(axis=-1)), correct, seed=seed, vectorized=True)
    confidence = np.maximum(p, 1 - p)
    ece = expected_calibration_error(confidence, correct, seed=seed)
    return {"n": int(len(y)), "accuracy": accuracy.value, "accuracy_ci": [accuracy.low, accuracy.high],
            "log_loss": _binary_loss(p, y), "ece": ece.value, "ece_ci": [ece.low, ece.high]}


def fit_probe(kind: ProbeKind, x: np.ndarray, y: np.ndarray, *, x_swapped: np.ndarray | None = None,
              values: list[float] | None = None, folds: int = 5, seed: int = 0,
              groups: np.ndarray | None = None, length: np.ndarray | None = None,
              strength: float | None = None, estimator: Estimator = "logistic") -> FitResult:
    """Fit a probe and measure it out-of-fold.

    ``compare``: ``x`` holds the features of the view showing A first, ``x_swapped``
    of the view showing B first, ``y`` is 1 when A is better. ``binary``: ``y`` in
    {0, 1}. ``score``: ``y`` numeric. ``groups`` (one per item) keeps items that share
    something (a question, a reference) in the same fold; by default every item is its own group.
    ``length`` (compare): each pair's :func:`length_ratio` as shown in ``x``; the probe is then
    length-neutral (the slopes are fitted on every pair, folds included: they use no label).
    ``strength``: the regularisation, instead of choosing it by an inner cross-validation.
    ``estimator``: ``logistic`` (L2, the default) or ``mass-mean`` (:func:`fit_mass_mean`: no regularisation,
    reported as 0; compare and binary only).
    """
    if estimator == "mass-mean" and kind == "score":
        raise ProbeError("a mass-mean probe separates two classes: use it for compare or pass/fail, not a scale")
    if estimator not in get_args(Estimator):
        raise ProbeError(f"unknown estimator {estimator!r}: use {' or '.join(get_args(Estimator))}")

    def fit(rows: np.ndarray, targets: np.ndarray, groups: np.ndarray, regression: bool) -> tuple[LinearModel, float]:
        if estimator == "mass-mean":
            return fit_mass_mean(rows, targets), 0.0
        return fit_linear(rows, targets, groups, regression, seed, strength=strength)

    n = len(y)
    item_groups = np.arange(n) if groups is None else np.asarray(groups)
    slope = None
    if length is not None and kind != "compare":
        raise ProbeError("only a pairwise probe can be length-neutral")
    if kind == "compare":
        if x_swapped is None or x_swapped.shape != x.shape:
            raise ProbeError("a pairwise probe needs the features of both orders")
        if length is not None:
            x, x_swapped, slope = residualise_length(x, x_swapped, length)
        rows = np.vstack([x, x_swapped])
        targets = np.concatenate([y, 1 - y]).astype(float)
        row_items = np.concatenate([np.arange(n), np.arange(n)])
    else:
        rows, targets, row_items = x, y.astype(float), np.arange(n)
    row_groups = item_groups[row_items]
    regression = kind == "score"
    splits = _folds(item_groups, folds, seed)
    raw = np.zeros(n) if kind != "compare" else np.zeros((n, 2))
    for train, test in splits:
        row_train = np.isin(row_items, train)
        model, _ = fit(rows[row_train], targets[row_train], row_groups[row_train], regression)
        if kind == "compare":
            raw[test, 0] = model.decision(x[test])
            raw[test, 1] = model.decision(x_swapped[test])  # type: ignore[index]
        elif regression:
            raw[test] = model.decision(x[test])
        else:
            raw[test] = model.decision(x[test])

    final, strength = fit(rows, targets, row_groups, regression)
    final.length_slope = slope
    if regression:
        residual = raw - y
        sigma = float(max(np.sqrt(np.mean(residual ** 2)), 1e-3))
        from scipy import stats

        rho = float(stats.spearmanr(raw, y).statistic) if np.std(raw) > 0 and np.std(y) > 0 else float("nan")
        cv = {"n": n, "folds": len(splits), "spearman": rho, "mae": float(np.mean(np.abs(residual))),
              "rmse": sigma}
        return FitResult(final, strength, 1.0, sigma, cv, raw)

    def probability(scores: np.ndarray, temperature: float) -> np.ndarray:
        if kind == "compare":
            return pair_probability(scores[:, 0], scores[:, 1], temperature)
        return expit(scores / temperature)

    temperature = _fit_temperature(lambda t: _binary_loss(probability(raw, t), y))
    # Reported calibration is cross-fitted: each fold's temperature is fitted on the other folds.
    calibrated = np.zeros(n)
    for train, test in splits:
        t = _fit_temperature(lambda t, train=train: _binary_loss(probability(raw[train], t), y[train]))
        calibrated[test] = probability(raw[test], t)
    cv = {"folds": len(splits), "uncalibrated": _binary_metrics(probability(raw, 1.0), y, seed),
          "calibrated": _binary_metrics(calibrated, y, seed)}
    return FitResult(final, strength, temperature, None, cv, calibrated)


def data_warnings(y: np.ndarray, kind: ProbeKind, values: list[float] | None = None) -> list[str]:
    """Warnings about a golden set too small or too unbalanced for its metrics to mean much."""
    notes = []
    if len(y) < MIN_ITEMS:
        notes.append(f"only {len(y)} labelled items (fewer than {MIN_ITEMS}): the cross-validated metrics are "
                     "noisy and the probe may not generalise")
    if kind in ("compare", "binary") and len(y):
        minority = float(min(np.mean(y > 0.5), np.mean(y <= 0.5)))
        if minority < MIN_MINORITY:
            notes.append(f"unbalanced labels: the minority label is {minority:.0%} of the items (under "
                         f"{MIN_MINORITY:.0%}); accuracy is dominated by the majority label")
    if kind == "score" and values and len(y):
        counts = np.array([np.sum(np.isclose(y, v)) for v in values])
        if counts.sum() and counts.max() / counts.sum() > 1 - MIN_MINORITY:
            notes.append("unbalanced scores: over 80% of the items have the same score")
    return notes


# -- distributions --------------------------------------------------------------------------

def score_distribution(prediction: float, sigma: float, values: list[float]) -> np.ndarray:
    """A Gaussian around ``prediction``, discretised on the scale values (midpoint bins), normalised."""
    from scipy.stats import norm

    v = np.asarray(values, dtype=float)
    order = np.argsort(v)
    sorted_v = v[order]
    edges = np.concatenate([[-np.inf], (sorted_v[1:] + sorted_v[:-1]) / 2, [np.inf]])
    mass = np.diff(norm.cdf(edges, loc=prediction, scale=sigma))
    mass = np.maximum(mass, 1e-12)
    out = np.empty_like(mass)
    out[order] = mass / mass.sum()
    return out


# -- saving and loading ---------------------------------------------------------------------

def _weights_bytes(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_probe(directory: str | Path, card: ProbeCard, model: LinearModel) -> Path:
    """Write ``weights.npz`` and ``card.json`` into ``directory`` (created)."""
    from jurist.version import __version__

    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    weights = target / "weights.npz"
    extra = {} if model.length_slope is None else {"length_slope": model.length_slope}
    np.savez(weights, mean=model.mean, scale=model.scale, coef=model.coef, intercept=np.array([model.intercept]),
             **extra)
    card.weights_sha256 = _weights_bytes(weights)
    card.jurist_version = __version__
    card.created = card.created or datetime.now(timezone.utc).isoformat(timespec="seconds")
    (target / "card.json").write_text(json.dumps(card.model_dump(), indent=2, ensure_ascii=False) + "\n",
                                      encoding="utf-8")
    return target


def load_probe(directory: str | Path) -> tuple[ProbeCard, LinearModel]:
    source = Path(directory)
    card_path, weights = source / "card.json", source / "weights.npz"
    if not card_path.is_file() or not weights.is_file():
        raise ProbeError(f"{source} is not a learned judge: it needs card.json and weights.npz (from `jurist learn`)")
    try:
        card = ProbeCard.model_validate_json(card_path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ProbeError(f"{card_path}: not a valid probe card: {error}") from error
    if card.weights_sha256 and _weights_bytes(weights) != card.weights_sha256:
        raise ProbeError(f"{weights} does not match the sha256 recorded in {card_path} (was it replaced?)")
    with np.load(weights) as data:
        model = LinearModel(data["mean"], data["scale"], data["coef"], float(data["intercept"][0]),
                            data["length_slope"] if "length_slope" in data.files else None)
    if model.coef.shape[0] != card.features.get("dimension"):
        raise ProbeError(f"{weights}: {model.coef.shape[0]} weights, the card says {card.features.get('dimension')}")
    return card, model
