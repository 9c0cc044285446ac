"""Pydantic models that mirror the bundled spec's schemas (``tests/test_models.py`` proves they agree).

Request models decode bodies the way upstream's Go structs do: strict types (a string where a number belongs is
"Invalid JSON"), unknown fields ignored, ``null`` the same as absent. The bounds and patterns of the spec are
checked by the spec itself (``validation.py``); these models only fix the types.

Response models describe what vkmock serves; fixtures are checked with them when they are loaded.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _integral(value: Any) -> Any:
    """JSON Schema counts ``5.0`` as an integer, so vkmock accepts it (Go's decoder would not)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1), BeforeValidator(_integral)]
UInt = Annotated[int, Field(ge=0, le=2**63 - 1), BeforeValidator(_integral)]


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", allow_inf_nan=False)


class CreateBudgetRequest(_Request):
    max_limit: float | None = None
    reset_duration: str | None = None
    calendar_aligned: bool | None = None


class UpdateBudgetRequest(CreateBudgetRequest):
    pass


class RateLimitRequest(_Request):
    token_max_limit: Int64 | None = None
    token_reset_duration: str | None = None
    request_max_limit: Int64 | None = None
    request_reset_duration: str | None = None


class ProviderConfigRequest(_Request):
    provider: str | None = None
    weight: float | None = None
    allowed_models: list[str] | None = None
    budget: CreateBudgetRequest | None = None
    rate_limit: RateLimitRequest | None = None
    key_ids: list[str] | None = None


class UpdateProviderConfigRequest(ProviderConfigRequest):
    id: UInt | None = None


class MCPConfigRequest(_Request):
    id: UInt | None = None
    mcp_client_name: str | None = None
    tools_to_execute: list[str] | None = None


class CreateVirtualKeyRequest(_Request):
    name: str | None = None
    description: str | None = None
    provider_configs: list[ProviderConfigRequest] | None = None
    mcp_configs: list[MCPConfigRequest] | None = None
    team_id: str | None = None
    customer_id: str | None = None
    budget: CreateBudgetRequest | None = None
    rate_limit: RateLimitRequest | None = None
    is_active: bool | None = None


class UpdateVirtualKeyRequest(CreateVirtualKeyRequest):
    provider_configs: list[UpdateProviderConfigRequest] | None = None  # type: ignore[assignment]


# ---- responses ------------------------------------------------------------------------------------------


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow")


class EnvVar(_Response):
    value: str
    env_var: str
    from_env: bool


class Budget(_Response):
    id: str
    max_limit: float
    reset_duration: str
    calendar_aligned: bool = False
    last_reset: str
    current_usage: float
    config_hash: str | None
    created_at: str
    updated_at: str


class RateLimit(_Response):
    id: str
    token_max_limit: int | None = None
    token_reset_duration: str | None = None
    token_current_usage: int
    token_last_reset: str
    request_max_limit: int | None = None
    request_reset_duration: str | None = None
    request_current_usage: int
    request_last_reset: str
    config_hash: str | None
    created_at: str
    updated_at: str


class TableKey(_Response):
    id: int
    name: str
    provider_id: int = 0
    provider: str
    key_id: str
    value: EnvVar
    models: list[str]
    weight: float | None = None
    enabled: bool | None = True
    use_for_batch_api: bool | None = False
    created_at: str | None = None
    updated_at: str | None = None
    config_hash: str | None = None
    azure_endpoint: EnvVar | None = None
    azure_api_version: EnvVar | None = None
    azure_client_id: EnvVar | None = None
    azure_client_secret: EnvVar | None = None
    azure_tenant_id: EnvVar | None = None
    vertex_project_id: EnvVar | None = None
    vertex_project_number: EnvVar | None = None
    vertex_region: EnvVar | None = None
    vertex_auth_credentials: EnvVar | None = None
    bedrock_access_key: EnvVar | None = None
    bedrock_secret_key: EnvVar | None = None
    bedrock_session_token: EnvVar | None = None
    bedrock_region: EnvVar | None = None
    bedrock_arn: EnvVar | None = None


class VirtualKeyProviderConfig(_Response):
    id: int
    virtual_key_id: str
    provider: str
    weight: float | None
    allowed_models: list[str]
    budget_id: str | None = None
    rate_limit_id: str | None = None
    budget: Budget | None = None
    rate_limit: RateLimit | None = None
    keys: list[TableKey] = Field(default_factory=list)


class MCPClient(_Response):
    id: int
    client_id: str | None = None
    name: str
    connection_type: str | None = None


class VirtualKeyMCPConfig(_Response):
    id: int
    virtual_key_id: str | None = None
    mcp_client_id: int | None = None
    mcp_client: MCPClient | None = None
    mcp_client_name: str | None = None
    tools_to_execute: list[str]


class Customer(_Response):
    id: str
    name: str
    budget_id: str | None = None
    config_hash: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


class Team(_Response):
    id: str
    name: str
    customer_id: str | None = None
    budget_id: str | None = None
    customer: Customer | None = None
    config_hash: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


class VirtualKey(_Response):
    id: str
    name: str
    description: str | None = None
    value: str
    is_active: bool
    provider_configs: list[VirtualKeyProviderConfig]
    mcp_configs: list[VirtualKeyMCPConfig]
    team_id: str | None = None
    customer_id: str | None = None
    budget_id: str | None = None
    rate_limit_id: str | None = None
    team: Team | None = None
    customer: Customer | None = None
    budget: Budget | None = None
    rate_limit: RateLimit | None = None
    config_hash: str | None
    created_at: str
    updated_at: str


class ListVirtualKeysResponse(_Response):
    virtual_keys: list[VirtualKey]
    count: int


class ErrorField(_Response):
    type: str | None = None
    code: str | None = None
    message: str
    param: str | None = None
    event_id: str | None = None


class BifrostError(_Response):
    event_id: str | None = None
    type: str | None = None
    is_bifrost_error: bool
    status_code: int
    error: ErrorField
    extra_fields: dict[str, object] | None = None


#: spec schema name -> model, for the agreement test and for fixture checks.
RESPONSE_MODELS: dict[str, type[BaseModel]] = {
    "EnvVar": EnvVar,
    "Budget": Budget,
    "RateLimit": RateLimit,
    "TableKey": TableKey,
    "VirtualKeyProviderConfig": VirtualKeyProviderConfig,
    "MCPClient": MCPClient,
    "VirtualKeyMCPConfig": VirtualKeyMCPConfig,
    "Customer": Customer,
    "Team": Team,
    "VirtualKey": VirtualKey,
    "ListVirtualKeysResponse": ListVirtualKeysResponse,
    "ErrorField": ErrorField,
    "BifrostError": BifrostError,
}
REQUEST_MODELS: dict[str, type[BaseModel]] = {
    "CreateVirtualKeyRequest": CreateVirtualKeyRequest,
    "UpdateVirtualKeyRequest": UpdateVirtualKeyRequest,
    "CreateBudgetRequest": CreateBudgetRequest,
    "UpdateBudgetRequest": UpdateBudgetRequest,
    "CreateRateLimitRequest": RateLimitRequest,
    "UpdateRateLimitRequest": RateLimitRequest,
    "CreateProviderConfigRequest": ProviderConfigRequest,
    "UpdateProviderConfigRequest": UpdateProviderConfigRequest,
    "MCPConfigRequest": MCPConfigRequest,
}
