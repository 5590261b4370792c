"""The pytest plugin: the fixture, assert_judged, and replay from the store without calling the judge."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import jurist  # imported before pytester snapshots sys.modules: numpy cannot be imported twice in one process

pytest_plugins = ["pytester"]

SCRIPT = '''
import pathlib

def judge(request):
    with open(pathlib.Path(__file__).with_name("calls.txt"), "a") as log:
        log.write("call\\n")
    text = request.messages[-1].text
    return {"5": 0.98, "1": 0.02} if "Paris" in text else {"1": 0.98, "5": 0.02}
'''

TESTS = '''
def test_good(jurist_judge):
    jurist_judge.assert_judged("Paris.", "Capital of France?", rubric="Is it correct?", min_score=4)

def test_bad(jurist_judge):
    jurist_judge.assert_rejected("Lyon.", "Capital of France?", rubric="Is it correct?", min_score=4)
'''


def prepared(pytester, pytestconfig, monkeypatch, **files):
    """A suite run in a subprocess (numpy cannot be imported twice in one), seeing this jurist and the script."""
    pytester.makepyfile(judge_script=SCRIPT, **files)

    paths = [str(Path(jurist.__file__).parents[1]), str(pytester.path), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    loaded = pytestconfig.pluginmanager.has_plugin("jurist")  # installed: the entry point loads it already
    return [] if loaded else ["-p", "jurist.pytest_plugin"]


@pytest.fixture
def suite(pytester, pytestconfig, monkeypatch):
    return pytester, prepared(pytester, pytestconfig, monkeypatch, test_answers=TESTS)


def calls(pytester):
    log = pytester.path / "calls.txt"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_record_then_replay_without_calls(suite):
    pytester, plugin = suite
    judge = ["--jurist-judge", "scripted:judge_script:judge"]
    recorded = pytester.runpytest_subprocess(*plugin, *judge, "--jurist-mode", "record")
    recorded.assert_outcomes(passed=2)
    assert calls(pytester) == 2
    replayed = pytester.runpytest_subprocess(*plugin, *judge, "--jurist-mode", "replay")
    replayed.assert_outcomes(passed=2)
    assert calls(pytester) == 2  # the recorded verdicts: the judge was not called again


def test_replay_of_an_unrecorded_answer_fails_and_says_how_to_record(suite):
    pytester, plugin = suite
    result = pytester.runpytest_subprocess(*plugin, "--jurist-judge", "scripted:judge_script:judge", "--jurist-mode", "replay")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*judged escalate, expected accept*--jurist-mode record*"])
    assert calls(pytester) == 0


def test_a_wrong_decision_fails_with_the_reasons(pytester, pytestconfig, monkeypatch):
    plugin = prepared(pytester, pytestconfig, monkeypatch, test_wrong='''
def test_wrong(jurist_judge):
    jurist_judge.assert_judged("Lyon.", "Capital of France?", rubric="Is it correct?", min_score=4)
''')
    result = pytester.runpytest_subprocess(*plugin, "--jurist-judge", "scripted:judge_script:judge")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*judged reject, expected accept*score 1.08 < 4*"])


def test_the_plugin_bar_is_the_gate_bar():
    from jurist import pytest_plugin
    from jurist.apps import gate

    assert pytest_plugin.DEFAULT_CONFIDENCE == gate.DEFAULT_CONFIDENCE


def test_gates_of_one_session_share_one_backend(tmp_path):
    from jurist.backends.scripted import ScriptedBackend
    from jurist.engine.store import Store
    from jurist.pytest_plugin import TestJudge

    judge = TestJudge("s", Store(tmp_path / "p.db"), "record")
    judge._backend = ScriptedBackend(lambda r: {"5": 1.0}, spec="s")
    judge.assert_judged("a", rubric="one", min_score=4)
    judge.assert_judged("a", rubric="two", min_score=4)
    assert len(judge._gates) == 2
    assert {id(g.online.judge.backend) for g in judge._gates.values()} == {id(judge._backend)}
