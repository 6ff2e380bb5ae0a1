"""The data model. Import models from here so every table is registered on ``Base.metadata``."""
from .aggregates import BIN_COLUMNS, CrowdDay, ForecasterStat, QuestionCrowd, StandingForecast
from .base import Base, UTCDateTime
from .caches import PlotCache
from .comments import Comment
from .forecasts import Forecast, ForecastProbability
from .notifications import NOTIFICATION_KINDS, Notification, NotificationOptOut
from .prompts import Prompt
from .questions import CLOSED_STATUSES, FINAL_STATUSES, KINDS, STATUSES, Question, QuestionOption, QuestionTag
from .resolutions import ResolutionEvent, StatusChange
from .scores import QuestionScore, Score
from .tokens import ApiToken
from .users import ROLES, User

__all__ = [
    "BIN_COLUMNS", "CrowdDay", "ForecasterStat", "QuestionCrowd", "StandingForecast",
    "Base", "UTCDateTime", "Comment", "PlotCache",
    "Forecast", "ForecastProbability", "Prompt", "KINDS", "STATUSES", "FINAL_STATUSES", "CLOSED_STATUSES",
    "Question", "QuestionOption", "QuestionTag", "ResolutionEvent", "StatusChange",
    "QuestionScore", "Score", "ROLES", "User", "ApiToken",
    "NOTIFICATION_KINDS", "Notification", "NotificationOptOut",
]
