"""Bad input: upstream's message, the documented 4xx by default, upstream's own status with --upstream-quirks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import AUTH, BASE, FIXTURES
from vkmock.app import create_app
from vkmock.settings import Settings

P = "Failed to update virtual key: "
RL = {"token_reset_duration": "1h"}

# (body, default status, upstream status, message) for POST
CREATE_CASES: list[tuple[Any, int, int, str]] = [
    (b"", 400, 400, "Invalid JSON"),
    (b"{", 400, 400, "Invalid JSON"),
    (b"[]", 400, 400, "Invalid JSON"),
    (b"null", 400, 400, "Invalid JSON"),
    ({"name": 5}, 400, 400, "Invalid JSON"),
    ({"name": "x", "is_active": "yes"}, 400, 400, "Invalid JSON"),
    ({"name": "x", "rate_limit": {"token_max_limit": "10"}}, 400, 400, "Invalid JSON"),
    ({"name": "x", "rate_limit": {"token_max_limit": 2**63, **RL}}, 400, 400, "Invalid JSON"),
    ({"name": "x", "provider_configs": {"provider": "openai"}}, 400, 400, "Invalid JSON"),
    ({}, 400, 400, "Virtual key name is required"),
    ({"name": ""}, 400, 400, "Virtual key name is required"),
    ({"name": "x", "team_id": "t", "customer_id": "c"}, 400, 400,
     "VirtualKey cannot be attached to both Team and Customer"),
    ({"name": "x", "team_id": "", "customer_id": ""}, 400, 400,
     "VirtualKey cannot be attached to both Team and Customer"),
    ({"name": "x", "budget": {"max_limit": -5, "reset_duration": "1d"}}, 400, 400,
     "Budget max_limit cannot be negative: -5.00"),
    ({"name": "x", "budget": {"max_limit": 0, "reset_duration": "1d"}}, 400, 500,
     "budget max limit cannot be negative or zero: 0.00"),
    ({"name": "x", "budget": {"max_limit": 10, "reset_duration": "1D"}}, 400, 400,
     "Invalid reset duration format: 1D"),
    ({"name": "x", "budget": {"max_limit": 10, "reset_duration": "10"}}, 400, 400,
     "Invalid reset duration format: 10"),
    ({"name": "x", "budget": {"max_limit": 10}}, 400, 400, "Invalid reset duration format: "),
    ({"name": "x", "rate_limit": {"token_max_limit": 0, **RL}}, 400, 500,
     "rate limit token max limit cannot be negative or zero: 0"),
    ({"name": "x", "rate_limit": {"token_max_limit": 10}}, 400, 500, "rate limit token reset duration is required"),
    ({"name": "x", "rate_limit": {"request_max_limit": -1, "request_reset_duration": "1m"}}, 400, 500,
     "rate limit request max limit cannot be negative or zero: -1"),
    ({"name": "x", "rate_limit": {"request_max_limit": 5, "request_reset_duration": "1 minute"}}, 400, 500,
     "invalid rate limit request reset duration format: 1 minute"),
    ({"name": "x", "provider_configs": [{"provider": "openai", "allowed_models": ["*", "gpt-4o"]}]}, 400, 400,
     "invalid allowed_models for provider openai: wildcard '*' cannot be used with other values in the whitelist"),
    ({"name": "x", "provider_configs": [{"provider": "openai", "allowed_models": ["gpt-4o", "gpt-4o"]}]}, 400, 400,
     "invalid allowed_models for provider openai: duplicate value 'gpt-4o' in whitelist"),
    ({"name": "x", "provider_configs": [{"provider": "openai", "allowed_models": ["gpt-4o", "GPT-4o"]}]}, 409, 400,
     "invalid allowed_models for provider openai: duplicate value 'GPT-4o' in whitelist"),
    ({"name": "x", "provider_configs": [{"provider": "openai", "key_ids": ["*", "k"]}]}, 400, 400,
     "invalid key_ids for provider openai: wildcard '*' cannot be used with other values in the whitelist"),
    ({"name": "x", "provider_configs": [{"provider": "openai", "key_ids": ["no-such-key"]}]}, 409, 500,
     "some keys not found for provider openai: expected 1, found 0"),
    ({"name": "x", "provider_configs": [{"provider": "openai", "budget": {"max_limit": -1, "reset_duration": "1d"}}]},
     400, 400, "provider config budget max_limit cannot be negative: -1.00"),
    ({"name": "x", "provider_configs": [{"provider": "openai", "budget": {"max_limit": 1, "reset_duration": "1x"}}]},
     400, 400, "invalid provider config budget reset duration format: 1x"),
    ({"name": "x", "mcp_configs": [{"mcp_client_name": "github"}, {"mcp_client_name": "github"}]}, 409, 400,
     "duplicate mcp_client_name: github"),
    ({"name": "x", "mcp_configs": [{"mcp_client_name": "github", "tools_to_execute": ["*", "a"]}]}, 400, 400,
     "invalid tools_to_execute for mcp client github: wildcard '*' cannot be used with other values in the whitelist"),
    ({"name": "x", "mcp_configs": [{"mcp_client_name": "no-such-client"}]}, 409, 500,
     "failed to get MCP client: record not found"),
    ({"name": "checkout-service-dup"}, 409, 500,
     "a record with this name already exists. Please use a different value"),
    ({"name": "x" * 256}, 400, 400, "invalid request body at name: the value is longer than 255 characters"),
]

UPDATE_CASES: list[tuple[Any, int, int, str]] = [
    (b"{", 400, 400, "Invalid JSON"),
    ({"name": 1}, 400, 400, "Invalid JSON"),
    ({"team_id": "t", "customer_id": "c"}, 400, 400, "VirtualKey cannot be attached to both Team and Customer"),
    ({"budget": {"max_limit": -2}}, 400, 400, P + "budget max_limit cannot be negative: -2.00"),
    ({"budget": {"reset_duration": "weekly-ish"}}, 400, 400, P + "invalid reset duration format: weekly-ish"),
    ({"budget": {"max_limit": 0}}, 400, 500, P + "budget max limit cannot be negative or zero: 0.00"),
    ({"provider_configs": [{"provider": "openai", "allowed_models": ["*", "x"]}]}, 400, 400,
     P + "invalid allowed_models for provider openai: wildcard '*' cannot be used with other values in the whitelist"),
    ({"provider_configs": [{"id": 123456, "provider": "openai"}]}, 409, 500,
     P + "provider config 123456 does not belong to this virtual key"),
    ({"mcp_configs": [{"id": 123456, "mcp_client_name": "github"}]}, 409, 500,
     P + "MCP config 123456 does not belong to this virtual key"),
    ({"mcp_configs": [{"mcp_client_name": "slack"}, {"mcp_client_name": "slack"}]}, 409, 400,
     P + "duplicate mcp_client_name: slack"),
    ({"name": "checkout-service-dup"}, 409, 400,
     P + "a record with this name already exists. Please use a different value"),
    ({"rate_limit": {"token_max_limit": 9}}, 409, 500,
     P + "token_reset_duration is required when token_max_limit is set"),
]


def make_client(quirks: bool) -> Any:
    app = create_app(Settings(fixtures_dir=str(FIXTURES), count=3, upstream_quirks=quirks))
    client = app.test_client()
    for name in ("checkout-service-dup", "target"):
        assert client.post(BASE, headers=AUTH, json={
            "name": name, "budget": {"max_limit": 10, "reset_duration": "1d"},
            "rate_limit": {"request_max_limit": 5, "request_reset_duration": "1m"},
        }).status_code == 200
    return client


def send(client: Any, method: str, path: str, body: Any) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.open(path, method=method, data=data, headers={**AUTH, "Content-Type": "application/json"})


def target_id(client: Any) -> str:
    keys = json.loads(client.get(BASE, headers=AUTH).data)["virtual_keys"]
    return next(vk["id"] for vk in keys if vk["name"] == "target")


@pytest.mark.parametrize("quirks", [False, True], ids=["default", "upstream-quirks"])
@pytest.mark.parametrize(("body", "status", "upstream", "message"), CREATE_CASES)
def test_bad_create(quirks: bool, body: Any, status: int, upstream: int, message: str) -> None:
    client = make_client(quirks)
    before = client.get(BASE, headers=AUTH).data
    response = send(client, "POST", BASE, body)
    expected = upstream if quirks else status
    assert response.status_code == expected
    assert json.loads(response.data) == {
        "is_bifrost_error": False, "status_code": expected, "error": {"message": message}, "extra_fields": {},
    }
    assert client.get(BASE, headers=AUTH).data == before  # nothing half-written


@pytest.mark.parametrize("quirks", [False, True], ids=["default", "upstream-quirks"])
@pytest.mark.parametrize(("body", "status", "upstream", "message"), UPDATE_CASES)
def test_bad_update(quirks: bool, body: Any, status: int, upstream: int, message: str) -> None:
    client = make_client(quirks)
    vk_id = target_id(client)
    if body == {"rate_limit": {"token_max_limit": 9}}:
        assert send(client, "PUT", f"{BASE}/{vk_id}", {"rate_limit": {"request_max_limit": 5}}).status_code == 200
    before = client.get(BASE, headers=AUTH).data
    response = send(client, "PUT", f"{BASE}/{vk_id}", body)
    expected = upstream if quirks else status
    assert response.status_code == expected, response.data
    assert json.loads(response.data)["error"]["message"] == message
    assert client.get(BASE, headers=AUTH).data == before


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_unknown_ids_are_404(client: Any, method: str) -> None:
    for vk_id in ("no-such-key", "0b6f3c52-6c8e-4f0a-9d55-7d1f2a4e9b10", "a%2Fb", "x" * 2000):
        response = send(client, method, f"{BASE}/{vk_id}", {"name": "renamed"})
        assert response.status_code == 404
        assert json.loads(response.data)["error"]["message"] == "Virtual key not found"


def test_unknown_routes_and_methods_get_the_envelope(client: Any) -> None:
    response = client.get("/api/governance/teams", headers=AUTH)
    assert response.status_code == 404 and response.content_type == "application/json"
    assert json.loads(response.data)["status_code"] == 404
    response = client.patch(BASE, headers=AUTH)
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}
    assert json.loads(response.data)["status_code"] == 405


def test_valid_but_odd_inputs_are_accepted_as_upstream_does(client: Any) -> None:
    body = {"name": " ", "provider_configs": [{"provider": "made-up", "weight": -3}], "description": None,
            "is_active": None, "rate_limit": {"token_max_limit": 5.0, "token_reset_duration": "1.5d"},
            "budget": {"max_limit": 0.01, "reset_duration": "MONTHLY"}}
    response = send(client, "POST", BASE, body)
    assert response.status_code == 200, response.data
    vk = json.loads(response.data)["virtual_key"]
    assert vk["is_active"] is True and vk["provider_configs"][0]["weight"] == -3
    assert vk["rate_limit"]["token_max_limit"] == 5 and vk["budget"]["reset_duration"] == "MONTHLY"
    renamed = send(client, "PUT", f"{BASE}/{vk['id']}", {"name": ""})
    assert renamed.status_code == 200  # upstream does not check the name on update
