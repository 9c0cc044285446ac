"""One error tree and one envelope builder: every error vkmock sends is a Bifrost ``BifrostError``.

The tree::

    VkmockError (vkmock.exceptions: the root of every error vkmock raises on purpose)
    └── ApiError                status, message, upstream_status: an answer in the envelope
    ├── BadRequest              400  malformed JSON, wrong types, a broken validation rule
    ├── Unauthorized            401  missing or wrong credentials
    ├── Forbidden               403  admin routes from a non-loopback client without a token
    ├── NotFound                404  unknown key, route, or a reference named in a body
    ├── MethodNotAllowed        405  (carries the allowed methods for the ``Allow`` header)
    ├── Conflict                409  duplicate name, or a body that conflicts with the stored key
    ├── PayloadTooLarge         413  body over ``--max-body``
    ├── InternalError           500  never raised for bad input; a bug or an injected fault
    └── ServiceUnavailable      503  the database (PostgreSQL ``--db``) is down or did not answer in time

``upstream_status`` is the status real Bifrost answers for the same input when it differs (it answers 500 to
several input errors). ``vkmock serve --upstream-quirks`` sends that status instead; the message is the same.
"""

from __future__ import annotations

from typing import Any

from vkmock.exceptions import VkmockError
from vkmock.jsonio import go_dumps

__all__ = [
    "ApiError",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "InternalError",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "ServiceUnavailable",
    "Unauthorized",
    "VkmockError",
    "envelope",
    "envelope_bytes",
]

UPDATE_PREFIX = "Failed to update virtual key: "
#: upstream's message when an operation fails inside the server (a 500), by (method, spec path); what
#: ``--fault-rate`` and ``Prefer: code=500`` answer
FAILED = {
    ("GET", "/api/governance/virtual-keys"): "Failed to retrieve virtual keys",
    ("POST", "/api/governance/virtual-keys"): "Failed to create virtual key",
    ("GET", "/api/governance/virtual-keys/{vk_id}"): "Failed to retrieve virtual key",
    ("PUT", "/api/governance/virtual-keys/{vk_id}"): "Failed to update virtual key",
    ("DELETE", "/api/governance/virtual-keys/{vk_id}"): "Failed to delete virtual key",
}


class ApiError(VkmockError):
    """An error answered in Bifrost's envelope with ``status`` (``upstream_status`` under --upstream-quirks)."""

    status = 500

    def __init__(self, message: str, *, upstream_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.upstream_status = upstream_status

    def status_for(self, upstream_quirks: bool) -> int:
        if upstream_quirks and self.upstream_status is not None:
            return self.upstream_status
        return self.status

    def prefixed(self, prefix: str) -> ApiError:
        """The same error with ``prefix`` in front of its message (PUT wraps most messages)."""
        message = prefix + self.message
        # a copy of this very error (its status, ``allowed`` and whatever else its class carries), without
        # calling its ``__init__``: the subclasses take other arguments than ``message``
        clone = type(self).__new__(type(self), message)
        clone.__dict__.update(self.__dict__)
        clone.args = (message,)
        clone.message = message
        return clone


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401

    def __init__(self, message: str = "Unauthorized", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class MethodNotAllowed(ApiError):
    status = 405

    def __init__(self, message: str, *, allowed: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.allowed = allowed or []


class Conflict(ApiError):
    status = 409


class PayloadTooLarge(ApiError):
    status = 413


class InternalError(ApiError):
    status = 500


class ServiceUnavailable(ApiError):
    status = 503


def envelope(status: int, message: str) -> dict[str, Any]:
    """The body upstream's ``SendError`` produces, field for field."""
    return {
        "is_bifrost_error": False,
        "status_code": status,
        "error": {"message": message},
        "extra_fields": {},
    }


def envelope_bytes(status: int, message: str) -> bytes:
    return go_dumps(envelope(status, message))
