"""The gate service's latency and throughput over loopback, against the in-process API, as ratios.

    .venv/bin/python benchmarks/gate_service.py                  # ~1 min; no model (a scripted judge)
    .venv/bin/python benchmarks/gate_service.py --latency-ms 20  # a judge that takes 20 ms per request

The judge is scripted (jurist.backends.scripted, ``--latency-ms`` per request, default 0), so this
measures jurist (plan, runner, store, FastAPI, uvicorn, JSON), not a model. Every request gates a
distinct response (no cache hit). Side by side in one run:

- in-process, one call at a time: ``Gate(...)(response)`` (one runner call per response);
- in-process, one batch: ``Gate.check(items)`` (one runner call for all);
- HTTP, one client, one request at a time: ``POST /v1/gate`` on 127.0.0.1;
- HTTP, ``--clients`` concurrent clients: the service batches what arrives together.

Printed: median and p95 latency, requests/s, and the ratios HTTP / in-process.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import httpx  # noqa: E402

from jurist.apps.gate import Gate  # noqa: E402
from jurist.apps.serve import create_app, serving  # noqa: E402
from jurist.backends.scripted import ScriptedBackend  # noqa: E402
from jurist.plan import Plan  # noqa: E402
from jurist.types import Item  # noqa: E402


def judge_script(request):
    return {"5": 0.9, "4": 0.05, "1": 0.05}


def summary(latencies: list[float], wall: float) -> dict[str, float]:
    ordered = sorted(latencies)
    return {"p50_ms": 1000 * statistics.median(ordered), "p95_ms": 1000 * ordered[int(0.95 * (len(ordered) - 1))],
            "rps": len(ordered) / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    n = args.requests
    backend = ScriptedBackend(judge_script, spec="s", latency_s=args.latency_ms / 1000)
    plan = Plan.parse({"task": "score", "judge": {"spec": "s"}, "engine": {"concurrency": 32}})
    gate = Gate(plan, backends={"s": backend}, min_score=4)
    gate("warm-up")
    rows: dict[str, dict[str, float]] = {}

    latencies = []
    started = time.perf_counter()
    for k in range(n):
        t0 = time.perf_counter()
        gate(f"in-process answer {k}", "q")
        latencies.append(time.perf_counter() - t0)
    rows["in-process, one at a time"] = summary(latencies, time.perf_counter() - started)

    items = [Item(id=f"b{k}", input="q", candidates=[f"batched answer {k}"]) for k in range(n)]
    started = time.perf_counter()
    gate.check(items)
    wall = time.perf_counter() - started
    rows["in-process, one batch"] = {"p50_ms": float("nan"), "p95_ms": float("nan"), "rps": n / wall}

    service = Gate(plan, backends={"s": backend}, min_score=4).online
    with serving(create_app(service, min_score=4)) as url, httpx.Client(base_url=url, timeout=60) as client:
        client.post("/v1/gate", json={"response": "warm-up"}).raise_for_status()
        latencies = []
        started = time.perf_counter()
        for k in range(n):
            t0 = time.perf_counter()
            client.post("/v1/gate", json={"input": "q", "response": f"http answer {k}"}).raise_for_status()
            latencies.append(time.perf_counter() - t0)
        rows["HTTP, one client"] = summary(latencies, time.perf_counter() - started)

        def one(k: int) -> float:
            t0 = time.perf_counter()
            client.post("/v1/gate", json={"input": "q", "response": f"concurrent answer {k}"}).raise_for_status()
            return time.perf_counter() - t0

        before = client.get("/healthz").json()["batches"]
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
            latencies = list(pool.map(one, range(n)))
        rows[f"HTTP, {args.clients} clients"] = summary(latencies, time.perf_counter() - started)
        batches = client.get("/healthz").json()["batches"] - before

    print(f"gate service on 127.0.0.1, scripted judge ({args.latency_ms:g} ms per request), {n} requests each")
    print(f"{'':28s} {'p50 ms':>8s} {'p95 ms':>8s} {'req/s':>8s}")
    for name, row in rows.items():
        print(f"{name:28s} {row['p50_ms']:8.2f} {row['p95_ms']:8.2f} {row['rps']:8.1f}")
    inproc, http = rows["in-process, one at a time"], rows["HTTP, one client"]
    concurrent_row = rows[f"HTTP, {args.clients} clients"]
    print(f"HTTP {args.clients} clients: {n} requests in {batches} batches ({n / max(batches, 1):.1f} per batch)")
    print(f"ratio latency HTTP / in-process (one at a time): {http['p50_ms'] / inproc['p50_ms']:.2f}")
    print(f"ratio throughput HTTP {args.clients} clients / in-process one at a time: "
          f"{concurrent_row['rps'] / inproc['rps']:.2f}")
    print(f"ratio throughput HTTP {args.clients} clients / in-process one batch: "
          f"{concurrent_row['rps'] / rows['in-process, one batch']['rps']:.2f}")


if __name__ == "__main__":
    main()
