"""The email outbox: every recorded prompt or notification is emailed at least once, by one sender.

A row of an outbox table (the models with :class:`~tracker.models.outbox.OutboxColumns`: prompts to
admins, notifications to forecasters) is also its email's outbox entry (``mail_state``):

- ``pending``: due at ``next_attempt_at``;
- ``sending``: claimed by one scheduler at ``claimed_at`` under ``claim_token``;
- ``sent``, ``failed`` (gave up after :data:`MAX_ATTEMPTS`), ``skipped`` (no SMTP server or nobody
  to email: the row is still shown in the app).

A claim is one short transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two schedulers never
claim the same row; SQLite's ``BEGIN IMMEDIATE`` serialises them). The email is sent with no
transaction open (:func:`send_outbox_mail`); the outcome is stored only if the row still carries this
sender's token. A failure is retried with exponential backoff; a claim older than
:data:`CLAIM_TIMEOUT` (a sender killed mid-send) is taken over by the next sweep.
"""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from ..clock import Clock
from ..config import Settings
from .mail import MailError, parse_smtp_url, send_messages

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(minutes=1)
MAX_RETRY = timedelta(hours=6)
CLAIM_TIMEOUT = timedelta(minutes=10)
CLAIM_BATCH = 50
# Headers up to SMTP's own line limit: a List-Unsubscribe URL must not be folded into encoded words.
MAIL_POLICY = policy.default.clone(max_line_length=998)


@dataclass
class Claim:
    """The rows of ``model`` one sender claimed under ``token``."""

    model: Any
    token: str
    ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class OutboxMail:
    """What one entry's email needs, read inside a transaction and sent after it."""

    entry_id: int
    subject: str
    body: str
    recipients: tuple[str, ...]
    #: Extra headers (e.g. List-Unsubscribe).
    headers: tuple[tuple[str, str], ...] = ()
    #: The delivery text when ``recipients`` is empty.
    nobody: str = "nobody has an email address"


def backoff(attempts: int) -> timedelta:
    """Wait before attempt ``attempts + 1``: 1, 2, 4 ... minutes, at most 6 hours."""
    return min(FIRST_RETRY * 2 ** max(0, attempts - 1), MAX_RETRY)


def claim_due(session: Session, clock: Clock, model: Any, limit: int = CLAIM_BATCH) -> Claim:
    """Claim up to ``limit`` rows of the outbox table ``model`` that are due, or whose sender's claim
    has timed out."""
    now = clock.now()
    claim = Claim(model=model, token=secrets.token_hex(16))
    due = or_(
        and_(model.mail_state == "pending", or_(model.next_attempt_at.is_(None), model.next_attempt_at <= now)),
        and_(model.mail_state == "sending", model.claimed_at < now - CLAIM_TIMEOUT),
    )
    ids = list(session.scalars(
        select(model.id).where(due).order_by(model.id).limit(limit).with_for_update(skip_locked=True)
    ))
    if ids:
        session.execute(
            update(model).where(model.id.in_(ids))
            .values(mail_state="sending", claimed_at=now, claim_token=claim.token, attempts=model.attempts + 1,
                    delivery="sending")
            .execution_options(synchronize_session=False)
        )
        claim.ids = ids
    return claim


def complete(session: Session, clock: Clock, claim: Claim, results: dict[int, tuple[bool, str]]) -> None:
    """Store each claimed email's outcome; a row another sender took over meanwhile is left alone."""
    now = clock.now()
    model = claim.model
    for entry_id, (emailed, text) in results.items():
        entry = session.scalar(
            select(model).where(model.id == entry_id, model.claim_token == claim.token).with_for_update())
        if entry is None:
            continue
        entry.claim_token = None
        if emailed:
            entry.mail_state, entry.emailed_at, entry.delivery = "sent", now, text[:200]
        elif text.startswith(("logged:", "not emailed:")):
            entry.mail_state, entry.delivery = "skipped", text[:200]
        elif entry.attempts >= MAX_ATTEMPTS:
            entry.mail_state = "failed"
            entry.delivery = f"gave up after {entry.attempts} attempts: {text}"[:200]
        else:
            entry.mail_state = "pending"
            entry.next_attempt_at = now + backoff(entry.attempts)
            entry.delivery = (f"retrying at {_hm(entry.next_attempt_at)} UTC (attempt {entry.attempts} "
                              f"of {MAX_ATTEMPTS}): {text}")[:200]


def send_outbox_mail(settings: Settings, mails: list[OutboxMail], noun: str) -> dict[int, tuple[bool, str]]:
    """Send each entry to each of its recipients (one message per address) over SMTP, or log it when
    no SMTP server is configured. Returns ``{entry_id: (emailed, delivery text)}`` for
    :func:`complete`; ``noun`` names a recipient in that text ("emailed to 2 admins"). Never raises
    for a mail failure: the entry is already recorded and shown in the app."""
    results: dict[int, tuple[bool, str]] = {}
    if not mails:
        return results
    if not settings.smtp_url:
        for mail in mails:
            log.info("%s %s (no TRACKER_SMTP_URL, not emailed): %s", noun, mail.entry_id, mail.subject)
            results[mail.entry_id] = (False, "logged: no SMTP server configured")
        return results
    try:
        config = parse_smtp_url(settings.smtp_url)
    except MailError as exc:
        return {mail.entry_id: (False, f"failed: {exc}") for mail in mails}
    outgoing: list[tuple[OutboxMail, str, EmailMessage]] = []
    for mail in mails:
        if not mail.recipients:
            results[mail.entry_id] = (False, f"not emailed: {mail.nobody}")
        for address in mail.recipients:
            msg = EmailMessage(policy=MAIL_POLICY)
            msg["From"] = settings.mail_from
            msg["To"] = address
            msg["Subject"] = mail.subject
            for name, value in mail.headers:
                msg[name] = value
            msg.set_content(mail.body)
            outgoing.append((mail, address, msg))
    errors = send_messages(config, [msg for *_, msg in outgoing])
    for mail in mails:
        if not mail.recipients:
            continue
        sent = [addr for (m, addr, _), err in zip(outgoing, errors, strict=True) if m is mail and err is None]
        failed = [f"{addr}: {err}" for (m, addr, _), err in zip(outgoing, errors, strict=True) if m is mail and err]
        if failed:
            log.warning("%s %s: email failed for %s", noun, mail.entry_id, "; ".join(failed))
            text = f"failed for {len(failed)} of {len(mail.recipients)}: " + "; ".join(failed)
        else:
            text = f"emailed to {len(sent)} {noun}{'s' if len(sent) != 1 else ''}"
        results[mail.entry_id] = (bool(sent), text)
    return results


def _hm(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")
