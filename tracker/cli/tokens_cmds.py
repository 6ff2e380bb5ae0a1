"""``tracker tokens``: personal API tokens for scripts and operators."""
from __future__ import annotations

import click

from ..domain.tokens import create_token, find_token, revoke_token
from ..domain.users import get_user
from .context import CliContext, pass_cli


@click.group("tokens")
def tokens_group() -> None:
    """Personal API tokens (the API's reference: /api/v1/docs)."""


@tokens_group.command("create")
@click.argument("username")
@click.option("--name", required=True, help="What the token is for (unique per account).")
@click.option("--expires-days", type=click.IntRange(1, 3650), default=None, help="Expire after N days (default: never).")
@pass_cli
def create_cmd(cli: CliContext, username: str, name: str, expires_days: int | None) -> None:
    """Create a token for USERNAME and print it once (only its hash is stored)."""
    with cli.transaction() as session:
        new = create_token(session, cli.clock, get_user(session, username), name, expires_days)
        clear = new.clear
    # The token alone on standard output, so `TOKEN=$(tracker tokens create ...)` works.
    click.echo(clear)
    click.echo(f"token {name!r} created for {username!r}; it is shown only now: keep it secret", err=True)


@tokens_group.command("revoke")
@click.argument("username")
@click.argument("name")
@pass_cli
def revoke_cmd(cli: CliContext, username: str, name: str) -> None:
    """Revoke USERNAME's token NAME (it is refused from then on)."""
    with cli.transaction() as session:
        token = find_token(session, get_user(session, username), name)
        changed = revoke_token(session, cli.clock, token)
    click.echo(f"token {name!r} of {username!r} revoked" if changed else f"token {name!r} of {username!r} was already revoked")


def register(group: click.Group) -> None:
    group.add_command(tokens_group)
