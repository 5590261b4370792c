"""The judge card as HTML: one section the report embeds, or a page of its own (``write_card_html``)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from jurist.audits.card import JudgeCard, StoredCard

# The section's styles, for the head of any page that shows a card (the report's and the card's own).
CSS = """.judge-card{max-width:72rem}.judge-card table{border-collapse:collapse}
.judge-card td,.judge-card th{border:1px solid #ccc;padding:.25rem .5rem;font-size:.9rem;text-align:left}
.v-pass{color:#176f2c}.v-warn{color:#9a6700}.v-fail,.v-failed{color:#b42318;font-weight:600}
.v-not_applicable{color:#888}.judge-card .note{color:#555;font-size:.85rem}"""


def render_card(card: JudgeCard, link: str = "") -> Markup:
    """The card as an HTML section (every string from the data escaped); ``link`` says which runs it belongs to."""
    env = Environment(loader=PackageLoader("jurist.report", "templates"), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    mitigations = list(dict.fromkeys(m for p in card.probes for m in p.mitigations))
    return Markup(env.get_template("card.html.j2").render(card=card, mitigations=mitigations, link=link))


def card_sections(found: Sequence[tuple[str, StoredCard]]) -> list[Markup]:
    """One section per distinct card among (run name, stored card) pairs, saying which runs it describes."""
    by_audit: dict[str, tuple[StoredCard, list[str]]] = {}
    for name, stored in found:
        by_audit.setdefault(stored.audit_run, (stored, []))[1].append(name)
    return [render_card(stored.card, f"Shown for {', '.join(names)}: {stored.link}.")
            for stored, names in by_audit.values()]


def write_card_html(path: str | Path, card: JudgeCard) -> None:
    """A standalone page holding the card's section."""
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>judge card: {escape(card.judge)}</title>"
            f"<style>body{{font-family:system-ui,sans-serif}}{CSS}</style></head><body>{render_card(card)}</body></html>\n")
    Path(path).write_text(page, encoding="utf-8")
