"""The prompt emails' outbox: every recorded prompt is emailed at least once, by one sender.

A prompt row is also its email's outbox entry (``mail_state``):

- ``pending``: due at ``next_attempt_at``;
- ``sending``: claimed by one scheduler at ``claimed_at`` under ``claim_token``;
- ``sent``, ``failed`` (gave up after :data:`MAX_ATTEMPTS`), ``skipped`` (no SMTP server or no
  admin address: the prompt is in the inbox, there is nobody to email).

A claim is one short transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two schedulers never
claim the same row; SQLite's ``BEGIN IMMEDIATE`` serialises them). The email is sent with no
transaction open; the outcome is stored only if the row still carries this sender's token. A
failure is retried with exponential backoff; a claim older than :data:`CLAIM_TIMEOUT` (a sender
killed mid-send) is taken over by the next sweep.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from ..clock import Clock
from ..models import Prompt

MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(minutes=1)
MAX_RETRY = timedelta(hours=6)
CLAIM_TIMEOUT = timedelta(minutes=10)
CLAIM_BATCH = 50


@dataclass
class Claim:
    token: str
    ids: list[int] = field(default_factory=list)


def backoff(attempts: int) -> timedelta:
    """Wait before attempt ``attempts + 1``: 1, 2, 4 ... minutes, at most 6 hours."""
    return min(FIRST_RETRY * 2 ** max(0, attempts - 1), MAX_RETRY)


def claim_due(session: Session, clock: Clock, limit: int = CLAIM_BATCH) -> Claim:
    """Claim up to ``limit`` emails that are due, or whose sender's claim has timed out."""
    now = clock.now()
    claim = Claim(token=secrets.token_hex(16))
    due = or_(
        and_(Prompt.mail_state == "pending", or_(Prompt.next_attempt_at.is_(None), Prompt.next_attempt_at <= now)),
        and_(Prompt.mail_state == "sending", Prompt.claimed_at < now - CLAIM_TIMEOUT),
    )
    ids = list(session.scalars(
        select(Prompt.id).where(due).order_by(Prompt.id).limit(limit).with_for_update(skip_locked=True)
    ))
    if ids:
        session.execute(
            update(Prompt).where(Prompt.id.in_(ids))
            .values(mail_state="sending", claimed_at=now, claim_token=claim.token, attempts=Prompt.attempts + 1,
                    delivery="sending")
            .execution_options(synchronize_session=False)
        )
        claim.ids = ids
    return claim


def complete(session: Session, clock: Clock, claim: Claim, results: dict[int, tuple[bool, str]]) -> None:
    """Store each claimed email's outcome; a row another sender took over meanwhile is left alone."""
    now = clock.now()
    for prompt_id, (emailed, text) in results.items():
        prompt = session.scalar(
            select(Prompt).where(Prompt.id == prompt_id, Prompt.claim_token == claim.token).with_for_update())
        if prompt is None:
            continue
        prompt.claim_token = None
        if emailed:
            prompt.mail_state, prompt.emailed_at, prompt.delivery = "sent", now, text[:200]
        elif text.startswith(("logged:", "not emailed:")):
            prompt.mail_state, prompt.delivery = "skipped", text[:200]
        elif prompt.attempts >= MAX_ATTEMPTS:
            prompt.mail_state = "failed"
            prompt.delivery = f"gave up after {prompt.attempts} attempts: {text}"[:200]
        else:
            prompt.mail_state = "pending"
            prompt.next_attempt_at = now + backoff(prompt.attempts)
            prompt.delivery = (f"retrying at {_hm(prompt.next_attempt_at)} UTC (attempt {prompt.attempts} "
                               f"of {MAX_ATTEMPTS}): {text}")[:200]


def _hm(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")
