"""Where a JSON document departs from a response schema of the spec, difference by difference, found by
jsonschema-rs (for ``vkmock drift``).

The schemas are validated as a closed copy: every object schema that lists its ``properties`` (and does not
compose others) gets ``additionalProperties: false``, so fields the spec does not list are errors too, and every
``format: int64`` gets the int64 bounds. ``date-time`` is vkmock's RFC 3339 (:func:`vkmock.check.http.is_rfc3339`).
Each validation error becomes a :class:`Difference` of one kind; an ``anyOf``/``oneOf`` that no branch satisfies
is reported through the branch whose type fits, or as a wrong type when none does. Array indices are folded to
``*``, so the same difference in every key is one difference with a count and an example path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import jsonschema_rs

from vkmock.check import expect
from vkmock.check.http import is_rfc3339
from vkmock.check.profiles import Profile

KINDS = ("missing", "extra", "type", "format", "value", "status", "content-type", "not-json", "envelope")
INT64 = (-(2**63), 2**63 - 1)
DATE_TIME = "an RFC 3339 date-time (e.g. 2026-10-02T09:14:03Z)"


@dataclass
class Difference:
    probe: str
    path: str
    kind: str
    expected: str
    actual: str
    count: int = 1
    example: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.probe, self.path, self.kind)


#: Keywords whose value is a map of names to schemas, one schema, or a list of schemas (JSON Schema 2020-12).
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "dependentSchemas")
_SCHEMA_ONE = (
    *("items", "additionalProperties", "unevaluatedProperties", "unevaluatedItems", "contains"),
    *("propertyNames", "not", "if", "then", "else"),
)
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")


def closed(schema: Any) -> Any:
    """A copy of a schema in which extra fields and out-of-range int64s are validation errors: every object
    schema that lists ``properties`` (and does not compose others) gets ``additionalProperties: false``, every
    ``format: int64`` without bounds gets the int64 range. Only subschemas are changed, never values
    (``enum``, ``const``, ``default``, ``examples``)."""
    if not isinstance(schema, dict):
        return schema  # a boolean schema
    copy = dict(schema)
    for key in _SCHEMA_MAPS:
        if isinstance(copy.get(key), dict):
            copy[key] = {name: closed(sub) for name, sub in copy[key].items()}
    for key in _SCHEMA_ONE:
        if key in copy:
            copy[key] = closed(copy[key])
    for key in _SCHEMA_LISTS:
        if isinstance(copy.get(key), list):
            copy[key] = [closed(sub) for sub in copy[key]]
    composed = any(key in copy for key in ("allOf", "anyOf", "oneOf", "$ref"))
    if isinstance(copy.get("properties"), dict) and "additionalProperties" not in copy and not composed:
        copy["additionalProperties"] = False
    if copy.get("format") == "int64":
        copy.setdefault("minimum", INT64[0])
        copy.setdefault("maximum", INT64[1])
    return copy


def _pointer(parts: Any) -> str:
    return "".join(f"/{part}" for part in parts)


def _folded(parts: Any) -> str:
    return "".join("/*" if isinstance(part, int) else f"/{part}" for part in parts)


def _owner(schema_path: Any) -> str:
    """The component a schema location is in (``components/schemas/VirtualKey/...`` -> ``VirtualKey``)."""
    parts = [str(part) for part in schema_path]
    return parts[2] if len(parts) > 2 and parts[:2] == ["components", "schemas"] else "the schema"


def _node(document: Any, schema_path: Any) -> Any:
    for part in schema_path:
        document = document[part] if isinstance(document, dict | list) else None
    return document


class SchemaDiff:
    """Compares documents with the response schemas of one profile and collects the differences."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        components = profile.document.get("components") or {}
        schemas = {name: closed(schema) for name, schema in (components.get("schemas") or {}).items()}
        self.components = {**components, "schemas": schemas}
        self.found: dict[tuple[str, str, str], Difference] = {}
        self._validators: dict[tuple[str, str, int], tuple[Any, Any] | None] = {}

    def add(self, probe: str, norm: str, pointer: str, kind: str, expected: str, actual: str) -> None:
        key = (probe, norm or "/", kind)
        if key in self.found:
            self.found[key].count += 1
        else:
            self.found[key] = Difference(probe, norm or "/", kind, expected, actual, 1, pointer or "/")

    def _validator(self, method: str, path: str, status: int) -> tuple[Any, Any] | None:
        """``(validator, the closed schema)`` for a documented answer, or ``None``."""
        key = (method, path, status)
        if key not in self._validators:
            schema = self.profile.response_schema(method, path, status)
            if schema is None:
                self._validators[key] = None
            else:
                document = closed({k: v for k, v in schema.items() if k != "components"})
                document["components"] = self.components
                validator = jsonschema_rs.Draft202012Validator(
                    document, validate_formats=True, formats={"date-time": is_rfc3339}
                )
                self._validators[key] = (validator, document)
        return self._validators[key]

    def compare(self, probe: str, doc: Any, method: str, path: str, status: int) -> bool:
        """Validate ``doc`` as the documented ``status`` answer; ``False`` when the spec has no schema for it."""
        found = self._validator(method, path, status)
        if found is None:
            return False
        validator, schema = found
        for error in validator.iter_errors(doc):
            self._error(probe, error, schema)
        return True

    def _error(self, probe: str, error: Any, schema: Any) -> None:
        kind = error.kind.name
        detail = error.kind.as_dict()
        where, norm, owner = _pointer(error.instance_path), _folded(error.instance_path), _owner(error.schema_path)
        if kind in ("anyOf", "oneOf") and isinstance(detail.get("context"), list):
            self._branches(probe, error, detail["context"], schema)
        elif kind == "required":
            name = str(detail.get("property"))
            self.add(probe, f"{norm}/{name}", f"{where}/{name}", "missing", f"present (required by {owner})", "absent")
        elif kind == "additionalProperties":
            instance = error.instance if isinstance(error.instance, dict) else {}
            for name in detail.get("unexpected") or []:
                expected = f"no such field ({owner} does not list it)"
                self.add(probe, f"{norm}/{name}", f"{where}/{name}", "extra", expected, expect.show(instance.get(name)))
        elif kind == "type":
            self.add(probe, norm, where, "type", " or ".join(detail.get("types") or []), expect.show(error.instance))
        else:
            kind_of, expected = self._constraint(kind, detail, _node(schema, error.schema_path[:-1]), error.message)
            self.add(probe, norm, where, kind_of, expected, expect.show(error.instance))

    def _branches(self, probe: str, error: Any, context: list[list[Any]], schema: Any) -> None:
        """An ``anyOf``/``oneOf`` that no branch satisfies: report the first branch whose type fits, as if it
        were the schema; when none fits, the value has the wrong type."""
        here = list(error.instance_path)
        for branch in context:
            if not any(e.kind.name == "type" and list(e.instance_path) == here for e in branch):
                for inner in branch:
                    self._error(probe, inner, schema)
                return
        wanted = sorted(
            {t for branch in context for e in branch if e.kind.name == "type" for t in e.kind.as_dict()["types"]}
        )
        path = (_folded(here), _pointer(here))
        self.add(probe, path[0], path[1], "type", " or ".join(wanted) or "another type", expect.show(error.instance))

    @staticmethod
    def _constraint(kind: str, detail: dict[str, Any], node: Any, message: str) -> tuple[str, str]:
        """``(kind of difference, what was expected)`` for a broken keyword other than type and required."""
        node = node if isinstance(node, dict) else {}
        limit = detail.get("limit")
        if kind == "format":
            return "format", DATE_TIME if detail.get("format") == "date-time" else f"a {detail.get('format')}"
        if kind in ("minimum", "maximum") and node.get("format") == "int64" and limit in INT64:
            return "format", "an int64"
        described = {
            "enum": lambda: "one of " + ", ".join(json.dumps(v) for v in detail.get("options") or []),
            "const": lambda: json.dumps(detail.get("expected_value")),
            "minimum": lambda: f">= {limit}",
            "maximum": lambda: f"<= {limit}",
            "exclusiveMinimum": lambda: f"> {limit}",
            "exclusiveMaximum": lambda: f"< {limit}",
            "pattern": lambda: f"matching {detail.get('pattern')}",
            "minLength": lambda: f"at least {limit} characters",
            "maxLength": lambda: f"at most {limit} characters",
        }
        return "value", described[kind]() if kind in described else message
