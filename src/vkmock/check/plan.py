"""The Schemathesis run a contract run starts: its ``schemathesis.toml``, command line, environment and the
report files it writes, all in one working directory.

Schemathesis 4.x has no supported in-process engine for a live target, so the run is
``python -m schemathesis.cli run`` in a child process. Credentials come in through an environment variable the
config file names, never the command line; vkmock's checks and safety hooks come from
:mod:`vkmock.check.hooks`, configured through ``_VKMOCK_CONTRACT_*`` variables.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from vkmock.check.catalog import READ_PHASES
from vkmock.check.http import BASE
from vkmock.check.options import Prepared
from vkmock.check.profiles import Profile

AUTH_VARIABLE = "_VKMOCK_CONTRACT_AUTH"


@dataclass(frozen=True)
class Plan:
    command: list[str]
    env: dict[str, str]
    cwd: Path
    junit: Path
    json: Path
    ndjson: Path

    def report(self, kind: str) -> Path:
        return {"junit": self.junit, "json": self.json, "ndjson": self.ndjson}[kind]


#: Schemathesis' own defaults for the two data checks (4.x), to which a 413 is added.
REFUSALS = ["400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429", "5xx"]
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
#: A write over the deployment's body limit is refused with 413 before it is read, and every spec vkmock
#: bundles documents it: a refusal like any other, for good data and bad alike.
DATA_CHECK_STATUSES = {
    "negative_data_rejection": [*REFUSALS, "413"],
    "positive_data_acceptance": [*ACCEPTED, "413"],
}


def config_toml(prepared: Prepared) -> str:
    allow_writes = prepared.options.allow_writes
    lines = []
    if prepared.credentials.header:
        lines.append(f'headers = {{ Authorization = "${{{AUTH_VARIABLE}}}" }}')
    lines += ["", "[warnings]", 'fail-on = ["missing_auth"]', "", "[phases.coverage]"]
    # Probes with methods an operation does not document never use POST, PUT or DELETE: a server that
    # happened to implement, say, DELETE on the list path must not be triggered by a contract run.
    lines.append('unexpected-methods = ["options", "trace"' + (', "patch"]' if allow_writes else "]"))
    if allow_writes:
        # Schemathesis would otherwise reuse ids from list responses (keys that existed before the run) for
        # PUT and DELETE. Writes go only to keys the run creates; the hooks' stand-ins are the safety net.
        for phase in READ_PHASES:
            lines += ["", f"[phases.{phase}.extra-data-sources]", "responses = false"]
        lines += ["", "[phases.stateful.inference]", "algorithms = []"]
    tables: dict[str, list[str]] = {
        name: [f"expected-statuses = {json.dumps(statuses)}"] for name, statuses in DATA_CHECK_STATUSES.items()
    }
    if prepared.selection is not None:
        lines += ["", "[checks]", "enabled = false"]
        for name, enabled in prepared.selection.items():
            if enabled:
                tables.setdefault(name, []).insert(0, "enabled = true")
    for name, settings in tables.items():
        lines += ["", f"[checks.{name}]", *settings]
    return "\n".join(lines) + "\n"


def left_out(profile: Profile, allow_writes: bool) -> dict[str, str]:
    """``{"METHOD path": why}`` for the operations of the profile's spec the Schemathesis run does not send:
    routes whose credential is not the run's (``security: []``, such as 1.5's quota route, which takes a virtual
    key), and with ``--allow-writes`` the writes to anything but virtual keys (the safety hooks, the stand-ins and
    the cleanup protect keys only, so teams and customers are read, never written)."""
    found: dict[str, str] = {}
    for (method, path), operation in sorted(profile.operations.items()):
        if operation.get("security") == []:
            found[f"{method} {path}"] = "its credential is not the run's"
        elif allow_writes and method != "GET" and path != BASE and not path.startswith(BASE + "/"):
            found[f"{method} {path}"] = "writes are made on virtual keys only"
    return found


def make_plan(prepared: Prepared, profile: Profile, seed: int, work: Path) -> Plan:
    """Write the config into ``work`` and return the run to start there."""
    options = prepared.options
    spec_file = profile.spec_file
    config = work / "schemathesis.toml"
    config.write_text(config_toml(prepared), encoding="utf-8")
    junit, report, ndjson = work / "junit.xml", work / "report.json", work / "events.ndjson"
    settings = {
        "--url": prepared.base_url,
        "--workers": "1",  # more workers crash Hypothesis' cache on CPython 3.11
        "--max-examples": str(options.max_examples),
        "--seed": str(seed),
        "--generation-database": "none",  # the same seed gives the same run
        "--request-timeout": str(options.request_timeout),
        "--phases": ",".join(prepared.phases),
        "--report": "junit,json,ndjson",
        "--report-junit-path": str(junit),
        "--report-json-path": str(report),
        "--report-ndjson-path": str(ndjson),
    }
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run"]
    command += [str(spec_file.resolve()), "--no-color"]
    for name, value in settings.items():
        command += [name, value]
    if not options.allow_writes:
        command += ["--include-method", "GET"]
    for name in left_out(profile, options.allow_writes):
        command += ["--exclude-name", name]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "vkmock.check.hooks",
        "_VKMOCK_CONTRACT_URL": prepared.base_url,
        "_VKMOCK_CONTRACT_WRITES": "1" if options.allow_writes else "0",
        "_VKMOCK_CONTRACT_TIMEOUT": str(options.request_timeout),
        "VKMOCK_SPEC": str(spec_file.resolve()),  # the hooks read the profile's spec
        "PYTHONUNBUFFERED": "1",
        "NO_COLOR": "1",
    }
    env.pop(AUTH_VARIABLE, None)
    if prepared.credentials.header:
        env[AUTH_VARIABLE] = prepared.credentials.header
    return Plan(command, env, work, junit, report, ndjson)
