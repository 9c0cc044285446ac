"""Latency and faults: slow answers, injected 5xx, and broken connections, all bounded in time.

Latency (``--latency``, ``PUT /_vkmock/settings``; ``Prefer: delay=MS`` overrides it for one request):

- ``0`` (or ``off``): none, the default;
- ``50ms``, ``1.5s``, ``50`` (milliseconds): always that long;
- ``20-200ms``, ``20ms-2s``: uniform between the two;
- ``lognormal:80ms`` or ``lognormal:80ms:0.9``: log-normal with that median and shape sigma (default 0.5), the
  long tail real networks have.

Every delay is at most 60 s. Latency and faults act on the Bifrost API only (``/api/...``), after
authentication; vkmock's own routes, the spec and CORS preflights are never slowed down or broken.

Faults:

- ``--fault-rate P`` answers that share of requests (0 to 1) with a 500 (upstream's message for the operation)
  or a 503 (with ``Retry-After: 1``), chosen at random, before the request is processed: nothing is stored.
  Requests whose ``Prefer`` chooses the answer (code, example, dynamic, scenario) are never picked.
- ``Prefer: fault=KIND`` breaks the transport *after* the request was processed (a write is stored, as when a
  real network drops the answer): ``reset`` closes the connection with a TCP reset and no answer; ``empty``
  sends the status and headers with an empty body; ``malformed`` sends the first half of the body (invalid
  JSON, with a matching Content-Length); ``timeout`` sends nothing and holds the connection for
  ``--fault-timeout`` (30 s by default, at most 300 s), then closes it; the worker thread is freed early when
  the client gives up. ``reset`` and ``timeout`` need waitress (the default server): it is the server whose
  connection vkmock can reach; other servers answer them with 400.

Answers broken or injected by vkmock carry ``X-Vkmock-Fault`` (when any answer is sent at all).
"""

from __future__ import annotations

import math
import random
import re
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, request

from vkmock.control import prefer
from vkmock.control.runtime import OncePerRequest, Shared, span
from vkmock.errors import FAILED, ApiError, BadRequest
from vkmock.jsonio import go_number
from vkmock.serve.server import connection_socket
from vkmock.serve.store import Store
from vkmock.settings import Settings

MAX_DELAY_S = 60.0
MAX_FAULT_TIMEOUT_S = 300.0
FAULT_KEY = "vkmock.fault"
TRANSPORT = ("reset", "empty", "malformed", "timeout")
RATE_FAULT = "fault-rate"
_AMOUNT = r"([0-9]+(?:\.[0-9]+)?)(ms|s)?"


class InjectedFault(ApiError):
    """A 500 or 503 injected by ``--fault-rate`` (rendered by the app's one handler)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _amount(number: str, unit: str | None, default_unit: str) -> float:
    value = float(number)
    return value / 1000 if (unit or default_unit) == "ms" else value


@dataclass(frozen=True)
class Latency:
    """A latency distribution; ``sample`` gives seconds."""

    kind: str  # none, fixed, uniform, lognormal
    low: float = 0.0
    high: float = 0.0
    sigma: float = 0.0
    text: str = "0"

    @classmethod
    def parse(cls, text: str) -> Latency:
        raw = (text or "").strip()
        lowered = raw.lower()
        if lowered in ("", "0", "off", "none", "0ms", "0s"):
            return cls("none", text="0")
        fixed = re.fullmatch(_AMOUNT, lowered)
        ranged = re.fullmatch(_AMOUNT + r"\s*-\s*" + _AMOUNT, lowered)
        lognormal = re.fullmatch(r"lognormal:" + _AMOUNT + r"(?::([0-9]+(?:\.[0-9]+)?))?", lowered)
        if fixed:
            value = _amount(fixed.group(1), fixed.group(2), "ms")
            latency = cls("fixed", value, value, text=raw)
        elif ranged:
            unit = ranged.group(4) or "ms"  # "20-200ms": the unit of the upper bound applies to both
            low = _amount(ranged.group(1), ranged.group(2) or unit, unit)
            high = _amount(ranged.group(3), ranged.group(4), unit)
            if low > high:
                raise ValueError(f"latency {raw!r}: the lower bound is above the upper bound")
            latency = cls("uniform", low, high, text=raw)
        elif lognormal:
            median = _amount(lognormal.group(1), lognormal.group(2), "ms")
            sigma = float(lognormal.group(3)) if lognormal.group(3) else 0.5
            if median <= 0 or not 0 < sigma <= 3:
                raise ValueError(f"latency {raw!r}: the median must be above 0 and sigma in (0, 3]")
            latency = cls("lognormal", median, median, sigma, text=raw)
        else:
            raise ValueError(
                f"invalid latency {raw!r}: write 0, 50ms, 1.5s, 20-200ms, 20ms-2s, lognormal:80ms "
                "or lognormal:80ms:0.9 (median and sigma); a bare number is milliseconds"
            )
        if latency.high > MAX_DELAY_S:
            raise ValueError(f"latency {raw!r}: at most {MAX_DELAY_S:g}s")
        return latency

    def sample(self, rng: random.Random) -> float:
        if self.kind == "none":
            return 0.0
        if self.kind == "fixed":
            return self.low
        if self.kind == "uniform":
            return rng.uniform(self.low, self.high)
        return min(MAX_DELAY_S, math.exp(rng.gauss(math.log(self.low), self.sigma)))


def fault_rate(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"fault rate must be a number from 0 to 1, not {value!r}")
    try:
        rate = float(value)
    except ValueError:
        raise ValueError(f"fault rate must be a number from 0 to 1, not {value!r}") from None
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"fault rate must be a number from 0 to 1, not {value!r}")
    return rate


def fault_timeout(value: Any) -> float:
    seconds = span(value, "s")
    if not 0 < seconds <= MAX_FAULT_TIMEOUT_S:
        raise ValueError(f"fault timeout must be above 0 and at most {MAX_FAULT_TIMEOUT_S:g}s, not {value!r}")
    return seconds


def validate(settings: Settings) -> None:
    """``ValueError`` naming the option when the chaos settings do not parse (checked before serving)."""
    for option, check in (
        ("--latency", lambda: Latency.parse(settings.latency)),
        ("--fault-rate", lambda: fault_rate(settings.fault_rate)),
        ("--fault-timeout", lambda: fault_timeout(settings.fault_timeout)),
    ):
        try:
            check()
        except ValueError as exc:
            raise ValueError(f"{option}: {exc}") from exc


@dataclass(frozen=True)
class Config:
    latency: Latency
    fault_rate: float
    fault_timeout: float
    raw: tuple[tuple[str, Any], ...]

    def public(self) -> dict[str, Any]:
        return {name: go_number(value) for name, value in self.raw}

    @property
    def quiet(self) -> bool:
        """True when no request is slowed down or failed unless it asks to be."""
        return self.latency.kind == "none" and self.fault_rate == 0


FIELDS = {"latency": Latency.parse, "fault_rate": fault_rate, "fault_timeout": fault_timeout}
SHARED_KEY = "chaos"


def defaults(settings: Settings) -> dict[str, Any]:
    """The chaos settings a server starts with: its options."""
    return {
        "latency": settings.latency,
        "fault_rate": float(settings.fault_rate),
        "fault_timeout": settings.fault_timeout,
    }


def start(settings: Settings, store: Store) -> None:
    """At a server's start (once, before any worker): the options replace the settings a --db file kept from
    an earlier run's ``PUT /_vkmock/settings``."""
    shared = Shared(store, SHARED_KEY, lambda: defaults(settings))
    stored = shared.stored()
    if stored is not None and stored != defaults(settings):
        shared.set(defaults(settings))


class Chaos:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.shared = Shared(store, SHARED_KEY, self.defaults)
        self.rng = random.Random(f"{settings.seed}:chaos")
        self._lock = threading.Lock()
        self._parsed: Config | None = None
        self._cached: tuple[int, Config] | None = None  # (store version, its config)
        # nothing is written here: an app is also made by a worker that replaces one that died, and the
        # settings changed at run time must survive it (``start`` resets them, once, when a server starts)

    def defaults(self) -> dict[str, Any]:
        return defaults(self.settings)

    def config(self) -> Config:
        """The settings in force, parsed once per store version (a change through any worker bumps it); the
        version is checked once per request, whoever asks first."""
        version = self.shared.store.sync()
        cached = self._cached
        if cached is not None and cached[0] == version:
            return cached[1]
        raw = self.shared.get()
        key = tuple(sorted(raw.items()))
        parsed = self._parsed
        if parsed is None or parsed.raw != key:
            parsed = Config(
                Latency.parse(raw["latency"]),
                fault_rate(raw["fault_rate"]),
                fault_timeout(raw["fault_timeout"]),
                key,
            )
            self._parsed = parsed
        self._cached = (version, parsed)
        return parsed

    def update(self, changes: Any) -> Config:
        """Apply a ``PUT /_vkmock/settings`` body (any subset of the fields); ``BadRequest`` when invalid."""
        if not isinstance(changes, dict):
            raise BadRequest(
                'settings must be a JSON object, e.g. {"latency": "20-200ms", "fault_rate": 0.05}'
            )
        unknown = sorted(set(changes) - set(FIELDS))
        if unknown:
            raise BadRequest(f"unknown setting(s) {', '.join(unknown)}; the settings are {', '.join(FIELDS)}")
        current = self.config().public()
        for name, value in changes.items():
            if name in ("latency", "fault_timeout") and not isinstance(value, str | int | float):
                raise BadRequest(f'{name} must be a string such as "20-200ms" or "30s"')
            try:
                FIELDS[name](value if name != "latency" else str(value))
            except ValueError as exc:
                raise BadRequest(f"{name}: {exc}") from exc
            current[name] = float(value) if name == "fault_rate" else str(value)
        self.shared.set(current)
        return self.config()

    def _random(self) -> float:
        with self._lock:
            return self.rng.random()

    def delay(self, config: Config) -> float:
        with self._lock:
            return config.latency.sample(self.rng)

    def before_request(self) -> None:
        config = self.config()
        if config.quiet and not prefer.asked(request.environ):
            return  # no latency, no fault rate and no preferences: nothing to do, whatever the route
        if not prefer.applies():
            return
        prefs = prefer.preferences()  # a malformed Prefer is a 400 here, after authentication
        if prefs.fault in ("reset", "timeout") and connection_socket(request.environ) is None:
            raise BadRequest(
                f"Prefer fault={prefs.fault} needs the waitress server (vkmock serve's default): "
                "this server does not let vkmock reach the connection"
            )
        if prefs.delay_ms is not None:
            seconds = prefs.delay_ms / 1000
            prefer.applied(f"delay={prefs.delay_ms}")
        else:
            seconds = self.delay(config)
        if seconds > 0:
            time.sleep(min(seconds, MAX_DELAY_S))
        if prefs.fault:
            request.environ[FAULT_KEY] = prefs.fault
            request.environ["vkmock.fault_timeout"] = config.fault_timeout
            prefer.applied(f"fault={prefs.fault}")
        elif not prefs.answers and config.fault_rate > 0 and self._random() < config.fault_rate:
            request.environ[FAULT_KEY] = RATE_FAULT
            found = prefer.operation()
            if self._random() < 0.5:
                raise InjectedFault(503, "Service Unavailable")
            key = (found[0], found[1]) if found else ("", "")
            raise InjectedFault(500, FAILED.get(key, "Internal server error"))

    def after_request(self, response: Response) -> Response:
        kind = request.environ.get(FAULT_KEY)  # set only by before_request, for a fault it chose
        if kind:
            response.headers["X-Vkmock-Fault"] = kind
            if kind == RATE_FAULT and response.status_code == 503:
                response.headers["Retry-After"] = "1"
        return response


# ---- breaking the transport -------------------------------------------------------------------------------


def _close_connection(environ: dict[str, Any], reset: bool) -> None:
    """Make waitress drop the connection without answering; with ``reset`` the close is a TCP RST."""
    from waitress.channel import ClientDisconnected

    sock = connection_socket(environ)
    if sock is not None and reset:
        # linger on with a zero timeout: close() aborts the connection with a RST instead of a FIN
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    raise ClientDisconnected("vkmock: injected fault")  # waitress closes the channel, writing nothing


def _hold(environ: dict[str, Any], seconds: float) -> None:
    """Wait up to ``seconds``, returning early when the client closes its end."""
    sock = connection_socket(environ)
    deadline = time.monotonic() + seconds
    watch = select.poll()  # not select(): it cannot watch a descriptor above 1023 (the server keeps 1,000)
    if sock is not None:
        try:
            watch.register(sock, select.POLLIN)
        except (OSError, ValueError):  # the connection is already closed
            return
    while (left := deadline - time.monotonic()) > 0:
        if sock is None:
            time.sleep(min(0.2, left))
            continue
        try:
            readable = watch.poll(min(200, max(1, int(left * 1000))))
            if readable and not sock.recv(1, socket.MSG_PEEK):
                return  # the client hung up: free this thread now
            if readable:
                time.sleep(min(0.2, left))  # a pipelined request is waiting; keep holding
        except BlockingIOError:
            continue
        except (OSError, ValueError):
            return


def drain(result: Iterable[bytes]) -> bytes:
    """A WSGI answer's whole body; the answer is closed (as the server would) whatever happens."""
    try:
        return b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


class FaultMiddleware:
    """WSGI middleware that breaks the answer of a request marked with ``environ['vkmock.fault']``."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not prefer.asked(environ):
            return self.app(environ, start_response)  # a transport fault is only ever asked for
        held: dict[str, Any] = {}

        def proxy(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], Any]:
            if environ.get(FAULT_KEY) in TRANSPORT:
                held["status"], held["headers"] = status, headers
                return lambda data: None
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        result = self.app(environ, proxy)
        kind = environ.get(FAULT_KEY)
        if kind not in TRANSPORT or "status" not in held:
            return result
        body = drain(result)
        if kind == "reset":
            _close_connection(environ, reset=True)
        if kind == "timeout":
            _hold(environ, float(environ.get("vkmock.fault_timeout", 30.0)))
            _close_connection(environ, reset=False)
        body = (body[: len(body) // 2] or b"{") if kind == "malformed" else b""  # malformed, or empty
        headers = [(k, v) for k, v in held["headers"] if k.lower() != "content-length"]
        start_response(held["status"], [*headers, ("Content-Length", str(len(body)))])
        return [body]


def init_app(app: Flask, state: Any) -> None:
    chaos = Chaos(state.settings, state.store)
    state.extras["chaos"] = chaos
    app.before_request(chaos.before_request)
    app.after_request(chaos.after_request)
    app.wsgi_app = FaultMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    # outside the fault middleware: the hooks, the views and the live clock share one version check a request
    app.wsgi_app = OncePerRequest(app.wsgi_app)  # type: ignore[method-assign]
