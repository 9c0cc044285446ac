"""Accepted differences for ``vkmock drift --allowlist FILE``: a YAML or JSON list of entries that match a
difference by probe, path pattern and kind (``*`` and ``?`` as in shell patterns)."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import yaml

from vkmock.check.http import UsageError
from vkmock.check.schemadiff import KINDS, Difference

ALLOW_KEYS = {"path", "kind", "probe", "reason"}


def load_allowlist(path: str) -> list[dict[str, str]]:
    """Read ``[{path, kind?, probe?, reason?}, ...]`` (or ``{accept: [...]}``) from YAML or JSON."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read the allowlist {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"the allowlist {path} is not valid YAML/JSON: {exc}") from None
    if isinstance(data, dict) and "accept" in data:
        data = data["accept"]
    if data is None:
        return []
    if not isinstance(data, list):
        raise UsageError(f"the allowlist {path} must be a list of entries like {{path: ..., kind: ...}}")
    entries = []
    for index, entry in enumerate(data):
        if not isinstance(entry, dict) or not entry or set(entry) - ALLOW_KEYS:
            raise UsageError(f"allowlist entry {index}: expected keys among {sorted(ALLOW_KEYS)}, got {entry!r}")
        if "kind" in entry and entry["kind"] not in (*KINDS, "*"):
            raise UsageError(f"allowlist entry {index}: unknown kind {entry['kind']!r}; kinds: {', '.join(KINDS)}")
        if "path" not in entry and "probe" not in entry:
            raise UsageError(f"allowlist entry {index}: give a path or a probe pattern")
        entries.append({k: str(v) for k, v in entry.items()})
    return entries


def accepts(entry: dict[str, str], diff: Difference) -> bool:
    return (
        fnmatch.fnmatchcase(diff.path, entry.get("path", "*"))
        and fnmatch.fnmatchcase(diff.kind, entry.get("kind", "*"))
        and fnmatch.fnmatchcase(diff.probe, entry.get("probe", "*"))
    )
