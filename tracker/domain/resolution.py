"""Resolution: resolve, resolve early, correct and annul a question, and read its audit log.

Rules, in one place (the web pages, the CLI, the demo and the API all come through here):

- A question resolves to one of its option keys, or is annulled with a reason.
- Before the scheduled close a resolution needs ``occurred_at`` (when the event happened): the
  question is then resolved early and scored as if it closed at that moment.
- A resolution or annulment of a question that already has one is a correction: a new event is
  added, the old ones stay, the latest stands.
- Every status change is recorded, and the question is rescored in the same transaction.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..clock import Clock, ensure_utc
from ..models import FINAL_STATUSES, Question, ResolutionEvent, StatusChange, User
from . import Conflict, DomainError
from .comments import hidden_comments
from .lifecycle import set_status, sync_time_status


@dataclass(frozen=True)
class AuditEntry:
    """One line of a question's audit log: a resolution event or a status change."""

    at: datetime
    kind: str  # "resolve", "correction", "annul", "status", "comment_hidden"
    actor_name: str
    summary: str
    note: str = ""
    occurred_at: datetime | None = None
    event_id: int | None = None


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
    # The key only adds something when it differs from the label ("Yes (yes)" says it twice).
    text = f"resolved as {label}" if key.lower() == label.lower() else f"resolved as {label} ({key})"
    if event.occurred_at is not None:
        text += f", occurred {when(event.occurred_at)}"
    return text


def when(value: datetime) -> str:
    """A moment as people read it on every page and message: '2026-11-29 13:56 UTC' (seconds only
    when there are some; never microseconds)."""
    value = ensure_utc(value)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC" if value.second else "%Y-%m-%d %H:%M UTC")


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
        raise DomainError("who resolved the question must be recorded (actor name is empty)", field="actor")
    # The stored status may lag the clock when the scheduler has not run yet.
    sync_time_status(session, question, now)
    if question.status == "draft":
        raise Conflict(f"“{question.title}” has not opened yet (it opens {when(question.opens_at)}); "
                       "a question that has not opened cannot be resolved")
    option = question.option_by_key(outcome_key)
    if option is None:
        valid = ", ".join(o.key for o in question.options)
        raise DomainError(f"unknown outcome {outcome_key!r} for {question.slug}; valid outcomes: {valid}",
                          field="outcome")
    if occurred_at is not None:
        occurred_at = ensure_utc(occurred_at)
        _check_occurred_at(question, occurred_at, now)
    if now < question.closes_at and occurred_at is None:
        # Without occurred_at the question would be scored as if it closed in the future.
        state = "was resolved early" if question.status in FINAL_STATUSES else "is open"
        raise Conflict(
            f"“{question.title}” {state} until its scheduled close, {when(question.closes_at)}. To resolve "
            "it before then, give the moment the outcome became certain (occurred at); it is then "
            "scored as if it closed at that moment",
            field="occurred_at",
        )

    previous = latest_event(session, question.id) if question.status in FINAL_STATUSES else None
    correction = previous is not None
    if previous is not None and not allow_correction:
        raise _already_decided(question, previous)
    if (previous is not None and previous.action == "resolve" and previous.outcome_option_id == option.id
            and previous.occurred_at == occurred_at):
        raise Conflict(
            f"{question.slug} is already {describe_event(previous)}; a correction must change the "
            "outcome or occurred_at",
            field="outcome",
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
        reason += f"; resolved early, occurred {when(occurred_at)}"
    if not set_status(session, question, "resolved", now, actor_name, event.actor_id, reason):
        question.updated_at = now
    _rescore(session, clock, question.id)
    return event


def _already_decided(question: Question, previous: ResolutionEvent) -> Conflict:
    return Conflict(
        f"{question.slug} is already {describe_event(previous)} (by {previous.actor_name}, "
        f"{when(previous.created_at)}); review it and confirm that you are correcting it",
        field="confirm_correction",
    )


def _check_occurred_at(question: Question, occurred_at: datetime, now: datetime) -> None:
    # Written for people: the moment is named by what it means, times as every page shows them.
    if occurred_at > now:
        raise DomainError(f"The moment the outcome became certain cannot be in the future: "
                          f"{when(occurred_at)} is later than now ({when(now)}).", field="occurred_at")
    if occurred_at < question.opens_at:
        raise DomainError(
            f"The moment the outcome became certain ({when(occurred_at)}) is before the question opened "
            f"({when(question.opens_at)}).",
            field="occurred_at",
        )
    if occurred_at > question.closes_at:
        raise DomainError(
            f"The moment the outcome became certain ({when(occurred_at)}) is after the scheduled close "
            f"({when(question.closes_at)}); leave it empty to resolve the question at its close.",
            field="occurred_at",
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
        raise DomainError("an annulment needs a reason", field="reason")
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


def audit_log(session: Session, question: Question) -> list[AuditEntry]:
    """Every resolution event, status change and comment hidden by an admin on ``question``, oldest
    first, with actor and time."""
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
        if change.from_status == change.to_status:
            summary = "Times changed"  # a reschedule (see domain/reschedule.py)
        entries.append((change.created_at, 1, change.id, AuditEntry(
            at=change.created_at, kind="status", actor_name=change.actor_name, summary=summary,
            note=change.reason,
        )))
    # A hide is kept on the comment's own row (who, when, why); the log reads it from there.
    for comment in hidden_comments(session, question):
        assert comment.hidden_at is not None
        entries.append((comment.hidden_at, 2, comment.id, AuditEntry(
            at=comment.hidden_at, kind="comment_hidden", actor_name=comment.hidden_by_name or "",
            summary=f"Hid comment #{comment.id}", note=comment.hidden_reason or "",
        )))
    # At the same instant an event comes before the status change it caused.
    entries.sort(key=lambda item: item[:3])
    return [entry for *_key, entry in entries]


@dataclass(frozen=True)
class Decision:
    """What a resolve or annul call did: the new event and the one it replaced, if any."""

    question: Question
    event: ResolutionEvent
    previous: ResolutionEvent | None

    @property
    def is_correction(self) -> bool:
        return self.previous is not None

    def summary(self) -> str:
        """One sentence for a person (a flash message, a CLI line)."""
        slug = self.question.slug
        if self.event.action == "annul":
            if self.previous is not None:
                return f"Correction recorded: {slug} is now annulled (was {describe_event(self.previous)}); scores removed."
            return f"{slug} annulled; it has no scores."
        now_text = describe_event(self.event)
        if self.previous is not None:
            return f"Correction recorded: {slug} is now {now_text} (was {describe_event(self.previous)}); scores recomputed."
        return f"{slug} {now_text}; scores recomputed."


def standing_event(session: Session, question: Question) -> ResolutionEvent | None:
    """The resolution in force: the latest event of a resolved or annulled question, else None."""
    return latest_event(session, question.id) if question.status in FINAL_STATUSES else None


def decide(
    session: Session,
    clock: Clock,
    question: Question,
    actor: User | None,
    actor_name: str,
    *,
    outcome_key: str | None = None,
    reason: str = "",
    note: str = "",
    occurred_at: datetime | None = None,
    allow_correction: bool = True,
) -> Decision:
    """Resolve (``outcome_key`` given) or annul (``outcome_key`` None, ``reason`` required)
    ``question``, remembering the event it replaces: the one flow behind the admin pages, the CLI
    and the API. Raises what :func:`resolve` and :func:`annul` raise."""
    previous = standing_event(session, question)
    if outcome_key is not None:
        event = resolve(session, clock, question, outcome_key, actor, actor_name, note=note,
                        occurred_at=occurred_at, allow_correction=allow_correction)
    else:
        event = annul(session, clock, question, actor, actor_name, reason, allow_correction=allow_correction)
    return Decision(question=question, event=event, previous=previous)
