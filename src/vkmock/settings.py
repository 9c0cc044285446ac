"""One ``Settings`` object: the only home of vkmock's defaults.

Every field can be set from the environment as ``VKMOCK_<FIELD>`` (for example ``VKMOCK_PORT=9000``,
``VKMOCK_TOKENS=a,b``); ``vkmock serve`` also reads ``VKMOCK_<OPTION>`` for each of its options
(``VKMOCK_TOKEN``, ``VKMOCK_CORS_ORIGIN``) and refuses a ``VKMOCK_*`` variable that nothing reads. Command-line
options override the environment.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

ENV_PREFIX = "VKMOCK_"

#: The instant the seeded world is laid out around; fixed so bodies are byte-identical across restarts.
DEFAULT_NOW = "2026-11-01T12:00:00Z"


@dataclass(frozen=True)
class Settings:
    # network
    host: str = "127.0.0.1"
    port: int = 8080
    threads: int = 8
    workers: int = 1
    server: str = "waitress"
    # the Bifrost version spoken (``vkmock.bifrost``): its spec, rules, world shape and list semantics
    bifrost: str = "1.4"
    # the world
    seed: int = 42
    count: int = 20
    now: str = DEFAULT_NOW
    fixture: str | None = None
    fixtures_dir: str | None = None
    db: str | None = None
    reset_on_start: bool = False
    # behaviour
    tokens: tuple[str, ...] = ()
    basic: tuple[str, ...] = ()
    no_auth: bool = False
    upstream_quirks: bool = False
    max_body: int = 1024 * 1024
    admin_token: str | None = None
    cors_origins: tuple[str, ...] = ()
    journal_size: int = 500
    # off: a governance GET is not answered again from its last answer while the version stays (control.answers)
    no_answer_cache: bool = False
    quiet: bool = False
    # scenario control: latency and faults (control.faults), the living clock (control.live), hot reload
    latency: str = "0"
    fault_rate: float = 0.0
    fault_timeout: str = "30s"
    live: bool = False
    flush_interval: str = "10s"
    watch: bool = False
    watch_interval: str = "1s"
    # a built Bifrost dashboard served on vkmock's origin (serve.dashboard)
    dashboard: str | None = None

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, aliases: Mapping[str, str] | None = None, **overrides: Any
    ) -> Settings:
        """Defaults, then ``VKMOCK_*`` variables, then ``overrides`` (``None`` values are ignored).

        ``aliases`` maps more variable names to fields (``VKMOCK_TOKEN`` -> ``tokens``); two variables set for
        one field are a ``ValueError``."""
        environ = os.environ if environ is None else environ
        types = {f.name: f.type for f in fields(cls)}
        names = {**env_names(), **(aliases or {})}
        values: dict[str, Any] = {}
        source: dict[str, str] = {}
        for variable, name in names.items():
            raw = environ.get(variable)
            if raw is None:
                continue
            if name in source:
                raise ValueError(f"{source[name]} and {variable} are both set (they mean the same): set one")
            values[name] = _coerce(variable, types[name], raw)
            source[name] = variable
        for key, value in overrides.items():
            if value is None or (isinstance(value, tuple) and not value and key in values):
                continue
            values[key] = tuple(value) if isinstance(value, list) else value
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @property
    def auth_mode(self) -> str:
        """``off``, ``strict`` (specific credentials) or ``any`` (any well-formed credential)."""
        if self.no_auth:
            return "off"
        if self.dashboard and not (self.tokens or self.basic):
            return "off"  # a dashboard of its own, as a fresh Bifrost serves it: auth not configured
        return "strict" if (self.tokens or self.basic) else "any"


def env_names() -> dict[str, str]:
    """``{VKMOCK_<FIELD>: field}`` for every field."""
    return {ENV_PREFIX + f.name.upper(): f.name for f in fields(Settings)}


def _coerce(variable: str, annotation: Any, raw: str) -> Any:
    kind = str(annotation)
    try:
        if kind.startswith("tuple"):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        if kind == "bool":
            if raw.strip().lower() in ("1", "true", "yes", "on"):
                return True
            if raw.strip().lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError as exc:
        raise ValueError(f"{variable}={raw!r} is not a valid {kind}") from exc
    return raw
