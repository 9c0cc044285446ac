"""Bifrost's reset durations: Go durations plus ``d``/``w``/``M``/``Y`` counts and four aliases.

``1m`` is one minute and ``1M`` is 30 days; ``Y`` is 365 days. The grammar is the spec's
``ResetDuration.pattern`` (a test proves the two are the same string).
"""

from __future__ import annotations

import re

PATTERN = (
    r"^(?:(?:[0-9]{1,4}(?:\.[0-9]{1,9})?(?:ns|us|µs|μs|ms|s|m|h)){1,6}"
    r"|[0-9]{1,4}(?:\.[0-9]{1,9})?[dwMY]"
    r"|[Dd][Aa][Ii][Ll][Yy]|[Ww][Ee][Ee][Kk][Ll][Yy]|[Mm][Oo][Nn][Tt][Hh][Ll][Yy]|[Yy][Ee][Aa][Rr][Ll][Yy])$"
)
_FULL = re.compile(PATTERN)
_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h|d|w|M|Y)")

DAY = 86_400.0
UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3_600.0,
    "d": DAY,
    "w": 7 * DAY,
    "M": 30 * DAY,
    "Y": 365 * DAY,
}
ALIASES = {"daily": "1d", "weekly": "1w", "monthly": "1M", "yearly": "1Y"}


def is_valid(text: str) -> bool:
    return isinstance(text, str) and _FULL.match(text) is not None


def seconds(text: str) -> float:
    """The length of a reset duration in seconds; ``ValueError`` when it does not parse."""
    if not is_valid(text):
        raise ValueError(f"invalid reset duration: {text!r}")
    text = ALIASES.get(text.lower(), text)
    return sum(float(number) * UNIT_SECONDS[unit] for number, unit in _PART.findall(text))


def calendar_unit(text: str) -> str | None:
    """``d``, ``w``, ``M`` or ``Y`` for durations that can align to the calendar, else ``None``."""
    text = ALIASES.get(text.lower(), text)
    return text[-1] if text and text[-1] in "dwMY" and is_valid(text) else None
