"""The probes every ``vkmock contract`` run sends on purpose, whatever the seed, the phases or the luck of
generation: the breaks they look for are caught on every run, not only when Schemathesis happens to send the
request that shows them.

- **unknown ids**: ``GET /virtual-keys/{id}`` with a well-formed UUID no deployment has, and with an id that is
  not a UUID: 404 with Bifrost's error envelope, in JSON (not an HTML page, not a 500);
- **no credentials** (when the run has credentials): ``GET /virtual-keys`` without ``Authorization``: 401 with
  the envelope;
- **a wrong method**: ``TRACE`` on the list and on a key (a method no Bifrost implements, and one that changes
  nothing even where it is implemented): 405 with an ``Allow`` header naming the methods the spec documents.
  Upstream's router answers it with a plain-text body, so a text body passes; an HTML page, or a JSON body that
  is not the envelope, does not.

Every finding is reported under the name of the check it belongs to (``json_not_html``, ``ignored_auth``, ...),
so ``--checks``/``--exclude-checks`` select probes and Schemathesis' checks alike. Only GET and TRACE are sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vkmock.check import expect
from vkmock.check.catalog import Failure
from vkmock.check.http import BASE, Answer, Target, key_path
from vkmock.check.profiles import Profile

ITEM = BASE + "/{vk_id}"
#: A well-formed UUID v4 that no deployment has (ids are random UUIDs).
UNKNOWN_ID = "0d71f7c0-0000-4000-8000-00000000d71f"
#: An id of another shape (keys loaded from config files can have any id), that no deployment has either.
NOT_A_UUID = "vkmock-contract-no-such-key"
WRONG_METHOD = "TRACE"


@dataclass
class ProbeResult:
    """One probe: what it asked, what came back, and the checks it failed."""

    name: str
    request: str
    status: int
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


class _Judge:
    """Collects the failures of one probe's answer."""

    def __init__(self, profile: Profile, result: ProbeResult, method: str, path: str) -> None:
        self.profile, self.result, self.method, self.path = profile, result, method, path

    def fail(self, check: str, message: str) -> None:
        operation = f"{self.method} {self.path} (probe: {self.result.name})"
        self.result.failures.append(Failure(check, operation, message, self.result.request))

    def status(self, answer: Answer, expected: int, check: str, why: str) -> bool:
        if answer.status == expected:
            return True
        if answer.status >= 500:
            self.fail("not_a_server_error", f"Server error: {answer.status} for {why} (expected {expected})")
        else:
            documented = ", ".join(self.profile.statuses(self.method, self.path)) or "none"
            self.fail(check, f"expected {expected} for {why}, got {answer.status} (documented: {documented})")
        return False

    def json_error_body(self, answer: Answer, envelope_required: bool = True) -> None:
        """An error answer is JSON (never an HTML page), in Bifrost's envelope, and fits the documented schema.
        With ``envelope_required`` false a plain-text body passes (what upstream's router sends for a 405)."""
        if expect.is_html(answer.content_type, answer.body):
            message = expect.html_failure(self.method, answer.status, answer.content_type, answer.body)
            self.fail("json_not_html", message)
            return
        is_json, doc = expect.parse_json(answer.body)
        if not is_json or not expect.is_json_type(answer.content_type):
            if envelope_required:
                shown = answer.content_type or "no Content-Type"
                self.fail("json_not_html", f"not JSON: {answer.status} with {shown}: {answer.snippet(60)}")
            return
        problem = expect.envelope_problem(answer.status, doc)
        if problem:
            self.fail("errors_use_bifrost_envelope", expect.envelope_failure(answer.status, problem, answer.body))
            return
        validator = self.profile.validator(self.method, self.path, answer.status)
        error = next(iter(validator.iter_errors(doc)), None) if validator is not None else None
        if error is not None:
            where = "/" + "/".join(str(part) for part in error.instance_path)
            self.fail("response_schema_conformance", f"Response violates schema: {error.message} (at {where})")


def _unknown_id(target: Target, profile: Profile, vk_id: str, name: str) -> ProbeResult:
    path = key_path(vk_id)
    answer = target.call("GET", path)
    result = ProbeResult(name, f"GET {path}", answer.status)
    judge = _Judge(profile, result, "GET", ITEM)
    judge.status(answer, 404, "status_code_conformance", "a key that does not exist")
    if answer.status >= 400 or expect.is_html(answer.content_type, answer.body):
        judge.json_error_body(answer)
    return result


def _no_credentials(target: Target, profile: Profile) -> ProbeResult:
    answer = target.call("GET", BASE, auth=False)
    result = ProbeResult("no credentials", f"GET {BASE} (without an Authorization header)", answer.status)
    judge = _Judge(profile, result, "GET", BASE)
    if answer.status not in (401, 403):
        judge.fail("ignored_auth", f"without credentials GET {BASE} answered {answer.status}: expected 401")
    else:
        judge.status(answer, 401, "status_code_conformance", "a request without credentials")
    if answer.status >= 400 or expect.is_html(answer.content_type, answer.body):
        judge.json_error_body(answer)
    return result


def _wrong_method(target: Target, profile: Profile, spec_path: str, path: str, name: str) -> ProbeResult:
    answer = target.call(WRONG_METHOD, path)
    result = ProbeResult(name, f"{WRONG_METHOD} {path}", answer.status)
    judge = _Judge(profile, result, WRONG_METHOD, spec_path)
    if answer.status != 405:
        judge.fail(
            "unsupported_method",
            f"{WRONG_METHOD} {path} answered {answer.status}: expected 405 for a method the spec does not document",
        )
    else:
        documented = profile.methods(spec_path)
        allow = {m.strip().upper() for m in _header(answer, "Allow").split(",") if m.strip()}
        missing = [m for m in documented if m not in allow]
        if missing or WRONG_METHOD in allow:
            shown = _header(answer, "Allow") or "no Allow header"
            judge.fail(
                "allow_header_conformance",
                f"405 with {shown!r}: the Allow header must name the documented methods "
                f"({', '.join(documented)}) and not {WRONG_METHOD}",
            )
    if answer.status >= 400 or expect.is_html(answer.content_type, answer.body):
        judge.json_error_body(answer, envelope_required=False)
    return result


def _header(answer: Answer, name: str) -> str:
    return next((value for key, value in answer.headers.items() if key.lower() == name.lower()), "")


def run_probes(target: Target, profile: Profile, with_credentials: bool) -> list[ProbeResult]:
    """Send every probe once; ``ConnectionProblem`` when the deployment cannot be reached."""
    results = [
        _unknown_id(target, profile, UNKNOWN_ID, "unknown id"),
        _unknown_id(target, profile, NOT_A_UUID, "unknown non-UUID id"),
    ]
    if with_credentials:
        results.append(_no_credentials(target, profile))
    results.append(_wrong_method(target, profile, BASE, BASE, f"{WRONG_METHOD} on the list"))
    results.append(_wrong_method(target, profile, ITEM, key_path(UNKNOWN_ID), f"{WRONG_METHOD} on a key"))
    return results
