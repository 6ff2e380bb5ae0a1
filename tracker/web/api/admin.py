"""Admin operations: resolve, correct and annul (the pages' flow: tracker.domain.resolution.decide),
the audit log and the resolution queue."""
from __future__ import annotations

from ...app_state import state
from ...domain import DomainError
from ...domain.questions import get_question, question_page
from ...domain.resolution import audit_log, decide
from ...domain.resolution_queue import resolution_queue
from .. import db, now
from . import api
from . import convert as out
from .auth import require_user
from .schemas import AnnulIn, AuditLog, DecisionOut, ResolutionQueueOut, ResolveIn, WaitingOut


def _decision(slug: str, **kwargs) -> DecisionOut:
    user = require_user(admin=True)
    question = get_question(db(), slug)
    try:
        decision = decide(db(), state().clock, question, user, user.username, **kwargs)
    except DomainError as exc:
        if exc.field == "confirm_correction":  # the pages' tick box is the API's "correction" flag
            exc.field = "correction"
        raise
    return DecisionOut(summary=decision.summary(), correction=decision.is_correction,
                       outcome=out.outcome(decision.event),  # type: ignore[arg-type]
                       previous=out.outcome(decision.previous),
                       question=out.detail(user, question_page(db(), question, now(), user)))


@api.route("/questions/<slug>/resolve", "POST", summary="Resolve or correct (admin)", tag="admin",
           response=DecisionOut, body=ResolveIn, auth="admin", errors=(404, 409))
def question_resolve(slug: str, body: ResolveIn) -> DecisionOut:
    """Resolve to an option key; before the scheduled close ``occurred_at`` is required. Replacing
    a standing decision (a correction) needs ``correction: true``, else 409. Rescores the question."""
    return _decision(slug, outcome_key=body.outcome, note=body.note, occurred_at=body.occurred_at,
                     allow_correction=body.correction)


@api.route("/questions/<slug>/annul", "POST", summary="Annul (admin)", tag="admin", response=DecisionOut,
           body=AnnulIn, auth="admin", errors=(404, 409))
def question_annul(slug: str, body: AnnulIn) -> DecisionOut:
    """Annul with a reason (no scores at all); annulling a resolved question needs ``correction: true``."""
    return _decision(slug, reason=body.reason, allow_correction=body.correction)


@api.route("/questions/<slug>/audit", summary="Audit log (admin)", tag="admin", response=AuditLog, auth="admin",
           errors=(404,))
def question_audit(slug: str) -> AuditLog:
    """Every resolution event and status change, oldest first."""
    require_user(admin=True)
    return AuditLog(items=[out.audit_entry(e) for e in audit_log(db(), get_question(db(), slug))])


@api.route("/admin/resolution-queue", summary="Resolution queue (admin)", tag="admin", response=ResolutionQueueOut,
           auth="admin")
def resolution_queue_view() -> ResolutionQueueOut:
    """Questions past their close awaiting an outcome (oldest first), those still open, those decided lately."""
    user = require_user(admin=True)
    at = now()
    data = resolution_queue(db(), at)
    return ResolutionQueueOut(
        waiting=[WaitingOut(question=out.summary(user, w.question, None, at), waited_seconds=w.waited_seconds,
                            overdue=w.overdue, overdue_seconds=w.overdue_seconds, prompt_step=w.prompt_step,
                            reminder_number=w.reminder_number)
                 for w in data.waiting],
        open=[q.slug for q in data.open_questions], recent=[q.slug for q in data.recent],
    )
