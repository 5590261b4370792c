"""Every layer's hidden state at the last prompt position, read through llama.cpp's eval callback.

llama.cpp's API hands out only the final (normed) embedding. Intermediate layers are
reachable through the scheduler's evaluation callback (``cb_eval`` in the context
parameters): llama.cpp asks the callback, tensor by tensor, whether it wants to see
the tensor (``ask=True``), computes the graph up to each wanted tensor, and calls back
again with the data in host memory (``ask=False``). The graph names the residual
stream after layer ``i`` ``l_out-i`` and the final normed state ``result_norm`` (renamed
``result_embd_pooled`` when the context does no pooling).

The tap is armed only while the last chunk of a prompt is evaluated: when disarmed it
answers "no" to every ask, so other evaluations are computed exactly as without it
(no graph splits). It copies one row per wanted tensor, the last position's.

Small models often carry a better judgment signal in their middle layers than in the
last one; ``jurist.learn`` fits probes on any of them (docs/quality.md).
"""

from __future__ import annotations

import contextlib
import ctypes
from typing import Any

import numpy as np

from jurist.backends.base import BackendError

GGML_TYPE_F32 = 0
_GGML_MAX_DIMS = 4
_GGML_MAX_OP_PARAMS = 64
_GGML_MAX_SRC = 10
_GGML_MAX_NAME = 64


class _GgmlTensor(ctypes.Structure):
    """The head of ``struct ggml_tensor`` (ggml.h), up to ``name``: what the tap reads."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("buffer", ctypes.c_void_p),
        ("ne", ctypes.c_int64 * _GGML_MAX_DIMS),
        ("nb", ctypes.c_size_t * _GGML_MAX_DIMS),
        ("op", ctypes.c_int),
        ("op_params", ctypes.c_int32 * (_GGML_MAX_OP_PARAMS // 4)),
        ("flags", ctypes.c_int32),
        ("src", ctypes.c_void_p * _GGML_MAX_SRC),
        ("view_src", ctypes.c_void_p),
        ("view_offs", ctypes.c_size_t),
        ("data", ctypes.c_void_p),
        ("name", ctypes.c_char * _GGML_MAX_NAME),
    ]


class LayerTap:
    """Copies the last row of ``l_out-0 .. l_out-(n-1)`` and ``result_norm`` while armed.

    ``states[i]`` is the residual stream after layer ``i``; ``states[n_layer]`` is the
    final normed state (the vector the LM head reads, which ``llama_get_embeddings_ith``
    also returns).
    """

    def __init__(self, n_layer: int, n_embd: int):
        from llama_cpp import llama_cpp as low_level

        self.n_layer = n_layer
        self.n_embd = n_embd
        self._wanted = {f"l_out-{i}".encode(): i for i in range(n_layer)}
        # the final normed state is named result_norm, and renamed result_embd_pooled when the
        # context has no pooling (the same tensor): either is the last row of ``states``
        self._wanted[b"result_norm"] = self._wanted[b"result_embd_pooled"] = n_layer
        self.states = np.zeros((n_layer + 1, n_embd), dtype=np.float32)
        self._seen: set[int] = set()
        self._error: str | None = None
        self.armed = False
        # the ctypes object must outlive the context that calls it: it is kept here
        self.callback = low_level.ggml_backend_sched_eval_callback(self._on_tensor)

    def _on_tensor(self, pointer: int, ask: bool, _user_data: Any) -> bool:
        # An exception here would return False to C (cancel the computation): catch everything.
        try:
            if not self.armed:
                return not ask
            tensor = _GgmlTensor.from_address(pointer)
            index = self._wanted.get(tensor.name)
            if ask:
                return index is not None
            if index is None:
                return True
            if tensor.type != GGML_TYPE_F32 or tensor.ne[0] != self.n_embd or not tensor.data:
                self._error = (f"{tensor.name.decode()}: type {tensor.type}, shape {list(tensor.ne)}; "
                               f"expected float32 rows of {self.n_embd}")
                return True
            last_row = tensor.data + (int(tensor.ne[1]) - 1) * int(tensor.nb[1])
            self.states[index] = np.ctypeslib.as_array((ctypes.c_float * self.n_embd).from_address(last_row))
            self._seen.add(index)
            return True
        except Exception as error:  # noqa: BLE001 - reported by collect()
            self._error = f"{type(error).__name__}: {error}"
            return True

    @contextlib.contextmanager
    def armed_for(self):
        """Arm the tap for one evaluation; :meth:`collect` reads what it copied."""
        self._seen.clear()
        self._error = None
        self.armed = True
        try:
            yield self
        finally:
            self.armed = False

    def collect(self) -> np.ndarray:
        """A copy of the states of the last armed evaluation; an error if any layer was missed."""
        if self._error:
            raise BackendError(f"the layer tap could not read a tensor: {self._error}")
        missing = sorted(set(range(self.n_layer + 1)) - self._seen)
        if missing:
            raise BackendError(f"the layer tap saw no tensor for layers {missing[:5]}{'...' if len(missing) > 5 else ''}"
                               " (this llama.cpp build names its tensors differently)")
        return self.states.copy()


def install_tap(llm: Any) -> LayerTap:
    """Give a loaded ``llama_cpp.Llama`` a :class:`LayerTap`.

    The callback is a context parameter, so the context is created again with it (the
    model weights are shared; the KV cache starts empty, and the Llama object is reset
    so that it does not reuse a prefix that is gone).
    """
    from llama_cpp import _internals

    n_layer = int(llm._model.n_layer()) if hasattr(llm._model, "n_layer") else int(llm.metadata[
        f"{llm.metadata['general.architecture']}.block_count"])
    tap = LayerTap(n_layer, int(llm.n_embd()))
    llm.context_params.cb_eval = tap.callback
    llm.context_params.cb_eval_user_data = None
    context = _internals.LlamaContext(model=llm._model, params=llm.context_params, verbose=llm.verbose)
    previous = llm._ctx
    llm._ctx = llm._stack.enter_context(contextlib.closing(context))
    previous.close()
    llm.reset()
    return tap
