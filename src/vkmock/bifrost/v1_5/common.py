"""Pieces every Bifrost 1.5 resource shares: decoding, budgets, rate limits, calendar periods.

Messages are upstream's, word for word. Statuses follow vkmock's rule for the whole project: upstream's 400s
stay 400; where upstream answers an input error with a 500 vkmock answers 400 when the body alone is wrong and
409 when it conflicts with stored state or repeats itself, and keeps upstream's status as ``upstream_status``
for ``--upstream-quirks``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from vkmock import spec
from vkmock.bifrost import durations
from vkmock.bifrost.v1_5.models import BudgetRequest, RateLimitRequest
from vkmock.clock import format_ts
from vkmock.errors import ApiError, BadRequest, Conflict
from vkmock.jsonio import go_number

Record = dict[str, Any]

RATE_LIMIT_FIELDS = ("token_max_limit", "token_reset_duration", "request_max_limit", "request_reset_duration")
BUDGET_ORDER = [
    "id", "max_limit", "reset_duration", "last_reset", "current_usage", "team_id", "virtual_key_id",
    "provider_config_id", "calendar_aligned", "config_hash", "created_at", "updated_at",
]
RATE_LIMIT_ORDER = [
    "id", "token_max_limit", "token_reset_duration", "token_current_usage", "token_last_reset",
    "request_max_limit", "request_reset_duration", "request_current_usage", "request_last_reset",
    "calendar_aligned", "config_hash", "created_at", "updated_at",
]


SPEC_NAME = "bifrost-1.5.yaml"


def schema_net(schema_name: str, raw: dict[str, Any], prefix: str = "") -> None:
    """What the 1.5 spec forbids and no upstream rule caught (vkmock's bounds) is a 400 naming the field; run
    after upstream's own checks, so their messages come first."""
    error = next(iter(spec.validator(schema_name, SPEC_NAME).iter_errors(raw)), None)
    if error is None:
        return
    where = "/".join(str(part) for part in error.instance_path) or "body"
    text = error.message if len(error.message) <= 200 else error.message[:200] + "..."
    raise BadRequest(f"{prefix}invalid request body at {where}: {text}")


def ordered(record: Record, order: list[str]) -> Record:
    """Fields in upstream's struct order (Go encodes struct fields in declaration order)."""
    known = {k: record[k] for k in order if k in record}
    return known | {k: v for k, v in record.items() if k not in known}


def new_id() -> str:
    return str(uuid.uuid4())


# ---- durations and the calendar ----------------------------------------------------------------------------


def parses(duration: str | None) -> bool:
    return durations.parse_v15(duration or "") is not None


def positive(duration: str) -> bool:
    seconds = durations.parse_v15(duration)
    return seconds is not None and seconds > 0


def period_start(moment: datetime, duration: str) -> datetime:
    """Where a calendar-aligned period containing ``moment`` began (UTC); other units start now."""
    moment = moment.astimezone(UTC)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    unit = duration[-1:] if duration else ""
    if unit == "d":
        return day
    if unit == "w":
        return day - timedelta(days=day.weekday())
    if unit == "M":
        return day.replace(day=1)
    if unit == "Y":
        return day.replace(month=1, day=1)
    return moment


# ---- budgets ---------------------------------------------------------------------------------------------


def duplicate_duration(message: str) -> ApiError:
    """A body that names one reset duration twice (upstream 400; the spec cannot express it, so 409)."""
    return Conflict(message, upstream_status=400)


def precheck_budgets(budgets: list[BudgetRequest], negative: str, bad_format: str, duplicate: str) -> None:
    """The handlers' 400 checks of a budget list, in order: negative limit, unparsable duration, repeat."""
    seen: set[str] = set()
    for budget in budgets:
        limit = budget.max_limit or 0.0
        duration = budget.reset_duration or ""
        if limit < 0:
            raise BadRequest(f"{negative}: {limit:.2f}")
        if not parses(duration):
            raise BadRequest(f"{bad_format}: {duration}")
        if duration in seen:
            raise duplicate_duration(f"{duplicate}: {duration}")
        seen.add(duration)


def validate_budget(budget: BudgetRequest) -> None:
    """upstream ``validateBudget`` then the Budget ``BeforeSave`` hook (both 500 upstream)."""
    limit = budget.max_limit or 0.0
    duration = budget.reset_duration or ""
    if limit <= 0:
        raise BadRequest(f"budget max limit cannot be negative or zero: {limit:.2f}", upstream_status=500)
    if not duration:
        raise BadRequest("budget reset duration is required", upstream_status=500)
    if not parses(duration):
        raise BadRequest(f"invalid budget reset duration format: {duration}", upstream_status=500)
    if not positive(duration):
        raise BadRequest(f"reset duration must be > 0: {duration}", upstream_status=500)


def new_budget(request: BudgetRequest, moment: datetime, owner: Record, aligned: bool) -> Record:
    """A new budget of ``owner`` (``{"virtual_key_id": ...}`` and the like); usage 0; ``last_reset`` is now, or
    the start of the calendar period when ``aligned``."""
    stamp = format_ts(moment)
    duration = request.reset_duration or ""
    budget: Record = {
        "id": new_id(),
        "max_limit": go_number(float(request.max_limit or 0)),
        "reset_duration": duration,
        "last_reset": format_ts(period_start(moment, duration)) if aligned else stamp,
        "current_usage": 0,
        **owner,
        "calendar_aligned": aligned,
        "config_hash": "",
        "created_at": stamp,
        "updated_at": stamp,
    }
    return ordered(budget, BUDGET_ORDER)


def reconcile_budgets(
    current: list[Record], wanted: list[BudgetRequest], moment: datetime, owner: Record, aligned: bool,
    *, team: bool = False,
) -> list[Record]:
    """The budget list after an update: matched by exact ``reset_duration`` (usage, ``last_reset``, id and
    ``created_at`` kept; ``max_limit`` updated), new durations created, unlisted ones dropped. For teams the
    per-budget ``calendar_aligned`` is honoured, and turning it on restarts the period."""
    by_duration = {b.get("reset_duration"): b for b in current}
    result: list[Record] = []
    for request in wanted:
        duration = request.reset_duration or ""
        old = by_duration.get(duration)
        validate_budget(request)
        if old is None:
            result.append(new_budget(request, moment, owner, bool(request.calendar_aligned) if team else aligned))
            continue
        budget = dict(old)
        budget["max_limit"] = go_number(float(request.max_limit or 0))
        if team:  # the request's flag replaces the stored one (absent is Go's false); turning it on restarts
            wanted_aligned = bool(request.calendar_aligned)
            if wanted_aligned and not old.get("calendar_aligned"):
                budget["last_reset"] = format_ts(period_start(moment, duration))
                budget["current_usage"] = 0
            budget["calendar_aligned"] = wanted_aligned
        budget["updated_at"] = format_ts(moment)
        result.append(budget)
    return result


# ---- rate limits -----------------------------------------------------------------------------------------


def validate_new_rate_limit(limit: RateLimitRequest, prefix: str = "") -> None:
    """upstream ``validateRateLimit`` then the RateLimit ``BeforeSave`` hook, for a limit being created
    (500 upstream, 400 here). ``prefix`` is ``Invalid rate limit: `` where a handler wraps the message."""
    for kind in ("token", "request"):
        maximum = getattr(limit, f"{kind}_max_limit")
        duration = getattr(limit, f"{kind}_reset_duration")
        if maximum is not None:
            if maximum <= 0:
                raise BadRequest(f"{prefix}rate limit {kind} max limit cannot be negative or zero: {maximum}",
                                 upstream_status=500 if not prefix else None)
            if not duration:
                raise BadRequest(f"{prefix}rate limit {kind} reset duration is required",
                                 upstream_status=500 if not prefix else None)
        if duration is not None and not parses(duration):
            raise BadRequest(f"{prefix}invalid rate limit {kind} reset duration format: {duration}",
                             upstream_status=500 if not prefix else None)
    before_save_rate_limit({f: getattr(limit, f) for f in RATE_LIMIT_FIELDS})


def before_save_rate_limit(limit: Record) -> None:
    """The RateLimit ``BeforeSave`` hook's checks of a stored or patched limit (500 upstream)."""
    for kind in ("token", "request"):
        maximum = limit.get(f"{kind}_max_limit")
        duration = limit.get(f"{kind}_reset_duration")
        if maximum is not None and maximum <= 0:
            raise BadRequest(f"{kind}_max_limit cannot be zero or negative: {maximum}", upstream_status=500)
        if maximum is not None and not duration:
            raise Conflict(f"{kind}_reset_duration is required when {kind}_max_limit is set", upstream_status=500)
        if duration:
            if not parses(duration):
                raise BadRequest(f"invalid {kind} reset duration format: {duration}", upstream_status=500)
            if not positive(duration):
                raise BadRequest(f"{kind} reset duration cannot be zero or negative: {duration}", upstream_status=500)


def new_rate_limit(request: RateLimitRequest, moment: datetime) -> Record:
    stamp = format_ts(moment)
    limit: Record = {"id": new_id()}
    for kind in ("token", "request"):
        for name in (f"{kind}_max_limit", f"{kind}_reset_duration"):
            if getattr(request, name) is not None:
                limit[name] = getattr(request, name)
        limit[f"{kind}_current_usage"] = 0
        limit[f"{kind}_last_reset"] = stamp
    limit.update(calendar_aligned=False, config_hash="", created_at=stamp, updated_at=stamp)
    return ordered(limit, RATE_LIMIT_ORDER)


def empty_rate_limit(request: RateLimitRequest) -> bool:
    return all(getattr(request, name) is None for name in RATE_LIMIT_FIELDS)


def patch_rate_limit(current: Record | None, request: RateLimitRequest, moment: datetime) -> Record | None:
    """A virtual key's (or provider config's) limit after an update: ``{}`` removes it; an existing one is
    patched field by field keeping its counters (only the save hook checks it); a new one is validated and
    created."""
    if empty_rate_limit(request):
        return None
    if current is None:
        validate_new_rate_limit(request)
        return new_rate_limit(request, moment)
    limit = dict(current)
    for name in RATE_LIMIT_FIELDS:
        value = getattr(request, name)
        if value is not None:
            limit[name] = value
    before_save_rate_limit(limit)
    limit["updated_at"] = format_ts(moment)
    return ordered(limit, RATE_LIMIT_ORDER)


def overwrite_rate_limit(current: Record | None, request: RateLimitRequest, moment: datetime) -> Record | None:
    """A team's or customer's limit after an update: both maxima null removes it; otherwise all four fields are
    overwritten (counters kept) and validated."""
    if request.token_max_limit is None and request.request_max_limit is None:
        return None
    validate_new_rate_limit(request)
    if current is None:
        return new_rate_limit(request, moment)
    limit = {k: v for k, v in current.items() if k not in RATE_LIMIT_FIELDS}
    for name in RATE_LIMIT_FIELDS:
        value = getattr(request, name)
        if value is not None:
            limit[name] = value
    limit["updated_at"] = format_ts(moment)
    return ordered(limit, RATE_LIMIT_ORDER)


def attach(record: Record, name: str, value: Record | None) -> None:
    """Set or clear ``<name>`` and ``<name>_id`` (``rate_limit``, ``budget``)."""
    if value is None:
        record.pop(name, None)
        record.pop(f"{name}_id", None)
    else:
        record[name] = value
        record[f"{name}_id"] = value["id"]
