"""What an answer of Bifrost's API must look like, as plain functions of status, headers and body.

Shared by the Schemathesis checks (:mod:`vkmock.check.hooks`), the probes every contract run sends
(:mod:`vkmock.check.probes`) and ``vkmock drift``, so the three judge an answer the same way and say so in the
same words. Only the standard library.
"""

from __future__ import annotations

import json
from typing import Any

ENVELOPE = '{"is_bifrost_error": bool, "status_code": <the HTTP status>, "error": {"message": str}, ...}'


def json_type(value: Any) -> str:
    """The JSON Schema type name of a decoded JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def show(value: Any, limit: int = 60) -> str:
    """A short description of a value for a report: its type, and the value itself when it is a scalar."""
    if isinstance(value, dict | list):
        return json_type(value)
    text = json.dumps(value, ensure_ascii=False)
    return f"{json_type(value)} {text if len(text) <= limit else text[: limit - 3] + '...'}"


def snippet(body: bytes, limit: int = 100) -> str:
    text = body.decode("utf-8", errors="replace").strip().replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_json(body: bytes) -> tuple[bool, Any]:
    """``(True, document)`` when the body is JSON, else ``(False, None)``."""
    try:
        return True, json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False, None


def is_json_type(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() == "application/json"


def is_html(content_type: str, body: bytes) -> bool:
    """An HTML page: the request fell through to a web UI, a proxy or a login page."""
    head = body[:200].lstrip().lower()
    return "html" in content_type.lower() or head.startswith((b"<!doctype", b"<html"))


def envelope_problem(status: int, doc: Any) -> str | None:
    """Why ``doc`` is not Bifrost's error envelope for the HTTP ``status``; ``None`` when it is."""
    if not isinstance(doc, dict):
        return f"the body is a JSON {json_type(doc)}, not an object"
    error = doc.get("error")
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return "`error.message` is missing"
    if not isinstance(doc.get("is_bifrost_error"), bool):
        return "`is_bifrost_error` is missing or not a boolean"
    if doc.get("status_code") != status:
        return f"`status_code` is {doc.get('status_code')!r}, the HTTP status is {status}"
    return None


def error_body_problem(status: int, content_type: str, body: bytes) -> str | None:
    """Why an error answer is not the Bifrost envelope in JSON; ``None`` when it is."""
    ok, doc = parse_json(body)
    if not ok:
        return f"the body is not JSON ({content_type or 'no Content-Type'})"
    return envelope_problem(status, doc)


def envelope_failure(status: int, problem: str, body: bytes) -> str:
    """The message of a failed envelope check (the hooks, the probes and drift say it alike)."""
    return f"error body is not the Bifrost error envelope on {status}: {problem}: {snippet(body)}"


def html_failure(method: str, status: int, content_type: str, body: bytes) -> str:
    return (
        f"HTML instead of JSON: {method} answered {status} with {content_type or 'no Content-Type'} "
        f"({snippet(body, 60)}); the route probably fell through to a web UI or proxy page"
    )
