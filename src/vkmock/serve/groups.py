"""Bifrost 1.5's teams and customers routes, and the virtual-key quota route. Thin: parse, store, respond."""

from __future__ import annotations

from flask import Blueprint, Response, request

from vkmock.bifrost.v1_5 import groups, views
from vkmock.errors import MethodNotAllowed
from vkmock.jsonio import go_dumps_str
from vkmock.serve.http import json_response, read_body, state, store

bp = Blueprint("bifrost_groups", __name__)
TEAMS = "/api/governance/teams"
CUSTOMERS = "/api/governance/customers"
QUOTA = "/api/governance/virtual-keys/quota"


def _answer(message: str | None, key: str, record: dict | None) -> Response:
    """``{"message": ..., "team": ...}`` with the keys sorted, as Go encodes a map."""
    parts = {}
    if message is not None:
        parts["message"] = '"' + message + '"'
    if record is not None:
        parts[key] = go_dumps_str(record)
    return json_response(("{" + ",".join(f'"{k}":{parts[k]}' for k in sorted(parts)) + "}\n").encode())


QUOTA_METHODS = "GET, HEAD, OPTIONS"


@bp.route(QUOTA, methods=["POST", "PUT", "DELETE", "PATCH", "TRACE", "OPTIONS"])
def quota_other_methods() -> Response:
    """``/virtual-keys/quota`` answers only the methods the spec gives it (its static segment wins over
    ``{vk_id}``, as upstream's router's does): ``OPTIONS`` says so, anything else is a 405."""
    if request.method == "OPTIONS":
        return Response(status=200, headers={"Allow": QUOTA_METHODS})
    raise MethodNotAllowed(f"Method {request.method} not allowed", allowed=QUOTA_METHODS.split(", "))


@bp.get(TEAMS)
def list_teams() -> Response:
    return json_response(views.list_teams(store(), request.args))


@bp.post(TEAMS)
def create_team() -> Response:
    st = state()
    team = store().transact(groups.create_team(read_body(), st.now))
    return _answer("Team created successfully", "team", views.team_served(store(), team))


@bp.get(TEAMS + "/<path:team_id>")
def get_team(team_id: str) -> Response:
    return _answer(None, "team", views.get_team(store(), team_id))


@bp.put(TEAMS + "/<path:team_id>")
def update_team(team_id: str) -> Response:
    st = state()
    team = store().transact(groups.update_team(team_id, read_body(), st.now))
    return _answer("Team updated successfully", "team", views.team_served(store(), team))


@bp.delete(TEAMS + "/<path:team_id>")
def delete_team(team_id: str) -> Response:
    store().transact(groups.delete_team(team_id))
    return _answer("Team deleted successfully", "team", None)


@bp.get(CUSTOMERS)
def list_customers() -> Response:
    return json_response(views.list_customers(store(), request.args))


@bp.post(CUSTOMERS)
def create_customer() -> Response:
    st = state()
    customer = store().transact(groups.create_customer(read_body(), st.now))
    return _answer("Customer created successfully", "customer", views.customer_served(store(), customer))


@bp.get(CUSTOMERS + "/<path:customer_id>")
def get_customer(customer_id: str) -> Response:
    return _answer(None, "customer", views.get_customer(store(), customer_id))


@bp.put(CUSTOMERS + "/<path:customer_id>")
def update_customer(customer_id: str) -> Response:
    st = state()
    customer = store().transact(groups.update_customer(customer_id, read_body(), st.now))
    return _answer("Customer updated successfully", "customer", views.customer_served(store(), customer))


@bp.delete(CUSTOMERS + "/<path:customer_id>")
def delete_customer(customer_id: str) -> Response:
    store().transact(groups.delete_customer(customer_id))
    return _answer("Customer deleted successfully", "customer", None)
