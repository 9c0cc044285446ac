"""``vkmock contract``: the mock passes; each broken server fails with a message naming its break.

Every run here is the real command (``python -m vkmock contract``) against a server on 127.0.0.1: the mock
itself (``vkmock serve``) or the mock app behind a middleware that injects one break (tests/breakers.py).
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from breakers import BASE, broken_server, run_vkmock
from conftest import ROOT
from vkmock.check.catalog import ALL_CHECKS, VKMOCK_CHECKS

TOKEN = "tok-9f3e2d71c4b8a6e5"  # never to be printed or written to a report
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def contract(
    url: str,
    *args: str,
    tmp_path: Path | None = None,
    token: str | None = TOKEN,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    cred = ["--token", token] if token else []
    return run_vkmock("contract", "--base-url", url, *cred, "--seed", "7", *args, env=env, cwd=tmp_path)


def assert_no_secret(*texts: str, secrets: tuple[str, ...] = (TOKEN,)) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text


# ---- the mock passes -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_mock_passes_a_full_run_with_writes_and_junit(serve: Any, tmp_path: Path) -> None:
    server = serve("--count", "8", "--token", TOKEN)
    junit = tmp_path / "reports" / "contract.xml"
    result = contract(
        server.url, "--allow-writes", "-n", "50", "--report", f"junit:{junit}", tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "PASSED: no contract break found" in out
    assert "operations tested: 5/5" in out and "stateful" in out
    assert "none left" in out  # every key the run created is gone
    xml = junit.read_text()
    assert "<testsuite" in xml and 'failures="0"' in xml and "POST /api/governance/virtual-keys" in xml
    assert_no_secret(out, result.stderr, xml)
    status, _, body = _get(server.url + BASE, TOKEN)
    assert status == 200 and not [
        k for k in json.loads(body)["virtual_keys"] if k["name"].startswith("vkmock-")
    ]


@pytest.mark.slow
def test_the_mock_passes_a_read_only_run_that_sends_no_write(tmp_path: Path) -> None:
    with broken_server(None) as server:
        result = contract(
            server.url, "-n", "20", "--report", f"junit:{tmp_path / 'ro.xml'}", tmp_path=tmp_path
        )
        seen = server.requests
    assert result.returncode == 0, result.stdout + result.stderr
    assert "read-only: GET requests only" in result.stdout
    methods = {r.method for r in seen}
    assert "GET" in methods and not methods & WRITE_METHODS, methods
    # single-key reads were checked on real keys, not only as 404s
    assert any(r.path.startswith(BASE + "/") and r.status == 200 for r in seen)
    xml = (tmp_path / "ro.xml").read_text()
    assert '<testsuite name="vkmock probes"' in xml and 'failures="0"' in xml
    assert "probe: TRACE /api/governance/virtual-keys" in xml
    assert "profile: Bifrost 1.4 (--bifrost 1.4)" in result.stdout
    assert "probes (every run): unknown id 404, unknown non-UUID id 404, no credentials 401" in result.stdout


@pytest.mark.slow
def test_writes_never_touch_keys_that_existed_before_the_run(tmp_path: Path) -> None:
    with broken_server(None) as server:
        before = {vk["id"]: vk for vk in server.store.records()}
        result = contract(server.url, "--allow-writes", "-n", "10", tmp_path=tmp_path)
        writes = [r for r in server.requests if r.method in WRITE_METHODS]
        after = {vk["id"]: vk for vk in server.store.records()}
    assert result.returncode == 0, result.stdout
    assert any(r.method == "POST" and r.status == 200 for r in writes)
    assert any(r.method == "DELETE" and r.status == 200 for r in writes)
    touched = {r.path.rsplit("/", 1)[-1] for r in writes if r.method in ("PUT", "DELETE", "PATCH")}
    assert not touched & set(before), "a write reached a key that existed before the run"
    assert after == before  # the pre-existing world is unchanged and nothing of the run is left


# ---- each break is caught, and named -------------------------------------------------------------------

BREAK_CASES = {
    # break: (needs writes, extra args, fragments the output must contain)
    "wrong_type": (
        False,
        (),
        ["response_schema_conformance", '"true" is not of type "boolean"', "is_active"],
    ),
    "missing_required": (False, (), ['"created_at" is a required property']),
    "count_mismatch": (
        False,
        (),
        ["[count_matches_list] count disagrees with the list", "count is 6 but `virtual_keys` has 5 item(s)"],
    ),
    "timestamp_not_rfc3339": (False, (), ["timestamp not RFC 3339", "updated_at"]),
    "created_201": (
        True,
        ("--phases", "examples"),
        ["undocumented status code", "Received: 201", "Documented: 200"],
    ),
    "error_not_envelope": (False, (), ["error body is not the Bifrost envelope", "on 404"]),
    "html_not_json": (False, (), ["HTML instead of JSON", "text/html"]),
    "server_error_on_valid_id": (
        False,
        (),
        ["[not_a_server_error] server error (5xx)", "GET /api/governance/virtual-keys/{vk_id}: Server error"],
    ),
    "write_not_persisted": (True, ("--phases", "examples"), ["write not persisted", "then answered 404"]),
    "delete_not_effective": (
        True,
        ("--phases", "stateful"),
        ["delete left the key readable", "answered 200, then GET answered 200"],
    ),
    "ignores_credentials": (
        False,
        (),
        ["[ignored_auth] credentials ignored", "Expected 401 or 403, got `200 OK`"],
    ),
    # the next three are caught by the probes every run sends (Schemathesis alone misses them on most runs)
    "html_404_on_unknown_id": (
        False,
        (),
        ["[json_not_html]", "(probe: unknown id)", "HTML instead of JSON: GET answered 404 with text/html"],
    ),
    "html_on_wrong_method": (
        False,
        ("--phases", "examples"),
        ["[allow_header_conformance]", "(probe: TRACE on the list)", "'no Allow header'", "TRACE answered 405"],
    ),
    "unauthorized_html": (
        False,
        (),
        ["[json_not_html]", "(probe: no credentials)", "HTML instead of JSON: GET answered 401 with text/html"],
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BREAK_CASES))
def test_a_broken_server_fails_the_run_with_the_break_named(name: str, tmp_path: Path) -> None:
    writes, extra, fragments = BREAK_CASES[name]
    junit = tmp_path / "junit.xml"
    args = ["-n", "10", "--report", f"junit:{junit}", *extra] + (["--allow-writes"] if writes else [])
    with broken_server(name) as server:
        result = contract(server.url, *args, tmp_path=tmp_path)
        methods = {r.method for r in server.requests}
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "RESULT: contract broken (exit 1)" in out
    for fragment in fragments:
        assert fragment in out, f"{fragment!r} not in:\n{out}"
    assert "Traceback" not in out + result.stderr
    xml = junit.read_text()
    assert '<failure type="failure"' in xml
    assert_no_secret(out, result.stderr, xml)
    if not writes:
        assert not methods & WRITE_METHODS


@pytest.mark.slow
def test_a_check_can_be_selected_or_excluded(tmp_path: Path) -> None:
    with broken_server("count_mismatch") as server:
        only = contract(
            server.url, "--phases", "examples", "--checks", "count_matches_list", tmp_path=tmp_path
        )
        without = contract(
            server.url, "--phases", "examples", "--exclude-checks", "count_matches_list", tmp_path=tmp_path
        )
    assert only.returncode == 1 and "[count_matches_list]" in only.stdout
    assert without.returncode == 0, without.stdout


# ---- errors, secrets, interruption ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, token: str) -> tuple[int, dict[str, str], bytes]:
    from conftest import request

    return request(url, headers={"Authorization": f"Bearer {token}"})


@pytest.mark.slow
def test_a_closed_port_exits_2_with_the_reason_and_no_traceback(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    result = contract(url, tmp_path=tmp_path)
    assert result.returncode == 2
    assert f"cannot connect to {url}: Connection refused" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--token", "a", "--basic", "u:p"], "either --token or --basic"),
        (["--basic", "no-colon"], "--basic takes USER:PASS"),
        (["--checks", "no_such_check"], "unknown check 'no_such_check'"),
        (["--phases", "stateful"], "add --allow-writes"),
        (["--report", "html:x"], "--report takes FORMAT:PATH"),
        (["--base-url", "ftp://example"], "--base-url must be an http:// or https:// URL"),
        (["--bifrost", "1.3"], "Invalid value for '--bifrost'"),
    ],
)
def test_usage_errors_exit_2_with_the_reason(args: list[str], message: str, tmp_path: Path) -> None:
    result = run_vkmock("contract", "--base-url", "http://127.0.0.1:9", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_wrong_credentials_exit_2_and_are_never_echoed(serve: Any, tmp_path: Path) -> None:
    server = serve("--count", "2", "--basic", "admin:right-password-1")
    result = run_vkmock(
        "contract", "--base-url", server.url, "--basic", "admin:wrong-password-2", cwd=tmp_path
    )
    assert result.returncode == 2
    assert "refused the credentials (Basic USER:PASS)" in result.stderr
    assert_no_secret(
        result.stdout, result.stderr, secrets=("wrong-password-2", "YWRtaW46d3JvbmctcGFzc3dvcmQtMg==")
    )
    anonymous = run_vkmock("contract", "--base-url", server.url, cwd=tmp_path)
    assert anonymous.returncode == 2 and "needs credentials" in anonymous.stderr


@pytest.mark.slow
def test_basic_credentials_from_the_environment_work_and_stay_secret(serve: Any, tmp_path: Path) -> None:
    server = serve("--count", "3", "--basic", "ci-user:s3cret-basic-pass")
    junit = tmp_path / "j.xml"
    result = run_vkmock(
        "contract",
        "--base-url",
        server.url,
        "-n",
        "5",
        "--seed",
        "3",
        "--report",
        f"junit:{junit}",
        "--verbose",
        env={"VKMOCK_CONTRACT_BASIC": "ci-user:s3cret-basic-pass"},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout
    assert "Schemathesis v" in result.stdout  # --verbose streams Schemathesis' own output
    secrets = ("s3cret-basic-pass", "Y2ktdXNlcjpzM2NyZXQtYmFzaWMtcGFzcw==")
    assert_no_secret(result.stdout, result.stderr, junit.read_text(), secrets=secrets)


def start_contract(base_url: str, *args: str, cwd: Path) -> subprocess.Popen[str]:
    """``vkmock contract`` against ``base_url`` in the background, to be stopped or starved mid-run."""
    command = [sys.executable, "-m", "vkmock", "contract", "--base-url", base_url, "--token", TOKEN, *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_write_run_leaves_no_contract_key_behind(sig: int, tmp_path: Path) -> None:
    with broken_server(None) as server:
        process = start_contract(server.url, "--allow-writes", "-n", "1000", "--seed", "11", cwd=tmp_path)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and process.poll() is None:
                if any(name.startswith("vkmock-contract-") for name in server.key_names()):
                    break
                time.sleep(0.05)
            assert process.poll() is None, "the run ended before it could be interrupted"
            assert any(name.startswith("vkmock-contract-") for name in server.key_names())
            process.send_signal(sig)
            out, err = process.communicate(timeout=90)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=10)
        left = [name for name in server.key_names() if name.startswith("vkmock-contract-")]
    assert process.returncode == 128 + sig, out + err
    assert left == []
    assert f"INTERRUPTED by {signal.Signals(sig).name}" in out and "none left" in out
    assert "Traceback" not in out + err


@pytest.mark.slow
def test_the_help_says_what_it_does_with_examples() -> None:
    result = run_vkmock("contract", "--help", cwd=ROOT)
    assert result.returncode == 0
    assert "Contract-test a deployment" in result.stdout and "Examples:" in result.stdout
    assert "--allow-writes" in result.stdout and "vkmock-contract-" in result.stdout


@pytest.mark.slow
def test_the_checks_the_runner_names_are_the_checks_the_hooks_register() -> None:
    code = (
        "import json, schemathesis.checks as c, vkmock.check.hooks; c.load_all_checks();"
        "print(json.dumps(c.CHECKS.get_all_names()))"
    )
    env = {"_VKMOCK_CONTRACT_URL": "http://127.0.0.1:9"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**__import__("os").environ, **env},
    )
    registered = set(json.loads(result.stdout))
    assert set(VKMOCK_CHECKS) <= registered
    assert set(ALL_CHECKS) == registered


@pytest.mark.slow
def test_the_same_seed_gives_the_same_run(tmp_path: Path) -> None:
    runs = []
    with broken_server(None) as server:
        for _ in range(2):
            result = contract(server.url, "-n", "4", "--seed", "1234", tmp_path=tmp_path)
            assert result.returncode == 0, result.stdout
            runs.append(next(line for line in result.stdout.splitlines() if "test cases:" in line))
            runs.append(str(len(server.requests)))
    assert "seed: 1234 (repeat with --seed 1234)" in result.stdout
    assert runs[0] == runs[2]  # the same number of test cases
    assert int(runs[3]) == 2 * int(runs[1])  # and the same number of requests


def test_redaction_removes_every_form_of_a_secret() -> None:
    from vkmock.check.http import Credentials

    bearer = Credentials.parse("tok-abcdef123", None)
    assert bearer.redact("Authorization: Bearer tok-abcdef123.") == "Authorization: Bearer [redacted]."
    basic = Credentials.parse(None, "admin:hunter2-long")
    text = "admin:hunter2-long YWRtaW46aHVudGVyMi1sb25n hunter2-long"
    assert basic.redact(text) == "[redacted] [redacted] [redacted]"
    short = Credentials.parse("x", None)
    assert short.redact("Bearer x, max examples") == "Bearer [redacted], max examples"


@pytest.mark.slow
def test_a_deployment_that_goes_away_during_the_run_exits_2(tmp_path: Path) -> None:
    with broken_server(None) as server:
        process = start_contract(server.url, "-n", "500", "--seed", "5", cwd=tmp_path)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(server.requests) < 30 and process.poll() is None:
            time.sleep(0.05)
    try:  # the server is stopped now, in the middle of the run
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
    assert process.returncode == 2, out + err
    assert "the deployment stopped answering during the run" in err
    assert "Traceback" not in out + err


def test_without_schemathesis_the_command_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from vkmock.check import contract

    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "schemathesis" else real_find_spec(name, *args)

    monkeypatch.setattr(contract.importlib.util, "find_spec", find_spec)
    result = contract.run_contract(contract.ContractOptions(base_url="http://127.0.0.1:9"))
    assert result.exit_code == contract.EXIT_USAGE
    assert "pip install 'vkmock[contract]'" in result.summary


# ---- the probes every run sends -------------------------------------------------------------------------

PROBE_BREAKS = {
    # break: {(probe, check)} the probes report, every time
    "html_404_on_unknown_id": {("unknown id", "json_not_html")},
    "error_not_envelope": {
        ("unknown id", "errors_use_bifrost_envelope"),
        ("unknown non-UUID id", "errors_use_bifrost_envelope"),
    },
    "html_not_json": {
        ("unknown id", "status_code_conformance"),
        ("unknown id", "json_not_html"),
        ("unknown non-UUID id", "status_code_conformance"),
        ("unknown non-UUID id", "json_not_html"),
    },
    "server_error_on_valid_id": {("unknown non-UUID id", "not_a_server_error")},
    "ignores_credentials": {("no credentials", "ignored_auth")},
    "unauthorized_html": {("no credentials", "json_not_html")},
    "html_on_wrong_method": {
        ("TRACE on the list", "allow_header_conformance"),
        ("TRACE on the list", "json_not_html"),
        ("TRACE on a key", "allow_header_conformance"),
        ("TRACE on a key", "json_not_html"),
    },
}


def _probe(url: str) -> set[tuple[str, str]]:
    from vkmock.check import profiles
    from vkmock.check.http import Target
    from vkmock.check.probes import run_probes

    results = run_probes(Target(url, f"Bearer {TOKEN}"), profiles.load("1.4"), with_credentials=True)
    assert [r.name for r in results] == [
        "unknown id",
        "unknown non-UUID id",
        "no credentials",
        "TRACE on the list",
        "TRACE on a key",
    ]
    return {(r.name, f.check) for r in results for f in r.failures}


@pytest.mark.parametrize("name", [None, *PROBE_BREAKS])
def test_the_probes_report_each_break_they_look_for_and_nothing_on_the_mock(name: str | None) -> None:
    with broken_server(name) as server:
        found = [_probe(server.url) for _ in range(10)]
        methods = {r.method for r in server.requests}
    assert found == [PROBE_BREAKS.get(name or "", set())] * 10
    assert methods == {"GET", "TRACE"}  # probes never write


@pytest.mark.slow
def test_an_html_404_for_unknown_ids_fails_every_run_whatever_the_seed(tmp_path: Path) -> None:
    # Schemathesis seldom invents a well-formed id, so without the probes this break passed most runs
    with broken_server("html_404_on_unknown_id") as server:
        results = [contract(server.url, "-n", "3", "--seed", str(seed), tmp_path=tmp_path) for seed in range(1, 6)]
    for result in results:
        assert result.returncode == 1, result.stdout + result.stderr
        assert "(probe: unknown id): HTML instead of JSON: GET answered 404" in result.stdout
        assert "unknown id 404 FAILED" in result.stdout


@pytest.mark.slow
def test_a_deselected_check_is_not_reported_by_the_probes_either(tmp_path: Path) -> None:
    with broken_server("unauthorized_html") as server:
        result = contract(server.url, "-n", "2", "--exclude-checks", "json_not_html", tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout
    assert "no credentials 401," in result.stdout and "FAILED" not in result.stdout


# ---- --bifrost: the profile, chosen or asked for ------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "profile"),
    [
        ("v1.4.10", "1.4"),
        ("v1.5.0-prerelease7", "1.5"),
        ("1.5.2", "1.5"),
        ("v1.4.0+build.7", "1.4"),
        ("v1.0.0", None),  # upstream's default when a build does not set its version
        ("v1.6.0", None),
        ("v1.45.0", None),
        ("v2", None),
        ("latest", None),
    ],
)
def test_a_version_string_names_its_profile(version: str, profile: str | None) -> None:
    from vkmock.check.profiles import profile_of_version

    assert profile_of_version(version) == profile


@pytest.mark.slow
def test_auto_asks_the_deployment_and_says_which_profile_it_chose(tmp_path: Path) -> None:
    with broken_server(None, version="v1.4.10") as server:
        result = contract(server.url, "-n", "2", "--bifrost", "auto", tmp_path=tmp_path)
        asked = [r for r in server.requests if r.path == "/api/version"]
    assert result.returncode == 0, result.stdout + result.stderr
    assert "profile: Bifrost 1.4 (auto: GET /api/version answered 'v1.4.10')" in result.stdout
    assert len(asked) == 1 and asked[0].authorized  # 1.5 serves its version only with credentials


@pytest.mark.slow
def test_auto_comes_from_the_environment_too(tmp_path: Path) -> None:
    with broken_server(None, version="v1.4.3") as server:
        result = contract(server.url, "-n", "2", tmp_path=tmp_path, env={"VKMOCK_CONTRACT_BIFROST": "auto"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(auto: GET /api/version answered 'v1.4.3')" in result.stdout


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (None, "GET /api/version answered 404"),
        ("v1.7.1", "the deployment reports Bifrost 'v1.7.1', and vkmock has profiles only for 1.4, 1.5"),
        ({"build": 7}, "not a version string"),
        (17, "not a version string"),
    ],
)
def test_auto_without_a_known_version_is_a_usage_error_that_says_what_to_pass(version: Any, message: str) -> None:
    from vkmock.check.contract import ContractOptions, run_contract

    with broken_server(None, version=version) as server:
        result = run_contract(ContractOptions(base_url=server.url, token=TOKEN, bifrost="auto"))
        sent = {(r.method, r.path) for r in server.requests}
    assert result.exit_code == 2
    assert message in result.summary and "pass --bifrost 1.4 or --bifrost 1.5" in result.summary
    assert sent == {("GET", BASE), ("GET", "/api/version")}  # nothing else is sent before the profile is known


def test_auto_recognises_a_1_5_deployment_and_takes_the_1_5_spec() -> None:
    from vkmock.check import profiles
    from vkmock.check.http import Target

    with broken_server(None, version="v1.5.0-prerelease7") as server:
        target = Target(server.url, f"Bearer {TOKEN}")
        assert profiles.detect(target) == ("1.5", "v1.5.0-prerelease7")
        profile = profiles.choose("auto", target)
    assert profile.name == "1.5" and profile.spec_file.name == "bifrost-1.5.yaml"
    assert profile.label == "Bifrost 1.5 (auto: GET /api/version answered 'v1.5.0-prerelease7')"


def test_routes_without_the_runs_credential_and_writes_beyond_keys_are_left_out() -> None:
    from vkmock.check import profiles
    from vkmock.check.plan import left_out

    assert left_out(profiles.load("1.4"), allow_writes=True) == {}
    quota = {"GET /api/governance/virtual-keys/quota": "its credential is not the run's"}
    assert left_out(profiles.load("1.5"), allow_writes=False) == quota
    writes = left_out(profiles.load("1.5"), allow_writes=True)
    assert writes == quota | {
        f"{method} /api/governance/{path}": "writes are made on virtual keys only"
        for method, path in [
            ("DELETE", "customers/{customer_id}"),
            ("DELETE", "teams/{team_id}"),
            ("POST", "customers"),
            ("POST", "teams"),
            ("PUT", "customers/{customer_id}"),
            ("PUT", "teams/{team_id}"),
        ]
    }


@pytest.mark.slow
def test_the_1_5_mock_passes_a_read_only_run_of_the_1_5_profile(serve: Any, tmp_path: Path) -> None:
    server = serve("--bifrost", "1.5", "--count", "6", "--token", TOKEN)
    result = contract(server.url, "-n", "5", "--bifrost", "1.5", tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "profile: Bifrost 1.5 (--bifrost 1.5)" in result.stdout
    assert "not sent (its credential is not the run's): GET /api/governance/virtual-keys/quota" in result.stdout
    assert "probes (every run): unknown id 404, unknown non-UUID id 404, no credentials 401" in result.stdout


def test_a_profile_whose_spec_this_install_lacks_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from vkmock import spec
    from vkmock.check import profiles

    def missing(name: str = spec.SPEC_NAME) -> Path:
        raise FileNotFoundError(name)

    monkeypatch.setattr(spec, "spec_path", missing)
    wanted = r"no spec for Bifrost 1\.5 \(openapi/bifrost-1\.5\.yaml is missing\)"
    with pytest.raises(profiles.UsageError, match=wanted):
        profiles.load("1.5")


def test_the_1_4_profile_is_the_bundled_spec() -> None:
    from vkmock.check import profiles

    profile = profiles.load("1.4")
    assert profile.spec_file.name == "bifrost-governance.yaml" and profile.chosen_by == "--bifrost 1.4"
    assert profile.methods(BASE) == ["GET", "POST"]
    assert profile.methods(BASE + "/{vk_id}") == ["DELETE", "GET", "PUT"]
    assert profile.validator("GET", BASE + "/{vk_id}", 404) is not None
    assert profile.validator("GET", BASE, 404) is None  # the list documents no 404


# ---- the layout: the check part reaches a deployment only over HTTP -----------------------------------


def test_the_check_part_imports_no_server_code() -> None:
    import ast

    allowed = {"vkmock", "vkmock.spec", "vkmock.settings", "vkmock.launch", "vkmock.jsonio", "vkmock.clock"}
    allowed |= {"vkmock.bifrost", "vkmock.bifrost.profile"}  # the profile registry: data only
    allowed |= {"vkmock.exceptions"}  # the root of the error tree: no imports
    found: dict[str, set[str]] = {}
    for source in sorted((ROOT / "src" / "vkmock" / "check").glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names if node.module == "vkmock"]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.startswith("vkmock") and not name.startswith("vkmock.check") and name not in allowed:
                    found.setdefault(source.name, set()).add(name)
    assert found == {}


# ---- a paged list (Bifrost 1.5) is read to its end ----------------------------------------------------


def test_a_paged_list_is_read_page_after_page_and_cleaned_up() -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlsplit

    from vkmock.check.cleanup import cleanup_keys
    from vkmock.check.http import Target

    keys = {f"id-{i}": f"vkmock-contract-{i}" if i % 2 else f"kept-{i}" for i in range(250)}
    deleted: list[str] = []

    class Paged(BaseHTTPRequestHandler):  # a 1.5-style list: 25 by default, at most 100 a page
        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            limit = min(int(query.get("limit", ["25"])[0]), 100)
            offset = int(query.get("offset", ["0"])[0])
            ids = sorted(keys, key=lambda k: int(k.split("-")[1]))[offset : offset + limit]
            body = {
                "virtual_keys": [{"id": i, "name": keys[i]} for i in ids],
                "count": len(ids),
                "total_count": len(keys),
                "limit": limit,
                "offset": offset,
            }
            self._send(200, body)

        def do_DELETE(self) -> None:
            vk_id = self.path.rsplit("/", 1)[-1]
            deleted.append(vk_id)
            keys.pop(vk_id, None)
            self._send(200, {"message": "Virtual key deleted successfully"})

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Paged)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        target = Target(f"http://127.0.0.1:{server.server_port}", None, 5.0)
        assert len(target.list_keys()) == 250
        cleanup = cleanup_keys(target)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert (cleanup.found, cleanup.deleted, cleanup.left) == (125, 125, [])
    assert len(deleted) == 125 and all(name.startswith("kept-") for name in keys.values())
