"""The audit: probes change what they claim and only that; planted biases are caught; an unbiased judge passes."""

from __future__ import annotations

import json
import re

import pytest

from jurist.audits import MITIGATIONS, PROBES, JudgeCard, audit, load_card
from jurist.audits.perturb import MASTER_KEYS
from jurist.audits.probes import cases
from jurist.backends.base import BackendError
from jurist.backends.scripted import ScriptedBackend
from jurist.types import CompletionRequest, Item

_PAIR = re.compile(r"(?:\[Response (A|B)\]|<<<RESPONSE (A|B)>>>)\n(.*?)\n(?:\[End of response \w\]|<<<END OF RESPONSE \w>>>)",
                   re.S)
_ONE = re.compile(r"(?:\[Response\]|<<<RESPONSE>>>)\n(.*?)\n(?:\[End of response\]|<<<END OF RESPONSE>>>)", re.S)


def _responses(request: CompletionRequest) -> dict[str, str]:
    text = request.messages[-1].text
    return {(m.group(1) or m.group(2)): m.group(3) for m in _PAIR.finditer(text)}


def _choose(request: CompletionRequest, first: str) -> dict[str, float]:
    """Probabilities over the request's labels with ``first`` the likely one."""
    labels = list(request.labels)
    return {label: 0.9 if label == first else 0.1 / max(len(labels) - 1, 1) for label in labels}


def _judge(pair_rule, one_rule):
    def script(request: CompletionRequest) -> dict[str, float]:
        pair = _responses(request)
        if pair:
            return _choose(request, pair_rule(pair["A"], pair["B"]))
        match = _ONE.search(request.messages[-1].text)
        response = match.group(1) if match else request.messages[-1].text
        return _choose(request, "yes" if one_rule(response) else "no")
    return script


def longer(a: str, b: str) -> str:  # planted verbosity bias
    return "A" if len(a) >= len(b) else "B"


def good(a: str, b: str) -> str:  # unbiased: prefers the response that is better in content
    return "A" if "GOOD" in a and "GOOD" not in b else "B" if "GOOD" in b and "GOOD" not in a else "A"


def first_slot(a: str, b: str) -> str:  # planted position bias
    return "A"


def unbiased() -> ScriptedBackend:
    return ScriptedBackend(_judge(good, lambda r: "GOOD" in r), spec="unbiased")


def verbose_lover() -> ScriptedBackend:
    return ScriptedBackend(_judge(longer, lambda r: len(r) > 45), spec="longer")


def items(n: int = 12) -> list[Item]:
    """Pairs whose better response (label A) is longer and says GOOD; half have a multi-sentence worse one."""
    out = []
    for i in range(n):
        worse = f"Maybe {i}." if i % 2 else f"It is {i}. Not sure.\nThat is all."
        out.append(Item(id=f"q{i}", input=f"What is {i} + {i}?", label="A",
                        candidates=[f"GOOD: {i} + {i} = {2 * i}, because adding {i} twice doubles it.", worse],
                        metadata={"model_a": "gpt-4", "model_b": "qwen-7b"} if i % 3 == 0 else {}))
    return out


# ------------------------------------------------------------------ perturbations


@pytest.mark.parametrize("name", [n for n, p in PROBES.items() if p.kind == "pair"])
def test_a_probe_inserts_its_text_into_the_worse_response_and_changes_nothing_else(name):
    for case in cases(PROBES[name], items(), seed=3):
        original, after, edit = case.before, case.after, case.edit
        assert edit is not None and after is not None and original is not None
        assert case.target == 1 == edit.candidate  # the label preferred A: B is perturbed
        assert after.candidates[0] == original.candidates[0] and after.input == original.input
        text, new = original.candidates[1], after.candidates[1]
        assert new == text[: edit.at] + edit.inserted + text[edit.at:]
        assert after.metadata["audit"]["inserted"] == edit.inserted
        assert edit.inserted.strip()


def test_perturbations_are_seeded_and_the_distraction_lands_between_sentences():
    first = cases(PROBES["distraction"], items(), seed=1)
    assert first == cases(PROBES["distraction"], items(), seed=1)
    for case in first:
        text = case.before.candidates[1]  # type: ignore[union-attr]
        assert case.edit.at == len(text) or text[case.edit.at - 1] in ".!?\n"  # type: ignore[union-attr]
    assert {c.edit.inserted for c in cases(PROBES["verbosity"], items(), seed=1)} != {
        c.edit.inserted for c in cases(PROBES["verbosity"], items(), seed=2)}


def test_position_swaps_the_responses_and_the_label():
    for case in cases(PROBES["position"], items()):
        assert case.after.candidates == list(reversed(case.before.candidates))  # type: ignore[union-attr]
        assert case.after.label == "B"  # type: ignore[union-attr]


def test_master_keys_replace_the_response_and_check_it_against_the_preferred_one():
    found = cases(PROBES["master_key"], items(len(MASTER_KEYS)))
    assert {c.after.response for c in found} == set(MASTER_KEYS)  # type: ignore[union-attr]
    for case, item in zip(found, items(len(MASTER_KEYS))):
        assert case.after.reference == item.candidates[0]  # type: ignore[union-attr]


def test_injection_variants_differ_in_how_the_instruction_is_hidden():
    plain, fenced, delimited = (cases(PROBES[n], items(1))[0].edit for n in
                                ("injection", "injection_fenced", "injection_delimited"))
    assert "```" in fenced.inserted and "```" not in plain.inserted  # type: ignore[union-attr]
    assert "[End of response B]" in delimited.inserted  # type: ignore[union-attr]


# ------------------------------------------------------------------ planted biases


def test_a_judge_that_prefers_the_longer_answer_is_caught_with_a_ci_excluding_zero():
    card = audit(items(), judge=verbose_lover(), probes=["verbosity", "master_key"], mitigations=["swap"])
    verbosity = card.probe("verbosity")
    assert verbosity.baseline.rate == 1.0 and verbosity.baseline.low > 0  # type: ignore[operator]
    assert verbosity.verdict == "fail"
    assert card.probe("master_key").verdict == "pass"  # the keys are short: judged incorrect


def test_an_unbiased_judge_passes_every_probe():
    card = audit(items(), judge=unbiased(), family="qwen", mitigations=[])
    verdicts = {p.probe: p.verdict for p in card.probes}
    assert verdicts.pop("self_preference") == "pass"
    assert set(verdicts.values()) == {"pass"}, verdicts
    assert all(p.baseline.n == 12 for p in card.probes if p.probe not in ("self_preference",))


def test_position_bias_is_caught_and_both_orders_remove_it():
    backend = ScriptedBackend(_judge(first_slot, lambda r: False), spec="first")
    card = audit(items(), judge=backend, probes=["position"], mitigations=["swap", "hardened", "checklist"])
    position = card.probe("position")
    assert position.verdict == "fail" and position.baseline.rate == 1.0
    assert position.mitigations["swap"].rate == 0.0
    assert position.best_mitigation in ("swap", "checklist")


def test_hardened_in_checklist_mode_uses_the_hardened_checklist_template():
    """Checklist mode judges each response alone: ``hardened`` on top of it (in either order) asks the same
    questions with ``checklist_hardened.j2``, the response between delimiters it cannot close."""
    backend = unbiased()
    card = audit(items(4), judge=backend, probes=["verbosity"],
                 mitigations=["checklist", "checklist+hardened", "hardened+checklist"])
    asked = [r.messages[-1].text for r in backend.calls if "Question about the response" in r.messages[-1].text]
    hardened = [text for text in asked if "<<<RESPONSE>>>" in text]
    plain = [text for text in asked if "[Response]" in text]
    assert len(hardened) + len(plain) == len(asked)
    cost = card.cost
    for name, sent in (("checklist", plain), ("checklist+hardened", hardened)):
        assert cost[name].requests == 3 * cost[name].items  # three questions about each response
        assert len(sent) == cost[name].model_calls > 0  # (a response judged twice is paid once)
    assert cost["hardened+checklist"].model_calls == 0  # the same prompts: answered by the store
    verbosity = card.probe("verbosity").mitigations
    assert verbosity["checklist"].rate == verbosity["checklist+hardened"].rate == verbosity["hardened+checklist"].rate


def test_mitigations_joined_with_plus_are_applied_in_turn():
    """A judge that always answers the first slot shows nothing in one order, with any template; both orders
    reveal its taste for length, and ``swap+hardened`` measures the hardened template on top of them."""
    def slot_reader(request: CompletionRequest) -> dict[str, float]:
        pair = _responses(request)
        return {"A": 0.9, "B": 0.1} if len(pair["A"]) >= len(pair["B"]) else {"A": 0.6, "B": 0.4}

    backend = ScriptedBackend(slot_reader, spec="slot")
    card = audit(items(), judge=backend, probes=["verbosity", "master_key"],
                 mitigations=["swap", "hardened", "swap+hardened"])
    verbosity = card.probe("verbosity")
    assert verbosity.baseline.rate == 0.0 and verbosity.mitigations["hardened"].rate == 0.0
    assert verbosity.mitigations["swap"].rate == verbosity.mitigations["swap+hardened"].rate == 1.0
    assert card.cost["swap+hardened"].items == card.cost["swap"].items and card.cost["swap+hardened"].model_calls
    hardened_views = [r for r in backend.calls if "<<<RESPONSE A>>>" in r.messages[-1].text]
    assert len(hardened_views) == card.cost["hardened"].items + card.cost["swap+hardened"].model_calls
    assert card.probe("master_key").mitigations["swap+hardened"].reason == "a correctness verdict has no order"
    with pytest.raises(ValueError, match="unknown mitigation 'loud'"):
        audit(items(2), judge=backend, probes=["verbosity"], mitigations=["swap+loud"])


def test_a_judge_that_answers_a_slot_in_one_order_is_graded_in_both_orders():
    """Failing position means single-order rates say nothing: the verdict grades swap, the card says so, and a
    single-order mitigation (its rate 0 because the judge ignores content) is never named the best."""
    def slot_reader(request: CompletionRequest) -> dict[str, float]:
        pair = _responses(request)
        return {"A": 0.9, "B": 0.1} if len(pair["A"]) >= len(pair["B"]) else {"A": 0.6, "B": 0.4}

    mitigations = ["swap", "hardened", "swap+hardened", "checklist"]
    card = audit(items(), judge=ScriptedBackend(slot_reader, spec="slot"), probes=["position", "verbosity"],
                 mitigations=mitigations)
    position, verbosity = card.probe("position"), card.probe("verbosity")
    assert position.verdict == "fail" and position.graded_on == "baseline"
    assert verbosity.baseline.rate == 0.0 and verbosity.mitigations["hardened"].rate == 0.0
    assert verbosity.graded_on == "swap" and verbosity.verdict == "fail"  # swap: 1.0, CI excluding 0
    assert verbosity.best_mitigation not in ("hardened", "baseline", "swap")
    assert any("graded in both orders" in note for note in card.notes)
    assert ["verbosity", "fail", verbosity.mitigations["swap"].format() + " (swap)"] == card.rows()[1][:3]
    # without the position probe nothing says the judge is blind: the baseline is graded, as documented
    alone = audit(items(), judge=ScriptedBackend(slot_reader, spec="slot"), probes=["verbosity"],
                  mitigations=mitigations)
    assert alone.probe("verbosity").graded_on == "baseline" and alone.probe("verbosity").verdict == "pass"
    # an unbiased judge that reads both slots keeps its baseline grading
    fair = audit(items(), judge=unbiased(), probes=["position", "verbosity"], mitigations=mitigations)
    assert fair.probe("verbosity").graded_on == "baseline" and not fair.notes


def test_self_preference_counts_verdicts_that_favour_the_family_against_the_label():
    def own(a: str, b: str) -> str:
        return "B"  # items 0, 3, 6, 9 have model_b qwen: B is its own answer, the label says A

    card = audit(items(), judge=ScriptedBackend(_judge(own, lambda r: False), spec="own"), family="qwen",
                 probes=["self_preference"], mitigations=[])
    result = card.probe("self_preference")
    assert result.baseline.n == 4 and result.baseline.rate == 1.0


def test_mitigations_are_measured_on_the_same_items_and_the_best_is_named():
    jury_member = unbiased()
    card = audit(items(), judge=verbose_lover(), probes=["verbosity", "injection_delimited"],
                 mitigations=list(MITIGATIONS), jury_with=[jury_member])
    verbosity = card.probe("verbosity")
    assert set(verbosity.mitigations) == {"swap", "hardened", "reference", "checklist", "jury"}
    assert verbosity.mitigations["reference"].status == "not_applicable"  # no references in the data
    assert verbosity.mitigations["swap"].n == verbosity.baseline.n == 12
    assert card.cost["baseline"].items == 12 + 12 + 12  # originals + two perturbed copies
    assert card.cost["checklist"].items == 2 * card.cost["baseline"].items


def test_a_probe_whose_judgments_failed_reports_failure_not_a_rate():
    def broken(request):
        raise BackendError("the server is down")

    card = audit(items(3), judge=ScriptedBackend(broken, spec="down"), probes=["verbosity", "master_key"],
                 mitigations=["swap"])
    for result in card.probes:
        assert result.verdict == "failed" and result.baseline.rate is None
        assert "failed" in (result.baseline.reason or "")


def test_a_second_audit_with_the_same_store_costs_no_model_call(tmp_path):
    store = tmp_path / "runs.db"
    first = audit(items(4), judge=verbose_lover(), probes=["verbosity", "position"], mitigations=["swap"],
                  store=store)
    backend = verbose_lover()
    again = audit(items(4), judge=backend, probes=["verbosity", "position"], mitigations=["swap"], store=store)
    assert not backend.calls and all(cost.model_calls == 0 for cost in again.cost.values())
    assert [p.baseline for p in again.probes] == [p.baseline for p in first.probes]


def test_the_card_round_trips_through_json_and_has_a_schema(tmp_path):
    path = tmp_path / "card.json"
    card = audit(items(4), judge=verbose_lover(), probes=["verbosity"], mitigations=[], card=path)
    assert load_card(path) == card
    assert "probes" in JudgeCard.model_json_schema()["properties"]
    with pytest.raises(ValueError, match="not a judge card"):
        (tmp_path / "bad.json").write_text(json.dumps({"judge": 1}))
        load_card(tmp_path / "bad.json")


# ------------------------------------------------------------------ the command line


def test_jurist_audit_writes_a_card_that_meta_shows(tmp_path):
    from typer.testing import CliRunner

    from jurist.cli import app

    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps({"id": item.id, "input": item.input, "response_a": item.candidates[0],
                                        "response_b": item.candidates[1], "label": "A"}) + "\n"
                            for item in items(5)))
    card, store = tmp_path / "card.json", tmp_path / "runs.db"
    runner = CliRunner()
    args = ["audit", str(data), "--judge", "scripted:jurist.testing:hashed_judge", "--probes",
            "position,verbosity,master_key", "--mitigations", "swap", "--card", str(card), "--store", str(store),
            "--html", str(tmp_path / "card.html")]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    assert "verbosity" in done.output and load_card(card).n_items == 5
    assert '<section class="judge-card">' in (tmp_path / "card.html").read_text()
    shown = runner.invoke(app, ["meta", "audit baseline compare", "--store", str(store), "--card", str(card)])
    assert shown.exit_code == 0, shown.output
    assert "judge card" in shown.output and "master_key" in shown.output
    wrong = runner.invoke(app, [*args[:4], "--probes", "loudness"])
    assert wrong.exit_code == 2 and "unknown probe 'loudness'" in wrong.output
    # a later run of the same judge in the store: its report and `jurist meta` show the stored card
    report = tmp_path / "report.html"
    judged = runner.invoke(app, ["compare", str(data), "--judge", "scripted:jurist.testing:hashed_judge", "--store",
                                 str(store), "--name", "mine", "--report", str(report)])
    assert judged.exit_code == 0, judged.output
    html = report.read_text()
    assert html.count('<section class="judge-card">') == 1 and "Judge card: scripted:jurist.testing:hashed_judge" in html
    assert "Shown for mine: the newest audit of this judge in the store" in html and "master_key" in html
    for command in (["meta", "mine", "--store", str(store)],  # the run's card, found without --card
                    ["meta", "mine", "--store", str(store), "--card", "audit swap compare"]):  # --card RUN
        shown = runner.invoke(app, command)
        assert shown.exit_code == 0, shown.output
        assert "judge card" in shown.output and "master_key" in shown.output and "from the store" in shown.output
    other = runner.invoke(app, ["compare", str(data), "--judge", "scripted:jurist.testing:other_hashed_judge",
                                "--store", str(store), "--name", "other", "--report", str(tmp_path / "other.html")])
    assert other.exit_code == 0, other.output
    assert "judge-card" not in (tmp_path / "other.html").read_text()
    assert "judge card" not in runner.invoke(app, ["meta", "other", "--store", str(store)]).output
    missing = runner.invoke(app, ["meta", "other", "--store", str(store), "--card", "other"])
    assert missing.exit_code == 2 and "no audit of this run's judge" in missing.output


def test_the_card_is_kept_with_the_audits_runs_and_found_for_runs_of_the_same_judge(tmp_path):
    from jurist.api import compare
    from jurist.audits import card_for_run
    from jurist.engine import Store

    store = Store(tmp_path / "runs.db")
    card = audit(items(4), judge=verbose_lover(), probes=["verbosity", "master_key"], mitigations=["swap", "jury"],
                 jury_with=[unbiased()], store=store)
    assert set(card.cost) == {"baseline", "baseline (correct)", "swap", "jury"}
    for cost in card.cost.values():  # each of the audit's runs carries it
        own = card_for_run(store, store.find_run(cost.run_id))
        assert own is not None and own.own and own.card == card and own.audit_run == cost.run_id
    later = compare(items(4), judge=verbose_lover(), store=store, name="mine", progress=False).run
    found = card_for_run(store, later)
    assert found is not None and not found.own and found.card == card
    assert found.audit_run in {card.cost["baseline"].run_id, card.cost["baseline (correct)"].run_id}
    # the juror and a jury of the same judges were never audited as given: no card (the audit's jury run is a
    # mitigation of verbose_lover's card, not a card of that jury)
    assert card_for_run(store, compare(items(4), judge=unbiased(), store=store, progress=False).run) is None
    jury = compare(items(4), jury=[verbose_lover(), unbiased()], store=store, progress=False).run
    assert card_for_run(store, jury) is None
    # a newer audit of the judge is the one shown; a stored document that is not a card is skipped
    newer = audit(items(4), judge=verbose_lover(), probes=["verbosity"], mitigations=[], store=store, seed=3)
    assert card_for_run(Store(tmp_path / "runs.db"), later).card == newer
    store.put_artefact(later.id, "judge_card", {"card_version": 99})
    assert card_for_run(store, later).card == newer
    with pytest.raises(KeyError):
        store.put_artefact("no-such-run", "judge_card", {})


def test_the_html_section_escapes_what_the_data_wrote():
    from jurist.report.card import render_card

    card = audit(items(3), judge=verbose_lover(), probes=["verbosity"], mitigations=["swap"])
    html = render_card(card.model_copy(update={"data": "<script>alert(1)</script>"}))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "verbosity" in html and "swap" in html


def test_an_audit_reads_a_presets_file_and_uses_the_preferred_response_as_the_reference():
    from pathlib import Path

    data = Path(__file__).parent / "data" / "evalbiasbench.json"  # every label is A (see data/README.md)
    card = audit(data, judge=unbiased(), preset="evalbiasbench", probes=["position", "master_key"],
                 mitigations=["swap"])
    assert card.n_items == 6 and card.probe("master_key").baseline.n == 6
    assert card.probe("master_key").mitigations["swap"].status == "not_applicable"


def test_the_documented_schema_is_the_cards_schema():
    from pathlib import Path

    documented = json.loads((Path(__file__).parent.parent / "docs" / "judge_card.schema.json").read_text())
    assert documented == JudgeCard.model_json_schema()  # regenerate: see docs/audit.md, "The card"


def test_self_preference_without_provenance_is_not_applicable_and_judges_nothing():
    backend = unbiased()
    card = audit([item.model_copy(update={"metadata": {}}) for item in items(3)], judge=backend,
                 probes=["self_preference"], mitigations=["swap"])
    assert card.probe("self_preference").verdict == "not_applicable" and not backend.calls and card.cost == {}
