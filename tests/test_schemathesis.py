"""Schemathesis with the bundled spec and every check finds nothing: in-process, and over HTTP (stateful too)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from conftest import FIXTURES, SPEC
from vkmock.app import create_app
from vkmock.check.plan import DATA_CHECK_STATUSES
from vkmock.settings import Settings

app = create_app(Settings(fixtures_dir=str(FIXTURES), count=8))
schema = schemathesis.openapi.from_wsgi("/openapi.yaml", app)
schema.config.update(headers={"Authorization": "Bearer contract-test"})
for name, statuses in DATA_CHECK_STATUSES.items():  # 413 is a refusal, as in ``vkmock contract``
    getattr(schema.config.checks, name).expected_statuses = list(statuses)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_in_process(case: Any) -> None:
    case.call_and_validate()


class LifeOfKeys(schema.as_state_machine()):  # type: ignore[misc]
    def setup(self) -> None:
        super().setup()
        app.extensions["vkmock"].store.reset()  # each scenario starts from the same world


def test_stateful_in_process() -> None:
    LifeOfKeys.run(settings=settings(max_examples=15, stateful_step_count=6, deadline=None,
                                     suppress_health_check=list(HealthCheck)))


@pytest.mark.slow
def test_cli_run_over_http_with_all_checks_finds_nothing(serve: Any, tmp_path: Path) -> None:
    server = serve("--count", "8")
    report = tmp_path / "junit.xml"
    result = subprocess.run(
        # the bundled spec from this repository (never ../shared, which a clone does not have)
        [sys.executable, "-m", "schemathesis.cli", "run", str(SPEC), "--url", server.url,
         "-H", "Authorization: Bearer contract-test", "--checks", "all", "--max-examples", "40",
         "--seed", "7", "--generation-database", "none", "--report", "junit",
         "--report-junit-path", str(report)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    summary = result.stdout[-3000:]
    assert result.returncode == 0, summary
    assert "Stateful" in result.stdout and "No issues found" in result.stdout, summary
    assert report.exists() and "<testsuite" in report.read_text()
