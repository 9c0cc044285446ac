"""The Bifrost 1.5 seeded world: stable, shaped as upstream's encoder writes it, and consistent across its graph."""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest

from vkmock.bifrost.v1_4 import world as w14
from vkmock.bifrost.v1_5 import world as w15
from vkmock.clock import format_ts, parse_ts
from vkmock.jsonio import go_dumps
from vkmock.settings import DEFAULT_NOW

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

# field orders from bifrost-v1.5-facts.md §3.6, §4.4 and §5.3 (`?` fields may be missing, the others never are)
VK_ORDER = ["id", "name", "description?", "value", "is_active", "provider_configs", "mcp_configs", "team_id?",
            "customer_id?", "rate_limit_id?", "calendar_aligned", "team?", "customer?", "rate_limit?", "budgets?",
            "config_hash", "created_at", "updated_at"]
CONFIG_ORDER = ["id", "virtual_key_id", "provider", "weight", "allow_all_keys", "rate_limit_id?", "rate_limit?",
                "budgets?", "keys", "allowed_models"]
KEY_ORDER = ["id", "name", "provider_id", "provider", "key_id", "value", "weight", "enabled", "created_at",
             "updated_at", "config_hash", "use_for_batch_api", "status", "models", "blacklisted_models"]
MCP_CONFIG_ORDER = ["id", "virtual_key_id", "mcp_client_id", "mcp_client", "tools_to_execute"]
MCP_CLIENT_ORDER = ["id", "client_id", "name", "is_code_mode_client", "connection_type", "connection_string?",
                    "is_ping_available?", "tool_sync_interval", "auth_type", "oauth_config_id",
                    "allow_on_all_virtual_keys", "config_hash", "created_at", "updated_at", "stdio_config?",
                    "tools_to_execute", "tools_to_auto_execute", "headers", "allowed_extra_headers", "tool_pricing"]
BUDGET_ORDER = ["id", "max_limit", "reset_duration", "last_reset", "current_usage", "team_id?", "virtual_key_id?",
                "provider_config_id?", "calendar_aligned", "config_hash", "created_at", "updated_at"]
RATE_LIMIT_ORDER = ["id", "token_max_limit?", "token_reset_duration?", "token_current_usage", "token_last_reset",
                    "request_max_limit?", "request_reset_duration?", "request_current_usage", "request_last_reset",
                    "calendar_aligned", "config_hash", "created_at", "updated_at"]
# stored team: §4.4 without the joined `customer`, the never-loaded `virtual_keys` and the computed count
TEAM_ORDER = ["id", "name", "customer_id?", "rate_limit_id?", "budgets?", "rate_limit?", "profile", "config",
              "claims", "config_hash", "created_at", "updated_at"]
LIST_TEAM_ORDER = ["id", "name", "customer_id?", "rate_limit_id?", "customer?", "virtual_key_count", "profile",
                   "config", "claims", "config_hash", "created_at", "updated_at"]
# stored customer: §5.3 without the joined `teams` and `virtual_keys`
CUSTOMER_ORDER = ["id", "name", "budget_id?", "rate_limit_id?", "budget?", "rate_limit?", "config_hash",
                  "created_at", "updated_at"]
PLAIN_CUSTOMER_ORDER = ["id", "name", "budget_id?", "rate_limit_id?", "teams", "virtual_keys", "config_hash",
                        "created_at", "updated_at"]
DURATIONS_1_5 = {"1h", "6h", "1d", "1w", "1M"}  # the periods the dashboard offers


@cache
def world(seed: int = 42, count: int = 400, now: str = DEFAULT_NOW) -> w15.World15:
    return w15.generate_world(seed, count, now)


def dump(generated: w15.World15) -> bytes:
    return go_dumps([generated.virtual_keys, generated.teams, generated.customers,
                     generated.catalogue.to_dict(), generated.now])


def assert_order(record: dict[str, Any], order: list[str], what: str) -> None:
    """``record``'s keys are exactly ``order``'s, in that order, with only ``?`` fields allowed to be missing."""
    names = [name.rstrip("?") for name in order]
    assert set(record) <= set(names), f"{what}: unexpected fields {set(record) - set(names)}"
    assert list(record) == [name for name in names if name in record], f"{what}: order {list(record)}"
    missing = [name for name in order if not name.endswith("?") and name not in record]
    assert not missing, f"{what}: missing {missing}"


def budgets_of(generated: w15.World15) -> list[tuple[str, dict[str, Any]]]:
    """Every budget in the world with the kind of its owner."""
    found: list[tuple[str, dict[str, Any]]] = []
    for vk in generated.virtual_keys:
        found += [("vk", budget) for budget in vk.get("budgets", [])]
        for pc in vk["provider_configs"]:
            found += [("pc", budget) for budget in pc.get("budgets", [])]
    for team in generated.teams:
        found += [("team", budget) for budget in team.get("budgets", [])]
    found += [("customer", c["budget"]) for c in generated.customers if "budget" in c]
    return found


def rate_limits_of(generated: w15.World15) -> list[dict[str, Any]]:
    owners: list[dict[str, Any]] = [*generated.virtual_keys, *generated.teams, *generated.customers]
    owners += [pc for vk in generated.virtual_keys for pc in vk["provider_configs"]]
    return [owner["rate_limit"] for owner in owners if "rate_limit" in owner]


def timestamps(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [t for key, value in node.items() for t in
                ([value] if key.endswith(("_at", "_reset")) and isinstance(value, str) else timestamps(value))]
    if isinstance(node, list):
        return [t for item in node for t in timestamps(item)]
    return []


# ---- stability ------------------------------------------------------------------------------------------


def test_same_inputs_give_byte_identical_worlds() -> None:
    assert dump(w15.generate_world(7, 120, DEFAULT_NOW)) == dump(w15.generate_world(7, 120, DEFAULT_NOW))


def test_key_team_and_customer_i_do_not_depend_on_the_count() -> None:
    small, large = w15.generate_world(9, 10, DEFAULT_NOW), w15.generate_world(9, 400, DEFAULT_NOW)
    assert go_dumps(small.virtual_keys) == go_dumps(large.virtual_keys[:10])
    assert go_dumps(small.teams) == go_dumps(large.teams[: len(small.teams)])
    assert go_dumps(small.customers) == go_dumps(large.customers[: len(small.customers)])
    assert go_dumps(small.catalogue.to_dict()) == go_dumps(large.catalogue.to_dict())


def test_other_seed_or_anchor_gives_another_world() -> None:
    assert world(1, 5).virtual_keys[0]["id"] != world(2, 5).virtual_keys[0]["id"]
    assert world(1, 5).teams[0]["id"] != world(2, 5).teams[0]["id"]
    moved = world(1, 5, "2027-01-01T00:00:00Z")
    assert moved.virtual_keys[0]["id"] == world(1, 5).virtual_keys[0]["id"]
    assert moved.virtual_keys[0]["created_at"] != world(1, 5).virtual_keys[0]["created_at"]


def test_keys_match_the_1_4_world_of_the_same_seed() -> None:
    """Switching profiles keeps the keys a user knows: same ids, names, values, descriptions and times."""
    old = w14.generate_world(42, 400, DEFAULT_NOW).virtual_keys
    for before, after in zip(old, world().virtual_keys, strict=True):
        for name in ("id", "name", "description", "value", "is_active", "created_at", "updated_at"):
            assert before.get(name) == after.get(name), (before["name"], name)


def test_team_and_customer_counts_follow_the_world_size() -> None:
    assert [(len(w15.generate_world(3, n, DEFAULT_NOW).teams), len(w15.generate_world(3, n, DEFAULT_NOW).customers))
            for n in (0, 1, 12, 13, 40, 100)] == [(0, 0), (3, 2), (3, 2), (4, 2), (10, 5), (25, 13)]
    assert [t["name"] for t in world(count=40).teams[:8]] == w14.TEAMS


def test_an_empty_world_keeps_the_catalogue() -> None:
    empty = w15.generate_world(42, 0, DEFAULT_NOW)
    assert (empty.virtual_keys, empty.teams, empty.customers) == ([], [], [])
    assert set(empty.catalogue.provider_keys) == set(w15.PROVIDERS_15) == set(w14.PROVIDERS) - {"deepseek"}
    assert all(empty.catalogue.provider_keys.values())
    assert set(empty.catalogue.mcp_clients) == set(w14.MCP_CLIENTS)
    assert empty.catalogue.teams == {} and empty.catalogue.customers == {}
    same_seed = w14.build_catalogue(42, parse_ts(DEFAULT_NOW)).provider_keys
    assert empty.catalogue.provider_keys == {p: keys for p, keys in same_seed.items() if p != "deepseek"}


def test_explicit_team_and_customer_counts() -> None:
    sized = w15.generate_world(5, 60, DEFAULT_NOW, teams=4, customers=30)
    assert (len(sized.teams), len(sized.customers)) == (4, 30)
    team_ids = {t["id"] for t in sized.teams}
    customer_ids = {c["id"] for c in sized.customers}
    assert {vk["team_id"] for vk in sized.virtual_keys if "team_id" in vk} <= team_ids
    used = {vk["customer_id"] for vk in sized.virtual_keys if "customer_id" in vk}
    assert used <= customer_ids and len(used) > 2  # every key may use every customer
    alone = w15.generate_world(5, 60, DEFAULT_NOW, teams=0, customers=0)
    assert not any("team_id" in vk or "customer_id" in vk for vk in alone.virtual_keys)
    assert go_dumps(w15.generate_world(5, 10, DEFAULT_NOW, teams=4, customers=30).virtual_keys) == go_dumps(
        sized.virtual_keys[:10])
    for bad in ({"count": -1}, {"teams": -1}, {"customers": -2}):
        arguments: dict[str, Any] = {"seed": 1, "count": 3, "now": DEFAULT_NOW, **bad}
        with pytest.raises(ValueError, match=next(iter(bad))):
            w15.generate_world(**arguments)


# ---- shapes ---------------------------------------------------------------------------------------------


def test_virtual_keys_have_the_1_5_list_shape() -> None:
    generated = world()
    for vk in generated.virtual_keys:
        assert_order(vk, VK_ORDER, vk["name"])
        assert "budget_id" not in vk and "budget" not in vk
        assert UUID4.match(vk["id"]) and vk["value"].startswith("sk-bf-") and UUID4.match(vk["value"][6:])
        assert isinstance(vk["calendar_aligned"], bool)
        assert vk.get("budgets", None) != []  # omitempty: no budgets means no field
        if "rate_limit" in vk:
            assert vk["rate_limit_id"] == vk["rate_limit"]["id"]
        else:
            assert "rate_limit_id" not in vk
    assert len({vk["id"] for vk in generated.virtual_keys}) == len({vk["name"] for vk in generated.virtual_keys}) \
        == len(generated.virtual_keys)


def test_provider_configs_keys_and_allowed_models() -> None:
    generated = world()
    catalogue = generated.catalogue
    for vk in generated.virtual_keys:
        ids = [pc["id"] for pc in vk["provider_configs"]]
        assert len(set(ids)) == len(ids)
        providers = [pc["provider"] for pc in vk["provider_configs"]]
        assert len(set(providers)) == len(providers)
        for pc in vk["provider_configs"]:
            assert_order(pc, CONFIG_ORDER, vk["name"])
            assert list(pc)[-1] == "allowed_models"
            assert pc["virtual_key_id"] == vk["id"]
            assert pc["provider"] in catalogue.provider_keys  # a configured provider
            assert pc["weight"] is None or isinstance(pc["weight"], int | float)
            allowed = pc["allowed_models"]
            assert allowed == ["*"] or set(allowed) <= set(w14.MODELS[pc["provider"]])
            assert len(set(allowed)) == len(allowed)
            if pc["allow_all_keys"]:
                assert pc["keys"] == []
            by_key_id = {key["key_id"]: key for key in catalogue.keys_for(pc["provider"])}
            for key in pc["keys"]:
                assert_order(key, KEY_ORDER, vk["name"])
                assert key == w15.table_key(by_key_id[key["key_id"]])
            if "rate_limit" in pc:
                assert pc["rate_limit_id"] == pc["rate_limit"]["id"]
            else:
                assert "rate_limit_id" not in pc
            for budget in pc.get("budgets", []):
                assert budget["provider_config_id"] == pc["id"]


def test_preloaded_keys_are_blank_but_for_identity_and_models() -> None:
    key = w15.table_key(world().catalogue.keys_for("openai")[0])
    assert key["provider_id"] == 0 and key["weight"] is None and key["enabled"] is True
    assert key["value"] == {"value": "", "env_var": "", "from_env": False}
    assert key["created_at"] == key["updated_at"] == "0001-01-01T00:00:00Z"
    assert (key["config_hash"], key["use_for_batch_api"], key["status"], key["blacklisted_models"]) == (
        "", False, "", None)
    assert not set(w14.CREDENTIAL_FIELDS) & set(key)


def test_mcp_configs_embed_the_full_client_and_no_client_name() -> None:
    generated = world()
    clients = generated.catalogue.mcp_clients
    for name, client in clients.items():
        assert_order(client, MCP_CLIENT_ORDER, name)
        assert client["name"] == name
        assert ("stdio_config" in client) == (client["connection_type"] == "stdio")
        assert ("connection_string" in client) == (client["connection_type"] != "stdio")
    seen = 0
    for vk in generated.virtual_keys:
        names = [mc["mcp_client"]["name"] for mc in vk["mcp_configs"]]
        assert len(set(names)) == len(names)
        for mc in vk["mcp_configs"]:
            seen += 1
            assert_order(mc, MCP_CONFIG_ORDER, vk["name"])
            assert "mcp_client_name" not in mc
            assert mc["virtual_key_id"] == vk["id"]
            assert mc["mcp_client"] == clients[mc["mcp_client"]["name"]]
            assert mc["mcp_client_id"] == mc["mcp_client"]["id"]
            tools = mc["tools_to_execute"]
            assert tools is None or tools == ["*"] or set(tools) <= set(w14.MCP_CLIENTS[mc["mcp_client"]["name"]][1])
    assert seen > 50


def test_budgets_have_unique_1_5_durations_and_the_right_owner() -> None:
    generated = world()
    owners = [vk.get("budgets", []) for vk in generated.virtual_keys]
    owners += [pc.get("budgets", []) for vk in generated.virtual_keys for pc in vk["provider_configs"]]
    owners += [team.get("budgets", []) for team in generated.teams]
    for budgets in owners:
        durations = [budget["reset_duration"] for budget in budgets]
        assert len(set(durations)) == len(durations), durations
    owner_fields = {"vk": {"virtual_key_id"}, "pc": {"provider_config_id"}, "team": {"team_id"}, "customer": set()}
    for kind, budget in budgets_of(generated):
        assert_order(budget, BUDGET_ORDER, kind)
        assert budget["reset_duration"] in DURATIONS_1_5
        assert {"team_id", "virtual_key_id", "provider_config_id"} & set(budget) == owner_fields[kind]
        assert isinstance(budget["calendar_aligned"], bool)
        assert budget["max_limit"] > 0 and budget["current_usage"] >= 0
        if kind != "team":
            assert budget["calendar_aligned"] is False  # only team budgets honour the per-budget flag
    for vk in generated.virtual_keys:
        assert all(budget["virtual_key_id"] == vk["id"] for budget in vk.get("budgets", []))
    for team in generated.teams:
        assert all(budget["team_id"] == team["id"] for budget in team.get("budgets", []))


def test_rate_limits_have_the_1_5_shape() -> None:
    limits = rate_limits_of(world())
    assert len(limits) > 100
    for limit in limits:
        assert_order(limit, RATE_LIMIT_ORDER, limit["id"])
        assert "metric" not in limit and limit["calendar_aligned"] is False
        assert "token_max_limit" in limit or "request_max_limit" in limit
        for kind in ("token", "request"):
            assert (f"{kind}_max_limit" in limit) == (f"{kind}_reset_duration" in limit)
            assert 0 <= limit[f"{kind}_current_usage"] <= limit.get(f"{kind}_max_limit", 0)


def test_teams_and_customers_are_stored_without_their_joins() -> None:
    generated = world()
    for team in generated.teams:
        assert_order(team, TEAM_ORDER, team["name"])
        assert (team["profile"], team["config"], team["claims"]) == (None, None, None)
        assert ("rate_limit" in team) == ("rate_limit_id" in team)
    for customer in generated.customers:
        assert_order(customer, CUSTOMER_ORDER, customer["name"])
        assert ("budget" in customer) == ("budget_id" in customer)
        assert ("rate_limit" in customer) == ("rate_limit_id" in customer)
        if "budget" in customer:
            assert customer["budget_id"] == customer["budget"]["id"]
    assert len({t["name"] for t in generated.teams}) == len(generated.teams)
    assert len({c["name"] for c in generated.customers}) == len(generated.customers)
    assert all(UUID4.match(record["id"]) for record in [*generated.teams, *generated.customers])


# ---- references -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 5, 13, 50, 400])
def test_every_reference_points_at_a_record_of_the_same_world(count: int) -> None:
    generated = world(count=count)
    teams = {team["id"]: team for team in generated.teams}
    customers = {customer["id"]: customer for customer in generated.customers}
    for team in generated.teams:
        assert team.get("customer_id") is None or team["customer_id"] in customers
    for vk in generated.virtual_keys:
        assert not ("team_id" in vk and "customer_id" in vk)
        assert ("team" in vk) == ("team_id" in vk) and ("customer" in vk) == ("customer_id" in vk)
        if "team_id" in vk:
            team = teams[vk["team_id"]]
            embedded = vk["team"]
            assert_order(embedded, LIST_TEAM_ORDER, vk["name"])
            assert embedded == w15.list_team(team, customers.get(team.get("customer_id", "")))
            assert embedded["virtual_key_count"] == 0 and "budgets" not in embedded and "rate_limit" not in embedded
            if "customer" in embedded:
                assert_order(embedded["customer"], PLAIN_CUSTOMER_ORDER, vk["name"])
                assert embedded["customer"]["id"] == team["customer_id"]
        if "customer_id" in vk:
            assert_order(vk["customer"], PLAIN_CUSTOMER_ORDER, vk["name"])
            assert vk["customer"] == w15.plain_customer(customers[vk["customer_id"]])
            assert vk["customer"]["teams"] is None and vk["customer"]["virtual_keys"] is None


def test_embedded_records_are_copies() -> None:
    """A store that edits one key's embedded team must not edit the team of every other key."""
    generated = world(count=200)
    embeds = [vk["team"] for vk in generated.virtual_keys if "team" in vk]
    by_team = Counter(embed["id"] for embed in embeds)
    shared = next(team_id for team_id, n in by_team.items() if n > 1)
    first, second = [embed for embed in embeds if embed["id"] == shared][:2]
    assert first == second and first is not second
    with_customer = [vk["team"] for vk in generated.virtual_keys if "customer" in vk.get("team", {})]
    assert with_customer and len({id(embed["customer"]) for embed in with_customer}) == len(with_customer)
    stored = next(team for team in generated.teams if team["id"] == shared)
    assert first is not stored


# ---- time -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("now", [DEFAULT_NOW, "2026-11-02T00:00:00Z", "2027-01-01T00:00:00Z"])
def test_every_timestamp_is_before_the_anchor_and_printed_as_go_does(now: str) -> None:
    generated = w15.generate_world(11, 300, now)
    anchor = parse_ts(now)
    texts = timestamps([generated.virtual_keys, generated.teams, generated.customers,
                        generated.catalogue.mcp_clients])
    assert len(texts) > 2_000
    for text in texts:
        if text == w15.ZERO_TIME:
            continue
        moment = parse_ts(text)
        assert moment < anchor, text
        assert format_ts(moment) == text
    for vk in generated.virtual_keys:
        assert parse_ts(vk["created_at"]) <= parse_ts(vk["updated_at"])
    for _, budget in budgets_of(generated):
        assert parse_ts(budget["created_at"]) <= parse_ts(budget["updated_at"])


def test_the_fast_formatter_agrees_with_clock_format_ts() -> None:
    rng = random.Random(5)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    samples = [rng.randrange(-10**16, 10**17) for _ in range(3_000)]
    samples += [0, 1, 10, 1_000_000, 86_400_000_000 - 1, -1, -62_000_000_000_000_000]
    for us in samples:
        assert w15._ts(us) == format_ts(epoch + timedelta(microseconds=us)), us


PERIOD = {"1m": 60, "5m": 300, "1h": 3_600, "6h": 21_600, "1d": 86_400, "1w": 7 * 86_400, "1M": 30 * 86_400}


def test_no_reset_is_due_at_the_anchor() -> None:
    """Every counter's last reset lies inside its current window: the world at ``now`` needs no catching up."""
    generated = world()
    anchor = parse_ts(DEFAULT_NOW)
    for kind, budget in budgets_of(generated):
        age = (anchor - parse_ts(budget["last_reset"])).total_seconds()
        assert 0 < age <= PERIOD[budget["reset_duration"]] + 86_400 * (budget["reset_duration"] == "1M"), (kind, budget)
    for limit in rate_limits_of(generated):
        for counter in ("token", "request"):
            if f"{counter}_reset_duration" in limit:
                age = (anchor - parse_ts(limit[f"{counter}_last_reset"])).total_seconds()
                assert 0 < age <= PERIOD[limit[f"{counter}_reset_duration"]], limit


def test_calendar_alignment_puts_last_reset_on_the_period_start() -> None:
    now = "2026-11-04T15:30:00Z"  # a Wednesday
    starts = {"1d": "2026-11-04T00:00:00Z", "1w": "2026-11-02T00:00:00Z", "1M": "2026-11-01T00:00:00Z",
              "1Y": "2026-01-01T00:00:00Z"}
    generated = w15.generate_world(13, 600, now)
    aligned_keys = [vk for vk in generated.virtual_keys if vk["calendar_aligned"]]
    assert aligned_keys
    for vk in generated.virtual_keys:
        for budget in vk.get("budgets", []):
            if vk["calendar_aligned"] and budget["reset_duration"] in starts:
                assert budget["last_reset"] == starts[budget["reset_duration"]]
            else:
                assert parse_ts(budget["last_reset"]) >= parse_ts(vk["created_at"])
    team_budgets = [budget for team in generated.teams for budget in team.get("budgets", [])]
    assert any(budget["calendar_aligned"] for budget in team_budgets)
    for budget in team_budgets:
        if budget["calendar_aligned"]:
            assert budget["last_reset"] == starts[budget["reset_duration"]]
    # an anchor exactly on a boundary: the period that starts then has not begun yet
    boundary = w15.generate_world(13, 600, "2026-11-02T00:00:00Z")
    for vk in boundary.virtual_keys:
        for budget in vk.get("budgets", []):
            if vk["calendar_aligned"] and budget["reset_duration"] == "1d":
                assert budget["last_reset"] == "2026-11-01T00:00:00Z"


def test_the_world_looks_alive() -> None:
    generated = world(count=2_000)
    keys = generated.virtual_keys
    share = {
        "inactive": sum(not vk["is_active"] for vk in keys) / len(keys),
        "team": sum("team_id" in vk for vk in keys) / len(keys),
        "customer": sum("customer_id" in vk for vk in keys) / len(keys),
        "aligned": sum(vk["calendar_aligned"] for vk in keys) / len(keys),
        "budgets": sum("budgets" in vk for vk in keys) / len(keys),
        "two budgets": sum(len(vk.get("budgets", [])) == 2 for vk in keys) / len(keys),
    }
    assert 0.03 < share["inactive"] < 0.2
    assert 0.3 < share["team"] < 0.5 and 0.12 < share["customer"] < 0.28
    assert 0.05 < share["aligned"] < 0.2
    assert 0.6 < share["budgets"] < 0.9 and 0.15 < share["two budgets"] < 0.35
    usage = [b["current_usage"] / b["max_limit"] for _, b in budgets_of(generated)]
    assert sum(u < 0.7 for u in usage) / len(usage) > 0.6
    assert any(0.9 <= u < 1 for u in usage) and any(u >= 1 for u in usage)
    configs = [pc for vk in keys for pc in vk["provider_configs"]]
    assert {pc["allow_all_keys"] for pc in configs} == {True, False}
    assert any(pc["keys"] for pc in configs) and any(not pc["allow_all_keys"] and not pc["keys"] for pc in configs)
    assert any(pc["weight"] is None for pc in configs) and any(pc["weight"] is not None for pc in configs)
    assert any(pc["allowed_models"] == ["*"] for pc in configs) and any(pc["allowed_models"] == [] for pc in configs)
    assert any("budgets" in pc for pc in configs) and any("rate_limit" in pc for pc in configs)
    assert any(vk["provider_configs"] == [] for vk in keys)
    providers = Counter(pc["provider"] for pc in configs)
    assert providers.most_common(1)[0][0] == "openai" and len(providers) >= 10
    teams = Counter(vk["team_id"] for vk in keys if "team_id" in vk)
    assert len(teams) > len(generated.teams) / 2  # keys spread over the teams, not only the first few
    assert any("customer_id" in team for team in generated.teams)
    assert any("customer_id" not in team for team in generated.teams)
    assert any("budget" in c for c in generated.customers) and any("budget" not in c for c in generated.customers)
    assert all(re.match(r"^[A-Z][A-Za-z' ,.&-]+$", c["name"]) for c in generated.customers)
