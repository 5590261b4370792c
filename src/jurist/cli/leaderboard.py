"""``jurist leaderboard``: rank the models of pairwise runs (Bradley-Terry, Elo, win rates against an anchor)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer
from rich.console import Console
from rich.table import Table

from jurist.cli.common import (
    DEFAULT_STORE,
    DataSource,
    FieldOpt,
    LabelMapOpt,
    PresetOpt,
    StoreOpt,
    app,
    err,
    fail,
    load_verdicts,
    out,
    warn_skipped,
)
from jurist.io import JuristInputError
from jurist.metrics.uncertainty import Estimate
from jurist.metrics.ranking import Leaderboard, comparisons_from_judgments, leaderboard as build_leaderboard


def _lengths(data: Path, field: list[str] | None, preset: str | None,
             label_map: list[str] | None) -> dict[str, tuple[float, float]]:
    """Characters of each item's two responses, by item id, from the run's input file."""
    try:
        loaded = DataSource(data, "compare", field, preset, label_map).load()
    except JuristInputError as error:
        fail(error)
    warn_skipped([str(e) for e in loaded.errors])  # their items get no length: the warning below says so
    return {item.id: (float(len(item.candidates[0])), float(len(item.candidates[1]))) for item in loaded.items}


def _cell(estimate: Estimate, digits: int = 3) -> str:
    """An estimate without its n (the table has a column of counts)."""
    return estimate.format(digits).rsplit(" n=", 1)[0]


def _print(board: Leaderboard, title: str) -> None:
    # eight columns of intervals: print wide rather than wrap every cell (as `jurist runs` does)
    wide = Console(width=max(out.width, 150))
    standings = Table(title=title, title_justify="left")
    for name in ("rank", "model", "Bradley-Terry (Elo scale)", "Elo", f"win rate vs {board.anchor} (games)",
                 "BT win rate vs anchor", "length-controlled", "comparisons"):
        standings.add_column(name)
    for s in board.standings:
        standings.add_row(str(s.rank), s.model, _cell(s.rating, 0), _cell(s.elo, 0),
                          f"{_cell(s.win_rate)} ({s.win_rate.n})" if s.win_rate.n else "anchor", _cell(s.bt_win_rate),
                          _cell(s.lc_win_rate) if s.lc_win_rate else "n/a (no --data)", str(s.comparisons))
    wide.print(standings)
    if board.length_coefficient is not None:
        wide.print(f"length coefficient (judge's preference for the longer response): {board.length_coefficient}")
    pairs = Table(title=f"pairs separable at {board.confidence:.0%} (Bradley-Terry difference, Elo points)",
                  title_justify="left")
    for name in ("better", "worse", "difference", "separable"):
        pairs.add_column(name)
    for p in board.pairs:
        pairs.add_row(p.better, p.worse, _cell(p.difference, 0), "yes" if p.separable else "no")
    wide.print(pairs)
    if board.anchor_warning:
        err.print(f"[yellow]warning:[/yellow] {board.anchor_warning}")


@app.command()
def leaderboard(
    runs: Annotated[list[str], typer.Argument(help="Pairwise runs (id, id prefix or name) or judgments files; "
                                                   "model names come from metadata model_a/model_b or cmp_key.")],
    anchor: Annotated[Optional[str], typer.Option(help="Model to report win rates against "
                                                       "(default: the one in most comparisons).")] = None,
    use: Annotated[str, typer.Option("--from", help="verdicts (the judge's preferences) or labels "
                                                    "(the human labels kept with the items).")] = "verdicts",
    data: Annotated[Optional[Path], typer.Option(help="The runs' input file: the responses' lengths, for the "
                                                      "length-controlled win rate.")] = None,
    field: FieldOpt = None, preset: PresetOpt = None, label_map: LabelMapOpt = None,
    resamples: Annotated[int, typer.Option(min=0, help="Bootstrap resamples for the intervals.")] = 1000,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the leaderboard as JSON.")] = None,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Rank models: Bradley-Terry ratings and Elo with 95% CIs, win rates against an anchor, separable pairs."""
    if use not in ("verdicts", "labels"):
        raise typer.BadParameter(f"--from {use!r}: expected verdicts or labels")
    judgments = [j for run in runs for j in load_verdicts(run, store)]
    if any(j.verdict.kind != "compare" for j in judgments):
        fail("a leaderboard needs pairwise (compare) runs")
    lengths = _lengths(data, field, preset, label_map) if data is not None else None
    if lengths is not None and (unknown := [j.item_id for j in judgments if j.item_id not in lengths]):
        err.print(f"[yellow]warning:[/yellow] {len(unknown)} judged items (e.g. {unknown[0]!r}) are not in {data}: "
                  "no length-controlled win rate")
    source: Literal["verdicts", "labels"] = "labels" if use == "labels" else "verdicts"
    try:
        comparisons = comparisons_from_judgments(judgments, use=source, lengths=lengths)
        board = build_leaderboard(comparisons, anchor=anchor, n_resamples=resamples)
    except ValueError as error:
        fail(error)
    _print(board, f"jurist leaderboard · {', '.join(runs)} · from {use} · {board.n} comparisons")
    if json_out:
        json_out.write_text(json.dumps(board.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
        out.print(f"json: {json_out}")
