"""What Bifrost's dashboard calls besides the governance API (config, version, sessions, providers, keys, MCP
clients, models), the cookie login, the WebSocket at /ws over a real loopback server, and ``--dashboard DIR``
(files, the single-page fallback, refusals)."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from wsproto.connection import Connection, ConnectionType
from wsproto.events import CloseConnection, Ping, Pong, TextMessage

from conftest import AUTH, BASE, FIXTURES, ROOT, request
from vkmock.app import create_app
from vkmock.bifrost.v1_4.world import MCP_CLIENTS
from vkmock.serve import dashboard, ws
from vkmock.settings import Settings

ADMIN = ("admin", "s3cret")
STRICT = Settings(fixtures_dir=str(FIXTURES), basic=(":".join(ADMIN),))


def body(answer: Any) -> Any:
    assert answer.data.endswith(b"\n"), answer.data  # Go's encoder
    return json.loads(answer.data)


def login(client: Any, username: str = ADMIN[0], password: str = ADMIN[1], **headers: str) -> Any:
    return client.post("/api/session/login", json={"username": username, "password": password}, headers=headers)


# ---- config, version, auth state --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "enabled", "username"),
    [(Settings(no_auth=True), False, ""), (STRICT, True, "admin"), (Settings(), True, "")],
)
def test_config_has_the_database_connected_and_the_auth_of_the_mode(
    settings: Settings, enabled: bool, username: str
) -> None:
    client = create_app(settings).test_client()
    headers = {} if settings.no_auth else {"Authorization": "Basic " + base64.b64encode(b"admin:s3cret").decode()}
    answer = client.get("/api/config?from_db=false", headers=headers)
    assert answer.status_code == 200 and answer.content_type == "application/json"
    config = body(answer)
    assert list(config) == sorted(config)  # a Go map: sorted keys
    assert config["is_db_connected"] is True  # else the dashboard shows its "not available" banner
    assert config["restart_required"] == {"required": False}
    auth = config["auth_config"]
    assert auth["is_enabled"] is enabled and auth["admin_username"]["value"] == username
    assert auth["admin_password"]["value"] == ("<redacted>" if enabled else "")
    assert b"\\u003credacted\\u003e" in answer.data or not enabled  # Go escapes < and >
    assert config["client_config"]["max_request_body_size_mb"] == 1
    assert "allowed_origins" not in config["client_config"]  # only localhost, as upstream with an empty list


def test_config_lists_the_configured_cors_origins() -> None:
    client = create_app(Settings(no_auth=True, cors_origins=("https://app.example.com",))).test_client()
    assert body(client.get("/api/config"))["client_config"]["allowed_origins"] == ["https://app.example.com"]


def test_version_is_a_json_string_of_the_profile() -> None:
    client = create_app(Settings(no_auth=True)).test_client()
    answer = client.get("/api/version")
    assert answer.status_code == 200 and answer.data == b'"v1.4.10"\n'
    newer = create_app(Settings(no_auth=True, bifrost="1.5")).test_client().get("/api/version")
    assert newer.data == b'"v1.5.0-prerelease7"\n'
    assert create_app(STRICT).test_client().get("/api/version").status_code == 401  # not public upstream either


def test_is_auth_enabled_answers_each_mode_without_credentials() -> None:
    off = create_app(Settings(no_auth=True)).test_client().get("/api/session/is-auth-enabled")
    assert off.data == b'{"is_auth_enabled":false}\n'  # no auth row upstream: this key only
    strict = create_app(STRICT).test_client()
    assert body(strict.get("/api/session/is-auth-enabled")) == {"has_valid_token": False, "is_auth_enabled": True}
    # upstream compares its skip-list with the URI, query string included: with one, credentials are needed
    assert strict.get("/api/session/is-auth-enabled?x=1").status_code == 401


# ---- login, the cookie, logout -----------------------------------------------------------------------------


def test_login_sets_a_session_cookie_that_then_authenticates() -> None:
    client = create_app(STRICT).test_client()
    assert client.get(BASE).status_code == 401
    answer = login(client)
    assert answer.status_code == 200 and body(answer) == {"message": "Login successful"}
    cookie = answer.headers["Set-Cookie"]
    found = re.fullmatch(r"token=([0-9a-f-]{36}); expires=([^;]+); path=/; HttpOnly; SameSite=Lax", cookie)
    assert found, cookie
    expires = parsedate_to_datetime(found.group(2))
    assert abs((expires - datetime.now(UTC)).total_seconds() - 30 * 86400) < 120  # 30 days
    assert client.get(BASE).status_code == 200  # the test client sends the cookie back
    assert body(client.get("/api/session/is-auth-enabled"))["has_valid_token"] is True
    # a header, when present, decides alone: the cookie is not looked at (upstream's order)
    assert client.get(BASE, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.post("/api/session/logout").status_code == 200
    assert client.get(BASE).status_code == 401


def test_a_cookie_nobody_issued_does_not_authenticate() -> None:
    client = create_app(STRICT).test_client()
    client.set_cookie("token", "11111111-1111-4111-8111-111111111111")
    assert client.get(BASE).status_code == 401


def test_login_refusals_are_upstreams() -> None:
    strict = create_app(STRICT).test_client()
    wrong = login(strict, password="guess")
    assert wrong.status_code == 401 and body(wrong)["error"]["message"] == "Invalid username or password"
    assert "Set-Cookie" not in wrong.headers
    for raw, message in [
        (b"", "Invalid request format: unexpected end of JSON input"),
        (b"{bad", "Invalid request format: invalid character 'b' looking for beginning of object key string"),
        (b'{"username": 5}', "Invalid request format: json: cannot unmarshal number into Go struct field "
                             ".username of type string"),
    ]:
        answer = strict.post("/api/session/login", data=raw, content_type="application/json")
        assert answer.status_code == 400 and body(answer)["error"]["message"] == message
    off = create_app(Settings(no_auth=True)).test_client()
    answer = login(off)
    assert answer.status_code == 403 and body(answer)["error"]["message"] == "Authentication is not enabled"


def test_the_default_mode_lets_any_login_in_except_an_invalid_one() -> None:
    client = create_app(Settings()).test_client()
    assert login(client, "anyone", "anything").status_code == 200
    assert client.get(BASE).status_code == 200
    assert login(create_app(Settings()).test_client(), "invalid-user", "x").status_code == 401


def test_the_cookie_is_secure_behind_an_https_proxy() -> None:
    answer = login(create_app(STRICT).test_client(), **{"X-Forwarded-Proto": "https"})
    assert answer.headers["Set-Cookie"].endswith("; secure")


def test_logout_expires_the_cookie_in_every_mode() -> None:
    answer = create_app(Settings(no_auth=True)).test_client().post("/api/session/logout")
    assert answer.status_code == 200 and body(answer) == {"message": "Logout successful"}
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("token=; expires=")
    assert parsedate_to_datetime(cookie.split("expires=")[1].split(";")[0]) < datetime.now(UTC)


def test_sessions_are_shared_by_apps_on_one_database(tmp_path: Path) -> None:
    db = str(tmp_path / "world.sqlite3")
    first = create_app(STRICT.replace(db=db)).test_client()
    second = create_app(STRICT.replace(db=db)).test_client()
    token = login(first).headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    second.set_cookie("token", token)
    assert second.get(BASE).status_code == 200  # another worker knows the session
    first.post("/api/session/logout")
    assert second.get(BASE).status_code == 401


# ---- WebSocket tickets ---------------------------------------------------------------------------------------


def test_ws_tickets_by_mode() -> None:
    off = create_app(Settings(no_auth=True)).test_client().post("/api/session/ws-ticket")
    assert off.status_code == 200 and re.fullmatch(r"[0-9a-f]{64}", body(off)["ticket"])
    strict = create_app(STRICT).test_client()
    assert strict.post("/api/session/ws-ticket").status_code == 401
    basic = "Basic " + base64.b64encode(b"admin:s3cret").decode()
    refused = strict.post("/api/session/ws-ticket", headers={"Authorization": basic})
    assert refused.status_code == 401  # upstream issues tickets to sessions only
    login(strict)
    assert re.fullmatch(r"[0-9a-f]{64}", body(strict.post("/api/session/ws-ticket"))["ticket"])
    tokens = create_app(Settings(tokens=("T",))).test_client()
    assert tokens.post("/api/session/ws-ticket", headers={"Authorization": "Bearer T"}).status_code == 200


# ---- providers, keys, MCP clients, models -----------------------------------------------------------------------


@pytest.fixture
def open_client() -> Any:
    return create_app(Settings(no_auth=True, fixtures_dir=str(FIXTURES), count=30)).test_client()


def world_of(client: Any) -> tuple[Any, list[dict[str, Any]]]:
    state = client.application.extensions["vkmock"]
    return state.store.catalogue, state.store.records()


@pytest.mark.parametrize("world", [{"count": 30}, {"count": 0}, {"fixture": "empty"}])
def test_providers_are_those_with_keys_even_in_an_empty_world(world: dict[str, Any]) -> None:
    client = create_app(Settings(no_auth=True, fixtures_dir=str(FIXTURES), **world)).test_client()
    catalogue, _ = world_of(client)
    listed = body(client.get("/api/providers"))
    names = [p["name"] for p in listed["providers"]]
    assert names == sorted(p for p, keys in catalogue.provider_keys.items() if keys) and len(names) >= 10
    assert listed["total"] == len(names)
    openai = next(p for p in listed["providers"] if p["name"] == "openai")
    assert list(openai) == [
        "name", "network_config", "concurrency_and_buffer_size", "proxy_config", "send_back_raw_request",
        "send_back_raw_response", "store_raw_request_response", "provider_status",
    ]
    assert openai["network_config"]["retry_backoff_initial"] == 500 and openai["provider_status"] == "active"
    assert next(p for p in listed["providers"] if p["name"] == "ollama")["network_config"]["base_url"]
    keys = body(client.get("/api/keys"))
    assert isinstance(keys, list) and {k["provider"] for k in keys} == set(names)
    clients = body(client.get("/api/mcp/clients?"))
    assert [c["config"]["name"] for c in clients["clients"]] == list(catalogue.mcp_clients)


def test_every_key_a_virtual_key_uses_is_listed_with_its_secret_masked(open_client: Any) -> None:
    _, records = world_of(open_client)
    keys = body(open_client.get("/api/keys"))
    listed = {k["key_id"] for k in keys}
    used = {key["key_id"] for vk in records for pc in vk["provider_configs"] for key in pc.get("keys") or []}
    assert used and used <= listed
    for key in keys:
        assert list(key)[:6] == ["id", "name", "provider_id", "provider", "key_id", "value"]
        assert re.fullmatch(r".{4}\*{24}.{4}", key["value"]["value"]), key["value"]
        assert key["value"]["from_env"] is False and isinstance(key["models"], list)
        assert key["blacklisted_models"] == [] and key["created_at"] == "0001-01-01T00:00:00Z"
    assert dashboard.masked("") == "" and dashboard.masked("short") == "*****"
    assert dashboard.masked("sk-proj-abcdefgh1234") == "sk-p" + "*" * 24 + "1234"


def test_mcp_clients_carry_the_virtual_keys_that_use_them(open_client: Any) -> None:
    catalogue, records = world_of(open_client)
    answer = body(open_client.get("/api/mcp/clients"))
    assert list(answer) == ["clients", "count", "limit", "offset", "total_count"]
    assert answer["count"] == answer["limit"] == answer["total_count"] == len(catalogue.mcp_clients)
    by_name = {c["config"]["name"]: c for c in answer["clients"]}
    used = {(vk["id"], mc["mcp_client_name"]) for vk in records for mc in vk["mcp_configs"]}
    assert used, "the seeded world attaches MCP clients to some keys"
    listed = {(v["virtual_key_id"], name) for name, c in by_name.items() for v in c["vk_configs"]}
    assert listed == used
    github = by_name["github"]
    assert github["state"] == "connected" and github["config"]["connection_type"] == "http"
    assert [t["name"] for t in github["tools"]] == sorted(MCP_CLIENTS["github"][1])
    assert re.fullmatch(r"http\*{24}.{4}", github["config"]["connection_string"]["value"])
    assert by_name["filesystem"]["config"]["stdio_config"]["command"] == "npx"


def test_mcp_clients_paged_as_upstream(open_client: Any) -> None:
    page = body(open_client.get("/api/mcp/clients?limit=2&offset=1"))
    assert (page["count"], page["limit"], page["offset"], page["total_count"]) == (2, 2, 1, 8)
    assert page["clients"][0]["config"]["name"] == "filesystem"
    wide = body(open_client.get("/api/mcp/clients?limit=500"))
    assert wide["limit"] == 500 and wide["count"] == 8  # the echoed limit is the raw one
    found = body(open_client.get("/api/mcp/clients?search=GIT"))
    assert [c["config"]["name"] for c in found["clients"]] == ["github"] and found["limit"] == 0
    for query, message in [
        ("limit=x", "Invalid limit parameter: must be a number"),
        ("limit=-1", "Invalid limit parameter: must be non-negative"),
        ("offset=y", "Invalid offset parameter: must be a number"),
        ("offset=-2", "Invalid offset parameter: must be non-negative"),
    ]:
        answer = open_client.get(f"/api/mcp/clients?{query}")
        assert answer.status_code == 400 and body(answer)["error"]["message"] == message


def test_models_filter_by_provider_keys_query_and_limit(open_client: Any) -> None:
    catalogue, _ = world_of(open_client)
    first = body(open_client.get("/api/models?provider=openai&limit=5&unfiltered=false"))
    assert len(first["models"]) == 5 and first["total"] > 5  # the total is counted before the limit
    assert all(m["provider"] == "openai" and "accessible_by_keys" not in m for m in first["models"])
    everything = body(open_client.get("/api/models?limit=0"))
    assert len(everything["models"]) == everything["total"] > 40
    key = catalogue.keys_for("openai")[0]
    scoped = body(open_client.get(f"/api/models?provider=openai&keys={key['key_id']}%2Cnot-a-key&limit=50"))
    assert {m["name"] for m in scoped["models"]} == set(key["models"])
    assert all(m["accessible_by_keys"] == [key["key_id"]] for m in scoped["models"])
    fuzzy = body(open_client.get("/api/models?provider=anthropic&query=sonnet4&limit=0"))
    assert [m["name"] for m in fuzzy["models"]] == ["claude-sonnet-4-20250514"]
    assert body(open_client.get("/api/models?query=gpt4omini&limit=0"))["total"] == 2  # openai and azure
    base = body(open_client.get("/api/models/base"))
    assert len(base["models"]) == 20 and base["models"] == sorted(base["models"]) and base["total"] > 20
    assert body(open_client.get("/api/models/base?query=gemini-2.5&limit=0"))["models"] == [
        "gemini-2.5-flash", "gemini-2.5-pro",
    ]


def test_a_virtual_key_header_scopes_models_to_its_providers(open_client: Any) -> None:
    _, records = world_of(open_client)
    vk = next(v for v in records if v["provider_configs"] and all(pc["allowed_models"] for pc in v["provider_configs"]))
    scoped = body(open_client.get("/api/models?limit=0", headers={"x-bf-vk": vk["value"]}))
    allowed = {(pc["provider"], m) for pc in vk["provider_configs"] for m in pc["allowed_models"]}
    assert {(m["provider"], m["name"]) for m in scoped["models"]} == allowed


def test_a_key_made_of_what_the_sheet_offers_is_created(open_client: Any) -> None:
    providers = [p["name"] for p in body(open_client.get("/api/providers"))["providers"]]
    keys = body(open_client.get("/api/keys"))
    client_name = body(open_client.get("/api/mcp/clients?"))["clients"][0]["config"]["name"]
    for n, provider in enumerate(providers[:4]):
        key = next(k for k in keys if k["provider"] == provider)
        model = body(open_client.get(f"/api/models?provider={provider}&keys={key['key_id']}"))["models"][0]["name"]
        answer = open_client.post(BASE, json={
            "name": f"from-the-sheet-{n}",
            "provider_configs": [{"provider": provider, "weight": 1, "allowed_models": [model],
                                  "key_ids": [key["key_id"]]}],
            "mcp_configs": [{"mcp_client_name": client_name, "tools_to_execute": ["*"]}],
        })
        assert answer.status_code == 200, answer.data
        made = body(answer)["virtual_key"]
        assert made["provider_configs"][0]["keys"][0]["key_id"] == key["key_id"]


# ---- the WebSocket over a real server ----------------------------------------------------------------------


@contextmanager
def running(app: Any) -> Iterator[int]:
    """``app`` under waitress on a free loopback port, in this process; stopped on exit."""
    import waitress
    from waitress import wasyncore

    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
    stop = threading.Event()

    def loop() -> None:  # waitress's own loop, stopped from inside its thread
        while not stop.is_set():
            wasyncore.loop(timeout=0.05, map=server._map, count=1)
        server.close()
        wasyncore.close_all(server._map)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield int(server.effective_port)
    finally:
        hub = app.extensions["vkmock"].extras["ws"]
        hub.close_all()
        wait_for(lambda: hub._thread is None)
        stop.set()
        thread.join(10)
        server.task_dispatcher.shutdown()


OPEN: list[socket.socket] = []  # every test socket, closed after each test even when it fails


@pytest.fixture(autouse=True)
def _close_test_sockets() -> Iterator[None]:
    yield
    while OPEN:
        OPEN.pop().close()


class WsClient:
    """A small RFC 6455 client on a raw socket (wsproto framing), for tests."""

    def __init__(self, port: int, query: str = "", origin: str | None = None, version: str = "13") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        OPEN.append(self.sock)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET /ws{query} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", f"Sec-WebSocket-Version: {version}"]
        if origin:
            lines.append(f"Origin: {origin}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            head += chunk
        self.head, _, rest = head.partition(b"\r\n\r\n")
        self.status = int(self.head.split(b" ")[1])
        self.expected_accept = base64.b64encode(
            __import__("hashlib").sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
        ).decode()
        self.conn = Connection(ConnectionType.CLIENT)
        if rest:
            self.conn.receive_data(rest)

    def header(self, name: str) -> str | None:
        for line in self.head.decode("latin-1").split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None

    def send(self, event: Any) -> None:
        self.sock.sendall(self.conn.send(event))

    def next_event(self, timeout: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.conn.events():
                return event
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no WebSocket event")
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            self.conn.receive_data(data or None)

    def close(self) -> None:
        self.sock.close()


def ticket(port: int, headers: dict[str, str]) -> str:
    status, _, raw = request(f"http://127.0.0.1:{port}/api/session/ws-ticket", "POST", headers=headers)
    assert status == 200, raw
    return str(json.loads(raw)["ticket"])


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.slow
def test_websocket_handshake_push_ping_and_close_over_waitress() -> None:
    app = create_app(Settings(count=3, tokens=("T",)))
    hub: ws.Hub = app.extensions["vkmock"].extras["ws"]
    with running(app) as port:
        bearer = {"Authorization": "Bearer T"}
        refused = WsClient(port)
        assert refused.status == 401  # no ticket, no cookie, auth on
        refused.close()
        socket_ = WsClient(port, f"?ticket={ticket(port, bearer)}", origin="http://localhost:3000")
        assert socket_.status == 101 and socket_.header("Upgrade") == "websocket"
        assert socket_.header("Sec-WebSocket-Accept") == socket_.expected_accept
        wait_for(lambda: hub.clients == 1)
        url = f"http://127.0.0.1:{port}{BASE}"
        status, _, raw = request(url, "POST", json.dumps({"name": "pushed"}).encode(), bearer)
        assert status == 200
        event = socket_.next_event()
        assert isinstance(event, TextMessage)
        assert json.loads(event.data) == {"type": "store_update", "tags": ws.TAGS["virtual-keys"]}
        vk_id = json.loads(raw)["virtual_key"]["id"]
        assert request(f"{url}/{vk_id}", "PUT", b'{"is_active":false}', bearer)[0] == 200
        assert json.loads(socket_.next_event().data)["type"] == "store_update"
        assert request(f"{url}/{vk_id}", "DELETE", headers=bearer)[0] == 200
        assert json.loads(socket_.next_event().data)["tags"][0] == "VirtualKeys"
        # reads and failed writes push nothing; the dashboard's "ping" text needs no answer
        assert request(url, headers=bearer)[0] == 200
        assert request(url, "POST", b'{"name":""}', bearer)[0] == 400
        socket_.send(TextMessage(data="ping"))
        socket_.send(Ping(payload=b"are you there"))
        assert socket_.next_event() == Pong(payload=b"are you there")
        socket_.send(CloseConnection(code=1000))
        assert isinstance(socket_.next_event(), CloseConnection)
        assert socket_.sock.recv(10) == b""  # the server ends the connection
        socket_.close()
        wait_for(lambda: hub.clients == 0 and hub._thread is None)  # no thread left while nobody listens
        assert request(f"http://127.0.0.1:{port}/_vkmock/health")[0] == 200


@pytest.mark.slow
def test_a_ticket_is_good_once_and_the_handshake_is_checked() -> None:
    app = create_app(Settings(count=1, tokens=("T",)))
    with running(app) as port:
        good = ticket(port, {"Authorization": "Bearer T"})
        first = WsClient(port, f"?ticket={good}")
        assert first.status == 101
        again = WsClient(port, f"?ticket={good}")
        assert again.status == 401
        wrong_origin = WsClient(port, f"?ticket={ticket(port, {'Authorization': 'Bearer T'})}",
                                origin="http://evil.example")
        assert wrong_origin.status == 403
        old = WsClient(port, f"?ticket={ticket(port, {'Authorization': 'Bearer T'})}", version="8")
        assert old.status == 426 and old.header("Sec-WebSocket-Version") == "13"
        for client in (first, again, wrong_origin, old):
            client.close()
        plain = request(f"http://127.0.0.1:{port}/ws", headers={"Authorization": "Bearer T"})
        assert plain[0] == 400 and json.loads(plain[2])["error"]["message"] == "Bad Request"


@pytest.mark.slow
def test_a_cookie_session_opens_the_websocket_and_a_logout_ends_its_tickets() -> None:
    app = create_app(STRICT.replace(count=1))
    with running(app) as port:
        status, headers, _ = request(f"http://127.0.0.1:{port}/api/session/login", "POST",
                                     json.dumps({"username": "admin", "password": "s3cret"}).encode())
        assert status == 200
        cookie = {"Cookie": headers["Set-Cookie"].split(";")[0]}
        issued = ticket(port, cookie)
        request(f"http://127.0.0.1:{port}/api/session/logout", "POST", headers=cookie)
        refused = WsClient(port, f"?ticket={issued}")
        assert refused.status == 401  # its session ended
        refused.close()


@pytest.mark.slow
def test_a_write_in_another_worker_reaches_the_websocket(tmp_path: Path) -> None:
    db = str(tmp_path / "shared.sqlite3")
    listening = create_app(Settings(no_auth=True, count=2, db=db))
    other = create_app(Settings(no_auth=True, count=2, db=db)).test_client()
    with running(listening) as port:
        socket_ = WsClient(port)
        assert socket_.status == 101
        wait_for(lambda: listening.extensions["vkmock"].extras["ws"].clients == 1)
        assert other.post(BASE, json={"name": "from-worker-two"}).status_code == 200
        event = socket_.next_event(timeout=5)
        assert json.loads(event.data) == {"type": "store_update", "tags": ws.ALL_TAGS}
        socket_.close()


def test_the_module_publish_reaches_every_hub_of_the_process() -> None:
    app = create_app(Settings(no_auth=True, count=1))
    hub: ws.Hub = app.extensions["vkmock"].extras["ws"]
    left, right = socket.socketpair()
    try:
        client = hub.add(left)
        ws.publish(ws.tags_for("teams"))
        conn = Connection(ConnectionType.CLIENT)
        right.settimeout(5)
        conn.receive_data(right.recv(4096))
        event = next(iter(conn.events()))
        assert json.loads(event.data) == {"type": "store_update", "tags": ["Teams", "VirtualKeys", "Budgets"]}
        hub.close_all()
        wait_for(lambda: client.done.is_set() and hub._thread is None)
    finally:
        right.close()
    assert ws.tags_for("routing-rules") == ws.ALL_TAGS


def test_publishing_with_nobody_connected_touches_nothing() -> None:
    class Untouchable:
        def sync(self) -> int:
            raise AssertionError("the store was read")

    hub = ws.Hub()
    hub.store = Untouchable()  # type: ignore[assignment]
    hub.publish(["VirtualKeys"])  # returns at once: no store read, no thread, no socket
    assert hub._thread is None and hub._wake_w is None


def test_without_a_server_socket_the_websocket_is_refused_with_a_reason() -> None:
    client = create_app(Settings(no_auth=True)).test_client()
    answer = client.get("/ws", headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                                        "Sec-WebSocket-Version": "13"})
    assert answer.status_code == 503
    assert "use waitress or gunicorn" in body(answer)["error"]["message"]


@pytest.mark.slow
@pytest.mark.parametrize("server_name", ["gunicorn", "granian"])
def test_websocket_under_the_other_servers(serve: Any, server_name: str) -> None:
    vkmock = serve("--server", server_name, "--no-auth", "--count", "1", "--threads", "2")
    socket_ = WsClient(vkmock.port)
    if server_name == "granian":
        assert socket_.status == 503  # its WSGI interface has no socket to take over
        socket_.close()
        return
    assert socket_.status == 101 and socket_.header("Sec-WebSocket-Accept") == socket_.expected_accept
    second = WsClient(vkmock.port)
    assert second.status == 503  # --threads 2: one thread may hold a WebSocket, the other serves HTTP
    second.close()
    assert request(vkmock.url + BASE, "POST", b'{"name":"under-gunicorn"}')[0] == 200
    assert json.loads(socket_.next_event().data)["type"] == "store_update"
    socket_.send(CloseConnection(code=1000))
    assert isinstance(socket_.next_event(), CloseConnection)
    socket_.close()
    assert request(vkmock.url + BASE)[0] == 200


# ---- --dashboard DIR ------------------------------------------------------------------------------------


@pytest.fixture
def built(tmp_path: Path) -> Path:
    """A folder shaped like a dashboard build: index.html, hashed assets, a logo, a hidden file."""
    folder = tmp_path / "out"
    (folder / "assets").mkdir(parents=True)
    (folder / "index.html").write_text("<!doctype html><title>dashboard</title><div id=root></div>")
    (folder / "assets" / "index-abc123.js").write_text("console.log('app')")
    (folder / "bifrost-logo.webp").write_bytes(b"RIFF....WEBP")
    (folder / "static" / "fonts").mkdir(parents=True)  # Flask's own /static route must not shadow it
    (folder / "static" / "fonts" / "Geist.woff2").write_bytes(b"wOF2")
    (folder / "docs").mkdir()
    (folder / "docs" / "index.html").write_text("docs page")
    (folder / "about.html").write_text("about page")
    (folder / ".env").write_text("SECRET=1")
    (folder / "package.json").write_text("{}")
    return folder


class Reading:
    """A test client that reads each answer whole and closes it (a file answer holds the file open)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def get(self, path: str, **kwargs: Any) -> Any:
        with self.client.get(path, **kwargs) as answer:
            answer.get_data()
            return answer

    def post(self, path: str, **kwargs: Any) -> Any:
        with self.client.post(path, **kwargs) as answer:
            answer.get_data()
            return answer


def test_the_dashboard_files_and_its_client_routes_are_served(built: Path) -> None:
    client = Reading(create_app(Settings(dashboard=str(built))).test_client())
    index = client.get("/")
    assert index.status_code == 200 and b"<title>dashboard" in index.data
    assert index.content_type.startswith("text/html") and index.headers["Cache-Control"] == "no-cache"
    route = client.get("/workspace/governance/virtual-keys?offset=25")
    assert route.status_code == 200 and route.data == index.data  # the single-page app routes it
    asset = client.get("/assets/index-abc123.js")
    assert asset.status_code == 200 and asset.data == b"console.log('app')"
    assert "javascript" in asset.content_type
    assert asset.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert client.get("/bifrost-logo.webp").headers["Cache-Control"] == "max-age=3600"
    font = client.get("/static/fonts/Geist.woff2")
    assert font.status_code == 200 and font.data == b"wOF2" and font.content_type == "font/woff2"
    assert client.get("/docs").data == b"docs page" and client.get("/about").data == b"about page"
    for missing in ("/assets/gone-999.js", "/.env", "/package.json", "/assets/../../etc/passwd.txt"):
        answer = client.get(missing)
        assert answer.status_code == 404 and body(answer)["status_code"] == 404, missing
    api = client.get("/api/not-a-route")  # the API keeps its JSON answers
    assert api.status_code == 404 and body(api)["error"]["message"] == "Route not found: GET /api/not-a-route"
    assert client.get(BASE).status_code == 200  # auth is off with --dashboard alone, as a fresh Bifrost
    assert body(client.get("/api/session/is-auth-enabled")) == {"is_auth_enabled": False}


def test_with_auth_on_the_files_stay_public_and_the_api_does_not(built: Path) -> None:
    client = Reading(create_app(STRICT.replace(dashboard=str(built))).test_client())
    assert client.get("/workspace/governance/virtual-keys").status_code == 200
    assert client.get("/assets/index-abc123.js", headers={"Authorization": "Bearer wrong"}).status_code == 200
    assert client.get(BASE).status_code == 401
    assert client.post("/workspace").status_code == 405


def test_without_dashboard_other_paths_stay_404() -> None:
    client = create_app(Settings(no_auth=True)).test_client()
    assert client.get("/workspace").status_code == 404


@pytest.mark.slow
def test_a_folder_without_index_html_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"no index\.html"):
        dashboard.validate(Settings(dashboard=str(tmp_path)))
    done = subprocess.run(
        [sys.executable, "-m", "vkmock", "serve", "--port", "0", "--dashboard", str(tmp_path)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and f"--dashboard '{tmp_path}'" in done.stderr


@pytest.mark.slow
def test_cli_serves_the_dashboard(serve: Any, built: Path) -> None:
    vkmock = serve("--dashboard", str(built), "--count", "2")
    assert "dashboard: http://127.0.0.1:" in vkmock.output
    status, _, raw = request(vkmock.url + "/workspace/governance/virtual-keys")
    assert status == 200 and b"<title>dashboard" in raw
    assert request(vkmock.url + BASE)[0] == 200


def test_auth_header_for_default_app_still_required(client: Any) -> None:
    assert client.get(BASE).status_code == 401 and client.get(BASE, headers=AUTH).status_code == 200
