"""Auth as a user wants it: any credential by default, specific ones with --token/--basic, none with --no-auth."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from conftest import BASE
from vkmock.app import create_app
from vkmock.settings import Settings

UNAUTHORIZED = {"is_bifrost_error": False, "status_code": 401, "error": {"message": "Unauthorized"}, "extra_fields": {}}


def basic(pair: str) -> str:
    return "Basic " + base64.b64encode(pair.encode()).decode()


def status(settings: Settings, header: str | None) -> int:
    client = create_app(settings).test_client()
    response = client.get(BASE, headers={"Authorization": header} if header is not None else {})
    if response.status_code == 401:
        assert json.loads(response.data) == UNAUTHORIZED
        assert response.data.endswith(b"}\n")
    return response.status_code


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, 401),
        ("", 401),
        ("Bearer", 401),
        ("Bearer anything-at-all", 200),
        ("bearer lower-case-scheme", 200),
        (basic("admin:pw"), 200),
        ("Basic not-base64!", 401),
        (basic("no-colon"), 401),
        ("Token abc", 401),
        ("Bearer sk-bf-3f1c2a8e-9b7d-4c1e-8a2f-5d6e7f809a1b", 401),
        ("Bearer invalid", 401),
        (basic("SCHEMATHESIS-INVALID-VALUE:x"), 401),
    ],
)
def test_default_mode_accepts_any_well_formed_credential(header: str | None, expected: int) -> None:
    assert status(Settings(), header) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer s3cret", 200),
        ("Bearer other", 200),
        ("Bearer wrong", 401),
        (basic("admin:pw"), 200),
        (basic("admin:nope"), 401),
        ("Bearer " + base64.b64encode(b"admin:pw").decode(), 200),
        (None, 401),
    ],
)
def test_strict_mode_accepts_only_given_credentials(header: str | None, expected: int) -> None:
    settings = Settings(tokens=("s3cret", "other"), basic=("admin:pw",))
    assert status(settings, header) == expected


def test_no_auth_mode_accepts_everything() -> None:
    assert status(Settings(no_auth=True), None) == 200


def test_spec_and_health_are_public(client: Any) -> None:
    assert client.get("/openapi.yaml").status_code == 200
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/_vkmock/health").status_code == 200


def test_unauthorized_comes_before_routing(client: Any) -> None:
    assert client.get(BASE + "/nope").status_code == 401
    assert client.delete(BASE + "/nope").status_code == 401


def test_settings_from_environment() -> None:
    settings = Settings.from_env({"VKMOCK_TOKENS": "a,b", "VKMOCK_PORT": "9001", "VKMOCK_NO_AUTH": "false"})
    assert settings.tokens == ("a", "b") and settings.port == 9001 and settings.auth_mode == "strict"
    assert Settings.from_env({"VKMOCK_PORT": "1"}, port=2).port == 2
    with pytest.raises(ValueError, match="VKMOCK_PORT"):
        Settings.from_env({"VKMOCK_PORT": "eighty"})
