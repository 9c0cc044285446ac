"""vkmock's own control routes under ``/_vkmock/`` (described in ``openapi/vkmock-admin.yaml``).

Kept out of the Bifrost spec. Without ``--admin-token`` they answer only loopback clients (403 otherwise);
with it they need ``Authorization: Bearer <token>`` or ``X-Vkmock-Admin-Token: <token>``. ``health`` is open.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, request

from vkmock import fixtures
from vkmock.errors import BadRequest, Forbidden, NotFound, Unauthorized
from vkmock.jsonio import go_dumps
from vkmock.routes import json_response, state
from vkmock.server import is_loopback

bp = Blueprint("admin", __name__, url_prefix="/_vkmock")
OPEN = {"admin.health", "admin.admin_spec"}


@bp.before_request
def guard() -> None:
    if request.endpoint in OPEN:
        return
    token = state().settings.admin_token
    if token:
        given = request.headers.get("X-Vkmock-Admin-Token") or ""
        scheme, _, credential = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() == "bearer" and not given:
            given = credential.strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise Unauthorized("Unauthorized: admin routes need the admin token")
    elif not is_loopback(request.remote_addr or ""):
        raise Forbidden("admin routes answer only loopback clients unless vkmock runs with --admin-token")


@bp.get("/health")
def health() -> Response:
    store = state().store
    return json_response(go_dumps({"status": "ok", "count": store.count(), "version": store.version}))


@bp.get("/openapi.yaml")
def admin_spec() -> Response:
    from vkmock import spec

    return Response(spec.admin_spec_text(), content_type="application/yaml; charset=utf-8")


@bp.post("/reset")
def reset() -> Response:
    st = state()
    st.store.reset(st.world())
    return json_response(go_dumps({"message": "World reset", "count": st.store.count()}))


@bp.post("/fixtures/<name>")
def load_fixture(name: str) -> Response:
    st = state()
    try:
        path = fixtures.named(name, st.fixtures_dir)
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc
    except FileNotFoundError as exc:
        raise NotFound(f"no fixture named {name!r}; available: {', '.join(fixtures.available(st.fixtures_dir)) or 'none'}") from exc
    try:
        world = fixtures.load(path, st.settings.seed, st.settings.now)
    except fixtures.FixtureError as exc:
        raise BadRequest(f"bad fixture: {exc.path or '/'}: {exc.reason}") from exc
    st.store.reset(world)
    return json_response(go_dumps({"message": f"Fixture {name} loaded", "count": st.store.count()}))
