"""Judges at work: applications built on verdicts (reward corrections for RL, ...)."""
