"""Replicas on one PostgreSQL against one process on SQLite: reads and writes per second, and how long a write
acknowledged by one replica takes to be seen by another.

Setups (each ``vkmock serve --threads 8 --count N`` on loopback):

- ``sqlite-memory``: one process, the default store;
- ``sqlite-file``: one process, ``--db world.sqlite3``;
- ``pg-1``: one replica, ``--db postgresql://...``;
- ``pg-3``: three replicas on that database, the load spread over them round-robin.

For each: ``reads`` (``GET /virtual-keys/{id}`` of random keys) and ``writes`` (``POST /virtual-keys``), each
from ``--clients`` threads with keep-alive connections for ``--duration`` seconds, as req/s and p50/p99. For
``pg-3`` also the cross-replica read-after-write delay: a key created through replica A, then read through
replica B until it is there; the delay is from A's acknowledgement to B's first 200 (p50/p99), and the share of
first reads that already saw it.

The client is Python on the same machine, so absolute figures are bounded by it; compare the setups.

    python benchmarks/replicas.py                              # a throwaway PostgreSQL cluster (tests/pg.py)
    python benchmarks/replicas.py --pg-url postgresql://u:p@127.0.0.1:5432/bench --duration 10
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from vkmock.launch import Launched, launch, serve_command

ROOT = Path(__file__).resolve().parents[1]
AUTH = {"Authorization": "Bearer bench", "Content-Type": "application/json"}
BASE = "/api/governance/virtual-keys"


class Client:
    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        self.conn.request(method, path, body=data, headers=AUTH)
        response = self.conn.getresponse()
        return response.status, json.loads(response.read())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else float("nan")


def load(urls: list[str], kind: str, ids: list[str], clients: int, duration: float) -> dict[str, float]:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    stop = time.monotonic() + duration

    def run(n: int) -> None:
        rng = random.Random(n)
        client = Client(urls[n % len(urls)])
        serial = 0
        while time.monotonic() < stop:
            started = time.perf_counter()
            if kind == "reads":
                status, _ = client.call("GET", f"{BASE}/{rng.choice(ids)}")
            else:
                serial += 1
                status, _ = client.call("POST", BASE, {"name": f"bench-{kind}-{n}-{serial}-{time.time_ns()}"})
            latencies[n].append(time.perf_counter() - started)
            if status != 200:
                errors[n] += 1

    threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [x for per in latencies for x in per]
    return {"rps": len(every) / duration, "p50_ms": percentile(every, 50) * 1000,
            "p99_ms": percentile(every, 99) * 1000, "errors": float(sum(errors))}


def read_after_write(urls: list[str], samples: int) -> dict[str, float]:
    writers = [Client(url) for url in urls]
    delays: list[float] = []
    first_hits = 0
    for i in range(samples):
        a, b = i % len(urls), (i + 1) % len(urls)
        status, body = writers[a].call("POST", BASE, {"name": f"raw-{i}-{time.time_ns()}"})
        assert status == 200, body
        acknowledged = time.perf_counter()
        vk_id = body["virtual_key"]["id"]
        tries = 0
        while True:
            tries += 1
            status, _ = writers[b].call("GET", f"{BASE}/{vk_id}")
            if status == 200:
                break
            assert time.perf_counter() - acknowledged < 10, "never seen by the other replica"
        delays.append(time.perf_counter() - acknowledged)
        first_hits += tries == 1
    return {"p50_ms": percentile(delays, 50) * 1000, "p99_ms": percentile(delays, 99) * 1000,
            "first_read_saw_it": first_hits / samples}


def start(args: list[str], logs: Path) -> Launched:
    log = Path(tempfile.mkstemp(prefix="bench-replica-", suffix=".log", dir=logs)[1])
    return launch(serve_command("--threads", "8", *args), log, cwd=ROOT, timeout=60)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg-url", help="an empty PostgreSQL database per setup is made on this server's cluster "
                                         "(the URL's database is used to create them); default: a throwaway one")
    parser.add_argument("--count", type=int, default=1000, help="keys in the seeded world")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--samples", type=int, default=300, help="read-after-write samples")
    args = parser.parse_args(argv)

    cluster = None
    if args.pg_url:
        base_url = args.pg_url
    else:
        sys.path.insert(0, str(ROOT / "tests"))
        from pg import Cluster

        cluster = Cluster()
        base_url = cluster.url()
    import psycopg

    def new_database(name: str) -> str:
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return base_url.rsplit("/", 1)[0] + "/" + name

    logs = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
    results: dict[str, dict[str, Any]] = {}
    try:
        for setup in ("sqlite-memory", "sqlite-file", "pg-1", "pg-3"):
            if setup == "sqlite-memory":
                servers = [start(["--count", str(args.count)], logs)]
            elif setup == "sqlite-file":
                servers = [start(["--count", str(args.count), "--db", str(logs / "world.sqlite3")], logs)]
            else:
                url = new_database(f"bench_{setup.replace('-', '_')}")
                servers = [start(["--count", str(args.count), "--db", url], logs)]
                servers += [start(["--db", url], logs) for _ in range(2 if setup == "pg-3" else 0)]
            urls = [s.url for s in servers]
            try:
                _, listed = Client(urls[0]).call("GET", BASE)
                ids = [vk["id"] for vk in listed["virtual_keys"]]
                results[setup] = {
                    "reads": load(urls, "reads", ids, args.clients, args.duration),
                    "writes": load(urls, "writes", ids, args.clients, args.duration),
                }
                if setup == "pg-3":
                    results[setup]["read_after_write"] = read_after_write(urls, args.samples)
            finally:
                for server in servers:
                    server.stop()
            print(f"{setup}: {json.dumps(results[setup])}", flush=True)
    finally:
        if cluster is not None:
            cluster.remove()
    print()
    print(f"{'setup':14} {'reads/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'writes/s':>9} {'p50 ms':>7} {'p99 ms':>7}")
    for setup, found in results.items():
        r, w = found["reads"], found["writes"]
        print(f"{setup:14} {r['rps']:9.0f} {r['p50_ms']:7.2f} {r['p99_ms']:7.2f} "
              f"{w['rps']:9.0f} {w['p50_ms']:7.2f} {w['p99_ms']:7.2f}")
    raw = results.get("pg-3", {}).get("read_after_write")
    if raw:
        print(f"cross-replica read-after-write (pg-3): p50 {raw['p50_ms']:.2f} ms, p99 {raw['p99_ms']:.2f} ms, "
              f"first read saw the write: {raw['first_read_saw_it']:.0%}")
    errors = sum(found[k]["errors"] for found in results.values() for k in ("reads", "writes"))
    if errors:
        print(f"non-200 answers: {errors:.0f}")


if __name__ == "__main__":
    main()
