"""Operations: each API route is declared once with its models, and that declaration both
validates the request and writes the OpenAPI 3.1 document (the JSON schemas come from pydantic,
so no schema is written by hand)."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, Literal

from flask import Blueprint, current_app, request
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from .errors import ApiError, validation_error
from .schemas import ErrorBody

Auth = Literal["optional", "required", "admin"]
REF = "#/components/schemas/{model}"
#: Every operation can answer these; each has the error body.
COMMON_ERRORS = {400: "Bad request (unreadable JSON, a bad CSRF token)", 401: "Missing, unknown, revoked or expired token",
                 405: "Method not allowed", 413: "Request body too large", 415: "Body is not JSON",
                 422: "Invalid input: `field` names it", 429: "Rate limit reached"}
ERROR_TEXT = {403: "Forbidden (admins only)", 404: "Not found", 409: "Conflict with the question's state"}


@dataclass(frozen=True)
class Operation:
    """One route of the API and everything the document says about it."""

    method: str
    rule: str  # Flask rule, e.g. /questions/<slug>
    endpoint: str
    summary: str
    description: str
    tag: str
    auth: Auth
    query: type[BaseModel] | None
    body: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    errors: tuple[int, ...]

    @property
    def path(self) -> str:
        return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", self.rule)


class Api:
    """A blueprint plus the list of its operations."""

    def __init__(self, bp: Blueprint) -> None:
        self.bp = bp
        self.operations: list[Operation] = []

    def route(self, rule: str, method: str = "GET", *, summary: str, tag: str, response: type[BaseModel] | None,
              auth: Auth = "optional", query: type[BaseModel] | None = None, body: type[BaseModel] | None = None,
              status: int = 200, errors: tuple[int, ...] = ()) -> Callable:
        """Register a view taking its path arguments, plus ``query``/``body`` models when declared,
        and returning an instance of ``response`` (or a Flask response for non-JSON routes)."""

        def decorator(view: Callable) -> Callable:
            op = Operation(method=method, rule=rule, endpoint=view.__name__, summary=summary,
                           description=(view.__doc__ or "").strip(), tag=tag, auth=auth, query=query, body=body,
                           response=response, status=status, errors=errors)
            self.operations.append(op)

            @wraps(view)
            def handler(**path_args: Any) -> Any:
                from .auth import require_user

                if any("\x00" in str(value) for value in path_args.values()):
                    raise ApiError("Not found.", 404)  # no slug holds a NUL (PostgreSQL could not even compare it)
                if auth != "optional":
                    require_user(admin=auth == "admin")
                kwargs = dict(path_args)
                if query is not None:
                    kwargs["query"] = parse(query, request.args.to_dict())
                if body is not None:
                    kwargs["body"] = parse(body, read_json())
                result = view(**kwargs)
                if isinstance(result, BaseModel):
                    # pydantic writes the JSON, in the models' field order (the CSV files' column order).
                    return current_app.response_class(result.model_dump_json(), status, mimetype="application/json")
                return result

            self.bp.add_url_rule(rule, view.__name__, handler, methods=[method])
            return view

        return decorator


def read_json() -> Any:
    """The request's JSON body: 415 when it is not declared as JSON, 400 when it does not parse."""
    if not request.is_json:
        raise ApiError("Send the body as JSON with Content-Type: application/json.", 415, code="unsupported_media_type")
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError("The body is not valid JSON.", 400, code="invalid_json")
    return data


def parse(model: type[BaseModel], data: Any) -> Any:
    """Validate ``data`` with ``model``; the first problem becomes a 422 naming its field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


# --- the document ---------------------------------------------------------------------------

def _parameters(op: Operation) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in re.findall(r"{([a-z_]+)}", op.path)
    ]
    if op.query is not None:
        schema = op.query.model_json_schema(ref_template=REF)
        required = set(schema.get("required", []))
        for name, prop in schema["properties"].items():
            description = prop.pop("description", None)
            prop.pop("title", None)
            # A query parameter is absent rather than null: keep only the non-null alternative.
            options = [p for p in prop.pop("anyOf", []) if p.get("type") != "null"]
            if len(options) == 1:
                prop.update(options[0])
            elif options:
                prop["anyOf"] = options
            if prop.get("default", "") is None:
                del prop["default"]
            param = {"name": name, "in": "query", "required": name in required, "schema": prop}
            if description:
                param["description"] = description
            params.append(param)
    return params


def _responses(op: Operation, names: dict) -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorBody")}}}}
    ok: dict[str, Any] = {"description": "Success"}
    if op.response is not None:
        ok["content"] = {"application/json": {"schema": names[(op.response, "serialization")]}}
    responses: dict[str, Any] = {str(op.status): ok}
    codes = dict(COMMON_ERRORS)
    if op.auth == "admin":
        codes[403] = ERROR_TEXT[403]
    for code in op.errors:
        codes[code] = ERROR_TEXT.get(code, COMMON_ERRORS.get(code, "Error"))
    for code in sorted(codes):
        responses[str(code)] = {"description": codes[code], **error}
    return responses


def openapi_document(api: Api, server_url: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``api``'s operations, schemas generated from their models."""
    pairs: set[tuple[type[BaseModel], str]] = {(ErrorBody, "serialization")}
    for op in api.operations:
        if op.body is not None:
            pairs.add((op.body, "validation"))
        if op.response is not None:
            pairs.add((op.response, "serialization"))
    ordered = sorted(pairs, key=lambda p: (p[0].__name__, p[1]))
    names, defs = models_json_schema(ordered, ref_template=REF)  # type: ignore[arg-type]
    paths: dict[str, dict[str, Any]] = {}
    for op in api.operations:
        entry: dict[str, Any] = {
            "operationId": op.endpoint, "summary": op.summary, "tags": [op.tag],
            "parameters": _parameters(op), "responses": _responses(op, names),
            "security": [{"bearerAuth": []}] if op.auth != "optional" else [{}, {"bearerAuth": []}],
        }
        if op.description:
            entry["description"] = op.description
        if op.body is not None:
            entry["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": names[(op.body, "validation")]}}}
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "Forecast tracker API", "version": "1",
                 "description": "Questions, forecasts, scores and resolutions as JSON. Authenticate with a "
                                "personal token: `Authorization: Bearer trk_...` (create one on your account page)."},
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "A personal API token, trk_<id>_<secret>."}},
        },
    }
