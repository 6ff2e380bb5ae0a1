"""Use cases. Functions here take a session and a clock; they never touch Flask's request or g."""


class DomainError(ValueError):
    """A refused operation, with a message fit to show a person. ``status`` is the HTTP code to use."""

    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    """The operation does not fit the current state (e.g. forecasting on a closed question)."""

    status = 409
