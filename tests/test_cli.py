"""The command line: help with examples everywhere, a real server that says where it is and stops cleanly."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import AUTH, BASE, ROOT, request


def vkmock(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vkmock", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.mark.parametrize(
    "command", [[], ["serve"], ["fixtures"], ["fixtures", "generate"], ["fixtures", "validate"], ["fixtures", "list"]]
)
def test_every_command_has_help(command: list[str]) -> None:
    result = vkmock(*command, "--help")
    assert result.returncode == 0
    assert "Usage:" in result.stdout
    if command and command != ["fixtures"]:
        assert "Example" in result.stdout or command == ["fixtures", "list"]


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "vkmock"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "version" in result.stdout


def test_serve_prints_url_and_curl_line_and_stops_on_ctrl_c(serve: Any) -> None:
    server = serve("--count", "3", "--seed", "5")
    assert server.url.startswith("http://127.0.0.1:")
    assert "curl -H 'Authorization: Bearer any-token' " + server.url + BASE in server.output
    status, _, body = request(server.url + BASE, headers=AUTH)
    assert status == 200 and json.loads(body)["count"] == 3
    assert server.stop(signal.SIGINT) == 0
    assert "vkmock: stopped" in server.output
    assert "Traceback" not in server.output


def test_same_seed_gives_byte_identical_bodies_across_restarts(serve: Any) -> None:
    bodies = []
    for _ in range(2):
        server = serve("--seed", "31", "--count", "12")
        bodies.append(request(server.url + BASE, headers=AUTH)[2])
        server.stop()
    assert bodies[0] == bodies[1]
    assert json.loads(bodies[0])["count"] == 12


def test_strict_auth_banner_does_not_echo_the_token(serve: Any) -> None:
    server = serve("--token", "super-secret-token")
    assert "super-secret-token" not in server.output
    assert request(server.url + BASE, headers=AUTH)[0] == 401
    assert request(server.url + BASE, headers={"Authorization": "Bearer super-secret-token"})[0] == 200


def test_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = vkmock("serve", "--port", str(port))
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_environment_value_is_a_clear_error() -> None:
    result = subprocess.run([sys.executable, "-m", "vkmock", "serve"], capture_output=True, text=True, timeout=30,
                            cwd=ROOT, env={"VKMOCK_PORT": "eighty", "PATH": ""})
    assert result.returncode == 2 and "VKMOCK_PORT='eighty'" in result.stderr
