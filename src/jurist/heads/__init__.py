"""Heads shipped with jurist: probes fitted on an embedded model's layer states, ready to judge.

Each head is a directory ``jurist/heads/<name>/`` written by ``benchmarks/generalization.py ship``:

- ``card.json``: a :class:`jurist.learn.probe.ProbeCard`, so what it reads (base model and its
  sha256, layer, protocol, whether it is length-neutral), what it was fitted on (data hash, pairs
  per dataset), its cross-validated metrics, and in ``transfer`` its accuracy on each dataset when
  that dataset was left out of the fit;
- ``weights.npz``: the standardiser and linear weights (their sha256 is in the card);
- ``examples.jsonl``: a few pairs with the verdict the head gave when it was shipped, which
  ``tests/test_heads.py`` reproduces on the real model.

A head is served by :class:`jurist.learn.learner.ProbeBackend`, like any ``probe:DIR``; the
presets in :mod:`jurist.backends.presets` name them (``local:head``, ``local:mass-mean-head``,
``local:1.5b-head``; the mass-mean heads on the two other wordings, ``-plain`` and ``-question-last``,
are members of the ``local:wording-jury``). A head's preset names the template it was fitted on,
which a compare plan naming no template renders for it.
"""

from __future__ import annotations

from pathlib import Path

from jurist.backends.base import BackendError

HEADS = Path(__file__).resolve().parent


def head_dir(name: str) -> Path:
    """The directory of a shipped head."""
    directory = HEADS / name
    if not (directory / "card.json").is_file():
        shipped = sorted(p.name for p in HEADS.iterdir() if (p / "card.json").is_file())
        raise BackendError(f"no shipped head {name!r} (shipped: {', '.join(shipped) or 'none'})")
    return directory
