"""Hypothesis over hostile input: the loaders, template rendering and output parsing never crash.

Every generated file loads into items and row errors (each naming the file, the line or record and,
for a bad field, the field) or raises :class:`JuristInputError` naming the file; templates raise
only :class:`TemplateError`; the text parser and the log-probability readers return a label, a
distribution or an explicit unscored verdict, never an exception or a NaN. Bounded (``max_examples``
per target, no deadline) so the file runs in well under a minute; ``FUZZ_COUNTS`` records how many
cases each target tried, and the last test prints them (docs/reliability.md quotes them).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jurist import Completion, Item, PairwiseProtocol, PointwiseProtocol
from jurist.io import JuristInputError, load_items
from jurist.plan import DataSettings, EngineSettings, JudgeSettings, Outputs, Plan, PlanError, ProtocolSettings
from jurist.protocols.base import label_probabilities, parse_label, render_chat
from jurist.protocols.checklist import ChecklistProtocol
from jurist.protocols.listwise import ListwiseProtocol
from jurist.protocols.reference import ReferenceProtocol
from jurist.protocols.templating import TemplateError, check_template, load_examples

FUZZ_COUNTS: Counter[str] = Counter()
BOUNDED = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                            HealthCheck.too_slow])

# -- values a hostile file holds -----------------------------------------------------------------

text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40)
# longer than csv's default field limit (131,072), an OS path or a prompt; one size keeps the repr short
huge = st.sampled_from("x\u00e9\U0001f600\\\"{").map(lambda c: c * 140_000)
scalar = st.one_of(st.none(), st.booleans(), st.integers(-(10**30), 10**30),
                   st.floats(allow_nan=True, allow_infinity=True), text)
value = st.recursive(scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                     st.dictionaries(text, inner, max_size=3)), max_leaves=6)
FIELDS = ["id", "input", "response", "response_a", "response_b", "reference", "label", "metadata", "checklist",
          "candidates", "images", "frames", "caption"]
record = st.dictionaries(st.sampled_from(FIELDS), st.one_of(value, huge.filter(lambda _: True)), max_size=7)
good = st.fixed_dictionaries({"id": st.sampled_from(["a", "b", "c"]), "input": text, "response": text,
                              "response_a": text, "response_b": text})
row = st.one_of(record, good)


def jsonl_line(draw_value: object) -> bytes:
    return json.dumps(draw_value, ensure_ascii=False).encode("utf-8")


raw_line = st.one_of(
    row.map(jsonl_line),
    st.binary(max_size=60),  # anything: invalid UTF-8, invalid JSON, NUL bytes
    st.sampled_from([b"{", b"[1, 2]", b'"text"', b"null", b"", b"   ", b"\xef\xbb\xbf{}", b'{"id": NaN}',
                     b'{"input": "\xff\xfe"}', b'{"a": 1e999}', b'{"id": "a"} trailing']),
)

LINE_OR_RECORD = re.compile(r":(\d+): |: record \d+: ")


def check_loaded(path: Path, task: str, whole_file: str = "") -> None:
    """Load; every outcome is items, row errors that name the place, or one JuristInputError naming the file
    (and, for formats that can be read row by row, only for a reason matching ``whole_file``)."""
    try:
        result = load_items(path, task=task)  # type: ignore[arg-type]
    except JuristInputError as error:
        assert str(path) in str(error)
        assert re.search(whole_file, str(error)), f"the whole file was refused for a row's fault: {error}"
        return
    ids = [item.id for item in result.items]
    assert len(ids) == len(set(ids)), "duplicate ids were loaded"
    for item in result.items:
        assert isinstance(item, Item) and item.input.strip()
    for error in result.errors:
        message = str(error)
        assert message.startswith(str(path)) and LINE_OR_RECORD.search(message), message
        assert error.field is None or f"field '{error.field}'" in message


TASKS = st.sampled_from(["score", "compare", "rank"])


@BOUNDED
@given(lines=st.lists(raw_line, max_size=8), bom=st.booleans(), task=TASKS)
def test_jsonl_loader(tmp_path_factory, lines, bom, task):
    FUZZ_COUNTS["loader: JSONL"] += 1
    path = tmp_path_factory.mktemp("jsonl") / "data.jsonl"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + b"\n".join(lines))
    check_loaded(path, task, whole_file="^$")  # JSONL is read line by line: no line can sink the file


@BOUNDED
@given(records=st.one_of(st.lists(row, max_size=6).map(jsonl_line), st.binary(max_size=80), value.map(jsonl_line)),
       task=TASKS)
def test_json_loader(tmp_path_factory, records, task):
    FUZZ_COUNTS["loader: JSON"] += 1
    path = tmp_path_factory.mktemp("json") / "data.json"
    path.write_bytes(records)
    check_loaded(path, task)


csv_cell = st.one_of(text, huge, st.binary(max_size=10).map(lambda b: b.decode("latin-1")),
                     st.sampled_from(['"', '""', 'a"b', "\r", "\n", "\x00", ",", "1", "A", "[1, 0]", "{}"]))


@BOUNDED
@given(header=st.lists(st.one_of(st.sampled_from(FIELDS), text), min_size=0, max_size=6),
       rows=st.lists(st.lists(csv_cell, max_size=7), max_size=5), bom=st.booleans(),
       garbage=st.one_of(st.none(), st.binary(min_size=1, max_size=8)), task=TASKS)
def test_csv_loader(tmp_path_factory, header, rows, bom, garbage, task):
    FUZZ_COUNTS["loader: CSV"] += 1
    path = tmp_path_factory.mktemp("csv") / "data.csv"
    body = "\n".join(",".join(cells) for cells in [header, *rows]).encode("utf-8", "surrogatepass")
    if garbage is not None:  # e.g. invalid UTF-8 inside a row
        body = body + b"\n" + garbage + b",x\n"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + body)
    check_loaded(path, task, whole_file="header")  # only a bad header sinks a CSV file


parquet_column = st.one_of(
    st.lists(st.one_of(st.none(), text), min_size=3, max_size=3),
    st.lists(st.one_of(st.none(), st.integers(-5, 5)), min_size=3, max_size=3),
    st.lists(st.one_of(st.none(), st.floats()), min_size=3, max_size=3),
    st.lists(st.one_of(st.none(), st.binary(max_size=5)), min_size=3, max_size=3),
    st.lists(st.one_of(st.none(), st.lists(st.integers(0, 3), max_size=3)), min_size=3, max_size=3),
    st.lists(st.one_of(st.none(), st.fixed_dictionaries({"timestamp": st.floats(), "image": text})), min_size=3,
             max_size=3),
    st.lists(huge, min_size=3, max_size=3),
)


@BOUNDED
@given(columns=st.dictionaries(st.sampled_from(FIELDS), parquet_column, max_size=6),
       damage=st.one_of(st.none(), st.integers(0, 2000)), task=TASKS)
def test_parquet_loader(tmp_path_factory, columns, damage, task):
    FUZZ_COUNTS["loader: Parquet"] += 1
    path = tmp_path_factory.mktemp("parquet") / "data.parquet"
    try:
        table = pa.table(columns) if columns else pa.table({"other": [1, 2, 3]})
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # a column pyarrow itself cannot type: not a file we can make
        return
    pq.write_table(table, path)
    if damage is not None:  # overwrite some bytes: a corrupt page, footer or magic number
        data = bytearray(path.read_bytes())
        at = damage % len(data)
        data[at:at + 16] = b"\x00\xff" * 8
        path.write_bytes(bytes(data[:len(data)]))
    check_loaded(path, task)


@BOUNDED
@given(lines=st.lists(raw_line, max_size=5), task=st.sampled_from(["score", "compare"]))
def test_examples_loader(tmp_path_factory, lines, task):
    FUZZ_COUNTS["loader: few-shot examples"] += 1
    path = tmp_path_factory.mktemp("examples") / "shots.jsonl"
    path.write_bytes(b"\n".join(lines))
    try:
        examples = load_examples(path, task, labels=["1", "2", "3", "4", "5"] if task == "score" else ["A", "B"])
    except ValueError as error:
        assert str(path) in str(error) and not isinstance(error, UnicodeDecodeError), error
        return
    assert examples


# -- templates -----------------------------------------------------------------------------------

jinja_text = st.one_of(text, st.lists(st.sampled_from(
    ["{{", "}}", "{%", "%}", "{#", "#}", "{{ input }}", "{{ response }}", "{{ nope }}", "{% if %}", "{% endif %}",
     "{{ input | upper }}", "{{ ''.__class__ }}", "{{ 1/0 }}", "{{ 'a' + 1 }}", "{{ labels[9] }}", "{% for x in "
     "labels %}{{ x }}{% endfor %}", "{{ input.mro() }}", "{% raw %}", "{{ range(3) | list }}", "\n", "x",
     "{{ role }}", "{{ rubric }}{{ labels | join(', ') }}"]), max_size=8).map("".join))


@BOUNDED
@given(template=jinja_text, kind=st.sampled_from(["pointwise", "pairwise"]))
def test_user_templates_fail_only_with_template_error(template, kind):
    FUZZ_COUNTS["templates: check_template"] += 1
    protocol = PointwiseProtocol(template=template) if kind == "pointwise" else PairwiseProtocol(template=template)
    try:
        warnings = check_template(template, "t.j2", protocol)
    except TemplateError as error:
        assert str(error).startswith("t.j2")
        return
    assert isinstance(warnings, list)


@BOUNDED
@given(values=st.dictionaries(st.sampled_from(["input", "response", "reference", "criteria"]),
                              st.one_of(text, jinja_text, huge), min_size=4))
def test_hostile_item_text_renders_verbatim(values):
    FUZZ_COUNTS["templates: render item text"] += 1
    item = Item(id="x", input=values["input"] or "?", candidates=[values["response"], values["criteria"]],
                reference=values["reference"] or None)
    for protocol in (PointwiseProtocol(), PairwiseProtocol()):
        messages = protocol.render(item, 0).messages
        user = messages[-1].content
        assert item.candidates[0].strip() in user  # data is never evaluated as template code
    assert render_chat("{{ input }}", input=values["input"])[-1].content == values["input"].strip()


# -- output parsing and log-probability reading --------------------------------------------------

LABEL_SETS = st.sampled_from([["A", "B"], ["A", "B", "tie"], ["1", "2", "3", "4", "5"], ["yes", "no"],
                              ["pass", "fail"], [str(v) for v in range(1, 11)], list("ABCDEFGHIJ")])
answer_text = st.one_of(text, st.lists(st.sampled_from(
    ["A", "B", "a", "tie", "Tie", "1", "5", "10", "1-5", "3.5", "4/5", "yes", "No", "not", "Response", "Answer:",
     "**", "[[", "]]", " ", "\n", ".", ",", "I", "is better", "than", "out of"]), max_size=10).map("".join))


@BOUNDED
@given(answer=answer_text, labels=LABEL_SETS)
def test_parse_label_returns_a_label_or_a_reason(answer, labels):
    FUZZ_COUNTS["parsing: parse_label"] += 1
    parsed = parse_label(answer, labels)
    assert (parsed.label in labels and parsed.why is None) or (parsed.label is None and parsed.why)


logprob = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(-30, 0))
token = st.one_of(st.sampled_from([" A", "A", "a", "B", "tie", " 3", "5", "yes", " No", "The", "", "**", "\n"]), text)


@BOUNDED
@given(top=st.lists(st.dictionaries(token, logprob, max_size=6), max_size=2),
       scored=st.one_of(st.none(), st.dictionaries(st.sampled_from(["A", "B", "tie", "yes", "no", "1", "5"]),
                                                    logprob, max_size=4)),
       answer=answer_text, labels=LABEL_SETS)
def test_label_probabilities_are_a_distribution_or_nothing(top, scored, answer, labels):
    FUZZ_COUNTS["parsing: label_probabilities"] += 1
    read = label_probabilities(Completion(text=answer, top_logprobs=top, label_logprobs=scored), labels)
    if read is None:
        assert not top and scored is None
        return
    distribution, mass = read
    assert 0.0 <= mass <= 1.0
    if distribution:
        assert all(math.isfinite(p) and p >= 0 for p in distribution.values())
        assert math.isclose(sum(distribution.values()), 1.0, rel_tol=1e-9)


PROTOCOLS = [(PairwiseProtocol(), 0), (PairwiseProtocol(allow_tie=True), 1), (PointwiseProtocol(), 0),
             (PointwiseProtocol(scale="1-10"), 0), (ListwiseProtocol(), ListwiseProtocol.views(4)[1]),
             (ChecklistProtocol(["Is it right?"]), 0), (ReferenceProtocol(), 0)]


@BOUNDED
@given(top=st.lists(st.dictionaries(token, logprob, max_size=6), max_size=2), answer=answer_text,
       which=st.integers(0, len(PROTOCOLS) - 1))
def test_every_protocol_reads_any_completion_into_a_verdict(top, answer, which):
    FUZZ_COUNTS["parsing: Protocol.read"] += 1
    protocol, view = PROTOCOLS[which]
    verdict = protocol.read(Completion(text=answer, top_logprobs=top), view)
    assert verdict.status in ("scored", "unscored")
    if verdict.status == "scored":
        numbers = [verdict.score, verdict.confidence, verdict.label_mass, *verdict.distribution.values()]
        assert all(n is None or math.isfinite(n) for n in numbers)
    else:
        assert verdict.error and verdict.raw == answer


# -- plan files ----------------------------------------------------------------------------------

SECTIONS = {"protocol": ProtocolSettings, "judge": JudgeSettings, "data": DataSettings, "engine": EngineSettings,
            "outputs": Outputs}
plan_key = st.one_of(st.sampled_from(sorted(Plan.model_fields)), text)
# 20,000 characters: a plan file is parsed by PyYAML's pure-Python loader, and 140,000 would cost seconds a case
plan_value = st.one_of(value, huge.map(lambda s: s[:20_000]), st.sampled_from(["compare", "score", "rank", "swap", "local", "ray", "x.jsonl",
                                                     "http://127.0.0.1:1/v1", "@no/such/file", "1-10", "-1", "0"]))


@st.composite
def plan_data(draw):
    """A mapping shaped like a plan: real and unknown fields, sections of real and unknown fields, any values."""
    data = draw(st.dictionaries(plan_key, plan_value, max_size=4))
    for name in draw(st.lists(st.sampled_from(sorted(SECTIONS)), unique=True, max_size=3)):
        keys = st.one_of(st.sampled_from(sorted(SECTIONS[name].model_fields)), text)
        data[name] = draw(st.one_of(st.dictionaries(keys, plan_value, max_size=4), plan_value))
    if draw(st.booleans()):
        data["task"] = draw(st.sampled_from(["score", "compare", "rank", "check", "correct"]))
    return data


def yaml_bytes(data: object) -> bytes:
    return yaml.safe_dump(data, allow_unicode=True).encode("utf-8", "surrogatepass")


plan_file = st.one_of(
    plan_data().map(yaml_bytes), plan_data().map(jsonl_line), value.map(jsonl_line), st.binary(max_size=80),
    st.sampled_from([b"", b"task: [", b"task: compare\njudge: {spec: *x}", b"!!python/object:os.system {}",
                     b"\xef\xbb\xbftask: compare", b"task: compare\nprotocol: {criteria: \xff\xfe}",
                     b"task: compare\n\ttab: 1", b"- task\n- compare", b"task: compare\ntask: score",
                     b"{" * 200, b"task: compare\nengine: {concurrency: 1e999}"]),
)
PLAN_WHOLE_FILE = re.compile(r"not YAML or JSON|a plan is a mapping|not valid UTF-8|cannot read the plan")


@BOUNDED
@given(content=plan_file, suffix=st.sampled_from([".yaml", ".json", ".yml"]))
def test_plan_files_load_or_name_the_file_and_field(tmp_path_factory, content, suffix):
    FUZZ_COUNTS["plans: Plan.load"] += 1
    path = tmp_path_factory.mktemp("plan") / f"plan{suffix}"
    path.write_bytes(content)
    try:
        plan = Plan.load(path)
    except PlanError as error:
        message = str(error)
        assert message.startswith(f"{path}:"), message
        named = re.findall(r"`([^`]+)`", message)
        assert all(f"`{field}`" in message for field in error.fields)
        assert error.fields or named or PLAN_WHOLE_FILE.search(message), message
        return
    again = path.with_name(f"again{suffix}")
    plan.save(again)
    assert Plan.load(again) == plan  # what loads, saves and loads back the same


# -- the crashes the targets above found, one regression test each ---------------------------------


@pytest.mark.parametrize("image", ["x" * 5000 + ".png", "~no-such-user-here/a.png"])
def test_an_unusable_image_path_is_a_row_error(tmp_path, image):
    # a name longer than the OS allows raised OSError; an unknown ~user RuntimeError, out of load_items
    path = tmp_path / "items.jsonl"
    path.write_text(json.dumps({"input": "q", "response": "r", "images": [image]}) + "\n"
                    + json.dumps({"input": "q", "response": "r"}) + "\n")
    result = load_items(path, task="score")
    assert len(result.items) == 1 and result.errors[0].line == 1 and result.errors[0].field == "images[0]"


def test_a_corrupt_parquet_page_is_an_input_error_naming_the_file(tmp_path):
    path = tmp_path / "items.parquet"
    pq.write_table(pa.table({"input": ["q"] * 50, "response": ["r" * 50] * 50}), path)
    data = bytearray(path.read_bytes())
    data[8:40] = b"\x00\xff" * 16  # the first page header: the footer still opens, the page does not
    path.write_bytes(bytes(data))
    with pytest.raises(JuristInputError, match="items.parquet"):
        load_items(path, task="score")


def test_a_csv_row_with_a_huge_field_or_bad_bytes_is_not_the_whole_file(tmp_path):
    path = tmp_path / "items.csv"
    path.write_bytes(b"input,response\nq," + b"x" * 200_000 + b"\nq,\xff\xfe\nq,fine\n")
    result = load_items(path, task="score")
    assert [len(item.response) for item in result.items] == [200_000, 4]
    assert [(e.line, "UTF-8" in e.message) for e in result.errors] == [(3, True)]


def test_examples_with_bytes_that_are_not_utf8_name_the_line(tmp_path):
    path = tmp_path / "shots.jsonl"
    path.write_bytes(b'{"input": "q", "response": "r", "answer": "3"}\n{"input": "\xff"}\n')
    with pytest.raises(ValueError, match=r"shots.jsonl:2: not valid UTF-8"):
        load_examples(path, "score", labels=["1", "2", "3"])


@pytest.mark.parametrize("expression", ["{{ 1/0 }}", "{{ 'a' + 1 }}", "{{ labels[9] }}"])
def test_a_template_expression_that_fails_is_a_template_error_with_its_line(expression):
    template = "Grade it.\n" + expression + "\nReply with only the score ({{ labels | join(', ') }})."
    with pytest.raises(TemplateError, match=r"^t.j2:2: cannot render"):
        check_template(template, "t.j2", PointwiseProtocol(template=template))


@pytest.mark.parametrize("logprob", [710.0, math.inf, math.nan])
def test_out_of_range_log_probabilities_give_a_distribution_not_an_overflow_or_nan(logprob):
    distribution, mass = label_probabilities(Completion(text="A", label_logprobs={"A": logprob, "B": -1.0}),
                                             ["A", "B"])
    assert all(math.isfinite(p) for p in distribution.values()) and 0.0 <= mass <= 1.0


def test_a_plan_file_that_is_not_utf8_names_the_file_and_line(tmp_path):
    # a bare UnicodeDecodeError escaped Plan.load (and `jurist run PLAN` showed a traceback)
    path = tmp_path / "plan.yaml"
    path.write_bytes(b"task: compare\nprotocol:\n  criteria: caf\xe9\n")
    with pytest.raises(PlanError, match=r"plan.yaml:3: not valid UTF-8"):
        Plan.load(path)


def test_a_plan_field_with_an_empty_name_is_named(tmp_path):
    # the error said only "Extra inputs are not permitted": the empty key was dropped from the message
    path = tmp_path / "plan.yaml"
    path.write_text('task: compare\njudge:\n  "": local\n')
    with pytest.raises(PlanError, match=r'`judge\.""`: Extra inputs are not permitted') as raised:
        Plan.load(path)
    assert raised.value.fields == ('judge.""',)


def test_zz_fuzz_counts_are_recorded(capsys):
    """Runs last in this file (by name) and prints how many cases each target above tried."""
    assert all(count > 0 for count in FUZZ_COUNTS.values())
    with capsys.disabled():
        print("\nfuzz cases tried:", dict(sorted(FUZZ_COUNTS.items())), f"total {sum(FUZZ_COUNTS.values())}")
