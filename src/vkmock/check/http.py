"""A small HTTP client for ``vkmock contract`` and ``vkmock drift``: a deployment, credentials, redaction.

Only the standard library: the Schemathesis hooks import this module inside the Schemathesis process too.
Secrets (the token, the Basic pair and its base64 form) are kept here and :meth:`Credentials.redact` removes
them from any text before it is shown or written to a report.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vkmock.exceptions import VkmockError

#: Every key ``vkmock contract --allow-writes`` creates is named with this prefix, and removed at the end.
PREFIX = "vkmock-contract-"
BASE = "/api/governance/virtual-keys"
REDACTED = "[redacted]"
PAGE, MAX_PAGES = 100, 1000  # a paged list is read 100 keys at a time, at most 100,000 keys


class UsageError(VkmockError):
    """Bad options or input files: exit status 2."""


class ConnectionProblem(VkmockError):
    """The deployment cannot be reached (refused, timed out, DNS, TLS): exit status 2."""


@dataclass(frozen=True)
class Credentials:
    token: str | None = None
    basic: str | None = None

    @classmethod
    def parse(cls, token: str | None, basic: str | None) -> Credentials:
        token = token or None
        basic = basic or None
        if token and basic:
            raise UsageError("give either --token or --basic, not both")
        if basic is not None and ":" not in basic:
            raise UsageError("--basic takes USER:PASS (the value has no ':')")
        if token is not None and (token.strip() != token or any(ch in token for ch in "\r\n")):
            raise UsageError("--token must not contain spaces at either end or line breaks")
        return cls(token, basic)

    @property
    def header(self) -> str | None:
        """The ``Authorization`` value, or ``None`` without credentials."""
        if self.token:
            return f"Bearer {self.token}"
        if self.basic:
            return "Basic " + base64.b64encode(self.basic.encode()).decode()
        return None

    @property
    def kind(self) -> str:
        return "Bearer token" if self.token else "Basic USER:PASS" if self.basic else "no credentials"

    def secrets(self) -> list[str]:
        found: list[str] = []
        if self.token:
            found.append(self.token)
        if self.basic:
            found.append(self.basic)
            found.append(base64.b64encode(self.basic.encode()).decode())
            password = self.basic.partition(":")[2]
            if len(password) >= 4:
                found.append(password)
        # longest first, so a secret that contains another is removed whole
        return sorted({s for s in found if s}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets():
            if len(secret) >= 8:
                text = text.replace(secret, REDACTED)
            else:  # a short secret ("x") only as a word of its own, or every "x" in the text would go
                text = re.sub(rf"(?<![\w-]){re.escape(secret)}(?![\w-])", REDACTED, text)
        return text


def normalize_base_url(url: str) -> str:
    parsed = urllib.parse.urlsplit(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise UsageError(f"--base-url must be an http:// or https:// URL with a host, got {url!r}")
    if parsed.query or parsed.fragment:
        raise UsageError(f"--base-url must not carry a query or fragment, got {url!r}")
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, parsed.path.rstrip("/"), "", ""))


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def is_json(self) -> bool:
        return self.content_type.split(";")[0].strip().lower() == "application/json"

    def json(self) -> Any:
        """The body as JSON; ``ValueError`` when it is not."""
        return json.loads(self.body.decode("utf-8"))

    def snippet(self, limit: int = 120) -> str:
        text = self.body.decode("utf-8", errors="replace").strip().replace("\n", " ")
        return text if len(text) <= limit else text[: limit - 3] + "..."


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is an answer to report, never followed (credentials must not travel)


@dataclass
class Target:
    """One deployment: base URL, the ``Authorization`` value to send (or ``None``), timeout."""

    base_url: str
    authorization: str | None = None
    timeout: float = 10.0

    def __post_init__(self) -> None:
        self._opener = urllib.request.build_opener(_NoRedirect)

    def url(self, path: str) -> str:
        return self.base_url + path

    def call(self, method: str, path: str, *, auth: bool = True, body: Any = None) -> Answer:
        headers = {"Accept": "application/json", "User-Agent": "vkmock-contract"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth and self.authorization:
            headers["Authorization"] = self.authorization
        request = urllib.request.Request(self.url(path), data=data, method=method, headers=headers)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return Answer(
                    response.status,
                    response.headers.get("Content-Type", ""),
                    response.read(),
                    dict(response.headers),
                )
        except urllib.error.HTTPError as error:
            with error:
                return Answer(
                    error.code, error.headers.get("Content-Type", ""), error.read(), dict(error.headers)
                )
        except (TimeoutError, urllib.error.URLError, OSError) as exc:
            raise ConnectionProblem(f"cannot connect to {self.base_url}: {_reason(exc)}") from None

    def send(
        self, method: str, path: str, *, data: bytes | None = None, headers: dict[str, str] | None = None,
        auth: bool = True, agent: str = "vkmock-compare",
    ) -> Answer:
        """Like :meth:`call`, with the body as bytes (sent as they are) and headers of the caller's own; a
        header the caller gives wins over the credentials (``Authorization: Bearer sk-bf-...`` for the quota)."""
        sent = {"Accept": "application/json", "User-Agent": agent}
        if data is not None:
            sent["Content-Type"] = "application/json"
        if auth and self.authorization:
            sent["Authorization"] = self.authorization
        for name, value in (headers or {}).items():
            sent = {k: v for k, v in sent.items() if k.lower() != name.lower()}
            sent[name] = value
        request = urllib.request.Request(self.url(path), data=data, method=method, headers=sent)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return Answer(response.status, response.headers.get("Content-Type", ""), response.read(),
                              dict(response.headers))
        except urllib.error.HTTPError as error:
            with error:
                return Answer(error.code, error.headers.get("Content-Type", ""), error.read(), dict(error.headers))
        except (TimeoutError, urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise ConnectionProblem(f"cannot connect to {self.base_url}: {_reason(exc)}") from None

    def list_keys(self) -> list[dict[str, Any]]:
        """Every key the list returns, page after page when the list is paged (Bifrost 1.5 answers at most 100
        keys a page and says how many there are in ``total_count``); ``ValueError`` with a reason when the list
        cannot be read."""
        doc = self._list_page(BASE)
        keys: list[Any] = list(doc["virtual_keys"])
        total = doc.get("total_count")
        if isinstance(total, int) and not isinstance(total, bool):
            for _ in range(MAX_PAGES):
                if len(keys) >= total:
                    break
                page = self._list_page(f"{BASE}?limit={PAGE}&offset={len(keys)}")["virtual_keys"]
                if not page:
                    break
                keys += page
        return [vk for vk in keys if isinstance(vk, dict)]

    def _list_page(self, path: str) -> dict[str, Any]:
        answer = self.call("GET", path)
        if answer.status != 200:
            raise ValueError(f"GET {path} answered {answer.status}: {answer.snippet()}")
        try:
            doc = answer.json()
        except ValueError:
            raise ValueError(f"GET {path} did not answer JSON: {answer.snippet()}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("virtual_keys"), list):
            raise ValueError(f"GET {path} has no 'virtual_keys' list")
        return doc


def _reason(exc: BaseException) -> str:
    reason: Any = getattr(exc, "reason", None) or exc
    if isinstance(reason, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def key_path(vk_id: str) -> str:
    return f"{BASE}/{urllib.parse.quote(vk_id, safe='')}"


RFC3339 = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt](?P<time>\d{2}:\d{2}:\d{2})(?:\.\d{1,9})?(?P<zone>[Zz]|[+-]\d{2}:\d{2})$"
)


def is_rfc3339(value: str) -> bool:
    """Whether ``value`` is an RFC 3339 date-time that names a real instant (not just the right shape)."""
    match = RFC3339.match(value)
    if not match:
        return False
    try:
        datetime.fromisoformat(f"{match['date']}T{match['time']}")
    except ValueError:
        return False  # 2026-13-45T25:61:00Z has the shape but is not a date
    zone = match["zone"]
    return zone in "Zz" or (int(zone[1:3]) < 24 and int(zone[4:6]) < 60)
