"""The dashboard's WebSocket at ``/ws``: accept, keep, and push ``store_update`` after a write.

Upstream's dashboard opens one WebSocket (``/ws?ticket=...``), sends the text ``ping`` every 25 s and listens
for ``{"type":"store_update","tags":[...]}``: it refetches every query that provides one of the tags (its
RTK Query tag names: ``VirtualKeys``, ``Teams``, ``Customers``, ...). Upstream's server pings every 30 s and
drops a connection that has said nothing for 60 s; so does this one.

vkmock's servers speak WSGI, which has no WebSocket. The handshake goes through Flask like any request (auth,
CORS, journal, the origin check, then the view answers 101); :class:`WebSocketMiddleware` then takes the
connection's socket from the server, and one thread, :class:`Hub`, serves every open WebSocket of the process
from then on. RFC 6455 framing is ``wsproto``'s.

- **waitress** (the default): the socket is duplicated, waitress is told the client left (it closes its copy
  and writes nothing) and no waitress thread is held.
- **gunicorn** (``gthread``, ``--threads`` 2 or more): gunicorn writes the 101 itself and the request's thread
  waits until the WebSocket ends, so each open WebSocket holds one of the worker's threads; at most
  ``--threads - 1`` are accepted per worker (503 beyond). With ``--threads 1`` (gunicorn's sync worker) the
  WebSocket is refused with 503.
- **granian**: its WSGI interface gives no socket: 503 with a message that says so.

With ``--workers N`` a browser's WebSocket lands on one worker; a write served by another worker reaches it
through the store version, which the hub looks at every second while it has clients (then with every tag the
dashboard's governance pages use). When nobody is connected a request pays one dictionary look-up and one list check.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import selectors
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Event, Ping, TextMessage
from wsproto.utilities import generate_accept_token

from vkmock.errors import ApiError, BadRequest, Forbidden
from vkmock.serve.server import connection_socket
from vkmock.serve.store import Store

PING_EVERY_S = 30.0
IDLE_LIMIT_S = 60.0
WATCH_EVERY_S = 1.0
MAX_BUFFERED = 1024 * 1024  # a client that lets this much output pile up is dropped
ACCEPTED = "vkmock.ws.accept"
WRITES = frozenset({"POST", "PUT", "DELETE", "PATCH"})
GOVERNANCE = "/api/governance/"
#: What a write to each governance collection changes, as the dashboard's tags.
TAGS = {
    "virtual-keys": ["VirtualKeys", "Budgets", "RateLimits", "MCPClients"],
    "teams": ["Teams", "VirtualKeys", "Budgets"],
    "customers": ["Customers", "Teams", "VirtualKeys", "Budgets"],
}
ALL_TAGS = [
    "VirtualKeys", "Teams", "Customers", "Budgets", "RateLimits", "MCPClients", "Providers", "DBKeys", "Models",
]

bp = Blueprint("ws", __name__)


class Unavailable(ApiError):
    status = 503


def store_update(tags: Iterable[str]) -> str:
    return json.dumps({"type": "store_update", "tags": list(tags)}, separators=(",", ":"))


@dataclass(eq=False)
class Client:
    sock: socket.socket
    conn: Connection = field(default_factory=lambda: Connection(ConnectionType.SERVER))
    out: bytearray = field(default_factory=bytearray)
    last_in: float = field(default_factory=time.monotonic)
    closing: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    ready: bool = True  # False until the server has written the 101 (gunicorn): messages wait in ``out``


class Hub:
    """Every open WebSocket of this process, served by one thread that exists while there is one."""

    def __init__(self, store: Store | None = None) -> None:
        self.store = store
        self._clients: list[Client] = []
        self._outbox: list[str] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # the hub thread's wake-up line: made with the thread, closed when it ends (an idle app holds no socket)
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._seen = store.sync() if store is not None else 0
        self.held = 0  # request threads a server lent to WebSockets (gunicorn), counted from the 101 on

    # ---- called from request threads ---------------------------------------------------------------------

    @property
    def clients(self) -> int:
        return len(self._clients)

    def publish(self, tags: Iterable[str]) -> None:
        """Tell every open dashboard that ``tags`` changed; nothing at all when nobody is connected."""
        if not self._clients:
            return
        if self.store is not None:
            self._seen = self.store.sync()
        with self._lock:
            self._outbox.append(store_update(tags))
        self._wake()

    def add(self, sock: socket.socket, first: bytes = b"", ready: bool = True) -> Client:
        """Serve the WebSocket on ``sock`` (its handshake done, or ``first`` holding the answer to send); with
        ``ready=False`` it gets its messages but is not read or written until :meth:`start`."""
        sock.setblocking(False)
        client = Client(sock, ready=ready)
        client.out += first
        with self._lock:
            self._clients.append(client)
            if self._thread is None:
                self._wake_r, self._wake_w = socket.socketpair()
                self._wake_r.setblocking(False)
                self._wake_w.setblocking(False)
                self._thread = threading.Thread(target=self._run, args=(self._wake_r,), name="vkmock-ws", daemon=True)
                self._thread.start()
        self._wake()
        return client

    def start(self, client: Client) -> None:
        client.ready = True
        client.last_in = time.monotonic()
        self._wake()

    def close_all(self) -> None:
        with self._lock:
            for client in self._clients:
                client.closing = True
        self._wake()

    def _wake(self) -> None:
        wake = self._wake_w
        if wake is not None:
            with contextlib.suppress(BlockingIOError, OSError):
                wake.send(b"\0")

    # ---- the hub's thread ----------------------------------------------------------------------------------

    def _run(self, wake: socket.socket) -> None:
        selector = selectors.DefaultSelector()
        selector.register(wake, selectors.EVENT_READ)
        registered: dict[Client, int] = {}
        last_ping = last_watch = time.monotonic()
        try:
            while True:
                with self._lock:
                    clients = list(self._clients)
                    outbox, self._outbox = self._outbox, []
                    if not clients:
                        self._thread = None
                        for end in (self._wake_r, self._wake_w):
                            if end is not None:
                                end.close()
                        self._wake_r = self._wake_w = None
                        return
                now = time.monotonic()
                messages = [TextMessage(data=text) for text in outbox]
                if now - last_watch >= WATCH_EVERY_S:
                    last_watch = now
                    moved = self._moved()
                    if moved:
                        messages.append(TextMessage(data=store_update(ALL_TAGS)))
                ping = now - last_ping >= PING_EVERY_S
                if ping:
                    last_ping = now
                for client in clients:
                    if client.conn.state is ConnectionState.OPEN:
                        for message in messages:
                            self._send(client, message)
                        if ping:
                            self._send(client, Ping())
                    if client.closing and client.conn.state is ConnectionState.OPEN:
                        self._send(client, CloseConnection(code=1001))
                    if now - client.last_in > IDLE_LIMIT_S or len(client.out) > MAX_BUFFERED:
                        self._drop(client)
                for client in clients:
                    if client.done.is_set() or not client.ready:
                        continue
                    events = selectors.EVENT_READ | (selectors.EVENT_WRITE if client.out else 0)
                    if registered.get(client) != events:
                        if client in registered:
                            selector.modify(client.sock, events, client)
                        else:
                            selector.register(client.sock, events, client)
                        registered[client] = events
                for key, mask in selector.select(timeout=min(1.0, WATCH_EVERY_S)):
                    if key.fileobj is wake:
                        with contextlib.suppress(BlockingIOError, OSError):
                            wake.recv(4096)
                        continue
                    client = key.data
                    if mask & selectors.EVENT_READ:
                        self._read(client)
                    if mask & selectors.EVENT_WRITE and not client.done.is_set():
                        self._flush(client)
                for client in clients:
                    if client.done.is_set():
                        if client in registered:
                            selector.unregister(client.sock)
                            del registered[client]
                        self._forget(client)
        finally:
            selector.close()

    def _moved(self) -> bool:
        """Whether another process wrote since this one last published (only a shared ``--db`` can)."""
        if self.store is None or not self.store.shared:
            return False
        try:
            version = self.store.sync()
        except Exception:  # a store being closed: nothing to tell
            return False
        moved = version != self._seen
        self._seen = version
        return moved

    def _send(self, client: Client, event: Event) -> None:
        try:
            client.out += client.conn.send(event)
        except Exception:  # wsproto refuses to send in the state it is in: the connection is ending
            client.closing = True

    def _read(self, client: Client) -> None:
        try:
            data = client.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            self._drop(client)
            return
        if not data:
            self._drop(client)
            return
        client.last_in = time.monotonic()
        try:
            client.conn.receive_data(data)
            for event in client.conn.events():
                if isinstance(event, Ping):
                    client.out += client.conn.send(event.response())
                elif isinstance(event, CloseConnection):
                    client.out += client.conn.send(event.response())
                    client.closing = True
                elif isinstance(event, TextMessage | BytesMessage):
                    pass  # the dashboard's "ping" text, or anything else: nothing to answer
        except Exception:  # a protocol error wsproto found: it queued a close frame; send it and end
            client.closing = True
        self._flush(client)

    def _flush(self, client: Client) -> None:
        try:
            while client.out:
                sent = client.sock.send(client.out)
                if not sent:
                    break
                del client.out[:sent]
        except BlockingIOError:
            return
        except OSError:
            self._drop(client)
            return
        if client.closing and not client.out and client.conn.state is not ConnectionState.OPEN:
            self._drop(client)

    def _drop(self, client: Client) -> None:
        if client.done.is_set():
            return
        with contextlib.suppress(OSError):
            client.sock.shutdown(socket.SHUT_RDWR)  # ends the connection even where a server holds another fd
        client.done.set()

    def _forget(self, client: Client) -> None:
        with contextlib.suppress(OSError):
            client.sock.close()
        with self._lock:
            if client in self._clients:
                self._clients.remove(client)


# ---- the handshake --------------------------------------------------------------------------------------


def _tokens(value: str) -> set[str]:
    return {part.strip().lower() for part in value.split(",") if part.strip()}


def _origin_allowed(cors: Any, origin: str | None, host: str) -> bool:
    """Upstream's check: without ``Origin`` the ``Host`` must be local; otherwise the CORS rules decide."""
    if not origin:
        name = host.rsplit(":", 1)[0] if host.count(":") <= 1 else host.rpartition("]")[0].lstrip("[")
        return name in ("localhost", "127.0.0.1", "::1", "")
    return bool(cors.allowed(origin))


def _takeover_problem(environ: dict[str, Any], hub: Hub, settings: Any) -> str | None:
    if connection_socket(environ) is not None:
        return None
    if "gunicorn.socket" in environ:
        if not environ.get("wsgi.multithread"):
            return "WebSocket is not available under --server gunicorn with --threads 1: use --threads 2 or more"
        limit = max(1, settings.threads - 1)
        if hub.held >= limit:
            return f"Too many WebSocket connections: at most {limit} per gunicorn worker (--threads - 1)"
        return None
    server = "granian" if "granian" in str(environ.get("SERVER_SOFTWARE", "")).lower() else "this WSGI server"
    return f"WebSocket is not available under {server} (its WSGI interface gives no socket): use waitress or gunicorn"


@bp.route("/ws", methods=["GET"], websocket=True)  # werkzeug routes an upgrade only to such rules
def websocket() -> Response:
    st = current_app.extensions["vkmock"]
    hub: Hub = st.extras["ws"]
    headers = request.headers
    if "websocket" not in _tokens(headers.get("Upgrade", "")) or "upgrade" not in _tokens(
        headers.get("Connection", "")
    ):
        raise BadRequest("Bad Request")
    if headers.get("Sec-WebSocket-Version", "").strip() != "13":
        answer = Response(status=426)
        answer.headers["Sec-WebSocket-Version"] = "13"
        return answer
    key = headers.get("Sec-WebSocket-Key", "").strip()
    try:
        valid_key = len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        valid_key = False
    if not valid_key:
        raise BadRequest("Bad Request")
    origin = headers.get("Origin")
    if not _origin_allowed(st.extras["cors"], origin, headers.get("Host", "")):
        raise Forbidden(f"WebSocket: origin {origin} is not allowed (add it with --cors-origin)")
    problem = _takeover_problem(request.environ, hub, st.settings)
    if problem:
        raise Unavailable(problem)
    answer = Response(status=101)
    answer.headers["Upgrade"] = "websocket"
    answer.headers["Connection"] = "Upgrade"
    answer.headers["Sec-WebSocket-Accept"] = generate_accept_token(key.encode()).decode()
    request.environ[ACCEPTED] = True
    return answer


class WebSocketMiddleware:
    """Once Flask has answered 101 to a WebSocket handshake, give the connection to the hub."""

    def __init__(self, app: Callable[..., Iterable[bytes]], hub: Hub) -> None:
        self.app = app
        self.hub = hub

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/ws":
            return self._upgrade(environ, start_response)
        if not self.hub._clients or environ.get("REQUEST_METHOD") not in WRITES:
            return self.app(environ, start_response)  # nobody listens, or nothing changes: a plain call
        return self._publishing(environ, start_response, path)

    def _publishing(self, environ: dict[str, Any], start_response: Callable[..., Any], path: str) -> Iterable[bytes]:
        """A write while dashboards listen: once it has succeeded, tell them what it changed."""
        seen: list[str] = []

        def proxy(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], Any]:
            seen.append(status)
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        result = self.app(environ, proxy)
        if seen and seen[0][:1] == "2" and path.startswith((GOVERNANCE, "/_vkmock/")):
            collection = path[len(GOVERNANCE):].split("/", 1)[0] if path.startswith(GOVERNANCE) else ""
            self.hub.publish(tags_for(collection))
        return result

    def _upgrade(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        held: dict[str, Any] = {}

        def proxy(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], Any]:
            if environ.get(ACCEPTED) and status.startswith("101"):
                held["status"], held["headers"] = status, headers
                return lambda data: None
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        result = self.app(environ, proxy)
        if "status" not in held:
            return result
        close = getattr(result, "close", None)
        if close is not None:
            close()
        headers = [(k, v) for k, v in held["headers"] if k.lower() not in ("content-length", "content-type")]
        if "gunicorn.socket" in environ:
            with self.hub._lock:
                self.hub.held += 1
            start_response("101 Switching Protocols", headers)
            return self._hold(environ["gunicorn.socket"])
        return self._hand_over(environ, headers)

    def _hand_over(self, environ: dict[str, Any], headers: list[tuple[str, str]]) -> Iterable[bytes]:
        """waitress: answer on a duplicate of the socket and make waitress let go of its own copy."""
        from waitress.channel import ClientDisconnected

        sock = connection_socket(environ)
        assert sock is not None  # the view checked
        head = "HTTP/1.1 101 Switching Protocols\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
        self.hub.add(sock.dup(), head.encode("latin-1"))
        raise ClientDisconnected("vkmock: the connection is a WebSocket now")  # waitress closes, writes nothing

    def _hold(self, sock: socket.socket) -> Iterator[bytes]:
        """gunicorn: it writes the 101 on the first (empty) chunk; this thread then waits for the end."""
        client = self.hub.add(sock.dup(), ready=False)  # counted now: a write from here on reaches it
        try:
            yield b""
            self.hub.start(client)
            client.done.wait()
        finally:
            self.hub._drop(client)  # a no-op after a normal end; frees the socket if gunicorn gave up early
            with self.hub._lock:
                self.hub.held -= 1


_HUBS: weakref.WeakSet[Hub] = weakref.WeakSet()  # the hub of every app in this process


def publish(tags: Iterable[str]) -> None:
    """Tell every dashboard connected to this process that ``tags`` changed (for code that has no app at hand;
    with nobody connected it costs a loop over the hubs)."""
    listed = list(tags)
    for hub in list(_HUBS):
        hub.publish(listed)


def tags_for(collection: str) -> list[str]:
    """The dashboard's tags a write to a governance ``collection`` (``virtual-keys``, ``teams``, ...) changes."""
    return list(TAGS.get(collection, ALL_TAGS))


def init_app(app: Flask, state: Any) -> None:
    hub = Hub(state.store)
    _HUBS.add(hub)
    state.extras["ws"] = hub
    app.register_blueprint(bp)
    app.wsgi_app = WebSocketMiddleware(app.wsgi_app, hub)  # type: ignore[method-assign]
