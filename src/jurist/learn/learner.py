"""Fit a learned judge from a golden set, and use it as a Backend (``--judge probe:DIR``).

``learn(items, protocol, extractor)`` renders every labelled item with the
protocol (both orders for pairs), reads the base model's features, fits a probe
(:mod:`jurist.learn.probe`) and returns its card and weights.

``ProbeBackend`` is a :class:`~jurist.backends.base.Backend`: for each rendered
request it checks that the request was rendered by the protocol the probe was
fitted for, computes the same features on the same base model (refusing a base
model whose sha256 differs), and answers with ``label_logprobs`` = the probe's
log-probabilities over the request's labels. Protocols read it exactly as they
read the embedded judge, so caching, swap, juries and cascades work unchanged.
Its ``spec`` is ``probe:<card hash>`` (``PRESET:<card hash>`` for a shipped head), so the completion
cache never mixes two probes and each verdict names the probe that gave it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol as TypingProtocol

import numpy as np
from scipy.special import log_expit

from jurist.backends.base import Backend, BackendError
from jurist.learn.probe import (
    Estimator,
    LinearModel,
    ProbeCard,
    ProbeError,
    ProbeKind,
    data_warnings,
    fit_probe,
    length_ratio,
    load_probe,
    score_distribution,
)
from jurist.learn.views import match_request, skeletons
from jurist.protocols.base import Protocol
from jurist.types import Completion, CompletionRequest, Item, Usage


class FeatureSource(TypingProtocol):
    """Turns one rendered request (and the fields read from it) into a feature vector."""

    spec: str  # the base model, as given to --base
    sha256: str  # of the base model's weights
    groups: tuple[str, ...]

    def dimension(self, labels: Sequence[str]) -> int: ...

    def vector(self, request: CompletionRequest, fields: Mapping[str, str]) -> tuple[np.ndarray, int]:
        """The feature vector and the number of prompt tokens it cost."""
        ...


class LlamaFeatures:
    """Features from a GGUF base model (see :mod:`jurist.learn.features`).

    By default the last hidden state + the label log-probs; with ``layer`` the residual
    stream after that layer alone (read through the layer tap; ``layer`` = the number of layers is
    the final normed state), as ``benchmarks/generalization.py`` measures it.
    """

    def __init__(self, spec: str = "local", max_prompt_tokens: int | None = None, layer: int | None = None):
        from jurist.backends.embedded import EmbeddedBackend
        from jurist.backends.models import MODELS, file_sha256
        from jurist.learn.features import LlamaFeatureExtractor

        from jurist.backends.specs import parse_spec

        target = parse_spec(spec).embedded_model
        backend = EmbeddedBackend(target)
        self.spec = spec
        # packaged models are checked against this sha256 when assembled; other GGUFs are hashed here
        self.sha256 = MODELS[target].sha256 if target in MODELS else file_sha256(Path(target))
        self.extractor = LlamaFeatureExtractor(backend, max_prompt_tokens, layers=layer is not None)
        n_layer = self.extractor.tap.n_layer if self.extractor.tap else 0
        if layer is not None and not 0 <= layer <= n_layer:
            raise ProbeError(f"layer {layer}: {spec} has layers 0..{n_layer - 1}, and {n_layer} for the final "
                             "normed state")
        self.layer = layer
        self.groups = ("hidden", "label") if layer is None else ("layer",)

    def dimension(self, labels: Sequence[str]) -> int:
        return self.extractor.dimension + (len(labels) if self.layer is None else 0)

    def vector(self, request: CompletionRequest, fields: Mapping[str, str]) -> tuple[np.ndarray, int]:
        features = self.extractor.extract(request)
        if self.layer is not None:
            return features.layers[self.layer].astype(np.float64), features.prompt_tokens  # type: ignore[index]
        return np.concatenate([features.hidden.astype(np.float64), features.label_vector(request.labels)]), \
            features.prompt_tokens


def make_features(base: str, layer: int | None = None) -> FeatureSource:
    """The feature source for ``--base``: ``local``, ``local:1.5b``, ``local:PATH.gguf`` or ``encoder``;
    ``layer`` reads that layer of a GGUF base instead of its last hidden state."""
    if base == "encoder":
        if layer is not None:
            raise ProbeError("the encoder base has no layer option (it reads MiniLM's pooled embedding)")
        from jurist.learn.encoder import EncoderFeatures

        return EncoderFeatures()
    from jurist.backends.specs import parse_spec

    try:
        if parse_spec(base).scheme.name == "local":
            return LlamaFeatures(base, layer=layer)
    except BackendError:
        pass
    raise ProbeError(f"unknown base {base!r}: use local, local:1.5b, local:PATH.gguf or encoder")


def probe_kind(protocol: Protocol) -> ProbeKind:
    if protocol.kind == "compare":
        if getattr(protocol, "allow_tie", False):
            raise ProbeError("a pairwise probe predicts A or B; ties are not supported (drop --allow-tie)")
        return "compare"
    values = list(protocol.scale.values)  # type: ignore[attr-defined]
    return "binary" if len(values) == 2 else "score"


def _target(item: Item, kind: ProbeKind, protocol: Protocol) -> float | None:
    """The numeric target of a golden item, or None when it cannot be used (a tie for a pairwise probe)."""
    label = item.label
    if kind == "compare":
        return {"A": 1.0, "B": 0.0}.get(str(label))
    scale = protocol.scale  # type: ignore[attr-defined]
    if isinstance(label, str) and label.lower() in scale.labels:
        return float(scale.value(label.lower()))
    try:
        value = float(label)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ProbeError(f"item {item.id}: label {label!r} is not on the scale {'/'.join(scale.labels)}") from None
    if kind == "binary" and value not in scale.values:
        raise ProbeError(f"item {item.id}: label {label!r} is not one of the scale values {scale.values}")
    return value


def data_hash(items: Sequence[Item]) -> str:
    digest = hashlib.sha256()
    for item in items:
        digest.update(json.dumps([item.id, item.input, item.candidates, item.reference, item.label],
                                 ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()


def _fields(item: Item, view: int) -> dict[str, str]:
    fields = {"input": item.input}
    if item.reference is not None:
        fields["reference"] = item.reference
    if len(item.candidates) == 2:
        first, second = item.candidates if view == 0 else item.candidates[::-1]
        fields |= {"response_a": first, "response_b": second}
    else:
        fields["response"] = item.response
    return fields


@dataclass
class Learned:
    card: ProbeCard
    model: LinearModel
    dropped: int


def learn(items: Sequence[Item], protocol: Protocol, source: FeatureSource, *, folds: int = 5, seed: int = 0,
          progress: Any = None, length_neutral: bool = False, strength: float | None = None,
          estimator: Estimator = "logistic") -> Learned:
    """Fit a probe for ``protocol`` on the labelled ``items`` with features from ``source``.

    ``length_neutral`` (pairwise): residualise the features on the responses' length ratio first
    (:mod:`jurist.learn.probe`); ``strength``: a fixed regularisation instead of an inner cross-validation;
    ``estimator``: ``logistic`` or ``mass-mean`` (the difference of the class means, recorded on the card).
    """
    kind = probe_kind(protocol)
    if length_neutral and kind != "compare":
        raise ProbeError("--length-neutral is for pairwise probes (--protocol compare)")
    if kind == "compare" and len(getattr(protocol, "examples", ()) or ()) > 0:
        raise ProbeError("a probe is fitted on the plain protocol; few-shot examples are not supported")
    usable = [(item, t) for item in items if item.label is not None
              for t in [_target(item, kind, protocol)] if t is not None]
    dropped = len(items) - len(usable)
    if len(usable) < 2 * folds:
        raise ProbeError(f"{len(usable)} usable labelled items; a probe needs at least {2 * folds} "
                         f"(and {100} or more for metrics worth reading)")
    y = np.array([t for _, t in usable])
    if kind != "score" and len(np.unique(y)) < 2:
        raise ProbeError("every usable label is the same; a probe needs both outcomes")
    views = (0, 1) if kind == "compare" else (0,)
    rows: list[list[np.ndarray]] = [[] for _ in views]
    labels: list[str] = []
    for index, (item, _) in enumerate(usable):
        for view in views:
            request = protocol.render(item, view)
            labels = request.labels
            vector, _ = source.vector(request, _fields(item, view))
            rows[view].append(vector)
        if progress is not None:
            progress(index + 1, len(usable))
    x = np.vstack(rows[0])
    scale = getattr(protocol, "scale", None)
    values = [float(v) for v in scale.values] if scale is not None else []
    length = (np.array([length_ratio(*item.candidates[:2]) for item, _ in usable]) if length_neutral else None)
    fit = fit_probe(kind, x, y, x_swapped=np.vstack(rows[1]) if kind == "compare" else None, values=values,
                    folds=folds, seed=seed, length=length, strength=strength, estimator=estimator)
    balance: dict[str, int] = {}
    for _, t in usable:
        key = ({1.0: "A", 0.0: "B"}[t] if kind == "compare" else f"{t:g}")
        balance[key] = balance.get(key, 0) + 1
    warnings = data_warnings(y, kind, values)
    if dropped:
        warnings.append(f"{dropped} items without a usable label (ties for a pairwise probe, or no label) were left out")
    card = ProbeCard(
        kind=kind, labels=list(labels), values=values, protocol=protocol.identity, skeletons=skeletons(protocol),
        features={"groups": list(source.groups), "dimension": int(x.shape[1]), "extractor": type(source).__name__,
                  **({"layer": source.layer} if getattr(source, "layer", None) is not None else {}),
                  **({"length_neutral": True} if length_neutral else {}),
                  **({"estimator": estimator} if estimator != "logistic" else {})},
        base={"spec": source.spec, "sha256": source.sha256},
        data={"sha256": data_hash([i for i, _ in usable]), "n": len(usable), "balance": balance, "dropped": dropped},
        cv=fit.cv, regularisation=fit.strength, temperature=fit.temperature, sigma=fit.sigma, warnings=warnings,
    )
    return Learned(card, fit.model, dropped)


class ProbeBackend(Backend):
    """A fitted probe served as a judge: ``resolve_backend("probe:DIR")``."""

    def __init__(self, directory: str | Path, source: FeatureSource | None = None, preset: str | None = None):
        self.directory = Path(directory)
        self.card, self.model = load_probe(self.directory)
        # every verdict names the probe's weights; a shipped head also names the preset that chose it
        self.spec = f"{preset or 'probe'}:{self.card.hash[:16]}"
        self._source = source
        self._lock = threading.Lock()
        if source is not None:
            self._check(source)

    def _check(self, source: FeatureSource) -> None:
        if source.sha256 != self.card.base["sha256"]:
            raise ProbeError(
                f"{self.directory}: this probe was fitted on base model {self.card.base['spec']} with sha256 "
                f"{self.card.base['sha256'][:16]}..., but the base model here has sha256 {source.sha256[:16]}...; "
                "a probe only reads the representations of the model it was fitted on: refit it with `jurist learn`")

    @property
    def source(self) -> FeatureSource:
        if self._source is None:
            source = make_features(self.card.base["spec"], layer=self.card.features.get("layer"))
            self._check(source)
            self._source = source
        return self._source

    def refusal(self, request: CompletionRequest) -> str | None:
        """Why this probe cannot answer ``request`` (another protocol, other labels), or None.
        The runner asks it of a run's first item, so a mismatch stops the run before any model call."""
        if list(request.labels) != self.card.labels:
            return (f"{self.spec} ({self.directory}): fitted for the labels {self.card.labels}, asked for "
                    f"{request.labels}; judge with the protocol the probe was fitted for (see card.json)")
        if match_request(request, self.card.skeletons) is None:
            return (f"{self.spec} ({self.directory}): the request was not rendered by the protocol this probe was "
                    f"fitted for ({self.card.protocol}); use the same task, template, rubric/criteria and scale")
        return None

    def probabilities(self, request: CompletionRequest) -> tuple[dict[str, float], int]:
        """log P(label) over ``request.labels`` and the prompt tokens read."""
        refused = self.refusal(request)
        if refused is not None:
            raise ProbeError(refused)
        fields = match_request(request, self.card.skeletons)
        assert fields is not None
        with self._lock:
            vector, tokens = self.source.vector(request, fields)
        length = (length_ratio(fields["response_a"], fields["response_b"])
                  if self.model.length_slope is not None else None)
        s = float(self.model.decision(vector, length)[0])
        if self.card.kind == "score":
            mass = score_distribution(s, self.card.sigma or 1.0, self.card.values)
            return {label: math.log(p) for label, p in zip(self.card.labels, mass)}, tokens
        z = s / self.card.temperature
        if self.card.kind == "compare":  # the shown-first response is better
            return {"A": float(log_expit(z)), "B": float(log_expit(-z))}, tokens
        good = self.card.labels[int(np.argmax(self.card.values))]
        bad = self.card.labels[int(np.argmin(self.card.values))]
        return {good: float(log_expit(z)), bad: float(log_expit(-z))}, tokens

    def _complete_sync(self, request: CompletionRequest) -> Completion:
        try:
            logprobs, tokens = self.probabilities(request)
        except ProbeError as error:
            raise BackendError(str(error)) from error
        top = max(logprobs, key=logprobs.__getitem__)
        return Completion(text=top, label_logprobs=logprobs, model=self.spec,
                          usage=Usage(prompt_tokens=tokens, completion_tokens=0))

    async def complete(self, request: CompletionRequest) -> Completion:
        return await asyncio.to_thread(self._complete_sync, request)

    def describe(self) -> dict[str, Any]:
        return {"spec": self.spec, "path": str(self.directory), "base": self.card.base, "kind": self.card.kind}
