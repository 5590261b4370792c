"""Backends: where a judge's answers come from.

``resolve_backend("local")`` is the embedded default; see ``resolve_backend`` for all specs.
"""

from __future__ import annotations

import os

from jurist.backends.base import Backend, BackendError
from jurist.backends.openai_compat import OpenAICompatibleBackend
from jurist.backends.scripted import ScriptedBackend

__all__ = ["Backend", "BackendError", "OpenAICompatibleBackend", "ScriptedBackend", "resolve_backend"]


def resolve_backend(judge: str = "local", model: str | None = None, **options: object) -> Backend:
    """A backend from a judge spec.

    - ``local``: the embedded Qwen2.5-Coder-0.5B-Instruct judge (in-process llama.cpp);
      ``local:KEY`` another packaged model; ``local:PATH.gguf`` any GGUF file.
    - ``http://HOST:PORT/v1`` (with ``model``): any OpenAI-compatible server
      (llama.cpp server, vLLM, Ollama, SGLang, TGI).
    - ``openai:MODEL``: OpenAI, with ``OPENAI_API_KEY``.
    - ``probe:DIR``: a learned judge fitted by ``jurist learn`` (``jurist.learn``).

    ``vision=True`` declares that an http judge's model accepts images (items'
    images and frames then go to it as content parts, see ``jurist.media``);
    the embedded judges read text only.

    An unknown spec is an error: jurist never falls back to another model.
    """
    if options.get("vision") and (judge == "local" or judge.startswith("local:")):
        raise BackendError(f"--judge {judge} reads text only: --vision needs an http judge whose model accepts "
                           "images (items with a caption or transcript can be judged without --vision)")
    options = {k: v for k, v in options.items() if not (k == "vision" and not v)}
    if judge.startswith("probe:"):
        from jurist.learn.learner import ProbeBackend  # a judge fitted by `jurist learn`

        if options.get("vision"):
            raise BackendError(f"--judge {judge} reads text only: --vision needs an http judge")
        return ProbeBackend(judge.partition(":")[2])
    if judge == "local" or judge.startswith("local:"):
        from jurist.backends.embedded import EmbeddedBackend  # llama-cpp-python is an optional extra

        target = judge.partition(":")[2] or "0.5b"
        return EmbeddedBackend(target, **options)  # type: ignore[arg-type]
    if judge.startswith(("http://", "https://")):
        if not model:
            raise BackendError(f"--judge {judge} needs --model NAME (the model name the server serves)")
        return OpenAICompatibleBackend(model, base_url=judge, api_key=os.environ.get("JURIST_API_KEY"), **options)  # type: ignore[arg-type]
    if judge.startswith("openai:"):
        if not os.environ.get("OPENAI_API_KEY"):
            raise BackendError("--judge openai:MODEL needs the OPENAI_API_KEY environment variable")
        return OpenAICompatibleBackend(judge.partition(":")[2], **options)  # type: ignore[arg-type]
    raise BackendError(f"unknown judge {judge!r}: use local, local:PATH.gguf, http://HOST:PORT/v1, openai:MODEL or probe:DIR")
