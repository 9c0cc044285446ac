"""vkmock beside Prism, on the same payload, in one run: the ratios the performance targets are written in.

Prism (``@stoplight/prism-cli``, a Node.js mock server) is the mock most users compare with. This script
starts, one after the other, on free 127.0.0.1 ports:

- ``vkmock serve --count 10`` and ``vkmock serve --count 1000`` (vkmock's default server);
- ``prism mock`` with the bundled spec, its list example replaced by the very 10-key body vkmock served
  (static answers, Prism's fastest mode);
- ``prism mock -d`` with the same spec (Prism generates every answer from the schema);

drives each with the same wrk load as ``benchmarks/run.py`` (the bundled Python client without wrk) and
prints req/s, p50, p99, errors and RSS, then the ratios the targets name: the 10-key list against Prism's
static example (target: at least 3x) and the 1,000-key list against Prism's ``-d`` 10-key list (at least 50x).

Prism is not a dependency of vkmock. Install it once, beside the clone::

    npm install --prefix /tmp/prism @stoplight/prism-cli@5
    python benchmarks/peers.py --prism /tmp/prism/node_modules/.bin/prism
    python benchmarks/peers.py --prism /tmp/prism/node_modules/.bin/prism --server granian:2   # another server

Without ``--prism`` the script looks for ``prism`` on PATH. Every server it starts is stopped at the end.
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench

from vkmock import spec

LIST = bench.SCENARIOS["list-10"]  # GET of the list: the same request whatever the size of the world


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prism_spec(list_body: bytes, path: Path) -> Path:
    """The bundled spec with the list's 200 example set to ``list_body``, written as JSON for Prism."""
    document: dict[str, Any] = copy.deepcopy(spec.spec())
    # resolved against the loaded spec, so copied again: the cached spec itself is never changed
    answer = copy.deepcopy(spec.resolve(document["paths"][bench.BASE]["get"]["responses"]["200"]))
    content = answer["content"]["application/json"]
    content.pop("examples", None)
    content["example"] = json.loads(list_body)
    document["paths"][bench.BASE]["get"]["responses"]["200"] = answer
    path.write_text(json.dumps(document))
    return path


def measure(
    servers: bench.Servers, name: str, command: list[str], ready: str, opts: bench.Options, workdir: Path
) -> tuple[bench.Load, bytes]:
    """Start one server, take its list once (checking it answers 200), load it, stop it."""
    server = servers.start(name, command, ready, bench.BASE)
    try:
        body = bench._probe(server.port, "GET", bench.BASE, None)
        load = bench._measure(server.port, server.process.pid, LIST, [], name, opts, workdir)
        return load, body
    finally:
        servers.stop(server)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prism", help="The prism command. [default: prism on PATH]")
    parser.add_argument("--duration", type=float, default=10.0, help="Seconds of load per server. [default: 10]")
    parser.add_argument("--warmup", type=float, default=2.0, help="Seconds of warm-up per server. [default: 2]")
    parser.add_argument("--connections", type=int, default=32, help="Keep-alive connections. [default: 32]")
    parser.add_argument("--server", default=None, metavar="NAME[:WORKERS[xTHREADS]]",
                        help="Serve vkmock with this server, as in run.py. [default: vkmock's default]")
    parser.add_argument("--json", type=Path, help="Also write the figures to this file.")
    args = parser.parse_args(argv)

    prism = args.prism or shutil.which("prism")
    if not prism or (not Path(prism).exists() and not shutil.which(prism)):
        print("peers.py: Prism not found. Install it with\n"
              "  npm install --prefix /tmp/prism @stoplight/prism-cli@5\n"
              "and run: python benchmarks/peers.py --prism /tmp/prism/node_modules/.bin/prism", file=sys.stderr)
        return 2
    generator = "wrk" if shutil.which("wrk") else "python"
    opts = bench.Options(args.duration, args.warmup, args.connections, 2, 1, generator)
    bench._install_stop_signals()

    config = bench.ServerConfig.parse(args.server, None, None) if args.server else bench.ServerConfig()
    rows: list[tuple[str, bench.Load, int]] = []
    bodies: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="vkmock-peers-") as tmp:
        workdir = Path(tmp)
        servers = bench.Servers(workdir)
        try:
            for label, count in (("vkmock, list of 10 keys", "10"), ("vkmock, list of 1,000 keys", "1000")):
                command = bench.vkmock_command(config, ["--count", count])
                load, bodies[count] = measure(servers, "vkmock", command, "serving .*", opts, workdir)
                rows.append((label, load, len(bodies[count])))
            document = prism_spec(bodies["10"], workdir / "prism-spec.json")
            for label, extra in (("Prism, static example (10 keys)", []), ("Prism -d, generated (10 keys)", ["-d"])):
                command = [prism, "mock", str(document), "-h", "127.0.0.1", "-p", str(free_port()), *extra]
                load, body = measure(servers, "prism", command, "listening", opts, workdir)
                rows.append((label, load, len(body)))
        finally:
            servers.stop_all()

    print(f"vkmock on {config.label}; load: {generator}, {args.connections} connections, "
          f"{args.duration:g} s per server after {args.warmup:g} s of warm-up\n")
    widths = [34, 9, 9, 8, 8, 8, 8]
    print(bench._row(["server", "body", "req/s", "p50 ms", "p99 ms", "errors", "RSS MB"], widths))
    for label, load, size in rows:
        cells = [label, f"{size / 1024:.1f} KB", f"{load.rps:,.0f}", f"{load.p50_ms:.1f}", f"{load.p99_ms:.1f}",
                 str(load.errors), f"{load.rss_mb:.0f}"]
        print(bench._row(cells, widths))
    by = {label: load for label, load, _ in rows}
    ten, thousand = by["vkmock, list of 10 keys"], by["vkmock, list of 1,000 keys"]
    static, dynamic = by["Prism, static example (10 keys)"], by["Prism -d, generated (10 keys)"]
    ratios = {
        "list-10 / prism static": ten.rps / static.rps if static.rps else 0.0,
        "list-1000 / prism -d (10 keys)": thousand.rps / dynamic.rps if dynamic.rps else 0.0,
        "rss prism static / vkmock list-10": static.rss_mb / ten.rss_mb if ten.rss_mb else 0.0,
    }
    print()
    for name, target in (("list-10 / prism static", 3.0), ("list-1000 / prism -d (10 keys)", 50.0)):
        verdict = "PASS" if ratios[name] >= target else "FAIL"
        print(f"{verdict}  vkmock {name}: {ratios[name]:.2f}x (target >= {target:g}x)")
    print(f"      Prism's RSS / vkmock's RSS on the 10-key list: {ratios['rss prism static / vkmock list-10']:.1f}x")
    if args.json:
        args.json.write_text(json.dumps({
            "generator": generator,
            "vkmock_server": config.label,
            "rows": [{"server": label, "body_bytes": size, **load.to_json()} for label, load, size in rows],
            "ratios": {name: round(value, 2) for name, value in ratios.items()},
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
