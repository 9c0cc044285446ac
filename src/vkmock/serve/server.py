"""Running the app under a production WSGI server: waitress (default), gunicorn or granian.

``workers > 1`` runs that many processes on one listening socket. They share state through the SQLite file
(``--db``); without one, a temporary database file is made for the run and removed at the end.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from flask import Flask

from vkmock.serve.store import ChangeMark
from vkmock.settings import Settings

SERVERS = ("waitress", "gunicorn", "granian")
#: Answers up to this size are buffered in memory by waitress; larger ones spill to a temporary file.
#: waitress's own default (1 MiB) sent a list of 1,000 keys (3.3 MB) through a file on disk: half the speed.
OUTBUF_IN_MEMORY = 16 * 1024 * 1024
#: Open connections waitress keeps at once (its default is 100: the 101st client waits, unanswered, in the
#: listen queue until another one leaves, which a keep-alive load test never does).
CONNECTION_LIMIT = 1000
#: Connections waitress takes from the listen queue each time its loop wakes up for them (its own: one). Every
#: turn of the loop visits every open connection, so taking 800 new clients one per turn kept them waiting for
#: seconds: wrk at 800 connections counted timeouts before their first answer.
ACCEPT_BATCH = 64
GRANIAN_KILL_AFTER_S = 5


def connection_socket(environ: dict[str, Any]) -> socket.socket | None:
    """The client's socket under waitress (reached through the channel its environ exposes), else ``None``: for
    what must act on the connection itself (faults that break it, the WebSocket that takes it over)."""
    probe = environ.get("waitress.client_disconnected")
    channel = getattr(probe, "__self__", None)
    sock = getattr(channel, "socket", None)
    return sock if isinstance(sock, socket.socket) else None


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


@contextlib.contextmanager
def shared_database(settings: Settings) -> Iterator[Settings]:
    """Several workers need one database file; make a temporary one when none was given."""
    if settings.workers <= 1 or settings.db:
        yield settings
        return
    directory = tempfile.mkdtemp(prefix="vkmock-")
    path = Path(directory) / "world.sqlite3"
    try:
        yield settings.replace(db=str(path))
    finally:
        for suffix in ("", "-wal", "-shm", ChangeMark.SUFFIX):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{path}{suffix}")
        with contextlib.suppress(OSError):
            os.rmdir(directory)


def _stop_on_sigterm() -> None:
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def _waitress_errors_as_envelopes(max_body: int) -> None:
    """Requests waitress refuses itself (a body over ``--max-body``, a malformed request, headers too large)
    get the Bifrost envelope too. The message never echoes the request (a malformed header may hold a
    credential)."""
    from waitress.channel import HTTPChannel
    from waitress.task import ErrorTask

    from vkmock.errors import envelope_bytes

    class EnvelopeErrorTask(ErrorTask):
        def execute(self) -> None:
            error = self.request.error
            if error.code == 413:
                message = f"Request body too large (limit {max_body} bytes)"
            elif error.code >= 500:
                message = "Internal server error"
            else:
                message = error.reason
            body = envelope_bytes(error.code, message)
            self.status = f"{error.code} {error.reason}"
            self.response_headers.append(("Content-Type", "application/json"))
            self.set_close_on_finish()
            self.content_length = len(body)
            self.write(body)

    HTTPChannel.error_task_class = EnvelopeErrorTask


def waitress_server(app: Any, settings: Settings, sock: socket.socket) -> Any:
    """A waitress server on the listening ``sock`` (``.run()`` serves until SIGTERM or Ctrl-C)."""
    import waitress
    from waitress.server import TcpWSGIServer

    from vkmock.serve import eventloop

    server = waitress.create_server(
        app,
        sockets=[sock],
        threads=settings.threads,
        ident="vkmock",
        # waitress reads a whole body before the app sees it: one byte over the limit is refused from the
        # Content-Length (or, chunked, as soon as it arrives), before the body is read
        max_request_body_size=settings.max_body + 1,
        channel_timeout=30,
        connection_limit=CONNECTION_LIMIT,
        outbuf_overflow=OUTBUF_IN_MEMORY,
        # poll(), not select(): select() cannot watch a descriptor above 1023, which 1,000 connections reach
        asyncore_use_poll=True,
    )
    if type(server) is not TcpWSGIServer:  # one TCP socket gives one plain server; anything else is left as is
        return server
    server.__class__ = _vkmock_server()
    server.poller = eventloop.IncrementalPoll(server._map)
    return server


def _vkmock_server() -> type:
    from waitress.server import TcpWSGIServer

    from vkmock.serve import eventloop

    class VkmockServer(TcpWSGIServer):
        """waitress's TCP server on ``eventloop.IncrementalPoll`` (its own loop asks every open connection on
        every turn), taking up to ``ACCEPT_BATCH`` waiting connections per wake-up."""

        channel_class = eventloop.Channel
        poller: eventloop.IncrementalPoll

        def run(self) -> None:
            try:
                while self._map:
                    self.poller.turn(self.adj.asyncore_loop_timeout)
            except (SystemExit, KeyboardInterrupt):
                self.task_dispatcher.shutdown()

        def maintenance(self, now: float) -> None:
            super().maintenance(now)  # marks connections idle too long to be closed
            for fd, channel in list(self.active_channels.items()):
                if channel.will_close:
                    self.poller.touch(fd)

        def handle_accept(self) -> None:
            for _ in range(ACCEPT_BATCH):
                before = len(self._map)
                if before >= self.adj.connection_limit:
                    return
                super().handle_accept()
                if len(self._map) == before:  # the queue is empty (or that client left): wait for the next
                    return

    return VkmockServer


def run_waitress(make_app: Callable[[], Flask], settings: Settings, sock: socket.socket) -> None:
    _waitress_errors_as_envelopes(settings.max_body)
    # waitress warns "Task queue depth is N" on every request that waits for a free thread: under any real
    # load that is a line per request on stderr, and it says nothing an operator can act on
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)

    def serve_one() -> None:
        waitress_server(make_app(), settings, sock).run()

    if settings.workers <= 1:
        serve_one()
        return
    children: list[int] = []
    for _ in range(settings.workers):
        pid = os.fork()
        if pid == 0:  # child: its own app, store and SQLite connection
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            try:
                serve_one()
            finally:
                os._exit(0)
        children.append(pid)
    try:
        while children:
            pid, _status = os.wait()
            if pid in children:
                children.remove(pid)
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def run_gunicorn(make_app: Callable[[], Flask], settings: Settings, sock: socket.socket) -> None:
    try:
        from gunicorn.app.base import BaseApplication
    except ImportError:
        sys.exit("vkmock: --server gunicorn needs gunicorn: pip install 'vkmock[gunicorn]'")
    host = settings.host if ":" not in settings.host else f"[{settings.host}]"
    address = f"{host}:{settings.port}"
    sock.close()  # gunicorn binds its own socket (SO_REUSEADDR)

    class Gunicorn(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", [address])
            self.cfg.set("workers", settings.workers)
            self.cfg.set("threads", settings.threads)
            self.cfg.set("worker_class", "gthread" if settings.threads > 1 else "sync")
            self.cfg.set("accesslog", None)
            self.cfg.set("loglevel", "warning")
            self.cfg.set("timeout", 60)
            # no shared control socket: every gunicorn on the machine would use the same default path
            if "control_socket_disable" in self.cfg.settings:
                self.cfg.set("control_socket_disable", True)

        def load(self) -> Flask:
            return make_app()

    master = os.getpid()
    try:
        Gunicorn().run()
    except BaseException as exc:
        if os.getpid() != master:
            # a gunicorn worker is a fork of this process and leaves with SystemExit: it must not unwind
            # through the master's clean-up (which removes the shared temporary database the others use)
            _leave_worker(exc.code if isinstance(exc, SystemExit) else 1)
        raise


def _leave_worker(code: object) -> None:
    """End a forked worker process now, without running its parent's ``finally`` blocks or atexit hooks."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))


def run_granian(make_app: Callable[[], Flask], settings: Settings, sock: socket.socket) -> None:
    try:
        from granian.constants import Interfaces
        from granian.server import Server
    except ImportError:
        sys.exit("vkmock: --server granian needs granian: pip install 'vkmock[granian]'")
    sock.close()
    global _GRANIAN_FACTORY
    _GRANIAN_FACTORY = make_app
    _granian_workers_leave_sigint_to_the_main_process()
    Server(
        "vkmock.serve.server:granian_app",
        address=settings.host,
        port=settings.port,
        interface=Interfaces.WSGI,
        workers=settings.workers,
        blocking_threads=settings.threads,
        factory=True,
        log_enabled=False,
        respawn_failed_workers=True,  # as gunicorn does: a worker that dies is replaced, the others serve on
        workers_kill_timeout=GRANIAN_KILL_AFTER_S,  # a worker that does not stop when told is killed
    ).serve()


def _granian_workers_leave_sigint_to_the_main_process() -> None:
    """Make granian's workers ignore SIGINT; the main process stops them (one SIGTERM each) on Ctrl-C.

    Ctrl-C in a terminal sends SIGINT to every process of the group. A granian 2.x worker that gets it and
    then, while it shuts down, the main process's SIGTERM, waits forever for its shutdown callback: with two
    workers Ctrl-C hung (until ``workers_kill_timeout``) in most runs. A single signal always stops a worker.
    """
    try:
        import granian._signals as granian_signals
    except ImportError:  # another layout: the kill timeout still bounds the stop
        return
    original = getattr(granian_signals, "set_sync_signals", None)
    if original is None or getattr(original, "_vkmock", False):
        return

    def set_sync_signals() -> object:
        event = original()
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        return event

    set_sync_signals._vkmock = True  # type: ignore[attr-defined]
    granian_signals.set_sync_signals = set_sync_signals


_GRANIAN_FACTORY: Callable[[], Flask] | None = None


def granian_app() -> Flask:
    assert _GRANIAN_FACTORY is not None
    return _GRANIAN_FACTORY()


RUNNERS = {"waitress": run_waitress, "gunicorn": run_gunicorn, "granian": run_granian}


def run(make_app: Callable[[], Flask], settings: Settings, sock: socket.socket) -> None:
    _stop_on_sigterm()
    RUNNERS[settings.server](make_app, settings, sock)
