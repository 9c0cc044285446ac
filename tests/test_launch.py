"""``vkmock.launch``: the child-process helper that tests, benchmarks and users start servers with."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import AUTH, BASE, request
from vkmock.launch import LaunchError, launch, serve_command

pytestmark = pytest.mark.slow  # the tests here start processes


def test_a_server_that_refuses_to_start_raises_with_its_output(tmp_path: Path) -> None:
    with pytest.raises(LaunchError) as caught:
        launch(serve_command("--fixture", "no-such-fixture"), tmp_path / "serve.log", timeout=20)
    assert "did not start" in str(caught.value)
    assert "refusing to start" in str(caught.value) and "no-such-fixture" in str(caught.value)


def test_a_launched_server_answers_on_its_port_and_stops_with_its_workers(tmp_path: Path) -> None:
    server = launch(serve_command("--count", "2", "--workers", "2"), tmp_path / "serve.log", timeout=30)
    try:
        status, _, body = request(server.url + BASE, headers=AUTH)
        assert status == 200 and b'"count":2' in body
    finally:
        code = server.stop()
    assert code == 0, server.output
    assert "vkmock: stopped" in server.output
