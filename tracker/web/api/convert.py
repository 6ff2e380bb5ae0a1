"""Domain objects -> response models, and the two places other work plugs into: the crowd's
visibility (:func:`crowd_for`) and paging (:func:`page`)."""
from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

from flask import url_for

from ...app_state import state
from ...domain.crowd import CrowdNow, CrowdPolicy, crowd_visible, forecast_on
from ...domain.forecasts import probabilities_by_key
from ...domain.questions import QuestionPage as PageData
from ...domain.questions import display_status
from ...domain.resolution import AuditEntry
from ...models import Comment, Forecast, Question, ResolutionEvent, User
from .. import db, now
from ..filters import render_markdown
from .errors import ApiError
from .schemas import (
    AuditEntryOut,
    CommentHiddenOut,
    CommentOut,
    CrowdOut,
    ForecastOut,
    OptionOut,
    OutcomeOut,
    QuestionDetail,
    QuestionSummary,
)

T = TypeVar("T")


def crowd_for(viewer: User | None, question: Question, crowd: CrowdNow | None) -> CrowdOut | None:
    """THE place that decides whether ``viewer`` may see ``question``'s crowd forecast; every crowd
    the API returns comes through here.

    The rule is the pages' (:func:`tracker.domain.crowd.crowd_visible`): once forecasting has
    ended the crowd is shown to everyone; while the question is open only with at least
    TRACKER_CROWD_MIN_FORECASTERS forecasters and, with TRACKER_CROWD_AFTER_OWN_FORECAST, after the
    viewer's own forecast. Individual forecasts on an open question are never shown to others (the
    API returns only the caller's own).
    """
    if crowd is None:
        return None
    settings = state().settings
    policy = CrowdPolicy(settings.crowd_min_forecasters, settings.crowd_after_own_forecast)
    status = display_status(question, now())
    if status in ("draft", "open") and crowd.forecasters >= policy.min_forecasters and policy.after_own_forecast:
        own = bool(forecast_on(db(), viewer, [question.id]))  # asked only when it can decide
    else:
        own = False
    if not crowd_visible(question, status, crowd.forecasters, own, policy):
        return None
    return CrowdOut(probabilities=dict(crowd.probabilities), forecasters=crowd.forecasters)


def page(items: Sequence[T], cursor: str | None, limit: int) -> tuple[list[T], str | None]:
    """One page of ``items`` after ``cursor`` and the cursor of the next page (None on the last).
    The cursor is opaque to clients (today an encoded offset)."""
    start = decode_cursor(cursor)
    chunk = list(items[start:start + limit])
    more = start + limit < len(items)
    return chunk, encode_cursor(start + limit) if more else None


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The offset a cursor stands for; a cursor this server did not hand out is a 422."""
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if text[:1] == "o" and text[1:].isdigit() and len(text) < 12:
            return int(text[1:])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise ApiError("This cursor was not given by the server; start again without one.", 422,
                   code="validation_error", field="cursor")


def number(value: float | None) -> float | None:
    """NaN (no value) as null."""
    return None if value is None or math.isnan(value) else float(value)


def outcome(event: ResolutionEvent | None) -> OutcomeOut | None:
    if event is None:
        return None
    return OutcomeOut(action=event.action,  # type: ignore[arg-type]
                      outcome=event.outcome.key if event.outcome else None,
                      label=event.outcome.label if event.outcome else None, occurred_at=event.occurred_at,
                      note=event.note, decided_at=event.created_at, decided_by=event.actor_name)


def _common(question: Question, status: str, crowd: CrowdOut | None) -> dict:
    return {
        "slug": question.slug, "title": question.title, "kind": question.kind, "status": status,
        "tags": question.tag_names, "opens_at": question.opens_at, "closes_at": question.closes_at,
        "resolve_by": question.resolve_by, "options": [OptionOut(key=o.key, label=o.label) for o in question.options],
        "crowd": crowd, "url": url_for("api.question_detail", slug=question.slug, _external=True),
    }


def summary(viewer: User | None, question: Question, crowd: CrowdNow | None, at: datetime) -> QuestionSummary:
    return QuestionSummary(**_common(question, display_status(question, at), crowd_for(viewer, question, crowd)))


def detail(viewer: User | None, data: PageData) -> QuestionDetail:
    question = data.question
    return QuestionDetail(
        **_common(question, data.status, crowd_for(viewer, question, data.crowd_now)),
        background=question.background, resolution_criteria=question.resolution_criteria,
        fine_print=question.fine_print, can_forecast=data.can_forecast, outcome=outcome(data.resolution),
    )


def forecast(question: Question, item: Forecast) -> ForecastOut:
    return ForecastOut(id=item.id, question=question.slug, created_at=item.created_at,
                       probabilities=probabilities_by_key(question, item), rationale=item.rationale)


def audit_entry(entry: AuditEntry) -> AuditEntryOut:
    return AuditEntryOut(at=entry.at, kind=entry.kind, actor=entry.actor_name,  # type: ignore[arg-type]
                         summary=entry.summary, note=entry.note, occurred_at=entry.occurred_at)


def comment(item: Comment, author: str, read_hidden: bool) -> CommentOut:
    """A comment as the API shows it: a hidden one without its text unless ``read_hidden`` (admins)."""
    shown = not item.hidden or read_hidden
    hidden = None
    if item.hidden_at is not None:
        hidden = CommentHiddenOut(at=item.hidden_at, by=item.hidden_by_name or "", reason=item.hidden_reason or "")
    return CommentOut(id=item.id, author=author, created_at=item.created_at, body=item.body if shown else None,
                      html=str(render_markdown(item.body)) if shown else None, hidden=hidden)
