"""The seeded world: believable Bifrost virtual keys from a seed, a count and an anchor instant.

Record ``i`` depends only on ``(seed, i, now)`` and on records before it (names stay unique by suffixing the
rare collision), so ``--count 10`` is a prefix of ``--count 1000``. Timestamps are laid out before the anchor
(``Settings.now``), never the current second, so the same seed gives byte-identical bodies on every start.

Faker fills a small per-seed pool of people and company names once; each record draws from it with its own
``random.Random``, which keeps a 10,000-key world fast to build. No Flask and no spec here.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from faker import Faker

from vkmock.clock import format_ts, parse_ts
from vkmock.jsonio import go_number

# provider -> real model names Bifrost users route to
MODELS: dict[str, list[str]] = {
    "openai": ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o3-mini", "o4-mini", "text-embedding-3-small"],
    "anthropic": [
        "claude-sonnet-4-20250514",
        "claude-opus-4-20250514",
        "claude-3-7-sonnet-20250219",
        "claude-3-5-haiku-20241022",
    ],
    "azure": ["gpt-4o", "gpt-4o-mini", "gpt-35-turbo", "text-embedding-ada-002"],
    "bedrock": [
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "meta.llama3-1-70b-instruct-v1:0",
        "amazon.nova-pro-v1:0",
        "amazon.titan-text-express-v1",
    ],
    "vertex": ["gemini-2.5-pro", "gemini-2.0-flash", "gemini-1.5-pro", "claude-3-5-sonnet@20240620"],
    "gemini": ["gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.0-flash", "gemini-1.5-flash"],
    "mistral": ["mistral-large-latest", "mistral-small-latest", "codestral-latest", "open-mistral-nemo"],
    "groq": ["llama-3.3-70b-versatile", "llama-3.1-8b-instant", "gemma2-9b-it", "qwen-qwq-32b"],
    "cohere": ["command-r-plus", "command-r", "embed-english-v3.0"],
    "deepseek": ["deepseek-chat", "deepseek-reasoner"],
    "xai": ["grok-3", "grok-3-mini", "grok-2-1212"],
    "perplexity": ["sonar", "sonar-pro", "sonar-reasoning"],
    "openrouter": ["openai/gpt-4o", "anthropic/claude-3.5-sonnet", "meta-llama/llama-3.1-405b-instruct"],
    "ollama": ["llama3.1", "qwen2.5", "mistral"],
}
PROVIDERS = list(MODELS)
# how often each provider is picked (the big three dominate real deployments)
PROVIDER_WEIGHTS = [30, 22, 10, 8, 6, 8, 4, 5, 2, 2, 1, 1, 1, 1]

APPS = [
    "checkout-service", "support-bot", "search-api", "recommendations", "data-pipeline", "mobile-app",
    "web-frontend", "analytics", "billing", "onboarding-assistant", "code-review-bot", "docs-qa",
    "fraud-detection", "email-summarizer", "sales-copilot", "translation", "content-moderation",
    "internal-chat", "hr-helpdesk", "eval-harness", "marketing-writer", "ticket-triage", "voice-agent",
    "sql-assistant", "legal-review", "release-notes", "incident-bot", "kb-indexer", "crm-enrichment",
    "product-catalog", "ops-runbooks", "qa-generator",
]
ENVS = ["prod", "staging", "dev", "sandbox", "ci", "canary"]
PURPOSES = {
    "prod": "production traffic",
    "staging": "pre-release testing",
    "dev": "local development",
    "sandbox": "experiments",
    "ci": "CI pipelines",
    "canary": "canary rollout",
}
BUDGET_DURATIONS = ["1d", "1w", "1M", "1M", "1M", "1d", "1h", "1Y"]
RATE_DURATIONS = ["1m", "1h", "1m", "1d", "30s"]
TEAMS = ["Platform", "Growth", "Data Science", "Customer Success", "Mobile", "Security", "Research", "Finance"]
MCP_CLIENTS: dict[str, tuple[str, list[str]]] = {
    "github": ("http", ["search_code", "get_issue", "create_issue", "list_pull_requests", "get_file_contents"]),
    "filesystem": ("stdio", ["read_file", "list_directory", "search_files", "write_file"]),
    "slack": ("sse", ["post_message", "list_channels", "get_thread"]),
    "postgres": ("stdio", ["query", "list_tables", "describe_table"]),
    "brave-search": ("http", ["web_search", "news_search"]),
    "linear": ("http", ["list_issues", "create_issue", "update_issue"]),
    "notion": ("http", ["search", "get_page", "create_page"]),
    "sentry": ("sse", ["list_issues", "get_event"]),
}
REDACTED_ENV = {"value": "", "env_var": "", "from_env": False}
CREDENTIAL_FIELDS = [
    "azure_endpoint", "azure_api_version", "azure_client_id", "azure_client_secret", "azure_tenant_id",
    "vertex_project_id", "vertex_project_number", "vertex_region", "vertex_auth_credentials",
    "bedrock_access_key", "bedrock_secret_key", "bedrock_session_token", "bedrock_region", "bedrock_arn",
]
IDS_PER_RECORD = 16


@dataclass
class Catalogue:
    """What a virtual key can point at: provider keys, MCP clients, teams and customers."""

    provider_keys: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    mcp_clients: dict[str, dict[str, Any]] = field(default_factory=dict)
    teams: dict[str, dict[str, Any]] = field(default_factory=dict)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def keys_for(self, provider: str) -> list[dict[str, Any]]:
        return self.provider_keys.get(provider, [])

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider_keys": self.provider_keys,
            "mcp_clients": self.mcp_clients,
            "teams": self.teams,
            "customers": self.customers,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Catalogue:
        return cls(**{k: data.get(k, {}) for k in ("provider_keys", "mcp_clients", "teams", "customers")})

    def absorb(self, virtual_keys: list[dict[str, Any]]) -> None:
        """Learn the provider keys, MCP clients, teams and customers a loaded fixture refers to."""
        for vk in virtual_keys:
            for pc in vk.get("provider_configs") or []:
                known = {k["key_id"] for k in self.provider_keys.get(pc["provider"], [])}
                for key in pc.get("keys") or []:
                    if key.get("key_id") and key["key_id"] not in known:
                        self.provider_keys.setdefault(pc["provider"], []).append(key)
                        known.add(key["key_id"])
            for mc in vk.get("mcp_configs") or []:
                name = mc.get("mcp_client_name") or (mc.get("mcp_client") or {}).get("name")
                if name and name not in self.mcp_clients:
                    client = dict(mc.get("mcp_client") or {})
                    client.setdefault("id", mc.get("mcp_client_id") or len(self.mcp_clients) + 1)
                    client["name"] = name
                    self.mcp_clients[name] = client
            if vk.get("team"):
                self.teams.setdefault(vk["team"]["id"], vk["team"])
            if vk.get("customer"):
                self.customers.setdefault(vk["customer"]["id"], vk["customer"])


@dataclass
class World:
    virtual_keys: list[dict[str, Any]]
    catalogue: Catalogue
    now: str
    # Bifrost 1.5's resources of their own (stored forms; see vkmock.bifrost.v1_5.shapes); empty in 1.4
    teams: list[dict[str, Any]] = field(default_factory=list)
    customers: list[dict[str, Any]] = field(default_factory=list)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _money(value: float) -> float | int:
    return go_number(round(value, 2))


def build_catalogue(seed: int, now: datetime) -> Catalogue:
    rng = random.Random(f"{seed}:catalogue")
    fake = Faker("en_US")
    fake.seed_instance(seed)
    start = now - timedelta(days=600)
    catalogue = Catalogue()
    key_id = 0
    for provider_id, provider in enumerate(PROVIDERS, start=1):
        keys = []
        for label in ("primary", "backup", "batch")[: rng.choice((1, 2, 2, 3))]:
            key_id += 1
            created = format_ts(start + timedelta(seconds=rng.uniform(0, 86_400 * 60)))
            key: dict[str, Any] = {
                "id": key_id,
                "name": f"{provider}-{label}",
                "provider_id": provider_id,
                "provider": provider,
                "key_id": _uuid(rng),
                "value": dict(REDACTED_ENV),
                "models": rng.sample(MODELS[provider], k=min(len(MODELS[provider]), rng.randint(1, 3))),
                "weight": 1 if label == "primary" else 0.5,
                "enabled": True,
                "use_for_batch_api": label == "batch",
                "created_at": created,
                "updated_at": created,
                "config_hash": "",
            }
            key.update(dict.fromkeys(CREDENTIAL_FIELDS))
            keys.append(key)
        catalogue.provider_keys[provider] = keys
    for client_id, (name, (connection, _tools)) in enumerate(MCP_CLIENTS.items(), start=1):
        catalogue.mcp_clients[name] = {
            "id": client_id,
            "client_id": _uuid(rng),
            "name": name,
            "connection_type": connection,
        }
    for index in range(6):
        created = format_ts(start + timedelta(seconds=rng.uniform(0, 86_400 * 30)))
        customer = {
            "id": _uuid(rng),
            "name": fake.company(),
            "config_hash": "",
            "created_at": created,
            "updated_at": created,
        }
        catalogue.customers[customer["id"]] = customer
        team = {
            "id": _uuid(rng),
            "name": TEAMS[index % len(TEAMS)],
            "config_hash": "",
            "created_at": created,
            "updated_at": created,
        }
        catalogue.teams[team["id"]] = team
    return catalogue


def _budget(rng: random.Random, vk_created: datetime, now: datetime, scale: float, pressure: float) -> dict:
    duration = rng.choice(BUDGET_DURATIONS)
    limit = rng.choice((5, 10, 25, 50, 100, 200, 500, 1000)) * scale
    if pressure < 0.70:
        used = limit * rng.uniform(0.0, 0.7)
    elif pressure < 0.86:
        used = limit * rng.uniform(0.7, 0.9)
    elif pressure < 0.95:
        used = limit * rng.uniform(0.9, 0.999)
    else:
        used = limit * rng.uniform(1.0, 1.15)
    period = {"1h": 3_600, "1d": 86_400, "1w": 7 * 86_400, "1M": 30 * 86_400, "1Y": 365 * 86_400}[duration]
    last_reset = max(vk_created, now - timedelta(seconds=rng.uniform(0, period)))
    updated = last_reset + (now - last_reset) * rng.uniform(0.5, 1.0)
    return {
        "id": _uuid(rng),
        "max_limit": _money(limit),
        "reset_duration": duration,
        "calendar_aligned": False,
        "last_reset": format_ts(last_reset),
        "current_usage": go_number(round(used, 4)),
        "config_hash": "",
        "created_at": format_ts(vk_created),
        "updated_at": format_ts(updated),
    }


def _rate_limit(rng: random.Random, vk_created: datetime, now: datetime) -> dict:
    limit: dict[str, Any] = {"id": _uuid(rng)}
    token_duration = rng.choice(RATE_DURATIONS)
    request_duration = rng.choice(RATE_DURATIONS)
    if rng.random() < 0.8:
        limit["token_max_limit"] = rng.choice((10_000, 50_000, 100_000, 250_000, 1_000_000))
        limit["token_reset_duration"] = token_duration
    limit["token_current_usage"] = int(limit.get("token_max_limit", 0) * rng.uniform(0, 0.8))
    limit["token_last_reset"] = format_ts(now - timedelta(seconds=rng.uniform(0, 60)))
    if rng.random() < 0.8 or "token_max_limit" not in limit:
        limit["request_max_limit"] = rng.choice((60, 100, 300, 600, 1_000, 5_000))
        limit["request_reset_duration"] = request_duration
    limit["request_current_usage"] = int(limit.get("request_max_limit", 0) * rng.uniform(0, 0.8))
    limit["request_last_reset"] = limit["token_last_reset"]
    limit["config_hash"] = ""
    limit["created_at"] = format_ts(vk_created)
    limit["updated_at"] = format_ts(vk_created)
    return limit


def _provider_configs(rng: random.Random, index: int, vk_id: str, vk_created: datetime, now: datetime,
                      catalogue: Catalogue) -> list[dict[str, Any]]:
    count = rng.choices((1, 2, 3), weights=(55, 35, 10))[0]
    providers: list[str] = []
    while len(providers) < count:
        provider = rng.choices(PROVIDERS, weights=PROVIDER_WEIGHTS)[0]
        if provider not in providers:
            providers.append(provider)
    weights = [1.0] if count == 1 else ([0.7, 0.3] if count == 2 else [0.5, 0.3, 0.2])
    configs = []
    for j, provider in enumerate(providers):
        models = MODELS[provider]
        allowed = [] if rng.random() < 0.2 else rng.sample(models, k=rng.randint(1, min(3, len(models))))
        config: dict[str, Any] = {
            "id": index * IDS_PER_RECORD + j + 1,
            "virtual_key_id": vk_id,
            "provider": provider,
            "weight": go_number(weights[j]),
            "allowed_models": allowed,
        }
        budget = _budget(rng, vk_created, now, 0.5, rng.random()) if rng.random() < 0.35 else None
        rate_limit = _rate_limit(rng, vk_created, now) if rng.random() < 0.25 else None
        if budget:
            config["budget_id"] = budget["id"]
        if rate_limit:
            config["rate_limit_id"] = rate_limit["id"]
        if budget:
            config["budget"] = budget
        if rate_limit:
            config["rate_limit"] = rate_limit
        available = catalogue.keys_for(provider)
        config["keys"] = rng.sample(available, k=rng.randint(1, len(available))) if available else []
        configs.append(config)
    return configs


def _mcp_configs(rng: random.Random, index: int, vk_id: str, catalogue: Catalogue) -> list[dict[str, Any]]:
    if rng.random() > 0.35:
        return []
    names = rng.sample(sorted(catalogue.mcp_clients), k=rng.randint(1, 2))
    configs = []
    for j, name in enumerate(names):
        client = catalogue.mcp_clients[name]
        tools = MCP_CLIENTS.get(name, ("", []))[1]
        chosen = ["*"] if rng.random() < 0.3 or not tools else rng.sample(tools, k=rng.randint(1, len(tools)))
        configs.append(
            {
                "id": index * IDS_PER_RECORD + j + 1,
                "virtual_key_id": vk_id,
                "mcp_client_id": client["id"],
                "mcp_client": client,
                "mcp_client_name": name,
                "tools_to_execute": chosen,
            }
        )
    return configs


def make_record(seed: int, index: int, now: datetime, catalogue: Catalogue, people: list[str],
                taken: set[str]) -> dict[str, Any]:
    """Virtual key number ``index`` of the world ``seed`` (``taken`` keeps names unique)."""
    rng = random.Random(f"{seed}:{index}")
    vk_id = _uuid(rng)
    app = rng.choice(APPS)
    env = rng.choices(ENVS, weights=(40, 20, 15, 10, 10, 5))[0]
    name = f"{app}-{env}"
    if name in taken:
        name = f"{app}-{env}-{index + 1}"
    taken.add(name)
    created = now - timedelta(seconds=rng.uniform(3_600, 86_400 * 540))
    updated = created + (now - created) * rng.uniform(0.0, 1.0) ** 3
    record: dict[str, Any] = {"id": vk_id, "name": name}
    if rng.random() < 0.85:
        owner = rng.choice(people)
        record["description"] = f"{app.replace('-', ' ').capitalize()}, {PURPOSES[env]} (owner: {owner})"
    record["value"] = "sk-bf-" + _uuid(rng)
    pressure = rng.random()
    record["is_active"] = not (rng.random() < 0.08 or (pressure > 0.97 and rng.random() < 0.5))
    record["provider_configs"] = _provider_configs(rng, index, vk_id, created, now, catalogue)
    record["mcp_configs"] = _mcp_configs(rng, index, vk_id, catalogue)
    attach = rng.random()
    team = customer = None
    if attach < 0.4 and catalogue.teams:
        team = catalogue.teams[rng.choice(sorted(catalogue.teams))]
        record["team_id"] = team["id"]
    elif attach < 0.6 and catalogue.customers:
        customer = catalogue.customers[rng.choice(sorted(catalogue.customers))]
        record["customer_id"] = customer["id"]
    budget = _budget(rng, created, now, 1.0, pressure) if rng.random() < 0.7 else None
    rate_limit = _rate_limit(rng, created, now) if rng.random() < 0.5 else None
    if budget:
        record["budget_id"] = budget["id"]
    if rate_limit:
        record["rate_limit_id"] = rate_limit["id"]
    if team:
        record["team"] = team
    if customer:
        record["customer"] = customer
    if budget:
        record["budget"] = budget
    if rate_limit:
        record["rate_limit"] = rate_limit
    record["config_hash"] = ""
    record["created_at"] = format_ts(created)
    record["updated_at"] = format_ts(updated)
    return record


def people_pool(seed: int) -> list[str]:
    fake = Faker("en_US")
    fake.seed_instance(f"{seed}:people")
    return [fake.name() for _ in range(64)]


def generate_world(seed: int, count: int, now: str) -> World:
    """The first ``count`` virtual keys of world ``seed``, laid out before the anchor ``now``."""
    anchor = parse_ts(now)
    catalogue = build_catalogue(seed, anchor)
    people = people_pool(seed)
    taken: set[str] = set()
    keys = [make_record(seed, i, anchor, catalogue, people, taken) for i in range(count)]
    return World(virtual_keys=keys, catalogue=catalogue, now=now)
