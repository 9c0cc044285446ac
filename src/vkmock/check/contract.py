"""``vkmock contract``: contract-test any deployment (the mock or a real Bifrost) against the spec of its API
profile, with Schemathesis and vkmock's own checks.

A run: check the options (:mod:`~vkmock.check.options`); make sure the deployment answers and takes the
credentials; choose the profile (:mod:`~vkmock.check.profiles`, ``--bifrost auto`` asks the deployment); send
the probes every run sends (:mod:`~vkmock.check.probes`); start Schemathesis in a child process
(:mod:`~vkmock.check.plan`, :mod:`~vkmock.check.runner`); when writes were allowed, delete every key named
``vkmock-contract-*`` (:mod:`~vkmock.check.cleanup`), also when the run fails or is interrupted; then read
what was found and tell it (:mod:`~vkmock.check.summary`).

Exit statuses: 0 clean, 1 a check failed (or keys could not be cleaned up), 2 usage or connection error,
130/143 interrupted by SIGINT/SIGTERM.
"""

from __future__ import annotations

import importlib.util
import random
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import click

from vkmock.check import profiles
from vkmock.check.catalog import ALL_PHASES, Failure
from vkmock.check.cleanup import Cleanup, cleanup_keys
from vkmock.check.http import BASE, PREFIX, ConnectionProblem, Credentials, Target, UsageError
from vkmock.check.options import CONTEXT, DEFAULT_BASE_URL, ContractOptions, Prepared, prepare, target_options
from vkmock.check.plan import left_out, make_plan
from vkmock.check.probes import ProbeResult, run_probes
from vkmock.check.runner import Interrupt, ignoring_signals, run_child
from vkmock.check.summary import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Outcome,
    read_failures,
    read_json,
    summary,
    write_reports,
)

__all__ = ["DEFAULT_BASE_URL", "ContractOptions", "ContractResult", "contract_command", "run_contract"]


@dataclass
class ContractResult:
    exit_code: int
    summary: str
    failures: list[Failure] = field(default_factory=list)
    reports: dict[str, Path] = field(default_factory=dict)
    output: str = ""
    cleanup: Cleanup | None = None
    seed: int | None = None
    probes: list[ProbeResult] = field(default_factory=list)
    profile: str | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == EXIT_OK

    def assert_passed(self) -> None:
        """Raise ``AssertionError`` with the summary unless the run was clean (for pytest)."""
        __tracebackhide__ = True
        if not self.ok:
            raise AssertionError("vkmock contract failed:\n" + self.summary)


def _usage(message: str, seed: int | None = None) -> ContractResult:
    return ContractResult(EXIT_USAGE, f"vkmock contract: {message}", seed=seed)


def _preflight(target: Target, credentials: Credentials) -> str | None:
    answer = target.call("GET", BASE)
    if answer.status in (401, 403):
        if credentials.header:
            return (
                f"the deployment refused the credentials ({credentials.kind}): GET {BASE} answered "
                f"{answer.status}; check --token/--basic (or VKMOCK_CONTRACT_TOKEN/VKMOCK_CONTRACT_BASIC)"
            )
        return (
            f"the deployment needs credentials: GET {BASE} answered {answer.status}; pass --token or --basic "
            "(or set VKMOCK_CONTRACT_TOKEN/VKMOCK_CONTRACT_BASIC)"
        )
    return None


def _selected(probes: list[ProbeResult], prepared: Prepared) -> list[ProbeResult]:
    """The probes with only the failures of the checks this run selected."""
    return [replace(p, failures=[f for f in p.failures if prepared.enabled(f.check)]) for p in probes]


def _exit_code(status: int, failures: list[Failure], cleanup: Cleanup | None, interrupt: Interrupt) -> int:
    if interrupt.signum is not None:
        return interrupt.exit_code
    if status in (130, -2):  # -2: the child died of SIGINT
        return 130
    if status not in (0, 1):
        return EXIT_USAGE
    if status == 1 or failures:
        return EXIT_FAILED
    return EXIT_OK if cleanup is None or cleanup.ok else EXIT_FAILED


def run_contract(options: ContractOptions, echo: Callable[[str], None] | None = None) -> ContractResult:
    """Run the contract suite against ``options.base_url``. Never raises for bad options or a target that
    cannot be reached: the result carries exit status 2 and the reason."""
    try:
        prepared = prepare(options)
        auto = options.bifrost.strip().lower() == profiles.AUTO
        profile = None if auto else profiles.load(options.bifrost.strip(), options.spec)
        if importlib.util.find_spec("schemathesis") is None:
            raise UsageError("Schemathesis is not installed: pip install 'vkmock[contract]' (or 'vkmock[test]')")
    except UsageError as exc:
        return _usage(str(exc))
    credentials = prepared.credentials
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(1, 2**31)
    target = Target(prepared.base_url, credentials.header, options.request_timeout)
    try:
        problem = _preflight(target, credentials)
        if problem:
            return _usage(problem, seed)
        if profile is None:
            profile = profiles.choose(profiles.AUTO, target, options.spec)
        probes = _selected(run_probes(target, profile, bool(credentials.header)), prepared)
    except (ConnectionProblem, UsageError) as exc:
        return _usage(credentials.redact(str(exc)), seed)
    notes = [] if credentials.header else ["no credentials given: the 401 without credentials was not probed"]
    reasons: dict[str, list[str]] = {}
    for name, why in left_out(profile, options.allow_writes).items():
        reasons.setdefault(why, []).append(name)
    notes += [f"not sent ({why}): {', '.join(names)}" for why, names in reasons.items()]

    interrupt = Interrupt()
    cleanup: Cleanup | None = None
    leftovers: Cleanup | None = None
    status, output = 130, ""
    with interrupt.installed(), tempfile.TemporaryDirectory(prefix="vkmock-contract-") as tmp:
        plan = make_plan(prepared, profile, seed, Path(tmp))
        try:
            if options.allow_writes:
                leftovers = cleanup_keys(target)
            if interrupt.signum is None:
                status, output = run_child(plan, interrupt, credentials, echo if options.verbose else None)
        finally:
            if options.allow_writes:
                with ignoring_signals():
                    cleanup = cleanup_keys(target)
        sources = {"junit": plan.junit, "json": plan.json}
        written = write_reports(prepared.reports, sources, probes, credentials) if interrupt.signum is None else {}
        failures = [f for p in probes for f in p.failures] + read_failures(plan.ndjson)
        report = read_json(plan.json)
    exit_code = _exit_code(status, failures, cleanup, interrupt)
    if report.get("stop_reason") == "server_unavailable" and exit_code == EXIT_FAILED and not failures:
        exit_code = EXIT_USAGE  # a connection error, like a closed port at the start
    mode = "writes allowed (stateful)" if options.allow_writes else "read-only: GET requests only"
    outcome = Outcome(
        base_url=prepared.base_url,
        mode=mode,
        profile=profile.label,
        seed=seed,
        phases=prepared.phases,
        max_examples=options.max_examples,
        status=status,
        exit_code=exit_code,
        report=report,
        failures=failures,
        probes=probes,
        notes=notes,
        leftovers=leftovers,
        cleanup=cleanup,
        written=written,
        output=output,
        interrupted_by=interrupt.name if interrupt.signum is not None else None,
    )
    text = credentials.redact(summary(outcome))
    return ContractResult(exit_code, text, failures, written, output, cleanup, seed, probes, profile.name)


# ---- the command ------------------------------------------------------------------------------------


@click.command(context_settings=CONTEXT)
@target_options("test")
@click.option(
    "--allow-writes",
    is_flag=True,
    help="Also test POST/PUT/DELETE and the stateful phase. Keys it "
    f"creates are named {PREFIX}* and deleted at the end, even on failure or Ctrl-C.",
)
@click.option("--max-examples", "-n", type=int, default=25, show_default=True, help="Test cases per operation.")
@click.option("--seed", type=int, default=None, help="Seed for a reproducible run. [default: random, printed]")
@click.option(
    "--checks",
    "-c",
    multiple=True,
    metavar="LIST",
    help="Run only these checks (comma-separated, repeatable; 'all' for every one).",
)
@click.option("--exclude-checks", multiple=True, metavar="LIST", help="Skip these checks (comma-separated).")
@click.option(
    "--phases",
    multiple=True,
    metavar="LIST",
    help=f"Phases to run, of {', '.join(ALL_PHASES)}. [default: all that the mode allows]",
)
@click.option(
    "--report",
    "reports",
    multiple=True,
    metavar="FORMAT:PATH",
    help="Write a report: junit:PATH (JUnit XML) or json:PATH (Schemathesis' run report). Repeatable.",
)
@click.option(
    "--spec",
    type=click.Path(dir_okay=False),
    default=None,
    help="Another spec. [default: the bundled spec of the --bifrost profile]",
)
@click.option("--verbose", "-v", is_flag=True, help="Also stream Schemathesis' own output.")
def contract_command(**kwargs: Any) -> None:
    """Contract-test a deployment (the mock or a real Bifrost) with Schemathesis, against its profile's spec.

    \b
    By default only GET requests are sent. --allow-writes adds create/update/delete and the stateful phase;
    every key it creates is named vkmock-contract-* and deleted at the end, even when the run fails or is
    interrupted, and keys that existed before the run are never changed.
    Every run also probes, on purpose: an id that does not exist (404 in Bifrost's error envelope), the list
    without credentials (401) and a method the spec does not document (405).
    Exit status: 0 clean, 1 a check failed, 2 usage or connection error, 130/143 interrupted.

    \b
    Checks: Schemathesis' (not_a_server_error, status_code_conformance, response_schema_conformance,
    ignored_auth, use_after_free, ...) and vkmock's: count_matches_list, timestamps_are_rfc3339,
    errors_use_bifrost_envelope, json_not_html, created_key_is_readable, update_is_persisted,
    deleted_key_is_gone, some_request_succeeded.

    \b
    Examples:
      vkmock contract --base-url http://127.0.0.1:8080 --token any-token
      VKMOCK_CONTRACT_TOKEN=$TOKEN vkmock contract --base-url https://bifrost.staging.example.com \\
          --bifrost auto --seed 7 --max-examples 50 --report junit:reports/contract.xml
      vkmock contract --basic admin:secret --allow-writes --exclude-checks ignored_auth
    """
    kwargs["checks"] = tuple(kwargs["checks"])
    result = run_contract(ContractOptions(**kwargs), echo=click.echo)
    click.echo(result.summary, err=result.exit_code == EXIT_USAGE)
    sys.exit(result.exit_code)
