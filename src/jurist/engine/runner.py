"""The runner: the one entry that runs a plan, in this process or on Ray, for any judge.

``run(plan, data)`` checks the outputs (before any judgment is paid for), builds
the judge, reads the items, runs them with the engine (or Ray Data), applies a
calibrator, writes the verdicts and the report, and returns one RunResult. The
run, its plan and its judgments go to the store the same way whichever engine ran.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from jurist.backends.base import Backend, BackendError
from jurist.backends.specs import default_concurrency
from jurist.engine.executor import EngineConfig, RunResult, run_judge
from jurist.engine.store import Store
from jurist.judge import JudgeLike
from jurist.plan import ITEM_TASK, Plan, PlanError
from jurist.protocols.base import Protocol
from jurist.types import Completion, CompletionRequest, Item

if TYPE_CHECKING:
    from jurist.io import Row

Data = str | Path | Iterable[Item]


@dataclass
class Prepared:
    """Everything known before the first model call: the judge, the items, what could not be read."""

    plan: Plan
    judge: JudgeLike
    items: list[Item]
    input_errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_outputs(plan: Plan) -> None:
    """Refuse output paths that cannot be written, before any judgment is paid for."""
    targets = [("outputs.report", plan.outputs.report), ("outputs.store", plan.outputs.store)]
    if plan.engine.engine == "local":
        targets.insert(0, ("outputs.out", plan.outputs.out))
    for name, value in targets:
        if not value or value == ":memory:":
            continue
        path = Path(value)
        if path.is_dir():
            raise PlanError(f"`{name}` {value}: is a directory; give a file name", (name,))
        parent = path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise PlanError(f"`{name}` {value}: cannot create {parent}: {error.strerror}", (name,)) from error
        if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise PlanError(f"`{name}` {value}: not writable", (name,))


def load_data(plan: Plan, data: Data) -> tuple[list[Item], list[str]]:
    """The items of ``data`` (a file read as the plan's data settings say, or Items) and the unreadable rows."""
    if isinstance(data, (str, Path)):
        from jurist.io import load_items

        settings = plan.data
        loaded = load_items(data, ITEM_TASK[plan.task], fields=settings.fields or None,  # type: ignore[arg-type]
                            preset=settings.preset, label_map=settings.label_map or None, limit=settings.limit)
        return loaded.items, [str(error) for error in loaded.errors]
    items = list(data)
    return (items[: plan.data.limit] if plan.data.limit else items), []


def prepare(plan: Plan, data: Data, *, backends: Mapping[str, Backend] | None = None,
            protocol: Protocol | None = None, dry_run: bool = False) -> Prepared:
    """Check outputs, build the judge, read the items, and render a template on the first item.

    ``dry_run`` builds the judge on backends that only render (no model is loaded, none is called).
    """
    check_outputs(plan)
    judge = plan.build(_RenderOnly(plan.judge.vision) if dry_run else backends, protocol)
    items, errors = load_data(plan, data)
    check_backends_accept(judge, items[:1])
    return Prepared(plan, judge, items, errors, template_warnings(plan, judge.protocol, items[:1]))


def check_backends_accept(judge: JudgeLike, first: list[Item]) -> None:
    """A backend that answers only some requests (a probe: one protocol) is asked about the first item's
    request before the run, so a task or template it was not fitted for stops the run with its reason
    instead of failing every item."""
    for member in getattr(judge, "members", [judge]):
        refusal = getattr(getattr(member, "backend", None), "refusal", None)
        if refusal is None or not first:
            continue
        request, _ = member.render(first[0], 0)
        reason = refusal(request)
        if reason is not None:
            raise PlanError(reason, ("judge.spec",))


class _Unloaded(Backend):
    """A backend that renders and never answers: what a dry run judges with."""

    def __init__(self, spec: str, vision: bool):
        self.spec, self.vision = spec, vision

    async def complete(self, request: CompletionRequest) -> Completion:
        raise BackendError("a dry run calls no model")


class _RenderOnly(Mapping[str, Backend]):
    """Every judge spec (a jury's, a cascade's stages) maps to an unloaded backend."""

    def __init__(self, vision: bool):
        self.vision = vision

    def __getitem__(self, spec: str) -> Backend:
        return _Unloaded(spec, self.vision)

    def __contains__(self, spec: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 1  # truthy: "given backends" to whoever asks


def template_warnings(plan: Plan, protocol: Protocol, first: list[Item]) -> list[str]:
    """A user template rendered on the run's first item: errors stop the run, doubts become warnings."""
    if not plan.protocol.template or plan.task not in ("score", "compare"):
        return []
    from jurist.protocols.templating import check_template, load_template

    text, origin = load_template(plan.protocol.template, protocol.name)
    return check_template(text, origin, protocol, first[0] if first else None)


def first_requests(prepared: Prepared) -> list[tuple[str, CompletionRequest]]:
    """The exact requests of the first item (every view of every judge), for a dry run: no model call."""
    if not prepared.items:
        return []
    item = prepared.items[0]
    requests = []
    for judge in getattr(prepared.judge, "members", [prepared.judge]):  # a jury's or a cascade's judges
        for view in _views(judge.protocol, item):
            request, _ = judge.render(item, view)
            requests.append((f"{judge.spec} · view {view}", request))
    return requests


def _views(protocol: Protocol, item: Item) -> list[int]:
    questions_for = getattr(protocol, "questions_for", None)
    if questions_for is not None:  # a checklist: one view per question of this item
        return list(range(len(questions_for(item))))
    views = getattr(protocol, "views", (0,))
    if callable(views):  # listwise: the orders depend on the item's candidate count
        return list(views(len(item.candidates), None))
    return list(views)


def engine_config(plan: Plan, judge: JudgeLike) -> EngineConfig:
    engine = plan.engine
    specs = [member.spec for member in getattr(judge, "members", [judge])]
    return EngineConfig(concurrency=engine.concurrency or default_concurrency(specs), max_attempts=engine.max_attempts,
                        retry_delay_s=engine.retry_delay, requests_per_minute=engine.rpm,
                        tokens_per_minute=engine.tpm, progress=engine.progress,
                        prices={judge.spec: engine.price} if engine.price else {})


def input_identity(data: Data) -> dict[str, str] | None:
    """``{"path", "sha256"}`` of an input file (a directory: of its files' names and bytes); None for Items.

    Kept with the run, so that resuming it with another file is refused (see ``Engine.arun``).
    """
    if not isinstance(data, (str, Path)):
        return None
    path = Path(data)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(str(file.relative_to(path)).encode() if path.is_dir() else b"")
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return {"path": str(path), "sha256": digest.hexdigest()}


def run(plan: Plan, data: Data, *, store: Store | str | Path | None = None, resume: str | None = None,
        command: str | None = None, backends: Mapping[str, Backend] | None = None,
        protocol: Protocol | None = None, prepared: Prepared | None = None, stream: bool = False,
        resume_changed: bool = False) -> RunResult:
    """Run ``plan`` over ``data``; the verdicts and report go where the plan's outputs say.

    ``store`` (a Store or a path) overrides ``plan.outputs.store``; without either the
    run is kept in memory. ``backends`` maps judge specs to ready Backends, ``protocol``
    replaces the plan's protocol with a ready one (API objects that a file cannot hold).

    ``stream`` runs a file of any size in flat memory: rows are read one at a time, the
    judgments go to the store only (the result holds the totals, not the judgments), and
    ``resume`` asks the store item by item what is done. The plan may then have no
    ``outputs.out``, ``outputs.report`` or ``calibration`` (they need every judgment at
    once); ``jurist filter`` and ``jurist annotate`` read the store afterwards. With
    ``engine.engine`` ray the run is Ray's, as without ``stream``.

    ``resume`` continues a run over the same data; ``resume_changed`` allows other data
    (another input file, items with other content: those are judged again).
    """
    the_store = store if isinstance(store, Store) else Store(store or plan.outputs.store or ":memory:")
    if plan.engine.engine == "ray":
        return _run_on_ray(plan, data, the_store, command, backends, protocol)
    if stream:
        return _run_streamed(plan, data, the_store, resume, command, backends, protocol, resume_changed)
    prepared = prepared or prepare(plan, data, backends=backends, protocol=protocol)
    source = input_identity(data)
    result = run_judge(prepared.judge, prepared.items, store=the_store, config=engine_config(plan, prepared.judge),
                       name=plan.outputs.name, resume=resume, command=command, plan=plan.to_data(),
                       info={"input": source} if source else None, resume_changed=resume_changed)
    result.input_errors = prepared.input_errors
    if prepared.input_errors:  # a run over a file whose rows were mostly bad must say so in the store
        the_store.record_input_errors(result.run.id, prepared.input_errors)
    if plan.calibration:
        result = calibrate(result, plan.calibration, the_store)
    queue_unscored(the_store, result, prepared.items)
    write_outputs(plan, result, prepared.items, data, the_store)
    return result


def rows_of(plan: Plan, path: str | Path) -> Iterator[Row]:
    """The rows of a file one at a time, read as the plan's data settings say (ids kept on disk: flat memory)."""
    from jurist.io import iter_rows

    settings = plan.data
    return iter_rows(path, ITEM_TASK[plan.task], fields=settings.fields or None,  # type: ignore[arg-type]
                     preset=settings.preset, label_map=settings.label_map or None, limit=settings.limit, ids="disk")


class ItemStream:
    """The items of a file, read one at a time as the plan's data settings say (``jurist.io.iter_rows``,
    ids kept on disk); the rows that could not be read are counted, and the first ``keep`` reasons kept."""

    def __init__(self, plan: Plan, path: str | Path, keep: int = 20):
        self.plan, self.path, self.keep = plan, path, keep
        self.errors: list[str] = []
        self.error_count = 0

    def __iter__(self) -> Iterator[Item]:
        for row in rows_of(self.plan, self.path):
            if row.item is not None:
                yield row.item
            else:
                self.error_count += 1
                if len(self.errors) < self.keep:
                    self.errors.append(str(row.error))

    def total(self) -> int | None:
        """How many rows the file has, when that is cheap to know (JSONL, Parquet): for the progress bar."""
        from jurist.io import count_rows

        rows = count_rows(self.path)
        limit = self.plan.data.limit
        return min(rows, limit) if rows is not None and limit else rows


def _run_streamed(plan: Plan, data: Data, store: Store, resume: str | None, command: str | None,
                  backends: Mapping[str, Backend] | None, protocol: Protocol | None,
                  resume_changed: bool = False) -> RunResult:
    if not isinstance(data, (str, Path)):
        raise PlanError("a streamed run reads its items from a file, not from Items in memory")
    for name, value in (("outputs.out", plan.outputs.out), ("outputs.report", plan.outputs.report),
                        ("calibration", plan.calibration), ("judge.cascade", plan.judge.cascade)):
        if value:
            raise PlanError(f"`{name}` needs every judgment at once; a streamed run keeps them in the store only",
                            (name,))
    check_outputs(plan)
    judge = plan.build(backends, protocol)
    items = ItemStream(plan, data)
    from jurist.io import JuristInputError

    try:
        total = items.total()
    except (OSError, JuristInputError, ValueError):  # the reader itself says what is wrong with the file
        total = None
    result = run_judge(judge, items, store=store, config=engine_config(plan, judge), name=plan.outputs.name,
                       resume=resume, command=command, plan=plan.to_data(), keep=False, total=total,
                       info={"input": input_identity(data)}, resume_changed=resume_changed)
    result.input_errors = items.errors
    if items.error_count:
        store.record_input_errors(result.run.id, items.errors, count=items.error_count)
        result = result.model_copy(update={"run": store.find_run(result.run.id)})
    return result


def queue_unscored(store: Store, result: RunResult, items: list[Item]) -> int:
    """Put every item whose verdict is unscored (the judge answered, but no label could be read from it) into
    the store's review queue, for a person to decide in ``jurist review``; returns how many. Failed verdicts
    (a backend error) are not queued: running the plan again (``--resume``) retries them."""
    unscored = {j.item_id: j.verdict for j in result.judgments if j.verdict.status == "unscored"}
    for item in items:
        if item.id in unscored:
            store.enqueue_review(result.run.id, item, reason="unscored: " + (
                unscored[item.id].error or "no label could be read from the judge's answer"))
    return len(unscored)


def calibrate(result: RunResult, path: str, store: Store) -> RunResult:
    """Add ``metadata["calibrated_confidence"]`` to a run's verdicts, in the result and in the store."""
    from jurist.metrics.calibration import apply_calibration, load_calibrator

    calibrator = load_calibrator(path)
    judgments = apply_calibration(result.judgments, calibrator)
    for judgment in judgments:
        store.update_judgment(result.run.id, judgment)
    store.commit()
    return result.model_copy(update={"judgments": judgments})


def write_outputs(plan: Plan, result: RunResult, items: list[Item], data: Data, store: Store) -> None:
    """The verdicts (``outputs.out``; Ray writes its own directory) and the HTML report (``outputs.report``,
    with the judge card of an audit of this judge in ``store``, when there is one)."""
    from jurist.io import write_judgments

    if plan.outputs.out and plan.engine.engine == "local":
        write_judgments(plan.outputs.out, result.judgments)
    if plan.outputs.report:
        from jurist.audits.card import card_for_run
        from jurist.report import write_report

        source = f": {Path(data).name}" if isinstance(data, (str, Path)) else ""
        write_report(plan.outputs.report, title=f"jurist {plan.task}{source}", judgments=result.judgments,
                     items={item.id: item for item in items}, run=result.run, card=card_for_run(store, result.run))


def _run_on_ray(plan: Plan, data: Data, store: Store, command: str | None,
                backends: Mapping[str, Backend] | None, protocol: Protocol | None) -> RunResult:
    """The whole plan on Ray Data: each actor rebuilds the judge from the plan; the run goes to the store too."""
    from jurist.engine.distributed import PlanJudge, run_on_ray

    if backends or protocol is not None:
        raise PlanError("engine ray: every actor builds its judge from the plan, so ready backends or protocols "
                        "cannot be given", ("engine.engine",))
    if not isinstance(data, (str, Path)):
        raise PlanError("engine ray reads its items from a file or directory, not from Items in memory",
                        ("engine.engine",))
    check_outputs(plan)
    engine, settings = plan.engine, plan.data
    summary = run_on_ray(data, PlanJudge(plan), task=ITEM_TASK[plan.task], out_path=plan.outputs.out,  # type: ignore[arg-type]
                         fields=settings.fields or None, preset=settings.preset, label_map=settings.label_map or None,
                         limit=settings.limit, max_attempts=engine.max_attempts, retry_delay_s=engine.retry_delay,
                         requests_per_minute=engine.rpm,
                         tokens_per_minute=engine.tpm, ray_address=engine.ray_address, progress=engine.progress,
                         **({"concurrency_per_actor": engine.concurrency} if engine.concurrency else {}))
    result = summary.to_run_result(command)
    record = store.start_run(result.run.judge, name=plan.outputs.name, command=command,  # the id of the Parquet rows
                             info=result.run.info, plan=plan.to_data(), run_id=result.run.id)
    for seq, judgment in enumerate(result.judgments):
        store.put_judgment(record.id, seq, judgment)
    store.finish_run(record.id, "finished", result.stats)
    if result.input_errors:
        store.record_input_errors(record.id, result.input_errors)
    finished = store.find_run(record.id)
    result = result.model_copy(update={"run": finished})
    if plan.calibration:
        result = calibrate(result, plan.calibration, store)
    if plan.outputs.report:
        write_outputs(plan, result, load_data(plan, data)[0], data, store)
    return result
