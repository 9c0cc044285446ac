"""The pydantic models and the spec agree, field by field, and on real records."""

from __future__ import annotations

import types
import typing
from typing import Any

import pytest
from pydantic import BaseModel

from test_spec import load, resolve, types_of
from vkmock import spec
from vkmock.bifrost.v1_4 import world as fakes
from vkmock.bifrost.v1_4.models import REQUEST_MODELS, RESPONSE_MODELS, ListVirtualKeysResponse
from vkmock.settings import DEFAULT_NOW

PY_TO_JSON = {str: "string", bool: "boolean", int: "integer", float: "number", list: "array", dict: "object"}


def json_types(annotation: Any) -> set[str]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return json_types(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return set().union(*(json_types(arg) for arg in typing.get_args(annotation)))
    if annotation is type(None):
        return {"null"}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {"object"}
    if origin in (list, dict):
        return {PY_TO_JSON[origin]}
    if annotation is object:
        return {"string", "boolean", "integer", "number", "array", "object", "null"}
    found = {PY_TO_JSON[annotation]}
    if "integer" in found:
        found.add("number")
    if "number" in found:
        found.add("integer")
    return found


@pytest.mark.parametrize("name", sorted(RESPONSE_MODELS) + sorted(REQUEST_MODELS))
def test_every_spec_field_is_on_the_model_with_a_compatible_type(name: str) -> None:
    document = load()
    model = {**RESPONSE_MODELS, **REQUEST_MODELS}[name]
    schema = resolve({"$ref": f"#/components/schemas/{name}"}, document)
    properties = schema.get("properties", {})
    assert properties, name
    for field, field_schema in properties.items():
        assert field in model.model_fields, f"{name}.{field} is in the spec but not on {model.__name__}"
        spec_types = types_of(field_schema, document) - {"null"}
        model_types = json_types(model.model_fields[field].annotation) - {"null"}
        assert spec_types & model_types, f"{name}.{field}: spec {spec_types}, model {model_types}"
    for field in schema.get("required", []):
        if name in RESPONSE_MODELS:
            assert model.model_fields[field].is_required(), f"{name}.{field} is required in the spec"
    extra = set(model.model_fields) - set(properties)
    assert not extra, f"{model.__name__} has fields the spec does not: {extra}"


def test_generated_records_validate_against_the_spec_and_the_models() -> None:
    world = fakes.generate_world(5, 300, DEFAULT_NOW)
    body = {"virtual_keys": world.virtual_keys, "count": len(world.virtual_keys)}
    errors = [e.message for e in spec.validator("ListVirtualKeysResponse").iter_errors(body)]
    assert errors == []
    parsed = ListVirtualKeysResponse.model_validate(body)
    assert parsed.count == 300


def test_model_rejects_what_the_spec_rejects() -> None:
    world = fakes.generate_world(5, 1, DEFAULT_NOW)
    broken = dict(world.virtual_keys[0])
    del broken["value"]
    body = {"virtual_keys": [broken], "count": 1}
    assert not spec.validator("ListVirtualKeysResponse").is_valid(body)
    with pytest.raises(ValueError):
        ListVirtualKeysResponse.model_validate(body)
