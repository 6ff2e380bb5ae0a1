"""The OpenAPI document (/api/v1/openapi.json) and its reference page (/api/v1/docs), rendered on
the server from the same document: no CDN, no script."""
from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, render_template, request

from . import api
from .spec import openapi_document


def document() -> dict[str, Any]:
    """The document for this app, cached per app (it depends only on the code)."""
    cache = current_app.extensions.setdefault("tracker_openapi", {})
    server = request.host_url.rstrip("/") + (api.bp.url_prefix or "")
    if server not in cache:
        cache[server] = openapi_document(api, server)
    return cache[server]


def type_text(schema: dict[str, Any]) -> str:
    """A schema's type in a few words: 'string', 'array of QuestionSummary', 'integer or null'."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " or ".join(type_text(s) for s in schema["anyOf"])
    if "enum" in schema:
        return "one of " + ", ".join(repr(v) for v in schema["enum"])
    if "const" in schema:
        return repr(schema["const"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {type_text(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"object of {type_text(schema['additionalProperties'])}"
    if schema.get("format"):
        return f"{kind} ({schema['format']})"
    return str(kind)


def limits_text(schema: dict[str, Any]) -> str:
    words = {"minimum": "≥", "maximum": "≤", "minLength": "length ≥", "maxLength": "length ≤"}
    parts = [f"{words[k]} {schema[k]}" for k in words if k in schema]
    if "default" in schema and schema["default"] not in (None, ""):
        parts.append(f"default {schema['default']!r}")
    return ", ".join(parts)


@api.route("/openapi.json", summary="This document", tag="meta", response=None)
def openapi_json():
    """The OpenAPI 3.1 document of this API."""
    return jsonify(document())


@api.route("/docs", summary="API reference page", tag="meta", response=None)
def docs_page():
    """A readable reference of every operation and schema (HTML)."""
    return render_template("api/docs.html", doc=document(), type_text=type_text, limits_text=limits_text)
