"""A burst of 1,000 concurrent requests on loopback to `jurist serve` and to `jurist review` (issue 17, item 6).

Each service is started as its command starts it (uvicorn, the default ``limit_concurrency``; serve with
its default ``max_pending``) in this process, and 1,000 requests are sent at once over 1,000 connections.
What must hold: every request gets an answer; the only errors are the intended 503s (a full queue, or
more connections than the limit), each with no work lost; the service is healthy afterwards, and what it
accepted is right (a verdict per 200, a stored label per accepted label). ``pytest -s`` prints the figures
recorded in docs/reliability.md. The time is printed, not asserted (a timing goal is a benchmark's); the
test is bounded by its count and by the pytest timeout.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

sys.path.insert(0, str(Path(__file__).parent))

from review_data import cascade_store  # noqa: E402

from jurist.apps.online import OnlineJudge  # noqa: E402
from jurist.apps.serve import create_app as serve_app  # noqa: E402
from jurist.apps.web import serving  # noqa: E402
from jurist.backends.scripted import ScriptedBackend  # noqa: E402
from jurist.plan import Plan  # noqa: E402
from jurist.report.review import create_app as review_app  # noqa: E402

pytestmark = pytest.mark.timeout(120)
BURST = 1000


async def _burst(base: str, requests: list[tuple[str, str, dict]]) -> tuple[list[int | str], list[float], float]:
    """Send every request at once (one connection each); statuses (or the exception's name) and latencies."""
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        async def one(method: str, path: str, options: dict) -> tuple[int | str, float]:
            start = time.perf_counter()
            try:
                answer = await client.request(method, path, **options)
                return answer.status_code, time.perf_counter() - start
            except httpx.HTTPError as error:  # a dropped connection would be a failure of the service
                return type(error).__name__, time.perf_counter() - start

        started = time.perf_counter()
        results = await asyncio.gather(*(one(*request) for request in requests))
        wall = time.perf_counter() - started
    return [status for status, _ in results], [latency for _, latency in results], wall


def _figures(name: str, statuses: list[int | str], latencies: list[float], wall: float) -> str:
    counts = Counter(statuses)
    ordered = sorted(latencies)
    return (f"{name}: {len(statuses)} requests in {wall:.2f} s; statuses "
            f"{dict(sorted(counts.items(), key=str))}; latency median {statistics.median(ordered) * 1000:.0f} ms, "
            f"p99 {ordered[int(0.99 * (len(ordered) - 1))] * 1000:.0f} ms")


def test_serve_holds_a_burst_of_1000_requests():
    online = OnlineJudge(Plan.parse({"task": "score", "judge": {"spec": "s"}, "engine": {"concurrency": 8}}),
                         backends={"s": ScriptedBackend(lambda r: {"5": 0.9, "1": 0.1}, spec="s", latency_s=0.001)})
    with serving(serve_app(online)) as base:
        requests = [("POST", "/v1/judge", {"json": {"id": str(k), "input": "q", "response": f"answer {k}"}})
                    for k in range(BURST)]
        statuses, latencies, wall = asyncio.run(_burst(base, requests))
        with httpx.Client(base_url=base) as client:
            health = client.get("/healthz").json()
            after = client.post("/v1/judge", json={"response": "one more"})
    print("\n" + _figures("serve /v1/judge", statuses, latencies, wall)
          + f"; served {health['requests']} in {health['batches']} batches, refused {health['refused']} (queue full)")
    counts = Counter(statuses)
    assert set(counts) <= {200, 503}, counts  # nothing dropped, nothing but the intended 503
    assert counts[200] >= 256  # at least a full queue's worth was judged
    assert health["status"] == "ok" and health["pending"] == 0
    assert health["requests"] == counts[200] and health["refused"] + counts[200] <= BURST
    assert after.status_code == 200 and after.json()["verdict"]["status"] == "scored"


def test_review_holds_a_burst_of_1000_requests(tmp_path):
    store, run = cascade_store(tmp_path / "runs.db")
    app = review_app(store)
    with serving(app) as base:
        with httpx.Client(base_url=base) as client:
            page = client.get("/").text
            csrf = page.split('name="csrf" value="')[1].split('"')[0]
        queued = [e.item_id for e in store.review_queue(run)]
        requests: list[tuple[str, str, dict]] = []
        for k in range(BURST):
            kind = k % 4
            if kind == 0:
                requests.append(("GET", "/", {}))
            elif kind == 1:
                requests.append(("GET", f"/item/{run}/{queued[k % len(queued)]}",
                                 {"headers": {"cookie": f"jurist_annotator=annotator-{k % 10}"}}))
            elif kind == 2:
                requests.append(("GET", "/agreement", {}))
            else:  # a label from one of ten annotators (a later label of the same item replaces theirs)
                requests.append(("POST", "/label", {
                    "data": {"run_id": run, "item_id": queued[k % len(queued)], "label": "A", "csrf": csrf},
                    "headers": {"cookie": f"jurist_annotator=annotator-{k % 10}"}}))
        statuses, latencies, wall = asyncio.run(_burst(base, requests))
        with httpx.Client(base_url=base, timeout=30) as client:
            after = client.get("/")
    print("\n" + _figures("review (GET /, /item, /agreement; POST /label)", statuses, latencies, wall))
    counts = Counter(statuses)
    assert set(counts) <= {200, 303, 503}, counts
    posted = [(status, options) for status, (method, _, options) in zip(statuses, requests, strict=True)
              if method == "POST"]
    assert {status for status, _ in posted} <= {303, 503}
    accepted = {(options["headers"]["cookie"].split("=")[1], options["data"]["item_id"])
                for status, options in posted if status == 303}
    # every accepted label is kept (one per annotator and item), none that was refused
    assert {(label.annotator, label.item_id) for label in store.review_labels(run)} == accepted
    assert after.status_code == 200
