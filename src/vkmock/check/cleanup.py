"""Removing the keys a write run made: every key named ``vkmock-contract-*``, over HTTP, within a deadline,
then a second look to be sure none is left."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from vkmock.check.http import PREFIX, ConnectionProblem, Target, key_path

CLEANUP_DEADLINE = 60.0


@dataclass
class Cleanup:
    found: int = 0
    deleted: int = 0
    left: list[str] = field(default_factory=list)
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return not self.left and self.problem is None


def _ours(target: Target) -> list[dict[str, object]]:
    return [vk for vk in target.list_keys() if str(vk.get("name", "")).startswith(PREFIX)]


def cleanup_keys(target: Target, deadline: float = CLEANUP_DEADLINE) -> Cleanup:
    """Delete every key whose name starts with ``vkmock-contract-``, then list again to be sure."""
    result = Cleanup()
    stop = time.monotonic() + deadline
    try:
        keys = _ours(target)
        result.found = len(keys)
        for vk in keys:
            if time.monotonic() > stop:
                break
            answer = target.call("DELETE", key_path(str(vk.get("id"))))
            if answer.status in (200, 204, 404):
                result.deleted += answer.status != 404
        result.left = [str(vk.get("name")) for vk in _ours(target)]
    except (ConnectionProblem, ValueError) as exc:
        result.problem = str(exc)
    return result
