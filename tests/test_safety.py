"""Safe by default: loopback unless told otherwise (and a warning when told), admin routes for loopback or the
admin token only, no secret in responses or logs, fixture names that cannot leave the fixtures directory, and
caches with fixed bounds.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from conftest import AUTH, BASE, FIXTURES, ROOT, LiveServer, request
from vkmock.app import create_app
from vkmock.serve import store as store_module
from vkmock.settings import Settings

JSON_HEADERS = {**AUTH, "Content-Type": "application/json"}


def envelope(body: bytes, status: int) -> str:
    payload = json.loads(body)
    assert (
        payload["is_bifrost_error"] is False
        and payload["status_code"] == status
        and payload["extra_fields"] == {}
    )
    return str(payload["error"]["message"])


# ---- where the server listens ------------------------------------------------------------------------------


def listeners(port: int) -> set[str]:
    """Local addresses of the LISTEN sockets on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                address, _, hex_port = fields[1].partition(":")
                if int(hex_port, 16) == port and fields[3] == "0A":
                    found.add(address)
    return found


@pytest.mark.slow
def test_serve_listens_on_loopback_only_by_default(serve: Any) -> None:
    server = serve("--count", "2")
    parts = urlsplit(server.url)
    assert parts.hostname == "127.0.0.1"
    assert listeners(parts.port or 0) == {"0100007F"}  # 127.0.0.1, and no IPv6 or wildcard socket
    assert "WARNING" not in server.output


@contextlib.contextmanager
def serve_split(*args: str, env: dict[str, str] | None = None) -> Iterator[tuple[int, Path, Path]]:
    """``vkmock serve --port 0 ARGS`` with stdout and stderr kept apart; yields (port, stdout, stderr)."""
    with tempfile.TemporaryDirectory() as name:
        out, err = Path(name) / "stdout", Path(name) / "stderr"
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "vkmock", "serve", "--port", "0", *args],
                stdout=stdout,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                cwd=ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + 20
            port = 0
            while time.monotonic() < deadline and not port:
                found = re.search(r" on http://[^:]+:(\d+)", out.read_text())
                if found:
                    port = int(found.group(1))
                elif process.poll() is not None:
                    break
                else:
                    time.sleep(0.05)
            assert port, f"did not start: {out.read_text()} {err.read_text()}"
            while time.monotonic() < deadline:  # traffic only to loopback, whatever the bind address
                with contextlib.suppress(OSError):
                    if request(f"http://127.0.0.1:{port}/_vkmock/health", timeout=2)[0] == 200:
                        break
                time.sleep(0.05)
            yield port, out, err
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "warning"),
    [
        (("--host", "0.0.0.0"), "accepting any credential"),
        (("--host", "0.0.0.0", "--no-auth"), "accepting any request"),
        (("--host", "0.0.0.0", "--token", "bind-test-secret"), None),
        (("--host", "127.0.0.1", "--no-auth"), None),
    ],
    ids=["public-any-credential", "public-no-auth", "public-with-token", "loopback-no-auth"],
)
def test_a_public_address_without_credentials_is_warned_about_on_stderr(
    args: tuple[str, ...], warning: str | None
) -> None:
    with serve_split(*args, "--count", "1") as (port, out, err):
        status, _, _ = request(f"http://127.0.0.1:{port}{BASE}", headers=AUTH)
        stdout, stderr = out.read_text(), err.read_text()
    assert status in (200, 401)
    assert "WARNING" not in stdout
    if warning is None:
        assert "WARNING" not in stderr
    else:
        assert f"WARNING: listening on {args[1]}, reachable from other machines, and {warning}" in stderr
        assert "Use --token or --basic, or bind 127.0.0.1." in stderr
    assert "bind-test-secret" not in stdout + stderr


# ---- admin routes ------------------------------------------------------------------------------------------


def admin_client(admin_token: str | None = None) -> tuple[Any, Any]:
    app = create_app(Settings(fixtures_dir=str(FIXTURES), count=3, admin_token=admin_token))
    return app, app.test_client()


REMOTE = {"REMOTE_ADDR": "10.1.2.3"}


def test_admin_routes_refuse_other_machines_without_the_admin_token() -> None:
    app, client = admin_client()
    store = app.extensions["vkmock"].store
    version = store.version
    for path in ("/_vkmock/reset", "/_vkmock/fixtures/empty"):
        for spoof in (
            {},
            {"X-Forwarded-For": "127.0.0.1"},
            {"X-Real-IP": "127.0.0.1"},
            {"Host": "localhost"},
        ):
            response = client.post(path, headers=spoof, environ_base=REMOTE)
            assert response.status_code == 403, (path, spoof)
            assert "only loopback clients" in envelope(response.data, 403)
    assert store.version == version and store.count() == 3
    # health and the admin spec stay open; the Bifrost API is unaffected by the admin guard
    assert client.get("/_vkmock/health", environ_base=REMOTE).status_code == 200
    assert client.get("/_vkmock/openapi.yaml", environ_base=REMOTE).status_code == 200
    assert client.get(BASE, headers=AUTH, environ_base=REMOTE).status_code == 200
    # loopback clients may, over IPv4 and IPv6
    for address in ("127.0.0.1", "::1"):
        assert (
            client.post("/_vkmock/fixtures/empty", environ_base={"REMOTE_ADDR": address}).status_code == 200
        )
    assert store.count() == 0


def test_with_an_admin_token_every_client_needs_it() -> None:
    _, client = admin_client("admin-token-s3cret")
    for environ in (REMOTE, {"REMOTE_ADDR": "127.0.0.1"}):
        for headers in (
            {},
            {"X-Vkmock-Admin-Token": "wrong"},
            {"Authorization": "Bearer wrong"},
            {"Authorization": "Basic YWRtaW46YWRtaW4="},
            {"X-Vkmock-Admin-Token": "admin-token-s3cre"},
        ):
            response = client.post("/_vkmock/reset", headers=headers, environ_base=environ)
            assert response.status_code == 401, headers
            assert "admin-token-s3cret" not in response.data.decode()
        for headers in (
            {"X-Vkmock-Admin-Token": "admin-token-s3cret"},
            {"Authorization": "Bearer admin-token-s3cret"},
        ):
            assert client.post("/_vkmock/reset", headers=headers, environ_base=environ).status_code == 200


# ---- fixture names over HTTP -------------------------------------------------------------------------------


ESCAPES = [
    "..%2F..%2Fetc%2Fpasswd",
    "../../etc/passwd",
    "..%252F..%252Fetc%252Fpasswd",
    "%2e%2e",
    "..",
    ".",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..%5C..%5Cetc%5Cpasswd",
    "%2Fetc%2Fpasswd",
    "/etc/passwd",
    "outside",
    "good.json",
    "good%00",
    "good%2F..%2Foutside",
    "~",
    "-",
    "a" * 65,
    "%C0%AE%C0%AE",
    "evil",
]


@pytest.fixture
def fixtures_server(serve: Any, tmp_path: Path) -> LiveServer:
    directory = tmp_path / "fixtures"
    directory.mkdir()
    (directory / "good.json").write_text((FIXTURES / "empty.json").read_text())
    outside = tmp_path / "outside.json"  # a valid fixture, next to the directory but not in it
    outside.write_text((FIXTURES / "default.json").read_text())
    (directory / "evil.json").symlink_to(outside)
    server: LiveServer = serve("--fixtures-dir", str(directory), "--count", "4")
    return server


def raw_post(server: LiveServer, path: str) -> tuple[int, bytes]:
    """POST ``path`` written on the wire as given (no client-side normalising or quoting)."""
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname or "", parts.port or 0), timeout=10) as sock:
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        sock.sendall(head.encode("latin-1"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status_line, _, body = data.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), body


@pytest.mark.slow
def test_fixture_names_cannot_leave_the_fixtures_directory(fixtures_server: LiveServer) -> None:
    health = fixtures_server.url + "/_vkmock/health"
    before = request(fixtures_server.url + BASE, headers=AUTH)[2], json.loads(request(health)[2])
    for name in ESCAPES:
        status, body = raw_post(fixtures_server, "/_vkmock/fixtures/" + name)
        assert status in (400, 404), (name, status, body)
        message = envelope(body, status)
        assert "root:" not in message and "checkout" not in message, name
        after = request(fixtures_server.url + BASE, headers=AUTH)[2], json.loads(request(health)[2])
        assert after == before, f"{name} changed the world"
    # the one real fixture in the directory loads
    status, body = raw_post(fixtures_server, "/_vkmock/fixtures/good")
    assert status == 200 and json.loads(body) == {"message": "Fixture good loaded", "count": 0}


# ---- secrets -----------------------------------------------------------------------------------------------


SECRETS = {
    "cli-token": "cli-token-Zq81",
    "cli-pass": "cli-pass-Kx27",
    "admin-token": "admin-token-Pw55",
    "wrong-bearer": "wrong-bearer-Tn66",
    "wrong-pass": "wrong-pass-Lm43",
}


@pytest.mark.slow
def test_no_secret_reaches_a_response_or_the_log(serve: Any) -> None:
    server = serve(
        "--token",
        SECRETS["cli-token"],
        "--basic",
        f"admin:{SECRETS['cli-pass']}",
        "--count",
        "3",
        env={"VKMOCK_ADMIN_TOKEN": SECRETS["admin-token"]},
    )
    basic_ok = "Basic " + base64.b64encode(f"admin:{SECRETS['cli-pass']}".encode()).decode()
    basic_wrong = "Basic " + base64.b64encode(f"admin:{SECRETS['wrong-pass']}".encode()).decode()
    secret_texts = [*SECRETS.values(), basic_ok.split()[1], basic_wrong.split()[1]]
    bodies: list[bytes] = []
    calls: list[tuple[str, str, bytes | None, dict[str, str]]] = [
        ("GET", BASE, None, {"Authorization": f"Bearer {SECRETS['wrong-bearer']}"}),
        ("GET", BASE, None, {"Authorization": basic_wrong}),
        ("GET", BASE, None, {"Authorization": f"Bearer {SECRETS['cli-token']}x"}),
        ("GET", BASE, None, {"Authorization": f"Token {SECRETS['cli-token']}"}),
        ("POST", BASE, b'{"name":', {"Authorization": f"Bearer {SECRETS['cli-token']}"}),
        (
            "POST",
            BASE,
            json.dumps({"name": "x", "budget": {"max_limit": -1, "reset_duration": "1d"}}).encode(),
            {"Authorization": basic_ok},
        ),
        ("PATCH", BASE, None, {"Authorization": basic_ok}),
        ("GET", "/api/governance/teams", None, {"Authorization": basic_ok}),
        ("GET", f"{BASE}/missing?token={SECRETS['wrong-bearer']}", None, {"Authorization": basic_ok}),
        ("POST", "/_vkmock/reset", None, {"Authorization": f"Bearer {SECRETS['wrong-bearer']}"}),
        ("POST", "/_vkmock/reset", None, {"X-Vkmock-Admin-Token": SECRETS["admin-token"] + "x"}),
        ("GET", "/_vkmock/health", None, {}),
    ]
    for method, path, body, headers in calls:
        status, _, data = request(
            server.url + path, method, body, {"Content-Type": "application/json", **headers}
        )
        assert status != 200 or path == "/_vkmock/health"
        bodies.append(data)
    for method, path, body, headers in [
        ("GET", BASE, None, {"Authorization": f"Bearer {SECRETS['cli-token']}"}),
        ("GET", BASE, None, {"Authorization": basic_ok}),
        ("POST", "/_vkmock/reset", None, {"X-Vkmock-Admin-Token": SECRETS["admin-token"]}),
    ]:
        status, _, data = request(server.url + path, method, body, headers)
        assert status == 200
        bodies.append(data)
    assert server.stop() == 0
    log = server.output
    for text in secret_texts:
        assert all(text.encode() not in body for body in bodies), text
        assert text not in log, text


def test_provider_key_secrets_in_a_fixture_are_never_served(tmp_path: Path) -> None:
    data = json.loads((FIXTURES / "default.json").read_text())
    planted = 0
    for vk in data["virtual_keys"]:
        for pc in vk["provider_configs"]:
            for key in pc.get("keys", []):
                key["value"] = {"value": "sk-live-PLANTED", "env_var": "OPENAI_KEY", "from_env": False}
                key["bedrock_secret_key"] = {"value": "PLANTED-bedrock", "env_var": "", "from_env": False}
                planted += 1
    assert planted > 0
    (tmp_path / "leaky.json").write_text(json.dumps(data))
    app = create_app(Settings(fixtures_dir=str(tmp_path), fixture="leaky"))
    client = app.test_client()
    providers = {
        pc["provider"] for vk in data["virtual_keys"] for pc in vk["provider_configs"] if pc.get("keys")
    }
    created = client.post(
        BASE,
        headers=JSON_HEADERS,
        json={
            "name": "wants-every-key",
            "provider_configs": [{"provider": p, "key_ids": ["*"]} for p in sorted(providers)],
        },
    )
    assert created.status_code == 200
    keys = [key for pc in created.get_json()["virtual_key"]["provider_configs"] for key in pc["keys"]]
    assert keys and all(key["value"] == {"value": "", "env_var": "", "from_env": False} for key in keys)
    served = [
        client.get(BASE, headers=AUTH).data,
        client.get(BASE + "?from_memory=true", headers=AUTH).data,
        created.data,
        app.extensions["vkmock"].store.list_bytes(),
    ]
    for body in served:
        assert b"PLANTED" not in body and b"OPENAI_KEY" not in body


def test_an_unexpected_error_shows_no_detail_to_the_client(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(Settings(fixtures_dir=str(FIXTURES), count=2))
    client = app.test_client()

    def broken(*args: Any, **kwargs: Any) -> bytes:
        raise RuntimeError("database exploded at /var/lib/secret-path")

    monkeypatch.setattr(app.extensions["vkmock"].store, "list_bytes", broken)
    response = client.get(
        BASE + "?api_key=query-secret-Qq12", headers={"Authorization": "Bearer header-secret-Hh34"}
    )
    assert response.status_code == 500 and response.content_type == "application/json"
    assert envelope(response.data, 500) == "Internal server error"
    assert b"secret" not in response.data and b"Traceback" not in response.data
    logged = capsys.readouterr().err
    assert "unexpected error on GET " + BASE in logged  # the operator sees what failed...
    assert "query-secret-Qq12" not in logged and "header-secret-Hh34" not in logged  # ...but no credential


# ---- bounded caches ----------------------------------------------------------------------------------------


def test_the_list_cache_and_the_change_log_have_fixed_bounds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "CHANGES_KEPT", 100)
    app = create_app(Settings(fixtures_dir=str(FIXTURES), count=3, db=str(tmp_path / "bounded.sqlite3")))
    store = app.extensions["vkmock"].store
    client = app.test_client()
    for i in range(600):
        vk = client.post(BASE, headers=JSON_HEADERS, json={"name": f"churn-{i}"}).get_json()["virtual_key"]
        client.get(BASE + ("?from_memory=true" if i % 2 else ""), headers=AUTH)
        assert client.delete(f"{BASE}/{vk['id']}", headers=AUTH).status_code == 200
        client.get(BASE + ("?from_memory=true" if i % 3 else ""), headers=AUTH)
    assert len(store._list_cache) <= 2  # one body per view
    rows = store._db.execute("SELECT COUNT(*) FROM changes").fetchone()[0]
    assert store.version > 1200 and rows <= 100 + 500  # pruned every 500 versions down to CHANGES_KEPT
    assert store.count() == 3 and len(store._docs) == len(store._sort) == 3
    store.close()


def test_the_request_journal_keeps_at_most_journal_size_entries() -> None:
    from vkmock.control.journal import Journal, Raw

    def raw(path: str) -> Raw:
        return Raw(0.0, "GET", path, "", 200, 0.0, "127.0.0.1", (), b"", 0, 0, {}, None)

    journal = Journal(5)
    for number in range(50):
        journal.record(raw(f"/p/{number}"))
    entries = journal.entries()
    assert [entry["path"] for entry in entries] == [f"/p/{n}" for n in range(49, 44, -1)]  # newest first
    off = Journal(0)
    off.record(raw("/p"))
    assert off.entries() == []
