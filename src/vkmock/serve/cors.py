"""CORS for browser frontends, as upstream's middleware does it: localhost origins always, others on request.

Allowed: ``http(s)://localhost[:port]``, ``http(s)://127.0.0.1[:port]``, ``http(s)://0.0.0.0[:port]`` and
``http(s)://[::1][:port]``, plus
every ``--cors-origin`` (an exact origin such as ``https://app.example.com``, a glob such as
``https://*.example.com`` or ``http://192.168.1.5:*``, or ``*`` for any origin).

A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) from an allowed origin gets
204 with ``Access-Control-Allow-Origin`` (the origin itself), ``-Allow-Methods``, ``-Allow-Headers``
(upstream's ``Content-Type, Authorization, X-Requested-With, X-Stainless-Timeout, X-Api-Key,
X-OpenAI-Agents-SDK`` plus ``Prefer`` and vkmock's admin-token header), ``-Allow-Credentials`` (as upstream:
not for an origin that only ``*`` lets in; localhost origins and exact entries always get it), ``-Max-Age``
(a day) and, when asked,
``-Allow-Private-Network``; from any other origin it gets 403, as upstream answers. Actual requests from an
allowed origin carry ``Access-Control-Allow-Origin`` and expose ``Preference-Applied``, ``X-Vkmock-Fault`` and
``Retry-After``; from other origins they carry no CORS headers, so the browser withholds the answer.
Preflights need no credentials and never meet latency or faults.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from flask import Flask, Response, request

from vkmock.errors import Forbidden
from vkmock.settings import Settings

ALLOW_METHODS = "GET, POST, PUT, DELETE, PATCH, OPTIONS, HEAD"
ALLOW_HEADERS = (
    "Content-Type, Authorization, X-Requested-With, X-Stainless-Timeout, X-Api-Key, X-OpenAI-Agents-SDK, "
    "Prefer, X-Vkmock-Admin-Token"
)
EXPOSE_HEADERS = "Preference-Applied, X-Vkmock-Fault, Retry-After"
MAX_AGE = "86400"
LOCAL = re.compile(r"^https?://(localhost|127\.0\.0\.1|0\.0\.0\.0|\[::1\])(:[0-9]{1,5})?$", re.IGNORECASE)
#: the origins ``LOCAL`` matches, as the 403 message lists them
LOCAL_NAMES = (
    "http(s)://localhost[:port]",
    "http(s)://127.0.0.1[:port]",
    "http(s)://0.0.0.0[:port]",
    "http(s)://[::1][:port]",
)
ORIGIN_SHAPE = re.compile(r"^(\*|[a-z][a-z0-9+.-]*://[^/\s?#]+)$", re.IGNORECASE)


def validate(settings: Settings) -> None:
    for origin in settings.cors_origins:
        if not ORIGIN_SHAPE.match(origin.strip()):
            raise ValueError(
                f"--cors-origin {origin!r}: write an origin such as https://app.example.com "
                "(scheme and host, no path), a glob such as https://*.example.com, or *"
            )


class Cors:
    def __init__(self, origins: tuple[str, ...]) -> None:
        self.origins = tuple(o.strip().rstrip("/").lower() for o in origins if o.strip())

    def allowed(self, origin: str) -> bool:
        origin = origin.strip().lower()
        if LOCAL.match(origin):
            return True
        return any(pattern == "*" or fnmatch.fnmatchcase(origin, pattern) for pattern in self.origins)

    def credentialed(self, origin: str) -> bool:
        """Whether the answer to an allowed ``origin`` may carry ``Access-Control-Allow-Credentials``: as
        upstream, always unless ``*`` is configured; with ``*``, only localhost and origins listed exactly."""
        if "*" not in self.origins:
            return True
        origin = origin.strip().lower()
        return bool(LOCAL.match(origin)) or origin in self.origins

    def preflight(self) -> Response | None:
        if request.method != "OPTIONS":
            return None
        origin = request.headers.get("Origin")
        if (
            not origin
            or "Access-Control-Request-Method" not in request.headers
        ):
            return None
        if not self.allowed(origin):
            allowed = ", ".join([*LOCAL_NAMES, *self.origins])
            raise Forbidden(
                f"CORS: origin {origin} is not allowed (allowed: {allowed}; add it with --cors-origin)"
            )
        response = Response(status=204)
        headers = response.headers
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
        headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        if self.credentialed(origin):
            headers["Access-Control-Allow-Credentials"] = "true"
        headers["Access-Control-Max-Age"] = MAX_AGE
        headers["Vary"] = "Origin"
        if request.headers.get("Access-Control-Request-Private-Network", "").lower() == "true":
            headers["Access-Control-Allow-Private-Network"] = "true"
        return response

    def decorate(self, response: Response) -> Response:
        origin = request.environ.get("HTTP_ORIGIN")
        # a scan, not headers.get: a missing key costs werkzeug an exception, and most answers have no Vary
        vary = next((value for name, value in response.headers.items() if name.lower() == "vary"), None)
        if not vary:
            response.headers["Vary"] = "Origin"
        elif "origin" not in vary.lower():
            response.headers["Vary"] = vary + ", Origin"
        if origin and self.allowed(origin) and "Access-Control-Allow-Origin" not in response.headers:
            response.headers["Access-Control-Allow-Origin"] = origin
            if self.credentialed(origin):
                response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
        return response


def init_app(app: Flask, state: Any) -> None:
    cors = Cors(state.settings.cors_origins)
    state.extras["cors"] = cors
    # a preflight is answered before authentication and before any other hook
    app.before_request_funcs.setdefault(None, []).insert(0, cors.preflight)
    app.after_request(cors.decorate)
