"""``tracker export`` and ``tracker import``: CSV files (format in docs/csv.md).

Exports write exactly the bytes the web downloads serve, to a file or to standard output.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import BinaryIO

import click

from ..domain import DomainError
from ..domain.csv_export import iter_forecasts_csv, iter_scoreboard_csv, iter_scores_csv
from ..domain.csv_import import CsvImportError, check_forecasts, write_forecasts, write_forecasts_in_steps
from ..domain.scoreboards import ScoreFilter, check_question
from .context import CliContext, pass_cli

_output = click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
                       help="Write to this file instead of standard output.")


def _write(chunks: Iterable[bytes], output: Path | None) -> None:
    """Stream the export's bytes to a file (binary, so no newline translation) or to stdout."""
    if output is None:
        sys.stdout.flush()
        _copy(chunks, sys.stdout.buffer)  # bytes, so no newline translation on any platform
        return
    with output.open("wb") as fh:
        _copy(chunks, fh)


def _copy(chunks: Iterable[bytes], fh: BinaryIO) -> None:
    for chunk in chunks:
        fh.write(chunk)
    fh.flush()


@click.group("export")
def export_group() -> None:
    """Export scoreboards, scores or raw forecasts as CSV."""


@export_group.command("scoreboard")
@click.option("--tag", default=None, help="Only questions with this tag.")
@click.option("--question", "question", default=None, metavar="SLUG", help="Only this question.")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Questions closing on or after this date.")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Questions closing on or before this date.")
@_output
@pass_cli
def export_scoreboard(cli: CliContext, tag: str | None, question: str | None, since, until, output: Path | None) -> None:
    """The scoreboard: one row per forecaster (same filters as /scoreboard.csv)."""
    filters = ScoreFilter(tag=tag, question=question, since=_date(since), until=_date(until))
    with cli.transaction(read_only=True) as session:
        try:
            check_question(session, question)
            filters.validate()
        except DomainError as exc:
            raise click.ClickException(str(exc)) from exc
        _write(iter_scoreboard_csv(session, filters), output)


def _date(value) -> date | None:
    return value.date() if value is not None else None


@export_group.command("scores")
@_output
@pass_cli
def export_scores(cli: CliContext, output: Path | None) -> None:
    """Stored per-question scores: one row per forecaster and resolved question."""
    with cli.transaction(read_only=True) as session:
        _write(iter_scores_csv(session), output)


@export_group.command("forecasts")
@_output
@click.option("--include-open", is_flag=True,
              help="Also forecasts on questions still open (hidden by default to avoid herding).")
@pass_cli
def export_forecasts(cli: CliContext, output: Path | None, include_open: bool) -> None:
    """Raw forecasts on questions no longer open: one row per forecast and option."""
    with cli.transaction(read_only=True) as session:
        _write(iter_forecasts_csv(session, include_open=include_open), output)


@click.group("import")
def import_group() -> None:
    """Import data from CSV files."""


@import_group.command("forecasts")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--allow-existing-users", is_flag=True,
              help="Allow forecasts under accounts that have a password (a real forecaster's record).")
@pass_cli
def import_forecasts_cmd(cli: CliContext, file: Path, allow_existing_users: bool) -> None:
    """Import raw forecasts from FILE (the `tracker export forecasts` format), all or nothing.

    Forecasters are created as needed, without a password. Forecasts already stored are skipped,
    so running the same import twice changes nothing. Resolved questions are rescored.
    """
    show_progress = sys.stderr.isatty()
    try:
        # Checked in a read-only transaction (no write lock on SQLite however long the file), then
        # written: on PostgreSQL in one transaction (COPY); on SQLite, whose writers lock the whole
        # database, in short ones, so the web server never waits long to write (docs/csv.md).
        with file.open("r", encoding="utf-8-sig", newline="") as fh, cli.transaction(read_only=True) as session:
            if show_progress:
                with click.progressbar(length=os.path.getsize(file), label=f"Checking {file.name}",
                                       file=sys.stderr) as bar:
                    checked = check_forecasts(session, cli.clock, _counting(fh, bar),
                                              allow_existing_users=allow_existing_users)
            else:
                checked = check_forecasts(session, cli.clock, fh, allow_existing_users=allow_existing_users)
        if cli.settings.database_url.startswith("sqlite"):
            report = write_forecasts_in_steps(cli.state.sessions, cli.clock, checked)
        else:
            with cli.transaction() as session:
                report = write_forecasts(session, cli.clock, checked)
    except CsvImportError as exc:
        for line in str(exc).splitlines():
            click.echo(f"error: {file}: {line}", err=True)
        raise click.ClickException(f"{exc.total} problem(s) in {file}; nothing was imported") from exc
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{file} is not UTF-8 text ({exc.reason} at byte {exc.start}); nothing was imported") from exc
    except DomainError as exc:
        raise click.ClickException(f"{file}: {exc}; nothing was imported") from exc
    click.echo(
        f"{report.rows} rows read: {report.added} forecasts added, {report.duplicates} already stored (skipped), "
        f"{len(report.users_created)} forecasters created, {len(report.rescored)} resolved questions rescored"
    )
    if report.writes > 1:
        click.echo(f"written in {report.writes} transactions, the longest {report.longest_write:.2f} s", err=True)


def _counting(fh, bar) -> Iterable[str]:
    """Pass lines through, advancing the progress bar by their size."""
    for line in fh:
        bar.update(len(line.encode("utf-8")))
        yield line


def register(group: click.Group) -> None:
    group.add_command(export_group)
    group.add_command(import_group)
