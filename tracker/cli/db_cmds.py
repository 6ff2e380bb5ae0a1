"""``tracker db``: schema migrations."""
from __future__ import annotations

import click

from .. import migrate
from .context import CliContext, pass_cli


@click.group("db")
def db_group() -> None:
    """Database schema (Alembic migrations)."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
@pass_cli
def upgrade(cli: CliContext, revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    migrate.upgrade(cli.settings.database_url, revision)
    click.echo(f"database at {', '.join(sorted(migrate.current_heads(cli.settings.database_url))) or 'base'}")


@db_group.command("downgrade")
@click.argument("revision")
@pass_cli
def downgrade(cli: CliContext, revision: str) -> None:
    """Revert migrations down to REVISION ('base' removes every table)."""
    migrate.downgrade(cli.settings.database_url, revision)
    click.echo(f"database at {', '.join(sorted(migrate.current_heads(cli.settings.database_url))) or 'base'}")


@db_group.command("current")
@pass_cli
def current(cli: CliContext) -> None:
    """Show the revision the database is at."""
    click.echo(", ".join(sorted(migrate.current_heads(cli.settings.database_url))) or "base")


def register(group: click.Group) -> None:
    group.add_command(db_group)
