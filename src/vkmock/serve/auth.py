"""Who may call the Bifrost API: the three modes of ``Settings.auth_mode``.

- ``any`` (default, like Prism): any well-formed ``Authorization`` passes: ``Bearer <token>`` or
  ``Basic base64(user:pass)``. Refused: a virtual key (``Bearer sk-bf-...``), as upstream refuses it on
  management APIs, and a credential that contains the word ``invalid`` (any case), so that a frontend can see
  its 401 path with ``Bearer invalid`` and contract tools that probe with a marked-invalid credential see auth
  enforced.
- ``strict``: only the ``--token`` values (Bearer) and ``--basic USER:PASS`` pairs (Basic, or Bearer with the
  base64 pair, which upstream also accepts) pass.
- ``off``: every request passes, as an upstream server without auth configured behaves.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from vkmock.settings import Settings


def _decode_basic(value: str) -> str | None:
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return decoded if ":" in decoded else None


def _one_of(candidate: str, allowed: tuple[str, ...]) -> bool:
    # compare against every value so the time taken does not tell which one is close
    matched = False
    for value in allowed:
        matched |= hmac.compare_digest(candidate.encode(), value.encode())
    return matched


def authorized(settings: Settings, header: str | None) -> bool:
    mode = settings.auth_mode
    if mode == "off":
        return True
    if not header:
        return False
    scheme, _, credential = header.strip().partition(" ")
    scheme = scheme.lower()
    credential = credential.strip()
    if not credential:
        return False
    if scheme == "bearer":
        if credential.lower().startswith("sk-bf-"):
            return False
        if mode == "any":
            return "invalid" not in credential.lower()
        pair = _decode_basic(credential)
        return _one_of(credential, settings.tokens) or (pair is not None and _one_of(pair, settings.basic))
    if scheme == "basic":
        pair = _decode_basic(credential)
        if pair is None:
            return False
        if mode == "any":
            return "invalid" not in pair.lower()
        return _one_of(pair, settings.basic)
    return False
