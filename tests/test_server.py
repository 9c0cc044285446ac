"""Every ``--server`` choice really serves: real ``vkmock serve`` processes on free 127.0.0.1 ports.

For waitress, gunicorn and granian, with one worker and with two: the list answers, a created key is read
back, and the server stops on SIGTERM (sent to the main process only, as a process manager does) and on Ctrl-C
(SIGINT to the whole process group, as a terminal does), leaving no process and no temporary database
behind. With two gunicorn sync workers a key created on one worker is read on the other (the workers are told
apart by keeping one of them busy), and a worker that leaves is replaced without taking the shared database
with it.

No timing assertions: speed is shown by ``benchmarks/run.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import AUTH, BASE, LiveServer, request

pytestmark = pytest.mark.slow

JSON_AUTH = {**AUTH, "Content-Type": "application/json"}
STOP_TIMEOUT = 15.0


SERVERS = ["waitress", "gunicorn", "granian"]  # the test extra installs all three


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_group_gone(pgid: int, timeout: float = STOP_TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _group_alive(pgid):
            return True
        time.sleep(0.05)
    return False


def _temp_db(server: LiveServer) -> Path | None:
    found = re.search(r"db (/\S+?vkmock-[^/\s]+/world\.sqlite3)\]", server.output)
    return Path(found.group(1)) if found else None


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            found += [int(p) for p in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    return found


def _wait_children(pid: int, count: int, timeout: float = 20.0) -> list[int]:
    """The worker processes of ``pid`` once there are ``count`` of them (workers start one after another)."""
    deadline = time.monotonic() + timeout
    while len(found := _children(pid)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def _create(server: LiveServer, name: str) -> str:
    status, _, body = request(server.url + BASE, "POST", json.dumps({"name": name}).encode(), JSON_AUTH)
    assert status == 200, body
    return str(json.loads(body)["virtual_key"]["id"])


def _stop_with(server: LiveServer, how: str) -> int:
    """SIGTERM to the main process only, or SIGINT to the whole group; returns the exit status."""
    if how == "sigterm":
        os.kill(server.process.pid, signal.SIGTERM)
    else:
        os.killpg(server.process.pid, signal.SIGINT)
    try:
        return server.process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        server.stop(signal.SIGKILL)
        raise AssertionError(
            f"the server did not stop on {how} within {STOP_TIMEOUT:g}s:\n{server.output}"
        ) from None


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("server_name", SERVERS)
@pytest.mark.parametrize("how", ["sigterm", "sigint"])
def test_server_serves_shares_state_and_stops_cleanly(
    serve: Any, server_name: str, workers: int, how: str
) -> None:
    server = serve("--server", server_name, "--workers", str(workers), "--count", "3")
    assert f"[{server_name}, {workers} worker(s)," in server.output
    temp_db = _temp_db(server)
    assert (temp_db is not None) == (workers > 1), server.output  # several workers share a temporary database

    status, headers, body = request(server.url + BASE, headers=AUTH)
    assert status == 200
    assert {k.lower(): v for k, v in headers.items()}[
        "content-type"
    ] == "application/json"  # granian: lower case
    assert json.loads(body)["count"] == 3

    vk_id = _create(server, f"made-on-{server_name}")
    # every answer, whichever worker the kernel hands the connection to, sees the new key
    for _ in range(20):
        status, _, body = request(f"{server.url}{BASE}/{vk_id}", headers=AUTH)
        assert status == 200, body
    status, _, body = request(server.url + BASE, headers=AUTH)
    assert json.loads(body)["count"] == 4

    assert _stop_with(server, how) == 0, server.output
    assert _wait_group_gone(server.process.pid), f"processes of the server outlived it:\n{server.output}"
    assert server.output.count("vkmock: stopped") == 1, server.output  # workers do not run the CLI's clean-up
    assert "Traceback" not in server.output, server.output
    if temp_db is not None:
        assert not temp_db.exists() and not temp_db.parent.exists()


def test_gunicorn_sync_workers_read_what_the_other_worker_wrote(serve: Any) -> None:
    """A sync worker takes one request at a time: keeping one busy sends the next request to the other."""
    server = serve("--server", "gunicorn", "--workers", "2", "--threads", "1", "--count", "3")
    assert "[gunicorn, 2 worker(s)," in server.output

    def hold(results: list[int]) -> None:  # occupies whichever worker takes it for 3 s
        results.append(request(server.url + BASE, headers={**AUTH, "Prefer": "delay=3000"}, timeout=20)[0])

    first: list[int] = []
    second: list[int] = []
    holder = threading.Thread(target=hold, args=(first,))
    holder.start()  # worker X is busy until t+3s
    time.sleep(0.5)
    vk_id = _create(server, "written-by-the-other-worker")  # answered by worker Y
    other = threading.Thread(target=hold, args=(second,))
    other.start()  # X is still busy: this occupies Y
    holder.join(timeout=20)  # X is free again, Y is busy for about 0.5 s more
    status, _, body = request(f"{server.url}{BASE}/{vk_id}", headers=AUTH)  # answered by X
    other.join(timeout=20)
    assert first == [200] and second == [200]
    assert status == 200, body
    assert json.loads(body)["virtual_key"]["name"] == "written-by-the-other-worker"


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs /proc to find the workers")
@pytest.mark.parametrize("server_name", ["gunicorn", "granian"])
def test_a_worker_that_dies_is_replaced_and_the_shared_database_stays(serve: Any, server_name: str) -> None:
    server = serve("--server", server_name, "--workers", "2", "--count", "3")
    temp_db = _temp_db(server)
    assert temp_db is not None and temp_db.exists()
    vk_id = _create(server, "before-the-crash")
    workers = _wait_children(server.process.pid, 2)
    assert len(workers) >= 2, workers
    os.kill(workers[0], signal.SIGTERM)  # a worker that leaves (as on a restart): it must not take the db

    deadline = time.monotonic() + 20  # the old worker may linger as a zombie until it is reaped
    while len(replaced := [pid for pid in _children(server.process.pid) if pid != workers[0]]) < 2:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    answered: list[int] = []
    for _ in range(20):
        with contextlib.suppress(OSError):
            answered.append(request(f"{server.url}{BASE}/{vk_id}", headers=AUTH, timeout=5)[0])
    assert server.process.poll() is None, f"the server died with its worker:\n{server.output}"
    assert len(replaced) >= 2, f"the dead worker was not replaced: {replaced}"
    assert answered and set(answered) == {200}, answered
    assert temp_db.exists(), "the shared temporary database was removed while the server runs"
    _create(server, "after-the-crash")

    assert _stop_with(server, "sigterm") == 0, server.output
    assert _wait_group_gone(server.process.pid)
    assert not temp_db.exists()
