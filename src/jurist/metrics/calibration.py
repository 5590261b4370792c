"""Calibration of verdict confidences: ECE, Brier score, reliability diagrams, recalibration.

A verdict's ``confidence`` is the probability the judge gives its own answer
(the most likely label). It is *calibrated* when, among verdicts with
confidence ``c``, a share ``c`` agrees with the human label. The metrics here
take two aligned arrays: ``confidence`` (in [0, 1]) and ``correct`` (whether
the verdict agreed with the human label).

Metrics
    :func:`expected_calibration_error` (ECE: the bin-weighted mean of
    ``|accuracy - mean confidence|``, equal-width or equal-mass bins),
    :func:`brier_score` (mean ``(confidence - correct)^2``) and
    :func:`reliability_diagram` (per bin: count, mean confidence, accuracy
    with a Wilson interval). ECE and Brier come with percentile-bootstrap
    intervals like every other metric.

Recalibration
    A :class:`Calibrator` maps a raw confidence to a calibrated one and is
    fitted on a golden set (confidences and whether they were right):

    - :class:`TemperatureScaling`: ``sigmoid(logit(c) / T)``, one parameter,
      minimises the log loss. For a two-label verdict (pairwise A/B) this is
      exactly temperature scaling of the label distribution.
    - :class:`PlattScaling`: ``sigmoid(a * logit(c) + b)``, logistic regression
      on the logit (Platt 1999), unregularised.
    - :class:`IsotonicCalibration`: the non-decreasing step function that
      minimises squared error (``scipy.optimize.isotonic_regression``, pool
      adjacent violators), linearly interpolated between fitted points and
      clipped outside them, as scikit-learn's
      ``IsotonicRegression(out_of_bounds="clip")``.

    All three are monotone non-decreasing (Platt when ``a >= 0``), so
    recalibration never changes which verdicts pass a confidence threshold,
    only the numbers reported. Calibrators serialise to JSON
    (:meth:`Calibrator.save` / :func:`load_calibrator`); the CLI's
    ``--calibration FILE`` applies one to every verdict and stores the result in
    ``Judgment.metadata["calibrated_confidence"]``.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel
from scipy import optimize, special

from jurist.metrics.agreement import judgment_correct
from jurist.metrics.uncertainty import Estimate, bootstrap, wilson_interval
from jurist.types import Judgment

__all__ = [
    "CALIBRATORS",
    "Calibrator",
    "IsotonicCalibration",
    "PlattScaling",
    "ReliabilityBin",
    "TemperatureScaling",
    "apply_calibration",
    "brier_score",
    "confidence_and_correct",
    "expected_calibration_error",
    "fit_calibrator",
    "load_calibrator",
    "reliability_diagram",
]

Binning = Literal["uniform", "quantile"]
_EPS = 1e-6


def _arrays(confidence: Sequence[float] | np.ndarray, correct: Sequence[Any] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float arrays, pairs with a missing confidence (None/NaN) dropped."""
    c = np.asarray([math.nan if v is None else float(v) for v in confidence], dtype=float)
    y = np.asarray([math.nan if v is None else float(v) for v in correct], dtype=float)
    if c.shape != y.shape:
        raise ValueError(f"confidence and correct differ in length: {len(c)} and {len(y)}")
    keep = ~(np.isnan(c) | np.isnan(y))
    c, y = c[keep], y[keep]
    if c.size and (c.min() < 0 or c.max() > 1):
        raise ValueError("confidences must lie in [0, 1]")
    return c, y


def _bin_edges(c: np.ndarray, n_bins: int, binning: Binning) -> np.ndarray:
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    if binning == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    if binning == "quantile":
        edges = np.quantile(c, np.linspace(0.0, 1.0, n_bins + 1)) if c.size else np.linspace(0, 1, n_bins + 1)
        edges[0], edges[-1] = 0.0, 1.0
        return np.unique(edges)
    raise ValueError(f"binning must be 'uniform' or 'quantile', got {binning!r}")


def _bin_index(c: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bins are (lo, hi], the first one [0, hi] (the convention of most ECE code)."""
    return np.clip(np.searchsorted(edges, c, side="left") - 1, 0, len(edges) - 2)


def expected_calibration_error(
    confidence: Sequence[float] | np.ndarray,
    correct: Sequence[Any] | np.ndarray,
    *,
    n_bins: int = 10,
    binning: Binning = "uniform",
    ci: bool = True,
    n_resamples: int = 2000,
    confidence_level: float = 0.95,
    seed: int | None = 0,
) -> Estimate:
    """ECE = sum over bins of (n_bin / n) * |accuracy_bin - mean confidence_bin|.

    Bins are fixed from the full data (equal width on [0, 1] by default, or
    equal mass with ``binning="quantile"``) and kept for the bootstrap.
    """
    c, y = _arrays(confidence, correct)
    edges = _bin_edges(c, n_bins, binning)
    k = len(edges) - 1
    idx = _bin_index(c, edges)

    def stat(b_idx: np.ndarray, b_c: np.ndarray, b_y: np.ndarray) -> np.ndarray:
        batch, n = b_idx.shape
        flat = (b_idx + (np.arange(batch) * k)[:, None]).ravel()
        sum_c = np.bincount(flat, weights=b_c.ravel(), minlength=batch * k).reshape(batch, k)
        sum_y = np.bincount(flat, weights=b_y.ravel(), minlength=batch * k).reshape(batch, k)
        return np.asarray(np.abs(sum_y - sum_c).sum(axis=1) / n, dtype=float)

    return bootstrap(stat, idx, c, y, n_resamples=n_resamples if ci else 0, confidence=confidence_level, seed=seed,
                     vectorized=True)


def brier_score(
    confidence: Sequence[float] | np.ndarray,
    correct: Sequence[Any] | np.ndarray,
    *,
    ci: bool = True,
    n_resamples: int = 2000,
    confidence_level: float = 0.95,
    seed: int | None = 0,
) -> Estimate:
    """Mean squared difference between the confidence and the 0/1 outcome (lower is better)."""
    c, y = _arrays(confidence, correct)

    def stat(sq: np.ndarray) -> np.ndarray:
        return np.asarray(sq.mean(axis=-1), dtype=float)

    return bootstrap(stat, (c - y) ** 2, n_resamples=n_resamples if ci else 0, confidence=confidence_level,
                     seed=seed, vectorized=True)


class ReliabilityBin(BaseModel):
    """One bar of a reliability diagram: verdicts with confidence in (low, high]."""

    low: float
    high: float
    count: int
    mean_confidence: float
    accuracy: Estimate


def reliability_diagram(
    confidence: Sequence[float] | np.ndarray,
    correct: Sequence[Any] | np.ndarray,
    *,
    n_bins: int = 10,
    binning: Binning = "uniform",
) -> list[ReliabilityBin]:
    """Per bin (empty bins left out): count, mean confidence and accuracy with a Wilson interval."""
    c, y = _arrays(confidence, correct)
    edges = _bin_edges(c, n_bins, binning)
    idx = _bin_index(c, edges)
    bins = []
    for b in range(len(edges) - 1):
        mask = idx == b
        n = int(mask.sum())
        if n == 0:
            continue
        bins.append(ReliabilityBin(low=float(edges[b]), high=float(edges[b + 1]), count=n,
                                   mean_confidence=float(c[mask].mean()),
                                   accuracy=wilson_interval(int(y[mask].sum()), n)))
    return bins


# ---------------------------------------------------------------- recalibration


def _logit(c: np.ndarray) -> np.ndarray:
    clipped = np.clip(c, _EPS, 1 - _EPS)
    return np.asarray(np.log(clipped) - np.log1p(-clipped), dtype=float)


def _log_loss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-(y * np.log(p) + (1 - y) * np.log1p(-p)).mean())


class Calibrator(ABC):
    """Maps raw confidences to calibrated ones; fitted on (confidence, correct) pairs."""

    kind: ClassVar[str]
    n_fit: int = 0

    @abstractmethod
    def fit(self, confidence: Sequence[float] | np.ndarray, correct: Sequence[Any] | np.ndarray) -> Calibrator:
        """Fit on a golden set and return self."""

    @abstractmethod
    def _transform(self, c: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def params(self) -> dict[str, Any]: ...

    def transform(self, confidence: Sequence[float] | np.ndarray | float) -> Any:
        """Calibrated confidences (a float for a float input)."""
        scalar = np.isscalar(confidence)
        c = np.atleast_1d(np.asarray(confidence, dtype=float))
        out = np.clip(self._transform(c), 0.0, 1.0)
        return float(out[0]) if scalar else out

    __call__ = transform

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "n_fit": self.n_fit, **self.params()}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")


class TemperatureScaling(Calibrator):
    """``sigmoid(logit(c) / T)``: T > 1 softens an over-confident judge, T < 1 sharpens."""

    kind = "temperature"

    def __init__(self, temperature: float = 1.0):
        self.temperature = float(temperature)

    def fit(self, confidence: Sequence[float] | np.ndarray, correct: Sequence[Any] | np.ndarray) -> TemperatureScaling:
        c, y = _arrays(confidence, correct)
        if c.size == 0:
            raise ValueError("cannot fit a calibrator on no data")
        z = _logit(c)

        def loss(log_t: float) -> float:
            return _log_loss(special.expit(z / math.exp(log_t)), y)

        res = optimize.minimize_scalar(loss, bounds=(-12.0, 12.0), method="bounded", options={"xatol": 1e-10})
        self.temperature = float(math.exp(res.x))
        self.n_fit = int(c.size)
        return self

    def _transform(self, c: np.ndarray) -> np.ndarray:
        return np.asarray(special.expit(_logit(c) / self.temperature), dtype=float)

    def params(self) -> dict[str, Any]:
        return {"temperature": self.temperature}


class PlattScaling(Calibrator):
    """``sigmoid(a * logit(c) + b)``: logistic regression of correctness on the logit."""

    kind = "platt"

    def __init__(self, a: float = 1.0, b: float = 0.0):
        self.a, self.b = float(a), float(b)

    def fit(self, confidence: Sequence[float] | np.ndarray, correct: Sequence[Any] | np.ndarray) -> PlattScaling:
        c, y = _arrays(confidence, correct)
        if c.size == 0:
            raise ValueError("cannot fit a calibrator on no data")
        # Two parameters fitted with scipy's BFGS rather than sklearn's LogisticRegression(penalty=None),
        # which the tests compare it with: scikit-learn is 51 MB to install and an extra, not a dependency.
        z = _logit(c)
        scale = float(z.std()) or 1.0  # standardise for a well-conditioned optimisation

        def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
            u = theta[0] * z / scale + theta[1]
            # mean log loss, written with logaddexp for stability
            value = float(np.mean(np.logaddexp(0.0, u) - y * u))
            r = special.expit(u) - y
            return value, np.array([np.mean(r * z / scale), np.mean(r)])

        res = optimize.minimize(loss, np.zeros(2), jac=True, method="BFGS", options={"gtol": 1e-10, "maxiter": 1000})
        self.a, self.b = float(res.x[0] / scale), float(res.x[1])
        self.n_fit = int(c.size)
        return self

    def _transform(self, c: np.ndarray) -> np.ndarray:
        return np.asarray(special.expit(self.a * _logit(c) + self.b), dtype=float)

    def params(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b}


class IsotonicCalibration(Calibrator):
    """A non-decreasing step function (scipy's isotonic regression), interpolated linearly, clipped at the ends."""

    kind = "isotonic"

    def __init__(self, x: Sequence[float] = (), y: Sequence[float] = ()):
        self.x = np.asarray(x, dtype=float)
        self.y = np.asarray(y, dtype=float)

    def fit(self, confidence: Sequence[float] | np.ndarray, correct: Sequence[Any] | np.ndarray) -> IsotonicCalibration:
        c, y = _arrays(confidence, correct)
        if c.size == 0:
            raise ValueError("cannot fit a calibrator on no data")
        # one point per distinct confidence (mean outcome, weight = count), as scikit-learn does
        ux, inverse, counts = np.unique(c, return_inverse=True, return_counts=True)
        means = np.bincount(inverse, weights=y) / counts
        fitted = optimize.isotonic_regression(means, weights=counts).x
        # keep only the points where the step function changes (plus both ends of each step)
        keep = np.ones(len(ux), dtype=bool)
        if len(ux) > 2:
            same_prev = np.r_[False, fitted[1:] == fitted[:-1]]
            same_next = np.r_[fitted[:-1] == fitted[1:], False]
            keep = ~(same_prev & same_next)
        self.x, self.y = ux[keep], fitted[keep]
        self.n_fit = int(c.size)
        return self

    def _transform(self, c: np.ndarray) -> np.ndarray:
        if self.x.size == 0:
            raise ValueError("isotonic calibrator is not fitted")
        return np.asarray(np.interp(c, self.x, self.y), dtype=float)

    def params(self) -> dict[str, Any]:
        return {"x": self.x.tolist(), "y": self.y.tolist()}


CALIBRATORS: dict[str, type[Calibrator]] = {
    "temperature": TemperatureScaling,
    "platt": PlattScaling,
    "isotonic": IsotonicCalibration,
}


def fit_calibrator(method: str, confidence: Sequence[float] | np.ndarray,
                   correct: Sequence[Any] | np.ndarray) -> Calibrator:
    """Fit a ``"temperature"``, ``"platt"`` or ``"isotonic"`` calibrator."""
    if method not in CALIBRATORS:
        raise ValueError(f"calibration method must be one of {sorted(CALIBRATORS)}, got {method!r}")
    return CALIBRATORS[method]().fit(confidence, correct)


def calibrator_from_dict(data: dict[str, Any]) -> Calibrator:
    kind = data.get("kind")
    params = {k: v for k, v in data.items() if k not in ("kind", "n_fit")}
    if kind not in CALIBRATORS:
        raise ValueError(f"unknown calibrator kind {kind!r} (expected one of {sorted(CALIBRATORS)})")
    calibrator = CALIBRATORS[kind](**params)
    calibrator.n_fit = int(data.get("n_fit", 0))
    return calibrator


def load_calibrator(path: str | Path) -> Calibrator:
    """Read a calibrator written by :meth:`Calibrator.save`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: cannot read calibrator: {error}") from error
    try:
        return calibrator_from_dict(data)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from error


# ---------------------------------------------------------------- judgments


def confidence_and_correct(judgments: Sequence[Judgment], gold: Sequence[Any] | None = None, *,
                           calibrated: bool = False, tolerance: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Aligned (confidence, correct) arrays for the scored, labelled verdicts with a confidence.

    ``gold`` defaults to each judgment's ``label``. With ``calibrated=True`` the
    confidence is ``metadata["calibrated_confidence"]`` where present.
    """
    golds = [j.label for j in judgments] if gold is None else list(gold)
    conf, ok = [], []
    for j, g in zip(judgments, golds, strict=True):
        agree = judgment_correct(j, g, tolerance=tolerance)
        c = j.metadata.get("calibrated_confidence") if calibrated else None
        c = j.verdict.confidence if c is None else c
        if agree is None or c is None:
            continue
        conf.append(float(c))
        ok.append(float(agree))
    return np.asarray(conf, dtype=float), np.asarray(ok, dtype=float)


def apply_calibration(judgments: Sequence[Judgment], calibrator: Calibrator) -> list[Judgment]:
    """Copies of ``judgments`` with ``metadata["calibrated_confidence"]`` (and the calibrator kind) set."""
    out = []
    for j in judgments:
        if j.verdict.confidence is None:
            out.append(j)
            continue
        meta = {**j.metadata, "calibrated_confidence": calibrator.transform(j.verdict.confidence),
                "calibration": calibrator.kind}
        out.append(j.model_copy(update={"metadata": meta}))
    return out
