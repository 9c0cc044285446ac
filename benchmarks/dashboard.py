"""Bifrost 1.5 at dashboard scale: start-up of a large world and the page the dashboard polls every 5 s.

For each world size it starts ``vkmock serve --bifrost 1.5 --count N`` (the default server), times start-up to
the health route, and loads with wrk (on loopback):

- ``poll``: the page the virtual-keys page polls, ``limit=25&offset=0&sort_by=budget_spent&order=desc&search=prod``;
- ``pages``: the same query walking through every offset (each request another page of one selection);
- ``sorts``: the first page, cycling through every ``sort_by`` and both orders.

It prints req/s, p50/p99 and the ratio of each scenario at the largest world to the smallest, which shows
whether the cost of a page grows with the world. Targets (issue 11): 10,000 keys start in < 2 s; ``poll`` at
>= 1,000 req/s; cost per page not linear in the world size.

    python benchmarks/dashboard.py                      # worlds of 1,000 and 10,000 keys
    python benchmarks/dashboard.py --sizes 1000 10000 50000 --duration 8
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from vkmock.launch import launch, serve_command

POLL = "/api/governance/virtual-keys?limit=25&offset=0&sort_by=budget_spent&order=desc&search=prod"
TOKEN = "Bearer bench"
SORTS = ["name", "budget_spent", "created_at", "status"]


def wrk(url: str, paths: list[str], duration: int, connections: int) -> dict[str, float]:
    """req/s, p50 and p99 (ms) of wrk cycling through ``paths``."""
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    listed = ",".join(json.dumps(p) for p in paths)
    script.write_text(
        f"local paths = {{{listed}}}\nlocal i = 0\n"
        f'wrk.headers["Authorization"] = {json.dumps(TOKEN)}\n'
        "request = function()\n  i = i % #paths + 1\n  return wrk.format('GET', paths[i])\nend\n"
        "done = function(summary, latency, requests)\n"
        "  io.write(string.format('JSON {\"p50\":%f,\"p99\":%f,\"requests\":%d,\"errors\":%d,\"timeouts\":%d}\\n',"
        " latency:percentile(50)/1000, latency:percentile(99)/1000, summary.requests,"
        " summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write,"
        " summary.errors.timeout))\nend\n"
    )
    try:
        result = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--timeout", "5s", "-s", str(script), url],
            capture_output=True, text=True, timeout=duration + 60, check=True,
        )
    finally:
        script.unlink()
    data = json.loads(re.search(r"^JSON (.*)$", result.stdout, re.M).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", result.stdout).group(1))  # type: ignore[union-attr]
    return {"rps": rps, "p50": data["p50"], "p99": data["p99"], "errors": data["errors"] + data["timeouts"]}


def total(url: str, path: str) -> int:
    request = urllib.request.Request(url + path, headers={"Authorization": TOKEN})
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(json.loads(response.read())["total_count"])


def measure(size: int, duration: int, connections: int) -> dict[str, object]:
    log = Path(tempfile.mkstemp(prefix="vkmock-dashboard-", suffix=".log")[1])
    started = time.perf_counter()
    server = launch(serve_command("--bifrost", "1.5", "--count", str(size)), log, timeout=120)
    startup = time.perf_counter() - started
    try:
        matching = total(server.url, POLL)
        pages = [POLL.replace("offset=0", f"offset={offset}") for offset in range(0, max(matching, 1), 25)]
        sorts = [POLL.replace("sort_by=budget_spent&order=desc", f"sort_by={s}&order={o}")
                 for s in SORTS for o in ("asc", "desc")]
        results = {"poll": wrk(server.url, [POLL], duration, connections)}
        results["pages"] = wrk(server.url, pages, duration, connections)
        results["sorts"] = wrk(server.url, sorts, duration, connections)
    finally:
        server.stop()
        log.unlink(missing_ok=True)
    return {"size": size, "startup_s": startup, "matching": matching, "pages": len(pages), **results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="world sizes (keys)")
    parser.add_argument("--duration", type=int, default=6, help="seconds of load per scenario")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("benchmarks/dashboard.py: needs wrk (apt-get install wrk)", file=sys.stderr)
        return 2
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    rows = [measure(size, args.duration, args.connections) for size in args.sizes]
    print(f"{'keys':>7} {'start s':>8} {'match':>6} | {'poll r/s':>9} {'p99':>6} | {'pages r/s':>9} {'p99':>6} |"
          f" {'sorts r/s':>9} {'p99':>6} | errors")
    for row in rows:
        cells = [f"{row['size']:>7}", f"{row['startup_s']:>8.2f}", f"{row['matching']:>6}"]
        for name in ("poll", "pages", "sorts"):
            figures = row[name]
            assert isinstance(figures, dict)
            cells.append(f"| {figures['rps']:>9.0f} {figures['p99']:>5.1f}m")
        errors = sum(int(row[n]["errors"]) for n in ("poll", "pages", "sorts"))  # type: ignore[index]
        print(" ".join(cells), f"| {errors}")
    if len(rows) > 1:
        small, large = rows[0], rows[-1]
        print(f"\nratio {large['size']} keys / {small['size']} keys (1.0 = page cost independent of world size):")
        for name in ("poll", "pages", "sorts"):
            print(f"  {name:<6} {large[name]['rps'] / small[name]['rps']:.2f}")  # type: ignore[index]
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
