"""``vkmock drift``: read what a live deployment returns and report, field by field, where it departs from
the spec of its API profile (``--bifrost``).

Probes (GET only; nothing is written):

1. the list, ``GET /api/governance/virtual-keys``;
2. each key by id (up to ``--max-keys``), ``GET /api/governance/virtual-keys/{vk_id}``;
3. an id that does not exist (404 and the Bifrost error envelope expected);
4. the list without credentials (401 and the envelope expected; skipped when no credentials were given).

Each body is validated with jsonschema-rs against its response schema (:mod:`vkmock.check.schemadiff`), in a
copy of the spec where every object schema that lists its ``properties`` is closed and every ``int64`` carries
its bounds, so that one validation names every kind of difference:

- ``missing``: a required field is absent;
- ``extra``: a field the schema's ``properties`` do not list (the response schemas are open, so Schemathesis
  lets these pass; drift names them);
- ``type``: the wrong JSON type; ``format``: a string that is not an RFC 3339 ``date-time``, an integer out of
  ``int64``; ``value``: a broken ``minimum``/``enum``/``pattern``/..., or a ``count`` that disagrees with
  the list;
- ``status``: another HTTP status than the spec documents for the probe; ``content-type``: not
  ``application/json``; ``not-json``: a body that does not parse; ``envelope``: an error body that is not
  Bifrost's error envelope, or whose ``status_code`` differs from the HTTP status.

Array indices are folded to ``*`` so that one difference in every key is reported once, with a count and an
example path. ``--allowlist FILE`` (YAML or JSON) lists accepted differences by probe, path pattern and kind.

Exit statuses: 0 no drift (or all of it accepted), 1 drift, 2 usage or connection error.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

import click

from vkmock.check import expect, profiles
from vkmock.check.allowlist import accepts, load_allowlist
from vkmock.check.http import (
    BASE,
    Answer,
    ConnectionProblem,
    Credentials,
    Target,
    UsageError,
    key_path,
    normalize_base_url,
)
from vkmock.check.options import CONTEXT, target_options
from vkmock.check.probes import ITEM, UNKNOWN_ID
from vkmock.check.schemadiff import KINDS, Difference, SchemaDiff

__all__ = ["KINDS", "Difference", "DriftReport", "drift_command", "run_drift"]

EXIT_OK, EXIT_DRIFT, EXIT_USAGE = 0, 1, 2
LIST_PROBE = f"GET {BASE}"
ITEM_PROBE = f"GET {ITEM}"
UNKNOWN_PROBE = f"GET {BASE}/{{unknown id}}"
NOAUTH_PROBE = f"GET {BASE} (no credentials)"


# ---- probes -----------------------------------------------------------------------------------------


class Probe:
    def __init__(self, diff: SchemaDiff, probe: str, method: str, path: str) -> None:
        self.diff, self.probe, self.method, self.path = diff, probe, method, path

    def add(self, kind: str, expected: str, actual: str, pointer: str = "") -> None:
        self.diff.add(self.probe, pointer, pointer, kind, expected, actual)

    def check(self, answer: Answer, expected_status: int) -> Any:
        """Check status, content type and body; returns the parsed body (or ``None``)."""
        if answer.status != expected_status:
            documented = self.diff.profile.statuses(self.method, self.path)
            self.add("status", f"{expected_status} (documented: {', '.join(documented)})", str(answer.status))
        if not answer.is_json:
            self.add("content-type", "application/json", answer.content_type or "none")
            if answer.content_type.lower().startswith("text/html") or answer.body.lstrip()[:1] == b"<":
                return None
        is_json, doc = expect.parse_json(answer.body)
        if not is_json:
            self.add("not-json", "a JSON body", repr(answer.snippet(60)))
            return None
        if not self.diff.compare(self.probe, doc, self.method, self.path, answer.status):
            self.diff.compare(self.probe, doc, self.method, self.path, expected_status)
        if answer.status >= 400:
            problem = expect.envelope_problem(answer.status, doc)
            if problem:
                self.add("envelope", expect.ENVELOPE, f"{problem}: {answer.snippet(80)}")
        return doc


@dataclass
class DriftReport:
    base_url: str
    profile: str = profiles.DEFAULT
    profile_chosen_by: str = ""
    differences: list[Difference] = field(default_factory=list)
    accepted: list[Difference] = field(default_factory=list)
    probes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unused_allowlist: list[dict[str, str]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_DRIFT if self.differences else EXIT_OK

    def as_json(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "bifrost": {"profile": self.profile, "chosen_by": self.profile_chosen_by},
            "drift": bool(self.differences),
            "differences": [asdict(d) for d in self.differences],
            "accepted": [asdict(d) for d in self.accepted],
            "probes": self.probes,
            "notes": self.notes,
            "unused_allowlist": self.unused_allowlist,
        }

    def text(self) -> str:
        out = [f"vkmock drift: {self.base_url} against the spec of Bifrost {self.profile} ({self.profile_chosen_by})"]
        out += [f"  probe: {p}" for p in self.probes]
        out += [f"  note: {n}" for n in self.notes]
        if self.differences:
            out.append(f"DRIFT: {len(self.differences)} difference(s)")
            for d in self.differences:
                places = (
                    f"{d.count} place(s), e.g. {d.example}"
                    if d.count > 1 or d.example != d.path
                    else d.example
                )
                out.append(f"  {d.kind:<12} {d.probe}  {d.path}")
                out.append(f"  {'':<12} expected {d.expected}; got {d.actual}  [{places}]")
        if self.accepted:
            out.append(f"accepted by the allowlist: {len(self.accepted)}")
            out += [f"  {d.kind:<12} {d.probe}  {d.path}" for d in self.accepted]
        for entry in self.unused_allowlist:
            out.append(f"  allowlist entry matched nothing: {json.dumps(entry)}")
        out.append("RESULT: drift found (exit 1)" if self.differences else "RESULT: no drift")
        return "\n".join(out)




# ---- the run ----------------------------------------------------------------------------------------


def run_drift(
    base_url: str,
    token: str | None = None,
    basic: str | None = None,
    allowlist: str | None = None,
    max_keys: int = 25,
    timeout: float = 10.0,
    bifrost: str = profiles.DEFAULT,
) -> DriftReport:
    """Probe the deployment. Raises ``UsageError`` or ``ConnectionProblem`` (exit 2)."""
    credentials = Credentials.parse(token, basic)
    base_url = normalize_base_url(base_url)
    entries = load_allowlist(allowlist) if allowlist else []
    if max_keys < 0:
        raise UsageError("--max-keys must be 0 or more")
    auto = (bifrost or profiles.DEFAULT).strip().lower() == profiles.AUTO
    profile = None if auto else profiles.load((bifrost or profiles.DEFAULT).strip())
    target = Target(base_url, credentials.header, timeout)

    answer = target.call("GET", BASE)
    if answer.status in (401, 403):
        if credentials.header:
            raise UsageError(
                f"the deployment refused the credentials ({credentials.kind}): GET {BASE} answered "
                f"{answer.status}"
            )
        raise UsageError(
            f"the deployment needs credentials: GET {BASE} answered {answer.status}; pass --token or --basic"
        )
    profile = profile or profiles.choose(profiles.AUTO, target)
    diff = SchemaDiff(profile)
    report = DriftReport(base_url, profile=profile.name, profile_chosen_by=profile.chosen_by)
    listed = Probe(diff, LIST_PROBE, "GET", BASE).check(answer, 200)
    keys = listed.get("virtual_keys") if isinstance(listed, dict) else None
    keys = keys if isinstance(keys, list) else []
    report.probes.append(f"{LIST_PROBE}: {answer.status}, {len(keys)} key(s)")
    count = listed.get("count") if isinstance(listed, dict) else None
    has_list = isinstance(listed, dict) and isinstance(listed.get("virtual_keys"), list)
    if has_list and isinstance(count, int) and not isinstance(count, bool) and count != len(keys):
        expected = f"the length of virtual_keys ({len(keys)})"
        diff.add(LIST_PROBE, "/count", "/count", "value", expected, str(count))

    ids = [vk["id"] for vk in keys if isinstance(vk, dict) and isinstance(vk.get("id"), str)][:max_keys]
    statuses: dict[int, int] = {}
    for vk_id in ids:
        one = target.call("GET", key_path(vk_id))
        statuses[one.status] = statuses.get(one.status, 0) + 1
        Probe(diff, ITEM_PROBE, "GET", ITEM).check(one, 200)
    if ids:
        seen = ", ".join(f"{n} x {s}" for s, n in sorted(statuses.items()))
        report.probes.append(f"{ITEM_PROBE}: {len(ids)} key(s) read ({seen})")
    elif keys:
        report.notes.append("no key read by id (--max-keys 0)")
    else:
        report.notes.append("the list has no keys: single-key reads were not checked")

    missing = target.call("GET", key_path(UNKNOWN_ID))
    Probe(diff, UNKNOWN_PROBE, "GET", ITEM).check(missing, 404)
    report.probes.append(f"{UNKNOWN_PROBE}: {missing.status}")

    if credentials.header:
        anonymous = target.call("GET", BASE, auth=False)
        Probe(diff, NOAUTH_PROBE, "GET", BASE).check(anonymous, 401)
        report.probes.append(f"{NOAUTH_PROBE}: {anonymous.status}")
    else:
        report.notes.append("no credentials given: the 401 without credentials was not checked")

    used = [False] * len(entries)
    for found in diff.found.values():
        matches = [i for i, entry in enumerate(entries) if accepts(entry, found)]
        for i in matches:
            used[i] = True
        (report.accepted if matches else report.differences).append(found)
    report.unused_allowlist = [entry for entry, hit in zip(entries, used, strict=True) if not hit]
    for found in report.differences + report.accepted:
        found.expected = credentials.redact(found.expected)
        found.actual = credentials.redact(found.actual)
    return report


@click.command(context_settings=CONTEXT)
@target_options("read")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report instead of text.")
@click.option(
    "--allowlist",
    type=click.Path(dir_okay=False),
    default=None,
    help="YAML/JSON list of accepted differences: [{path: '*/rotated_at', kind: extra, "
    "probe: '...', reason: '...'}]; patterns use * and ?.",
)
@click.option("--max-keys", type=int, default=25, show_default=True, help="Keys to read one by one.")
def drift_command(
    base_url: str,
    bifrost: str,
    token: str | None,
    basic: str | None,
    as_json: bool,
    allowlist: str | None,
    max_keys: int,
    request_timeout: float,
) -> None:
    """Report, field by field, where a live deployment's answers depart from the spec of its Bifrost API.

    \b
    Reads (GET only) the list, each key by id, an unknown id and the list without credentials, and reports
    missing required fields, fields the spec does not know, wrong types and formats, wrong statuses and
    error bodies that are not Bifrost's envelope.
    Exit status: 0 no drift (or all accepted by --allowlist), 1 drift, 2 usage or connection error.

    \b
    Examples:
      vkmock drift --base-url http://127.0.0.1:8080 --token any-token
      VKMOCK_CONTRACT_TOKEN=$TOKEN vkmock drift --base-url https://bifrost.staging.example.com --bifrost auto --json
      vkmock drift --basic admin:secret --allowlist accepted-drift.yaml

    \b
    An allowlist file:
      - path: '*/rotated_at'                  # JSON path, array indices as *: here in the list and by id
        kind: extra                           # missing, extra, type, format, value, status, ...
        reason: newer Bifrost adds rotation fields
    """
    try:
        report = run_drift(base_url, token, basic, allowlist, max_keys, request_timeout, bifrost)
    except (UsageError, ConnectionProblem) as exc:
        credentials_hint = Credentials(token or None, basic if basic and ":" in basic else None)
        message = credentials_hint.redact(str(exc))
        if as_json:
            click.echo(json.dumps({"error": message, "exit_code": EXIT_USAGE}))
        click.echo(f"vkmock drift: {message}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(json.dumps(report.as_json(), indent=2) if as_json else report.text())
    sys.exit(report.exit_code)
