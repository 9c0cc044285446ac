"""Benchmark ``vkmock serve`` against its floor, scenario by scenario, and check the performance targets.

For every scenario this starts real servers on free 127.0.0.1 ports:

- ``vkmock serve`` with the scenario's world (``--count``, ``--db`` for writes);
- the *floor* (``benchmarks/floor.py``): a minimal Flask app that answers with the very bytes vkmock just
  served, precomputed, under the same WSGI server with the same workers and threads (it is run by
  ``vkmock.serve.server.run`` itself): vkmock/floor is the cost of vkmock's app;
- the *plain floor*: the same app under the server's own command line (``python -m waitress``, ``gunicorn``,
  ``granian``) with the same workers and threads and nothing of vkmock in the process: floor/plain is the cost
  of vkmock's server set-up, vkmock/plain the whole difference (none for waitress with more than one worker,
  which plain waitress cannot run);
- with ``--baseline SRC``, ``vkmock serve`` and the floor again, run from another source tree (``SRC`` is the
  directory holding its ``vkmock`` package, e.g. a git worktree's ``src``): the "before" of a change;

drives each in turn with the same load for ``--duration`` seconds (after a ``--warmup``; with ``--repeat N``
the servers take turns N times and the median run of each is kept), and prints requests per second, median
and 99th-percentile latency, errors (connection errors, timeouts and non-2xx answers; ``+ N new``: clients
that connected during the load, one every half second, and got no answer in 5 s), the peak resident memory of
the server's process tree while under load, its CPU time per request, and the ratios measured in this run.
The ``-c200`` and ``-c800`` scenarios repeat the 10-key list with 200 and 800 connections. It also times
``vkmock serve`` from start to its first healthy answer, for the default world and for 10,000 keys, and prints
PASS/FAIL for each target.

Load generator: ``wrk`` when it is installed (``apt-get install wrk``, ``brew install wrk``); otherwise a
bundled Python one (asyncio, raw keep-alive sockets, one process per ``--threads``), which is slower than the
servers it measures: its figures are labelled as such and are not comparable with wrk's.

Examples::

    python benchmarks/run.py                                  # every scenario, vkmock's default server
    python benchmarks/run.py --duration 5 --scenario list-10 --scenario create-db
    python benchmarks/run.py --server waitress --server gunicorn:2x1 --server gunicorn:2x8 --server granian:2
    python benchmarks/run.py --json results.json --markdown
    python benchmarks/run.py --server waitress:1x8 --server waitress:1x4 --scenario list-10   # thread counts
    git worktree add /tmp/before main && python benchmarks/run.py --baseline /tmp/before/src --repeat 3

``--server NAME[:WORKERS[xTHREADS]]`` picks the WSGI server (repeat it to compare servers in one run);
without it, vkmock's defaults are used. Every server started is stopped at the end, also on Ctrl-C.
Loopback only. Linux and macOS (memory is read from ``/proc``, or from ``ps``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import multiprocessing
import multiprocessing.connection
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vkmock.launch import LISTENING, Launched, LaunchError, launch, serve_command

HERE = Path(__file__).resolve().parent
FLOOR = HERE / "floor.py"
FLOOR_BODIES_ENV = "FLOOR_BODIES"  # floor.plain_app reads its bodies from the file this names
BASE = "/api/governance/virtual-keys"
TOKEN = "Bearer vkmock-bench"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
REQUEST_TIMEOUT = 10.0  # this script's own probes
LOAD_TIMEOUT = 5.0  # a request of the load without an answer after this long counts as a timeout
SERVERS = ("waitress", "gunicorn", "granian")


# ---- scenarios ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Req:
    """One kind of request. ``{id}`` is an existing key's id (rotating); ``{n}`` is unique per request."""

    method: str
    path: str
    body: str | None = None
    weight: int = 1


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    serve_args: tuple[str, ...]
    mix: tuple[Req, ...]
    db: bool = False
    read: bool = True  # the p99 target applies (reads up to 100 keys, at the run's connections)
    connections: int | None = None  # this many connections instead of --connections

    @property
    def static(self) -> bool:
        return len(self.mix) == 1 and "{" not in self.mix[0].path and self.mix[0].body is None


LIST = Req("GET", BASE)
CREATE = Req("POST", BASE, '{"name":"bench-{n}","description":"created by benchmarks/run.py"}')
UPDATE = Req("PUT", BASE + "/{id}", '{"description":"updated by benchmarks/run.py {n}"}')
SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("list-10", "list, 10 keys", ("--count", "10"), (LIST,)),
        Scenario("list-100", "list, 100 keys", ("--count", "100"), (LIST,)),
        Scenario(
            "list-10-computed",
            "list, 10 keys, each answer computed (--no-answer-cache)",
            ("--count", "10", "--no-answer-cache"),
            (LIST,),
        ),
        Scenario("list-1000", "list, 1,000 keys", ("--count", "1000"), (LIST,), read=False),
        Scenario(
            "list-memory",
            "list, 10 keys, from_memory=true",
            ("--count", "10"),
            (Req("GET", BASE + "?from_memory=true"),),
        ),
        Scenario("list-default", "list, default world (vkmock serve)", (), (LIST,)),
        Scenario("get-by-id", "get by id, 10 keys", ("--count", "10"), (Req("GET", BASE + "/{id}"),)),
        Scenario("create-db", "create (POST), --db", ("--count", "10"), (CREATE,), db=True, read=False),
        Scenario("update-db", "update (PUT), --db", ("--count", "10"), (UPDATE,), db=True, read=False),
        Scenario(
            "mixed-db",
            "90% list / 10% update, --db",
            ("--count", "10"),
            (Req("GET", BASE, weight=9), Req(UPDATE.method, UPDATE.path, UPDATE.body, weight=1)),
            db=True,
            read=False,
        ),
        Scenario("list-10-c200", "list, 10 keys, 200 connections", ("--count", "10"), (LIST,), read=False,
                 connections=200),
        Scenario("list-10-c800", "list, 10 keys, 800 connections", ("--count", "10"), (LIST,), read=False,
                 connections=800),
    )
}
#: options a --baseline from before them does not know: left out of its command line (what they turn off, it
#: never did: a vkmock from before quiet reads computes every answer)
NEWER_OPTIONS = ("--no-answer-cache",)
#: the high-concurrency scenarios, each against the one at --connections
CONCURRENCY = {"list-10-c200": "list-10", "list-10-c800": "list-10"}


def _fill(template: str, vk_id: str, token: str) -> str:
    return template.replace("{id}", vk_id).replace("{n}", token)


def _slots(mix: Sequence[Req]) -> list[int]:
    """Which request kind each position of a repeating cycle sends (90/10 is 9 x 0 then 1 x 1)."""
    return [index for index, req in enumerate(mix) for _ in range(req.weight)]


# ---- server configurations ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerConfig:
    """``None`` fields are left to vkmock's defaults (and resolved from them for the floor and the labels)."""

    server: str | None = None
    workers: int | None = None
    threads: int | None = None

    @classmethod
    def parse(cls, text: str, workers: int | None, threads: int | None) -> ServerConfig:
        found = re.fullmatch(r"([a-z]+)(?::(\d+)(?:x(\d+))?)?", text.strip())
        if not found or found.group(1) not in SERVERS:
            raise argparse.ArgumentTypeError(
                f"--server {text!r}: write NAME[:WORKERS[xTHREADS]] with NAME one of {', '.join(SERVERS)}"
            )
        return cls(
            found.group(1),
            int(found.group(2)) if found.group(2) else workers,
            int(found.group(3)) if found.group(3) else threads,
        )

    def cli_args(self) -> list[str]:
        args: list[str] = []
        if self.server:
            args += ["--server", self.server]
        if self.workers:
            args += ["--workers", str(self.workers)]
        if self.threads:
            args += ["--threads", str(self.threads)]
        return args

    def resolved(self) -> tuple[str, int, int]:
        from vkmock.settings import Settings

        defaults = Settings()
        return (
            self.server or defaults.server,
            self.workers or defaults.workers,
            self.threads or defaults.threads,
        )

    @property
    def label(self) -> str:
        server, workers, threads = self.resolved()
        kind = ""
        if server == "gunicorn":
            kind = " gthread" if threads > 1 else " sync"
        default = "" if (self.server, self.workers, self.threads) != (None, None, None) else " (default)"
        return f"{server}{kind} {workers}x{threads}{default}"


# ---- processes and their memory ----------------------------------------------------------------------------


def _clean_env() -> dict[str, str]:
    """The environment for servers: no ``VKMOCK_*`` settings leak in from the user's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VKMOCK_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _group_usage_proc(pgid: int) -> tuple[int, float]:
    rss = 0
    ticks = 0
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
            fields = stat[stat.rindex(b")") + 2 :].split()  # from field 3 (state) on
            if int(fields[2]) != pgid:  # pgrp
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
            with open(f"/proc/{entry}/statm", "rb") as f:
                rss += int(f.read().split()[1]) * page
        except (OSError, ValueError, IndexError):
            continue
    return rss, ticks / os.sysconf("SC_CLK_TCK")


def _group_usage_ps(pgid: int) -> tuple[int, float | None]:
    try:
        out = subprocess.run(
            ["ps", "-A", "-o", "pgid=,rss="], capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return 0, None
    rss = 0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == str(pgid):
            rss += int(parts[1]) * 1024
    return rss, None


def group_usage(pgid: int) -> tuple[int, float | None]:
    """(resident bytes, CPU seconds used so far) summed over every live process of the group (server and
    workers); the CPU time is ``None`` where ``/proc`` is missing."""
    if os.path.isdir("/proc/self"):
        rss, cpu = _group_usage_proc(pgid)
        return rss, cpu
    return _group_usage_ps(pgid)


class UsageSampler:
    """Samples a process group's resident memory every ``interval`` seconds (keeping the peak) and the CPU
    time it used between entering and leaving."""

    def __init__(self, pgid: int, interval: float = 0.25) -> None:
        self.pgid = pgid
        self.interval = interval
        self.peak = 0
        self.cpu_seconds: float | None = None
        self._cpu_start: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, group_usage(self.pgid)[0])

    def __enter__(self) -> UsageSampler:
        self.peak, self._cpu_start = group_usage(self.pgid)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        rss, cpu = group_usage(self.pgid)
        self.peak = max(self.peak, rss)
        if cpu is not None and self._cpu_start is not None:
            self.cpu_seconds = cpu - self._cpu_start


class Newcomers:
    """While the load runs, a new client connects every ``interval`` seconds (from the first second on: the
    load's own connections open at its start) and asks for the list once: the slowest first answer, and how
    many got none within ``LOAD_TIMEOUT``. A load generator's own count misses a server that never takes some
    of its connections (waitress's own limit is 100 open connections: the 101st waits in the listen queue
    until another leaves, and wrk reports no error for it); a newcomer meets the same fate and is counted."""

    def __init__(self, port: int, interval: float = 0.5) -> None:
        self.port = port
        self.interval = interval
        self.slowest_ms: float | None = None
        self.unanswered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        if self._stop.wait(1.0):
            return
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                status, _ = call(self.port, "GET", BASE, timeout=LOAD_TIMEOUT)
                answered = 200 <= status < 300
            except (OSError, http.client.HTTPException):
                answered = False
            if answered:
                took = (time.perf_counter() - started) * 1000
                self.slowest_ms = max(self.slowest_ms or 0.0, took)
            else:
                self.unanswered += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> Newcomers:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=LOAD_TIMEOUT + 5)


class Servers:
    """Every server this run started; ``stop_all`` is called on the way out, whatever happens."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.running: list[Launched] = []

    def start(
        self,
        name: str,
        command: list[str],
        ready: str,
        health: str,
        *,
        env: dict[str, str] | None = None,
        listening: str | None = None,
    ) -> Launched:
        """Start ``command`` until ``GET health`` answers 200 on the port printed after ``ready`` (or captured
        by the pattern ``listening``); ``env`` is added to the clean environment."""
        log = self.workdir / f"{name}-{len(self.running)}.log"
        try:
            server = launch(command, log, env={**_clean_env(), **(env or {})},
                            listening=listening or ready + LISTENING, health=health,
                            headers={"Authorization": TOKEN}, timeout=START_TIMEOUT)
        except LaunchError as exc:
            raise RuntimeError(f"{name}: {exc}") from None
        self.running.append(server)
        return server

    def stop(self, server: Launched) -> None:
        server.stop(timeout=STOP_TIMEOUT)
        # workers that outlived their parent (they share its process group)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(server.process.pid, signal.SIGKILL)
        if server in self.running:
            self.running.remove(server)

    def stop_all(self) -> None:
        for server in list(self.running):
            self.stop(server)


def call(
    port: int, method: str, path: str, body: str | None = None, timeout: float = REQUEST_TIMEOUT
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Authorization": TOKEN}
        if body is not None:
            headers["Content-Type"] = "application/json"
        connection.request(method, path, body=body.encode() if body is not None else None, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def vkmock_command(config: ServerConfig, extra: Sequence[str]) -> list[str]:
    return serve_command(*config.cli_args(), *extra)


def free_port() -> int:
    """A port free on 127.0.0.1 just now, for a server that cannot report the one it picked."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def plain_floor_command(server: str, workers: int, threads: int, port: int) -> list[str] | None:
    """The floor app under ``server``'s own command line, as its documentation runs it; ``None`` where that
    server cannot run this shape (plain waitress has one process)."""
    if server == "waitress":
        if workers > 1:
            return None
        return [sys.executable, "-m", "waitress", "--host=127.0.0.1", f"--port={port}", f"--threads={threads}",
                "--call", "floor:plain_app"]
    if server == "gunicorn":
        return [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
                "--threads", str(threads), "--worker-class", "gthread" if threads > 1 else "sync",
                "--no-control-socket", "floor:plain_app()"]
    return [sys.executable, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--blocking-threads", str(threads), "--factory", "floor:plain_app"]


# ---- load: wrk ---------------------------------------------------------------------------------------------


@dataclass
class Load:
    requests: int = 0
    seconds: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0
    rss_mb: float = 0.0
    cpu_us: float | None = None  # the server's CPU time per request (all its processes), in microseconds
    error_detail: dict[str, int] = field(default_factory=dict)
    newcomer_ms: float | None = None  # the slowest first answer to a client connecting during the load
    newcomers_unanswered: int = 0  # clients connecting during the load that got no answer in LOAD_TIMEOUT

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["rps"] = round(self.rps, 1)
        return data


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal for this ASCII text


def wrk_script(scenario: Scenario, ids: Sequence[str], tag: str) -> str:
    done = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'VKBENCH {"requests":%.0f,"duration_us":%.0f,"connect":%.0f,"read":%.0f,"write":%.0f,' ..
    '"status":%.0f,"timeout":%.0f,"p50_us":%.0f,"p99_us":%.0f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""
    if scenario.static:
        req = scenario.mix[0]
        return (
            f"wrk.method = {_lua_string(req.method)}\n"
            f'wrk.headers["Authorization"] = {_lua_string(TOKEN)}\n' + done
        )
    mix = ", ".join(
        "{"
        + f"{_lua_string(r.method)}, {_lua_string(r.path)}, {_lua_string(r.body) if r.body else 'false'}"
        + "}"
        for r in scenario.mix
    )
    return (
        f"""
local tag = {_lua_string(tag)}
local ids = {{{", ".join(_lua_string(i) for i in ids) or _lua_string("none")}}}
local mix = {{{mix}}}
local slots = {{{", ".join(str(s + 1) for s in _slots(scenario.mix))}}}
local headers = {{["Authorization"] = {_lua_string(TOKEN)}, ["Content-Type"] = "application/json"}}
local counter = 0
local per_kind = {{}}
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function request()
  counter = counter + 1
  local kind = slots[(counter % #slots) + 1]
  per_kind[kind] = (per_kind[kind] or 0) + 1
  local r = mix[kind]
  local id = ids[(per_kind[kind] % #ids) + 1]
  local token = tag .. "-" .. tostring(tid) .. "-" .. counter
  local path = (string.gsub(r[2], "{{id}}", id))
  local body = nil
  if r[3] then
    body = (string.gsub((string.gsub(r[3], "{{id}}", id)), "{{n}}", token))
  end
  return wrk.format(r[1], path, headers, body)
end
"""
        + done
    )


def run_wrk(
    port: int,
    scenario: Scenario,
    ids: Sequence[str],
    tag: str,
    seconds: float,
    connections: int,
    threads: int,
    workdir: Path,
) -> Load:
    script = workdir / f"{scenario.name}-{tag}.lua"
    script.write_text(wrk_script(scenario, ids, tag))
    path = scenario.mix[0].path if scenario.static else BASE
    command = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(seconds))}s",
        "--timeout",
        f"{LOAD_TIMEOUT:.0f}s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}{path}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    found = re.search(r"^VKBENCH (\{.*\})$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    raw = json.loads(found.group(1))
    detail = {k: int(raw[k]) for k in ("connect", "read", "write", "status", "timeout") if raw[k]}
    return Load(
        requests=int(raw["requests"]),
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        errors=sum(detail.values()),
        error_detail=detail,
    )


# ---- load: the bundled Python generator --------------------------------------------------------------------


async def _one_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes
) -> tuple[int, bool]:
    """Send one request, read its whole answer; returns (status, the server keeps the connection)."""
    writer.write(data)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.read()
        return status, False
    return status, headers.get("connection") != "close"


async def _connection(
    port: int,
    deadline: float,
    requests: list[tuple[str, str, str | None]],
    slots: list[int],
    ids: Sequence[str],
    tag: str,
    latencies: list[float],
    errors: dict[str, int],
) -> None:
    counter = 0
    per_kind = [0] * len(requests)
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while time.monotonic() < deadline:
        counter += 1
        kind = slots[counter % len(slots)]
        per_kind[kind] += 1
        method, path, body = requests[kind]
        vk_id = ids[per_kind[kind] % len(ids)] if ids else "none"
        token = f"{tag}-{counter}"
        data = _fill(body, vk_id, token).encode() if body is not None else b""
        head = (
            f"{method} {_fill(path, vk_id, token)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: {TOKEN}\r\n"
        )
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        payload = head.encode() + b"\r\n" + data
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), LOAD_TIMEOUT
                )
            assert reader is not None and writer is not None
            started = time.perf_counter()
            status, keep = await asyncio.wait_for(_one_request(reader, writer, payload), LOAD_TIMEOUT)
            latencies.append(time.perf_counter() - started)
            if not 200 <= status < 300:
                errors["status"] = errors.get("status", 0) + 1
        except (
            OSError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
            IndexError,
            TimeoutError,
        ) as exc:
            kind_name = (
                "timeout" if isinstance(exc, TimeoutError) else ("connect" if writer is None else "read")
            )
            errors[kind_name] = errors.get(kind_name, 0) + 1
            keep = False
            await asyncio.sleep(0.01)
        if not keep and writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            reader = writer = None
    if writer is not None:
        writer.close()


def _python_worker(
    port: int,
    connections: int,
    seconds: float,
    requests: list[tuple[str, str, str | None]],
    slots: list[int],
    ids: list[str],
    tag: str,
    out: multiprocessing.connection.Connection,
) -> None:
    latencies: list[float] = []
    errors: dict[str, int] = {}

    async def main() -> float:
        deadline = time.monotonic() + seconds
        started = time.monotonic()
        await asyncio.gather(
            *(
                _connection(port, deadline, requests, slots, ids, f"{tag}-{i}", latencies, errors)
                for i in range(connections)
            )
        )
        return time.monotonic() - started

    elapsed = asyncio.run(main())
    out.send({"latencies": latencies, "errors": errors, "seconds": elapsed})
    out.close()


def run_python(
    port: int,
    scenario: Scenario,
    ids: Sequence[str],
    tag: str,
    seconds: float,
    connections: int,
    threads: int,
) -> Load:
    """The fallback: ``threads`` processes, each an asyncio loop over its share of keep-alive connections."""
    requests = [(r.method, r.path, r.body) for r in scenario.mix]
    slots = _slots(scenario.mix)
    context = multiprocessing.get_context("spawn")
    workers = []
    for index in range(threads):
        share = connections // threads + (1 if index < connections % threads else 0)
        if share == 0:
            continue
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(
            target=_python_worker,
            args=(port, share, seconds, requests, slots, list(ids), f"{tag}-{index}", sender),
            daemon=True,
        )
        process.start()
        sender.close()
        workers.append((process, receiver))
    latencies: list[float] = []
    errors: dict[str, int] = {}
    elapsed = 0.0
    try:
        for _, receiver in workers:
            if not receiver.poll(seconds + 60):
                raise RuntimeError("the Python load generator did not finish in time")
            result = receiver.recv()
            latencies += result["latencies"]
            elapsed = max(elapsed, result["seconds"])
            for key, value in result["errors"].items():
                errors[key] = errors.get(key, 0) + value
    finally:
        for process, _ in workers:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000 if latencies else 0.0

    return Load(
        requests=len(latencies),
        seconds=elapsed,
        p50_ms=pct(50),
        p99_ms=pct(99),
        errors=sum(errors.values()),
        error_detail=errors,
    )


# ---- one scenario ------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    scenario: str
    title: str
    server: str
    body_bytes: int
    vkmock: Load
    floor: Load
    plain: Load | None = None  # the floor app under the server's own command line
    before: Load | None = None  # vkmock from --baseline
    floor_before: Load | None = None  # the floor under --baseline's server code
    connections: int = 0

    @staticmethod
    def _over(top: Load | None, bottom: Load | None) -> float | None:
        return top.rps / bottom.rps if top is not None and bottom is not None and bottom.rps else None

    @property
    def ratio(self) -> float:
        return self.vkmock.rps / self.floor.rps if self.floor.rps else 0.0

    @property
    def ratio_plain(self) -> float | None:
        return self._over(self.vkmock, self.plain)

    @property
    def floor_plain(self) -> float | None:
        return self._over(self.floor, self.plain)

    @property
    def ratio_before(self) -> float | None:
        return self._over(self.vkmock, self.before)

    def to_json(self) -> dict[str, Any]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        def load(value: Load | None) -> dict[str, Any] | None:
            return None if value is None else value.to_json()

        return {
            "scenario": self.scenario,
            "title": self.title,
            "server": self.server,
            "connections": self.connections,
            "body_bytes": self.body_bytes,
            "vkmock": self.vkmock.to_json(),
            "floor": self.floor.to_json(),
            "plain": load(self.plain),
            "before": load(self.before),
            "floor_before": load(self.floor_before),
            "ratio": round(self.ratio, 3),
            "ratio_plain": rounded(self.ratio_plain),
            "floor_plain": rounded(self.floor_plain),
            "ratio_before": rounded(self.ratio_before),
        }


@dataclass
class Options:
    duration: float
    warmup: float
    connections: int
    threads: int
    repeat: int
    generator: str  # "wrk" or "python"
    baseline: Path | None = None  # the source tree of the "before" vkmock (its vkmock package's parent)


def _probe(port: int, method: str, path: str, body: str | None) -> bytes:
    status, answer = call(port, method, path, body)
    if status != 200:
        raise RuntimeError(f"probe {method} {path} answered {status}: {answer[:300]!r}")
    return answer


def _measure(
    port: int, pgid: int, scenario: Scenario, ids: Sequence[str], tag: str, opts: Options, workdir: Path
) -> Load:
    connections = scenario.connections or opts.connections

    def drive(seconds: float, run_tag: str) -> Load:
        if opts.generator == "wrk":
            return run_wrk(port, scenario, ids, run_tag, seconds, connections, opts.threads, workdir)
        return run_python(port, scenario, ids, run_tag, seconds, connections, opts.threads)

    if opts.warmup > 0:
        drive(opts.warmup, f"{tag}w")
    with UsageSampler(pgid) as usage, Newcomers(port) as newcomers:
        load = drive(opts.duration, tag)
    load.rss_mb = usage.peak / 2**20
    load.newcomer_ms, load.newcomers_unanswered = newcomers.slowest_ms, newcomers.unanswered
    if usage.cpu_seconds is not None and load.requests:
        load.cpu_us = usage.cpu_seconds / load.requests * 1e6
    return load


def _median_run(loads: list[Load]) -> Load:
    return sorted(loads, key=lambda load: load.rps)[len(loads) // 2]


def run_scenario(
    scenario: Scenario, config: ServerConfig, opts: Options, servers: Servers, workdir: Path, index: int
) -> Outcome:
    def extra_args(tag: str) -> list[str]:
        extra = list(scenario.serve_args)
        if scenario.db:
            extra += ["--db", str(workdir / f"{scenario.name}-{index}{tag}.sqlite3"), "--reset-on-start"]
        return extra

    baseline_env = {"PYTHONPATH": str(opts.baseline)} if opts.baseline else None
    started: dict[str, Launched] = {}
    try:
        vk = started["vkmock"] = servers.start(
            "vkmock", vkmock_command(config, extra_args("")), "serving .*", "/_vkmock/health"
        )
        if baseline_env:
            before_args = [arg for arg in extra_args("-before") if arg not in NEWER_OPTIONS]
            started["before"] = servers.start(
                "vkmock-before", vkmock_command(config, before_args), "serving .*", "/_vkmock/health",
                env=baseline_env,
            )
        listed = json.loads(_probe(vk.port, "GET", BASE, None))
        ids = [key["id"] for key in listed["virtual_keys"]]
        bodies: dict[str, bytes] = {}
        for req in scenario.mix:
            if req.method in bodies:
                continue
            probe_id = ids[0] if ids else "none"
            body = _fill(req.body, probe_id, f"probe-{index}") if req.body else None
            bodies[req.method] = _probe(vk.port, req.method, _fill(req.path, probe_id, "probe"), body)
        server, workers, threads = config.resolved()
        files = {}
        for method, body_bytes in bodies.items():
            path = workdir / f"{scenario.name}-{index}-{method}.body"
            path.write_bytes(body_bytes)
            files[method] = str(path)
        mapping = workdir / f"{scenario.name}-{index}-bodies.json"
        mapping.write_text(json.dumps(files))
        floor_command = [sys.executable, str(FLOOR), str(mapping), "--server", server, "--workers", str(workers),
                         "--threads", str(threads), "--port", "0"]
        started["floor"] = servers.start("floor", floor_command, "floor: serving", BASE)
        if baseline_env:
            started["floor_before"] = servers.start(
                "floor-before", floor_command, "floor: serving", BASE, env=baseline_env
            )
        port = free_port()
        plain = plain_floor_command(server, workers, threads, port)
        if plain is not None:
            path_env = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
            started["plain"] = servers.start(
                "plain", plain, "", BASE, env={"PYTHONPATH": path_env, FLOOR_BODIES_ENV: str(mapping)},
                listening=rf"http://127\.0\.0\.1:({port})\b",
            )
        # the servers take turns, so that a slow minute on a shared machine hits all of them; each turn starts
        # one further along, so that none always goes first
        order = [name for name in ("plain", "floor_before", "floor", "before", "vkmock") if name in started]
        loads: dict[str, list[Load]] = {name: [] for name in order}
        for rep in range(opts.repeat):
            for name in order[rep % len(order):] + order[: rep % len(order)]:
                launched = started[name]
                loads[name].append(
                    _measure(launched.port, launched.process.pid, scenario, ids, f"{name}{index}r{rep}", opts,
                             workdir)
                )
    finally:
        for launched in started.values():
            servers.stop(launched)
    main_body = bodies.get("GET") or next(iter(bodies.values()))
    median = {name: _median_run(runs) for name, runs in loads.items()}
    return Outcome(
        scenario.name,
        scenario.title,
        config.label,
        len(main_body),
        median["vkmock"],
        median["floor"],
        plain=median.get("plain"),
        before=median.get("before"),
        floor_before=median.get("floor_before"),
        connections=scenario.connections or opts.connections,
    )


# ---- start-up time -----------------------------------------------------------------------------------------


def time_to_healthy(config: ServerConfig, extra: Sequence[str], servers: Servers, runs: int) -> float:
    """Median seconds from starting ``vkmock serve`` to its first 200 on ``/_vkmock/health``."""
    times = []
    for _ in range(runs):
        started = time.monotonic()
        server = servers.start(
            "vkmock-startup", vkmock_command(config, extra), "serving .*", "/_vkmock/health"
        )
        times.append(time.monotonic() - started)
        servers.stop(server)
    return statistics.median(times)


# ---- targets and reports -----------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    server: str
    passed: bool | None  # None: not measured in this run
    measured: str


def check_targets(outcomes: list[Outcome], startup: dict[str, dict[str, float]]) -> list[Target]:
    targets: list[Target] = []
    by_server: dict[str, dict[str, Outcome]] = {}
    for outcome in outcomes:
        by_server.setdefault(outcome.server, {})[outcome.scenario] = outcome
    for server in sorted(set(by_server) | set(startup)):
        got = by_server.get(server, {})

        def add(
            name: str,
            scenario: str,
            passed: Any,
            measured: Any,
            server: str = server,
            got: dict[str, Outcome] = got,
        ) -> None:
            if scenario in got:
                targets.append(Target(name, server, bool(passed(got[scenario])), measured(got[scenario])))
            else:
                targets.append(Target(name, server, None, "not run"))

        add(
            "list of 10 keys >= 90% of the floor's req/s",
            "list-10",
            lambda o: o.ratio >= 0.90,
            lambda o: f"{o.ratio:.0%} of the floor",
        )
        for what, scenario in (
            ("list of 10 keys", "list-10"),
            ("list of 10 keys, each answer computed (--no-answer-cache)", "list-10-computed"),
        ):
            add(
                f"{what} >= 90% of the plain floor (the server's own command line)",
                scenario,
                lambda o: o.ratio_plain is not None and o.ratio_plain >= 0.90,
                lambda o: "no plain floor for this server shape" if o.plain is None
                else f"{o.ratio_plain:.0%} of the plain floor ({o.vkmock.rps:,.0f} / {o.plain.rps:,.0f} req/s)",
            )
        add(
            "the floor under vkmock's server code >= 90% of the plain floor (list of 10 keys)",
            "list-10",
            lambda o: o.floor_plain is not None and o.floor_plain >= 0.90,
            lambda o: "no plain floor for this server shape" if o.plain is None
            else f"{o.floor_plain:.0%} ({o.floor.rps:,.0f} / {o.plain.rps:,.0f} req/s)",
        )
        add(
            "list of 10 keys >= 3,000 req/s",
            "list-10",
            lambda o: o.vkmock.rps >= 3000,
            lambda o: f"{o.vkmock.rps:,.0f} req/s (the floor: {o.floor.rps:,.0f})",
        )
        add(
            "list of 1,000 keys >= 2,500 req/s",
            "list-1000",
            lambda o: o.vkmock.rps >= 2500,
            lambda o: f"{o.vkmock.rps:,.0f} req/s (the floor, same bytes and server: {o.floor.rps:,.0f})",
        )
        add(
            "create with --db >= 1,000 writes/s",
            "create-db",
            lambda o: o.vkmock.rps >= 1000 and o.vkmock.errors == 0,
            lambda o: f"{o.vkmock.rps:,.0f} writes/s, {o.vkmock.errors} errors",
        )
        reads = [o for o in got.values() if SCENARIOS[o.scenario].read]
        p99_name = "p99 < 50 ms on every read up to 100 keys, at --connections"
        if reads:
            worst = max(reads, key=lambda o: o.vkmock.p99_ms)
            targets.append(
                Target(
                    p99_name,
                    server,
                    worst.vkmock.p99_ms < 50,
                    f"worst {worst.vkmock.p99_ms:.1f} ms ({worst.scenario})",
                )
            )
        else:
            targets.append(Target(p99_name, server, None, "not run"))
        for busy, calm in CONCURRENCY.items():
            crowd = SCENARIOS[busy].connections
            name = f"{crowd} connections: no timeout, every new client answered, >= 80% of the req/s at --connections"
            if busy in got and calm in got:
                o, base = got[busy], got[calm]
                share = o.vkmock.rps / base.vkmock.rps if base.vkmock.rps else 0.0
                timeouts = o.vkmock.error_detail.get("timeout", 0)
                unanswered = o.vkmock.newcomers_unanswered
                slowest = o.vkmock.newcomer_ms
                targets.append(Target(
                    name, server, timeouts == 0 and unanswered == 0 and share >= 0.8,
                    f"{o.vkmock.rps:,.0f} req/s, {share:.0%} of {base.vkmock.rps:,.0f} at {base.connections}; "
                    f"{timeouts} timeouts; {unanswered} new clients unanswered (slowest first answer "
                    f"{'-' if slowest is None else f'{slowest:,.0f} ms'}); p99 {o.vkmock.p99_ms:,.0f} ms",
                ))
            else:
                targets.append(Target(name, server, None, "not run"))
        add(
            "RSS < 100 MB, default world under load",
            "list-default",
            lambda o: o.vkmock.rss_mb < 100,
            lambda o: f"{o.vkmock.rss_mb:.0f} MB",
        )
        if server in startup and "10000" in startup[server]:
            seconds = startup[server]["10000"]
            targets.append(
                Target(
                    "start-up of a 10,000-key world < 2 s",
                    server,
                    seconds < 2.0,
                    f"{seconds:.2f} s to healthy",
                )
            )
    targets += _thread_targets(outcomes)
    return targets


def _shape(label: str) -> tuple[str, int, int] | None:
    found = re.match(r"(\w+)(?: \w+)? (\d+)x(\d+)", label)
    return (found.group(1), int(found.group(2)), int(found.group(3))) if found else None


def _thread_targets(outcomes: list[Outcome]) -> list[Target]:
    """With the same server and workers run at 8 and at 4 threads: the list of 10 keys must not slow down."""
    lists = {shape: o for o in outcomes if o.scenario == "list-10" and (shape := _shape(o.server))}
    targets = []
    for (server, workers, threads), eight in sorted(lists.items()):
        four = lists.get((server, workers, 4))
        if threads != 8 or four is None:
            continue
        share = four.vkmock.rps / eight.vkmock.rps if eight.vkmock.rps else 0.0
        targets.append(Target(
            "4 threads >= 90% of 8 threads' req/s (list of 10 keys)", f"{server} {workers}x8 vs {workers}x4",
            share >= 0.9,
            f"{four.vkmock.rps:,.0f} / {eight.vkmock.rps:,.0f} req/s ({share:.0%}); p99 {four.vkmock.p99_ms:.1f} / "
            f"{eight.vkmock.p99_ms:.1f} ms",
        ))
    return targets


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        import vkmock

        version = getattr(vkmock, "__version__", "?")
    except ImportError:
        version = "not installed"
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "vkmock": version,
        "load_average_at_start": [round(x, 2) for x in load],
    }


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(
        c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    )


HEADER = [
    "scenario",
    "server",
    "body",
    "vkmock req/s",
    "p50 ms",
    "p99 ms",
    "err",
    "RSS MB",
    "CPU us/req",
    "floor req/s",
    "p99 ms",
    "err",
    "CPU us/req",
    "plain req/s",
    "p99 ms",
    "err",
    "CPU us/req",
    "vkmock/floor",
    "vkmock/plain",
    "floor/plain",
]
BEFORE_HEADER = ["before req/s", "p99 ms", "err", "floor before req/s", "vkmock/before", "floor before/plain"]


def _cpu(load: Load | None) -> str:
    return f"{load.cpu_us:,.0f}" if load is not None and load.cpu_us is not None else "-"


def _err(load: Load | None) -> str:
    """Errors (timeouts included), and the new clients left unanswered during the load when there were any."""
    if load is None:
        return "-"
    return f"{load.errors} + {load.newcomers_unanswered} new" if load.newcomers_unanswered else str(load.errors)


def _rps(load: Load | None) -> str:
    return f"{load.rps:,.0f}" if load is not None else "-"


def _p99(load: Load | None) -> str:
    return f"{load.p99_ms:.1f}" if load is not None else "-"


def _times(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "-"


def _with_before(outcomes: list[Outcome]) -> bool:
    return any(o.before is not None for o in outcomes)


def table_header(outcomes: list[Outcome]) -> list[str]:
    return HEADER + (BEFORE_HEADER if _with_before(outcomes) else [])


def table_rows(outcomes: list[Outcome]) -> list[list[str]]:
    rows = []
    before = _with_before(outcomes)
    for o in outcomes:
        v, f, p = o.vkmock, o.floor, o.plain
        size = f"{o.body_bytes / 1024:,.1f} KB" if o.body_bytes >= 1024 else f"{o.body_bytes} B"
        row = [
            o.title,
            o.server,
            size,
            _rps(v),
            f"{v.p50_ms:.1f}",
            _p99(v),
            _err(v),
            f"{v.rss_mb:.0f}",
            _cpu(v),
            _rps(f),
            _p99(f),
            _err(f),
            _cpu(f),
            _rps(p),
            _p99(p),
            _err(p),
            _cpu(p),
            f"{o.ratio:.2f}",
            _times(o.ratio_plain),
            _times(o.floor_plain),
        ]
        if before:
            row += [_rps(o.before), _p99(o.before), _err(o.before), _rps(o.floor_before), _times(o.ratio_before),
                    _times(Outcome._over(o.floor_before, p))]
        rows.append(row)
    return rows


def error_lines(outcomes: list[Outcome]) -> list[str]:
    """One line per server and scenario that had errors, with their kinds (wrk's: connect, read, write,
    status, timeout)."""
    lines = []
    for o in outcomes:
        for name, load in (("vkmock", o.vkmock), ("floor", o.floor), ("plain", o.plain), ("before", o.before),
                           ("floor before", o.floor_before)):
            if load is not None and load.error_detail:
                kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(load.error_detail.items()))
                lines.append(f"  [{o.server}] {o.scenario}, {name}: {kinds}")
    return lines


def print_table(outcomes: list[Outcome], markdown: bool) -> None:
    rows = table_rows(outcomes)
    header = table_header(outcomes)
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join(["---", "---"] + ["---:"] * (len(header) - 2)) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(_row(header, widths))
    print(_row(["-" * w for w in widths], widths))
    for row in rows:
        print(_row(row, widths))


# ---- main --------------------------------------------------------------------------------------------------


def _install_stop_signals() -> None:
    """Ctrl-C and SIGTERM both end the run (stopping every server); a shell that starts the script in the
    background without job control leaves SIGINT ignored, so its default handler is put back."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/run.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--duration", type=float, default=10.0, help="Seconds of measured load per run. [10]")
    parser.add_argument("--warmup", type=float, default=2.0, help="Seconds of load before each measure. [2]")
    parser.add_argument("--connections", type=int, default=32, help="Concurrent keep-alive connections. [32]")
    parser.add_argument(
        "--threads", type=int, default=2, help="Load generator threads (wrk -t) or processes. [2]"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="Runs per server and scenario; the median is kept. [1]"
    )
    parser.add_argument(
        "--server",
        action="append",
        default=[],
        metavar="NAME[:WORKERS[xTHREADS]]",
        help="WSGI server for vkmock and the floor: waitress, gunicorn or granian (repeatable). "
        "[vkmock's default]",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="Worker processes when --server gives none."
    )
    parser.add_argument(
        "--server-threads", type=int, default=None, help="Threads per worker when --server gives none."
    )
    parser.add_argument(
        "--scenario",
        action="append",
        default=[],
        choices=list(SCENARIOS),
        help="Run only this scenario (repeatable). [all]",
    )
    parser.add_argument(
        "--load",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="Load generator: wrk (apt-get install wrk / brew install wrk) or the bundled Python "
        "one; auto picks wrk when installed. [auto]",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="SRC",
        help="Also run vkmock and the floor from this source tree (the directory holding its vkmock package, "
        "e.g. a git worktree's src) in the same turns: the 'before' columns.",
    )
    parser.add_argument("--no-startup", action="store_true", help="Skip the start-up time measurements.")
    parser.add_argument(
        "--json", metavar="FILE", help="Also write the results as JSON to FILE ('-': stdout only)."
    )
    parser.add_argument("--markdown", action="store_true", help="Print the table as Markdown.")
    parser.add_argument(
        "--report", metavar="FILE", help="Print the table of a run saved with --json; run nothing."
    )
    parser.add_argument("--strict", action="store_true", help="Exit 1 when a target fails.")
    args = parser.parse_args(argv)
    for name in ("duration", "connections", "threads", "repeat"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name} must be positive")
    if args.warmup < 0 or args.duration > 600 or args.warmup > 60 or args.repeat > 10:
        parser.error("keep --duration <= 600, 0 <= --warmup <= 60 and --repeat <= 10")
    if args.baseline is not None and not (args.baseline / "vkmock" / "__init__.py").is_file():
        parser.error(f"--baseline {args.baseline}: no vkmock package there (give the directory that holds it)")
    try:
        args.configs = [ServerConfig.parse(s, args.workers, args.server_threads) for s in args.server] or [
            ServerConfig(None, args.workers, args.server_threads)
        ]
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    return args


def print_report(
    outcomes: list[Outcome],
    startup: dict[str, dict[str, float]],
    targets: list[Target],
    markdown: bool,
    generator: str,
) -> None:
    print()
    print_table(outcomes, markdown)
    errors = error_lines(outcomes)
    if errors:
        print("\nerrors by kind:")
        print("\n".join(errors))
    print()
    for server, times in startup.items():
        print(
            f"start-up to healthy ({server}): default world {times['default']:.2f} s, "
            f"10,000 keys {times['10000']:.2f} s (median of 3)"
        )
    if startup:
        print()
    print("targets:")
    for t in targets:
        mark = "skip" if t.passed is None else ("PASS" if t.passed else "FAIL")
        print(f"  {mark}  [{t.server}] {t.name}: {t.measured}")
    if generator == "python":
        print(
            "\nnote: measured with the bundled Python load generator; install wrk for figures comparable "
            "with the targets."
        )


def _load(data: dict[str, Any]) -> Load:
    fields = {k: data[k] for k in ("requests", "seconds", "p50_ms", "p99_ms", "errors", "rss_mb")}
    return Load(**fields, cpu_us=data.get("cpu_us"), error_detail=data.get("error_detail") or {},
                newcomer_ms=data.get("newcomer_ms"), newcomers_unanswered=data.get("newcomers_unanswered", 0))


def _maybe_load(data: dict[str, Any] | None) -> Load | None:
    return _load(data) if data else None


def reprint(path: Path, markdown: bool) -> int:
    """Print the table and targets of a run saved with ``--json`` (nothing is started)."""
    report = json.loads(path.read_text())
    outcomes = [
        Outcome(
            r["scenario"], r["title"], r["server"], r["body_bytes"], _load(r["vkmock"]), _load(r["floor"]),
            plain=_maybe_load(r.get("plain")), before=_maybe_load(r.get("before")),
            floor_before=_maybe_load(r.get("floor_before")), connections=r.get("connections", 0),
        )
        for r in report["results"]
    ]
    info = report["machine"]
    print(
        f"run saved in {path}: {info['cpus']} CPUs, {info['cpu']}, Python {info['python']}, "
        f"{info['platform']}"
    )
    print_report(
        outcomes,
        report["startup_seconds"],
        check_targets(outcomes, report["startup_seconds"]),
        markdown,
        report["load_generator"],
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        return reprint(Path(args.report), args.markdown)
    generator = args.load
    if generator == "auto":
        generator = "wrk" if shutil.which("wrk") else "python"
    elif generator == "wrk" and not shutil.which("wrk"):
        print(
            "run.py: wrk is not installed (apt-get install wrk / brew install wrk); use --load python",
            file=sys.stderr,
        )
        return 2
    opts = Options(args.duration, args.warmup, args.connections, args.threads, args.repeat, generator,
                   args.baseline.resolve() if args.baseline else None)
    scenarios = [SCENARIOS[name] for name in (args.scenario or SCENARIOS)]
    quiet = args.json == "-"
    out = sys.stderr if quiet else sys.stdout
    info = machine()
    label = (
        "wrk" if generator == "wrk" else "bundled Python generator (fallback: wrk not used; slower than wrk)"
    )
    per_run = (opts.warmup + opts.duration) * opts.repeat * (5 if opts.baseline else 3) + 6
    estimate = len(scenarios) * len(args.configs) * per_run + (
        0 if args.no_startup else 25 * len(args.configs)
    )
    print(
        f"machine: {info['cpus']} CPUs, {info['cpu']}, Python {info['python']}, {info['platform']}; "
        f"load average {info['load_average_at_start'][0]}",
        file=out,
    )
    print(
        f"load: {label}; {opts.connections} connections, {opts.threads} threads, {opts.duration:g} s "
        f"(+{opts.warmup:g} s warm-up) per run; about {estimate / 60:.0f} min in all",
        file=out,
    )
    if info["load_average_at_start"][0] > 0.5 * (info["cpus"] or 1):
        print(
            "warning: the machine is busy (load average above half its CPUs): figures will be low and noisy",
            file=out,
        )
    _install_stop_signals()
    outcomes: list[Outcome] = []
    startup: dict[str, dict[str, float]] = {}
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="vkmock-bench-") as tmp:
        workdir = Path(tmp)
        servers = Servers(workdir)
        try:
            for config in args.configs:
                if not args.no_startup:
                    try:
                        startup[config.label] = {
                            "default": time_to_healthy(config, [], servers, 3),
                            "10000": time_to_healthy(config, ["--count", "10000"], servers, 3),
                        }
                        print(
                            f"[{config.label}] start-up to healthy: default world "
                            f"{startup[config.label]['default']:.2f} s, 10,000 keys "
                            f"{startup[config.label]['10000']:.2f} s",
                            file=out,
                            flush=True,
                        )
                    except RuntimeError as exc:
                        failures.append(f"[{config.label}] start-up: {exc}")
                        print(failures[-1], file=sys.stderr)
                for index, scenario in enumerate(scenarios):
                    try:
                        outcome = run_scenario(scenario, config, opts, servers, workdir, index)
                    except (RuntimeError, subprocess.TimeoutExpired, OSError, ValueError, KeyError) as exc:
                        failures.append(f"[{config.label}] {scenario.name}: {exc}")
                        print(failures[-1], file=sys.stderr, flush=True)
                        continue
                    outcomes.append(outcome)
                    v = outcome.vkmock
                    plain = (
                        f", plain floor {outcome.plain.rps:,.0f} req/s (vkmock/plain {outcome.ratio_plain:.2f}, "
                        f"floor/plain {outcome.floor_plain:.2f})" if outcome.plain is not None else ""
                    )
                    before = (
                        f", before {outcome.before.rps:,.0f} req/s (p99 {outcome.before.p99_ms:.1f} ms, "
                        f"{outcome.before.errors} errors)" if outcome.before is not None else ""
                    )
                    print(
                        f"[{config.label}] {scenario.name}: vkmock {v.rps:,.0f} req/s "
                        f"(p99 {v.p99_ms:.1f} ms, {v.errors} errors), floor {outcome.floor.rps:,.0f} req/s, "
                        f"ratio {outcome.ratio:.2f}{plain}{before}; load average {os.getloadavg()[0]:.1f}",
                        file=out,
                        flush=True,
                    )
        except KeyboardInterrupt:
            print("\nrun.py: interrupted; stopping the servers", file=sys.stderr)
            servers.stop_all()
            return 130
        finally:
            servers.stop_all()
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    targets = check_targets(outcomes, startup)
    if not quiet:
        print_report(outcomes, startup, targets, args.markdown, generator)
    if args.json:
        report = {
            "machine": info,
            "load_generator": generator,
            "options": {**asdict(opts), "baseline": str(opts.baseline) if opts.baseline else None},
            "results": [o.to_json() for o in outcomes],
            "startup_seconds": startup,
            "targets": [asdict(t) for t in targets],
            "failures": failures,
        }
        text = json.dumps(report, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    if failures:
        return 2
    if args.strict and any(t.passed is False for t in targets):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
