"""The bundled Bifrost 1.5 spec: valid OpenAPI 3.1, its examples valid and in wire order, and the request models
agree with its request schemas."""

from __future__ import annotations

import functools
import json
import re
import tomllib
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
import yaml
from openapi_spec_validator import validate
from pydantic import ValidationError

from conftest import ROOT
from test_models import json_types
from test_spec import resolve, types_of
from vkmock.bifrost.v1_5 import models
from vkmock.bifrost.v1_5.models import REQUEST_MODELS

SPEC_15 = ROOT / "openapi" / "bifrost-1.5.yaml"
VK = "/api/governance/virtual-keys"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


@functools.cache
def document() -> dict[str, Any]:
    loaded = yaml.safe_load(SPEC_15.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def schemas() -> dict[str, Any]:
    return dict(document()["components"]["schemas"])


def deref(node: Any) -> Any:
    return resolve(node, document()) if isinstance(node, dict) else node


@functools.cache
def _validator(schema_json: str) -> Any:
    schema = {**json.loads(schema_json), "components": document()["components"]}
    return jsonschema_rs.Draft202012Validator(schema, validate_formats=True)


def validator(schema: dict[str, Any]) -> Any:
    return _validator(json.dumps(schema, sort_keys=True))


def operations() -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in document()["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def _content_examples(where: str, content: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], Any]]:
    media = content.get("application/json") or {}
    schema = media["schema"]
    for name, example in (media.get("examples") or {}).items():
        yield f"{where} example {name}", schema, deref(example)["value"]
    if "example" in media:
        yield f"{where} example", schema, media["example"]


def all_examples() -> list[tuple[str, dict[str, Any], Any]]:
    """``(where, schema, value)`` for every example in the document: bodies, parameters and schemas."""
    found: list[tuple[str, dict[str, Any], Any]] = []
    for (method, path), operation in operations().items():
        where = f"{method} {path}"
        body = deref(operation.get("requestBody") or {})
        if body:
            found.extend(_content_examples(f"{where} request", body["content"]))
        for status, response in operation["responses"].items():
            response = deref(response)
            if "content" in response:
                found.extend(_content_examples(f"{where} {status}", response["content"]))
        params = [*document()["paths"][path].get("parameters", []), *operation.get("parameters", [])]
        for param in map(deref, params):
            for index, value in enumerate(param["schema"].get("examples", [])):
                found.append((f"{where} parameter {param['name']} [{index}]", param["schema"], value))
    for name, schema in schemas().items():
        for index, value in enumerate(schema.get("examples", [])):
            found.append((f"schema {name} [{index}]", {"$ref": f"#/components/schemas/{name}"}, value))
        for prop, sub in (schema.get("properties") or {}).items():
            for index, value in enumerate(sub.get("examples", [])):
                found.append((f"schema {name}.{prop} [{index}]", sub, value))
    return found


EXAMPLES = all_examples()


# ---- the document ---------------------------------------------------------------------------------------


def test_spec_is_valid_openapi_3_1() -> None:
    assert document()["openapi"].startswith("3.1")
    validate(document())


def test_the_spec_is_a_data_file_of_the_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "openapi/bifrost-1.5.yaml" in config["tool"]["setuptools"]["data-files"]["share/vkmock/openapi"]


def test_every_ref_points_into_the_document() -> None:
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document())
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/"), ref
        resolve({"$ref": ref}, document())  # raises KeyError when it points nowhere


def test_every_operation_of_1_5_is_described() -> None:
    assert set(operations()) == {
        ("GET", VK), ("POST", VK),
        ("GET", VK + "/quota"),
        ("GET", VK + "/{vk_id}"), ("PUT", VK + "/{vk_id}"), ("DELETE", VK + "/{vk_id}"),
        ("GET", "/api/governance/teams"), ("POST", "/api/governance/teams"),
        ("GET", "/api/governance/teams/{team_id}"), ("PUT", "/api/governance/teams/{team_id}"),
        ("DELETE", "/api/governance/teams/{team_id}"),
        ("GET", "/api/governance/customers"), ("POST", "/api/governance/customers"),
        ("GET", "/api/governance/customers/{customer_id}"), ("PUT", "/api/governance/customers/{customer_id}"),
        ("DELETE", "/api/governance/customers/{customer_id}"),
    }
    ids = [op["operationId"] for op in operations().values()]
    assert len(ids) == len(set(ids))


def test_list_parameters_are_upstreams() -> None:
    def names(method: str, path: str) -> set[str]:
        return {deref(p)["name"] for p in operations()[(method, path)].get("parameters", [])}

    assert names("GET", VK) == {
        "from_memory", "limit", "offset", "search", "team_id", "customer_id", "sort_by", "order", "export",
        "exclude_access_profile_managed_virtual",
    }
    assert names("GET", "/api/governance/teams") == {"from_memory", "limit", "offset", "search", "customer_id"}
    assert names("GET", "/api/governance/customers") == {"from_memory", "limit", "offset", "search"}


def _param(name: str, method: str = "GET", path: str = VK) -> dict[str, Any]:
    found = [deref(p) for p in operations()[(method, path)].get("parameters", []) if deref(p)["name"] == name]
    assert len(found) == 1, name
    return dict(found[0])


def test_key_list_paging_refuses_what_upstream_refuses() -> None:
    for name in ("limit", "offset"):
        check = validator(_param(name)["schema"])
        assert check.is_valid(0) and check.is_valid(25) and check.is_valid(10**6)
        assert not check.is_valid(-1) and not check.is_valid("abc") and not check.is_valid(2.5)
        assert not check.is_valid(2**63)  # beyond int64: "must be a number"


def test_team_and_customer_paging_refuse_nothing() -> None:
    for path in ("/api/governance/teams", "/api/governance/customers"):
        for name in ("limit", "offset"):
            param = _param(name, path=path)
            check = validator(param["schema"])
            assert all(check.is_valid(v) for v in ("abc", "-1", "5.0", "", "99999999999999999999")), (path, name)
            assert "x-vkmock-note" in param


def test_sort_by_and_order_are_open_enums() -> None:
    sort_by = _param("sort_by")
    documented = next(s["enum"] for s in sort_by["schema"]["anyOf"] if "enum" in s)
    assert documented == ["name", "budget_spent", "created_at", "status"]
    check = validator(sort_by["schema"])
    assert all(check.is_valid(v) for v in [*documented, "drop table", ""])
    assert "x-vkmock-note" in sort_by
    order = _param("order")
    assert next(s["enum"] for s in order["schema"]["anyOf"] if "enum" in s) == ["asc", "desc"]
    assert validator(order["schema"]).is_valid("DESC")


def test_security_is_bearer_or_basic_and_the_quota_route_has_its_own_credential() -> None:
    assert set(document()["components"]["securitySchemes"]) == {"BearerAuth", "BasicAuth"}
    assert document()["security"] == [{"BearerAuth": []}, {"BasicAuth": []}]
    quota = operations()[("GET", VK + "/quota")]
    assert quota["security"] == []
    assert "x-vkmock-note" in quota
    assert {deref(p)["name"] for p in quota["parameters"]} == {"x-bf-vk", "x-api-key", "x-goog-api-key"}
    assert all(deref(p)["in"] == "header" for p in quota["parameters"])
    others = [op for key, op in operations().items() if key != ("GET", VK + "/quota")]
    assert all("security" not in op for op in others)  # the document's security applies


def test_the_quota_path_comes_before_the_key_id_path() -> None:
    paths = list(document()["paths"])
    assert paths.index(VK + "/quota") < paths.index(VK + "/{vk_id}")


# ---- examples -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("where,schema,value", EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_every_example_validates_against_its_schema(where: str, schema: dict[str, Any], value: Any) -> None:
    errors = [f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in validator(schema).iter_errors(value)]
    assert errors == [], where


def test_there_are_examples_of_every_kind() -> None:
    wheres = [where for where, _, _ in EXAMPLES]
    assert len(wheres) > 100
    assert any("request example" in w for w in wheres)
    assert any("parameter" in w for w in wheres)
    assert any(w.startswith("schema ResetDuration") for w in wheres)


def _order_problems(value: Any, schema: Any, path: str, problems: list[str], seen: set[str] | None = None) -> None:
    """Key-order problems of ``value`` under ``schema``; ``seen`` collects the component schemas it reached."""
    if seen is not None and isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
        seen.add(schema["$ref"].rsplit("/", 1)[1])
        _order_problems(value, deref(schema), path, problems, seen)
        return
    schema = deref(schema)
    if not isinstance(schema, dict):
        return
    for key in ("oneOf", "anyOf"):
        if key in schema and "properties" not in schema and "items" not in schema:
            for branch in schema[key]:
                if validator(branch).is_valid(value):
                    _order_problems(value, branch, path, problems, seen)
                    return
    if isinstance(value, dict):
        props = schema.get("properties")
        if props:
            sent = [k for k in value if k in props]
            wire = [k for k in props if k in value]
            if sent != wire:
                problems.append(f"{path}: keys {sent}, wire order {wire}")
            for key, item in value.items():
                if key in props:
                    _order_problems(item, props[key], f"{path}.{key}", problems, seen)
        elif isinstance(schema.get("additionalProperties"), dict):
            for key, item in value.items():
                _order_problems(item, schema["additionalProperties"], f"{path}.{key}", problems, seen)
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            _order_problems(item, schema["items"], f"{path}[{index}]", problems, seen)


def test_response_examples_are_in_wire_order() -> None:
    """``Prefer: example=`` answers an example as written, so its keys must come in upstream's order."""
    problems: list[str] = []
    for where, schema, value in EXAMPLES:
        if " request " not in where and not where.startswith("schema "):
            _order_problems(value, schema, where, problems)
    assert problems == []


def test_every_schema_is_shown_by_an_example() -> None:
    seen: set[str] = set()
    for _, schema, value in EXAMPLES:
        _order_problems(value, schema, "", [], seen)
    unseen = set(schemas()) - seen - {"TeamCustomerExclusive"}  # used by allOf, which examples do not walk
    assert sorted(unseen) == []


def test_the_order_check_catches_a_field_out_of_place() -> None:
    problems: list[str] = []
    budget = {"id": "b", "max_limit": 1, "reset_duration": "1d", "current_usage": 0, "last_reset": "x"}
    _order_problems(budget, {"$ref": "#/components/schemas/Budget"}, "budget", problems)
    assert problems and "last_reset" in problems[0]


def _named(response: dict[str, Any]) -> dict[str, Any]:
    media = deref(response).get("content", {}).get("application/json", {})
    return {name: deref(example)["value"] for name, example in (media.get("examples") or {}).items()}


def test_every_response_has_named_examples_for_prefer() -> None:
    for (method, path), operation in operations().items():
        for status, response in operation["responses"].items():
            assert _named(response), f"{method} {path} {status} has no named example"


def test_error_responses_use_the_envelope_with_their_own_status() -> None:
    for (method, path), operation in operations().items():
        assert "401" in operation["responses"], (method, path)
        for status, response in operation["responses"].items():
            if not status.startswith(("4", "5")):
                continue
            media = deref(response)["content"]["application/json"]
            assert media["schema"] == {"$ref": "#/components/schemas/BifrostError"}, (method, path, status)
            for name, body in _named(response).items():
                assert body["status_code"] == int(status), (method, path, status, name)
                assert body["is_bifrost_error"] is False and body["extra_fields"] == {}, (method, path, name)


def test_writes_document_bodies_too_large() -> None:
    for (method, path), operation in operations().items():
        if "requestBody" in operation:
            assert "413" in operation["responses"], (method, path)


def test_list_examples_count_what_they_hold() -> None:
    lists = {"virtual_keys", "teams", "customers"}
    checked = 0
    for where, _, value in EXAMPLES:
        if isinstance(value, dict) and lists & set(value) and "count" in value:
            items = value[next(iter(lists & set(value)))]
            assert value["count"] == len(items), where
            assert value["total_count"] >= value["count"], where
            if value["offset"] == 0 and value["total_count"] == value["count"] and value["count"]:
                assert value["limit"] >= value["count"], where
            checked += 1
    assert checked >= 8


def test_memory_lists_of_teams_and_customers_are_objects_keyed_by_id() -> None:
    for name, field in (("ListTeamsResponse", "teams"), ("ListCustomersResponse", "customers")):
        check = validator({"$ref": f"#/components/schemas/{name}"})
        record = next(v for w, _, v in EXAMPLES if isinstance(v, dict) and isinstance(v.get(field), list) and v[field])
        item = record[field][0]
        page = {"count": 1, "limit": 1, "offset": 0, "total_count": 1}
        assert check.is_valid({**page, field: [item]})
        assert check.is_valid({**page, field: {item["id"]: item}})
        assert not check.is_valid({**page, field: "nope"})
        assert not check.is_valid({**page, field: {item["id"]: {"name": "no id"}}})


# ---- response shapes ------------------------------------------------------------------------------------


WIRE_ORDER = {
    "VirtualKey": [
        "id", "name", "description", "value", "is_active", "provider_configs", "mcp_configs", "team_id",
        "customer_id", "rate_limit_id", "calendar_aligned", "team", "customer", "rate_limit", "budgets",
        "config_hash", "created_at", "updated_at",
    ],
    "ProviderConfig": [
        "id", "virtual_key_id", "provider", "weight", "allow_all_keys", "rate_limit_id", "rate_limit", "budgets",
        "keys", "allowed_models",
    ],
    "Budget": [
        "id", "max_limit", "reset_duration", "last_reset", "current_usage", "team_id", "virtual_key_id",
        "provider_config_id", "calendar_aligned", "config_hash", "created_at", "updated_at",
    ],
    "RateLimit": [
        "id", "token_max_limit", "token_reset_duration", "token_current_usage", "token_last_reset",
        "request_max_limit", "request_reset_duration", "request_current_usage", "request_last_reset",
        "calendar_aligned", "config_hash", "created_at", "updated_at",
    ],
    "Team": [
        "id", "name", "customer_id", "rate_limit_id", "customer", "budgets", "rate_limit", "virtual_keys",
        "virtual_key_count", "profile", "config", "claims", "config_hash", "created_at", "updated_at",
    ],
    "Customer": [
        "id", "name", "budget_id", "rate_limit_id", "budget", "rate_limit", "teams", "virtual_keys", "config_hash",
        "created_at", "updated_at",
    ],
    "MCPConfig": ["id", "virtual_key_id", "mcp_client_id", "mcp_client", "tools_to_execute"],
    "BifrostError": ["event_id", "type", "is_bifrost_error", "status_code", "error", "extra_fields"],
    "ErrorField": ["error", "type", "code", "message", "param", "event_id"],
}


@pytest.mark.parametrize("name", sorted(WIRE_ORDER))
def test_schema_properties_are_in_upstreams_wire_order(name: str) -> None:
    assert list(schemas()[name]["properties"]) == WIRE_ORDER[name]


def test_map_envelopes_list_their_keys_sorted() -> None:
    for name in ("ListVirtualKeysResponse", "VirtualKeyResponse", "VirtualKeyQuotaResponse", "ListTeamsResponse",
                 "TeamResponse", "ListCustomersResponse", "CustomerResponse"):
        props = list(schemas()[name]["properties"])
        assert props == sorted(props), name
        assert schemas()[name]["required"] == props, name


def test_1_5_shapes_have_no_1_4_fields() -> None:
    assert not {"budget", "budget_id"} & set(schemas()["VirtualKey"]["properties"])
    assert not {"budget", "budget_id"} & set(schemas()["ProviderConfig"]["properties"])
    assert not {"budget", "budget_id"} & set(schemas()["Team"]["properties"])
    assert "mcp_client_name" not in schemas()["MCPConfig"]["properties"]
    assert "metric" not in schemas()["RateLimit"]["properties"]
    assert "provider_configs" not in schemas()["VirtualKeyQuotaResponse"]["properties"]
    assert "value" not in schemas()["UpdateVirtualKeyRequest"]["properties"]
    assert "budget" in schemas()["Customer"]["properties"]  # customers keep a single budget


def test_departures_from_upstream_are_noted() -> None:
    assert "x-vkmock-note" in document()["info"]
    for name in ("VirtualKey", "ProviderConfig", "MCPConfig", "Money", "ResetDuration", "UpdateBudgetRequest",
                 "UpdateRateLimitRequest"):
        assert "x-vkmock-note" in schemas()[name], name
    for key in (("POST", VK), ("PUT", VK + "/{vk_id}"), ("POST", "/api/governance/teams"),
                ("PUT", "/api/governance/teams/{team_id}"), ("POST", "/api/governance/customers"),
                ("PUT", "/api/governance/customers/{customer_id}")):
        assert "x-vkmock-note" in operations()[key], key


# ---- reset durations ------------------------------------------------------------------------------------

DURATIONS_OK = ["30s", "5m", "1h", "1h30m", "500ms", "1µs", "1us", "1d", "1.5d", "2w", "1M", "1Y", "1m", "0.5s",
                "0h1m", "9999h", "1h0m0s"]
DURATIONS_REFUSED = ["daily", "weekly", "monthly", "yearly", "Daily", "1D", "1W", "1y", "10", "", "-1h", "+1h",
                     "0s", "0d", "0.0h", "0h0m", "00s", "1d12h", "10000h", " 1h", "1h ", "1.5", "1 h", "1h\n",
                     "1.h", ".5h"]


def test_reset_durations_follow_the_1_5_parser() -> None:
    check = validator({"$ref": "#/components/schemas/ResetDuration"})
    assert [d for d in DURATIONS_OK if not check.is_valid(d)] == []
    assert [d for d in DURATIONS_REFUSED if check.is_valid(d)] == []


def test_the_duration_pattern_reads_the_same_in_python() -> None:
    pattern = re.compile(schemas()["ResetDuration"]["pattern"])
    assert all(pattern.search(d) for d in DURATIONS_OK)
    assert not any(pattern.search(d) for d in DURATIONS_REFUSED if not d.endswith("\n"))  # Python's $ takes \n


# ---- request schemas and the pydantic models ------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REQUEST_MODELS))
def test_every_request_field_is_on_the_model_with_a_compatible_type(name: str) -> None:
    model = REQUEST_MODELS[name]
    schema = resolve({"$ref": f"#/components/schemas/{name}"}, document())
    properties = schema.get("properties", {})
    assert properties, name
    for field, field_schema in properties.items():
        assert field in model.model_fields, f"{name}.{field} is in the spec but not on {model.__name__}"
        spec_types = types_of(field_schema, document()) - {"null"}
        model_types = json_types(model.model_fields[field].annotation) - {"null"}
        assert spec_types & model_types, f"{name}.{field}: spec {spec_types}, model {model_types}"
    extra = set(model.model_fields) - set(properties)
    assert not extra, f"{model.__name__} has fields the spec does not: {extra}"


def test_every_request_schema_has_a_model() -> None:
    request_schemas = {n for n in schemas() if n.endswith("Request")}
    assert request_schemas == set(REQUEST_MODELS)
    bodies = {deref(op["requestBody"])["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
              for op in operations().values() if "requestBody" in op}
    assert bodies == {"CreateVirtualKeyRequest", "UpdateVirtualKeyRequest", "CreateTeamRequest",
                      "UpdateTeamRequest", "CreateCustomerRequest", "UpdateCustomerRequest"}


def _body_model(method: str, path: str) -> type[Any]:
    ref = deref(operations()[(method, path)]["requestBody"])["content"]["application/json"]["schema"]["$ref"]
    return REQUEST_MODELS[ref.rsplit("/", 1)[1]]


def test_request_examples_decode_with_the_models() -> None:
    decoded = 0
    for (method, path), operation in operations().items():
        if "requestBody" not in operation:
            continue
        model = _body_model(method, path)
        for name, body in _named(operation["requestBody"]).items():
            parsed = model.model_validate(body)
            assert parsed.model_dump(exclude_unset=True).keys() == body.keys(), (method, path, name)
            decoded += 1
    assert decoded >= 10


def test_models_decode_as_go_does() -> None:
    create = models.CreateVirtualKeyRequest
    parsed = create.model_validate({"name": "k", "budget": {"max_limit": 5}, "surprise": [1], "budgets": None})
    assert parsed.name == "k" and parsed.budgets is None  # unknown fields ignored, null is absent
    assert not hasattr(parsed, "budget")
    wrong_types: list[dict[str, Any]] = [
        {"name": 5}, {"is_active": "true"}, {"budgets": {}}, {"provider_configs": [{"weight": "1"}]},
        {"rate_limit": {"token_max_limit": 1.5}}, {"budgets": [{"max_limit": True}]},
        {"provider_configs": [{"allowed_models": "*"}]}, {"budgets": [{"max_limit": float("nan")}]},
    ]
    for wrong in wrong_types:
        with pytest.raises(ValidationError):
            create.model_validate(wrong)
    limited = create.model_validate({"rate_limit": {"token_max_limit": 5.0}})
    assert limited.rate_limit is not None and limited.rate_limit.token_max_limit == 5  # see the spec's note 4


def test_only_update_items_carry_ids() -> None:
    body = {"provider_configs": [{"id": 3, "provider": "openai"}], "mcp_configs": [{"id": 4, "mcp_client_name": "g"}]}
    created = models.CreateVirtualKeyRequest.model_validate(body)
    assert created.provider_configs is not None and not hasattr(created.provider_configs[0], "id")
    updated = models.UpdateVirtualKeyRequest.model_validate(body)
    assert updated.provider_configs is not None and updated.provider_configs[0].id == 3
    assert updated.mcp_configs is not None and updated.mcp_configs[0].id == 4
    with pytest.raises(ValidationError):
        models.UpdateVirtualKeyRequest.model_validate({"provider_configs": [{"id": -1, "provider": "openai"}]})
    assert models.VirtualKeyRequest is models.UpdateVirtualKeyRequest  # the one shape for rules that read both


def test_request_schemas_refuse_what_upstream_refuses_from_the_body_alone() -> None:
    create = validator({"$ref": "#/components/schemas/CreateVirtualKeyRequest"})
    assert create.is_valid({"name": "k", "team_id": "t", "customer_id": None})
    refused = [
        {}, {"name": ""}, {"name": "k", "team_id": "t", "customer_id": ""},
        {"name": "k", "budgets": [{"max_limit": 0, "reset_duration": "1d"}]},
        {"name": "k", "budgets": [{"max_limit": -5, "reset_duration": "1d"}]},
        {"name": "k", "budgets": [{"max_limit": 5, "reset_duration": "monthly"}]},
        {"name": "k", "budgets": [{"max_limit": 5}]},
        {"name": "k", "provider_configs": [{"weight": 1}]},
        {"name": "k", "provider_configs": [{"provider": "   "}]},
        {"name": "k", "provider_configs": [{"provider": "openai", "allowed_models": ["*", "gpt-4o"]}]},
        {"name": "k", "provider_configs": [{"provider": "openai", "key_ids": ["a", "a"]}]},
        {"name": "k", "rate_limit": {"token_max_limit": 10}},
        {"name": "k", "rate_limit": {"request_max_limit": 0, "request_reset_duration": "1m"}},
        {"name": "k", "mcp_configs": [{"tools_to_execute": ["*"]}]},
        {"name": "x" * 256},
    ]
    assert [body for body in refused if create.is_valid(body)] == []
    update = validator({"$ref": "#/components/schemas/UpdateVirtualKeyRequest"})
    assert update.is_valid({"name": "", "budgets": [], "provider_configs": [], "rate_limit": {}})
    assert update.is_valid({"rate_limit": {"token_max_limit": 10}})  # a patch: the stored duration may do
    team = validator({"$ref": "#/components/schemas/UpdateTeamRequest"})
    assert not team.is_valid({"rate_limit": {"token_max_limit": 10}})  # a team's limit is replaced whole
    customer = validator({"$ref": "#/components/schemas/UpdateCustomerRequest"})
    assert customer.is_valid({"budget": {}}) and customer.is_valid({"budget": {"max_limit": 7.5}})
    assert not customer.is_valid({"budget": {"max_limit": 0}})
