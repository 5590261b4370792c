"""``jurist serve``: a judge and a gate over HTTP (FastAPI + uvicorn, the ``serve`` extra).

- ``POST /v1/judge``: the plan's verdict on one item (``response``, or ``candidates`` to compare/rank);
- ``POST /v1/gate``: accept / reject / escalate with the confidence and the reasons (score, check, correct plans);
- ``GET /healthz``: liveness and counters; ``/docs`` and ``/openapi.json``: the OpenAPI description.

Requests are pydantic models (unknown fields refused), so a malformed body is a 422 that
names the field; a body larger than ``max_body_bytes`` is a 413 before it is read whole.
Concurrent requests are batched: those that arrive while a batch runs form the next one,
which is one runner call (the engine runs its items concurrently); beyond ``max_pending``
waiting requests, or ``limit_concurrency`` connections, a request is a 503 at once. The
service binds 127.0.0.1 by default; bound to any other address it requires a bearer token.
The guards shared with ``jurist review`` are in :mod:`jurist.apps.web`.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from jurist.apps.gate import GATE_TASKS, GateDecision, check_bar, decide, default_min_score
from jurist.apps.online import OnlineJudge
from jurist.apps.web import (
    DEFAULT_HOST,
    DEFAULT_LIMIT_CONCURRENCY,
    BodyLimit,
    check_binding,
    is_loopback,
    same_secret,
    serving,
)
from jurist.types import Item, Judgment, Verdict

__all__ = ["Batcher", "Busy", "check_binding", "create_app", "is_loopback", "serve", "serving"]
DEFAULT_MAX_BODY = 1_000_000  # bytes: a prompt and responses, not a dataset
TEXT_LIMIT = 200_000  # characters per text field


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, max_length=200, description="echoed back; the service numbers requests itself")
    input: str = Field("", max_length=TEXT_LIMIT, description="the prompt or question")
    reference: str | None = Field(None, max_length=TEXT_LIMIT, description="a reference answer, if the plan uses one")


class JudgeRequest(_Request):
    """One item: ``response`` (score, check, correct) or ``candidates`` (compare: 2, rank: 2..26)."""

    response: str | None = Field(None, max_length=TEXT_LIMIT)
    candidates: list[str] | None = Field(None, min_length=1, max_length=26)

    @model_validator(mode="after")
    def _one_of(self) -> JudgeRequest:
        if (self.response is None) == (self.candidates is None):
            raise ValueError("give exactly one of `response` and `candidates`")
        return self

    def texts(self) -> list[str]:
        return [self.response] if self.response is not None else list(self.candidates or [])


class GateRequest(_Request):
    """One response to gate; ``min_score`` and ``confidence`` override the service's bar for this request."""

    response: str = Field(max_length=TEXT_LIMIT)
    min_score: float | None = None
    confidence: float | None = Field(None, ge=0.5, lt=1)


class JudgeResponse(BaseModel):
    id: str | None
    verdict: Verdict


class Health(BaseModel):
    status: str
    task: str
    judge: str
    requests: int
    batches: int
    pending: int = 0  # requests waiting or being judged now
    refused: int = 0  # requests answered 503 because ``max_pending`` were pending


class Busy(Exception):
    """The batcher holds ``max_pending`` items already: the request is refused (HTTP 503), not queued."""


class Batcher:
    """Judges items that arrive together in one call of ``judge_batch`` (run in a worker thread).

    One batch runs at a time; requests that arrive meanwhile wait and form the next batch
    (at most ``max_batch`` items), so a busy service makes few, large runner calls. At most
    ``max_pending`` items wait or run at once; beyond that :meth:`submit` raises :class:`Busy`
    at once, so a burst costs bounded memory and every client gets an answer.
    """

    def __init__(self, judge_batch: Callable[[list[Item]], Sequence[Judgment]], max_batch: int = 64,
                 max_pending: int = 256):
        self.judge_batch = judge_batch
        self.max_batch = max_batch
        self.max_pending = max_pending
        self.queue: asyncio.Queue[tuple[Item, asyncio.Future[Judgment]]] | None = None
        self.worker: asyncio.Task[None] | None = None
        self.batches = 0
        self.requests = 0
        self.pending = 0
        self.refused = 0

    async def start(self) -> None:
        self.queue = asyncio.Queue()
        self.worker = asyncio.create_task(self._work())

    async def stop(self) -> None:
        if self.worker is not None:
            self.worker.cancel()

    async def submit(self, item: Item) -> Judgment:
        assert self.queue is not None, "the batcher was not started"
        if self.pending >= self.max_pending:
            self.refused += 1
            raise Busy(f"{self.pending} requests are waiting or being judged (the limit is {self.max_pending})")
        future: asyncio.Future[Judgment] = asyncio.get_running_loop().create_future()
        self.requests += 1
        self.pending += 1
        try:
            await self.queue.put((item, future))
            return await future
        finally:
            self.pending -= 1

    async def _work(self) -> None:
        assert self.queue is not None
        while True:
            batch = [await self.queue.get()]
            while len(batch) < self.max_batch and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            self.batches += 1
            try:
                judgments = await asyncio.to_thread(self.judge_batch, [item for item, _ in batch])
            except Exception as error:  # the batch fails, the service does not
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), judgment in zip(batch, judgments, strict=True):
                if not future.done():  # a client that went away cancelled its future
                    future.set_result(judgment)


def create_app(online: OnlineJudge, *, min_score: float | None = None, confidence: float = 0.9,
               token: str | None = None, max_body_bytes: int = DEFAULT_MAX_BODY, max_batch: int = 64,
               max_pending: int = 256) -> FastAPI:
    """The service for a plan built once (``online``); ``token``: require ``Authorization: Bearer TOKEN``.

    ``max_pending`` bounds the requests waiting for or in a batch; more get a 503 with ``Retry-After``.
    """
    task = online.plan.task
    protocol = online.protocol
    gate_min = min_score if min_score is not None else default_min_score(protocol) if task in GATE_TASKS else None
    check_bar(confidence)  # a bad bar fails at start, not on the first request
    batcher = Batcher(online.judgments, max_batch=max_batch, max_pending=max_pending)
    numbers = itertools.count()

    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        await batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="jurist", summary="A calibrated, debiased judge and quality gate.", lifespan=lifespan)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)

    async def authorized(request: Request) -> None:
        if token is None:
            return
        given = request.headers.get("authorization", "")
        if not same_secret(given, f"Bearer {token}"):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    async def judged(body: _Request, texts: list[str]) -> Judgment:
        if task == "compare" and len(texts) != 2:
            raise HTTPException(422, f"this service compares two candidates (task compare); got {len(texts)}")
        if task == "rank" and len(texts) < 2:
            raise HTTPException(422, "this service ranks 2..26 candidates (task rank)")
        if task not in ("compare", "rank") and len(texts) != 1:
            raise HTTPException(422, f"this service judges one `response` (task {task})")
        # the service's own id: client ids may repeat, and the engine keys a run's items by id
        item = Item(id=f"r{next(numbers)}", input=body.input, candidates=texts, reference=body.reference)
        try:
            return await batcher.submit(item)
        except Busy as busy:
            raise HTTPException(503, f"the judge is busy: {busy}; retry later", headers={"Retry-After": "1"}) from None

    @app.get("/healthz", response_model=Health)
    async def healthz() -> Health:
        return Health(status="ok", task=task, judge=online.judge.spec, requests=batcher.requests,
                      batches=batcher.batches, pending=batcher.pending, refused=batcher.refused)

    @app.post("/v1/judge", response_model=JudgeResponse, dependencies=[Depends(authorized)])
    async def judge(body: JudgeRequest) -> JudgeResponse:
        """The plan's verdict on one item: a score, a preference, or a ranking, with its distribution."""
        judgment = await judged(body, body.texts())
        return JudgeResponse(id=body.id, verdict=judgment.verdict)

    @app.post("/v1/gate", response_model=GateDecision, dependencies=[Depends(authorized)])
    async def gate(body: GateRequest) -> GateDecision:
        """Accept, reject or escalate one response; a failed or unread verdict is escalated, never accepted."""
        if task not in GATE_TASKS:
            raise HTTPException(409, f"this service's plan is task {task}: a gate needs task "
                                     f"{', '.join(GATE_TASKS)}")
        judgment = await judged(body, [body.response])
        try:
            decision = decide(judgment.verdict, protocol, min_score=body.min_score if body.min_score is not None
                              else gate_min, confidence=body.confidence or confidence)
        except ValueError as error:
            raise HTTPException(422, str(error)) from None
        return decision.model_copy(update={"item_id": body.id or judgment.item_id})

    return app


def serve(online: OnlineJudge, *, host: str = DEFAULT_HOST, port: int = 8000, token: str | None = None,
          **options: Any) -> None:
    """Run the service with uvicorn until interrupted."""
    import uvicorn

    check_binding(host, token)
    app = create_app(online, token=token, **options)
    uvicorn.run(app, host=host, port=port, log_level="info", limit_concurrency=DEFAULT_LIMIT_CONCURRENCY)
