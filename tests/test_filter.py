"""``jurist filter`` and ``jurist annotate``: streamed judging, keep rules, top-k, quotas, rejected rows, resume."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from jurist.apps.filter import KeepError, KeepRule, annotate_file, filter_file
from jurist.backends.scripted import ScriptedBackend
from jurist.engine import Store
from jurist.io import read_jsonl, read_parquet
from jurist.plan import Plan
from jurist.types import Verdict


def grade(request):
    """A judge that reads the grade written in the response ("grade 4" -> mostly 4); "garble" is unreadable."""
    text = request.messages[-1].text
    if "garble" in text:
        return "I cannot say"
    found = re.search(r"grade (\d)", text)
    grade = int(found.group(1)) if found else 3
    return {str(grade): 0.8, str(6 - grade if grade != 3 else 2): 0.2}


def scripted(script=grade):
    return {"local": ScriptedBackend(script, spec="local")}


def rows(n=8, bucket=True):
    return [{"id": f"r{i}", "input": f"question {i}", "response": f"answer grade {1 + i % 5}",
             **({"lang": "en" if i % 2 else "fr"} if bucket else {}), "extra": i} for i in range(n)]


def write_jsonl(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


PLAN = Plan(task="score")


def nonzero(distribution):
    return {label: pytest.approx(p) for label, p in distribution.items() if p > 1e-9}


def test_a_keep_rule_is_parsed_not_evaluated():
    verdict = Verdict(status="scored", kind="score", score=4.2, confidence=0.9, distribution={"4": 0.8, "5": 0.2})
    assert KeepRule.parse("score >= 4")(verdict)
    assert not KeepRule.parse("score >= 4 and confidence > 0.95")(verdict)
    assert KeepRule.parse("P(4) > 0.5 or not (score < 3)")(verdict)
    assert KeepRule.parse("3 < score <= 4.5")(verdict)
    assert KeepRule.parse("P(5) == 0.2 && score>4")(verdict)
    pair = Verdict(status="scored", kind="compare", p_a=0.7, p_b=0.3, confidence=0.4)
    assert KeepRule.parse("p_a > 0.6 and P(B) < 0.5", "compare")(pair)
    for bad, says in [("score >=", "not a rule"), ("__import__('os').system('x')", "expected a comparison"),
                      ("score >= 4 + 1", "expected a number"), ("banana > 3", "unknown name"),
                      ("p_a > 0.5", "unknown name"), ("P() > 0.5", "P(...) takes one answer label"),
                      ("score", "expected a comparison"), ("", "empty"), ("score in [4]", "compare with")]:
        with pytest.raises(KeepError, match=re.escape(says)):
            KeepRule.parse(bad)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

RULE_PARTS = ["score", "confidence", "p_a", "P(5)", "P(A)", "P()", ">=", "<", "==", "and", "or", "not", "(", ")",
              "4", "-1", "0.5", "1e309", "__import__('os')", "x.y", "[1]", "lambda: 1", "&&", "||", "+", "'pass'"]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=30), st.lists(st.sampled_from(RULE_PARTS), max_size=8).map(" ".join)),
       st.sampled_from(["score", "compare"]))
def test_any_rule_text_is_a_rule_or_a_keep_error_and_a_rule_never_raises_on_a_verdict(text, kind):
    try:
        rule = KeepRule.parse(text, kind)
    except KeepError as error:
        assert str(error)
        return
    for verdict in (Verdict(status="scored", kind="score", score=3.0, confidence=0.5, distribution={"5": 0.5}),
                    Verdict(status="scored", kind="compare", p_a=0.2, p_b=0.8),
                    Verdict(status="unscored", kind=kind)):  # missing values: comparisons are false
        assert rule(verdict) in (True, False)


def test_filter_keeps_rows_above_the_bar_in_the_input_format_and_says_why_others_were_rejected(tmp_path):
    data = rows(10)
    data[3]["response"] = "garble"  # the judge's answer cannot be read: unscored
    lines = [json.dumps(r) for r in data]
    lines.insert(5, "{not json")  # line 6: an input error
    lines.insert(7, json.dumps({"id": "no-input", "response": "x"}))  # line 8: no input field
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    store = Store(tmp_path / "runs.db")
    report = filter_file(PLAN, source, tmp_path / "kept.jsonl", keep="score >= 4", rejected=tmp_path / "rej.jsonl",
                         store=store, backends=scripted())
    kept = read_jsonl(tmp_path / "kept.jsonl")
    # grades 1..5 cycle: rows with grade 4 or 5 have expected scores 3.6 and 4.6... only "grade 5" passes 4
    assert [r["id"] for r in kept] == ["r4", "r9"]
    assert kept[0]["extra"] == 4 and kept[0]["lang"] == "fr"  # the input's own fields, untouched
    assert kept[0]["judge_score"] == pytest.approx(0.8 * 5 + 0.2 * 1)
    assert nonzero(kept[0]["judge_probabilities"]) == {"5": 0.8, "1": 0.2}
    rejected = {r["line"]: r for r in read_jsonl(tmp_path / "rej.jsonl")}
    assert rejected[6]["reason"] == "input error" and "invalid JSON" in rejected[6]["detail"]
    assert rejected[8]["reason"] == "input error" and rejected[8]["field"] == "input"
    assert rejected[4]["reason"] == "unscored" and "I cannot say" in rejected[4]["detail"]
    assert rejected[4]["row"]["id"] == "r3"
    below = [r for r in rejected.values() if r["reason"] == "below the bar"]
    assert len(below) == 7 and all("score >= 4 is false" in r["detail"] for r in below)
    assert report.kept == 2 and report.rejected == {"below the bar": 7, "input error": 2, "unscored": 1}


def test_top_k_overall_and_per_bucket_keep_the_best_in_input_order(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", rows(10))
    top = filter_file(PLAN, source, tmp_path / "top.jsonl", top=3, rejected=tmp_path / "rej.jsonl",
                      backends=scripted())
    # scores: r4, r9 (grade 5: 4.2) > r3, r8 (grade 4: 3.4)...; the earlier of equal rows ranks higher
    assert [r["id"] for r in read_jsonl(tmp_path / "top.jsonl")] == ["r3", "r4", "r9"]
    outside = [r for r in read_jsonl(tmp_path / "rej.jsonl") if r["reason"] == "outside the top"]
    assert len(outside) == 7 and top.rejected["outside the top"] == 7
    per = filter_file(PLAN, source, tmp_path / "per.jsonl", top=1, per="lang", keep="score > 1",
                      backends=scripted())
    # fr: r0 r2 r4 r6 r8 (grades 1 3 5 2 4) -> r4; en: r1 r3 r5 r7 r9 (grades 2 4 1 3 5) -> r9
    assert [r["id"] for r in read_jsonl(tmp_path / "per.jsonl")] == ["r4", "r9"]
    assert per.kept == 2
    with pytest.raises(KeepError, match="needs `top`"):
        filter_file(PLAN, source, tmp_path / "x.jsonl", per="lang", backends=scripted())


def test_filter_writes_csv_and_parquet_as_read(tmp_path):
    source = tmp_path / "in.csv"
    with source.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["id", "input", "response", "lang", "extra"])
        writer.writeheader()
        writer.writerows(rows(6))
    filter_file(PLAN, source, tmp_path / "kept.csv", keep="score >= 3.3", backends=scripted())
    with (tmp_path / "kept.csv").open(encoding="utf-8") as f:
        kept = list(csv.DictReader(f))
    assert [r["id"] for r in kept] == ["r3", "r4"]
    assert list(kept[0])[:5] == ["id", "input", "response", "lang", "extra"] and kept[0]["extra"] == "3"
    assert nonzero(json.loads(kept[1]["judge_probabilities"])) == {"5": 0.8, "1": 0.2}
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(rows(6)), parquet)
    filter_file(PLAN, parquet, tmp_path / "kept.parquet", keep="P(5) > 0.5", backends=scripted())
    table = read_parquet(tmp_path / "kept.parquet")
    assert [r["id"] for r in table] == ["r4"] and table[0]["extra"] == 4


def test_a_rerun_with_resume_judges_only_what_is_missing(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", rows(6))
    store = Store(tmp_path / "runs.db")
    failing = {"on": True}

    def flaky(request):  # the first session fails on half the items (a server down)
        if failing["on"] and re.search(r"grade [135]", request.messages[-1].text):
            raise ConnectionError("server down")
        return grade(request)

    backend = ScriptedBackend(flaky, spec="local")
    plan = PLAN.with_values({"engine.max_attempts": 1})
    first = filter_file(plan, source, tmp_path / "kept.jsonl", keep="score >= 1", store=store,
                        backends={"local": backend})
    assert first.rejected["failed"] == 4 and first.kept == 2  # grades 1, 3, 5, 1 failed
    calls = len(backend.calls)
    failing["on"] = False
    second = filter_file(plan, source, tmp_path / "kept.jsonl", keep="score >= 1", store=store,
                         resume=first.run_id, backends={"local": backend})
    assert second.run_id == first.run_id
    assert len(backend.calls) - calls == 4  # only the four failed items were judged again
    assert second.kept == 6 and [r["id"] for r in read_jsonl(tmp_path / "kept.jsonl")] == [f"r{i}" for i in range(6)]
    assert store.status_counts(first.run_id) == {"scored": 6, "unscored": 0, "failed": 0}


def test_filter_refuses_a_bad_output_before_judging(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", rows(3))
    backend = ScriptedBackend(grade, spec="local")
    from jurist.io import JuristInputError

    with pytest.raises(JuristInputError, match="cannot write rows as '.txt'"):
        filter_file(PLAN, source, tmp_path / "kept.txt", backends={"local": backend})
    with pytest.raises(KeepError):
        filter_file(PLAN, source, tmp_path / "kept.jsonl", keep="score >> 3", backends={"local": backend})
    assert backend.calls == []


def test_rows_that_do_not_fit_a_csv_output_fail_with_the_run_to_resume(tmp_path):
    data = rows(4)
    data[2]["surprise"] = "a column the first rows lack"
    source = write_jsonl(tmp_path / "in.jsonl", data)
    backend = ScriptedBackend(grade, spec="local")
    store = Store(tmp_path / "runs.db")
    from jurist.io import JuristInputError

    with pytest.raises(JuristInputError, match=r"column\(s\) \['surprise'\].*rerun with `resume` (\w+)") as caught:
        filter_file(PLAN, source, tmp_path / "kept.csv", store=store, backends={"local": backend})
    assert not (tmp_path / "kept.csv").exists()  # no half-written file
    run_id = re.search(r"resume` (\w+)", str(caught.value)).group(1)
    again = filter_file(PLAN, source, tmp_path / "kept.jsonl", store=store, resume=run_id,
                        backends={"local": backend})
    assert again.kept == 4 and len(backend.calls) == 4  # written without judging again


def test_filter_compare_verdicts(tmp_path):
    pairs = [{"id": f"p{i}", "input": "q", "response_a": "good" if i % 2 else "bad", "response_b": "meh"}
             for i in range(4)]
    source = write_jsonl(tmp_path / "pairs.jsonl", pairs)

    def prefer_good(request):
        text = request.messages[-1].text
        a_part = text.split("Response B")[0] if "Response B" in text else text
        return {"A": 0.9, "B": 0.1} if "good" in a_part.split("Response A")[-1] else {"A": 0.2, "B": 0.8}

    report = filter_file(Plan(task="compare", order="single"), source, tmp_path / "kept.jsonl",
                         keep="p_a > 0.5", backends=scripted(prefer_good))
    kept = read_jsonl(tmp_path / "kept.jsonl")
    assert [r["id"] for r in kept] == ["p1", "p3"] and kept[0]["judge_preference"] == "A"
    assert report.rejected == {"below the bar": 2}


def test_annotate_writes_labels_with_probabilities_and_rationales(tmp_path):
    data = rows(4) + [{"id": "bad", "input": "q", "response": "garble", "label": 2}]
    data[0]["label"] = 1
    source = write_jsonl(tmp_path / "in.jsonl", data)

    def explaining(request):
        if request.max_tokens and request.max_tokens > 4:  # the rationale request
            return "Because it says so."
        return grade(request)

    report = annotate_file(PLAN, source, tmp_path / "labels.parquet", rationale=True,
                           rejected=tmp_path / "left_out.jsonl", backends=scripted(explaining))
    labelled = read_parquet(tmp_path / "labels.parquet")
    assert [r["id"] for r in labelled] == ["r0", "r1", "r2", "r3"]
    first = labelled[0]
    assert first["label"] == "1" and nonzero(json.loads(first["probabilities"])) == {"1": 0.8, "5": 0.2}
    assert first["score"] == pytest.approx(1.8) and first["human_label"] == 1
    assert first["rationale"] == "Because it says so."
    assert report.kept == 4 and report.rejected == {"unscored": 1}
    assert read_jsonl(tmp_path / "left_out.jsonl")[0]["id"] == "bad"
    plain = annotate_file(PLAN, source, tmp_path / "labels.jsonl", backends=scripted())
    rows_out = read_jsonl(tmp_path / "labels.jsonl")
    assert "rationale" not in rows_out[0] and nonzero(rows_out[1]["probabilities"]) == {"2": 0.8, "4": 0.2}
    assert plain.kept == 4
    with pytest.raises(KeepError, match="jsonl or .parquet"):
        annotate_file(PLAN, source, tmp_path / "labels.csv", backends=scripted())


# --------------------------------------------------------------------------- the commands

from typer.testing import CliRunner  # noqa: E402

from jurist.cli import app  # noqa: E402

JUDGE = ["--judge", "scripted:tests.test_filter:grade"]


def test_jurist_filter_and_annotate_on_the_command_line(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", rows(10))
    store = ["--store", str(tmp_path / "runs.db")]
    result = CliRunner().invoke(app, ["filter", str(source), *JUDGE, *store, "--keep", "score>=3.3", "--top", "3",
                                      "--out", str(tmp_path / "kept.csv"), "--rejected", str(tmp_path / "rej.jsonl"),
                                      "--name", "nightly-filter"])
    assert result.exit_code == 0, result.output
    assert "kept" in result.output and "rejected: below the bar" in result.output
    with (tmp_path / "kept.csv").open(encoding="utf-8") as f:
        assert [r["id"] for r in csv.DictReader(f)] == ["r3", "r4", "r9"]
    assert Store(tmp_path / "runs.db").find_run("nightly-filter").totals["scored"] == 10
    bad = CliRunner().invoke(app, ["filter", str(source), *JUDGE, *store, "--keep", "score >= banana",
                                   "--out", str(tmp_path / "k.jsonl")])
    assert bad.exit_code == 2 and "unknown name" in bad.output
    no_out = CliRunner().invoke(app, ["filter", str(source), *JUDGE, *store, "--keep", "score>=4"])
    assert no_out.exit_code == 2 and "--out" in no_out.output
    report = CliRunner().invoke(app, ["filter", str(source), *JUDGE, *store, "--out", str(tmp_path / "k.jsonl"),
                                      "--report", str(tmp_path / "r.html")])
    assert report.exit_code == 2 and "--report" in report.output  # a streamed run keeps judgments in the store only
    labels = CliRunner().invoke(app, ["annotate", str(source), *JUDGE, *store, "--scale", "1-5",
                                      "--out", str(tmp_path / "labels.jsonl")])
    assert labels.exit_code == 0, labels.output
    assert [r["label"] for r in read_jsonl(tmp_path / "labels.jsonl")][:5] == ["1", "2", "3", "4", "5"]


def prefer_good(request):
    """A pairwise judge: "good" beats anything, "meh" beats "bad", "so-so" beats "meh" barely (in either order)."""
    text = request.messages[-1].text
    a = text.split("[Response A]")[-1].split("[End of response A]")[0].strip()
    b = text.split("[Response B]")[-1].split("[End of response B]")[0].strip()
    if {a, b} == {"so-so", "meh"}:
        return {"A": 0.6, "B": 0.4} if a == "so-so" else {"A": 0.4, "B": 0.6}
    rank = {"good": 3, "meh": 2, "bad": 1}
    return {"A": 0.9, "B": 0.1} if rank[a] > rank[b] else {"A": 0.1, "B": 0.9}


def test_jurist_export_pairs(tmp_path):
    answers = ["bad", "good", "so-so", "good"]
    pairs = [{"id": f"p{i}", "input": f"q{i}", "response_a": a, "response_b": "meh"} for i, a in enumerate(answers)]
    source = write_jsonl(tmp_path / "pairs.jsonl", pairs)
    store = ["--store", str(tmp_path / "runs.db")]
    judged = CliRunner().invoke(app, ["compare", str(source), "--judge", "scripted:tests.test_filter:prefer_good",
                                      *store, "--name", "arena"])
    assert judged.exit_code == 0, judged.output
    result = CliRunner().invoke(app, ["export-pairs", "arena", "--data", str(source), "--out",
                                      str(tmp_path / "dpo.jsonl"), "--min-confidence", "0.7", *store])
    assert result.exit_code == 0, result.output
    assert read_jsonl(tmp_path / "dpo.jsonl") == [{"prompt": "q0", "chosen": "meh", "rejected": "bad"},
                                                  {"prompt": "q1", "chosen": "good", "rejected": "meh"},
                                                  {"prompt": "q3", "chosen": "good", "rejected": "meh"}]
    assert "3 pairs" in result.output and "below the confidence bar 1" in result.output
    none = CliRunner().invoke(app, ["export-pairs", "arena", "--data", str(source), "--out",
                                    str(tmp_path / "none.jsonl"), "--min-confidence", "0.99", *store])
    assert none.exit_code == 1 and "no pair passed" in none.output


@pytest.mark.model
def test_filter_on_the_embedded_model(embedded, tmp_path):
    """The real 0.5B judge on four question-answer rows: every row is judged and kept or rejected with its
    verdict, the scores are read from the label distribution, and a resumed run makes no model call."""
    source = Path(__file__).resolve().parents[1] / "examples" / "data" / "qa_items.jsonl"
    plan = Plan(task="score", protocol={"rubric": "Is the answer correct?"}, engine={"progress": False})
    store = Store(tmp_path / "runs.db")
    report = filter_file(plan, source, tmp_path / "kept.jsonl", keep="score >= 3", rejected=tmp_path / "rej.jsonl",
                         store=store, backends={"local": embedded})
    kept, rejected = read_jsonl(tmp_path / "kept.jsonl"), read_jsonl(tmp_path / "rej.jsonl")
    assert report.read == 4 and report.kept == len(kept) and len(kept) + len(rejected) == 4
    assert store.status_counts(report.run_id) == {"scored": 4, "unscored": 0, "failed": 0}
    scores = {r["id"]: r["judge_score"] for r in kept} | {r["id"]: r["judge_score"] for r in rejected}
    assert all(1.0 <= s <= 5.0 for s in scores.values())
    assert all(r["judge_score"] >= 3 for r in kept) and all(r["reason"] == "below the bar" for r in rejected)
    assert all(abs(sum(r["judge_probabilities"].values()) - 1) < 1e-6 for r in kept)
    calls = report.totals["model_calls"]
    again = filter_file(plan, source, tmp_path / "kept2.jsonl", keep="score >= 3", store=store,
                        resume=report.run_id, backends={"local": embedded})
    assert calls == 4 and again.totals["model_calls"] == calls  # nothing new was asked of the model
    assert read_jsonl(tmp_path / "kept2.jsonl") == kept
    print({k: round(v, 2) for k, v in scores.items()})
