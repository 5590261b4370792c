"""The Plan: one typed, serialisable description of a judging job.

A plan says what to judge (the task and its protocol settings), who judges (one
judge, a jury, or a fitted cascade; sampled or read from log-probabilities), in
which orders, how the engine runs it, and where results go. It validates itself
once, when it is made, with messages that name plan fields (``judge.samples``),
loads from and saves to YAML or JSON, and :meth:`Plan.build` turns it into a
judge: anything with the :class:`~jurist.judge.JudgeLike` interface.

The CLI and the Python API only build plans; :func:`jurist.engine.runner.run`
runs them. Every run stores its plan, so ``jurist run`` can run it again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from jurist.backends.base import Backend, BackendError
from jurist.backends.specs import SCHEMES, check_credentials, jury_of, parse_spec, preset_of_spec, redact, scheme_of
from jurist.judge import JudgeLike
from jurist.protocols.base import Protocol
from jurist.strategies.choice import Order

Task = Literal["score", "compare", "rank", "check", "correct"]
TASKS: tuple[str, ...] = ("score", "compare", "rank", "check", "correct")
# the task a loaded item is read as (check and correct grade one response, as score does)
ITEM_TASK = {"score": "score", "compare": "compare", "rank": "rank", "check": "score", "correct": "score"}


class PlanError(ValueError):
    """A plan that cannot run; ``fields`` are the dotted plan fields at fault (``judge.samples``)."""

    def __init__(self, message: str, fields: tuple[str, ...] = ()):
        super().__init__(message)
        self.fields = fields


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSettings(_Section):
    """How rows become items (``jurist.io.load_items``)."""

    fields: dict[str, str] = Field(default_factory=dict, description="item field -> column, e.g. input: instruction")
    preset: str | None = Field(None, description="a dataset preset: llmbar, autoj, pandalm, hhh, summeval, ...")
    label_map: dict[str, str] = Field(default_factory=dict, description="raw label -> label, e.g. '0': A")
    limit: int | None = Field(None, ge=1, description="judge only the first N items")


class ProtocolSettings(_Section):
    """How an item becomes a prompt. Each field belongs to some tasks (see ``TASK_FIELDS``)."""

    rubric: str | None = Field(None, description="score: rubric text, or @FILE")
    scale: str = Field("1-5", description="score: 1-5, 1-10, pass/fail, yes/no")
    criteria: str | None = Field(None, description="compare, rank: what makes a response better, or @FILE")
    tie: bool = Field(False, description="compare: the judge may answer 'tie'")
    template: str | None = Field(None, description="a Jinja2 template file or built-in name; hardened: the "
                                                  "protocol's hardened template")
    examples: str | None = Field(None, description="few-shot examples, a JSONL file")
    dimensions: str | None = Field(None, description="score: a dimension set (built-in name or .json/.toml)")
    dimension: dict[str, str] = Field(default_factory=dict, description="score: more dimensions, name -> rubric")
    checklist: str | list[Any] | None = Field(None, description="check: a questions file, or the questions")
    reference: Literal["shown", "hidden", "adapted"] = Field("shown", description="correct: the reference mode")
    max_revision_tokens: int = Field(512, ge=1, description="correct, adapted: the revision's length limit")


TASK_FIELDS: dict[str, set[str]] = {
    "score": {"rubric", "scale", "template", "examples", "dimensions", "dimension"},
    "compare": {"criteria", "tie", "template", "examples"},
    "rank": {"criteria"},
    "check": {"checklist", "template"},
    "correct": {"reference", "max_revision_tokens", "template"},
}


class JudgeSettings(_Section):
    """Who judges: one judge, a jury, or a fitted cascade; log-probabilities or K samples."""

    spec: str = Field("local", description="local | local:1.5b | local:best | local:PATH.gguf | probe:DIR | "
                                           "http://HOST:PORT/v1 | openai:MODEL | scripted:MODULE:FUNCTION")
    model: str | None = Field(None, description="the model an http judge serves")
    vision: bool = Field(False, description="the model accepts images (sent as content parts)")
    explain: bool = Field(False, description="ask for a short rationale after the verdict")
    jury: list[str] = Field(default_factory=list, description="judge with these judges (replaces spec)")
    aggregate: Literal["mean", "majority", "learned"] = Field("mean", description="how a jury decides")
    weights: str | None = Field(None, description="jury weights JSON from `jurist jury-fit` (aggregate learned)")
    cascade: str | None = Field(None, description="a cascade file from `jurist calibrate` (replaces spec)")
    samples: int | None = Field(None, ge=1, description="self-consistency: K sampled answers per view")
    temperature: float = Field(0.7, gt=0, description="sampling temperature for samples")

    @model_validator(mode="before")
    @classmethod
    def _jury_preset(cls, data: Any) -> Any:
        """A jury preset (``local:wording-jury``) judges as the jury of its members, written out in ``jury`` so
        that the plan and the run record say which judges decided."""
        if isinstance(data, dict) and not data.get("jury") and isinstance(data.get("spec"), str):
            members = jury_of(data["spec"])
            if members:
                return {**data, "jury": members}
        return data

    @field_validator("spec", "jury")
    @classmethod
    def _no_credentials(cls, value: str | list[str]) -> str | list[str]:
        """A judge URL with a user or key in it is refused before it can reach a stored plan or a log."""
        for spec in [value] if isinstance(value, str) else value:
            try:
                check_credentials(spec)
            except BackendError as error:
                raise ValueError(str(error)) from None
        return value

    @property
    def specs(self) -> list[str]:
        """Every judge spec this plan calls (a cascade's come from its file)."""
        return self.jury or [self.spec]


class EngineSettings(_Section):
    """How the run executes."""

    engine: Literal["local", "ray"] = Field("local", description="local (this process) or ray (Ray Data)")
    concurrency: int | None = Field(None, ge=1, description="requests in flight (default 1 local, 8 http)")
    rpm: float | None = Field(None, gt=0, description="rate limit: requests per minute")
    tpm: float | None = Field(None, gt=0, description="rate limit: prompt + output tokens per minute")
    max_attempts: int = Field(4, ge=1, description="attempts per request (429/5xx/timeouts are retried)")
    retry_delay: float = Field(0.5, gt=0, description="seconds before the first retry, doubled after each "
                                                      "(jittered, at most 60 s; a Retry-After is honoured up to 60 s)")
    price: tuple[float, float] | None = Field(None, description="USD per 1M prompt and per 1M output tokens")
    timeout: float | None = Field(None, gt=0, description="seconds one request may take (http judges)")
    ray_address: str | None = Field(None, description="engine ray: the cluster to join (auto, ray://HEAD:10001)")
    progress: bool | None = Field(None, description="a progress bar (default: on a terminal, off in CI)")

    @field_validator("price")
    @classmethod
    def _non_negative(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and min(value) < 0:
            raise ValueError("prices cannot be negative")
        return value


class Outputs(_Section):
    """Where results go. Paths are checked before any judgment is paid for (``check_outputs``)."""

    out: str | None = Field(None, description="verdicts (.jsonl or .parquet; a directory with engine ray)")
    report: str | None = Field(None, description="an HTML report")
    store: str | None = Field(None, description="the SQLite store (runs, judgments, completion cache)")
    name: str | None = Field(None, description="a name for the run")


class Plan(_Section):
    """A judging job. ``Plan(task="compare")`` is ``jurist compare`` with every default."""

    version: Literal[1] = 1
    task: Task
    protocol: ProtocolSettings = Field(default_factory=ProtocolSettings)
    judge: JudgeSettings = Field(default_factory=JudgeSettings)
    order: Order | None = Field(None, description="swap (both orders), single, permutations; None: the task's")
    orders: int | None = Field(None, ge=1, description="rank: permutations per item (default N)")
    calibration: str | None = Field(None, description="a calibrator JSON (`jurist meta --save-calibration`)")
    data: DataSettings = Field(default_factory=DataSettings)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    outputs: Outputs = Field(default_factory=Outputs)

    @model_validator(mode="after")
    def _combines(self) -> Plan:
        """What does not combine, said once, in plan fields."""
        task, judge, protocol = self.task, self.judge, self.protocol
        defaults = ProtocolSettings()
        stray = sorted(name for name in protocol.model_fields_set - TASK_FIELDS[task]
                       if getattr(protocol, name) != getattr(defaults, name))
        if stray:
            raise ValueError(f"`protocol.{stray[0]}` is not used by task {task}")
        if self.orders is not None and task != "rank":
            raise ValueError(f"`orders` is for task rank, not {task}")
        allowed_orders = {"compare": {"swap", "single"}, "rank": {"permutations"}}.get(task, {"single"})
        if self.order is not None and self.order not in allowed_orders:
            raise ValueError(f"`order` {self.order} is not available for task {task} "
                             f"(use {', '.join(sorted(allowed_orders))})")
        dimensions = bool(protocol.dimensions or protocol.dimension)
        if judge.jury and len(judge.jury) < 2:
            raise ValueError("`judge.jury` needs at least two judges")
        if len(set(judge.jury)) != len(judge.jury):
            raise ValueError("`judge.jury` lists a judge twice: jury members must be distinct")
        if judge.jury and judge.cascade:
            raise ValueError("`judge.jury` and `judge.cascade` are two ways to combine judges: choose one")
        if judge.samples and judge.cascade:
            raise ValueError("`judge.samples` and `judge.cascade` do not combine: a cascade runs its fitted judges")
        if (judge.jury or judge.cascade) and task not in ("score", "compare"):
            which = "judge.jury" if judge.jury else "judge.cascade"
            raise ValueError(f"`{which}` combines score or compare verdicts, not {task}")
        if not judge.jury and (judge.aggregate != "mean" or judge.weights):
            raise ValueError("`judge.aggregate` and `judge.weights` need `judge.jury`")
        if judge.aggregate == "learned" and not judge.weights:
            raise ValueError("the learned aggregate (`judge.aggregate`) needs `judge.weights` (fit them with "
                             "jurist jury-fit)")
        if judge.weights and judge.aggregate != "learned":
            raise ValueError("`judge.weights` is used by the learned aggregate (`judge.aggregate`) only")
        if judge.samples and task in ("check", "correct"):
            raise ValueError(f"`judge.samples` is not available for task {task}")
        if dimensions:
            for field, used in (("judge.explain", judge.explain), ("judge.samples", judge.samples),
                                ("judge.jury", judge.jury), ("judge.cascade", judge.cascade)):
                if used:
                    raise ValueError(f"`{field}` is not available with `protocol.dimensions`")
        learned = scheme_of(judge.spec) == SCHEMES["probe"]
        if task == "compare" and self.order == "single" and learned and not judge.jury:
            # a probe scores each order alone; only the two orders combined are order-symmetric (jurist.learn.probe)
            raise ValueError("a learned pairwise judge (probe:DIR) judges both orders: `order` single is not available")
        if self.engine.engine == "ray":
            if not self.outputs.out:
                raise ValueError("`engine.engine` ray writes Parquet part files: give `outputs.out` (a directory)")
            if judge.cascade:
                raise ValueError("`judge.cascade` runs on the local engine (its review queue is in the store)")
        elif self.outputs.out and Path(self.outputs.out).suffix.lower() not in (".jsonl", ".parquet"):
            raise ValueError(f"`outputs.out` {self.outputs.out}: verdicts are written as .jsonl or .parquet")
        return self

    # ------------------------------------------------------------------ files

    @classmethod
    def load(cls, path: str | Path) -> Plan:
        """A plan from a YAML or JSON file; errors name the file and the plan fields."""
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except OSError as error:
            raise PlanError(f"{path}: cannot read the plan: {error.strerror}") from error
        except UnicodeDecodeError as error:
            line = Path(path).read_bytes()[: error.start].count(b"\n") + 1
            raise PlanError(f"{path}:{line}: not valid UTF-8 (byte {error.start})") from None
        try:
            data = yaml.safe_load(text)  # JSON is YAML
        except yaml.YAMLError as error:
            raise PlanError(f"{path}: not YAML or JSON: {error}") from error
        if not isinstance(data, dict):
            raise PlanError(f"{path}: a plan is a mapping of fields (task, protocol, judge, ...)")
        return cls.parse(data, where=str(path))

    @classmethod
    def parse(cls, data: Mapping[str, Any], where: str | None = None) -> Plan:
        """A plan from plain data; a ``PlanError`` naming every bad field otherwise."""
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise plan_error(error, where) from None

    def save(self, path: str | Path) -> None:
        """Write the plan as YAML (``.yaml``/``.yml``) or JSON; only the fields that differ from the defaults."""
        target = Path(path)
        data = self.to_data()
        if target.suffix.lower() == ".json":
            target.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        else:
            target.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")

    def to_data(self) -> dict[str, Any]:
        """The plan as plain data, without the fields left at their defaults (what a plan file holds)."""
        return self.model_dump(mode="json", exclude_defaults=True) | {"task": self.task}

    def with_values(self, values: Mapping[str, Any]) -> Plan:
        """A copy with dotted fields set (``{"engine.rpm": 60}``), validated again."""
        data = self.model_dump(mode="json", exclude_defaults=True)
        for dotted, value in values.items():
            node = data
            *parents, last = dotted.split(".")
            for part in parents:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise PlanError(f"`{dotted}`: {part} is not a section", (dotted,))
            node[last] = value
        return Plan.parse(data)

    # ------------------------------------------------------------------ building

    def build_protocol(self) -> Protocol:
        """The protocol the task runs, from the protocol settings (template and examples read and checked)."""
        return build_protocol(self.task, self.protocol)

    def build(self, backends: Mapping[str, Backend] | None = None, protocol: Protocol | None = None) -> JudgeLike:
        """The judge this plan describes: a Judge, a Jury or a Cascade.

        ``backends`` maps a judge spec to a ready Backend (an object the API was given, or a test's
        scripted backend); every other spec goes through the backend registry. ``protocol`` replaces
        the one the protocol settings describe (an object the API was given).
        """
        from jurist.judge import Judge
        from jurist.strategies.choice import strategy_for
        from jurist.strategies.jury import Jury, JuryWeights

        given = protocol is not None
        protocol = protocol or self.build_protocol()
        judge = self.judge
        if judge.cascade:
            from jurist.strategies.cascade import Cascade, load_cascade

            return Cascade(load_cascade(judge.cascade), protocol, backends=backends, options=self._backend_options())
        weights = None
        if judge.weights:  # read before any model is loaded: a bad file is found at once
            weights = JuryWeights.load(judge.weights)
            if weights.protocol and weights.protocol != protocol.identity:
                raise PlanError(f"{judge.weights} was fitted with another protocol ({weights.protocol}); refit "
                                "with the same criteria/rubric/scale", ("judge.weights",))
        members = []
        for spec in judge.specs:
            # a head reads the wording it was fitted on: with no template named, its preset's is rendered for it
            mine = protocol if given or self.protocol.template else self._preset_protocol(spec) or protocol
            strategy = strategy_for(mine, order=self.order, samples=judge.samples, temperature=judge.temperature,
                                    orders=self.orders)
            members.append(Judge(self.backend(spec, backends), mine, strategy, judge.explain))
        return Jury(members, judge.aggregate, weights) if judge.jury else members[0]

    def _preset_protocol(self, spec: str) -> Protocol | None:
        """The compare protocol in the template a local preset names (a pairwise head fitted on another wording),
        or None: for another task the head refuses the request itself, naming what it was fitted for."""
        preset = preset_of_spec(spec)
        if preset is None or preset.template is None or self.task != "compare":
            return None
        return build_protocol(self.task, self.protocol.model_copy(update={"template": preset.template}))

    def backend(self, spec: str, backends: Mapping[str, Backend] | None = None) -> Backend:
        """The backend of one judge spec of this plan (a ready one when given: its spec may be any name)."""
        if backends and spec in backends:
            return backends[spec]
        from jurist.backends.registry import resolve_backend

        try:
            parse_spec(spec)
        except BackendError as error:
            field = "judge.jury" if spec in self.judge.jury else "judge.spec"
            raise PlanError(f"`{field}`: {error}", (field,)) from None
        return resolve_backend(spec, self.judge.model, **self._backend_options())

    def _backend_options(self) -> dict[str, Any]:
        return {"vision": self.judge.vision, "timeout_s": self.engine.timeout}


def plan_error(error: ValidationError, where: str | None = None) -> PlanError:
    """A pydantic error as a PlanError: one line per problem, each naming its dotted field and the value given."""
    lines, fields = [], []
    for problem in error.errors():
        field = ".".join(str(part) or '""' for part in problem["loc"])  # an empty key is shown, not dropped
        message = problem["msg"].removeprefix("Value error, ")
        if problem["loc"]:
            fields.append(field)
            given = problem.get("input")
            # the value given is shown (URL credentials masked), but not for a field that does not exist: a
            # misplaced `api_key: sk-...` must not be echoed into a CI log
            shown = f" (got {redact(given) if isinstance(given, str) else given!r})" if isinstance(
                given, (str, int, float)) and problem["type"] not in ("missing", "extra_forbidden") else ""
            lines.append(f"`{field}`: {message}{shown}")
        else:
            lines.append(message)
    return PlanError((f"{where}: " if where else "") + "; ".join(lines), tuple(fields))


def read_text(value: str) -> str:
    """``@path`` reads the text from a file."""
    if not value.startswith("@"):
        return value
    path = Path(value[1:])
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise PlanError(f"{path}: cannot read: {error.strerror}") from error


def build_protocol(task: str, settings: ProtocolSettings) -> Protocol:
    """The protocol of a task. A template is checked against the protocol here, before any model call;
    a file that cannot be read is a PlanError naming its field."""
    from jurist.protocols.templating import TemplateError

    try:
        return _build_protocol(task, settings)
    except (PlanError, TemplateError):  # a template error names its file and line already
        raise
    except ValueError as error:
        field = next((name for name in ("template", "examples", "dimensions", "checklist", "rubric", "criteria")
                      if getattr(settings, name) and str(getattr(settings, name)) in str(error)), None)
        if field is None:
            raise
        raise PlanError(f"`protocol.{field}`: {error}", (f"protocol.{field}",)) from error


def _build_protocol(task: str, settings: ProtocolSettings) -> Protocol:
    from jurist.protocols.templating import HARDENED_ALIAS, check_template, load_examples, load_template

    template, origin = None, ""
    if settings.template:  # `hardened` names the hardened template of the protocol the task runs
        plain = (_build_protocol(task, settings.model_copy(update={"template": None}))
                 if settings.template == HARDENED_ALIAS else None)
        template, origin = load_template(settings.template, plain and plain.name)
    shots = load_examples(settings.examples, task) if settings.examples and task in ("score", "compare") else []
    protocol: Protocol
    if task == "score" and (settings.dimensions or settings.dimension):
        from jurist.protocols.dimensions import Dimension, DimensionSet, DimensionsProtocol, load_dimension_set

        the_set = load_dimension_set(settings.dimensions) if settings.dimensions else DimensionSet(())
        extra = tuple(Dimension.make(name, read_text(rubric), settings.scale)
                      for name, rubric in settings.dimension.items())
        protocol = DimensionsProtocol(DimensionSet(the_set.dimensions + extra, the_set.task, the_set.description),
                                      template, examples=shots)
    elif task == "score":
        from jurist.protocols.pointwise import DEFAULT_RUBRIC, PointwiseProtocol

        protocol = PointwiseProtocol(read_text(settings.rubric or DEFAULT_RUBRIC), settings.scale, template,
                                     examples=shots)
    elif task == "compare":
        from jurist.protocols.pairwise import DEFAULT_CRITERIA, PairwiseProtocol

        protocol = PairwiseProtocol(read_text(settings.criteria or DEFAULT_CRITERIA), allow_tie=settings.tie,
                                    template=template, examples=shots)
    elif task == "rank":
        from jurist.protocols.listwise import DEFAULT_CRITERIA as RANK_CRITERIA, ListwiseProtocol

        protocol = ListwiseProtocol(read_text(settings.criteria or RANK_CRITERIA))
    elif task == "check":
        from jurist.protocols.checklist import ChecklistProtocol, load_checklist, parse_checklist

        checklist = settings.checklist
        questions = (load_checklist(checklist) if isinstance(checklist, str)
                     else parse_checklist(checklist) if checklist else [])
        protocol = ChecklistProtocol(questions, template=template)
    else:
        from jurist.protocols.reference import ReferenceProtocol

        protocol = ReferenceProtocol(settings.reference, template=template,
                                     max_revision_tokens=settings.max_revision_tokens)
    if template is not None and task in ("score", "compare"):
        check_template(template, origin, protocol)
    return protocol
