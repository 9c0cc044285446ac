"""CORS for browser frontends: localhost origins by default, ``--cors-origin`` for others, preflights answered
(403 for other origins, as upstream), proven with headers and with a real headless Chromium on a page served
from another origin that creates and lists keys through vkmock."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from conftest import AUTH, BASE, ROOT, request
from vkmock.app import create_app
from vkmock.settings import Settings

#: the browser scripts/test installs (Debian's chromium), or another Chromium-based one on PATH
CHROMIUM = next(
    (found for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
     if (found := shutil.which(name))),
    None,
)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def preflight(
    client: Any,
    origin: str,
    method: str = "POST",
    headers: str = "authorization, content-type",
    path: str = BASE,
    **extra: str,
) -> Any:
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
            **extra,
        },
    )


# ---- headers -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:5173",
        "http://127.0.0.1:3000",
        "http://localhost",
        "https://localhost:8443",
        "http://[::1]:4200",
    ],
)
def test_a_preflight_from_localhost_is_allowed_without_credentials(client: Any, origin: str) -> None:
    answer = preflight(client, origin)
    assert answer.status_code == 204 and answer.data == b""
    assert answer.headers["Access-Control-Allow-Origin"] == origin
    assert answer.headers["Access-Control-Allow-Methods"] == "GET, POST, PUT, DELETE, PATCH, OPTIONS, HEAD"
    allowed = {h.strip().lower() for h in answer.headers["Access-Control-Allow-Headers"].split(",")}
    upstream = {"authorization", "content-type", "x-requested-with", "x-stainless-timeout", "x-api-key",
                "x-openai-agents-sdk"}
    assert upstream | {"prefer"} <= allowed
    assert answer.headers["Access-Control-Allow-Credentials"] == "true"
    assert answer.headers["Access-Control-Max-Age"] == "86400"  # a day, as upstream


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "http://localhost.evil.example",
        "null",
        "http://127.0.0.2:3000",
        "https://app.example.com:8080",
    ],
)
def test_a_preflight_from_another_origin_is_403(client: Any, origin: str) -> None:
    answer = preflight(client, origin)
    assert answer.status_code == 403
    body = json.loads(answer.data)
    assert body["status_code"] == 403 and f"CORS: origin {origin} is not allowed" in body["error"]["message"]
    assert "Access-Control-Allow-Origin" not in answer.headers
    ordinary = client.get(BASE, headers={**AUTH, "Origin": origin})  # the browser withholds this answer
    assert ordinary.status_code == 200 and "Access-Control-Allow-Origin" not in ordinary.headers


def test_the_403_lists_every_origin_that_is_allowed() -> None:
    client = create_app(Settings(cors_origins=("https://app.example.com", "https://*.corp.example"))).test_client()
    message = json.loads(preflight(client, "http://evil.example").data)["error"]["message"]
    assert message == (
        "CORS: origin http://evil.example is not allowed (allowed: http(s)://localhost[:port], "
        "http(s)://127.0.0.1[:port], http(s)://0.0.0.0[:port], http(s)://[::1][:port], https://app.example.com, "
        "https://*.corp.example; "
        "add it with --cors-origin)"
    )
    for origin in ("https://localhost:8443", "http://[::1]:4200", "https://127.0.0.1", "http://0.0.0.0:3000",
                   "https://a.corp.example"):
        assert preflight(client, origin).status_code == 204, origin  # each one the message names passes


def test_configured_origins_exact_glob_and_any() -> None:
    client = create_app(
        Settings(cors_origins=("https://app.example.com", "https://*.corp.example"))
    ).test_client()
    assert preflight(client, "https://app.example.com").status_code == 204
    assert preflight(client, "https://admin.corp.example").status_code == 204
    assert preflight(client, "https://app.example.com.evil").status_code == 403
    anyone = create_app(Settings(cors_origins=("*", "https://listed.example"))).test_client()
    answer = preflight(anyone, "https://whoever.example")
    # echoed; as upstream, an origin only "*" lets in gets no credentials, a listed or local one does
    assert answer.headers["Access-Control-Allow-Origin"] == "https://whoever.example"
    assert "Access-Control-Allow-Credentials" not in answer.headers
    for credentialed in ("https://listed.example", "http://localhost:3000"):
        assert preflight(anyone, credentialed).headers["Access-Control-Allow-Credentials"] == "true"
    actual = anyone.get(BASE, headers={**AUTH, "Origin": "https://whoever.example"})
    assert actual.headers["Access-Control-Allow-Origin"] == "https://whoever.example"
    assert "Access-Control-Allow-Credentials" not in actual.headers


def test_actual_answers_carry_cors_headers_errors_included(client: Any) -> None:
    origin = "http://localhost:5173"
    for answer in (
        client.get(BASE, headers={**AUTH, "Origin": origin, "Prefer": "example=empty"}),
        client.get(BASE, headers={"Origin": origin}),  # 401
        client.get(BASE + "/nope", headers={**AUTH, "Origin": origin}),
    ):  # 404
        assert answer.headers["Access-Control-Allow-Origin"] == origin
        assert "Preference-Applied" in answer.headers["Access-Control-Expose-Headers"]
        assert "Origin" in answer.headers["Vary"]
    assert client.get(BASE, headers=AUTH).headers.get("Access-Control-Allow-Origin") is None


def test_preflights_reach_admin_routes_and_private_network_requests(client: Any) -> None:
    answer = preflight(
        client,
        "http://localhost:3000",
        path="/_vkmock/clock",
        **{"Access-Control-Request-Private-Network": "true"},
    )
    assert answer.status_code == 204 and answer.headers["Access-Control-Allow-Private-Network"] == "true"
    plain = client.options(BASE)  # not a preflight: the ordinary OPTIONS answer
    assert plain.status_code == 200 and "GET" in plain.headers["Allow"]


@pytest.mark.slow
def test_a_bad_cors_origin_option_is_refused() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vkmock", "serve", "--port", "0", "--cors-origin", "example.com/x"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 2 and "--cors-origin 'example.com/x'" in done.stderr


# ---- a real browser ----------------------------------------------------------------------------------------

PAGE = """<!doctype html>
<html><body><pre id="out">pending</pre><script>
(async () => {
  const out = document.getElementById("out");
  const api = new URLSearchParams(location.search).get("api");
  const headers = {"Authorization": "Bearer from-the-browser", "Content-Type": "application/json"};
  try {
    const created = await fetch(api + "/api/governance/virtual-keys", {
      method: "POST", headers, body: JSON.stringify({name: "made-by-" + location.hostname})});
    const key = (await created.json()).virtual_key;
    const listed = await fetch(api + "/api/governance/virtual-keys", {headers});
    const names = (await listed.json()).virtual_keys.map(k => k.name);
    const empty = await fetch(api + "/api/governance/virtual-keys",
                              {headers: {...headers, "Prefer": "example=empty"}});
    out.textContent = JSON.stringify({
      origin: location.origin, created: created.status, listed: listed.status, names, id: key.id,
      preferred: [empty.status, (await empty.json()).count, empty.headers.get("Preference-Applied")]});
  } catch (error) {
    out.textContent = JSON.stringify({origin: location.origin, error: String(error)});
  }
})();
</script></body></html>
"""


class PageHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def page_server() -> Iterator[int]:
    """A second loopback server (another origin) that serves the frontend page."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), PageHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def browse(url: str, profile: Path) -> dict[str, Any]:
    """Load ``url`` in headless Chromium and return what its page wrote into ``#out``."""
    assert CHROMIUM
    command = [
        CHROMIUM,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP frontend.test 127.0.0.1, MAP other.test 127.0.0.1",
        "--virtual-time-budget=15000",
        "--dump-dom",
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=90)
    found = re.search(r'<pre id="out">(.*?)</pre>', done.stdout, re.S)
    assert found, (
        f"no result in the page (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    )
    assert found.group(1) != "pending", "the page did not finish"
    loaded: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return loaded


@pytest.mark.slow
def test_a_frontend_on_another_origin_creates_and_lists_keys_in_a_real_browser(
    serve: Any, page_server: int, tmp_path: Path
) -> None:
    assert CHROMIUM, "this test drives a real headless Chromium: run scripts/test (it installs chromium)"
    page = page_server
    vkmock = serve("--count", "2", "--cors-origin", f"http://frontend.test:{page}")
    # a page on 127.0.0.1 (allowed by default) and one on a configured origin both work through CORS
    for host in ("127.0.0.1", "frontend.test"):
        result = browse(f"http://{host}:{page}/index.html?api={vkmock.url}", tmp_path / f"profile-{host}")
        assert result.get("error") is None, result
        assert result["origin"] == f"http://{host}:{page}"
        assert (result["created"], result["listed"]) == (200, 200)
        assert f"made-by-{host}" in result["names"] and len(result["id"]) == 36
        assert result["preferred"] == [200, 0, "example=empty"]  # Prefer allowed, Preference-Applied exposed
    # a page on an origin nobody allowed is stopped at the preflight
    blocked = browse(f"http://other.test:{page}/index.html?api={vkmock.url}", tmp_path / "profile-other")
    assert blocked["origin"] == f"http://other.test:{page}" and "Failed to fetch" in blocked["error"]
    names = [vk["name"] for vk in json.loads(request(vkmock.url + BASE, headers=AUTH)[2])["virtual_keys"]]
    assert "made-by-other.test" not in names
    journal = json.loads(request(vkmock.url + "/_vkmock/requests?method=OPTIONS")[2])["requests"]
    by_origin = {entry["headers"]["Origin"]: entry["status"] for entry in journal}
    assert by_origin == {
        f"http://other.test:{page}": 403,
        f"http://frontend.test:{page}": 204,
        f"http://127.0.0.1:{page}": 204,
    }
    posts = json.loads(request(vkmock.url + "/_vkmock/requests?method=POST")[2])["requests"]
    assert {entry["headers"]["Origin"] for entry in posts} == {
        f"http://frontend.test:{page}",
        f"http://127.0.0.1:{page}",
    }
