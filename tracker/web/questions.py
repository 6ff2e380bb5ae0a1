"""Question list and question pages, with the forecast form and the forecast history.

Thin views: the list and the page's data come from :mod:`tracker.domain.questions`, a forecast is
stored by :func:`tracker.domain.forecasts.submit_forecast`; refusals are DomainErrors.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup
from werkzeug.wrappers import Response

from ..app_state import state
from ..domain import DomainError, comments
from ..domain.crowd import CrowdPolicy
from ..domain.forecasts import (
    MAX_RATIONALE,
    QuestionLike,
    ensure_open,
    forecast_summary,
    format_percent,
    is_open_for_forecasts,
    probabilities_by_key,
    submission_question,
    submit_forecast,
)
from ..domain.my_forecasts import MINE_FILTERS, for_reader
from ..domain.questions import (
    STATUS_FILTERS,
    STATUS_LABELS,
    display_status,
    get_question,
    list_questions,
    question_page,
)
from ..models import Comment, Forecast, Question
from . import db, form_error, login_manager, now, viewer
from .admin_forms import HideCommentForm
from .forms import (
    MAX_PERCENT_TEXT,
    CommentForm,
    ForecastForm,
    excerpt,
    parse_percent,
    percent_field_name,
)
from .plots import cached_plot, forecast_history_plot

bp = Blueprint("questions", __name__)


def crowd_policy() -> CrowdPolicy:
    """Who may see an open question's crowd, from the settings."""
    settings = state().settings
    return CrowdPolicy(settings.crowd_min_forecasters, settings.crowd_after_own_forecast)


def _int_arg(name: str, default: int | None) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise DomainError(f"'{name}' must be a whole number, not {raw!r}.", status=400, field=name)
    return int(raw)


@bp.route("/")
def index() -> str:
    """Questions filtered by status, tag and text, each with its crowd forecast, one page at a time."""
    at = now()
    listing = list_questions(db(), at, status=request.args.get("status", ""), tag=request.args.get("tag", ""),
                             text=request.args.get("q", ""), page=_int_arg("page", 1) or 1, viewer=viewer(),
                             policy=crowd_policy(), mine_filter=request.args.get("mine", ""))
    # The "my forecasts" filter ran in the query before paging; this adds the reader's forecasts
    # and the outcomes of the page's questions.
    reader = for_reader(db(), listing.questions, viewer(), request.args.get("mine", ""), at)
    return render_template(
        "questions/index.html", questions=reader.questions, crowds=listing.crowds, tags=listing.tags,
        status=listing.status, tag=listing.tag, text=listing.text, filters=STATUS_FILTERS, labels=STATUS_LABELS,
        display_status=display_status, at=at, mine=reader.mine, which=reader.which, mine_filters=MINE_FILTERS,
        outcomes=reader.outcomes, can_forecast=lambda q: is_open_for_forecasts(q, at),
        page=listing.page, has_next=listing.has_next, hidden=listing.hidden,
    )


@bp.route("/q/<slug>/quick", methods=["POST"])
def quick_forecast(slug: str) -> Response | tuple[Response, int]:
    """A binary forecast from the list's small % box: JSON for the page's script (``fetch``),
    otherwise a redirect back to the list with a message. Same checks as the question page."""
    wants_json = request.accept_mimetypes.best == "application/json"
    if not current_user.is_authenticated:
        if wants_json:
            return jsonify(error="Log in to forecast."), 401
        return login_manager.unauthorized()
    question = submission_question(db(), slug)
    back = request.form.get("next") or url_for("questions.index")
    if not back.startswith("/") or back.startswith("//"):
        back = url_for("questions.index")  # never redirect off the site
    try:
        if question.kind != "binary":
            raise DomainError("Only yes/no questions take a forecast from the list; open the question.")
        try:
            p_yes = parse_percent(request.form.get("p", ""))
        except ValueError:
            raise DomainError("Enter a percentage such as 70.", field="p") from None
        settings = state().settings
        yes, no = question.options[0], question.options[1]
        submit_forecast(db(), state().clock, question, current_user, {yes.key: p_yes, no.key: 1.0 - p_yes},
                        bounds=(settings.forecast_min, settings.forecast_max))
    except DomainError as exc:
        if wants_json:
            return jsonify(error=str(exc)), exc.status
        flash(f"{question.title}: {exc}", "error")
        return redirect(back)
    summary = forecast_summary(question, {yes.key: p_yes})
    if wants_json:
        return jsonify(saved=summary, percent=format_percent(p_yes, sign=False)), 200
    flash(f"Forecast saved on “{question.title}”: {summary}.", "success")
    return redirect(back)


@dataclass
class FormState:
    """What the forecast form shows: the raw text per field and the errors per field."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _initial_values(question: Question, latest: Forecast | None) -> dict[str, str]:
    """Prefill with the forecaster's latest forecast, so an update is one small change."""
    values: dict[str, str] = {}
    probs = probabilities_by_key(question, latest) if latest else {}
    for option in question.options:
        if latest is not None:
            values[percent_field_name(option.position)] = format_percent(probs[option.key], sign=False)
        elif question.kind == "binary" and option.position == 0:
            values[percent_field_name(0)] = "50"
    return values


def _parse_form(question: QuestionLike, form_state: FormState) -> dict[str, float] | None:
    """Percentages from the form as probabilities by option key, or None with errors recorded.
    A binary question's form has one box (the first option); the second is its complement."""
    options = question.options[:1] if question.kind == "binary" else question.options
    parsed: dict[str, float] = {}
    for option in options:
        name = percent_field_name(option.position)
        raw = request.form.get(name, "")
        # Never echo more than a short excerpt of bad input (a 10 MB field is not sent back).
        form_state.values[name] = excerpt(raw, MAX_PERCENT_TEXT)
        try:
            parsed[option.key] = parse_percent(raw)
        except ValueError:
            what = "" if question.kind == "binary" else f"“{option.label}”: "
            shown = f"“{excerpt(raw)}” is not a number" if raw.strip() else "this is empty"
            form_state.errors[name] = f"{what}{shown}; enter a percentage such as 70."
    if form_state.errors:
        return None
    if question.kind == "binary":
        yes, no = question.options[0], question.options[1]
        parsed[no.key] = 1.0 - parsed[yes.key]
    return parsed


def _field_of(question: QuestionLike, exc: DomainError) -> str:
    """The form field a refusal is about: an option's percentage box, or the field itself."""
    option = question.option_by_key(exc.field) if exc.field else None
    if option is not None:
        return percent_field_name(0 if question.kind == "binary" else option.position)
    return exc.field if exc.field in ("total", "rationale") else "form"


def _submit(question: QuestionLike, form_state: FormState) -> Response | None:
    """Handle a forecast POST: a redirect on success, else None with errors in ``form_state``.
    A refusal that is not about one field (a closed question: 409) goes to the error page."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    ensure_open(question, now())  # a closed question is refused as such (409), whatever the numbers
    probabilities = _parse_form(question, form_state)
    form_state.values["rationale"] = request.form.get("rationale", "")[:MAX_RATIONALE + 1]  # bounded echo
    if probabilities is None:
        return None
    settings = state().settings
    try:
        submit_forecast(db(), state().clock, question, current_user, probabilities,
                        rationale=request.form.get("rationale", ""),
                        bounds=(settings.forecast_min, settings.forecast_max))
    except DomainError as exc:
        if exc.field is None:
            raise
        form_state.errors[_field_of(question, exc)] = str(exc)
        return None
    flash(f"Forecast saved: {forecast_summary(question, probabilities)}.", "success")
    # 303 See Other: the browser fetches the page with a GET (the POST is never re-sent), and this
    # request renders nothing.
    return redirect(url_for("questions.detail", slug=question.slug) + "#history", code=303)


@bp.route("/q/<slug>", methods=["GET", "POST"])
def detail(slug: str) -> Response | tuple[str, int]:
    """A question: text, resolution criteria, the forecast form while open, history, scores and
    its discussion thread."""
    form_state = FormState()
    if request.method == "POST":
        # A submission reads the question and its options in one plain query; only a refused one
        # loads the whole question to re-render the page.
        response = _submit(submission_question(db(), slug), form_state)
        if response is not None:
            return response
        return _render_page(get_question(db(), slug), form_state, 400)
    return _render_page(get_question(db(), slug), form_state, 200)


@bp.route("/q/<slug>/comments", methods=["POST"])
def post_comment(slug: str) -> Response | tuple[str, int]:
    """Add a comment to the question's thread, then show it on its page of the thread; a blank or
    too long comment re-renders the page (400) with the message beside the box, nothing stored."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    question = get_question(db(), slug)
    form = CommentForm()
    try:
        comment = comments.post_comment(db(), state().clock, question, current_user, form.body.data or "")
    except DomainError as exc:
        if exc.field != "body":
            raise
        form.body.data = (form.body.data or "")[:comments.MAX_COMMENT + 1]  # bounded echo
        return _render_page(question, FormState(), form_error(form, exc), comment_form=form)
    flash("Comment posted.", "success")
    return redirect(comment_url(question, comment))


def comment_url(question: Question, comment: Comment) -> str:
    """The address of ``comment`` on its page of the question's thread."""
    return url_for("questions.detail", slug=question.slug,
                   cpage=comments.page_of(db(), comment)) + f"#comment-{comment.id}"


def _render_page(question: Question, form_state: FormState, code: int,
                 comment_form: CommentForm | None = None) -> tuple[str, int]:
    """The question page with the forecast form's state and, after a refused comment, its form."""
    at = now()
    page = question_page(db(), question, at, viewer(), policy=crowd_policy(), after=_int_arg("after", None))
    thread = comments.thread_page(db(), question, _int_arg("cpage", 1))
    if request.method == "GET":
        form_state.values = _initial_values(question, page.mine[-1] if page.mine else None)
    # The plot runs to the next full hour (or the effective close), so it is re-rendered at most
    # hourly unless a forecast or a resolution changes it.
    resolution = page.resolution
    close = page.close or question.closes_at
    end = min(_next_hour(at), close)
    outcome = resolution.outcome.key if resolution is not None and resolution.outcome is not None else None
    mine = [(f.created_at, page.probabilities(f)) for f in page.mine]
    key = (question.id, question.updated_at, question.kind, tuple((o.key, o.label) for o in question.options),
           page.crowd.version, tuple(f.id for f in page.mine[-1:]), len(page.mine), end, outcome)

    def draw(compact: bool) -> Markup | None:
        return cached_plot(db(), (*key, compact), lambda: forecast_history_plot(
            question, page.crowd, mine, start=question.opens_at, end=end, outcome=outcome, compact=compact,
        ))

    plot, plot_compact = draw(False), draw(True)
    settings = state().settings
    return render_template(
        "questions/detail.html", question=question, status=page.status, status_label=page.status_label,
        can_forecast=page.can_forecast, form=ForecastForm(), values=form_state.values, errors=form_state.errors,
        mine=page.mine, crowd_now=page.crowd_now, plot=plot, plot_compact=plot_compact, everyone=page.everyone,
        resolution=page.resolution,
        question_score=page.question_score, scores_current=page.scores_current, my_score=page.my_score, at=at,
        probs_of=page.probabilities, rationale_of=page.rationale,
        bounds=(settings.forecast_min, settings.forecast_max),
        field_name=percent_field_name, everyone_next=page.everyone_next, after=request.args.get("after"),
        close=page.close, crowd_hidden=page.crowd_hidden, no_score_reason=page.no_score_reason,
        thread=thread, comment_form=comment_form or CommentForm(formdata=None),
        hide_form=HideCommentForm(formdata=None), read_hidden=comments.may_read_hidden(viewer()),
        max_comment=comments.MAX_COMMENT,
    ), code


# Addresses people type or guess: send them to the real pages instead of a 404.
def _with_query(path: str) -> str:
    """``path`` with this request's query string (``?next=...`` survives the redirect)."""
    query = request.query_string.decode("latin-1")
    return f"{path}?{query}" if query else path


@bp.route("/login")
def login_alias() -> Response:
    """``/login`` is the login page's usual address elsewhere."""
    return redirect(_with_query(url_for("auth.login")), code=301)


@bp.route("/register")
def register_alias() -> Response:
    """``/register`` is the registration page's usual address elsewhere."""
    return redirect(_with_query(url_for("auth.register")), code=301)


@bp.route("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for /favicon.ico whatever the page says; the icon is an SVG."""
    return redirect(url_for("static", filename="favicon.svg"), code=301)


def _next_hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
