"""What a contract run is asked to do: the target and its credentials, the profile, checks, phases, reports.

:class:`ContractOptions` is what ``vkmock contract`` and the pytest plugin fill in; :func:`prepare` checks it
and turns it into :class:`Prepared` (or raises :class:`UsageError`, exit 2). :func:`target_options` are the
command-line options ``contract`` and ``drift`` share.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from vkmock.check.catalog import ALL_CHECKS, ALL_PHASES, READ_PHASES
from vkmock.check.http import Credentials, UsageError, normalize_base_url
from vkmock.check.profiles import CHOICES, DEFAULT

DEFAULT_BASE_URL = "http://localhost:8080"
REPORT_FORMATS = ("junit", "json")
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


@dataclass
class ContractOptions:
    base_url: str = DEFAULT_BASE_URL
    token: str | None = field(default=None, repr=False)  # secrets stay out of reprs (pytest prints them)
    basic: str | None = field(default=None, repr=False)
    allow_writes: bool = False
    max_examples: int = 25
    seed: int | None = None
    checks: tuple[str, ...] = ()
    exclude_checks: tuple[str, ...] = ()
    phases: tuple[str, ...] = ()
    reports: tuple[str, ...] = ()
    request_timeout: float = 10.0
    spec: str | None = None
    verbose: bool = False
    bifrost: str = DEFAULT


@dataclass(frozen=True)
class Prepared:
    """Checked options: everything a run needs except what only the deployment can tell (the profile)."""

    options: ContractOptions
    base_url: str
    credentials: Credentials
    selection: dict[str, bool] | None  # {check: enabled} when checks were chosen, else every check runs
    reports: dict[str, Path]
    phases: list[str]

    def enabled(self, check: str) -> bool:
        return self.selection is None or self.selection.get(check, False)


def split(values: tuple[str, ...]) -> list[str]:
    """``("a,b", "c")`` -> ``["a", "b", "c"]``: comma-separated, repeatable options."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def parse_reports(values: tuple[str, ...]) -> dict[str, Path]:
    reports: dict[str, Path] = {}
    for value in values:
        kind, sep, path = value.partition(":")
        kind = kind.strip().lower()
        if kind not in REPORT_FORMATS:
            raise UsageError(
                f"--report takes FORMAT:PATH with FORMAT one of {', '.join(REPORT_FORMATS)}, got {value!r}"
            )
        reports[kind] = Path(path if sep and path else f"contract-{kind}.{'xml' if kind == 'junit' else 'json'}")
    return reports


def check_selection(checks: tuple[str, ...], exclude: tuple[str, ...]) -> dict[str, bool] | None:
    """``{check: enabled}`` for every check when ``--checks``/``--exclude-checks`` were given, else None."""
    include, excluded = split(checks), split(exclude)
    for name in include + excluded:
        if name != "all" and name not in ALL_CHECKS:
            raise UsageError(f"unknown check {name!r}; known checks: {', '.join(ALL_CHECKS)}")
    if not include and not excluded:
        return None
    selected = set(ALL_CHECKS) if not include or "all" in include else set(include)
    if "all" in excluded:
        selected = set()
    selected -= set(excluded)
    if not selected:
        raise UsageError("--checks/--exclude-checks leave no check to run")
    return {name: name in selected for name in ALL_CHECKS}


def prepare(options: ContractOptions) -> Prepared:
    """Check the options; ``UsageError`` names the first one that is wrong."""
    credentials = Credentials.parse(options.token, options.basic)
    base_url = normalize_base_url(options.base_url)
    selection = check_selection(options.checks, options.exclude_checks)
    reports = parse_reports(options.reports)
    phases = split(options.phases) or list(ALL_PHASES if options.allow_writes else READ_PHASES)
    unknown = [p for p in phases if p not in ALL_PHASES]
    if unknown:
        raise UsageError(f"unknown phase {unknown[0]!r}; phases: {', '.join(ALL_PHASES)}")
    if "stateful" in phases and not options.allow_writes:
        raise UsageError("the stateful phase creates, updates and deletes keys: add --allow-writes")
    if options.max_examples < 1:
        raise UsageError("--max-examples must be at least 1")
    if (options.bifrost or DEFAULT).strip().lower() not in CHOICES:
        raise UsageError(f"--bifrost takes one of {', '.join(CHOICES)}, got {options.bifrost!r}")
    return Prepared(options, base_url, credentials, selection, reports, phases)


def target_options(verb: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options that name a deployment, its API profile, credentials and patience, shared by ``contract``
    and ``drift``."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        options = (
            click.option("--base-url", envvar="VKMOCK_CONTRACT_BASE_URL", default=DEFAULT_BASE_URL, show_default=True,
                         help=f"Deployment to {verb} (env VKMOCK_CONTRACT_BASE_URL)."),
            click.option("--bifrost", envvar="VKMOCK_CONTRACT_BIFROST", type=click.Choice(CHOICES),
                         default=DEFAULT, show_default=True,
                         help="The Bifrost API the deployment speaks; auto asks it (GET /api/version) and says "
                              "which it chose (env VKMOCK_CONTRACT_BIFROST)."),
            click.option("--token", envvar="VKMOCK_CONTRACT_TOKEN", default=None,
                         help="Send 'Authorization: Bearer TOKEN' (env VKMOCK_CONTRACT_TOKEN). Never printed."),
            click.option("--basic", envvar="VKMOCK_CONTRACT_BASIC", default=None, metavar="USER:PASS",
                         help="Send Basic credentials instead (env VKMOCK_CONTRACT_BASIC). Never printed."),
            click.option("--request-timeout", type=click.FloatRange(0.1, 600), default=10.0, show_default=True,
                         help="Seconds to wait for each response."),
        )
        for option in reversed(options):
            command = option(command)
        return command

    return decorate
