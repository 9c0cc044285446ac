"""A living world for demos (``--live``): usage accrues, budgets and rate limits reset, the database lags.

The clock. Virtual time starts at the world's anchor (``--now``) and runs at ``speed`` virtual seconds per
real second. ``POST /_vkmock/clock`` freezes it (at the start of the current virtual second), resumes it,
advances it (``{"advance": "1d"}``) or changes its speed (``{"speed": 60}``); ``{"flush": true}`` writes the
live counters to the database at once. The clock's state is kept in the store, so every worker of a
``--workers N`` server reads the same time. New keys are stamped with virtual time. A reset
(``POST /_vkmock/reset``, a fixture load or a hot reload) rewinds the clock to the anchor.

The counters. Every counter is a pure function of (virtual time, the key as stored):

- a key's traffic is steady and deterministic: its pace is drawn from a hash of the key and budget ids and
  scaled by its models' prices (an ``opus`` or ``gpt-4.1`` key burns its budget faster than a ``mini`` or
  ``flash`` one), so that a budget spends 15 % to 260 % of its limit per period and a rate limit 5 % to 90 %
  of its max; inactive keys send nothing;
- usage grows from the budget's (or rate limit's) ``updated_at``, its ``last_reset`` or the instant the world
  went live, whichever is latest, and stops at the limit (requests over budget are refused upstream);
- a budget or counter resets when its ``reset_duration`` has passed: rolling periods at
  ``last_reset + n * duration``, calendar-aligned budgets (``calendar_aligned`` with ``1d``, ``1w``,
  ``1M``, ``1Y`` or an alias) at the start of the UTC day, ISO week, month or year; ``last_reset`` moves
  there and the usage starts again from 0.

The two views, as upstream's in-memory store and database: ``from_memory=true`` shows the counters as of now
(an overlay on the store's memory view), the database view shows them as of the last flush, every
``--flush-interval`` (a normal store write that bumps the version; ``0`` flushes only on request). A flush
stamps a changed budget or rate limit's ``updated_at``, exactly as the memory view shows it, so the two views
agree after a flush. Before a ``PUT`` the key is flushed first, so an update never loses unflushed usage.
The counters are shown at whole virtual seconds; on a clock faster than four times real time they move in
steps of ``speed / 4`` virtual seconds, so the memory view is rebuilt at most about four times a real second.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import threading
import time
import traceback
from collections.abc import Hashable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, request

from vkmock.bifrost import durations
from vkmock.bifrost.v1_4 import world as fakes
from vkmock.clock import format_ts, parse_ts
from vkmock.control.runtime import WORLD_KEY, Shared, span
from vkmock.errors import BadRequest
from vkmock.jsonio import go_dumps_str, go_number
from vkmock.serve.store import Store
from vkmock.settings import Settings

CLOCK_KEY = "live_clock"
MAX_SPEED = 1_000_000.0
STEPS_PER_SECOND = 4  # the live counters move at most this often per real second on a fast clock
LATEST = datetime(9000, 1, 1, tzinfo=UTC).timestamp()
# relative price of a model (1 = a mid-range chat model); the first pattern a model name contains wins
MODEL_COST = (
    ("embed", 0.05),
    ("opus", 5.0),
    ("o3", 2.5),
    ("reasoner", 2.0),
    ("mini", 0.25),
    ("haiku", 0.3),
    ("flash", 0.2),
    ("small", 0.3),
    ("8b", 0.1),
    ("9b", 0.1),
    ("instant", 0.1),
    ("nemo", 0.2),
    ("nova", 0.6),
    ("titan", 0.3),
    ("gpt-4.1", 1.6),
    ("gpt-4o", 1.5),
    ("sonnet", 1.5),
    ("pro", 1.3),
    ("large", 1.4),
    ("grok-3", 1.5),
    ("405b", 1.8),
    ("70b", 0.7),
    ("llama", 0.5),
    ("command-r-plus", 1.2),
)


def validate(settings: Settings) -> None:
    try:
        if span(settings.flush_interval, "s") < 0:
            raise ValueError("must not be negative")
    except ValueError as exc:
        raise ValueError(f"--flush-interval: {exc}") from exc


# ---- pace: deterministic traffic per key -----------------------------------------------------------------


def _unit(*parts: Any) -> float:
    """A number in [0, 1) from a hash of ``parts`` (stable across runs and processes)."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def model_cost(model: str) -> float:
    lowered = model.lower()
    return next((cost for pattern, cost in MODEL_COST if pattern in lowered), 1.0)


def config_cost(config: dict[str, Any]) -> float:
    models = config.get("allowed_models") or fakes.MODELS.get(str(config.get("provider")), [])
    return sum(map(model_cost, models)) / len(models) if models else 1.0


def key_cost(record: dict[str, Any]) -> float:
    configs = record.get("provider_configs") or []
    weights = [max(float(pc.get("weight") or 0), 0.0) for pc in configs]
    if not configs:
        return 1.0
    if sum(weights) <= 0:
        weights = [1.0] * len(configs)
    return sum(w * config_cost(pc) for w, pc in zip(weights, configs, strict=True)) / sum(weights)


def _period(duration: str) -> float:
    try:
        return durations.seconds(duration)
    except (ValueError, TypeError):
        return 0.0


def budget_pace(budget: dict[str, Any], owner: str, cost: float) -> float:
    """Dollars per virtual second."""
    period = _period(budget.get("reset_duration", ""))
    if period <= 0:
        return 0.0
    share = 0.15 + 1.15 * _unit(owner, budget.get("id"), "budget")
    return float(budget["max_limit"]) * share * math.sqrt(min(max(cost, 0.25), 4.0)) / period


def counter_pace(maximum: float, duration: str, owner: str, kind: str) -> float:
    """Tokens or requests per virtual second."""
    period = _period(duration)
    return maximum * (0.05 + 0.85 * _unit(owner, kind)) / period if period > 0 else 0.0


# ---- periods --------------------------------------------------------------------------------------------


def calendar_start(moment: float, unit: str) -> float:
    day = datetime.fromtimestamp(moment, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "w":
        day -= timedelta(days=day.weekday())
    elif unit == "M":
        day = day.replace(day=1)
    elif unit == "Y":
        day = day.replace(month=1, day=1)
    return day.timestamp()


def period_start(last: float, now: float, duration: str, aligned: bool) -> float:
    """The start of the period ``now`` falls in, given the last reset (``last`` when no reset is due)."""
    length = _period(duration)
    if length <= 0 or now <= last:
        return last
    text = durations.ALIASES.get(duration.lower(), duration)
    unit = durations.calendar_unit(text)
    if aligned and unit and text[:-1] in ("1", ""):
        start = calendar_start(now, unit)
        return start if start > last else last
    if now - last < length:
        return last
    return last + math.floor((now - last) / length) * length


# ---- advancing one key ------------------------------------------------------------------------------------


def _ts(text: Any, default: float) -> float:
    try:
        return parse_ts(text).timestamp()
    except (ValueError, TypeError):
        return default


def _advance_budget(budget: dict[str, Any], now: float, epoch: float, pace: float, aligned: bool = False) -> bool:
    duration = budget.get("reset_duration", "")
    last = _ts(budget.get("last_reset"), epoch)
    base = float(budget.get("current_usage") or 0)
    limit = float(budget.get("max_limit") or 0)
    start = period_start(last, now, duration, aligned or bool(budget.get("calendar_aligned")))
    if start > last:
        usage = min(limit, pace * max(0.0, now - max(start, epoch)))
        budget["last_reset"] = format_ts(datetime.fromtimestamp(start, UTC))
    else:
        since = max(_ts(budget.get("updated_at"), epoch), last, epoch)
        usage = min(max(base, limit), base + pace * max(0.0, now - since))
    usage = go_number(round(usage, 4))
    if start <= last and usage == budget.get("current_usage"):
        return False
    budget["current_usage"] = usage
    budget["updated_at"] = format_ts(datetime.fromtimestamp(now, UTC))
    return True


def _advance_rate_limit(limit: dict[str, Any], now: float, epoch: float, owner: str, active: bool) -> bool:
    changed = False
    for kind in ("token", "request"):
        maximum, duration = limit.get(f"{kind}_max_limit"), limit.get(f"{kind}_reset_duration")
        if not maximum or not duration or _period(duration) <= 0:
            continue
        pace = counter_pace(float(maximum), duration, owner, f"{limit.get('id')}:{kind}") if active else 0.0
        last = _ts(limit.get(f"{kind}_last_reset"), epoch)
        base = int(limit.get(f"{kind}_current_usage") or 0)
        start = period_start(last, now, duration, False)
        if start > last:
            usage = min(int(maximum), int(pace * max(0.0, now - max(start, epoch))))
            limit[f"{kind}_last_reset"] = format_ts(datetime.fromtimestamp(start, UTC))
        else:
            since = max(_ts(limit.get("updated_at"), epoch), last, epoch)
            usage = min(max(base, int(maximum)), base + int(pace * max(0.0, now - since)))
        if start > last or usage != base:
            limit[f"{kind}_current_usage"] = usage
            changed = True
    if changed:
        limit["updated_at"] = format_ts(datetime.fromtimestamp(now, UTC))
    return changed


def _budgets(owner: dict[str, Any]) -> list[dict[str, Any]]:
    """An owner's budgets: Bifrost 1.4's single ``budget`` or 1.5's ``budgets`` list."""
    single = owner.get("budget")
    many = owner.get("budgets")
    return ([single] if isinstance(single, dict) else []) + [b for b in many or [] if isinstance(b, dict)]


def advance_record(record: dict[str, Any], now: float, epoch: float) -> dict[str, Any] | None:
    """``record`` (changed in place) with its counters at virtual time ``now``; ``None`` if nothing moved."""
    active = bool(record.get("is_active", True))
    owner = str(record.get("id"))
    changed = False
    aligned = bool(record.get("calendar_aligned"))  # 1.5: the key's flag aligns its budgets' periods
    cost = key_cost(record)
    for budget in _budgets(record):
        pace = budget_pace(budget, owner, cost) if active else 0.0
        changed |= _advance_budget(budget, now, epoch, pace, aligned)
    if isinstance(record.get("rate_limit"), dict):
        changed |= _advance_rate_limit(record["rate_limit"], now, epoch, owner, active)
    for config in record.get("provider_configs") or []:
        config_owner = f"{owner}:{config.get('id')}"
        for budget in _budgets(config):
            pace = budget_pace(budget, config_owner, config_cost(config)) if active else 0.0
            changed |= _advance_budget(budget, now, epoch, pace, aligned)
        if isinstance(config.get("rate_limit"), dict):
            changed |= _advance_rate_limit(config["rate_limit"], now, epoch, config_owner, active)
    return record if changed else None


# ---- the clock --------------------------------------------------------------------------------------------


class Clock:
    """Virtual time, shared by every worker through the store."""

    def __init__(self, store: Store, anchor: str) -> None:
        self.anchor = parse_ts(anchor).timestamp()
        self.shared = Shared(store, CLOCK_KEY, self._initial)
        self._lock = threading.Lock()
        if self.shared.stored() is None:
            self.shared.set(self._initial())

    def _initial(self) -> dict[str, Any]:
        return {
            "virtual": self.anchor,
            "real": time.time(),
            "speed": 1.0,
            "frozen": False,
            "epoch": self.anchor,
        }

    @staticmethod
    def _at(state: dict[str, Any]) -> float:
        if state["frozen"]:
            return float(state["virtual"])
        return min(
            LATEST, float(state["virtual"]) + (time.time() - float(state["real"])) * float(state["speed"])
        )

    def seconds(self) -> float:
        return self._at(self.shared.get())

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.seconds(), UTC)

    def state(self) -> dict[str, Any]:
        return self.shared.get()

    def change(
        self,
        *,
        freeze: bool | None = None,
        speed: float | None = None,
        advance: float = 0.0,
        rewind: bool = False,
    ) -> dict[str, Any]:
        with self._lock:
            state = self.shared.get()
            moment = self.anchor if rewind else self._at(state)
            if freeze and not state["frozen"]:
                moment = math.floor(moment)  # stop at the start of the virtual second the views show
            if moment + advance > LATEST:
                raise BadRequest(f"the clock cannot go past {format_ts(datetime.fromtimestamp(LATEST, UTC))}")
            state.update(virtual=moment + advance, real=time.time())
            if rewind:
                state["epoch"] = self.anchor
            if freeze is not None:
                state["frozen"] = freeze
            if speed is not None:
                state["speed"] = speed
            return self.shared.set(state)


class Overlay:
    """The store's memory view as of now: every counter advanced to the current virtual second."""

    def __init__(self, live: Live) -> None:
        self.live = live

    def tick(self) -> Hashable:
        return self.live.moment()

    def doc(self, text: str) -> str:
        if "current_usage" not in text:
            return text
        now, epoch = self.live.moment()
        advanced = advance_record(json.loads(text), now, epoch)
        return text if advanced is None else go_dumps_str(advanced)


class Live:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.clock = Clock(store, settings.now)
        self.interval = span(settings.flush_interval, "s")
        self.lock = threading.RLock()  # a flush never interleaves with a world reset
        self.last_flush: float | None = None
        self.overlay = Overlay(self)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def moment(self) -> tuple[float, float]:
        """(the virtual instant the counters are shown at, the instant the world went live).

        The current virtual second; on a fast clock a coarser step, so that the counters are recomputed at
        most about four times per real second whatever the speed (a frozen clock shows its exact second).
        """
        state = self.clock.state()
        step = 1.0 if state["frozen"] else max(1.0, math.floor(float(state["speed"]) / STEPS_PER_SECOND))
        return float(math.floor(Clock._at(state) / step) * step), float(state["epoch"])

    def flush(self, ids: list[str] | None = None) -> int:
        """Write the live counters to the database (every key, or ``ids``); returns how many keys changed."""
        with self.lock:
            now, epoch = self.moment()
            changed = self.store.rewrite(lambda record: advance_record(record, now, epoch), ids)
            if ids is None:
                self.last_flush = now
            return changed

    def reset_world(self, world: fakes.World) -> None:
        with self.lock:
            self.store.reset(world)
            self.clock.change(rewind=True)
            self.last_flush = None  # as at start: the rewound clock has not flushed yet

    def control(self, body: Any) -> dict[str, Any]:
        """Apply a ``POST /_vkmock/clock`` body: any of ``freeze``, ``advance``, ``speed``, ``flush``."""
        if not isinstance(body, dict):
            raise BadRequest(
                'the clock takes a JSON object such as {"freeze": true}, {"advance": "1d"}, '
                '{"speed": 60} or {"flush": true}'
            )
        unknown = sorted(set(body) - {"freeze", "advance", "speed", "flush"})
        if unknown:
            raise BadRequest(
                f"unknown clock field(s) {', '.join(unknown)}; use freeze, advance, speed, flush"
            )
        freeze, advance, speed, flush = (
            body.get("freeze"),
            body.get("advance"),
            body.get("speed"),
            body.get("flush"),
        )
        if freeze is not None and not isinstance(freeze, bool):
            raise BadRequest("freeze must be true (stop the clock) or false (let it run)")
        if flush is not None and not isinstance(flush, bool):
            raise BadRequest("flush must be true or false")
        seconds = 0.0
        if advance is not None:
            if not isinstance(advance, str) or not durations.is_valid(advance):
                raise BadRequest(f"advance must be a duration such as 90s, 1h, 1d, 1w or 1M, not {advance!r}")
            seconds = durations.seconds(advance)
        if speed is not None and (
            isinstance(speed, bool) or not isinstance(speed, int | float) or not 0 < speed <= MAX_SPEED
        ):
            raise BadRequest(f"speed must be a number above 0 and at most {MAX_SPEED:g} (use freeze to stop)")
        if freeze is not None or speed is not None or seconds:
            with self.lock:
                self.clock.change(
                    freeze=freeze, speed=float(speed) if speed is not None else None, advance=seconds
                )
        flushed = self.flush() if flush else None
        return self.describe(flushed)

    def describe(self, flushed: int | None = None) -> dict[str, Any]:
        state = self.clock.state()
        body: dict[str, Any] = {
            "live": True,
            "now": format_ts(datetime.fromtimestamp(Clock._at(state), UTC)),
            "frozen": bool(state["frozen"]),
            "speed": go_number(float(state["speed"])),
            "live_since": format_ts(datetime.fromtimestamp(float(state["epoch"]), UTC)),
            "flush_interval_seconds": go_number(self.interval),
            "last_flush": None
            if self.last_flush is None
            else format_ts(datetime.fromtimestamp(self.last_flush, UTC)),
        }
        if flushed is not None:
            body["flushed"] = flushed
        return body

    # ---- the flusher thread ----

    def start(self) -> None:
        if self.interval > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="vkmock-live-flush", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception:  # keep flushing; the operator sees why on stderr
                print("vkmock: live flush failed", file=sys.stderr)
                traceback.print_exc()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def before_request(self) -> None:
        """Flush a key before it is updated, so the update keeps the usage it has gathered."""
        vk_id = (request.view_args or {}).get("vk_id")
        if request.method == "PUT" and request.blueprint == "bifrost" and vk_id:
            self.flush([vk_id])


def reset_world(state: Any, world: fakes.World, origin: dict[str, Any] | None = None) -> None:
    """Load ``world`` into the store; with ``--live`` the clock rewinds to the anchor in the same step.
    ``origin`` (``runtime.world_origin``) is recorded as what the store now holds."""
    live = state.extras.get("live")
    if live is None:
        state.store.reset(world)
    else:
        live.reset_world(world)
    if origin is not None:
        state.store.set_meta(WORLD_KEY, json.dumps(origin))


def init_app(app: Flask, state: Any) -> None:
    if not state.settings.live:
        return
    live = Live(state.store, state.settings)
    state.extras["live"] = live
    state.now = live.clock.now
    state.store.set_overlay(live.overlay)
    app.before_request(live.before_request)
    live.start()
