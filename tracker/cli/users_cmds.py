"""``tracker users``: accounts from the command line."""
from __future__ import annotations

import click

from ..config import instance_dir
from ..domain.users import FIRST_ADMIN, end_sessions, ensure_first_admin, get_user, make_admin, set_email, set_password
from .context import CliContext, pass_cli


@click.group("users")
def users_group() -> None:
    """Accounts."""


@users_group.command("create-admin")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="At least 10 characters, not a common password (prompted for when not given).")
@click.option("--email", default=None)
@pass_cli
def create_admin(cli: CliContext, username: str, password: str, email: str | None) -> None:
    """Create an admin account (or make an existing account an admin)."""
    with cli.transaction() as session:
        created = make_admin(session, cli.clock, username, password, email=email)
    click.echo(f"admin {username!r} created" if created else f"{username!r} is now an admin; password updated")


@users_group.command("set-password")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@pass_cli
def set_password_cmd(cli: CliContext, username: str, password: str) -> None:
    """Set an account's password (also lets an imported account log in)."""
    with cli.transaction() as session:
        user = get_user(session, username)
        set_password(user, password)
    click.echo(f"password set for {username!r}")


@users_group.command("set-email")
@click.argument("username")
@click.argument("email")
@pass_cli
def set_email_cmd(cli: CliContext, username: str, email: str) -> None:
    """Record an account's email address (where password-reset links go; "" removes it). An imported
    forecaster then claims the account with "Forgot your password?"."""
    with cli.transaction() as session:
        user = get_user(session, username)
        set_email(user, email)
    click.echo(f"email {'set' if email else 'removed'} for {username!r}")


@users_group.command("sign-out")
@click.argument("username")
@pass_cli
def sign_out_cmd(cli: CliContext, username: str) -> None:
    """End every session and remember-me cookie of an account."""
    with cli.transaction() as session:
        user = get_user(session, username)
        end_sessions(user)
    click.echo(f"every session of {username!r} has ended")


@users_group.command("ensure-admin")
@pass_cli
def ensure_admin(cli: CliContext) -> None:
    """First run: if there is no admin yet, create 'admin' with a random password and say how to log in."""
    with cli.transaction() as session:
        password = ensure_first_admin(session, cli.clock)
    path = instance_dir() / "initial-admin-password.txt"
    if password is None:
        hint = f" (first-run password in {path})" if path.exists() else ""
        click.echo(f"An admin account exists{hint}.")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"username: {FIRST_ADMIN}\npassword: {password}\n")
    path.chmod(0o600)
    click.echo("=" * 64)
    click.echo("First run: an admin account was created.")
    click.echo(f"  username: {FIRST_ADMIN}")
    click.echo(f"  password: {password}")
    click.echo(f"  (kept in {path}; change it under your account page after logging in)")
    click.echo("=" * 64)


def register(group: click.Group) -> None:
    group.add_command(users_group)
