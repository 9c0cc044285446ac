"""Thin views: parse -> store -> respond. Every body is bytes already serialised the way Bifrost does."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, request

from vkmock import spec
from vkmock.bifrost.v1_4 import rules
from vkmock.errors import UPDATE_PREFIX, NotFound, PayloadTooLarge

bp = Blueprint("bifrost", __name__)
BASE = "/api/governance/virtual-keys"
JSON = "application/json"


def state() -> Any:
    return current_app.extensions["vkmock"]


def json_response(body: bytes, status: int = 200) -> Response:
    return Response(body, status=status, content_type=JSON)


def _message(message: str, doc: str) -> bytes:
    return ('{"message":"' + message + '","virtual_key":' + doc + "}\n").encode()


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


def _from_memory() -> bool:
    # most requests have no query string: skip parsing it (and werkzeug's KeyError for a missing key)
    return "from_memory" in request.environ.get("QUERY_STRING", "") and request.args.get("from_memory") == "true"


@bp.get(BASE)
def list_virtual_keys() -> Response:
    return json_response(state().store.list_bytes(from_memory=_from_memory()))


@bp.post(BASE)
def create_virtual_key() -> Response:
    st = state()
    build = rules.parse_create(read_body(), st.now)
    doc = st.store.create(build, conflict_status=500)
    return json_response(_message("Virtual key created successfully", doc))


@bp.get(BASE + "/<path:vk_id>")
def get_virtual_key(vk_id: str) -> Response:
    doc = state().store.get_doc(vk_id, from_memory=_from_memory())
    if doc is None:
        raise NotFound("Virtual key not found")
    return json_response(('{"virtual_key":' + doc + "}\n").encode())


@bp.put(BASE + "/<path:vk_id>")
def update_virtual_key(vk_id: str) -> Response:
    st = state()
    change = rules.parse_update(read_body(), st.now)
    doc = st.store.update(vk_id, change, conflict_status=400, prefix=UPDATE_PREFIX)
    return json_response(_message("Virtual key updated successfully", doc))


@bp.delete(BASE + "/<path:vk_id>")
def delete_virtual_key(vk_id: str) -> Response:
    state().store.delete(vk_id)
    return json_response(b'{"message":"Virtual key deleted successfully"}\n')


@bp.get("/openapi.yaml")
def openapi_yaml() -> Response:
    return Response(spec.spec_text(), content_type="application/yaml; charset=utf-8")


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return json_response(spec.spec_json_bytes())
