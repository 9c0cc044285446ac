"""The dashboard's own calls, made by a real headless Chromium from another localhost origin (as upstream's
dev server on :3000 calls :8080): a page of this project's makes them exactly as the dashboard does
(``credentials: "include"``, ``Content-Type: application/json`` on every API call, the raw ticket fetch, the
WebSocket with ``?ticket=``), renders what it got, and the test reads the rendered page."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import Request, TextMessage

from conftest import BASE, request

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

PAGE = """<!doctype html>
<html><body><h1>virtual keys</h1><table id="keys"></table><pre id="step">start</pre><pre id="out">pending</pre><script>
(async () => {
  const out = document.getElementById("out");
  const api = new URLSearchParams(location.search).get("api");
  const base = api + "/api";
  // the dashboard's RTK base query: cookies included, JSON content type on every call, no Authorization
  const call = (path, init = {}) => fetch(base + path, {
    credentials: "include", ...init, headers: {"Content-Type": "application/json", ...(init.headers || {})}});
  const step = (what) => document.getElementById("step").textContent = what;
  const got = async (path, init) => {
    step(path); const r = await call(path, init); return [r.status, await r.json()]; };
  try {
    const [before] = await got("/config?from_db=false");                 // a 401 sends the page to /login
    const [, authState] = await got("/session/is-auth-enabled");          // the login page's check
    const [loginStatus, loginBody] = await got("/session/login", {method: "POST",
      body: JSON.stringify({username: "admin", password: "s3cret"})});
    const [configStatus, config] = await got("/config?from_db=false");
    const [, version] = await got("/version");
    // the WebSocket provider: a raw fetch (no body, no content type), then /ws?ticket=
    const ticketAnswer = await fetch(base + "/session/ws-ticket", {method: "POST", credentials: "include"});
    const {ticket} = await ticketAnswer.json();
    const wsUrl = new URL(api.replace(/^http/, "ws") + "/ws");
    wsUrl.searchParams.set("ticket", ticket);
    step("websocket"); const socket = new WebSocket(wsUrl.toString());
    const pushed = new Promise((resolve) => socket.onmessage = (event) => resolve(JSON.parse(event.data)));
    await new Promise((resolve, reject) => { socket.onopen = resolve; socket.onerror = reject; });
    socket.send("ping");
    const [listStatus, list] = await got("/governance/virtual-keys?limit=25&offset=0");
    // the create sheet
    const [, providers] = await got("/providers");
    const [, keys] = await got("/keys");
    const [, mcp] = await got("/mcp/clients?");
    const provider = providers.providers[0].name;
    const providerKeys = keys.filter(k => k.provider === provider).map(k => k.key_id);
    const [, models] = await got("/models?" + new URLSearchParams({provider, keys: providerKeys.join(","),
                                                                     limit: "5", unfiltered: "false"}));
    const [createStatus, created] = await got("/governance/virtual-keys", {method: "POST", body: JSON.stringify({
      name: "made-in-the-browser", provider_configs: [{provider, weight: 1,
        allowed_models: [models.models[0].name], key_ids: [providerKeys[0]]}],
      mcp_configs: [{mcp_client_name: mcp.clients[0].config.name, tools_to_execute: ["*"]}],
      is_active: true, budgets: [{max_limit: 10, reset_duration: "1M"}], calendar_aligned: false,
      rate_limit: {token_max_limit: 1000, token_reset_duration: "1h", request_max_limit: null,
                   request_reset_duration: null}})});
    step("waiting for the push"); const update = await pushed;  // the open page is told to refetch
    const [, after] = await got("/governance/virtual-keys?limit=25&offset=0");
    const table = document.getElementById("keys");
    for (const vk of after.virtual_keys) {
      const row = table.insertRow(); row.dataset.testid = "vk-row-" + vk.name; row.insertCell().textContent = vk.name;
    }
    const [logoutStatus] = await got("/session/logout", {method: "POST"});
    const [afterLogout] = await got("/config?from_db=false");
    socket.close();
    out.textContent = JSON.stringify({
      origin: location.origin, before, authState, loginStatus, loginBody, configStatus,
      dbConnected: config.is_db_connected, authEnabled: config.auth_config.is_enabled, version,
      ticket, listStatus, listed: list.virtual_keys.length, providers: providers.providers.map(p => p.name),
      keyIds: keys.map(k => k.key_id), clients: mcp.clients.map(c => c.config.name), models: models.models,
      createStatus, createdKey: created.virtual_key.provider_configs[0].keys.map(k => k.key_id), update,
      rows: [...table.rows].map(r => r.dataset.testid), logoutStatus, afterLogout});
  } catch (error) {
    out.textContent = JSON.stringify({origin: location.origin, error: String(error && error.stack || error)});
  }
})();
</script></body></html>
"""


class PageHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        data = PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def page_port() -> Iterator[int]:
    """Another origin on loopback (http://localhost:PORT) that serves the page."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), PageHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


class DevTools:
    """Headless Chromium driven over its DevTools protocol (a WebSocket, framed by wsproto), so that the page
    runs in real time: a WebSocket does not hold ``--virtual-time-budget``'s clock, and the page would be
    dumped before its socket opened."""

    def __init__(self, url: str, profile: Path) -> None:
        self.process = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        self.sock: socket.socket | None = None
        try:
            self._connect()
        except BaseException:
            self.close()
            raise

    def _connect(self) -> None:
        assert self.process.stderr is not None
        deadline = time.monotonic() + 30
        port = None
        while port is None and time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line and self.process.poll() is not None:
                break
            found = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            port = int(found.group(1)) if found else None
        assert port, "Chromium did not open its DevTools port"
        threading.Thread(target=self.process.stderr.read, daemon=True).start()  # keep its pipe drained
        while True:
            pages = [t for t in json.loads(request(f"http://127.0.0.1:{port}/json/list")[2]) if t["type"] == "page"]
            if pages or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        target = urllib.parse.urlparse(pages[0]["webSocketDebuggerUrl"])
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.conn = WSConnection(ConnectionType.CLIENT)
        self.sock.sendall(self.conn.send(Request(host=f"127.0.0.1:{port}", target=target.path)))
        self.next_id = 0
        self._events()  # the handshake's answer
        self.buffer = ""

    def _events(self) -> list[Any]:
        assert self.sock is not None
        self.conn.receive_data(self.sock.recv(1 << 20) or None)
        return list(self.conn.events())

    def evaluate(self, expression: str) -> Any:
        assert self.sock is not None
        self.next_id += 1
        message = {"id": self.next_id, "method": "Runtime.evaluate",
                   "params": {"expression": expression, "returnByValue": True}}
        self.sock.sendall(self.conn.send(TextMessage(data=json.dumps(message))))
        while True:
            for event in self._events():
                if isinstance(event, TextMessage):
                    self.buffer += event.data
                    if event.message_finished:
                        answer, self.buffer = json.loads(self.buffer), ""
                        if answer.get("id") == self.next_id:
                            return answer["result"]["result"].get("value")

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        if self.process.stderr is not None:
            self.process.stderr.close()


def rendered(url: str, profile: Path) -> tuple[dict[str, Any], str]:
    """Open ``url``, wait (30 s at most) until its page has written its result, and return it with the page."""
    browser = DevTools(url, profile)
    try:
        deadline = time.monotonic() + 30
        while (out := browser.evaluate("document.getElementById('out')?.textContent")) in (None, "pending"):
            step = browser.evaluate("document.getElementById('step')?.textContent")
            assert time.monotonic() < deadline, f"the page stopped at: {step}"
            time.sleep(0.1)
        return json.loads(out), browser.evaluate("document.documentElement.outerHTML")
    finally:
        browser.close()


@pytest.mark.slow
def test_the_dashboards_calls_from_another_localhost_origin(serve: Any, page_port: int, tmp_path: Path) -> None:
    assert shutil.which(CHROMIUM), "this test needs Debian's chromium: apt-get install -y chromium (.ci/run does)"
    vkmock = serve("--count", "5", "--basic", "admin:s3cret")
    api = f"http://localhost:{vkmock.port}"
    result, page = rendered(f"http://localhost:{page_port}/?api={api}", tmp_path / "profile")
    assert result.get("error") is None, result
    assert result["origin"] == f"http://localhost:{page_port}"
    assert result["before"] == 401 and result["authState"] == {"has_valid_token": False, "is_auth_enabled": True}
    assert result["loginStatus"] == 200 and result["loginBody"] == {"message": "Login successful"}
    # the HttpOnly cookie, sent back cross-origin with credentials, authenticates everything after the login
    assert (result["configStatus"], result["dbConnected"], result["authEnabled"]) == (200, True, True)
    assert result["version"] == "v1.4.10" and re.fullmatch(r"[0-9a-f]{64}", result["ticket"])
    assert (result["listStatus"], result["listed"]) == (200, 5)
    assert result["providers"] == sorted(result["providers"]) and "openai" in result["providers"]
    assert result["clients"][0] == "github" and all(m["accessible_by_keys"] for m in result["models"])
    assert result["createStatus"] == 200 and result["createdKey"][0] in result["keyIds"]
    assert result["update"] == {"type": "store_update", "tags": ["VirtualKeys", "Budgets", "RateLimits", "MCPClients"]}
    assert "vk-row-made-in-the-browser" in result["rows"] and len(result["rows"]) == 6
    assert 'data-testid="vk-row-made-in-the-browser"' in page  # rendered in the table
    assert (result["logoutStatus"], result["afterLogout"]) == (200, 401)
    journal = json.loads(request(vkmock.url + "/_vkmock/requests?method=OPTIONS")[2])["requests"]
    assert journal and {entry["status"] for entry in journal} == {204}  # every preflight passed
    names = [vk["name"] for vk in json.loads(request(vkmock.url + BASE, headers={
        "Authorization": "Basic YWRtaW46czNjcmV0"})[2])["virtual_keys"]]
    assert "made-in-the-browser" in names
