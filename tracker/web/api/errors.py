"""The API's error body, ``{"error": {"code", "message", "field"}}``, for every failure under /api."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from pydantic import ValidationError

from ...domain import DomainError

#: The machine word of each status (an error may carry a more precise one).
CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type", 422: "validation_error",
    429: "rate_limited", 500: "internal_error",
}


class ApiError(DomainError):
    """A refusal made by the API layer itself (bad JSON, no token), with its machine word."""

    def __init__(self, message: str, status: int, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message, status=status, field=field)
        self.code = code or CODES.get(status, "error")


def validation_error(exc: ValidationError) -> ApiError:
    """pydantic's first complaint as a 422 naming the field ('probabilities.yes', 'limit')."""
    first = exc.errors(include_url=False)[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    message = first["msg"]
    if field:
        message = f"{field}: {message}"
    return ApiError(message, 422, code="validation_error", field=field)


def api_error_status(error: DomainError) -> tuple[int, str]:
    """The status and code for a refusal: the domain's plain 400 (bad input) is a 422 here."""
    if isinstance(error, ApiError):
        return error.status, error.code
    status = 422 if error.status == 400 else error.status
    return status, CODES.get(status, "error")


def error_response(status: int, message: str, code: str | None = None, field: str | None = None,
                   headers: dict[str, Any] | None = None) -> Response:
    """The JSON error response."""
    response = jsonify({"error": {"code": code or CODES.get(status, "error"), "message": message, "field": field}})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
