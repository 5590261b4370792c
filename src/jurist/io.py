"""Reading items to judge and writing judgments.

Reading
=======
:func:`load_items` reads ``.jsonl`` (also ``.ndjson``), ``.json``, ``.csv`` and
``.parquet`` files and returns a :class:`LoadResult` with the items that loaded
and one :class:`InputError` per rejected row. A bad row never aborts the load.

Canonical fields
----------------
``id``
    Optional. A missing or empty id becomes the row's 1-based line number
    (JSONL, CSV) or record number (JSON, Parquet), as a string. A repeated id
    is an error on its second occurrence.
``input``
    Required, must not be empty or blank.
``response`` (task ``"score"``) or ``response_a`` and ``response_b`` (task ``"compare"``)
    Required. An empty string is allowed (models do return empty answers, and
    the public sets contain some); a missing value or ``null`` is an error.
``reference``
    Optional reference answer.
``label``
    Optional human label. For ``"compare"`` it is normalised to ``"A"``,
    ``"B"`` or ``"tie"`` (any case is accepted; ``label_map`` translates other
    values first, e.g. ``{"1": "A", "2": "B", "0": "tie"}``). For ``"score"``
    it must be a finite number (``label_map`` may translate words to numbers).
``metadata``
    Optional JSON object (a JSON string in CSV / Parquet). Every column that is
    not mapped to a canonical field is also copied into ``metadata``.

``images``, ``frames``, ``caption``, ``transcript``
    Optional media (see :mod:`jurist.media`). ``images`` is a list of image
    paths (relative to the data file), ``http(s)`` URLs or ``data:image/...``
    URIs; ``frames`` a list of ``{"timestamp": seconds, "image": ...}``. In CSV
    and Parquet either may be a JSON list in a string; one string is one image.
    A missing image file is an error naming the field (``images[1]``,
    ``frames[0].image``). ``caption`` and ``transcript`` are text a text-only
    judge reads instead of the images and frames.
``checklist``
    Optional per-item yes/no questions for ``jurist check`` (a list of strings
    or of ``{"question": ..., "weight": ...}``), kept in ``metadata["checklist"]``.

Text fields accept strings and scalars (numbers and booleans become text, as
in PandaLM where a few answers are stored as JSON ``true``); a list or object
there is an error.

``fields`` maps a canonical name to a column name, e.g. ``{"input": "instruction"}``
(the CLI's ``--field input=instruction``). A ``.json`` file may hold a list of
objects or a dict of lists (as EvalBiasBench does); a dict of lists is flattened
and each record's key is kept as ``metadata["group"]``.

Presets
-------
``preset=`` loads the public judge meta-evaluation sets as they are published.
Each preset is one entry of :data:`PRESETS`: a task, a field map, a label map,
and (for a few) a small function that derives fields from several columns.
Options given by the caller are applied on top of the preset's.

``llmbar`` (compare)
    LLMBar's processed sets: MT-Bench human non-tie, FairEval non-tie, LLMEval²
    non-tie. ``input``, ``output_1`` -> A, ``output_2`` -> B; label ``1`` -> A,
    ``2`` -> B.
``autoj`` (compare)
    Auto-J pairwise test set. ``prompt``, ``response 1`` -> A, ``response 2``
    -> B (the keys contain spaces); label ``0`` -> A, ``1`` -> B, ``2`` -> tie.
``pandalm`` (compare)
    PandaLM test set. input = ``instruction`` + ``"\\n\\n"`` + ``input`` (blank
    parts are left out), ``response1`` -> A, ``response2`` -> B, ``idx`` -> id.
    label = majority of ``annotator1..3`` with ``0`` -> tie, ``1`` -> A,
    ``2`` -> B; the three annotator labels are kept, already mapped to
    A/B/tie, in ``metadata["human_labels"]``. No majority is an error.
``hhh`` (compare)
    HHH alignment (chosen/rejected). ``instruction``, ``chosen`` -> A,
    ``rejected`` -> B, label always ``"A"``. The correct answer is therefore
    always in position A: callers must run both orders or swap at random.
``evalbiasbench`` (compare)
    EvalBiasBench (a dict of bias type -> list). ``instruction``, ``response1``
    -> A, ``response2`` -> B, label ``"1"`` -> A. Every gold label is A, so the
    same warning as for ``hhh`` applies.
``summeval`` (score)
    SummEval expert averages. input = ``article``, response = ``summary``,
    id = ``article_id + "/" + summary_id``. The label is one dimension, chosen
    with ``fields={"label": "<dim>"}`` (default ``coherence``); all four
    dimensions (coherence, consistency, fluency, relevance), ``article_id`` and
    ``summary_id`` are kept in metadata.
``topical_chat`` (score)
    Topical-Chat USR annotations. input = ``"Conversation history:\\n" +
    source + "\\n\\nKnowledge fact:\\n" + context``, response =
    ``system_output``, label = ``scores[dim]`` with ``dim`` chosen by
    ``fields={"label": "<dim>"}`` (default ``overall``). ``system_id`` and the
    whole ``scores`` dict are kept in metadata.

Writing
=======
:func:`write_jsonl`, :func:`write_parquet` and :func:`write_judgments` write
atomically (a temporary file in the target directory, then :func:`os.replace`).
:func:`write_judgments` picks the format from the extension; in Parquet each
judgment is one flat row (see :data:`JUDGMENT_COLUMNS`) with the full verdict
as a JSON string, which :func:`read_judgments` turns back into
:class:`~jurist.types.Judgment` objects.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from jurist.types import Item, Judgment, Source

__all__ = [
    "JUDGMENT_COLUMNS",
    "PRESETS",
    "InputError",
    "JuristInputError",
    "LoadResult",
    "Preset",
    "Row",
    "Task",
    "count_rows",
    "iter_rows",
    "load_items",
    "read_jsonl",
    "read_judgments",
    "read_parquet",
    "write_jsonl",
    "write_judgments",
    "write_parquet",
    "RowWriter",
]

Task = Literal["score", "compare", "rank"]
Unit = Literal["line", "record"]

JSONL_SUFFIXES = (".jsonl", ".ndjson")
INPUT_SUFFIXES = (*JSONL_SUFFIXES, ".json", ".csv", ".parquet")
COMPARE_LABELS = {"a": "A", "b": "B", "tie": "tie"}
_MISSING: Any = object()


class JuristInputError(ValueError):
    """A file or option that cannot be used at all (missing file, unknown format...)."""


@dataclass(frozen=True)
class InputError:
    """One rejected row: where it is, which canonical field is wrong, and why.

    ``line`` is the physical line for JSONL and CSV files and the 1-based record
    number (``unit == "record"``) for JSON lists and Parquet. ``field`` is
    ``None`` when the row as a whole is unreadable (invalid JSON, not an object).
    """

    path: str
    line: int
    field: str | None
    message: str
    unit: Unit = "line"

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.unit == "line" else f"{self.path}: record {self.line}"
        what = f"field '{self.field}': {self.message}" if self.field else self.message
        return f"{where}: {what}"


@dataclass
class LoadResult:
    """What :func:`load_items` read: the good items and one error per bad row."""

    path: str
    items: list[Item] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


# ---------------------------------------------------------------------------
# presets


class _RowError(Exception):
    """Raised inside row processing; becomes an :class:`InputError`."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


Derive = Callable[[Mapping[str, Any], Mapping[str, str]], dict[str, Any]]


@dataclass(frozen=True)
class Preset:
    """How to read one public dataset.

    ``fields`` and ``label_map`` work as the arguments of :func:`load_items`.
    ``derive(record, fields)`` returns canonical values computed from several
    columns (and optionally a ``"metadata"`` dict to add); they take precedence
    over ``fields``. ``consumes`` lists the raw columns folded into derived
    values (kept out of metadata); ``keep`` lists mapped columns that are
    nevertheless copied into metadata.
    """

    task: Task
    description: str
    fields: Mapping[str, str] = field(default_factory=dict)
    label_map: Mapping[str, str] = field(default_factory=dict)
    derive: Derive | None = None
    consumes: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()


_PANDALM_LABELS = {"0": "tie", "1": "A", "2": "B"}


def _pandalm(record: Mapping[str, Any], fields: Mapping[str, str]) -> dict[str, Any]:
    """PandaLM: input = instruction [+ input]; label = majority of three annotators."""
    instruction = record.get("instruction")
    if instruction is None:
        raise _RowError("input", "missing (column 'instruction')")
    parts = [str(p) for p in (instruction, record.get("input")) if p is not None and str(p).strip()]
    votes: list[str] = []
    for name in ("annotator1", "annotator2", "annotator3"):
        value = record.get(name)
        if value is None:
            continue
        key = _label_key(value)
        if key not in _PANDALM_LABELS:
            raise _RowError("label", f"unknown value {value!r} in column '{name}' (expected 0, 1 or 2)")
        votes.append(key)
    derived: dict[str, Any] = {"input": "\n\n".join(parts)}
    if votes:
        top, count = Counter(votes).most_common(1)[0]
        if count * 2 <= len(votes):
            raise _RowError("label", f"no majority among annotators {votes}")
        derived["label"] = top
        derived["metadata"] = {"human_labels": [_PANDALM_LABELS[v] for v in votes]}
    return derived


def _hhh(record: Mapping[str, Any], fields: Mapping[str, str]) -> dict[str, Any]:
    """HHH: the chosen response is A, so the label is always A."""
    return {"label": "A"}


def _summeval(record: Mapping[str, Any], fields: Mapping[str, str]) -> dict[str, Any]:
    """SummEval: id = article_id/summary_id."""
    article, summary = record.get("article_id"), record.get("summary_id")
    if article is None or summary is None:
        raise _RowError("id", "missing (columns 'article_id' and 'summary_id')")
    return {"id": f"{article}/{summary}"}


def _topical_chat(record: Mapping[str, Any], fields: Mapping[str, str]) -> dict[str, Any]:
    """Topical-Chat: input = dialogue history + knowledge fact; label = scores[dim]."""
    history = record.get("source")
    if history is None:
        raise _RowError("input", "missing (column 'source')")
    text = f"Conversation history:\n{str(history).strip()}"
    knowledge = record.get("context")
    if knowledge is not None and str(knowledge).strip():
        text += f"\n\nKnowledge fact:\n{str(knowledge).strip()}"
    dim = fields.get("label", "overall")
    scores = record.get("scores")
    if not isinstance(scores, Mapping):
        raise _RowError("label", "missing (column 'scores' is not an object)")
    if scores.get(dim) is None:
        raise _RowError("label", f"missing (no '{dim}' in scores)")
    return {"input": text, "label": scores[dim]}


_LLMBAR_LABELS = {"1": "A", "2": "B"}

PRESETS: dict[str, Preset] = {
    "llmbar": Preset(
        task="compare",
        description="LLMBar processed sets (MT-Bench human, FairEval, LLMEval2 non-tie)",
        fields={"input": "input", "response_a": "output_1", "response_b": "output_2"},
        label_map=_LLMBAR_LABELS,
    ),
    "autoj": Preset(
        task="compare",
        description="Auto-J pairwise test set (label 0=A, 1=B, 2=tie)",
        fields={"input": "prompt", "response_a": "response 1", "response_b": "response 2"},
        label_map={"0": "A", "1": "B", "2": "tie"},
    ),
    "pandalm": Preset(
        task="compare",
        description="PandaLM test set (majority of 3 annotators; 0=tie, 1=A, 2=B)",
        fields={"id": "idx", "response_a": "response1", "response_b": "response2"},
        label_map=_PANDALM_LABELS,
        derive=_pandalm,
        consumes=("instruction", "input", "annotator1", "annotator2", "annotator3"),
    ),
    "hhh": Preset(
        task="compare",
        description="HHH alignment: chosen=A, rejected=B, label always A (swap orders!)",
        fields={"input": "instruction", "response_a": "chosen", "response_b": "rejected"},
        derive=_hhh,
    ),
    "evalbiasbench": Preset(
        task="compare",
        description="EvalBiasBench (dict of bias type -> list; label always A, swap orders!)",
        fields={"input": "instruction", "response_a": "response1", "response_b": "response2"},
        label_map=_LLMBAR_LABELS,
    ),
    "summeval": Preset(
        task="score",
        description="SummEval expert averages (label dimension via fields label=..., default coherence)",
        fields={"input": "article", "response": "summary", "label": "coherence"},
        derive=_summeval,
        keep=("coherence", "consistency", "fluency", "relevance"),
    ),
    "topical_chat": Preset(
        task="score",
        description="Topical-Chat USR (label = scores[dim], dim via fields label=..., default overall)",
        fields={"response": "system_output", "label": "overall"},
        derive=_topical_chat,
        consumes=("source", "context"),
    ),
}


# ---------------------------------------------------------------------------
# raw readers: each yields (line or record number, record or error text, group)


@dataclass(frozen=True)
class _Raw:
    line: int
    record: dict[str, Any] | None
    error: str | None = None
    group: str | None = None


def _read_jsonl(path: Path) -> Iterator[_Raw]:
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                yield _Raw(number, None, f"not valid UTF-8: {e.reason} at byte {e.start}")
                continue
            if number == 1:
                text = text.lstrip("\ufeff")
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as e:
                yield _Raw(number, None, f"invalid JSON: {e.msg} (column {e.colno})")
                continue
            if isinstance(value, dict):
                yield _Raw(number, value)
            else:
                yield _Raw(number, None, f"expected a JSON object, got {_type_name(value)}")


def _read_json(path: Path) -> Iterator[_Raw]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as e:
        raise JuristInputError(f"{path}: not valid UTF-8 ({e.reason} at byte {e.start})") from e
    except json.JSONDecodeError as e:
        raise JuristInputError(
            f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}"
            " (for one object per line, use the .jsonl extension)"
        ) from e
    if isinstance(data, list):
        groups: Iterable[tuple[str | None, list[Any]]] = [(None, data)]
    elif isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
        groups = data.items()
    else:
        raise JuristInputError(f"{path}: expected a JSON list of objects or a dict of lists, got {_type_name(data)}")
    number = 0
    for group, records in groups:
        for value in records:
            number += 1
            if isinstance(value, dict):
                yield _Raw(number, value, group=group)
            else:
                yield _Raw(number, None, f"expected a JSON object, got {_type_name(value)}", group)


# csv refuses a field above 131,072 characters by default: a long document is a normal input, not a bad file.
_CSV_FIELD_LIMIT = 2**31 - 1
_UNDECODED = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8 (decoded with surrogateescape)


def _read_csv(path: Path) -> Iterator[_Raw]:
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)
    try:
        # surrogateescape: a row with bytes that are not UTF-8 is that row's error, not the whole file's
        with path.open("r", encoding="utf-8-sig", errors="surrogateescape", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                return
            if any(_UNDECODED.search(name) for name in header):
                raise JuristInputError(f"{path}:1: the header is not valid UTF-8")
            repeated = sorted(name for name, n in Counter(header).items() if n > 1)
            if repeated:
                raise JuristInputError(f"{path}: repeated column names in the header: {repeated}")
            end = reader.line_num
            for row in reader:
                start, end = end + 1, reader.line_num
                if not row:  # a blank line
                    continue
                bad = next((cell for cell in row if _UNDECODED.search(cell)), None)
                if bad is not None:
                    column = header[row.index(bad)] if row.index(bad) < len(header) else "?"
                    yield _Raw(start, None, f"not valid UTF-8 (in column {column!r})")
                    continue
                if len(row) > len(header):
                    yield _Raw(start, None, f"row has {len(row)} cells but the header has {len(header)} columns")
                    continue
                yield _Raw(start, dict(zip(header, row, strict=False)))
    except csv.Error as e:
        raise JuristInputError(f"{path}: unreadable CSV: {e}") from e


def _read_parquet(path: Path) -> Iterator[_Raw]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for a bad file
        raise JuristInputError(f"{path}: not a readable Parquet file: {e}") from e
    number = 0
    batches = parquet.iter_batches(batch_size=2048)
    while True:
        try:
            batch = next(batches, None)
            records = batch.to_pylist() if batch is not None else []
        except Exception as e:  # a corrupt page: pyarrow raises OSError, ArrowInvalid... mid-file
            # nothing past a damaged page can be read; the message says where the good records end
            raise JuristInputError(f"{path}: unreadable Parquet data after record {number}: {e}") from e
        if batch is None:
            return
        for record in records:
            number += 1
            yield _Raw(number, record)


_READERS: dict[str, tuple[Callable[[Path], Iterator[_Raw]], Unit]] = {
    ".jsonl": (_read_jsonl, "line"),
    ".ndjson": (_read_jsonl, "line"),
    ".json": (_read_json, "record"),
    ".csv": (_read_csv, "line"),
    ".parquet": (_read_parquet, "record"),
}


# ---------------------------------------------------------------------------
# value helpers


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _is_blank(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or (isinstance(value, str) and not value.strip())
    )


def _label_key(value: Any) -> str:
    """A raw label as a lookup key: ``1``, ``1.0`` and ``" 1 "`` all give ``"1"``."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _text(value: Any, name: str) -> str:
    """A text field: strings as they are, scalars as their text; lists and objects are errors.

    Booleans become ``"True"``/``"False"``: the PandaLM test set stores a few
    one-word answers ("True") as JSON booleans.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return _label_key(value)
    raise _RowError(name, f"expected text, got {_type_name(value)}")


def _compare_label(value: Any, label_map: Mapping[str, str]) -> str:
    key = _label_key(value)
    mapped = label_map.get(key, label_map.get(key.lower(), key))
    canonical = COMPARE_LABELS.get(str(mapped).strip().lower())
    if canonical is None:
        hint = f"known raw labels: {sorted(label_map)}" if label_map else "translate other values with `data.label_map`"
        raise _RowError("label", f"unknown label {value!r} (expected A, B or tie; {hint})")
    return canonical


def _score_label(value: Any, label_map: Mapping[str, str]) -> float:
    if isinstance(value, str) or label_map:
        value = label_map.get(_label_key(value), value)
    if isinstance(value, bool):
        raise _RowError("label", f"not a number: {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _RowError("label", f"not a number: {value!r}") from None
    if not math.isfinite(number):
        raise _RowError("label", f"not a finite number: {value!r}")
    return number


def _metadata(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    raise _RowError("metadata", f"expected a JSON object, got {_type_name(value)}")


# ---------------------------------------------------------------------------
# row -> Item


@dataclass(frozen=True)
class _Spec:
    """Everything needed to turn a raw record into an Item."""

    task: Task
    fields: Mapping[str, str]
    label_map: Mapping[str, str]
    preset: Preset | None


def _canonical_fields(task: Task) -> tuple[str, ...]:
    responses = {"score": ("response",), "compare": ("response_a", "response_b"), "rank": ("candidates",)}[task]
    return ("id", "input", *responses, "reference", "label", "metadata", *MEDIA_FIELDS, "checklist")


MEDIA_FIELDS = ("images", "frames", "caption", "transcript")


def _as_list(value: Any, name: str) -> list[Any]:
    """A list field: a list, a JSON list in a string (CSV, Parquet), or one string as a one-element list."""
    if isinstance(value, str):
        if value.lstrip().startswith("["):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as e:
                raise _RowError(name, f"invalid JSON list: {e.msg}") from None
        else:
            return [value]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise _RowError(name, f"expected a list, got {_type_name(value)}")


def _image_ref(value: Any, name: str, base: Path) -> str:
    """An image as the item keeps it: URLs and data URIs as given, files as paths (relative to the data file)."""
    if not isinstance(value, str) or not value.strip():
        raise _RowError(name, f"expected an image path, URL or data URI, got {_type_name(value)}")
    value = value.strip()
    if value.startswith(("http://", "https://")):
        return value
    if value.startswith("data:"):
        if not value.startswith("data:image/") or ";base64," not in value:
            raise _RowError(name, "a data URI must look like data:image/png;base64,...")
        return value
    shown = value if len(value) <= 200 else value[:200] + "..."
    try:
        path = Path(value).expanduser()
        path = path if path.is_absolute() else base.resolve() / path  # absolute: the item works from any directory
        found = path.is_file()
    except (OSError, RuntimeError, ValueError) as e:  # a name too long for the OS, an unknown ~user, a NUL byte
        raise _RowError(name, f"not a usable image path {shown!r}: {e}") from None
    if not found:
        raise _RowError(name, f"no image file {shown!r} (looked for {str(path)[:300]})")
    return str(path)


def _frames(value: Any, base: Path) -> list[dict[str, Any]]:
    frames = []
    for index, frame in enumerate(_as_list(value, "frames")):
        where = f"frames[{index}]"
        if not isinstance(frame, Mapping):
            raise _RowError(where, f"expected an object with 'timestamp' and 'image', got {_type_name(frame)}")
        stamp = frame.get("timestamp")
        if isinstance(stamp, bool) or not isinstance(stamp, (int, float)) or not math.isfinite(stamp) or stamp < 0:
            raise _RowError(f"{where}.timestamp", f"expected seconds (a number >= 0), got {stamp!r}")
        frames.append({"timestamp": float(stamp), "image": _image_ref(frame.get("image"), f"{where}.image", base)})
    return frames


def _media_fields(get: Callable[[str], tuple[Any, str]], base: Path) -> dict[str, Any]:
    """``images``, ``frames``, ``caption`` and ``transcript`` of a row (see jurist.media)."""
    media: dict[str, Any] = {}
    images, _ = get("images")
    if images is not _MISSING and not _is_blank(images):
        media["images"] = [_image_ref(v, f"images[{i}]", base) for i, v in enumerate(_as_list(images, "images"))]
    frames, _ = get("frames")
    if frames is not _MISSING and not _is_blank(frames):
        media["frames"] = _frames(frames, base)
    for name in ("caption", "transcript"):
        value, _ = get(name)
        if value is not _MISSING and not _is_blank(value):
            media[name] = _text(value, name)
    return media


def _checklist(value: Any) -> list[Any]:
    """A per-item checklist, checked here so a bad one is reported with its file and line."""
    from jurist.protocols.checklist import parse_checklist

    try:
        parse_checklist(_as_list(value, "checklist"))
    except ValueError as e:
        raise _RowError("checklist", str(e)) from None
    return _as_list(value, "checklist")


def _rank_candidates(get: Callable[[str], tuple[Any, str]]) -> list[str]:
    """Task "rank": a ``candidates`` list, or the columns ``response_1``, ``response_2``, ... (consecutive)."""
    listed, where = get("candidates")
    if listed is not _MISSING and listed is not None:
        values = _as_list(listed, "candidates")
        names = [f"candidates[{i}]" for i in range(len(values))]
    else:
        values, names = [], []
        while (value := get(f"response_{len(values) + 1}")[0]) is not _MISSING and value is not None:
            values.append(value)
            names.append(f"response_{len(values)}")
        if not values:
            raise _RowError("candidates", "missing" + where + " (a list, or columns response_1, response_2, ...)")
    if len(values) < 2:
        raise _RowError(names[0] if names else "candidates", f"a ranking needs at least 2 candidates, got {len(values)}")
    return [_text(value, name) for value, name in zip(values, names, strict=True)]


def _rank_label(value: Any, n: int) -> tuple[str, list[int] | None]:
    """Task "rank": the 0-based index of the best candidate, or a full ranking (indices, best first)."""
    if isinstance(value, str) and value.strip().lstrip("[").strip():
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise _RowError("label", f"expected a candidate index or a list of indices, got {value!r}") from None
    if isinstance(value, (list, tuple)):
        if sorted(value) != list(range(n)) or any(isinstance(v, bool) for v in value):
            raise _RowError("label", f"a full ranking lists each candidate index 0..{n - 1} once, got {list(value)}")
        return str(value[0]), [int(v) for v in value]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < n:
        raise _RowError("label", f"expected the 0-based index of the best candidate (0..{n - 1}), got {value!r}")
    return str(value), None


def _build_item(raw: _Raw, spec: _Spec, source: Source) -> Item:
    record = raw.record
    assert record is not None
    derived = spec.preset.derive(record, spec.fields) if spec.preset and spec.preset.derive else {}
    used: set[str] = set(spec.preset.consumes) if spec.preset else set()

    def get(name: str) -> tuple[Any, str]:
        """The value of a canonical field, and how to describe where it came from."""
        if name in derived:
            return derived[name], ""
        column = spec.fields.get(name, name)
        used.add(column)
        where = f" (column '{column}')" if column != name else ""
        return record.get(column, _MISSING), where

    def required(name: str) -> str:
        value, where = get(name)
        if value is _MISSING or value is None:
            raise _RowError(name, "missing" + where)
        return _text(value, name)

    item_id, _ = get("id")
    item_id = str(raw.line) if item_id is _MISSING or _is_blank(item_id) else _text(item_id, "id").strip()
    text = required("input")
    if not text.strip():
        raise _RowError("input", "empty")
    names = ("response",) if spec.task == "score" else ("response_a", "response_b")
    candidates = _rank_candidates(get) if spec.task == "rank" else [required(name) for name in names]

    reference, _ = get("reference")
    reference = None if reference is _MISSING or _is_blank(reference) else _text(reference, "reference")
    # image paths are relative to the data file (to the working directory for rows without one)
    media = _media_fields(get, Path(source.path).parent if source is not None else Path.cwd())
    checklist, _ = get("checklist")

    label, _ = get("label")
    label_ranking = None
    if label is _MISSING or _is_blank(label):
        label = None
    elif spec.task == "rank":
        label, label_ranking = _rank_label(label, len(candidates))
    elif spec.task == "compare":
        label = _compare_label(label, spec.label_map)
    else:
        label = _score_label(label, spec.label_map)

    explicit, _ = get("metadata")
    metadata = {k: v for k, v in record.items() if k not in used}
    if spec.preset:
        metadata.update({k: record[k] for k in spec.preset.keep if k in record})
    if raw.group is not None:
        metadata["group"] = raw.group
    metadata.update(derived.get("metadata", {}))
    if label_ranking is not None:  # the human ranking, best first; ``label`` holds its first entry
        metadata["label_ranking"] = label_ranking
    if explicit is not _MISSING and not _is_blank(explicit):
        metadata.update(_metadata(explicit))
    if checklist is not _MISSING and not _is_blank(checklist):
        metadata["checklist"] = _checklist(checklist)

    try:
        return Item(
            id=item_id,
            input=text,
            candidates=candidates,
            reference=reference,
            label=label,
            metadata=metadata,
            source=source,
            **media,
        )
    except ValidationError as e:
        raise _RowError(None, f"invalid item: {e.errors()[0]['msg']}") from e


def _resolve(
    task: str | None,
    fields: Mapping[str, str] | None,
    preset: str | None,
    label_map: Mapping[Any, str] | None,
) -> _Spec:
    """Check the options and merge them with the preset's."""
    chosen: Preset | None = None
    if preset is not None:
        chosen = PRESETS.get(preset)
        if chosen is None:
            raise JuristInputError(f"unknown preset {preset!r}; known presets: {', '.join(sorted(PRESETS))}")
        if task is None:
            task = chosen.task
        elif task != chosen.task:
            raise JuristInputError(f"preset {preset!r} is for task {chosen.task!r}, not {task!r}")
    if task not in ("score", "compare", "rank"):
        raise JuristInputError(f"task must be 'score' or 'compare' (or 'rank'), got {task!r}")
    canonical = _canonical_fields(task)  # type: ignore[arg-type]
    unknown = sorted(set(fields or {}) - set(canonical))
    if unknown:
        raise JuristInputError(f"unknown field name(s) {unknown} for task {task!r}; expected some of {list(canonical)}")
    merged_fields = {**(chosen.fields if chosen else {}), **(fields or {})}
    merged_labels = {**(chosen.label_map if chosen else {}), **{_label_key(k): v for k, v in (label_map or {}).items()}}
    return _Spec(task=task, fields=merged_fields, label_map=merged_labels, preset=chosen)  # type: ignore[arg-type]


class RecordReader:
    """Turns single records (dicts, as streamed by Ray Data) into Items with :func:`load_items`' own rules.

    ``item(record, where)`` returns the Item or raises :class:`RecordError` naming the field;
    ``has_id(record)`` says whether the record (or its preset) gives an id, since a record read
    alone has no line number to fall back to; ``parse_line(text)`` reads one JSONL line as a record.
    """

    def __init__(self, task: str | None, fields: Mapping[str, str] | None = None, preset: str | None = None,
                 label_map: Mapping[Any, str] | None = None):
        self._spec = _resolve(task, fields, preset, label_map)

    @property
    def id_column(self) -> str:
        return self._spec.fields.get("id", "id")

    def has_id(self, record: Mapping[str, Any]) -> bool:
        spec = self._spec
        if spec.preset is not None and spec.preset.derive is not None:
            try:
                if "id" in spec.preset.derive(record, spec.fields):
                    return True
            except _RowError:
                pass
        value = record.get(self.id_column)
        return value is not None and not _is_blank(value)

    def item(self, record: Mapping[str, Any], line: int = 0) -> Item:
        try:
            return _build_item(_Raw(line, dict(record)), self._spec, None)  # type: ignore[arg-type]
        except _RowError as error:
            raise RecordError(error.field, error.message) from None

    @staticmethod
    def parse_line(text: str, path: str) -> dict[str, Any]:
        """One JSONL line as a record (the checks of the JSONL reader); RecordError otherwise."""
        try:
            value = json.loads(text.lstrip("\ufeff"))
        except json.JSONDecodeError as e:
            raise RecordError(None, f"{path}: invalid JSON: {e.msg} (column {e.colno}) in line {text[:60]!r}") from None
        if not isinstance(value, dict):
            raise RecordError(None, f"{path}: expected a JSON object, got {_type_name(value)} in line {text[:60]!r}")
        return value


class RecordError(ValueError):
    """One record that cannot become an Item; ``field`` is the canonical field at fault (None: the record)."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(f"field '{field}': {message}" if field else message)
        self.field = field


@dataclass(frozen=True)
class Row:
    """One row of an input file as :func:`iter_rows` reads it: where it is, the record as written, and
    either the Item it became or the :class:`InputError` that rejected it."""

    line: int
    record: dict[str, Any] | None
    item: Item | None = None
    error: InputError | None = None


class _DiskIds:
    """The ids seen so far, in a private temporary SQLite file (SQLite's ``""`` database): memory stays flat
    however many rows a file has."""

    def __init__(self) -> None:
        import sqlite3

        self._db = sqlite3.connect("")
        self._db.execute("CREATE TABLE seen (id TEXT PRIMARY KEY, line INTEGER NOT NULL)")

    def get(self, key: str) -> int | None:
        row = self._db.execute("SELECT line FROM seen WHERE id = ?", (key,)).fetchone()
        return row[0] if row else None

    def __setitem__(self, key: str, line: int) -> None:
        self._db.execute("INSERT INTO seen VALUES (?, ?)", (key, line))

    def close(self) -> None:
        self._db.close()


def _open_input(path: str | os.PathLike[str]) -> tuple[Path, Callable[[Path], Iterator[_Raw]], Unit]:
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in _READERS:
        raise JuristInputError(
            f"{path}: unknown file type {suffix or '(none)'!r}; expected one of {', '.join(INPUT_SUFFIXES)}"
        )
    if not file.exists():
        raise JuristInputError(f"{path}: no such file")
    if not file.is_file():
        raise JuristInputError(f"{path}: not a file")
    reader, unit = _READERS[suffix]
    return file, reader, unit


def iter_rows(
    path: str | os.PathLike[str],
    task: Task | None = None,
    fields: Mapping[str, str] | None = None,
    preset: str | None = None,
    label_map: Mapping[Any, str] | None = None,
    limit: int | None = None,
    ids: Literal["memory", "disk"] = "memory",
) -> Iterator[Row]:
    """The rows of a file one at a time, each with its Item or its error: what :func:`load_items` collects.

    JSONL, CSV and Parquet are read in constant memory (Parquet in record batches); a ``.json`` file is
    one document and is parsed whole. ``ids="disk"`` keeps the ids seen (to refuse a repeated one) in a
    temporary SQLite file instead of a dict, so a file of millions of rows is read in flat memory.
    The options and the errors (:class:`JuristInputError` for the file as a whole, raised when iteration
    starts) are those of :func:`load_items`.
    """
    spec = _resolve(task, fields, preset, label_map)
    file, reader, unit = _open_input(path)
    if limit is not None and limit <= 0:
        return
    seen: Any = _DiskIds() if ids == "disk" else {}
    loaded = 0
    try:
        for raw in reader(file):
            try:
                if raw.record is None:
                    raise _RowError(None, raw.error or "unreadable row")
                item = _build_item(raw, spec, Source(path=str(path), line=raw.line))
                first = seen.get(item.id)
                if first is not None:
                    raise _RowError("id", f"duplicate id {item.id!r} (first at {unit} {first})")
            except _RowError as e:
                yield Row(raw.line, raw.record, error=InputError(str(path), raw.line, e.field, e.message, unit))
                continue
            seen[item.id] = raw.line
            yield Row(raw.line, raw.record, item=item)
            loaded += 1
            if limit is not None and loaded >= limit:
                break
    finally:
        if isinstance(seen, _DiskIds):
            seen.close()


def count_rows(path: str | os.PathLike[str]) -> int | None:
    """The number of rows of a JSONL (non-blank lines) or Parquet file, cheaply (for a progress bar);
    None for other formats."""
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        count, last = 0, b"\n"
        with file.open("rb") as f:
            while chunk := f.read(1 << 20):
                count += chunk.count(b"\n")
                last = chunk[-1:]
        return count + (last != b"\n")
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(file).metadata.num_rows)
    return None


def load_items(
    path: str | os.PathLike[str],
    task: Task | None = None,
    fields: Mapping[str, str] | None = None,
    preset: str | None = None,
    label_map: Mapping[Any, str] | None = None,
    limit: int | None = None,
) -> LoadResult:
    """Read items from a ``.jsonl``, ``.json``, ``.csv`` or ``.parquet`` file.

    ``task`` is ``"score"`` (one response) or ``"compare"`` (response_a,
    response_b); it may be omitted when a ``preset`` is given. ``fields`` maps
    canonical names to columns, ``label_map`` translates raw labels, ``preset``
    names an entry of :data:`PRESETS`, and ``limit`` stops after that many items
    have loaded. Bad rows become :class:`InputError` entries of the result.
    :func:`iter_rows` is the same reader, one row at a time.

    Raises :class:`JuristInputError` for a missing file, an unknown extension,
    a file that cannot be parsed at all, or invalid options.
    """
    result = LoadResult(path=str(path))
    for row in iter_rows(path, task, fields, preset, label_map, limit):
        if row.item is not None:
            result.items.append(row.item)
        elif row.error is not None:
            result.errors.append(row.error)
    return result


# ---------------------------------------------------------------------------
# writing


@contextmanager
def _atomic(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        with tmp.open("rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _as_dict(record: Mapping[str, Any] | BaseModel) -> dict[str, Any]:
    if isinstance(record, BaseModel):
        return record.model_dump(mode="json")
    return dict(record)


def write_jsonl(path: str | os.PathLike[str], records: Iterable[Mapping[str, Any] | BaseModel]) -> int:
    """Write one JSON object per line (pydantic models are dumped); return the count."""
    count = 0
    with _atomic(path) as tmp, tmp.open("x", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(_as_dict(record), ensure_ascii=False, default=str))
            f.write("\n")
            count += 1
    return count


def _column(values: list[Any]) -> Any:
    """An Arrow array for one column: nested values as JSON text, mixed types as text."""
    import pyarrow as pa

    if any(isinstance(v, (dict, list, tuple)) for v in values):
        values = [None if v is None else json.dumps(v, ensure_ascii=False, default=str) for v in values]
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def write_parquet(path: str | os.PathLike[str], records: Iterable[Mapping[str, Any] | BaseModel]) -> int:
    """Write records as a Parquet table; return the count.

    Columns are the union of the records' keys (first-seen order). Dict and list
    values are stored as JSON strings; a column mixing types is stored as text.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [_as_dict(r) for r in records]
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    table = pa.table({name: _column([row.get(name) for row in rows]) for name in names})
    with _atomic(path) as tmp:
        pq.write_table(table, tmp)
    return len(rows)


ROW_SUFFIXES = (*JSONL_SUFFIXES, ".csv", ".parquet")


class RowWriter:
    """Rows written one at a time to JSONL, CSV or Parquet (from the extension), in constant memory.

    The file appears, atomically, when the writer is closed without an error (use it as a context manager);
    until then the rows go to a temporary file beside it. CSV and Parquet take their columns from the first
    rows: a later row with a column they lack raises :class:`JuristInputError` naming it (JSONL takes any row).
    Nested values become JSON text in CSV and Parquet; Parquet rows are written in batches of ``batch``.
    """

    def __init__(self, path: str | os.PathLike[str], batch: int = 2048):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in ROW_SUFFIXES:
            raise JuristInputError(f"{path}: cannot write rows as {suffix or '(no extension)'!r}; "
                                   f"use one of {', '.join(ROW_SUFFIXES)}")
        self.format = "jsonl" if suffix in JSONL_SUFFIXES else suffix[1:]
        self.count = 0
        self._batch: list[dict[str, Any]] = []
        self._batch_size = batch
        self._columns: list[str] | None = None
        self._context = _atomic(self.path)
        self._tmp = self._context.__enter__()
        self._file: Any = None
        self._csv: Any = None
        self._parquet: Any = None
        if self.format in ("jsonl", "csv"):
            self._file = self._tmp.open("x", encoding="utf-8", newline="")

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        self.close(failed=kind is not None)

    def write(self, row: Mapping[str, Any]) -> None:
        self.count += 1
        if self.format == "jsonl":
            self._file.write(json.dumps(dict(row), ensure_ascii=False, default=str))
            self._file.write("\n")
            return
        self._batch.append(dict(row))
        if self.format == "csv" or len(self._batch) >= self._batch_size:
            self._flush()

    def _check_columns(self, rows: list[dict[str, Any]]) -> list[str]:
        if self._columns is None:
            self._columns = list(dict.fromkeys(name for row in rows for name in row))
        for row in rows:
            extra = [name for name in row if name not in self._columns]
            if extra:
                raise JuristInputError(f"{self.path}: a row has column(s) {extra} that the first rows lack; "
                                       f"write .jsonl for rows of different shapes")
        return self._columns

    def _flush(self) -> None:
        rows, self._batch = self._batch, []
        if not rows:
            return
        columns = self._check_columns(rows)
        if self.format == "csv":
            if self._csv is None:
                self._csv = csv.writer(self._file)
                self._csv.writerow(columns)
            for row in rows:
                self._csv.writerow(["" if row.get(c) is None else
                                    json.dumps(row[c], ensure_ascii=False, default=str)
                                    if isinstance(row[c], (dict, list, tuple)) else row[c] for c in columns])
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({name: _column([row.get(name) for row in rows]) for name in columns})
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(self._tmp, table.schema)
        else:
            try:
                table = table.cast(self._parquet.schema)
            except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as e:
                raise JuristInputError(f"{self.path}: rows {self.count - len(rows) + 1}-{self.count} do not fit "
                                       f"the columns' types of the first rows ({e}); write .jsonl") from None
        self._parquet.write_table(table)

    def close(self, failed: bool = False) -> None:
        """Finish the file and move it into place (after an error, ``failed``: drop it)."""
        try:
            if not failed:
                self._flush()
                if self._parquet is None and self.format == "parquet":  # no row: an empty table
                    import pyarrow as pa
                    import pyarrow.parquet as pq

                    pq.write_table(pa.table({}), self._tmp)
        except BaseException as error:
            self._close_handles()
            self._context.__exit__(type(error), error, error.__traceback__)  # drops the temporary file
            raise
        self._close_handles()
        if failed:
            error = RuntimeError("the rows were not all written")
            self._context.__exit__(RuntimeError, error, None)
        else:
            self._context.__exit__(None, None, None)

    def _close_handles(self) -> None:
        for handle in (self._parquet, self._file):
            if handle is not None:
                handle.close()
        self._parquet = self._file = None


JUDGMENT_COLUMNS = (
    "item_id",
    "judge",
    "protocol",
    "status",
    "kind",
    "method",
    "score",
    "preference",
    "p_a",
    "p_b",
    "p_tie",
    "confidence",
    "orders_agree",
    "label",
    "raw",
    "error",
    "latency_s",
    "cached",
    "metadata",
    "verdict",
)
"""The columns of a judgments Parquet file; ``metadata`` and ``verdict`` are JSON strings."""


def _judgment_row(judgment: Judgment) -> dict[str, Any]:
    v = judgment.verdict
    return {
        "item_id": judgment.item_id,
        "judge": judgment.judge,
        "protocol": judgment.protocol,
        "status": v.status,
        "kind": v.kind,
        "method": v.method,
        "score": v.score,
        "preference": v.preference,
        "p_a": v.p_a,
        "p_b": v.p_b,
        "p_tie": v.p_tie,
        "confidence": v.confidence,
        "orders_agree": v.orders_agree,
        "label": judgment.label,
        "raw": v.raw,
        "error": v.error,
        "latency_s": judgment.latency_s,
        "cached": judgment.cached,
        "metadata": json.dumps(judgment.metadata, ensure_ascii=False, default=str),
        "verdict": v.model_dump_json(),
        **_dimension_columns(v),
    }


def _dimension_columns(v: Any) -> dict[str, Any]:
    """One score and one top-label column per rubric dimension (``score_<name>``, ``top_<name>``)."""
    columns: dict[str, Any] = {}
    for name, part in v.dimensions.items():
        columns[f"score_{name}"] = part.score
        columns[f"top_{name}"] = part.top_label
    return columns


def _output_format(path: str | os.PathLike[str]) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix == ".parquet":
        return "parquet"
    raise JuristInputError(f"{path}: cannot write judgments as {suffix or '(no extension)'!r}; use .jsonl or .parquet")


def write_judgments(path: str | os.PathLike[str], judgments: Iterable[Judgment]) -> int:
    """Write judgments as JSONL (full nested records) or flat Parquet rows; return the count."""
    if _output_format(path) == "jsonl":
        return write_jsonl(path, judgments)
    return write_parquet(path, (_judgment_row(j) for j in judgments))


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a JSONL file written by :func:`write_jsonl` (blank lines are skipped)."""
    with Path(path).open(encoding="utf-8-sig") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_parquet(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a Parquet file as a list of dicts."""
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    return rows


def _judgment_from_row(row: Mapping[str, Any]) -> Judgment:
    verdict = json.loads(row["verdict"])
    label = row.get("label")
    if isinstance(label, str) and verdict.get("kind") == "score":
        # a file mixing score and compare judgments stores labels as text
        try:
            label = float(label)
        except ValueError:
            pass
    return Judgment(
        item_id=row["item_id"],
        protocol=row["protocol"],
        judge=row["judge"],
        verdict=verdict,
        label=label,
        latency_s=row.get("latency_s") or 0.0,
        cached=bool(row.get("cached")),
        metadata=json.loads(row["metadata"]) if row.get("metadata") else {},
    )


def read_judgments(path: str | os.PathLike[str]) -> list[Judgment]:
    """Read judgments written by :func:`write_judgments` (JSONL or Parquet)."""
    if _output_format(path) == "jsonl":
        return [Judgment.model_validate(r) for r in read_jsonl(path)]
    return [_judgment_from_row(r) for r in read_parquet(path)]
