"""A bounded soak of ``vkmock serve``: mixed traffic on loopback, the server's resources sampled over time.

Starts ``python -m vkmock serve --host 127.0.0.1 --port 0`` (plus any ``--db``/``--workers`` you pass), runs
``--clients`` threads of mixed traffic for ``--duration`` seconds (list in both views, get, create, update,
delete, and bad input: malformed JSON, unknown ids, missing credentials), and samples the server's resident
memory, open file descriptors and threads (summed over the server and its worker processes, from ``/proc``)
every ``--interval`` seconds. The world stays bounded: every client deletes its own keys beyond ``--keep``.

Exit status: 0 when nothing leaked and no request failed; 1 when

- resident memory at the end is more than ``--max-rss-growth-mb`` above the sample taken after the warm-up
  (the first ``--warmup`` seconds: caches, the allocator's arenas and the thread pool fill up there), or the
  second half of the run grew by more than half that budget (a slow, steady leak);
- open file descriptors or threads at the end exceed the warm-up sample by more than ``--fd-slack`` /
  ``--thread-slack``;
- any request got a 5xx, a status its operation does not expect, or a connection error;

and 2 when the server could not be started. Linux only (reads ``/proc``).

Example (the run reported in docs/reliability.md)::

    python benchmarks/soak.py --duration 300
    python benchmarks/soak.py --duration 60 --db /tmp/soak.sqlite3 --workers 2 --json soak.json
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import re
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vkmock.launch import LaunchError, launch, serve_command

ROOT = Path(__file__).resolve().parents[1]
BASE = "/api/governance/virtual-keys"
AUTH = {"Authorization": "Bearer soak-token"}
JSON_HEADERS = {**AUTH, "Content-Type": "application/json"}
START_TIMEOUT = 30.0


# ---- the server and its resources --------------------------------------------------------------------------


def process_tree(root: int) -> list[int]:
    """``root`` and its descendants (worker processes), from ``/proc/*/stat``."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            parents[int(entry)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    tree, frontier = [root], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        tree.extend(children)
        frontier = children
    return tree


@dataclass
class Resources:
    rss_kb: int = 0
    fds: int = 0
    threads: int = 0
    processes: int = 0


def measure(root: int) -> Resources:
    found = Resources()
    for pid in process_tree(root):
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{pid}/status").read_text()
            rss = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
            threads = re.search(r"^Threads:\s+(\d+)", status, re.M)
            fds = len(os.listdir(f"/proc/{pid}/fd"))
            found.rss_kb += int(rss.group(1)) if rss else 0
            found.threads += int(threads.group(1)) if threads else 0
            found.fds += fds
            found.processes += 1
    return found


# ---- traffic -----------------------------------------------------------------------------------------------


def new_connection(port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port, timeout=30)


def call(
    conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, bytes]:
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    if response.will_close:
        conn.close()
    return response.status, data


@dataclass
class Counters:
    requests: int = 0
    errors: int = 0
    server_errors: int = 0
    connection_errors: int = 0
    by_op: dict[str, int] = field(default_factory=dict)
    first_errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(
        self, op: str, ok: bool, detail: str = "", server_error: bool = False, connection_error: bool = False
    ) -> None:
        with self.lock:
            self.requests += 1
            self.by_op[op] = self.by_op.get(op, 0) + 1
            if not ok:
                self.errors += 1
                self.server_errors += server_error
                self.connection_errors += connection_error
                if len(self.first_errors) < 10:
                    self.first_errors.append(f"{op}: {detail}"[:300])


def client(
    number: int, port: int, stop_at: float, keep: int, seed_ids: list[str], counters: Counters
) -> None:
    rng = random.Random(f"soak:{number}")
    conn = new_connection(port)
    mine: list[str] = []
    serial = 0

    def send(
        op: str, method: str, path: str, body: Any, headers: dict[str, str], expect: set[int]
    ) -> bytes | None:
        nonlocal conn
        raw = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        try:
            status, data = call(conn, method, path, raw, headers)
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            conn = new_connection(port)
            counters.record(op, False, f"{method} {path}: {exc!r}", connection_error=True)
            return None
        ok = status in expect
        counters.record(op, ok, f"{method} {path} -> {status} {data[:160]!r}", server_error=status >= 500)
        return data if ok and status == 200 else None

    try:
        while time.monotonic() < stop_at:
            roll = rng.random()
            if roll < 0.25:
                query = "?from_memory=true" if rng.random() < 0.5 else ""
                send("list", "GET", BASE + query, None, AUTH, {200})
            elif roll < 0.45:
                pool = mine or seed_ids
                vk_id = rng.choice(pool) if pool else "none"
                send("get", "GET", f"{BASE}/{vk_id}", None, AUTH, {200} if vk_id in mine else {200, 404})
            elif roll < 0.62:
                serial += 1
                body: dict[str, Any] = {"name": f"soak-{number}-{serial}"}
                if rng.random() < 0.5:
                    body["budget"] = {
                        "max_limit": rng.randint(1, 500),
                        "reset_duration": rng.choice(["1d", "1M"]),
                    }
                    body["rate_limit"] = {
                        "token_max_limit": rng.randint(1, 10**6),
                        "token_reset_duration": "1h",
                    }
                    body["provider_configs"] = [
                        {"provider": "openai", "weight": 1, "allowed_models": ["gpt-4o"]}
                    ]
                data = send("create", "POST", BASE, body, JSON_HEADERS, {200})
                if data is not None:
                    mine.append(json.loads(data)["virtual_key"]["id"])
            elif roll < 0.77 and mine:
                vk_id = rng.choice(mine)
                body = {
                    "description": "x" * rng.randint(0, 200),
                    "is_active": rng.random() < 0.5,
                    "budget": {"max_limit": rng.randint(1, 900), "reset_duration": "1w"},
                }
                send("update", "PUT", f"{BASE}/{vk_id}", body, JSON_HEADERS, {200})
            elif roll < 0.87 and mine:
                send("delete", "DELETE", f"{BASE}/{mine.pop(0)}", None, AUTH, {200})
            else:
                kind = rng.randrange(4)
                if kind == 0:
                    send("bad-json", "POST", BASE, b'{"name": ', JSON_HEADERS, {400})
                elif kind == 1:
                    send(
                        "bad-rule",
                        "POST",
                        BASE,
                        {"name": "x", "budget": {"max_limit": -1, "reset_duration": "1d"}},
                        JSON_HEADERS,
                        {400},
                    )
                elif kind == 2:
                    send("unknown-id", "GET", f"{BASE}/does-not-exist-{serial}", None, AUTH, {404})
                else:
                    send("no-auth", "GET", BASE, None, {}, {401})
            while len(mine) > keep:
                send("delete", "DELETE", f"{BASE}/{mine.pop(0)}", None, AUTH, {200})
    finally:
        for vk_id in mine:  # leave the world as it was found
            with contextlib.suppress(OSError, http.client.HTTPException):
                call(conn, "DELETE", f"{BASE}/{vk_id}", None, AUTH)
        conn.close()


# ---- the run -----------------------------------------------------------------------------------------------


@dataclass
class Sample:
    elapsed: float
    rss_mb: float
    fds: int
    threads: int
    processes: int
    requests: int
    errors: int


def run(args: argparse.Namespace) -> int:
    extra = [
        "--count",
        str(args.count),
        "--threads",
        str(args.server_threads),
    ]  # not --quiet: the banner has the port
    if args.db:
        extra += ["--db", args.db, "--reset-on-start"]
    if args.workers > 1:
        extra += ["--workers", str(args.workers)]
    log = Path(tempfile.mkstemp(prefix="vkmock-soak-", suffix=".log")[1])
    try:
        server = launch(serve_command(*extra), log, cwd=ROOT, timeout=START_TIMEOUT)
    except LaunchError as exc:
        print(exc, file=sys.stderr)
        return 2
    process, port = server.process, server.port
    print(
        f"soak: vkmock serve {' '.join(extra)} on 127.0.0.1:{port} (pid {process.pid}); "
        f"{args.clients} clients for {args.duration:.0f}s, sampling every {args.interval:.0f}s",
        flush=True,
    )
    counters = Counters()
    samples: list[Sample] = []
    try:
        status, data = call(new_connection(port), "GET", BASE, None, AUTH)
        seed_ids = [vk["id"] for vk in json.loads(data)["virtual_keys"]] if status == 200 else []
        started = time.monotonic()
        stop_at = started + args.duration
        threads = [
            threading.Thread(
                target=client,
                args=(n, port, stop_at, args.keep, seed_ids, counters),
                name=f"soak-client-{n}",
                daemon=True,
            )
            for n in range(args.clients)
        ]
        for thread in threads:
            thread.start()

        def sample() -> Sample:
            found = measure(process.pid)
            with counters.lock:
                return Sample(
                    round(time.monotonic() - started, 1),
                    round(found.rss_kb / 1024, 1),
                    found.fds,
                    found.threads,
                    found.processes,
                    counters.requests,
                    counters.errors,
                )

        samples.append(sample())
        print(
            f"{'t(s)':>7} {'rss(MB)':>8} {'fds':>5} {'threads':>7} {'procs':>5} {'requests':>9} {'errors':>6}"
        )
        while time.monotonic() < stop_at:
            time.sleep(min(args.interval, max(0.0, stop_at - time.monotonic())))
            if process.poll() is not None:
                break
            samples.append(sample())
            s = samples[-1]
            print(
                f"{s.elapsed:7.1f} {s.rss_mb:8.1f} {s.fds:5d} {s.threads:7d} {s.processes:5d} "
                f"{s.requests:9d} {s.errors:6d}",
                flush=True,
            )
        for thread in threads:
            thread.join(timeout=60)
        if process.poll() is None:
            samples.append(sample())  # after the clients finished and cleaned up
        alive = process.poll() is None
    finally:
        code = server.stop(timeout=15)
    return report(args, samples, counters, alive, code, log)


def report(
    args: argparse.Namespace,
    samples: list[Sample],
    counters: Counters,
    alive: bool,
    exit_code: int,
    log: Path,
) -> int:
    problems: list[str] = []
    if not alive:
        problems.append(f"the server died during the run:\n{log.read_text(errors='replace')[-2000:]}")
    warm = next((s for s in samples if s.elapsed >= args.warmup), samples[0] if samples else None)
    end = samples[-1] if samples else None
    middle = min(samples, key=lambda s: abs(s.elapsed - args.duration / 2)) if samples else None
    if warm and end and middle:
        growth = end.rss_mb - warm.rss_mb
        late = end.rss_mb - middle.rss_mb
        if growth > args.max_rss_growth_mb:
            problems.append(
                f"memory grew {growth:.1f} MB after the warm-up (limit {args.max_rss_growth_mb} MB)"
            )
        if middle.elapsed > warm.elapsed and late > args.max_rss_growth_mb / 2:
            problems.append(
                f"memory grew {late:.1f} MB in the second half (limit {args.max_rss_growth_mb / 2} MB)"
            )
        if end.fds > warm.fds + args.fd_slack:
            problems.append(f"open fds went from {warm.fds} to {end.fds} (slack {args.fd_slack})")
        if end.threads > warm.threads + args.thread_slack:
            problems.append(f"threads went from {warm.threads} to {end.threads} (slack {args.thread_slack})")
    if counters.errors:
        problems.append(
            f"{counters.errors} failed requests ({counters.server_errors} 5xx, "
            f"{counters.connection_errors} connection errors); first: {counters.first_errors}"
        )
    if counters.requests == 0:
        problems.append("no request was sent")
    duration = end.elapsed if end else 0.0
    summary: dict[str, Any] = {
        "duration_s": duration,
        "requests": counters.requests,
        "requests_per_s": round(counters.requests / duration, 1) if duration else 0.0,
        "errors": counters.errors,
        "server_errors": counters.server_errors,
        "by_op": dict(sorted(counters.by_op.items())),
        "start": asdict(samples[0]) if samples else None,
        "warm": asdict(warm) if warm else None,
        "middle": asdict(middle) if middle else None,
        "end": asdict(end) if end else None,
        "peak_rss_mb": max((s.rss_mb for s in samples), default=0.0),
        "server_exit_code": exit_code,
        "problems": problems,
    }
    print("soak summary:", json.dumps({k: v for k, v in summary.items() if k != "problems"}, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps({**summary, "samples": [asdict(s) for s in samples]}, indent=2))
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    print("soak: " + ("FAILED" if problems else "ok: no leak, no failed request"), flush=True)
    with contextlib.suppress(OSError):
        log.unlink()
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of traffic [300]")
    parser.add_argument("--clients", type=int, default=4, help="client threads [4]")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples [10]")
    parser.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="seconds before the baseline sample [10%% of the duration, at least 5]",
    )
    parser.add_argument("--count", type=int, default=50, help="keys in the seeded world [50]")
    parser.add_argument("--keep", type=int, default=20, help="keys each client keeps before deleting [20]")
    parser.add_argument("--server-threads", type=int, default=8, help="vkmock serve --threads [8]")
    parser.add_argument(
        "--workers", type=int, default=1, help="vkmock serve --workers (needs --db to share) [1]"
    )
    parser.add_argument("--db", default=None, help="vkmock serve --db FILE (reset at start) [in memory]")
    parser.add_argument(
        "--max-rss-growth-mb", type=float, default=24.0, help="memory budget after warm-up [24]"
    )
    parser.add_argument("--fd-slack", type=int, default=8, help="extra fds tolerated at the end [8]")
    parser.add_argument("--thread-slack", type=int, default=2, help="extra threads tolerated at the end [2]")
    parser.add_argument("--json", default=None, help="also write the summary and every sample to this file")
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.clients < 1 or args.interval <= 0:
        parser.error("--duration, --clients and --interval must be positive")
    if args.warmup is None:
        args.warmup = max(5.0, args.duration * 0.1)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
