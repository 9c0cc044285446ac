"""Fixture files: what a real deployment returns is a fixture; a bad one is refused with file, path, reason."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import AUTH, BASE, FIXTURES, ROOT, request
from vkmock.app import create_app
from vkmock.serve import fixtures
from vkmock.settings import Settings


def vkmock(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vkmock", *args], capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def test_named_scenarios_exist_and_are_valid() -> None:
    assert {"default", "empty", "exhausted"} <= set(fixtures.available(FIXTURES))
    for name in ("default", "empty", "exhausted"):  # the ones shipped; a user may add their own beside them
        fixtures.check(fixtures.read(fixtures.named(name, FIXTURES)), name)


def test_exhausted_scenario_has_spent_budgets_and_inactive_keys() -> None:
    keys = fixtures.check(fixtures.read(FIXTURES / "exhausted.json"), "exhausted")
    assert all(vk["budget"]["current_usage"] >= vk["budget"]["max_limit"] for vk in keys)
    assert any(not vk["is_active"] for vk in keys)


@pytest.mark.slow
def test_a_served_list_is_a_valid_fixture(tmp_path: Path, client: Any) -> None:
    saved = tmp_path / "saved.json"
    saved.write_bytes(client.get(BASE, headers=AUTH).data)
    result = vkmock("fixtures", "validate", str(saved))
    assert result.returncode == 0, result.stderr
    served = create_app(Settings(fixture=str(saved))).test_client().get(BASE, headers=AUTH).data
    assert served == saved.read_bytes()


def test_yaml_fixture_is_served(tmp_path: Path) -> None:
    data = json.loads((FIXTURES / "exhausted.json").read_text())
    path = tmp_path / "world.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    body = json.loads(create_app(Settings(fixture=str(path))).test_client().get(BASE, headers=AUTH).data)
    assert body == data


def broken_fixture(tmp_path: Path) -> Path:
    data = json.loads((FIXTURES / "default.json").read_text())
    data["virtual_keys"][3]["provider_configs"][0]["weight"] = "heavy"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data))
    return path


def test_broken_fixture_is_refused_naming_file_and_path(tmp_path: Path) -> None:
    path = broken_fixture(tmp_path)
    with pytest.raises(fixtures.FixtureError) as caught:
        fixtures.check(fixtures.read(path), str(path))
    assert caught.value.path == "/virtual_keys/3/provider_configs/0/weight"
    assert "heavy" in caught.value.reason


@pytest.mark.slow
def test_server_does_not_start_with_a_broken_fixture(tmp_path: Path) -> None:
    path = broken_fixture(tmp_path)
    result = vkmock("serve", "--port", "0", "--fixture", str(path))
    assert result.returncode == 2
    assert str(path) in result.stderr
    assert "/virtual_keys/3/provider_configs/0/weight" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("change", "path", "reason"),
    [
        (lambda d: d.update(count=99), "/count", "count is 99"),
        (lambda d: d["virtual_keys"][1].update(id=d["virtual_keys"][0]["id"]), "/virtual_keys/1/id", "duplicate id"),
        (lambda d: d["virtual_keys"][0].pop("name"), "/virtual_keys/0", "name"),
        (lambda d: d["virtual_keys"][2].update(created_at="yesterday"), "/virtual_keys/2/created_at", "date-time"),
    ],
)
def test_fixture_rules(tmp_path: Path, change: Any, path: str, reason: str) -> None:
    data = json.loads((FIXTURES / "default.json").read_text())
    change(data)
    with pytest.raises(fixtures.FixtureError) as caught:
        fixtures.check(data, "x.json")
    assert caught.value.path == path
    assert reason in caught.value.reason


@pytest.mark.slow
def test_validate_command_stops_at_the_first_bad_file(tmp_path: Path) -> None:
    bad = broken_fixture(tmp_path)
    result = vkmock("fixtures", "validate", str(FIXTURES / "empty.json"), str(bad), str(FIXTURES / "default.json"))
    assert result.returncode == 1
    assert f"ok      {FIXTURES / 'empty.json'}" in result.stdout
    assert str(bad) in result.stderr and "/virtual_keys/3/provider_configs/0/weight" in result.stderr
    assert "default.json" not in result.stdout


@pytest.mark.slow
def test_generate_writes_a_valid_reproducible_fixture(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.yaml"
    assert vkmock("fixtures", "generate", "--seed", "11", "--count", "7", "-o", str(first)).returncode == 0
    assert vkmock("fixtures", "generate", "--seed", "11", "--count", "7", "-o", str(second)).returncode == 0
    assert json.loads(first.read_text()) == yaml.safe_load(second.read_text())
    assert vkmock("fixtures", "validate", str(first), str(second)).returncode == 0
    assert json.loads(first.read_text())["count"] == 7


@pytest.mark.slow
def test_fixture_by_name_over_http_and_cli(serve: Any) -> None:
    server = serve("--fixture", "exhausted")
    status, _, body = request(server.url + BASE, headers=AUTH)
    assert status == 200
    assert json.loads(body) == json.loads((FIXTURES / "exhausted.json").read_text())
    listed = vkmock("fixtures", "list")
    assert {"default", "empty", "exhausted"} <= set(listed.stdout.split())
