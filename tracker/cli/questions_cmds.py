"""``tracker questions``: the YAML question bank."""
from __future__ import annotations

from pathlib import Path

import click

from ..domain.question_bank import BankError, load_directory, read_bank
from .context import CliContext, pass_cli


@click.group("questions")
def questions_group() -> None:
    """The question bank (YAML files)."""


@questions_group.command("load")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default="questions")
@click.option("--check", is_flag=True, help="Only validate the files; write nothing.")
@pass_cli
def load(cli: CliContext, directory: Path, check: bool) -> None:
    """Validate every file in DIRECTORY, then insert or update questions by slug.

    Nothing is written if any file is invalid. Forecasts are never changed.
    """
    try:
        if check:
            specs = read_bank(directory)
            click.echo(f"{len(specs)} question files are valid")
            return
        with cli.transaction() as session:
            report = load_directory(session, cli.clock, directory)
    except BankError as exc:
        for line in exc.errors:
            click.echo(f"error: {line}", err=True)
        raise click.ClickException(f"{len(exc.errors)} problem(s) found; nothing was written") from exc
    click.echo(
        f"{len(report.created)} created, {len(report.updated)} updated, {len(report.unchanged)} unchanged"
    )


def register(group: click.Group) -> None:
    group.add_command(questions_group)
