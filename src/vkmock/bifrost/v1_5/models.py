"""Request bodies of Bifrost 1.5's governance API, decoded as upstream's Go structs decode them.

Strict types (a string where a number belongs is ``Invalid JSON``), unknown fields ignored, ``null`` the same as
absent. Bounds and patterns are the bundled spec's business (``openapi/bifrost-1.5.yaml``); these models only fix
the types. There is one model per request schema of the spec, with the spec's name (``REQUEST_MODELS``;
``tests/test_spec_1_5.py`` proves they agree field by field).

Create and update differ where upstream's structs differ: only update items carry ``id`` (a create body's ``id``
is ignored, as Go ignores a field its struct lacks), and a customer update takes a budget *patch*. The shorter
names (``VirtualKeyRequest``, ``TeamRequest``, ...) decode both with the update shape, for rules that read create
and update bodies alike.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from vkmock.bifrost.v1_4.models import Int64, UInt


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", allow_inf_nan=False)


class CreateBudgetRequest(_Request):
    """A budget to create, or one of the full budget set of an update (Go: ``max_limit`` and ``reset_duration``
    are plain values, so absent is 0 and ``""``)."""

    max_limit: float | None = None
    reset_duration: str | None = None
    calendar_aligned: bool | None = None


class UpdateBudgetRequest(CreateBudgetRequest):
    """A customer's budget patch: ``{}`` removes the budget, otherwise only the fields given change."""


class RateLimitRequest(_Request):
    token_max_limit: Int64 | None = None
    token_reset_duration: str | None = None
    request_max_limit: Int64 | None = None
    request_reset_duration: str | None = None


class CreateProviderConfigRequest(_Request):
    provider: str | None = None
    weight: float | None = None
    allowed_models: list[str] | None = None
    budgets: list[CreateBudgetRequest] | None = None
    rate_limit: RateLimitRequest | None = None
    key_ids: list[str] | None = None


class UpdateProviderConfigRequest(CreateProviderConfigRequest):
    id: UInt | None = None


class CreateMCPConfigRequest(_Request):
    mcp_client_name: str | None = None
    tools_to_execute: list[str] | None = None


class UpdateMCPConfigRequest(CreateMCPConfigRequest):
    id: UInt | None = None


class CreateVirtualKeyRequest(_Request):
    name: str | None = None
    description: str | None = None
    provider_configs: list[CreateProviderConfigRequest] | None = None
    mcp_configs: list[CreateMCPConfigRequest] | None = None
    team_id: str | None = None
    customer_id: str | None = None
    budgets: list[CreateBudgetRequest] | None = None
    rate_limit: RateLimitRequest | None = None
    is_active: bool | None = None
    calendar_aligned: bool | None = None


class UpdateVirtualKeyRequest(CreateVirtualKeyRequest):
    provider_configs: list[UpdateProviderConfigRequest] | None = None  # type: ignore[assignment]
    mcp_configs: list[UpdateMCPConfigRequest] | None = None  # type: ignore[assignment]


class CreateTeamRequest(_Request):
    name: str | None = None
    customer_id: str | None = None
    budgets: list[CreateBudgetRequest] | None = None
    rate_limit: RateLimitRequest | None = None


class UpdateTeamRequest(CreateTeamRequest):
    pass


class CreateCustomerRequest(_Request):
    name: str | None = None
    budget: CreateBudgetRequest | None = None
    rate_limit: RateLimitRequest | None = None


class UpdateCustomerRequest(CreateCustomerRequest):
    budget: UpdateBudgetRequest | None = None


# One shape for create and update bodies (the update one: its items may carry ``id``).
BudgetRequest = CreateBudgetRequest
ProviderConfigRequest = UpdateProviderConfigRequest
MCPConfigRequest = UpdateMCPConfigRequest
VirtualKeyRequest = UpdateVirtualKeyRequest
TeamRequest = UpdateTeamRequest
CustomerRequest = UpdateCustomerRequest

#: spec schema name -> model, for the agreement test.
REQUEST_MODELS: dict[str, type[BaseModel]] = {
    "CreateBudgetRequest": CreateBudgetRequest,
    "UpdateBudgetRequest": UpdateBudgetRequest,
    "CreateRateLimitRequest": RateLimitRequest,
    "UpdateRateLimitRequest": RateLimitRequest,
    "CreateProviderConfigRequest": CreateProviderConfigRequest,
    "UpdateProviderConfigRequest": UpdateProviderConfigRequest,
    "CreateMCPConfigRequest": CreateMCPConfigRequest,
    "UpdateMCPConfigRequest": UpdateMCPConfigRequest,
    "CreateVirtualKeyRequest": CreateVirtualKeyRequest,
    "UpdateVirtualKeyRequest": UpdateVirtualKeyRequest,
    "CreateTeamRequest": CreateTeamRequest,
    "UpdateTeamRequest": UpdateTeamRequest,
    "CreateCustomerRequest": CreateCustomerRequest,
    "UpdateCustomerRequest": UpdateCustomerRequest,
}
