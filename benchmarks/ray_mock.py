"""Pairwise judging on a local Ray instance against a loopback mock server, next to the local engine (no model).

    .venv/bin/python benchmarks/ray_mock.py --json benchmarks/results/ray_mock.json   # 3-5 min on 2 cores

Needs the ``ray`` extra (``pip install -e '.[ray]'``; ``make install`` has it through the test extra).
Everything stays on 127.0.0.1. One ``jurist.testing.AsyncMockOpenAIServer`` runs in this process and answers
every request after ``--latency`` (50 ms) with the same label distribution; each configuration runs in a
subprocess of its own (``engine.run_child``), so neither the Ray driver nor the local engine shares the
server's interpreter. ``--items`` synthetic pairs (``write_pairs``), each judged in both orders (two requests).

- **ray A x C, batch B**: ``ray.init(num_cpus=2)``, then ``run_on_ray(pairs.jsonl, PlanJudge(plan),
  task="compare", batch_size=B, actors=A, concurrency_per_actor=C)`` into a fresh output directory. Time is
  ``RayRunSummary.exec_s`` (the Ray Data execution, actor start-up included; ``ray.init`` is not), and
  ``judge_s`` (first output batch to last; the items of the first batch arrive before it starts). Ray CPU is the CPU time of every process the driver started
  (raylet, GCS, actors, Ray Data tasks; read from /proc, reaped children included) over the call.
- **local engine**: ``Engine(Judge(OpenAICompatibleBackend, PairwiseProtocol()), EngineConfig(concurrency=64))``
  in one process: its wall time and its CPU time.

"Ideal" items/s is what the concurrency allows if only the server's latency counted: in flight / (2 x latency).
The server's own counters give the requests and the most requests in flight at once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from engine import ROOT, Meter, machine, run_child, versions, write_json  # noqa: E402

CONFIGS = [(2, 32, 256), (2, 32, 32), (2, 64, 256)]  # actors, concurrency per actor, batch size


def answer(messages: list[dict[str, Any]]) -> dict[str, float]:
    return {"A": 0.7, "B": 0.3}


def write_pairs(path: Path, n: int) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for k in range(n):
            f.write(json.dumps({"id": f"p{k}", "input": f"Question {k}?", "response_a": f"first {k}",
                                "response_b": f"second {k}"}) + "\n")
    return path


def tree_cpu_s(root: int) -> float:
    """CPU seconds of every live process below ``root`` (not ``root`` itself), counting the children each has
    reaped (utime + stime + cutime + cstime)."""
    tick = os.sysconf("SC_CLK_TCK")
    parent, cpu = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(entry)] = int(fields[1])
        cpu[int(entry)] = sum(int(x) for x in fields[11:15]) / tick
    def below(pid: int) -> bool:
        while pid in parent and pid != root:
            pid = parent[pid]
        return pid == root
    return sum(c for pid, c in cpu.items() if pid != root and below(pid))


def child_ray(args: argparse.Namespace) -> dict[str, Any]:
    import ray

    from jurist import Plan
    from jurist.engine.distributed import PlanJudge, run_on_ray

    with tempfile.TemporaryDirectory(prefix="jurist-ray-bench-") as tmp:
        data = write_pairs(Path(tmp) / "pairs.jsonl", args.items)
        started = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
        init_s = time.perf_counter() - started
        plan = Plan.parse({"task": "compare", "judge": {"spec": args.base_url, "model": "m"}})
        cpu0, driver0 = tree_cpu_s(os.getpid()), time.process_time()
        summary = run_on_ray(data, PlanJudge(plan), task="compare", out_path=Path(tmp) / "out",
                             batch_size=args.batch, actors=args.actors, concurrency_per_actor=args.concurrency,
                             progress=False)
        ray_cpu, driver_cpu = tree_cpu_s(os.getpid()) - cpu0, time.process_time() - driver0
        ray.shutdown()
    return {"judged": summary.judged, "scored": summary.scored, "failed": summary.failed,
            "model_calls": summary.model_calls, "exec_s": summary.exec_s, "judge_s": summary.judge_s,
            "wall_s": summary.wall_s, "ray_init_s": init_s, "ray_cpu_s": ray_cpu, "driver_cpu_s": driver_cpu}


def child_local(args: argparse.Namespace) -> dict[str, Any]:
    from jurist import Engine, EngineConfig, Judge, OpenAICompatibleBackend, PairwiseProtocol
    from jurist.io import load_items

    with tempfile.TemporaryDirectory(prefix="jurist-ray-bench-") as tmp:
        items = load_items(write_pairs(Path(tmp) / "pairs.jsonl", args.items), "compare").items
        engine = Engine(Judge(OpenAICompatibleBackend("m", base_url=args.base_url), PairwiseProtocol()),
                        config=EngineConfig(concurrency=args.concurrency, progress=False))
        with Meter() as meter:
            result = engine.run(items)
    return {**meter.as_dict(), "judged": len(result.judgments), "scored": result.stats["scored"],
            "failed": result.stats["failed"], "model_calls": result.stats["model_calls"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=2000, help="pairs per configuration (default 2000)")
    parser.add_argument("--latency", type=float, default=0.05, help="server latency per request, s")
    parser.add_argument("--json", help="write every number here")
    parser.add_argument("--child", choices=["ray", "local"], help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--actors", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    if args.child:
        print(json.dumps({"ray": child_ray, "local": child_local}[args.child](args)), flush=True)
        return 0

    from jurist.testing import AsyncMockOpenAIServer

    me, py = str(Path(__file__).resolve()), sys.executable
    report: dict[str, Any] = {"command": " ".join([".venv/bin/python", "benchmarks/ray_mock.py", *sys.argv[1:]]),
                              "settings": {"items": args.items, "latency_s": args.latency},
                              "machine": machine(), "versions": versions(py), "rows": []}
    print(f"{args.items} pairs (two requests each), server latency {args.latency * 1000:.0f} ms; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores ({report['machine']['cpu']})")
    head = (f"{'run':24s} {'time s':>7s} {'first->last s':>13s} {'items/s':>8s} {'ideal':>6s} {'ratio':>6s} "
            f"{'CPU ms/item':>11s} {'max in flight':>13s} {'requests':>8s}")
    print(head + "\n" + "-" * len(head))
    runs = [(f"ray {a} x {c}, batch {b}", ["--child", "ray", "--actors", str(a), "--concurrency", str(c),
                                            "--batch", str(b)], a * c) for a, c, b in CONFIGS]
    runs.append(("local engine, 64", ["--child", "local", "--concurrency", "64"], 64))
    with AsyncMockOpenAIServer(answer, latency_s=args.latency) as server:
        for name, argv, in_flight in runs:
            server.max_in_flight = 0
            out = run_child(server, [py, me, *argv, "--items", str(args.items), "--base-url", server.base_url], 900)
            out["max_in_flight"] = server.max_in_flight
            row = {"name": name, "ideal_items_per_s": in_flight / (2 * args.latency), "result": out}
            report["rows"].append(row)
            if "error" in out:
                print(f"{name:24s} {out['error']}")
                continue
            time_s = out.get("exec_s", out.get("wall_s"))
            cpu_s = out["ray_cpu_s"] if "ray_cpu_s" in out else out["cpu_s"]
            out.update(items_per_s=out["judged"] / time_s, cpu_ms_per_item=cpu_s / max(1, out["judged"]) * 1e3)
            first_last = format(out["judge_s"], ".1f") if "judge_s" in out else "-"
            print(f"{name:24s} {time_s:7.1f} {first_last:>13s} {out['items_per_s']:8.0f} "
                  f"{row['ideal_items_per_s']:6.0f} {out['items_per_s'] / row['ideal_items_per_s']:6.2f} "
                  f"{out['cpu_ms_per_item']:11.2f} {out['max_in_flight']:13d} {out['requests']:8d}")
    print("time: Ray Data execution (actor start-up included, ray.init not) or the local run; first->last: from "
          "the first output batch to the last (RayRunSummary.judge_s); CPU: every Ray process (not the driver) or "
          "the local engine's process, per item")
    inits = [r["result"]["ray_init_s"] for r in report["rows"] if "ray_init_s" in r["result"]]
    if inits:
        print(f"ray.init took {min(inits):.1f} to {max(inits):.1f} s; load average now {os.getloadavg()[0]:.1f}")
    if args.json:
        write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
