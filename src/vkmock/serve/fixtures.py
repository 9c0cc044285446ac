"""Fixture files: a list body exactly as Bifrost returns it, ``{"virtual_keys": [...], "count": N}``.

A response saved from a real deployment is a valid fixture. A file is checked against the bundled spec when it
is loaded; a bad one raises ``FixtureError`` naming the file, the JSON path and the reason. Named scenarios live
in the fixtures directory (``fixtures/<name>.json`` or ``.yaml``); a name is a plain word, never a path.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from vkmock import spec
from vkmock.clock import parse_ts
from vkmock.serve.world import World, build_catalogue

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
SUFFIXES = (".json", ".yaml", ".yml")


class FixtureError(ValueError):
    """A fixture that cannot be served: ``file``, ``path`` (JSON pointer) and ``reason``."""

    def __init__(self, file: str, path: str, reason: str) -> None:
        super().__init__(f"{file}: {path or '/'}: {reason}")
        self.file = file
        self.path = path
        self.reason = reason


def _pointer(parts: list[Any]) -> str:
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts) if parts else ""


def read(path: Path) -> Any:
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise FixtureError(name, "", "no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise FixtureError(name, "", f"cannot read: {exc}") from exc
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            return yaml.safe_load(text)
        return json.loads(text)
    except (ValueError, yaml.YAMLError) as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "YAML"
        raise FixtureError(name, "", f"not valid {kind}: {exc}") from exc


def check(data: Any, name: str) -> list[dict[str, Any]]:
    """Validate a fixture body; returns its virtual keys or raises ``FixtureError`` for the first problem."""
    error = next(iter(spec.validator("ListVirtualKeysResponse").iter_errors(data)), None)
    if error is not None:
        message = error.message if len(error.message) < 300 else error.message[:300] + "..."
        raise FixtureError(name, _pointer(list(error.instance_path)), message)
    keys = data["virtual_keys"]
    if data["count"] != len(keys):
        raise FixtureError(name, "/count", f"count is {data['count']} but virtual_keys has {len(keys)} entries")
    seen_ids: dict[str, int] = {}
    seen_names: dict[str, int] = {}
    for index, vk in enumerate(keys):
        for field, seen in (("id", seen_ids), ("name", seen_names)):
            if vk[field] in seen:
                where = f"/virtual_keys/{index}/{field}"
                raise FixtureError(name, where, f"duplicate {field} {vk[field]!r} (also at index {seen[vk[field]]})")
            seen[vk[field]] = index
        for pc_index, pc in enumerate(vk["provider_configs"]):
            if pc["virtual_key_id"] != vk["id"]:
                raise FixtureError(
                    name,
                    f"/virtual_keys/{index}/provider_configs/{pc_index}/virtual_key_id",
                    f"is {pc['virtual_key_id']!r} but the key's id is {vk['id']!r}",
                )
        for field in ("created_at", "updated_at"):
            try:
                parse_ts(vk[field])
            except ValueError as exc:
                raise FixtureError(name, f"/virtual_keys/{index}/{field}", str(exc)) from exc
    return keys


def load(path: str | Path, seed: int, now: str) -> World:
    """Read, validate and turn a fixture file into a world (its catalogue learns the keys it names)."""
    file = Path(path)
    keys = check(read(file), str(file))
    catalogue = build_catalogue(seed, parse_ts(now))
    catalogue.absorb(keys)
    return World(virtual_keys=keys, catalogue=catalogue, now=now)


def named(name: str, directory: Path | None) -> Path:
    """The file of a named scenario; ``FileNotFoundError`` when there is none, ``ValueError`` for a bad name."""
    if not NAME.match(name):
        raise ValueError(f"invalid fixture name {name!r}: use letters, digits, '-' and '_'")
    if directory is None:
        raise FileNotFoundError(f"no fixtures directory, so no fixture named {name!r}")
    for suffix in SUFFIXES:
        candidate = directory / f"{name}{suffix}"
        if candidate.is_file() and candidate.resolve().parent == directory.resolve():
            return candidate
    raise FileNotFoundError(f"no fixture named {name!r} in {directory}")


def available(directory: Path | None) -> list[str]:
    if directory is None or not directory.is_dir():
        return []
    return sorted({p.stem for p in directory.iterdir() if p.suffix in SUFFIXES and NAME.match(p.stem)})


def resolve(reference: str, directory: Path | None) -> Path:
    """A path to a file, or the name of a scenario in ``directory``."""
    path = Path(reference)
    if path.suffix.lower() in SUFFIXES or path.exists():
        return path
    return named(reference, directory)
