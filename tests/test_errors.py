"""The error tree: ``prefixed`` copies an error whole, whatever its class carries."""

from __future__ import annotations

import pytest

from vkmock.control.faults import InjectedFault
from vkmock.control.prefer import Preferred
from vkmock.errors import ApiError, BadRequest, Conflict, MethodNotAllowed, Unauthorized


@pytest.mark.parametrize(
    "error",
    [
        BadRequest("name is required"),
        Conflict("a record with this name already exists", upstream_status=400),
        MethodNotAllowed("Method PATCH not allowed", allowed=["GET", "PUT"]),
        Unauthorized(),
        InjectedFault(503, "Service Unavailable"),
        Preferred(404, "Virtual key not found"),
    ],
)
def test_prefixed_keeps_the_class_the_status_and_what_the_error_carries(error: ApiError) -> None:
    before = dict(vars(error))
    clone = error.prefixed("Failed to update virtual key: ")
    assert type(clone) is type(error) and clone is not error
    assert clone.message == str(clone) == "Failed to update virtual key: " + error.message
    assert clone.args == (clone.message,)
    assert clone.status == error.status and clone.upstream_status == error.upstream_status
    assert {k: v for k, v in vars(clone).items() if k != "message"} == {
        k: v for k, v in before.items() if k != "message"
    }
    assert vars(error) == before  # the original is untouched
    if isinstance(error, MethodNotAllowed):
        assert isinstance(clone, MethodNotAllowed) and clone.allowed == ["GET", "PUT"]
