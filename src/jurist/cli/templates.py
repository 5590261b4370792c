"""``jurist templates``: the built-in templates and dimension sets."""

from __future__ import annotations

from importlib import resources
from typing import Annotated

import typer
from rich.table import Table

from jurist.cli.common import app, fail, out
from jurist.protocols.dimensions import builtin_dimension_sets, load_dimension_set
from jurist.protocols.templating import builtin_template, builtin_templates

templates_app = typer.Typer(help="List the built-in templates and dimension sets, or print one.",
                            invoke_without_command=True, no_args_is_help=False)
app.add_typer(templates_app, name="templates")


@templates_app.callback()
def templates(ctx: typer.Context) -> None:
    """List the built-in templates (with the variables each uses) and dimension sets."""
    if ctx.invoked_subcommand is not None:
        return
    listing = Table(title="built-in templates (jurist templates show NAME)", title_justify="left")
    for column in ("name", "description", "variables"):
        listing.add_column(column, overflow="fold")
    for info in builtin_templates():
        listing.add_row(info.name, info.description, ", ".join(info.variables))
    out.print(listing)
    sets = Table(title="built-in dimension sets (--dimensions NAME)", title_justify="left")
    for column in ("name", "dimensions", "description"):
        sets.add_column(column, overflow="fold")
    for name, description in builtin_dimension_sets().items():
        sets.add_row(name, ", ".join(load_dimension_set(name).names), description)
    out.print(sets)


@templates_app.command("show")
def show(name: Annotated[str, typer.Argument(help="A built-in template or dimension set name.")]) -> None:
    """Print a built-in template (or dimension set) verbatim: copy it to start your own."""
    templates_by_name = {info.name for info in builtin_templates()}
    stem = name.removesuffix(".j2").removesuffix(".toml")
    if stem in templates_by_name:
        print(builtin_template(f"{stem}.j2"), end="")
    elif stem in builtin_dimension_sets():
        folder = resources.files("jurist.protocols").joinpath("dimension_sets")
        print(folder.joinpath(f"{stem}.toml").read_text(encoding="utf-8"), end="")
    else:
        fail(f"no built-in template or dimension set {name!r} (templates: {', '.join(sorted(templates_by_name))}; "
             f"dimension sets: {', '.join(builtin_dimension_sets())})")
