"""``vkmock drift``: read what a live deployment returns and report, field by field, where it departs from
the bundled spec.

Probes (GET only; nothing is written):

1. the list, ``GET /api/governance/virtual-keys``;
2. each key by id (up to ``--max-keys``), ``GET /api/governance/virtual-keys/{vk_id}``;
3. an id that does not exist (404 and the Bifrost error envelope expected);
4. the list without credentials (401 and the envelope expected; skipped when no credentials were given).

Each body is walked together with its response schema. The kinds of difference:

- ``missing``: a required field is absent;
- ``extra``: a field the schema's ``properties`` do not list (the response schemas are open, so Schemathesis
  lets these pass; drift names them);
- ``type``: the wrong JSON type; ``format``: a string that is not an RFC 3339 ``date-time``, an integer out of
  ``int64``; ``value``: a broken ``minimum``/``enum``/``pattern``/..., or a ``count`` that disagrees with
  the list;
- ``status``: another HTTP status than the spec documents for the probe; ``content-type``: not
  ``application/json``; ``not-json``: a body that does not parse; ``envelope``: an error body that is not
  Bifrost's error envelope, or whose ``status_code`` differs from the HTTP status.

Array indices are folded to ``*`` so that one difference in every key is reported once, with a count and an
example path. ``--allowlist FILE`` (YAML or JSON) lists accepted differences by probe, path pattern and kind.

Exit statuses: 0 no drift (or all of it accepted), 1 drift, 2 usage or connection error.
"""

from __future__ import annotations

import fnmatch
import json
import re
import sys
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click
import yaml

from vkmock import spec
from vkmock.check.contract import CONTEXT, target_options
from vkmock.check.http import (
    BASE,
    Answer,
    ConnectionProblem,
    Credentials,
    Target,
    UsageError,
    is_rfc3339,
    key_path,
    normalize_base_url,
)

KINDS = ("missing", "extra", "type", "format", "value", "status", "content-type", "not-json", "envelope")
EXIT_OK, EXIT_DRIFT, EXIT_USAGE = 0, 1, 2
LIST_PROBE = f"GET {BASE}"
ITEM_PROBE = f"GET {BASE}/{{vk_id}}"
UNKNOWN_PROBE = f"GET {BASE}/{{unknown id}}"
NOAUTH_PROBE = f"GET {BASE} (no credentials)"
INT64 = (-(2**63), 2**63 - 1)
#: A well-formed UUID v4 that no deployment has (ids are random UUIDs), for the 404 probe.
UNKNOWN_ID = uuid.UUID("0d71f7c0-0000-4000-8000-00000000d71f")


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


# ---- the walker -------------------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_ok(value: Any, expected: str) -> bool:
    actual = _json_type(value)
    if expected == "number":
        return actual in ("integer", "number")
    if expected == "integer":
        return actual == "integer" or (actual == "number" and float(value).is_integer())
    return actual == expected


def _show(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False)
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{_json_type(value)} {text}" if not isinstance(value, dict | list) else _json_type(value)


class Walker:
    """Walks a JSON document together with a schema of the spec and collects differences."""

    def __init__(self, components: dict[str, Any]) -> None:
        self.components = components
        self.found: dict[tuple[str, str, str], Difference] = {}

    def resolve(self, schema: Any, owner: str) -> tuple[dict[str, Any], str]:
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < 32:
            name = str(schema["$ref"]).rsplit("/", 1)[-1]
            schema = self.components.get("schemas", {}).get(name, {})
            owner = name
            seen += 1
        return (schema if isinstance(schema, dict) else {}), owner

    def add(self, probe: str, norm: str, pointer: str, kind: str, expected: str, actual: str) -> None:
        key = (probe, norm or "/", kind)
        if key in self.found:
            self.found[key].count += 1
        else:
            self.found[key] = Difference(probe, norm or "/", kind, expected, actual, 1, pointer or "/")

    def walk(
        self, probe: str, value: Any, schema: Any, pointer: str = "", norm: str = "", owner: str = ""
    ) -> None:
        schema, owner = self.resolve(schema, owner)
        for part in schema.get("allOf", []):
            self.walk(probe, value, part, pointer, norm, owner)
        branches = schema.get("anyOf") or schema.get("oneOf")
        if branches:
            resolved = [self.resolve(b, owner) for b in branches]
            fitting = [(b, o) for b, o in resolved if self._types_fit(value, b)]
            if not fitting:
                wanted = sorted({t for b, _ in resolved for t in self._types(b)})
                self.add(probe, norm, pointer, "type", " or ".join(wanted) or "another type", _show(value))
                return
            branch, branch_owner = fitting[0]
            self.walk(probe, value, branch, pointer, norm, branch_owner)
        types = self._types(schema)
        if types and not any(_type_ok(value, t) for t in types):
            self.add(probe, norm, pointer, "type", " or ".join(types), _show(value))
            return
        self._constraints(probe, value, schema, pointer, norm)
        if isinstance(value, dict):
            self._object(probe, value, schema, pointer, norm, owner)
        elif isinstance(value, list) and "items" in schema:
            for index, item in enumerate(value):
                self.walk(probe, item, schema["items"], f"{pointer}/{index}", f"{norm}/*", owner)

    @staticmethod
    def _types(schema: dict[str, Any]) -> list[str]:
        kind = schema.get("type")
        if kind is None:
            return []
        return [kind] if isinstance(kind, str) else [str(k) for k in kind]

    def _types_fit(self, value: Any, schema: dict[str, Any]) -> bool:
        types = self._types(schema)
        if not types:
            return True
        return any(_type_ok(value, t) for t in types)

    def _object(
        self, probe: str, value: dict[str, Any], schema: dict[str, Any], pointer: str, norm: str, owner: str
    ) -> None:
        for name in schema.get("required", []):
            if name not in value:
                self.add(
                    probe,
                    f"{norm}/{name}",
                    f"{pointer}/{name}",
                    "missing",
                    f"present (required by {owner or 'the schema'})",
                    "absent",
                )
        properties = schema.get("properties")
        additional = schema.get("additionalProperties", True)
        for name, item in value.items():
            sub_pointer, sub_norm = f"{pointer}/{name}", f"{norm}/{name}"
            if isinstance(properties, dict) and name in properties:
                self.walk(probe, item, properties[name], sub_pointer, sub_norm, owner)
            elif isinstance(additional, dict):
                self.walk(probe, item, additional, sub_pointer, sub_norm, owner)
            elif additional is False or isinstance(properties, dict):
                self.add(
                    probe,
                    sub_norm,
                    sub_pointer,
                    "extra",
                    f"no such field ({owner or 'the schema'} does not list it)",
                    _show(item),
                )

    def _constraints(self, probe: str, value: Any, schema: dict[str, Any], pointer: str, norm: str) -> None:
        def fail(kind: str, expected: str) -> None:
            self.add(probe, norm, pointer, kind, expected, _show(value))

        fmt = schema.get("format")
        if fmt == "date-time" and isinstance(value, str) and not is_rfc3339(value):
            fail("format", "an RFC 3339 date-time (e.g. 2026-10-02T09:14:03Z)")
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if fmt == "int64" and is_int and not INT64[0] <= value <= INT64[1]:
            fail("format", "an int64")
        if "enum" in schema and value not in schema["enum"]:
            fail("value", "one of " + ", ".join(json.dumps(v) for v in schema["enum"]))
        if "const" in schema and value != schema["const"]:
            fail("value", json.dumps(schema["const"]))
        if isinstance(value, int | float) and not isinstance(value, bool):
            if "minimum" in schema and value < schema["minimum"]:
                fail("value", f">= {schema['minimum']}")
            if "maximum" in schema and value > schema["maximum"]:
                fail("value", f"<= {schema['maximum']}")
            if (
                isinstance(schema.get("exclusiveMinimum"), int | float)
                and value <= schema["exclusiveMinimum"]
            ):
                fail("value", f"> {schema['exclusiveMinimum']}")
        if isinstance(value, str):
            if "pattern" in schema and not re.search(schema["pattern"], value):
                fail("value", f"matching {schema['pattern']}")
            if "minLength" in schema and len(value) < schema["minLength"]:
                fail("value", f"at least {schema['minLength']} characters")
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                fail("value", f"at most {schema['maxLength']} characters")


# ---- probes -----------------------------------------------------------------------------------------


def _response_schema(method: str, path: str, status: int) -> dict[str, Any] | None:
    operation = spec.operations().get((method, path))
    if operation is None:
        return None
    response = operation.get("responses", {}).get(str(status))
    if response is None:
        return None
    if "$ref" in response:
        response = spec.spec()["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    content = response.get("content", {}).get("application/json", {})
    schema = content.get("schema")
    return schema if isinstance(schema, dict) else None


def _documented(method: str, path: str) -> list[str]:
    operation = spec.operations().get((method, path), {})
    return sorted(operation.get("responses", {}))


class Probe:
    def __init__(self, walker: Walker, probe: str, method: str, path: str) -> None:
        self.walker, self.probe, self.method, self.path = walker, probe, method, path

    def add(self, kind: str, expected: str, actual: str, pointer: str = "") -> None:
        self.walker.add(self.probe, pointer, pointer, kind, expected, actual)

    def check(self, answer: Answer, expected_status: int) -> Any:
        """Check status, content type and body; returns the parsed body (or ``None``)."""
        if answer.status != expected_status:
            documented = _documented(self.method, self.path)
            self.add("status", f"{expected_status} (documented: {', '.join(documented)})", str(answer.status))
        if not answer.is_json:
            self.add("content-type", "application/json", answer.content_type or "none")
            if answer.content_type.lower().startswith("text/html") or answer.body.lstrip()[:1] == b"<":
                return None
        try:
            doc = answer.json()
        except (ValueError, UnicodeDecodeError):
            self.add("not-json", "a JSON body", repr(answer.snippet(60)))
            return None
        schema = _response_schema(self.method, self.path, answer.status)
        if schema is None:
            schema = _response_schema(self.method, self.path, expected_status)
        if schema is not None:
            self.walker.walk(self.probe, doc, schema)
        if answer.status >= 400:
            self._envelope(answer, doc)
        return doc

    def _envelope(self, answer: Answer, doc: Any) -> None:
        problem = None
        if not isinstance(doc, dict):
            problem = f"a {_json_type(doc)}"
        elif not isinstance(doc.get("error"), dict) or not isinstance(doc["error"].get("message"), str):
            problem = "no error.message object"
        elif not isinstance(doc.get("is_bifrost_error"), bool):
            problem = "no is_bifrost_error boolean"
        elif doc.get("status_code") != answer.status:
            problem = f"status_code {doc.get('status_code')!r} with HTTP {answer.status}"
        if problem:
            self.add(
                "envelope",
                '{"is_bifrost_error", "status_code" = HTTP status, "error": {"message"}}',
                f"{problem}: {answer.snippet(80)}",
            )


@dataclass
class DriftReport:
    base_url: str
    differences: list[Difference] = field(default_factory=list)
    accepted: list[Difference] = field(default_factory=list)
    probes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unused_allowlist: list[dict[str, str]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_DRIFT if self.differences else EXIT_OK

    def as_json(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "drift": bool(self.differences),
            "differences": [asdict(d) for d in self.differences],
            "accepted": [asdict(d) for d in self.accepted],
            "probes": self.probes,
            "notes": self.notes,
            "unused_allowlist": self.unused_allowlist,
        }

    def text(self) -> str:
        out = [f"vkmock drift: {self.base_url} against the bundled spec"]
        out += [f"  probe: {p}" for p in self.probes]
        out += [f"  note: {n}" for n in self.notes]
        if self.differences:
            out.append(f"DRIFT: {len(self.differences)} difference(s)")
            for d in self.differences:
                places = (
                    f"{d.count} place(s), e.g. {d.example}"
                    if d.count > 1 or d.example != d.path
                    else d.example
                )
                out.append(f"  {d.kind:<12} {d.probe}  {d.path}")
                out.append(f"  {'':<12} expected {d.expected}; got {d.actual}  [{places}]")
        if self.accepted:
            out.append(f"accepted by the allowlist: {len(self.accepted)}")
            out += [f"  {d.kind:<12} {d.probe}  {d.path}" for d in self.accepted]
        for entry in self.unused_allowlist:
            out.append(f"  allowlist entry matched nothing: {json.dumps(entry)}")
        out.append("RESULT: drift found (exit 1)" if self.differences else "RESULT: no drift")
        return "\n".join(out)


# ---- allowlist --------------------------------------------------------------------------------------

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
            raise UsageError(
                f"allowlist entry {index}: expected keys among {sorted(ALLOW_KEYS)}, got {entry!r}"
            )
        if "kind" in entry and entry["kind"] not in (*KINDS, "*"):
            raise UsageError(
                f"allowlist entry {index}: unknown kind {entry['kind']!r}; kinds: {', '.join(KINDS)}"
            )
        if "path" not in entry and "probe" not in entry:
            raise UsageError(f"allowlist entry {index}: give a path or a probe pattern")
        entries.append({k: str(v) for k, v in entry.items()})
    return entries


def _accepts(entry: dict[str, str], diff: Difference) -> bool:
    return (
        fnmatch.fnmatchcase(diff.path, entry.get("path", "*"))
        and fnmatch.fnmatchcase(diff.kind, entry.get("kind", "*"))
        and fnmatch.fnmatchcase(diff.probe, entry.get("probe", "*"))
    )


# ---- the run ----------------------------------------------------------------------------------------


def run_drift(
    base_url: str,
    token: str | None = None,
    basic: str | None = None,
    allowlist: str | None = None,
    max_keys: int = 25,
    timeout: float = 10.0,
) -> DriftReport:
    """Probe the deployment. Raises ``UsageError`` or ``ConnectionProblem`` (exit 2)."""
    credentials = Credentials.parse(token, basic)
    base_url = normalize_base_url(base_url)
    entries = load_allowlist(allowlist) if allowlist else []
    if max_keys < 0:
        raise UsageError("--max-keys must be 0 or more")
    target = Target(base_url, credentials.header, timeout)
    walker = Walker(spec.spec()["components"])
    report = DriftReport(base_url)

    answer = target.call("GET", BASE)
    if answer.status in (401, 403):
        if credentials.header:
            raise UsageError(
                f"the deployment refused the credentials ({credentials.kind}): GET {BASE} answered "
                f"{answer.status}"
            )
        raise UsageError(
            f"the deployment needs credentials: GET {BASE} answered {answer.status}; pass --token or --basic"
        )
    listed = Probe(walker, LIST_PROBE, "GET", BASE).check(answer, 200)
    keys = listed.get("virtual_keys") if isinstance(listed, dict) else None
    keys = keys if isinstance(keys, list) else []
    report.probes.append(f"{LIST_PROBE}: {answer.status}, {len(keys)} key(s)")
    count = listed.get("count") if isinstance(listed, dict) else None
    has_list = isinstance(listed, dict) and isinstance(listed.get("virtual_keys"), list)
    if has_list and isinstance(count, int) and not isinstance(count, bool) and count != len(keys):
        expected = f"the length of virtual_keys ({len(keys)})"
        walker.add(LIST_PROBE, "/count", "/count", "value", expected, str(count))

    ids = [vk["id"] for vk in keys if isinstance(vk, dict) and isinstance(vk.get("id"), str)][:max_keys]
    statuses: dict[int, int] = {}
    for vk_id in ids:
        one = target.call("GET", key_path(vk_id))
        statuses[one.status] = statuses.get(one.status, 0) + 1
        Probe(walker, ITEM_PROBE, "GET", BASE + "/{vk_id}").check(one, 200)
    if ids:
        seen = ", ".join(f"{n} x {s}" for s, n in sorted(statuses.items()))
        report.probes.append(f"{ITEM_PROBE}: {len(ids)} key(s) read ({seen})")
    elif keys:
        report.notes.append("no key read by id (--max-keys 0)")
    else:
        report.notes.append("the list has no keys: single-key reads were not checked")

    unknown = str(UNKNOWN_ID)
    missing = target.call("GET", key_path(unknown))
    Probe(walker, UNKNOWN_PROBE, "GET", BASE + "/{vk_id}").check(missing, 404)
    report.probes.append(f"{UNKNOWN_PROBE}: {missing.status}")

    if credentials.header:
        anonymous = target.call("GET", BASE, auth=False)
        Probe(walker, NOAUTH_PROBE, "GET", BASE).check(anonymous, 401)
        report.probes.append(f"{NOAUTH_PROBE}: {anonymous.status}")
    else:
        report.notes.append("no credentials given: the 401 without credentials was not checked")

    used = [False] * len(entries)
    for diff in walker.found.values():
        matches = [i for i, entry in enumerate(entries) if _accepts(entry, diff)]
        for i in matches:
            used[i] = True
        (report.accepted if matches else report.differences).append(diff)
    report.unused_allowlist = [entry for entry, hit in zip(entries, used, strict=True) if not hit]
    for diff in report.differences + report.accepted:
        diff.expected = credentials.redact(diff.expected)
        diff.actual = credentials.redact(diff.actual)
    return report


@click.command(context_settings=CONTEXT)
@target_options("read")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report instead of text.")
@click.option(
    "--allowlist",
    type=click.Path(dir_okay=False),
    default=None,
    help="YAML/JSON list of accepted differences: [{path: '/virtual_keys/*/rotated_at', kind: extra, "
    "probe: '...', reason: '...'}]; patterns use * and ?.",
)
@click.option("--max-keys", type=int, default=25, show_default=True, help="Keys to read one by one.")
def drift_command(
    base_url: str,
    token: str | None,
    basic: str | None,
    as_json: bool,
    allowlist: str | None,
    max_keys: int,
    request_timeout: float,
) -> None:
    """Report, field by field, where a live deployment's answers depart from the bundled spec.

    \b
    Reads (GET only) the list, each key by id, an unknown id and the list without credentials, and reports
    missing required fields, fields the spec does not know, wrong types and formats, wrong statuses and
    error bodies that are not Bifrost's envelope.
    Exit status: 0 no drift (or all accepted by --allowlist), 1 drift, 2 usage or connection error.

    \b
    Examples:
      vkmock drift --base-url http://127.0.0.1:8080 --token any-token
      VKMOCK_CONTRACT_TOKEN=$TOKEN vkmock drift --base-url https://bifrost.staging.example.com --json
      vkmock drift --basic admin:secret --allowlist accepted-drift.yaml

    \b
    An allowlist file:
      - path: /virtual_keys/*/rotated_at      # JSON path, array indices as *
        kind: extra                           # missing, extra, type, format, value, status, ...
        reason: newer Bifrost adds rotation fields
    """
    try:
        report = run_drift(base_url, token, basic, allowlist, max_keys, request_timeout)
    except (UsageError, ConnectionProblem) as exc:
        credentials_hint = Credentials(token or None, basic if basic and ":" in basic else None)
        message = credentials_hint.redact(str(exc))
        if as_json:
            click.echo(json.dumps({"error": message, "exit_code": EXIT_USAGE}))
        click.echo(f"vkmock drift: {message}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(json.dumps(report.as_json(), indent=2) if as_json else report.text())
    sys.exit(report.exit_code)
