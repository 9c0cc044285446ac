"""The life of a virtual key over real HTTP, with upstream's bodies, messages and update semantics."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from conftest import AUTH, BASE, LiveServer, request
from vkmock import spec

pytestmark = pytest.mark.slow  # the tests here start processes

UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
JSON_HEADERS = {**AUTH, "Content-Type": "application/json"}


class Api:
    def __init__(self, server: LiveServer) -> None:
        self.url = server.url + BASE

    def call(self, method: str, path: str = "", body: Any = None) -> tuple[int, Any, bytes]:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        status, headers, raw = request(self.url + path, method, data, JSON_HEADERS)
        assert headers["Content-Type"] == "application/json"
        assert raw.endswith(b"\n")
        return status, json.loads(raw), raw

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        status, payload, _ = self.call("POST", body=body)
        assert status == 200, payload
        assert payload["message"] == "Virtual key created successfully"
        return payload["virtual_key"]

    def update(self, vk_id: str, body: dict[str, Any]) -> dict[str, Any]:
        status, payload, _ = self.call("PUT", "/" + vk_id, body)
        assert status == 200, payload
        assert payload["message"] == "Virtual key updated successfully"
        return payload["virtual_key"]

    def get(self, vk_id: str, from_memory: bool = False) -> dict[str, Any]:
        status, payload, _ = self.call("GET", "/" + vk_id + ("?from_memory=true" if from_memory else ""))
        assert status == 200, payload
        return payload["virtual_key"]

    def names(self) -> list[str]:
        return [vk["name"] for vk in self.call("GET")[1]["virtual_keys"]]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def api(serve: Any, request: pytest.FixtureRequest) -> Api:
    """A server on each store: SQLite in memory, and a fresh PostgreSQL database (the same assertions)."""
    db = ("--db", str(request.getfixturevalue("pg_url"))) if request.param == "postgresql" else ()
    return Api(serve("--count", "5", *db))


def valid(schema: str, body: Any) -> bool:
    return bool(spec.validator(schema).is_valid(body))


def test_life_of_a_key(api: Api) -> None:
    before = api.call("GET")[1]
    created = api.create(
        {
            "name": "checkout-service-e2e",
            "description": "checkout <e2e> & friends",
            "provider_configs": [{"provider": "openai", "weight": 0.5, "allowed_models": ["gpt-4o"],
                                  "budget": {"max_limit": 20, "reset_duration": "1w"}, "key_ids": ["*"]}],
            "budget": {"max_limit": 100, "reset_duration": "1M"},
            "rate_limit": {"token_max_limit": 1000, "token_reset_duration": "1h"},
            "mcp_configs": [{"mcp_client_name": "github", "tools_to_execute": ["search_code"]}],
            "team_id": "team-1",
            "unknown_field": "ignored",
        }
    )
    assert re.fullmatch(UUID4, created["id"])
    assert re.fullmatch("sk-bf-" + UUID4, created["value"])
    assert created["is_active"] is True
    assert created["budget_id"] == created["budget"]["id"]
    assert created["budget"]["current_usage"] == 0 and created["budget"]["max_limit"] == 100
    assert created["rate_limit_id"] == created["rate_limit"]["id"]
    assert created["rate_limit"]["token_current_usage"] == 0
    config = created["provider_configs"][0]
    assert config["virtual_key_id"] == created["id"] and config["budget_id"] == config["budget"]["id"]
    assert config["keys"] and all(key["provider"] == "openai" for key in config["keys"])
    assert created["mcp_configs"][0]["mcp_client"]["name"] == "github"
    assert created["team_id"] == "team-1" and "customer_id" not in created
    assert created["config_hash"] == ""
    assert valid("VirtualKey", created)

    # read (both views), list
    assert api.get(created["id"]) == created
    assert api.get(created["id"], from_memory=True) == created
    listed = api.call("GET")[1]
    assert listed["count"] == before["count"] + 1 == len(listed["virtual_keys"])
    assert listed["virtual_keys"][-1] == created  # newest created_at sorts last

    # Go's encoder escapes <, > and &
    raw = api.call("GET", "/" + created["id"])[2]
    assert b"\\u003ce2e\\u003e \\u0026 friends" in raw

    # update: only fields present change, usage is kept, value cannot change
    updated = api.update(created["id"], {"name": "checkout-service-e2e-2", "value": "sk-bf-hacked",
                                         "budget": {"max_limit": 150}, "team_id": "team-1"})
    assert updated["name"] == "checkout-service-e2e-2"
    assert updated["value"] == created["value"]
    assert updated["description"] == created["description"]
    assert updated["budget"]["id"] == created["budget"]["id"]
    assert updated["budget"]["max_limit"] == 150 and updated["budget"]["reset_duration"] == "1M"
    assert updated["provider_configs"] == created["provider_configs"]
    assert updated["created_at"] == created["created_at"] and updated["updated_at"] >= created["updated_at"]
    assert api.get(created["id"]) == updated

    # delete, then 404 for read, update and a second delete
    status, _, raw = api.call("DELETE", "/" + created["id"])
    assert status == 200 and raw == b'{"message":"Virtual key deleted successfully"}\n'
    not_found = {"is_bifrost_error": False, "status_code": 404, "error": {"message": "Virtual key not found"},
                 "extra_fields": {}}
    assert api.call("GET", "/" + created["id"])[:2] == (404, not_found)
    assert api.call("GET", "/" + created["id"] + "?from_memory=true")[:2] == (404, not_found)
    assert api.call("PUT", "/" + created["id"], {"name": "x"})[:2] == (404, not_found)
    assert api.call("DELETE", "/" + created["id"])[:2] == (404, not_found)
    assert api.call("GET")[1] == before


def test_team_and_customer_are_exclusive_and_a_put_without_them_clears_both(api: Api) -> None:
    vk = api.create({"name": "owned", "customer_id": "cust-1"})
    assert vk["customer_id"] == "cust-1"
    moved = api.update(vk["id"], {"team_id": "team-9", "is_active": True})
    assert moved["team_id"] == "team-9" and "customer_id" not in moved
    back = api.update(vk["id"], {"customer_id": "cust-2", "is_active": True})
    assert back["customer_id"] == "cust-2" and "team_id" not in back
    # upstream quirk: a PUT naming neither detaches the key from both
    cleared = api.update(vk["id"], {"description": "now unowned"})
    assert "team_id" not in cleared and "customer_id" not in cleared
    status, payload, _ = api.call("PUT", "/" + vk["id"], {"team_id": "a", "customer_id": "b"})
    assert status == 400 and payload["error"]["message"] == "VirtualKey cannot be attached to both Team and Customer"
    # checked before the key is looked up, as upstream does
    status, payload, _ = api.call("PUT", "/no-such-key", {"team_id": "a", "customer_id": "b"})
    assert status == 400


def test_provider_configs_on_update_are_the_full_desired_set(api: Api) -> None:
    vk = api.create({
        "name": "routing",
        "provider_configs": [
            {"provider": "openai", "weight": 0.7, "allowed_models": ["gpt-4o"],
             "budget": {"max_limit": 10, "reset_duration": "1d"}},
            {"provider": "anthropic", "weight": 0.3, "rate_limit": {"request_max_limit": 60,
                                                                    "request_reset_duration": "1m"}},
        ],
    })
    openai, anthropic = vk["provider_configs"]
    updated = api.update(vk["id"], {"provider_configs": [
        {"id": openai["id"], "provider": "openai", "weight": 1, "budget": {"max_limit": 25}},
        {"provider": "groq", "allowed_models": ["llama-3.3-70b-versatile"]},
    ]})
    kept, new = updated["provider_configs"]
    assert kept["id"] == openai["id"] and kept["weight"] == 1
    assert kept["allowed_models"] == []  # an omitted allowed_models becomes [] (upstream)
    assert kept["budget"]["id"] == openai["budget"]["id"] and kept["budget"]["max_limit"] == 25
    assert kept["budget"]["reset_duration"] == "1d"
    assert kept["budget"]["current_usage"] == openai["budget"]["current_usage"]
    assert new["provider"] == "groq" and new["id"] not in (openai["id"], anthropic["id"])
    assert new["virtual_key_id"] == vk["id"]
    assert anthropic["id"] not in [pc["id"] for pc in updated["provider_configs"]]  # deleted with its limit
    # omitting provider_configs leaves them alone; a foreign id is refused
    assert api.update(vk["id"], {"name": "routing"})["provider_configs"] == updated["provider_configs"]
    status, payload, _ = api.call("PUT", "/" + vk["id"], {"provider_configs": [{"id": 999999, "provider": "x"}]})
    assert status == 409
    assert payload["error"]["message"] == (
        "Failed to update virtual key: provider config 999999 does not belong to this virtual key"
    )
    before, after = api.get(vk["id"]), api.update(vk["id"], {})
    assert {k: v for k, v in after.items() if k != "updated_at"} == {
        k: v for k, v in before.items() if k != "updated_at"
    }


def test_rate_limit_patches_keep_usage_and_empty_body_removes_it(api: Api) -> None:
    vk = api.create({"name": "limited", "rate_limit": {"token_max_limit": 100, "token_reset_duration": "1h",
                                                       "request_max_limit": 10, "request_reset_duration": "1m"}})
    limit = vk["rate_limit"]
    patched = api.update(vk["id"], {"rate_limit": {"request_max_limit": 20}})
    assert patched["rate_limit"]["id"] == limit["id"]
    assert patched["rate_limit"]["request_max_limit"] == 20 and patched["rate_limit"]["token_max_limit"] == 100
    assert patched["rate_limit"]["request_current_usage"] == limit["request_current_usage"]
    removed = api.update(vk["id"], {"rate_limit": {}})
    assert "rate_limit" not in removed and "rate_limit_id" not in removed
    status, payload, _ = api.call("PUT", "/" + vk["id"], {"rate_limit": {"token_max_limit": 5}})
    assert status == 409
    assert payload["error"]["message"] == "Failed to update virtual key: rate limit token reset duration is required"


def test_budget_patch_needs_both_fields_when_the_key_has_none(api: Api) -> None:
    vk = api.create({"name": "budgetless"})
    status, payload, _ = api.call("PUT", "/" + vk["id"], {"budget": {"max_limit": 5}})
    assert status == 409
    assert payload["error"]["message"] == (
        "Failed to update virtual key: both max_limit and reset_duration are required when creating a new budget"
    )
    with_budget = api.update(vk["id"], {"budget": {"max_limit": 5, "reset_duration": "daily"}})
    assert with_budget["budget"]["reset_duration"] == "daily" and with_budget["budget"]["current_usage"] == 0


def test_mcp_configs_on_update(api: Api) -> None:
    vk = api.create({"name": "tools", "mcp_configs": [{"mcp_client_name": "github", "tools_to_execute": ["*"]},
                                                      {"mcp_client_name": "slack"}]})
    github, _slack = vk["mcp_configs"]
    updated = api.update(vk["id"], {"mcp_configs": [{"id": github["id"], "mcp_client_name": "github",
                                                     "tools_to_execute": ["get_issue"]}]})
    assert [(m["id"], m["tools_to_execute"]) for m in updated["mcp_configs"]] == [(github["id"], ["get_issue"])]


def test_duplicate_names_are_409_on_create_and_update(api: Api) -> None:
    first = api.create({"name": "unique-name"})
    second = api.create({"name": "other-name"})
    status, payload, _ = api.call("POST", body={"name": "unique-name"})
    assert (status, payload["error"]["message"]) == (
        409, "a record with this name already exists. Please use a different value")
    status, payload, _ = api.call("PUT", "/" + second["id"], {"name": "unique-name"})
    assert (status, payload["error"]["message"]) == (
        409, "Failed to update virtual key: a record with this name already exists. Please use a different value")
    assert api.names().count("unique-name") == 1
    assert api.get(second["id"])["name"] == "other-name"  # the failed write left nothing behind
    assert api.update(first["id"], {"name": "unique-name"})["name"] == "unique-name"  # renaming to itself


def test_from_memory_follows_upstream_exactly(api: Api) -> None:
    for value in ("true", "false", "1", "True", "yes", ""):
        status, payload, _ = api.call("GET", f"?from_memory={value}")
        assert status == 200 and payload["count"] == 5
