"""Time as Bifrost writes it (Go's RFC3339Nano in UTC) and the anchor the seeded world is laid out around."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_FRACTION = re.compile(r"\.(\d+)")


def format_ts(moment: datetime) -> str:
    """``2026-03-11T09:39:10.254089Z``: UTC, trailing zeros of the fraction dropped, as Go prints it."""
    moment = moment.astimezone(UTC)
    if moment.year < 1000:  # strftime's %Y, kept for these (isoformat pads the year to four digits)
        text = moment.strftime("%Y-%m-%dT%H:%M:%S")
        if moment.microsecond:
            text += ("." + f"{moment.microsecond:06d}").rstrip("0")
        return text + "Z"
    # isoformat is several times faster than strftime: 2026-03-11T09:39:10[.254089]+00:00
    text = moment.isoformat()[:-6]
    return (text.rstrip("0") if moment.microsecond else text) + "Z"


def parse_ts(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (nanoseconds are cut to microseconds); ``ValueError`` when it is not one."""
    if not isinstance(text, str) or "T" not in text.upper():
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    trimmed = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    moment = datetime.fromisoformat(trimmed.replace("z", "Z"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {text!r}")
    return moment.astimezone(UTC)


def micros(moment: datetime) -> int:
    """Microseconds since the epoch: the sort key for ``created_at``."""
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def ts_micros(text: str) -> int:
    return micros(parse_ts(text))


def utcnow() -> datetime:
    return datetime.now(UTC)


__all__ = ["format_ts", "micros", "parse_ts", "timedelta", "ts_micros", "utcnow"]
