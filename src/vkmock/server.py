"""Running the app under a production WSGI server: waitress (default), gunicorn or granian.

``workers > 1`` runs that many processes on one listening socket. They share state through the SQLite file
(``--db``); without one, a temporary database file is made for the run and removed at the end.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from flask import Flask

from vkmock.settings import Settings

SERVERS = ("waitress", "gunicorn", "granian")


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
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{path}{suffix}")
        with contextlib.suppress(OSError):
            os.rmdir(directory)


def _stop_on_sigterm() -> None:
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def run_waitress(make_app: Callable[[], Flask], settings: Settings, sock: socket.socket) -> None:
    import waitress

    def serve_one() -> None:
        waitress.serve(
            make_app(),
            sockets=[sock],
            threads=settings.threads,
            ident="vkmock",
            max_request_body_size=max(settings.max_body * 2, 1 << 20),
            channel_timeout=30,
            connection_limit=1000,
            _quiet=True,
        )

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
    address = f"{settings.host}:{settings.port}" if ":" not in settings.host else f"[{settings.host}]:{settings.port}"
    sock.close()  # gunicorn binds its own socket (SO_REUSEADDR)

    class Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", [address])
            self.cfg.set("workers", settings.workers)
            self.cfg.set("threads", settings.threads)
            self.cfg.set("worker_class", "gthread" if settings.threads > 1 else "sync")
            self.cfg.set("accesslog", None)
            self.cfg.set("loglevel", "warning")
            self.cfg.set("timeout", 60)

        def load(self) -> Flask:
            return make_app()

    Gunicorn().run()


def run_granian(make_app: Callable[[], Flask], settings: Settings, sock: socket.socket) -> None:
    try:
        from granian.constants import Interfaces
        from granian.server import Server
    except ImportError:
        sys.exit("vkmock: --server granian needs granian: pip install 'vkmock[granian]'")
    sock.close()
    global _GRANIAN_FACTORY
    _GRANIAN_FACTORY = make_app
    Server(
        "vkmock.server:granian_app",
        address=settings.host,
        port=settings.port,
        interface=Interfaces.WSGI,
        workers=settings.workers,
        blocking_threads=settings.threads,
        factory=True,
        log_enabled=False,
    ).serve()


_GRANIAN_FACTORY: Callable[[], Flask] | None = None


def granian_app() -> Flask:
    assert _GRANIAN_FACTORY is not None
    return _GRANIAN_FACTORY()


RUNNERS = {"waitress": run_waitress, "gunicorn": run_gunicorn, "granian": run_granian}


def run(make_app: Callable[[], Flask], settings: Settings, sock: socket.socket) -> None:
    _stop_on_sigterm()
    RUNNERS[settings.server](make_app, settings, sock)
