"""The requests ``vkmock compare`` replays: the built-in sequences (data files in ``check/sequences/``), a
user's own (``--requests FILE``) and the API calls of a HAR file (``--har FILE``).

A sequence file (YAML or JSON)::

    name: bifrost-1.5
    description: ...
    discover:              # values each side names its own way, read (GET only) before the steps
      openai_key:
        - {path: /api/keys, find: {provider: openai, key_id: "*"}, take: key_id}
    nature: ["*.created_at"]     # paths whose values differ by nature, for every step (shape still compared)
    ignore: ["*.mcp_client.*"]   # paths not compared at all, for every step
    steps:
      - name: create a key with only a name
        request: POST /api/governance/virtual-keys
        body: {name: "{{prefix}}min"}
        as: min                  # what it created, per side: {{created.min.id}}, {{created.min.value}}
      - name: read it
        request: GET /api/governance/virtual-keys/{{created.min.id}}

Step keys: ``name``, ``request`` (``METHOD PATH``), ``body`` (JSON) or ``raw`` (a string sent as it is),
``headers``, ``auth`` (``false``: no credentials), ``as``, ``own`` (compare only the list items this run
created), ``nature`` / ``ignore`` / ``unordered`` (paths, for this step), ``same`` (lists of messages that mean
the same), ``group`` (a label for the report). Templates: ``{{prefix}}`` (the run's name prefix,
``vkmock-compare-<run>-``), ``{{PREFIX}}`` (upper-cased), ``{{created.NAME.PATH}}``, ``{{vars.NAME}}``. A string
that is one template and nothing else takes the value's own type (a number stays a number).
"""

from __future__ import annotations

import base64
import fnmatch
import json
import re
import urllib.parse
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from vkmock.check.http import UsageError

#: Every object ``vkmock compare --allow-writes`` creates is named with this prefix, and deleted at the end.
PREFIX = "vkmock-compare-"
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][\w.\-]*)\s*\}\}")
STEP_KEYS = {
    "name", "request", "body", "raw", "headers", "auth", "as", "own", "nature", "ignore", "unordered", "same",
    "group", "order",
}
#: The objects a create answers with, by the key they come under.
CREATED_KEYS = ("virtual_key", "team", "customer")


@dataclass
class Step:
    name: str
    method: str
    path: str
    body: Any = None
    raw: str | None = None
    has_body: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    auth: bool = True
    alias: str | None = None
    own: bool = False
    nature: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    unordered: tuple[str, ...] = ()
    same: tuple[tuple[str, ...], ...] = ()
    order: bool = True
    group: str = ""
    source: str = "builtin"
    #: HAR replays: ids the recorded deployment generated, to be replaced by the ones each side created
    recorded: dict[str, str] = field(default_factory=dict)

    @property
    def writes(self) -> bool:
        return self.method not in ("GET", "HEAD", "OPTIONS")

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    def references(self) -> set[str]:
        """The names of created things this step needs (``created.k1`` -> ``k1``)."""
        text = self.path + json.dumps(self.body) + (self.raw or "") + json.dumps(self.headers)
        return {m.group(1).split(".")[1] for m in TEMPLATE.finditer(text) if m.group(1).startswith("created.")}


@dataclass
class Probe:
    path: str
    find: dict[str, Any] = field(default_factory=dict)
    take: str = ""


@dataclass
class Sequence:
    name: str
    description: str = ""
    steps: list[Step] = field(default_factory=list)
    discover: dict[str, list[Probe]] = field(default_factory=dict)
    nature: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    unordered: tuple[str, ...] = ()
    source: str = "builtin"

    def extend(self, other: Sequence) -> None:
        self.steps.extend(other.steps)
        for name, probes in other.discover.items():
            self.discover.setdefault(name, []).extend(probes)
        self.nature += other.nature
        self.ignore += other.ignore
        self.unordered += other.unordered


# ---- loading ------------------------------------------------------------------------------------------------


def builtin_names() -> list[str]:
    folder = resources.files("vkmock.check") / "sequences"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def builtin(profile: str) -> Sequence:
    """The built-in sequence of a Bifrost profile (``1.4``, ``1.5``)."""
    name = f"bifrost-{profile}"
    resource = resources.files("vkmock.check") / "sequences" / f"{name}.yaml"
    if not resource.is_file():
        raise UsageError(f"no built-in sequence for Bifrost {profile!r}; known: {', '.join(builtin_names())}")
    return parse(yaml.safe_load(resource.read_text(encoding="utf-8")), f"builtin:{name}")


def load_file(path: str) -> Sequence:
    """A sequence (or a bare list of steps) from a YAML or JSON file; ``UsageError`` naming the problem."""
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"--requests: no such file: {path}")
    try:
        doc = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UsageError(f"--requests: {path} is not YAML or JSON: {str(exc).splitlines()[0]}") from None
    if isinstance(doc, list):
        doc = {"name": file.stem, "steps": doc}
    return parse(doc, str(file))


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise UsageError(f"{where} must be a string or a list of strings")


def parse(doc: Any, source: str) -> Sequence:
    if not isinstance(doc, dict) or not isinstance(doc.get("steps"), list):
        raise UsageError(f"{source}: a sequence is a mapping with a 'steps' list (or a bare list of steps)")
    seq = Sequence(
        name=str(doc.get("name") or Path(source).stem),
        description=str(doc.get("description") or ""),
        nature=_strings(doc.get("nature"), f"{source}: nature"),
        ignore=_strings(doc.get("ignore"), f"{source}: ignore"),
        unordered=_strings(doc.get("unordered"), f"{source}: unordered"),
        source=source,
    )
    for name, probes in (doc.get("discover") or {}).items():
        if not isinstance(probes, list):
            probes = [probes]
        parsed = []
        for probe in probes:
            if not isinstance(probe, dict) or not isinstance(probe.get("path"), str):
                raise UsageError(f"{source}: discover.{name}: each probe needs a 'path'")
            parsed.append(Probe(probe["path"], dict(probe.get("find") or {}), str(probe.get("take") or "")))
        seq.discover[str(name)] = parsed
    names: set[str] = set()
    for index, raw in enumerate(doc["steps"], 1):
        step = parse_step(raw, f"{source}: step {index}", source)
        if step.name in names:
            raise UsageError(f"{source}: step {index}: the name {step.name!r} is used twice")
        names.add(step.name)
        seq.steps.append(step)
    return seq


def parse_step(raw: Any, where: str, source: str) -> Step:
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: a step is a mapping")
    unknown = set(raw) - STEP_KEYS
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(STEP_KEYS))}")
    request = raw.get("request")
    if not isinstance(request, str) or " " not in request.strip():
        raise UsageError(f"{where}: 'request' must be 'METHOD PATH', got {request!r}")
    method, _, path = request.strip().partition(" ")
    method = method.upper()
    path = path.strip()
    if method not in METHODS:
        raise UsageError(f"{where}: unknown method {method!r}")
    if not path.startswith("/"):
        raise UsageError(f"{where}: the path must start with '/', got {path!r}")
    if "body" in raw and "raw" in raw:
        raise UsageError(f"{where}: give 'body' or 'raw', not both")
    if "raw" in raw and not isinstance(raw["raw"], str):
        raise UsageError(f"{where}: 'raw' is a string sent as it is")
    headers = raw.get("headers") or {}
    if not isinstance(headers, dict):
        raise UsageError(f"{where}: 'headers' is a mapping")
    same = raw.get("same") or []
    if not isinstance(same, list) or not all(isinstance(g, list) for g in same):
        raise UsageError(f"{where}: 'same' is a list of lists of messages")
    return Step(
        name=str(raw.get("name") or f"{method} {path}"),
        method=method,
        path=path,
        body=raw.get("body"),
        raw=raw.get("raw"),
        has_body="body" in raw or "raw" in raw,
        headers={str(k): str(v) for k, v in headers.items()},
        auth=bool(raw.get("auth", True)),
        alias=str(raw["as"]) if raw.get("as") else None,
        own=bool(raw.get("own", False)),
        nature=_strings(raw.get("nature"), f"{where}: nature"),
        ignore=_strings(raw.get("ignore"), f"{where}: ignore"),
        unordered=_strings(raw.get("unordered"), f"{where}: unordered"),
        same=tuple(tuple(str(m) for m in g) for g in same),
        order=bool(raw.get("order", True)),
        group=str(raw.get("group") or ""),
        source=source,
    )


# ---- templates ----------------------------------------------------------------------------------------------


class Missing(Exception):
    """A template names something this side does not have (a create that failed, a value not discovered)."""


@dataclass
class Context:
    """One side's values for the templates."""

    prefix: str
    created: dict[str, Any] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)
    #: HAR replays: recorded id -> this side's id
    recorded: dict[str, str] = field(default_factory=dict)

    def lookup(self, name: str) -> Any:
        if name == "prefix":
            return self.prefix
        if name == "PREFIX":
            return self.prefix.upper()
        head, _, rest = name.partition(".")
        if head == "vars":
            if rest not in self.vars:
                raise Missing(f"vars.{rest} was not discovered")
            return self.vars[rest]
        if head == "created":
            alias, _, path = rest.partition(".")
            if alias not in self.created:
                raise Missing(f"created.{alias} does not exist (its create failed or did not run)")
            value = self.created[alias]
            for part in path.split(".") if path else []:
                if isinstance(value, list) and part.isdigit() and int(part) < len(value):
                    value = value[int(part)]
                elif isinstance(value, dict) and part in value:
                    value = value[part]
                else:
                    raise Missing(f"created.{rest} has no {part!r}")
            return value
        raise Missing(f"unknown template {{{{{name}}}}}")

    def render(self, value: Any, numbers: dict[str, Any] | None = None) -> Any:
        """``value`` with its templates filled in; ``numbers`` collects the integers put in (for messages)."""
        if isinstance(value, str):
            whole = TEMPLATE.fullmatch(value.strip())
            if whole and value.strip() == value:
                result = self.lookup(whole.group(1))
                if numbers is not None and isinstance(result, int) and not isinstance(result, bool):
                    numbers[whole.group(1)] = result
                return result
            return TEMPLATE.sub(lambda m: self._text(m.group(1), numbers), value)
        if isinstance(value, list):
            return [self.render(v, numbers) for v in value]
        if isinstance(value, dict):
            return {self.render(k, numbers): self.render(v, numbers) for k, v in value.items()}
        return value

    def _text(self, name: str, numbers: dict[str, Any] | None) -> str:
        result = self.lookup(name)
        if numbers is not None and isinstance(result, int) and not isinstance(result, bool):
            numbers[name] = result
        return result if isinstance(result, str) else json.dumps(result)

    def render_path(self, path: str) -> str:
        def fill(match: re.Match[str]) -> str:
            value = self.lookup(match.group(1))
            return urllib.parse.quote(value if isinstance(value, str) else json.dumps(value), safe="")

        path = TEMPLATE.sub(fill, path)
        for recorded, mine in self.recorded.items():
            path = path.replace(recorded, urllib.parse.quote(mine, safe=""))
        return path


def find(doc: Any, where: dict[str, Any]) -> Any:
    """The first object in ``doc`` (depth first, in document order) with every field of ``where`` (``"*"``:
    present and not empty)."""
    if isinstance(doc, dict):
        if where and all(_fits(doc, k, v) for k, v in where.items()):
            return doc
        children: Any = doc.values()
    elif isinstance(doc, list):
        children = doc
    else:
        return None
    for child in children:
        found = find(child, where)
        if found is not None:
            return found
    return None


def _fits(doc: dict[str, Any], key: str, expected: Any) -> bool:
    if key not in doc:
        return False
    if expected == "*":
        return doc[key] not in (None, "", [], {})
    return bool(doc[key] == expected)


def take(doc: Any, path: str) -> Any:
    for part in path.split(".") if path else []:
        if isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        elif isinstance(doc, dict) and part in doc:
            doc = doc[part]
        else:
            return None
    return doc


# ---- HAR ----------------------------------------------------------------------------------------------------

#: The API a HAR replay keeps: Bifrost's governance routes (the rest of a page's traffic is the UI itself).
HAR_PATHS = ("/api/governance/*",)


def load_har(path: str, prefix_marker: str = "{{prefix}}") -> Sequence:
    """The governance API calls of a HAR file (browsers' developer tools export them), in order, as steps.

    Names in bodies are given the run's prefix, so what the replay creates is ``vkmock-compare-*`` and cleaned
    up; the ids the recorded deployment answered with are remembered, so that a later call to
    ``/virtual-keys/<recorded id>`` goes to the key each side created in its place."""
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"--har: no such file: {path}")
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
        entries = doc["log"]["entries"]
        if not isinstance(entries, list):
            raise TypeError
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise UsageError(f"--har: {path} is not a HAR file (JSON with log.entries)") from None
    seq = Sequence(name=f"har:{file.name}", source=str(file))
    seen: dict[str, int] = {}
    for number, entry in enumerate(entries, 1):
        request = entry.get("request") if isinstance(entry, dict) else None
        if not isinstance(request, dict):
            continue
        method = str(request.get("method", "GET")).upper()
        url = urllib.parse.urlsplit(str(request.get("url", "")))
        if method not in METHODS or not any(fnmatch.fnmatchcase(url.path, p) for p in HAR_PATHS):
            continue
        target = url.path + (f"?{url.query}" if url.query else "")
        body, raw, has_body = None, None, False
        post = request.get("postData")
        if isinstance(post, dict) and post.get("text") is not None:
            text = str(post["text"])
            if post.get("encoding") == "base64":
                text = base64.b64decode(text).decode("utf-8", errors="replace")
            has_body = True
            try:
                body = _prefixed(json.loads(text), prefix_marker)
            except ValueError:
                raw = text
        headers = {}
        for header in request.get("headers") or []:
            name = str(header.get("name", ""))
            if name.lower() in ("x-bf-vk", "x-api-key", "x-goog-api-key"):
                headers[name] = str(header.get("value", ""))
        label = f"har {number}: {method} {url.path}"
        seen[label] = seen.get(label, 0) + 1
        step = Step(
            name=label if seen[label] == 1 else f"{label} #{seen[label]}",
            method=method, path=target, body=body, raw=raw, has_body=has_body, headers=headers,
            source=str(file), group="har", own=method == "GET" and url.path.rstrip("/").count("/") == 3,
        )
        answer = (entry.get("response") or {}).get("content") or {}
        if method == "POST" and isinstance(answer.get("text"), str):
            try:
                created = json.loads(answer["text"])
            except ValueError:
                created = None
            for key in CREATED_KEYS:
                obj = created.get(key) if isinstance(created, dict) else None
                if isinstance(obj, dict) and isinstance(obj.get("id"), str):
                    step.recorded[obj["id"]] = "id"
                    if isinstance(obj.get("value"), str):
                        step.recorded[obj["value"]] = "value"
        seq.steps.append(step)
    if not seq.steps:
        raise UsageError(f"--har: {path} has no calls to /api/governance/")
    return seq


def _prefixed(body: Any, marker: str) -> Any:
    name = body.get("name") if isinstance(body, dict) else None
    if isinstance(name, str) and name and not name.startswith(PREFIX):
        body = {**body, "name": marker + name}
    return body
