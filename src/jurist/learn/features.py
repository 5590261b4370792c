"""Features of one rendered judging request, read from the embedded model in one forward pass.

A learned judge (a probe) does not decode: it reads what the base model already
computes while evaluating the judging prompt, and a small fitted model turns that
into a verdict. Two groups of features come out of the same forward pass:

``hidden``
    The final hidden state (after the output norm, i.e. the vector the LM head
    reads) at the last prompt position, where the prompted judge predicts its
    answer label. Dimension = the model's ``n_embd`` (896 for the 0.5B judge).
``label``
    The log-probabilities of the request's labels at that position, exactly as
    the prompted embedded judge reads them (``EmbeddedBackend._label_logprobs``).

``layers`` (with ``LlamaFeatureExtractor(..., layers=True)``)
    The residual stream after every layer at the same position, plus the final normed
    state, read through llama.cpp's graph evaluation callback (``jurist.learn.layers``):
    shape ``(n_layer + 1, n_embd)``; the last row equals ``hidden``.

How the hidden state is read: embeddings output is switched on
(``llama_set_embeddings``) only for the last chunk of the prompt, so only that chunk
pays for it (with embeddings on, llama.cpp needs every token of the batch as an
output: one extra vocabulary projection per token of that chunk, about 2% of a
500-token prompt). The prompt is built and chunked exactly as the embedded judge
does, so the label log-probabilities equal the prompted judge's to the last bit
(checked by ``benchmarks/learned.py cost``: max |difference| 0.0).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from jurist.backends.base import BackendError
from jurist.types import CompletionRequest

if TYPE_CHECKING:
    from jurist.backends.embedded import EmbeddedBackend

FEATURE_GROUPS = ("hidden", "label")


@dataclass
class Features:
    """The features of one request (one view of one item)."""

    hidden: np.ndarray  # (n_embd,) float32
    label_logprobs: dict[str, float]
    prompt_tokens: int
    seconds: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)
    layers: np.ndarray | None = None  # (n_layer + 1, n_embd) float32 when extracted with layers=True

    def label_vector(self, labels: list[str]) -> np.ndarray:
        """log P(label) for ``labels`` in order, floored at -30 (a label of probability 0 stays finite)."""
        return np.array([max(self.label_logprobs.get(label, -30.0), -30.0) for label in labels], dtype=np.float64)


def request_key(model_sha256: str, request: CompletionRequest) -> str:
    """A content hash of (base model, rendered request): the cache key of its features."""
    payload = json.dumps({"model": model_sha256, "messages": [[m.role, _text(m)] for m in request.messages],
                          "labels": request.labels}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:24]


def _text(message: object) -> str:
    """A message's text (``Message.text`` when the type has it, else its content)."""
    return str(getattr(message, "text", None) or getattr(message, "content", ""))


class LlamaFeatureExtractor:
    """Reads :class:`Features` from an :class:`EmbeddedBackend`'s model.

    The backend keeps serving ordinary requests; the extractor shares its lock and
    KV cache (the prefix shared with the previous request is reused, as for the
    prompted judge).
    """

    def __init__(self, backend: EmbeddedBackend, max_prompt_tokens: int | None = None, layers: bool = False):
        from jurist.learn.layers import install_tap

        self.backend = backend
        self.max_prompt_tokens = max_prompt_tokens
        self.dimension = int(backend.llm.n_embd())
        with backend._lock:
            self.tap = install_tap(backend.llm) if layers else None

    @property
    def spec(self) -> str:
        return self.backend.spec

    def prompt_length(self, request: CompletionRequest) -> int:
        return len(self.backend.prompt_tokens(request.messages))

    def _eval_all_outputs(self, batch: list[int]) -> None:
        """``Llama.eval`` of one chunk with every token marked as an output.

        With embeddings on, llama.cpp needs every token of the batch as an output (and
        otherwise marks them itself, logging a warning per call); the computation is the
        same either way.
        """
        llm = self.backend.llm
        llm._ctx.kv_cache_seq_rm(-1, llm.n_tokens, -1)
        n_past = llm.n_tokens
        llm._batch.set_batch(batch=batch, n_past=n_past, logits_all=True)
        llm._ctx.decode(llm._batch)
        llm.input_ids[n_past:n_past + len(batch)] = batch
        llm.n_tokens += len(batch)

    def extract(self, request: CompletionRequest) -> Features:
        from llama_cpp import llama_cpp as low_level

        backend = self.backend
        llm = backend.llm
        started = time.perf_counter()
        with backend._lock:
            tokens = backend.prompt_tokens(request.messages)
            limit = min(self.max_prompt_tokens or backend.n_ctx, backend.n_ctx - 8)
            if len(tokens) > limit:
                raise BackendError(f"{backend.spec}: the prompt has {len(tokens)} tokens, more than the {limit} "
                                   "the learned judge accepts")
            # Same chunking as EmbeddedBackend._evaluate (aligned at 0; whole chunks reused), so
            # the logits are bit-identical to the prompted judge's.
            shared = min(llm.longest_token_prefix(llm._input_ids.tolist(), tokens), len(tokens) - 1)
            chunk = backend.chunk
            reused = (shared // chunk) * chunk
            llm.n_tokens = reused
            starts = list(range(reused, len(tokens), chunk))
            ctx = llm._ctx.ctx
            try:
                for start in starts[:-1]:
                    llm.eval(tokens[start:start + chunk])
                low_level.llama_set_embeddings(ctx, True)
                with self.tap.armed_for() if self.tap else contextlib.nullcontext():
                    self._eval_all_outputs(tokens[starts[-1]:starts[-1] + chunk])
                layers = self.tap.collect() if self.tap else None
                pointer = low_level.llama_get_embeddings_ith(ctx, -1)
                if not pointer:
                    raise BackendError(f"{backend.spec}: llama.cpp returned no embedding for the last position")
                hidden = np.ctypeslib.as_array(pointer, shape=(self.dimension,)).astype(np.float32).copy()
            finally:
                low_level.llama_set_embeddings(ctx, False)
            first = backend._next_logprobs()
            label_logprobs = backend._label_logprobs(tokens, first, request.labels) if request.labels else {}
        return Features(hidden=hidden, label_logprobs=label_logprobs, prompt_tokens=len(tokens),
                        seconds=time.perf_counter() - started, extra={"cached_prompt_tokens": float(reused)},
                        layers=layers)
