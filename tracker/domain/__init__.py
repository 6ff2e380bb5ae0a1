"""Use cases. Functions here take a session and a clock; they never touch Flask's request or g.

Every refusal is a :class:`DomainError`: it carries the HTTP status to answer with and, where the
refusal is about one input, the name of that field, so the web layer can put the message beside the
field (or on an error page) without reading the message's text.
"""
from __future__ import annotations


class DomainError(ValueError):
    """A refused operation, with a message fit to show a person.

    ``status`` is the HTTP code to use; ``field`` names the input the problem is about (a form
    field, an option key, 'rationale', 'total'), or is None when it concerns the request as a whole.
    """

    status = 400

    def __init__(self, message: str, status: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        self.field = field

    @property
    def message(self) -> str:
        return str(self)


class NotFound(DomainError):
    status = 404


class Forbidden(DomainError):
    status = 403


class Conflict(DomainError):
    """The operation does not fit the current state (e.g. forecasting on a closed question)."""

    status = 409
