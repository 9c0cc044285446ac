"""The pytest route: a user's own test module with the ``vkmock_contract`` fixture, run by a real pytest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from breakers import broken_server

pytestmark = pytest.mark.slow  # every test here runs a real pytest or server process

TOKEN = "plugin-tok-0b7e4c1d"
USER_TESTS = """
def test_bifrost_honours_the_contract(vkmock_contract):
    vkmock_contract.run(max_examples=8).assert_passed()


def test_bifrost_has_not_drifted(vkmock_contract):
    vkmock_contract.assert_no_drift()
"""


def user_pytest(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """pytest in a directory that is not this repository, as a user's CI would run it."""
    (tmp_path / "test_bifrost_contract.py").write_text(USER_TESTS)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_bifrost_contract.py"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


def test_a_users_contract_tests_pass_against_the_mock_and_write_junit(tmp_path: Path) -> None:
    # every --vkmock-* option used here must be registered by the plugin (pytest refuses unknown options)
    junit = tmp_path / "contract.xml"
    with broken_server(None) as server:
        result = user_pytest(
            tmp_path,
            "--vkmock-base-url",
            server.url,
            "--vkmock-token",
            TOKEN,
            "--vkmock-seed",
            "5",
            "--vkmock-report",
            f"junit:{junit}",
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    assert "<testsuite" in junit.read_text()


def test_a_users_contract_tests_fail_against_a_broken_server_and_name_the_break(tmp_path: Path) -> None:
    with broken_server("unknown_and_missing_field") as server:
        # credentials from the environment, as a CI secret would come
        result = user_pytest(
            tmp_path,
            "--vkmock-base-url",
            server.url,
            "--vkmock-seed",
            "5",
            env={"VKMOCK_CONTRACT_TOKEN": TOKEN},
        )
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "2 failed" in out
    assert '"config_hash" is a required property' in out  # the contract run names the break
    assert "/virtual_keys/*/rotated_at" in out and "/virtual_keys/*/config_hash" in out  # and so does drift
    assert TOKEN not in out


SERVE_TESTS = """
import json, os, urllib.request

def test_a_mock_for_this_test(vkmock_serve):
    mock = vkmock_serve("--fixture", "exhausted", "--no-auth")
    with open(os.environ["PID_FILE"], "w") as sink:
        sink.write(str(mock.process.pid))
    with urllib.request.urlopen(mock.url + "/api/governance/virtual-keys", timeout=10) as answer:
        body = json.load(answer)
    assert mock.url.startswith("http://127.0.0.1:")
    assert body["count"] == len(body["virtual_keys"]) > 0


def test_a_server_that_cannot_start_fails_the_test_with_its_output(vkmock_serve):
    vkmock_serve("--fixture", "no-such-fixture")
"""


def test_the_serve_fixture_starts_a_mock_and_stops_it_after_the_test(tmp_path: Path) -> None:
    (tmp_path / "test_with_mock.py").write_text(SERVE_TESTS)
    pid_file = tmp_path / "pid"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--rootdir", str(tmp_path),
         str(tmp_path / "test_with_mock.py")],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[1],
        stdin=subprocess.DEVNULL, env={**os.environ, "PID_FILE": str(pid_file)},
    )
    out = result.stdout + result.stderr
    assert "1 failed, 1 passed" in out, out
    assert "During handling" not in out
    assert "refusing to start" in out and "no-such-fixture" in out
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):  # stopped at the end of its test, not left behind
        os.kill(pid, 0)
