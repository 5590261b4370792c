"""A jury: several judges (different backends, ideally different model families) on the same items.

Each member is a full :class:`~jurist.judge.Judge` (its own backend, the same
protocol and strategy), so a pairwise member still runs both orders. The jury
verdict aggregates the members' verdicts:

- ``mean``: the mean of the members' probabilities (P(A)/P(B)/P(tie), or the
  score distributions);
- ``majority``: a vote of the members' top labels; a split vote is explicit
  (preference ``"tie"`` for a pair, ``metadata["vote_tie"]`` for a score);
- ``learned``: weights fitted on a golden set (:func:`fit_weights`): a logistic
  regression on each member's log-odds log(P(A)/P(B)) for pairs, a least-squares
  blend of the members' expected scores for scores.

Every jury verdict keeps the members' verdicts in ``parts`` (in member order)
and puts in ``metadata``: ``members`` (backend specs), ``votes``, the
``disagreement`` (``p_std``/``score_std``: standard deviation across members of
P(A) or of the score; ``vote_entropy``: entropy in bits of the members' top
labels) and ``flagged`` (the members' top labels differ, or the spread exceeds
``flag_threshold``). If any member has no verdict the jury has none either: a
jury of the remaining members would be a different judge, silently.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from jurist.protocols.pairwise import preference_of
from jurist.types import Item, Judgment, Usage, Verdict

if TYPE_CHECKING:
    from jurist.backends.base import Backend
    from jurist.judge import Judge

Aggregate = Literal["mean", "majority", "learned"]
AGGREGATES: tuple[str, ...] = ("mean", "majority", "learned")
_EPS = 1e-6


class JuryWeights(BaseModel):
    """Learned aggregation weights, fitted on a golden set and saved as JSON.

    For pairs: P(A) = sigmoid(intercept + sum_i coef[i] * log(P_i(A) / P_i(B))).
    For scores: score = intercept + sum_i coef[i] * score_i.
    """

    kind: Literal["jury-weights"] = "jury-weights"
    task: Literal["compare", "score"]
    members: list[str]
    intercept: float
    coef: list[float]
    n: int
    protocol: dict[str, Any] = Field(default_factory=dict)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> JuryWeights:
        file = Path(path)
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError as error:
            raise ValueError(f"{path}: no such weights file") from error
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not JSON (line {error.lineno}: {error.msg})") from error
        if not isinstance(data, dict) or data.get("kind") != "jury-weights":
            raise ValueError(f"{path}: not a jury weights file (field 'kind' must be 'jury-weights'; "
                             "make one with `jurist jury-fit`)")
        try:
            weights = cls.model_validate(data)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from error
        if len(weights.coef) != len(weights.members):
            raise ValueError(f"{path}: field 'coef' has {len(weights.coef)} entries for {len(weights.members)} members")
        return weights


def log_odds(verdict: Verdict) -> float:
    """log(P(A)/P(B)) of a pairwise verdict, clipped so a certain judge stays finite."""
    p_a = min(max(verdict.p_a or 0.0, _EPS), 1 - _EPS)
    p_b = min(max(verdict.p_b or 0.0, _EPS), 1 - _EPS)
    return math.log(p_a) - math.log(p_b)


def _features(task: str, verdicts: Sequence[Verdict]) -> list[float]:
    return [log_odds(v) if task == "compare" else float(v.score) for v in verdicts]  # type: ignore[arg-type]


def fit_weights(member_verdicts: Sequence[Sequence[Verdict]], labels: Sequence[Any], members: Sequence[str],
                task: Literal["compare", "score"], *, l2: float = 1e-2,
                protocol: dict[str, Any] | None = None) -> JuryWeights:
    """Fit learned weights on a golden set.

    ``member_verdicts[i]`` holds item i's verdicts, one per member (all scored);
    ``labels[i]`` is "A"/"B" for pairs (ties are dropped: the jury learns which
    response is better) or a number for scores. Pairs: L2-penalised logistic
    regression (``l2`` on the coefficients, not the intercept), fitted with scipy.
    Scores: ridge least squares.
    """
    from scipy.optimize import minimize

    rows, ys = [], []
    for verdicts, label in zip(member_verdicts, labels, strict=True):
        if len(verdicts) != len(members) or not all(v.ok for v in verdicts):
            continue
        if task == "compare":
            if label not in ("A", "B"):
                continue
            ys.append(1.0 if label == "A" else 0.0)
        else:
            try:
                ys.append(float(label))
            except (TypeError, ValueError):
                continue
        rows.append(_features(task, verdicts))
    if len(rows) < 2:
        raise ValueError(f"only {len(rows)} usable golden items (all members scored, a usable label): need at least 2")
    x, y = np.asarray(rows, dtype=float), np.asarray(ys, dtype=float)
    design = np.hstack([np.ones((len(x), 1)), x])
    if task == "compare":
        def loss(beta: np.ndarray) -> tuple[float, np.ndarray]:
            z = design @ beta
            # log(1 + e^z) - y z, written stably
            value = np.sum(np.logaddexp(0.0, z) - y * z) + l2 * np.sum(beta[1:] ** 2)
            grad = design.T @ (1 / (1 + np.exp(-z)) - y)
            grad[1:] += 2 * l2 * beta[1:]
            return float(value), grad

        start = np.zeros(design.shape[1])
        start[1:] = 1.0 / x.shape[1]  # the mean of log-odds: a sensible place to start
        beta = minimize(loss, start, jac=True, method="L-BFGS-B").x
    else:
        penalty = l2 * np.eye(design.shape[1])
        penalty[0, 0] = 0.0
        beta = np.linalg.solve(design.T @ design + penalty, design.T @ y)
    return JuryWeights(task=task, members=list(members), intercept=float(beta[0]),
                       coef=[float(b) for b in beta[1:]], n=len(rows), protocol=protocol or {})


def _entropy(counts: Counter[Any]) -> float:
    total = sum(counts.values())
    return float(-sum((c / total) * math.log2(c / total) for c in counts.values() if c))


def aggregate(verdicts: Sequence[Verdict], members: Sequence[str], method: Aggregate = "mean",
              weights: JuryWeights | None = None, flag_threshold: float | None = None) -> Verdict:
    """One jury verdict from the members' verdicts (in member order); see the module docstring."""
    if not verdicts:
        raise ValueError("a jury needs at least one member verdict")
    kind = verdicts[0].kind
    usage = sum((v.usage for v in verdicts), Usage())
    meta: dict[str, Any] = {"members": list(members), "aggregate": method}
    for name, part in zip(members, verdicts, strict=True):
        if not part.ok:
            return Verdict(status=part.status, kind=kind, error=f"jury member {name}: {part.error}", raw=part.raw,
                           parts=list(verdicts), usage=usage, metadata=meta)
    if method == "learned" and weights is None:
        raise ValueError("aggregate 'learned' needs weights (fit them with `jurist jury-fit`)")
    if weights is not None and len(weights.coef) != len(verdicts):
        raise ValueError(f"the weights are for {len(weights.coef)} members, the jury has {len(verdicts)}")
    if kind == "compare":
        verdict = _aggregate_compare(verdicts, method, weights)
        spread = float(np.std([v.p_a for v in verdicts]))
        meta["disagreement"] = {"p_std": spread}
    elif kind == "score":
        verdict = _aggregate_score(verdicts, method, weights)
        spread = float(np.std([v.score for v in verdicts]))
        meta["disagreement"] = {"score_std": spread}
    else:
        raise ValueError(f"a jury aggregates score or compare verdicts, not {kind!r}")
    votes = Counter(v.top_label for v in verdicts)
    meta["votes"] = [v.top_label for v in verdicts]
    meta["disagreement"]["vote_entropy"] = _entropy(votes)
    meta["flagged"] = len(votes) > 1 or (flag_threshold is not None and spread > flag_threshold)
    meta.update(verdict.metadata)
    methods = {v.method for v in verdicts}
    return verdict.model_copy(update={"parts": list(verdicts), "usage": usage, "metadata": meta,
                                      "method": methods.pop() if len(methods) == 1 else "parsed"})


def _aggregate_compare(verdicts: Sequence[Verdict], method: str, weights: JuryWeights | None) -> Verdict:
    with_tie = any("tie" in v.distribution for v in verdicts)
    extra: dict[str, Any] = {}
    if method == "mean":
        p_a = float(np.mean([v.p_a for v in verdicts]))
        p_b = float(np.mean([v.p_b for v in verdicts]))
        p_tie = float(np.mean([v.p_tie or 0.0 for v in verdicts]))
        preference = preference_of(p_a, p_b, p_tie)
    elif method == "majority":
        votes = Counter(v.preference for v in verdicts)
        n = len(verdicts)
        p_a, p_b, p_tie = votes["A"] / n, votes["B"] / n, votes["tie"] / n
        top = votes.most_common()
        split = len(top) > 1 and top[0][1] == top[1][1]
        # A split vote is a tie, said so: no member's probabilities quietly break it.
        preference = "tie" if split else top[0][0]
        extra["vote_tie"] = split
    elif method == "learned":
        assert weights is not None
        z = weights.intercept + float(np.dot(weights.coef, _features("compare", verdicts)))
        p_a = 1 / (1 + math.exp(-z))
        p_b, p_tie = 1 - p_a, 0.0
        preference = preference_of(p_a, p_b, p_tie)
    else:
        raise ValueError(f"unknown aggregate {method!r}: expected one of {', '.join(AGGREGATES)}")
    distribution = {"A": p_a, "B": p_b} | ({"tie": p_tie} if with_tie or p_tie else {})
    return Verdict(status="scored", kind="compare", preference=preference, top_label=preference, p_a=p_a, p_b=p_b,
                   p_tie=p_tie, distribution=distribution, confidence=max(distribution.values()), metadata=extra)


def _aggregate_score(verdicts: Sequence[Verdict], method: str, weights: JuryWeights | None) -> Verdict:
    labels = list(dict.fromkeys(label for v in verdicts for label in v.distribution))
    mean_dist = {label: float(np.mean([v.distribution.get(label, 0.0) for v in verdicts])) for label in labels}
    extra: dict[str, Any] = {}
    if method == "mean":
        score = float(np.mean([v.score for v in verdicts]))
        distribution = mean_dist
        top = max(distribution, key=distribution.__getitem__)
    elif method == "majority":
        votes = Counter(v.top_label for v in verdicts)
        distribution = {label: votes[label] / len(verdicts) for label in votes}
        best = max(votes.values())
        tied = [label for label, c in votes.items() if c == best]
        extra["vote_tie"] = len(tied) > 1
        # No tie label on a scale: the split is recorded, the tied label with the larger mean probability shown.
        top = max(tied, key=lambda label: mean_dist.get(label, 0.0))
        score = float(np.mean([v.score for v in verdicts if v.top_label in tied]))
    elif method == "learned":
        assert weights is not None
        score = weights.intercept + float(np.dot(weights.coef, _features("score", verdicts)))
        distribution = mean_dist
        top = max(distribution, key=distribution.__getitem__)
    else:
        raise ValueError(f"unknown aggregate {method!r}: expected one of {', '.join(AGGREGATES)}")
    return Verdict(status="scored", kind="score", score=score, top_label=top, distribution=distribution,
                   confidence=distribution[top], metadata=extra)


class Jury:
    """Several judges (same protocol, different backends) behind the Judge interface the engine uses.

    ``members`` are Judges sharing one protocol, each possibly in its own template (wording). The engine
    wraps each member's backend in its cache/retry/limit middleware through :meth:`wrapped`.
    """

    def __init__(self, members: Sequence[Judge], aggregate: Aggregate = "mean", weights: JuryWeights | None = None,
                 flag_threshold: float | None = None):
        if len(members) < 2:
            raise ValueError(f"a jury needs at least 2 judges, got {len(members)}")
        if aggregate not in AGGREGATES:
            raise ValueError(f"unknown aggregate {aggregate!r}: expected one of {', '.join(AGGREGATES)}")
        if members[0].protocol.kind not in ("score", "compare"):
            raise ValueError(f"a jury aggregates score or compare verdicts, not {members[0].protocol.kind!r}")
        # the members may word the prompt differently (a template jury averages wording noise), but they must
        # answer the same question on the same labels, or their probabilities do not average
        identities = {json.dumps({k: v for k, v in m.protocol.identity.items() if k != "template_hash"},
                                 sort_keys=True) for m in members}
        if len(identities) != 1:
            raise ValueError("every jury member must use the same protocol (task, criteria or rubric, scale, ties, "
                             "examples); only the template may differ")
        specs = [m.backend.spec for m in members]
        if len(set(specs)) != len(specs):
            raise ValueError(f"jury members must be distinct judges, got {specs}")
        if aggregate == "learned":
            if weights is None:
                raise ValueError("aggregate 'learned' needs weights (fit them with `jurist jury-fit`)")
            if weights.members != specs:
                raise ValueError(f"the weights were fitted for the jury {weights.members}, not {specs}")
            if weights.task != members[0].protocol.kind:
                raise ValueError(f"the weights were fitted for `{weights.task}`, not `{members[0].protocol.kind}`")
        self.members = list(members)
        self.aggregate = aggregate
        self.weights = weights
        self.flag_threshold = flag_threshold
        self.protocol = members[0].protocol
        self.strategy = members[0].strategy
        self.explain = any(m.explain for m in members)

    @property
    def specs(self) -> list[str]:
        return [m.backend.spec for m in self.members]

    @property
    def spec(self) -> str:
        return "jury(" + ",".join(self.specs) + ")"

    @property
    def identity(self) -> dict[str, Any]:
        identity: dict[str, Any] = {"judge": "jury", "members": [m.identity for m in self.members],
                                    "aggregate": self.aggregate, "flag_threshold": self.flag_threshold,
                                    **self.protocol.identity}
        if self.weights is not None:
            identity["weights"] = {"intercept": self.weights.intercept, "coef": self.weights.coef}
        return identity

    def wrapped(self, wrap: Callable[[Backend], Backend]) -> Jury:
        """The same jury with every member's backend passed through ``wrap`` (the engine's middleware)."""
        return Jury([m.wrapped(wrap) for m in self.members], self.aggregate, self.weights, self.flag_threshold)

    async def close_connections(self) -> None:
        for member in self.members:
            await member.close_connections()

    async def ajudge(self, item: Item) -> Verdict:
        verdicts = await asyncio.gather(*(m.ajudge(item) for m in self.members))
        return aggregate(verdicts, self.specs, self.aggregate, self.weights, self.flag_threshold)


class JuryStats(BaseModel):
    """Jury-level numbers over a run: per-member accuracy, agreement between members, flagged items."""

    members: list[str]
    n: int
    alpha: Any = None  # Estimate: Krippendorff's alpha between the members' top labels (nominal)
    flagged: int = 0
    member_accuracy: dict[str, Any] = Field(default_factory=dict)
    accuracy_flagged: Any = None
    accuracy_unflagged: Any = None

    def rows(self) -> list[tuple[str, str]]:
        rows = [("jury", ", ".join(self.members)), ("Krippendorff's alpha (members)", str(self.alpha)),
                ("flagged (members disagree)", f"{self.flagged} of {self.n}")]
        rows += [(f"accuracy ({name} alone)", str(est)) for name, est in self.member_accuracy.items()]
        if self.accuracy_flagged is not None:
            rows.append(("accuracy (flagged)", str(self.accuracy_flagged)))
        if self.accuracy_unflagged is not None:
            rows.append(("accuracy (not flagged)", str(self.accuracy_unflagged)))
        return rows


def _label_of(judgment_label: Any, kind: str) -> Any:
    if judgment_label is None:
        return None
    if kind == "compare":
        return {"a": "A", "b": "B", "tie": "tie"}.get(str(judgment_label).strip().lower())
    try:
        return float(judgment_label)
    except (TypeError, ValueError):
        return None


def jury_stats(judgments: Sequence[Judgment], *, seed: int | None = 0) -> JuryStats | None:
    """Agreement between the members and accuracy split by the flag; None when no verdict is a jury verdict."""
    from jurist.metrics.agreement import accuracy, krippendorff_alpha

    jury = [j for j in judgments if j.verdict.ok and "members" in j.verdict.metadata]
    if not jury:
        return None
    members = jury[0].verdict.metadata["members"]
    kind = jury[0].verdict.kind
    if kind == "compare":
        ratings = [[p.preference for p in j.verdict.parts] for j in jury]
        alpha = krippendorff_alpha(list(map(list, zip(*ratings, strict=True))), level="nominal", seed=seed)
    else:
        ratings = [[p.score for p in j.verdict.parts] for j in jury]
        alpha = krippendorff_alpha(list(map(list, zip(*ratings, strict=True))), level="interval", seed=seed)
    stats = JuryStats(members=members, n=len(jury), alpha=alpha,
                      flagged=sum(bool(j.verdict.metadata.get("flagged")) for j in jury))
    labelled = [(j, y) for j in jury if (y := _label_of(j.label, kind)) is not None]
    if kind == "compare" and labelled:
        for i, name in enumerate(members):
            stats.member_accuracy[name] = accuracy([j.verdict.parts[i].preference for j, _ in labelled],
                                                   [y for _, y in labelled], seed=seed)
        for flag, field in ((True, "accuracy_flagged"), (False, "accuracy_unflagged")):
            subset = [(j, y) for j, y in labelled if bool(j.verdict.metadata.get("flagged")) == flag]
            if subset:
                setattr(stats, field, accuracy([j.verdict.preference for j, _ in subset], [y for _, y in subset],
                                               seed=seed))
    return stats


class JurySummary(BaseModel):
    """A jury run's summary: the usual score/compare summary of the jury verdicts, then the jury's own rows."""

    base: Any
    jury: JuryStats | None = None

    @classmethod
    def of(cls, base: Any, judgments: Sequence[Judgment]) -> JurySummary:
        return cls(base=base, jury=jury_stats(judgments))

    def rows(self) -> list[tuple[str, str]]:
        return [*self.base.rows(), *(self.jury.rows() if self.jury else [])]
