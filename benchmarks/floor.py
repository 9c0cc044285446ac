"""The floor: the least a Flask app can do to answer like vkmock, under the same WSGI server and settings.

Every request gets precomputed bytes chosen by its method (``GET``, ``POST``, ``PUT``...), read from the JSON
file given as the first argument: ``{"GET": "<path of a file with the body>", ...}``. The request body, if
any, is read first, as any real endpoint would. Nothing is parsed, validated, stored or logged.

Run as a script, it is served by ``vkmock.serve.server.run`` itself with the ``--server``/``--workers``/``--threads``
given here, so the floor and vkmock differ only in the app: the ratio vkmock/floor is the cost of vkmock's own
work::

    python benchmarks/floor.py BODIES.json --server waitress --workers 1 --threads 8 --port 0

Prints ``floor: serving on http://HOST:PORT`` once it listens, and stops on SIGTERM or Ctrl-C.

The *plain* floor is the same app under a server's own command line, with nothing of vkmock in the process
(this module imports vkmock only when run as a script): the ratio floor/plain is the cost of vkmock's server
set-up. ``FLOOR_BODIES`` names the JSON file; ``benchmarks/`` must be on the path::

    FLOOR_BODIES=BODIES.json python -m waitress --threads=8 --port=8081 --call floor:plain_app
    FLOOR_BODIES=BODIES.json python -m gunicorn --threads 8 --bind 127.0.0.1:8081 'floor:plain_app()'
    FLOOR_BODIES=BODIES.json python -m granian --interface wsgi --blocking-threads 8 --factory floor:plain_app
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from flask import Flask, Response, request

BODIES_ENV = "FLOOR_BODIES"


def make_app(bodies: dict[str, bytes]) -> Flask:
    app = Flask("floor")
    default = next(iter(bodies.values()), b"{}")

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST", "PUT", "DELETE"])
    @app.route("/<path:path>", methods=["GET", "POST", "PUT", "DELETE"])
    def answer(path: str) -> Response:
        request.get_data(cache=False)
        return Response(bodies.get(request.method, default), content_type="application/json")

    return app


def load_bodies(mapping_file: Path) -> dict[str, bytes]:
    mapping = json.loads(mapping_file.read_text())
    return {method.upper(): Path(path).read_bytes() for method, path in mapping.items()}


def plain_app() -> Flask:
    """The floor app for a server's own command line; its bodies come from the file named by ``FLOOR_BODIES``."""
    try:
        mapping_file = os.environ[BODIES_ENV]
    except KeyError:
        raise SystemExit(f"floor: set {BODIES_ENV} to the JSON file mapping a method to its body") from None
    return make_app(load_bodies(Path(mapping_file)))


def main(argv: list[str] | None = None) -> None:
    from vkmock.serve import server
    from vkmock.settings import Settings

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
    bodies = load_bodies(args.bodies)
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
