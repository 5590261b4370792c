"""jurist.io: loading items (formats, presets, errors) and writing judgments."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jurist.io import (
    JUDGMENT_COLUMNS,
    PRESETS,
    InputError,
    JuristInputError,
    load_items,
    read_jsonl,
    read_judgments,
    read_parquet,
    write_jsonl,
    write_judgments,
    write_parquet,
)
from jurist.types import Judgment, Verdict

DATA = Path(__file__).parent / "data"
EXAMPLES = Path(__file__).parent.parent / "examples" / "data"


def _raw_json(name: str) -> list[dict]:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def _raw_jsonl(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").split("\n") if line.strip()]


# ---------------------------------------------------------------------------
# presets, each on its raw-format copy


def test_every_preset_has_a_test_copy_that_loads_cleanly() -> None:
    copies = {
        "llmbar": ["llmbar_mt_bench.json", "llmbar_llmeval2.json"],
        "autoj": ["autoj_pairwise.jsonl"],
        "pandalm": ["pandalm_testset.json"],
        "hhh": ["hhh_alignment.jsonl"],
        "evalbiasbench": ["evalbiasbench.json"],
        "summeval": ["summeval.jsonl"],
        "topical_chat": ["topical_chat.json"],
    }
    assert set(copies) == set(PRESETS)
    for preset, files in copies.items():
        for name in files:
            result = load_items(DATA / name, preset=preset)
            assert result.errors == [], (preset, [str(e) for e in result.errors])
            assert 5 <= len(result.items) <= 10
            assert all(item.source and item.source.path.endswith(name) for item in result.items)


def test_llmbar_mt_bench() -> None:
    result = load_items(DATA / "llmbar_mt_bench.json", "compare", preset="llmbar")
    raw = _raw_json("llmbar_mt_bench.json")
    assert [i.label for i in result.items] == ["B", "A", "B", "B", "A", "A"]
    first = result.items[0]
    assert first.id == "1" and first.source is not None and first.source.line == 1
    assert first.input == raw[0]["input"]
    assert first.candidates == [raw[0]["output_1"], raw[0]["output_2"]]
    assert first.metadata == {"question_id": raw[0]["question_id"], "category": raw[0]["category"], "turn": 1}


def test_llmbar_blank_response_is_allowed() -> None:
    result = load_items(DATA / "llmbar_llmeval2.json", "compare", preset="llmbar")
    assert result.errors == []
    assert [i.label for i in result.items] == ["A", "A", "A", "A", "B", "B"]
    assert result.items[3].candidates[1].strip() == ""


def test_autoj_labels_and_keys_with_spaces() -> None:
    result = load_items(DATA / "autoj_pairwise.jsonl", preset="autoj")
    raw = _raw_jsonl("autoj_pairwise.jsonl")
    assert [i.label for i in result.items] == ["A", "A", "B", "B", "tie", "tie", "A"]
    assert result.items[4].label == "tie"
    assert result.items[0].candidates == [raw[0]["response 1"], raw[0]["response 2"]]
    assert result.items[0].input == raw[0]["prompt"]
    assert result.items[0].metadata == {"scenario": "text_to_text_translation"}
    assert result.items[6].candidates[1] == ""  # an empty response 2 is still a valid pair


def test_pandalm_majority_input_and_human_labels() -> None:
    result = load_items(DATA / "pandalm_testset.json", "compare", preset="pandalm")
    items = {i.id: i for i in result.items}
    raw = {str(r["idx"]): r for r in _raw_json("pandalm_testset.json")}
    # votes (0 = tie, 1 = response1, 2 = response2) -> majority
    expected = {
        "140": ("tie", ["tie", "tie", "tie"]),
        "611": ("A", ["A", "A", "A"]),
        "614": ("B", ["B", "B", "B"]),
        "364": ("tie", ["tie", "tie", "A"]),
        "90": ("A", ["A", "tie", "A"]),
        "88": ("A", ["B", "A", "A"]),
        "261": ("B", ["B", "A", "B"]),
        "158": ("A", ["A", "A", "A"]),
        "466": ("B", ["B", "B", "B"]),
    }
    assert set(items) == set(expected)
    for idx, (label, votes) in expected.items():
        assert items[idx].label == label, idx
        assert items[idx].metadata["human_labels"] == votes, idx
        assert "annotator1" not in items[idx].metadata
    assert items["140"].input == raw["140"]["instruction"] + "\n\n" + raw["140"]["input"]
    assert raw["364"]["input"] == "" and items["364"].input == raw["364"]["instruction"]
    assert items["466"].input == "Truthfulness"  # the instruction is a lone space
    assert items["158"].candidates[0] == "True"  # stored as a JSON boolean
    assert items["140"].metadata["cmp_key"] == raw["140"]["cmp_key"]


def test_hhh_chosen_is_a() -> None:
    result = load_items(DATA / "hhh_alignment.jsonl", preset="hhh")
    raw = _raw_jsonl("hhh_alignment.jsonl")
    assert [i.id for i in result.items] == [str(r["id"]) for r in raw]
    for item, r in zip(result.items, raw, strict=True):
        assert item.label == "A"
        assert item.candidates == [r["chosen"], r["rejected"]]
        assert item.input == r["instruction"]
        assert item.metadata["subset"] == r["subset"]


def test_evalbiasbench_dict_of_lists() -> None:
    result = load_items(DATA / "evalbiasbench.json", preset="evalbiasbench")
    raw = json.loads((DATA / "evalbiasbench.json").read_text(encoding="utf-8"))
    assert [i.id for i in result.items] == ["1", "2", "3", "4", "5", "6"]
    assert [i.metadata["group"] for i in result.items] == list(raw)
    assert all(i.label == "A" for i in result.items)
    first = raw["length bias"][0]
    assert result.items[0].candidates == [first["response1"], first["response2"]]


def test_summeval_default_and_chosen_dimension() -> None:
    raw = _raw_jsonl("summeval.jsonl")
    result = load_items(DATA / "summeval.jsonl", "score", preset="summeval")
    assert [i.id for i in result.items] == [f"A57/S{n}" for n in range(6)]
    assert [i.label for i in result.items] == [r["coherence"] for r in raw]
    item = result.items[0]
    assert item.input == raw[0]["article"] and item.response == raw[0]["summary"]
    dims = {"coherence", "consistency", "fluency", "relevance"}
    assert dims | {"article_id"} <= set(item.metadata)
    assert "article" not in item.metadata and "summary" not in item.metadata

    fluency = load_items(DATA / "summeval.jsonl", preset="summeval", fields={"label": "fluency"})
    assert [i.label for i in fluency.items] == [r["fluency"] for r in raw]
    assert fluency.items[0].metadata["coherence"] == raw[0]["coherence"]


def test_topical_chat_scores_dimension() -> None:
    raw = _raw_json("topical_chat.json")
    result = load_items(DATA / "topical_chat.json", preset="topical_chat")
    assert [i.label for i in result.items] == [r["scores"]["overall"] for r in raw]
    item = result.items[0]
    assert item.response == raw[0]["system_output"]
    assert raw[0]["source"].strip() in item.input and raw[0]["context"].strip() in item.input
    assert item.metadata["system_id"] == raw[0]["system_id"]
    assert item.metadata["scores"] == raw[0]["scores"]

    coherence = load_items(DATA / "topical_chat.json", preset="topical_chat", fields={"label": "coherence"})
    assert [i.label for i in coherence.items] == [r["scores"]["coherence"] for r in raw]

    unknown = load_items(DATA / "topical_chat.json", preset="topical_chat", fields={"label": "wit"})
    assert unknown.items == [] and len(unknown.errors) == 6
    assert all(e.field == "label" and "wit" in e.message for e in unknown.errors)


def test_preset_options() -> None:
    with pytest.raises(JuristInputError, match="unknown preset"):
        load_items(DATA / "summeval.jsonl", preset="nope")
    with pytest.raises(JuristInputError, match="task 'score'"):
        load_items(DATA / "summeval.jsonl", "compare", preset="summeval")
    with pytest.raises(JuristInputError, match="score' or 'compare"):
        load_items(DATA / "summeval.jsonl")
    # the caller's label_map is applied on top of the preset's
    swapped = load_items(DATA / "autoj_pairwise.jsonl", preset="autoj", label_map={0: "B", 1: "A"})
    assert [i.label for i in swapped.items] == ["B", "B", "A", "A", "tie", "tie", "B"]


# ---------------------------------------------------------------------------
# field mapping, formats, round trips


def test_csv_field_mapping_and_physical_lines() -> None:
    path = DATA / "pairs_custom.csv"
    fields = {
        "id": "qid",
        "input": "instruction",
        "response_a": "answer_1",
        "response_b": "answer_2",
        "label": "winner",
    }
    result = load_items(path, "compare", fields=fields, label_map={"left": "A", "right": "B"})
    assert [i.id for i in result.items] == ["q1", "q2", "q3", "q4", "q6"]
    assert [i.label for i in result.items] == ["A", "A", "B", "tie", None]
    assert [i.source.line for i in result.items if i.source] == [2, 5, 6, 7, 9]
    q1 = result.items[0]
    assert q1.input == "Write a haiku\nabout the sea."
    assert q1.candidates == ["Waves fold into foam,\ngulls stitch the grey sky to shore.", "The sea is wet."]
    assert q1.metadata == {"topic": "poetry"}
    assert [str(e) for e in result.errors] == [f"{path}:8: row has 7 cells but the header has 6 columns"]


def test_unknown_field_name_is_rejected() -> None:
    with pytest.raises(JuristInputError, match="unknown field name"):
        load_items(DATA / "pairs_custom.csv", "compare", fields={"respnse_a": "answer_1"})
    with pytest.raises(JuristInputError, match="unknown field name"):
        load_items(DATA / "pairs_custom.csv", "score", fields={"response_a": "answer_1"})


def _pairs() -> list[dict]:
    return [
        {"id": "x1", "input": "2+2?", "response_a": "4", "response_b": "5", "label": "A", "reference": "4"},
        {"id": "x2", "input": "Colour of grass?", "response_a": "blue", "response_b": "green", "label": "B"},
        {"id": "x3", "input": "Say hi", "response_a": "hi", "response_b": "hello", "label": "tie"},
    ]


def _summary(items: list) -> list[tuple]:
    return [(i.id, i.input, i.candidates, i.reference, i.label, i.metadata) for i in items]


def test_csv_round_trip(tmp_path: Path) -> None:
    records = _pairs()
    path = tmp_path / "pairs.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, ["id", "input", "response_a", "response_b", "label", "reference", "source"])
        writer.writeheader()
        for r in records:
            writer.writerow({**r, "source": "unit test", "reference": r.get("reference", "")})
    result = load_items(path, "compare")
    assert result.errors == []
    assert _summary(result.items) == [
        (
            r["id"],
            r["input"],
            [r["response_a"], r["response_b"]],
            r.get("reference"),
            r["label"],
            {"source": "unit test"},
        )
        for r in records
    ]


def test_parquet_round_trip_with_metadata(tmp_path: Path) -> None:
    records = [{**r, "metadata": {"n": n, "tags": ["t"]}} for n, r in enumerate(_pairs())]
    path = tmp_path / "pairs.parquet"
    assert write_parquet(path, records) == 3
    result = load_items(path, "compare")
    assert result.errors == []
    assert _summary(result.items) == _summary(load_items(_jsonl(tmp_path / "pairs.jsonl", records), "compare").items)
    assert result.items[1].metadata == {"n": 1, "tags": ["t"]}
    assert result.items[1].reference is None
    assert [i.source.line for i in result.items if i.source] == [1, 2, 3]


def _jsonl(path: Path, records: list[dict]) -> Path:
    write_jsonl(path, records)
    return path


def test_score_items_round_trip_through_jsonl(tmp_path: Path) -> None:
    records = [{"id": f"s{n}", "input": "Rate it.", "response": f"answer {n}", "label": n + 0.5} for n in range(3)]
    result = load_items(_jsonl(tmp_path / "scores.jsonl", records), "score")
    assert [i.label for i in result.items] == [0.5, 1.5, 2.5]
    assert [i.response for i in result.items] == ["answer 0", "answer 1", "answer 2"]


def test_limit() -> None:
    result = load_items(DATA / "autoj_pairwise.jsonl", preset="autoj", limit=3)
    assert [i.id for i in result.items] == ["1", "2", "3"]


def test_example_data_loads() -> None:
    pairs = load_items(EXAMPLES / "mt_bench_pairs.jsonl", "compare")
    assert pairs.errors == [] and len(pairs.items) == 40
    assert sorted(i.label for i in pairs.items).count("A") == 20
    assert all(len(i.input) + sum(map(len, i.candidates)) < 2500 for i in pairs.items)
    assert {"question_id", "category"} <= set(pairs.items[0].metadata)
    summeval = load_items(EXAMPLES / "summeval_sample.jsonl", "score")
    assert summeval.errors == [] and len(summeval.items) == 32
    assert {i.metadata["article_id"] for i in summeval.items} == {"A57", "A25"}
    assert all(i.label == i.metadata["coherence"] for i in summeval.items)


# ---------------------------------------------------------------------------
# errors


def test_bad_jsonl_rows_are_reported_and_good_rows_load() -> None:
    path = DATA / "broken_pairs.jsonl"
    result = load_items(path, "compare")
    assert [i.id for i in result.items] == ["p1", "6", "p10"]
    assert result.items[1].label == "tie"
    p10 = result.items[2]
    assert p10.label == "B" and p10.reference == "Jupiter"
    assert p10.metadata == {"topic": "space", "difficulty": "easy"}
    assert [(e.line, e.field) for e in result.errors] == [
        (2, None),
        (3, "response_b"),
        (4, "label"),
        (5, "input"),
        (7, "id"),
        (9, None),
    ]
    messages = [str(e) for e in result.errors]
    assert messages[0].startswith(f"{path}:2: invalid JSON")
    assert messages[1] == f"{path}:3: field 'response_b': missing"
    assert messages[2].startswith(f"{path}:4: field 'label': unknown label 'C'")
    assert messages[3] == f"{path}:5: field 'input': empty"
    assert messages[4] == f"{path}:7: field 'id': duplicate id 'p1' (first at line 1)"
    assert messages[5] == f"{path}:9: expected a JSON object, got a list"
    assert not result.ok


def test_bad_score_labels() -> None:
    path = DATA / "broken_scores.jsonl"
    result = load_items(path, "score")
    assert [(i.id, i.label) for i in result.items] == [("s1", 4.0), ("s3", 3.5), ("s5", None)]
    assert result.items[2].response == ""
    assert [str(e) for e in result.errors] == [
        f"{path}:2: field 'label': not a number: 'high'",
        f"{path}:4: field 'response': missing",
        f"{path}:6: field 'label': not a finite number: 'NaN'",
    ]


def test_csv_missing_column_names_field_and_physical_line() -> None:
    path = DATA / "broken_missing_column.csv"
    result = load_items(path, "compare")
    assert result.items == []
    assert [str(e) for e in result.errors] == [f"{path}:{n}: field 'response_b': missing" for n in (2, 4, 5)]
    # mapping the missing field to an existing column fixes it, and the error names the column
    fixed = load_items(path, "compare", fields={"response_b": "response_a"})
    assert [i.label for i in fixed.items] == ["A", "B", "tie"]
    other = load_items(path, "compare", fields={"response_b": "answer_2"})
    assert str(other.errors[0]) == f"{path}:2: field 'response_b': missing (column 'answer_2')"


def test_json_list_errors_name_the_record() -> None:
    path = DATA / "broken_records.json"
    result = load_items(path, "compare", preset="llmbar")
    assert [(i.id, i.label) for i in result.items] == [("1", "A"), ("5", "B")]
    assert [str(e) for e in result.errors][:2] == [
        f"{path}: record 2: expected a JSON object, got a string",
        f"{path}: record 3: field 'input': missing",
    ]
    assert result.errors[2].unit == "record" and result.errors[2].line == 4
    assert str(result.errors[2]).startswith(f"{path}: record 4: field 'label': unknown label 3")


def test_bad_parquet_rows(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    table = pa.table(
        {
            "id": ["a", "b", "c", "d"],
            "input": ["q1", "q2", None, "q4"],
            "response": ["r1", None, "r3", "r4"],
            "label": ["5", "4", "3", "great"],
        }
    )
    pq.write_table(table, path)
    result = load_items(path, "score")
    assert [(i.id, i.label) for i in result.items] == [("a", 5.0)]
    assert [str(e) for e in result.errors] == [
        f"{path}: record 2: field 'response': missing",
        f"{path}: record 3: field 'input': missing",
        f"{path}: record 4: field 'label': not a number: 'great'",
    ]


def test_input_error_str() -> None:
    assert str(InputError("data.jsonl", 17, "response_b", "missing")) == "data.jsonl:17: field 'response_b': missing"
    assert str(InputError("data.json", 3, None, "bad", unit="record")) == "data.json: record 3: bad"


def test_unusable_files_raise(tmp_path: Path) -> None:
    with pytest.raises(JuristInputError, match="no such file"):
        load_items(tmp_path / "missing.jsonl", "compare")
    (tmp_path / "items.txt").write_text("hello\n")
    with pytest.raises(JuristInputError, match="unknown file type"):
        load_items(tmp_path / "items.txt", "compare")
    (tmp_path / "broken.json").write_text("[{")
    with pytest.raises(JuristInputError, match="invalid JSON"):
        load_items(tmp_path / "broken.json", "compare")
    (tmp_path / "scalar.json").write_text("3")
    with pytest.raises(JuristInputError, match="list of objects"):
        load_items(tmp_path / "scalar.json", "compare")
    (tmp_path / "fake.parquet").write_text("not parquet")
    with pytest.raises(JuristInputError, match="Parquet"):
        load_items(tmp_path / "fake.parquet", "compare")
    assert issubclass(JuristInputError, ValueError)


# ---------------------------------------------------------------------------
# writing judgments


def _judgments() -> list[Judgment]:
    pair = Verdict(
        status="scored",
        kind="compare",
        method="logprobs",
        preference="A",
        p_a=0.7,
        p_b=0.2,
        p_tie=0.1,
        confidence=0.7,
        orders_agree=True,
        parts=[Verdict(status="scored", kind="compare", preference="A", p_a=0.8, p_b=0.2)],
    )
    score = Verdict(
        status="scored", kind="score", method="parsed", score=3.6, top_label="4", distribution={"3": 0.4, "4": 0.6}
    )
    unscored = Verdict(status="unscored", kind="score", raw="I cannot rate this")
    failed = Verdict(status="failed", kind="compare", error="prompt too long")
    return [
        Judgment(
            item_id="1", protocol="pairwise", judge="m", verdict=pair, label="A", latency_s=0.5, metadata={"k": [1]}
        ),
        Judgment(item_id="2", protocol="pointwise", judge="m", verdict=score, label=4.0, cached=True),
        Judgment(item_id="3", protocol="pointwise", judge="m", verdict=unscored),
        Judgment(item_id="4", protocol="pairwise", judge="m", verdict=failed, label="tie"),
    ]


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_write_judgments_round_trip(tmp_path: Path, suffix: str) -> None:
    judgments = _judgments()
    path = tmp_path / "out" / f"judgments{suffix}"
    assert write_judgments(path, judgments) == len(judgments)
    assert read_judgments(path) == judgments
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary files left


def test_judgments_parquet_is_flat(tmp_path: Path) -> None:
    path = tmp_path / "judgments.parquet"
    write_judgments(path, _judgments())
    table = pq.read_table(path)
    assert tuple(table.column_names) == JUDGMENT_COLUMNS
    rows = read_parquet(path)
    assert rows[0]["preference"] == "A" and rows[0]["p_a"] == 0.7 and rows[0]["orders_agree"] is True
    assert rows[1]["score"] == 3.6 and rows[2]["raw"] == "I cannot rate this" and rows[3]["error"] == "prompt too long"
    assert [r["status"] for r in rows] == ["scored", "scored", "unscored", "failed"]
    assert json.loads(rows[0]["verdict"])["parts"][0]["p_a"] == 0.8


def test_write_jsonl_overwrites_atomically(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    write_jsonl(path, [{"a": 1}, {"a": 2}])
    write_jsonl(path, [{"a": 3, "text": "é"}])
    assert read_jsonl(path) == [{"a": 3, "text": "é"}]
    with pytest.raises(TypeError):
        write_jsonl(path, [{"a": 4}, object()])  # type: ignore[list-item]
    assert read_jsonl(path) == [{"a": 3, "text": "é"}]  # a failed write leaves the old file
    assert [p.name for p in tmp_path.iterdir()] == ["records.jsonl"]


def test_write_judgments_rejects_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(JuristInputError, match=".jsonl or .parquet"):
        write_judgments(tmp_path / "judgments.csv", _judgments())
