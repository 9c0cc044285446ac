"""vkmock's own control routes under ``/_vkmock/`` (described in ``openapi/vkmock-admin.yaml``).

Kept out of the Bifrost spec. Without ``--admin-token`` they answer only loopback clients (403 otherwise);
with it they need ``Authorization: Bearer <token>`` or ``X-Vkmock-Admin-Token: <token>``. ``health`` is open.

Routes: ``health``, ``reset``, ``fixtures/{name}``, ``requests`` (the journal: GET, DELETE), ``settings``
(latency and faults at run time: GET, PUT) and ``clock`` (the ``--live`` clock: GET, POST).
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Response, request

from vkmock.control import live
from vkmock.control.runtime import world_origin
from vkmock.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from vkmock.jsonio import InvalidJSON, go_dumps, parse_body
from vkmock.serve import fixtures
from vkmock.serve.http import json_response, state
from vkmock.serve.server import is_loopback

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
    st = state()
    store = st.store
    body = {"status": "ok", "bifrost": st.profile.name, "count": store.count(), "version": store.version}
    return json_response(go_dumps(body))


@bp.get("/openapi.yaml")
def admin_spec() -> Response:
    from vkmock import spec

    return Response(spec.admin_spec_text(), content_type="application/yaml; charset=utf-8")


def _json_body(empty: Any = None) -> Any:
    data = request.get_data(cache=False)
    if not data.strip() and empty is not None:
        return empty
    try:
        return parse_body(data)
    except InvalidJSON as exc:
        raise BadRequest(f"Invalid JSON: {exc}") from exc


@bp.post("/reset")
def reset() -> Response:
    st = state()
    try:
        world = st.world()
    except fixtures.FixtureError as exc:
        raise BadRequest(f"bad fixture: {exc}") from exc
    live.reset_world(st, world, world_origin(st.settings))
    return json_response(go_dumps({"message": "World reset", "count": st.store.count()}))


@bp.post("/fixtures/<name>")
def load_fixture(name: str) -> Response:
    st = state()
    try:
        path = fixtures.named(name, st.fixtures_dir, st.profile)
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc
    except FileNotFoundError as exc:
        known = ", ".join(fixtures.available(st.fixtures_dir, st.profile)) or "none"
        raise NotFound(f"no fixture named {name!r}; available: {known}") from exc
    try:
        world = fixtures.load(path, st.settings.seed, st.settings.now, st.profile)
    except fixtures.FixtureError as exc:
        raise BadRequest(f"bad fixture: {exc.path or '/'}: {exc.reason}") from exc
    live.reset_world(st, world, {"fixture": name, "bifrost": st.settings.bifrost})
    return json_response(go_dumps({"message": f"Fixture {name} loaded", "count": st.store.count()}))


@bp.get("/requests")
def list_requests() -> Response:
    return json_response(go_dumps(state().extras["journal"].query(request.args)))


@bp.delete("/requests")
def clear_requests() -> Response:
    cleared = state().extras["journal"].clear()
    return json_response(go_dumps({"message": "Journal cleared", "count": cleared}))


@bp.get("/settings")
def get_settings() -> Response:
    return json_response(go_dumps(state().extras["chaos"].config().public()))


@bp.put("/settings")
def put_settings() -> Response:
    return json_response(go_dumps(state().extras["chaos"].update(_json_body()).public()))


@bp.get("/clock")
def get_clock() -> Response:
    clock = state().extras.get("live")
    if clock is None:
        return json_response(go_dumps({"live": False}))
    return json_response(go_dumps(clock.describe()))


@bp.post("/clock")
def post_clock() -> Response:
    clock = state().extras.get("live")
    if clock is None:
        raise Conflict("the clock moves only in a live world: start vkmock serve with --live")
    return json_response(go_dumps(clock.control(_json_body(empty={}))))
