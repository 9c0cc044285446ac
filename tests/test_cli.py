"""The command line: help with examples everywhere, a real server that says where it is and stops cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import AUTH, BASE, ROOT, request

pytestmark = pytest.mark.slow  # the tests here start processes


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


def test_serve_started_as_a_background_job_still_stops_on_sigint(tmp_path: Path) -> None:
    """A shell starts ``vkmock serve &`` (in a script, as CI jobs do) with SIGINT ignored; Ctrl-C's signal
    must still stop it cleanly."""
    log = tmp_path / "serve.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "vkmock", "serve", "--port", "0", "--count", "2"],
            stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # what `cmd &` does in a script
        )
    try:
        deadline = time.monotonic() + 20
        while not (found := re.search(r"on (http://127\.0\.0\.1:\d+)", log.read_text())):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        assert request(found.group(1) + BASE, headers=AUTH)[0] == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        assert "vkmock: stopped" in log.read_text() and "Traceback" not in log.read_text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def test_a_restart_on_a_db_says_what_it_serves_and_that_the_world_options_were_not_used(
    serve: Any, tmp_path: Path
) -> None:
    db = str(tmp_path / "world.sqlite3")
    first = serve("--db", db)
    assert "serving 20 virtual keys (seed 42, Bifrost 1.4)" in first.output and "note:" not in first.output
    first.stop()
    again = serve("--db", db, "--seed", "7", "--count", "21")
    assert "serving 20 virtual keys (seed 42, Bifrost 1.4)" in again.output
    assert (
        f"vkmock: note: {db} already holds a world (seed 42, 20 keys, Bifrost 1.4), served as stored; this run's "
        "world options (seed 7, 21 keys, Bifrost 1.4) were not used: add --reset-on-start to replace the stored "
        "world with them"
    ) in again.output
    assert json.loads(request(again.url + BASE, headers=AUTH)[2])["count"] == 20
    # a fixture loaded at run time is what a later start finds
    assert request(again.url + "/_vkmock/fixtures/empty", "POST")[0] == 200
    again.stop()
    later = serve("--db", db)
    assert "serving 0 virtual keys (fixture empty, Bifrost 1.4)" in later.output
    assert "holds a world (fixture empty, Bifrost 1.4), served as stored" in later.output
    later.stop()
    reset = serve("--db", db, "--seed", "7", "--count", "21", "--reset-on-start")
    assert "serving 21 virtual keys (seed 7, Bifrost 1.4)" in reset.output and "note:" not in reset.output
    assert json.loads(request(reset.url + BASE, headers=AUTH)[2])["count"] == 21


@pytest.mark.parametrize(
    ("args", "env", "line"),
    [
        (["--basic", "admin:s3cret-pw"], {}, "curl -u '<a USER:PASS given to --basic>' "),
        (["--token", "t0k-9f2"], {}, "curl -H 'Authorization: Bearer <a token given to --token>' "),
        ([], {"VKMOCK_TOKEN": "t0k-9f2"}, "curl -H 'Authorization: Bearer <a token given to VKMOCK_TOKEN>' "),
        ([], {"VKMOCK_BASIC": "admin:s3cret-pw"}, "curl -u '<a USER:PASS given to VKMOCK_BASIC>' "),
        (["--no-auth"], {}, "try: curl http://"),
    ],
)
def test_the_banner_suggests_the_credential_the_server_accepts(
    serve: Any, args: list[str], env: dict[str, str], line: str
) -> None:
    server = serve(*args, env=env)
    assert line in server.output
    assert "s3cret-pw" not in server.output and "t0k-9f2" not in server.output
    if "-u" in line:
        assert "Bearer" not in server.output


def test_options_that_do_nothing_with_the_others_are_warned_about(serve: Any) -> None:
    server = serve("--reset-on-start", "--flush-interval", "5s", "--fixture", "empty", "--count", "9")
    assert "vkmock: warning: --reset-on-start does nothing without --db" in server.output
    assert "vkmock: warning: --flush-interval does nothing without --live" in server.output
    assert "vkmock: warning: --count does nothing with --fixture" in server.output
    quiet = serve("--live", "--flush-interval", "5s")
    assert "warning" not in quiet.output


def test_option_variables_configure_the_server(serve: Any) -> None:
    server = serve(env={"VKMOCK_TOKEN": "env-tok-1,env-tok-2", "VKMOCK_CORS_ORIGIN": "https://app.example.com"})
    assert request(server.url + BASE, headers=AUTH)[0] == 401
    assert request(server.url + BASE, headers={"Authorization": "Bearer env-tok-2"})[0] == 200
    preflight = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"}
    status, headers, _ = request(server.url + BASE, "OPTIONS", headers=preflight)
    assert status == 204 and headers["Access-Control-Allow-Origin"] == "https://app.example.com"


def test_an_unknown_vkmock_variable_stops_serve_with_a_hint() -> None:
    result = subprocess.run([sys.executable, "-m", "vkmock", "serve"], capture_output=True, text=True, timeout=30,
                            cwd=ROOT, env={**os.environ, "VKMOCK_CORS_ORIGINS_": "x"})
    assert result.returncode == 2
    assert "unknown environment variable VKMOCK_CORS_ORIGINS_ (did you mean VKMOCK_CORS_ORIGINS?)" in result.stderr
