"""The API's request and response models (pydantic v2): the one source of the validation the
endpoints do and of the schemas in the OpenAPI document (see :mod:`.spec`)."""
from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: The question list's status filters (the page's menu: tracker.domain.questions.STATUS_FILTERS).
StatusFilter = Literal["open", "closing", "awaiting", "resolved", "annulled", "all"]
Status = Literal["draft", "open", "closed", "resolved", "annulled"]
MAX_LIMIT = 200


def _no_nul(value: object) -> object:
    # PostgreSQL text cannot hold NUL characters: refuse them as input instead of failing later.
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


class Input(BaseModel):
    """Request models refuse unknown fields, so a typo is an error rather than silently ignored."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    _text = field_validator("*")(_no_nul)


class Query(BaseModel):
    """Query-string models ignore parameters they do not know (links may carry extra ones)."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)
    _text = field_validator("*")(_no_nul)


# --- errors ---------------------------------------------------------------------------------

class ErrorDetail(BaseModel):
    code: str = Field(description="A short machine word: not_found, conflict, validation_error, rate_limited, ...")
    message: str = Field(description="What went wrong, for a person.")
    field: str | None = Field(default=None, description="The input the problem is about, when there is one.")


class ErrorBody(BaseModel):
    error: ErrorDetail


# --- questions ------------------------------------------------------------------------------

class QuestionListQuery(Query):
    status: StatusFilter = Field("open", description="Which questions, as the list page's menu.")
    tag: str = Field("", max_length=64, description="Only questions with this tag.")
    text: str = Field("", max_length=200, description="Words in the title or background.")
    limit: int = Field(50, ge=1, le=MAX_LIMIT, description=f"Page size, at most {MAX_LIMIT}.")
    cursor: str | None = Field(None, max_length=200, description="next_cursor of the previous page.")


class OptionOut(BaseModel):
    key: str
    label: str


class CrowdOut(BaseModel):
    """The crowd forecast: the median of each forecaster's latest forecast (docs/scoring.md)."""

    probabilities: dict[str, float] = Field(description="Option key -> probability.")
    forecasters: int


class OutcomeOut(BaseModel):
    """The standing resolution of a decided question."""

    action: Literal["resolve", "annul"]
    outcome: str | None = Field(description="The winning option's key (null when annulled).")
    label: str | None
    occurred_at: datetime | None = Field(description="Set when resolved before the scheduled close.")
    note: str
    decided_at: datetime
    decided_by: str


class QuestionSummary(BaseModel):
    slug: str
    title: str
    kind: Literal["binary", "multiple_choice"]
    status: Status = Field(description="As displayed: an open question past its close reads 'closed'.")
    tags: list[str]
    opens_at: datetime
    closes_at: datetime
    resolve_by: datetime
    options: list[OptionOut]
    crowd: CrowdOut | None = Field(description="Null before any forecast, or while it may not be shown.")
    url: str


class QuestionDetail(QuestionSummary):
    background: str
    resolution_criteria: str
    fine_print: str
    can_forecast: bool
    outcome: OutcomeOut | None


class QuestionPage(BaseModel):
    items: list[QuestionSummary]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last.")


# --- forecasts ------------------------------------------------------------------------------

class ForecastIn(Input):
    probabilities: dict[str, float] = Field(
        description="Option key -> probability. A binary question takes one key (the other is its complement).",
        examples=[{"yes": 0.7}],
    )
    rationale: str = Field("", max_length=5000)


class ForecastOut(BaseModel):
    id: int
    question: str = Field(description="The question's slug.")
    created_at: datetime = Field(description="The server's time of the forecast.")
    probabilities: dict[str, float]
    rationale: str


class ForecastListQuery(Query):
    question: str | None = Field(None, max_length=120, description="Only forecasts on this question (slug).")
    limit: int = Field(100, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(None, max_length=200)


class ForecastPage(BaseModel):
    items: list[ForecastOut]
    next_cursor: str | None


# --- scores ---------------------------------------------------------------------------------

class ScoreboardQuery(Query):
    tag: str | None = Field(None, max_length=64)
    question: str | None = Field(None, max_length=120, description="One question's board (slug).")
    since: date | None = Field(None, description="Questions closing on or after this day (UTC).")
    until: date | None = Field(None, description="Questions closing on or before this day (UTC).")
    sort: Literal["rank", "forecaster", "questions", "forecasts", "mean_brier", "mean_relative_brier",
                  "mean_log_score", "calibration", "coverage"] = "rank"
    order: Literal["asc", "desc"] | None = None
    min_questions: int = Field(0, ge=0, le=100000)


class ScoreboardRowOut(BaseModel):
    """The columns of scoreboard.csv (docs/csv.md)."""

    rank: int
    forecaster: str
    questions: int
    forecasts: int
    mean_brier: float | None
    mean_relative_brier: float | None
    mean_log_score: float | None
    calibration: float | None
    coverage: float | None


class ScoreboardOut(BaseModel):
    covers: str = Field(description="Which questions the board covers, in words.")
    rows: list[ScoreboardRowOut]


class ScoreOut(BaseModel):
    """The columns of scores.csv (docs/csv.md): one forecaster's stored score on one question."""

    question: str
    forecaster: str
    forecasts: int
    first_forecast_at: datetime | None
    last_forecast_at: datetime | None
    brier: float | None
    relative_brier: float | None
    log_score: float | None
    coverage: float | None
    active_days: int
    baseline: float | None


class ScoreList(BaseModel):
    items: list[ScoreOut]


# --- me -------------------------------------------------------------------------------------

class MeOut(BaseModel):
    username: str
    role: Literal["forecaster", "admin"]
    created_at: datetime
    auth: Literal["token", "session"] = Field(description="How this request was authenticated.")
    token_name: str | None = None


# --- admin ----------------------------------------------------------------------------------

class ResolveIn(Input):
    outcome: str = Field(min_length=1, max_length=64, description="The winning option's key.")
    occurred_at: datetime | None = Field(None, description="Required before the scheduled close.")
    note: str = Field("", max_length=5000)
    correction: bool = Field(False, description="Must be true to replace a standing resolution or annulment.")

    @field_validator("occurred_at")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        """Naive times are UTC; an offset that pushes the time outside the calendar is refused."""
        if value is None or value.tzinfo is None:
            return value
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("is outside the range of dates") from None


class AnnulIn(Input):
    reason: str = Field(min_length=1, max_length=5000)
    correction: bool = Field(False, description="Must be true to annul a resolved question.")


class DecisionOut(BaseModel):
    summary: str
    correction: bool
    outcome: OutcomeOut
    previous: OutcomeOut | None
    question: QuestionDetail


# --- comments -------------------------------------------------------------------------------

class CommentListQuery(Query):
    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(None, max_length=200)


class CommentHiddenOut(BaseModel):
    at: datetime
    by: str = Field(description="The admin who hid the comment.")
    reason: str


class CommentOut(BaseModel):
    id: int
    author: str
    created_at: datetime
    body: str | None = Field(description="The Markdown source as written; null when hidden (admins still get it).")
    html: str | None = Field(description="The body rendered and sanitised as the question page shows it; null when hidden "
                                          "(admins still get it).")
    hidden: CommentHiddenOut | None = Field(description="Set when an admin hid the comment.")


class CommentPage(BaseModel):
    items: list[CommentOut]
    total: int = Field(description="Comments on the question, hidden ones included.")
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last.")


class AuditEntryOut(BaseModel):
    at: datetime
    kind: Literal["resolve", "correction", "annul", "status", "comment_hidden"]
    actor: str
    summary: str
    note: str
    occurred_at: datetime | None


class AuditLog(BaseModel):
    items: list[AuditEntryOut]


class WaitingOut(BaseModel):
    question: QuestionSummary
    waited_seconds: float
    overdue: bool
    overdue_seconds: float
    prompt_step: int | None = Field(description="Schedule step of the latest prompt (0 at the close, 1 at resolve_by, ...).")
    reminder_number: int | None = Field(
        description="How many prompts were recorded about it: the number the inbox shows for the latest one.")


class ResolutionQueueOut(BaseModel):
    waiting: list[WaitingOut]
    open: list[str] = Field(description="Slugs of the questions still open.")
    recent: list[str] = Field(description="Slugs of the questions decided lately.")
