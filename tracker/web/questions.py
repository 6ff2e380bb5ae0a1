"""Question list and question pages, with the forecast form and the forecast history."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import selectinload

from ..app_state import state
from ..domain import Conflict
from ..domain.crowd import CrowdNow, crowd_timeline, current_crowds
from ..domain.forecasts import (
    CLOSED_MESSAGE, ForecastError, is_open_for_forecasts, probabilities_by_key, submit_forecast, user_forecasts,
)
from ..models import Forecast, Question, QuestionScore, QuestionTag, ResolutionEvent, Score, User
from . import db, login_manager, now
from .forms import ForecastForm, parse_percent, percent_field_name
from .plots import forecast_history_plot

bp = Blueprint("questions", __name__)

CLOSING_SOON = timedelta(days=7)
STATUS_FILTERS = {
    "open": "Open",
    "closing": "Closing soon",
    "awaiting": "Awaiting resolution",
    "resolved": "Resolved",
    "annulled": "Annulled",
    "all": "All",
}
STATUS_LABELS = {
    "draft": "Upcoming", "open": "Open", "closed": "Awaiting resolution", "resolved": "Resolved",
    "annulled": "Annulled",
}


def display_status(question: Question, at: datetime) -> str:
    """The status a reader should see: an 'open' question past its close reads as closed even
    before the scheduler's sweep has stored that."""
    if question.status == "open" and at >= question.closes_at:
        return "closed"
    return question.status


def _status_condition(name: str, at: datetime):
    is_open = and_(Question.status == "open", Question.opens_at <= at, Question.closes_at > at)
    return {
        "open": is_open,
        "closing": and_(is_open, Question.closes_at <= at + CLOSING_SOON),
        "awaiting": or_(Question.status == "closed", and_(Question.status == "open", Question.closes_at <= at)),
        "resolved": Question.status == "resolved",
        "annulled": Question.status == "annulled",
        "all": None,
    }[name]


@bp.route("/")
def index():
    """Questions filtered by status, tag and text, each with its crowd forecast (a fixed number of
    queries whatever the number of rows)."""
    at = now()
    status = request.args.get("status", "open")
    if status not in STATUS_FILTERS:
        status = "open"
    tag = request.args.get("tag", "").strip()
    text = request.args.get("q", "").strip()

    stmt = select(Question).options(selectinload(Question.options), selectinload(Question.tags))
    condition = _status_condition(status, at)
    if condition is not None:
        stmt = stmt.where(condition)
    if tag:
        stmt = stmt.where(Question.tags.any(QuestionTag.tag == tag))
    if text:
        stmt = stmt.where(or_(Question.title.icontains(text, autoescape=True),
                              Question.background.icontains(text, autoescape=True)))
    if status in ("resolved", "annulled", "awaiting"):
        stmt = stmt.order_by(Question.closes_at.desc(), Question.id)
    else:
        stmt = stmt.order_by(Question.closes_at, Question.id)
    questions = list(db().scalars(stmt))
    crowds = current_crowds(db(), questions)
    tags = list(db().scalars(select(QuestionTag.tag).distinct().order_by(QuestionTag.tag)))
    return render_template(
        "questions/index.html", questions=questions, crowds=crowds, tags=tags, status=status, tag=tag,
        text=text, filters=STATUS_FILTERS, labels=STATUS_LABELS, display_status=display_status, at=at,
    )


@dataclass
class FormState:
    """What the forecast form shows: the raw text per field and the errors per field."""

    values: dict[str, str]
    errors: dict[str, str]


def _initial_values(question: Question, latest: Forecast | None) -> dict[str, str]:
    """Prefill with the forecaster's latest forecast, so an update is one small change."""
    values: dict[str, str] = {}
    probs = probabilities_by_key(question, latest) if latest else {}
    for option in question.options:
        if latest is not None:
            values[percent_field_name(option.position)] = _percent_text(probs[option.key])
        elif question.kind == "binary" and option.position == 0:
            values[percent_field_name(0)] = "50"
    return values


def _percent_text(p: float) -> str:
    return f"{p * 100:.2f}".rstrip("0").rstrip(".")


def _parse_form(question: Question, state_: FormState) -> dict[str, float] | None:
    """Percentages from the form as probabilities by option key, or None with errors recorded."""
    options = question.options[:1] if question.kind == "binary" else question.options
    parsed: dict[str, float] = {}
    for option in options:
        name = percent_field_name(option.position)
        raw = request.form.get(name, "")
        state_.values[name] = raw
        try:
            parsed[option.key] = parse_percent(raw)
        except ValueError:
            what = "" if question.kind == "binary" else f"“{option.label}”: "
            shown = f"“{raw.strip()}” is not a number" if raw.strip() else "this is empty"
            state_.errors[name] = f"{what}{shown}; enter a percentage such as 70."
    if state_.errors:
        return None
    if question.kind == "binary":
        yes, no = question.options[0], question.options[1]
        parsed[no.key] = 1.0 - parsed[yes.key]
    return parsed


def _submit(question: Question, state_: FormState):
    """Handle a forecast POST: a redirect on success, else None with errors in ``state_``."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not is_open_for_forecasts(question, now()):
        abort(409, CLOSED_MESSAGE)
    probabilities = _parse_form(question, state_)
    state_.values["rationale"] = request.form.get("rationale", "")
    if probabilities is None:
        return None
    settings = state().settings
    try:
        submit_forecast(db(), state().clock, question, current_user, probabilities,
                        rationale=request.form.get("rationale", ""),
                        bounds=(settings.forecast_min, settings.forecast_max))
    except Conflict as exc:
        abort(409, str(exc))
    except ForecastError as exc:
        option = question.option_by_key(exc.field) if exc.field else None
        if option is not None:
            position = 0 if question.kind == "binary" else option.position
            state_.errors[percent_field_name(position)] = str(exc)
        else:
            state_.errors[exc.field or "form"] = str(exc)
        return None
    if question.kind == "binary":
        summary = f"{_percent_text(probabilities[question.options[0].key])}% {question.options[0].label.lower()}"
    else:
        summary = ", ".join(f"{o.label} {_percent_text(probabilities[o.key])}%" for o in question.options)
    flash(f"Forecast saved: {summary}.", "success")
    return redirect(url_for("questions.detail", slug=question.slug) + "#history")


@bp.route("/q/<slug>", methods=["GET", "POST"])
def detail(slug: str):
    """A question: text, resolution criteria, the forecast form while open, history and scores."""
    session = db()
    question = session.scalar(
        select(Question).where(Question.slug == slug).options(selectinload(Question.options),
                                                              selectinload(Question.tags))
    )
    if question is None:
        abort(404, f"There is no question “{slug}”.")
    form = ForecastForm()
    form_state = FormState(values={}, errors={})
    code = 200
    if request.method == "POST":
        response = _submit(question, form_state)
        if response is not None:
            return response
        code = 400

    at = now()
    shown_status = display_status(question, at)
    can_forecast = is_open_for_forecasts(question, at)
    mine = user_forecasts(session, question, current_user) if current_user.is_authenticated else []
    if request.method == "GET":
        form_state.values = _initial_values(question, mine[-1] if mine else None)

    timeline = crowd_timeline(session, question)
    crowd_now = None
    if len(timeline.at):
        crowd_now = CrowdNow(
            probabilities={o.key: float(p) for o, p in zip(question.options, timeline.probs[-1], strict=True)},
            forecasters=int(timeline.n_forecasters[-1]),
        )
    end = min(at, question.closes_at)
    plot = forecast_history_plot(
        question, timeline, [(f.created_at, probabilities_by_key(question, f)) for f in mine],
        start=question.opens_at, end=end,
    )

    # Everyone's forecasts only once forecasting has closed: showing them earlier invites herding.
    everyone = []
    if shown_status in ("closed", "resolved", "annulled"):
        everyone = session.execute(
            select(Forecast, User.username).join(User, User.id == Forecast.user_id)
            .where(Forecast.question_id == question.id).order_by(Forecast.created_at, Forecast.id)
        ).all()

    resolution = session.scalar(
        select(ResolutionEvent).where(ResolutionEvent.question_id == question.id)
        .order_by(ResolutionEvent.id.desc()).limit(1)
    ) if question.status in ("resolved", "annulled") else None
    question_score = session.get(QuestionScore, question.id) if resolution is not None else None
    scores_current = question_score is not None and resolution is not None and \
        question_score.resolution_event_id == resolution.id
    my_score = None
    if scores_current and current_user.is_authenticated:
        my_score = session.scalar(
            select(Score).where(Score.question_id == question.id, Score.user_id == current_user.id)
        )
    settings = state().settings
    return render_template(
        "questions/detail.html", question=question, status=shown_status, status_label=STATUS_LABELS[shown_status],
        can_forecast=can_forecast, form=form, values=form_state.values, errors=form_state.errors,
        mine=mine, crowd_now=crowd_now, plot=plot, everyone=everyone, resolution=resolution,
        question_score=question_score if scores_current else None, scores_current=scores_current,
        my_score=my_score, at=at, probs_of=lambda f: probabilities_by_key(question, f),
        bounds=(settings.forecast_min, settings.forecast_max), field_name=percent_field_name,
    ), code
