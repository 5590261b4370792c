"""A pytest plugin (entry point ``jurist``): judge an application's answers inside its test suite.

    def test_answer(jurist_judge):
        answer = my_app("What is the capital of France?")
        jurist_judge.assert_judged(answer, "What is the capital of France?", rubric="Is it correct?", min_score=4)

Options (command line, or ``jurist_*`` ini keys): ``--jurist-judge SPEC`` (default ``local``),
``--jurist-store PATH`` (default ``.jurist/pytest.db``), ``--jurist-mode record|replay``.
Every verdict's completions are kept in the store. ``record`` (the default) calls the judge
for what the store does not hold yet; ``replay`` never calls it: the suite reads the recorded
verdicts, so it is deterministic and free, and an answer with no recording fails and says to
record it. Commit the store file to replay in CI.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# Every pytest run in an environment with jurist loads this module: the applications (gate, store) are
# imported only when a test asks for the fixture.
if TYPE_CHECKING:
    from jurist.apps.gate import Decision, Gate, GateDecision
    from jurist.engine.store import Store

MODES = ("record", "replay")
DEFAULT_CONFIDENCE = 0.9  # as jurist.apps.gate's (checked by tests/test_pytest_plugin.py)


def replay_only(spec: str, store_path: str) -> Any:
    """A backend that never answers: in replay mode every completion must come from the store's cache."""
    from jurist.backends.base import Backend, BackendError

    class ReplayOnly(Backend):
        async def complete(self, request: Any) -> Any:
            raise BackendError(f"no recorded verdict for this request in {store_path} (replay mode): "
                               "run the tests once with --jurist-mode record")

    backend = ReplayOnly()
    backend.spec = spec
    return backend


def assert_judged(decision: GateDecision, expected: Decision = "accept") -> GateDecision:  # noqa: F821
    """Assert a gate decision, with the verdict's reasons in the message."""
    __tracebackhide__ = True
    if decision.decision != expected:
        confidence = "n/a" if decision.confidence is None else f"{decision.confidence:.3f}"
        score = "n/a" if decision.score is None else f"{decision.score:.2f}"
        pytest.fail(f"judged {decision.decision}, expected {expected} (score {score}, confidence {confidence}, "
                    f"bar {decision.bar:g}): {'; '.join(decision.reasons) or 'no reasons'}", pytrace=False)
    return decision


class TestJudge:
    """The ``jurist_judge`` fixture: gates built on demand (one per rubric/checklist), sharing one store."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self, spec: str, store: Store, mode: str, model: str | None = None):
        if mode not in MODES:
            raise pytest.UsageError(f"--jurist-mode {mode}: use {' or '.join(MODES)}")
        self.spec, self.store, self.mode, self.model = spec, store, mode, model
        self._gates: dict[tuple[Any, ...], Gate] = {}
        self._backend: Any = replay_only(spec, store.path) if mode == "replay" else None

    def gate_for(self, *, rubric: str | None = None, scale: str | None = None,
                 checklist: Sequence[str] | None = None, mode: str | None = None) -> Gate:  # noqa: F821
        key = (rubric, scale, tuple(checklist) if checklist else None, mode)
        if key not in self._gates:
            task = "check" if checklist else "correct" if mode else "score"
            protocol = {"rubric": rubric, "scale": scale, "checklist": list(checklist) if checklist else None,
                        "reference": mode}
            from jurist.apps.gate import Gate
            from jurist.plan import Plan

            plan = Plan.parse({"task": task, "protocol": {k: v for k, v in protocol.items() if v is not None},
                               "judge": {"spec": self.spec, **({"model": self.model} if self.model else {})}},
                              where="jurist_judge")
            backends = {self.spec: self._backend} if self._backend is not None else None
            self._gates[key] = Gate(plan, store=self.store, backends=backends)
            # every gate after the first judges on the same backend: a local model is loaded once per session
            self._backend = self._backend or getattr(self._gates[key].online.judge, "backend", None)
        return self._gates[key]

    def gate(self, response: str, input: str = "", *, rubric: str | None = None, scale: str | None = None,
             checklist: Sequence[str] | None = None, reference: str | None = None, mode: str | None = None,
             min_score: float | None = None, confidence: float = DEFAULT_CONFIDENCE) -> GateDecision:
        """The gate's decision (``reference``: the gold answer, judged in ``mode`` shown/hidden/adapted)."""
        the_gate = self.gate_for(rubric=rubric, scale=scale, checklist=checklist,
                                 mode=mode or ("shown" if reference is not None else None))
        judgment = the_gate.judgments([_item(response, input, reference)])[0]
        self.store.commit()  # recorded even if the test process dies next
        return the_gate.decide(judgment.verdict, min_score=min_score, confidence=confidence)

    def assert_judged(self, response: str, input: str = "", *, expected: Decision = "accept",
                      **settings: Any) -> GateDecision:
        """Gate ``response`` and assert the decision (accept by default); the message gives the reasons."""
        __tracebackhide__ = True
        return assert_judged(self.gate(response, input, **settings), expected)

    def assert_rejected(self, response: str, input: str = "", **settings: Any) -> GateDecision:
        __tracebackhide__ = True
        return self.assert_judged(response, input, expected="reject", **settings)


def _item(response: str, input: str, reference: str | None) -> Any:
    from jurist.types import Item

    return Item(id="pytest", input=input, candidates=[response], reference=reference)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("jurist", "judging answers with jurist")
    group.addoption("--jurist-judge", default=None, help="judge spec (default: ini jurist_judge, else local)")
    group.addoption("--jurist-model", default=None, help="model served at an http judge")
    group.addoption("--jurist-store", default=None, help="store of recorded verdicts (default .jurist/pytest.db)")
    group.addoption("--jurist-mode", default=None, choices=MODES,
                    help="record: call the judge for new answers; replay: recorded verdicts only")
    parser.addini("jurist_judge", "judge spec", default="local")
    parser.addini("jurist_store", "store of recorded verdicts", default=".jurist/pytest.db")
    parser.addini("jurist_mode", "record or replay", default="record")


def _setting(config: pytest.Config, name: str) -> str:
    value = config.getoption(f"--jurist-{name}")
    return value if value is not None else str(config.getini(f"jurist_{name}"))


@pytest.fixture(scope="session")
def jurist_judge(pytestconfig: pytest.Config) -> Any:
    """Gate answers in tests: ``jurist_judge.assert_judged(answer, question, rubric=..., min_score=...)``."""
    from jurist.engine.store import Store

    path = Path(_setting(pytestconfig, "store"))
    if not path.is_absolute():
        path = Path(pytestconfig.rootpath) / path
    store = Store(path)
    judge = TestJudge(_setting(pytestconfig, "judge"), store, _setting(pytestconfig, "mode"),
                      pytestconfig.getoption("--jurist-model"))
    yield judge
    store.close()
