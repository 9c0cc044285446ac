"""The ``vkmock`` command: serve the mock, make and check fixtures, contract-test a deployment."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import yaml

from vkmock import bifrost, spec
from vkmock.bifrost.v1_4 import world as fakes
from vkmock.bifrost.v1_5 import world as world_1_5
from vkmock.clock import ts_micros
from vkmock.control import faults, live, watch
from vkmock.serve import cors, dashboard, fixtures, server
from vkmock.settings import DEFAULT_NOW, Settings

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
_DEFAULTS = Settings()


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="vkmock")
def main() -> None:
    """vkmock: a mock and contract-test server for Bifrost's governance virtual-keys API.

    \b
    Start the mock:            vkmock serve
    Contract-test a server:    vkmock contract --base-url http://localhost:8080 --token T
    Make a fixture:            vkmock fixtures generate --seed 7 --count 50 -o fixtures/mine.json
    """


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"vkmock: {message}", err=True)
    sys.exit(code)


@main.command(context_settings=CONTEXT)
@click.option("--bifrost", type=click.Choice(list(bifrost.PROFILES)), default=None,
              help="The Bifrost version to behave like: its spec, rules, world and list semantics. 1.5 adds teams, "
                   f"customers, budgets[] and paged lists. [default: {bifrost.DEFAULT}]")
@click.option("--host", default=None, help="Address to bind. [default: 127.0.0.1]")
@click.option("--port", type=int, default=None, help="Port to listen on. [default: 8080]")
@click.option("--seed", type=int, default=None, help="Seed of the generated world. [default: 42]")
@click.option("--count", type=click.IntRange(0, 100_000), default=None,
              help="Keys in the generated world. [default: 20]")
@click.option("--now", default=None,
              help="Anchor instant the world is laid out before (RFC 3339). "
                   f"[default: {DEFAULT_NOW}; with --dashboard, the current second]")
@click.option("--fixture", default=None,
              help="Serve this fixture (a file, or a name from the fixtures directory) instead of a generated world.")
@click.option("--fixtures-dir", default=None, type=click.Path(file_okay=False),
              help="Where named fixtures live. [default: ./fixtures]")
@click.option("--db", default=None,
              help="SQLite file, or postgresql://USER:PASS@HOST:PORT/DB shared by replicas, that keeps the world "
                   "across restarts and workers. [default: in memory]")
@click.option("--reset-on-start", is_flag=True, default=None,
              help="With --db: put the seeded world or fixture back at start.")
@click.option("--token", "tokens", multiple=True, help="Accept only this Bearer token (repeatable).")
@click.option("--basic", multiple=True, help="Accept only this USER:PASS with Basic auth (repeatable).")
@click.option("--no-auth", is_flag=True, default=None, help="Accept requests without credentials.")
@click.option("--upstream-quirks", is_flag=True, default=None,
              help="Answer bad input with upstream's own statuses (500 where Bifrost sends 500).")
@click.option("--threads", type=click.IntRange(1, 256), default=None, help="Threads per worker. [default: 8]")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Worker processes (they share --db). [default: 1]")
@click.option("--server", "server_name", type=click.Choice(server.SERVERS), default=None,
              help="WSGI server. [default: waitress]")
@click.option("--max-body", type=click.IntRange(1024), default=None,
              help="Largest request body in bytes (413 above). [default: 1048576]")
@click.option("--quiet", is_flag=True, default=None, help="Print nothing at start.")
@click.option("--latency", default=None, metavar="SPEC",
              help="Delay every API answer: 50ms, 1.5s, 20-200ms (uniform), lognormal:80ms[:SIGMA] (median, "
                   "sigma 0.5); a bare number is ms, at most 60s. 'Prefer: delay=MS' overrides it. "
                   f"[default: {_DEFAULTS.latency}]")
@click.option("--fault-rate", type=click.FloatRange(0, 1), default=None, metavar="P",
              help="Answer this share of API requests (0 to 1) with a 500 or 503 Bifrost error. "
                   f"[default: {_DEFAULTS.fault_rate:g}]")
@click.option("--fault-timeout", default=None, metavar="SPAN",
              help="How long 'Prefer: fault=timeout' holds a connection before closing it (at most 300s). "
                   f"[default: {_DEFAULTS.fault_timeout}]")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="ORIGIN",
              help="Also allow this browser origin (repeatable): https://app.example.com, a glob such as "
                   "https://*.example.com, or *. localhost and 127.0.0.1 origins are always allowed.")
@click.option("--admin-token", default=None, metavar="TOKEN",
              help="Require this token on /_vkmock/ admin routes (Bearer or X-Vkmock-Admin-Token). "
                   "[default: none: admin routes answer loopback clients only]")
@click.option("--journal-size", type=click.IntRange(0, 100_000), default=None,
              help="Recent requests kept for GET /_vkmock/requests (0 turns the journal off). "
                   f"[default: {_DEFAULTS.journal_size}]")
@click.option("--live", is_flag=True, default=None,
              help="A living world: usage accrues and budgets and rate limits reset on a virtual clock that "
                   "starts at --now (control it with POST /_vkmock/clock).")
@click.option("--flush-interval", default=None, metavar="SPAN",
              help="With --live: how often live counters are written to the database view (from_memory=true "
                   "shows them at once); 0 writes only on request. "
                   f"[default: {_DEFAULTS.flush_interval}]")
@click.option("--watch", is_flag=True, default=None,
              help="Reload the --fixture file when it changes; a bad edit is refused and the old world keeps "
                   "serving.")
@click.option("--dashboard", default=None, metavar="DIR",
              help="Also serve this built Bifrost dashboard (the folder with its index.html) on vkmock's own "
                   "origin, the API under /api beside it. Without --token/--basic, auth is off, as on a fresh "
                   "Bifrost.")
def serve(**options: Any) -> None:
    """Serve the virtual-keys API on a real WSGI server until Ctrl-C.

    \b
    Examples:
      vkmock serve                                   # 20 seeded keys on http://127.0.0.1:8080
      vkmock serve --seed 7 --count 200 --port 9000
      vkmock serve --fixture exhausted               # a named scenario from fixtures/
      vkmock serve --db world.sqlite3 --workers 2    # state survives restarts, shared by workers
      vkmock serve --db postgresql://u:p@db:5432/vk  # one world for every replica (docs/postgres.md)
      vkmock serve --token s3cret                    # only 'Authorization: Bearer s3cret' passes
      vkmock serve --live --latency lognormal:80ms   # a demo: usage moves, answers take a while
      vkmock serve --fixture mine.json --watch       # edits to mine.json are served at once
    """
    options["server"] = options.pop("server_name")
    if options.get("dashboard") and options.get("now") is None and "VKMOCK_NOW" not in os.environ:
        # a demo on Bifrost's own screens: the world is laid out before this second, so "created 2 days ago"
        # and "last reset" read right in the browser (--now still gives byte-identical restarts)
        options["now"] = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    try:
        settings = Settings.from_env(**options)
        bifrost.get(settings.bifrost)
        for module in (faults, cors, live, watch, dashboard):
            module.validate(settings)
    except ValueError as exc:
        _fail(str(exc))
    if settings.dashboard and not bifrost.get(settings.bifrost).groups:
        click.echo(f"vkmock: warning: Bifrost's dashboard speaks 1.5, and this serves {settings.bifrost}; "
                   "add --bifrost 1.5", err=True)
    from vkmock.app import build_store, create_app
    from vkmock.errors import ServiceUnavailable
    from vkmock.serve.store import Store

    fixtures_dir = Path(settings.fixtures_dir) if settings.fixtures_dir else spec.default_fixtures_dir()
    with server.shared_database(settings) as settings:
        try:
            store = build_store(settings, fixtures_dir)
            count = store.count()
        except fixtures.FixtureError as exc:
            _fail(f"refusing to start: bad fixture: {exc}")
        except (FileNotFoundError, ValueError, ServiceUnavailable) as exc:  # the last: --db postgresql:// went away
            _fail(f"refusing to start: {exc}")
        shared_store: Store | None = store
        if settings.workers > 1:
            store.close()  # every worker opens its own connection after the fork
            shared_store = None
        try:
            sock = server.bind(settings.host, settings.port)
        except OSError as exc:
            _fail(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}")
        port = sock.getsockname()[1]
        settings = settings.replace(port=port)
        if not settings.quiet:
            _banner(settings, count)

        def make_app() -> Any:
            return create_app(settings, store=shared_store)

        try:
            server.run(make_app, settings.replace(reset_on_start=False), sock)
        except KeyboardInterrupt:
            pass
        finally:
            if not settings.quiet:
                click.echo("vkmock: stopped", err=True)


def _banner(settings: Settings, count: int) -> None:
    from vkmock.serve.store import redacted_url

    host = settings.host if ":" not in settings.host else f"[{settings.host}]"
    url = f"http://{host}:{settings.port}"
    what = f"fixture {settings.fixture}" if settings.fixture else f"seed {settings.seed}"
    click.echo(f"vkmock: serving {count} virtual keys ({what}, Bifrost {settings.bifrost}) on {url}  "
               f"[{settings.server}, {settings.workers} worker(s), "
               f"{'db ' + redacted_url(settings.db) if settings.db else 'in-memory db'}]")
    if settings.auth_mode == "off":
        header = ""
    elif settings.auth_mode == "any":
        header = "-H 'Authorization: Bearer any-token' "
    else:
        header = "-H 'Authorization: Bearer <your --token>' "
    click.echo(f"  try: curl {header}{url}/api/governance/virtual-keys")
    click.echo(f"  spec: {url}/openapi.yaml   health: {url}/_vkmock/health   stop: Ctrl-C")
    if settings.dashboard:
        click.echo(f"  dashboard: {url}/workspace/governance/virtual-keys")
    if not server.is_loopback(settings.host) and settings.auth_mode != "strict":
        click.secho(
            f"WARNING: listening on {settings.host}, reachable from other machines, and accepting "
            f"{'any request' if settings.auth_mode == 'off' else 'any credential'}. "
            "Use --token or --basic, or bind 127.0.0.1.",
            fg="red", bold=True, err=True,
        )


@main.group(context_settings=CONTEXT)
def fixtures_group() -> None:
    """Make, check and list fixture files (list bodies as Bifrost returns them)."""


main.add_command(fixtures_group, name="fixtures")


@fixtures_group.command("generate", context_settings=CONTEXT)
@click.option("--seed", type=int, default=42, show_default=True, help="Seed of the world.")
@click.option("--count", type=click.IntRange(0, 100_000), default=20, show_default=True, help="Number of keys.")
@click.option("--now", default=DEFAULT_NOW, show_default=True, help="Anchor instant (RFC 3339).")
@click.option("--bifrost", "profile_name", type=click.Choice(list(bifrost.PROFILES)), default=bifrost.DEFAULT,
              show_default=True, help="The Bifrost version whose list body to write.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="File to write (.json or .yaml). [default: stdout, JSON]")
def fixtures_generate(seed: int, count: int, now: str, profile_name: str, output: str | None) -> None:
    """Write a seeded world as a fixture file, in the order the list serves it.

    A 1.5 fixture is the unpaged list body (count, limit, offset, total_count, virtual_keys) plus the world's
    teams and customers, so that loading it gives back the same world.

    \b
    Examples:
      vkmock fixtures generate --seed 7 --count 1000 -o fixtures/large.json
      vkmock fixtures generate --bifrost 1.5 --count 50 -o fixtures/1.5/mine.json
    """
    try:
        if profile_name == "1.5":
            world: Any = world_1_5.generate_world(seed, count, now)
        else:
            world = fakes.generate_world(seed, count, now)
    except ValueError as exc:
        _fail(str(exc))
    served = sorted(world.virtual_keys, key=lambda vk: (ts_micros(vk["created_at"]), vk["id"]))  # as listed
    body: dict[str, Any] = {"virtual_keys": served, "count": len(served)}
    if profile_name == "1.5":
        n = len(served)
        body = {"count": n, "limit": n, "offset": 0, "total_count": n, "virtual_keys": served,
                "teams": world.teams, "customers": world.customers}
    if output and output.endswith((".yaml", ".yml")):
        text = yaml.safe_dump(body, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(body, indent=2, ensure_ascii=False) + "\n"
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"vkmock: wrote {count} keys to {output}", err=True)
    else:
        click.echo(text, nl=False)


@fixtures_group.command("validate", context_settings=CONTEXT)
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--bifrost", "profile_name", type=click.Choice(list(bifrost.PROFILES)), default=None,
              help="Insist on this Bifrost version. [default: the one each file fits]")
def fixtures_validate(files: tuple[str, ...], profile_name: str | None) -> None:
    """Check fixture files against the bundled spec of their Bifrost version; exit 1 at the first bad one,
    naming it.

    \b
    Example:
      vkmock fixtures validate fixtures/*.json saved-from-staging.json
    """
    for file in files:
        try:
            data = fixtures.read(Path(file))
            name = profile_name or bifrost.detect(data) or bifrost.DEFAULT
            fixtures.check(data, file, bifrost.get(name))
        except fixtures.FixtureError as exc:
            click.echo(f"INVALID {exc}", err=True)
            sys.exit(1)
        click.echo(f"ok      {file} (Bifrost {name})")


@fixtures_group.command("list", context_settings=CONTEXT)
@click.option("--fixtures-dir", default=None, type=click.Path(file_okay=False),
              help="Directory to list. [default: ./fixtures]")
@click.option("--bifrost", "profile_name", type=click.Choice(list(bifrost.PROFILES)), default=bifrost.DEFAULT,
              show_default=True, help="List the scenarios of this Bifrost version (1.5's live in fixtures/1.5/).")
def fixtures_list(fixtures_dir: str | None, profile_name: str) -> None:
    """List the named scenarios that --fixture NAME can load."""
    directory = Path(fixtures_dir) if fixtures_dir else spec.default_fixtures_dir()
    for name in fixtures.available(directory, bifrost.get(profile_name)):
        click.echo(name)

from vkmock.check.compare import compare_command  # noqa: E402
from vkmock.check.contract import contract_command  # noqa: E402
from vkmock.check.drift import drift_command  # noqa: E402

main.add_command(contract_command, name="contract")
main.add_command(drift_command, name="drift")
main.add_command(compare_command, name="compare")
