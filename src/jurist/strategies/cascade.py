"""Escalation cascade: cheap judges decide what they are sure of, the rest goes up the chain.

A cascade is a chain of judges, e.g. ``local, local:1.5b, human``. Stage ``k``
accepts an item when its verdict's confidence is at least the stage threshold
``t_k``; otherwise the item escalates to stage ``k + 1``. Items no automatic
judge accepts go to the human review queue in the store. The thresholds are
fitted on a *golden set* (items with human labels) so that

    P( agreement with humans on the automatically decided items >= target ) >= 1 - risk,

where the probability is over the draw of the golden set, and "agreement" is
the population agreement on future items exchangeable with the golden set
(drawn from the same distribution). It is a statement about the fitted
thresholds, not about one finite batch of test items, whose realised agreement
also fluctuates around the population value.

Method: Learn-then-Test (Angelopoulos, Bates, Candès, Jordan, Lei 2021)
======================================================================

Why LTT and not conformal risk control: the quantity to control is the
*conditional* error on accepted items, ``R(t) = P(judge wrong | conf >= t)``.
It is a ratio, not the mean of a loss that is monotone in ``t``, and it need
not be monotone (a judge can be confidently wrong). Conformal risk control
bounds the expectation of a monotone loss, i.e. "agreement >= target on
average over golden sets"; LTT gives the high-probability statement above
and needs no monotonicity. Concretely, for one stage:

1. Candidate thresholds are the distinct confidences seen on the golden items
   that reach the stage, ordered from strict to loose. The sequence starts at
   the first threshold that accepts ``n_min`` items, where
   ``n_min = ceil(log(delta) / log(target))`` is the fewest items that could
   reject the null at all (zero errors); stricter thresholds cannot pass.
2. Each threshold ``t`` tests H_t: ``R(t) > 1 - target``. Given the ``n_t``
   golden items with ``conf >= t``, their errors are i.i.d. Bernoulli(R(t)), so
   the exact binomial tail ``p_t = P(Binomial(n_t, 1 - target) <= errors_t)``
   is a valid p-value (tighter than Hoeffding-Bentkus for 0/1 losses).
3. Fixed-sequence testing: walk the sequence while ``p_t <= delta``; stop at
   the first threshold that fails. Every threshold passed is certified
   simultaneously with family-wise error ``<= delta`` with no multiplicity
   correction, and the stage keeps the loosest one (most coverage). If none
   passes the stage accepts nothing (threshold ``+inf``).

Chain: stages are fitted one after the other, each on the golden items
escalated by the stages before it, at level ``delta = risk / K`` for ``K``
automatic stages (Bonferroni). With probability ``>= 1 - risk`` *every* stage
meets the target on the items it accepts, so the auto-decided items as a
whole (a mixture of the stages) meet it too. Bonferroni over stages is the
simplest valid combination; it is conservative (the union needs only the
mixture to meet the target) and costs little for short chains. Fitting stage
by stage means a judge is run only on the golden items that reach it.

Two approximations, stated plainly: the candidate thresholds come from the
golden confidences (labels unused) rather than a grid fixed in advance, and a
later stage's fit may reuse the label of the one golden item at which the
previous stage's sequence stopped. Both are the usual practice; the
simulation in ``tests/test_cascade.py`` (synthetic judges with known
calibration, 200 golden/test splits) checks that the violation rate stays at
or below ``risk``. The last stage of a chain without ``human`` accepts
every item it gives a usable verdict (a failed or unscored verdict decides
nothing: the item stays undecided, ``decided_by`` None), and then no guarantee
is given (the file says ``"guarantee": false``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, field_serializer
from scipy import special, stats

from jurist.backends.specs import default_concurrency
from jurist.metrics.agreement import judgment_correct
from jurist.types import Item, Judgment

__all__ = [
    "METHOD",
    "Cascade",
    "CascadeReport",
    "CascadeSpec",
    "Stage",
    "StageFit",
    "StageStats",
    "evaluate_cascade",
    "fit_cascade",
    "fit_stage",
    "golden_hash",
    "judgment_confidence",
    "judgment_correct",
    "load_cascade",
    "min_accept",
    "SimulationResult",
    "SyntheticJudge",
    "calibrate_chain",
    "run_cascade",
    "simulate_cascade",
]

METHOD = ("learn-then-test: fixed-sequence testing over thresholds from strict to loose, "
          "exact binomial p-values, Bonferroni over automatic stages")
HUMAN = "human"


# ---------------------------------------------------------------- fitting one stage


def min_accept(target: float, delta: float) -> int:
    """Fewest accepted golden items that can certify ``target`` at level ``delta`` (all of them correct)."""
    if not 0 < target < 1:
        raise ValueError(f"target agreement must be in (0, 1), got {target}")
    if not 0 < delta < 1:
        raise ValueError(f"risk must be in (0, 1), got {delta}")
    return max(1, math.ceil(math.log(delta) / math.log(target) - 1e-12))


class StageFit(BaseModel):
    """What LTT found for one stage on the golden items that reached it."""

    n: int = 0                     # golden items that reached the stage (with a usable verdict or not)
    accepted: int = 0              # of those, accepted at the fitted threshold
    errors: int = 0                # accepted items where the judge disagreed with the label
    p_value: float | None = None   # binomial p-value of the fitted threshold
    tested: int = 0                # thresholds tested before the sequence stopped
    delta: float = 0.0

    @property
    def agreement(self) -> float:
        return 1 - self.errors / self.accepted if self.accepted else math.nan


def fit_stage(confidence: Sequence[float] | np.ndarray, correct: Sequence[Any] | np.ndarray, *, target: float,
              delta: float) -> tuple[float, StageFit]:
    """LTT threshold for one stage: (threshold, fit details). ``+inf`` means "accept nothing".

    ``confidence`` may hold NaN for items without a usable verdict (never accepted).
    """
    c = np.asarray(confidence, dtype=float)
    y = np.asarray(correct, dtype=float)
    if c.shape != y.shape:
        raise ValueError(f"confidence and correct differ in length: {len(c)} and {len(y)}")
    alpha = 1.0 - target
    n_min = min_accept(target, delta)
    usable = ~np.isnan(c)
    cu, yu = c[usable], y[usable]
    order = np.argsort(-cu, kind="stable")
    cs, ys = cu[order], yu[order]
    # one candidate per distinct confidence: the last position of each run of equal values
    if cs.size:
        last = np.r_[cs[1:] != cs[:-1], True]
        n_sel = np.flatnonzero(last) + 1
        err = np.cumsum(1 - ys)[last]
        thresholds = cs[last]
    else:
        n_sel = err = thresholds = np.zeros(0)
    start = int(np.searchsorted(n_sel, n_min, side="left"))
    pvals = stats.binom.cdf(err[start:], n_sel[start:], alpha) if start < len(n_sel) else np.zeros(0)
    failed = np.flatnonzero(pvals > delta)
    passed = int(failed[0]) if failed.size else len(pvals)
    fit = StageFit(n=int(c.size), delta=delta, tested=min(passed + 1, len(pvals)))
    if passed == 0:
        return math.inf, fit
    i = start + passed - 1
    fit.accepted, fit.errors, fit.p_value = int(n_sel[i]), int(err[i]), float(pvals[passed - 1])
    return float(thresholds[i]), fit


# ---------------------------------------------------------------- the cascade file


class Stage(BaseModel):
    """One link of the chain. ``judge`` is a judge spec or ``"human"`` (the review queue)."""

    judge: str
    model: str | None = None
    threshold: float | None = None  # accept when confidence >= threshold; None: accept everything (last, no human)
    calibration: dict[str, Any] | None = None  # a calibrator (jurist.metrics.calibration), for reporting only
    fit: StageFit | None = None

    @field_serializer("threshold")
    def _finite_json(self, value: float | None) -> float | str | None:
        """"accept nothing" (+inf) is written as the string "inf": JSON has no infinity."""
        return "inf" if value is not None and math.isinf(value) and value > 0 else value

    @property
    def is_human(self) -> bool:
        return self.judge == HUMAN


class CascadeSpec(BaseModel):
    """A fitted cascade, as saved by ``jurist calibrate`` and loaded by ``--cascade FILE``."""

    version: int = 1
    method: str = METHOD
    task: Literal["score", "compare"]
    protocol: dict[str, Any] = Field(default_factory=dict)
    swap: bool = True
    tolerance: float = 0.0
    target: float
    risk: float
    guarantee: bool = True
    stages: list[Stage]
    golden: dict[str, Any] = Field(default_factory=dict)
    fitted_on: dict[str, Any] = Field(default_factory=dict)  # coverage, agreement, cost on the golden set
    created: float = Field(default_factory=time.time)

    @property
    def automatic(self) -> list[Stage]:
        return [s for s in self.stages if not s.is_human]

    @property
    def has_human(self) -> bool:
        return any(s.is_human for s in self.stages)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")


def load_cascade(path: str | Path) -> CascadeSpec:
    """Read a cascade file; a clear error if it is missing or malformed."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ValueError(f"{path}: cannot read cascade file: {error}") from error
    try:
        return CascadeSpec.model_validate_json(text)
    except ValueError as error:
        raise ValueError(f"{path}: not a cascade file: {error}") from error


def golden_hash(items: Sequence[Item], path: str | Path | None = None) -> str:
    """SHA-256 of the golden file's bytes, or of the items' ids, candidates and labels."""
    h = hashlib.sha256()
    if path is not None and Path(path).is_file():
        h.update(Path(path).read_bytes())
    else:
        for item in items:
            h.update(json.dumps([item.id, item.input, item.candidates, item.label], default=str).encode("utf-8"))
    return h.hexdigest()


# ---------------------------------------------------------------- verdicts -> arrays

def judgment_confidence(judgment: Judgment) -> float | None:
    """The confidence a stage thresholds: the verdict's confidence, None when it has none (never accepted)."""
    v = judgment.verdict
    return v.confidence if v.ok and v.confidence is not None else None


# ---------------------------------------------------------------- fitting a chain on arrays


class StageStats(BaseModel):
    """What one stage did on a set of items: how many reached it, were accepted, agreed with humans."""

    judge: str
    threshold: float | None = None
    reached: int = 0
    accepted: int = 0
    labelled_accepted: int = 0
    correct_accepted: int = 0
    model_calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_s: float = 0.0
    cost_usd: float | None = None

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.reached if self.reached else math.nan


def evaluate_cascade(thresholds: Sequence[float | None], confidence: Sequence[np.ndarray],
                     correct: Sequence[np.ndarray] | None = None) -> dict[str, Any]:
    """Route items through stages with ``thresholds`` (None: accept all) and count what happens.

    ``confidence[k][i]`` is stage ``k``'s confidence on item ``i`` (NaN: no usable
    verdict); ``correct[k][i]`` whether it agreed with the label. Returns the
    stage that decided each item (``-1``: human), per-stage counts, coverage
    and the agreement on auto-decided items.
    """
    n = len(confidence[0]) if confidence else 0
    decided = np.full(n, -1)
    remaining = np.ones(n, dtype=bool)
    per_stage = []
    for k, t in enumerate(thresholds):
        c = np.asarray(confidence[k], dtype=float)
        thr = -math.inf if t is None else t
        with np.errstate(invalid="ignore"):
            # NaN (no usable verdict) is never taken, not even by the last judge of a chain without
            # human, which takes everything else that is left (threshold None)
            take = remaining & ~np.isnan(c) & (c >= thr)
        decided[take] = k
        entry = {"reached": int(remaining.sum()), "accepted": int(take.sum())}
        if correct is not None:
            entry["correct"] = int(np.asarray(correct[k], dtype=float)[take].sum())
        per_stage.append(entry)
        remaining &= ~take
    auto = decided >= 0
    out: dict[str, Any] = {"n": n, "decided": decided, "stages": per_stage, "coverage": float(auto.mean()) if n else math.nan,
                           "human": int((~auto).sum())}
    if correct is not None:
        ok = sum(e["correct"] for e in per_stage)
        out["auto"] = int(auto.sum())
        out["agreement"] = ok / int(auto.sum()) if auto.any() else math.nan
    return out


def fit_cascade(confidence: Sequence[np.ndarray], correct: Sequence[np.ndarray], *, target: float, risk: float,
                human: bool = True) -> tuple[list[float | None], list[StageFit]]:
    """Stage-by-stage LTT thresholds for a chain, from every stage's confidences on every golden item.

    With ``human`` the last automatic stage is thresholded too (the rest goes
    to the review queue) and each stage is fitted at ``risk / K``; without it
    the last stage accepts everything (threshold None, no guarantee).
    """
    k_auto = len(confidence)
    tested = k_auto if human else k_auto - 1
    delta = risk / max(tested, 1)
    n = len(confidence[0]) if k_auto else 0
    remaining = np.ones(n, dtype=bool)
    thresholds: list[float | None] = []
    fits: list[StageFit] = []
    for k in range(k_auto):
        c = np.asarray(confidence[k], dtype=float)
        y = np.asarray(correct[k], dtype=float)
        if k == k_auto - 1 and not human:  # accepts everything left that has a usable verdict
            thresholds.append(None)
            taken = remaining & ~np.isnan(c)
            fits.append(StageFit(n=int(remaining.sum()), accepted=int(taken.sum()),
                                 errors=int((1 - np.nan_to_num(y[taken])).sum()), delta=0.0))
            break
        t, fit = fit_stage(c[remaining], y[remaining], target=target, delta=delta)
        thresholds.append(t)
        fits.append(fit)
        with np.errstate(invalid="ignore"):
            remaining &= ~(~np.isnan(c) & (c >= t))
    return thresholds, fits


# ---------------------------------------------------------------- running a chain: a judge like any other


class CascadeReport(BaseModel):
    """What each stage of a cascade run did, and how many items wait for a human."""

    stages: list[StageStats]
    queued: int = 0
    target: float
    risk: float
    guarantee: bool = True

    def rows(self, n: int) -> list[tuple[str, str]]:
        """Per stage: reached, decided, cost; then coverage, the review queue and agreement, for ``n`` items."""
        from jurist.metrics.uncertainty import wilson_interval

        rows = [("items", str(n))]
        for k, s in enumerate(self.stages):
            thr = "accept all" if s.threshold is None else ("no threshold certified: not run" if math.isinf(s.threshold)
                                                             else f"conf >= {s.threshold:.4g}")
            rows.append((f"stage {k + 1}: {s.judge} ({thr})",
                         f"reached {s.reached}, decided {s.accepted} ({s.accepted / n:.1%} of all)" if n
                         else "reached 0"))
            rows.append((f"  cost ({s.judge})", f"{s.prompt_tokens} prompt tokens; {s.model_calls} model calls, "
                                                f"{s.cache_hits} cache hits"))
            if s.reached:
                rows.append((f"  escalated by {s.judge}", f"{s.reached - s.accepted} ({(s.reached - s.accepted) / s.reached:.1%})"))
        auto = sum(s.accepted for s in self.stages)
        rows.append(("coverage (decided automatically)", f"{auto} ({auto / n:.1%})" if n else "0"))
        rows.append(("human review queue", f"{self.queued} ({self.queued / n:.1%})" if n else "0"))
        if n - auto - self.queued > 0:  # a chain without human whose last judge gave no usable verdict
            rows.append(("undecided (no usable verdict)", f"{n - auto - self.queued} ({(n - auto - self.queued) / n:.1%})"))
        labelled = sum(s.labelled_accepted for s in self.stages)
        if labelled:
            correct = sum(s.correct_accepted for s in self.stages)
            rows.append(("agreement on auto-decided (labelled)", str(wilson_interval(correct, labelled))))
        rows.append(("target agreement / risk", f"{self.target} / {self.risk}"
                     + ("" if self.guarantee else " (no human stage: no guarantee)")))
        return rows


def _stage_judge(stage: Stage, protocol: Any, swap: bool, backends: Mapping[str, Any] | None = None,
                 options: Mapping[str, Any] | None = None) -> Any:
    """The Judge of one automatic stage: its backend (a given one, else from the registry), the fitted order."""
    from jurist.backends.registry import resolve_backend
    from jurist.judge import Judge
    from jurist.strategies.choice import strategy_for

    backend = (backends[stage.judge] if backends and stage.judge in backends
               else resolve_backend(stage.judge, stage.model, **dict(options or {})))
    return Judge(backend, protocol, strategy_for(protocol, order="swap" if swap else "single"))


class Cascade:
    """A fitted cascade behind the judge interface: each item goes up the chain until a stage is sure.

    Stage ``k`` decides an item when its confidence reaches the stage threshold;
    a stage that certified no threshold is never run. The verdict is the deciding
    stage's (or, when none decided, the last one's), with ``metadata["cascade"]``:
    the deciding stage, every stage's confidence, the thresholds, the tokens each
    stage spent, and whether the item waits for a human. :meth:`settle` moves that
    record to the judgment and puts waiting items in the store's review queue.
    """

    def __init__(self, cascade: CascadeSpec, protocol: Any, *, backends: Mapping[str, Any] | None = None,
                 options: Mapping[str, Any] | None = None, judges: Sequence[Any | None] | None = None):
        if protocol.kind != cascade.task:
            raise ValueError(f"the cascade was fitted for `jurist {cascade.task}`, not `jurist {protocol.kind}`")
        self.cascade = cascade
        self.protocol = protocol
        self.automatic = cascade.automatic
        self.judges = list(judges) if judges is not None else [
            None if stage.threshold is not None and math.isinf(stage.threshold)
            else _stage_judge(stage, protocol, cascade.swap, backends, options) for stage in self.automatic]
        from jurist.metrics.calibration import calibrator_from_dict

        self.calibrators = [calibrator_from_dict(s.calibration) if s.calibration else None for s in self.automatic]

    @property
    def members(self) -> list[Any]:
        """The stage judges that run (a stage without a certified threshold has none)."""
        return [judge for judge in self.judges if judge is not None]

    @property
    def spec(self) -> str:
        return "cascade:" + ">".join(s.judge for s in self.cascade.stages)

    @property
    def identity(self) -> dict[str, Any]:
        return {"judge": self.spec, "strategy": "cascade", **self.protocol.identity}

    def wrapped(self, wrap: Any) -> Cascade:
        return Cascade(self.cascade, self.protocol,
                       judges=[None if j is None else j.wrapped(wrap) for j in self.judges])

    async def close_connections(self) -> None:
        for judge in self.judges:
            if judge is not None:
                await judge.close_connections()

    async def ajudge(self, item: Item) -> Any:
        from jurist.types import Verdict

        confidences: list[float | None] = []
        tokens: list[list[int]] = []
        last = None
        for k, (stage, judge) in enumerate(zip(self.automatic, self.judges, strict=True)):
            if judge is None:  # no certified threshold: it cannot decide anything, so it is not run
                confidences.append(None)
                tokens.append([0, 0])
                continue
            verdict = await judge.ajudge(item)
            conf = verdict.confidence if verdict.ok and verdict.confidence is not None else None
            confidences.append(conf)
            tokens.append([verdict.usage.prompt_tokens, verdict.usage.completion_tokens])
            last = verdict
            # the last stage of a chain without human (threshold None) decides every *usable* verdict:
            # a failed or unscored one is not a decision, whatever the threshold
            if verdict.ok and (stage.threshold is None or (conf is not None and conf >= stage.threshold)):
                record: dict[str, Any] = {"decided_by": stage.judge, "stage": k + 1, "confidences": confidences,
                                          "thresholds": [s.threshold for s in self.automatic[: k + 1]],
                                          "tokens": tokens}
                if self.calibrators[k] is not None and conf is not None:
                    record["calibrated_confidence"] = self.calibrators[k].transform(conf)
                return verdict.model_copy(update={"metadata": {**verdict.metadata, "cascade": record}})
        reason = ("no automatic judge reached its confidence threshold" if self.cascade.has_human
                  else "no usable verdict")
        # undecided: waits for a human, or (no human in the chain) stays undecided with its failed verdict
        record = {"decided_by": HUMAN if self.cascade.has_human else None,
                  "pending_review": self.cascade.has_human, "reason": reason,
                  "confidences": confidences, "thresholds": [s.threshold for s in self.automatic], "tokens": tokens}
        if last is None:
            return Verdict(status="failed", kind=self.cascade.task, error=reason,  # type: ignore[arg-type]
                           metadata={"cascade": record})
        return last.model_copy(update={"metadata": {**last.metadata, "cascade": record}})

    def settle(self, judgments: list[Judgment], items: Mapping[str, Item], store: Any, run_id: str,
               stats: Mapping[str, Any]) -> tuple[list[Judgment], CascadeReport]:
        """Move each verdict's cascade record to its judgment (in ``store`` too), queue the undecided
        items for review, and count what every stage did."""
        automatic = self.automatic
        report = CascadeReport(stages=[StageStats(judge=s.judge, threshold=s.threshold) for s in automatic],
                               target=self.cascade.target, risk=self.cascade.risk, guarantee=self.cascade.guarantee)
        by_backend = stats.get("by_backend", {})
        for st, judge in zip(report.stages, self.judges, strict=True):
            calls = by_backend.get(judge.spec, {}) if judge is not None else {}
            st.model_calls, st.cache_hits = calls.get("model_calls", 0), calls.get("cache_hits", 0)
        settled = []
        for judgment in judgments:
            record = judgment.verdict.metadata.get("cascade")
            if record is not None:  # new: lift it from the verdict to the judgment (stored so once)
                verdict_meta = {k: v for k, v in judgment.verdict.metadata.items() if k != "cascade"}
                meta = {**judgment.metadata, "cascade": {k: v for k, v in record.items()
                                                         if k != "calibrated_confidence"}}
                if "calibrated_confidence" in record:
                    meta["calibrated_confidence"] = record["calibrated_confidence"]
                judgment = judgment.model_copy(update={
                    "metadata": meta, "verdict": judgment.verdict.model_copy(update={"metadata": verdict_meta})})
                store.update_judgment(run_id, judgment)
                item = items.get(judgment.item_id)
                if record.get("pending_review") and item is not None:
                    store.enqueue_review(run_id, item, reason=record["reason"],
                                         confidences={s.judge: c for s, c in zip(automatic, record["confidences"],
                                                                                 strict=False)})
            settled.append(judgment)
            record = judgment.metadata.get("cascade", {})
            for k, used in enumerate(record.get("tokens", [])):
                st = report.stages[k]
                st.reached += 1
                st.prompt_tokens += used[0]
                st.completion_tokens += used[1]
            if record.get("decided_by", HUMAN) in (HUMAN, None):
                report.queued += bool(record.get("pending_review"))
                continue
            st = report.stages[record["stage"] - 1]
            st.accepted += 1
            ok = judgment_correct(judgment, judgment.label, tolerance=self.cascade.tolerance)
            if ok is not None:
                st.labelled_accepted += 1
                st.correct_accepted += int(ok)
        return settled, report


def _cost(result: Any = None) -> dict[str, Any]:
    """What a stage cost: model calls and cache hits of this session; tokens of every verdict (cached or not).

    Tokens come from the verdicts' usage, so a re-run that is served from the cache still reports
    what the stage costs to judge; ``model_calls`` says what was actually paid this time.
    """
    stats_ = result.stats if result is not None else {}
    judgments = result.judgments if result is not None else []
    return {"model_calls": int(stats_.get("model_calls", 0) or 0), "cache_hits": int(stats_.get("cache_hits", 0) or 0),
            "prompt_tokens": sum(j.verdict.usage.prompt_tokens for j in judgments),
            "completion_tokens": sum(j.verdict.usage.completion_tokens for j in judgments),
            "wall_s": float(stats_.get("wall_s", 0) or 0), "cost_usd": stats_.get("cost_usd")}


def run_cascade(cascade: CascadeSpec, items: Sequence[Item], *, protocol: Any, store: Any = None,
                name: str | None = None, command: str | None = None, concurrency: int | None = None,
                progress: bool | None = False, config: Any = None, backends: Mapping[str, Any] | None = None,
                input_errors: Sequence[str] = ()) -> Any:
    """Run the chain over ``items`` with the engine: one run in ``store``, one judgment per item in input
    order, with ``metadata["cascade"]``; items no judge accepts go to the store's review queue.
    ``backends`` maps a stage's judge spec to a ready Backend (tests use scripted backends).
    Returns the :class:`~jurist.engine.RunResult`, its ``cascade`` report filled."""
    from jurist.engine.executor import EngineConfig, run_judge

    judge = Cascade(cascade, protocol, backends=backends)
    if config is None:
        config = EngineConfig(concurrency=concurrency or default_concurrency(s.judge for s in cascade.automatic),
                              progress=progress)
    result = run_judge(judge, items, store=store, config=config, name=name, command=command)
    result.input_errors = list(input_errors)
    return result


# ---------------------------------------------------------------- fitting a chain by running it


def calibrate_chain(items: Sequence[Item], chain: Sequence[str], *, protocol: Any, target: float, risk: float,
                    store: Any = None, swap: bool = True, tolerance: float = 0.0, model: str | None = None,
                    calibration: str | None = None, golden_path: str | Path | None = None,
                    concurrency: int | None = None, progress: bool | None = False, config: Any = None,
                    backends: dict[str, Any] | None = None, command: str | None = None) -> CascadeSpec:
    """Fit a cascade on a labelled golden set, running each judge only on the items that reach it.

    ``chain`` lists judge specs, optionally ending with ``"human"``. ``model``
    names the model for http judges. ``calibration`` (temperature, platt,
    isotonic) additionally fits a calibrator per stage, saved in the file.
    """
    from jurist.backends.specs import parse_spec
    from jurist.engine.executor import EngineConfig, run_judge
    from jurist.engine.store import Store
    from jurist.metrics.calibration import fit_calibrator

    specs = [s.strip() for s in chain if s.strip()]
    if not specs:
        raise ValueError("the chain is empty")
    if HUMAN in specs[:-1]:
        raise ValueError("'human' can only be the last stage of the chain")
    human = specs[-1] == HUMAN
    auto_specs = specs[:-1] if human else specs
    if not auto_specs:
        raise ValueError("the chain needs at least one automatic judge before 'human'")
    min_accept(target, risk)  # validates target and risk
    labelled = [item for item in items if item.label is not None]
    if not labelled:
        raise ValueError("the golden set has no labelled items")
    the_store = store if isinstance(store, Store) else Store(store) if store else Store(":memory:")
    k_tested = len(auto_specs) if human else len(auto_specs) - 1
    delta = risk / max(k_tested, 1)
    remaining = list(labelled)
    stages: list[Stage] = []
    costs: list[dict[str, Any]] = []
    accepted_total = correct_total = 0
    for k, spec in enumerate(auto_specs):
        given = backends is not None and spec in backends
        stage = Stage(judge=spec, model=model if not given and parse_spec(spec).scheme.needs_model else None)
        if not remaining:
            stage.threshold = math.inf
            stage.fit = StageFit(delta=delta)
            stages.append(stage)
            costs.append(_cost())
            continue
        judge = _stage_judge(stage, protocol, swap, backends)
        stage_config = config or EngineConfig(concurrency=concurrency or default_concurrency([spec]),
                                              progress=progress)
        result = run_judge(judge, remaining, store=the_store, config=stage_config,
                           name=f"calibrate/stage{k + 1}:{spec}", command=command)
        costs.append(_cost(result))
        by_id = {j.item_id: j for j in result.judgments}
        conf = np.array([np.nan if (j := by_id.get(item.id)) is None or (c := judgment_confidence(j)) is None
                         else c for item in remaining], dtype=float)
        correct = np.array([float(bool(judgment_correct(by_id[item.id], item.label, tolerance=tolerance)))
                            if item.id in by_id else 0.0 for item in remaining], dtype=float)
        if k == len(auto_specs) - 1 and not human:
            stage.threshold = None
            stage.fit = StageFit(n=len(remaining), accepted=len(remaining), errors=int((1 - correct).sum()))
            accept = np.ones(len(remaining), dtype=bool)
        else:
            threshold, fit = fit_stage(conf, correct, target=target, delta=delta)
            stage.threshold, stage.fit = threshold, fit
            with np.errstate(invalid="ignore"):
                accept = ~np.isnan(conf) & (conf >= threshold)
        if calibration:
            usable = ~np.isnan(conf)
            if usable.any():
                stage.calibration = fit_calibrator(calibration, conf[usable], correct[usable]).to_dict()
        accepted_total += int(accept.sum())
        correct_total += int(correct[accept].sum())
        stages.append(stage)
        remaining = [item for item, a in zip(remaining, accept, strict=True) if not a]
    if human:
        stages.append(Stage(judge=HUMAN))
    n = len(labelled)
    fitted_on = {
        "n": n,
        "coverage": accepted_total / n,
        "agreement_auto": correct_total / accepted_total if accepted_total else None,
        "human": len(remaining) if human else 0,
        "stages": [{"judge": s.judge, "reached": s.fit.n if s.fit else 0, "accepted": s.fit.accepted if s.fit else 0,
                    **c} for s, c in zip(stages, costs, strict=False)],
    }
    return CascadeSpec(task=protocol.kind, protocol=protocol.identity, swap=swap, tolerance=tolerance, target=target,
                       risk=risk, guarantee=human, stages=stages,
                       golden={"path": str(golden_path) if golden_path else None,
                               "sha256": golden_hash(items, golden_path), "n": len(items), "labelled": n},
                       fitted_on=fitted_on)


# ---------------------------------------------------------------- simulation (LaajMeter-style)


class SyntheticJudge(BaseModel):
    """A pairwise judge with known calibration, for checking the guarantee by simulation.

    Its confidence is ``0.5 + 0.5 * B`` with ``B ~ Beta(a, b)``; it is right with
    probability ``clip(0.5 + slope * (c - 0.5) + offset, 0, 1)`` given confidence
    ``c``: ``slope=1, offset=0`` is a calibrated judge, ``slope < 1`` an
    over-confident one. Judges in a chain share a latent item difficulty
    (Gaussian copula with correlation ``rho``), so items a cheap judge is unsure
    of tend to be hard for the next one too.
    """

    a: float = 2.0
    b: float = 2.0
    slope: float = 1.0
    offset: float = 0.0
    cost: float = 1.0

    def accuracy(self, c: np.ndarray) -> np.ndarray:
        return np.clip(0.5 + self.slope * (c - 0.5) + self.offset, 0.0, 1.0)


_GRID = np.linspace(0.0, 1.0, 4001)


@functools.lru_cache(maxsize=64)
def _beta_quantiles(a: float, b: float) -> np.ndarray:
    """Beta(a, b) quantiles on a fine grid: a lookup table (scipy's ppf is slow for many draws)."""
    return np.asarray(stats.beta.ppf(_GRID, a, b), dtype=float)


def _synthetic_items(judges: Sequence[SyntheticJudge], n: int, rho: float,
                     rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Confidences and probabilities of being right, per judge, for ``n`` items."""
    z = rng.standard_normal(n)
    conf, prob = [], []
    for judge in judges:
        u = special.ndtr(rho * z + math.sqrt(1 - rho**2) * rng.standard_normal(n))
        c = 0.5 + 0.5 * np.interp(u, _GRID, _beta_quantiles(judge.a, judge.b))
        conf.append(c)
        prob.append(judge.accuracy(c))
    return conf, prob


class SimulationResult(BaseModel):
    """Over many golden/test splits: how often the guarantee failed, and what the cascade achieved."""

    splits: int
    target: float
    risk: float
    violation_rate: float           # population agreement on auto-decided items < target
    realised_violation_rate: float  # realised agreement on the auto-decided test items < target
    mean_coverage: float            # share of test items decided automatically
    mean_agreement: float           # population agreement on auto-decided items (splits with any)
    no_decision_rate: float         # splits where nothing was certified (everything to humans)
    stage_coverage: list[float]     # mean share of test items decided by each stage
    mean_cost: float                # mean judge cost per test item (each judge reached costs its ``cost``)


def simulate_cascade(judges: Sequence[SyntheticJudge], *, target: float, risk: float, n_golden: int = 500,
                     n_test: int = 2000, splits: int = 200, rho: float = 0.7, pool: int = 200_000,
                     seed: int = 0) -> SimulationResult:
    """Fit the cascade on ``splits`` synthetic golden sets and check each fit against the population.

    The population agreement of a fitted cascade is computed on a large pool
    (``pool`` items, exact per-item probabilities of being right), and the
    realised agreement on a fresh test set of ``n_test`` items.
    """
    rng = np.random.default_rng(seed)
    pool_conf, pool_prob = _synthetic_items(judges, pool, rho, rng)
    pool_matrix = np.stack(pool_prob)
    violations = realised_violations = none = 0
    coverage, agreement, cost = [], [], []
    stage_cov = np.zeros(len(judges))
    for _ in range(splits):
        g_conf, g_prob = _synthetic_items(judges, n_golden, rho, rng)
        g_correct = [(rng.random(n_golden) < p).astype(float) for p in g_prob]
        thresholds, _ = fit_cascade(g_conf, g_correct, target=target, risk=risk)
        decided = evaluate_cascade(thresholds, pool_conf)["decided"]
        auto = decided >= 0
        if auto.any():
            pop_agreement = float(pool_matrix[decided[auto], np.flatnonzero(auto)].mean())
            agreement.append(pop_agreement)
            violations += pop_agreement < target
        else:
            none += 1
        t_conf, t_prob = _synthetic_items(judges, n_test, rho, rng)
        t_correct = [(rng.random(n_test) < p).astype(float) for p in t_prob]
        test = evaluate_cascade(thresholds, t_conf, t_correct)
        coverage.append(test["coverage"])
        if test["auto"]:
            realised_violations += test["agreement"] < target
        for k, entry in enumerate(test["stages"]):
            stage_cov[k] += entry["accepted"] / n_test
        cost.append(sum(judge.cost * entry["reached"] for judge, entry in zip(judges, test["stages"], strict=True))
                    / n_test)
    return SimulationResult(splits=splits, target=target, risk=risk, violation_rate=violations / splits,
                            realised_violation_rate=realised_violations / splits,
                            mean_coverage=float(np.mean(coverage)),
                            mean_agreement=float(np.mean(agreement)) if agreement else math.nan,
                            no_decision_rate=none / splits, stage_coverage=(stage_cov / splits).tolist(),
                            mean_cost=float(np.mean(cost)))
