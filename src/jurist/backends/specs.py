"""Judge spec strings, parsed in this one place: ``local``, ``local:1.5b``, ``local:PATH.gguf``,
``probe:DIR``, ``openai:MODEL``, ``scripted:MODULE:FUNCTION``, or an ``http(s)://`` URL.

A spec is ``SCHEME`` or ``SCHEME:TARGET``; a URL is its own target. What each
scheme builds is in :mod:`jurist.backends.registry`; what it can do is here, so
code that only needs to know (default concurrency, whether a model name or
images are allowed) never imports a backend. Errors name spec parts and option
names (``model``, ``vision``), never CLI flags.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from jurist.backends.base import BackendError


@dataclass(frozen=True)
class Scheme:
    """What a judge spec scheme is and can do."""

    name: str
    usage: str  # how to write it, for error messages and help
    reads_images: bool = False  # `vision` may be set: the model may accept image content parts
    in_process: bool = False  # a model in this process serves one request at a time: concurrency 1 by default
    needs_model: bool = False  # a server serves several models: the model name is given separately


SCHEMES: dict[str, Scheme] = {s.name: s for s in (
    Scheme("local", "local, local:1.5b, local:PATH.gguf", in_process=True),
    Scheme("http", "http://HOST:PORT/v1", reads_images=True, needs_model=True),
    Scheme("https", "https://HOST/v1", reads_images=True, needs_model=True),
    Scheme("openai", "openai:MODEL", reads_images=True),
    Scheme("probe", "probe:DIR"),
    Scheme("scripted", "scripted:MODULE:FUNCTION", reads_images=True),
)}


@dataclass(frozen=True)
class JudgeSpec:
    """A parsed judge spec: its scheme and what follows the scheme's colon (for a URL, the whole URL)."""

    text: str
    scheme: Scheme
    target: str

    @property
    def embedded_model(self) -> str:
        """The model key or GGUF path of a ``local`` spec (``local`` alone: the default 0.5B judge)."""
        if self.scheme.name != "local":
            raise BackendError(f"{self.text!r} is not a local model: use {SCHEMES['local'].usage}")
        from jurist.backends.presets import preset_of

        preset = preset_of(self.target)
        return preset.model if preset else self.target


def parse_spec(text: str) -> JudgeSpec:
    """``local:1.5b`` -> (local, "1.5b"); ``http://h:1/v1`` -> (http, the URL). An unknown scheme is an error:
    jurist never falls back to another model."""
    name, _, target = text.partition(":")
    if name in ("http", "https"):
        target = text
    if name not in SCHEMES:
        raise BackendError(f"unknown judge {text!r}: use {', '.join(s.usage for s in SCHEMES.values())}")
    return JudgeSpec(text, SCHEMES[name], target)


def scheme_of(text: str) -> Scheme | None:
    """The scheme of a judge spec, or None when it is no spec jurist knows (a ready backend's own name)."""
    try:
        return parse_spec(text).scheme
    except BackendError:
        return None


def runs_in_process(text: str) -> bool:
    """Whether a judge is a model in this process."""
    scheme = scheme_of(text)
    return scheme is not None and scheme.in_process


def default_concurrency(specs: Iterable[str]) -> int:
    """Requests in flight by default: 1 when any judge is a model in this process (it serves one request
    at a time; more would only queue), else 8."""
    return 1 if any(runs_in_process(spec) for spec in specs) else 8
