"""``vkmock compare``: the diff engine, the sequences as data, and whole runs between servers that differ in known
ways (each difference named, nothing else reported), including the safety rules for writes.

Servers that run in this process (a thread each, 127.0.0.1, a free port) are the real vkmock app, some behind a
middleware that changes exactly one behaviour; ``mock:`` sides are real ``vkmock serve`` processes.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from breakers import run_vkmock
from conftest import FIXTURES
from vkmock.app import create_app
from vkmock.check import sequence as seqmod
from vkmock.check.compare import CompareOptions, CompareRun, run_compare
from vkmock.check.http import UsageError
from vkmock.check.jsondiff import Comparer, IdMap, Rules
from vkmock.settings import Settings

VK = "/api/governance/virtual-keys"
TOKEN = "compare-test-token"
ID1, ID2, ID3 = (f"{n}1b2c3d4-0000-4000-8000-00000000000{n}" for n in "123")


# ---- the diff engine -------------------------------------------------------------------------------------


def diff(a: Any, b: Any, ids: IdMap | None = None, **rules: Any) -> list[tuple[str, str]]:
    return [(d.kind, d.path) for d in Comparer(ids or IdMap(), Rules(**rules)).compare(a, b)]


def test_equal_documents_have_no_difference() -> None:
    doc = {"name": "k", "budgets": [{"max_limit": 10, "reset_duration": "1M"}], "is_active": True}
    assert diff(doc, json.loads(json.dumps(doc))) == []


def test_missing_extra_type_order_and_value_are_named_by_path() -> None:
    a = {"id": ID1, "name": "k", "weight": 0, "tags": ["a"], "flag": True, "only_a": 1}
    b = {"name": "k", "id": ID2, "weight": None, "tags": ["b"], "flag": True, "only_b": 2}
    assert sorted(diff(a, b)) == sorted([
        ("missing", "only_a"), ("extra", "only_b"), ("order", "(top)"), ("type", "weight"), ("value", "tags[]"),
    ])
    assert diff({"x": 1, "y": 2}, {"y": 2, "x": 1}, order=False) == []


def test_generated_ids_are_paired_once_and_followed() -> None:
    ids = IdMap()
    assert diff({"id": ID1, "value": "sk-bf-" + ID1}, {"id": ID2, "value": "sk-bf-" + ID2}, ids) == []
    # the same object later: fine; A's id now standing for another object on B: an id difference
    assert diff({"virtual_key_id": ID1}, {"virtual_key_id": ID2}, ids) == []
    assert diff({"virtual_key_id": ID1}, {"virtual_key_id": ID3}, ids) == [("id", "virtual_key_id")]


def test_integer_ids_are_paired_per_kind_of_row() -> None:
    ids = IdMap()
    a = {"provider_configs": [{"id": 6}], "mcp_configs": [{"id": 6, "mcp_client_id": 1}]}
    b = {"provider_configs": [{"id": 321}], "mcp_configs": [{"id": 40, "mcp_client_id": 2}]}
    assert diff(a, b, ids) == []
    assert diff({"provider_configs": [{"id": 6}]}, {"provider_configs": [{"id": 322}]}, ids) == [
        ("id", "provider_configs[].id")
    ]


def test_timestamps_compare_by_kind_and_period_starts_exactly() -> None:
    now_a, now_b = "2026-12-01T09:20:40.907019Z", "2026-12-01T09:20:41.1Z"
    assert diff({"t": now_a}, {"t": now_b}) == []
    assert diff({"t": "2026-12-01T00:00:00Z"}, {"t": now_b}) == [("timestamp", "t")]
    assert diff({"t": "2026-12-01T00:00:00Z"}, {"t": "2026-11-30T00:00:00Z"}) == [("value", "t")]
    assert diff({"t": now_a}, {"t": "2026-12-01 09:20:40"}) == [("timestamp", "t")]
    assert diff({"t": "0001-01-01T00:00:00Z"}, {"t": now_b}) == [("timestamp", "t")]


def test_list_items_are_paired_by_id_then_name_and_own_filters_the_rest() -> None:
    prefix = "vkmock-compare-x-"
    a = [{"name": "other-a"}, {"name": prefix + "k1", "v": 1}, {"name": prefix + "k2", "v": 2}]
    b = [{"name": prefix + "k2", "v": 2}, {"name": prefix + "k1", "v": 1}, {"name": "other-b"}]
    assert diff(a, b, own=prefix) == [("order", "[]")]
    assert diff(a, b, own=prefix, unordered=("",)) == []
    # an item on one side only is named, not paired with an unrelated one
    found = Comparer(IdMap(), Rules(own=prefix)).compare(a[1:], b[:1])
    assert [(d.kind, d.a) for d in found] == [("missing", '"vkmock-compare-x-k1"')]


def test_maps_keyed_by_id_are_paired_through_the_ids() -> None:
    ids = IdMap()
    ids.pair(ID1, ID2)
    assert diff({ID1: {"name": "t", "n": 1}}, {ID2: {"name": "t", "n": 1}}, ids) == []
    assert diff({ID1: {"name": "t", "n": 1}}, {ID2: {"name": "t", "n": 2}}, ids) == [("value", "{}.n")]


def test_nature_and_ignore_patterns_match_brackets_literally() -> None:
    a = {"count": 3, "keys": [{"name": "openai-key-1", "models": ["a"]}]}
    b = {"count": 9, "keys": [{"name": "openai-primary", "models": ["b", "c"]}]}
    assert diff(a, b, nature=("count",), ignore=("keys[].*",)) == []
    assert diff(a, b, nature=("count",)) != []


# ---- the sequences as data ---------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["1.4", "1.5"])
def test_the_builtin_sequences_load_and_name_every_step_once(profile: str) -> None:
    seq = seqmod.builtin(profile)
    assert seq.name == f"bifrost-{profile}" and len(seq.steps) > 50
    assert len({s.name for s in seq.steps}) == len(seq.steps)
    aliases = {s.alias for s in seq.steps if s.alias}
    for step in seq.steps:
        assert step.references() <= aliases, step.name
        if step.method == "POST" and isinstance(step.body, dict) and step.body.get("name"):
            name = step.body["name"]
            assert not isinstance(name, str) or name.startswith("{{prefix}}") or name.startswith(seqmod.PREFIX)
    groups = {s.group for s in seq.steps}
    assert {"read", "validate", "create", "update", "delete"} <= groups
    if profile == "1.5":
        assert {"teams", "customers", "list", "quota"} <= groups


def test_the_sequences_are_package_data() -> None:
    assert set(seqmod.builtin_names()) >= {"bifrost-1.4", "bifrost-1.5"}
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert "check/sequences/*.yaml" in text


def test_templates_fill_in_typed_values_and_missing_ones_say_why() -> None:
    ctx = seqmod.Context("vkmock-compare-ab-", created={"k": {"id": ID1, "provider_configs": [{"id": 7}]}},
                         vars={"mcp": "fs"})
    numbers: dict[str, Any] = {}
    body = ctx.render({"name": "{{prefix}}x", "id": "{{created.k.provider_configs.0.id}}", "c": "{{vars.mcp}}"},
                      numbers)
    assert body == {"name": "vkmock-compare-ab-x", "id": 7, "c": "fs"}
    assert numbers == {"created.k.provider_configs.0.id": 7}
    assert ctx.render_path(VK + "/{{created.k.id}}?search={{PREFIX}}") == f"{VK}/{ID1}?search=VKMOCK-COMPARE-AB-"
    with pytest.raises(seqmod.Missing, match=r"created\.gone does not exist"):
        ctx.render("{{created.gone.id}}")


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([{"request": "GET"}], "'request' must be 'METHOD PATH'"),
        ([{"request": "FETCH /x"}], "unknown method 'FETCH'"),
        ([{"request": "GET x"}], "must start with '/'"),
        ([{"request": "GET /x", "colour": 1}], "unknown key(s) colour"),
        ([{"request": "POST /x", "body": {}, "raw": "{"}], "give 'body' or 'raw'"),
        ([{"name": "a", "request": "GET /x"}, {"name": "a", "request": "GET /y"}], "used twice"),
    ],
)
def test_a_bad_requests_file_is_one_usage_error(tmp_path: Path, steps: list[Any], message: str) -> None:
    file = tmp_path / "mine.yaml"
    file.write_text(json.dumps(steps))
    with pytest.raises(UsageError) as caught:
        seqmod.load_file(str(file))
    assert message in str(caught.value)


def test_a_har_becomes_prefixed_steps_that_follow_what_they_created(tmp_path: Path) -> None:
    created = {"message": "Virtual key created successfully", "virtual_key": {"id": ID1, "value": "sk-bf-" + ID1}}
    entries = [
        {"request": {"method": "GET", "url": "http://ui.example/index.html"}, "response": {}},
        {"request": {"method": "POST", "url": "http://bf.example/api/governance/virtual-keys",
                     "postData": {"text": json.dumps({"name": "frontend-key"})}},
         "response": {"content": {"text": json.dumps(created)}}},
        {"request": {"method": "GET", "url": f"http://bf.example/api/governance/virtual-keys/{ID1}?from_memory=true"},
         "response": {}},
    ]
    file = tmp_path / "ui.har"
    file.write_text(json.dumps({"log": {"entries": entries}}))
    seq = seqmod.load_har(str(file))
    assert [s.label for s in seq.steps] == [f"POST {VK}", f"GET {VK}/{ID1}?from_memory=true"]
    assert seq.steps[0].body == {"name": "{{prefix}}frontend-key"} and seq.steps[0].recorded == {
        ID1: "id", "sk-bf-" + ID1: "value"}
    ctx = seqmod.Context("vkmock-compare-ab-", recorded={ID1: ID3})
    assert ctx.render_path(seq.steps[1].path) == f"{VK}/{ID3}?from_memory=true"


# ---- in-process servers ------------------------------------------------------------------------------------

Environ = dict[str, Any]


@dataclass
class Seen:
    method: str
    path: str


@dataclass
class Served:
    url: str
    app: Any
    seen: list[Seen] = field(default_factory=list)

    def names(self) -> list[str]:
        return [str(vk["name"]) for vk in self.app.extensions["vkmock"].store.records()]


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


def _buffered(app: Any, environ: Environ) -> tuple[int, list[tuple[str, str]], bytes]:
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        captured["status"], captured["headers"] = int(status.split()[0]), list(headers)

    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    return captured["status"], captured["headers"], body


Break = Callable[[Environ, int, bytes], tuple[int, bytes]]


@contextlib.contextmanager
def served(
    brk: Break | None = None, before: Callable[[Environ], None] | None = None, **settings: Any
) -> Iterator[Served]:
    """The vkmock app (Bifrost 1.5, 5 seeded keys) on 127.0.0.1 in a thread; ``brk`` rewrites answers."""
    values = {"bifrost": "1.5", "count": 5, "fixtures_dir": str(FIXTURES), **settings}
    app = create_app(Settings(**values))
    box = Served("", app)

    def wsgi(environ: Environ, start_response: Any) -> Any:
        box.seen.append(Seen(environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")))
        if before is not None:
            before(environ)
        status, headers, body = _buffered(app, environ)
        if brk is not None:
            status, body = brk(environ, status, body)
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"] + [("Content-Length", str(len(body)))]
        start_response(f"{status} X", headers)
        return [body]

    server: BaseWSGIServer = make_server("127.0.0.1", 0, wsgi, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    box.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        app.extensions["vkmock"].store.close()


def compare(a: str, b: str, **options: Any) -> CompareRun:
    values: dict[str, Any] = {"a": a, "b": b, "a_token": TOKEN, "b_token": TOKEN, "allow_writes": True, **options}
    return run_compare(CompareOptions(**values))


def differing(run: CompareRun) -> dict[str, set[tuple[str, str]]]:
    return {r.step.name: {(d.kind, d.path) for d in r.differences} for r in run.differing}


def _json_rewrite(body: bytes, edit: Callable[[Any], None]) -> bytes:
    doc = json.loads(body)
    edit(doc)
    return (json.dumps(doc, separators=(",", ":")) + "\n").encode()


# ---- whole runs: agreement, and each break found by name -----------------------------------------------------


@pytest.fixture(scope="module")
def healthy_run() -> CompareRun:
    with served() as a, served() as b:
        return compare(a.url, b.url)


def test_two_equal_servers_agree_on_the_whole_sequence(healthy_run: CompareRun) -> None:
    assert healthy_run.exit_code == 0, healthy_run.summary
    assert len(healthy_run.results) == len(seqmod.builtin("1.5").steps)
    assert {r.verdict for r in healthy_run.results} == {"agree"}
    assert "RESULT: the sides agree (exit 0)" in healthy_run.summary
    assert all(c.ok and c.deleted > 10 for c in healthy_run.cleanups.values())


def _steps(run: CompareRun, test: Callable[[Any], bool]) -> set[str]:
    return {r.step.name for r in run.results if test(r)}


def test_a_changed_message_is_found_where_it_is_sent_and_nowhere_else(healthy_run: CompareRun) -> None:
    def brk(environ: Environ, status: int, body: bytes) -> tuple[int, bytes]:
        return status, body.replace(b"Virtual key name is required", b"name is required")

    with served() as a, served(brk) as b:
        run = compare(a.url, b.url)
    expected = _steps(healthy_run, lambda r: r.a.message == "Virtual key name is required")
    assert expected == {"create rejects: no name", "create rejects: empty name",
                        "create rejects: name is checked before team and customer"}
    assert differing(run) == {name: {("message", "error.message")} for name in expected}
    assert run.exit_code == 1


def test_a_changed_status_is_found_on_every_request_it_touches(healthy_run: CompareRun) -> None:
    def brk(environ: Environ, status: int, body: bytes) -> tuple[int, bytes]:
        if environ["REQUEST_METHOD"] == "GET" and environ["PATH_INFO"].startswith(VK + "/") and status == 404:
            return 400, body.replace(b'"status_code":404', b'"status_code":400')
        return status, body

    with served() as a, served(brk) as b:
        run = compare(a.url, b.url)
    expected = _steps(healthy_run, lambda r: r.step.method == "GET" and r.step.path.startswith(VK + "/")
                      and r.a.status == 404)
    assert len(expected) >= 5 and "delete: read after delete" in expected
    assert differing(run) == {name: {("status", "")} for name in expected}


def test_a_dropped_field_is_found_in_every_answer_that_carries_it() -> None:
    def drop(doc: Any) -> None:
        for key in ("virtual_key",):
            if isinstance(doc, dict) and isinstance(doc.get(key), dict):
                doc[key].pop("config_hash", None)

    def brk(environ: Environ, status: int, body: bytes) -> tuple[int, bytes]:
        if status == 200 and environ["PATH_INFO"].startswith(VK + "/") and environ["REQUEST_METHOD"] == "GET":
            return status, _json_rewrite(body, drop)
        return status, body

    with served() as a, served(brk) as b:
        run = compare(a.url, b.url)
    found = differing(run)
    assert found and set().union(*found.values()) == {("missing", "virtual_key.config_hash")}
    assert "read: every field" in found and "read: calendar aligned" in found
    assert all(name.startswith(("read", "update: read", "delete: the")) for name in found)


def test_a_value_not_persisted_is_found_where_it_is_read_back() -> None:
    """The broken server answers an is_active change as done but never stores it."""

    def before(environ: Environ) -> None:
        if environ["REQUEST_METHOD"] == "PUT" and environ["PATH_INFO"].startswith(VK + "/"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length)
            try:
                doc = json.loads(raw)
            except ValueError:
                doc = None
            if isinstance(doc, dict) and "is_active" in doc:
                environ["vkmock.test.is_active"] = doc.pop("is_active")
                raw = json.dumps(doc).encode()
            environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(raw), str(len(raw))

    def brk(environ: Environ, status: int, body: bytes) -> tuple[int, bytes]:
        if "vkmock.test.is_active" in environ and status == 200:
            value = environ["vkmock.test.is_active"]
            return status, _json_rewrite(body, lambda doc: doc["virtual_key"].update(is_active=value))
        return status, body

    with served() as a, served(brk, before) as b:
        run = compare(a.url, b.url)
    assert differing(run) == {"update: read after deactivating": {("value", "virtual_key.is_active")}}


def test_read_only_by_default_sends_only_gets_and_creates_nothing() -> None:
    with served() as a, served() as b:
        before = sorted(a.names())
        run = compare(a.url, b.url, allow_writes=False)
        assert {s.method for s in a.seen + b.seen} == {"GET"}
        assert sorted(a.names()) == before
    assert run.exit_code == 0 and 20 < len(run.results) < 60
    assert "read-only" in run.summary


def test_leftovers_of_a_killed_run_are_deleted_first_and_nothing_stays() -> None:
    with served() as a, served() as b:
        for side in (a, b):
            _post(side.url, {"name": "vkmock-compare-old-run-key"})
        run = compare(a.url, b.url, only=("list: search*",))
        assert not [n for n in a.names() + b.names() if n.startswith("vkmock-compare-")]
    assert run.leftovers["A"].found == 1 and "leftover" in run.summary


def test_the_allow_file_accepts_named_differences_and_only_those(tmp_path: Path) -> None:
    def brk(environ: Environ, status: int, body: bytes) -> tuple[int, bytes]:
        return status, body.replace(b"Virtual key name is required", b"name is required")

    allow = tmp_path / "allow.yaml"
    allow.write_text("- step: 'create rejects: empty name'\n  kind: message\n  reason: a known wording\n")
    with served() as a, served(brk) as b:
        run = compare(a.url, b.url, allow=str(allow), only=("create rejects: *",))
        assert set(differing(run)) == {"create rejects: no name",
                                       "create rejects: name is checked before team and customer"}
        allow.write_text("- step: 'create rejects: *name*'\n  kind: message\n  reason: a known wording\n")
        run = compare(a.url, b.url, allow=str(allow), only=("create rejects: *",))
    assert run.exit_code == 0 and "accepted by --allow: 3" in run.summary


def test_reports_have_one_junit_case_per_request_and_json(tmp_path: Path) -> None:
    def brk(environ: Environ, status: int, body: bytes) -> tuple[int, bytes]:
        return status, body.replace(b"Virtual key name is required", b"name is required")

    junit, report = tmp_path / "r" / "compare.xml", tmp_path / "compare.json"
    with served() as a, served(brk) as b:
        run = compare(a.url, b.url, reports=(f"junit:{junit}", f"json:{report}"), only=("create*",))
    suite = ET.parse(junit).getroot()
    cases = suite.findall("testcase")
    assert len(cases) == len(run.results) and suite.get("failures") == "3"
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert failed == ["create rejects: no name", "create rejects: empty name",
                      "create rejects: name is checked before team and customer"]
    doc = json.loads(report.read_text())
    assert doc["totals"]["differ"] == 3 and TOKEN not in report.read_text() + junit.read_text()


def test_requests_file_adds_steps_that_follow_created_things(tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "- name: my key\n  request: POST /api/governance/virtual-keys\n  body: {name: '{{prefix}}mine'}\n  as: mine\n"
        "- name: my key read\n  request: GET /api/governance/virtual-keys/{{created.mine.id}}\n"
    )
    with served() as a, served() as b:
        run = compare(a.url, b.url, requests=(str(mine),), builtin=False)
    assert [(r.step.name, r.verdict) for r in run.results] == [("my key", "agree"), ("my key read", "agree")]
    assert run.results[1].a.request != run.results[1].b.request  # each side read its own key


def test_a_har_replay_follows_the_key_each_side_created(tmp_path: Path) -> None:
    created = {"virtual_key": {"id": ID1, "value": "sk-bf-" + ID1}}
    entries = [
        {"request": {"method": "POST", "url": "http://x/api/governance/virtual-keys",
                     "postData": {"text": json.dumps({"name": "from-the-ui"})}},
         "response": {"content": {"text": json.dumps(created)}}},
        {"request": {"method": "PUT", "url": f"http://x/api/governance/virtual-keys/{ID1}",
                     "postData": {"text": json.dumps({"description": "edited"})}}, "response": {}},
        {"request": {"method": "GET", "url": f"http://x/api/governance/virtual-keys/{ID1}"}, "response": {}},
    ]
    har = tmp_path / "ui.har"
    har.write_text(json.dumps({"log": {"entries": entries}}))
    with served() as a, served() as b:
        run = compare(a.url, b.url, har=(str(har),), builtin=False)
    assert [r.a.status for r in run.results] == [200, 200, 200]
    assert run.exit_code == 0 and run.results[2].a.doc["virtual_key"]["description"] == "edited"


def test_unreachable_side_is_exit_2_with_one_line() -> None:
    with served() as a:
        run = compare(a.url, "http://127.0.0.1:9")
    assert run.exit_code == 2 and "cannot connect to http://127.0.0.1:9" in run.summary


def _post(url: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(url + VK, data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


# ---- the command line -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ftp://x", "mock"], "side A must be an http(s):// base URL or mock[:OPTIONS]"),
        (["mock", "http://x", "--b-token", "t", "--b-basic", "u:p"], "give either --b-token or --b-basic"),
        (["mock", "http://x", "--a-basic", "nocolon"], "--a-basic takes USER:PASS"),
        (["mock", "http://x", "--report", "html:x"], "--report takes junit:PATH or json:PATH"),
    ],
)
@pytest.mark.slow  # runs the command in a child process
def test_usage_errors_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = run_vkmock("compare", *args, timeout=60)
    assert result.returncode == 2, result
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


# ---- mock: sides (real processes) --------------------------------------------------------------------------


def _run_json(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    result = run_vkmock("compare", *args, "--json", timeout=300, env=env)
    return result.returncode, json.loads(result.stdout)


def _differences(doc: dict[str, Any]) -> dict[str, set[tuple[str, str]]]:
    return {s["name"]: {(d["kind"], d["path"]) for d in s["differences"]} for s in doc["steps"] if s["differences"]}


@pytest.mark.slow
def test_mock_against_mock_agrees() -> None:
    code, doc = _run_json("mock:--bifrost 1.5", "mock:--bifrost 1.5 --seed 7", "--allow-writes")
    assert code == 0, _differences(doc)
    assert doc["totals"]["agree"] == len(seqmod.builtin("1.5").steps)
    assert all(c["left"] == [] for c in doc["cleanup"].values())


#: The steps where ``--upstream-quirks`` answers upstream's status instead of vkmock's (README, "Statuses:
#: default and --upstream-quirks"): 400 where the body alone breaks a rule that upstream answers with a 500,
#: and 409 where the body conflicts with stored state (upstream: 500 on create, 400 on update).
QUIRKS = {
    "create rejects: duplicate budget duration": (409, 400),
    "create rejects: zero budget": (400, 500),
    "create rejects: budget duration 0d": (400, 500),
    "create rejects: budget duration -1d": (400, 500),
    "create rejects: rate limit token max 0": (400, 500),
    "create rejects: rate limit token max without duration": (400, 500),
}


@pytest.mark.slow
def test_default_against_upstream_quirks_differs_only_in_documented_statuses() -> None:
    code, doc = _run_json("mock:--bifrost 1.5", "mock:--bifrost 1.5 --upstream-quirks", "--allow-writes")
    assert code == 1
    found = _differences(doc)
    assert set().union(*found.values()) == {("status", "")}  # statuses and nothing else: same messages, bodies
    statuses = {s["name"]: (s["a"]["status"], s["b"]["status"]) for s in doc["steps"] if s["differences"]}
    for name, pair in QUIRKS.items():
        assert statuses[name] == pair, name
    for name, (a, b) in statuses.items():
        assert a in (400, 409) and b in (400, 500), name


@pytest.mark.slow
def test_bifrost_1_4_against_1_5_shows_the_documented_changes() -> None:
    code, doc = _run_json("mock:--bifrost 1.4", "mock:--bifrost 1.5", "--allow-writes")
    assert code == 1 and doc["sequence"] == "bifrost-1.4"
    found = _differences(doc)
    statuses = {s["name"]: (s["a"]["status"], s["b"]["status"]) for s in doc["steps"]}
    # the list gains total_count/limit/offset and sorted keys; paging parameters are checked
    assert {("extra", "total_count"), ("extra", "limit"), ("extra", "offset"), ("order", "(top)")} <= found["list: all"]
    assert statuses["list: limit=abc"] == (200, 400)
    # one budget becomes budgets[] (the legacy budget is ignored), so its checks go
    assert ("missing", "virtual_key.budget") in found["create: every field"]
    assert statuses["create rejects: negative budget"] == (400, 200)
    # providers must be configured
    a_status, b_status = statuses["create: a provider not configured"]
    assert a_status == 200 and b_status >= 400
    # is_active:false is lost on create; keys and rate limits gain calendar_aligned; weight null
    assert ("value", "virtual_key.is_active") in found["create: every field"]
    assert ("extra", "virtual_key.calendar_aligned") in found["create: only a name"]
    assert ("type", "virtual_key.provider_configs[].weight") in found["create: every field"]


@pytest.mark.slow
def test_sigterm_mid_run_still_cleans_up(tmp_path: Path) -> None:
    with served() as a, served(lambda e, s, b: (time.sleep(0.05), (s, b))[1]) as b:
        process = subprocess.Popen(
            [sys.executable, "-m", "vkmock", "compare", a.url, b.url, "--allow-writes", "--a-token", TOKEN,
             "--b-token", TOKEN],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ},
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(n.startswith("vkmock-compare-") for n in b.names()):
            time.sleep(0.05)
        assert any(n.startswith("vkmock-compare-") for n in b.names())
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=120)
        assert process.returncode == 128 + signal.SIGTERM, out
        assert "INTERRUPTED by SIGTERM" in out
        assert not [n for n in a.names() + b.names() if n.startswith("vkmock-compare-")]
