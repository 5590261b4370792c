"""The Python API, mirroring the CLI: ``jurist.score(...)`` and ``jurist.compare(...)``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from jurist.backends import Backend, resolve_backend
from jurist.engine import Engine, EngineConfig, RunResult, Store
from jurist.io import load_items
from jurist.judge import Judge
from jurist.protocols import PairwiseProtocol, PointwiseProtocol, Protocol, Scale
from jurist.protocols.dimensions import Dimension, DimensionSet, DimensionsProtocol, load_dimension_set
from jurist.protocols.listwise import ListwiseProtocol
from jurist.protocols.pairwise import DEFAULT_CRITERIA
from jurist.protocols.pointwise import DEFAULT_RUBRIC
from jurist.protocols.templating import Example, check_template, load_examples, load_template
from jurist.strategies import Single, Swap
from jurist.strategies.dimensions import Dimensions
from jurist.strategies.jury import Jury, JuryWeights
from jurist.strategies.permutations import Permutations
from jurist.strategies.self_consistency import SelfConsistency
from jurist.types import Item

Data = str | Path | Iterable[Item]


def _backend(judge: str | Backend, model: str | None) -> Backend:
    return judge if isinstance(judge, Backend) else resolve_backend(judge, model)


def _items(data: Data, task: str, fields: Mapping[str, str] | None, preset: str | None,
           label_map: Mapping[Any, str] | None, limit: int | None) -> tuple[list[Item], list[str]]:
    if isinstance(data, (str, Path)):
        loaded = load_items(data, task, fields=fields, preset=preset, label_map=label_map, limit=limit)  # type: ignore[arg-type]
        return loaded.items, [str(error) for error in loaded.errors]
    items = list(data)
    return (items[:limit] if limit else items), []


def default_concurrency(judge_spec: str) -> int:
    """Requests in flight by default: an embedded model (or a jury with one) runs one request at a time."""
    return 1 if "local:" in judge_spec else 8


def run_judge(judge: Judge, data: Data, *, task: str, fields: Mapping[str, str] | None = None,
              preset: str | None = None, label_map: Mapping[Any, str] | None = None, limit: int | None = None,
              store: str | Path | Store | None = None, concurrency: int | None = None, name: str | None = None,
              resume: str | None = None, progress: bool | None = None, command: str | None = None,
              config: EngineConfig | None = None) -> RunResult:
    """Load ``data``, run ``judge`` over it with the engine, return the run (with input errors)."""
    items, errors = _items(data, task, fields, preset, label_map, limit)
    if config is None:
        config = EngineConfig(concurrency=concurrency or default_concurrency(judge.spec), progress=progress)
    the_store = store if isinstance(store, Store) else Store(store) if store else None
    result = Engine(judge, the_store, config).run(items, name=name, resume=resume, command=command)
    result.input_errors = errors
    return result


DimensionsSpec = str | Path | DimensionSet | Sequence[Dimension] | Mapping[str, str]
TemplateSource = str | Path
ExamplesSource = str | Path | Sequence[Example]


def _template(template: TemplateSource | None) -> tuple[str | None, str]:
    """The template text and where it came from (a file, a built-in name, or text given directly)."""
    if template is None:
        return None, ""
    return load_template(template)


def _examples(examples: ExamplesSource | None, task: str) -> list[Example]:
    if examples is None:
        return []
    if isinstance(examples, (str, Path)):
        return load_examples(examples, task)
    return list(examples)


def score_protocol(rubric: str = DEFAULT_RUBRIC, scale: str | Scale = "1-5", *, dimensions: DimensionsSpec | None = None,
                   template: TemplateSource | None = None, examples: ExamplesSource | None = None) -> Protocol:
    """The protocol ``score`` runs: pointwise, or one pointwise judge per rubric dimension.

    ``dimensions``: a built-in set name (``summeval``, ``topical_chat``), a JSON/TOML
    file, a DimensionSet, Dimensions, or ``{name: rubric}`` (each on ``scale``).
    ``template``: a template file or built-in name; ``examples``: a JSONL file of
    worked examples (or Examples). A template that the protocol cannot render is
    a ``TemplateError`` here, before any model call.
    """
    (text, origin), shots = _template(template), _examples(examples, "score")
    if dimensions is None:
        protocol: Protocol = PointwiseProtocol(rubric, scale, text, examples=shots)
    else:
        if isinstance(dimensions, (str, Path)):
            the_set = load_dimension_set(dimensions)
        elif isinstance(dimensions, DimensionSet):
            the_set = dimensions
        elif isinstance(dimensions, Mapping):
            the_set = DimensionSet(tuple(Dimension.make(n, r, scale) for n, r in dimensions.items()))
        else:
            the_set = DimensionSet(tuple(dimensions))
        protocol = DimensionsProtocol(the_set, text, examples=shots)
    if text is not None:
        check_template(text, origin, protocol)
    return protocol


def compare_protocol(criteria: str = DEFAULT_CRITERIA, allow_tie: bool = False, *,
                     template: TemplateSource | None = None, examples: ExamplesSource | None = None) -> Protocol:
    """The protocol ``compare`` runs, with an optional template file and few-shot examples."""
    text, origin = _template(template)
    protocol = PairwiseProtocol(criteria, allow_tie=allow_tie, template=text, examples=_examples(examples, "compare"))
    if text is not None:
        check_template(text, origin, protocol)
    return protocol


def score(data: Data, *, judge: str | Backend = "local", model: str | None = None, rubric: str = DEFAULT_RUBRIC,
          scale: str | Scale = "1-5", explain: bool = False, protocol: Protocol | None = None,
          dimensions: DimensionsSpec | None = None, template: TemplateSource | None = None,
          examples: ExamplesSource | None = None, samples: int | None = None, temperature: float = 0.7,
          jury: Sequence[str | Backend] | None = None, aggregate: str = "mean",
          weights: str | Path | JuryWeights | None = None, **run_options: Any) -> RunResult:
    """Grade each item's response on ``scale`` against ``rubric``.

    ``data`` is a JSONL/CSV/Parquet path (fields ``id``, ``input``, ``response``,
    optional ``reference``, ``label``, ``metadata``; see ``jurist.io``) or Items.
    Each verdict holds the expected score, the most likely score, the distribution
    and a confidence. With ``dimensions`` (see ``score_protocol``), each verdict's
    ``dimensions`` holds one such verdict per dimension. ``template`` and
    ``examples`` replace the built-in template and add few-shot examples.
    ``run_options``: fields, preset, label_map, limit, store, concurrency, name,
    resume, progress (see ``run_judge``).
    """
    the_protocol = protocol or score_protocol(rubric, scale, dimensions=dimensions, template=template,
                                              examples=examples)
    if isinstance(the_protocol, DimensionsProtocol):
        if explain:
            raise ValueError("explain is not available with dimensions (one rationale per dimension is not built)")
        strategy: Single | Dimensions = Dimensions(the_protocol)
    else:
        strategy = SelfConsistency(samples, temperature) if samples else Single()  # type: ignore[assignment]
    if samples and not isinstance(strategy, SelfConsistency):
        raise ValueError("samples (self-consistency) is not available with dimensions")
    the_judge = _judge(judge, model, the_protocol, strategy, explain, jury, aggregate, weights)
    return run_judge(the_judge, data, task="score", **run_options)


def compare(data: Data, *, judge: str | Backend = "local", model: str | None = None,
            criteria: str = DEFAULT_CRITERIA, swap: bool = True, allow_tie: bool = False, explain: bool = False,
            protocol: Protocol | None = None, template: TemplateSource | None = None,
            examples: ExamplesSource | None = None,
            samples: int | None = None, temperature: float = 0.7, jury: Sequence[str | Backend] | None = None,
            aggregate: str = "mean", weights: str | Path | JuryWeights | None = None,
            **run_options: Any) -> RunResult:
    """Compare each item's two responses (A, B): P(A), P(B), P(tie) and a preference.

    Both orders run by default and their probabilities are averaged, which
    removes position bias; ``swap=False`` runs the given order only.
    ``samples=K`` (self-consistency) samples K answers per order at
    ``temperature`` instead of reading log-probabilities. ``jury=["local",
    "local:1.5b"]`` judges with every listed judge and aggregates (``aggregate``
    mean | majority | learned with ``weights``; see ``jurist.strategies.jury``).
    """
    the_protocol = protocol or compare_protocol(criteria, allow_tie, template=template, examples=examples)
    strategy = (SelfConsistency(samples, temperature, (0, 1) if swap else (0,)) if samples
                else Swap() if swap else Single())
    the_judge = _judge(judge, model, the_protocol, strategy, explain, jury, aggregate, weights)
    return run_judge(the_judge, data, task="compare", **run_options)


def check(data: Data, *, checklist: str | Path | Sequence[Any] | None = None, judge: str | Backend = "local",
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
    from jurist.protocols.checklist import ChecklistProtocol, load_checklist, parse_checklist

    if checklist is None:
        questions = []
    elif isinstance(checklist, (str, Path)):
        questions = load_checklist(checklist)
    else:
        questions = parse_checklist(checklist)
    protocol = ChecklistProtocol(questions, template=template)
    the_judge = Judge(_backend(judge, model), protocol)
    return run_judge(the_judge, data, task="score", **run_options)


def correct(data: Data, *, reference: str = "shown", judge: str | Backend = "local", model: str | None = None,
            max_revision_tokens: int = 512, template: str | None = None, **run_options: Any) -> RunResult:
    """Judge whether each response is correct: P(correct) in ``verdict.score``, ``top_label`` correct/incorrect.

    ``reference="shown"`` shows the item's gold answer to the judge, ``"hidden"``
    judges without it (the judge's own knowledge), ``"adapted"`` first has the
    judge revise the response with the gold answer and then judges against that
    revision (kept in ``verdict.metadata["adapted_reference"]``). The mode is
    recorded in ``verdict.metadata["reference"]``. An item without a reference in
    a mode that needs one gets a failed verdict that names its file and line.
    """
    from jurist.protocols.reference import ReferenceProtocol

    protocol = ReferenceProtocol(reference, template=template, max_revision_tokens=max_revision_tokens)  # type: ignore[arg-type]
    the_judge = Judge(_backend(judge, model), protocol)
    return run_judge(the_judge, data, task="score", **run_options)


def _judge(judge: str | Backend, model: str | None, protocol: Protocol, strategy: Any, explain: bool,
           jury: Sequence[str | Backend] | None, aggregate: str, weights: str | Path | JuryWeights | None,
           flag_threshold: float | None = None) -> Judge | Jury:
    """One judge, or with ``jury`` a Jury of one Judge per listed backend (same protocol and strategy)."""
    if not jury:
        return Judge(_backend(judge, model), protocol, strategy, explain)
    loaded = JuryWeights.load(weights) if isinstance(weights, (str, Path)) else weights
    members = [Judge(_backend(member, model), protocol, strategy, explain) for member in jury]
    return Jury(members, aggregate, loaded, flag_threshold)  # type: ignore[arg-type]


def rank(data: Data, *, judge: str | Backend = "local", model: str | None = None, criteria: str | None = None,
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
    from jurist.protocols.listwise import DEFAULT_CRITERIA as RANK_CRITERIA

    the_protocol = protocol or ListwiseProtocol(criteria or RANK_CRITERIA)
    strategy = Permutations(orders, samples=samples, temperature=temperature)
    return run_judge(Judge(_backend(judge, model), the_protocol, strategy), data, task="rank", **run_options)
