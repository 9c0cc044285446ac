"""The root of vkmock's one error tree (no imports, so every layer can use it).

    VkmockError                     every error vkmock raises on purpose
    ├── ApiError (vkmock.errors)    an answer in Bifrost's error envelope: 400, 401, 403, 404, 405, 409, 413, 500, 503
    ├── InvalidJSON (jsonio)        a body Go's decoder would refuse
    ├── FixtureError (fixtures)     a fixture that cannot be served: file, JSON pointer, reason
    ├── LaunchError (launch)        a child server that did not start
    └── UsageError, ConnectionProblem (check.http)   a check that cannot run: bad options, an unreachable deployment

``except VkmockError`` catches anything vkmock meant to raise; an exception outside the tree is a bug.
"""

from __future__ import annotations


class VkmockError(Exception):
    """Every error vkmock raises on purpose."""
