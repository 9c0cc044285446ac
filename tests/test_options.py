"""Mistakes a new user makes on the command line get one clear line naming the option (exit 2), before
anything is bound or written; options that do nothing with the others are warned about. In process (click's
runner): every case here stops before a server would start."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from vkmock.cli import _option_variables, main, serve
from vkmock.settings import Settings


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--port", "99999"], {}, "--port 99999: a port is a number from 0 to 65535"),
        (["--port", "-1"], {}, "--port -1: a port is a number from 0 to 65535"),
        ([], {"VKMOCK_PORT": "70000"}, "VKMOCK_PORT=70000: a port is a number from 0 to 65535"),
        (["--db", "/nonexistent/dir/x.sqlite3"], {}, "--db /nonexistent/dir/x.sqlite3: there is no directory"),
        (["--db", "/"], {}, "--db /: is a directory"),
        (["--basic", "nocolon"], {}, "--basic: write USER:PASS"),
        (["--basic", ":secret"], {}, "--basic: write USER:PASS"),
        ([], {"VKMOCK_BASIC": "admin"}, "VKMOCK_BASIC: write USER:PASS"),
        (["--token", " "], {}, "--token: a token cannot be empty"),
        (["--now", "yesterday"], {}, "--now 'yesterday': write an RFC 3339 instant such as 2026-11-01T12:00:00Z"),
        (["--now", "2026-11-01T12:00:00"], {}, "--now '2026-11-01T12:00:00': write an RFC 3339 instant"),
        (["--token", "a", "--no-auth"], {}, "--no-auth accepts every request and --token only some"),
        (["--basic", "a:b", "--no-auth"], {}, "--no-auth accepts every request and --basic only some"),
        (["--no-auth"], {"VKMOCK_TOKEN": "a"}, "--no-auth accepts every request and VKMOCK_TOKEN only some"),
    ],
)
def test_a_value_that_cannot_work_is_one_line_naming_the_option(
    args: list[str], env: dict[str, str], says: str
) -> None:
    code, output = run("serve", *args, env=env)
    assert code == 2, output
    assert output.startswith("vkmock: ") and output.count("\n") == 1, output
    assert says in output and "Traceback" not in output


def test_a_basic_credential_is_not_echoed_in_its_error() -> None:
    code, output = run("serve", "--basic", "only-the-password-4f1c")
    assert code == 2 and "only-the-password-4f1c" not in output


def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite3"
    path.write_text("not a database\n" * 100)
    code, output = run("serve", "--port", "0", "--db", str(path))
    assert code == 2 and output == f"vkmock: --db {path}: cannot use it as vkmock's database: file is not a database\n"


def test_every_option_has_its_variable_and_the_field_names_still_work() -> None:
    variables = _option_variables(serve)
    for param in serve.params:
        if param.name == "help":
            continue
        flag = next(o for o in param.opts if o.startswith("--"))
        assert "VKMOCK_" + flag[2:].upper().replace("-", "_") in variables, flag
    assert variables["VKMOCK_TOKEN"] == "tokens" and variables["VKMOCK_CORS_ORIGIN"] == "cors_origins"
    assert variables["VKMOCK_SERVER"] == "server" and variables["VKMOCK_NO_AUTH"] == "no_auth"
    environ = {"VKMOCK_TOKEN": "a, b", "VKMOCK_CORS_ORIGIN": "https://app.example.com", "VKMOCK_NO_AUTH": "0"}
    settings = Settings.from_env(environ, aliases=variables)
    assert settings.tokens == ("a", "b") and settings.cors_origins == ("https://app.example.com",)
    legacy = Settings.from_env({"VKMOCK_TOKENS": "c", "VKMOCK_CORS_ORIGINS": "*"}, aliases=variables)
    assert legacy.tokens == ("c",) and legacy.cors_origins == ("*",)
    with pytest.raises(ValueError, match="VKMOCK_TOKENS and VKMOCK_TOKEN are both set"):
        Settings.from_env({"VKMOCK_TOKEN": "a", "VKMOCK_TOKENS": "b"}, aliases=variables)
    # the command line wins over the environment
    assert Settings.from_env(environ, aliases=variables, tokens=("cli",)).tokens == ("cli",)


@pytest.mark.parametrize(
    ("variable", "says"),
    [
        ("VKMOCK_TOKN", "unknown environment variable VKMOCK_TOKN (did you mean VKMOCK_TOKEN?)"),
        ("VKMOCK_CORS_ORIGINN", "VKMOCK_CORS_ORIGINN (did you mean VKMOCK_CORS_ORIGIN"),
        ("VKMOCK_FROBNICATE", "unknown environment variable VKMOCK_FROBNICATE: vkmock serve reads VKMOCK_<OPTION>"),
    ],
)
def test_an_unknown_vkmock_variable_is_refused_with_a_hint(variable: str, says: str) -> None:
    code, output = run("serve", env={variable: "1"})
    assert code == 2 and says in output, output


def test_the_variables_other_parts_of_vkmock_read_are_not_refused() -> None:
    # the contract tool's, the pytest plugin's and the spec override: serve goes on to its own checks
    env = {
        "VKMOCK_CONTRACT_TOKEN": "t",
        "VKMOCK_CONTRACT_BASIC": "u:p",
        "VKMOCK_CONTRACT_BASE_URL": "http://x",
        "VKMOCK_BASE_URL": "http://x",
        "VKMOCK_SPEC": "",
        "VKMOCK_WATCH_INTERVAL": "1s",
    }
    code, output = run("serve", "--port", "99999", env=env)
    assert code == 2 and "--port 99999" in output and "unknown environment variable" not in output


def test_fixtures_generate_refuses_a_suffix_it_cannot_write_and_a_bad_now(tmp_path: Path) -> None:
    code, output = run("fixtures", "generate", "--count", "1", "-o", str(tmp_path / "x.txt"))
    assert code == 2 and "-o/--output" in output and ".json, .yaml or .yml" in output
    assert not (tmp_path / "x.txt").exists()
    code, output = run("fixtures", "generate", "--now", "yesterday")
    assert code == 2 and output == "vkmock: --now 'yesterday': write an RFC 3339 instant such as 2026-11-01T12:00:00Z\n"
    code, _ = run("fixtures", "generate", "--count", "1", "-o", str(tmp_path / "x.YAML"))
    assert code == 0 and (tmp_path / "x.YAML").read_text().startswith("virtual_keys:")


def test_the_fixtures_dir_help_names_the_folder_that_is_used() -> None:
    from vkmock import spec

    used = str(spec.default_fixtures_dir())
    for command in (["serve"], ["fixtures", "list"]):
        code, output = run(*command, "--help")
        assert code == 0 and "./fixtures" not in output
        assert used in " ".join(output.split()).replace(" ", ""), output  # the help wraps long paths


def test_a_postgresql_url_is_not_checked_as_a_file() -> None:
    from vkmock.cli import _check_serve_options

    for url in ("postgresql://vk:pw@127.0.0.1:5432/vk", "postgres://db/vk"):
        _check_serve_options(Settings(db=url), {"db": "--db"})  # no "there is no directory" for a URL
    with pytest.raises(ValueError, match="there is no directory"):
        _check_serve_options(Settings(db="/nonexistent/dir/x.sqlite3"), {"db": "--db"})
