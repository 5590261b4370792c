"""``jurist templates``: the built-in templates and dimension sets; the --template/--examples/--dimension(s) options."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from jurist.cli.common import DataSource, app, err, fail, out, text_or_file
from jurist.io import JuristInputError
from jurist.protocols.base import Protocol
from jurist.protocols.dimensions import (
    Dimension,
    DimensionSet,
    DimensionsProtocol,
    builtin_dimension_sets,
    load_dimension_set,
    parse_dimension,
)
from jurist.protocols.pairwise import PairwiseProtocol
from jurist.protocols.pointwise import PointwiseProtocol
from jurist.protocols.templating import (
    TemplateError,
    builtin_template,
    builtin_templates,
    check_template,
    load_examples,
    load_template,
)
from jurist.types import Judgment

TemplateOpt = Annotated[Optional[str], typer.Option(
    help="A Jinja2 template FILE (rendered in a sandbox; see `jurist templates`), or a built-in name.")]
ExamplesOpt = Annotated[Optional[Path], typer.Option(
    help="Few-shot examples: JSONL with input, response (or response_a/response_b) and answer.")]
DimensionOpt = Annotated[Optional[list[str]], typer.Option(
    "--dimension", help="NAME=RUBRIC or NAME=@FILE: one judge per dimension, one column each (repeatable).")]
DimensionsOpt = Annotated[Optional[str], typer.Option(
    help="A dimension set: built-in (summeval, topical_chat) or a .json/.toml file.")]

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


# ------------------------------------------------------------------ building protocols from options


def _first_item(source: DataSource):  # noqa: ANN202 - an Item or None
    try:
        items = DataSource(source.path, source.task, source.field, source.preset, source.label_map, 1).load().items
    except (JuristInputError, ValueError, OSError):
        return None  # the run reports bad input itself
    return items[0] if items else None


def _template(template: str | None) -> tuple[str | None, str]:
    if template is None:
        return None, ""
    try:
        return load_template(template)
    except TemplateError as error:
        fail(error)


def _check(protocol: Protocol, text: str | None, origin: str, source: DataSource) -> None:
    """Render the first item before any model call: a bad template stops here, naming file and variable."""
    if text is None:
        return
    try:
        warnings = check_template(text, origin, protocol, _first_item(source))
    except TemplateError as error:
        fail(error)
    for warning in warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}")


def score_protocol(source: DataSource, rubric: str, scale: str, dimension: list[str] | None,
                   dimensions: str | None, template: str | None, examples: Path | None) -> Protocol:
    """The protocol for ``jurist score``: pointwise, or one pointwise judge per dimension."""
    text, origin = _template(template)
    try:
        shots = load_examples(examples, "score") if examples else []
        if dimension or dimensions:
            the_set = load_dimension_set(dimensions) if dimensions else DimensionSet(())
            extra: list[Dimension] = [parse_dimension(option, scale, text_or_file) for option in dimension or []]
            the_set = DimensionSet(the_set.dimensions + tuple(extra), the_set.task, the_set.description)
            protocol: Protocol = DimensionsProtocol(the_set, text, examples=shots)
        else:
            protocol = PointwiseProtocol(text_or_file(rubric), scale, text, examples=shots)
    except ValueError as error:
        fail(error)
    _check(protocol, text, origin, source)
    return protocol


def compare_protocol(source: DataSource, criteria: str, tie: bool, template: str | None,
                     examples: Path | None) -> Protocol:
    """The protocol for ``jurist compare`` with an optional template file and few-shot examples."""
    text, origin = _template(template)
    try:
        shots = load_examples(examples, "compare") if examples else []
        protocol = PairwiseProtocol(text_or_file(criteria), allow_tie=tie, template=text, examples=shots)
    except ValueError as error:
        fail(error)
    _check(protocol, text, origin, source)
    return protocol


def print_dimensions(judgments: list[Judgment], names: list[str]) -> None:
    """One row per dimension: scored count, mean expected score with a 95% CI, top-label counts."""
    from jurist.metrics.summary import score_summary
    from jurist.strategies.dimensions import dimension_judgments

    table = Table(title="per dimension", title_justify="left")
    for column in ("dimension", "scored", "mean score [95% CI]", "top labels"):
        table.add_column(column)
    present = [j for j in judgments if j.verdict.dimensions]
    for name in names:
        summary = score_summary(dimension_judgments(present, name), n_resamples=1000)
        mean = summary.mean_score
        table.add_row(name, f"{summary.counts.scored}/{summary.counts.total}",
                      f"{mean.value:.3f} [{mean.low:.3f}, {mean.high:.3f}]",
                      " ".join(f"{k}:{v}" for k, v in summary.top_labels.items()))
    out.print(table)
