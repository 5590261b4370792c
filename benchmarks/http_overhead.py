"""The mock servers' ceilings and the HTTP clients' CPU per request, on loopback (no model).

    .venv/bin/python benchmarks/http_overhead.py --json benchmarks/results/http_overhead.json   # ~1.5 min on 2 cores

Two measurements, each client in its own subprocess (``engine.run_child``), as in ``benchmarks/engine.py``:

1. **Servers**: how many requests a second each mock server answers at all. The raw HTTP client of
   ``benchmarks/engine.py`` (``child_raw``: keep-alive asyncio connections, a hand-written HTTP/1.1 exchange, no
   parsing) sends ``--server-n`` requests over ``--connections`` connections to the thread-per-connection
   ``jurist.testing.MockOpenAIServer`` (the tests' server) and to ``AsyncMockOpenAIServer`` (aiohttp, the
   benchmarks' server): first with no latency and no cap, then as ``benchmarks/engine.py`` runs them (``--latency``
   50 ms, at most 64 at once: at best 1,280 requests/s). Both sides share the machine's cores.
2. **Clients**: the CPU time per request of each way to send the judge's request (the same rendered pointwise
   request as ``benchmarks/engine.py``) to ``AsyncMockOpenAIServer`` (50 ms latency, at most 64 at once), 64 in
   flight with ``asyncio.gather`` and a semaphore: the ``openai`` client with its default httpx transport
   (``engine.child_plain``), the ``openai`` client with its aiohttp transport (``openai.DefaultAioHttpClient``,
   needs ``pip install 'openai[aiohttp]'``; the row says so when it is missing), jurist's
   ``OpenAICompatibleBackend.complete`` (aiohttp, the answer read as a dict), and the raw HTTP floor.

CPU time is the client process's (``time.process_time`` around the timed call), divided by its requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from engine import (ROOT, RUBRIC, Meter, answer, child_plain, child_raw, jurist_items,  # noqa: E402
                    machine, run_child, versions, write_json)


def child_backend(args: argparse.Namespace) -> dict[str, Any]:
    """jurist's HTTP path alone: ``OpenAICompatibleBackend.complete`` for each request, C at a time."""
    from jurist import OpenAICompatibleBackend, PointwiseProtocol

    protocol = PointwiseProtocol(RUBRIC, "1-5")
    requests = [protocol.render(item) for item in jurist_items(args.n)]
    backend = OpenAICompatibleBackend("mock-judge", base_url=args.base_url, timeout_s=120.0)
    done: list[int] = []

    async def main() -> None:
        slots = asyncio.Semaphore(args.concurrency)

        async def one(request: Any) -> None:
            async with slots:
                completion = await backend.complete(request)
            done.append(bool(completion.top_logprobs))

        await asyncio.gather(*(one(r) for r in requests))
        await backend.close_connections()

    with Meter() as meter:
        asyncio.run(main())
    return {**meter.as_dict(), "judgments": len(done), "scored": sum(done)}


def child_openai_aiohttp(args: argparse.Namespace) -> dict[str, Any]:
    """``engine.child_plain`` with the openai client's aiohttp transport."""
    try:
        import openai
        openai.DefaultAioHttpClient()
    except (ImportError, RuntimeError, AttributeError) as error:
        return {"error": f"openai's aiohttp transport is not installed (pip install 'openai[aiohttp]'): {error}"}
    args.openai_http_client = "aiohttp"
    return child_plain(args)


CHILDREN = {"raw": child_raw, "openai": child_plain, "openai-aiohttp": child_openai_aiohttp, "backend": child_backend}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-n", type=int, default=5000, help="requests per server (part 1)")
    parser.add_argument("--connections", type=int, default=64, help="raw client connections (part 1)")
    parser.add_argument("--client-n", type=int, default=3000, help="requests per client (part 2)")
    parser.add_argument("--latency", type=float, default=0.05, help="server latency (the second part of 1, and 2), s")
    parser.add_argument("--json", help="write every number here")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(ROOT / "src"))
        print(json.dumps(CHILDREN[args.child](args)), flush=True)
        return 0

    sys.path.insert(0, str(ROOT / "src"))
    from jurist.testing import AsyncMockOpenAIServer, MockOpenAIServer

    me, py = str(Path(__file__).resolve()), sys.executable
    report: dict[str, Any] = {"command": " ".join([".venv/bin/python", "benchmarks/http_overhead.py", *sys.argv[1:]]),
                              "machine": machine(), "versions": versions(py), "servers": {}, "clients": {}}
    print(f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores ({report['machine']['cpu']})")

    print(f"1. servers: {args.server_n} requests, raw HTTP client with {args.connections} connections")
    for latency in (0.0, args.latency):
        options = {"latency_s": latency, "max_concurrency": 64} if latency else {}
        setting = f"{latency * 1000:.0f} ms, at most 64 at once (ceiling {64 / latency:.0f}/s)" if latency else \
            "no latency, no cap"
        for name, cls in (("MockOpenAIServer (threads)", MockOpenAIServer),
                          ("AsyncMockOpenAIServer (aiohttp)", AsyncMockOpenAIServer)):
            with cls(answer, **options) as server:
                out = run_child(server, [py, me, "--child", "raw", "--n", str(args.server_n), "--base-url",
                                         server.base_url, "--concurrency", str(args.connections)], 600)
            if "error" in out:
                print(f"   {name:32s} {setting}: {out['error']}")
            else:
                out["requests_per_s"] = out["judgments"] / out["wall_s"]
                print(f"   {name:32s} {setting}: {out['requests_per_s']:5.0f} requests/s ({out['judgments']} "
                      f"answered in {out['wall_s']:.2f} s)")
            report["servers"][f"{name}, {setting}"] = out

    print(f"2. clients: {args.client_n} requests each, 64 in flight, AsyncMockOpenAIServer at "
          f"{args.latency * 1000:.0f} ms (at most 64 at once)")
    with AsyncMockOpenAIServer(answer, latency_s=args.latency, max_concurrency=64) as server:
        for name, child in (("openai (httpx transport)", "openai"), ("openai (aiohttp transport)", "openai-aiohttp"),
                            ("jurist OpenAICompatibleBackend (aiohttp)", "backend"),
                            ("raw HTTP floor (no client library)", "raw")):
            out = run_child(server, [py, me, "--child", child, "--n", str(args.client_n), "--base-url",
                                     server.base_url, "--concurrency", "64"], 600)
            if "error" in out:
                print(f"   {name:42s} {out['error']}")
            else:
                out["cpu_ms_per_request"] = out["cpu_s"] / max(1, out["requests"]) * 1e3
                print(f"   {name:42s} {out['cpu_ms_per_request']:5.2f} ms CPU per request ({out['requests']} "
                      f"requests, {out['cpu_s']:.2f} CPU s, {out['wall_s']:.2f} s wall)")
            report["clients"][name] = out
    print(f"load average now {os.getloadavg()[0]:.1f}")
    if args.json:
        write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
