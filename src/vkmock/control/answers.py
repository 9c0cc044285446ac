"""Quiet reads: a governance ``GET`` answered again from its last answer while nothing it depends on changed.

A mock is read far more than it is written, and most reads repeat (a dashboard polling its page, a load
test, a CI suite's list-after-list). An answer of a governance ``GET`` is a function of the request and of the
store's version: every write, reset, reload and run-time setting bumps that version, in every worker
(``Store.sync``, asked once per request: ``runtime.OncePerRequest``). So such an answer, once computed by the
app, is kept with the version it was computed at and replayed, without Flask, for the same request while the
version stays; the first request after any change is answered by the app again.

Only what is known to be a pure function of (request, version) is kept:

- ``GET`` under ``/api/governance/`` except the 1.5 quota route (authenticated by a key, not a token);
- no ``Prefer`` header and no ``__`` preference in the query, no ``Origin`` (CORS answers depend on it), no
  ``Cookie`` (a dashboard session), request headers small enough to be part of the key whole;
- answered ``200`` while no latency and no fault rate are configured; never with ``--live`` (its answers
  move with the clock, not with the version);
- the key is the path, the query string and every request header, so two requests that differ in any header
  are answered apart.

Replayed answers carry the same status, headers and bytes, and are recorded in the journal as any answer.
``--no-answer-cache`` (``VKMOCK_NO_ANSWER_CACHE=1``) turns this off. Only answers of the newest version seen
are kept (the first one kept after a change drops the others); at most ``MAX_ENTRIES`` answers of at most
``MAX_BODY`` bytes each per process; past that, or past ``MAX_BYTES`` in all, the older half is dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from vkmock.control import journal, prefer
from vkmock.control.faults import drain
from vkmock.serve.routes import QUOTA

PREFIX = "/api/governance/"
MAX_ENTRIES = 512
MAX_BODY = 1024 * 1024
MAX_BYTES = 32 * 1024 * 1024
_SKIP = ("HTTP_PREFER", "HTTP_ORIGIN", "HTTP_COOKIE")

Answer = tuple[int, str, tuple[tuple[str, str], ...], bytes]  # (version, status, headers, body)


class AnswerCache:
    """WSGI middleware around the Flask app (inside the journal's): see the module's docstring."""

    def __init__(self, app: Callable[..., Iterable[bytes]], state: Any) -> None:
        self.app = app
        self.state = state
        self._answers: dict[tuple[str, str, tuple[tuple[str, str], ...]], Answer] = {}
        self._bytes = 0
        self._newest = -1  # the version of what is kept
        self._lock = threading.Lock()  # for writers: readers take none

    def _key(self, environ: dict[str, Any]) -> tuple[str, str, tuple[tuple[str, str], ...]] | None:
        if environ.get("REQUEST_METHOD") != "GET":
            return None
        for name in _SKIP:
            if name in environ:
                return None
        path = environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING", "")
        if not path.startswith(PREFIX) or path == QUOTA or prefer.QUERY_PREFIX in query:
            return None
        headers = journal.request_headers(environ)
        return (path, query, headers) if headers is not None else None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        key = self._key(environ)
        if key is None:
            return self.app(environ, start_response)
        store = self.state.store
        try:
            version = store.sync()
        except Exception:  # the database is unreachable, say: the app answers with the envelope for it
            return self.app(environ, start_response)
        kept = self._answers.get(key)
        if kept is not None and kept[0] == version:
            _, status, headers, body = kept
            start_response(status, list(headers))
            recorder = self.state.extras.get("journal")
            if recorder is not None and recorder.size:
                recorder.record(journal.raw(environ, 200, len(body), key[2]))
            return [body]
        answered: list[tuple[str, list[tuple[str, str]]]] = []

        def noting(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], Any]:
            answered.append((status, headers))
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        result = self.app(environ, noting)
        if not answered or answered[0][0][:4] != "200 " or not self._quiet():
            return result
        body = drain(result)
        if len(body) <= MAX_BODY and self._unchanged(version):
            self._keep(key, (version, answered[0][0], tuple(answered[0][1]), body))
        return [body]

    def _unchanged(self, version: int) -> bool:
        try:
            return bool(self.state.store.sync() == version)
        except Exception:
            return False

    def _quiet(self) -> bool:
        chaos = self.state.extras.get("chaos")
        try:
            return chaos is None or bool(chaos.config().quiet)
        except Exception:
            return False

    def _keep(self, key: tuple[str, str, tuple[tuple[str, str], ...]], answer: Answer) -> None:
        with self._lock:
            if answer[0] > self._newest:  # the version moved on: what was kept before can never be replayed
                self._newest = answer[0]
                self._answers, self._bytes = {}, 0
            elif answer[0] < self._newest:
                return  # computed before a change another request has already seen
            old = self._answers.get(key)
            self._bytes += len(answer[3]) - (len(old[3]) if old is not None else 0)
            self._answers[key] = answer
            if len(self._answers) > MAX_ENTRIES or self._bytes > MAX_BYTES:
                items = list(self._answers.items())
                kept = dict(items[len(items) // 2 :])  # insertion order: the newer half stays
                self._answers = kept
                self._bytes = sum(len(value[3]) for value in kept.values())


def init_app(app: Flask, state: Any) -> None:
    if state.settings.live or state.settings.no_answer_cache:
        return
    app.wsgi_app = AnswerCache(app.wsgi_app, state)  # type: ignore[method-assign]
