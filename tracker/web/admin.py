"""Admin pages: resolution queue, resolve and annul forms, audit log, prompt inbox.

Thin views over :mod:`tracker.domain.resolution` (the same :func:`decide` as ``tracker resolve`` /
``tracker annul``) and :mod:`tracker.domain.resolution_queue`. Every page needs a logged-in admin
(others get 403).
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from ..app_state import state
from ..domain import DomainError
from ..domain.comments import get_comment, hide_comment
from ..domain.questions import get_question
from ..domain.resolution import audit_log, decide, describe_event, standing_event
from ..domain.resolution_queue import INBOX_LIMIT, prompt_inbox, question_prompts, resolution_queue
from ..models import Question
from . import db, form_error, login_manager, now
from .admin_forms import CORRECTION_LABEL, AnnulForm, HideCommentForm, ResolveForm, form_time, option_choice_label
from .questions import comment_url

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def _admins_only() -> Response | None:
    if not current_user.is_authenticated:
        if "auth.login" in current_app.view_functions:
            return login_manager.unauthorized()
        abort(401, "Please log in.")
    if not current_user.is_admin:
        abort(403, "This page is for admins.")
    return None


@bp.route("/")
@login_required
def queue() -> str:
    """Closed (or past resolve_by) questions awaiting resolution, oldest first."""
    at = now()
    data = resolution_queue(db(), at)
    return render_template("admin/queue.html", rows=data.waiting, open_questions=data.open_questions,
                           recent=data.recent, now=at)


def _decide_from_form(question: Question, form: ResolveForm | AnnulForm, *, outcome: str | None,
                      reason: str = "", note: str = "", occurred_at=None) -> tuple[Response | None, int]:
    """The resolve and annul forms' shared flow: a correction needs the confirmation box ticked;
    the decision is recorded (and rescored) by the domain; a refusal goes beside its field."""
    standing = standing_event(db(), question)
    replacing = standing is not None and (outcome is not None or question.status == "resolved")
    if replacing and not form.confirm_correction.data:
        form.confirm_correction.errors = [f"Tick “{CORRECTION_LABEL}” to replace the current resolution."]
        return None, 400
    try:
        # allow_correction: a question decided by someone else since this form was shown is
        # refused, not silently corrected.
        decision = decide(db(), state().clock, question, current_user, current_user.username,
                          outcome_key=outcome, reason=reason, note=note, occurred_at=occurred_at,
                          allow_correction=bool(form.confirm_correction.data))
    except DomainError as exc:
        return None, form_error(form, exc)
    if decision.event.action == "annul":
        flash(f"{question.title} is annulled; it has no scores.", "success")
    else:
        verb = "Correction recorded" if decision.is_correction else "Resolution recorded"
        flash(f"{verb}: {question.title} is {describe_event(decision.event)}. Scores were recomputed.", "success")
    return redirect(url_for("admin.audit", slug=question.slug)), 200


def _page_error(form: ResolveForm | AnnulForm) -> str | None:
    return " ".join(form.form_errors) or None


@bp.route("/questions/<slug>/resolve", methods=["GET", "POST"])
@login_required
def resolve_question(slug: str) -> Response | tuple[str, int]:
    """Resolve a question, resolve it early (with occurred_at), or correct its resolution."""
    question = get_question(db(), slug)
    standing = standing_event(db(), question)
    form = ResolveForm()
    form.outcome.choices = [("", "— choose —")] + [(o.key, option_choice_label(o.label, o.key))
                                                     for o in question.options]
    if not form.is_submitted() and standing is not None and standing.occurred_at is not None:
        # A correction keeps the standing early-resolution moment unless the admin changes it.
        form.occurred_at.data = form_time(standing.occurred_at)
    status = 200
    if form.validate_on_submit():
        response, status = _decide_from_form(question, form, outcome=form.outcome.data, note=form.note.data or "",
                                             occurred_at=form.occurred_at_value())
        if response is not None:
            return response
    elif form.is_submitted():
        status = 400
    return render_template("admin/resolve.html", question=question, form=form, standing=standing,
                           standing_text=describe_event(standing) if standing else None, error=_page_error(form),
                           now=now()), status


@bp.route("/questions/<slug>/annul", methods=["GET", "POST"])
@login_required
def annul_question(slug: str) -> Response | tuple[str, int]:
    """Annul a question with a reason (it then has no scores at all)."""
    question = get_question(db(), slug)
    standing = standing_event(db(), question)
    form = AnnulForm()
    status = 200
    if form.validate_on_submit():
        response, status = _decide_from_form(question, form, outcome=None, reason=form.reason.data or "")
        if response is not None:
            return response
    elif form.is_submitted():
        status = 400
    return render_template("admin/annul.html", question=question, form=form, standing=standing,
                           standing_text=describe_event(standing) if standing else None,
                           error=_page_error(form)), status


@bp.route("/questions/<slug>/audit")
@login_required
def audit(slug: str) -> str:
    """Every resolution event and status change of one question, with actor and time."""
    question = get_question(db(), slug)
    standing = standing_event(db(), question)
    return render_template("admin/audit.html", question=question, entries=audit_log(db(), question),
                           standing_text=describe_event(standing) if standing else None,
                           prompts=question_prompts(db(), question))


@bp.route("/questions/<slug>/comments/<int:comment_id>/hide", methods=["POST"])
@login_required
def hide_question_comment(slug: str, comment_id: int) -> Response:
    """Hide a comment with a reason (required; a refusal is the error page, nothing changed), then
    go back to it on the question page, where it now reads "hidden by an admin: <reason>"."""
    question = get_question(db(), slug)
    comment = get_comment(db(), question, comment_id)
    form = HideCommentForm()
    hide_comment(db(), state().clock, comment, current_user, form.reason.data or "")
    flash(f"Comment #{comment.id} is hidden.", "success")
    return redirect(comment_url(question, comment))


@bp.route("/inbox")
@login_required
def inbox() -> str:
    """Resolution prompts, newest first, each with its question and whether it is still unresolved."""
    items = prompt_inbox(db())
    return render_template("admin/inbox.html", items=items, limit=INBOX_LIMIT,
                           unresolved_count=sum(i.unresolved for i in items))
