"""Hot reload (``--watch``): an edited fixture is served without a restart; a bad edit is refused with the
same message as at start and the old world keeps serving; the watcher thread stops when asked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import AUTH, BASE, FIXTURES, ROOT, request
from vkmock.app import create_app
from vkmock.settings import Settings


def fixture_text(names: list[str]) -> str:
    """The exhausted fixture, cut to ``len(names)`` keys renamed to ``names``."""
    body = json.loads((FIXTURES / "exhausted.json").read_text())
    keys = body["virtual_keys"][: len(names)]
    for vk, name in zip(keys, names, strict=True):
        vk["name"] = name
    return json.dumps({"virtual_keys": keys, "count": len(keys)}, indent=2)


def write(path: Path, text: str) -> None:
    """Write ``text`` and make sure the modification time moves even on a coarse clock."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    if path.stat().st_mtime_ns == before:
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


def served_names(client: Any) -> list[str]:
    return [vk["name"] for vk in json.loads(client.get(BASE, headers=AUTH).data)["virtual_keys"]]


@pytest.fixture
def watched(tmp_path: Path) -> Any:
    path = tmp_path / "world.json"
    write(path, fixture_text(["alpha", "beta"]))
    app = create_app(Settings(fixture=str(path), watch=True, watch_interval="1h"))  # polled by hand below
    watcher = app.extensions["vkmock"].extras["watch"]
    yield app.test_client(), watcher, path
    watcher.stop()
    assert watcher._thread is None


def test_an_edit_is_served_without_a_restart(watched: Any) -> None:
    client, watcher, path = watched
    assert sorted(served_names(client)) == ["alpha", "beta"]
    assert watcher.check() is False  # nothing changed
    write(path, fixture_text(["gamma", "delta", "epsilon"]))
    assert watcher.check() is True
    assert sorted(served_names(client)) == ["delta", "epsilon", "gamma"]
    store = client.application.extensions["vkmock"].store
    version = store.version
    os.utime(path, ns=(time.time_ns(), time.time_ns()))  # touched, same content: no reload
    assert watcher.check() is False and store.version == version
    assert client.post("/_vkmock/reset").status_code == 200  # reset puts the file's current world back
    assert sorted(served_names(client)) == ["delta", "epsilon", "gamma"]


@pytest.mark.slow
def test_a_bad_edit_is_refused_with_the_start_message_and_the_old_world_serves(
    watched: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    client, watcher, path = watched
    before = client.get(BASE, headers=AUTH).data
    bad = fixture_text(["alpha", "beta"]).replace('"count": 2', '"count": 5')
    write(path, bad)
    assert watcher.check() is False
    refused = capsys.readouterr().err
    assert refused.startswith(
        f"vkmock: refusing to reload: bad fixture: {path}: /count: count is 5 but virtual_keys has 2 entries"
    )
    assert client.get(BASE, headers=AUTH).data == before
    started = subprocess.run(
        [sys.executable, "-m", "vkmock", "serve", "--port", "0", "--fixture", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert started.returncode == 2
    at_start = started.stderr.strip().removeprefix("vkmock: refusing to start: bad fixture: ")
    assert at_start in refused  # the same reason, word for word
    write(path, "{not json")
    assert watcher.check() is False and "not valid JSON" in capsys.readouterr().err
    write(path, fixture_text(["fixed"]))
    assert watcher.check() is True and served_names(client) == ["fixed"]
    assert f"vkmock: reloaded {path} (1 virtual keys)" in capsys.readouterr().err
    assert watcher.reloads == 1 and watcher.refusals == 2


@pytest.mark.slow
def test_watch_needs_a_fixture() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vkmock", "serve", "--port", "0", "--watch"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 2 and "--watch reloads the --fixture file" in done.stderr


@pytest.mark.slow
def test_a_real_server_reloads_on_its_own(serve: Any, tmp_path: Path) -> None:
    path = tmp_path / "live.json"
    write(path, fixture_text(["one", "two"]))
    server = serve("--fixture", str(path), "--watch", env={"VKMOCK_WATCH_INTERVAL": "100ms"})

    def names() -> list[str]:
        return sorted(
            vk["name"] for vk in json.loads(request(server.url + BASE, headers=AUTH)[2])["virtual_keys"]
        )

    def wait_for(check: Any) -> bool:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if check():
                return True
            time.sleep(0.05)
        return False

    write(path, fixture_text(["three"]))
    assert wait_for(lambda: names() == ["three"])
    write(path, '{"virtual_keys": "nope", "count": 0}')
    assert wait_for(lambda: "refusing to reload: bad fixture" in server.output)
    assert names() == ["three"]
    write(path, fixture_text(["four", "five"]))
    assert wait_for(lambda: names() == ["five", "four"])
    assert f"reloaded {path} (2 virtual keys)" in server.output
