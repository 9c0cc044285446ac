"""Bifrost 1.5's virtual keys: create and update, in upstream's order of checks, with its messages.

``create(body, now)`` and ``update(vk_id, body, now)`` decode and check what the body alone decides, and return
the work to run inside the store's write transaction (``Records``), which makes the checks that need stored
state in upstream's order and writes the key. Validation never creates data: nothing is written before every
check has passed, and a failure rolls the transaction back.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from vkmock.bifrost.base import check_whitelist, decode
from vkmock.bifrost.v1_5 import shapes
from vkmock.bifrost.v1_5.common import (
    Record,
    attach,
    duplicate_duration,
    new_budget,
    new_rate_limit,
    ordered,
    patch_rate_limit,
    precheck_budgets,
    reconcile_budgets,
    schema_net,
    validate_budget,
    validate_new_rate_limit,
)
from vkmock.bifrost.v1_5.models import BudgetRequest, MCPConfigRequest, ProviderConfigRequest, VirtualKeyRequest
from vkmock.clock import format_ts
from vkmock.errors import UPDATE_PREFIX, ApiError, BadRequest, Conflict, NotFound
from vkmock.jsonio import go_number

Now = Callable[[], datetime]
NAME_REQUIRED = "Virtual key name is required"
BOTH_TEAM_AND_CUSTOMER = "VirtualKey cannot be attached to both Team and Customer"
DUPLICATE_NAME = "a record with this name already exists. Please use a different value"
DUPLICATE_MCP_CLIENT = "a record with this mcp client id already exists. Please use a different value"
MCP_CLIENT_NOT_FOUND = "failed to get MCP client: not found"
DUPLICATE_VALUE = "a record with this value already exists. Please use a different value"
FOREIGN_KEY = "FOREIGN KEY constraint failed"
EMPTY_KEY_TIME = "0001-01-01T00:00:00Z"
REDACTED_VALUE = {"value": "", "env_var": "", "from_env": False}


class Records(Protocol):
    """What the rules need of a write transaction (``vkmock.serve.store.Tx`` is one)."""

    catalogue: Any
    ids: Any

    def get(self, kind: str, record_id: str) -> Record | None: ...
    def all(self, kind: str) -> list[Record]: ...
    def keys_of(self, *, team_id: str | None = None, customer_id: str | None = None) -> list[Record]: ...
    def put(self, kind: str, record: Record, *, new: bool) -> str: ...
    def delete(self, kind: str, record_id: str) -> bool: ...
    def name_taken(self, name: str, other_than: str | None = None) -> bool: ...
    def key_named(self, name: str) -> str | None: ...


# ---- references -------------------------------------------------------------------------------------------


def configured_providers(catalogue: Any) -> set[str]:
    """The providers a deployment has set up: those with provider keys in the world's catalogue."""
    return set(catalogue.provider_keys)


def key_in_config(key: Record) -> Record:
    """A provider key as a provider config preloads it: id, name, key_id, models and provider only; every
    secret blank."""
    return {
        "id": key.get("id", 0),
        "name": key.get("name", ""),
        "provider_id": 0,
        "provider": key.get("provider", ""),
        "key_id": key.get("key_id", ""),
        "value": dict(REDACTED_VALUE),
        "weight": None,
        "enabled": True,
        "created_at": EMPTY_KEY_TIME,
        "updated_at": EMPTY_KEY_TIME,
        "config_hash": "",
        "use_for_batch_api": False,
        "status": "",
        "models": list(key.get("models") or []),
        "blacklisted_models": None,
    }


def _find_keys(provider: str, key_ids: list[str], catalogue: Any) -> list[Record]:
    """The provider keys named by ``key_id`` (any provider's: upstream checks existence only)."""
    wanted = set(key_ids)
    found = [key for keys in catalogue.provider_keys.values() for key in keys if key.get("key_id") in wanted]
    if len(found) != len(wanted):
        raise Conflict(
            f"some keys not found for provider {provider}: expected {len(wanted)}, found {len(found)}",
            upstream_status=500,
        )
    return [key_in_config(key) for key in found]


def check_owner(team_id: str | None, customer_id: str | None, tx: Records) -> None:
    """The database's foreign keys: a key's team and customer must exist (``""`` included; 500 upstream)."""
    if (team_id is not None and tx.get("team", team_id) is None) or (
        customer_id is not None and tx.get("customer", customer_id) is None
    ):
        raise Conflict(FOREIGN_KEY, upstream_status=500)


def _owner(record: Record, tx: Records) -> None:
    """Embed the key's team (with its customer) and customer from the stored records."""
    team = tx.get("team", record["team_id"]) if record.get("team_id") is not None else None
    team_customer = None
    if team is not None and team.get("customer_id"):
        team_customer = tx.get("customer", team["customer_id"])
    customer = tx.get("customer", record["customer_id"]) if record.get("customer_id") is not None else None
    shapes.set_owner(record, team, team_customer, customer)


# ---- provider configs and MCP configs ----------------------------------------------------------------------


def _check_provider(config: ProviderConfigRequest, providers: set[str]) -> str:
    raw = config.provider or ""
    provider = raw.strip()
    if not provider:
        raise BadRequest("provider name is required")
    if provider not in providers:
        # upstream: 400; the provider is valid by the spec but not set up in this deployment: 409 here
        raise Conflict(f"invalid provider name: {raw}", upstream_status=400)
    return provider


def _keys(provider: str, key_ids: list[str] | None, catalogue: Any) -> tuple[bool, list[Record]]:
    if key_ids == ["*"]:
        return True, []
    if not key_ids:
        return False, []
    return False, _find_keys(provider, key_ids, catalogue)


def _provider_config(
    config_id: int, vk_id: str, provider: str, request: ProviderConfigRequest, tx: Records, moment: datetime,
    aligned: bool, current: Record | None = None,
) -> Record:
    check_whitelist(request.allowed_models, f"allowed_models for provider {provider}")
    check_whitelist(request.key_ids, f"key_ids for provider {provider}")
    allow_all, keys = _keys(provider, request.key_ids, tx.catalogue)
    config: Record = {
        "id": config_id,
        "virtual_key_id": vk_id,
        "provider": provider,
        "weight": go_number(request.weight) if request.weight is not None else None,
        "allow_all_keys": allow_all,
    }
    limit = current.get("rate_limit") if current else None
    if request.rate_limit is not None:
        limit = patch_rate_limit(limit, request.rate_limit, moment) if current else _created_limit(request, moment)
    attach(config, "rate_limit", limit)
    budgets = list(current.get("budgets") or []) if current else []
    if request.budgets is not None:
        owner = {"provider_config_id": config_id}
        if current is None:
            budgets = _new_config_budgets(request.budgets, moment, owner, aligned)
        else:
            precheck_budgets(
                request.budgets,
                "provider config budget max_limit cannot be negative",
                "invalid provider config budget reset duration format",
                "duplicate reset_duration in provider config budgets",
            )
            budgets = reconcile_budgets(budgets, request.budgets, moment, owner, aligned)
    if budgets:
        config["budgets"] = budgets
    config["keys"] = keys
    config["allowed_models"] = list(request.allowed_models or [])
    return ordered(config, shapes.PROVIDER_CONFIG_ORDER)


def _created_limit(request: ProviderConfigRequest, moment: datetime) -> Record | None:
    assert request.rate_limit is not None
    validate_new_rate_limit(request.rate_limit)
    return new_rate_limit(request.rate_limit, moment)


def _new_config_budgets(wanted: list[BudgetRequest], moment: datetime, owner: Record, aligned: bool) -> list[Record]:
    """Budgets of a new provider config: repeats refused, then each validated (no 400 pre-check on create)."""
    seen: set[str] = set()
    created = []
    for request in wanted:
        duration = request.reset_duration or ""
        if duration in seen:
            raise duplicate_duration(f"duplicate reset_duration in provider config budgets: {duration}")
        seen.add(duration)
        validate_budget(request)
        created.append(new_budget(request, moment, owner, aligned))
    return created


def _mcp_names(configs: list[MCPConfigRequest]) -> None:
    seen: set[str] = set()
    for config in configs:
        name = config.mcp_client_name or ""
        if name in seen:
            raise Conflict(f"duplicate mcp_client_name: {name}", upstream_status=400)
        seen.add(name)


def _mcp_config(config_id: int, vk_id: str, request: MCPConfigRequest, catalogue: Any) -> Record:
    name = request.mcp_client_name or ""
    client = catalogue.mcp_clients.get(name)
    if client is None:
        raise Conflict(MCP_CLIENT_NOT_FOUND, upstream_status=500)
    return {
        "id": config_id,
        "virtual_key_id": vk_id,
        "mcp_client_id": client.get("id", 0),
        "mcp_client": client,
        "tools_to_execute": list(request.tools_to_execute) if request.tools_to_execute is not None else None,
    }


# ---- create -----------------------------------------------------------------------------------------------


def create(body: bytes, now: Now) -> Callable[[Records], str]:
    """Check a create body (upstream's checks before its transaction); return the transaction's work."""
    request, raw = decode(body, VirtualKeyRequest)
    if not request.name:
        raise BadRequest(NAME_REQUIRED)
    if request.team_id is not None and request.customer_id is not None:
        raise BadRequest(BOTH_TEAM_AND_CUSTOMER)
    precheck_budgets(
        request.budgets or [], "Budget max_limit cannot be negative", "Invalid reset duration format",
        "Duplicate reset_duration in budgets",
    )
    name = request.name

    def work(tx: Records) -> str:
        moment = now()
        stamp = format_ts(moment)
        vk_id = str(uuid.uuid4())
        aligned = bool(request.calendar_aligned)
        providers = configured_providers(tx.catalogue) if request.provider_configs is not None else set()
        limit = None
        if request.rate_limit is not None:
            validate_new_rate_limit(request.rate_limit)
            limit = new_rate_limit(request.rate_limit, moment)
        if tx.name_taken(name):
            raise Conflict(DUPLICATE_NAME, upstream_status=500)
        check_owner(request.team_id, request.customer_id, tx)
        budgets = []
        for budget in request.budgets or []:
            validate_budget(budget)
            # a key's budgets never carry calendar_aligned; the key's own flag aligns their first period
            created = new_budget(budget, moment, {"virtual_key_id": vk_id}, aligned)
            created["calendar_aligned"] = False
            budgets.append(created)
        configs = []
        for config in request.provider_configs or []:
            provider = _check_provider(config, providers)
            configs.append(_provider_config(tx.ids.provider_config(), vk_id, provider, config, tx, moment, aligned))
        mcps = []
        if request.mcp_configs:
            _mcp_names(request.mcp_configs)
            for mcp in request.mcp_configs:
                check_whitelist(mcp.tools_to_execute, f"tools_to_execute for mcp client {mcp.mcp_client_name or ''}")
                mcps.append(_mcp_config(tx.ids.mcp_config(), vk_id, mcp, tx.catalogue))
        record: Record = {"id": vk_id, "name": name}
        if request.description:
            record["description"] = request.description
        # is_active false is lost on create: the column's default replaces Go's zero value (upstream's GORM tag)
        record.update(value="sk-bf-" + str(uuid.uuid4()), is_active=True, provider_configs=configs, mcp_configs=mcps)
        if request.team_id is not None:
            record["team_id"] = request.team_id
        if request.customer_id is not None:
            record["customer_id"] = request.customer_id
        attach(record, "rate_limit", limit)
        record["calendar_aligned"] = aligned
        if budgets:
            record["budgets"] = budgets
        record.update(config_hash="", created_at=stamp, updated_at=stamp)
        _owner(record, tx)
        schema_net("CreateVirtualKeyRequest", raw)
        return tx.put("virtual_key", shapes.order_key(record), new=True)

    return work


# ---- update -----------------------------------------------------------------------------------------------


def update(vk_id: str, body: bytes, now: Now) -> Callable[[Records], str]:
    """Check an update body; return the transaction's work. Errors inside it carry upstream's
    ``Failed to update virtual key: `` prefix."""
    request, raw = decode(body, VirtualKeyRequest)
    if request.team_id is not None and request.customer_id is not None:
        raise BadRequest(BOTH_TEAM_AND_CUSTOMER)

    def work(tx: Records) -> str:
        current = tx.get("virtual_key", vk_id)
        if current is None:
            raise NotFound("Virtual key not found")
        try:
            record = _apply(current, request, tx, now())
            schema_net("UpdateVirtualKeyRequest", raw)
        except ApiError as exc:
            raise exc.prefixed(UPDATE_PREFIX) from exc
        return tx.put("virtual_key", record, new=False)

    return work


def _apply(current: Record, request: VirtualKeyRequest, tx: Records, moment: datetime) -> Record:
    record = dict(current)
    vk_id = record["id"]
    providers = configured_providers(tx.catalogue) if request.provider_configs else set()
    if request.name is not None:
        record["name"] = request.name  # no empty check on update (upstream stores "")
    if request.description is not None:
        if request.description:
            record["description"] = request.description
        else:
            record.pop("description", None)
    if request.is_active is not None:
        record["is_active"] = request.is_active
    # upstream quirk: a body naming neither team nor customer detaches the key from both
    record.pop("team_id", None)
    record.pop("customer_id", None)
    if request.team_id is not None:
        record["team_id"] = request.team_id
    elif request.customer_id is not None:
        record["customer_id"] = request.customer_id
    # calendar_aligned is not written by upstream's update; a new budget of this request still uses it
    aligned = bool(request.calendar_aligned) if request.calendar_aligned is not None else bool(
        current.get("calendar_aligned")
    )
    if request.budgets is not None:
        precheck_budgets(
            request.budgets, "budget max_limit cannot be negative", "invalid reset duration format",
            "duplicate reset_duration in budgets",
        )
        budgets = reconcile_budgets(
            list(current.get("budgets") or []), request.budgets, moment, {"virtual_key_id": vk_id}, aligned
        )
        for budget in budgets:
            budget["calendar_aligned"] = False
        record.pop("budgets", None)
        if budgets:
            record["budgets"] = budgets
    if request.rate_limit is not None:
        attach(record, "rate_limit", patch_rate_limit(current.get("rate_limit"), request.rate_limit, moment))
    if request.name is not None and request.name != current["name"]:
        other = tx.key_named(request.name)
        if other is not None and other != vk_id:
            # upstream finds the row by `id = ? OR name = ?`: when the other key's id sorts first it updates
            # that row, and the collision shows on the value instead of the name
            raise Conflict(DUPLICATE_VALUE if other < vk_id else DUPLICATE_NAME, upstream_status=400)
    check_owner(record.get("team_id"), record.get("customer_id"), tx)
    if request.provider_configs is not None:
        record["provider_configs"] = _update_configs(current, request.provider_configs, providers, tx, moment, aligned)
    if request.mcp_configs is not None:
        record["mcp_configs"] = _update_mcps(current, request.mcp_configs, tx)
    record["updated_at"] = format_ts(moment)
    _owner(record, tx)
    return shapes.order_key(record)


def _update_configs(
    current: Record, items: list[ProviderConfigRequest], providers: set[str], tx: Records, moment: datetime,
    aligned: bool,
) -> list[Record]:
    existing = {pc["id"]: pc for pc in current.get("provider_configs") or []}
    configs: dict[int, Record] = {}  # an id listed twice is updated twice, the last item winning
    for item in items:
        provider = _check_provider(item, providers)
        if item.id is None:
            config_id = tx.ids.provider_config()
            configs[config_id] = _provider_config(config_id, current["id"], provider, item, tx, moment, aligned)
            continue
        old = existing.get(item.id)
        if old is None:
            raise Conflict(f"provider config {item.id} does not belong to this virtual key", upstream_status=500)
        configs[item.id] = _provider_config(item.id, current["id"], provider, item, tx, moment, aligned, old)
    return list(configs.values())


def _update_mcps(current: Record, items: list[MCPConfigRequest], tx: Records) -> list[Record]:
    _mcp_names(items)
    existing = {mc["id"]: mc for mc in current.get("mcp_configs") or []}
    attached = {mc.get("mcp_client_id") for mc in existing.values()}
    result: dict[int, Record] = {}
    for item in items:
        name = item.mcp_client_name or ""
        check_whitelist(item.tools_to_execute, f"tools_to_execute for mcp client {name}")
        if item.id is None:
            config = _mcp_config(tx.ids.mcp_config(), current["id"], item, tx.catalogue)
            if config["mcp_client_id"] in attached:
                # the unique (key, client) index fails before the old row is removed
                raise Conflict(DUPLICATE_MCP_CLIENT, upstream_status=400)
            attached.add(config["mcp_client_id"])
            result[config["id"]] = config
            continue
        old = existing.get(item.id)
        if old is None:
            raise Conflict(f"MCP config {item.id} does not belong to this virtual key", upstream_status=500)
        tools = list(item.tools_to_execute) if item.tools_to_execute is not None else None
        result[item.id] = {**old, "tools_to_execute": tools}  # the name is ignored: only the tools change
    return list(result.values())


def delete(vk_id: str) -> Callable[[Records], None]:
    """A hard delete: the key's configs, budgets and limits live in its record and go with it."""

    def work(tx: Records) -> None:
        if not tx.delete("virtual_key", vk_id):
            raise NotFound("Virtual key not found")

    return work
