"""Schemathesis hooks and checks for ``vkmock contract`` (loaded in the Schemathesis process via
``SCHEMATHESIS_HOOKS=vkmock.check.hooks``; not imported by vkmock itself).

What it adds to Schemathesis:

- **Checks** Schemathesis lacks, each failing with a message that names the break: ``count`` equals the
  length of ``virtual_keys``; timestamps are RFC 3339; documented errors use Bifrost's error envelope; bodies
  are JSON, not an HTML page; a created key can be read back; an updated key reads back as answered; a deleted
  key is gone; and at least one request of the run got a 2xx.
- **Safety for writes**: every create/update body's ``name`` starts with ``vkmock-contract-`` (so the cleanup
  pass finds every key the run made), and every request on a key this run did not create (Schemathesis reuses
  ids it saw in list responses) goes to a stand-in key the run creates for it. Nothing but keys this run
  created is ever changed.
- **Real ids for reads** (read-only runs): a positive ``GET /virtual-keys/{vk_id}`` with an invented id is
  pointed at a key the list returned, so single-key reads are checked on real data and not only as 404s.

Configured by the environment ``vkmock contract`` sets: ``_VKMOCK_CONTRACT_URL``, ``_VKMOCK_CONTRACT_AUTH``
(the ``Authorization`` value, never printed), ``_VKMOCK_CONTRACT_WRITES`` (``1`` or ``0``),
``_VKMOCK_CONTRACT_TIMEOUT``.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
import zlib
from typing import Any

import schemathesis

from vkmock import spec
from vkmock.check import expect
from vkmock.check.http import BASE, PREFIX, ConnectionProblem, Target, is_rfc3339, key_path

ITEM = BASE + "/{vk_id}"
NAME_LIMIT = 255


def _target() -> Target:
    return Target(
        os.environ.get("_VKMOCK_CONTRACT_URL", "http://localhost:8080"),
        os.environ.get("_VKMOCK_CONTRACT_AUTH") or None,
        float(os.environ.get("_VKMOCK_CONTRACT_TIMEOUT", "10")),
    )


WRITES = os.environ.get("_VKMOCK_CONTRACT_WRITES") == "1"


def _timestamp_fields() -> frozenset[str]:
    """Property names whose schema is the spec's ``Timestamp``."""
    names = set()
    for schema in spec.spec()["components"]["schemas"].values():
        for name, prop in (schema.get("properties") or {}).items():
            if isinstance(prop, dict) and prop.get("$ref") == "#/components/schemas/Timestamp":
                names.add(name)
    return frozenset(names)


def _documented_errors() -> dict[tuple[str, str], set[int]]:
    """``{(METHOD, path): {documented error statuses}}``."""
    return {
        key: {int(code) for code in op.get("responses", {}) if code.isdigit() and int(code) >= 400}
        for key, op in spec.operations().items()
    }


TIMESTAMPS = _timestamp_fields()
ERRORS = _documented_errors()


# ---- what the run has seen --------------------------------------------------------------------------


class _Seen:
    """Ids and names of keys seen so far, and ids this run created (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.names: dict[str, str] = {}
        self.created: set[str] = set()
        self.existing: list[str] = []  # ids of keys that were there before the run, for reads
        self.stand_ins: dict[str, str] = {}
        self.loaded = False

    def load(self) -> None:
        with self.lock:
            if self.loaded:
                return
            self.loaded = True
            try:
                keys = _target().list_keys()
            except (ConnectionProblem, ValueError):
                keys = []
            for vk in keys:
                if isinstance(vk.get("id"), str):
                    self.names[vk["id"]] = str(vk.get("name"))
                    self.existing.append(vk["id"])

    def remember(self, doc: Any, created: bool = False) -> None:
        with self.lock:
            for vk in _keys_in(doc):
                vk_id = vk.get("id")
                if isinstance(vk_id, str):
                    self.names[vk_id] = str(vk.get("name"))
                    if created:
                        self.created.add(vk_id)

    def protected(self, vk_id: str) -> bool:
        """A key this run must not touch: it exists (or existed) and this run did not create it."""
        with self.lock:
            if vk_id in self.created:
                return False
            name = self.names.get(vk_id)
            return name is not None and not name.startswith(PREFIX)

    def known(self, vk_id: str) -> bool:
        with self.lock:
            return vk_id in self.names or vk_id in self.created

    def stand_in(self, vk_id: str) -> str:
        """The key that takes the place of protected key ``vk_id`` for this whole run.

        Schemathesis reuses ids it saw in list responses for PUT and DELETE. Those requests go to a stand-in
        key this run creates (named ``vkmock-contract-stand-in-*``), the same one every time, so the run sees
        a consistent world (an update reads back, a delete makes later reads 404) and the real key is never
        touched. When the stand-in cannot be created, an id that does not exist is used instead.
        """
        with self.lock:
            found = self.stand_ins.get(vk_id)
            if found is not None:
                return found
            replacement = f"{PREFIX}absent-{zlib.crc32(vk_id.encode())}"
            try:
                answer = _target().call(
                    "POST", BASE, body={"name": f"{PREFIX}stand-in-{uuid.uuid4().hex[:12]}"}
                )
                created = answer.json().get("virtual_key", {}) if answer.status == 200 else {}
                if isinstance(created.get("id"), str):
                    replacement = created["id"]
                    self.created.add(replacement)
                    self.names[replacement] = str(created.get("name"))
            except (ConnectionProblem, ValueError, AttributeError):
                pass
            self.stand_ins[vk_id] = replacement
            return replacement


SEEN = _Seen()


def _keys_in(doc: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(doc, dict):
        if isinstance(doc.get("virtual_keys"), list):
            found.extend(vk for vk in doc["virtual_keys"] if isinstance(vk, dict))
        if isinstance(doc.get("virtual_key"), dict):
            found.append(doc["virtual_key"])
    return found


def _prefixed(name: str, allow_empty: bool) -> str:
    if name.startswith(PREFIX) or (not name and not allow_empty):
        return name  # an empty create name stays a rule break, so the server still refuses it
    new = PREFIX + name
    if len(name) <= NAME_LIMIT < len(new):
        new = new[:NAME_LIMIT]  # a valid length stays valid; an invalid one stays invalid
    return new


def _is_positive(case: Any) -> bool:
    meta = case.meta
    return meta is not None and not meta.generation.mode.is_negative


def _stateful(case: Any) -> bool:
    """In the stateful phase ids come from links (a created key); they are not swapped for other ids."""
    meta = case.meta
    phase = getattr(getattr(meta, "phase", None), "name", "") if meta is not None else ""
    return "stateful" in str(getattr(phase, "value", phase)).lower()


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    SEEN.load()
    method = case.method.upper()
    path = case.operation.path
    body = case.body
    if (method, path) in (("POST", BASE), ("PUT", ITEM)) and isinstance(body, dict):
        name = body.get("name")
        new = _prefixed(name, allow_empty=method == "PUT") if isinstance(name, str) else name
        if new != name:
            case.body = {**body, "name": new}
    if path != ITEM or not isinstance(case.path_parameters.get("vk_id"), str):
        return
    vk_id = case.path_parameters["vk_id"]
    if WRITES and SEEN.protected(
        vk_id
    ):  # every request on a key this run did not create goes to its stand-in
        case.path_parameters = {**case.path_parameters, "vk_id": SEEN.stand_in(vk_id)}
    elif (
        method == "GET"
        and SEEN.existing
        and not SEEN.known(vk_id)
        and _is_positive(case)
        and not _stateful(case)
    ):
        pick = zlib.crc32(vk_id.encode()) % (len(SEEN.existing) + 1)
        if pick < len(SEEN.existing):  # one in n+1 keeps the invented id, so 404s are still seen
            case.path_parameters = {**case.path_parameters, "vk_id": SEEN.existing[pick]}


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    if 200 <= response.status_code < 300:
        doc = _json(response)
        if doc is not None:
            SEEN.remember(doc, created=case.method.upper() == "POST" and case.operation.path == BASE)


# ---- checks -----------------------------------------------------------------------------------------


def _json(response: Any) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def _content_type(response: Any) -> str:
    values = response.headers.get("content-type") or [""]
    return str(values[0] if isinstance(values, list) else values)


def _documented(case: Any) -> bool:
    return (
        case.method.upper(),
        case.operation.path,
    ) in ERRORS and case.method.upper() == case.operation.method.upper()


def _ok_doc(response: Any, case: Any) -> Any:
    if not _documented(case) or not 200 <= response.status_code < 300:
        return None
    return _json(response)


@schemathesis.check
def count_matches_list(ctx: Any, response: Any, case: Any) -> bool | None:
    """The list's ``count`` equals the number of items in ``virtual_keys``."""
    doc = _ok_doc(response, case)
    if case.method.upper() != "GET" or case.operation.path != BASE or not isinstance(doc, dict):
        return None
    items, count = doc.get("virtual_keys"), doc.get("count")
    if (
        isinstance(items, list)
        and isinstance(count, int)
        and not isinstance(count, bool)
        and count != len(items)
    ):
        raise AssertionError(
            f"`count` disagrees with the list: count is {count} but `virtual_keys` has {len(items)} item(s)"
        )
    return True


def _walk(doc: Any, pointer: str = "") -> Any:
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield pointer + "/" + str(key), key, value
            yield from _walk(value, pointer + "/" + str(key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            yield from _walk(value, f"{pointer}/{index}")


@schemathesis.check
def timestamps_are_rfc3339(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every timestamp field (``created_at``, ``updated_at``, ``last_reset``, ...) is RFC 3339."""
    doc = _ok_doc(response, case)
    if doc is None:
        return None
    for pointer, key, value in _walk(doc):
        if key in TIMESTAMPS and value is not None and not (isinstance(value, str) and is_rfc3339(value)):
            raise AssertionError(
                f"timestamp not RFC 3339 at {pointer}: {value!r} (expected e.g. 2026-10-02T09:14:03Z)"
            )
    return True


@schemathesis.check
def errors_use_bifrost_envelope(ctx: Any, response: Any, case: Any) -> bool | None:
    """A documented error status comes with Bifrost's envelope
    ``{"is_bifrost_error": bool, "status_code": <the HTTP status>, "error": {"message": str}, ...}``."""
    status = response.status_code
    if not _documented(case) or status not in ERRORS[(case.method.upper(), case.operation.path)]:
        return None
    problem = expect.error_body_problem(status, _content_type(response), response.content)
    if problem:
        raise AssertionError(expect.envelope_failure(status, problem, response.content))
    return True


@schemathesis.check
def json_not_html(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every answer of the API is JSON (``application/json``); an HTML page means the request fell through to
    a web UI or a proxy."""
    if not _documented(case) or response.status_code == 204 or not response.content:
        return None
    content_type = _content_type(response).lower()
    if expect.is_html(content_type, response.content):
        raise AssertionError(
            expect.html_failure(case.method.upper(), response.status_code, content_type, response.content)
        )
    if not content_type.startswith("application/json") or not expect.parse_json(response.content)[0]:
        shown = content_type or "no Content-Type"
        raise AssertionError(
            f"not JSON: {response.status_code} with {shown}: {expect.snippet(response.content, 60)}"
        )
    return True


def _read_back(vk_id: str) -> tuple[int, Any]:
    try:
        answer = _target().call("GET", key_path(vk_id))
    except ConnectionProblem as exc:
        raise AssertionError(f"could not read the key back: {exc}") from None
    try:
        return answer.status, answer.json()
    except ValueError:
        return answer.status, None


@schemathesis.check
def created_key_is_readable(ctx: Any, response: Any, case: Any) -> bool | None:
    """A key POST answered as created reads back by id with the same name (the write persisted)."""
    doc = _ok_doc(response, case)
    if case.method.upper() != "POST" or case.operation.path != BASE or not isinstance(doc, dict):
        return None
    vk = doc.get("virtual_key")
    if not isinstance(vk, dict) or not isinstance(vk.get("id"), str):
        return None
    status, read = _read_back(vk["id"])
    if status != 200:
        raise AssertionError(
            f"write not persisted: POST answered {response.status_code} with key {vk['id']}, "
            f"but GET {key_path(vk['id'])} then answered {status}"
        )
    got = read.get("virtual_key", {}).get("name") if isinstance(read, dict) else None
    if got != vk.get("name"):
        raise AssertionError(
            f"write not persisted: created key {vk['id']} reads back with name {got!r}, "
            f"not {vk.get('name')!r}"
        )
    return True


@schemathesis.check
def update_is_persisted(ctx: Any, response: Any, case: Any) -> bool | None:
    """A key that PUT answered as updated reads back with the values PUT answered (name, is_active)."""
    doc = _ok_doc(response, case)
    if case.method.upper() != "PUT" or case.operation.path != ITEM or not isinstance(doc, dict):
        return None
    vk = doc.get("virtual_key")
    if not isinstance(vk, dict) or not isinstance(vk.get("id"), str):
        return None
    status, read = _read_back(vk["id"])
    stored = read.get("virtual_key") if isinstance(read, dict) else None
    if status != 200 or not isinstance(stored, dict):
        raise AssertionError(
            f"update not persisted: PUT answered 200 for {vk['id']}, then GET answered {status}"
        )
    for name in ("name", "is_active", "description"):
        if stored.get(name) != vk.get(name):
            raise AssertionError(
                f"update not persisted: PUT answered {name}={vk.get(name)!r} but the key reads "
                f"back with {name}={stored.get(name)!r}"
            )
    return True


@schemathesis.check
def deleted_key_is_gone(ctx: Any, response: Any, case: Any) -> bool | None:
    """After DELETE answered 200, the key is gone: GET by id answers 404."""
    if case.method.upper() != "DELETE" or case.operation.path != ITEM or not _documented(case):
        return None
    if response.status_code != 200:
        return None
    vk_id = case.path_parameters.get("vk_id")
    if not isinstance(vk_id, str):
        return None
    status, _ = _read_back(vk_id)
    if status != 404:
        raise AssertionError(
            f"delete left the key readable: DELETE {key_path(vk_id)} answered 200, then GET answered "
            f"{status} (expected 404)"
        )
    return True


@schemathesis.check
class some_request_succeeded:  # the class name is the check's name in reports
    """At least one request of the run got a 2xx answer (otherwise the credentials are probably wrong)."""

    def __init__(self) -> None:
        self.succeeded = False
        self.statuses: set[int] = set()

    def after_response(self, ctx: Any, response: Any, case: Any) -> None:
        self.statuses.add(response.status_code)
        if 200 <= response.status_code < 300:
            self.succeeded = True

    def after_run(self, ctx: Any) -> None:
        if self.statuses and not self.succeeded:
            seen = ", ".join(str(s) for s in sorted(self.statuses))
            raise AssertionError(
                f"no request got a 2xx answer (statuses seen: {seen}); are the credentials right?"
            )

