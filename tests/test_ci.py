"""`jurist gate-run`: a stored run passes or fails on its confidence bound, never on the point estimate alone."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import jurist
from jurist.apps.ci import check_run
from jurist.backends.base import BackendError
from jurist.backends.scripted import ScriptedBackend
from jurist.cli import app
from jurist.engine import Store
from jurist.types import Item


def items(n=40):
    return [Item(id=f"i{k}", input="q", candidates=[f"answer {k}"]) for k in range(n)]


def stored_run(tmp_path, script, name, n=40):
    path = tmp_path / "runs.db"
    jurist.score(items(n), judge=ScriptedBackend(script, spec="s"), store=path, name=name)
    return str(path)


def alternating(request):  # scores 5 and 3 on alternate answers: mean 4 with a spread
    k = int(request.messages[-1].text.split("answer ")[1].split()[0])
    return {"5": 1.0} if k % 2 else {"3": 1.0}


def test_lower_rule_needs_the_whole_interval_above_the_bar(tmp_path):
    store = stored_run(tmp_path, alternating, "alt")
    sure = check_run(Store(store), "alt", 3.5)
    assert sure.passed and sure.estimate.value == pytest.approx(4.0) and sure.estimate.low >= 3.5
    inside = check_run(Store(store), "alt", 3.95)  # the mean is above the bar, the lower bound is not
    assert not inside.passed and "lower bound" in inside.reason
    # the upper rule tolerates the noise: it fails only when the whole interval is below the bar
    assert check_run(Store(store), "alt", 4.1, rule="upper").passed
    assert not check_run(Store(store), "alt", 4.9, rule="upper").passed


def test_too_many_unusable_verdicts_fail(tmp_path):
    def flaky(request):
        if "answer 1" in request.messages[-1].text:  # answer 1, 10..19: 11 of 40 fail
            raise BackendError("down")
        return {"5": 1.0}

    store = stored_run(tmp_path, flaky, "flaky")
    result = check_run(Store(store), "flaky", 1.0)
    assert not result.passed and result.unusable == 11 and "failed or unscored" in result.reason


def test_cli_exit_codes_and_reasons(tmp_path):
    store = stored_run(tmp_path, alternating, "alt")
    runner = CliRunner()
    ok = runner.invoke(app, ["gate-run", "alt", "--min-score", "3.5", "--store", store])
    assert ok.exit_code == 0 and "pass" in ok.output, ok.output
    bad = runner.invoke(app, ["gate-run", "alt", "--min-score", "3.95", "--confidence", "0.95", "--store", store])
    assert bad.exit_code == 1 and "lower bound" in bad.output
    missing = runner.invoke(app, ["gate-run", "nope", "--min-score", "3", "--store", store])
    assert missing.exit_code == 2 and "no run" in missing.output
