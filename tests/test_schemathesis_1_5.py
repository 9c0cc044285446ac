"""Schemathesis against the Bifrost 1.5 profile, in process, with its own bundled spec and every check.

Positive and negative data over all sixteen operations: nothing reaches a 5xx, every answer is what the 1.5
spec says, errors are the Bifrost envelope, and a refused request leaves the world as it was. Then the stateful
run (create, read, update, delete through the spec's links).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.generation.modes import GenerationMode

from conftest import FIXTURES
from vkmock.app import create_app
from vkmock.bifrost.v1_5 import views
from vkmock.check.plan import DATA_CHECK_STATUSES
from vkmock.settings import Settings

pytestmark = pytest.mark.slow  # a long Schemathesis phase

app = create_app(Settings(bifrost="1.5", fixtures_dir=str(FIXTURES), count=8))
store = app.extensions["vkmock"].store
schema = schemathesis.openapi.from_wsgi("/openapi.yaml", app)
schema.config.update(headers={"Authorization": "Bearer contract-test"})
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
for name, statuses in DATA_CHECK_STATUSES.items():  # 413 is a refusal, as in ``vkmock contract``
    getattr(schema.config.checks, name).expected_statuses = list(statuses)
seen: dict[tuple[str, str], set[int]] = {}


def _world() -> tuple[int, bytes, bytes, bytes]:
    args: dict[str, str] = {}
    return (store.version, views.list_keys(store, args), views.list_teams(store, args),
            views.list_customers(store, args))


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_every_1_5_operation_with_good_and_bad_data(case: Any) -> None:
    store.reset()
    before = _world()
    response = case.call_and_validate()
    mode = case.meta.generation.mode.value if case.meta else "explicit"
    seen.setdefault((case.operation.label, mode), set()).add(response.status_code)
    assert response.status_code < 500, response.text[:500]
    if response.status_code >= 400:
        body = json.loads(response.content)
        assert body["is_bifrost_error"] is False and body["status_code"] == response.status_code
        assert body["extra_fields"] == {}
        assert _world() == before, "a refused request changed the world"


def test_the_fuzz_reached_every_1_5_operation() -> None:
    assert len({label for label, _ in seen}) == 16, sorted(seen)
    assert 200 in seen.get(("POST /api/governance/virtual-keys", "positive"), set()), seen
    assert 200 in seen.get(("POST /api/governance/teams", "positive"), set()), seen


class LifeOfKeys(schema.as_state_machine()):  # type: ignore[misc]
    def setup(self) -> None:
        super().setup()
        store.reset()


def test_stateful_1_5_in_process() -> None:
    LifeOfKeys.run(settings=settings(max_examples=15, stateful_step_count=6, deadline=None,
                                     suppress_health_check=list(HealthCheck)))
