"""Step verification logic on the scripted backend: P(correct) per step, the first error, online checks, loading."""

from __future__ import annotations

import json

import pytest

from jurist.apps.steps import StepVerifier, Trajectory, first_error_scores, load_trajectories, step_auc
from jurist.backends.base import BackendError
from jurist.backends.scripted import ScriptedBackend


def script(request):
    latest = request.messages[-1].text.split("[Response]")[1]
    if "BROKEN" in latest:
        raise BackendError("down")
    return {"no": 0.9, "yes": 0.1} if "WRONG" in latest else {"yes": 0.95, "no": 0.05}


def verifier(**options):
    return StepVerifier.of(ScriptedBackend(script, spec="s"), **options)


def test_first_failing_step_is_located_and_later_steps_are_still_scored():
    t = Trajectory(id="t", problem="2+2*3?", steps=["2*3=6", "2+6=9 WRONG", "so 9 WRONG", "done"], label=1)
    result = verifier().verify(t)
    assert [round(s.p_correct, 2) for s in result.steps] == [0.95, 0.1, 0.1, 0.95]
    assert result.first_error == 1 and result.label == 1


def test_a_clean_trajectory_has_no_error_and_an_unusable_step_makes_it_unknown():
    v = verifier()
    assert v.verify(Trajectory(id="a", problem="p", steps=["ok", "ok"])).first_error == -1
    unknown = v.verify(Trajectory(id="b", problem="p", steps=["ok", "BROKEN", "WRONG"]))
    assert unknown.first_error is None and "no usable verdict" in unknown.reason
    after = v.verify(Trajectory(id="c", problem="p", steps=["WRONG", "BROKEN"]))
    assert after.first_error == 0  # the error came before the unusable step


def test_each_step_sees_the_problem_and_the_steps_before_it():
    backend = ScriptedBackend(script, spec="s")
    StepVerifier.of(backend).verify(Trajectory(id="t", problem="THE PROBLEM", steps=["first", "second"]))
    second = backend.calls[-1].messages[-1].text
    assert "THE PROBLEM" in second and "Step 1: first" in second and "Step 2: second" in second


def test_online_check_one_step_at_a_time():
    v = verifier()
    steps: list[str] = []
    for proposed in ["compute 6", "add 2 WRONG"]:
        verdict = v.check("2+2*3?", steps, proposed)
        if not verdict.passed:
            break
        steps.append(proposed)
    assert steps == ["compute 6"] and verdict.index == 1 and verdict.p_correct == pytest.approx(0.1)


def test_threshold_moves_the_first_error():
    t = Trajectory(id="t", problem="p", steps=["ok", "WRONG"])
    assert verifier(threshold=0.05).verify(t).first_error == -1


def test_a_verdict_reread_at_another_threshold_moves_its_first_error_without_judging_again():
    backend = ScriptedBackend(script, spec="s")
    result = StepVerifier.of(backend).verify(Trajectory(id="t", problem="p", steps=["ok", "WRONG", "ok"], label=1))
    calls = len(backend.calls)
    assert result.first_error == 1
    lenient = result.at(0.05)
    assert lenient.first_error == -1 and all(s.passed for s in lenient.steps) and lenient.reason == "every step passed"
    strict = result.at(0.99)
    assert strict.first_error == 0 and [s.passed for s in strict.steps] == [False, False, False]
    assert result.first_error == 1 and len(backend.calls) == calls  # the original is unchanged, nothing re-judged


def test_step_auc_compares_the_steps_before_the_first_error_with_the_first_wrong_step_only():
    def graded(request):
        latest = request.messages[-1].text.split("[Response]")[1]
        p = float(latest.split("P=")[1].split()[0])
        return {"yes": p, "no": 1 - p}

    v = StepVerifier.of(ScriptedBackend(graded, spec="g"))
    trajectories = [
        # the steps after the first error (P=0.99) are left out: the label says nothing of them
        Trajectory(id="1", problem="p", steps=["P=0.9", "P=0.2", "P=0.99"], label=1),
        Trajectory(id="2", problem="p", steps=["P=0.8", "P=0.7"], label=-1),
        Trajectory(id="3", problem="p", steps=["P=0.3"], label=0),
        Trajectory(id="4", problem="p", steps=["P=0.01"]),  # unlabelled: left out
    ]
    results = v.verify_many(trajectories)
    perfect = step_auc(results, n_resamples=200)
    assert perfect.value == 1.0 and perfect.n == 5 and perfect.n_groups == 3 and perfect.method == "cluster bootstrap"
    # now two first wrong steps are rated as high as right ones: of the 3 x 3 pairs, 6 ordered, 2 misordered, 1 tied
    trajectories[2] = Trajectory(id="3", problem="p", steps=["P=0.75"], label=0)
    trajectories.append(Trajectory(id="5", problem="p", steps=["P=0.8"], label=0))
    mixed = step_auc(v.verify_many(trajectories), n_resamples=0)
    assert mixed.value == pytest.approx((6 + 0.5) / 9)
    only_right = step_auc(v.verify_many([trajectories[1]]), n_resamples=0)
    assert only_right.value != only_right.value  # NaN: no wrong step to compare with


def test_scores_as_processbench_counts_them():
    v = verifier()
    results = v.verify_many([
        Trajectory(id="1", problem="p", steps=["ok", "WRONG"], label=1),  # found
        Trajectory(id="2", problem="p", steps=["WRONG", "WRONG"], label=1),  # too early
        Trajectory(id="3", problem="p", steps=["ok", "ok"], label=-1),  # right
        Trajectory(id="4", problem="p", steps=["BROKEN"], label=-1),  # unknown counts as wrong
    ])
    scores = first_error_scores(results)
    assert scores.erroneous.value == 0.5 and scores.correct.value == 0.5 and scores.f1 == 0.5
    assert scores.unknown == 1


def test_loader_reads_processbench_rows_tool_calls_and_names_bad_lines(tmp_path):
    good = tmp_path / "t.jsonl"
    good.write_text(json.dumps({"id": "x", "problem": "p", "steps": ["a", "b"], "label": -1,
                                "generator": "m"}) + "\n" +
                    json.dumps({"input": "book a flight", "steps": [{"call": {"search": "LHR"}, "result": "3 found"},
                                                                     {"text": "pick the first"}]}) + "\n")
    loaded = load_trajectories(good)
    assert loaded[0].label == -1 and loaded[0].metadata == {"generator": "m"}
    assert loaded[1].steps[0] == 'Tool call: {"search": "LHR"}\nResult: 3 found' and loaded[1].id == "line-2"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"problem": "p", "steps": ["a"], "label": 3}) + "\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:1: `label`"):
        load_trajectories(bad)
    bad.write_text(json.dumps({"problem": "p", "steps": []}) + "\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:1: `steps`"):
        load_trajectories(bad)


def test_the_processbench_sample_in_the_repository_loads():
    from pathlib import Path

    sample = Path(__file__).parents[1] / "examples" / "data" / "processbench_gsm8k_sample.jsonl"
    loaded = load_trajectories(sample)
    assert len(loaded) == 30 and {t.label == -1 for t in loaded} == {True, False}


def test_loader_names_a_line_that_is_not_json(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"problem": "p", "steps": ["a"]}\n{oops\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: invalid JSON"):
        load_trajectories(bad)
