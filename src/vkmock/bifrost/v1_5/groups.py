"""Bifrost 1.5's teams and customers: create, update, delete, with upstream's messages and statuses.

Upstream answers most of their failures inside the transaction with one generic 500 (``failed to create team``,
``Failed to update customer``); vkmock keeps those messages and answers 400 when the body alone is at fault,
upstream's 500 under ``--upstream-quirks``. Keys embed their team and customer, so a write to either rewrites
the keys that embed it in the same transaction; a delete detaches them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from vkmock.bifrost.base import decode
from vkmock.bifrost.v1_5 import shapes
from vkmock.bifrost.v1_5.common import (
    Record,
    attach,
    new_budget,
    new_rate_limit,
    ordered,
    overwrite_rate_limit,
    precheck_budgets,
    reconcile_budgets,
    schema_net,
    validate_budget,
    validate_new_rate_limit,
)
from vkmock.bifrost.v1_5.keys import Records
from vkmock.bifrost.v1_5.models import BudgetRequest, CustomerRequest, TeamRequest
from vkmock.clock import format_ts
from vkmock.errors import ApiError, BadRequest, Conflict, NotFound

Now = Callable[[], datetime]
TEAM_BUDGET_CHECKS = (
    "budget max_limit cannot be negative", "invalid reset duration format", "duplicate reset_duration in budgets"
)


def _generic(exc: ApiError, message: str) -> ApiError:
    """Upstream's one message for every failure inside a team or customer transaction (500 upstream; the body
    is at fault, so 400 here)."""
    return exc if exc.status >= 500 else BadRequest(message, upstream_status=500)


# ---- keys follow their team and customer -------------------------------------------------------------------


def refresh_keys(tx: Records, *, team_id: str | None = None, customer_id: str | None = None) -> None:
    """Re-embed the team and customer of every key that shows ``team_id`` or ``customer_id``."""
    keys = tx.keys_of(team_id=team_id) if team_id is not None else tx.keys_of(customer_id=customer_id)
    if customer_id is not None:  # keys whose team belongs to the customer embed it too
        for candidate in tx.all("team"):
            if candidate.get("customer_id") == customer_id:
                keys += tx.keys_of(team_id=candidate["id"])
    for key in {k["id"]: k for k in keys}.values():
        team = tx.get("team", key["team_id"]) if key.get("team_id") is not None else None
        team_customer = tx.get("customer", team["customer_id"]) if team and team.get("customer_id") else None
        customer = tx.get("customer", key["customer_id"]) if key.get("customer_id") is not None else None
        updated = dict(key)
        shapes.set_owner(updated, team, team_customer, customer)
        updated = shapes.order_key(updated)
        if updated != key:
            tx.put("virtual_key", updated, new=False)


def _detach(tx: Records, field: str, value: str) -> None:
    """Keys (and, for a customer, teams) lose their link to a deleted team or customer."""
    embedded = "team" if field == "team_id" else "customer"
    keys = tx.keys_of(team_id=value) if field == "team_id" else tx.keys_of(customer_id=value)
    for key in keys:
        detached = {k: v for k, v in key.items() if k not in (field, embedded)}
        tx.put("virtual_key", shapes.order_key(detached), new=False)
    if field == "customer_id":
        for team in tx.all("team"):
            if team.get("customer_id") == value:
                tx.put("team", {k: v for k, v in team.items() if k != "customer_id"}, new=False)
                refresh_keys(tx, team_id=team["id"])


# ---- teams ------------------------------------------------------------------------------------------------


def _team_budgets(requests: list[BudgetRequest], moment: datetime, team_id: str) -> list[Record]:
    precheck_budgets(requests, *TEAM_BUDGET_CHECKS)
    created = []
    for request in requests:
        validate_budget(request)
        created.append(new_budget(request, moment, {"team_id": team_id}, bool(request.calendar_aligned)))
    return created


def create_team(body: bytes, now: Now) -> Callable[[Records], Record]:
    request, raw = decode(body, TeamRequest)
    if not request.name:
        raise BadRequest("Team name is required")
    if request.rate_limit is not None:
        validate_new_rate_limit(request.rate_limit, prefix="Invalid rate limit: ")
    name = request.name

    def work(tx: Records) -> Record:
        moment = now()
        stamp = format_ts(moment)
        team_id = str(uuid.uuid4())
        try:
            budgets = _team_budgets(request.budgets or [], moment, team_id)
        except ApiError as exc:
            if exc.upstream_status is None or exc.upstream_status == 400:
                raise
            raise _generic(exc, "failed to create team") from exc
        if request.customer_id is not None and tx.get("customer", request.customer_id) is None:
            # the database's foreign key ("" included), answered with the handler's generic message
            raise Conflict("failed to create team", upstream_status=500)
        team: Record = {"id": team_id, "name": name}
        if request.customer_id is not None:
            team["customer_id"] = request.customer_id
        limit = new_rate_limit(request.rate_limit, moment) if request.rate_limit is not None else None
        attach(team, "rate_limit", limit)
        if budgets:
            team["budgets"] = budgets
        team.update(profile=None, config=None, claims=None, config_hash="", created_at=stamp, updated_at=stamp)
        team = ordered(team, shapes.TEAM_ORDER)
        schema_net("CreateTeamRequest", raw)
        tx.put("team", team, new=True)
        return team

    return work


def update_team(team_id: str, body: bytes, now: Now) -> Callable[[Records], Record]:
    request, raw = decode(body, TeamRequest)

    def work(tx: Records) -> Record:
        current = tx.get("team", team_id)
        if current is None:
            raise NotFound("Team not found")
        moment = now()
        team = dict(current)
        if request.name is not None:
            team["name"] = request.name
        # upstream saves the team with its preloaded customer, which writes the old link back: a team that has a
        # customer keeps it ("" and another id are ignored); one without can be attached to an existing customer
        if request.customer_id is not None and not current.get("customer_id"):
            if tx.get("customer", request.customer_id) is None:
                raise Conflict("Failed to update team", upstream_status=500)
            team["customer_id"] = request.customer_id
        if request.budgets is not None:
            precheck_budgets(request.budgets, *TEAM_BUDGET_CHECKS)
            try:
                budgets = reconcile_budgets(
                    list(current.get("budgets") or []), request.budgets, moment, {"team_id": team_id}, False,
                    team=True,
                )
            except ApiError as exc:
                raise _generic(exc, "Failed to update team") from exc
            team.pop("budgets", None)
            if budgets:
                team["budgets"] = budgets
        if request.rate_limit is not None:
            try:
                attach(team, "rate_limit", overwrite_rate_limit(current.get("rate_limit"), request.rate_limit, moment))
            except ApiError as exc:
                raise _generic(exc, "Failed to update team") from exc
        team["updated_at"] = format_ts(moment)
        team = ordered(team, shapes.TEAM_ORDER)
        schema_net("UpdateTeamRequest", raw)
        tx.put("team", team, new=False)
        refresh_keys(tx, team_id=team_id)
        return team

    return work


def delete_team(team_id: str) -> Callable[[Records], None]:
    def work(tx: Records) -> None:
        if tx.get("team", team_id) is None:
            raise NotFound("Team not found")
        tx.delete("team", team_id)
        _detach(tx, "team_id", team_id)

    return work


# ---- customers --------------------------------------------------------------------------------------------


def create_customer(body: bytes, now: Now) -> Callable[[Records], Record]:
    request, raw = decode(body, CustomerRequest)
    if not request.name:
        raise BadRequest("Customer name is required")
    if request.rate_limit is not None:
        validate_new_rate_limit(request.rate_limit, prefix="Invalid rate limit: ")
    name = request.name

    def work(tx: Records) -> Record:
        moment = now()
        stamp = format_ts(moment)
        customer_id = str(uuid.uuid4())
        customer: Record = {"id": customer_id, "name": name}
        if request.budget is not None:
            try:
                validate_budget(request.budget)
            except ApiError as exc:
                raise _generic(exc, "failed to create customer") from exc
            attach(customer, "budget", new_budget(request.budget, moment, {}, False))
        if request.rate_limit is not None:
            attach(customer, "rate_limit", new_rate_limit(request.rate_limit, moment))
        customer.update(config_hash="", created_at=stamp, updated_at=stamp)
        customer = ordered(customer, shapes.CUSTOMER_ORDER)
        schema_net("CreateCustomerRequest", raw)
        tx.put("customer", customer, new=True)
        return customer

    return work


def _patch_customer_budget(current: Record | None, request: BudgetRequest, moment: datetime) -> Record | None:
    if request.max_limit is None and request.reset_duration is None:
        return None  # `budget: {}` removes it
    if current is None:
        if request.max_limit is None or request.reset_duration is None:
            raise BadRequest("both max_limit and reset_duration are required when creating a new budget",
                             upstream_status=500)
        validate_budget(request)
        return new_budget(request, moment, {}, False)
    budget = dict(current)
    merged = BudgetRequest(
        max_limit=request.max_limit if request.max_limit is not None else float(current["max_limit"]),
        reset_duration=request.reset_duration if request.reset_duration is not None else current["reset_duration"],
    )
    validate_budget(merged)
    if request.max_limit is not None:
        budget["max_limit"] = new_budget(merged, moment, {}, False)["max_limit"]
    if request.reset_duration is not None:
        budget["reset_duration"] = request.reset_duration
    budget["updated_at"] = format_ts(moment)
    return budget


def update_customer(customer_id: str, body: bytes, now: Now) -> Callable[[Records], Record]:
    request, raw = decode(body, CustomerRequest)

    def work(tx: Records) -> Record:
        current = tx.get("customer", customer_id)
        if current is None:
            raise NotFound("Customer not found")
        moment = now()
        customer = dict(current)
        if request.name is not None:
            customer["name"] = request.name
        try:
            if request.budget is not None:
                attach(customer, "budget", _patch_customer_budget(current.get("budget"), request.budget, moment))
            if request.rate_limit is not None:
                limit = overwrite_rate_limit(current.get("rate_limit"), request.rate_limit, moment)
                attach(customer, "rate_limit", limit)
        except ApiError as exc:
            raise _generic(exc, "Failed to update customer") from exc
        customer["updated_at"] = format_ts(moment)
        customer = ordered(customer, shapes.CUSTOMER_ORDER)
        schema_net("UpdateCustomerRequest", raw)
        tx.put("customer", customer, new=False)
        refresh_keys(tx, customer_id=customer_id)
        return customer

    return work


def delete_customer(customer_id: str) -> Callable[[Records], None]:
    def work(tx: Records) -> None:
        if tx.get("customer", customer_id) is None:
            raise NotFound("Customer not found")
        tx.delete("customer", customer_id)
        _detach(tx, "customer_id", customer_id)

    return work
