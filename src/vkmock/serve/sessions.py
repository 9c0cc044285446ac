"""Dashboard sessions and WebSocket tickets, as upstream's session handler keeps them.

``POST /api/session/login`` makes a session: a random token, valid 30 days, sent back as the ``token`` cookie;
the cookie then authenticates API calls that carry no ``Authorization`` header. ``POST /api/session/ws-ticket``
makes a ticket: 64 hex characters, valid 30 seconds, good for one WebSocket connection (``/ws?ticket=``).

Both live in the store's meta rows, so every worker process of a ``--workers N`` server
knows a session or a ticket another worker made. A process reads them again only when the store version has
moved. Taking a ticket is a read then a write: two workers that race for one ticket within the same
millisecond may both accept it (one process serialises its own threads). Expiry uses the wall clock, never
the world's clock (``--now``/``--live``): a login must not expire because a demo clock jumped a year.

No Flask here.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from vkmock.serve.store import Store

SESSION_SECONDS = 30 * 24 * 3600
TICKET_SECONDS = 30
#: A bound on what is kept: the oldest sessions go first when a login would pass it.
MAX_SESSIONS = 1000
MAX_TICKETS = 1000
NO_SESSION = "dummy-session"  # the session a ticket is bound to when auth is off, as upstream names it
BY_CREDENTIAL = "credential"  # a ticket asked for with a Bearer token that is not a session (vkmock's --token)


class _Kept:
    """One JSON object in the store's meta rows, read again only after a write (``Store.cached``)."""

    def __init__(self, store: Store, key: str) -> None:
        self.store = store
        self.key = key

    def get(self) -> dict[str, Any]:
        value = self.store.cached(("meta", self.key), lambda: json.loads(self.store.get_meta(self.key) or "{}"))
        return dict(value)

    def set(self, value: dict[str, Any]) -> None:
        self.store.set_meta(self.key, json.dumps(value, sort_keys=True))


class Sessions:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._sessions = _Kept(store, "dashboard.sessions")
        self._tickets = _Kept(store, "dashboard.tickets")
        self._clock = clock
        self._lock = threading.Lock()

    # ---- sessions ------------------------------------------------------------------------------------------

    def create(self) -> tuple[str, float]:
        """A new session token and the instant (epoch seconds) it expires."""
        now = self._clock()
        token = str(uuid.uuid4())
        expires = now + SESSION_SECONDS
        with self._lock:
            kept = {t: e for t, e in self._sessions.get().items() if e > now}
            for old in sorted(kept, key=kept.__getitem__)[: max(0, len(kept) - MAX_SESSIONS + 1)]:
                del kept[old]
            kept[token] = expires
            self._sessions.set(kept)
        return token, expires

    def valid(self, token: str | None) -> bool:
        if not token:
            return False
        expires = self._sessions.get().get(token)
        return expires is not None and expires > self._clock()

    def delete(self, token: str | None) -> None:
        if not token:
            return
        with self._lock:
            kept = self._sessions.get()
            if kept.pop(token, None) is not None:
                self._sessions.set(kept)

    # ---- WebSocket tickets ------------------------------------------------------------------------------

    def issue_ticket(self, session: str, remember: bool = True) -> str:
        """A one-use ticket for ``session``; with ``remember=False`` (auth off: nobody checks tickets) it is
        only made, not kept, so that a dashboard reconnecting costs no write."""
        ticket = secrets.token_hex(32)
        if not remember:
            return ticket
        now = self._clock()
        with self._lock:
            kept = {t: v for t, v in self._tickets.get().items() if v[1] > now}
            for old in sorted(kept, key=lambda t: kept[t][1])[: max(0, len(kept) - MAX_TICKETS + 1)]:
                del kept[old]
            kept[ticket] = [session, now + TICKET_SECONDS]
            self._tickets.set(kept)
        return ticket

    def take_ticket(self, ticket: str | None) -> str | None:
        """The session ``ticket`` was issued for, consuming it; ``None`` for an unknown or expired ticket, or
        one whose session has ended since."""
        if not ticket:
            return None
        with self._lock:
            kept = self._tickets.get()
            found = kept.pop(ticket, None)
            if found is None:
                return None
            self._tickets.set(kept)
        session, expires = found
        if expires <= self._clock():
            return None
        if session not in (NO_SESSION, BY_CREDENTIAL) and not self.valid(session):
            return None
        return str(session)
