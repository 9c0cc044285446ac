"""The ``vkmock`` command: serve the mock, make and check fixtures, contract-test a deployment."""

from __future__ import annotations

import difflib
import json
import os
import signal
import sqlite3
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import yaml

from vkmock import bifrost, spec
from vkmock.bifrost.v1_4 import world as fakes
from vkmock.bifrost.v1_5 import world as world_1_5
from vkmock.clock import parse_ts, ts_micros
from vkmock.control import faults, live, watch
from vkmock.serve import cors, dashboard, fixtures, server
from vkmock.settings import DEFAULT_NOW, ENV_PREFIX, Settings, env_names

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
_DEFAULTS = Settings()
_FIXTURES_DIR = spec.default_fixtures_dir()
_FIXTURES_DEFAULT = f"[default: {_FIXTURES_DIR or 'none: this installation has no fixtures folder'}]"
#: VKMOCK_* variables read by other parts of vkmock, which ``vkmock serve`` leaves alone
OTHER_VARIABLES = {
    "VKMOCK_SPEC": "the spec file to serve and check against (vkmock.spec)",
    "VKMOCK_BASE_URL": "the deployment the pytest plugin tests",
}
OTHER_PREFIXES = ("VKMOCK_CONTRACT_",)  # vkmock contract / drift and the pytest plugin


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


def _cli(name: str) -> bool:
    """True when the option of parameter ``name`` was given on the command line."""
    context = click.get_current_context(silent=True)
    source = context.get_parameter_source(name) if context else None
    return source is click.core.ParameterSource.COMMANDLINE


def _restore_stop_signals() -> None:
    """Ctrl-C and SIGTERM stop the server even when it was started with them ignored.

    A shell starts a background job (``vkmock serve &`` in a script, as CI jobs do) with SIGINT ignored, and
    Python then keeps it ignored: ``kill -INT`` would leave the server running."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _option_variables(command: click.Command) -> dict[str, str]:
    """``{VKMOCK_<OPTION>: settings field}`` for each option of ``command`` (``--cors-origin`` ->
    ``VKMOCK_CORS_ORIGIN`` -> ``cors_origins``)."""
    fields = set(env_names().values())
    found: dict[str, str] = {}
    for param in command.params:
        longs = [o for o in param.opts if o.startswith("--")] if isinstance(param, click.Option) else []
        name = {"server_name": "server"}.get(param.name or "", param.name or "")
        if longs and name in fields:
            found[ENV_PREFIX + longs[0][2:].upper().replace("-", "_")] = name
    return found


def _known_variables(aliases: Mapping[str, str]) -> set[str]:
    known = set(env_names()) | set(aliases) | set(OTHER_VARIABLES)
    commands: list[click.Command] = [main]
    while commands:  # the variables other commands' options read (vkmock contract, drift)
        command = commands.pop()
        if isinstance(command, click.Group):
            commands.extend(command.commands.values())
        for param in command.params:
            envvar = getattr(param, "envvar", None)
            known.update([envvar] if isinstance(envvar, str) else list(envvar or []))
    return known


def _refuse_unknown_variables(environ: Mapping[str, str], aliases: Mapping[str, str]) -> None:
    """A ``VKMOCK_*`` variable nothing reads is most likely a typo: refuse it, naming the closest one."""
    known = _known_variables(aliases)
    unknown = sorted(
        name for name in environ if name.startswith(ENV_PREFIX) and name not in known
        and not name.startswith(OTHER_PREFIXES)
    )
    if not unknown:
        return
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
        hints.append(f"{name} (did you mean {close[0]}?)" if close else name)
    raise ValueError(
        f"unknown environment variable{'s' if len(unknown) > 1 else ''} {', '.join(hints)}: vkmock serve reads "
        f"VKMOCK_<OPTION> for its options ({', '.join(sorted(aliases)[:4])}, ...; see vkmock serve --help); "
        "unset it or fix its name"
    )


def _option_names(options: Mapping[str, Any], environ: Mapping[str, str], aliases: Mapping[str, str]) -> dict[str, str]:
    """``{field: how the user set it}`` (``--port`` or ``VKMOCK_PORT``) for every field that was set."""
    flags = {field: "--" + variable[len(ENV_PREFIX):].lower().replace("_", "-") for variable, field in aliases.items()}
    named: dict[str, str] = {}
    for variable, field in {**env_names(), **aliases}.items():
        if variable in environ:
            named[field] = variable
    for field, value in options.items():
        if value is not None and value != () and field in flags:
            named[field] = flags[field]
    return named


def _check_serve_options(settings: Settings, named: Mapping[str, str]) -> None:
    """``ValueError`` naming the option for a value that cannot work, before anything starts."""

    def name(field: str) -> str:
        return named.get(field) or "--" + field.replace("_", "-")

    def given(field: str, value: Any) -> str:
        option = name(field)
        return f"{option}={value}" if option.startswith(ENV_PREFIX) else f"{option} {value}"

    if not 0 <= settings.port <= 65535:
        raise ValueError(f"{given('port', settings.port)}: a port is a number from 0 to 65535 (0 picks a free one)")
    try:
        parse_ts(settings.now)
    except ValueError:
        raise ValueError(
            f"{given('now', repr(settings.now))}: write an RFC 3339 instant such as {DEFAULT_NOW}"
        ) from None
    for pair in settings.basic:
        user, colon, _ = pair.partition(":")
        if not colon or not user:  # the value is not echoed: it may be a password
            raise ValueError(
                f"{name('basic')}: write USER:PASS (a user name, a colon, a password); a value without a colon "
                "or without a user name can never match a Basic credential"
            )
    if any(not token.strip() for token in settings.tokens):
        raise ValueError(f"{name('tokens')}: a token cannot be empty")
    if settings.no_auth and (settings.tokens or settings.basic):
        strict = name("tokens") if settings.tokens else name("basic")
        raise ValueError(f"{name('no_auth')} accepts every request and {strict} only some: give one of them")
    if settings.db and "://" not in settings.db:  # a SQLite file (a postgresql:// URL is checked when opened)
        folder = Path(settings.db).expanduser().resolve().parent
        if Path(settings.db).is_dir():
            raise ValueError(f"{given('db', settings.db)}: is a directory; give a file path such as world.sqlite3")
        if not folder.is_dir():
            raise ValueError(f"{given('db', settings.db)}: there is no directory {folder} to create it in")


def _meaningless_options(settings: Settings, named: Mapping[str, str]) -> list[str]:
    """Options that were given but do nothing with the others (warned about, not refused)."""
    warnings = []
    if "reset_on_start" in named and settings.reset_on_start and not settings.db:
        warnings.append(f"{named['reset_on_start']} does nothing without --db: the in-memory world is new at "
                        "every start")
    if "flush_interval" in named and not settings.live:
        warnings.append(f"{named['flush_interval']} does nothing without --live (only a live world is flushed)")
    if "count" in named and settings.fixture:
        warnings.append(f"{named['count']} does nothing with --fixture: the fixture's keys are served")
    if "watch_interval" in named and not settings.watch:
        warnings.append(f"{named['watch_interval']} does nothing without --watch")
    return warnings


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
              help=f"Where named fixtures live. {_FIXTURES_DEFAULT}")
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
@click.option("--quiet", is_flag=True, default=None,
              help="Print no banner at start (warnings and errors still go to stderr).")
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
@click.option("--no-answer-cache", is_flag=True, default=None,
              help="Compute every answer, even a repeated read whose answer cannot have changed (by default "
                   "such a read is answered again from the last answer: README, 'Quiet reads').")
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
      vkmock serve --fixture fixtures/mine.json --watch   # edits to the file are served at once

    Every option can also be set as VKMOCK_<OPTION> (VKMOCK_PORT=9000, VKMOCK_TOKEN=a,b); the command line
    wins.
    """
    _restore_stop_signals()
    options["server"] = options.pop("server_name")
    aliases = _option_variables(click.get_current_context().command)
    this_second = bool(options.get("dashboard") and options.get("now") is None and "VKMOCK_NOW" not in os.environ)
    if this_second:
        # a demo on Bifrost's own screens: the world is laid out before this second, so "created 2 days ago"
        # and "last reset" read right in the browser (--now still gives byte-identical restarts)
        options["now"] = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    try:
        _refuse_unknown_variables(os.environ, aliases)
        settings = Settings.from_env(aliases=aliases, **options)
        named = _option_names(options, os.environ, aliases)
        bifrost.get(settings.bifrost)
        _check_serve_options(settings, named)
        for module in (faults, cors, live, watch, dashboard):
            module.validate(settings)
    except ValueError as exc:
        _fail(str(exc))
    for warning in _meaningless_options(settings, named):
        click.echo(f"vkmock: warning: {warning}", err=True)
    if settings.dashboard and not bifrost.get(settings.bifrost).groups:
        click.echo(f"vkmock: warning: Bifrost's dashboard speaks 1.5, and this serves {settings.bifrost}; "
                   "add --bifrost 1.5", err=True)
    from vkmock.app import build_store, create_app
    from vkmock.control.runtime import WORLD_KEY, world_origin
    from vkmock.errors import ServiceUnavailable
    from vkmock.serve.store import Store, redacted_url

    fixtures_dir = Path(settings.fixtures_dir) if settings.fixtures_dir else spec.default_fixtures_dir()
    with server.shared_database(settings) as settings:
        try:
            store = build_store(settings, fixtures_dir)
            count = store.count()
        except fixtures.FixtureError as exc:
            _fail(f"refusing to start: bad fixture: {exc}")
        except sqlite3.Error as exc:
            _fail(f"--db {redacted_url(settings.db or '')}: cannot use it as vkmock's database: {exc}")
        except (FileNotFoundError, ValueError, ServiceUnavailable) as exc:  # the last: --db postgresql:// went away
            _fail(f"refusing to start: {exc}")
        faults.start(settings, store)
        served = store.get_meta(WORLD_KEY)
        wanted = world_origin(settings)
        stored = json.loads(served) if served else (None if settings.db else wanted)  # in memory: just made
        if this_second and stored and "now" in stored:  # the anchor was not asked for: any one is what was meant
            wanted["now"] = stored["now"]
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
            _banner(settings, count, stored)
        if stored != wanted:
            click.echo(
                f"vkmock: note: {redacted_url(settings.db or '')} already holds a world ({_describe(stored)}), "
                "served as stored; "
                f"this run's world options ({_describe(wanted)}) were not used: add --reset-on-start to "
                "replace the stored world with them",
                err=True,
            )

        def make_app() -> Any:
            return create_app(settings, store=shared_store)

        try:
            server.run(make_app, settings.replace(reset_on_start=False), sock)
        except KeyboardInterrupt:
            pass
        finally:
            if not settings.quiet:
                click.echo("vkmock: stopped", err=True)


def _describe(origin: Mapping[str, Any] | None) -> str:
    if not origin:
        return "made by an earlier vkmock version: its seed is unknown"
    version = f", Bifrost {origin['bifrost']}" if origin.get("bifrost") else ""
    if origin.get("fixture"):
        return f"fixture {origin['fixture']}{version}"
    text = f"seed {origin.get('seed')}, {origin.get('count')} keys"
    return text + (f", now {origin.get('now')}" if origin.get("now") != DEFAULT_NOW else "") + version


def _banner(settings: Settings, count: int, origin: Mapping[str, Any] | None = None) -> None:
    from vkmock.serve.store import redacted_url

    host = settings.host if ":" not in settings.host else f"[{settings.host}]"
    url = f"http://{host}:{settings.port}"
    if origin and origin.get("fixture"):
        what = f"fixture {origin['fixture']}"
    elif origin:
        what = f"seed {origin.get('seed')}"
    else:
        what = "a stored world of unknown seed"
    click.echo(f"vkmock: serving {count} virtual keys ({what}, Bifrost {settings.bifrost}) on {url}  "
               f"[{settings.server}, {settings.workers} worker(s), "
               f"{'db ' + redacted_url(settings.db) if settings.db else 'in-memory db'}]")
    env = os.environ
    if settings.auth_mode == "off":
        header = ""
    elif settings.auth_mode == "any":
        header = "-H 'Authorization: Bearer any-token' "
    elif settings.tokens:
        source = next((v for v in ("VKMOCK_TOKEN", "VKMOCK_TOKENS") if env.get(v) and not _cli("tokens")), "--token")
        header = f"-H 'Authorization: Bearer <a token given to {source}>' "
    else:
        source = next((v for v in ("VKMOCK_BASIC",) if env.get(v) and not _cli("basic")), "--basic")
        header = f"-u '<a USER:PASS given to {source}>' "
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
    if output and not output.lower().endswith((".json", ".yaml", ".yml")):
        _fail(f"-o/--output {output}: name a .json, .yaml or .yml file (the suffix chooses the format)")
    try:
        parse_ts(now)
    except ValueError:
        _fail(f"--now {now!r}: write an RFC 3339 instant such as {DEFAULT_NOW}")
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
    if output and output.lower().endswith((".yaml", ".yml")):
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
              help=f"Directory to list. {_FIXTURES_DEFAULT}")
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
