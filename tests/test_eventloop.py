"""vkmock's waitress loop (``vkmock.serve.eventloop``): asks only the connections that can have changed.

Each test runs vkmock's waitress server in this process, its loop turning in a thread, on a free loopback port.
With ``SWEEP_S`` made longer than the test, nothing but the loop's own bookkeeping (events, touches from the
worker threads, connections opened and closed, the server's maintenance) can bring a connection back into
the poll set: a change it misses stalls that connection and the test fails on its time-out.
"""

from __future__ import annotations

import collections
import contextlib
import socket
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, Response, request

from vkmock.serve import eventloop, server
from vkmock.settings import Settings

SMALL = b'{"virtual_keys":[],"count":0}\n'
LARGE = b"[" + b",".join(b'"%06d"' % i for i in range(200_000)) + b"]\n"  # 1.8 MB
DEADLINE_S = 20.0


def _app() -> Flask:
    app = Flask("tiny")

    @app.get("/")
    def small() -> bytes:
        return SMALL

    @app.get("/large")
    def large() -> Response:  # in chunks: waitress writes each one as it comes
        chunks = (LARGE[at : at + 65536] for at in range(0, len(LARGE), 65536))
        return Response(chunks, content_type="application/json", headers={"Content-Length": str(len(LARGE))})

    @app.post("/echo")
    def echo() -> bytes:
        return request.get_data()

    return app


@contextlib.contextmanager
def _running(threads: int = 4, **adjust: Any) -> Iterator[Any]:
    """vkmock's waitress server with its loop turning in a thread; ``adjust`` sets waitress adjustments."""
    from waitress import wasyncore

    settings = Settings(host="127.0.0.1", port=0, threads=threads, quiet=True)
    waitress = server.waitress_server(_app(), settings, server.bind(settings.host, settings.port))
    for name, value in adjust.items():
        setattr(waitress.adj, name, value)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            waitress.poller.turn(0.05)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield waitress
    finally:
        stop.set()
        thread.join(timeout=5)
        wasyncore.close_all(waitress._map)
        waitress.task_dispatcher.shutdown()


@pytest.fixture
def no_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(eventloop, "SWEEP_S", 3600.0)


def _read_answer(client: socket.socket) -> bytes:
    """The body of the next HTTP/1.1 answer on ``client`` (one with a Content-Length), whole; what follows it
    stays buffered for the next call."""
    stream = _streams.setdefault(client, client.makefile("rb"))
    status = stream.readline()
    assert status.startswith(b"HTTP/1.1 200 "), status
    length = None
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    assert length is not None, "no Content-Length"
    body = stream.read(length)
    assert len(body) == length, "the server closed the connection mid-answer"
    return body


_streams: weakref.WeakKeyDictionary[socket.socket, Any] = weakref.WeakKeyDictionary()


def _close(client: socket.socket) -> None:
    """Close ``client`` for real: its buffered reader holds the descriptor open too."""
    stream = _streams.pop(client, None)
    if stream is not None:
        stream.close()
    client.close()


def _get(path: str = "/") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


def _connect(waitress: Any) -> socket.socket:
    return socket.create_connection(waitress.socket.getsockname(), timeout=DEADLINE_S)


def test_idle_connections_are_not_asked_while_another_is_served(
    no_sweep: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: collections.Counter[int] = collections.Counter()
    readable = eventloop.Channel.readable

    def counting(channel: Any) -> bool:
        asked[channel._fileno] += 1
        return bool(readable(channel))

    monkeypatch.setattr(eventloop.Channel, "readable", counting)
    with _running() as waitress:
        idle = [_connect(waitress) for _ in range(40)]
        for client in idle:  # each one served once, then left open and quiet, as a keep-alive client does
            client.sendall(_get())
            assert _read_answer(client) == SMALL
        busy = _connect(waitress)
        time.sleep(0.2)
        idle_fds = {fd for fd, channel in waitress.active_channels.items() if fd != _server_fd(waitress, busy)}
        before = {fd: asked[fd] for fd in idle_fds}
        for _ in range(100):
            busy.sendall(_get())
            assert _read_answer(busy) == SMALL
        # waitress's own loop asks every connection on every turn: 100 answers are at least 100 turns
        assert sum(asked[fd] - before[fd] for fd in idle_fds) == 0
        assert len(idle_fds) == 40
        for client in [*idle, busy]:
            _close(client)


def _server_fd(waitress: Any, client: socket.socket) -> int:
    """The server's descriptor for ``client``'s connection."""
    mine = client.getsockname()
    return next(fd for fd, channel in waitress.active_channels.items() if channel.addr == mine)


def test_every_answer_arrives_with_nothing_but_touches(no_sweep: None) -> None:
    """Concurrent clients, pipelined requests, request bodies and answers larger than the socket buffers."""
    errors: list[BaseException] = []

    def client(kind: int) -> None:
        try:
            with socket.create_connection(address, timeout=DEADLINE_S) as sock:
                for round_ in range(15):
                    if kind == 0:  # three requests in one write: answered in order
                        sock.sendall(_get() * 3)
                        assert [_read_answer(sock) for _ in range(3)] == [SMALL] * 3
                    elif kind == 1:
                        body = b"x" * (100_000 + round_)
                        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
                        assert _read_answer(sock) == body
                    else:
                        sock.sendall(_get("/large"))
                        assert _read_answer(sock) == LARGE
        except BaseException as exc:  # the test reports it
            errors.append(exc)

    with _running(threads=2) as waitress:
        address = waitress.socket.getsockname()
        clients = [threading.Thread(target=client, args=(n % 3,)) for n in range(12)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join(timeout=DEADLINE_S * 3)
        assert not errors, errors[:3]
        assert not any(thread.is_alive() for thread in clients)


def test_a_slow_reader_gets_all_of_a_large_answer(no_sweep: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that fills waitress's output buffer waits for the loop to drain it (the high-water mark)."""
    waited: list[bool] = []
    below_mark = eventloop.Channel._flush_outbufs_below_high_watermark

    def noting(channel: Any) -> None:
        waited.append(channel.total_outbufs_len > channel.adj.outbuf_high_watermark)
        below_mark(channel)

    monkeypatch.setattr(eventloop.Channel, "_flush_outbufs_below_high_watermark", noting)
    with _running(outbuf_high_watermark=64 * 1024) as waitress:
        waitress.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)  # connections inherit it
        with _connect(waitress) as client:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
            client.sendall(_get("/large") + _get())  # the second waits for the first's answer to drain
            time.sleep(0.5)  # the kernel's buffers fill, the worker stops at the mark
            assert _read_answer(client) == LARGE
            assert _read_answer(client) == SMALL
            _close(client)
    assert any(waited)  # the worker did wait for the loop


def test_closed_connections_leave_the_poll_set(no_sweep: None) -> None:
    with _running() as waitress:
        clients = [_connect(waitress) for _ in range(30)]
        for client in clients:
            client.sendall(_get())
            assert _read_answer(client) == SMALL
        assert len(waitress.active_channels) == 30
        for client in clients:
            _close(client)
        deadline = time.monotonic() + DEADLINE_S
        while waitress.active_channels and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not waitress.active_channels
        time.sleep(0.2)
        # only the listening socket and the trigger remain; a closed descriptor left in the set would be
        # answered (POLLNVAL) on every turn, spinning the loop
        assert set(waitress.poller.watched) <= set(waitress._map)
        assert len(waitress._map) == 2


def test_idle_connections_are_still_closed_after_the_channel_timeout(no_sweep: None) -> None:
    with _running(channel_timeout=0.3, cleanup_interval=0.1) as waitress, _connect(waitress) as client:
        client.sendall(_get())
        assert _read_answer(client) == SMALL
        client.settimeout(DEADLINE_S)
        assert client.recv(1) == b""  # closed by the server's maintenance, long before DEADLINE_S
