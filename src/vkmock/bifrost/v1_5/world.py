"""The Bifrost 1.5 seeded world: virtual keys with ``budgets[]``, teams and customers, from a seed, a count and an
anchor instant.

What it shares with the 1.4 world (``vkmock.bifrost.v1_4.world``): the catalogue of provider keys (same seed,
same keys), the MCP clients' ids and names (here in 1.5's full ``TableMCPClient`` form), the people and model
names, and the first draws of every key. Key ``i`` of seed ``s`` has the same ``id``, ``name``, ``value``,
``description``, ``is_active``, ``created_at`` and ``updated_at`` in both profiles; what follows is 1.5's own
shape.

Stability. Key ``i`` depends only on ``(seed, i, now)`` and on the keys before it (names stay unique by suffixing
the rare collision), so ``count=10`` is a prefix of ``count=1000``. Team ``j`` and customer ``j`` depend only on
``(seed, j, now)`` and the ones before them. The number of teams grows with the world, about ``count / 4``
(at least 3) and customers about ``count / 8`` (at least 2), so the team and customer lists of a small world are
prefixes of a larger world's, and key ``i`` only ever points at a team or customer that exists in every world of
more than ``i`` keys (one of the first ``max(3, i // 4 + 1)`` teams or ``max(2, i // 8 + 1)`` customers; team ``j``
likewise only belongs to one of the first ``max(2, j // 2 + 1)`` customers). An empty world (``count=0``) has no
teams and no customers, but keeps the catalogue: the configured providers, their keys and the MCP clients.
``teams=`` and ``customers=`` override the two sizes; every key may then use every team and customer.

Shapes follow the 1.5 facts (``bifrost-v1.5-facts.md`` sections 3.6, 4.4, 5.3): dict insertion order is the JSON
field order upstream's encoder writes. Keys come in the form the paged list serves them (``team`` embeds a plain
team with its plain ``customer``; ``customer`` is a plain customer). Teams and customers come as stored: no joined
``customer``/``virtual_key_count`` on teams, no ``teams``/``virtual_keys`` on customers; ``list_team`` and
``plain_customer`` build the embedded forms, ``table_key`` the preloaded provider-key form.

Timestamps are laid out strictly before the anchor, so a seed gives byte-identical bodies on every start. Company
names are drawn from Faker's en_US data (last names with their weights, its company formats and suffixes) with
each record's own ``random.Random``: Faker's ``company()`` costs about half a millisecond a name on this kind of
machine, too slow for a 10,000-key world. A 1.5 key costs less CPU than a 1.4 one although it carries more (the
garbage collector is paused while the world is built: its records hold no cycles). No Flask, no store and no spec.
"""

from __future__ import annotations

import bisect
import functools
import gc
import itertools
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from faker.providers.company.en_US import Provider as _CompanyProvider
from faker.providers.person.en_US import Provider as _PersonProvider

from vkmock.bifrost.v1_4.world import (
    APPS,
    ENVS,
    IDS_PER_RECORD,
    MCP_CLIENTS,
    MODELS,
    PROVIDER_WEIGHTS,
    PROVIDERS,
    PURPOSES,
    REDACTED_ENV,
    TEAMS,
    Catalogue,
    build_catalogue,
    people_pool,
)
from vkmock.clock import format_ts, micros, parse_ts

ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time.Time, what unselected timestamps of a preloaded key print
# Bifrost 1.5 reset durations a deployment would configure (no daily/weekly aliases), with their lengths
# (the periods Bifrost's dashboard offers in its "Reset Period" select, so every seeded key can be edited there)
PERIOD = {"1h": 3_600, "6h": 6 * 3_600, "1d": 86_400, "1w": 7 * 86_400, "1M": 30 * 86_400}
RATE_PERIOD = {"1m": 60, "5m": 300, "1h": 3_600, "1d": 86_400}
RATE_DURATIONS_15 = ("1m", "1h", "1m", "1d", "5m")
# the providers a 1.5 deployment can configure: 1.4's, less deepseek (1.5's dashboard has no entry for it)
PROVIDERS_15 = [p for p in PROVIDERS if p != "deepseek"]
PROVIDER_WEIGHTS_15 = [w for p, w in zip(PROVIDERS, PROVIDER_WEIGHTS, strict=True) if p != "deepseek"]
PERIOD_US = {duration: seconds * 1_000_000 for duration, seconds in PERIOD.items()}
RATE_PERIOD_US = {duration: seconds * 1_000_000 for duration, seconds in RATE_PERIOD.items()}
BUDGET_DURATIONS = ("1M", "1d", "1w", "6h", "1h")
BUDGET_DURATION_WEIGHTS = (40, 25, 15, 10, 10)
# plausible limits per duration; one "level" draw picks the same rung for every budget of an owner, so a key's
# daily cap stays below its monthly one
LIMITS = {
    "1h": (1, 2, 5, 10, 20, 50),
    "1d": (5, 10, 20, 50, 100, 250),
    "1w": (25, 50, 100, 250, 500, 1_000),
    "1M": (50, 100, 250, 500, 1_000, 5_000),
    "6h": (2, 5, 10, 20, 50, 100),
}
TEAM_AREAS = [
    "Payments", "Identity", "Search", "Infrastructure", "ML Platform", "Developer Experience", "Support Tools",
    "Checkout", "Billing", "Risk", "Fraud", "Trust & Safety", "Data Engineering", "Analytics", "Marketing",
    "Sales Engineering", "Partnerships", "Localization", "Documentation", "Design Systems", "Web", "iOS",
    "Android", "Observability", "SRE", "Reliability", "Compliance", "Legal Ops", "People Ops", "IT",
    "Applied AI", "Evaluation", "Knowledge Base", "Conversational AI", "Recommendations", "Personalization",
    "Notifications", "Messaging", "Integrations", "API Platform", "Edge", "Storage", "Networking",
    "Quality Engineering", "Release Engineering", "Onboarding", "Growth Marketing", "Revenue Ops",
]
TEAM_QUALIFIERS = ["", "", "", "EMEA", "APAC", "Americas", "Core", "Labs", "Enterprise", "Internal", "Tiger Team",
                   "Squad A", "Squad B", "North", "South"]
MCP_SERVERS: dict[str, dict[str, Any]] = {
    "github": {"url": "http://github-mcp.tools.svc.cluster.local:8080/mcp", "header": ("Authorization", "GITHUB")},
    "filesystem": {"stdio": ("npx", ["-y", "@modelcontextprotocol/server-filesystem", "/srv/shared"], [])},
    "slack": {"url": "http://slack-mcp.tools.svc.cluster.local:8080/sse", "header": ("Authorization", "SLACK")},
    "postgres": {"stdio": ("npx", ["-y", "@modelcontextprotocol/server-postgres"], ["DATABASE_URL"])},
    "brave-search": {"url": "http://brave-mcp.tools.svc.cluster.local:8080/mcp", "header": ("X-Api-Key", "BRAVE")},
    "linear": {"url": "http://linear-mcp.tools.svc.cluster.local:8080/mcp", "header": ("Authorization", "LINEAR")},
    "notion": {"url": "http://notion-mcp.tools.svc.cluster.local:8080/mcp", "header": ("Authorization", "NOTION")},
    "sentry": {"url": "http://sentry-mcp.tools.svc.cluster.local:8080/sse", "header": ("Authorization", "SENTRY")},
}
DAY = 86_400

_LAST_NAMES = list(_PersonProvider.last_names)
_LAST_NAME_CUMULATIVE = list(itertools.accumulate(_PersonProvider.last_names.values()))
_COMPANY_SUFFIXES = list(_CompanyProvider.company_suffixes)
_PROVIDER_CUMULATIVE = list(itertools.accumulate(PROVIDER_WEIGHTS_15))
_DURATION_CUMULATIVE = list(itertools.accumulate(BUDGET_DURATION_WEIGHTS))
# the 1.4 generator's environment weights, so the first draws of a key match it
_ENV_CUMULATIVE = list(itertools.accumulate((40, 20, 15, 10, 10, 5)))
_ENV_TOTAL = _ENV_CUMULATIVE[-1] + 0.0
_SPLITS: dict[int, tuple[float | int | None, ...]] = {1: (1,), 2: (0.7, 0.3), 3: (0.5, 0.3, 0.2)}
_NO_WEIGHTS = (None, None, None)  # weight left out on create: null


@dataclass
class World15:
    """A 1.5 world: keys in list form, teams and customers as stored, the catalogue they point at."""

    virtual_keys: list[dict[str, Any]]
    teams: list[dict[str, Any]]
    customers: list[dict[str, Any]]
    catalogue: Catalogue
    now: str


# ---- small, fast draws ----------------------------------------------------------------------------------


def _uuid(rng: random.Random) -> str:
    """A version-4 UUID from ``rng``: the same text ``uuid.UUID(int=rng.getrandbits(128), version=4)`` gives."""
    n = rng.getrandbits(128)
    n = (n & ~(0xC000 << 48)) | (0x8000 << 48)
    n = (n & ~(0xF000 << 64)) | (4 << 76)
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _pick(rng: random.Random, seq: list[Any] | tuple[Any, ...]) -> Any:
    return seq[int(rng.random() * len(seq))]


def _weighted(rng: random.Random, seq: list[Any] | tuple[Any, ...], cumulative: list[Any]) -> Any:
    index = bisect.bisect_right(cumulative, rng.random() * cumulative[-1])
    return seq[min(index, len(seq) - 1)]


def _sample(rng: random.Random, seq: list[Any] | tuple[Any, ...], k: int) -> list[Any]:
    """``k`` distinct items of ``seq`` in draw order (a partial Fisher-Yates shuffle)."""
    pool = list(seq)
    for i in range(k):
        j = i + int(rng.random() * (len(pool) - i))
        pool[i], pool[j] = pool[j], pool[i]
    return pool[:k]


def calendar_start(moment: datetime, unit: str) -> datetime:
    """The UTC start of the calendar day (``d``), ISO week (``w``), month (``M``) or year (``Y``) of ``moment``."""
    start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "w":
        start -= timedelta(days=start.weekday())
    elif unit == "M":
        start = start.replace(day=1)
    elif unit == "Y":
        start = start.replace(month=1, day=1)
    return start


@dataclass(frozen=True)
class _Anchor:
    """The instant a world is laid out before, in the forms the generator needs."""

    moment: datetime
    us: int  # microseconds since the epoch
    aligned: dict[str, int]  # d/w/M/Y -> the current calendar period's start (µs), strictly before the anchor

    @classmethod
    def at(cls, moment: datetime) -> _Anchor:
        aligned = {}
        for unit in "dwMY":
            start = calendar_start(moment, unit)
            if start >= moment:  # an anchor exactly on a boundary: that period has not begun, the previous one has
                start = calendar_start(moment - timedelta(microseconds=1), unit)
            aligned[unit] = micros(start)
        return cls(moment, micros(moment), aligned)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = _EPOCH.toordinal()
_FAST_DAYS = range(date(1000, 1, 1).toordinal() - _EPOCH_ORDINAL, date(9999, 12, 31).toordinal() - _EPOCH_ORDINAL)


@functools.lru_cache(maxsize=4096)
def _day(day: int) -> str:
    return date.fromordinal(_EPOCH_ORDINAL + day).isoformat()


_HOURS = [f"T{hour:02d}:" for hour in range(24)]
_MINUTES_SECONDS = [f"{minute:02d}:{second:02d}" for minute in range(60) for second in range(60)]


def _ts(us: int) -> str:
    """``clock.format_ts`` of the instant ``us`` microseconds after the epoch, three times faster (the world has
    about ten timestamps a key)."""
    day, rest = divmod(us, 86_400_000_000)
    if day not in _FAST_DAYS:
        return format_ts(_EPOCH + timedelta(microseconds=us))
    seconds, fraction = divmod(rest, 1_000_000)
    hours, seconds = divmod(seconds, 3_600)
    if fraction:  # Go drops the fraction's trailing zeros
        return (_day(day) + _HOURS[hours] + _MINUTES_SECONDS[seconds] + f".{fraction:06d}").rstrip("0") + "Z"
    return _day(day) + _HOURS[hours] + _MINUTES_SECONDS[seconds] + "Z"


# ---- the embedded and preloaded forms -------------------------------------------------------------------


def table_key(key: dict[str, Any]) -> dict[str, Any]:
    """A catalogue provider key as a provider config's ``keys[]`` shows it: preloaded with ``id, name, key_id,
    models_json, provider`` only, secrets blanked, every other column at its Go zero value."""
    return {
        "id": key["id"],
        "name": key["name"],
        "provider_id": 0,
        "provider": key["provider"],
        "key_id": key["key_id"],
        "value": dict(REDACTED_ENV),
        "weight": None,
        "enabled": True,
        "created_at": ZERO_TIME,
        "updated_at": ZERO_TIME,
        "config_hash": "",
        "use_for_batch_api": False,
        "status": "",
        "models": list(key.get("models") or []),
        "blacklisted_models": None,
    }


def plain_customer(customer: dict[str, Any]) -> dict[str, Any]:
    """A stored customer as it is embedded without its relations: ``teams`` and ``virtual_keys`` ``null``, no
    ``budget``/``rate_limit`` objects (their ids stay)."""
    plain: dict[str, Any] = {"id": customer["id"], "name": customer["name"]}
    for name in ("budget_id", "rate_limit_id"):
        if name in customer:
            plain[name] = customer[name]
    plain["teams"] = None
    plain["virtual_keys"] = None
    plain["config_hash"] = customer.get("config_hash", "")
    plain["created_at"] = customer["created_at"]
    plain["updated_at"] = customer["updated_at"]
    return plain


def list_team(team: dict[str, Any], customer: dict[str, Any] | None) -> dict[str, Any]:
    """A stored team as a key embeds it: its plain ``customer`` (when it has one), no budgets or rate limit,
    ``virtual_key_count`` 0 (not computed on that path)."""
    embedded: dict[str, Any] = {"id": team["id"], "name": team["name"]}
    for name in ("customer_id", "rate_limit_id"):
        if name in team:
            embedded[name] = team[name]
    if customer is not None:
        embedded["customer"] = plain_customer(customer)
    embedded["virtual_key_count"] = 0
    embedded["profile"] = team.get("profile")
    embedded["config"] = team.get("config")
    embedded["claims"] = team.get("claims")
    embedded["config_hash"] = team.get("config_hash", "")
    embedded["created_at"] = team["created_at"]
    embedded["updated_at"] = team["updated_at"]
    return embedded


# ---- budgets and rate limits ----------------------------------------------------------------------------


def _durations(rng: random.Random, count: int) -> list[str]:
    """``count`` distinct reset durations (a budget list never repeats one), shortest first."""
    chosen = [_weighted(rng, BUDGET_DURATIONS, _DURATION_CUMULATIVE)]
    while len(chosen) < count:
        duration = _weighted(rng, BUDGET_DURATIONS, _DURATION_CUMULATIVE)
        if duration not in chosen:
            chosen.append(duration)
    return sorted(chosen, key=PERIOD.__getitem__) if count > 1 else chosen


def _share(pressure: float, draw: float) -> float:
    """Usage as a share of the limit: mostly well under, some near, a few over (usage is counted before the
    check bites). ``draw`` is uniform in [0, 1)."""
    if pressure < 0.70:
        return 0.7 * draw
    if pressure < 0.86:
        return 0.7 + 0.2 * draw
    if pressure < 0.95:
        return 0.9 + 0.099 * draw
    return 1.0 + 0.15 * draw


def _budgets(rng: random.Random, count: int, owner: tuple[str, Any] | None, created: int, created_text: str,
             at: _Anchor, scale: float, pressure: float, aligned: bool, flag: bool | None) -> list[dict[str, Any]]:
    """``count`` budgets with distinct durations for an owner created at ``created`` (µs). ``aligned``: every
    d/w/M/Y budget starts at its calendar period (a calendar-aligned key); ``flag``: the ``calendar_aligned``
    each budget shows, or ``None`` to draw it per budget and honour it (teams). The first budget's usage follows
    ``pressure``, the others their own."""
    if count == 0:
        return []
    rand = rng.random
    level = rand()
    now = at.us
    budgets = []
    for duration in _durations(rng, count):
        rungs = LIMITS[duration]
        limit = round(rungs[int(level * len(rungs))] * scale, 2)
        own_flag = flag if flag is not None else rand() < 0.3
        start = at.aligned.get(duration[-1], -1) if (aligned or own_flag) else -1
        if start < 0:
            own_flag = bool(flag)
            start = now - 1 - int(rand() * PERIOD_US[duration])
            if start < created:
                start = created
        used = round(limit * _share(pressure, rand()), 4)
        pressure = rand()
        touched = start if start > created else created
        identifier = _uuid(rng)
        max_limit = int(limit) if limit.is_integer() else limit
        reset = _ts(start)
        usage = int(used) if used.is_integer() else used
        updated = _ts(touched + int((now - touched) * (0.3 + 0.699 * rand())))
        if owner is None:
            budgets.append({"id": identifier, "max_limit": max_limit, "reset_duration": duration, "last_reset": reset,
                            "current_usage": usage, "calendar_aligned": own_flag, "config_hash": "",
                            "created_at": created_text, "updated_at": updated})
        else:  # the owner's id sits between current_usage and calendar_aligned
            budgets.append({"id": identifier, "max_limit": max_limit, "reset_duration": duration, "last_reset": reset,
                            "current_usage": usage, owner[0]: owner[1], "calendar_aligned": own_flag,
                            "config_hash": "", "created_at": created_text, "updated_at": updated})
    return budgets


_TOKEN_LIMITS = (10_000, 50_000, 100_000, 250_000, 1_000_000, 5_000_000)
_REQUEST_LIMITS = (60, 100, 300, 600, 1_000, 5_000)


def _rate_limit(rng: random.Random, created: int, created_text: str, at: _Anchor) -> dict[str, Any]:
    """A token and/or request limit (at least one), each counter inside its current window."""
    rand = rng.random
    limit: dict[str, Any] = {"id": _uuid(rng)}
    age = at.us - 1 - created
    has_tokens = rand() < 0.8
    has_requests = rand() < 0.8 or not has_tokens
    token_reset = request_reset = created
    if has_tokens:
        maximum = _pick(rng, _TOKEN_LIMITS)
        duration = _pick(rng, RATE_DURATIONS_15)
        token_reset = at.us - 1 - int(rand() * min(RATE_PERIOD_US[duration], age))
        limit["token_max_limit"] = maximum
        limit["token_reset_duration"] = duration
        limit["token_current_usage"] = int(maximum * rand() * (0.95 if rand() < 0.9 else 1.0))
    else:
        limit["token_current_usage"] = 0
    limit["token_last_reset"] = _ts(token_reset)
    if has_requests:
        maximum = _pick(rng, _REQUEST_LIMITS)
        duration = _pick(rng, RATE_DURATIONS_15)
        request_reset = at.us - 1 - int(rand() * min(RATE_PERIOD_US[duration], age))
        limit["request_max_limit"] = maximum
        limit["request_reset_duration"] = duration
        limit["request_current_usage"] = int(maximum * rand() * (0.95 if rand() < 0.9 else 1.0))
    else:
        limit["request_current_usage"] = 0
    limit["request_last_reset"] = _ts(request_reset)
    limit["calendar_aligned"] = False
    limit["config_hash"] = ""
    limit["created_at"] = created_text
    limit["updated_at"] = _ts(max(token_reset, request_reset))
    return limit


# ---- the catalogue --------------------------------------------------------------------------------------


def _mcp_client(rng: random.Random, base: dict[str, Any], created: str) -> dict[str, Any]:
    """A catalogue MCP client in 1.5's ``TableMCPClient`` form (not redacted, as upstream embeds it)."""
    server = MCP_SERVERS.get(base["name"], {})
    client: dict[str, Any] = {
        "id": base["id"],
        "client_id": base["client_id"],
        "name": base["name"],
        "is_code_mode_client": False,
        "connection_type": base["connection_type"],
    }
    if "url" in server:
        client["connection_string"] = {"value": server["url"], "env_var": "", "from_env": False}
    client["is_ping_available"] = True
    client["tool_sync_interval"] = 0
    client["auth_type"] = "headers" if "header" in server else "none"
    client["oauth_config_id"] = None
    client["allow_on_all_virtual_keys"] = False
    client["config_hash"] = ""
    client["created_at"] = created
    client["updated_at"] = created
    if "stdio" in server:
        command, args, envs = server["stdio"]
        client["stdio_config"] = {"command": command, "args": list(args), "envs": list(envs)}
    client["tools_to_execute"] = ["*"]
    client["tools_to_auto_execute"] = [] if rng.random() < 0.7 else MCP_CLIENTS.get(base["name"], ("", []))[1][:1]
    headers = {}
    if "header" in server:
        header, prefix = server["header"]
        headers[header] = {"value": "", "env_var": f"env.{prefix}_MCP_TOKEN", "from_env": True}
    client["headers"] = headers
    client["allowed_extra_headers"] = []
    client["tool_pricing"] = {}
    return client


def build_catalogue_15(seed: int, now: datetime) -> Catalogue:
    """The 1.4 catalogue's provider keys (the configured providers) and its MCP clients in 1.5's full form;
    teams and customers are first-class records in 1.5, so the catalogue holds none."""
    catalogue = build_catalogue(seed, now)
    catalogue.provider_keys = {p: keys for p, keys in catalogue.provider_keys.items() if p in PROVIDERS_15}
    catalogue.teams = {}
    catalogue.customers = {}
    rng = random.Random(f"{seed}:v1.5:mcp")
    for name, base in list(catalogue.mcp_clients.items()):
        created = format_ts(now - timedelta(seconds=rng.uniform(560 * DAY, 600 * DAY)))
        catalogue.mcp_clients[name] = _mcp_client(rng, base, created)
    return catalogue


# ---- teams and customers --------------------------------------------------------------------------------


def default_team_count(count: int) -> int:
    return 0 if count <= 0 else max(3, -(-count // 4))


def default_customer_count(count: int) -> int:
    return 0 if count <= 0 else max(2, -(-count // 8))


def _company(rng: random.Random) -> str:
    """A company name the way Faker's en_US provider writes one, drawn with ``rng``."""
    def last() -> str:
        return str(_weighted(rng, _LAST_NAMES, _LAST_NAME_CUMULATIVE))

    form = int(rng.random() * 3)
    if form == 0:
        return f"{last()} {_pick(rng, _COMPANY_SUFFIXES)}"
    if form == 1:
        return f"{last()}-{last()}"
    return f"{last()}, {last()} and {last()}"


def _make_customer(seed: int, index: int, at: _Anchor, taken: set[str]) -> dict[str, Any]:
    """Customer ``index`` of world ``seed``: a company, sometimes with one budget and a rate limit."""
    rng = random.Random(f"{seed}:customer:{index}")
    customer_id = _uuid(rng)
    name = _company(rng)
    for _ in range(4):
        if name not in taken:
            break
        name = _company(rng)
    if name in taken:
        name = f"{name} ({index + 1})"
    taken.add(name)
    created = at.us - int(rng.uniform(420 * DAY, 640 * DAY) * 1e6)
    created_text = _ts(created)
    updated = created + int((at.us - 1 - created) * rng.random() ** 2)
    has_budget = rng.random() < 0.5
    has_rate_limit = rng.random() < 0.3
    budgets = _budgets(rng, 1 if has_budget else 0, None, created, created_text, at, 10.0, rng.random(), False, False)
    rate_limit = _rate_limit(rng, created, created_text, at) if has_rate_limit else None
    customer: dict[str, Any] = {"id": customer_id, "name": name}
    if budgets:
        customer["budget_id"] = budgets[0]["id"]
    if rate_limit:
        customer["rate_limit_id"] = rate_limit["id"]
    if budgets:
        customer["budget"] = budgets[0]
    if rate_limit:
        customer["rate_limit"] = rate_limit
    customer["config_hash"] = ""
    customer["created_at"] = created_text
    customer["updated_at"] = _ts(updated)
    return customer


def _make_team(seed: int, index: int, at: _Anchor, customers: list[dict[str, Any]], open_customers: int,
               taken: dict[str, int]) -> dict[str, Any]:
    """Team ``index`` of world ``seed``; it may belong to one of the first ``open_customers`` customers."""
    rng = random.Random(f"{seed}:team:{index}")
    team_id = _uuid(rng)
    if index < len(TEAMS):
        name = TEAMS[index]
    else:
        qualifier = _pick(rng, TEAM_QUALIFIERS)
        area = _pick(rng, TEAM_AREAS)
        name = f"{area} {qualifier}" if qualifier else area
    seen = taken.get(name, 0)
    taken[name] = seen + 1
    if seen:
        name = f"{name} {seen + 1}"
        taken[name] = taken.get(name, 0) + 1
    created = at.us - int(rng.uniform(400 * DAY, 620 * DAY) * 1e6)
    created_text = _ts(created)
    updated = created + int((at.us - 1 - created) * rng.random() ** 2)
    belongs, spread, offset = rng.random(), rng.random(), rng.random()
    customer = None
    if belongs < 0.45 and open_customers > 0:
        customer = customers[_near(spread, offset, index // 2, open_customers)]
    budget_count = 0 if (r := rng.random()) < 0.4 else (1 if r < 0.8 else 2)
    has_rate_limit = rng.random() < 0.3
    budgets = _budgets(rng, budget_count, ("team_id", team_id), created, created_text, at, 4.0, rng.random(),
                       False, None)
    rate_limit = _rate_limit(rng, created, created_text, at) if has_rate_limit else None
    team: dict[str, Any] = {"id": team_id, "name": name}
    if customer is not None:
        team["customer_id"] = customer["id"]
    if rate_limit:
        team["rate_limit_id"] = rate_limit["id"]
    if budgets:
        team["budgets"] = budgets
    if rate_limit:
        team["rate_limit"] = rate_limit
    team["profile"] = None
    team["config"] = None
    team["claims"] = None
    team["config_hash"] = ""
    team["created_at"] = created_text
    team["updated_at"] = _ts(updated)
    return team


def _near(spread: float, offset: float, home: int, available: int) -> int:
    """An index below ``available`` from two uniform draws: mostly at or just before ``home`` (so later records
    use later teams and customers too, not only the first few), otherwise any."""
    if spread < 0.6:
        return max(0, min(home, available - 1) - int(offset * 3))
    return min(int(offset * available), available - 1)


# ---- virtual keys ---------------------------------------------------------------------------------------


def _provider_configs(rng: random.Random, index: int, vk_id: str, created: int, created_text: str, at: _Anchor,
                      table_keys: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    rand = rng.random
    if rand() < 0.02:  # deny-by-default: a key parked with no provider at all
        return []
    count = 1 if (r := rand()) < 0.55 else (2 if r < 0.9 else 3)
    providers = [_weighted(rng, PROVIDERS_15, _PROVIDER_CUMULATIVE)]
    while len(providers) < count:
        provider = _weighted(rng, PROVIDERS_15, _PROVIDER_CUMULATIVE)
        if provider not in providers:
            providers.append(provider)
    split = _SPLITS[count] if rand() < 0.6 else _NO_WEIGHTS
    configs = []
    for j, provider in enumerate(providers):
        config_id = index * IDS_PER_RECORD + j + 1
        r = rand()
        if r < 0.45:
            allowed = ["*"]
        elif r < 0.97:
            models = MODELS[provider]
            allowed = _sample(rng, models, 1 + int(rand() * min(3, len(models))))
        else:
            allowed = []
        r = rand()
        available = table_keys.get(provider)
        keys: list[dict[str, Any]] = []
        if r < 0.55 or not available:
            allow_all = True
        else:
            allow_all = False
            if r < 0.97:
                chosen = [key for key in available if rand() < 0.6] or [_pick(rng, available)]
                keys = [{**key, "value": dict(REDACTED_ENV), "models": list(key["models"])} for key in chosen]
        config: dict[str, Any] = {
            "id": config_id,
            "virtual_key_id": vk_id,
            "provider": provider,
            "weight": split[j],
            "allow_all_keys": allow_all,
        }
        if rand() < 0.25:
            rate_limit = _rate_limit(rng, created, created_text, at)
            config["rate_limit_id"] = rate_limit["id"]
            config["rate_limit"] = rate_limit
        if rand() < 0.3:
            n_budgets = 2 if rand() < 0.25 else 1
            config["budgets"] = _budgets(rng, n_budgets, ("provider_config_id", config_id), created, created_text,
                                         at, 0.5, rand(), False, False)
        config["keys"] = keys
        config["allowed_models"] = allowed  # last: upstream's MarshalJSON re-adds it after the embedded fields
        configs.append(config)
    return configs


def _mcp_configs(rng: random.Random, index: int, vk_id: str, clients: dict[str, dict[str, Any]],
                 names: list[str]) -> list[dict[str, Any]]:
    if rng.random() > 0.35 or not names:
        return []
    configs = []
    for j, name in enumerate(_sample(rng, names, min(len(names), 1 + int(rng.random() * 2)))):
        client = clients[name]
        tools = MCP_CLIENTS.get(name, ("", []))[1]
        r = rng.random()
        chosen: list[str] | None
        if r < 0.3 or not tools:
            chosen = ["*"]
        elif r < 0.4:
            chosen = None  # created without tools_to_execute
        else:
            chosen = _sample(rng, tools, 1 + int(rng.random() * len(tools)))
        configs.append({
            "id": index * IDS_PER_RECORD + j + 1,
            "virtual_key_id": vk_id,
            "mcp_client_id": client["id"],
            "mcp_client": client,
            "tools_to_execute": chosen,
        })
    return configs


@dataclass
class _Pools:
    """What every key draws from, built once per world."""

    teams: list[dict[str, Any]]
    customers: list[dict[str, Any]]
    team_embeds: list[dict[str, Any]]  # each team as a key embeds it, copied into every key that belongs to it
    customer_embeds: list[dict[str, Any]]
    fixed_teams: bool  # sizes given by the caller: every key may use every team (or customer)
    fixed_customers: bool
    table_keys: dict[str, list[dict[str, Any]]]
    mcp_clients: dict[str, dict[str, Any]]
    mcp_names: list[str]
    people: list[str]

    def open_teams(self, index: int) -> int:
        """How many teams key ``index`` may point at: the ones every world of more than ``index`` keys has."""
        return len(self.teams) if self.fixed_teams else min(len(self.teams), max(3, index // 4 + 1))

    def open_customers(self, index: int) -> int:
        return len(self.customers) if self.fixed_customers else min(len(self.customers), max(2, index // 8 + 1))


def _make_record(seed: int, index: int, at: _Anchor, pools: _Pools, taken: set[str]) -> dict[str, Any]:
    """Virtual key number ``index`` of the 1.5 world ``seed`` in list form (``taken`` keeps names unique)."""
    rng = random.Random(f"{seed}:{index}")
    # the 1.4 generator's first draws, in its order: the same id, name, description, value and activity
    vk_id = _uuid(rng)
    app = rng.choice(APPS)
    env = ENVS[bisect.bisect(_ENV_CUMULATIVE, rng.random() * _ENV_TOTAL, 0, len(ENVS) - 1)]  # = rng.choices(...)
    name = f"{app}-{env}"
    if name in taken:
        name = f"{app}-{env}-{index + 1}"
    taken.add(name)
    now = at.moment
    created_moment = now - timedelta(seconds=3_600 + (86_400 * 540 - 3_600) * rng.random())  # = rng.uniform(...)
    updated_moment = created_moment + (now - created_moment) * rng.random() ** 3
    record: dict[str, Any] = {"id": vk_id, "name": name}
    if rng.random() < 0.85:
        owner = rng.choice(pools.people)
        record["description"] = f"{app.replace('-', ' ').capitalize()}, {PURPOSES[env]} (owner: {owner})"
    record["value"] = "sk-bf-" + _uuid(rng)
    pressure = rng.random()
    record["is_active"] = not (rng.random() < 0.08 or (pressure > 0.97 and rng.random() < 0.5))
    # 1.5 from here on
    created = micros(created_moment)
    created_text = _ts(created)
    record["provider_configs"] = _provider_configs(rng, index, vk_id, created, created_text, at, pools.table_keys)
    record["mcp_configs"] = _mcp_configs(rng, index, vk_id, pools.mcp_clients, pools.mcp_names)
    attach, spread, offset = rng.random(), rng.random(), rng.random()
    team = customer = -1
    if attach < 0.4 and (available := pools.open_teams(index)):
        team = _near(spread, offset, index // 4, available)
    elif 0.4 <= attach < 0.6 and (available := pools.open_customers(index)):
        customer = _near(spread, offset, index // 8, available)
    aligned = rng.random() < 0.1
    budget_count = 0 if (r := rng.random()) < 0.25 else (1 if r < 0.75 else 2)
    budgets = _budgets(rng, budget_count, ("virtual_key_id", vk_id), created, created_text, at, 1.0, pressure,
                       aligned, False)
    rate_limit = _rate_limit(rng, created, created_text, at) if rng.random() < 0.5 else None
    if team >= 0:
        record["team_id"] = pools.teams[team]["id"]
    if customer >= 0:
        record["customer_id"] = pools.customers[customer]["id"]
    if rate_limit:
        record["rate_limit_id"] = rate_limit["id"]
    record["calendar_aligned"] = aligned
    if team >= 0:
        embedded = pools.team_embeds[team]
        record["team"] = {**embedded, "customer": dict(embedded["customer"])} if "customer" in embedded else dict(
            embedded)
    if customer >= 0:
        record["customer"] = dict(pools.customer_embeds[customer])
    if rate_limit:
        record["rate_limit"] = rate_limit
    if budgets:
        record["budgets"] = budgets
    record["config_hash"] = ""
    record["created_at"] = created_text
    record["updated_at"] = _ts(min(micros(updated_moment), at.us - 1))
    return record


def generate_world(seed: int, count: int, now: str, teams: int | None = None,
                   customers: int | None = None) -> World15:
    """The first ``count`` virtual keys of the 1.5 world ``seed``, with its teams and customers (about
    ``count / 4`` and ``count / 8``, or exactly ``teams`` and ``customers``), laid out before the anchor ``now``."""
    for label, value in (("count", count), ("teams", teams), ("customers", customers)):
        if value is not None and value < 0:
            raise ValueError(f"{label} must be zero or more, not {value}")
    at = _Anchor.at(parse_ts(now))
    paused = gc.isenabled()
    gc.disable()  # ~60 containers a key and no cycles: collecting while the world is built only costs time
    try:
        return _build(seed, count, now, at, teams, customers)
    finally:
        if paused:
            gc.enable()


def _build(seed: int, count: int, now: str, at: _Anchor, teams: int | None, customers: int | None) -> World15:
    catalogue = build_catalogue_15(seed, at.moment)
    customer_count = default_customer_count(count) if customers is None else customers
    team_count = default_team_count(count) if teams is None else teams
    company_names: set[str] = set()
    customer_list = [_make_customer(seed, j, at, company_names) for j in range(customer_count)]
    team_names: dict[str, int] = {}
    team_list = []
    for j in range(team_count):
        # the customers every world holding team j has (all of them when the caller fixed the sizes)
        open_customers = customer_count if customers is not None else min(customer_count, max(2, j // 2 + 1))
        team_list.append(_make_team(seed, j, at, customer_list, open_customers, team_names))
    by_id = {customer["id"]: customer for customer in customer_list}
    pools = _Pools(
        teams=team_list,
        customers=customer_list,
        team_embeds=[list_team(team, by_id.get(team.get("customer_id") or "")) for team in team_list],
        customer_embeds=[plain_customer(customer) for customer in customer_list],
        fixed_teams=teams is not None,
        fixed_customers=customers is not None,
        table_keys={provider: [table_key(key) for key in keys] for provider, keys in catalogue.provider_keys.items()},
        mcp_clients=catalogue.mcp_clients,
        mcp_names=sorted(catalogue.mcp_clients),
        people=people_pool(seed),
    )
    taken: set[str] = set()
    keys = [_make_record(seed, i, at, pools, taken) for i in range(count)]
    return World15(virtual_keys=keys, teams=team_list, customers=customer_list, catalogue=catalogue, now=now)
