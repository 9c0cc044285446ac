"""Start a server as a child process, wait until it answers, stop it with its whole process group.

Used by vkmock's tests and benchmarks, and usable in a user's own test setup::

    from vkmock.launch import launch, serve_command

    server = launch(serve_command("--count", "5"), Path("vkmock.log"))
    try:
        ...  # server.url is http://127.0.0.1:PORT
    finally:
        server.stop()

The child runs in its own session, so ``stop`` reaches its worker processes too: SIGTERM (or the signal given),
then SIGKILL after ``timeout``. The port is read from the line the server prints when it listens
(``... on http://127.0.0.1:PORT``; ``vkmock serve --port 0`` picks a free one). No Flask here.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from vkmock.exceptions import VkmockError

LISTENING = r" on http://127\.0\.0\.1:(\d+)"
HEALTH = "/_vkmock/health"


class LaunchError(VkmockError, RuntimeError):
    """The server exited, or did not answer its health route in time; the message ends with its output."""


@dataclass
class Launched:
    process: subprocess.Popen[bytes]
    log: Path
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Send ``sig`` to the process group, SIGKILL it after ``timeout``; returns the exit status."""
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


def serve_command(*args: str) -> list[str]:
    """``vkmock serve`` on 127.0.0.1 and a free port, with ``args``, run by this Python."""
    return [sys.executable, "-m", "vkmock", "serve", "--host", "127.0.0.1", "--port", "0", *args]


def _answers(port: int, path: str, headers: Mapping[str, str]) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2.0)
    try:
        connection.request("GET", path, headers=dict(headers))
        response = connection.getresponse()
        response.read()
        return response.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def launch(
    command: Sequence[str],
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    listening: str = LISTENING,
    health: str = HEALTH,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> Launched:
    """Run ``command`` with its output in ``log`` until ``GET health`` answers 200 on the port that the
    ``listening`` pattern finds in the output; ``env`` replaces the environment (default: this one, unbuffered).
    Raises ``LaunchError`` (after stopping the child) when it exits or ``timeout`` passes first."""
    environment = dict(env) if env is not None else {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            list(command),
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=environment,
            cwd=cwd,
            start_new_session=True,
        )
    server = Launched(process, log)
    pattern = re.compile(listening)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.port and (found := pattern.search(server.output)):
            server.port = int(found.group(1))
        if server.port and _answers(server.port, health, headers or {}):
            return server
        if process.poll() is not None:
            break
        time.sleep(0.03)
    server.stop()
    raise LaunchError(f"{' '.join(command)} did not start:\n{server.output[-3000:]}")
