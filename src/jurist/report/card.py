"""The judge card as HTML: one section the report can embed, or a page of its own (``write_card_html``)."""

from __future__ import annotations

from html import escape
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from jurist.audits.card import JudgeCard

_STYLE = """<style>
.judge-card{font-family:system-ui,sans-serif;max-width:72rem}.judge-card table{border-collapse:collapse}
.judge-card td,.judge-card th{border:1px solid #ccc;padding:.25rem .5rem;font-size:.9rem;text-align:left}
.v-pass{color:#176f2c}.v-warn{color:#9a6700}.v-fail,.v-failed{color:#b42318;font-weight:600}
.v-not_applicable{color:#888}.judge-card .note{color:#555;font-size:.85rem}
</style>"""


def render_card(card: JudgeCard) -> str:
    """The card as an HTML section (every string from the data escaped)."""
    env = Environment(loader=PackageLoader("jurist.report", "templates"), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    mitigations = list(dict.fromkeys(m for p in card.probes for m in p.mitigations))
    return env.get_template("card.html.j2").render(card=card, mitigations=mitigations)


def write_card_html(path: str | Path, card: JudgeCard) -> None:
    """A standalone page holding the card's section."""
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>judge card: {escape(card.judge)}</title>{_STYLE}"
            f"</head><body>{render_card(card)}</body></html>\n")
    Path(path).write_text(page, encoding="utf-8")
