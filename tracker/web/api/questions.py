"""Questions, forecasts and the caller's account under /api/v1 (thin: one domain call each)."""
from __future__ import annotations

from flask import g

from ...app_state import state
from ...domain import DomainError
from ...domain.comments import comment_count, comment_slice, may_read_hidden
from ...domain.forecasts import forecasts_of, submit_forecast
from ...domain.questions import get_question, list_questions, question_page
from .. import db, now
from . import api
from . import convert as out
from .auth import api_user, require_user
from .errors import ApiError
from .schemas import (
    CommentListQuery,
    CommentPage,
    ForecastIn,
    ForecastListQuery,
    ForecastOut,
    ForecastPage,
    MeOut,
    QuestionDetail,
    QuestionListQuery,
    QuestionPage,
)


@api.route("/questions", summary="List questions", tag="questions", response=QuestionPage, query=QuestionListQuery)
def question_list(query: QuestionListQuery) -> QuestionPage:
    """Questions filtered as on the list page (status, tag, text), each with its crowd forecast,
    a page at a time: follow ``next_cursor`` until it is null."""
    at = now()
    # Every matching question (the API pages with its own cursor); crowds pass through crowd_for.
    listing = list_questions(db(), at, status=query.status, tag=query.tag, text=query.text, page_size=None)
    chunk, cursor = out.page(listing.questions, query.cursor, query.limit)
    viewer = api_user()
    return QuestionPage(items=[out.summary(viewer, q, listing.crowds.get(q.id), at) for q in chunk],
                        next_cursor=cursor)


@api.route("/questions/<slug>", summary="One question", tag="questions", response=QuestionDetail, errors=(404,))
def question_detail(slug: str) -> QuestionDetail:
    """Criteria, options, times, status, the crowd forecast, and the outcome once decided."""
    viewer = api_user()
    return out.detail(viewer, question_page(db(), get_question(db(), slug), now(), viewer))


@api.route("/questions/<slug>/comments", summary="A question's comments", tag="questions", response=CommentPage,
           query=CommentListQuery, errors=(404,))
def question_comments(slug: str, query: CommentListQuery) -> CommentPage:
    """The question's discussion thread, oldest first, a page at a time (follow ``next_cursor``).
    A comment hidden by an admin keeps its place with who hid it and why, but not its text."""
    question = get_question(db(), slug)
    start = out.decode_cursor(query.cursor)
    rows = comment_slice(db(), question, start, query.limit + 1)
    read_hidden = may_read_hidden(api_user())
    items = [out.comment(c, author, read_hidden) for c, author in rows[:query.limit]]
    cursor = out.encode_cursor(start + query.limit) if len(rows) > query.limit else None
    return CommentPage(items=items, total=comment_count(db(), question), next_cursor=cursor)


def _complete(question, probabilities: dict[str, float]) -> dict[str, float]:
    """A binary question takes one probability; the other option's is its complement."""
    if question.kind == "binary" and len(probabilities) == 1:
        (key, value), = probabilities.items()
        others = [o.key for o in question.options if o.key != key]
        if len(others) == 1:
            return {key: value, others[0]: 1.0 - value}
    return dict(probabilities)


def _field(question, exc: DomainError) -> str | None:
    """The request field a refused forecast is about: 'probabilities.<key>', 'probabilities', 'rationale'."""
    if exc.field and question.option_by_key(exc.field) is not None:
        return f"probabilities.{exc.field}"
    return "probabilities" if exc.field in (None, "total") else exc.field


@api.route("/questions/<slug>/forecasts", "POST", summary="Submit a forecast", tag="forecasts",
           response=ForecastOut, body=ForecastIn, auth="required", status=201, errors=(404, 409))
def forecast_create(slug: str, body: ForecastIn) -> ForecastOut:
    """Append a forecast, timed by the server. 409 when the question is not open; 422 with the
    field for bad numbers (each within the allowed range, together summing to 1)."""
    user = require_user()
    question = get_question(db(), slug)
    settings = state().settings
    try:
        stored = submit_forecast(db(), state().clock, question, user, _complete(question, body.probabilities),
                                 rationale=body.rationale, bounds=(settings.forecast_min, settings.forecast_max))
    except DomainError as exc:
        if exc.status != 400:
            raise
        raise ApiError(str(exc), 422, code="validation_error", field=_field(question, exc)) from None
    return out.forecast(question, stored)


@api.route("/me/forecasts", summary="My forecasts", tag="forecasts", response=ForecastPage, query=ForecastListQuery,
           auth="required", errors=(404,))
def my_forecasts(query: ForecastListQuery) -> ForecastPage:
    """The caller's forecasts, oldest first (on one question with ``question``)."""
    user = require_user()
    question = get_question(db(), query.question) if query.question else None
    start = out.decode_cursor(query.cursor)
    rows = forecasts_of(db(), user, question, offset=start, limit=query.limit + 1)
    items = [out.forecast(q, f) for q, f in rows[:query.limit]]
    cursor = out.encode_cursor(start + query.limit) if len(rows) > query.limit else None
    return ForecastPage(items=items, next_cursor=cursor)


@api.route("/me", summary="Who am I", tag="account", response=MeOut, auth="required")
def me() -> MeOut:
    """The account the request acts as, and how it was authenticated."""
    user = require_user()
    token = g.get("api_token")
    return MeOut(username=user.username, role=user.role, created_at=user.created_at,  # type: ignore[arg-type]
                 auth=g.api_auth, token_name=token.name if token is not None else None)
