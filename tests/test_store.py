"""The store under bad paths and bad references: a clear StoreError naming the file, never a traceback,
never a store created by a read-only command, never a run picked by an SQL wildcard."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jurist.cli import app
from jurist.engine.store import Store, StoreError

runner = CliRunner()


def store_with_runs(path: Path, *ids: str) -> Store:
    store = Store(path)
    for run_id in ids:
        run = store.start_run({"judge": "scripted"}, name=f"name-{run_id}")
        store._db.execute("UPDATE runs SET id = ? WHERE id = ?", (run_id, run.id))
    store.commit()
    return store


def bad_stores(tmp_path: Path) -> dict[str, Path]:
    text = tmp_path / "notes.db"
    text.write_text("these are my notes, not a database\n")
    directory = tmp_path / "a_directory.db"
    directory.mkdir()
    corrupt = tmp_path / "corrupt.db"
    store_with_runs(corrupt, "abc123").close()
    data = bytearray(corrupt.read_bytes())
    data[100:] = b"\xff" * (len(data) - 100)  # header intact, every page after it garbage
    corrupt.write_bytes(bytes(data))
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE runs (x INTEGER)")
    truncated = tmp_path / "truncated.db"  # a copy cut short (a disk full, a copy interrupted)
    store_with_runs(tmp_path / "whole.db", "abc123").close()
    data = (tmp_path / "whole.db").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    return {"text": text, "directory": directory, "corrupt": corrupt, "foreign": foreign, "truncated": truncated}


BAD = ["text", "directory", "corrupt", "foreign", "truncated"]


@pytest.mark.parametrize("kind", BAD)
def test_a_bad_store_file_is_a_store_error_naming_it(tmp_path, kind):
    path = bad_stores(tmp_path)[kind]
    before = path.read_bytes() if path.is_file() else None
    with pytest.raises(StoreError, match=str(path.name)):
        Store(path).runs()
    if before is not None:
        assert path.read_bytes() == before  # nothing written into a file that is not a jurist store


@pytest.mark.parametrize("kind", BAD)
@pytest.mark.parametrize("command", ["runs", "export", "run", "compare"])
def test_cli_reports_a_bad_store_without_a_traceback(tmp_path, kind, command):
    path = bad_stores(tmp_path)[kind]
    data = tmp_path / "pairs.jsonl"
    data.write_text('{"id": "p", "input": "q", "response_a": "a", "response_b": "b"}\n')
    args = {"runs": ["runs"], "export": ["export", "abc123", "--out", str(tmp_path / "x.jsonl")],
            "run": ["run", "abc123", str(data)],  # a stored run's plan, run again: the store was a traceback
            "compare": ["compare", str(data), "--judge", "scripted:jurist.testing:hashed_judge", "--resume", "abc123"]
            }[command]
    result = runner.invoke(app, [*args, "--store", str(path)])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert path.name in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("command", ["runs", "export"])
def test_read_only_commands_do_not_create_a_store(tmp_path, command):
    typo = tmp_path / "typo.db"
    args = ["runs"] if command == "runs" else ["export", "abc", "--out", str(tmp_path / "x.jsonl")]
    result = runner.invoke(app, [*args, "--store", str(typo)])
    said = " ".join(result.output.split())  # the console wraps long lines
    assert result.exit_code == 2 and "no store" in said and "typo.db" in said
    assert not typo.exists()
    with pytest.raises(StoreError, match="typo.db"):
        Store(typo, create=False)


def test_find_run_matches_exact_ids_names_and_unique_prefixes_only(tmp_path):
    store = store_with_runs(tmp_path / "r.db", "abc123", "abd456", "x_z789", "x%y000")
    for ref in ("", "_", "%", "a_c", "x%z", "a%", "_bc"):
        assert store.find_run(ref) is None, ref  # no SQL wildcard ever matches
    assert store.find_run("abc123").id == "abc123"
    assert store.find_run("abc").id == "abc123"
    assert store.find_run("x_").id == "x_z789" and store.find_run("x%y").id == "x%y000"
    assert store.find_run("name-abd456").id == "abd456"
    with pytest.raises(StoreError, match="abc123.*abd456|abd456.*abc123"):
        store.find_run("ab")  # a prefix of two runs names both


def test_export_with_a_wildcard_or_empty_ref_picks_no_run(tmp_path):
    store_with_runs(tmp_path / "r.db", "abc123").close()
    for ref in ("", "_", "%"):
        result = runner.invoke(app, ["export", ref, "--out", str(tmp_path / "x.jsonl"), "--store",
                                     str(tmp_path / "r.db")])
        assert result.exit_code == 2 and "no run" in " ".join(result.output.split()), ref
        assert not (tmp_path / "x.jsonl").exists()


def ten_rows_eight_bad(path: Path) -> Path:
    good = '{"id": "g%d", "input": "2+2?", "response_a": "4", "response_b": "5", "label": "A"}'
    bad = ['{"id": "b0", "input": "2+2?", "response_a": "4"}', "{not json", '{"id": "b2", "input": 3}',
           '{"id": "g0", "input": "2+2?", "response_a": "4", "response_b": "5"}', "[1, 2]", '""',
           '{"id": "b6", "input": "x", "response_a": null, "response_b": "5"}', '{"id": "b7"}']
    path.write_text("\n".join([good % 0, *bad, good % 1]) + "\n")
    return path


def test_skipped_input_rows_are_recorded_in_the_run_totals(tmp_path):
    from jurist.io import load_items

    loaded = load_items(ten_rows_eight_bad(tmp_path / "pairs.jsonl"), task="compare")
    assert len(loaded.items) == 2 and len(loaded.errors) == 8
    store = store_with_runs(tmp_path / "r.db", "abc123")
    store.finish_run("abc123", "finished", {"scored": 2, "unscored": 0, "failed": 0, "skipped": 0})
    store.record_input_errors("abc123", [str(e) for e in loaded.errors])
    totals = Store(tmp_path / "r.db", create=False).find_run("abc123").totals
    assert totals["scored"] == 2 and totals["input_skipped"] == 8
    assert len(totals["input_errors"]) == 8 and all("pairs.jsonl:" in reason for reason in totals["input_errors"])


def test_only_the_first_reasons_are_kept_but_every_skipped_row_is_counted(tmp_path):
    store = store_with_runs(tmp_path / "r.db", "abc123")
    store.record_input_errors("abc123", [f"data.jsonl:{n}: bad" for n in range(1, 1001)])
    totals = store.find_run("abc123").totals
    assert totals["input_skipped"] == 1000 and len(totals["input_errors"]) == 20


def test_a_run_over_a_file_with_bad_rows_counts_them_in_the_store(tmp_path):
    import jurist
    from jurist import ScriptedBackend

    jurist.compare(ten_rows_eight_bad(tmp_path / "pairs.jsonl"), judge=ScriptedBackend(lambda request: {"A": 0.9, "B": 0.1}),
                   store=tmp_path / "r.db", progress=False)
    assert Store(tmp_path / "r.db", create=False).runs()[-1].totals["input_skipped"] == 8


def test_a_garbage_wal_file_is_ignored_and_committed_runs_are_kept(tmp_path):
    """What a crash can leave next to a store: a -wal file of garbage. SQLite drops frames whose checksums fail."""
    store_with_runs(tmp_path / "r.db", "abc123").close()
    Path(f"{tmp_path / 'r.db'}-wal").write_bytes(b"\xff" * 5000)
    assert [run.id for run in Store(tmp_path / "r.db", create=False).runs()] == ["abc123"]
