"""JSON in and out the way Bifrost's Go server does it.

Out: compact, ``<``, ``>`` and ``&`` escaped as ``\\u003c`` and friends, U+2028/2029 escaped, a trailing newline,
integral floats written without ``.0`` (Go writes ``100``, Python ``100.0``).

In: strict. Invalid UTF-8, ``NaN``/``Infinity`` literals, numbers that overflow a float, nesting deeper than
``MAX_DEPTH`` and empty bodies are all ``InvalidJSON`` (upstream answers every one with 400 "Invalid JSON").
A ``\\uD800``-``\\uDFFF`` escape without its pair is ``InvalidJSON`` too, like raw invalid UTF-8: such text
cannot be stored or sent back as UTF-8 (Go's decoder would put U+FFFD in its place; vkmock refuses rather
than keep a string other than the one it was sent).
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from vkmock.exceptions import VkmockError

MAX_DEPTH = 64

_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"})
_SPECIAL = ("<", ">", "&", "\u2028", "\u2029")
_BACKSLASH_PAIR = re.compile(r"\\(.)")
_GO_SHORT_ESCAPES = {"b": "\\u0008", "f": "\\u000c"}
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class InvalidJSON(VkmockError, ValueError):
    """The request body is not JSON upstream's decoder would accept."""


def go_number(value: Any) -> Any:
    """An integral float as an int, so it serialises as Go does (``100`` not ``100.0``)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    return value


def go_dumps_str(obj: Any) -> str:
    """``obj`` as compact JSON text the way Go's encoder writes it (without the trailing newline).

    orjson does the encoding (a 10,000-key world is written in a fraction of the standard library's time, with
    the same bytes for vkmock's data); what it cannot encode (an integer beyond 64 bits) goes through ``json``.
    Then Go's HTML-safe escapes of ``<``, ``>``, ``&`` and U+2028/2029, and its ``\\u0008``/``\\u000c``."""
    try:
        text = orjson.dumps(obj).decode("utf-8")
    except (orjson.JSONEncodeError, TypeError):
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if any(special in text for special in _SPECIAL):
        text = text.translate(_ESCAPES)
    if "\\b" in text or "\\f" in text:
        text = _BACKSLASH_PAIR.sub(lambda m: _GO_SHORT_ESCAPES.get(m.group(1), m.group(0)), text)
    return text


def go_dumps(obj: Any) -> bytes:
    """Serialise ``obj`` as Go's ``json.Encoder`` would, newline included."""
    return (go_dumps_str(obj) + "\n").encode("utf-8")


def _reject_constant(name: str) -> Any:
    raise InvalidJSON(f"{name} is not valid JSON")


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise InvalidJSON("number out of range")
    return value


def _depth_ok(data: bytes) -> bool:
    depth = 0
    deepest = 0
    in_string = False
    escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    return False
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return True


def parse_body(data: bytes) -> Any:
    """Decode a request body, raising ``InvalidJSON`` for anything upstream would refuse."""
    if not data.strip():
        raise InvalidJSON("empty body")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidJSON("body is not UTF-8") from exc
    if (data.count(b"[") + data.count(b"{") > MAX_DEPTH) and not _depth_ok(data):
        raise InvalidJSON("nesting too deep")
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_parse_float)
    except (ValueError, RecursionError) as exc:
        raise InvalidJSON(str(exc)) from exc
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
        raise InvalidJSON("a \\u escape names half of a UTF-16 surrogate pair")
    return value


def _has_lone_surrogate(value: Any) -> bool:
    """Whether a decoded value holds a lone surrogate (``json`` joins valid pairs into one character)."""
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(item) for item in value)
    return False
