"""What every profile's rules share, apart from any store: decoding a body, the id allocator of a write
and the whitelist rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from vkmock.errors import BadRequest, Conflict
from vkmock.jsonio import InvalidJSON, parse_body

Model = TypeVar("Model", bound=BaseModel)
INVALID_JSON = "Invalid JSON"


@dataclass
class Ids:
    """Allocates integer ids (provider configs, MCP configs) inside a write transaction."""

    next_provider_config: int
    next_mcp_config: int

    def provider_config(self) -> int:
        self.next_provider_config += 1
        return self.next_provider_config - 1

    def mcp_config(self) -> int:
        self.next_mcp_config += 1
        return self.next_mcp_config - 1


def check_whitelist(values: list[str] | None, what: str) -> None:
    """Upstream's WhiteList rule: ``*`` alone, or values without (case-insensitive) repeats; ``what`` is, for
    example, ``allowed_models for provider openai``."""
    if not values:
        return
    if "*" in values and len(values) > 1:
        raise BadRequest(f"invalid {what}: wildcard '*' cannot be used with other values in the whitelist")
    seen: dict[str, str] = {}
    for value in values:
        folded = value.lower()
        if folded in seen:
            message = f"invalid {what}: duplicate value '{value}' in whitelist"
            if seen[folded] == value:
                raise BadRequest(message)
            # Differs only in case: upstream says 400, but the spec's uniqueItems cannot say so, and a 400 on
            # schema-valid data would break the contract; 409 keeps the refusal and the message.
            raise Conflict(message, upstream_status=400)
        seen[folded] = value


def decode(body: bytes, model: type[Model]) -> tuple[Model, dict[str, Any]]:
    """A body as Go's ``json.Unmarshal`` into upstream's struct: anything it would refuse is ``Invalid JSON``.
    Returns the model and the raw object (for ``schema_net``)."""
    try:
        raw = parse_body(body)
    except InvalidJSON as exc:
        raise BadRequest(INVALID_JSON) from exc
    if not isinstance(raw, dict):  # Go decodes `null` into a zero struct; the spec says the body is an object
        raise BadRequest(INVALID_JSON)
    try:
        return model.model_validate(raw), raw
    except ValidationError as exc:
        raise BadRequest(INVALID_JSON) from exc
