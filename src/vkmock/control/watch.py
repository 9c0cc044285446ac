"""Hot reload (``--watch``): serve the ``--fixture`` file's new content as soon as it is saved.

A daemon thread polls the file's modification time and size every ``watch_interval`` (1 s by default;
``VKMOCK_WATCH_INTERVAL``). When they change and the content differs from what is loaded, the file is read and
checked exactly as at start; a good file replaces the world (as ``POST /_vkmock/reset`` does, rewinding a
``--live`` clock), a bad one is refused with the same message as at start, printed to stderr, and the world
that was serving keeps serving. The thread stops with ``stop()`` (or with the process).

With ``--workers N`` every worker watches; the content's hash is kept in the store, so the first worker to see
an edit loads it and the others find it loaded.
"""

from __future__ import annotations

import hashlib
import sys
import threading
from pathlib import Path
from typing import Any

from flask import Flask

from vkmock.control import live
from vkmock.control.runtime import span
from vkmock.serve import fixtures
from vkmock.settings import Settings

LOADED_KEY = "watch_loaded"


def validate(settings: Settings) -> None:
    if settings.watch and not settings.fixture:
        raise ValueError("--watch reloads the --fixture file: give --fixture FILE (or a fixture name)")
    try:
        if span(settings.watch_interval, "s") <= 0:
            raise ValueError("must be above 0")
    except ValueError as exc:
        raise ValueError(f"VKMOCK_WATCH_INTERVAL: {exc}") from exc


class Watcher:
    def __init__(self, state: Any, path: Path, interval: float) -> None:
        self.state = state
        self.path = path
        self.interval = interval
        self.reloads = 0
        self.refusals = 0
        self._stop = threading.Event()
        self._stat = self._signature()
        self._thread: threading.Thread | None = None
        digest = self._digest()  # what the store serves now (the file as it was loaded at start)
        if digest and state.store.get_meta(LOADED_KEY) != digest:
            state.store.set_meta(LOADED_KEY, digest)

    def _signature(self) -> tuple[int, int] | None:
        try:
            info = self.path.stat()
        except OSError:
            return None
        return info.st_mtime_ns, info.st_size

    def _digest(self) -> str | None:
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return None

    def check(self) -> bool:
        """One poll: reload when the file changed; returns True when a new world was loaded."""
        signature = self._signature()
        if signature == self._stat:
            return False
        self._stat = signature
        digest = self._digest()
        store = self.state.store
        if digest is None or digest == store.get_meta(LOADED_KEY):
            return False
        settings = self.state.settings
        try:
            world = fixtures.load(self.path, settings.seed, settings.now, self.state.profile)
        except fixtures.FixtureError as exc:
            self.refusals += 1
            print(
                f"vkmock: refusing to reload: bad fixture: {exc} (still serving the previous world)",
                file=sys.stderr,
                flush=True,
            )
            return False
        live.reset_world(self.state, world)
        store.set_meta(LOADED_KEY, digest)
        self.reloads += 1
        print(
            f"vkmock: reloaded {self.path} ({len(world.virtual_keys)} virtual keys)",
            file=sys.stderr,
            flush=True,
        )
        return True

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="vkmock-watch", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception as exc:  # never let the watcher die silently
                print(f"vkmock: watching {self.path} failed: {exc!r}", file=sys.stderr, flush=True)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


def init_app(app: Flask, state: Any) -> None:
    settings = state.settings
    if not settings.watch or not settings.fixture:
        return
    path = fixtures.resolve(settings.fixture, state.fixtures_dir, state.profile)
    watcher = Watcher(state, Path(path), span(settings.watch_interval, "s"))
    state.extras["watch"] = watcher
    watcher.start()
