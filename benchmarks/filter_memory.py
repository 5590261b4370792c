"""Memory of `jurist filter` on a large file: peak RSS at 10k, 100k and 1M rows, next to a plain json.loads loop.

    PYTHONPATH=src .venv/bin/python benchmarks/filter_memory.py [--sizes 10000,100000,1000000] [--json OUT]

One JSONL file of max(sizes) synthetic rows (``{"id", "input", "response", "lang"}``, ~110 bytes each) is
written to a temporary directory. For each size N, each of these runs in a fresh subprocess (so each has its
own peak RSS, read with ``resource.getrusage``), over the first N rows (a file of N rows):

- **jurist filter**: ``jurist.apps.filter.filter_file(Plan(task="score"), data, kept.jsonl, keep="score >= 4",
  rejected=rejected.jsonl, store=runs.db)`` with a scripted judge (no model: a dict lookup per request), so
  what is measured is the runner, the store and the reading and writing of rows, not a model.
- **jurist filter --top 100 --per lang**: the same with top-k per bucket (two buckets).
- **plain loop**: ``for line in f: json.loads(line)`` and a comparison: the least memory one can read the file
  in.
- **plain loop + imports**: the same loop after ``import jurist.apps.filter`` (pydantic, rich, jinja2, pyarrow
  ...): the fixed cost of the interpreter with jurist loaded. The ratio is jurist's peak RSS over this one's.
- **load_items (list)**: ``jurist.io.load_items`` (every Item in a list), what a non-streamed run holds; and the
  top-k filter: both up to ``--max-extra`` rows (default 100,000) to keep the run short.

Flat memory means the jurist column does not grow with N. Wall times are printed for what they tell about
per-row overhead (not asserted anywhere). ``--profile N`` instead runs the filter over N rows in this process
under cProfile and prints where the time per row goes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
mode, path, work = sys.argv[1], sys.argv[2], sys.argv[3]
started = time.perf_counter()
extra = {}
if mode.startswith("filter"):
    from jurist.apps.filter import filter_file
    from jurist.backends.scripted import ScriptedBackend
    from jurist.plan import Plan

    answers = {g: {str(g): 0.8, str(6 - g if g != 3 else 2): 0.2} for g in range(1, 6)}

    def judge(request):  # the grade written in the response, read in O(1)
        return answers[int(request.messages[-1].text.split("grade ")[1][0])]

    options = {"top": 100, "per": "lang"} if mode == "filter-top" else {}
    report = filter_file(Plan(task="score", engine={"progress": False}), path, f"{work}/kept.jsonl",
                         keep="score >= 4", rejected=f"{work}/rejected.jsonl", store=f"{work}/runs.db",
                         backends={"local": ScriptedBackend(judge, spec="local", record=False)}, **options)
    import os
    store = sum(os.path.getsize(f"{work}/runs.db{end}") for end in ("", "-wal") if os.path.exists(f"{work}/runs.db{end}"))
    extra = {"kept": report.kept, "rejected": sum(report.rejected.values()), "store_mb": store / 2**20}
elif mode.startswith("plain"):
    if mode == "plain-imports":
        import jurist.apps.filter  # noqa: F401
    kept = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            kept += json.loads(line)["response"].endswith("5")
    extra = {"kept": kept}
elif mode == "load_items":
    from jurist.io import load_items

    extra = {"items": len(load_items(path, "score").items)}
seconds = time.perf_counter() - started
print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "seconds": seconds,
                  **extra}))
"""


def write_rows(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"row-{i}", "input": f"Question number {i}: what is the answer?",
                                "response": f"answer grade {1 + i % 5}", "lang": "en" if i % 2 else "fr"}) + "\n")


def measure(mode: str, path: Path, work: Path) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    done = subprocess.run([sys.executable, "-c", CHILD, mode, str(path), str(work)], capture_output=True, text=True,
                          env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{mode} on {path} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def profile(n: int) -> None:
    """cProfile of one filter over n rows: the functions that take the most cumulative time, per row."""
    import cProfile
    import pstats

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from jurist.apps.filter import filter_file
    from jurist.backends.scripted import ScriptedBackend
    from jurist.plan import Plan

    answers = {g: {str(g): 0.8, str(6 - g if g != 3 else 2): 0.2} for g in range(1, 6)}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "rows.jsonl"
        write_rows(data, n)
        backend = ScriptedBackend(lambda r: answers[int(r.messages[-1].text.split("grade ")[1][0])], spec="local",
                                  record=False)
        profiler = cProfile.Profile()
        profiler.enable()
        filter_file(Plan(task="score", engine={"progress": False}), data, Path(tmp) / "kept.jsonl",
                    keep="score >= 4", rejected=Path(tmp) / "rejected.jsonl", store=Path(tmp) / "runs.db",
                    backends={"local": backend})
        profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    print(f"{n} rows: {total:.2f} s of CPU in the profiler, {total / n * 1e3:.3f} ms per row")
    wanted = {"_run_streamed": "judging pass (runner, engine, judge)", "_judged": "writing pass (read again + store)",
              "iter_rows": "reading rows (both passes)", "_build_item": "  of which: building Items",
              "render": "rendering prompts (Jinja2)", "complete": "backend middleware (cache, retries, limits)",
              "completion_key": "  of which: cache keys (JSON + sha256)", "read": "reading verdicts",
              "put_judgment": "storing judgments", "judgment": "reading judgments back"}
    rows = {}
    for (file, _, name), (_, _, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        if name in wanted and ("jurist" in file or name == "execute"):
            rows[name] = max(rows.get(name, 0.0), cumulative)
    for name, label in wanted.items():
        if name in rows:
            print(f"  {label:<48} {rows[name] / n * 1e3:6.3f} ms per row")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--modes", default="plain,plain-imports,load_items,filter,filter-top")
    parser.add_argument("--max-extra", type=int, default=100_000, help="largest N for load_items and filter-top")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--profile", type=int, help="profile the filter over this many rows instead")
    args = parser.parse_args()
    if args.profile:
        profile(args.profile)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    modes = args.modes.split(",")
    results: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for n in sizes:
            data = root / f"rows_{n}.jsonl"
            write_rows(data, n)
            for mode in modes:
                if mode in ("load_items", "filter-top") and n > args.max_extra:
                    continue
                started = time.time()
                row = {"rows": n, "mode": mode, **measure(mode, data, root / f"{mode}_{n}")}
                results.append(row)
                disk = f"  store on disk {row['store_mb']:.0f} MB" if "store_mb" in row else ""
                print(f"{n:>9} rows  {mode:<11} peak RSS {row['peak_rss_mb']:7.1f} MB  {row['seconds']:8.1f} s"
                      f"  (wall {time.time() - started:.0f} s){disk}", flush=True)
            data.unlink()
    print()
    print("| rows | plain json.loads loop | the same after importing jurist | load_items (a list) | jurist filter "
          "| jurist filter --top 100 --per lang | filter / plain with imports | filter time per row |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for n in sizes:
        by = {r["mode"]: r for r in results if r["rows"] == n}
        cell = lambda m: f"{by[m]['peak_rss_mb']:.0f} MB" if m in by else "-"  # noqa: E731
        ratio = (f"{by['filter']['peak_rss_mb'] / by['plain-imports']['peak_rss_mb']:.2f}"
                 if {"filter", "plain-imports"} <= set(by) else "-")
        per_row = f"{by['filter']['seconds'] / n * 1e3:.2f} ms" if "filter" in by else "-"
        print(f"| {n:,} | {cell('plain')} | {cell('plain-imports')} | {cell('load_items')} | {cell('filter')} | {cell('filter-top')} | {ratio} "
              f"| {per_row} |")
    if args.json:
        args.json.write_text(json.dumps({"python": sys.version, "results": results}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
