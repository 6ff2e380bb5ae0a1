"""Question lifecycle: draft -> open at opens_at -> closed at closes_at -> resolved or annulled.

Status is derived from the times and the latest resolution event; every change is recorded as a
:class:`~tracker.models.StatusChange` so the audit log shows who (or which process) made it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..clock import Clock, ensure_utc, iso
from ..models import Question, ResolutionEvent, StatusChange, User
from . import Conflict, DomainError

SYSTEM_ACTOR = "system"


def scheduled_status(question: Question, now: datetime) -> str:
    """The status the clock alone gives a question that has no standing resolution."""
    if now < question.opens_at:
        return "draft"
    if now < question.closes_at:
        return "open"
    return "closed"


def set_status(
    session: Session,
    question: Question,
    new_status: str,
    now: datetime,
    actor_name: str = SYSTEM_ACTOR,
    actor_id: int | None = None,
    reason: str = "",
) -> bool:
    """Move ``question`` to ``new_status`` and record the change; returns False if nothing changed."""
    old = question.status
    if old == new_status:
        return False
    question.status = new_status
    question.updated_at = now
    record_status_change(session, question, old, new_status, now, actor_name, actor_id, reason)
    return True


def record_status_change(
    session: Session,
    question: Question,
    old: str | None,
    new: str,
    now: datetime,
    actor_name: str = SYSTEM_ACTOR,
    actor_id: int | None = None,
    reason: str = "",
) -> None:
    """Append one audit row (``old`` is None for a question's first status)."""
    session.flush()  # the question needs its id before the audit row can point at it
    session.add(StatusChange(question_id=question.id, from_status=old, to_status=new, actor_id=actor_id,
                             actor_name=actor_name, reason=reason, created_at=now))


def sync_time_status(session: Session, question: Question, now: datetime, actor_name: str = SYSTEM_ACTOR) -> bool:
    """Bring an unresolved question's status in line with the clock (resolved/annulled are left alone)."""
    if question.status in ("resolved", "annulled"):
        return False
    return set_status(session, question, scheduled_status(question, now), now, actor_name=actor_name,
                      reason="scheduled time reached")


# --- Resolution, annulment, corrections, audit, and the scheduled sweep ----------------------------
#
# Rules, in one place (the web pages, the CLI and the scheduler all come through here):
# - A question resolves to one of its option keys, or is annulled with a reason.
# - Before the scheduled close a resolution needs ``occurred_at`` (when the event happened): the
#   question is then resolved early and scored as if it closed at that moment.
# - A resolution or annulment of a question that already has one is a correction: a new event is
#   added, the old ones stay, the latest stands.
# - Every status change is recorded, and the question is rescored in the same transaction.

SCHEDULER_ACTOR = "scheduler"
FINAL_STATUSES = ("resolved", "annulled")


@dataclass(frozen=True)
class AuditEntry:
    """One line of a question's audit log: a resolution event or a status change."""

    at: datetime
    kind: str  # "resolve", "correction", "annul", "status"
    actor_name: str
    summary: str
    note: str = ""
    occurred_at: datetime | None = None
    event_id: int | None = None


@dataclass(frozen=True)
class Transition:
    """A status change made by :func:`open_and_close_due`."""

    question_id: int
    slug: str
    from_status: str
    to_status: str


def latest_event(session: Session, question_id: int) -> ResolutionEvent | None:
    """The standing resolution event of a question (the one with the highest id), or None."""
    return session.scalars(
        select(ResolutionEvent).where(ResolutionEvent.question_id == question_id)
        .order_by(ResolutionEvent.id.desc()).limit(1)
    ).first()


def describe_event(event: ResolutionEvent | None) -> str:
    """A short phrase for a person: "resolved as Yes", "annulled", "unresolved"."""
    if event is None:
        return "unresolved"
    if event.action == "annul":
        return "annulled"
    label = event.outcome.label if event.outcome is not None else "?"
    key = event.outcome.key if event.outcome is not None else "?"
    text = f"resolved as {label} ({key})"
    if event.occurred_at is not None:
        text += f", occurred {iso(event.occurred_at)}"
    return text


def _lock_question(session: Session, question: Question) -> None:
    """Reload the question under a row lock (PostgreSQL) so two resolvers, or a resolver and the
    scheduler, take turns; SQLite's BEGIN IMMEDIATE already serialises writers."""
    session.flush()
    session.refresh(question, with_for_update=True)


def _rescore(session: Session, clock: Clock, question_id: int) -> None:
    # Imported here: the scoring layer imports the models and the scoring engine, and only the
    # resolution paths need it.
    from .scoring_runs import rescore_questions

    rescore_questions(session, clock, [question_id])


def resolve(
    session: Session,
    clock: Clock,
    question: Question,
    outcome_key: str,
    actor: User | None,
    actor_name: str,
    note: str = "",
    occurred_at: datetime | None = None,
    *,
    allow_correction: bool = True,
) -> ResolutionEvent:
    """Resolve ``question`` to the option ``outcome_key`` (or correct an existing resolution).

    Allowed once the question has closed, or while it is open when ``occurred_at`` says when the
    outcome became certain (it then closes early and is scored as if it closed at that moment).
    ``occurred_at`` must lie between ``opens_at`` and the earlier of now and ``closes_at``. On a
    question already resolved or annulled a new event is recorded as a correction; the history is
    kept; ``allow_correction=False`` refuses instead (a form that showed the question unresolved,
    when another admin resolved it meanwhile). Rescores the question in the same transaction.
    Raises DomainError / Conflict.
    """
    now = clock.now()
    _lock_question(session, question)
    if not actor_name.strip():
        raise DomainError("who resolved the question must be recorded (actor name is empty)")
    # The stored status may lag the clock when the scheduler has not run yet.
    sync_time_status(session, question, now)
    if question.status == "draft":
        raise Conflict(f"{question.slug} is a draft (it opens {iso(question.opens_at)}); a draft cannot be resolved")
    option = question.option_by_key(outcome_key)
    if option is None:
        valid = ", ".join(o.key for o in question.options)
        raise DomainError(f"unknown outcome {outcome_key!r} for {question.slug}; valid outcomes: {valid}")
    if occurred_at is not None:
        occurred_at = ensure_utc(occurred_at)
        _check_occurred_at(question, occurred_at, now)
    if now < question.closes_at and occurred_at is None:
        # Without occurred_at the question would be scored as if it closed in the future.
        state = "was resolved early" if question.status in FINAL_STATUSES else "is open"
        raise Conflict(
            f"{question.slug} {state} and its scheduled close is {iso(question.closes_at)}; before "
            "then a resolution needs occurred_at, the moment the outcome became certain"
        )

    previous = latest_event(session, question.id)
    correction = question.status in FINAL_STATUSES and previous is not None
    if correction and not allow_correction:
        raise _already_decided(question, previous)
    if (correction and previous.action == "resolve" and previous.outcome_option_id == option.id
            and previous.occurred_at == occurred_at):
        raise Conflict(
            f"{question.slug} is already {describe_event(previous)}; a correction must change the "
            "outcome or occurred_at"
        )

    event = ResolutionEvent(
        question_id=question.id, action="resolve", outcome_option_id=option.id, occurred_at=occurred_at,
        note=note.strip(), actor_id=actor.id if actor is not None else None, actor_name=actor_name,
        created_at=now,
    )
    session.add(event)
    session.flush()
    reason = f"resolved as {option.key}"
    if correction:
        reason = f"correction: {reason} (was {describe_event(previous)})"
    if occurred_at is not None and occurred_at < question.closes_at:
        reason += f"; resolved early, occurred {iso(occurred_at)}"
    if not set_status(session, question, "resolved", now, actor_name, event.actor_id, reason):
        question.updated_at = now
    _rescore(session, clock, question.id)
    return event


def _already_decided(question: Question, previous: ResolutionEvent) -> Conflict:
    return Conflict(
        f"{question.slug} is already {describe_event(previous)} (by {previous.actor_name}, "
        f"{iso(previous.created_at)}); review it and confirm that you are correcting it"
    )


def _check_occurred_at(question: Question, occurred_at: datetime, now: datetime) -> None:
    if occurred_at > now:
        raise DomainError(f"occurred_at {iso(occurred_at)} is in the future (now is {iso(now)})")
    if occurred_at < question.opens_at:
        raise DomainError(
            f"occurred_at {iso(occurred_at)} is before the question opened ({iso(question.opens_at)})"
        )
    if occurred_at > question.closes_at:
        raise DomainError(
            f"occurred_at {iso(occurred_at)} is after the scheduled close ({iso(question.closes_at)}); "
            "leave it empty for a resolution at the close"
        )


def annul(
    session: Session,
    clock: Clock,
    question: Question,
    actor: User | None,
    actor_name: str,
    reason: str,
    *,
    allow_correction: bool = True,
) -> ResolutionEvent:
    """Annul ``question`` (no scores at all, null rather than zero); ``reason`` is required.

    Allowed in any state except already annulled; annulling a resolved question is a correction
    (refused when ``allow_correction`` is False). Rescores the question (removing its scores) in the same transaction.
    """
    now = clock.now()
    _lock_question(session, question)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("an annulment needs a reason")
    if not actor_name.strip():
        raise DomainError("who annulled the question must be recorded (actor name is empty)")
    if question.status == "annulled":
        raise Conflict(f"{question.slug} is already annulled")
    previous = latest_event(session, question.id)
    if question.status == "resolved" and previous is not None and not allow_correction:
        raise _already_decided(question, previous)
    event = ResolutionEvent(
        question_id=question.id, action="annul", outcome_option_id=None, occurred_at=None, note=reason,
        actor_id=actor.id if actor is not None else None, actor_name=actor_name, created_at=now,
    )
    session.add(event)
    session.flush()
    why = f"annulled: {reason}"
    if question.status == "resolved" and previous is not None:
        why = f"correction: {why} (was {describe_event(previous)})"
    set_status(session, question, "annulled", now, actor_name, event.actor_id, why)
    _rescore(session, clock, question.id)
    return event


def is_correction(session: Session, event: ResolutionEvent) -> bool:
    """True when an earlier event exists for the same question."""
    return session.scalar(
        select(ResolutionEvent.id).where(ResolutionEvent.question_id == event.question_id,
                                         ResolutionEvent.id < event.id).limit(1)
    ) is not None


def audit_log(session: Session, question: Question) -> list[AuditEntry]:
    """Every resolution event and status change of ``question``, oldest first, with actor and time."""
    entries: list[tuple[datetime, int, int, AuditEntry]] = []
    events = session.scalars(
        select(ResolutionEvent).where(ResolutionEvent.question_id == question.id).order_by(ResolutionEvent.id)
    ).all()
    for n, event in enumerate(events):
        if event.action == "annul":
            kind, summary = "annul", "Annulled" if n == 0 else "Correction: annulled"
        else:
            kind = "resolve" if n == 0 else "correction"
            label = event.outcome.label if event.outcome else "?"
            summary = f"Resolved as {label}" if n == 0 else f"Correction: resolved as {label}"
        entries.append((event.created_at, 0, event.id, AuditEntry(
            at=event.created_at, kind=kind, actor_name=event.actor_name, summary=summary, note=event.note,
            occurred_at=event.occurred_at, event_id=event.id,
        )))
    changes = session.scalars(
        select(StatusChange).where(StatusChange.question_id == question.id).order_by(StatusChange.id)
    ).all()
    for change in changes:
        summary = (f"Status {change.from_status} → {change.to_status}" if change.from_status
                   else f"Created as {change.to_status}")
        entries.append((change.created_at, 1, change.id, AuditEntry(
            at=change.created_at, kind="status", actor_name=change.actor_name, summary=summary,
            note=change.reason,
        )))
    # At the same instant an event comes before the status change it caused.
    entries.sort(key=lambda item: item[:3])
    return [entry for *_key, entry in entries]


def open_and_close_due(session: Session, clock: Clock) -> list[Transition]:
    """Open every draft whose ``opens_at`` has passed and close every open question whose
    ``closes_at`` has passed (a draft whose whole window has passed is opened then closed, both
    recorded). Status changes are recorded with actor "scheduler". Running it twice changes
    nothing the second time.
    """
    now = clock.now()
    # Row locks: a question resolved early by a concurrent request drops out of the WHERE clause
    # once that request commits, so the sweep never overwrites "resolved" with "closed".
    due = session.scalars(
        select(Question).where(or_(
            (Question.status == "draft") & (Question.opens_at <= now),
            (Question.status == "open") & (Question.closes_at <= now),
        )).order_by(Question.id).with_for_update()
    ).all()
    done: list[Transition] = []
    for question in due:
        if question.status == "draft":
            set_status(session, question, "open", now, SCHEDULER_ACTOR,
                       reason=f"opens_at {iso(question.opens_at)} reached")
            done.append(Transition(question.id, question.slug, "draft", "open"))
        if question.status == "open" and question.closes_at <= now:
            set_status(session, question, "closed", now, SCHEDULER_ACTOR,
                       reason=f"closes_at {iso(question.closes_at)} reached")
            done.append(Transition(question.id, question.slug, "open", "closed"))
    return done
