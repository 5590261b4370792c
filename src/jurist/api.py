"""The Python API, mirroring the CLI: ``jurist.run(plan, data)``, and ``jurist.score(...)``,
``compare``, ``rank``, ``check``, ``correct``, which build a plan and run it; ``jurist.audit(...)``
(``jurist.audits.audit``) runs probes and mitigations as plans and returns a judge card.

A judge is a spec string (``"local"``, ``"http://HOST:PORT/v1"`` with ``model``...)
or a ready Backend object; ``protocol`` replaces the protocol the settings describe.
``run_options``: fields, preset, label_map, limit (how to read ``data``), store,
concurrency, name, resume, progress, and any engine setting (rpm, tpm,
max_attempts, price, timeout).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jurist.audits import audit
from jurist.backends import Backend
from jurist.engine import RunResult, Store
from jurist.engine.runner import Data, run as run_plan
from jurist.plan import DataSettings, EngineSettings, Plan, ProtocolSettings, build_protocol
from jurist.protocols.base import Protocol
from jurist.protocols.dimensions import Dimension, DimensionSet, DimensionsProtocol, load_dimension_set
from jurist.protocols.templating import Example

DimensionsSpec = str | Path | DimensionSet | Sequence[Dimension] | Mapping[str, str]
TemplateSource = str | Path
ExamplesSource = str | Path | Sequence[Example]
JudgeSource = str | Backend

__all__ = ["audit", "check", "compare", "compare_protocol", "correct", "rank", "run", "score", "score_protocol"]


def run(plan: Plan | str | Path | Mapping[str, Any], data: Data, *, store: str | Path | Store | None = None,
        resume: str | None = None, backends: Mapping[str, Backend] | None = None,
        protocol: Protocol | None = None, command: str | None = None, resume_changed: bool = False) -> RunResult:
    """Run a plan (a Plan, a YAML/JSON plan file, or its fields) over ``data`` (a file or Items).

    ``resume`` continues a run over the same data; ``resume_changed`` allows changed data (see
    :func:`jurist.engine.runner.run`)."""
    if isinstance(plan, (str, Path)):
        plan = Plan.load(plan)
    elif not isinstance(plan, Plan):
        plan = Plan.parse(plan)
    return run_plan(plan, data, store=store, resume=resume, backends=backends, protocol=protocol, command=command,
                    resume_changed=resume_changed)


_DATA = set(DataSettings.model_fields)
_ENGINE = set(EngineSettings.model_fields)


def _run(task: str, data: Data, judge: JudgeSource | Sequence[JudgeSource], settings: dict[str, Any],
         judge_settings: dict[str, Any], run_options: dict[str, Any], protocol: Protocol | None = None,
         **plan_fields: Any) -> RunResult:
    """Build the plan of one task from keyword arguments and run it."""
    judges = list(judge) if isinstance(judge, (list, tuple)) else [judge]
    backends = {j.spec: j for j in judges if isinstance(j, Backend)}
    specs = [j.spec if isinstance(j, Backend) else j for j in judges]
    if len(specs) > 1:
        judge_settings["jury"] = specs
    else:
        judge_settings["spec"] = specs[0]
    options = dict(run_options)
    store, resume = options.pop("store", None), options.pop("resume", None)
    resume_changed = bool(options.pop("resume_changed", False))
    name = options.pop("name", None)
    unknown = sorted(set(options) - _DATA - _ENGINE)
    if unknown:
        raise TypeError(f"unknown option(s) {', '.join(unknown)}")
    data_settings = {k: v for k, v in options.items() if k in _DATA and v is not None}
    engine_settings = {k: v for k, v in options.items() if k in _ENGINE and v is not None}
    plan = Plan.parse({"task": task, **{k: v for k, v in plan_fields.items() if v is not None},
                       "protocol": {k: v for k, v in settings.items() if v is not None},
                       "judge": {k: v for k, v in judge_settings.items() if v is not None},
                       "data": data_settings, "engine": engine_settings, "outputs": {"name": name}}, where=task)
    if isinstance(store, (str, Path)):
        store = Store(store)
    return run_plan(plan, data, store=store, resume=resume, backends=backends or None, protocol=protocol,
                    resume_changed=resume_changed)


def _protocol(task: str, *, rubric: str | None = None, scale: str = "1-5", criteria: str | None = None,
              tie: bool = False, template: TemplateSource | None = None, examples: ExamplesSource | None = None,
              dimensions: DimensionsSpec | None = None) -> tuple[dict[str, Any], Protocol | None]:
    """The plan's protocol settings for these arguments; or, when they hold objects a plan file cannot
    (Examples, Dimensions, a DimensionSet), the ready protocol and the settings that still tell the plan
    what kind of protocol it is (dimensions do not combine with samples or juries)."""
    objects = isinstance(examples, (list, tuple)) or isinstance(dimensions, (DimensionSet, list, tuple))
    if not objects:
        settings = {"rubric": rubric, "scale": scale, "criteria": criteria, "tie": tie or None,
                    "template": _path(template), "examples": _path(examples),
                    "dimensions": _path(dimensions),
                    "dimension": dict(dimensions) if isinstance(dimensions, Mapping) else None}
        return {k: v for k, v in settings.items() if v is not None and (task == "score" or k != "scale")}, None
    from jurist.protocols.templating import check_template, load_template

    kind = "pairwise" if task == "compare" else "pointwise" if dimensions is None else "dimensions"
    text, origin = load_template(template, kind) if template else (None, "")
    shots = list(examples) if isinstance(examples, (list, tuple)) else []
    if task == "compare":
        from jurist.protocols.pairwise import DEFAULT_CRITERIA, PairwiseProtocol

        protocol: Protocol = PairwiseProtocol(criteria or DEFAULT_CRITERIA, allow_tie=tie, template=text,
                                              examples=shots)
    elif dimensions is None:
        from jurist.protocols.pointwise import DEFAULT_RUBRIC, PointwiseProtocol

        protocol = PointwiseProtocol(rubric or DEFAULT_RUBRIC, scale, text, examples=shots)
    else:
        the_set = (load_dimension_set(dimensions) if isinstance(dimensions, (str, Path))
                   else dimensions if isinstance(dimensions, DimensionSet) else DimensionSet(tuple(dimensions)))
        protocol = DimensionsProtocol(the_set, text, examples=shots)
    if text is not None:
        check_template(text, origin, protocol)
    return _settings_of(protocol), protocol


def _settings_of(protocol: Protocol) -> dict[str, Any]:
    """What the plan must know of a ready protocol: whether it judges dimensions (no samples, no jury)."""
    if isinstance(protocol, DimensionsProtocol):
        return {"dimension": {name: "(a Dimension object)" for name in protocol.names}}
    return {}


def _path(value: Any) -> str | None:
    return str(value) if isinstance(value, (str, Path)) else None


def score_protocol(rubric: str | None = None, scale: str = "1-5", *, dimensions: DimensionsSpec | None = None,
                   template: TemplateSource | None = None, examples: ExamplesSource | None = None) -> Protocol:
    """The protocol ``score`` runs: pointwise, or one pointwise judge per rubric dimension.

    ``dimensions``: a built-in set name (``summeval``, ``topical_chat``), a JSON/TOML
    file, a DimensionSet, Dimensions, or ``{name: rubric}`` (each on ``scale``).
    A template the protocol cannot render is a ``TemplateError`` here, before any model call.
    """
    settings, protocol = _protocol("score", rubric=rubric, scale=scale, template=template, examples=examples,
                                   dimensions=dimensions)
    return protocol or build_protocol("score", ProtocolSettings(**settings))


def compare_protocol(criteria: str | None = None, allow_tie: bool = False, *,
                     template: TemplateSource | None = None, examples: ExamplesSource | None = None) -> Protocol:
    """The protocol ``compare`` runs, with an optional template file and few-shot examples."""
    settings, protocol = _protocol("compare", criteria=criteria, tie=allow_tie, template=template, examples=examples)
    return protocol or build_protocol("compare", ProtocolSettings(**settings))


def score(data: Data, *, judge: JudgeSource = "local", model: str | None = None, rubric: str | None = None,
          scale: str = "1-5", explain: bool = False, protocol: Protocol | None = None,
          dimensions: DimensionsSpec | None = None, template: TemplateSource | None = None,
          examples: ExamplesSource | None = None, samples: int | None = None, temperature: float = 0.7,
          jury: Sequence[JudgeSource] | None = None, aggregate: str = "mean", weights: str | Path | None = None,
          **run_options: Any) -> RunResult:
    """Grade each item's response on ``scale`` against ``rubric``.

    ``data`` is a JSONL/CSV/Parquet path (fields ``id``, ``input``, ``response``,
    optional ``reference``, ``label``, ``metadata``; see ``jurist.io``) or Items.
    Each verdict holds the expected score, the most likely score, the distribution
    and a confidence. With ``dimensions`` (see ``score_protocol``), each verdict's
    ``dimensions`` holds one such verdict per dimension. ``jury=[...]`` judges with
    every listed judge and aggregates them (``aggregate`` mean | majority | learned with ``weights``).
    """
    settings, ready = _protocol("score", rubric=rubric, scale=scale, template=template, examples=examples,
                                dimensions=dimensions)
    if protocol is not None:
        settings, ready = _settings_of(protocol), protocol
    return _run("score", data, jury or judge, settings,
                {"model": model, "explain": explain, "samples": samples, "temperature": temperature,
                 "aggregate": aggregate, "weights": _path(weights)}, run_options, ready)


def compare(data: Data, *, judge: JudgeSource = "local", model: str | None = None, criteria: str | None = None,
            swap: bool = True, allow_tie: bool = False, explain: bool = False, protocol: Protocol | None = None,
            template: TemplateSource | None = None, examples: ExamplesSource | None = None,
            samples: int | None = None, temperature: float = 0.7, jury: Sequence[JudgeSource] | None = None,
            aggregate: str = "mean", weights: str | Path | None = None, **run_options: Any) -> RunResult:
    """Compare each item's two responses (A, B): P(A), P(B), P(tie) and a preference.

    Both orders run by default and their probabilities are averaged, which
    removes position bias; ``swap=False`` runs the given order only.
    ``samples=K`` (self-consistency) samples K answers per order at
    ``temperature`` instead of reading log-probabilities. ``jury=["local",
    "local:1.5b"]`` judges with every listed judge and aggregates (``aggregate``
    mean | majority | learned with ``weights``; see ``jurist.strategies.jury``).
    """
    settings, ready = _protocol("compare", criteria=criteria, tie=allow_tie, template=template, examples=examples)
    if protocol is not None:
        settings, ready = _settings_of(protocol), protocol
    return _run("compare", data, jury or judge, settings,
                {"model": model, "explain": explain, "samples": samples, "temperature": temperature,
                 "aggregate": aggregate, "weights": _path(weights)},
                run_options, ready, order=None if swap else "single")


def rank(data: Data, *, judge: JudgeSource = "local", model: str | None = None, criteria: str | None = None,
         orders: int | None = None, samples: int | None = None, temperature: float = 0.7,
         protocol: Protocol | None = None, **run_options: Any) -> RunResult:
    """Rank each item's candidates (2..26): P(best) per candidate, a ranking, and its uncertainty.

    ``data`` rows have ``input`` and ``candidates`` (a list) or ``response_1``,
    ``response_2``, ... columns; an optional ``label`` is the 0-based index of
    the best candidate or a full ranking (indices, best first). The judge sees
    ``orders`` permutations (default N: every candidate once in every slot);
    each verdict's ``ranking`` lists candidate indices best first,
    ``distribution`` the mean P(best) per candidate, ``metadata["p_best"]`` and
    ``metadata["rank_interval"]`` a bootstrap over the orders. ``samples=K``
    reads each order from K sampled answers instead of log-probabilities.
    """
    return _run("rank", data, judge, {} if protocol is not None else {"criteria": criteria},
                {"model": model, "samples": samples, "temperature": temperature},
                run_options, protocol, orders=orders)


def check(data: Data, *, checklist: str | Path | Sequence[Any] | None = None, judge: JudgeSource = "local",
          model: str | None = None, template: str | None = None, **run_options: Any) -> RunResult:
    """Check each item's response against yes/no questions: P(yes) per question, an aggregate, failed questions.

    ``checklist`` is a file (``.json`` list, or one question per line), a list of
    questions (strings or ``{"question", "weight"}``), or None when every item
    carries its own ``checklist`` field; an item gets the global questions, then
    its own. ``verdict.score`` is the (weighted) mean P(yes),
    ``verdict.distribution`` maps each question to its P(yes),
    ``verdict.metadata["failed"]`` lists the questions with P(yes) < 0.5, and the
    verdict is scored only when every question was read.
    """
    questions = str(checklist) if isinstance(checklist, (str, Path)) else list(checklist) if checklist else None
    return _run("check", data, judge, {"checklist": questions, "template": template}, {"model": model},
                run_options)


def correct(data: Data, *, reference: str = "shown", judge: JudgeSource = "local", model: str | None = None,
            max_revision_tokens: int = 512, template: str | None = None, **run_options: Any) -> RunResult:
    """Judge whether each response is correct: P(correct) in ``verdict.score``, ``top_label`` correct/incorrect.

    ``reference="shown"`` shows the item's gold answer to the judge, ``"hidden"``
    judges without it (the judge's own knowledge), ``"adapted"`` first has the
    judge revise the response with the gold answer and then judges against that
    revision (kept in ``verdict.metadata["adapted_reference"]``). The mode is
    recorded in ``verdict.metadata["reference"]``. An item without a reference in
    a mode that needs one gets a failed verdict that names its file and line.
    """
    return _run("correct", data, judge, {"reference": reference, "max_revision_tokens": max_revision_tokens,
                                         "template": template}, {"model": model}, run_options)
