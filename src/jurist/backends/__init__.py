"""Backends: where a judge's answers come from.

``resolve_backend("local")`` is the embedded default; every judge spec is parsed
in :mod:`jurist.backends.specs`.
"""

from __future__ import annotations

from jurist.backends.base import Backend, BackendError
from jurist.backends.openai_compat import OpenAICompatibleBackend
from jurist.backends.registry import resolve_backend
from jurist.backends.specs import parse_spec
from jurist.backends.scripted import ScriptedBackend

__all__ = ["Backend", "BackendError", "OpenAICompatibleBackend", "ScriptedBackend", "parse_spec", "resolve_backend"]
