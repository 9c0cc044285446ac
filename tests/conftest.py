"""Shared fixtures: an in-process app and client, and real ``vkmock serve`` processes on loopback.

Every server a test starts binds 127.0.0.1 on a free port, is waited for with a deadline, and is stopped by
the fixture that started it (SIGTERM, then SIGKILL).

A test that starts a process (a server, the command line, a browser) is marked ``slow``: ``pytest -m "not
slow"`` is the quick loop. The mark is kept honest here: a test without it that starts a process fails.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pg import pg_url, postgres  # noqa: F401 - the PostgreSQL fixtures, for every test module
from vkmock.app import create_app
from vkmock.launch import Launched, LaunchError, launch, serve_command
from vkmock.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
SPEC = ROOT / "openapi" / "bifrost-governance.yaml"
AUTH = {"Authorization": "Bearer test-token"}
BASE = "/api/governance/virtual-keys"
START_TIMEOUT = 20.0


_running: list[pytest.Item] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    _running.append(item)  # the fixtures of any scope that the test's setup starts run inside this
    try:
        yield
    finally:
        _running.pop()


class _MarkedPopen(subprocess.Popen):  # type: ignore[type-arg]
    """``subprocess.Popen`` that refuses to start a process for a test not marked ``slow``."""

    def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
        item = _running[-1] if _running else None
        if item is not None and item.get_closest_marker("slow") is None:
            raise AssertionError(
                f"{item.nodeid} starts a process ({args!r}): mark it @pytest.mark.slow, so that "
                "pytest -m 'not slow' stays the quick subset"
            )
        super().__init__(args, *rest, **kwargs)


subprocess.Popen = _MarkedPopen  # type: ignore[misc]


@pytest.fixture
def settings() -> Settings:
    return Settings(fixtures_dir=str(FIXTURES))


@pytest.fixture
def app(settings: Settings) -> Any:
    return create_app(settings)


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


#: a ``vkmock serve`` process: ``.url``, ``.port``, ``.output``, ``.stop(sig, timeout)``
LiveServer = Launched


def request(url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None,
            timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """A plain HTTP call that returns (status, headers, body) for 2xx and errors alike."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def start_server(*args: str, env: dict[str, str] | None = None, log_dir: Path | None = None) -> LiveServer:
    """Start ``vkmock serve --port 0 ARGS`` and wait until it answers its health route."""
    log = Path(tempfile.mkstemp(prefix="vkmock-serve-", suffix=".log", dir=log_dir)[1])
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    try:
        return launch(serve_command(*args), log, env=environment, cwd=ROOT, timeout=START_TIMEOUT)
    except LaunchError as exc:
        raise AssertionError(str(exc)) from None


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """``serve(*cli_args)`` starts ``vkmock serve`` on a free loopback port; stopped at teardown."""
    started: list[LiveServer] = []

    def start(*args: str, env: dict[str, str] | None = None) -> LiveServer:
        server = start_server(*args, env=env, log_dir=tmp_path)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
