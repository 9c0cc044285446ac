"""Request bodies of Bifrost 1.5's governance API, decoded as upstream's Go structs decode them.

Strict types (a string where a number belongs is ``Invalid JSON``), unknown fields ignored, ``null`` the same as
absent. Bounds and patterns are the bundled spec's business (``openapi/bifrost-1.5.yaml``); these only fix types.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from vkmock.bifrost.v1_4.models import Int64, UInt


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", allow_inf_nan=False)


class BudgetRequest(_Request):
    max_limit: float | None = None
    reset_duration: str | None = None
    calendar_aligned: bool | None = None


class RateLimitRequest(_Request):
    token_max_limit: Int64 | None = None
    token_reset_duration: str | None = None
    request_max_limit: Int64 | None = None
    request_reset_duration: str | None = None


class ProviderConfigRequest(_Request):
    id: UInt | None = None  # read on update only
    provider: str | None = None
    weight: float | None = None
    allowed_models: list[str] | None = None
    budgets: list[BudgetRequest] | None = None
    rate_limit: RateLimitRequest | None = None
    key_ids: list[str] | None = None


class MCPConfigRequest(_Request):
    id: UInt | None = None  # read on update only
    mcp_client_name: str | None = None
    tools_to_execute: list[str] | None = None


class VirtualKeyRequest(_Request):
    """Create and update share one shape; ``id`` items matter on update only."""

    name: str | None = None
    description: str | None = None
    provider_configs: list[ProviderConfigRequest] | None = None
    mcp_configs: list[MCPConfigRequest] | None = None
    team_id: str | None = None
    customer_id: str | None = None
    budgets: list[BudgetRequest] | None = None
    rate_limit: RateLimitRequest | None = None
    is_active: bool | None = None
    calendar_aligned: bool | None = None


class TeamRequest(_Request):
    name: str | None = None
    customer_id: str | None = None
    budgets: list[BudgetRequest] | None = None
    rate_limit: RateLimitRequest | None = None


class CustomerRequest(_Request):
    name: str | None = None
    budget: BudgetRequest | None = None
    rate_limit: RateLimitRequest | None = None
