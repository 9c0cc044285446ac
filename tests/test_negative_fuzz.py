"""Schemathesis with positive and negative data over every operation, in process, 200 examples each.

Every case starts from the same seeded world. Most path ids are swapped for the id of a stored key (chosen
from the generated id, so a failing case replays the same way), so that bad bodies reach a real key instead
of stopping at 404. Besides Schemathesis' own checks (no 5xx, statuses and bodies as the spec says, bad data
refused, good data accepted), every case checks that an error is the Bifrost envelope with the HTTP status in
it, that a refused request changed nothing, and that the world keeps its invariants after an accepted write.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.generation.modes import GenerationMode

from conftest import FIXTURES
from test_concurrency import check_world
from vkmock.app import create_app
from vkmock.settings import Settings

pytestmark = pytest.mark.slow  # Schemathesis, 200 examples per operation: half a minute in all

app = create_app(Settings(fixtures_dir=str(FIXTURES), count=8))
store = app.extensions["vkmock"].store
SEEDED_IDS = [vk["id"] for vk in store.records()]
schema = schemathesis.openapi.from_wsgi("/openapi.yaml", app)
schema.config.update(headers={"Authorization": "Bearer fuzz-token"})
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
# a body over --max-body is refused with 413 (documented in the spec), whatever else is wrong or right with it
for check in (schema.config.checks.negative_data_rejection, schema.config.checks.positive_data_acceptance):
    check.expected_statuses = [*check.expected_statuses, "413"]
seen: dict[tuple[str, str], set[int]] = {}


def stored_id_for(generated: Any) -> str | None:
    """Two generated ids in three become the id of a stored key, chosen from the generated id alone."""
    digest = zlib.crc32(repr(generated).encode())
    return SEEDED_IDS[digest % len(SEEDED_IDS)] if digest % 3 else None


@schema.parametrize()
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_input_reaches_a_server_error(case: Any) -> None:
    store.reset()
    if case.path_parameters and "vk_id" in case.path_parameters:
        replacement = stored_id_for(case.path_parameters["vk_id"])
        if replacement is not None:
            case.path_parameters["vk_id"] = replacement
    before = (store.version, store.list_bytes(), store.list_bytes(from_memory=True))
    response = case.call_and_validate()
    mode = case.meta.generation.mode.value if case.meta else "explicit"
    seen.setdefault((case.operation.label, mode), set()).add(response.status_code)
    assert response.status_code < 500, response.text[:500]
    if response.status_code >= 400:
        assert response.headers["content-type"] == ["application/json"]
        body = json.loads(response.content)
        assert body["is_bifrost_error"] is False and body["status_code"] == response.status_code
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]
        assert body["extra_fields"] == {}
        after = (store.version, store.list_bytes(), store.list_bytes(from_memory=True))
        assert after == before, "a refused request changed the world"
    elif case.method != "GET":
        listed = json.loads(store.list_bytes())
        check_world(listed)
        assert json.loads(store.list_bytes(from_memory=True)) == listed


def test_the_fuzz_reached_every_operation_with_both_kinds_of_data() -> None:
    # runs after the fuzz above (same module): it must have reached accepted and refused paths, not only 404s
    operations = {label for label, _ in seen}
    assert len(operations) == 5, f"run the whole module: the fuzz above reached only {sorted(operations)}"
    assert {mode for _, mode in seen} >= {"positive", "negative"}
    assert 200 in seen.get(("POST /api/governance/virtual-keys", "positive"), set()), seen
    assert 200 in seen.get(("PUT /api/governance/virtual-keys/{vk_id}", "positive"), set()), seen
    assert 400 in seen.get(("PUT /api/governance/virtual-keys/{vk_id}", "negative"), set()), seen
    assert 200 in seen.get(("DELETE /api/governance/virtual-keys/{vk_id}", "positive"), set()), seen
