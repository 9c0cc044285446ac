"""Deliberately broken Bifrost servers for the contract and drift tests.

Each server is the real vkmock app (a small seeded world) behind a WSGI middleware that injects ONE real-life
contract break, served on 127.0.0.1 on a free port by a thread of the test process. The middleware also
records every request it sees (method, path, whether credentials came with it, status), so a test can check
what a contract run actually sent.

    with broken_server("count_mismatch") as server:
        run_contract(server.url, ...)
        assert all(r.method == "GET" for r in server.requests)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from vkmock.app import create_app
from vkmock.serve.auth import authorized
from vkmock.settings import Settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BASE = "/api/governance/virtual-keys"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
Environ = dict[str, Any]
StartResponse = Callable[..., Any]


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: str
    authorized: bool
    status: int


@dataclass
class Reply:
    """A buffered response the breaks can rewrite before it is sent."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def set_json(self, doc: Any, status: int | None = None) -> None:
        self.body = (json.dumps(doc, separators=(",", ":")) + "\n").encode()
        self.status = self.status if status is None else status
        self.set_header("Content-Type", "application/json")

    def set_header(self, name: str, value: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()] + [(name, value)]

    @property
    def content_type(self) -> str:
        return next((v for k, v in self.headers if k.lower() == "content-type"), "")


def _keys(doc: Any) -> Iterable[dict[str, Any]]:
    """The virtual-key objects in a list, get, create or update body."""
    if isinstance(doc, dict):
        if isinstance(doc.get("virtual_keys"), list):
            yield from (vk for vk in doc["virtual_keys"] if isinstance(vk, dict))
        if isinstance(doc.get("virtual_key"), dict):
            yield doc["virtual_key"]


def _html(reply: Reply, page: bytes) -> None:
    reply.body = page
    reply.set_header("Content-Type", "text/html; charset=utf-8")


def _edit_keys(reply: Reply, edit: Callable[[dict[str, Any]], None]) -> None:
    if reply.status == 200 and reply.content_type.startswith("application/json"):
        doc = reply.json()
        for vk in _keys(doc):
            edit(vk)
        reply.set_json(doc)


@dataclass
class Broken:
    """The middleware: the vkmock app, one break, and a log of what was asked."""

    app: Any
    brk: str | None
    version: Any = None  # what GET /api/version answers (JSON), as Bifrost does; None: the route does not exist
    requests: list[Seen] = field(default_factory=list)

    @property
    def store(self) -> Any:
        return self.app.extensions["vkmock"].store

    def call_inner(self, environ: Environ) -> Reply:
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured["status"] = int(status.split()[0])
            captured["headers"] = list(headers)

        chunks = self.app(environ, start_response)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        return Reply(captured["status"], captured["headers"], body)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        authorized = bool(environ.get("HTTP_AUTHORIZATION"))
        reply = self.respond(environ, method, path)
        self.requests.append(Seen(method, path, environ.get("QUERY_STRING", ""), authorized, reply.status))
        headers = [(k, v) for k, v in reply.headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(reply.body))))
        reason = {
            200: "OK",
            201: "Created",
            401: "Unauthorized",
            404: "Not Found",
            405: "Method Not Allowed",
            500: "Internal Server Error",
        }.get(reply.status, "X")
        start_response(f"{reply.status} {reason}", headers)
        return [reply.body]

    def respond(self, environ: Environ, method: str, path: str) -> Reply:
        brk = self.brk
        vk_id = path[len(BASE) + 1 :] if path.startswith(BASE + "/") else None
        if path == "/api/version" and method == "GET":
            if self.version is None:  # a deployment without the route (vkmock itself serves it)
                reply = Reply(404, [], b"")
                reply.set_json({"is_bifrost_error": False, "status_code": 404,
                                "error": {"message": "Route not found: GET /api/version"}, "extra_fields": {}})
                return reply
            reply = Reply(200, [], b"")
            reply.set_json(self.version)
            return reply
        if brk == "ignores_credentials" and not environ.get("HTTP_AUTHORIZATION"):
            environ["HTTP_AUTHORIZATION"] = "Bearer let-me-in"
        if brk == "server_error_on_valid_id" and vk_id is not None and not UUID.match(vk_id):
            # a database that casts the id to UUID and lets the error escape as a 500
            reply = Reply(500, [], b"")
            reply.set_json(
                {
                    "is_bifrost_error": False,
                    "status_code": 500,
                    "error": {"message": f'invalid input syntax for type uuid: "{vk_id}"'},
                    "extra_fields": {},
                }
            )
            return reply
        if brk == "delete_not_effective" and method == "DELETE" and vk_id is not None:
            allowed = authorized(self.app.extensions["vkmock"].settings, environ.get("HTTP_AUTHORIZATION"))
            if allowed and self.store.get(vk_id) is not None:
                reply = Reply(200, [], b"")
                reply.set_json({"message": "Virtual key deleted successfully"})
                return reply  # says so, but the key stays
        reply = self.call_inner(environ)
        if brk == "wrong_type":
            _edit_keys(reply, lambda vk: vk.update(is_active="true" if vk.get("is_active") else "false"))
        elif brk == "missing_required":
            _edit_keys(reply, lambda vk: vk.pop("created_at", None))
        elif brk == "count_mismatch" and method == "GET" and path.rstrip("/") == BASE and reply.status == 200:
            doc = reply.json()
            doc["count"] = len(doc["virtual_keys"]) + 1
            reply.set_json(doc)
        elif brk == "timestamp_not_rfc3339":

            def sql_style(vk: dict[str, Any]) -> None:  # "2026-10-02 09:14:03.512", as a SQL driver prints it
                vk["updated_at"] = str(vk["updated_at"]).replace("T", " ").rstrip("Z")

            _edit_keys(reply, sql_style)
        elif brk == "created_201" and method == "POST" and reply.status == 200:
            reply.status = 201
        elif brk == "error_not_envelope" and reply.status == 404:
            reply.set_json({"error": reply.json()["error"]["message"]})
        elif brk == "html_not_json" and reply.status == 404:
            # the web UI's single-page app answers every path it does not know
            reply.status = 200
            reply.body = b"<!doctype html><html><head><title>Bifrost</title></head><body><div id=root>"
            reply.set_header("Content-Type", "text/html; charset=utf-8")
        elif brk == "html_404_on_unknown_id" and method == "GET" and UUID.match(vk_id or "") and reply.status == 404:
            # a reverse proxy whose route for key URLs (/virtual-keys/<uuid>, the shape of every real id) replaces
            # Bifrost's error bodies with its own pages; ids of other shapes still reach Bifrost's own 404
            _html(reply, b"<html><head><title>404 Not Found</title></head><body><h1>404 Not Found</h1><hr>nginx")
        elif brk == "html_on_wrong_method" and reply.status == 405:
            # the same proxy refusing a method itself: its own page, and no Allow header
            reply.headers = [(k, v) for k, v in reply.headers if k.lower() != "allow"]
            _html(reply, b"<html><head><title>405 Not Allowed</title></head><body><h1>405 Not Allowed</h1><hr>nginx")
        elif brk == "unauthorized_html" and reply.status == 401:
            # a single-sign-on proxy that answers a request without credentials with its sign-in page
            _html(reply, b"<!doctype html><html><head><title>Sign in</title></head><body><form action=/oauth2/start>")
        elif brk == "write_not_persisted" and method == "POST" and reply.status == 200 and vk_id is None:
            created = reply.json()["virtual_key"]["id"]
            self.store.delete(created)  # answered as created, never committed
        elif brk == "unknown_and_missing_field":

            def drift(vk: dict[str, Any]) -> None:
                vk["rotated_at"] = vk.get("updated_at")
                vk.pop("config_hash", None)

            _edit_keys(reply, drift)
        return reply


BREAKS = (
    "wrong_type",
    "missing_required",
    "count_mismatch",
    "timestamp_not_rfc3339",
    "created_201",
    "error_not_envelope",
    "html_not_json",
    "server_error_on_valid_id",
    "write_not_persisted",
    "delete_not_effective",
    "ignores_credentials",
    "unknown_and_missing_field",
    "html_404_on_unknown_id",
    "html_on_wrong_method",
    "unauthorized_html",
)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass

    def log(self, *args: Any, **kwargs: Any) -> None:
        pass


@dataclass
class BrokenServer:
    url: str
    middleware: Broken

    @property
    def requests(self) -> list[Seen]:
        return list(self.middleware.requests)

    @property
    def store(self) -> Any:
        return self.middleware.store

    def key_names(self) -> list[str]:
        return [vk["name"] for vk in self.store.records()]


@contextlib.contextmanager
def broken_server(brk: str | None = None, count: int = 5, version: Any = None) -> Iterator[BrokenServer]:
    """Serve the vkmock app with break ``brk`` (``None``: no break) on 127.0.0.1; stopped on exit. ``version``
    is what ``GET /api/version`` answers (a JSON value such as ``"v1.4.10"``; ``None``: a 404)."""
    if brk is not None and brk not in BREAKS:
        raise ValueError(f"unknown break {brk!r}")
    app = create_app(Settings(fixtures_dir=str(FIXTURES), count=count))
    middleware = Broken(app, brk, version)
    server: BaseWSGIServer = make_server(
        "127.0.0.1", 0, middleware, threaded=True, request_handler=_QuietHandler
    )
    server.timeout = 1
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield BrokenServer(f"http://127.0.0.1:{server.server_port}", middleware)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        app.extensions["vkmock"].store.close()


def run_vkmock(
    *args: str, env: dict[str, str] | None = None, timeout: float = 240, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m vkmock ARGS`` as a real process; output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "vkmock", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )
