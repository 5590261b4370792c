"""Run an audit: the probes' items through the one runner, once per configuration (baseline and mitigations).

Every configuration is a plan variation of the baseline plan (the judge as given, one order, the plain
template), so the audit never builds judges or runs the engine its own way:

- ``swap``: ``order`` swap (both orders, jurist's default for compare);
- ``hardened``: ``protocol.template: hardened``, the template of the plan's protocol whose response delimiters a
  candidate cannot close (``protocols/templates/*_hardened.j2``; on top of ``checklist``, the checklist one);
- ``reference``: the items' reference answers shown to the pairwise judge (the baseline hides them);
- ``checklist``: task ``check``: each response is checked alone against yes/no questions, and the response with
  the higher score is preferred (a pointwise judge has no order to be biased by);
- ``jury``: ``judge.jury``: the judge and the ``jury_with`` judges, averaged;
- ``A+B``: A then B (``swap+hardened``: both orders with the hardened template).

All configurations share one store, so an item judged the same way twice is paid once, and an audit run
again costs no model call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from jurist.audits.card import Cost, JudgeCard, Measure, ProbeResult, store_card, verdict_of
from jurist.audits.probes import DEFAULT_PROBES, PROBES, Case, Outcome, cases, effect
from jurist.backends import Backend
from jurist.engine import Store
from jurist.engine.runner import Data, load_data, run
from jurist.plan import Plan, PlanError
from jurist.protocols.templating import HARDENED_ALIAS
from jurist.types import Item, Judgment

MITIGATIONS: tuple[str, ...] = ("swap", "hardened", "reference", "checklist", "jury")
# What runs unless asked otherwise: the mitigations any data and any single judge allow at about the baseline's
# cost (checklist mode costs a judgment per question per response; a jury needs other judges).
DEFAULT_MITIGATIONS: tuple[str, ...] = ("swap", "hardened", "reference")
# Checklist mode's questions: what makes a response good, asked of each response alone.
CHECKLIST = (
    "Does the response do what the instruction asks?",
    "Is the content of the response correct?",
    "Does the response follow every constraint stated in the instruction?",
)
# The model family of each embedded judge (self-preference looks for it in the data's model fields).
FAMILIES = {"local": "qwen"}


@dataclass(frozen=True)
class Configuration:
    """One way to judge the audit's items: the plans of its two tasks (None: not applicable, and why)."""

    name: str
    compare: Plan | None
    correct: Plan | None
    why_not: str = ""
    pointwise: bool = False  # compare items are judged one response at a time (checklist mode)
    references: bool = False  # show the items' references to the pairwise judge


def configurations(base: Plan, mitigations: Sequence[str], jury_with: Sequence[str], has_references: bool
                   ) -> list[Configuration]:
    """The baseline and each mitigation, as plan variations of ``base`` (a compare plan, one order).

    A name joined with ``+`` applies several in turn (``swap+hardened``: both orders with the hardened
    template), so a mitigation is also measured on top of another one (a judge that reads one slot in one order
    shows no other bias until both orders are judged)."""
    correct = base.model_copy(update={"task": "correct", "order": None})
    baseline = Configuration("baseline", base, correct)
    found = [baseline]
    for name in mitigations:
        config = baseline
        for part in name.split("+"):
            config = _mitigated(config, part.strip(), base, jury_with, has_references)
        found.append(replace(config, name=name))
    return found


def _mitigated(config: Configuration, name: str, base: Plan, jury_with: Sequence[str], has_references: bool
               ) -> Configuration:
    """``config`` with one more mitigation applied (a plan that does not apply stays None, with its reason)."""
    compare, correct = config.compare, config.correct
    if name == "swap":
        return replace(config, compare=compare and compare.model_copy(update={"order": None}), correct=None,
                       why_not=config.why_not or "a correctness verdict has no order")
    if name == "hardened":
        hardened = {"protocol.template": HARDENED_ALIAS}  # each plan's protocol picks its own hardened template
        return replace(config, compare=compare and compare.with_values(hardened),
                       correct=correct and correct.with_values(hardened))
    if name == "reference":
        return replace(config, compare=compare if has_references else None, correct=None, references=True,
                       why_not=config.why_not or ("the master-key probe always shows the reference" if has_references
                                                  else "the data has no reference answers"))
    if name == "checklist":
        plan = compare and compare.model_copy(update={"task": "check", "order": None}).with_values(
            {"protocol.checklist": list(CHECKLIST)})
        return replace(config, compare=plan, correct=None, pointwise=True,
                       why_not=config.why_not or "a correctness verdict is already one question")
    if name == "jury":
        if not jury_with:
            return replace(config, compare=None, correct=None, why_not="no other judge was given (jury_with)")
        return replace(config, compare=compare and compare.with_values({"judge.jury": [base.judge.spec, *jury_with]}),
                       correct=None, why_not=config.why_not or "a jury combines score or compare verdicts")
    raise PlanError(f"unknown mitigation {name!r}: use {', '.join(MITIGATIONS)} (or several joined with +)",
                    ("audit.mitigations",))


def _outcome(judgment: Judgment, task: str) -> Outcome:
    verdict = judgment.verdict
    if not verdict.ok:
        return None
    if task == "correct":
        return None if verdict.score is None else ("correct" if verdict.score >= 0.5 else "incorrect")
    return verdict.preference


def _pointwise_pairs(items: list[Item]) -> list[Item]:
    """Each pair as two one-response items (``ID#0``, ``ID#1``), unlabelled."""
    return [item.model_copy(update={"id": f"{item.id}#{k}", "candidates": [text], "label": None})
            for item in items for k, text in enumerate(item.candidates)]


def _pointwise_preferences(items: list[Item], judgments: Mapping[str, Judgment]) -> dict[str, Outcome]:
    """The response with the higher checklist score is preferred; equal scores are a tie."""
    out: dict[str, Outcome] = {}
    for item in items:
        scores = [judgments[f"{item.id}#{k}"].verdict for k in range(2)]
        if not all(v.ok and v.score is not None for v in scores):
            out[item.id] = None
            continue
        first, second = (float(v.score) for v in scores)  # type: ignore[arg-type]
        out[item.id] = "A" if first > second else "B" if second > first else "tie"
    return out


def _judge(config: Configuration, task: str, items: list[Item], store: Store,
           backends: Mapping[str, Backend] | None) -> tuple[dict[str, Outcome], Cost]:
    """Run one configuration's plan over the items (through the runner, into the shared store)."""
    plan = config.compare if task == "compare" else config.correct
    assert plan is not None
    plan = plan.with_values({"outputs.name": f"audit {config.name} {task}"})
    judged = items if config.references or task == "correct" else [
        item.model_copy(update={"reference": None}) for item in items]
    if config.pointwise:
        judged = _pointwise_pairs(judged)
    result = run(plan, judged, store=store, backends=backends, command=f"audit {config.name}")
    by_id = {j.item_id: j for j in result.judgments}
    if config.pointwise:
        outcomes = _pointwise_preferences(items, by_id)
    else:
        outcomes = {item_id: _outcome(j, task) for item_id, j in by_id.items()}
    stats = result.stats
    cost = Cost(items=len(judged), requests=int(stats.get("model_calls", 0)) + int(stats.get("cache_hits", 0)),
                model_calls=int(stats.get("model_calls", 0)), run_id=result.run.id)
    return outcomes, cost


def audit(data: Data, *, judge: str | Backend = "local", model: str | None = None,
          probes: Sequence[str] | None = None, mitigations: Sequence[str] | None = None,
          jury_with: Sequence[str | Backend] = (), family: str | None = None, seed: int = 0,
          store: Store | str | Path | None = None, card: str | Path | None = None,
          **data_options: Any) -> JudgeCard:
    """Audit ``judge`` on ``data`` (compare items: a file read with ``data_options`` preset/fields/label_map/limit,
    or Items) and return its judge card (written to ``card`` as JSON when given).

    ``probes`` (default: all of :data:`~jurist.audits.probes.PROBES`) and ``mitigations`` (default:
    :data:`DEFAULT_MITIGATIONS`; any of :data:`MITIGATIONS`) select what runs; ``family`` is the model family
    self-preference looks for (default: ``qwen`` for the embedded judges); ``store`` keeps every judgment, so
    a second audit is free, and the card, attached to the audit's runs (``card_for_run`` finds it).
    """
    chosen = list(probes or DEFAULT_PROBES)
    unknown = [name for name in chosen if name not in PROBES]
    if unknown:
        raise PlanError(f"unknown probe {unknown[0]!r}: use {', '.join(PROBES)}", ("audit.probes",))
    ready = {b.spec: b for b in [judge, *jury_with] if isinstance(b, Backend)}
    spec = judge.spec if isinstance(judge, Backend) else judge
    others = [b.spec if isinstance(b, Backend) else b for b in jury_with]
    base = Plan.parse({"task": "compare", "order": "single",
                       "judge": {"spec": spec, **({"model": model} if model else {})},
                       "data": {k: v for k, v in data_options.items() if v is not None}}, where="audit")
    items, errors = load_data(base, data)
    items = [item for item in items if len(item.candidates) == 2]
    if not items:
        raise PlanError("the audit needs compare items (two responses each): none were read"
                        + (f" ({errors[0]})" if errors else ""), ("data",))
    if family is None:
        family = FAMILIES.get(spec.partition(":")[0])
    the_cases = {name: cases(PROBES[name], items, seed, family) for name in chosen}
    the_store = store if isinstance(store, Store) else Store(store or ":memory:")
    mitigations = list(DEFAULT_MITIGATIONS if mitigations is None else mitigations)
    has_references = any(item.reference for item in items)
    measures: dict[str, dict[str, Measure]] = {name: {} for name in chosen}
    costs: dict[str, Cost] = {}
    configs = configurations(base, mitigations, others, has_references)
    for config in configs:
        for task in ("compare", "correct"):
            names = [n for n in chosen if PROBES[n].task == task]
            if not names:
                continue
            plan = config.compare if task == "compare" else config.correct
            if plan is None:
                for name in names:
                    if config.name != "baseline":
                        measures[name][config.name] = Measure(status="not_applicable", reason=config.why_not)
                continue
            needed = _unique(case_item for name in names for case in the_cases[name] for case_item in case.items)
            outcomes: dict[str, Outcome] = {}
            if needed:  # no case at all (no provenance in the data): no empty run in the store
                outcomes, cost = _judge(config, task, needed, the_store, ready or None)
                costs[config.name if task == "compare" else f"{config.name} (correct)"] = cost
            for name in names:
                effects = [effect(case, PROBES[name].kind, outcomes) for case in the_cases[name]]
                measures[name][config.name] = Measure.of(effects, seed)
    # A judge that fails the position probe answers a slot in one order, not a response: its single-order rates
    # are 0 whatever it would do with the content, so its other probes are graded in both orders (swap).
    position = measures.get("position", {}).get("baseline")
    blind = position is not None and verdict_of(position) == "fail"
    single_order = {c.name for c in configs
                    if c.compare is not None and c.compare.order is not None and not c.pointwise}
    results, notes = [], list(errors[:5])
    for name in chosen:
        baseline = measures[name].pop("baseline")
        swap = measures[name].get("swap")
        graded_on = "swap" if blind and name != "position" and swap is not None and swap.rate is not None \
            else "baseline"
        example = next((case.edit for case in the_cases[name] if case.edit is not None), None)
        result = ProbeResult(probe=name, changes=PROBES[name].description, rate_means=PROBES[name].rate,
                             verdict="pass", baseline=baseline, mitigations=measures[name], example=example,
                             graded_on=graded_on)
        result = result.model_copy(update={"verdict": verdict_of(result.graded())})
        results.append(result.choose_best(single_order if graded_on == "swap" else ()))
    if blind:
        notes.append("position fails in one order: the judge answers a slot, not a response, so "
                     + ("the other pairwise probes are graded in both orders (swap) and single-order mitigations "
                        "are not candidates for the best" if "swap" in mitigations else
                        "the other probes' single-order rates cannot show its biases: add the swap mitigation"))
    the_card = JudgeCard(judge=spec, model=model, data=_describe(data), n_items=len(items), seed=seed,
                         family=family, probes=results, cost=costs, notes=notes)
    store_card(the_store, the_card)  # reports and `jurist meta` of these runs, or of this judge, show it
    if card is not None:
        the_card.save(card)
    return the_card


def _unique(items: Any) -> list[Item]:
    seen: dict[str, Item] = {}
    for item in items:
        seen.setdefault(item.id, item)
    return list(seen.values())


def _describe(data: Data) -> str:
    return str(data) if isinstance(data, (str, Path)) else "items given in memory"
