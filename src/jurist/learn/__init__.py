"""Learned judges: a probe fitted on a base model's representations from a golden set.

``jurist learn GOLDEN --base local --protocol compare --out DIR`` fits one;
``--judge probe:DIR`` uses it like any other judge. See ``docs/learned.md``.

- :mod:`jurist.learn.features`: last hidden state + label log-probs from the embedded model.
- :mod:`jurist.learn.probe`: fitting, cross-validation, calibration, the card, saving and loading.
- :mod:`jurist.learn.views`: which rendered prompts a probe accepts, and the fields read back.
- :mod:`jurist.learn.learner`: ``learn()`` and ``ProbeBackend`` (the probe as a Backend).
- :mod:`jurist.learn.encoder`: the encoder judge (all-MiniLM-L6-v2 in numpy) for reference-based correctness.
"""

from jurist.learn.learner import ProbeBackend, learn, make_features
from jurist.learn.probe import ProbeCard, ProbeError, load_probe, save_probe

__all__ = ["ProbeBackend", "ProbeCard", "ProbeError", "learn", "load_probe", "make_features", "save_probe"]
