"""``tracker questions``: the YAML question bank."""
from __future__ import annotations

import getpass
from pathlib import Path

import click

from ..domain.question_bank import BankError, load_directory, read_bank
from ..domain.reschedule import Reschedule
from .context import CliContext, pass_cli


@click.group("questions")
def questions_group() -> None:
    """The question bank (YAML files)."""


@questions_group.command("load")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default="questions")
@click.option("--check", is_flag=True, help="Only validate the files; write nothing.")
@click.option("--allow-reschedule", is_flag=True,
              help="Allow changing the times of questions that have forecasts or a resolution (audited, rescored).")
@click.option("--reason", default="", help="Why the times change (required with --allow-reschedule).")
@click.option("--by", "actor", default=None, help="Who changes them, for the audit log (default: your login name).")
@pass_cli
def load(cli: CliContext, directory: Path, check: bool, allow_reschedule: bool, reason: str,
         actor: str | None) -> None:
    """Validate every file in DIRECTORY, then insert or update questions by slug.

    Nothing is written if any file is invalid. Forecasts are never changed. A question's times
    cannot change once it has forecasts or a resolution, unless --allow-reschedule is given (with
    --reason): the change is then recorded in its audit log and the question is rescored.
    """
    reschedule = None
    if allow_reschedule:
        if not reason.strip():
            raise click.UsageError("--allow-reschedule needs --reason TEXT (it goes into the audit log)")
        reschedule = Reschedule(actor_name=actor or getpass.getuser(), reason=reason.strip())
    try:
        if check:
            specs = read_bank(directory)
            click.echo(f"{len(specs)} question files are valid")
            return
        with cli.transaction() as session:
            report = load_directory(session, cli.clock, directory, reschedule=reschedule)
    except BankError as exc:
        for line in exc.errors:
            click.echo(f"error: {line}", err=True)
        raise click.ClickException(f"{len(exc.errors)} problem(s) found; nothing was written") from exc
    click.echo(
        f"{len(report.created)} created, {len(report.updated)} updated, {len(report.unchanged)} unchanged"
    )


def register(group: click.Group) -> None:
    group.add_command(questions_group)
