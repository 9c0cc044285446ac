"""The living world (``--live``): counters accrue and reset on a virtual clock, the memory view is live while
the database view lags until a flush, and the world stays valid and the store consistent throughout."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from conftest import AUTH, BASE, request
from vkmock import spec
from vkmock.app import create_app
from vkmock.clock import format_ts, parse_ts
from vkmock.control import live
from vkmock.settings import DEFAULT_NOW, Settings

JSON_AUTH = {**AUTH, "Content-Type": "application/json"}
ANCHOR = parse_ts(DEFAULT_NOW).timestamp()


def live_client(count: int = 30, **settings: Any) -> Any:
    return create_app(Settings(live=True, flush_interval="0", count=count, **settings)).test_client()


def clock(client: Any, **body: Any) -> dict[str, Any]:
    answer = client.post("/_vkmock/clock", json=body)
    assert answer.status_code == 200, answer.data
    loaded: dict[str, Any] = json.loads(answer.data)
    return loaded


def listed(client: Any, memory: bool) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        client.get(BASE + ("?from_memory=true" if memory else ""), headers=AUTH).data
    )
    return loaded


def key(client: Any, vk_id: str, memory: bool) -> dict[str, Any]:
    answer = client.get(f"{BASE}/{vk_id}" + ("?from_memory=true" if memory else ""), headers=AUTH)
    loaded: dict[str, Any] = json.loads(answer.data)["virtual_key"]
    return loaded


def create(client: Any, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post(BASE, headers=JSON_AUTH, data=json.dumps(body))
    assert answer.status_code == 200, answer.data
    loaded: dict[str, Any] = json.loads(answer.data)["virtual_key"]
    return loaded


def ts(seconds: float) -> str:
    return format_ts(datetime.fromtimestamp(seconds, UTC))


DAILY = {
    "budget": {"max_limit": 10, "reset_duration": "1d"},
    "rate_limit": {
        "request_max_limit": 100_000,
        "request_reset_duration": "1d",
        "token_max_limit": 10_000_000,
        "token_reset_duration": "1h",
    },
    "provider_configs": [
        {"provider": "anthropic", "allowed_models": ["claude-opus-4-20250514"], "weight": 1}
    ],
}


# ---- the check of the brief -------------------------------------------------------------------------------


def test_a_frozen_clock_advanced_by_a_day_resets_a_daily_budget() -> None:
    client = live_client(count=3)
    frozen = clock(client, freeze=True)
    start = parse_ts(frozen["now"]).timestamp()
    assert start - ANCHOR < 60 and start == int(start) and frozen["frozen"] is True  # whole seconds
    vk = create(client, {"name": "daily", **DAILY})
    assert vk["created_at"] == frozen["now"]  # new keys are stamped with virtual time
    assert vk["budget"]["current_usage"] == 0
    clock(client, advance="12h")
    half = key(client, vk["id"], memory=True)
    assert 0 < half["budget"]["current_usage"] <= 10
    assert 0 < half["rate_limit"]["request_current_usage"] <= 100_000
    assert half["budget"]["last_reset"] == frozen["now"]
    stale = key(client, vk["id"], memory=False)  # the database view lags until a flush
    assert stale["budget"]["current_usage"] == 0 and stale == vk
    assert clock(client, flush=True)["flushed"] >= 1
    assert key(client, vk["id"], memory=False) == half
    clock(client, advance="12h")
    day = key(client, vk["id"], memory=True)
    assert day["budget"]["current_usage"] == 0
    assert day["budget"]["last_reset"] == ts(start + 86_400) != half["budget"]["last_reset"]
    assert day["rate_limit"]["request_current_usage"] == 0
    assert day["rate_limit"]["request_last_reset"] == ts(start + 86_400)
    assert day["rate_limit"]["token_last_reset"] == ts(start + 86_400)  # 1h: 24 periods later
    assert key(client, vk["id"], memory=False)["budget"]["current_usage"] == half["budget"]["current_usage"]


def test_inactive_keys_send_nothing_but_still_reset() -> None:
    client = live_client(count=0)
    start = parse_ts(clock(client, freeze=True)["now"]).timestamp()
    vk = create(client, {"name": "idle", "is_active": False, **DAILY})
    clock(client, advance="20h")
    idle = key(client, vk["id"], memory=True)
    assert idle["budget"] == vk["budget"]
    assert idle["rate_limit"]["request_current_usage"] == idle["rate_limit"]["token_current_usage"] == 0
    assert idle["rate_limit"]["token_last_reset"] == ts(start + 20 * 3_600)  # an hourly counter still resets
    clock(client, advance="4h")
    after = key(client, vk["id"], memory=True)
    assert after["budget"]["current_usage"] == 0 and after["budget"]["last_reset"] == ts(start + 86_400)


def test_calendar_aligned_budgets_reset_at_the_start_of_the_month() -> None:
    client = live_client(count=0)
    start = parse_ts(clock(client, freeze=True)["now"]).timestamp()
    aligned = create(
        client,
        {"name": "aligned", "budget": {"max_limit": 50, "reset_duration": "1M", "calendar_aligned": True}},
    )
    rolling = create(client, {"name": "rolling", "budget": {"max_limit": 50, "reset_duration": "1M"}})
    clock(client, advance="30d")
    assert key(client, aligned["id"], True)["budget"]["last_reset"] == "2026-12-01T00:00:00Z"
    assert key(client, rolling["id"], True)["budget"]["last_reset"] == ts(start + 30 * 86_400)


# ---- a living, valid world ---------------------------------------------------------------------------------


def test_the_seeded_world_lives_stays_valid_and_counts_only_grow_between_resets() -> None:
    client = live_client(count=40)
    clock(client, freeze=True)
    validator = spec.validator("ListVirtualKeysResponse")

    def budgets(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
        found = {}
        for vk in body["virtual_keys"]:
            for owner in (vk, *vk["provider_configs"]):
                if "budget" in owner:
                    found[owner["budget"]["id"]] = owner["budget"]
        return found

    previous = budgets(listed(client, memory=True))
    grew = reset = 0
    for step in ("1h", "6h", "1d", "1w", "1M", "1Y"):
        clock(client, advance=step)
        body = listed(client, memory=True)
        validator.validate(body)
        assert body["count"] == 40
        current = budgets(body)
        for budget_id, budget in current.items():
            before = previous[budget_id]
            if budget["last_reset"] != before["last_reset"]:
                reset += 1
                assert parse_ts(budget["last_reset"]) > parse_ts(before["last_reset"])
                assert budget["current_usage"] <= budget["max_limit"]
            else:
                assert budget["current_usage"] >= before["current_usage"]
                grew += budget["current_usage"] > before["current_usage"]
                assert budget["current_usage"] <= max(budget["max_limit"], before["current_usage"])
        previous = current
    assert grew >= 10 and reset >= 10
    clock(client, flush=True)
    validator.validate(listed(client, memory=False))


def test_flushes_keep_the_store_consistent_and_the_two_views_equal() -> None:
    client = live_client(count=25)
    store = client.application.extensions["vkmock"].store
    clock(client, freeze=True, advance="3h")
    db_before = store.list_bytes()
    assert store.list_bytes() is db_before  # the database view is still cached per version
    memory = store.list_bytes(from_memory=True)
    assert memory != db_before and store.list_bytes(from_memory=True) is memory  # frozen: cached too
    version = store.version
    changed = clock(client, flush=True)["flushed"]
    assert changed > 0 and store.version > version
    assert store.list_bytes() == store.list_bytes(from_memory=True) == memory
    assert clock(client, flush=True)["flushed"] == 0  # nothing moved since: no write
    assert store.integrity_check() == "ok"


def test_an_update_keeps_the_usage_gathered_since_the_last_flush() -> None:
    client = live_client(count=0)
    clock(client, freeze=True)
    vk = create(client, {"name": "busy", **DAILY})
    clock(client, advance="6h")
    gathered = key(client, vk["id"], memory=True)["budget"]["current_usage"]
    assert gathered > 0
    answer = client.put(
        f"{BASE}/{vk['id']}",
        headers=JSON_AUTH,
        data=json.dumps({"description": "renamed", "budget": {"max_limit": 20}}),
    )
    updated = json.loads(answer.data)["virtual_key"]
    assert updated["budget"]["current_usage"] == gathered and updated["budget"]["max_limit"] == 20
    assert key(client, vk["id"], memory=False)["budget"]["current_usage"] == gathered


def test_speed_runs_the_clock_faster_and_reset_rewinds_it() -> None:
    client = live_client(count=5)
    start = parse_ts(clock(client, speed=3600)["now"])
    time.sleep(0.3)
    later = parse_ts(clock(client, freeze=True)["now"])
    assert (later - start).total_seconds() >= 0.25 * 3600
    clock(client, advance="1d")
    assert client.post("/_vkmock/reset").status_code == 200
    rewound = json.loads(client.get("/_vkmock/clock").data)
    assert rewound["now"] == rewound["live_since"] == DEFAULT_NOW and rewound["frozen"] is True
    assert rewound["speed"] == 3600


def test_after_a_reset_the_last_flush_is_not_later_than_now() -> None:
    client = live_client(count=5)
    clock(client, freeze=True)
    flushed = clock(client, advance="1d", flush=True)
    assert flushed["last_flush"] == flushed["now"] != DEFAULT_NOW
    for reset in ("/_vkmock/reset", "/_vkmock/fixtures/default"):
        assert client.post(reset).status_code == 200
        after = json.loads(client.get("/_vkmock/clock").data)
        assert after["now"] == DEFAULT_NOW and after["last_flush"] is None, after  # the rewound clock: no flush yet
        again = clock(client, flush=True)
        assert again["last_flush"] == again["now"] == DEFAULT_NOW
        clock(client, advance="1h")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"advance": "yesterday"}, "advance must be a duration such as 90s"),
        ({"advance": 5}, "advance must be a duration"),
        ({"advance": "9999Y"}, "the clock cannot go past 9000-01-01T00:00:00Z"),
        ({"speed": 0}, "speed must be a number above 0"),
        ({"speed": True}, "speed must be a number above 0"),
        ({"freeze": "yes"}, "freeze must be true"),
        ({"flush": 1}, "flush must be true or false"),
        ({"rewind": True}, "unknown clock field(s) rewind; use freeze, advance, speed, flush"),
        ([1], "the clock takes a JSON object"),
    ],
)
def test_bad_clock_requests_are_refused(body: Any, says: str) -> None:
    client = live_client(count=1)
    before = client.get("/_vkmock/clock").data
    answer = client.post("/_vkmock/clock", json=body)
    assert answer.status_code == 400 and says in json.loads(answer.data)["error"]["message"]
    assert json.loads(client.get("/_vkmock/clock").data)["speed"] == json.loads(before)["speed"]


# ---- the pure functions ------------------------------------------------------------------------------------


def test_periods_roll_or_align_to_the_calendar() -> None:
    last = parse_ts("2026-11-04T15:30:00Z").timestamp()  # a Wednesday
    now = parse_ts("2026-11-10T09:00:00Z").timestamp()  # the next Tuesday
    assert live.period_start(last, now, "1d", False) == parse_ts("2026-11-09T15:30:00Z").timestamp()
    assert live.period_start(last, now, "daily", True) == parse_ts("2026-11-10T00:00:00Z").timestamp()
    assert live.period_start(last, now, "1w", True) == parse_ts("2026-11-09T00:00:00Z").timestamp()
    assert live.period_start(last, now, "1w", False) == last  # not yet 7 days
    assert live.period_start(last, now, "1Y", True) == last  # same year
    assert live.period_start(last, now, "2d", True) == parse_ts("2026-11-08T15:30:00Z").timestamp()  # rolls
    assert live.period_start(last, now, "not-a-duration", False) == last
    assert live.calendar_start(now, "M") == parse_ts("2026-11-01T00:00:00Z").timestamp()
    assert live.calendar_start(now, "Y") == parse_ts("2026-01-01T00:00:00Z").timestamp()


def test_counters_are_a_pure_function_of_time_and_the_key() -> None:
    base = {
        "id": "k",
        "is_active": True,
        "provider_configs": [],
        "budget": {
            "id": "b",
            "max_limit": 100,
            "reset_duration": "1d",
            "calendar_aligned": False,
            "last_reset": DEFAULT_NOW,
            "current_usage": 0,
            "updated_at": DEFAULT_NOW,
        },
    }
    first = live.advance_record(json.loads(json.dumps(base)), ANCHOR + 3_600, ANCHOR)
    second = live.advance_record(json.loads(json.dumps(base)), ANCHOR + 3_600, ANCHOR)
    assert first == second and first is not None and first["budget"]["updated_at"] == ts(ANCHOR + 3_600)
    assert live.advance_record(json.loads(json.dumps(base)), ANCHOR, ANCHOR) is None
    assert (
        live.model_cost("claude-opus-4-20250514") > live.model_cost("gpt-4o") > live.model_cost("gpt-4o-mini")
    )
    pricey = {
        **base,
        "provider_configs": [
            {"provider": "anthropic", "weight": 1, "allowed_models": ["claude-opus-4-20250514"]}
        ],
    }
    cheap = {
        **base,
        "provider_configs": [{"provider": "openai", "weight": 1, "allowed_models": ["gpt-4o-mini"]}],
    }
    assert live.budget_pace(base["budget"], "k", live.key_cost(pricey)) > live.budget_pace(
        base["budget"], "k", live.key_cost(cheap)
    )


# ---- a real server -----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_live_server_flushes_on_its_own_and_workers_share_the_clock(serve: Any) -> None:
    server = serve("--live", "--count", "20", "--flush-interval", "0.2s", "--workers", "2")
    url = server.url + BASE
    before = request(url, headers=AUTH)[2]
    status, _, body = request(
        server.url + "/_vkmock/clock",
        "POST",
        json.dumps({"speed": 36_000}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200, body
    deadline = time.monotonic() + 15
    while request(url, headers=AUTH)[2] == before and time.monotonic() < deadline:
        time.sleep(0.1)
    moved = json.loads(request(url, headers=AUTH)[2])
    assert moved != json.loads(before)
    spec.validator("ListVirtualKeysResponse").validate(moved)
    frozen = json.loads(
        request(
            server.url + "/_vkmock/clock",
            "POST",
            json.dumps({"freeze": True, "advance": "1d"}).encode(),
            {"Content-Type": "application/json"},
        )[2]
    )
    seen = {json.loads(request(server.url + "/_vkmock/clock")[2])["now"] for _ in range(12)}
    assert seen == {frozen["now"]}  # every worker reads the one clock kept in the store


def test_readers_flushes_updates_and_clock_changes_run_together() -> None:
    app = create_app(Settings(live=True, flush_interval="0", count=20))
    state = app.extensions["vkmock"]
    store, clock_ = state.store, state.extras["live"]
    client = app.test_client()
    vk_id = listed(client, memory=False)["virtual_keys"][0]["id"]
    clock_.clock.change(speed=86_400.0)  # a day per second: counters move on every read
    until = time.monotonic() + 1.0
    failures: list[BaseException] = []

    def loop(step: Any) -> None:
        try:
            while time.monotonic() < until:
                step()
        except BaseException as exc:
            failures.append(exc)

    steps = [
        lambda: store.list_bytes(from_memory=True),
        lambda: store.get_doc(vk_id, from_memory=True),
        clock_.flush,
        lambda: clock_.clock.change(advance=60.0),
        lambda: client.put(f"{BASE}/{vk_id}", headers=JSON_AUTH, data=json.dumps({"description": "busy"})),
    ]
    threads = [threading.Thread(target=loop, args=(step,), daemon=True) for step in steps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert not any(thread.is_alive() for thread in threads), "deadlock"
    assert failures == []
    clock_.clock.change(freeze=True)
    clock_.flush()
    assert store.list_bytes() == store.list_bytes(from_memory=True)
    spec.validator("ListVirtualKeysResponse").validate(json.loads(store.list_bytes()))
    assert store.integrity_check() == "ok"


def test_the_stores_small_api_for_run_time_modules() -> None:
    store = create_app(Settings(count=4)).extensions["vkmock"].store
    before, version = store.list_bytes(), store.version
    with pytest.raises(ValueError, match="must keep the id, name and created_at"):
        store.rewrite(lambda record: {**record, "name": "renamed"})
    assert (store.list_bytes(), store.version) == (before, version)  # the transaction rolled back
    assert store.rewrite(lambda record: None) == 0 and store.version == version
    first = json.loads(before)["virtual_keys"][0]["id"]
    assert store.rewrite(lambda record: {**record, "description": "rewritten"}, ids=[first, "missing"]) == 1
    assert (
        store.version == version + 1
        and json.loads(store.get_doc(first) or "{}")["description"] == "rewritten"
    )
    assert store.get_meta("example") is None
    assert store.set_meta("example", "42") == version + 2 and store.get_meta("example") == "42"
    assert store.count() == 4 and store.integrity_check() == "ok"
