"""jurist: turn any language model into a calibrated, debiased, audited judge.

Data path: Plan -> build -> a judge; Item -> Protocol.render -> Backend.complete -> Protocol.read
-> Verdict -> Strategy -> the runner (local engine or Ray) -> Store -> metrics / report.
"""

from jurist.api import audit, check, compare, correct, rank, run, score
from jurist.apps.best_of_n import best_of_n
from jurist.apps.gate import Gate, GateDecision, gate
from jurist.backends import Backend, BackendError, OpenAICompatibleBackend, ScriptedBackend, resolve_backend
from jurist.engine import Engine, EngineConfig, RunResult, Store, run_judge
from jurist.judge import Judge, JudgeLike
from jurist.plan import Plan, PlanError
from jurist.protocols import PairwiseProtocol, PointwiseProtocol, Protocol, Scale
from jurist.strategies import Single, Strategy, Swap
from jurist.types import Completion, CompletionRequest, Item, Judgment, Message, Usage, Verdict
from jurist.version import __version__


__all__ = [
    "Backend", "BackendError", "Completion", "CompletionRequest", "Engine", "EngineConfig", "Gate", "GateDecision",
    "Item", "Judge",
    "JudgeLike", "Judgment", "Message", "OpenAICompatibleBackend", "PairwiseProtocol", "Plan", "PlanError",
    "PointwiseProtocol", "Protocol", "RunResult", "Scale", "ScriptedBackend", "Single", "Store", "Strategy", "Swap",
    "Usage", "Verdict", "__version__", "audit", "best_of_n", "check", "compare", "correct", "gate", "rank",
    "resolve_backend", "run", "run_judge", "score",
]
