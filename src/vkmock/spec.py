"""The bundled OpenAPI document, loaded once. No Flask here.

``openapi/bifrost-governance.yaml`` is the source of truth for the contract. It is found next to the source tree
(editable installs and clones) or under ``<prefix>/share/vkmock/openapi`` (wheel installs); ``VKMOCK_SPEC``
points at another file.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import sysconfig
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

SPEC_NAME = "bifrost-governance.yaml"  # Bifrost 1.4, the default profile; each profile names its own file
ADMIN_SPEC_NAME = "vkmock-admin.yaml"


def _data_dirs(kind: str) -> list[Path]:
    here = Path(__file__).resolve()
    candidates = [here.parents[2] / kind]
    for prefix in {sys.prefix, sysconfig.get_path("data")}:
        candidates.append(Path(prefix) / "share" / "vkmock" / kind)
    return candidates


def find_data_file(kind: str, name: str) -> Path:
    for directory in _data_dirs(kind):
        path = directory / name
        if path.is_file():
            return path
    raise FileNotFoundError(f"cannot find {kind}/{name} (looked in {', '.join(map(str, _data_dirs(kind)))})")


def spec_path(name: str = SPEC_NAME) -> Path:
    override = os.environ.get("VKMOCK_SPEC") if name == SPEC_NAME else None
    return Path(override) if override else find_data_file("openapi", name)


def default_fixtures_dir() -> Path | None:
    for directory in _data_dirs("fixtures"):
        if directory.is_dir():
            return directory
    return None


@functools.cache
def spec_text(name: str = SPEC_NAME) -> str:
    return spec_path(name).read_text(encoding="utf-8")


@functools.cache
def spec(name: str = SPEC_NAME) -> dict[str, Any]:
    loaded = yaml.safe_load(spec_text(name))
    assert isinstance(loaded, dict)
    return loaded


@functools.cache
def spec_json_bytes(name: str = SPEC_NAME) -> bytes:
    return json.dumps(spec(name), indent=2, ensure_ascii=False).encode("utf-8") + b"\n"


@functools.cache
def admin_spec_text() -> str:
    return find_data_file("openapi", ADMIN_SPEC_NAME).read_text(encoding="utf-8")


def component_schema(name: str, spec_name: str = SPEC_NAME) -> dict[str, Any]:
    """A standalone JSON Schema (2020-12) for ``components/schemas/<name>``, refs resolvable."""
    return {"$ref": f"#/components/schemas/{name}", "components": spec(spec_name)["components"]}


@functools.cache
def validator(name: str, spec_name: str = SPEC_NAME) -> Any:
    """A fast validator (jsonschema-rs) for one component schema; formats are checked."""
    return jsonschema_rs.Draft202012Validator(component_schema(name, spec_name), validate_formats=True)


@functools.cache
def operations(spec_name: str = SPEC_NAME) -> dict[tuple[str, str], dict[str, Any]]:
    """``{(METHOD, path): operation}`` for every operation in the spec."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path, item in spec(spec_name)["paths"].items():
        for method, operation in item.items():
            if method in ("get", "put", "post", "delete", "patch", "head", "options"):
                found[(method.upper(), path)] = operation
    return found


def resolve(node: Any, spec_name: str = SPEC_NAME) -> Any:
    """Follow local ``$ref``s (``#/components/...``) of the bundled spec until ``node`` is a plain object."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = spec(spec_name)
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node
