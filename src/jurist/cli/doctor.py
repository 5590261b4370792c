"""``jurist doctor``: check the machine the embedded judge runs on and say what to fix."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table

from jurist.cli.common import app, out


def _text(value: object) -> str:
    """A fact as short lines: lists joined, mappings as `key: value`, nested one level."""
    if isinstance(value, dict):
        return "\n".join(f"{key}: {_text(item)}" for key, item in value.items())
    if isinstance(value, list):
        if all(isinstance(item, str) for item in value):
            return " ".join(value)
        return "\n".join(_text(item) if not isinstance(item, dict) else ", ".join(f"{k}={v}" for k, v in item.items())
                         for item in value)
    return str(value)


@app.command()
def doctor(
    smoke: Annotated[bool, typer.Option(help="Run the native smoke test (loads the model in a child process).")] = True,
    checksums: Annotated[bool, typer.Option(help="Check the SHA-256 of the assembled models.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the findings as JSON.")] = False,
) -> None:
    """CPU features, llama.cpp build flags, models, versions, a smoke test, and what to do about each problem."""
    from jurist.doctor import diagnose

    diagnosis = diagnose(smoke=smoke, checksums=checksums)
    if as_json:
        out.print_json(json.dumps({"ok": diagnosis.ok, "facts": diagnosis.facts,
                                   "findings": [asdict(f) for f in diagnosis.findings]}, default=str))
    else:
        facts = Table("what", "seen", title="jurist doctor", show_lines=True)
        for name, value in diagnosis.facts.items():
            facts.add_row(name, _text(value))
        out.print(facts)
        findings = Table("check", "status", "detail", "what to do", show_lines=True)
        colour = {"ok": "green", "warn": "yellow", "fail": "red"}
        for finding in diagnosis.findings:
            findings.add_row(finding.name, f"[{colour[finding.status]}]{finding.status}[/]", finding.detail,
                             finding.fix)
        out.print(findings)
    if not diagnosis.ok:
        raise typer.Exit(1)
