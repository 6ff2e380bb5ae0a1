"""Resolution prompts: reminders to admins until a closed question is resolved or annulled.

Schedule, per unresolved question (``N`` = ``Settings.prompt_every_days``):

- step 0 when the question closes (``closes_at``),
- step 1 at its ``resolve_by`` date,
- step k >= 2 at ``resolve_by + (k - 1) * N days``,

until it is resolved or annulled. Each (question, step) is recorded once: the insert is
``INSERT ... ON CONFLICT DO NOTHING`` on the unique key, so a second run or a second scheduler
process inserts nothing. Only the latest due step is created: a scheduler that was down for weeks
records one prompt for the step due now, not a burst of stale ones (the earlier steps are skipped
for good). When ``resolve_by`` equals ``closes_at`` the first prompt is therefore step 1.

Email goes out after the commit that recorded the prompt, through the outbox
(:mod:`tracker.domain.outbox`, which sends it to every admin): one sender claims it, retries with backoff until it is sent, and a
sender killed mid-send is taken over; the outcome is stored on the row and shown in the inbox.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..clock import Clock
from ..config import Settings
from ..models import FINAL_STATUSES, Prompt, Question, User
from .outbox import OutboxMail
from .unique_insert import insert_once

# The admin page a prompt links to (tracker.web.admin serves it).
RESOLVE_PATH = "/admin/questions/{slug}/resolve"


def due_step(question: Question, now: datetime, every_days: int) -> tuple[int, datetime] | None:
    """The latest prompt step due at ``now`` and when it fell due, or None before the close."""
    if now < question.closes_at:
        return None
    if now < question.resolve_by:
        return 0, question.closes_at
    period = timedelta(days=every_days)
    k = (now - question.resolve_by) // period
    return 1 + k, question.resolve_by + k * period


def prompt_message(question: Question, step: int, due_at: datetime, every_days: int) -> str:
    """The text shown in the inbox and sent by email."""
    title = f"“{question.title}” ({question.slug})"
    if step == 0:
        return (f"{title} closed on {question.closes_at:%Y-%m-%d %H:%M} UTC and awaits resolution "
                f"(resolve by {question.resolve_by:%Y-%m-%d}).")
    if step == 1:
        return f"{title} reached its resolve-by date {question.resolve_by:%Y-%m-%d} and is still unresolved."
    days = (step - 1) * every_days
    return (f"{title} is still unresolved {days} days after its resolve-by date "
            f"{question.resolve_by:%Y-%m-%d} (reminder {step - 1}).")


def create_due_prompts(session: Session, clock: Clock, every_days: int) -> list[int]:
    """Record the prompt due now for every closed, unresolved question; return the ids this call
    inserted (a row another process or an earlier run inserted is not returned)."""
    now = clock.now()
    questions = session.scalars(
        select(Question).where(Question.status.not_in(FINAL_STATUSES), Question.closes_at <= now)
        .order_by(Question.closes_at, Question.id)
    ).all()
    if not questions:
        return []
    latest = dict(session.execute(
        select(Prompt.question_id, func.max(Prompt.step))
        .where(Prompt.question_id.in_([q.id for q in questions])).group_by(Prompt.question_id)
    ).all())
    inserted: list[int] = []
    for question in questions:
        due = due_step(question, now, every_days)
        if due is None:
            continue
        step, due_at = due
        if latest.get(question.id, -1) >= step:
            continue  # this step (or a later one) is already recorded
        prompt_id = insert_once(session, Prompt, {
            "question_id": question.id, "step": step, "due_at": due_at,
            "message": prompt_message(question, step, due_at, every_days), "created_at": now,
            "delivery": "pending", "mail_state": "pending", "next_attempt_at": now, "attempts": 0,
        }, key=["question_id", "step"])
        if prompt_id is not None:
            inserted.append(prompt_id)
    return inserted


def admin_emails(session: Session) -> list[str]:
    """Addresses of every admin that has one."""
    return list(session.scalars(
        select(User.email).where(User.role == "admin", User.email.is_not(None), User.email != "")
        .order_by(User.id)
    ))


def prepare_mail(session: Session, settings: Settings, prompt_ids: list[int]) -> list[OutboxMail]:
    """Read what the emails for ``prompt_ids`` need (inside a transaction; sending comes later)."""
    if not prompt_ids:
        return []
    recipients = tuple(admin_emails(session))
    mails = []
    for prompt in session.scalars(select(Prompt).where(Prompt.id.in_(prompt_ids)).order_by(Prompt.id)):
        question = session.get_one(Question, prompt.question_id)
        link = settings.base_url.rstrip("/") + RESOLVE_PATH.format(slug=question.slug)
        subject = f"[Forecast tracker] Resolve: {question.title}"
        if prompt.step >= 2:
            subject = f"[Forecast tracker] Reminder {prompt.step - 1}: resolve {question.title}"
        body = f"{prompt.message}\n\nResolve or annul it here:\n{link}\n"
        mails.append(OutboxMail(prompt.id, subject, body, recipients, nobody="no admin has an email address"))
    return mails
