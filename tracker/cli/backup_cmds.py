"""``tracker backup FILE`` and ``tracker restore FILE`` (SQLite; PostgreSQL: pg_dump, explained)."""
from __future__ import annotations

from pathlib import Path

import click

from ..backup import BackupError, backup, restore
from .context import CliContext, pass_cli


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_cli
def backup_command(cli: CliContext, file: Path) -> None:
    """Copy the live SQLite database into FILE, safely while the tracker runs (never `cp` it).

    On PostgreSQL this explains the pg_dump command to use instead."""
    try:
        revision = backup(cli.settings.database_url, file)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Backed up to {file} (schema revision {revision}; integrity check ok)")


@click.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_cli
def restore_command(cli: CliContext, file: Path, yes: bool) -> None:
    """Replace everything in the SQLite database with the backup FILE (checked first).

    Stop the web server and the scheduler first; afterwards run `tracker db upgrade` if the backup
    is from an older version. On PostgreSQL this explains pg_restore instead."""
    if not yes:
        click.confirm("This replaces every question, forecast and account with the backup's. Continue?",
                      abort=True)
    try:
        revision = restore(cli.settings.database_url, file)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Restored {file} (schema revision {revision}; integrity check ok). "
               "Run `tracker db upgrade` if this backup is from an older version.")


def register(group: click.Group) -> None:
    group.add_command(backup_command)
    group.add_command(restore_command)
