"""The Bifrost 1.5 profile, in process: upstream's messages, statuses, shapes, field order and list semantics.

Each expectation comes from the 1.5 facts (upstream at 93aa9bc) and was checked against a real upstream server
run by hand on loopback; the few places where vkmock answers another status on purpose are asserted in both
modes (default and ``upstream_quirks``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import FIXTURES
from vkmock.app import create_app
from vkmock.settings import Settings

AUTH = {"Authorization": "Bearer test-token"}
VK = "/api/governance/virtual-keys"
TEAMS = "/api/governance/teams"
CUSTOMERS = "/api/governance/customers"
LIST_KEYS = ["count", "limit", "offset", "total_count", "virtual_keys"]


def make_client(**settings: Any) -> Any:
    values = {"bifrost": "1.5", "count": 0, "fixtures_dir": str(FIXTURES), **settings}
    return create_app(Settings(**values)).test_client()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def engine_db(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """The stores of the in-process clients: SQLite in memory, or a fresh PostgreSQL database for each client
    (closed after)."""
    opened: list[Any] = []
    cluster = request.getfixturevalue("postgres") if request.param == "postgresql" else None
    yield {"new_db": cluster.new_database if cluster else lambda: None, "opened": opened}
    for app in opened:
        app.extensions["vkmock"].store.close()


def engine_client(engine_db: dict[str, Any], **settings: Any) -> Any:
    client = make_client(db=engine_db["new_db"](), **settings)
    engine_db["opened"].append(client.application)
    return client


@pytest.fixture
def client(engine_db: dict[str, Any]) -> Any:
    return engine_client(engine_db)


@pytest.fixture
def quirks(engine_db: dict[str, Any]) -> Any:
    return engine_client(engine_db, upstream_quirks=True)


def call(client: Any, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    return client.open(path, method=method, data=data, headers={**AUTH, **(headers or {})})


def message(response: Any) -> str:
    envelope = response.get_json()
    assert list(envelope) == ["is_bifrost_error", "status_code", "error", "extra_fields"]
    assert envelope["status_code"] == response.status_code and envelope["extra_fields"] == {}
    return str(envelope["error"]["message"])


def create(client: Any, **body: Any) -> dict[str, Any]:
    response = call(client, "POST", VK, body)
    assert response.status_code == 200, response.data
    return dict(response.get_json()["virtual_key"])


# ---- the list envelope and its three paths -----------------------------------------------------------------


def test_an_empty_list_has_the_five_sorted_fields_on_every_path(client: Any) -> None:
    for query in ("", "?from_memory=true", "?limit=10", "?order=desc"):
        response = call(client, "GET", VK + query)
        assert response.status_code == 200
        assert response.data.endswith(b"}\n")
        body = json.loads(response.data)
        assert list(body) == LIST_KEYS and body["virtual_keys"] == []
    assert call(client, "GET", VK).data == b'{"count":0,"limit":0,"offset":0,"total_count":0,"virtual_keys":[]}\n'


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("limit=abc", "Invalid limit parameter: must be a number"),
        ("limit=5.0", "Invalid limit parameter: must be a number"),
        ("limit=1e9", "Invalid limit parameter: must be a number"),
        ("limit=+5", "Invalid limit parameter: must be a number"),  # `+` is a space in a query string
        ("limit=99999999999999999999", "Invalid limit parameter: must be a number"),
        ("limit=-1", "Invalid limit parameter: must be non-negative"),
        ("offset=x", "Invalid offset parameter: must be a number"),
        ("offset=-3", "Invalid offset parameter: must be non-negative"),
        ("limit=abc&offset=x", "Invalid limit parameter: must be a number"),
    ],
)
def test_bad_paging_numbers_get_upstreams_400(client: Any, query: str, expected: str) -> None:
    response = call(client, "GET", f"{VK}?{query}")
    assert response.status_code == 400 and message(response) == expected


@pytest.mark.parametrize(
    ("query", "limit", "offset"),
    [("limit=0", 25, 0), ("limit=1000", 100, 0), ("limit=%2B5", 5, 0), ("export=true", 25, 0),
     ("limit=10000&export=true", 100, 0), ("offset=2", 25, 2), ("sort_by=drop%20table", 25, 0)],
)
def test_paged_lists_echo_the_clamped_values(client: Any, query: str, limit: int, offset: int) -> None:
    body = call(client, "GET", f"{VK}?{query}").get_json()
    assert (body["limit"], body["offset"]) == (limit, offset)


def _names(client: Any, query: str) -> list[str]:
    response = call(client, "GET", f"{VK}?{query}")
    assert response.status_code == 200, response.data
    return [vk["name"] for vk in response.get_json()["virtual_keys"]]


def test_search_sort_and_paging(client: Any) -> None:
    for name in ("beta-prod", "Alpha-prod", "gamma_dev", "alpha-staging", "K1", "k1"):
        create(client, name=name)
    assert _names(client, "search=PROD") == ["beta-prod", "Alpha-prod"]
    assert _names(client, "search=a_d") == ["gamma_dev"]  # `_` is LIKE's one-character wildcard
    assert _names(client, "search=a%25s") == ["alpha-staging"]  # and `%` any run
    assert _names(client, "sort_by=name") == ["Alpha-prod", "K1", "alpha-staging", "beta-prod", "gamma_dev", "k1"]
    assert _names(client, "sort_by=name&order=DESC")[0] == "k1"
    body = call(client, "GET", f"{VK}?sort_by=name&limit=2&offset=1").get_json()
    assert [vk["name"] for vk in body["virtual_keys"]] == ["K1", "alpha-staging"]
    assert (body["count"], body["total_count"], body["limit"], body["offset"]) == (2, 6, 2, 1)
    # `order` alone does not page: the unpaged body echoes the list's own length as its limit
    assert call(client, "GET", f"{VK}?order=desc").get_json()["limit"] == 6


def test_budget_spent_sorts_by_the_highest_own_budget_and_ties_break_by_id(client: Any) -> None:
    for name in ("a", "b", "c"):
        create(client, name=name)
    keys = call(client, "GET", VK).get_json()["virtual_keys"]
    ids = sorted(vk["id"] for vk in keys)
    descending = call(client, "GET", f"{VK}?sort_by=budget_spent&order=desc").get_json()["virtual_keys"]
    assert [vk["id"] for vk in descending] == ids  # all spend 0: the id tie-break stays ascending


def test_status_sort_puts_inactive_keys_first(client: Any) -> None:
    first = create(client, name="on")
    second = create(client, name="off")
    call(client, "PUT", f"{VK}/{second['id']}", {"is_active": False})
    assert _names(client, "sort_by=status") == ["off", "on"]
    assert _names(client, "sort_by=status&order=desc") == ["on", "off"]
    assert first["is_active"] is True


# ---- create ------------------------------------------------------------------------------------------------

CREATE_ERRORS: list[tuple[Any, int, int, str]] = [
    # body, vkmock status, upstream status, message
    (b"{", 400, 400, "Invalid JSON"),
    (b"", 400, 400, "Invalid JSON"),
    ({"name": 5}, 400, 400, "Invalid JSON"),
    ({"name": ""}, 400, 400, "Virtual key name is required"),
    ({"name": "x", "team_id": "t", "customer_id": "c"}, 400, 400,
     "VirtualKey cannot be attached to both Team and Customer"),
    ({"name": "x", "budgets": [{"max_limit": -5, "reset_duration": "1d"}]}, 400, 400,
     "Budget max_limit cannot be negative: -5.00"),
    ({"name": "x", "budgets": [{"max_limit": 5, "reset_duration": "daily"}]}, 400, 400,
     "Invalid reset duration format: daily"),
    ({"name": "x", "budgets": [{"max_limit": 5}]}, 400, 400, "Invalid reset duration format: "),
    ({"name": "x", "budgets": [{"max_limit": 5, "reset_duration": "1d"}, {"max_limit": 6, "reset_duration": "1d"}]},
     409, 400, "Duplicate reset_duration in budgets: 1d"),
    ({"name": "x", "rate_limit": {"token_max_limit": 0, "token_reset_duration": "1h"}}, 400, 500,
     "rate limit token max limit cannot be negative or zero: 0"),
    ({"name": "x", "rate_limit": {"request_max_limit": 5}}, 400, 500, "rate limit request reset duration is required"),
    ({"name": "x", "rate_limit": {"token_max_limit": 5, "token_reset_duration": "0s"}}, 400, 500,
     "token reset duration cannot be zero or negative: 0s"),
    ({"name": "x", "budgets": [{"max_limit": 0, "reset_duration": "1d"}]}, 400, 500,
     "budget max limit cannot be negative or zero: 0.00"),
    ({"name": "x", "budgets": [{"max_limit": 1, "reset_duration": "0d"}]}, 400, 500, "reset duration must be > 0: 0d"),
    ({"name": "x", "team_id": "no-such-team"}, 409, 500, "FOREIGN KEY constraint failed"),
    ({"name": "x", "customer_id": ""}, 409, 500, "FOREIGN KEY constraint failed"),
    ({"name": "x", "provider_configs": [{"provider": " "}]}, 400, 400, "provider name is required"),
    ({"name": "x", "provider_configs": [{"provider": " nope "}]}, 409, 400, "invalid provider name:  nope "),
    ({"name": "x", "provider_configs": [{"provider": "openai", "allowed_models": ["*", "gpt-4o"]}]}, 400, 400,
     "invalid allowed_models for provider openai: wildcard '*' cannot be used with other values in the whitelist"),
    ({"name": "x", "provider_configs": [{"provider": "openai", "allowed_models": ["gpt-4o", "GPT-4o"]}]}, 409, 400,
     "invalid allowed_models for provider openai: duplicate value 'GPT-4o' in whitelist"),
    ({"name": "x", "provider_configs": [{"provider": "openai", "key_ids": ["no-such-key"]}]}, 409, 500,
     "some keys not found for provider openai: expected 1, found 0"),
    ({"name": "x", "provider_configs": [
        {"provider": "openai", "budgets": [{"max_limit": 1, "reset_duration": "1d"},
                                           {"max_limit": 2, "reset_duration": "1d"}]}]}, 409, 400,
     "duplicate reset_duration in provider config budgets: 1d"),
    ({"name": "x", "provider_configs": [
        {"provider": "openai", "budgets": [{"max_limit": -5, "reset_duration": "1d"}]}]}, 400, 500,
     "budget max limit cannot be negative or zero: -5.00"),
    ({"name": "x", "mcp_configs": [{"mcp_client_name": "a"}, {"mcp_client_name": "a"}]}, 409, 400,
     "duplicate mcp_client_name: a"),
    ({"name": "x", "mcp_configs": [{"mcp_client_name": "no-such-client"}]}, 409, 500,
     "failed to get MCP client: not found"),
]


@pytest.mark.parametrize(("body", "status", "upstream", "text"), CREATE_ERRORS)
def test_create_refuses_with_upstreams_message(
    client: Any, quirks: Any, body: Any, status: int, upstream: int, text: str
) -> None:
    for which, expected in ((client, status), (quirks, upstream)):
        response = call(which, "POST", VK, body)
        assert (response.status_code, message(response)) == (expected, text)
        assert call(which, "GET", VK).get_json()["total_count"] == 0  # nothing half-written


def test_a_duplicate_name_is_checked_after_the_key_rate_limit(client: Any, quirks: Any) -> None:
    for which, status in ((client, 409), (quirks, 500)):
        create(which, name="k1")
        response = call(which, "POST", VK, {"name": "k1"})
        assert (response.status_code, message(response)) == (
            status, "a record with this name already exists. Please use a different value"
        )
        response = call(which, "POST", VK, {"name": "k1", "rate_limit": {"token_max_limit": -1}})
        assert message(response) == "rate limit token max limit cannot be negative or zero: -1"
    create(client, name="K1")  # names are unique case-sensitively


def test_a_created_key_has_upstreams_shape_and_order(client: Any) -> None:
    response = call(client, "POST", VK, {
        "name": "full <body> & co", "description": "d", "is_active": False, "calendar_aligned": True,
        "budgets": [{"max_limit": 10, "reset_duration": "1M"}, {"max_limit": 1.5, "reset_duration": "1w"}],
        "rate_limit": {"token_max_limit": 1000, "token_reset_duration": "1h"},
        "provider_configs": [{"provider": " openai ", "allowed_models": ["*"], "key_ids": ["*"],
                              "budgets": [{"max_limit": 5, "reset_duration": "1d"}]}],
        "budget": {"max_limit": 1, "reset_duration": "1d"},
    })
    assert response.status_code == 200
    assert response.data.startswith(b'{"message":"Virtual key created successfully","virtual_key":{')
    assert b"full \\u003cbody\\u003e \\u0026 co" in response.data
    vk = response.get_json()["virtual_key"]
    assert list(vk) == ["id", "name", "description", "value", "is_active", "provider_configs", "mcp_configs",
                        "rate_limit_id", "calendar_aligned", "rate_limit", "budgets", "config_hash", "created_at",
                        "updated_at"]
    assert vk["is_active"] is True  # lost on create, as upstream's column default does
    assert vk["value"].startswith("sk-bf-") and len(vk["value"]) == 42
    assert vk["calendar_aligned"] is True
    assert [b["calendar_aligned"] for b in vk["budgets"]] == [False, False]
    assert vk["budgets"][0]["last_reset"].endswith("-01T00:00:00Z")  # aligned to the month
    assert list(vk["budgets"][0]) == ["id", "max_limit", "reset_duration", "last_reset", "current_usage",
                                      "virtual_key_id", "calendar_aligned", "config_hash", "created_at", "updated_at"]
    pc = vk["provider_configs"][0]
    assert list(pc) == ["id", "virtual_key_id", "provider", "weight", "allow_all_keys", "budgets", "keys",
                        "allowed_models"]
    assert (pc["provider"], pc["weight"], pc["allow_all_keys"], pc["keys"]) == ("openai", None, True, [])
    assert list(vk["rate_limit"])[-4:] == ["calendar_aligned", "config_hash", "created_at", "updated_at"]
    assert "budget" not in vk and "budget_id" not in vk


def test_key_ids_name_provider_keys_and_deny_by_default(client: Any) -> None:
    keys = client.application.extensions["vkmock"].store.catalogue.provider_keys["openai"]
    vk = create(client, name="x", provider_configs=[
        {"provider": "openai", "key_ids": [keys[0]["key_id"]], "allowed_models": ["gpt-4o"]},
        {"provider": "openai"},
    ])
    listed, bare = vk["provider_configs"]
    assert (listed["allow_all_keys"], [k["key_id"] for k in listed["keys"]]) == (False, [keys[0]["key_id"]])
    assert list(listed["keys"][0]) == ["id", "name", "provider_id", "provider", "key_id", "value", "weight",
                                       "enabled", "created_at", "updated_at", "config_hash", "use_for_batch_api",
                                       "status", "models", "blacklisted_models"]
    assert listed["keys"][0]["value"] == {"value": "", "env_var": "", "from_env": False}
    assert (bare["allow_all_keys"], bare["keys"], bare["allowed_models"]) == (False, [], [])


# ---- update ------------------------------------------------------------------------------------------------


def test_budgets_are_reconciled_by_duration_and_keep_their_usage(client: Any) -> None:
    vk = create(client, name="x", budgets=[{"max_limit": 10, "reset_duration": "1M"},
                                           {"max_limit": 1, "reset_duration": "1d"}])
    store = client.application.extensions["vkmock"].store
    store.rewrite(lambda r: {**r, "budgets": [{**b, "current_usage": 0.75} for b in r["budgets"]]})
    monthly = vk["budgets"][0]
    response = call(client, "PUT", f"{VK}/{vk['id']}", {"budgets": [{"max_limit": 20, "reset_duration": "1M"},
                                                                     {"max_limit": 3, "reset_duration": "1w"}]})
    assert response.status_code == 200
    kept, new = response.get_json()["virtual_key"]["budgets"]
    assert (kept["id"], kept["current_usage"], kept["last_reset"], kept["created_at"], kept["max_limit"]) == (
        monthly["id"], 0.75, monthly["last_reset"], monthly["created_at"], 20
    )
    assert (new["reset_duration"], new["current_usage"]) == ("1w", 0)
    empty = call(client, "PUT", f"{VK}/{vk['id']}", {"budgets": []}).get_json()["virtual_key"]
    assert "budgets" not in empty


def test_update_semantics(client: Any) -> None:
    vk = create(client, name="x", rate_limit={"token_max_limit": 10, "token_reset_duration": "1h"},
                calendar_aligned=True, provider_configs=[{"provider": "openai", "key_ids": ["*"], "weight": 0.5}])
    path = f"{VK}/{vk['id']}"
    updated = call(client, "PUT", path, {"is_active": False, "calendar_aligned": False, "name": "",
                                         "value": "sk-bf-nope"}).get_json()["virtual_key"]
    assert (updated["is_active"], updated["calendar_aligned"], updated["name"], updated["value"]) == (
        False, True, "", vk["value"]  # calendar_aligned is not written on update; value never changes
    )
    pc = vk["provider_configs"][0]
    updated = call(client, "PUT", path, {"provider_configs": [{"id": pc["id"], "provider": "openai"}],
                                         "rate_limit": {}}).get_json()["virtual_key"]
    assert "rate_limit" not in updated and "rate_limit_id" not in updated
    config = updated["provider_configs"][0]
    assert (config["allow_all_keys"], config["keys"], config["weight"], config["allowed_models"]) == (
        False, [], None, []
    )


UPDATE_ERRORS: list[tuple[Any, int, int, str]] = [
    ({"team_id": "t", "customer_id": "c"}, 400, 400, "VirtualKey cannot be attached to both Team and Customer"),
    ({"budgets": [{"max_limit": -1, "reset_duration": "1d"}]}, 400, 400,
     "Failed to update virtual key: budget max_limit cannot be negative: -1.00"),
    ({"budgets": [{"max_limit": 1, "reset_duration": "1D"}]}, 400, 400,
     "Failed to update virtual key: invalid reset duration format: 1D"),
    ({"rate_limit": {"token_max_limit": 0}}, 400, 500,
     "Failed to update virtual key: token_max_limit cannot be zero or negative: 0"),
    ({"rate_limit": {"request_max_limit": 3}}, 409, 500,
     "Failed to update virtual key: request_reset_duration is required when request_max_limit is set"),
    ({"provider_configs": [{"id": 999, "provider": "openai"}]}, 409, 500,
     "Failed to update virtual key: provider config 999 does not belong to this virtual key"),
    ({"mcp_configs": [{"id": 999, "mcp_client_name": "x"}]}, 409, 500,
     "Failed to update virtual key: MCP config 999 does not belong to this virtual key"),
    ({"team_id": "no-such-team"}, 409, 500, "Failed to update virtual key: FOREIGN KEY constraint failed"),
]


@pytest.mark.parametrize(("body", "status", "upstream", "text"), UPDATE_ERRORS)
def test_update_refuses_with_upstreams_message(
    client: Any, quirks: Any, body: Any, status: int, upstream: int, text: str
) -> None:
    for which, expected in ((client, status), (quirks, upstream)):
        vk = create(which, name="x", rate_limit={"token_max_limit": 10, "token_reset_duration": "1h"})
        response = call(which, "PUT", f"{VK}/{vk['id']}", body)
        assert (response.status_code, message(response)) == (expected, text)
        after = call(which, "GET", f"{VK}/{vk['id']}").get_json()["virtual_key"]
        assert after == vk  # nothing half-written


def test_a_rename_collision_names_the_value_when_the_other_key_sorts_first(client: Any) -> None:
    first, second = create(client, name="one"), create(client, name="two")
    low, high = sorted((first, second), key=lambda vk: vk["id"])
    response = call(client, "PUT", f"{VK}/{high['id']}", {"name": low["name"]})
    assert message(response).endswith("a record with this value already exists. Please use a different value")
    response = call(client, "PUT", f"{VK}/{low['id']}", {"name": high["name"]})
    assert message(response).endswith("a record with this name already exists. Please use a different value")


def test_unknown_keys_are_404_everywhere(client: Any) -> None:
    for method, body in (("GET", None), ("PUT", {}), ("DELETE", None)):
        response = call(client, method, f"{VK}/no-such-id", body)
        assert (response.status_code, message(response)) == (404, "Virtual key not found")
    response = call(client, "GET", f"{VK}/no-such-id?from_memory=true")
    assert response.status_code == 404


# ---- teams and customers -----------------------------------------------------------------------------------


def test_teams_and_customers_life(client: Any) -> None:
    customer = call(client, "POST", CUSTOMERS, {"name": "Acme", "budget": {"max_limit": 100,
                                                                           "reset_duration": "1M"}})
    assert customer.data.startswith(b'{"customer":{') and b'"message":"Customer created successfully"}' in customer.data
    acme = customer.get_json()["customer"]
    assert (acme["teams"], acme["virtual_keys"], acme["budget"]["max_limit"]) == ([], [], 100)
    team = call(client, "POST", TEAMS, {"name": "Payments", "customer_id": acme["id"], "budgets": [
        {"max_limit": 50, "reset_duration": "1M", "calendar_aligned": True}]}).get_json()
    assert team["message"] == "Team created successfully"
    payments = team["team"]
    assert payments["customer"]["teams"] is None and payments["budgets"][0]["calendar_aligned"] is True
    vk = create(client, name="k", team_id=payments["id"])
    assert vk["team"]["virtual_key_count"] == 0 and vk["team"]["customer"]["name"] == "Acme"
    assert "budgets" not in vk["team"]
    assert call(client, "GET", f"{TEAMS}/{payments['id']}").get_json()["team"]["virtual_key_count"] == 1
    # a renamed customer shows in the keys that embed it
    call(client, "PUT", f"{CUSTOMERS}/{acme['id']}", {"name": "Acme Inc"})
    assert call(client, "GET", f"{VK}/{vk['id']}").get_json()["virtual_key"]["team"]["customer"]["name"] == "Acme Inc"
    listed = call(client, "GET", CUSTOMERS).get_json()
    assert list(listed) == ["count", "customers", "limit", "offset", "total_count"]
    assert [t["name"] for t in listed["customers"][0]["teams"]] == ["Payments"]
    memory = call(client, "GET", f"{TEAMS}?from_memory=true").get_json()
    assert list(memory["teams"]) == [payments["id"]]
    # deleting the team detaches its key
    assert call(client, "DELETE", f"{TEAMS}/{payments['id']}").get_json() == {"message": "Team deleted successfully"}
    after = call(client, "GET", f"{VK}/{vk['id']}").get_json()["virtual_key"]
    assert "team_id" not in after and "team" not in after
    assert message(call(client, "GET", f"{TEAMS}/{payments['id']}")) == "Team not found"


def test_a_team_keeps_its_customer_on_update(client: Any) -> None:
    first = call(client, "POST", CUSTOMERS, {"name": "A"}).get_json()["customer"]
    second = call(client, "POST", CUSTOMERS, {"name": "B"}).get_json()["customer"]
    team = call(client, "POST", TEAMS, {"name": "T", "customer_id": first["id"]}).get_json()["team"]
    for value in ("", second["id"]):
        updated = call(client, "PUT", f"{TEAMS}/{team['id']}", {"customer_id": value}).get_json()["team"]
        assert updated["customer_id"] == first["id"]
    lone = call(client, "POST", TEAMS, {"name": "L"}).get_json()["team"]
    attached = call(client, "PUT", f"{TEAMS}/{lone['id']}", {"customer_id": second["id"]}).get_json()["team"]
    assert attached["customer_id"] == second["id"]


GROUP_ERRORS: list[tuple[str, Any, int, int, str]] = [
    (TEAMS, {"name": ""}, 400, 400, "Team name is required"),
    (TEAMS, {"name": "t", "rate_limit": {"token_max_limit": 5}}, 400, 400,
     "Invalid rate limit: rate limit token reset duration is required"),
    (TEAMS, {"name": "t", "budgets": [{"max_limit": -2, "reset_duration": "1d"}]}, 400, 400,
     "budget max_limit cannot be negative: -2.00"),
    (TEAMS, {"name": "t", "budgets": [{"max_limit": 2, "reset_duration": "daily"}]}, 400, 400,
     "invalid reset duration format: daily"),
    (TEAMS, {"name": "t", "budgets": [{"max_limit": 0, "reset_duration": "1d"}]}, 400, 500, "failed to create team"),
    (TEAMS, {"name": "t", "customer_id": ""}, 409, 500, "failed to create team"),
    (CUSTOMERS, {"name": ""}, 400, 400, "Customer name is required"),
    (CUSTOMERS, {"name": "c", "budget": {"max_limit": 0, "reset_duration": "1d"}}, 400, 500,
     "failed to create customer"),
    (CUSTOMERS, {"name": "c", "budget": {"max_limit": 1, "reset_duration": "daily"}}, 400, 500,
     "failed to create customer"),
]


@pytest.mark.parametrize(("path", "body", "status", "upstream", "text"), GROUP_ERRORS)
def test_team_and_customer_creates_refuse_as_upstream(
    client: Any, quirks: Any, path: str, body: Any, status: int, upstream: int, text: str
) -> None:
    for which, expected in ((client, status), (quirks, upstream)):
        response = call(which, "POST", path, body)
        assert (response.status_code, message(response)) == (expected, text)
        assert call(which, "GET", path).get_json()["total_count"] == 0


@pytest.mark.parametrize("query", ["limit=abc", "offset=-5", "limit=-1", "limit=1e9"])
def test_team_and_customer_lists_never_refuse_paging(client: Any, query: str) -> None:
    for path in (TEAMS, CUSTOMERS):
        body = call(client, "GET", f"{path}?{query}").get_json()
        assert (body["limit"], body["offset"]) == (25, 0)


# ---- the quota route ---------------------------------------------------------------------------------------

def test_the_quota_route_takes_the_virtual_key_itself(client: Any) -> None:
    vk = create(client, name="q", budgets=[{"max_limit": 5, "reset_duration": "1d"}])

    def probe(headers: dict[str, str]) -> Any:
        return client.get(f"{VK}/quota", headers=headers)

    missing = probe({})
    assert missing.status_code == 401 and message(missing).startswith("Missing virtual key.")
    assert message(probe({"Authorization": "Bearer abc"})).startswith("Missing virtual key.")
    assert message(probe({"x-bf-vk": "anything"})) == "Virtual key not found"
    for headers in ({"x-bf-vk": vk["value"]}, {"Authorization": "bearer " + vk["value"]},
                    {"x-api-key": vk["value"]}, {"x-goog-api-key": vk["value"]}):
        response = probe(headers)
        assert response.status_code == 200, headers
        body = response.get_json()
        assert list(body) == ["budgets", "is_active", "rate_limit", "virtual_key_name"]
        assert (body["virtual_key_name"], body["rate_limit"], len(body["budgets"])) == ("q", None, 1)


def test_the_health_route_and_the_spec_name_the_profile(client: Any) -> None:
    assert client.get("/_vkmock/health").get_json()["bifrost"] == "1.5"
    assert b"/api/governance/teams" in client.get("/openapi.yaml").data
    old = make_client(bifrost="1.4")
    assert old.get("/_vkmock/health").get_json()["bifrost"] == "1.4"
    assert b"/api/governance/teams" not in old.get("/openapi.yaml").data
    assert old.get(TEAMS, headers=AUTH).status_code == 404


# ---- fixtures, scenarios and the living clock in 1.5 ---------------------------------------------------------


@pytest.mark.parametrize(("name", "keys", "teams"), [("default", 20, 5), ("exhausted", 20, 5), ("empty", 0, 0)])
def test_named_scenarios_of_1_5_load_with_their_teams_and_customers(name: str, keys: int, teams: int) -> None:
    loaded = make_client(fixture=name)
    assert call(loaded, "GET", VK).get_json()["total_count"] == keys
    assert call(loaded, "GET", TEAMS).get_json()["total_count"] == teams
    for vk in call(loaded, "GET", VK).get_json()["virtual_keys"]:
        if "team" in vk:  # every embedded team is a stored team
            assert call(loaded, "GET", f"{TEAMS}/{vk['team_id']}").status_code == 200


def test_a_fixture_of_the_other_profile_is_refused_naming_the_one_it_fits() -> None:
    from vkmock.serve.fixtures import FixtureError

    with pytest.raises(FixtureError, match=r"Bifrost 1\.4 list; it fits the 1\.4 profile"):
        make_client(fixture=str(FIXTURES / "exhausted.json"))
    with pytest.raises(FixtureError, match=r"Bifrost 1\.5 list; it fits the 1\.5 profile"):
        make_client(bifrost="1.4", fixture=str(FIXTURES / "1.5" / "exhausted.json"))


def test_prefer_answers_from_the_1_5_spec_and_worlds_without_changing_state(client: Any) -> None:
    response = call(client, "GET", f"{VK}?__example=empty")
    assert response.data == b'{"count":0,"limit":0,"offset":0,"total_count":0,"virtual_keys":[]}\n'
    response = call(client, "GET", f"{VK}?__code=400")
    assert (response.status_code, message(response)) == (400, "Invalid limit parameter: must be a number")
    scenario = call(client, "GET", f"{VK}?__scenario=exhausted&sort_by=status&limit=3").get_json()
    assert (scenario["total_count"], scenario["limit"]) == (20, 3)
    assert [vk["is_active"] for vk in scenario["virtual_keys"]] == [False, False, False]
    first = call(client, "GET", f"{VK}?__dynamic=true&__seed=7").data
    assert first == call(client, "GET", f"{VK}?__dynamic=true&__seed=7").data and b'"total_count":' in first
    created = call(client, "POST", f"{VK}?__dynamic=true", {"name": "dry"})
    assert created.status_code == 200 and created.headers["Preference-Applied"] == "dynamic=true"
    refused = call(client, "POST", f"{VK}?__scenario=exhausted", {"name": ""})
    assert message(refused) == "Virtual key name is required"
    teams = call(client, "GET", f"{TEAMS}?__scenario=default").get_json()
    assert teams["total_count"] == 5
    assert call(client, "GET", VK).get_json()["total_count"] == 0  # nothing was stored
    assert call(client, "GET", TEAMS).get_json()["total_count"] == 0


def test_the_living_clock_advances_1_5_budgets() -> None:
    from vkmock.control.live import advance_record

    vk = create(make_client(), name="x", budgets=[{"max_limit": 100, "reset_duration": "1M"}],
                provider_configs=[{"provider": "openai", "budgets": [{"max_limit": 10, "reset_duration": "1d"}]}])
    start = json.loads(json.dumps(vk))
    from vkmock.clock import parse_ts

    epoch = parse_ts(vk["created_at"]).timestamp()
    moved = advance_record(vk, epoch + 3600, epoch)
    assert moved is not None
    assert moved["budgets"][0]["current_usage"] > start["budgets"][0]["current_usage"]
    assert moved["provider_configs"][0]["budgets"][0]["current_usage"] > 0


@pytest.mark.parametrize(
    "query",
    ["limit=5&limit=abc", "search=" + "%a" * 5000, "search=" + "x" * 10_000, "sort_by=drop%20table&order=desc",
     "offset=99999999999", "team_id=%00", "export=true&limit=10000", "limit=1&offset=1&offset=-1"],
)
def test_paging_abuse_gets_an_answer_and_changes_nothing(client: Any, query: str) -> None:
    for name in ("a-prod", "b-prod"):
        create(client, name=name)
    before = call(client, "GET", VK).data
    response = call(client, "GET", f"{VK}?{query}")
    assert response.status_code == 200, response.data  # the first of a repeated parameter counts, as upstream
    assert list(response.get_json()) == LIST_KEYS
    assert call(client, "GET", VK).data == before


def test_the_quota_path_answers_only_its_own_methods_in_1_5_and_is_a_key_id_in_1_4() -> None:
    new, old = make_client(), make_client(bifrost="1.4")
    assert new.options(f"{VK}/quota").headers["Allow"] == "GET, HEAD, OPTIONS"
    for method in ("PUT", "DELETE", "POST", "TRACE"):
        response = call(new, method, f"{VK}/quota", {} if method in ("PUT", "POST") else None)
        assert (response.status_code, response.headers["Allow"]) == (405, "GET, HEAD, OPTIONS")
    response = call(old, "PUT", f"{VK}/quota", {})
    assert (response.status_code, message(response)) == (404, "Virtual key not found")
