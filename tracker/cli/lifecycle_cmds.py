"""``tracker resolve`` and ``tracker annul``: the same domain calls as the admin pages, one
transaction each, rescoring before the command returns."""
from __future__ import annotations

import getpass

import click
from sqlalchemy.orm import Session

from ..clock import iso, parse_iso
from ..domain.questions import get_question
from ..domain.resolution import audit_log, decide
from ..domain.users import find_user
from ..models import User
from .context import CliContext, pass_cli


def _actor(session: Session, username: str | None) -> tuple[User | None, str]:
    """The admin named by --as, or no account and the operating-system user's name."""
    if username is None:
        try:
            who = getpass.getuser()
        except (KeyError, OSError):
            who = "unknown"
        return None, f"cli:{who}"
    user = find_user(session, username)
    if user is None:
        raise click.ClickException(f"--as: no account named {username!r}")
    if not user.is_admin:
        raise click.ClickException(f"--as: {user.username!r} is not an admin")
    return user, user.username


def _parse_time(value: str | None):
    if value is None:
        return None
    try:
        return parse_iso(value)
    except ValueError as exc:
        raise click.ClickException(
            f"--occurred-at: {value!r} is not an ISO timestamp (e.g. 2026-11-20T14:00Z; UTC if no offset)"
        ) from exc


@click.command("resolve")
@click.argument("slug")
@click.argument("outcome")
@click.option("--occurred-at", default=None, help="When it happened, if before the scheduled close (ISO, UTC).")
@click.option("--note", default="", help="A note for the audit log (source, reasoning).")
@click.option("--as", "as_user", default=None, metavar="USERNAME", help="Record the resolution as this admin.")
@pass_cli
def resolve_command(cli: CliContext, slug: str, outcome: str, occurred_at: str | None, note: str,
                    as_user: str | None) -> None:
    """Resolve question SLUG to OUTCOME (an option key) and rescore it.

    On a question already resolved or annulled this records a correction; the earlier resolution
    stays in the audit log.
    """
    when = _parse_time(occurred_at)
    with cli.transaction() as session:
        question = get_question(session, slug)
        actor, actor_name = _actor(session, as_user)
        summary = decide(session, cli.clock, question, actor, actor_name, outcome_key=outcome, note=note,
                         occurred_at=when).summary()
    click.echo(summary)


@click.command("annul")
@click.argument("slug")
@click.option("--reason", required=True, help="Why the question is annulled (required).")
@click.option("--as", "as_user", default=None, metavar="USERNAME", help="Record the annulment as this admin.")
@pass_cli
def annul_command(cli: CliContext, slug: str, reason: str, as_user: str | None) -> None:
    """Annul question SLUG (it gets no scores at all); a resolved question's resolution is replaced,
    and kept in the audit log."""
    with cli.transaction() as session:
        question = get_question(session, slug)
        actor, actor_name = _actor(session, as_user)
        summary = decide(session, cli.clock, question, actor, actor_name, reason=reason).summary()
    click.echo(summary)


@click.command("audit")
@click.argument("slug")
@pass_cli
def audit_command(cli: CliContext, slug: str) -> None:
    """Print the audit log of question SLUG: every resolution event and status change."""
    with cli.transaction() as session:
        question = get_question(session, slug)
        entries = audit_log(session, question)
        click.echo(f"{question.slug}: {question.status}")
        for entry in entries:
            line = f"{iso(entry.at)}  {entry.actor_name:<16} {entry.summary}"
            if entry.occurred_at is not None:
                line += f" (occurred {iso(entry.occurred_at)})"
            if entry.note:
                line += f" — {entry.note}"
            click.echo(line)


def register(group: click.Group) -> None:
    group.add_command(resolve_command)
    group.add_command(annul_command)
    # `tracker questions audit SLUG` when the questions group exists (it is registered before us).
    questions = group.commands.get("questions")
    if isinstance(questions, click.Group) and "audit" not in questions.commands:
        questions.add_command(audit_command)
