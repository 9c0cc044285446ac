"""The floor: the least a Flask app can do to answer like vkmock, under the same WSGI server and settings.

Every request gets precomputed bytes chosen by its method (``GET``, ``POST``, ``PUT``...), read from the JSON
file given as the first argument: ``{"GET": "<path of a file with the body>", ...}``. The request body, if
any, is read first, as any real endpoint would. Nothing is parsed, validated, stored or logged.

It is served by ``vkmock.serve.server.run`` itself with the ``--server``/``--workers``/``--threads`` given here, so
the floor and vkmock differ only in the app: the ratio vkmock/floor is the cost of vkmock's own work.

    python benchmarks/floor.py BODIES.json --server waitress --workers 1 --threads 8 --port 0

Prints ``floor: serving on http://HOST:PORT`` once it listens, and stops on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from flask import Flask, Response, request

from vkmock.serve import server
from vkmock.settings import Settings


def make_app(bodies: dict[str, bytes]) -> Flask:
    app = Flask("floor")
    default = next(iter(bodies.values()), b"{}")

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST", "PUT", "DELETE"])
    @app.route("/<path:path>", methods=["GET", "POST", "PUT", "DELETE"])
    def answer(path: str) -> Response:
        request.get_data(cache=False)
        return Response(bodies.get(request.method, default), content_type="application/json")

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "bodies", type=Path, help="JSON file mapping an HTTP method to a file with its answer"
    )
    parser.add_argument("--server", choices=server.SERVERS, default=Settings.server)
    parser.add_argument("--workers", type=int, default=Settings.workers)
    parser.add_argument("--threads", type=int, default=Settings.threads)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    mapping = json.loads(args.bodies.read_text())
    bodies = {method.upper(): Path(path).read_bytes() for method, path in mapping.items()}
    settings = Settings(
        host=args.host,
        port=args.port,
        server=args.server,
        workers=args.workers,
        threads=args.threads,
        quiet=True,
    )
    sock = server.bind(settings.host, settings.port)
    settings = settings.replace(port=sock.getsockname()[1])
    print(f"floor: serving on http://{settings.host}:{settings.port}", flush=True)
    try:
        server.run(lambda: make_app(bodies), settings, sock)
    except KeyboardInterrupt:
        pass
    finally:
        print("floor: stopped", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
