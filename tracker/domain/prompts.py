"""Resolution prompts: reminders to admins until a closed question is resolved or annulled.

Schedule, per unresolved question (``N`` = ``Settings.prompt_every_days``):

- step 0 when the question closes (``closes_at``),
- step 1 at its ``resolve_by`` date,
- step k >= 2 at ``resolve_by + (k - 1) * N days``, and never sooner than N days after the
  question's previous prompt fell due,

until it is resolved or annulled. Each (question, step) is recorded once: the insert is
``INSERT ... ON CONFLICT DO NOTHING`` on the unique keys, so a second run or a second scheduler
process inserts nothing. Only the latest due step is created: a scheduler that was down for weeks
records one prompt for the step due now, not a burst of stale ones (the earlier steps are skipped
for good). When ``resolve_by`` equals ``closes_at`` the first prompt is therefore step 1.

Numbering: ``step`` is the schedule position; what admins see is the prompt's ``number``, the count
of prompts recorded for its question (1, 2, 3 ...), set once by :func:`next_number` when the prompt
is recorded. The queue, the inbox, the audit page and the email subject all show that number.

The backlog rule: a question is *stale* when the scheduler first sees it (no prompt recorded for it
yet) more than N days after it closed, as on a fresh install whose question bank holds questions that
closed years ago, or after a long outage. When one sweep finds :data:`BACKLOG_MIN` or more stale
questions, it records ONE summary prompt (``kind`` 'summary': listed in the inbox and emailed once)
instead of one prompt each; every stale question gets a 'backlog' row numbered 1 (not listed or
emailed on its own) that points at the summary and is due at that moment, so each question's own
reminders go on from there: number 2 one interval later, then every N days.

Email goes out after the commit that recorded the prompt, through the outbox
(:mod:`tracker.domain.outbox`, which sends it to every admin): one sender claims it, retries with backoff until it is sent, and a
sender killed mid-send is taken over; the outcome is stored on the row and shown in the inbox.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.orm import Session

from ..clock import Clock
from ..config import Settings
from ..models import FINAL_STATUSES, Prompt, Question, User
from .demo import DEMO_YEARS
from .outbox import OutboxMail
from .unique_insert import insert_once

# The admin pages a prompt links to (tracker.web.admin serves them).
RESOLVE_PATH = "/admin/questions/{slug}/resolve"
QUEUE_PATH = "/admin/"
# This many stale questions found at once are summarised in one prompt (one alone is prompted as usual).
BACKLOG_MIN = 2
BACKLOG_DELIVERY = "in the backlog summary"


@dataclass(frozen=True)
class _Due:
    question: Question
    step: int
    due_at: datetime
    last: Prompt | None


def due_step(question: Question, now: datetime, every_days: int,
             last_due_at: datetime | None = None) -> tuple[int, datetime] | None:
    """The latest prompt step due at ``now`` and when it fell due, or None when nothing is due.

    ``last_due_at`` is when the question's previous prompt fell due: a reminder after the resolve-by
    date is never due sooner than N days after it (after a backlog summary, the reminders run every
    N days from the summary, not from the old schedule)."""
    if now < question.closes_at:
        return None
    if now < question.resolve_by:
        return 0, question.closes_at
    period = timedelta(days=every_days)
    k = (now - question.resolve_by) // period
    step, at = 1 + k, question.resolve_by + k * period
    if last_due_at is not None and step >= 2:
        at = max(at, last_due_at + period)
        if at > now:
            return None
    return step, at


def next_number(last: Prompt | None) -> int:
    """The number of the question's next prompt: the count of prompts recorded for it, this one
    included (1, 2, 3 ...). The only place a prompt number is computed; it is stored on the row, and
    ``UNIQUE (question_id, number)`` keeps the numbers contiguous."""
    return 1 if last is None or last.number is None else last.number + 1


def latest_prompts(session: Session, question_ids: list[int]) -> dict[int, Prompt]:
    """The last prompt recorded for each question (the highest number): question id -> prompt."""
    if not question_ids:
        return {}
    top = (select(Prompt.question_id, func.max(Prompt.number).label("number"))
           .where(Prompt.question_id.in_(question_ids)).group_by(Prompt.question_id).subquery())
    rows = session.scalars(select(Prompt).join(
        top, and_(Prompt.question_id == top.c.question_id, Prompt.number == top.c.number)))
    return {p.question_id: p for p in rows if p.question_id is not None}


def is_stale(question: Question, now: datetime, every_days: int) -> bool:
    """Closed more than one reminder interval ago (asked only of a question never prompted)."""
    return now - question.closes_at > timedelta(days=every_days)


def prompt_message(question: Question, step: int, due_at: datetime, every_days: int) -> str:
    """The text shown in the inbox and sent by email (the number is shown next to it)."""
    title = f"“{question.title}” ({question.slug})"
    if step == 0:
        return (f"{title} closed on {question.closes_at:%Y-%m-%d %H:%M} UTC and awaits resolution "
                f"(resolve by {question.resolve_by:%Y-%m-%d}).")
    if step == 1:
        return f"{title} reached its resolve-by date {question.resolve_by:%Y-%m-%d} and is still unresolved."
    days = (due_at - question.resolve_by).days
    return f"{title} is still unresolved {days} days after its resolve-by date {question.resolve_by:%Y-%m-%d}."


def backlog_message(questions: list[Question], every_days: int) -> str:
    """The summary's text: how many, why they are summarised, what to do."""
    n = len(questions)
    text = (f"{n} questions closed more than {every_days} days before the scheduler first saw them "
            f"(on a fresh install: before this install started) and await resolution; the resolution "
            f"queue lists them. Each one is reminded on its own again every {every_days} days from now "
            f"until it is resolved or annulled.")
    # The bank's 2017-2018 questions are history that ``tracker demo`` resolves from the record.
    history = sum(q.closes_at.year in DEMO_YEARS for q in questions)
    if history:
        text += (f" {history} of them are the question bank's historical "
                 f"{DEMO_YEARS[0]}–{DEMO_YEARS[-1]} questions: run `tracker demo` to resolve them "
                 f"with sourced outcomes.")
    return text


def create_due_prompts(session: Session, clock: Clock, every_days: int) -> list[int]:
    """Record the prompt due now for every closed, unresolved question, summarising a backlog of
    stale ones in one prompt; return the ids of the prompts admins see that this call inserted (a
    summary, not its backlog rows; a row another process or an earlier run inserted is not returned)."""
    now = clock.now()
    questions = session.scalars(
        select(Question).where(Question.status.not_in(FINAL_STATUSES), Question.closes_at <= now)
        .order_by(Question.closes_at, Question.id)
    ).all()
    if not questions:
        return []
    latest = latest_prompts(session, [q.id for q in questions])
    due: list[_Due] = []
    for question in questions:
        last = latest.get(question.id)
        found = due_step(question, now, every_days, last.due_at if last else None)
        if found is None or (last is not None and last.step >= found[0]):
            continue  # nothing due, or this step (or a later one) is already recorded
        due.append(_Due(question, found[0], found[1], last))
    stale = [d for d in due if d.last is None and is_stale(d.question, now, every_days)]
    inserted: list[int] = []
    if len(stale) >= BACKLOG_MIN:
        inserted += _record_backlog(session, now, every_days, stale)
        summarised = {d.question.id for d in stale}
        due = [d for d in due if d.question.id not in summarised]
    for d in due:
        prompt_id = insert_once(session, Prompt, {
            "question_id": d.question.id, "step": d.step, "number": next_number(d.last), "kind": "question",
            "due_at": d.due_at, "message": prompt_message(d.question, d.step, d.due_at, every_days),
            "created_at": now, "delivery": "pending", "mail_state": "pending", "next_attempt_at": now,
            "attempts": 0,
        }, key=None)
        if prompt_id is not None:
            inserted.append(prompt_id)
    return inserted


def _record_backlog(session: Session, now: datetime, every_days: int, stale: list[_Due]) -> list[int]:
    """One summary prompt and a backlog row (number 1, due now, not emailed) per stale question;
    the summary's id, or nothing when another process recorded them all first."""
    summary_id = insert_once(session, Prompt, {
        "question_id": None, "step": 0, "number": None, "kind": "summary", "due_at": now,
        "message": "", "created_at": now, "delivery": "pending", "mail_state": "pending",
        "next_attempt_at": now, "attempts": 0,
    }, key=None)
    if summary_id is None:  # cannot happen: no unique key applies to a row without a question
        return []
    covered = []
    for d in stale:
        row_id = insert_once(session, Prompt, {
            "question_id": d.question.id, "step": d.step, "number": next_number(None), "kind": "backlog",
            "summary_id": summary_id, "due_at": now,
            "message": prompt_message(d.question, d.step, d.due_at, every_days), "created_at": now,
            "delivery": BACKLOG_DELIVERY, "mail_state": "skipped", "next_attempt_at": None, "attempts": 0,
        }, key=None)
        if row_id is not None:
            covered.append(d.question)
    if not covered:
        session.execute(delete(Prompt).where(Prompt.id == summary_id))
        return []
    session.execute(update(Prompt).where(Prompt.id == summary_id)
                    .values(message=backlog_message(covered, every_days))
                    .execution_options(synchronize_session=False))
    return [summary_id]


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
    base = settings.base_url.rstrip("/")
    mails = []
    for prompt in session.scalars(select(Prompt).where(Prompt.id.in_(prompt_ids)).order_by(Prompt.id)):
        if prompt.kind == "summary":
            covered = backlog_questions(session, prompt.id)
            subject = f"[Forecast tracker] {len(covered)} questions await resolution (backlog summary)"
            lines = "\n".join(f"- {q.title}: {base}{RESOLVE_PATH.format(slug=q.slug)}" for q in covered)
            body = f"{prompt.message}\n\n{lines}\n\nThe resolution queue:\n{base}{QUEUE_PATH}\n"
        elif prompt.question_id is not None:
            question = session.get_one(Question, prompt.question_id)
            subject = f"[Forecast tracker] Reminder {prompt.number}: resolve {question.title}"
            link = base + RESOLVE_PATH.format(slug=question.slug)
            body = f"{prompt.message}\n\nResolve or annul it here:\n{link}\n"
        else:
            continue
        mails.append(OutboxMail(prompt.id, subject, body, recipients, nobody="no admin has an email address"))
    return mails


def backlog_questions(session: Session, summary_id: int) -> list[Question]:
    """The questions a backlog summary stands for, oldest close first."""
    return list(session.scalars(
        select(Question).join(Prompt, Prompt.question_id == Question.id)
        .where(Prompt.summary_id == summary_id).order_by(Question.closes_at, Question.id)))

