"""The backend registry: a parsed judge spec (:mod:`jurist.backends.specs`) -> a Backend.

One factory per scheme, each importing its backend module only when used, so
optional extras (llama-cpp-python, a probe's features) cost nothing until a judge
needs them. A new backend is one module, one factory here and one row in
``specs.SCHEMES``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any

from jurist.backends.base import Backend, BackendError
from jurist.backends.specs import JudgeSpec, parse_spec

Factory = Callable[[JudgeSpec, "str | None", dict[str, Any]], Backend]


def resolve_backend(judge: str = "local", model: str | None = None, **options: Any) -> Backend:
    """A backend from a judge spec.

    ``model`` names the model an http server serves. ``vision=True`` declares that
    the judge's model accepts images (items' images and frames then go to it as
    content parts, see ``jurist.media``); ``timeout_s`` bounds one request.
    """
    spec = parse_spec(judge)
    if options.get("vision") and not spec.scheme.reads_images:
        raise BackendError(f"judge {judge} reads text only: `judge.vision` needs an http judge whose model accepts "
                           "images (items with a caption or transcript can be judged without it)")
    if spec.scheme.needs_model and not model:
        raise BackendError(f"judge {judge} needs `judge.model`: the name of the model the server serves")
    options = {k: v for k, v in options.items() if v is not None and not (k == "vision" and not v)}
    return _FACTORIES[spec.scheme.name](spec, model, options)


def _embedded(spec: JudgeSpec, model: str | None, options: dict[str, Any]) -> Backend:
    from jurist.backends.embedded import EmbeddedBackend  # llama-cpp-python is an optional extra
    from jurist.backends.presets import preset_of

    options.pop("timeout_s", None)  # a model in this process has no request timeout
    preset = preset_of(spec.target)
    if preset is not None and preset.members:  # a plan expands it (JudgeSettings); it is not one backend
        raise BackendError(f"{spec.text} is a jury of {', '.join(preset.members)}: judge with it as a plan's "
                           "judge.spec (or --judge), or build those judges one by one")
    if preset is not None and preset.head is not None:  # a shipped head reads the model's layer states
        from jurist.heads import head_dir
        from jurist.learn.learner import ProbeBackend

        return ProbeBackend(head_dir(preset.head), preset=preset.name)
    return EmbeddedBackend(spec.embedded_model, **options)


def _server(spec: JudgeSpec, model: str | None, options: dict[str, Any]) -> Backend:
    from jurist.backends.openai_compat import OpenAICompatibleBackend

    return OpenAICompatibleBackend(model, base_url=spec.text, api_key=os.environ.get("JURIST_API_KEY"),  # type: ignore[arg-type]
                                   **options)


def _openai(spec: JudgeSpec, model: str | None, options: dict[str, Any]) -> Backend:
    from jurist.backends.openai_compat import OpenAICompatibleBackend

    if not os.environ.get("OPENAI_API_KEY"):
        raise BackendError("judge openai:MODEL needs the OPENAI_API_KEY environment variable")
    return OpenAICompatibleBackend(spec.target, api_key=os.environ["OPENAI_API_KEY"], **options)


def _probe(spec: JudgeSpec, model: str | None, options: dict[str, Any]) -> Backend:
    from jurist.learn.learner import ProbeBackend  # a judge fitted by `jurist learn`

    return ProbeBackend(spec.target)


def _scripted(spec: JudgeSpec, model: str | None, options: dict[str, Any]) -> Backend:
    """A Python function as the judge (tests, examples): ``scripted:jurist.testing:prefer_first``.

    The function takes a CompletionRequest and returns what ``ScriptedBackend`` accepts.
    It is found by name, so a plan naming it is rebuilt the same anywhere (Ray actors).
    """
    from jurist.backends.scripted import ScriptedBackend

    module, _, function = spec.target.partition(":")
    try:
        script = getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError, ValueError) as error:
        raise BackendError(f"judge {spec.text}: no function {function!r} in module {module!r}") from error
    return ScriptedBackend(script, spec=spec.text, vision=bool(options.get("vision")))


_FACTORIES: dict[str, Factory] = {"local": _embedded, "http": _server, "https": _server, "openai": _openai,
                                  "probe": _probe, "scripted": _scripted}
