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

from vkmock import bifrost, spec
from vkmock.bifrost import Profile
from vkmock.bifrost.v1_4.world import World, build_catalogue
from vkmock.clock import parse_ts
from vkmock.exceptions import VkmockError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
SUFFIXES = (".json", ".yaml", ".yml")


class FixtureError(VkmockError, ValueError):
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


def check(data: Any, name: str, profile: Profile | None = None) -> list[dict[str, Any]]:
    """Validate a fixture body; returns its virtual keys or raises ``FixtureError`` for the first problem.

    A fixture is of one Bifrost profile (it says so with ``"bifrost"``, or its shape tells); loading it into the
    other profile is refused with a message naming the one it fits."""
    profile = profile or bifrost.get(bifrost.DEFAULT)
    fits = bifrost.detect(data)
    if fits is not None and fits != profile.name:
        raise FixtureError(
            name, "", f"this is a Bifrost {fits} list; it fits the {fits} profile (serve it with --bifrost {fits}),"
            f" not {profile.name}",
        )
    body = {k: v for k, v in data.items() if k not in ("bifrost", "teams", "customers")} if fits else data
    error = next(iter(spec.validator("ListVirtualKeysResponse", profile.spec_name).iter_errors(body)), None)
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


def load(path: str | Path, seed: int, now: str, profile: Profile | None = None) -> World:
    """Read, validate and turn a fixture file into a world (its catalogue learns the keys it names).

    A 1.5 fixture's teams and customers are its ``teams``/``customers`` lists when it has them (vkmock's own
    addition to the list body), else the ones its keys embed."""
    file = Path(path)
    data = read(file)
    keys = check(data, str(file), profile)
    catalogue = build_catalogue(seed, parse_ts(now))
    catalogue.absorb(keys)
    world = World(virtual_keys=keys, catalogue=catalogue, now=now)
    if profile is not None and profile.groups:
        world.teams, world.customers = _groups(data, keys)
    return world


def _groups(data: dict[str, Any], keys: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    teams: dict[str, dict[str, Any]] = {}
    customers: dict[str, dict[str, Any]] = {}
    for team in data.get("teams") or []:
        teams[team["id"]] = team
    for customer in data.get("customers") or []:
        customers[customer["id"]] = customer
    for key in keys:
        team = key.get("team")
        if isinstance(team, dict) and team.get("id") not in teams:
            teams[team["id"]] = team
        for customer in (key.get("customer"), (team or {}).get("customer") if isinstance(team, dict) else None):
            if isinstance(customer, dict) and customer.get("id") not in customers:
                customers[customer["id"]] = customer
    strip_team = ("customer", "virtual_key_count", "virtual_keys")
    strip_customer = ("teams", "virtual_keys")
    return (
        [{k: v for k, v in t.items() if k not in strip_team} for t in teams.values()],
        [{k: v for k, v in c.items() if k not in strip_customer} for c in customers.values()],
    )


def profile_dir(directory: Path | None, profile: Profile | None) -> Path | None:
    """Where a profile's named scenarios live: the fixtures directory for the default profile (1.4), its
    ``<version>/`` subdirectory for the others (``fixtures/1.5/``)."""
    if directory is None or profile is None or profile.name == bifrost.DEFAULT:
        return directory
    return directory / profile.name


def named(name: str, directory: Path | None, profile: Profile | None = None) -> Path:
    """The file of a named scenario; ``FileNotFoundError`` when there is none, ``ValueError`` for a bad name."""
    if not NAME.match(name):
        raise ValueError(f"invalid fixture name {name!r}: use letters, digits, '-' and '_'")
    directory = profile_dir(directory, profile)
    if directory is None:
        raise FileNotFoundError(f"no fixtures directory, so no fixture named {name!r}")
    for suffix in SUFFIXES:
        candidate = directory / f"{name}{suffix}"
        if candidate.is_file() and candidate.resolve().parent == directory.resolve():
            return candidate
    raise FileNotFoundError(f"no fixture named {name!r} in {directory}")


def available(directory: Path | None, profile: Profile | None = None) -> list[str]:
    directory = profile_dir(directory, profile)
    if directory is None or not directory.is_dir():
        return []
    return sorted({p.stem for p in directory.iterdir() if p.suffix in SUFFIXES and NAME.match(p.stem)})


def resolve(reference: str, directory: Path | None, profile: Profile | None = None) -> Path:
    """A path to a file, or the name of a scenario of ``profile`` in ``directory``."""
    path = Path(reference)
    if path.suffix.lower() in SUFFIXES or path.exists():
        return path
    return named(reference, directory, profile)
