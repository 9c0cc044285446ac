"""``create_app(settings)``: wires the spec, the store, the routes and the error handlers."""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from vkmock import bifrost, spec
from vkmock.bifrost import Profile
from vkmock.bifrost.v1_4 import world as fakes
from vkmock.bifrost.v1_5 import world as world_1_5
from vkmock.clock import utcnow
from vkmock.control import admin, answers, faults, journal, live, prefer, watch
from vkmock.control.runtime import WORLD_KEY, world_origin
from vkmock.errors import ApiError, MethodNotAllowed, NotFound, Unauthorized, envelope_bytes
from vkmock.serve import auth, cors, dashboard, fixtures, groups, ws
from vkmock.serve.routes import QUOTA, bp
from vkmock.serve.store import Store, WorldLike
from vkmock.settings import Settings

log = logging.getLogger("vkmock")
PUBLIC_PREFIXES = ("/openapi.", "/_vkmock/")


@dataclass
class AppState:
    """What the views share: settings, the store and the clock."""

    settings: Settings
    store: Store
    fixtures_dir: Path | None
    profile: Profile = field(default_factory=lambda: bifrost.get(bifrost.DEFAULT))
    now: Callable[[], datetime] = utcnow
    extras: dict[str, Any] = field(default_factory=dict)

    def world(self, fixture: str | None = None) -> WorldLike:
        """The world this server was configured with, or the named/path ``fixture``."""
        s = self.settings
        reference = fixture or s.fixture
        if reference:
            path = fixtures.resolve(reference, self.fixtures_dir, self.profile)
            return fixtures.load(path, s.seed, s.now, self.profile)
        if self.profile.groups:
            return world_1_5.generate_world(s.seed, s.count, s.now)
        return fakes.generate_world(s.seed, s.count, s.now)


def build_store(settings: Settings, fixtures_dir: Path | None) -> Store:
    """Open (and seed when new) the store; a bad fixture raises ``FixtureError`` before anything is served.
    A --db store it seeds records what it was seeded with (``runtime.WORLD_KEY``), for a later start to tell."""
    holder = AppState(settings, None, fixtures_dir, bifrost.get(settings.bifrost))  # type: ignore[arg-type]
    world = holder.world()  # validate the fixture up front, even for a database that is already seeded
    seeded: list[bool] = []

    def seed() -> WorldLike:
        seeded.append(True)
        return world

    store = Store(settings.db, seed).open(reset=settings.reset_on_start)
    if seeded and settings.db:  # a world that outlives this process says what it was made from
        store.set_meta(WORLD_KEY, json.dumps(world_origin(settings)))
    return store


class VkmockFlask(Flask):
    """Flask without the per-call coroutine check: vkmock has no ``async`` views or hooks, and Flask would
    otherwise inspect every hook and view on every request to find out."""

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        return func


def create_app(settings: Settings | None = None, store: Store | None = None) -> Flask:
    settings = settings or Settings.from_env()
    fixtures_dir = Path(settings.fixtures_dir) if settings.fixtures_dir else spec.default_fixtures_dir()
    app = VkmockFlask("vkmock", static_folder=None)  # no /static route: a --dashboard build has its own
    app.url_map.strict_slashes = False
    profile = bifrost.get(settings.bifrost)
    state = AppState(settings, store or build_store(settings, fixtures_dir), fixtures_dir, profile)
    app.extensions["vkmock"] = state
    app.register_blueprint(bp)
    if profile.groups:
        app.register_blueprint(groups.bp)
    app.register_blueprint(admin.bp)
    _install_auth(app, state)
    _install_errors(app, state)
    # scenario control; the order matters: quiet reads are replayed inside the journal (which records them), the
    # journal sees the final answer, a CORS preflight comes before authentication, latency and faults before
    # Prefer's answers, the live clock's flush just before a PUT
    for module in (answers, journal, cors, faults, prefer, live, watch, dashboard, ws):
        module.init_app(app, state)
    return app


def _install_auth(app: Flask, state: AppState) -> None:
    @app.before_request
    def require_credentials() -> None:
        req = request._get_current_object()  # type: ignore[attr-defined]
        if req.method == "OPTIONS" or req.path.startswith(PUBLIC_PREFIXES) or dashboard.public(state, req.environ):
            return
        if state.profile.groups and req.path == QUOTA:
            return  # authenticated by the virtual key itself
        header = req.environ.get("HTTP_AUTHORIZATION")
        if auth.authorized(state.settings, header) or (header is None and dashboard.by_session(state, req.environ)):
            return
        raise Unauthorized()


def _install_errors(app: Flask, state: AppState) -> None:
    def respond(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        response = Response(envelope_bytes(status, message), status=status, content_type="application/json")
        for key, value in (headers or {}).items():
            response.headers[key] = value
        return response

    @app.errorhandler(ApiError)
    def vkmock_error(exc: ApiError) -> Response:
        headers = {"Allow": ", ".join(exc.allowed)} if isinstance(exc, MethodNotAllowed) else None
        return respond(exc.status_for(state.settings.upstream_quirks), exc.message, headers)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        if exc.code is not None and exc.code < 400:
            return exc.get_response()  # redirects are not errors
        if exc.code == 404:
            return vkmock_error(NotFound(f"Route not found: {request.method} {request.path}"))
        if exc.code == 405:
            allowed = sorted(getattr(exc, "valid_methods", None) or [])
            return vkmock_error(MethodNotAllowed(f"Method {request.method} not allowed", allowed=allowed))
        status = exc.code or 500
        too_large = f"Request body too large (limit {state.settings.max_body} bytes)"
        return respond(status, exc.name if status != 413 else too_large)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        # never a traceback to the client; the operator sees it on stderr
        print(f"vkmock: unexpected error on {request.method} {request.path}", file=sys.stderr)
        traceback.print_exception(exc, file=sys.stderr)
        return respond(500, "Internal server error")
