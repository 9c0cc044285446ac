"""What every view shares: the app's state, reading a bounded body, and sending bytes as JSON."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, g, request

from vkmock.errors import PayloadTooLarge

JSON = "application/json"


def state() -> Any:
    """The running app's ``AppState`` (settings, profile, store, clock)."""
    return current_app.extensions["vkmock"]


def store() -> Any:
    """The store this request reads and writes: the app's, or the one a preference answers from
    (``Prefer: scenario=NAME`` reads a fixture's world; a dry run rolls its writes back)."""
    return g.get("vkmock_store") or current_app.extensions["vkmock"].store


class DryRun:
    """A store whose writes are answered and rolled back (``transact`` runs as ``dry_run``)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def transact(self, work: Any) -> Any:
        return self._inner.dry_run(work)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def json_response(body: bytes, status: int = 200) -> Response:
    return Response(body, status=status, content_type=JSON)


def read_body() -> bytes:
    """The request body, refused with 413 before it is read whole when it is over ``--max-body``."""
    limit = state().settings.max_body
    too_large = PayloadTooLarge(f"Request body too large (limit {limit} bytes)")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    data = request.stream.read(limit + 1)
    if len(data) > limit:
        raise too_large
    return data


def from_memory() -> bool:
    """``from_memory=true`` exactly (upstream compares the raw string)."""
    # most requests have no query string: skip parsing it (and werkzeug's KeyError for a missing key)
    return "from_memory" in request.environ.get("QUERY_STRING", "") and request.args.get("from_memory") == "true"
