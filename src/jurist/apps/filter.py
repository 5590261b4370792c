"""Judges at work on files: ``jurist filter`` keeps the rows a judge passes, ``jurist annotate`` labels them.

Both run the plan over the file with the one runner, streamed (``run(..., stream=True)``: rows read one at
a time, judgments kept in the store, so memory stays flat and a rerun with ``resume`` judges only what is
missing), then read the file again beside the store's judgments and write their outputs row by row.

A keep rule is a small expression over the verdict, parsed with :mod:`ast` and interpreted here (never
evaluated as Python): comparisons of ``score``, ``confidence``, ``label_mass``, ``p_a``, ``p_b``, ``p_tie``
or ``P(LABEL)`` (the probability of one answer label: ``P(5)``, ``P("pass")``, ``P(A)``) with numbers,
combined with ``and``, ``or``, ``not`` and parentheses: ``score >= 4``, ``P(5) > 0.5 and confidence >= 0.8``.
"""

from __future__ import annotations

import ast
import heapq
import math
import operator
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jurist.backends.base import Backend
from jurist.engine.executor import show_progress
from jurist.engine.runner import rows_of, run
from jurist.engine.store import Store
from jurist.io import JuristInputError, Row, RowWriter
from jurist.plan import Plan, PlanError
from jurist.types import Judgment, Verdict

__all__ = ["FilterReport", "KeepError", "KeepRule", "annotate_file", "filter_file",
           "verdict_columns"]

# the verdict values a rule may name, per verdict kind
NAMES: dict[str, tuple[str, ...]] = {"score": ("score", "confidence", "label_mass"),
                                     "compare": ("p_a", "p_b", "p_tie", "confidence", "label_mass")}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Lt: operator.lt, ast.LtE: operator.le, ast.Eq: operator.eq,
    ast.NotEq: operator.ne}


class KeepError(ValueError):
    """A keep rule (or ``by`` value) that cannot be read; the message shows where."""


def _label_of(node: ast.expr, text: str) -> str:
    """The label inside ``P(...)``: a number, a name or a string."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str)) and not isinstance(node.value, bool):
        value = node.value
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    if isinstance(node, ast.Name):
        return node.id
    raise KeepError(f"{text!r}: P(...) takes one answer label, e.g. P(5), P(A) or P(\"pass\"); "
                    f"got {ast.get_source_segment(text, node)!r}")


def _source(text: str) -> str:
    """The rule as Python reads it (``&&`` and ``||`` are accepted for ``and`` and ``or``)."""
    return text.strip().replace("&&", " and ").replace("||", " or ")


@dataclass(frozen=True)
class KeepRule:
    """A parsed keep rule (or, with :meth:`value`, one value to rank by). Calling it on a verdict says
    whether the verdict passes; a value the verdict lacks makes its comparison false."""

    text: str
    kind: str
    tree: ast.expr

    @classmethod
    def parse(cls, text: str, kind: str = "score") -> KeepRule:
        """A rule over verdicts of ``kind`` (score or compare); :class:`KeepError` says what is wrong."""
        return cls._made(text, kind, boolean=True)

    @classmethod
    def value(cls, text: str, kind: str = "score") -> KeepRule:
        """One value of the verdict (``score``, ``confidence``, ``P(5)``...), e.g. what top-k ranks by."""
        return cls._made(text, kind, boolean=False)

    @classmethod
    def _made(cls, text: str, kind: str, boolean: bool) -> KeepRule:
        source = _source(text)
        if not source:
            raise KeepError("the rule is empty; e.g. 'score >= 4'")
        try:
            tree = ast.parse(source, mode="eval").body
        except SyntaxError as error:
            pointer = f" at character {error.offset}" if error.offset else ""
            raise KeepError(f"{text!r}: not a rule{pointer} ({error.msg}); e.g. 'score >= 4 and confidence > 0.8'") from None
        rule = cls(text, kind, tree)
        rule._check(tree, boolean)
        return rule

    def _fail(self, node: ast.AST, why: str) -> KeepError:
        segment = ast.get_source_segment(_source(self.text), node)
        return KeepError(f"{self.text!r}: {why}: {segment!r}")

    def _check(self, node: ast.AST, boolean: bool) -> None:
        names = NAMES.get(self.kind, NAMES["score"])
        if boolean:
            if isinstance(node, ast.BoolOp):
                for value in node.values:
                    self._check(value, True)
                return
            if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
                self._check(node.operand, True)
                return
            if isinstance(node, ast.Compare):
                if not all(type(op) in _COMPARE for op in node.ops):
                    raise self._fail(node, "compare with >, >=, <, <=, == or !=")
                for part in (node.left, *node.comparators):
                    self._check(part, False)
                return
            raise self._fail(node, "expected a comparison such as score >= 4 (joined with and, or, not)")
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
            self._check(node.operand, False)
            return
        if isinstance(node, ast.Name):
            if node.id not in names:
                raise self._fail(node, f"unknown name; a {self.kind} verdict has {', '.join(names)} and P(LABEL)")
            return
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("P", "p"):
            if len(node.args) != 1 or node.keywords:
                raise self._fail(node, "P(...) takes one answer label")
            _label_of(node.args[0], self.text)
            return
        raise self._fail(node, "expected a number, a verdict value or P(LABEL)")

    def __call__(self, verdict: Verdict) -> bool:
        return bool(self._eval(self.tree, verdict))

    def of(self, verdict: Verdict) -> float | None:
        """The value (of a rule made with :meth:`value`) on a verdict; None when the verdict lacks it."""
        return self._eval(self.tree, verdict)  # type: ignore[no-any-return]

    def _eval(self, node: ast.AST, verdict: Verdict) -> Any:
        if isinstance(node, ast.BoolOp):
            results = (self._eval(value, verdict) for value in node.values)
            return all(results) if isinstance(node.op, ast.And) else any(results)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return not self._eval(node.operand, verdict)
        if isinstance(node, ast.UnaryOp):  # a negative number
            return -self._eval(node.operand, verdict)
        if isinstance(node, ast.Compare):
            left = self._eval(node.left, verdict)
            for op, right_node in zip(node.ops, node.comparators, strict=True):
                right = self._eval(right_node, verdict)
                if left is None or right is None or not _COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return getattr(verdict, node.id)
        assert isinstance(node, ast.Call)
        return label_probability(verdict, _label_of(node.args[0], self.text))


def label_probability(verdict: Verdict, label: str) -> float:
    """P(label) of a verdict: a score label's probability, or A's, B's or the tie's for a comparison."""
    if verdict.kind == "compare":
        value = {"a": verdict.p_a, "b": verdict.p_b, "tie": verdict.p_tie}.get(label.lower())
        return 0.0 if value is None else value
    distribution = {str(k).lower(): v for k, v in verdict.distribution.items()}
    return distribution.get(label.lower(), 0.0)


def verdict_columns(verdict: Verdict | None, kind: str) -> dict[str, Any]:
    """The verdict fields added to each written row, always the same columns for a kind (None when absent)."""
    v = verdict or Verdict(status="failed", kind=kind)  # type: ignore[arg-type]
    scored = verdict is not None and verdict.status == "scored"
    columns: dict[str, Any] = {"judge_status": None if verdict is None else verdict.status}
    if kind == "compare":
        columns |= {"judge_preference": v.preference, "judge_p_a": v.p_a, "judge_p_b": v.p_b, "judge_p_tie": v.p_tie,
                    "judge_orders_agree": v.orders_agree}
    else:
        columns |= {"judge_score": v.score, "judge_label": v.top_label,
                    "judge_probabilities": dict(v.distribution) if scored else None}
    columns["judge_confidence"] = v.confidence
    columns["judge_rationale"] = v.rationale
    return columns


def _kind(plan: Plan) -> str:
    if plan.task not in ("score", "compare"):
        raise PlanError(f"filter and annotate read score or compare verdicts, not {plan.task}", ("task",))
    return plan.task


@dataclass
class FilterReport:
    """What a filter or an annotation did: its run, the rows kept (labelled), the rows rejected (left out) by
    reason, and the run's totals."""

    run_id: str
    kept: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    totals: dict[str, Any] = field(default_factory=dict)

    @property
    def read(self) -> int:
        return self.kept + sum(self.rejected.values())


def _judge_file(plan: Plan, data: str | Path, outputs: tuple[str | Path | None, ...],
                store: Store | str | Path | None, resume: str | None, command: str | None,
                backends: Mapping[str, Backend] | None) -> tuple[Store, FilterReport]:
    """Refuse outputs that cannot be written (before any judgment is paid for), then run the plan over the
    file, streamed, into the store."""
    for path in outputs:
        if path is not None:
            RowWriter(path).close(failed=True)
    the_store = store if isinstance(store, Store) else Store(store or plan.outputs.store or ":memory:")
    result = run(plan, data, store=the_store, resume=resume, command=command, backends=backends, stream=True)
    return the_store, FilterReport(result.run.id, totals=result.stats)


@contextmanager
def _kept_on_error(report: FilterReport) -> Iterator[None]:
    """An output that fails while being written says that the judgments are kept and how to reuse them."""
    try:
        yield
    except JuristInputError as error:
        raise JuristInputError(f"{error} (the judgments are kept in run {report.run_id}: rerun with `resume` "
                               f"{report.run_id} to write the outputs without judging again)") from None


@dataclass(order=True)
class _Ranked:
    value: float
    order: int  # -seq: among equal values the earlier row ranks higher
    row: dict[str, Any] = field(compare=False)
    line: int = field(compare=False)
    bucket: Any = field(compare=False)


def _judged(plan: Plan, data: str | Path, store: Store, run_id: str, progress: bool | None
            ) -> Iterator[tuple[Row, Judgment | None]]:
    """The file's rows again, each with its stored judgment (None for an input error or an item not judged)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from jurist.io import count_rows

    show = show_progress(progress)
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   disable=not show)
    task = bar.add_task("writing", total=count_rows(data) if show else None)
    with bar:
        for row in rows_of(plan, data):
            yield row, None if row.item is None else store.judgment(run_id, row.item.id)
            if show:
                bar.advance(task)


def _rejected_row(row: Row, reason: str, detail: str, kind: str, verdict: Verdict | None = None) -> dict[str, Any]:
    return {"line": row.line, "id": row.item.id if row.item else None, "reason": reason, "detail": detail,
            "field": row.error.field if row.error else None, **verdict_columns(verdict, kind), "row": row.record}


def _describe(verdict: Verdict, kind: str) -> str:
    names = NAMES[kind]
    values = [f"{name}={getattr(verdict, name):.3g}" for name in names if getattr(verdict, name) is not None]
    return ", ".join(values)


def filter_file(plan: Plan, data: str | Path, out: str | Path, *, keep: str | None = None, top: int | None = None,
                per: str | None = None, by: str | None = None, rejected: str | Path | None = None,
                store: Store | str | Path | None = None, resume: str | None = None, command: str | None = None,
                backends: Mapping[str, Backend] | None = None) -> FilterReport:
    """Judge every row of ``data`` with ``plan`` and write the rows that pass to ``out``.

    A row is kept when its verdict is scored, passes ``keep`` (a :class:`KeepRule`; all scored rows without
    one) and, with ``top``, ranks among the ``top`` best by ``by`` (default ``score``, ``p_a`` for a
    comparison) overall or, with ``per`` (a column of the input), within its value of that column. Kept rows
    are the input's own records plus :func:`verdict_columns`, in input order, in the format of ``out``'s
    extension (.jsonl, .csv, .parquet). Every other row goes to ``rejected`` (when given) with its line, its
    reason (``input error``, ``unscored``, ``failed``, ``below the bar``, ``outside the top``) and the
    details: the field of an input error, the raw text of an unscored answer, the verdict values.
    Everything is checked before the first judgment; ``resume`` continues a run of the same plan.
    """
    kind = _kind(plan)
    rule = KeepRule.parse(keep, kind) if keep else None
    if per and not top:
        raise KeepError("a quota per bucket (`per`) needs `top`: how many rows to keep per value")
    if top is not None and top < 1:
        raise KeepError(f"`top` must be at least 1, got {top}")
    rank = KeepRule.value(by or ("score" if kind == "score" else "p_a"), kind) if top else None
    the_store, report = _judge_file(plan, data, (out, rejected), store, resume, command, backends)
    heaps: dict[Any, list[_Ranked]] = {}
    with _kept_on_error(report), RowWriter(out) as kept, (RowWriter(rejected) if rejected else _Discard()) as dropped:
        def reject(row: Row, reason: str, detail: str, verdict: Verdict | None = None) -> None:
            report.rejected[reason] += 1
            dropped.write(_rejected_row(row, reason, detail, kind, verdict))

        for seq, (row, judgment) in enumerate(_judged(plan, data, the_store, report.run_id, plan.engine.progress)):
            if row.error is not None:
                reject(row, "input error", str(row.error))
                continue
            if judgment is None:
                reject(row, "not judged", f"no judgment in run {report.run_id} (interrupted? resume it)")
                continue
            verdict = judgment.verdict
            if verdict.status == "unscored":
                reject(row, "unscored", f"the judge's answer could not be read: {(verdict.raw or '')[:200]!r}", verdict)
                continue
            if verdict.status == "failed":
                reject(row, "failed", verdict.error or "no answer", verdict)
                continue
            if rule is not None and not rule(verdict):
                reject(row, "below the bar", f"{rule.text} is false ({_describe(verdict, kind)})", verdict)
                continue
            record = {**(row.record or {}), **verdict_columns(verdict, kind)}
            if rank is None:
                kept.write(record)
                report.kept += 1
                continue
            value = rank.of(verdict)
            bucket = (row.record or {}).get(per) if per else None
            entry = _Ranked(-math.inf if value is None else value, -seq, record, row.line, bucket)
            heap = heaps.setdefault(_bucket_key(bucket), [])
            if len(heap) < top:  # type: ignore[operator]
                heapq.heappush(heap, entry)
                continue
            out_of = heapq.heappushpop(heap, entry)
            where = f" of {per}={out_of.bucket!r}" if per else ""
            report.rejected["outside the top"] += 1
            dropped.write({"line": out_of.line, "id": None, "reason": "outside the top",
                           "detail": f"{rank.text}={out_of.value:.3g} is not among the top {top}{where}",
                           "field": None, **{k: v for k, v in out_of.row.items() if k.startswith("judge_")},
                           "row": {k: v for k, v in out_of.row.items() if not k.startswith("judge_")}})
        for entry in sorted((e for heap in heaps.values() for e in heap), key=lambda e: -e.order):
            kept.write(entry.row)
            report.kept += 1
    return report


def _bucket_key(value: Any) -> Any:
    try:
        hash(value)
        return value
    except TypeError:  # a list or dict in the column: bucket by its text
        return repr(value)


class _Discard:
    """A writer that writes nothing (no rejected file asked for)."""

    def __enter__(self) -> _Discard:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def write(self, row: Mapping[str, Any]) -> None:
        pass


def annotation(row: Row, verdict: Verdict, kind: str, rationale: bool) -> dict[str, Any]:
    """One training example: the item, the judge's label and its probabilities (and rationale when asked)."""
    item = row.item
    assert item is not None
    record: dict[str, Any] = {"id": item.id, "input": item.input}
    if kind == "compare":
        record |= {"response_a": item.candidates[0], "response_b": item.candidates[1], "label": verdict.preference,
                   "probabilities": {k: p for k, p in (("A", verdict.p_a), ("B", verdict.p_b), ("tie", verdict.p_tie))
                                     if p is not None}}
    else:
        record |= {"response": item.candidates[0], "label": verdict.top_label,
                   "probabilities": dict(verdict.distribution), "score": verdict.score}
    record["confidence"] = verdict.confidence
    if rationale:
        record["rationale"] = verdict.rationale
    if item.label is not None:
        record["human_label"] = item.label
    return record


def annotate_file(plan: Plan, data: str | Path, out: str | Path, *, rationale: bool = False,
                  rejected: str | Path | None = None, store: Store | str | Path | None = None,
                  resume: str | None = None, command: str | None = None,
                  backends: Mapping[str, Backend] | None = None) -> FilterReport:
    """Label every row of ``data`` with ``plan``'s judge and write training examples to ``out`` (.jsonl or
    .parquet): ``id``, ``input``, the response(s), ``label`` (the judge's most likely label, or its preference),
    ``probabilities`` (every label's), ``score`` (the expected score), ``confidence``, ``rationale`` (with
    ``rationale``: the plan is run with ``judge.explain``) and ``human_label`` when the input had one.
    A row the judge could not label (unscored, failed, an input error) is left out of ``out``, never given a
    made-up label; ``rejected`` lists each with its reason."""
    kind = _kind(plan)
    if Path(out).suffix.lower() not in (".jsonl", ".ndjson", ".parquet"):
        raise KeepError(f"{out}: annotations are written as .jsonl or .parquet")
    if rationale and not plan.judge.explain:
        plan = plan.with_values({"judge.explain": True})
    the_store, report = _judge_file(plan, data, (out, rejected), store, resume, command, backends)
    with _kept_on_error(report), RowWriter(out) as written, \
            (RowWriter(rejected) if rejected else _Discard()) as dropped:
        for row, judgment in _judged(plan, data, the_store, report.run_id, plan.engine.progress):
            verdict = judgment.verdict if judgment is not None else None
            if row.error is not None or verdict is None or verdict.status != "scored":
                reason = ("input error" if row.error is not None else "not judged" if verdict is None
                          else verdict.status)
                detail = (str(row.error) if row.error is not None else "no judgment in the run" if verdict is None
                          else verdict.error or f"the judge's answer could not be read: {(verdict.raw or '')[:200]!r}")
                report.rejected[reason] += 1
                dropped.write(_rejected_row(row, reason, detail, kind, verdict))
                continue
            written.write(annotation(row, verdict, kind, rationale))
            report.kept += 1
    return report
