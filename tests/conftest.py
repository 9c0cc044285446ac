"""Shared fixtures: an in-process app and client, and real ``vkmock serve`` processes on loopback.

Every server a test starts binds 127.0.0.1 on a free port, is waited for with a deadline, and is stopped by
the fixture that started it (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from vkmock.app import create_app
from vkmock.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
SPEC = ROOT / "openapi" / "bifrost-governance.yaml"
AUTH = {"Authorization": "Bearer test-token"}
BASE = "/api/governance/virtual-keys"
START_TIMEOUT = 20.0


@pytest.fixture
def settings() -> Settings:
    return Settings(fixtures_dir=str(FIXTURES))


@pytest.fixture
def app(settings: Settings) -> Any:
    return create_app(settings)


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=timeout)
        return self.process.returncode


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
    command = [sys.executable, "-m", "vkmock", "serve", "--port", "0", *args]
    log = Path(tempfile.mkstemp(prefix="vkmock-serve-", suffix=".log", dir=log_dir)[1])
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            command,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            start_new_session=True,
            cwd=ROOT,
        )
    server = LiveServer("", process, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and not server.url:
        found = re.search(r" on (http://\S+)", server.output)
        if found:
            server.url = found.group(1)
        elif process.poll() is not None:
            break
        else:
            time.sleep(0.05)
    while server.url and time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if request(server.url + "/_vkmock/health", timeout=2)[0] == 200:
                return server
        time.sleep(0.05)
    server.stop()
    raise AssertionError(f"vkmock serve {' '.join(args)} did not start:\n{server.output}")


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
