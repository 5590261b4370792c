"""The embedded judge: a GGUF model run in-process with llama.cpp (the default backend).

Why by hand rather than ``Llama.create_chat_completion``: a judge needs the
probability of each answer label at the first output position, over the whole
vocabulary, from one forward pass. llama-cpp-python only gives log-probabilities
when it keeps logits for *every* prompt token (``logits_all``), which costs an
extra vocabulary projection per prompt token. Here the prompt is evaluated once,
only the last position's logits are read, and the prompt prefix shared with the
previous request (the rubric, the instruction, the other order of a pair) is kept
in the KV cache instead of being recomputed.

The prompt is built with the model's own chat template exactly as
``python -m llama_cpp.server`` builds it, so the same model behind the server
gives the same first-token distribution.
"""

from __future__ import annotations

import asyncio
import math
import threading
from pathlib import Path
from typing import Any

import numpy as np

from jurist.backends.base import Backend, BackendError
from jurist.backends.models import DEFAULT_MODEL, MODELS, model_path
from jurist.backends.native import NativeBuildError, ensure_runs_here
from jurist.types import Completion, CompletionRequest, Message, Usage


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max()
    return shifted - np.log(np.exp(shifted).sum())


def _label_variants(label: str) -> set[str]:
    """Surface forms of one label that count as that answer (same rule as top-k reading)."""
    forms = {label, label.lower(), label.upper(), label.capitalize()}
    return forms | {" " + form for form in forms}


class EmbeddedBackend(Backend):
    """A local GGUF model, in-process. ``EmbeddedBackend()`` loads the default 0.5B judge.

    ``model`` is a key of ``jurist.backends.models.MODELS`` (``"0.5b"``) or a path
    to any GGUF file. Requests are served one at a time (llama.cpp uses all
    ``n_threads`` for one evaluation); concurrency above 1 only queues.
    """

    def __init__(self, model: str | Path = DEFAULT_MODEL, n_ctx: int = 8192, n_threads: int | None = None,
                 chunk: int = 64, seed: int = 0):
        try:
            from llama_cpp import Llama
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as error:  # the optional extra is missing
            raise BackendError("the embedded judge needs llama-cpp-python: pip install 'jurist[local]'") from error
        path = model_path(str(model)) if str(model) in MODELS else Path(model)
        if not path.is_file():
            raise BackendError(f"no GGUF model at {path}")
        with path.open("rb") as handle:
            if handle.read(4) != b"GGUF":
                raise BackendError(f"{path} is not a GGUF file (it does not start with b'GGUF')")
        self.path = path
        self.spec = f"local:{MODELS[str(model)].name if str(model) in MODELS else path.name}"
        try:
            ensure_runs_here(path)  # a native build this CPU cannot run crashes a child process, not this one
        except NativeBuildError as error:
            raise BackendError(str(error)) from None
        # n_threads_batch too: prompts are evaluated in batches, and llama-cpp-python would use every core
        self.llm = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads,
                         n_batch=chunk, n_ubatch=chunk,
                         logits_all=False, seed=seed, verbose=False)
        self.n_ctx = n_ctx
        self.chunk = chunk
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._variant_tokens: dict[str, list[list[int]]] = {}
        model_handle = self.llm._model  # llama-cpp-python keeps the low-level model here
        eos = self.llm.token_eos()
        bos = self.llm.token_bos()
        template = self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise BackendError(f"{path.name} has no chat template in its metadata; jurist needs an instruct model")
        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=model_handle.token_get_text(eos) if eos != -1 else "",
            bos_token=model_handle.token_get_text(bos) if bos != -1 else "",
            stop_token_ids=[eos],
        )

    # -- prompt -------------------------------------------------------------------------

    def prompt_tokens(self, messages: list[Message]) -> list[int]:
        """The token ids of the chat prompt, as llama_cpp.server would build them."""
        if any(m.has_images for m in messages):
            raise BackendError(f"{self.spec} reads text only and this request carries images: judge with a model "
                               "that accepts images (an http judge with judge.vision set), or give the item a caption "
                               "(images) or transcript (frames) to judge instead")
        result = self._formatter(messages=[{"role": m.role, "content": m.text} for m in messages])
        if not any(self._has_special_text(m.text) for m in messages):
            return self.llm.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)
        return self._tokens_with_text_as_text(messages, not result.added_special)

    def _has_special_text(self, text: str) -> bool:
        """Whether ``text`` holds the text of a special token (``<|im_start|>``): parsed as specials, it
        tokenizes otherwise than as plain text."""
        data = text.encode("utf-8")
        return self.llm.tokenize(data, add_bos=False, special=True) != self.llm.tokenize(data, add_bos=False,
                                                                                         special=False)

    def _tokens_with_text_as_text(self, messages: list[Message], add_bos: bool) -> list[int]:
        """The prompt with the chat template's markers as special tokens and every message's text as text.

        Why: llama_cpp.server (and a plain ``tokenize(prompt, special=True)``) turns ``<|im_start|>system``
        written inside a candidate into the real role marker, so a response could open a system turn of
        its own. Here the template is rendered with a placeholder per message; the template's pieces are
        tokenized with specials, the texts without. Only prompts whose texts hold special-token text take
        this path: any other prompt is tokenized exactly as the server does (the same verdicts).
        """
        marks = [f"\ue000{k}\ue001" for k in range(len(messages))]
        template = self._formatter(messages=[{"role": m.role, "content": mark} for m, mark in zip(messages, marks,
                                                                                                 strict=True)]).prompt
        if any(template.count(mark) != 1 for mark in marks):
            raise BackendError(f"{self.spec}: the model's chat template does not place each message once; "
                               "a message holding special-token text cannot be tokenized safely")
        tokens: list[int] = []
        rest = template
        for mark, message in zip(marks, messages, strict=True):
            head, rest = rest.split(mark, 1)
            tokens += self.llm.tokenize(head.encode("utf-8"), add_bos=add_bos and not tokens, special=True)
            tokens += self.llm.tokenize(message.text.encode("utf-8"), add_bos=False, special=False)
        return tokens + self.llm.tokenize(rest.encode("utf-8"), add_bos=False, special=True)

    def _evaluate(self, tokens: list[int]) -> tuple[np.ndarray, int]:
        """Evaluate ``tokens``, reusing the KV cache of the longest shared prefix.

        Returns the log-probabilities of the next token and how many prompt tokens
        were reused. Why chunks: llama.cpp's results depend (in the last bits) on how
        tokens are grouped into batches, and a judge's margins can be a few thousandths,
        so a verdict must not depend on which prompt came before. Tokens are therefore
        always evaluated in ``chunk``-sized batches aligned at position 0, and only whole
        aligned chunks are reused: every prompt is computed exactly as if evaluated fresh.
        """
        llm = self.llm
        shared = min(llm.longest_token_prefix(llm._input_ids.tolist(), tokens), len(tokens) - 1)
        reused = (shared // self.chunk) * self.chunk
        llm.n_tokens = reused  # eval() drops the KV cache beyond n_tokens
        for start in range(reused, len(tokens), self.chunk):
            llm.eval(tokens[start:start + self.chunk])
        return self._next_logprobs(), reused

    def _next_logprobs(self) -> np.ndarray:
        from llama_cpp import llama_cpp as low_level

        pointer = low_level.llama_get_logits_ith(self.llm._ctx.ctx, -1)
        return _log_softmax(np.ctypeslib.as_array(pointer, shape=(self.llm.n_vocab(),)).astype(np.float64))

    # -- labels -------------------------------------------------------------------------

    def _variants(self, label: str) -> list[list[int]]:
        if label not in self._variant_tokens:
            sequences = {tuple(self.llm.tokenize(form.encode("utf-8"), add_bos=False, special=False))
                         for form in _label_variants(label)}
            self._variant_tokens[label] = [list(s) for s in sequences if s]
        return self._variant_tokens[label]

    def _label_logprobs(self, prompt: list[int], first: np.ndarray, labels: list[str]) -> dict[str, float]:
        """log P(label) as the whole answer start, summed over the label's surface forms.

        Multi-token labels are scored exactly by evaluating their continuation; when
        one label's tokens are a prefix of another's ("1" and "10"), the longer
        label's probability is taken out of the shorter one's.
        """
        sequence_prob: dict[tuple[int, ...], float] = {}
        owner: dict[tuple[int, ...], str] = {}
        for label in labels:
            for tokens in self._variants(label):
                key = tuple(tokens)
                owner[key] = label
                if key in sequence_prob:
                    continue
                logprob = float(first[tokens[0]])
                if len(tokens) > 1 and logprob > -30.0:  # a negligible first token needs no continuation
                    self.llm.n_tokens = len(prompt)
                    for index in range(1, len(tokens)):
                        self.llm.eval([tokens[index - 1]])
                        logprob += float(self._next_logprobs()[tokens[index]])
                    self.llm.n_tokens = len(prompt)
                elif len(tokens) > 1:
                    logprob = -math.inf
                sequence_prob[key] = math.exp(logprob)
        exclusive = dict(sequence_prob)
        for short in sequence_prob:
            for long in sequence_prob:
                if len(long) > len(short) and long[: len(short)] == short:
                    exclusive[short] -= sequence_prob[long]
        totals: dict[str, float] = dict.fromkeys(labels, 0.0)
        for key, prob in exclusive.items():
            totals[owner[key]] += max(prob, 0.0)
        return {label: math.log(p) if p > 0 else -math.inf for label, p in totals.items()}

    # -- decoding -----------------------------------------------------------------------

    def _pick(self, logprobs: np.ndarray, temperature: float) -> int:
        if temperature <= 0:
            return int(np.argmax(logprobs))
        scaled = logprobs / temperature
        probs = np.exp(scaled - scaled.max())
        return int(self._rng.choice(len(probs), p=probs / probs.sum()))

    def _complete_sync(self, request: CompletionRequest) -> Completion:
        from llama_cpp import llama_cpp as low_level

        with self._lock:
            prompt = self.prompt_tokens(request.messages)
            if len(prompt) + request.max_tokens > self.n_ctx:
                raise BackendError(f"{self.spec}: the prompt has {len(prompt)} tokens; with {request.max_tokens} "
                                   f"output tokens it exceeds the context of {self.n_ctx}")
            if request.seed is not None:
                self._rng = np.random.default_rng(request.seed)
            first, reused = self._evaluate(prompt)
            label_logprobs = self._label_logprobs(prompt, first, request.labels) if request.labels else None
            top: list[dict[str, float]] = []
            if request.top_logprobs > 0:
                best = np.argpartition(first, -request.top_logprobs)[-request.top_logprobs:]
                top.append({self._piece(int(t)): float(first[t]) for t in best[np.argsort(-first[best])]})
            vocab = self.llm._model.vocab
            generated: list[int] = []
            logprobs = first
            for _ in range(request.max_tokens):
                token = self._pick(logprobs, request.temperature)
                if low_level.llama_vocab_is_eog(vocab, token):
                    break
                generated.append(token)
                if len(generated) == request.max_tokens:
                    break
                self.llm.eval([token])
                logprobs = self._next_logprobs()
            text = self.llm.detokenize(generated).decode("utf-8", errors="replace")
        return Completion(text=text, top_logprobs=top, label_logprobs=label_logprobs, model=self.spec,
                          usage=Usage(prompt_tokens=len(prompt), completion_tokens=len(generated),
                                      cached_prompt_tokens=reused))

    def _piece(self, token: int) -> str:
        return self.llm.detokenize([token]).decode("utf-8", errors="replace")

    async def complete(self, request: CompletionRequest) -> Completion:
        return await asyncio.to_thread(self._complete_sync, request)

    def describe(self) -> dict[str, Any]:
        return {"spec": self.spec, "path": str(self.path), "n_ctx": self.n_ctx}

    async def aclose(self) -> None:
        with self._lock:
            self.llm.close()
