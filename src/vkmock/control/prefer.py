"""Per-request control of the answer, Prism-compatible: the ``Prefer`` header and its ``__*`` query twins.

``Prefer: code=404`` answers with the spec's example for that status of the operation (error statuses in the
Bifrost envelope); ``example=NAME`` picks one of the operation's named examples; ``dynamic=true`` (with
``seed=S`` to make it repeatable) answers with freshly generated data; ``scenario=NAME`` answers as if the
named fixture were loaded. ``delay=MS`` and ``fault=reset|empty|malformed|timeout`` are read here and acted on
by ``vkmock.control.faults``. Browsers, which cannot always send headers without a CORS preflight, can use
``?__code=404``, ``?__example=empty``, ``?__dynamic=true``, ``?__seed=7``, ``?__scenario=exhausted``,
``?__delay=300`` and ``?__fault=empty`` instead.

Rules:

- Preferences apply to the Bifrost API (``/api/...``), after authentication: a 401 stays a 401.
- Several preferences are separated by commas (or semicolons); a value may be quoted. A ``Prefer``
  preference vkmock does not know, a malformed value, a status the operation does not declare or an unknown
  example or scenario is refused with 400 and a message that lists the allowed values. RFC 7240's own
  preferences (``return``, ``respond-async``, ``wait``, ``handling``) are accepted and ignored.
- Query parameters are read for the names above (``__code`` ... ``__fault``), and a ``__`` parameter that is
  a near miss of one of them (``?__cod=500``, ``?__scenaro=empty``) is a 400 like an unknown ``Prefer``
  preference, naming the one meant. Any other parameter, ``__*`` or not, is ignored as upstream ignores
  parameters it does not know: the real routes (``from_memory``) keep working, and contract tools that add
  random parameters (Schemathesis does) get upstream's answer.
- ``code``/``example``, ``dynamic`` and ``scenario`` exclude one another; ``delay`` and ``fault`` go with any.
- No preference changes state. ``dynamic=true`` and ``scenario=NAME`` on a write are dry runs: the body is
  checked by the same rules (a bad body still gets its 400), the answer is what the write would answer
  (``scenario``: against the fixture's keys, so a duplicate name is a 409 and an unknown id a 404;
  ``dynamic``: against the stored keys, without the duplicate-name check), and nothing is stored.
- ``code=200`` on an operation whose 200 has no example answers with a generated key (seeded by ``--seed``).
- The answer carries ``Preference-Applied`` naming what was applied (with the seed ``dynamic`` used).
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, g, request

from vkmock import spec
from vkmock.bifrost.base import Ids
from vkmock.bifrost.v1_4 import rules
from vkmock.bifrost.v1_4 import world as fakes
from vkmock.bifrost.v1_5 import world as world_1_5
from vkmock.clock import parse_ts, ts_micros
from vkmock.errors import FAILED, UPDATE_PREFIX, ApiError, BadRequest, Conflict, NotFound
from vkmock.jsonio import go_dumps, go_dumps_str
from vkmock.serve import fixtures
from vkmock.serve.http import JSON, DryRun, read_body, state
from vkmock.serve.store import DUPLICATE_NAME, Store

KNOWN = ("code", "example", "dynamic", "seed", "scenario", "delay", "fault")
IGNORED = ("return", "respond-async", "wait", "handling")  # RFC 7240's registered preferences
FAULTS = ("reset", "empty", "malformed", "timeout")
MAX_DELAY_MS = 60_000
QUERY_PREFIX = "__"
NEAR_MISS = 0.75  # difflib's similarity from which an unknown __name is taken for a typo of a preference
DRY_RUN_FIRST_ID = 1_000_000_000  # provider/MCP config ids in a dry run's answer (never stored)
_TOKEN = re.compile(r'^\s*([A-Za-z][A-Za-z0-9_-]*)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^\s"]*)\s*)?$')
_RULE_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_MESSAGES = {
    "POST": "Virtual key created successfully",
    "PUT": "Virtual key updated successfully",
    "DELETE": "Virtual key deleted successfully",
}


class Preferred(ApiError):
    """An error status the client asked for with ``Prefer: code=...`` (rendered by the app's one handler)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Preferences:
    code: int | None = None
    example: str | None = None
    dynamic: bool = False
    seed: int | None = None
    scenario: str | None = None
    delay_ms: int | None = None
    fault: str | None = None
    given: dict[str, str] = field(default_factory=dict)

    @property
    def answers(self) -> bool:
        """True when a preference chooses the answer (rather than only delaying or breaking it)."""
        return self.code is not None or self.example is not None or self.dynamic or self.scenario is not None


NONE = Preferences()


# ---- parsing --------------------------------------------------------------------------------------------


def applies() -> bool:
    """Preferences (and chaos) act on the Bifrost API only, never on CORS preflights."""
    return request.path.startswith("/api/") and request.method != "OPTIONS"


def _bad(name: str, value: str, why: str) -> BadRequest:
    shown = f"{name}={value}" if value != "" else name
    return BadRequest(f"Invalid Prefer {shown}: {why}")


def _collect() -> dict[str, str]:
    """Every preference of the request, from the Prefer header(s) and the ``__*`` query parameters."""
    found: dict[str, str] = {}

    def add(name: str, value: str, origin: str) -> None:
        name = name.lower()
        if name in IGNORED:
            return
        if name not in KNOWN:
            close = difflib.get_close_matches(name, KNOWN, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise _bad(
                name,
                value,
                f"unknown preference ({origin}); {hint}vkmock understands {', '.join(KNOWN)} "
                f"and ignores RFC 7240's {', '.join(IGNORED)}",
            )
        if name in found and found[name] != value:
            raise _bad(name, value, f"given twice with different values ({found[name]!r} and {value!r})")
        found[name] = value

    for header in request.headers.getlist("Prefer"):
        for token in re.split(r"[,;]", header):
            if not token.strip():
                continue
            matched = _TOKEN.match(token)
            if not matched:
                raise BadRequest(
                    f"Invalid Prefer header: cannot read {token.strip()!r}; write NAME=VALUE pairs "
                    "separated by commas, e.g. 'Prefer: code=404' or 'Prefer: dynamic=true, seed=7'"
                )
            value = matched.group(2) or ""
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            add(matched.group(1), value, "Prefer header")
    for key in request.args:
        # the preferences and their near misses (a typo is refused); any other parameter is ignored, as upstream
        # ignores parameters it does not know
        if key.startswith(QUERY_PREFIX) and _twin(key[len(QUERY_PREFIX) :].lower()):
            for value in request.args.getlist(key):
                add(key[len(QUERY_PREFIX) :], value, f"query parameter {key}")
    return found


def _twin(name: str) -> bool:
    """A preference's query twin, or a near miss of one (``cod``, ``scenaro``; never a ``__dunder__``)."""
    if name in KNOWN:
        return True
    return not name.endswith("__") and bool(difflib.get_close_matches(name, KNOWN, n=1, cutoff=NEAR_MISS))


def _int(name: str, value: str, low: int, high: int) -> int:
    if not re.fullmatch(r"-?[0-9]{1,19}", value):
        raise _bad(name, value, f"{name} must be an integer from {low} to {high}")
    number = int(value)
    if not low <= number <= high:
        raise _bad(name, value, f"{name} must be an integer from {low} to {high}")
    return number


def parse(found: dict[str, str]) -> Preferences:
    code = _int("code", found["code"], 100, 599) if "code" in found else None
    dynamic = False
    if "dynamic" in found:
        if found["dynamic"].lower() not in ("true", "false"):
            raise _bad("dynamic", found["dynamic"], "dynamic must be true or false")
        dynamic = found["dynamic"].lower() == "true"
    seed = _int("seed", found["seed"], 0, 2**63 - 1) if "seed" in found else None
    if seed is not None and not dynamic:
        raise _bad(
            "seed", found["seed"], "seed chooses the generated world of dynamic=true; add dynamic=true"
        )
    delay = _int("delay", found["delay"], 0, MAX_DELAY_MS) if "delay" in found else None
    fault = found.get("fault")
    if fault is not None and fault not in FAULTS:
        raise _bad("fault", fault, f"fault must be one of {', '.join(FAULTS)}")
    for name in ("example", "scenario"):
        if name in found and not found[name]:
            raise _bad(
                name, "", f"{name} needs a name, e.g. {name}={'empty' if name == 'example' else 'exhausted'}"
            )
    chosen: list[str] = [n for n in ("code", "scenario") if n in found]
    if dynamic:
        chosen.insert(1, "dynamic")
    if "example" in found and "code" not in chosen:
        chosen.insert(0, "example")
    if len(chosen) > 1:
        raise BadRequest(
            f"Invalid Prefer: {' and '.join(chosen)} cannot be combined; code/example, dynamic and "
            "scenario each choose the whole answer (delay and fault go with any of them)"
        )
    return Preferences(
        code, found.get("example"), dynamic, seed, found.get("scenario"), delay, fault, dict(found)
    )


def asked(environ: dict[str, Any]) -> bool:
    """True when the request may carry preferences: a ``Prefer`` header or a ``__`` in its query string."""
    return "HTTP_PREFER" in environ or QUERY_PREFIX in environ.get("QUERY_STRING", "")


#: Where a request's parsed preferences are kept, in its WSGI environ (the journal reads them there).
ENVIRON_KEY = "vkmock.prefs"


def preferences() -> Preferences:
    """The request's preferences, parsed once (``BadRequest`` when malformed)."""
    environ = request.environ
    prefs: Preferences | None = environ.get(ENVIRON_KEY)
    if prefs is None:
        prefs = environ[ENVIRON_KEY] = parse(_collect()) if asked(environ) and applies() else NONE
    return prefs


def applied(text: str) -> None:
    """Name a preference in the answer's ``Preference-Applied`` header."""
    g.setdefault("vkmock_applied", [])
    g.vkmock_applied.append(text)


# ---- the spec's operations and examples ------------------------------------------------------------------


def _spec_name() -> str:
    return str(state().profile.spec_name)


def _operations() -> dict[tuple[str, str], dict[str, Any]]:
    return spec.operations(_spec_name())


def operation() -> tuple[str, str, dict[str, Any]] | None:
    """``(METHOD, spec path, operation)`` of the matched route, or ``None`` (unknown route, wrong method)."""
    rule = request.url_rule
    if rule is None:
        return None
    path = _RULE_PARAM.sub(r"{\1}", rule.rule)
    method = "GET" if request.method == "HEAD" else request.method
    found = _operations().get((method, path))
    return (method, path, found) if found else None


def _examples(response: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """The named examples and the single ``example`` of a response's JSON content."""
    name = _spec_name()
    content = (spec.resolve(response, name).get("content") or {}).get("application/json") or {}
    named = {
        label: spec.resolve(example, name).get("value") for label, example in (content.get("examples") or {}).items()
    }
    return named, content.get("example")


# ---- generated keys ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _seeded(seed: int, now: str) -> tuple[fakes.Catalogue, list[str]]:
    return fakes.build_catalogue(seed, parse_ts(now)), fakes.people_pool(seed)


def generated_key(seed: int, now: str, vk_id: str | None = None) -> dict[str, Any]:
    """A generated key of world ``seed``; with ``vk_id`` it carries that id (and its configs point at it)."""
    catalogue, people = _seeded(seed, now)
    index = int(hashlib.sha256((vk_id or "").encode()).hexdigest()[:8], 16) % 1000 if vk_id else 0
    record = fakes.make_record(seed, index, parse_ts(now), catalogue, people, set())
    if vk_id is not None:
        record["id"] = vk_id
        for config in [*record["provider_configs"], *record["mcp_configs"]]:
            config["virtual_key_id"] = vk_id
    return record


def _generated_answer(method: str, seed: int) -> bytes:
    st = state()
    now = st.settings.now
    vk_id = (request.view_args or {}).get("vk_id")
    if method == "GET" and vk_id is None:
        world = fakes.generate_world(seed, st.settings.count, now)
        return _list_body(world.virtual_keys)
    if method == "DELETE":
        return go_dumps({"message": _MESSAGES["DELETE"]})
    doc = go_dumps_str(generated_key(seed, now, vk_id))
    if method == "GET":
        return ('{"virtual_key":' + doc + "}\n").encode()
    return ('{"message":"' + _MESSAGES[method] + '","virtual_key":' + doc + "}\n").encode()


def _list_body(keys: list[dict[str, Any]]) -> bytes:
    ordered = sorted(keys, key=lambda vk: (ts_micros(vk["created_at"]), vk["id"]))
    docs = [go_dumps_str(vk) for vk in ordered]
    return ('{"virtual_keys":[' + ",".join(docs) + '],"count":' + str(len(docs)) + "}\n").encode()


# ---- scenarios (fixtures as if loaded) -------------------------------------------------------------------


@dataclass
class Source:
    """What a dry run reads: one key by id, whether a name is taken, and the catalogue."""

    get: Callable[[str], dict[str, Any] | None]
    taken: Callable[[str], bool] | None
    catalogue: fakes.Catalogue


@dataclass
class Scenario:
    list_body: bytes
    docs: dict[str, str]
    names: set[str]
    catalogue: fakes.Catalogue


@functools.lru_cache(maxsize=8)
def _scenario(path: str, stamp: tuple[int, int], seed: int, now: str) -> Scenario:
    world = fixtures.load(path, seed, now)
    return Scenario(
        _list_body(world.virtual_keys),
        {vk["id"]: go_dumps_str(vk) for vk in world.virtual_keys},
        {vk["name"] for vk in world.virtual_keys},
        world.catalogue,
    )


def _scenario_path(name: str) -> Path:
    st = state()
    try:
        return Path(fixtures.named(name, st.fixtures_dir, st.profile))
    except ValueError as exc:
        raise _bad("scenario", name, str(exc)) from exc
    except FileNotFoundError as exc:
        names = ", ".join(fixtures.available(st.fixtures_dir, st.profile)) or "none"
        raise _bad("scenario", name, f"no fixture named {name!r}; available: {names}") from exc


def scenario(name: str) -> Scenario:
    st = state()
    path = _scenario_path(name)
    info = Path(path).stat()
    try:
        return _scenario(str(path), (info.st_mtime_ns, info.st_size), st.settings.seed, st.settings.now)
    except fixtures.FixtureError as exc:
        raise _bad("scenario", name, f"bad fixture: {exc}") from exc


def _dry_run(method: str, source: Source) -> Response:
    """Answer a write as if it were applied to ``source``; nothing is stored."""
    st = state()
    vk_id = (request.view_args or {}).get("vk_id")
    ids = Ids(DRY_RUN_FIRST_ID, DRY_RUN_FIRST_ID)
    if method == "POST":
        build = rules.parse_create(read_body(), st.now)
        record = build(ids, source.catalogue)
        if source.taken and source.taken(record["name"]):
            raise Conflict(DUPLICATE_NAME, upstream_status=500)
    elif method == "PUT" and vk_id is not None:
        change = rules.parse_update(read_body(), st.now)
        current = source.get(vk_id)
        if current is None:
            raise NotFound("Virtual key not found")
        record = change(current, ids, source.catalogue)
        if source.taken and record["name"] != current["name"] and source.taken(record["name"]):
            raise Conflict(UPDATE_PREFIX + DUPLICATE_NAME, upstream_status=400)
    elif method == "DELETE" and vk_id is not None:
        if source.get(vk_id) is None:
            raise NotFound("Virtual key not found")
        return Response(go_dumps({"message": _MESSAGES["DELETE"]}), content_type=JSON)
    else:  # pragma: no cover - every write of the spec is handled above
        raise BadRequest(f"no dry run for {method}")
    body = '{"message":"' + _MESSAGES[method] + '","virtual_key":' + go_dumps_str(record) + "}\n"
    return Response(body.encode(), content_type=JSON)


# ---- answering ------------------------------------------------------------------------------------------


def _coded(method: str, path: str, op: dict[str, Any], prefs: Preferences) -> Response:
    declared = sorted(str(code) for code in op["responses"])
    where = f"{method} {path}"
    if prefs.code is not None:
        code = prefs.code
        if str(code) not in declared:
            raise _bad("code", str(code), f"{where} declares only {', '.join(declared)}")
    else:
        code = int(next(c for c in declared if c.startswith("2")))
    named, single = _examples(op["responses"][str(code)])
    if prefs.example is not None:
        if prefs.example not in named:
            listed = (
                f"these examples for {code}: {', '.join(named)}" if named else f"no named examples for {code}"
            )
            raise _bad("example", prefs.example, f"{where} declares {listed}")
        body = named[prefs.example]
        applied(f"example={prefs.example}")
    else:
        body = next(iter(named.values())) if named else single
    if prefs.code is not None:
        applied(f"code={code}")
    if code >= 400:
        message = (body or {}).get("error", {}).get("message") if isinstance(body, dict) else None
        if code == 500:  # the operation's own upstream message, as --fault-rate answers
            message = FAILED.get((method, path), message)
        described = spec.resolve(op["responses"][str(code)], _spec_name()).get("description", "Error")
        raise Preferred(code, message or described)
    data = go_dumps(body) if body is not None else _generated_answer(method, state().settings.seed)
    return Response(data, status=code, content_type=JSON)


def _dynamic(method: str, prefs: Preferences) -> Response:
    seed = prefs.seed if prefs.seed is not None else random.SystemRandom().randrange(2**31)
    applied("dynamic=true")
    if method == "GET":
        applied(f"seed={seed}")
        return Response(_generated_answer(method, seed), content_type=JSON)
    store = state().store
    return _dry_run(method, Source(store.get, None, store.catalogue))


def _scenario_answer(method: str, prefs: Preferences) -> Response:
    assert prefs.scenario is not None
    world = scenario(prefs.scenario)
    applied(f"scenario={prefs.scenario}")
    vk_id = (request.view_args or {}).get("vk_id")
    if method == "GET" and vk_id is None:
        return Response(world.list_body, content_type=JSON)
    if method == "GET":
        doc = world.docs.get(vk_id or "")
        if doc is None:
            raise NotFound("Virtual key not found")
        return Response(('{"virtual_key":' + doc + "}\n").encode(), content_type=JSON)

    def get(key_id: str) -> dict[str, Any] | None:
        doc = world.docs.get(key_id)
        return None if doc is None else dict(json.loads(doc))

    return _dry_run(method, Source(get, world.names.__contains__, world.catalogue))


# ---- Bifrost 1.5: the route itself answers, from another store ----------------------------------------------


@functools.lru_cache(maxsize=8)
def _world_store(kind: str, reference: str, stamp: Any, seed: int, count: int, now: str) -> Store:
    """A private in-memory store of a generated world (``kind`` "dynamic") or of a fixture ("scenario")."""
    if kind == "dynamic":
        built: Any = world_1_5.generate_world(seed, count, now)
    else:
        built = fixtures.load(reference, seed, now, state().profile)
    return Store(None, lambda: built).open()


def _routed(store: Any) -> Response:
    """The matched route's own answer, reading and writing ``store`` instead of the app's."""
    g.vkmock_store = store
    view = current_app.view_functions[request.url_rule.endpoint]  # type: ignore[union-attr]
    result: Any = view(**(request.view_args or {}))
    return current_app.make_response(result)


def _dynamic_1_5(method: str, prefs: Preferences) -> Response:
    st = state()
    if method != "GET":
        return _routed(DryRun(st.store))
    seed = prefs.seed if prefs.seed is not None else random.SystemRandom().randrange(2**31)
    applied(f"seed={seed}")
    generated = _world_store("dynamic", "", None, seed, max(st.settings.count, 1), st.settings.now)
    vk_id = (request.view_args or {}).get("vk_id")
    if vk_id is not None and request.url_rule is not None and request.url_rule.rule.endswith("<path:vk_id>"):
        rows = generated.rows()
        pick = rows[int(hashlib.sha256(vk_id.encode()).hexdigest()[:8], 16) % len(rows)]
        doc = (generated.get_doc(pick.id) or "").replace(pick.id, vk_id)
        return Response(('{"virtual_key":' + doc + "}\n").encode(), content_type=JSON)
    return _routed(generated)


def _scenario_1_5(method: str, prefs: Preferences) -> Response:
    assert prefs.scenario is not None
    st = state()
    path = _scenario_path(prefs.scenario)
    info = Path(path).stat()
    try:
        world = _world_store("scenario", str(path), (info.st_mtime_ns, info.st_size), st.settings.seed, 0,
                             st.settings.now)
    except fixtures.FixtureError as exc:
        raise _bad("scenario", prefs.scenario, f"bad fixture: {exc}") from exc
    applied(f"scenario={prefs.scenario}")
    return _routed(world if method == "GET" else DryRun(world))


def answer() -> Response | None:
    """Answer the request from its preferences, or ``None`` to let the route answer."""
    if not asked(request.environ) or not applies():
        return None
    prefs = preferences()
    if not prefs.answers:
        return None
    found = operation()
    if found is None:
        return None  # an unknown route or method keeps its 404/405
    method, path, op = found
    if state().profile.groups and (prefs.scenario is not None or prefs.dynamic):
        if prefs.scenario is not None:
            return _scenario_1_5(method, prefs)
        applied("dynamic=true")
        return _dynamic_1_5(method, prefs)
    if prefs.scenario is not None:
        return _scenario_answer(method, prefs)
    if prefs.dynamic:
        return _dynamic(method, prefs)
    return _coded(method, path, op, prefs)


def init_app(app: Flask, state_: Any) -> None:
    app.before_request(answer)

    @app.after_request
    def preference_applied(response: Response) -> Response:
        if not asked(request.environ):  # nothing can have been applied
            return response
        names = g.get("vkmock_applied")
        if names:
            response.headers["Preference-Applied"] = ", ".join(names)
        return response
