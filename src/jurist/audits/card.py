"""The judge card: what an audit found, as one JSON document (``JudgeCard.model_json_schema()``).

For each probe the card holds the baseline measure (the judge as configured for the audit: one order,
the plain template) and one measure per mitigation on the same items, each a rate with a percentile
bootstrap 95% CI (``jurist.metrics.bootstrap``), its n and how many cases failed; a verdict against
:data:`THRESHOLDS`; and the mitigation that lowered the rate most.

Verdicts (on the absolute rate, since a judge that penalises a perturbation is biased too):

- ``fail``: the CI excludes zero and ``|rate| >= fail`` (a real effect of at least 10 points);
- ``warn``: the CI excludes zero (a real but smaller effect), or ``|rate| >= warn`` without a CI that
  excludes zero (a large effect on too few items to be sure: audit more items);
- ``pass``: neither;
- ``failed``: no case could be measured (every judgment it needed failed): never reported as a rate of 0;
- ``not_applicable``: the data cannot carry the probe (no provenance, no reference or label).
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from jurist.audits.perturb import Edit
from jurist.engine.store import RunRecord, Store
from jurist.metrics import bootstrap

Status = Literal["measured", "failed", "not_applicable"]
Verdict = Literal["pass", "warn", "fail", "failed", "not_applicable"]
THRESHOLDS: dict[str, float] = {"warn": 0.05, "fail": 0.10}


class Measure(BaseModel):
    """One probe under one configuration: the mean effect over its cases, with a bootstrap 95% CI."""

    model_config = ConfigDict(frozen=True)

    status: Status
    rate: float | None = None
    low: float | None = None
    high: float | None = None
    n: int = 0  # cases measured
    failed: int = 0  # cases a needed judgment of which failed
    reason: str | None = None  # why failed or not applicable

    @classmethod
    def of(cls, effects: list[float | None], seed: int = 0) -> Measure:
        measured = [e for e in effects if e is not None]
        failed = len(effects) - len(measured)
        if not effects:
            return cls(status="not_applicable", reason="no item of the data can carry this probe")
        if not measured:
            return cls(status="failed", failed=failed, reason=f"all {failed} cases had a failed judgment")
        estimate = bootstrap(lambda a: a.mean(axis=-1), np.array(measured), seed=seed, vectorized=True)
        low, high = (None, None) if not estimate.has_ci else (estimate.low, estimate.high)
        return cls(status="measured", rate=estimate.value, low=low, high=high, n=len(measured), failed=failed)

    @property
    def excludes_zero(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)

    def format(self) -> str:
        if self.status != "measured" or self.rate is None:
            return f"{self.status}: {self.reason}"
        ci = f" [{self.low:+.2f}, {self.high:+.2f}]" if self.low is not None and self.high is not None else ""
        return f"{self.rate:+.2f}{ci} n={self.n}" + (f" ({self.failed} failed)" if self.failed else "")


def verdict_of(measure: Measure, thresholds: dict[str, float] = THRESHOLDS) -> Verdict:
    if measure.status != "measured" or measure.rate is None:
        return measure.status if measure.status == "failed" else "not_applicable"
    size = abs(measure.rate)
    if measure.excludes_zero:
        return "fail" if size >= thresholds["fail"] else "warn"
    return "warn" if size >= thresholds["warn"] else "pass"


class ProbeResult(BaseModel):
    probe: str
    changes: str  # what the probe changes
    rate_means: str  # what its rate counts
    verdict: Verdict
    baseline: Measure
    mitigations: dict[str, Measure] = Field(default_factory=dict)
    best_mitigation: str | None = None  # the mitigation with the lowest |rate|, when lower than the graded one's
    example: Edit | None = None  # the first case's edit: what was inserted, where
    # The configuration the verdict grades: the baseline, or "swap" when the judge fails the position probe in
    # one order (it answers a slot, not a response, so no single-order rate can show a bias it has).
    graded_on: str = "baseline"

    def graded(self) -> Measure:
        return self.baseline if self.graded_on == "baseline" else self.mitigations[self.graded_on]

    def choose_best(self, uninformative: Collection[str] = ()) -> ProbeResult:
        """Name the mitigation with the lowest |rate| below the graded configuration's; ``uninformative``
        configurations (single-order ones, for a judge that ignores content in one order) are not candidates."""
        graded = self.graded()
        base = abs(graded.rate) if graded.rate is not None else math.inf
        measured = {name: abs(m.rate) for name, m in self.mitigations.items()
                    if m.rate is not None and name != self.graded_on and name not in uninformative}
        best = min(measured, key=measured.__getitem__, default=None)
        return self.model_copy(update={"best_mitigation": best if best and measured[best] < base else None})


class Cost(BaseModel):
    """What one configuration cost: items judged, requests (model calls + cache hits) and model calls paid."""

    items: int
    requests: int
    model_calls: int
    run_id: str | None = None


class JudgeCard(BaseModel):
    """An audit of one judge on one data set. ``baseline`` is one order with the plain template."""

    card_version: Literal[1] = 1
    judge: str
    model: str | None = None
    data: str
    n_items: int
    seed: int
    family: str | None = None  # the model family self-preference looked for
    thresholds: dict[str, float] = Field(default_factory=lambda: dict(THRESHOLDS))
    probes: list[ProbeResult]
    cost: dict[str, Cost] = Field(default_factory=dict)  # configuration -> cost ("baseline", "swap", ...)
    notes: list[str] = Field(default_factory=list)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")

    def probe(self, name: str) -> ProbeResult:
        return next(p for p in self.probes if p.probe == name)

    def rows(self) -> list[list[str]]:
        """One row per probe: probe, verdict, the graded rate (the baseline's, or the configuration named after
        it), best mitigation and its measure."""
        rows = []
        for result in self.probes:
            best = result.best_mitigation
            graded = result.graded().format() + ("" if result.graded_on == "baseline" else f" ({result.graded_on})")
            rows.append([result.probe, result.verdict, graded,
                         f"{best}: {result.mitigations[best].format()}" if best else "-"])
        return rows


def load_card(path: str | Path) -> JudgeCard:
    """A judge card from its JSON file (a ValueError naming the file otherwise)."""
    try:
        return JudgeCard.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not a judge card: {error}") from error


# The store keeps a card as an artefact of each run the audit made (``Store.put_artefact``), under this kind.
ARTEFACT = "judge_card"
_BASELINES = ("baseline", "baseline (correct)")


def store_card(store: Store, card: JudgeCard) -> None:
    """Attach the card to every run of its audit (the run ids in ``card.cost``), so a report or ``jurist meta``
    of any of those runs, or of another run of the same judge in the store, finds it."""
    body = card.model_dump(mode="json")
    for cost in card.cost.values():
        if cost.run_id is not None:
            store.put_artefact(cost.run_id, ARTEFACT, body)


@dataclass(frozen=True)
class StoredCard:
    """A card found in the store for a run: ``own`` when the run is one of the audit's runs, else the newest
    audit in the store whose baseline judge (the backend spec, model included) is the run's judge."""

    card: JudgeCard
    audit_run: str  # the audit's run the card is attached to (the baseline's, for a card found by judge)
    own: bool

    @property
    def link(self) -> str:
        if self.own:
            return f"this run is part of the audit (run {self.audit_run})"
        return f"the newest audit of this judge in the store (its baseline run {self.audit_run})"


def card_for_run(store: Store, run: RunRecord) -> StoredCard | None:
    """The judge card of a run (see :class:`StoredCard`), or None when no audit of its judge is in the store.
    A stored document that is not a card (a newer format) is skipped, never an error."""
    own = store.artefact(run.id, ARTEFACT)
    if own is not None:
        card = _card_or_none(own)
        if card is not None:
            return StoredCard(card, run.id, own=True)
    judge = run.judge.get("judge")
    if not judge:
        return None
    for run_id, body in store.artefacts(ARTEFACT):
        card = _card_or_none(body)
        if card is None or run_id not in {c.run_id for name, c in card.cost.items() if name in _BASELINES}:
            continue  # a mitigation's run (a jury's, a template's) does not describe the judge as given
        audited = store.find_run(run_id)
        if audited is not None and audited.judge.get("judge") == judge:
            return StoredCard(card, run_id, own=False)
    return None


def _card_or_none(body: dict) -> JudgeCard | None:
    try:
        return JudgeCard.model_validate(body)
    except ValueError:
        return None
