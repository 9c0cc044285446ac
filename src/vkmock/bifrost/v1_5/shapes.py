"""How Bifrost 1.5 joins its records when it serves them (GORM's preloads), from the stored records.

Stored forms: a virtual key is kept as the list path serves it (its ``team`` and ``customer`` embedded plain);
a team without ``customer`` and ``virtual_key_count``; a customer without ``teams`` and ``virtual_keys``. The
functions here add what each path preloads. Field order is upstream's struct order.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from vkmock.bifrost.v1_5.common import Record, ordered

VK_ORDER = [
    "id", "name", "description", "value", "is_active", "provider_configs", "mcp_configs", "team_id",
    "customer_id", "rate_limit_id", "calendar_aligned", "team", "customer", "rate_limit", "budgets",
    "config_hash", "created_at", "updated_at",
]
PROVIDER_CONFIG_ORDER = [
    "id", "virtual_key_id", "provider", "weight", "allow_all_keys", "rate_limit_id", "rate_limit", "budgets",
    "keys", "allowed_models",
]
TEAM_ORDER = [
    "id", "name", "customer_id", "rate_limit_id", "customer", "budgets", "rate_limit", "virtual_keys",
    "virtual_key_count", "profile", "config", "claims", "config_hash", "created_at", "updated_at",
]
CUSTOMER_ORDER = [
    "id", "name", "budget_id", "rate_limit_id", "budget", "rate_limit", "teams", "virtual_keys", "config_hash",
    "created_at", "updated_at",
]
_JOINED_TEAM = ("customer", "virtual_key_count", "virtual_keys")
_JOINED_CUSTOMER = ("teams", "virtual_keys")


def stored_team(team: Record) -> Record:
    return {k: v for k, v in team.items() if k not in _JOINED_TEAM}


def stored_customer(customer: Record) -> Record:
    return {k: v for k, v in customer.items() if k not in _JOINED_CUSTOMER}


def plain_customer(customer: Record) -> Record:
    """A customer preloaded on its own: no budget or limit, ``teams`` and ``virtual_keys`` null."""
    plain = {k: v for k, v in customer.items() if k not in ("budget", "rate_limit", *_JOINED_CUSTOMER)}
    plain.update(teams=None, virtual_keys=None)
    return ordered(plain, CUSTOMER_ORDER)


def team_in_key(team: Record, customer: Record | None) -> Record:
    """A key's ``team``: the team with its plain customer, no budgets, limit or keys, count 0."""
    embedded = {k: v for k, v in team.items() if k not in ("budgets", "rate_limit", *_JOINED_TEAM)}
    if customer is not None:
        embedded["customer"] = plain_customer(customer)
    embedded["virtual_key_count"] = 0
    return ordered(embedded, TEAM_ORDER)


def team_served(team: Record, customer: Record | None, key_count: int) -> Record:
    """A team as the teams routes serve it: customer preloaded (plain), budgets, limit, the key count."""
    served = stored_team(team)
    if customer is not None:
        served["customer"] = plain_customer(customer)
    served["virtual_key_count"] = key_count
    return ordered(served, TEAM_ORDER)


def team_in_customer(team: Record) -> Record:
    """A team nested in a customer: with its budgets, without customer or limit; the count is not computed."""
    nested = {k: v for k, v in team.items() if k not in ("rate_limit", *_JOINED_TEAM)}
    nested["virtual_key_count"] = 0
    return ordered(nested, TEAM_ORDER)


def key_in_customer(key: Record) -> Record:
    """A key nested in a customer: its own columns only (configs not preloaded, so ``null``)."""
    nested = {
        k: v for k, v in key.items() if k not in ("team", "customer", "rate_limit", "budgets")
    }
    nested["provider_configs"] = None
    nested["mcp_configs"] = None
    return ordered(nested, VK_ORDER)


def customer_served(customer: Record, teams: Iterable[Record], keys: Iterable[Record]) -> Record:
    """A customer with its teams (and their budgets) and its keys, as the customer routes and a key's detail
    view preload it."""
    served = stored_customer(customer)
    served["teams"] = [team_in_customer(t) for t in teams]
    served["virtual_keys"] = [key_in_customer(k) for k in keys]
    return ordered(served, CUSTOMER_ORDER)


def set_owner(key: Record, team: Record | None, team_customer: Record | None, customer: Record | None) -> None:
    """Embed (or drop) a key's ``team`` and ``customer`` as the list path serves them."""
    key.pop("team", None)
    key.pop("customer", None)
    if key.get("team_id") is not None and team is not None:
        key["team"] = team_in_key(team, team_customer)
    if key.get("customer_id") is not None and customer is not None:
        key["customer"] = plain_customer(customer)


def order_key(key: Record) -> Record:
    return ordered(key, VK_ORDER)


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []
