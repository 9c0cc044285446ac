"""Running the Schemathesis child process so that a Ctrl-C or SIGTERM can always be answered: the child is
asked to stop (SIGINT to its process group, then SIGKILL after a grace period), its output is read and
redacted line by line, and the caller gets the exit status to clean up after.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from vkmock.check.http import Credentials
from vkmock.check.plan import Plan

STOP_GRACE = 15.0  # seconds the child gets to stop after it is asked to


class Interrupt:
    """SIGINT/SIGTERM during a run: remember it, ask the child to stop; the run cleans up and exits 130/143."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.count = 0
        self.child: subprocess.Popen[bytes] | None = None

    def handle(self, signum: int, frame: Any) -> None:
        self.signum = self.signum or signum
        self.count += 1
        child = self.child
        if child is not None and child.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGINT if self.count == 1 else signal.SIGKILL)

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or signal.SIGINT)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum or signal.SIGINT).name

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


@contextlib.contextmanager
def ignoring_signals() -> Iterator[None]:
    """For the cleanup: it is bounded by timeouts, and a second Ctrl-C must not leave keys behind half-way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_child(
    plan: Plan, interrupt: Interrupt, credentials: Credentials, echo: Callable[[str], None] | None
) -> tuple[int, str]:
    """Run the plan's command; returns (exit status, redacted output). Stops it on interrupt."""
    lines: list[str] = []
    process = subprocess.Popen(
        plan.command,
        env=plan.env,
        cwd=plan.cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    interrupt.child = process

    def pump() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = credentials.redact(raw.decode("utf-8", errors="replace").rstrip("\n"))
            lines.append(line)
            if echo is not None:
                echo(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        if interrupt.signum is not None:  # interrupted before the child started
            interrupt.handle(interrupt.signum, None)
        deadline: float | None = None
        while process.poll() is None:
            if interrupt.signum is not None:
                deadline = deadline or time.monotonic() + STOP_GRACE
                if time.monotonic() > deadline:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.2)
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_GRACE)
        reader.join(timeout=STOP_GRACE)
        if process.stdout is not None:
            process.stdout.close()
        interrupt.child = None
    return process.returncode, "\n".join(lines)
