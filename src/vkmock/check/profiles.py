"""Which Bifrost API a deployment speaks (``--bifrost 1.4|1.5|auto``) and what its spec documents.

A profile is one of vkmock's Bifrost profiles (:mod:`vkmock.bifrost.profile`, data only: its name and the
bundled spec it names); ``--spec FILE`` replaces the file but keeps the name. ``auto`` asks the deployment
``GET /api/version``, which answers a JSON string such as ``"v1.4.10"`` or ``"v1.5.0-prerelease7"``, and picks
the profile of that major.minor release; an answer that names no profile vkmock has, or no answer, is a usage
error (exit 2) that says which ``--bifrost`` to pass.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

from vkmock import spec
from vkmock.bifrost import profile as registry
from vkmock.check.http import Target, UsageError

PROFILES = tuple(registry.PROFILES)
AUTO = "auto"
CHOICES = (*PROFILES, AUTO)
DEFAULT = registry.DEFAULT
VERSION_PATH = "/api/version"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
_VERSION = re.compile(r"^v?(?P<major>\d+)\.(?P<minor>\d+)(?:\.\d+)?(?:[-+.].*)?$")


class Profile:
    """One API profile: its name, its spec document and what the document says about each operation."""

    def __init__(self, name: str, spec_file: Path, document: dict[str, Any], chosen_by: str) -> None:
        self.name = name
        self.spec_file = spec_file
        self.document = document
        self.chosen_by = chosen_by  # how the profile was chosen, for the reports
        self._validators: dict[tuple[str, str, int], Any] = {}

    def __repr__(self) -> str:
        return f"Profile({self.name!r}, {str(self.spec_file)!r})"

    @property
    def label(self) -> str:
        return f"Bifrost {self.name} ({self.chosen_by})"

    @functools.cached_property
    def operations(self) -> dict[tuple[str, str], dict[str, Any]]:
        """``{(METHOD, path): operation}`` for every operation of the spec."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for path, item in (self.document.get("paths") or {}).items():
            for method, operation in (item or {}).items():
                if method in METHODS and isinstance(operation, dict):
                    found[(method.upper(), path)] = operation
        return found

    def methods(self, path: str) -> list[str]:
        """The methods the spec documents on ``path``, sorted."""
        return sorted(method for method, known in self.operations if known == path)

    def statuses(self, method: str, path: str) -> list[str]:
        """The statuses the spec documents for an operation, as written (``"200"``, ``"404"``, ...)."""
        return sorted((self.operations.get((method, path)) or {}).get("responses", {}))

    def resolve(self, node: Any) -> Any:
        """Follow local ``$ref``s (``#/components/...``) until ``node`` is a plain object."""
        seen = 0
        while isinstance(node, dict) and "$ref" in node and seen < 32:
            target: Any = self.document
            for part in str(node["$ref"]).lstrip("#/").split("/"):
                target = target.get(part, {}) if isinstance(target, dict) else {}
            node, seen = target, seen + 1
        return node

    def response_schema(self, method: str, path: str, status: int) -> dict[str, Any] | None:
        """The JSON Schema of the documented ``status`` answer of an operation (refs resolvable), or ``None``."""
        response = self.resolve((self.operations.get((method, path)) or {}).get("responses", {}).get(str(status)))
        content = ((response or {}).get("content") or {}).get("application/json") or {}
        schema = content.get("schema")
        if not isinstance(schema, dict):
            return None
        return {**schema, "components": self.document.get("components", {})}

    def validator(self, method: str, path: str, status: int) -> Any | None:
        """A jsonschema-rs validator for the documented answer (formats checked), or ``None``."""
        key = (method, path, status)
        if key not in self._validators:
            schema = self.response_schema(method, path, status)
            self._validators[key] = (
                None if schema is None else jsonschema_rs.Draft202012Validator(schema, validate_formats=True)
            )
        return self._validators[key]


def load(name: str, spec_override: str | None = None, chosen_by: str = "") -> Profile:
    """The profile ``name`` with its bundled spec, or with ``spec_override``; ``UsageError`` when missing."""
    if name not in PROFILES:
        raise UsageError(f"--bifrost takes one of {', '.join(CHOICES)}, got {name!r}")
    chosen_by = chosen_by or f"--bifrost {name}"
    if spec_override:
        path = Path(spec_override)
        if not path.is_file():
            raise UsageError(f"spec not found: {path}")
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise UsageError(f"cannot read the spec {path}: {exc}") from None
        if not isinstance(document, dict):
            raise UsageError(f"the spec {path} is not an OpenAPI document")
        return Profile(name, path, document, f"{chosen_by}, --spec {path}")
    spec_name = registry.PROFILES[name].spec_name
    try:
        path = spec.spec_path(spec_name)  # VKMOCK_SPEC replaces the default profile's, as for the server
        if not path.is_file():
            raise FileNotFoundError(path)
    except FileNotFoundError:
        raise UsageError(
            f"this vkmock has no spec for Bifrost {name} (openapi/{spec_name} is missing); pass --spec FILE"
        ) from None
    return Profile(name, path, spec.spec(spec_name), chosen_by)


def profile_of_version(version: str) -> str | None:
    """The profile of a version string (``v1.4.10`` -> ``1.4``), or ``None`` when vkmock has none for it."""
    match = _VERSION.match(version.strip())
    if not match:
        return None
    name = f"{int(match['major'])}.{int(match['minor'])}"
    return name if name in PROFILES else None


def detect(target: Target) -> tuple[str, str]:
    """Ask the deployment which Bifrost it runs: ``(profile, version string)``. ``UsageError`` when the answer
    does not name a profile vkmock has; ``ConnectionProblem`` when the deployment cannot be reached."""
    choose = f"pass --bifrost {' or --bifrost '.join(PROFILES)}"
    answer = target.call("GET", VERSION_PATH)
    if answer.status != 200:
        raise UsageError(
            f"--bifrost auto: GET {VERSION_PATH} answered {answer.status} ({answer.snippet(80)}), so the "
            f"Bifrost version is unknown; {choose}"
        )
    try:
        doc = answer.json()
    except (ValueError, UnicodeDecodeError):
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("version"), str):
        doc = doc["version"]
    if not isinstance(doc, str) or not doc.strip():
        raise UsageError(
            f"--bifrost auto: GET {VERSION_PATH} answered {answer.snippet(80)!r}, not a version string such "
            f'as "v1.5.0"; {choose}'
        )
    name = profile_of_version(doc)
    if name is None:
        raise UsageError(
            f"--bifrost auto: the deployment reports Bifrost {doc!r}, and vkmock has profiles only for "
            f"{', '.join(PROFILES)}; {choose}"
        )
    return name, doc


def choose(choice: str, target: Target, spec_override: str | None = None) -> Profile:
    """The profile for ``--bifrost CHOICE``; ``auto`` asks the deployment (see :func:`detect`)."""
    choice = (choice or DEFAULT).strip().lower()
    if choice not in CHOICES:
        raise UsageError(f"--bifrost takes one of {', '.join(CHOICES)}, got {choice!r}")
    if choice != AUTO:
        return load(choice, spec_override)
    name, version = detect(target)
    return load(name, spec_override, f"auto: GET {VERSION_PATH} answered {version!r}")
