"""``vkmock contract``: contract-test any deployment (the mock or a real Bifrost) with Schemathesis and the
bundled spec.

Schemathesis 4.x has no supported in-process engine for a live target, so the run is
``python -m schemathesis.cli run`` in a child process, configured by a generated ``schemathesis.toml``
(credentials come in through an environment variable, never the command line), with vkmock's own checks and
safety hooks loaded from :mod:`vkmock.check.hooks`. This module prepares the run, checks that the target
answers, runs it, reads the NDJSON and JSON reports back into a one-screen summary, writes the requested
reports with secrets removed, and, when writes were allowed, deletes every key named ``vkmock-contract-*``,
also when the run fails or is interrupted (SIGINT/SIGTERM).

Exit statuses: 0 clean, 1 a check failed (or keys could not be cleaned up), 2 usage or connection error,
130/143 interrupted by SIGINT/SIGTERM.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from vkmock import spec
from vkmock.check.http import (
    BASE,
    PREFIX,
    ConnectionProblem,
    Credentials,
    Target,
    UsageError,
    key_path,
    normalize_base_url,
)

DEFAULT_BASE_URL = "http://localhost:8080"
BUILTIN_CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
    "ignored_auth",
    "object_level_authorization",
)
#: vkmock's own checks (defined in vkmock.check.hooks).
VKMOCK_CHECKS = (
    "count_matches_list",
    "timestamps_are_rfc3339",
    "errors_use_bifrost_envelope",
    "json_not_html",
    "created_key_is_readable",
    "update_is_persisted",
    "deleted_key_is_gone",
    "some_request_succeeded",
)
ALL_CHECKS = BUILTIN_CHECKS + VKMOCK_CHECKS
READ_PHASES = ("examples", "coverage", "fuzzing")
ALL_PHASES = (*READ_PHASES, "stateful")
REPORT_FORMATS = ("junit", "json")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
STOP_GRACE = 15.0  # seconds the child gets to stop after it is asked to
CLEANUP_DEADLINE = 60.0


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


#: What each check's failure means, in a few words, for the summary.
MEANING = {
    "not_a_server_error": "server error (5xx)",
    "status_code_conformance": "undocumented status code",
    "content_type_conformance": "undocumented Content-Type",
    "response_headers_conformance": "response headers differ from the spec",
    "response_schema_conformance": "response body does not match the spec",
    "negative_data_rejection": "invalid input accepted",
    "positive_data_acceptance": "valid input refused",
    "missing_required_header": "request without a required header accepted",
    "unsupported_method": "undocumented method not answered with 405",
    "allow_header_conformance": "405 without a correct Allow header",
    "use_after_free": "deleted key still readable",
    "ensure_resource_availability": "created key not readable",
    "ignored_auth": "credentials ignored (no 401 without valid credentials)",
    "object_level_authorization": "object-level authorization",
    "count_matches_list": "count disagrees with the list",
    "timestamps_are_rfc3339": "timestamp not RFC 3339",
    "errors_use_bifrost_envelope": "error body is not the Bifrost envelope",
    "json_not_html": "not JSON (HTML page?)",
    "created_key_is_readable": "write not persisted",
    "update_is_persisted": "update not persisted",
    "deleted_key_is_gone": "delete left the key readable",
    "some_request_succeeded": "no request succeeded",
}


@dataclass(frozen=True)
class Failure:
    check: str
    operation: str
    message: str
    request: str = ""

    @property
    def headline(self) -> str:
        """The message's first line, with the schema location when Schemathesis gives one."""
        lines = [line.strip() for line in self.message.splitlines() if line.strip()]
        if not lines:
            return ""
        head = lines[0]
        if head.startswith("Received:") and len(lines) > 1 and lines[1].startswith("Documented:"):
            head = f"{head}; {lines[1]}"
        where = next((line for line in lines if line.startswith("Schema at ")), "")
        if where:
            head += f" ({where.removeprefix('Schema at ').rstrip(':')})"
        elif len(lines) > 1 and self.check in ("ensure_resource_availability", "use_after_free"):
            head += " " + " ".join(lines[1:3])
        return head if len(head) <= 300 else head[:297] + "..."

    def line(self) -> str:
        meaning = MEANING.get(self.check, "")
        text = f"[{self.check}]{' ' + meaning if meaning else ''}\n     {self.operation}: {self.headline}"
        return text + (f"\n     request: {self.request}" if self.request else "")


@dataclass
class Cleanup:
    found: int = 0
    deleted: int = 0
    left: list[str] = field(default_factory=list)
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return not self.left and self.problem is None


@dataclass
class ContractResult:
    exit_code: int
    summary: str
    failures: list[Failure] = field(default_factory=list)
    reports: dict[str, Path] = field(default_factory=dict)
    output: str = ""
    cleanup: Cleanup | None = None
    seed: int | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == EXIT_OK

    def assert_passed(self) -> None:
        """Raise ``AssertionError`` with the summary unless the run was clean (for pytest)."""
        __tracebackhide__ = True
        if not self.ok:
            raise AssertionError("vkmock contract failed:\n" + self.summary)


def _split(values: tuple[str, ...]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _parse_reports(values: tuple[str, ...]) -> dict[str, Path]:
    reports: dict[str, Path] = {}
    for value in values:
        kind, sep, path = value.partition(":")
        kind = kind.strip().lower()
        if kind not in REPORT_FORMATS:
            raise UsageError(
                f"--report takes FORMAT:PATH with FORMAT one of {', '.join(REPORT_FORMATS)}, got {value!r}"
            )
        reports[kind] = Path(
            path if sep and path else f"contract-{kind}.{'xml' if kind == 'junit' else 'json'}"
        )
    return reports


def _check_selection(options: ContractOptions) -> dict[str, bool] | None:
    """``{check: enabled}`` for every check when ``--checks``/``--exclude-checks`` were given, else None."""
    include, exclude = _split(options.checks), _split(options.exclude_checks)
    for name in include + exclude:
        if name != "all" and name not in ALL_CHECKS:
            raise UsageError(f"unknown check {name!r}; known checks: {', '.join(ALL_CHECKS)}")
    if not include and not exclude:
        return None
    selected = set(ALL_CHECKS) if not include or "all" in include else set(include)
    if "all" in exclude:
        selected = set()
    selected -= set(exclude)
    if not selected:
        raise UsageError("--checks/--exclude-checks leave no check to run")
    return {name: name in selected for name in ALL_CHECKS}


def _config_toml(
    options: ContractOptions, credentials: Credentials, selection: dict[str, bool] | None
) -> str:
    lines = []
    if credentials.header:
        lines.append('headers = { Authorization = "${_VKMOCK_CONTRACT_AUTH}" }')
    lines += ["", "[warnings]", 'fail-on = ["missing_auth"]', "", "[phases.coverage]"]
    # Probes with methods an operation does not document never use POST, PUT or DELETE: a server that
    # happened to implement, say, DELETE on the list path must not be triggered by a contract run.
    lines.append('unexpected-methods = ["options", "trace"' + (', "patch"]' if options.allow_writes else "]"))
    if options.allow_writes:
        # Schemathesis would otherwise reuse ids from list responses (keys that existed before the run) for
        # PUT and DELETE. Writes go only to keys the run creates; the hooks' stand-ins are the safety net.
        for phase in READ_PHASES:
            lines += ["", f"[phases.{phase}.extra-data-sources]", "responses = false"]
        lines += ["", "[phases.stateful.inference]", "algorithms = []"]
    if selection is not None:
        lines += ["", "[checks]", "enabled = false"]
        for name, enabled in selection.items():
            if enabled:
                lines += [f"[checks.{name}]", "enabled = true"]
    return "\n".join(lines) + "\n"


# ---- running the child ------------------------------------------------------------------------------


class _Interrupt:
    """SIGINT/SIGTERM during a run: remember it, ask the child to stop, clean up, exit 130/143."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.count = 0
        self.child: subprocess.Popen[bytes] | None = None

    def handle(self, signum: int, frame: Any) -> None:
        self.signum = self.signum or signum
        self.count += 1
        child = self.child
        if child is not None and child.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGINT if self.count == 1 else signal.SIGKILL)

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or signal.SIGINT)

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _run_child(
    command: list[str],
    env: dict[str, str],
    cwd: Path,
    interrupt: _Interrupt,
    credentials: Credentials,
    echo: Callable[[str], None] | None,
) -> tuple[int, str]:
    """Run Schemathesis; returns (exit status, redacted output). Stops it on interrupt."""
    lines: list[str] = []
    process = subprocess.Popen(
        command,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    interrupt.child = process

    def pump() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = credentials.redact(raw.decode("utf-8", errors="replace").rstrip("\n"))
            lines.append(line)
            if echo is not None:
                echo(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        if interrupt.signum is not None:  # interrupted before the child started
            interrupt.handle(interrupt.signum, None)
        deadline: float | None = None
        while process.poll() is None:
            if interrupt.signum is not None:
                deadline = deadline or time.monotonic() + STOP_GRACE
                if time.monotonic() > deadline:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.2)
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_GRACE)
        reader.join(timeout=STOP_GRACE)
        if process.stdout is not None:
            process.stdout.close()
        interrupt.child = None
    return process.returncode, "\n".join(lines)


# ---- cleanup ----------------------------------------------------------------------------------------


def cleanup_keys(target: Target, deadline: float = CLEANUP_DEADLINE) -> Cleanup:
    """Delete every key whose name starts with ``vkmock-contract-``, then list again to be sure."""
    result = Cleanup()
    stop = time.monotonic() + deadline
    try:
        keys = [vk for vk in target.list_keys() if str(vk.get("name", "")).startswith(PREFIX)]
        result.found = len(keys)
        for vk in keys:
            if time.monotonic() > stop:
                break
            answer = target.call("DELETE", key_path(str(vk.get("id"))))
            if answer.status in (200, 204, 404):
                result.deleted += answer.status != 404
        result.left = [
            str(vk.get("name")) for vk in target.list_keys() if str(vk.get("name", "")).startswith(PREFIX)
        ]
    except (ConnectionProblem, ValueError) as exc:
        result.problem = str(exc)
    return result


# ---- reading the reports ----------------------------------------------------------------------------


def _request_line(value: dict[str, Any]) -> str:
    path = str(value.get("path", ""))
    for name, param in (value.get("path_parameters") or {}).items():
        path = path.replace("{" + str(name) + "}", str(param))
    query = value.get("query") or {}
    if query:
        path += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    text = f"{value.get('method', '')} {path}"
    if "body" in value:
        body = json.dumps(value["body"], ensure_ascii=False)
        text += " " + (body if len(body) <= 160 else body[:157] + "...")
    return text


def read_failures(ndjson: Path) -> list[Failure]:
    """Unique check failures from Schemathesis's NDJSON event stream, in the order they happened."""
    found: dict[tuple[str, str, str], Failure] = {}
    if not ndjson.exists():
        return []
    with ndjson.open(encoding="utf-8") as events:
        for line in events:
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                scenario = event.get("ScenarioFinished") if isinstance(event, dict) else None
                if not scenario:
                    continue
                recorder = scenario.get("recorder") or {}
                cases = recorder.get("cases") or {}
                for case_id, checks in (recorder.get("checks") or {}).items():
                    for check in checks:
                        if check.get("status") != "failure":
                            continue
                        info = (check.get("failure_info") or {}).get("failure") or {}
                        operation = info.get("operation") or recorder.get("label") or ""
                        message = str(info.get("message") or info.get("title") or "").strip()
                        name = str(check.get("name"))
                        key = (name, operation, message.splitlines()[0] if message else "")
                        if key not in found:
                            value = (cases.get(case_id) or {}).get("value") or {}
                            found[key] = Failure(
                                name,
                                operation,
                                message or str(info.get("title", "")),
                                _request_line(value) if value else "",
                            )
    return list(found.values())


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _errors_from_output(output: str) -> list[str]:
    """The reason Schemathesis gives for a configuration or network error, without tracebacks."""
    keep = []
    for line in output.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("Traceback", "File ", "^", "━", "Schemathesis v")):
            continue
        keep.append(stripped)
    return keep[-8:]


# ---- the run ----------------------------------------------------------------------------------------


def run_contract(options: ContractOptions, echo: Callable[[str], None] | None = None) -> ContractResult:
    """Run the contract suite against ``options.base_url``. Never raises for bad options or a target that
    cannot be reached: the result carries exit status 2 and the reason."""
    try:
        credentials = Credentials.parse(options.token, options.basic)
        base_url = normalize_base_url(options.base_url)
        selection = _check_selection(options)
        reports = _parse_reports(options.reports)
        phases = _split(options.phases) or list(ALL_PHASES if options.allow_writes else READ_PHASES)
        unknown = [p for p in phases if p not in ALL_PHASES]
        if unknown:
            raise UsageError(f"unknown phase {unknown[0]!r}; phases: {', '.join(ALL_PHASES)}")
        if "stateful" in phases and not options.allow_writes:
            raise UsageError("the stateful phase creates, updates and deletes keys: add --allow-writes")
        if options.max_examples < 1:
            raise UsageError("--max-examples must be at least 1")
        spec_file = Path(options.spec) if options.spec else spec.spec_path()
        if not spec_file.is_file():
            raise UsageError(f"spec not found: {spec_file}")
        if importlib.util.find_spec("schemathesis") is None:
            raise UsageError("Schemathesis is not installed: pip install 'vkmock[contract]' (or 'vkmock[test]')")
    except UsageError as exc:
        return ContractResult(EXIT_USAGE, f"vkmock contract: {exc}")
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(1, 2**31)
    target = Target(base_url, credentials.header, options.request_timeout)
    try:
        problem = _preflight(target, credentials)
    except ConnectionProblem as exc:
        return ContractResult(EXIT_USAGE, f"vkmock contract: {exc}", seed=seed)
    if problem:
        return ContractResult(EXIT_USAGE, f"vkmock contract: {problem}", seed=seed)

    interrupt = _Interrupt()
    cleanup: Cleanup | None = None
    leftovers: Cleanup | None = None
    with interrupt.installed(), tempfile.TemporaryDirectory(prefix="vkmock-contract-") as tmp:
        work = Path(tmp)
        try:
            if options.allow_writes:
                leftovers = cleanup_keys(target)
            config = work / "schemathesis.toml"
            config.write_text(_config_toml(options, credentials, selection), encoding="utf-8")
            paths = {
                "junit": work / "junit.xml",
                "json": work / "report.json",
                "ndjson": work / "events.ndjson",
            }
            settings = {
                "--url": base_url,
                "--workers": "1",  # more workers crash Hypothesis' cache on CPython 3.11
                "--max-examples": str(options.max_examples),
                "--seed": str(seed),
                "--generation-database": "none",  # the same seed gives the same run
                "--request-timeout": str(options.request_timeout),
                "--phases": ",".join(phases),
                "--report": "junit,json,ndjson",
                "--report-junit-path": str(paths["junit"]),
                "--report-json-path": str(paths["json"]),
                "--report-ndjson-path": str(paths["ndjson"]),
            }
            command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run"]
            command += [str(spec_file.resolve()), "--no-color"]
            for name, value in settings.items():
                command += [name, value]
            if not options.allow_writes:
                command += ["--include-method", "GET"]
            env = {
                **os.environ,
                "SCHEMATHESIS_HOOKS": "vkmock.check.hooks",
                "_VKMOCK_CONTRACT_URL": base_url,
                "_VKMOCK_CONTRACT_WRITES": "1" if options.allow_writes else "0",
                "_VKMOCK_CONTRACT_TIMEOUT": str(options.request_timeout),
                "PYTHONUNBUFFERED": "1",
                "NO_COLOR": "1",
            }
            env.pop("_VKMOCK_CONTRACT_AUTH", None)
            if credentials.header:
                env["_VKMOCK_CONTRACT_AUTH"] = credentials.header
            if options.spec:
                env["VKMOCK_SPEC"] = str(spec_file.resolve())
            if interrupt.signum is None:
                status, output = _run_child(
                    command, env, work, interrupt, credentials, echo if options.verbose else None
                )
            else:
                status, output = 130, ""
        finally:
            if options.allow_writes:
                with _ignoring_signals():
                    cleanup = cleanup_keys(target)
        written = _write_reports(reports, paths, credentials) if interrupt.signum is None else {}
        failures = read_failures(paths["ndjson"])
        report = _read_json(paths["json"])
    result = ContractResult(status, "", failures, written, output, cleanup, seed)
    result.exit_code = _exit_code(status, failures, cleanup, interrupt)
    if report.get("stop_reason") == "server_unavailable" and result.exit_code == EXIT_FAILED and not failures:
        result.exit_code = EXIT_USAGE  # a connection error, like a closed port at the start
    result.summary = credentials.redact(
        _summary(
            options,
            base_url,
            seed,
            phases,
            status,
            report,
            failures,
            leftovers,
            cleanup,
            written,
            output,
            interrupt,
            result.exit_code,
        )
    )
    return result


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


@contextlib.contextmanager
def _ignoring_signals() -> Iterator[None]:
    """The cleanup is bounded by timeouts; a second Ctrl-C must not leave keys behind half-way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _write_reports(
    reports: dict[str, Path], paths: dict[str, Path], credentials: Credentials
) -> dict[str, Path]:
    written: dict[str, Path] = {}
    for kind, destination in reports.items():
        source = paths[kind]
        if not source.exists():
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        text = credentials.redact(source.read_text(encoding="utf-8"))
        partial = destination.with_name(destination.name + ".partial")
        partial.write_text(text, encoding="utf-8")
        shutil.move(str(partial), destination)
        written[kind] = destination
    return written


def _exit_code(status: int, failures: list[Failure], cleanup: Cleanup | None, interrupt: _Interrupt) -> int:
    if interrupt.signum is not None:
        return interrupt.exit_code
    if status == 0:
        return EXIT_OK if cleanup is None or cleanup.ok else EXIT_FAILED
    if status == 1:
        return EXIT_FAILED
    if status in (130, -signal.SIGINT):
        return 130
    return EXIT_USAGE


def _summary(
    options: ContractOptions,
    base_url: str,
    seed: int,
    phases: list[str],
    status: int,
    report: dict[str, Any],
    failures: list[Failure],
    leftovers: Cleanup | None,
    cleanup: Cleanup | None,
    written: dict[str, Path],
    output: str,
    interrupt: _Interrupt,
    exit_code: int,
) -> str:
    mode = "writes allowed (stateful)" if options.allow_writes else "read-only: GET requests only"
    out = [f"vkmock contract: {base_url}  [{mode}]"]
    cases = report.get("test_cases") or {}
    ops = report.get("operations") or {}
    if report:
        out.append(
            f"  operations tested: {ops.get('tested', '?')}/{ops.get('total', '?')}   "
            f"test cases: {cases.get('generated', '?')}   phases: {', '.join(phases)}   "
            f"max examples: {options.max_examples}"
        )
    out.append(f"  seed: {seed} (repeat with --seed {seed})")
    if leftovers and leftovers.found:
        out.append(
            f"  removed {leftovers.deleted} leftover {PREFIX}* key(s) from an earlier run before starting"
        )
    if failures:
        out.append(f"FAILED: {len(failures)} problem(s) found")
        shown = failures[:12]
        out += [f"  {i}. {f.line()}" for i, f in enumerate(shown, 1)]
        if len(failures) > len(shown):
            out.append(f"  ... and {len(failures) - len(shown)} more (see the JUnit report or --verbose)")
    for warning, labels in (report.get("warnings") or {}).items():
        if labels:
            out.append(f"  warning: {warning.replace('_', ' ')}: {', '.join(map(str, labels))[:200]}")
    errors = report.get("errors") or []
    if errors:
        out.append(f"ERRORS: {len(errors)}")
        out += [f"  - {_error_text(e)}" for e in errors[:5]]
    if report.get("stop_reason") == "server_unavailable":
        out.append(f"ERROR: cannot connect to {base_url}: the deployment stopped answering during the run")
    if interrupt.signum is not None:
        out.append(f"INTERRUPTED by {signal.Signals(interrupt.signum).name}: the run was stopped")
    elif status not in (0, 1):
        out.append("ERROR: Schemathesis could not run:")
        out += [f"  {line}" for line in _errors_from_output(output)]
    elif status == 1 and not failures and not errors:
        out.append("FAILED: Schemathesis reported a failure:")
        out += [f"  {line}" for line in _errors_from_output(output)]
    if cleanup is not None:
        if cleanup.problem:
            out.append(f"CLEANUP FAILED: {cleanup.problem}; delete keys named {PREFIX}* by hand")
        elif cleanup.left:
            names = ", ".join(name if len(name) <= 48 else name[:45] + "..." for name in cleanup.left[:5])
            out.append(f"CLEANUP INCOMPLETE: {len(cleanup.left)} {PREFIX}* key(s) are still there: {names}")
        else:
            out.append(
                f"  cleanup: deleted {cleanup.deleted} {PREFIX}* key(s) created by this run; none left"
            )
    for kind, path in written.items():
        out.append(f"  {kind} report: {path}")
    verdict = {
        EXIT_OK: "PASSED: no contract break found",
        EXIT_FAILED: "RESULT: contract broken (exit 1)",
        EXIT_USAGE: "RESULT: could not run (exit 2)",
    }.get(exit_code, f"RESULT: interrupted (exit {exit_code})")
    if exit_code == EXIT_FAILED and not failures and cleanup is not None and not cleanup.ok:
        verdict = "RESULT: keys left behind (exit 1)"
    out.append(verdict)
    return "\n".join(out)


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        title = error.get("title") or error.get("type") or "error"
        message = error.get("message") or error.get("label") or ""
        return f"{title}: {message}".strip(": ")[:300]
    return str(error)[:300]


# ---- the command ------------------------------------------------------------------------------------

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


def target_options(verb: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options that name a deployment, its credentials and patience, shared by ``contract`` and ``drift``."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        options = (
            click.option("--base-url", envvar="VKMOCK_CONTRACT_BASE_URL", default=DEFAULT_BASE_URL, show_default=True,
                         help=f"Deployment to {verb} (env VKMOCK_CONTRACT_BASE_URL)."),
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


@click.command(context_settings=CONTEXT)
@target_options("test")
@click.option(
    "--allow-writes",
    is_flag=True,
    help="Also test POST/PUT/DELETE and the stateful phase. Keys it "
    f"creates are named {PREFIX}* and deleted at the end, even on failure or Ctrl-C.",
)
@click.option(
    "--max-examples", "-n", type=int, default=25, show_default=True, help="Test cases per operation."
)
@click.option(
    "--seed", type=int, default=None, help="Seed for a reproducible run. [default: random, printed]"
)
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
    "--spec", type=click.Path(dir_okay=False), default=None, help="Another spec. [default: the bundled one]"
)
@click.option("--verbose", "-v", is_flag=True, help="Also stream Schemathesis' own output.")
def contract_command(**kwargs: Any) -> None:
    """Contract-test a deployment (the mock or a real Bifrost) against the bundled spec with Schemathesis.

    \b
    By default only GET requests are sent. --allow-writes adds create/update/delete and the stateful phase;
    every key it creates is named vkmock-contract-* and deleted at the end, even when the run fails or is
    interrupted, and keys that existed before the run are never changed.
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
          --seed 7 --max-examples 50 --report junit:reports/contract.xml
      vkmock contract --basic admin:secret --allow-writes --exclude-checks ignored_auth
    """
    kwargs["checks"] = tuple(kwargs["checks"])
    options = ContractOptions(**kwargs)
    result = run_contract(options, echo=click.echo)
    stream_err = result.exit_code == EXIT_USAGE
    click.echo(result.summary, err=stream_err)
    sys.exit(result.exit_code)
