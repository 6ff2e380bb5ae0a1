"""Admin pages: resolution queue, resolve and annul forms, audit log, prompt inbox.

Thin views over tracker.domain.lifecycle: the same calls as ``tracker resolve`` / ``tracker annul``.
Every page needs a logged-in admin (others get 403).
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from ..app_state import state
from ..domain import DomainError
from ..domain.lifecycle import FINAL_STATUSES, annul, audit_log, describe_event, latest_event, resolve
from ..models import Prompt, Question
from . import db, login_manager, now
from .admin_forms import CORRECTION_LABEL, AnnulForm, ResolveForm

bp = Blueprint("admin", __name__, url_prefix="/admin")

INBOX_LIMIT = 200


@bp.before_request
def _admins_only():
    if not current_user.is_authenticated:
        if "auth.login" in current_app.view_functions:
            return login_manager.unauthorized()
        abort(401, "Please log in.")
    if not current_user.is_admin:
        abort(403, "This page is for admins.")
    return None


def _question(slug: str) -> Question:
    question = db().scalar(select(Question).where(Question.slug == slug))
    if question is None:
        abort(404, f"No question with the slug {slug!r}.")
    return question


@bp.route("/")
@login_required
def queue():
    """Closed (or past resolve_by) questions awaiting resolution, oldest first."""
    at = now()
    session = db()
    waiting = session.scalars(
        select(Question).where(Question.status.not_in(FINAL_STATUSES), Question.closes_at <= at)
        .order_by(Question.closes_at, Question.id)
    ).all()
    last_prompts = _last_prompt_steps(session, [q.id for q in waiting])
    rows = [{
        "question": q,
        "waited_seconds": (at - q.closes_at).total_seconds(),
        "overdue": at >= q.resolve_by,
        "overdue_seconds": (at - q.resolve_by).total_seconds(),
        "prompt_step": last_prompts.get(q.id),
    } for q in waiting]
    open_questions = session.scalars(
        select(Question).where(Question.status == "open", Question.closes_at > at).order_by(Question.closes_at)
    ).all()
    recent = session.scalars(
        select(Question).where(Question.status.in_(FINAL_STATUSES))
        .order_by(Question.updated_at.desc(), Question.id.desc()).limit(20)
    ).all()
    return render_template("admin/queue.html", rows=rows, open_questions=open_questions, recent=recent, now=at)


def _last_prompt_steps(session, question_ids: list[int]) -> dict[int, int]:
    if not question_ids:
        return {}
    steps: dict[int, int] = {}
    for qid, step in session.execute(
        select(Prompt.question_id, Prompt.step).where(Prompt.question_id.in_(question_ids))
    ):
        steps[qid] = max(step, steps.get(qid, -1))
    return steps


def _standing(question: Question):
    """The resolution in force (None while unresolved)."""
    return latest_event(db(), question.id) if question.status in FINAL_STATUSES else None


@bp.route("/questions/<slug>/resolve", methods=["GET", "POST"])
@login_required
def resolve_question(slug: str):
    """Resolve a question, resolve it early (with occurred_at), or correct its resolution."""
    question = _question(slug)
    standing = _standing(question)
    form = ResolveForm()
    form.outcome.choices = [("", "— choose —")] + [(o.key, f"{o.label} ({o.key})") for o in question.options]
    status = 200
    error = None
    if form.validate_on_submit():
        if standing is not None and not form.confirm_correction.data:
            form.confirm_correction.errors = [f"Tick “{CORRECTION_LABEL}” to replace the current resolution."]
            status = 400
        else:
            try:
                # allow_correction: a question resolved by someone else since this form was shown
                # is refused, not silently corrected.
                event = resolve(db(), state().clock, question, form.outcome.data, current_user,
                                current_user.username, note=form.note.data or "",
                                occurred_at=form.occurred_at_value(),
                                allow_correction=bool(form.confirm_correction.data))
            except DomainError as exc:
                error, status = str(exc), exc.status
            else:
                verb = "Correction recorded" if standing is not None else "Resolution recorded"
                flash(f"{verb}: {question.title} is {describe_event(event)}. Scores were recomputed.", "success")
                return redirect(url_for("admin.audit", slug=question.slug))
    elif form.is_submitted():
        status = 400
    return render_template("admin/resolve.html", question=question, form=form, standing=standing,
                           standing_text=describe_event(standing) if standing else None, error=error,
                           now=now()), status


@bp.route("/questions/<slug>/annul", methods=["GET", "POST"])
@login_required
def annul_question(slug: str):
    """Annul a question with a reason (it then has no scores at all)."""
    question = _question(slug)
    standing = _standing(question)
    form = AnnulForm()
    status = 200
    error = None
    if form.validate_on_submit():
        if question.status == "resolved" and not form.confirm_correction.data:
            form.confirm_correction.errors = [f"Tick “{CORRECTION_LABEL}” to replace the current resolution."]
            status = 400
        else:
            try:
                annul(db(), state().clock, question, current_user, current_user.username, form.reason.data,
                      allow_correction=bool(form.confirm_correction.data))
            except DomainError as exc:
                error, status = str(exc), exc.status
            else:
                flash(f"{question.title} is annulled; it has no scores.", "success")
                return redirect(url_for("admin.audit", slug=question.slug))
    elif form.is_submitted():
        status = 400
    return render_template("admin/annul.html", question=question, form=form, standing=standing,
                           standing_text=describe_event(standing) if standing else None, error=error), status


@bp.route("/questions/<slug>/audit")
@login_required
def audit(slug: str):
    """Every resolution event and status change of one question, with actor and time."""
    question = _question(slug)
    standing = _standing(question)
    prompts = db().scalars(select(Prompt).where(Prompt.question_id == question.id).order_by(Prompt.step)).all()
    return render_template("admin/audit.html", question=question, entries=audit_log(db(), question),
                           standing_text=describe_event(standing) if standing else None, prompts=prompts)


@bp.route("/inbox")
@login_required
def inbox():
    """Resolution prompts, newest first, each with its question and whether it is still unresolved."""
    rows = db().execute(
        select(Prompt, Question).join(Question, Prompt.question_id == Question.id)
        .order_by(Prompt.created_at.desc(), Prompt.id.desc()).limit(INBOX_LIMIT)
    ).all()
    items = [{"prompt": p, "question": q, "unresolved": q.status not in FINAL_STATUSES} for p, q in rows]
    return render_template("admin/inbox.html", items=items, limit=INBOX_LIMIT,
                           unresolved_count=sum(i["unresolved"] for i in items))
