"""Judge spec strings, parsed in this one place: ``local``, ``local:1.5b``, ``local:PATH.gguf``,
``probe:DIR``, ``openai:MODEL``, ``scripted:MODULE:FUNCTION``, or an ``http(s)://`` URL.

A spec is ``SCHEME`` or ``SCHEME:TARGET``; a URL is its own target. What each
scheme builds is in :mod:`jurist.backends.registry`; what it can do is here, so
code that only needs to know (default concurrency, whether a model name or
images are allowed) never imports a backend. Errors name spec parts and option
names (``model``, ``vision``), never CLI flags.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from jurist.backends.base import BackendError

if TYPE_CHECKING:
    from jurist.backends.presets import Preset


@dataclass(frozen=True)
class Scheme:
    """What a judge spec scheme is and can do."""

    name: str
    usage: str  # how to write it, for error messages and help
    reads_images: bool = False  # `vision` may be set: the model may accept image content parts
    in_process: bool = False  # a model in this process serves one request at a time: concurrency 1 by default
    needs_model: bool = False  # a server serves several models: the model name is given separately


SCHEMES: dict[str, Scheme] = {s.name: s for s in (
    Scheme("local", "local, local:1.5b, local:head, local:mass-mean-head, local:wording-jury, local:1.5b-head, "
                    "local:best, local:PATH.gguf", in_process=True),
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


_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@")


def redact(text: str) -> str:
    """``text`` with the credentials of every URL in it (``http://user:key@host``) replaced by ``***``."""
    return _USERINFO.sub(r"\g<scheme>***@", text)


def check_credentials(text: str) -> None:
    """A judge URL must not carry a user or key: the spec is kept in the store, plans, logs and reports.
    The key goes in an environment variable (``JURIST_API_KEY``), which is sent as a header only."""
    if text.startswith(("http://", "https://")):
        try:
            parts = urlsplit(text)
            has_credentials = parts.username is not None or parts.password is not None
        except ValueError:  # a malformed URL: say nothing of its contents
            has_credentials = "@" in text
        if has_credentials:
            raise BackendError(f"judge {redact(text)}: a judge URL must not carry credentials (the URL is kept "
                               "in the store, plans and reports); set the key in the JURIST_API_KEY environment "
                               "variable instead")


def parse_spec(text: str) -> JudgeSpec:
    """``local:1.5b`` -> (local, "1.5b"); ``http://h:1/v1`` -> (http, the URL). An unknown scheme is an error:
    jurist never falls back to another model. A URL with credentials in it is an error (see
    :func:`check_credentials`)."""
    name, _, target = text.partition(":")
    if name in ("http", "https"):
        check_credentials(text)
        target = text
    if name not in SCHEMES:
        raise BackendError(f"unknown judge {redact(text)!r}: use {', '.join(s.usage for s in SCHEMES.values())}")
    return JudgeSpec(text, SCHEMES[name], target)


def scheme_of(text: str) -> Scheme | None:
    """The scheme of a judge spec, or None when it is no spec jurist knows (a ready backend's own name)."""
    try:
        return parse_spec(text).scheme
    except BackendError:
        return None


def preset_of_spec(text: str) -> Preset | None:
    """The named local judge a spec is (``local:head``), or None (another scheme, a GGUF path, no spec)."""
    try:
        spec = parse_spec(text)
    except BackendError:
        return None
    if spec.scheme.name != "local":
        return None
    from jurist.backends.presets import preset_of

    return preset_of(spec.target)


def jury_of(text: str) -> list[str]:
    """The members of the jury a preset spec names (``local:wording-jury``), or [] for any other spec."""
    preset = preset_of_spec(text)
    return list(preset.members) if preset else []


def runs_in_process(text: str) -> bool:
    """Whether a judge is a model in this process."""
    scheme = scheme_of(text)
    return scheme is not None and scheme.in_process


def default_concurrency(specs: Iterable[str]) -> int:
    """Requests in flight by default: 1 when any judge is a model in this process (it serves one request
    at a time; more would only queue), else 8."""
    return 1 if any(runs_in_process(spec) for spec in specs) else 8
