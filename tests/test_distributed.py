"""Distributed runs on Ray Data (jurist.engine.distributed) against a loopback OpenAI-compatible server.

The Ray tests start one local Ray instance (``ray.init(num_cpus=2)``) for the module and shut it down
at the end; they need the ``ray`` extra. The import and row-mapping tests need no Ray.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from jurist import Engine, EngineConfig, Judge, OpenAICompatibleBackend, PairwiseProtocol, Swap
from jurist.engine.distributed import PlanJudge, _RowMapper, item_key, read_results
from jurist.plan import Plan
from jurist.io import load_items
from jurist.testing import MockOpenAIServer

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
EXAMPLES = REPO / "examples" / "data"


def answer(messages: list[dict]) -> dict[str, float]:
    """Deterministic and content-dependent: P(first label) from a hash of the prompt."""
    digest = int(hashlib.sha256(messages[-1]["content"].encode("utf-8")).hexdigest()[:8], 16)
    p = 0.05 + 0.9 * (digest % 1000) / 1000
    if "Reply with only the score" in messages[-1]["content"]:
        top = str(digest % 5 + 1)
        return {label: (0.6 if label == top else 0.1) for label in "12345"}
    return {"A": p, "B": 1 - p}


def write_pairs(path: Path, n: int) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for k in range(n):
            f.write(json.dumps({"id": f"p{k}", "input": f"Question {k}?", "response_a": f"first answer {k}",
                                "response_b": f"second answer {k}", "label": "A" if k % 3 else "B"}) + "\n")
    return path


# -- no Ray needed ------------------------------------------------------------------------


def test_core_does_not_import_ray() -> None:
    code = "import jurist, jurist.cli, jurist.engine.distributed, sys; assert 'ray' not in sys.modules, 'ray imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(("path", "task", "preset"), [
    (EXAMPLES / "mt_bench_pairs.jsonl", "compare", None),
    (DATA / "hhh_alignment.jsonl", "compare", "hhh"),
    (DATA / "summeval.jsonl", "score", "summeval"),
])
def test_row_mapper_matches_io(path: Path, task: str, preset: str | None) -> None:
    """A JSONL line mapped by the actors' adapter gives the Item jurist.io gives (and the same key)."""
    mapper = _RowMapper(task, None, preset, None, str(path), lines=True)  # type: ignore[arg-type]
    expected = load_items(path, task, preset=preset).items  # type: ignore[arg-type]
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    got = [mapper.item({"text": line}) for line in lines]
    assert len(got) == len(expected) > 0
    identity = {"judge": "x"}
    for item, want in zip(got, expected, strict=True):
        assert not isinstance(item, str), item
        assert item.model_dump(exclude={"source"}) == want.model_dump(exclude={"source"})
        assert item_key(identity, item) == item_key(identity, want)


def test_row_mapper_reports_bad_rows() -> None:
    path = DATA / "broken_pairs.jsonl"
    mapper = _RowMapper("compare", None, None, None, str(path), lines=True)
    results = {line[:20]: mapper.item({"text": line}) for line in path.read_text(encoding="utf-8").splitlines()}
    errors = [r for r in results.values() if isinstance(r, str) and r]
    assert any("invalid JSON" in e for e in errors)
    assert any("'p3'" in e and "response_b" in e for e in errors)
    assert any("field 'id': missing" in e for e in errors)  # no line-number fallback on Ray
    assert any("expected a JSON object" in e for e in errors)


def test_item_key_depends_on_judge_and_content() -> None:
    items = load_items(EXAMPLES / "mt_bench_pairs.jsonl", "compare").items
    a = Judge(OpenAICompatibleBackend("m", base_url="http://127.0.0.1:1/v1"), PairwiseProtocol()).identity
    b = Judge(OpenAICompatibleBackend("m", base_url="http://127.0.0.1:1/v1"), PairwiseProtocol(allow_tie=True)).identity
    assert item_key(a, items[0]) != item_key(b, items[0])
    assert item_key(a, items[0]) != item_key(a, items[1])
    relabelled = items[0].model_copy(update={"label": "B", "metadata": {"x": 1}})
    assert item_key(a, items[0]) == item_key(a, relabelled)


# -- on a local Ray instance --------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def server():
    with MockOpenAIServer(answer, latency_s=0.005) as mock:
        yield mock


@pytest.mark.ray
@pytest.mark.timeout(240)
def test_ray_matches_local_engine_and_is_idempotent(ray_local, server, tmp_path: Path) -> None:
    from jurist.engine.distributed import run_on_ray

    from jurist.io import read_jsonl, write_parquet

    data = tmp_path / "pairs.parquet"  # streamed with ray.data.read_parquet (the CLI test streams JSONL)
    write_parquet(data, read_jsonl(write_pairs(tmp_path / "pairs.jsonl", 200)))
    items = load_items(data, "compare").items

    local = Engine(Judge(OpenAICompatibleBackend("m", base_url=server.base_url), PairwiseProtocol(), Swap()),
                   config=EngineConfig(concurrency=16, progress=False)).run(items)
    assert local.stats["model_calls"] == 400
    expected = {j.item_id: j.verdict for j in local.judgments}

    spec = PlanJudge(Plan.parse({"task": "compare", "judge": {"spec": server.base_url, "model": "m"}}))
    out = tmp_path / "results"
    before = server.requests
    first = run_on_ray(data, spec, task="compare", out_path=out, batch_size=50, actors=2, concurrency_per_actor=16,
                       progress=False)
    assert server.requests - before == 400
    assert (first.judged, first.skipped, first.model_calls, first.scored) == (200, 0, 400, 200)
    assert not first.input_errors

    got = read_results(out)
    assert sorted(j.item_id for j in got) == sorted(expected)
    for judgment in got:
        assert judgment.verdict == expected[judgment.item_id], judgment.item_id
        assert judgment.label == items[int(judgment.item_id[1:])].label
    assert len({j.verdict.preference for j in got}) == 2  # the answers really depend on the item

    # The same run again: every row's key is already in the output, so no model call and nothing written.
    before = server.requests
    second = run_on_ray(data, spec, task="compare", out_path=out, batch_size=50, actors=2, progress=False)
    assert server.requests == before
    assert (second.judged, second.skipped, second.model_calls, second.files) == (0, 200, 0, [])
    ids = [j.item_id for j in read_results(out)]
    assert len(ids) == len(set(ids)) == 200

    # The output reads back as a RunResult with the same metrics the local engine reports.
    result = first.to_run_result()
    order = {item.id: n for n, item in enumerate(items)}
    result.judgments.sort(key=lambda j: order[j.item_id])  # the bootstrap CIs depend on the order
    assert result.summary().rows() == local.summary().rows()


@pytest.mark.ray
@pytest.mark.timeout(240)
def test_ray_cli_compare(ray_local, server, tmp_path: Path) -> None:
    """`jurist compare data.jsonl --judge URL --model m --engine ray --out DIR`: a bad row is reported,
    an item the server fails is kept as failed (and is judged again by the next run, see test_compact)."""
    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    from jurist.cli import app
    from jurist.testing import Failure

    data = write_pairs(tmp_path / "pairs.jsonl", 30)
    with data.open("a", encoding="utf-8") as f:
        f.write(json.dumps({"id": "bad", "input": "no second response", "response_a": "x"}) + "\n")
    out = tmp_path / "results"
    server.answer = lambda messages: Failure.bad_request() if "first answer 7\n" in messages[-1]["content"] \
        else answer(messages)
    try:
        before = server.requests
        result = CliRunner().invoke(app, ["compare", str(data), "--judge", server.base_url, "--model", "m",
                                          "--engine", "ray", "--out", str(out), "--concurrency", "8"])
    finally:
        server.answer = answer
    assert result.exit_code == 0, result.output
    assert "field 'response_b': missing" in result.output
    assert "judgments" in result.output and "30" in result.output
    assert server.requests - before == 60
    rows = [r for p in sorted(out.glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    assert len(rows) == len({r["item_id"] for r in rows}) == 30
    status = {r["item_id"]: r["status"] for r in rows}
    assert status.pop("p7") == "failed" and set(status.values()) == {"scored"}


@pytest.mark.ray
@pytest.mark.timeout(240)
def test_a_plan_runs_the_same_locally_and_on_ray(ray_local, tmp_path: Path) -> None:
    """One plan, both engines: a jury of two scripted judges with self-consistency samples gives the same
    verdicts in this process and on Ray actors (which rebuild the jury from the plan), and both runs are
    stored with their plan."""
    from jurist.engine import Store
    from jurist.engine.runner import run

    data = write_pairs(tmp_path / "pairs.jsonl", 12)
    fields = {"task": "compare", "judge": {"jury": ["scripted:jurist.testing:hashed_judge",
                                                    "scripted:jurist.testing:other_hashed_judge"],
                                           "samples": 3, "temperature": 0.9},
              "engine": {"progress": False}}
    store = Store(tmp_path / "runs.db")
    local = run(Plan.parse(fields), data, store=store)
    ray_plan = Plan.parse({**fields, "engine": {"engine": "ray", "progress": False},
                           "outputs": {"out": str(tmp_path / "ray")}})
    on_ray = run(ray_plan, data, store=store)
    assert len(local.judgments) == len(on_ray.judgments) == 12
    expected = {j.item_id: j.verdict for j in local.judgments}
    for judgment in on_ray.judgments:
        assert judgment.verdict == expected[judgment.item_id], judgment.item_id
        assert judgment.judge == local.judgments[0].judge
    assert {j.verdict.metadata["members"][1] for j in on_ray.judgments} == {"scripted:jurist.testing:other_hashed_judge"}
    assert all(len(j.verdict.parts) == 2 for j in on_ray.judgments)  # the jury ran on the actors
    assert [r.plan["engine"].get("engine", "local") for r in store.runs()] == ["local", "ray"]
    assert [j.verdict for j in store.judgments(on_ray.run.id)] == [j.verdict for j in on_ray.judgments]


def test_compact_keeps_newest_good_row(tmp_path: Path) -> None:
    """One row per item id in the output: a re-judged item's newer row replaces the older failed one,
    a newer failure never replaces a good row, and a file left with no rows is removed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from jurist.engine.distributed import _compact, _part_files

    def part(name: str, rows: list[tuple[str, str]]) -> None:
        pq.write_table(pa.Table.from_pylist([{"item_id": i, "key": f"{i}-{name}", "status": s} for i, s in rows]),
                       tmp_path / f"part-{name}.parquet")

    part("000001", [("a", "scored"), ("b", "failed"), ("c", "scored"), ("d", "failed")])
    part("000002", [("b", "scored"), ("c", "failed")])
    part("000003", [("d", "failed")])
    part("000004", [("c", "failed")])
    _compact(tmp_path)
    rows = {r["item_id"]: r for p in _part_files(tmp_path) for r in pq.read_table(p).to_pylist()}
    assert {i: (r["key"], r["status"]) for i, r in rows.items()} == {
        "a": ("a-000001", "scored"), "b": ("b-000002", "scored"), "c": ("c-000001", "scored"),
        "d": ("d-000003", "failed")}
    assert not (tmp_path / "part-000004.parquet").exists()


def test_actor_skips_done_rows_and_caches_completions(server, tmp_path: Path) -> None:
    """The map_batches callable itself, in-process (no Ray start-up): pointwise rows, skipping rows whose
    key is done, and a per-actor completion cache that a later actor reopens (same slot)."""
    pytest.importorskip("ray")
    import asyncio

    import pyarrow as pa

    from jurist.engine.distributed import SKIPPED, JudgeActor

    items = load_items(EXAMPLES / "summeval_sample.jsonl", "score").items
    batch = pa.Table.from_pylist([{"id": i.id, "input": i.input, "response": i.response, "label": i.label}
                                  for i in items])
    spec = PlanJudge(Plan.parse({"task": "score", "judge": {"spec": server.base_url, "model": "m"}}))
    identity = spec().identity
    mapper = {"task": "score", "fields": None, "preset": None, "label_map": None, "path": "answers.parquet"}

    def run(done: frozenset[str]) -> list[dict]:
        actor = JudgeActor(spec, "run", identity, [done], mapper, concurrency=8, cache_dir=str(tmp_path / "cache"))

        async def go() -> list[pa.Table]:
            return [table async for table in actor(batch)]

        tables = asyncio.run(go())
        actor._cache_slot.close()  # what the actor's exit does: the cache slot is free again
        return pa.concat_tables(tables).to_pylist()

    before = server.requests
    first = run(frozenset())
    assert server.requests - before == len(items) == len(first)
    assert all(r["status"] == "scored" and r["model_calls"] == 1 and r["score"] is not None for r in first)
    assert [r["label"] for r in first] == [i.label for i in items]

    done = frozenset(r["key"] for r in first[:10])
    second = run(done)
    assert server.requests - before == len(items)  # 10 skipped, the others answered by the cache
    assert sum(r["status"] == SKIPPED for r in second) == 10
    judged = [r for r in second if r["status"] != SKIPPED]
    assert all(r["cached"] and r["model_calls"] == 0 and r["cache_hits"] == 1 for r in judged)
    assert {r["item_id"]: r["verdict"] for r in judged} == {r["item_id"]: r["verdict"] for r in first[10:]}


@pytest.mark.ray
@pytest.mark.timeout(240)
def test_filter_on_ray_keeps_what_the_local_engine_keeps(ray_local, tmp_path: Path) -> None:
    """`jurist filter --engine ray`: the plan runs on Ray actors (verdict parts in outputs.out), the run goes to
    the store, and the rows kept and rejected are those of the local engine."""
    from jurist.apps.filter import filter_file
    from jurist.engine import Store
    from jurist.io import read_jsonl

    data = tmp_path / "answers.jsonl"
    data.write_text("".join(json.dumps({"id": f"s{k}", "input": f"Question {k}?", "response": f"answer {k}"}) + "\n"
                            for k in range(12)) + "{broken\n", encoding="utf-8")
    fields = {"task": "score", "judge": {"spec": "scripted:jurist.testing:hashed_judge"}, "engine": {"progress": False}}
    store = Store(tmp_path / "runs.db")
    local = filter_file(Plan.parse(fields), data, tmp_path / "local.jsonl", keep="score >= 3", store=store,
                        rejected=tmp_path / "local_rejected.jsonl")
    ray_plan = Plan.parse({**fields, "engine": {"engine": "ray", "progress": False},
                           "outputs": {"out": str(tmp_path / "ray_parts")}})
    on_ray = filter_file(ray_plan, data, tmp_path / "ray.jsonl", keep="score >= 3", store=store,
                         rejected=tmp_path / "ray_rejected.jsonl")
    assert read_jsonl(tmp_path / "ray.jsonl") == read_jsonl(tmp_path / "local.jsonl")
    assert 0 < on_ray.kept == local.kept < 12
    assert on_ray.rejected == local.rejected and on_ray.rejected["input error"] == 1
    assert [r.plan["engine"].get("engine", "local") for r in store.runs()] == ["local", "ray"]
    assert any((tmp_path / "ray_parts").iterdir())  # the verdicts' Parquet parts
