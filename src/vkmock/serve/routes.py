"""Thin views of the virtual keys: parse -> store -> respond, the rules of the active Bifrost profile.

Every body is bytes already serialised the way Bifrost does."""

from __future__ import annotations

from flask import Blueprint, Response, request

from vkmock import spec
from vkmock.bifrost.v1_4 import rules as rules_1_4
from vkmock.bifrost.v1_5 import keys as keys_1_5
from vkmock.bifrost.v1_5 import views as views_1_5
from vkmock.errors import UPDATE_PREFIX, NotFound, Unauthorized
from vkmock.jsonio import go_dumps
from vkmock.serve.http import JSON, from_memory, json_response, read_body, state, store

__all__ = ["JSON", "bp", "json_response", "read_body", "state"]

bp = Blueprint("bifrost", __name__)
BASE = "/api/governance/virtual-keys"
QUOTA = BASE + "/quota"
MISSING_VK = (
    "Missing virtual key. Provide it via x-bf-vk header, Authorization Bearer, x-api-key, or x-goog-api-key header."
)


def _message(message: str, doc: str) -> bytes:
    return ('{"message":"' + message + '","virtual_key":' + doc + "}\n").encode()


@bp.get(BASE)
def list_virtual_keys() -> Response:
    st = state()
    if st.profile.groups:
        return json_response(views_1_5.list_keys(store(), request.args))
    return json_response(st.store.list_bytes(from_memory=from_memory()))


@bp.post(BASE)
def create_virtual_key() -> Response:
    st = state()
    if st.profile.groups:
        doc = store().transact(keys_1_5.create(read_body(), st.now))
        return json_response(_message("Virtual key created successfully", views_1_5.key_detail(store(), doc)))
    build = rules_1_4.parse_create(read_body(), st.now)
    doc = st.store.create(build, conflict_status=500)
    return json_response(_message("Virtual key created successfully", doc))


@bp.get(QUOTA, provide_automatic_options=False)  # OPTIONS: serve.groups in 1.5, the key route in 1.4
def virtual_key_quota() -> Response:
    """Bifrost 1.5: a key's own budgets and limit, authenticated by the key itself (no management auth)."""
    st = state()
    if not st.profile.groups:
        return get_virtual_key("quota")
    value = _virtual_key_credential()
    if value is None:
        raise Unauthorized(MISSING_VK)
    record = views_1_5.find_by_value(store(), value)
    if record is None:
        raise Unauthorized("Virtual key not found")
    body = {
        "budgets": record.get("budgets") or [],
        "is_active": record.get("is_active"),
        "rate_limit": record.get("rate_limit"),
        "virtual_key_name": record.get("name"),
    }
    return json_response(go_dumps(body))


def _virtual_key_credential() -> str | None:
    """``x-bf-vk`` as it is; otherwise a ``sk-bf-`` value from ``Authorization: Bearer``, ``x-api-key`` or
    ``x-goog-api-key`` (upstream's order)."""
    headers = request.headers
    direct = headers.get("x-bf-vk", "")
    if direct:
        return direct
    authorization = headers.get("Authorization", "")
    scheme, _, token = authorization.partition(" ")
    candidates = [token.strip() if scheme.lower() == "bearer" else "", headers.get("x-api-key", ""),
                  headers.get("x-goog-api-key", "")]
    return next((c for c in candidates if c.lower().startswith("sk-bf-")), None)


@bp.get(BASE + "/<path:vk_id>")
def get_virtual_key(vk_id: str) -> Response:
    st = state()
    if st.profile.groups:
        return json_response(views_1_5.get_key(store(), vk_id, from_memory()))
    doc = st.store.get_doc(vk_id, from_memory=from_memory())
    if doc is None:
        raise NotFound("Virtual key not found")
    return json_response(('{"virtual_key":' + doc + "}\n").encode())


@bp.put(BASE + "/<path:vk_id>")
def update_virtual_key(vk_id: str) -> Response:
    st = state()
    if st.profile.groups:
        doc = store().transact(keys_1_5.update(vk_id, read_body(), st.now))
        return json_response(_message("Virtual key updated successfully", views_1_5.key_detail(store(), doc)))
    change = rules_1_4.parse_update(read_body(), st.now)
    doc = st.store.update(vk_id, change, conflict_status=400, prefix=UPDATE_PREFIX)
    return json_response(_message("Virtual key updated successfully", doc))


@bp.delete(BASE + "/<path:vk_id>")
def delete_virtual_key(vk_id: str) -> Response:
    if state().profile.groups:
        store().transact(keys_1_5.delete(vk_id))
    else:
        state().store.delete(vk_id)
    return json_response(b'{"message":"Virtual key deleted successfully"}\n')


@bp.get("/openapi.yaml")
def openapi_yaml() -> Response:
    return Response(spec.spec_text(state().profile.spec_name), content_type="application/yaml; charset=utf-8")


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return json_response(spec.spec_json_bytes(state().profile.spec_name))
