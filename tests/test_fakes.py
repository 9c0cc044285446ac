"""The seeded world: stable, believable and consistent across its object graph."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from vkmock.bifrost import durations
from vkmock.bifrost.v1_4 import world as fakes
from vkmock.clock import parse_ts
from vkmock.jsonio import go_dumps
from vkmock.settings import DEFAULT_NOW

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def world(seed: int = 42, count: int = 200, now: str = DEFAULT_NOW) -> list[dict[str, Any]]:
    return fakes.generate_world(seed, count, now).virtual_keys


def test_same_seed_gives_byte_identical_records() -> None:
    assert go_dumps(world(7, 50)) == go_dumps(world(7, 50))


def test_record_i_does_not_depend_on_the_count() -> None:
    small, large = world(9, 10), world(9, 400)
    assert go_dumps(small) == go_dumps(large[:10])


def test_other_seed_or_anchor_gives_another_world() -> None:
    assert world(1, 5)[0]["id"] != world(2, 5)[0]["id"]
    moved = world(1, 5, "2027-01-01T00:00:00Z")
    assert moved[0]["id"] == world(1, 5)[0]["id"]
    assert moved[0]["created_at"] != world(1, 5)[0]["created_at"]


def test_ids_values_and_names_look_like_upstreams() -> None:
    keys = world()
    assert len({vk["id"] for vk in keys}) == len(keys)
    assert len({vk["name"] for vk in keys}) == len(keys)
    for vk in keys:
        assert UUID4.match(vk["id"])
        assert vk["value"].startswith("sk-bf-") and UUID4.match(vk["value"][6:]), vk["value"]
        assert len(vk["value"]) == 42


def test_object_graph_is_consistent() -> None:
    now = parse_ts(DEFAULT_NOW)
    for vk in world():
        created, updated = parse_ts(vk["created_at"]), parse_ts(vk["updated_at"])
        assert created <= updated <= now
        for owner in [vk, *vk["provider_configs"]]:
            for name in ("budget", "rate_limit"):
                if name in owner:
                    assert owner[f"{name}_id"] == owner[name]["id"]
                else:
                    assert f"{name}_id" not in owner
            budget = owner.get("budget")
            if budget:
                assert parse_ts(budget["last_reset"]) <= now
                assert durations.is_valid(budget["reset_duration"])
        for pc in vk["provider_configs"]:
            assert pc["virtual_key_id"] == vk["id"]
            assert pc["provider"] in fakes.MODELS
            assert set(pc["allowed_models"]) <= set(fakes.MODELS[pc["provider"]])
            for key in pc["keys"]:
                assert key["provider"] == pc["provider"]
                assert key["value"] == {"value": "", "env_var": "", "from_env": False}
                assert all(key[field] is None for field in fakes.CREDENTIAL_FIELDS)
        for mc in vk["mcp_configs"]:
            assert mc["virtual_key_id"] == vk["id"]
            assert mc["mcp_client"]["name"] == mc["mcp_client_name"]
        assert not ("team_id" in vk and "customer_id" in vk)
        if "team_id" in vk:
            assert vk["team"]["id"] == vk["team_id"]


def test_world_looks_alive() -> None:
    keys = world(count=500)
    providers = Counter(pc["provider"] for vk in keys for pc in vk["provider_configs"])
    assert {"openai", "anthropic", "azure", "bedrock", "vertex", "gemini", "mistral", "groq"} <= set(providers)
    assert providers.most_common(1)[0][0] in ("openai", "anthropic")
    durations_seen = {vk["budget"]["reset_duration"] for vk in keys if "budget" in vk}
    assert {"1d", "1w", "1M"} <= durations_seen
    ratios = [vk["budget"]["current_usage"] / vk["budget"]["max_limit"] for vk in keys if "budget" in vk]
    under = sum(r < 0.9 for r in ratios)
    near = sum(0.9 <= r < 1.0 for r in ratios)
    over = sum(r >= 1.0 for r in ratios)
    assert under > len(ratios) * 0.7 and near > 0 and over > 0
    inactive = sum(not vk["is_active"] for vk in keys)
    assert 0 < inactive < len(keys) * 0.25
    assert sum(bool(vk["mcp_configs"]) for vk in keys) > 50
    assert sum("rate_limit" in vk for vk in keys) > 100
    assert sum("description" in vk for vk in keys) > 300


@pytest.mark.slow
def test_ten_thousand_keys_are_cheap_enough_to_build() -> None:
    keys = world(3, 10_000)
    assert len(keys) == 10_000
    assert len({vk["name"] for vk in keys}) == 10_000
