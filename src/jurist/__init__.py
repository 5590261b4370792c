"""jurist: turn any language model into a calibrated, debiased, audited judge.

Data path: Item -> Protocol.render -> Backend.complete -> Protocol.read -> Verdict
-> Strategy -> Engine -> Store -> metrics / report.
"""

from jurist.api import compare, run_judge, score
from jurist.backends import Backend, BackendError, OpenAICompatibleBackend, ScriptedBackend, resolve_backend
from jurist.engine import Engine, EngineConfig, RunResult, Store
from jurist.judge import Judge
from jurist.protocols import PairwiseProtocol, PointwiseProtocol, Protocol, Scale
from jurist.strategies import Single, Strategy, Swap
from jurist.types import Completion, CompletionRequest, Item, Judgment, Message, Usage, Verdict

__version__ = "0.1.0"

__all__ = [
    "Backend", "BackendError", "Completion", "CompletionRequest", "Engine", "EngineConfig", "Item", "Judge",
    "Judgment", "Message", "OpenAICompatibleBackend", "PairwiseProtocol", "PointwiseProtocol", "Protocol",
    "RunResult", "Scale", "ScriptedBackend", "Single", "Store", "Strategy", "Swap", "Usage", "Verdict",
    "compare", "resolve_backend", "run_judge", "score",
]
