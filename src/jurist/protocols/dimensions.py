"""Rubric dimensions: one pointwise judge per dimension over the same items, in one run.

A :class:`DimensionSet` names the dimensions (each with its own rubric and
scale) and, optionally, a one-sentence ``task`` that says what the input and
the response are. :class:`DimensionsProtocol` presents an item once per
dimension: view ``i`` is dimension ``i``, rendered and read by that
dimension's own :class:`~jurist.protocols.pointwise.PointwiseProtocol`. The
:class:`~jurist.strategies.dimensions.Dimensions` strategy runs every view and
keeps the per-dimension verdicts in ``Verdict.dimensions``.

Dimension sets come from a built-in name (``summeval``, ``topical_chat``), a
JSON or TOML file, or ``NAME=RUBRIC`` options::

    task = "The input is a source text and the response is a summary of it."
    scale = "1-5"                      # default for every dimension
    [dimensions.coherence]
    rubric = "Coherence: ..."
    [dimensions.fluency]
    rubric = "Fluency: ..."
    scale = "1-3"                      # a dimension may have its own scale

(JSON: the same keys; a dimension may also be just its rubric string.)

The default template, ``dimension.j2``, puts the input and the response
*before* the dimension's rubric, so all dimensions of one response, and all
responses to one input, share the prompt prefix up to the response: a backend
that reuses the KV cache of a shared prefix (the embedded judge, llama.cpp
and vLLM servers) evaluates the long source text once.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from jurist.protocols.base import MIN_LABEL_MASS, Protocol, builtin_template, text_hash
from jurist.protocols.pointwise import PointwiseProtocol, Scale
from jurist.types import Completion, CompletionRequest, Item, Verdict

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")


@dataclass(frozen=True)
class Dimension:
    """One quality dimension: a name (a column in the output), a rubric, a scale."""

    name: str
    rubric: str
    scale: Scale

    @classmethod
    def make(cls, name: str, rubric: str, scale: Scale | str = "1-5") -> Dimension:
        if not _NAME.fullmatch(name):
            raise ValueError(f"dimension name {name!r}: use letters, digits, '_' or '-' (it becomes a column name)")
        if not rubric.strip():
            raise ValueError(f"dimension {name!r}: empty rubric")
        return cls(name, rubric.strip(), Scale.parse(scale) if isinstance(scale, str) else scale)


@dataclass(frozen=True)
class DimensionSet:
    """Dimensions judged together, and what the input and the response are (``task``)."""

    dimensions: tuple[Dimension, ...]
    task: str | None = None
    description: str = ""

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dimensions]


def builtin_dimension_sets() -> dict[str, str]:
    """Built-in dimension sets: name -> one-line description."""
    folder = resources.files("jurist.protocols").joinpath("dimension_sets")
    found = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            found[entry.name[: -len(".toml")]] = str(tomllib.loads(entry.read_text("utf-8")).get("description", ""))
    return found


def _from_mapping(data: Mapping[str, Any], where: str) -> DimensionSet:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected an object with a 'dimensions' table")
    default_scale = data.get("scale", "1-5")
    raw = data.get("dimensions")
    if not isinstance(raw, Mapping) or not raw:
        raise ValueError(f"{where}: field 'dimensions': expected a non-empty table of NAME -> rubric")
    dims = []
    for name, spec in raw.items():
        if isinstance(spec, str):
            spec = {"rubric": spec}
        if not isinstance(spec, Mapping) or not isinstance(spec.get("rubric"), str):
            raise ValueError(f"{where}: field 'dimensions.{name}.rubric': missing or not text")
        unknown = set(spec) - {"rubric", "scale"}
        if unknown:
            raise ValueError(f"{where}: field 'dimensions.{name}': unknown keys {sorted(unknown)} (rubric, scale)")
        try:
            dims.append(Dimension.make(str(name), spec["rubric"], str(spec.get("scale", default_scale))))
        except ValueError as error:
            raise ValueError(f"{where}: field 'dimensions.{name}': {error}") from error
    task = data.get("task")
    if task is not None and not isinstance(task, str):
        raise ValueError(f"{where}: field 'task': expected text")
    return DimensionSet(tuple(dims), task.strip() if task else None, str(data.get("description", "")))


def load_dimension_set(source: str | Path) -> DimensionSet:
    """A built-in set by name, or a ``.json`` / ``.toml`` file."""
    text = str(source)
    if not Path(text).suffix and text in builtin_dimension_sets():
        path = resources.files("jurist.protocols").joinpath("dimension_sets").joinpath(f"{text}.toml")
        return _from_mapping(tomllib.loads(path.read_text("utf-8")), f"built-in dimension set {text!r}")
    path = Path(text)
    if not path.is_file():
        raise ValueError(f"dimension set {text!r}: neither a built-in ({', '.join(builtin_dimension_sets())}) "
                         "nor a file")
    body = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(body)
        elif path.suffix.lower() == ".json":
            data = json.loads(body)
        else:
            raise ValueError(f"{path}: a dimension set is a .json or .toml file")
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not valid TOML: {error}") from error
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}: not valid JSON: {error.msg}") from error
    return _from_mapping(data, str(path))


def parse_dimension(option: str, scale: str = "1-5", read_file: Any = None) -> Dimension:
    """``NAME=RUBRIC`` (or ``NAME=@FILE`` when ``read_file`` resolves @paths) as a Dimension."""
    name, sep, rubric = option.partition("=")
    if not sep:
        raise ValueError(f"--dimension {option!r}: expected NAME=RUBRIC or NAME=@FILE")
    if read_file is not None:
        rubric = read_file(rubric)
    return Dimension.make(name.strip(), rubric, scale)


class DimensionsProtocol(Protocol):
    """Grades ``item.response`` once per dimension; view ``i`` is ``dimensions[i]``.

    ``template`` is shared by every dimension and gets the pointwise variables
    (``input``, ``response``, ``reference``, ``rubric``, ``scale_description``,
    ``labels``) plus ``dimension`` (the name) and ``task``.
    """

    name = "dimensions"
    kind = "score"
    version = "1"

    def __init__(self, dimensions: DimensionSet | Sequence[Dimension], template: str | None = None,
                 task: str | None = None, examples: Sequence[Any] = (), min_label_mass: float = MIN_LABEL_MASS):
        self._set_min_label_mass(min_label_mass)
        the_set = dimensions if isinstance(dimensions, DimensionSet) else DimensionSet(tuple(dimensions))
        if not the_set.dimensions:
            raise ValueError("no dimensions to judge")
        names = the_set.names
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate dimension names in {names}")
        self.dimension_set = the_set
        self.task = task if task is not None else the_set.task
        self.template = template if template is not None else builtin_template("dimension.j2")
        self.views = tuple(range(len(names)))
        self.protocols = [
            PointwiseProtocol(d.rubric, d.scale, self.template, examples=examples,
                              variables={"dimension": d.name, "task": self.task}, min_label_mass=min_label_mass)
            for d in the_set.dimensions
        ]

    @property
    def names(self) -> list[str]:
        return self.dimension_set.names

    @property
    def identity(self) -> dict[str, Any]:
        first = self.protocols[0].identity
        return {
            "protocol": self.name,
            "version": self.version,
            "template_hash": text_hash(self.template),
            "task_hash": text_hash(self.task or ""),
            **({"examples_hash": first["examples_hash"]} if "examples_hash" in first else {}),
            "dimensions": {d.name: {"scale": list(d.scale.labels), "rubric_hash": text_hash(d.rubric)}
                           for d in self.dimension_set.dimensions},
            **self._mass_identity(),
        }


    def render(self, item: Item, view: int = 0) -> CompletionRequest:
        return self.protocols[view].render(item)

    def read(self, completion: Completion, view: int = 0) -> Verdict:
        return self.protocols[view].read(completion)
