"""Upstream's rules for creating and updating a virtual key: validate a body, then turn it into a record.

Validation never creates data: ``parse_create``/``parse_update`` only read the body and raise; the returned
``build``/``change`` functions are run by the store inside its write transaction, where ids are allocated
and references (provider keys, MCP clients) are looked up.

The order of checks and every message follow upstream's handler. Statuses: a rule that upstream answers with
400 is 400 here too; where upstream answers an input error with 500, vkmock answers 400 when the body alone is
wrong, 404 when it names something that does not exist and 409 when it conflicts with the stored key, and
records upstream's status as ``upstream_status`` for ``--upstream-quirks``. A 404 is kept for "Virtual key
not found": a body naming a provider key, MCP client or config that does not exist is a 409 (a 404 would read
as "the key you just created is gone" to contract tools).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from vkmock import spec
from vkmock.bifrost import durations
from vkmock.bifrost.base import Ids, check_whitelist, decode
from vkmock.bifrost.v1_4.models import (
    CreateBudgetRequest,
    CreateVirtualKeyRequest,
    MCPConfigRequest,
    ProviderConfigRequest,
    RateLimitRequest,
    UpdateVirtualKeyRequest,
)
from vkmock.bifrost.v1_4.world import Catalogue
from vkmock.clock import format_ts
from vkmock.errors import UPDATE_PREFIX, ApiError, BadRequest, Conflict
from vkmock.jsonio import go_number

Record = dict[str, Any]
Now = Callable[[], datetime]

BOTH_TEAM_AND_CUSTOMER = "VirtualKey cannot be attached to both Team and Customer"
NAME_REQUIRED = "Virtual key name is required"
MCP_CLIENT_NOT_FOUND = "failed to get MCP client: record not found"


# ---- decoding -------------------------------------------------------------------------------------------


# the models' own types are not spelled out for 1.4's rules, which read the fields they need
_decode: Callable[..., tuple[Any, dict[str, Any]]] = decode


def _schema_net(schema_name: str, raw: dict[str, Any], prefix: str = "") -> None:
    """What the spec forbids and no upstream rule caught (vkmock's bounds) is a 400 naming the field."""
    error = next(iter(spec.validator(schema_name).iter_errors(raw)), None)
    if error is None:
        return
    where = "/".join(str(part) for part in error.instance_path) or "body"
    message = error.message
    if len(message) > 200:
        cut = message.rfind(" is ")
        message = "the value" + message[cut:] if cut > 0 else message[:200] + "..."
        message = message[:300]
    raise BadRequest(f"{prefix}invalid request body at {where}: {message}")


# ---- shared checks --------------------------------------------------------------------------------------


_whitelist = check_whitelist


def _check_budget_values(budget: CreateBudgetRequest, negative: str, bad_format: str, new: bool = False) -> None:
    """The handler's pre-checks; for a new budget an absent duration is Go's empty string, which fails."""
    if budget.max_limit is not None and budget.max_limit < 0:
        raise BadRequest(f"{negative}: {budget.max_limit:.2f}")
    duration = "" if (new and budget.reset_duration is None) else budget.reset_duration
    if duration is not None and not durations.is_valid(duration):
        raise BadRequest(f"{bad_format}: {duration}")


def _validate_new_budget(budget: CreateBudgetRequest) -> None:
    """upstream ``validateBudget`` (500 upstream, 400 here)."""
    if (budget.max_limit or 0) <= 0:
        raise BadRequest(
            f"budget max limit cannot be negative or zero: {budget.max_limit or 0:.2f}", upstream_status=500
        )
    if not budget.reset_duration:
        raise BadRequest("budget reset duration is required", upstream_status=500)


def _validate_new_rate_limit(limit: RateLimitRequest, missing: type[ApiError] = BadRequest) -> None:
    """upstream ``validateRateLimit`` (500 upstream). ``missing`` is the error for a max without a duration:
    400 on create (the spec says so), 409 on update (it depends on the stored limit)."""
    for kind in ("token", "request"):
        maximum = getattr(limit, f"{kind}_max_limit")
        duration = getattr(limit, f"{kind}_reset_duration")
        if maximum is not None:
            if maximum <= 0:
                raise BadRequest(
                    f"rate limit {kind} max limit cannot be negative or zero: {maximum}", upstream_status=500
                )
            if not duration:
                raise missing(f"rate limit {kind} reset duration is required", upstream_status=500)
        if duration is not None and not durations.is_valid(duration):
            raise BadRequest(f"invalid rate limit {kind} reset duration format: {duration}", upstream_status=500)


def _mcp_names(configs: list[MCPConfigRequest] | None) -> None:
    seen: set[str] = set()
    for config in configs or []:
        name = config.mcp_client_name or ""
        if name in seen:
            # upstream: 400; the spec cannot say "unique by name", so a 400 would contradict it: 409
            raise Conflict(f"duplicate mcp_client_name: {name}", upstream_status=400)
        seen.add(name)
        _whitelist(config.tools_to_execute, f"tools_to_execute for mcp client {name}")


def _provider_whitelists(configs: list[ProviderConfigRequest] | None) -> None:
    for config in configs or []:
        provider = config.provider or ""
        _whitelist(config.allowed_models, f"allowed_models for provider {provider}")
        _whitelist(config.key_ids, f"key_ids for provider {provider}")


# ---- building records -----------------------------------------------------------------------------------


def new_budget(request: CreateBudgetRequest, now: datetime) -> Record:
    stamp = format_ts(now)
    return {
        "id": str(uuid.uuid4()),
        "max_limit": go_number(request.max_limit),
        "reset_duration": request.reset_duration,
        "calendar_aligned": bool(request.calendar_aligned),
        "last_reset": stamp,
        "current_usage": 0,
        "config_hash": "",
        "created_at": stamp,
        "updated_at": stamp,
    }


def new_rate_limit(request: RateLimitRequest, now: datetime) -> Record:
    stamp = format_ts(now)
    limit: Record = {"id": str(uuid.uuid4())}
    for kind in ("token", "request"):
        for field in (f"{kind}_max_limit", f"{kind}_reset_duration"):
            if getattr(request, field) is not None:
                limit[field] = getattr(request, field)
        limit[f"{kind}_current_usage"] = 0
        limit[f"{kind}_last_reset"] = stamp
    limit.update(config_hash="", created_at=stamp, updated_at=stamp)
    return limit


def _ordered_rate_limit(limit: Record) -> Record:
    order = [
        "id", "token_max_limit", "token_reset_duration", "token_current_usage", "token_last_reset",
        "request_max_limit", "request_reset_duration", "request_current_usage", "request_last_reset",
        "config_hash", "created_at", "updated_at",
    ]
    return {k: limit[k] for k in order if k in limit} | {k: v for k, v in limit.items() if k not in order}


def resolve_keys(provider: str, key_ids: list[str] | None, catalogue: Catalogue) -> list[Record]:
    if not key_ids:
        return []
    available = catalogue.keys_for(provider)
    if key_ids == ["*"]:
        return [dict(key) for key in available]
    found = [dict(key) for key in available if key["key_id"] in set(key_ids)]
    if len(found) != len(key_ids):
        raise Conflict(
            f"some keys not found for provider {provider}: expected {len(key_ids)}, found {len(found)}",
            upstream_status=500,
        )
    return found


def mcp_config(config_id: int, vk_id: str, request: MCPConfigRequest, catalogue: Catalogue) -> Record:
    name = request.mcp_client_name or ""
    client = catalogue.mcp_clients.get(name)
    if client is None:
        raise Conflict(MCP_CLIENT_NOT_FOUND, upstream_status=500)
    return {
        "id": config_id,
        "virtual_key_id": vk_id,
        "mcp_client_id": client["id"],
        "mcp_client": client,
        "mcp_client_name": name,
        "tools_to_execute": list(request.tools_to_execute or []),
    }


def _attach(record: Record, name: str, value: Record | None) -> None:
    """Set or clear ``<name>`` and ``<name>_id`` (budget, rate_limit)."""
    if value is None:
        record.pop(name, None)
        record.pop(f"{name}_id", None)
    else:
        record[name] = value
        record[f"{name}_id"] = value["id"]


def _provider_config(config_id: int, vk_id: str, request: ProviderConfigRequest, catalogue: Catalogue,
                     budget: Record | None, rate_limit: Record | None) -> Record:
    provider = request.provider or ""
    config: Record = {
        "id": config_id,
        "virtual_key_id": vk_id,
        "provider": provider,
        "weight": go_number(request.weight or 0),
        "allowed_models": list(request.allowed_models or []),
    }
    _attach(config, "budget", budget)
    _attach(config, "rate_limit", rate_limit)
    config["keys"] = resolve_keys(provider, request.key_ids, catalogue)
    return _ordered(config, PROVIDER_CONFIG_ORDER)


VK_ORDER = [
    "id", "name", "description", "value", "is_active", "provider_configs", "mcp_configs", "team_id",
    "customer_id", "budget_id", "rate_limit_id", "team", "customer", "budget", "rate_limit", "config_hash",
    "created_at", "updated_at",
]
PROVIDER_CONFIG_ORDER = [
    "id", "virtual_key_id", "provider", "weight", "allowed_models", "budget_id", "rate_limit_id", "budget",
    "rate_limit", "keys",
]


def _ordered(record: Record, order: list[str]) -> Record:
    """Fields in upstream's struct order (Go encodes struct fields in declaration order)."""
    known = {k: record[k] for k in order if k in record}
    return known | {k: v for k, v in record.items() if k not in known}


def _set_owner(record: Record, team_id: str | None, customer_id: str | None, catalogue: Catalogue) -> None:
    for key in ("team_id", "customer_id", "team", "customer"):
        record.pop(key, None)
    if team_id is not None:
        record["team_id"] = team_id
        if team_id in catalogue.teams:
            record["team"] = catalogue.teams[team_id]
    elif customer_id is not None:
        record["customer_id"] = customer_id
        if customer_id in catalogue.customers:
            record["customer"] = catalogue.customers[customer_id]


# ---- create ---------------------------------------------------------------------------------------------


def parse_create(body: bytes, now: Now) -> Callable[[Ids, Catalogue], Record]:
    """Check a create body; return the function that builds the new record."""
    request, raw = _decode(body, CreateVirtualKeyRequest)
    if not request.name:
        raise BadRequest(NAME_REQUIRED)
    if request.team_id is not None and request.customer_id is not None:
        raise BadRequest(BOTH_TEAM_AND_CUSTOMER)
    if request.budget is not None:
        _check_budget_values(
            request.budget, "Budget max_limit cannot be negative", "Invalid reset duration format", new=True
        )
    _provider_whitelists(request.provider_configs)
    _mcp_names(request.mcp_configs)
    # checks upstream makes inside its transaction (and answers with 500)
    if request.budget is not None:
        _validate_new_budget(request.budget)
    if request.rate_limit is not None:
        _validate_new_rate_limit(request.rate_limit)
    for config in request.provider_configs or []:
        if config.budget is not None:
            _check_budget_values(
                config.budget,
                "provider config budget max_limit cannot be negative",
                "invalid provider config budget reset duration format",
                new=True,
            )
            _validate_new_budget(config.budget)
        if config.rate_limit is not None:
            _validate_new_rate_limit(config.rate_limit)
    _schema_net("CreateVirtualKeyRequest", raw)

    def build(ids: Ids, catalogue: Catalogue) -> Record:
        moment = now()
        stamp = format_ts(moment)
        vk_id = str(uuid.uuid4())
        record: Record = {"id": vk_id, "name": request.name}
        if request.description:
            record["description"] = request.description
        record["value"] = "sk-bf-" + str(uuid.uuid4())
        record["is_active"] = True if request.is_active is None else request.is_active
        record["provider_configs"] = [
            _provider_config(
                ids.provider_config(),
                vk_id,
                config,
                catalogue,
                new_budget(config.budget, moment) if config.budget else None,
                new_rate_limit(config.rate_limit, moment) if config.rate_limit else None,
            )
            for config in request.provider_configs or []
        ]
        record["mcp_configs"] = [
            mcp_config(ids.mcp_config(), vk_id, config, catalogue) for config in request.mcp_configs or []
        ]
        _set_owner(record, request.team_id, request.customer_id, catalogue)
        _attach(record, "budget", new_budget(request.budget, moment) if request.budget else None)
        _attach(record, "rate_limit", new_rate_limit(request.rate_limit, moment) if request.rate_limit else None)
        record.update(config_hash="", created_at=stamp, updated_at=stamp)
        return _ordered(record, VK_ORDER)

    return build


# ---- update ---------------------------------------------------------------------------------------------


def _patch_budget(current: Record | None, request: CreateBudgetRequest, moment: datetime) -> Record:
    """Patch an existing budget keeping its usage, or create one (which needs both fields)."""
    if current is None:
        if request.max_limit is None or request.reset_duration is None:
            raise Conflict(
                "both max_limit and reset_duration are required when creating a new budget", upstream_status=500
            )
        _validate_new_budget(request)
        return new_budget(request, moment)
    budget = dict(current)
    if request.max_limit is not None:
        if request.max_limit <= 0:
            raise BadRequest(
                f"budget max limit cannot be negative or zero: {request.max_limit:.2f}", upstream_status=500
            )
        budget["max_limit"] = go_number(request.max_limit)
    if request.reset_duration is not None:
        budget["reset_duration"] = request.reset_duration
    if request.calendar_aligned is not None:
        budget["calendar_aligned"] = request.calendar_aligned
    budget["updated_at"] = format_ts(moment)
    return budget


def _patch_rate_limit(current: Record | None, request: RateLimitRequest, moment: datetime) -> Record | None:
    """``{}`` removes; otherwise patch field by field keeping usage, or create."""
    fields = ("token_max_limit", "token_reset_duration", "request_max_limit", "request_reset_duration")
    if all(getattr(request, f) is None for f in fields):
        return None
    if current is None:
        _validate_new_rate_limit(request, missing=Conflict)
        return new_rate_limit(request, moment)
    limit = dict(current)
    for field in fields:
        value = getattr(request, field)
        if value is not None:
            limit[field] = value
    for kind in ("token", "request"):
        maximum = limit.get(f"{kind}_max_limit")
        duration = limit.get(f"{kind}_reset_duration")
        if maximum is not None and maximum <= 0:
            raise BadRequest(f"{kind}_max_limit cannot be zero or negative: {maximum}", upstream_status=500)
        if maximum is not None and not duration:
            raise Conflict(f"{kind}_reset_duration is required when {kind}_max_limit is set", upstream_status=500)
        if duration and not durations.is_valid(duration):
            raise BadRequest(f"invalid {kind} reset duration format: {duration}", upstream_status=500)
    limit["updated_at"] = format_ts(moment)
    return _ordered_rate_limit(limit)


def parse_update(body: bytes, now: Now) -> Callable[[Record, Ids, Catalogue], Record]:
    """Check an update body; return the function that applies it to the stored record.

    Errors raised here or by the returned function carry the ``Failed to update virtual key: `` prefix,
    except "Invalid JSON", the team/customer exclusivity message and "Virtual key not found".
    """
    request, raw = _decode(body, UpdateVirtualKeyRequest)
    if request.team_id is not None and request.customer_id is not None:
        raise BadRequest(BOTH_TEAM_AND_CUSTOMER)
    try:
        if request.budget is not None:
            _check_budget_values(request.budget, "budget max_limit cannot be negative", "invalid reset duration format")
        for config in request.provider_configs or []:
            if config.budget is not None:
                _check_budget_values(
                    config.budget,
                    "provider config budget max_limit cannot be negative",
                    "invalid provider config budget reset duration format",
                )
        _provider_whitelists(request.provider_configs)
        _mcp_names(request.mcp_configs)
    except ApiError as exc:
        raise exc.prefixed(UPDATE_PREFIX) from exc

    def change(current: Record, ids: Ids, catalogue: Catalogue) -> Record:
        try:
            record = _apply_update(current, request, ids, catalogue, now())
        except ApiError as exc:
            raise exc.prefixed(UPDATE_PREFIX) from exc
        # after upstream's own checks (some depend on the stored key), so their messages come first
        _schema_net("UpdateVirtualKeyRequest", raw, UPDATE_PREFIX)
        return record

    return change


def _apply_update(current: Record, request: UpdateVirtualKeyRequest, ids: Ids, catalogue: Catalogue,
                  moment: datetime) -> Record:
    record = dict(current)
    vk_id = record["id"]
    if request.name is not None:
        record["name"] = request.name
    if request.description is not None:
        if request.description:
            record["description"] = request.description
        else:
            record.pop("description", None)
    if request.is_active is not None:
        record["is_active"] = request.is_active
    # upstream quirk: a body that names neither team nor customer detaches the key from both
    _set_owner(record, request.team_id, request.customer_id, catalogue)
    if request.budget is not None:
        _attach(record, "budget", _patch_budget(record.get("budget"), request.budget, moment))
    if request.rate_limit is not None:
        _attach(record, "rate_limit", _patch_rate_limit(record.get("rate_limit"), request.rate_limit, moment))
    if request.provider_configs is not None:
        existing = {pc["id"]: pc for pc in record.get("provider_configs") or []}
        # an id listed twice updates that one config twice, the last item winning (as upstream's loop does)
        configs: dict[int, Record] = {}
        for item in request.provider_configs:
            if item.id is not None:
                old = existing.get(item.id)
                if old is None:
                    raise Conflict(f"provider config {item.id} does not belong to this virtual key",
                                   upstream_status=500)
                config_id = item.id
                budget = old.get("budget")
                limit = old.get("rate_limit")
            else:
                config_id = ids.provider_config()
                budget = limit = None
            if item.budget is not None:
                budget = _patch_budget(budget, item.budget, moment)
            if item.rate_limit is not None:
                limit = _patch_rate_limit(limit, item.rate_limit, moment)
            configs[config_id] = _provider_config(config_id, vk_id, item, catalogue, budget, limit)
        record["provider_configs"] = list(configs.values())
    if request.mcp_configs is not None:
        existing_mcp = {mc["id"] for mc in record.get("mcp_configs") or []}
        mcps: dict[int, Record] = {}
        for mcp in request.mcp_configs:
            if mcp.id is not None and mcp.id not in existing_mcp:
                raise Conflict(f"MCP config {mcp.id} does not belong to this virtual key", upstream_status=500)
            config_id = mcp.id if mcp.id is not None else ids.mcp_config()
            mcps[config_id] = mcp_config(config_id, vk_id, mcp, catalogue)
        record["mcp_configs"] = list(mcps.values())
    record["updated_at"] = format_ts(moment)
    return _ordered(record, VK_ORDER)
