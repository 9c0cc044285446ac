"""What a contract run can check, and what a failed check is.

The names are Schemathesis' own checks and vkmock's (registered by :mod:`vkmock.check.hooks`); the probes of
:mod:`vkmock.check.probes` report under the same names, so ``--checks``/``--exclude-checks`` select both.
"""

from __future__ import annotations

from dataclasses import dataclass

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

#: What each check's failure means, in a few words, for the summary.
MEANING = {
    "not_a_server_error": "server error (5xx)",
    "status_code_conformance": "wrong or undocumented status code",
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
    """One failed check: which check, on which operation, why, and the request that showed it."""

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
