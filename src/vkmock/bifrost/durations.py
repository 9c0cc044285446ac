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


# ---- Bifrost 1.5: no aliases, and Go's own ``time.ParseDuration`` underneath ------------------------------

_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3_600.0}
_GO_PART = re.compile(r"([0-9]*)(?:\.([0-9]*))?(ns|us|µs|μs|ms|s|m|h)")
_SUFFIX_HOURS = {"d": 24.0, "w": 168.0, "M": 720.0, "Y": 8_760.0}


def go_duration(text: str) -> float | None:
    """Seconds of a Go duration string as ``time.ParseDuration`` reads it (sign, fractions, several parts,
    the bare ``0``), or ``None`` when Go would refuse it."""
    if not isinstance(text, str) or not text:
        return None
    sign = 1.0
    rest = text
    if rest[0] in "+-":
        sign = -1.0 if rest[0] == "-" else 1.0
        rest = rest[1:]
    if rest == "0":
        return 0.0
    if not rest:
        return None
    total = 0.0
    position = 0
    while position < len(rest):
        match = _GO_PART.match(rest, position)
        if match is None:
            return None
        whole, fraction, unit = match.groups()
        if not whole and not fraction:  # "." or a unit alone
            return None
        value = float(whole or "0") + (float("0." + fraction) if fraction else 0.0)
        total += value * _GO_UNITS[unit]
        position = match.end()
    return sign * total


def parse_v15(text: str) -> float | None:
    """Seconds of a 1.5 reset duration (``ParseDuration`` in upstream's tables): ``Nd``/``Nw``/``NM``/``NY``
    are ``N`` hours times 24/168/720/8760 (``0d`` and ``-1d`` parse), anything else is a Go duration; no
    ``daily``-style aliases. ``None`` when it does not parse."""
    if not isinstance(text, str) or not text:
        return None
    hours = _SUFFIX_HOURS.get(text[-1])
    if hours is not None:
        base = go_duration(text[:-1] + "h")
        return None if base is None else base * hours / 1.0
    return go_duration(text)
