"""Audits: perturb items, measure how a judge's verdicts move, and summarise it in a judge card.

``perturb`` makes the seeded, recorded edits; ``probes`` says which items each probe judges and what
counts as the bias showing; ``audit`` runs them (and each mitigation, as a plan variation) through the
one runner; ``card`` is the result: a rate with a bootstrap CI and a verdict per probe, kept in the store with
the audit's runs.
"""

from jurist.audits.audit import MITIGATIONS, audit
from jurist.audits.card import THRESHOLDS, JudgeCard, ProbeResult, StoredCard, card_for_run, load_card, store_card
from jurist.audits.probes import PROBES

__all__ = ["MITIGATIONS", "PROBES", "THRESHOLDS", "JudgeCard", "ProbeResult", "StoredCard", "audit", "card_for_run",
           "load_card", "store_card"]
