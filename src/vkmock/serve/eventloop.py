"""waitress's event loop, made to cost what happens rather than what is open.

waitress's own loop (``wasyncore.poll2``) asks every open connection whether it wants to read or write and
builds a new poll set from the answers on every turn, and its main thread turns once per event: a request
arriving, a worker thread's "answered" trigger. With hundreds of keep-alive connections that thread spent its
time asking connections that had nothing to do, holding the GIL the worker threads need to send their answers
(measured with the floor app, 4 threads, 200 connections: the main thread busy 100% of the time, each worker
waiting in ``send()`` for the GIL, 135 requests a second).

``IncrementalPoll`` keeps one poll set for the server's life and, each turn, asks only the connections that
can have changed since the last one: those that had an event, those a worker thread touched (a worker pulls
the server's trigger after each change it makes; here the trigger also names the connection), those opened or
closed, and the server and its trigger themselves. A stale wish to read or write shows itself (the poll
answers, the connection is asked again); a missed new one could not, so every ``SWEEP_S`` every connection is
asked, as waitress does on every turn.
"""

from __future__ import annotations

import collections
import contextlib
import select
import time
from typing import Any

from waitress import wasyncore
from waitress.channel import HTTPChannel

#: Seconds between two turns that ask every connection (waitress asks them all on every turn).
SWEEP_S = 0.5
WANT_READ = select.POLLIN | select.POLLPRI
WANT_WRITE = select.POLLOUT


class IncrementalPoll:
    """One server's poll set, kept up to date from what changed (``touch``) rather than rebuilt."""

    def __init__(self, socket_map: dict[int, Any]) -> None:
        self.map = socket_map
        self._poll = select.poll()
        self._registered: dict[int, int] = {}  # fd -> the events asked for
        self._touched: collections.deque[int] = collections.deque()  # appended from any thread
        self._active: set[int] = set()  # fds that had an event in the last turn
        self._always: list[int] = []  # fds of what is not a connection: the server, its trigger
        self._next_sweep = 0.0

    def touch(self, fd: int | None) -> None:
        """Ask ``fd`` again before the next poll (any thread; call it after the change, before the trigger)."""
        if fd is not None:
            self._touched.append(fd)

    def _wanted(self, obj: Any) -> int:
        events = WANT_READ if obj.readable() else 0
        if obj.writable() and not obj.accepting:
            events |= WANT_WRITE
        return events

    def _update(self, fd: int) -> None:
        obj = self.map.get(fd)
        events = self._wanted(obj) if obj is not None else 0
        if self._registered.get(fd, 0) == events:
            return
        if events:
            self._poll.register(fd, events)  # registers or modifies
            self._registered[fd] = events
        else:
            # a closed descriptor left in the set would be answered (POLLNVAL) on every turn
            self._registered.pop(fd, None)
            with contextlib.suppress(KeyError):
                self._poll.unregister(fd)

    def _to_ask(self, now: float) -> set[int]:
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_S
            self._always = [fd for fd, obj in self.map.items() if not isinstance(obj, HTTPChannel)]
            return set(self.map) | set(self._registered)
        fds = self._active
        fds.update(self._always)
        touched = self._touched
        while touched:
            fds.add(touched.popleft())
        return fds

    def turn(self, timeout: float) -> int:
        """One turn of the loop: bring the poll set up to date, wait up to ``timeout`` seconds, dispatch; the
        number of events dispatched."""
        now = time.monotonic()
        for fd in self._to_ask(now):
            self._update(fd)
        touched = self._touched  # touched while asking (the server's maintenance marks idle connections)
        while touched:
            self._update(touched.popleft())
        wait_ms = max(0, int(min(timeout, self._next_sweep - now) * 1000))
        try:
            events = self._poll.poll(wait_ms)
        except InterruptedError:
            events = []
        self._active = set()
        for fd, flags in events:
            obj = self.map.get(fd)
            if obj is None:
                self._update(fd)
                continue
            self._active.add(fd)
            wasyncore.readwrite(obj, flags)
        return len(self._active)

    @property
    def watched(self) -> dict[int, int]:
        """The poll set: descriptor -> the events asked for."""
        return dict(self._registered)


class TouchingServer:
    """What a connection sees as its server: the server itself, except that pulling its trigger also tells
    the loop which connection changed."""

    __slots__ = ("_fd", "_poller", "_server")

    def __init__(self, server: Any, fd: int, poller: IncrementalPoll) -> None:
        self._server = server
        self._fd = fd
        self._poller = poller

    def pull_trigger(self) -> None:
        self._poller.touch(self._fd)
        self._server.pull_trigger()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)


class Channel(HTTPChannel):
    """waitress's connection, reporting its changes to the server's ``IncrementalPoll``."""

    def __init__(self, server: Any, sock: Any, addr: Any, adj: Any, map: Any = None) -> None:
        poller: IncrementalPoll = server.poller
        super().__init__(TouchingServer(server, sock.fileno(), poller), sock, addr, adj, map)

    def add_channel(self, map: Any = None) -> None:
        super().add_channel(map)
        self.server.poller.touch(self._fileno)

    def del_channel(self, map: Any = None) -> None:
        fd = self._fileno
        super().del_channel(map)
        self.server.poller.touch(fd)
