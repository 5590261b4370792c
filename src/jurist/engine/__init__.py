"""The engine: concurrency, retries, rate limits, the cache and the store."""

from jurist.engine.executor import Engine, EngineConfig, RunResult, run_judge
from jurist.engine.store import RunRecord, Store

__all__ = ["Engine", "EngineConfig", "RunRecord", "RunResult", "Store", "run_judge"]
