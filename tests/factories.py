"""Small builders for test data. They write rows directly, with explicit times, so tests can set up
any history; the behaviour under test goes through the domain functions."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from tracker.domain.users import hash_password
from tracker.models import Forecast, ForecastProbability, Question, QuestionOption, QuestionTag, User

#: The suite's "now": the clock fixture's time, shared by every test that reasons about it.
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
#: The password every factory-made account has.
PASSWORD = "password123"

_FAST_HASH: dict[str, str] = {}


def make_user(session: Session, username: str, role: str = "forecaster", password: str | None = PASSWORD,
              created_at: datetime | None = None) -> User:
    if password is not None and password not in _FAST_HASH:
        _FAST_HASH[password] = hash_password(password)
    user = User(username=username, role=role, password_hash=_FAST_HASH.get(password) if password else None,
                created_at=created_at or datetime(2016, 1, 1, tzinfo=UTC))
    session.add(user)
    session.flush()
    return user


def make_question(
    session: Session,
    slug: str,
    opens_at: datetime,
    closes_at: datetime,
    kind: str = "binary",
    options: list[str] | None = None,
    ordered: bool = False,
    status: str = "open",
    resolve_by: datetime | None = None,
    tags: list[str] | None = None,
    title: str | None = None,
) -> Question:
    keys = options or (["yes", "no"] if kind == "binary" else ["a", "b", "c"])
    question = Question(
        slug=slug, title=title or f"Question {slug}?", kind=kind, ordered=ordered,
        background="Background.", resolution_criteria="Resolves yes if it happens.", fine_print="",
        source_quote="", source_passage="", opens_at=opens_at, closes_at=closes_at,
        resolve_by=resolve_by or closes_at + timedelta(days=14), status=status,
        created_at=opens_at, updated_at=opens_at,
    )
    question.options = [QuestionOption(key=k, label=k.title(), position=i) for i, k in enumerate(keys)]
    question.tags = [QuestionTag(tag=t) for t in (tags or [])]
    session.add(question)
    session.flush()
    return question


def add_forecast(session: Session, question: Question, user: User, probs: list[float] | float,
                 at: datetime, rationale: str = "") -> Forecast:
    """``probs`` is p(yes) for a binary question, else one probability per option in order."""
    if isinstance(probs, (int, float)):
        probs = [float(probs), 1.0 - float(probs)]
    forecast = Forecast(question_id=question.id, user_id=user.id, created_at=at, rationale=rationale)
    forecast.probabilities = [
        ForecastProbability(option_id=o.id, probability=p) for o, p in zip(question.options, probs, strict=True)
    ]
    session.add(forecast)
    session.flush()
    return forecast
