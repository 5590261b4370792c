"""Crash and resume (issue 17, item 2): ``jurist compare`` in a subprocess is killed with SIGKILL at seeded points
(in the engine, during a store write, in the Ray runner) and resumed each time; the final store holds what an
uninterrupted run's holds: the same items in the same order, the same verdicts, one row per item, the run
finished. The judge is a loopback ``MockOpenAIServer`` in this process (no model).

The kill points: while judging, once the store (or Ray's output directory) holds a seeded number of
judgments, plus a seeded delay; inside a store write (``tests/crashing_jurist.py``: after the INSERT of the
Nth judgment, before its commit; or 0.5 ms into the Nth COMMIT); inside the Ray engine's Nth part-file write
(the temporary file written, not yet renamed). ``pytest -s`` prints each point and what the store held.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jurist.engine.store import Store
from jurist.testing import MockOpenAIServer
from tests.faults import answer, make_pairs

REPO = Path(__file__).resolve().parent.parent
N = 240
SEED = 17


def start(args: list[str], crash: str | None = None, ray_batch: int | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    env.pop("JURIST_CRASH", None)
    if crash:
        env["JURIST_CRASH"] = crash
    if ray_batch:
        env["JURIST_RAY_BATCH"] = str(ray_batch)
    return subprocess.Popen([sys.executable, str(REPO / "tests" / "crashing_jurist.py"), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def finish(process: subprocess.Popen[bytes], timeout: float = 240) -> tuple[int, str]:
    try:
        output, _ = process.communicate(timeout=timeout)
    finally:
        try:  # whatever it started (Ray's processes) goes with it: its own process group, started here
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return process.returncode, output.decode("utf-8", "replace")


def judged_count(store: Path, name: str) -> int:
    """Judgments the store holds for run ``name`` (read-only, as another process sees it)."""
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as db:
            row = db.execute("SELECT COUNT(*) FROM judgments JOIN runs ON runs.id = judgments.run_id "
                             "WHERE runs.name = ?", (name,)).fetchone()
        return row[0]
    except sqlite3.OperationalError:  # the tables are not there yet
        return 0


def kill_when(process: subprocess.Popen[bytes], done: callable, target: int, delay_s: float) -> None:
    """SIGKILL ``process`` once ``done()`` reaches ``target``, after ``delay_s`` more."""
    deadline = time.monotonic() + 180
    while done() < target and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(delay_s)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)


def compare_args(data: Path, server: MockOpenAIServer, store: Path, name: str) -> list[str]:
    return ["compare", str(data), "--judge", server.base_url, "--model", "m", "--store", str(store), "--name", name,
            "--concurrency", "4", "--set", "engine.progress=false"]


def rows_per_item(store: Path, run_id: str) -> dict[str, int]:
    with sqlite3.connect(store) as db:
        return dict(db.execute("SELECT item_id, COUNT(*) FROM judgments WHERE run_id = ? GROUP BY item_id",
                               (run_id,)).fetchall())


def assert_same_store(store: Path, name: str, whole: Path, ids: list[str]) -> None:
    """The crashed-and-resumed run holds what the uninterrupted one holds."""
    crashed, reference = Store(store, create=False), Store(whole, create=False)
    runs = [r for r in crashed.runs() if r.name == name]
    assert len(runs) == 1, "a resume made another run"
    run, good = runs[0], reference.find_run("whole")
    assert run.status == "finished"
    got, want = list(crashed.judgments(run.id)), list(reference.judgments(good.id))
    assert [j.item_id for j in got] == [j.item_id for j in want] == ids  # every item, in input order
    assert set(rows_per_item(store, run.id).values()) == {1}  # one row per item
    for mine, theirs in zip(got, want, strict=True):
        assert (mine.verdict, mine.label) == (theirs.verdict, theirs.label), mine.item_id
    assert {k: run.totals[k] for k in ("scored", "unscored", "failed")} == \
        {k: good.totals[k] for k in ("scored", "unscored", "failed")}


@pytest.mark.timeout(400)
def test_sigkill_in_the_engine_and_in_store_writes_then_resume_equals_an_uninterrupted_run(tmp_path):
    rng = random.Random(SEED)
    data = tmp_path / "pairs.jsonl"
    ids = make_pairs(data, N)
    whole, store = tmp_path / "whole.db", tmp_path / "crash.db"
    points = [("engine", rng.randint(10, 60)), ("put_judgment", rng.randint(3, 30)), ("engine", rng.randint(10, 40)),
              ("commit", rng.randint(2, 4)), ("engine", rng.randint(10, 40))]
    with MockOpenAIServer(answer, latency_s=0.01) as server:
        code, output = finish(start(compare_args(data, server, whole, "whole")))
        assert code == 0, output
        for k, (point, n) in enumerate(points):
            args = compare_args(data, server, store, "crash") + (["--resume", "crash"] if k else [])
            process = start(args, crash=None if point == "engine" else f"{point}:{n}")
            before = judged_count(store, "crash")
            if point == "engine":  # n more judgments in the store, then a moment
                kill_when(process, lambda: judged_count(store, "crash"), before + n, rng.uniform(0, 0.2))
            code, output = finish(process)
            after = judged_count(store, "crash")
            print(f"kill {k + 1}: {point} {n}: exit {code}, the store held {before}, then {after} of {N}")
            assert code == -signal.SIGKILL, f"{point} {n}: the run was not killed: {output[-2000:]}"
            assert after < N
        code, output = finish(start(compare_args(data, server, store, "crash") + ["--resume", "crash"]))
        assert code == 0, output
    assert_same_store(store, "crash", whole, ids)


@pytest.mark.ray
@pytest.mark.timeout(600)
def test_sigkill_in_the_ray_runner_then_run_again_equals_an_uninterrupted_run(tmp_path):
    """The Ray engine resumes from its output directory (the same command again): items already there are
    skipped; a killed part-file write leaves only a temporary file, which is not read."""
    import pyarrow.parquet as pq

    from jurist.engine.distributed import read_results

    rng = random.Random(SEED)
    data = tmp_path / "pairs.jsonl"
    ids = make_pairs(data, N)
    whole, store = tmp_path / "whole.db", tmp_path / "crash.db"
    out = tmp_path / "crash-out"

    def parquet_rows() -> int:
        return sum(pq.read_metadata(p).num_rows for p in out.glob("*.parquet"))

    def ray_args(target: Path, name: str, directory: Path) -> list[str]:
        return compare_args(data, server, target, name) + ["--engine", "ray", "--out", str(directory)]

    points = [("ray", rng.randint(20, 60)), ("ray_write", rng.randint(2, 3)), ("ray", rng.randint(20, 60))]
    with MockOpenAIServer(answer, latency_s=0.05) as server:  # batches of 20 items take ~0.5 s: time to kill
        code, output = finish(start(ray_args(whole, "whole", tmp_path / "whole-out")))
        assert code == 0, output
        for k, (point, n) in enumerate(points):
            process = start(ray_args(store, "crash", out), crash=None if point == "ray" else f"{point}:{n}",
                            ray_batch=20)
            before = parquet_rows()
            if point == "ray":  # n more rows in the output, then a moment
                kill_when(process, parquet_rows, before + n, rng.uniform(0, 0.3))
            code, output = finish(process)
            print(f"kill {k + 1}: {point} {n}: exit {code}, the output held {before}, then {parquet_rows()} rows "
                  f"of {N}")
            assert code == -signal.SIGKILL, f"{point} {n}: the run was not killed: {output[-2000:]}"
            assert parquet_rows() < N
        code, output = finish(start(ray_args(store, "crash", out), ray_batch=20))
        assert code == 0, output
    rows = [r for p in sorted(out.glob("*.parquet")) for r in pq.read_table(p, columns=["item_id"])
            .column("item_id").to_pylist()]
    assert sorted(rows) == sorted(ids)  # one Parquet row per item
    want = {j.item_id: j.verdict for j in read_results(tmp_path / "whole-out")}
    assert {j.item_id: j.verdict for j in read_results(out)} == want
    crashed = Store(store, create=False)
    runs = [r for r in crashed.runs() if r.name == "crash"]
    assert [r.status for r in runs] == ["finished"]  # a killed Ray run leaves nothing in the store
    assert {j.item_id: j.verdict for j in crashed.judgments(runs[0].id)} == want
    assert set(rows_per_item(store, runs[0].id).values()) == {1}


def test_an_interrupted_ray_run_says_to_run_the_same_command_again(tmp_path, capsys):
    """Ctrl-C or SIGTERM on the Ray engine said "interrupted before the run started" (its run reaches the store
    only at the end) although the part files written so far are kept and the same command resumes."""
    import typer

    from jurist.cli.planning import _interrupted
    from jurist.plan import Plan

    plan = Plan.parse({"task": "compare", "engine": {"engine": "ray"},
                       "outputs": {"out": str(tmp_path / "out"), "store": str(tmp_path / "r.db")}})
    with pytest.raises(typer.Exit) as stopped:
        _interrupted(plan, time.time())
    said = " ".join(capsys.readouterr().err.split())
    assert stopped.value.exit_code == 130
    assert str(tmp_path / "out") in said and "the same command again" in said and "before the run" not in said
