"""The bundled spec: valid OpenAPI 3.1, served by the app, and faithful to the documented seed shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from openapi_spec_validator import validate

from conftest import SPEC
from vkmock import spec
from vkmock.bifrost import durations

SEED_EXAMPLE = Path(__file__).parent / "data" / "seed-list-example.json"
JSON_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number", list: "array", dict: "object"}


def load() -> dict[str, Any]:
    return yaml.safe_load(SPEC.read_text())


def resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = document
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def types_of(schema: dict[str, Any], document: dict[str, Any]) -> set[str]:
    schema = resolve(schema, document)
    if "anyOf" in schema and "type" not in schema:
        return set().union(*(types_of(s, document) for s in schema["anyOf"]))
    kind = schema.get("type")
    found = set(kind) if isinstance(kind, list) else {kind}
    if "integer" in found:
        found.add("number")
    return found


def test_spec_is_valid_openapi_3_1() -> None:
    document = load()
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_app_serves_the_spec_as_yaml_and_json(client: Any) -> None:
    as_yaml = client.get("/openapi.yaml")
    assert as_yaml.status_code == 200
    assert yaml.safe_load(as_yaml.data) == load()
    as_json = client.get("/openapi.json")
    assert as_json.status_code == 200
    assert as_json.content_type == "application/json"
    assert json.loads(as_json.data) == load()


def test_every_operation_of_era_a_is_described() -> None:
    operations = {(m, p) for (m, p) in spec.operations()}
    base = "/api/governance/virtual-keys"
    assert operations == {
        ("GET", base),
        ("POST", base),
        ("GET", base + "/{vk_id}"),
        ("PUT", base + "/{vk_id}"),
        ("DELETE", base + "/{vk_id}"),
    }
    list_params = {p["name"] for p in resolve_params(spec.operations()[("GET", base)]["parameters"])}
    assert list_params == {"from_memory"}
    assert {"BearerAuth", "BasicAuth"} == set(load()["components"]["securitySchemes"])


def resolve_params(params: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [resolve(p, load()) for p in params]


def walk(example: Any, schema: dict[str, Any], document: dict[str, Any], path: str, problems: list[str]) -> None:
    """Every field the seed names is in the spec, with the seed's type."""
    schema = resolve(schema, document)
    if "anyOf" in schema:
        objects = [resolve(s, document) for s in schema["anyOf"] if resolve(s, document).get("type") != "null"]
        schema = objects[0]
    expected = JSON_TYPES[type(example)]
    if expected == "integer":  # the seed writes 123 for every number
        expected = "number"
    if expected not in types_of(schema, document):
        problems.append(f"{path}: seed says {expected}, spec says {sorted(types_of(schema, document))}")
        return
    if isinstance(example, dict):
        for key, value in example.items():
            if key not in schema.get("properties", {}):
                problems.append(f"{path}.{key}: missing from the spec")
            else:
                walk(value, schema["properties"][key], document, f"{path}.{key}", problems)
    elif isinstance(example, list) and example:
        walk(example[0], schema["items"], document, f"{path}[]", problems)


def test_every_field_of_the_seed_is_in_the_spec_with_the_seeds_type() -> None:
    document = load()
    seed = json.loads(SEED_EXAMPLE.read_text())
    problems: list[str] = []
    walk(seed, {"$ref": "#/components/schemas/ListVirtualKeysResponse"}, document, "list", problems)
    assert problems == []


def test_fields_the_real_server_adds_are_documented() -> None:
    vk = load()["components"]["schemas"]["VirtualKey"]["properties"]
    for field in ("team_id", "customer_id", "budget_id", "rate_limit_id", "created_at", "updated_at", "config_hash"):
        assert field in vk
    mcp = load()["components"]["schemas"]["VirtualKeyMCPConfig"]["properties"]
    assert {"mcp_client_id", "virtual_key_id", "mcp_client", "mcp_client_name"} <= set(mcp)


def test_departures_from_upstream_are_noted() -> None:
    schemas = load()["components"]["schemas"]
    for name in ("VirtualKey", "VirtualKeyMCPConfig", "TableKey", "Money"):
        assert "x-vkmock-note" in schemas[name], name
    assert "x-vkmock-note" in load()["info"]


def test_reset_duration_pattern_is_the_servers_grammar() -> None:
    assert load()["components"]["schemas"]["ResetDuration"]["pattern"] == durations.PATTERN


def test_error_responses_use_the_bifrost_envelope() -> None:
    document = load()
    for (method, path), operation in spec.operations().items():
        for status, response in operation["responses"].items():
            response = resolve(response, document)
            schema = response["content"]["application/json"]["schema"]
            if status.startswith(("4", "5")):
                assert schema == {"$ref": "#/components/schemas/BifrostError"}, (method, path, status)
        assert "401" in operation["responses"], (method, path)


def test_links_walk_the_life_of_a_key() -> None:
    create = spec.operations()[("POST", "/api/governance/virtual-keys")]
    links = create["responses"]["200"]["links"]
    assert {link["operationId"] for link in links.values()} == {"getVirtualKey", "updateVirtualKey", "deleteVirtualKey"}
    for link in links.values():
        assert link["parameters"] == {"vk_id": "$response.body#/virtual_key/id"}
