"""vkmock's waitress set-up (``vkmock.serve.server.waitress_server``): many clients at once are all served.

waitress on its own keeps at most 100 connections open (the rest wait, unanswered, in the listen queue) and takes
one new connection per turn of its loop, which visits every open connection: 800 clients connecting at once
waited seconds for their first answer. vkmock's server keeps up to ``CONNECTION_LIMIT`` connections, takes up
to ``ACCEPT_BATCH`` per turn, and watches them with ``poll()`` (``select()`` stops at descriptor 1023).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from conftest import BASE, LiveServer
from vkmock.serve import server
from vkmock.settings import Settings

BODY = b'{"virtual_keys":[],"count":0}\n'


def _app() -> Flask:
    app = Flask("tiny")

    @app.get("/")
    def answer() -> bytes:
        return BODY

    return app


@contextlib.contextmanager
def _server(threads: int = 1) -> Iterator[Any]:
    """vkmock's waitress server on a free port, not running its loop: the test drives ``handle_accept``."""
    from waitress import wasyncore

    settings = Settings(host="127.0.0.1", port=0, threads=threads, quiet=True)
    waitress = server.waitress_server(_app(), settings, server.bind(settings.host, settings.port))
    try:
        yield waitress
    finally:
        wasyncore.close_all(waitress._map)
        waitress.task_dispatcher.shutdown()


def _connect(address: tuple[str, int], count: int) -> list[socket.socket]:
    clients = [socket.create_connection(address, timeout=5) for _ in range(count)]
    time.sleep(0.2)  # the kernel completes the handshakes: every one waits in the listen queue
    return clients


def test_the_server_takes_every_waiting_connection_in_one_turn() -> None:
    with _server() as waitress:
        before = len(waitress._map)
        clients = _connect(waitress.socket.getsockname(), 20)
        try:
            waitress.handle_accept()
            assert len(waitress._map) - before == 20
            assert waitress.adj.asyncore_use_poll is True
            assert waitress.adj.connection_limit == server.CONNECTION_LIMIT
        finally:
            for client in clients:
                client.close()


def test_one_turn_takes_at_most_a_batch_and_stops_at_the_connection_limit() -> None:
    with _server() as waitress:
        before = len(waitress._map)
        clients = _connect(waitress.socket.getsockname(), server.ACCEPT_BATCH + 6)
        try:
            waitress.handle_accept()
            assert len(waitress._map) - before == server.ACCEPT_BATCH  # the other 6 wait for the next turn
            waitress.adj.connection_limit = len(waitress._map) + 2
            waitress.handle_accept()
            assert len(waitress._map) == waitress.adj.connection_limit  # never past the limit
            waitress.handle_accept()
            assert len(waitress._map) == waitress.adj.connection_limit
        finally:
            for client in clients:
                client.close()


def _ask(
    port: int, answers: list[bytes], errors: list[BaseException], ready: threading.Barrier, done: threading.Barrier
) -> None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=20) as client:
            ready.wait(timeout=20)  # every client is connected before any asks
            client.sendall(f"GET {BASE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n\r\n".encode())
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.endswith(b"}\n"):
                chunk = client.recv(65536)
                if not chunk:
                    break
                answer += chunk
            answers.append(answer)
            done.wait(timeout=20)  # and stays connected until every one has its answer, as a load test does
    except BaseException as exc:  # the test reports it
        errors.append(exc)


@pytest.mark.slow
def test_three_hundred_clients_at_once_are_all_answered(serve: Callable[..., LiveServer]) -> None:
    """Plain waitress (100 connections) leaves 200 of them unanswered for as long as the others stay."""
    port = serve("--count", "2").port
    clients = 300
    answers: list[bytes] = []
    errors: list[BaseException] = []
    ready, done = threading.Barrier(clients), threading.Barrier(clients)
    threads = [threading.Thread(target=_ask, args=(port, answers, errors, ready, done)) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors[:3]
    assert len(answers) == clients
    assert all(answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b',"count":2}\n') for answer in answers)
