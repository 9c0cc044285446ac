"""The pytest route: a user's own test module with the ``vkmock_contract`` fixture, run by a real pytest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from breakers import broken_server

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
