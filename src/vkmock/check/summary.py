"""What a contract run found, read back and told: the failures in Schemathesis' NDJSON events, its JSON run
report, the reports a user asked for (with the probes added and every secret removed), and the one-screen
summary."""

from __future__ import annotations

import contextlib
import json
import shutil
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vkmock.check.catalog import Failure
from vkmock.check.cleanup import Cleanup
from vkmock.check.http import PREFIX, Credentials
from vkmock.check.probes import ProbeResult

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PROBE_SUITE = "vkmock probes"


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


def read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def errors_from_output(output: str) -> list[str]:
    """The reason Schemathesis gives for a configuration or network error, without tracebacks."""
    keep = []
    for line in output.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("Traceback", "File ", "^", "━", "Schemathesis v")):
            continue
        keep.append(stripped)
    return keep[-8:]


# ---- the reports a user asked for -------------------------------------------------------------------


def _junit_with_probes(source: Path, probes: list[ProbeResult]) -> str:
    """Schemathesis' JUnit document (or an empty one) with a ``vkmock probes`` suite: one test case a probe."""
    root: ElementTree.Element | None = None
    if source.exists():
        with contextlib.suppress(ElementTree.ParseError, OSError):
            root = ElementTree.fromstring(source.read_text(encoding="utf-8"))
    if root is None or root.tag != "testsuites":
        root = ElementTree.Element("testsuites", {"errors": "0", "failures": "0", "skipped": "0", "tests": "0"})
    failed = sum(1 for probe in probes if not probe.ok)
    counts = {"errors": "0", "failures": str(failed), "skipped": "0", "tests": str(len(probes)), "time": "0"}
    suite = ElementTree.SubElement(root, "testsuite", {"name": PROBE_SUITE, **counts})
    for probe in probes:
        case = ElementTree.SubElement(suite, "testcase", {"name": f"probe: {probe.request}", "time": "0"})
        for failure in probe.failures:
            element = ElementTree.SubElement(case, "failure", {"type": "failure", "message": failure.check})
            element.text = f"[{failure.check}] {failure.operation}: {failure.message}\nrequest: {failure.request}"
    for name in ("tests", "failures"):
        with contextlib.suppress(ValueError):
            root.set(name, str(int(root.get(name, "0")) + int(counts[name])))
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ElementTree.tostring(root, encoding="unicode")


def _json_with_probes(source: Path, probes: list[ProbeResult]) -> str | None:
    if not source.exists():
        return None
    doc = read_json(source)
    doc["vkmock_probes"] = [
        {
            "probe": probe.name,
            "request": probe.request,
            "status": probe.status,
            "failures": [{"check": f.check, "message": f.message} for f in probe.failures],
        }
        for probe in probes
    ]
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def write_reports(
    reports: dict[str, Path], sources: dict[str, Path], probes: list[ProbeResult], credentials: Credentials
) -> dict[str, Path]:
    """Write each requested report (``junit``, ``json``) with the probes added and secrets removed, atomically."""
    written: dict[str, Path] = {}
    for kind, destination in reports.items():
        source = sources[kind]
        text = _junit_with_probes(source, probes) if kind == "junit" else _json_with_probes(source, probes)
        if text is None:
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(destination.name + ".partial")
        partial.write_text(credentials.redact(text), encoding="utf-8")
        shutil.move(str(partial), destination)
        written[kind] = destination
    return written


# ---- the summary ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """Everything the summary tells."""

    base_url: str
    mode: str
    profile: str
    seed: int
    phases: list[str]
    max_examples: int
    status: int
    exit_code: int
    report: dict[str, Any] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    probes: list[ProbeResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    leftovers: Cleanup | None = None
    cleanup: Cleanup | None = None
    written: dict[str, Path] = field(default_factory=dict)
    output: str = ""
    interrupted_by: str | None = None


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        title = error.get("title") or error.get("type") or "error"
        message = error.get("message") or error.get("label") or ""
        return f"{title}: {message}".strip(": ")[:300]
    return str(error)[:300]


def summary(o: Outcome) -> str:
    out = [f"vkmock contract: {o.base_url}  [{o.mode}]", f"  profile: {o.profile}"]
    cases = o.report.get("test_cases") or {}
    ops = o.report.get("operations") or {}
    if o.report:
        out.append(
            f"  operations tested: {ops.get('tested', '?')}/{ops.get('total', '?')}   "
            f"test cases: {cases.get('generated', '?')}   phases: {', '.join(o.phases)}   "
            f"max examples: {o.max_examples}"
        )
    if o.probes:
        shown = ", ".join(f"{p.name} {p.status}{'' if p.ok else ' FAILED'}" for p in o.probes)
        out.append(f"  probes (every run): {shown}")
    out += [f"  note: {note}" for note in o.notes]
    out.append(f"  seed: {o.seed} (repeat with --seed {o.seed})")
    if o.leftovers and o.leftovers.found:
        out.append(f"  removed {o.leftovers.deleted} leftover {PREFIX}* key(s) from an earlier run before starting")
    if o.failures:
        out.append(f"FAILED: {len(o.failures)} problem(s) found")
        shown_failures = o.failures[:12]
        out += [f"  {i}. {f.line()}" for i, f in enumerate(shown_failures, 1)]
        if len(o.failures) > len(shown_failures):
            out.append(f"  ... and {len(o.failures) - len(shown_failures)} more (see the JUnit report or --verbose)")
    for warning, labels in (o.report.get("warnings") or {}).items():
        if labels:
            out.append(f"  warning: {warning.replace('_', ' ')}: {', '.join(map(str, labels))[:200]}")
    errors = o.report.get("errors") or []
    if errors:
        out.append(f"ERRORS: {len(errors)}")
        out += [f"  - {_error_text(e)}" for e in errors[:5]]
    if o.report.get("stop_reason") == "server_unavailable":
        out.append(f"ERROR: cannot connect to {o.base_url}: the deployment stopped answering during the run")
    if o.interrupted_by is not None:
        out.append(f"INTERRUPTED by {o.interrupted_by}: the run was stopped")
    elif o.status not in (0, 1):
        out.append("ERROR: Schemathesis could not run:")
        out += [f"  {line}" for line in errors_from_output(o.output)]
    elif o.status == 1 and not o.failures and not errors:
        out.append("FAILED: Schemathesis reported a failure:")
        out += [f"  {line}" for line in errors_from_output(o.output)]
    if o.cleanup is not None:
        if o.cleanup.problem:
            out.append(f"CLEANUP FAILED: {o.cleanup.problem}; delete keys named {PREFIX}* by hand")
        elif o.cleanup.left:
            names = ", ".join(name if len(name) <= 48 else name[:45] + "..." for name in o.cleanup.left[:5])
            out.append(f"CLEANUP INCOMPLETE: {len(o.cleanup.left)} {PREFIX}* key(s) are still there: {names}")
        else:
            out.append(f"  cleanup: deleted {o.cleanup.deleted} {PREFIX}* key(s) created by this run; none left")
    for kind, path in o.written.items():
        out.append(f"  {kind} report: {path}")
    verdict = {
        EXIT_OK: "PASSED: no contract break found",
        EXIT_FAILED: "RESULT: contract broken (exit 1)",
        EXIT_USAGE: "RESULT: could not run (exit 2)",
    }.get(o.exit_code, f"RESULT: interrupted (exit {o.exit_code})")
    if o.exit_code == EXIT_FAILED and not o.failures and o.cleanup is not None and not o.cleanup.ok:
        verdict = "RESULT: keys left behind (exit 1)"
    out.append(verdict)
    return "\n".join(out)
