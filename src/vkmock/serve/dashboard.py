"""What Bifrost's web dashboard calls besides the governance API, served from the same world, and the
dashboard itself (``--dashboard DIR``).

Routes (bodies as upstream's handlers at 1.5 write them; map envelopes with sorted keys, structs in field
order):

- ``GET /api/config``: ``is_db_connected`` true (the dashboard shows its "not available" banner otherwise),
  the client config of a fresh Bifrost (``allowed_origins`` = ``--cors-origin``), the auth config of the
  auth mode.
- ``GET /api/version``: a JSON string, the release of the profile being served.
- ``/api/session/*``: ``is-auth-enabled``, ``login`` (sets the ``token`` cookie), ``logout``, ``ws-ticket``.
- ``GET /api/providers``, ``GET /api/keys``, ``GET /api/mcp/clients``, ``GET /api/models``,
  ``GET /api/models/base``: the providers that have keys in the world's catalogue, those keys (secrets
  masked), its MCP clients with the keys that use them, and the models of those providers.

Auth, by vkmock's mode (``Settings.auth_mode``):

- ``off``: as an upstream server without auth configured: no login (403), tickets for everyone.
- ``strict`` (``--basic USER:PASS``, ``--token T``): as upstream with auth enabled: a ``--basic`` pair is the
  admin's username and password; its session cookie then authenticates.
- ``any`` (the default): auth enabled, and any username and password log in (except one that contains the
  word ``invalid``), as any credential passes in that mode.

With ``--dashboard DIR`` the files of a built dashboard are served on vkmock's own origin: a file that exists is
sent, a missing name with a dot in its last segment is a 404, anything else is the dashboard's
``index.html`` (its client routes), as upstream's UI handler does. Paths under ``/api/``, ``/_vkmock/`` and
``/ws`` keep their JSON answers (an unknown API path is a JSON 404, not the page).
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import os
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request, send_file
from werkzeug.security import safe_join

from vkmock.bifrost.v1_4.world import MCP_CLIENTS, MODELS
from vkmock.errors import BadRequest, Forbidden, NotFound, Unauthorized
from vkmock.jsonio import go_dumps
from vkmock.serve import auth
from vkmock.serve.sessions import BY_CREDENTIAL, NO_SESSION, SESSION_SECONDS, Sessions
from vkmock.settings import Settings

bp = Blueprint("dashboard", __name__)
JSON = "application/json"

#: Reached without credentials even when auth is on (upstream's skip-list, compared with the query string).
PUBLIC_API = frozenset({"/api/session/is-auth-enabled", "/api/session/login"})
#: Paths that are never the dashboard's page.
NOT_PAGES = ("/api/", "/_vkmock/", "/ws", "/openapi.")
EMPTY_ENV = {"value": "", "env_var": "", "from_env": False}
MASK = "*" * 24
PRICING_URL = "https://getbifrost.ai/datasheet"
# the shape of a real secret of each provider, for the masked value /api/keys shows (first four characters)
KEY_PREFIXES = {
    "openai": "sk-proj-", "anthropic": "sk-ant-", "groq": "gsk_", "xai": "xai-", "perplexity": "pplx-",
    "gemini": "AIza", "vertex": "AIza", "openrouter": "sk-or-", "deepseek": "sk-", "cohere": "co-",
}
MCP_URLS = {
    "github": "https://api.githubcopilot.com/mcp/",
    "slack": "https://mcp.slack.example/sse",
    "brave-search": "https://mcp.brave.example/mcp",
    "linear": "https://mcp.linear.app/mcp",
    "notion": "https://mcp.notion.com/mcp",
    "sentry": "https://mcp.sentry.dev/sse",
}


def state() -> Any:
    return current_app.extensions["vkmock"]


def reply(body: Any, status: int = 200) -> Response:
    return Response(go_dumps(body), status=status, content_type=JSON)


def masked(value: str) -> str:
    """Upstream's redaction of a secret: empty stays empty, up to 8 characters become ``*``, longer ones keep
    their first and last four characters around 24 ``*``."""
    if not value:
        return ""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + MASK + value[-4:]


def _sessions() -> Sessions:
    sessions: Sessions = state().extras["sessions"]
    return sessions


# ---- who may call: the app's auth check asks these two ------------------------------------------------------


def public(st: Any, environ: dict[str, Any]) -> bool:
    """Requests that pass without credentials in every mode: the login page's two calls (exactly, as
    upstream compares the URI with its query string) and, with ``--dashboard``, the dashboard's files."""
    path = environ.get("PATH_INFO", "")
    if path.startswith("/api/"):
        return path in PUBLIC_API and not environ.get("QUERY_STRING")
    return st.extras.get("dashboard_dir") is not None and not path.startswith(NOT_PAGES)


def by_session(st: Any, environ: dict[str, Any]) -> bool:
    """A request without ``Authorization``: a WebSocket upgrade may bring a ticket (or ``?token=``), any
    request the ``token`` cookie of a session (upstream's middleware, in that order). The session found is
    kept in ``environ['vkmock.session']``."""
    sessions: Sessions = st.extras["sessions"]
    if environ.get("PATH_INFO") == "/ws" and "websocket" in environ.get("HTTP_UPGRADE", "").lower():
        args = request.args
        if sessions.take_ticket(args.get("ticket")) is not None:
            return True
        if sessions.valid(args.get("token")):
            environ["vkmock.session"] = args.get("token")
            return True
    token = request.cookies.get("token")
    if sessions.valid(token):
        environ["vkmock.session"] = token
        return True
    return False


def _bearer_session(header: str | None) -> str | None:
    if header and header.startswith("Bearer "):
        return header[len("Bearer "):].strip()
    return None


# ---- config, version ------------------------------------------------------------------------------------


def _auth_config(settings: Settings) -> dict[str, Any]:
    mode = settings.auth_mode
    username = settings.basic[0].partition(":")[0] if settings.basic else ""
    password = {"value": "<redacted>", "env_var": "", "from_env": False} if mode != "off" else dict(EMPTY_ENV)
    return {
        "admin_password": password,
        "admin_username": {"value": username, "env_var": "", "from_env": False},
        "disable_auth_on_inference": False,
        "is_enabled": mode != "off",
    }


def _client_config(settings: Settings) -> dict[str, Any]:
    config: dict[str, Any] = {
        "drop_excess_requests": False,
        "initial_pool_size": 5000,
        "prometheus_labels": [],
        "enable_logging": True,
        "disable_content_logging": False,
        "allow_per_request_content_storage_override": False,
        "allow_per_request_raw_override": False,
        "disable_db_pings_in_health": False,
        "log_retention_days": 365,
        "enforce_auth_on_inference": False,
        "allow_direct_keys": False,
    }
    if settings.cors_origins:
        config["allowed_origins"] = list(settings.cors_origins)
    config.update(
        {
            "max_request_body_size_mb": max(1, settings.max_body // (1024 * 1024)),
            "compat": {
                "convert_text_to_chat": False,
                "convert_chat_to_responses": False,
                "should_drop_params": False,
                "should_convert_params": False,
            },
            "mcp_agent_depth": 10,
            "mcp_tool_execution_timeout": 30,
            "mcp_code_mode_binding_level": "server",
            "mcp_tool_sync_interval": 0,
            "mcp_disable_auto_tool_inject": False,
            "async_job_result_ttl": 3600,
            "hide_deleted_virtual_keys_in_filters": False,
            "routing_chain_max_depth": 10,
            "mcp_external_base_url": dict(EMPTY_ENV),
        }
    )
    return config


@bp.get("/api/config")
def get_config() -> Response:
    settings = state().settings
    return reply(
        {
            "auth_config": _auth_config(settings),
            "client_config": _client_config(settings),
            "framework_config": {"id": 0, "pricing_url": PRICING_URL, "pricing_sync_interval": 86400},
            "is_cache_connected": False,
            "is_db_connected": True,
            "is_logs_connected": False,
            "restart_required": {"required": False},
        }
    )


@bp.get("/api/version")
def get_version() -> Response:
    return reply(state().profile.version)  # the profile's release, as upstream's build stamps it


# ---- sessions ---------------------------------------------------------------------------------------------


@bp.get("/api/session/is-auth-enabled")
def is_auth_enabled() -> Response:
    st = state()
    if st.settings.auth_mode == "off":
        return reply({"is_auth_enabled": False})
    token = _bearer_session(request.headers.get("Authorization")) or request.cookies.get("token")
    return reply({"has_valid_token": st.extras["sessions"].valid(token), "is_auth_enabled": True})


# what Python's decoder says -> the words Go's decoder uses for the same place
GO_DECODE_CONTEXT = (
    ("Expecting value", "looking for beginning of value"),
    ("Expecting property name", "looking for beginning of object key string"),
    ("Expecting ':'", "after object key"),
    ("Expecting ',' delimiter", "after object key:value pair"),
    ("Extra data", "after top-level value"),
)


def _go_decode_error(data: bytes) -> str:
    """What Go's ``json.Unmarshal`` says about a body it cannot read into ``{username, password}``."""
    text = data.decode("utf-8", "replace").strip()
    if not text:
        return "unexpected end of JSON input"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text) or exc.msg.startswith("Unterminated"):
            return "unexpected end of JSON input"
        where = next((go for python, go in GO_DECODE_CONTEXT if exc.msg.startswith(python)), GO_DECODE_CONTEXT[0][1])
        return f"invalid character {text[exc.pos]!r} {where}"
    kind = {bool: "bool", int: "number", float: "number", str: "string", list: "array"}.get(type(value), "")
    if kind:
        return f"json: cannot unmarshal {kind} into Go value of type struct {{ Username string; Password string }}"
    for field in ("username", "password"):
        got = value.get(field)
        if got is not None and not isinstance(got, str):
            kind = {bool: "bool", int: "number", float: "number", list: "array", dict: "object"}[type(got)]
            return f"json: cannot unmarshal {kind} into Go struct field .{field} of type string"
    return ""


def _credentials_match(settings: Settings, username: str, password: str) -> bool:
    if settings.auth_mode == "any":
        return "invalid" not in f"{username}:{password}".lower()
    pair = base64.b64encode(f"{username}:{password}".encode()).decode()
    return bool(settings.basic) and auth.authorized(settings, f"Basic {pair}")


@bp.post("/api/session/login")
def login() -> Response:
    st = state()
    from vkmock.serve.routes import read_body

    data = read_body()
    problem = _go_decode_error(data)
    if problem:
        raise BadRequest(f"Invalid request format: {problem}")
    payload = json.loads(data)
    if st.settings.auth_mode == "off":
        raise Forbidden("Authentication is not enabled")
    username, password = payload.get("username") or "", payload.get("password") or ""
    if not _credentials_match(st.settings, username, password):
        raise Unauthorized("Invalid username or password")
    token, expires = st.extras["sessions"].create()
    response = reply({"message": "Login successful"})
    _set_token_cookie(response, token, datetime.fromtimestamp(expires, UTC))
    return response


def _set_token_cookie(response: Response, value: str, expires: datetime) -> None:
    secure = request.headers.get("X-Forwarded-Proto") == "https"
    # written by hand: werkzeug would add Max-Age, and the order of the attributes would differ from upstream's
    cookie = f"token={value}; expires={format_datetime(expires, usegmt=True)}; path=/; HttpOnly; SameSite=Lax"
    response.headers.add("Set-Cookie", cookie + ("; secure" if secure else ""))


@bp.post("/api/session/logout")
def logout() -> Response:
    header = request.headers.get("Authorization")
    token = (header[len("Bearer "):] if header and header.startswith("Bearer ") else header) or request.cookies.get(
        "token"
    )
    response = reply({"message": "Logout successful"})
    _set_token_cookie(response, "", datetime.fromtimestamp(datetime.now(UTC).timestamp() - SESSION_SECONDS, UTC))
    if token and state().settings.auth_mode != "off":
        _sessions().delete(token)
    return response


@bp.post("/api/session/ws-ticket")
def ws_ticket() -> Response:
    st = state()
    sessions: Sessions = st.extras["sessions"]
    if st.settings.auth_mode == "off":
        return reply({"ticket": sessions.issue_ticket(NO_SESSION, remember=False)})
    header = request.headers.get("Authorization")
    if header is None:
        session = request.environ.get("vkmock.session")  # the cookie the auth check accepted
    elif header.startswith("Bearer "):
        bearer = header[len("Bearer "):].strip()
        session = bearer if sessions.valid(bearer) else BY_CREDENTIAL
    else:
        session = None  # Basic: upstream issues tickets to sessions only
    if not session:
        raise Unauthorized()
    return reply({"ticket": sessions.issue_ticket(session)})


# ---- the catalogue: providers, keys, MCP clients, models ------------------------------------------------


def _catalogue() -> Any:
    store = state().store
    store.sync()
    return store.catalogue


def _providers(catalogue: Any) -> list[str]:
    return sorted(provider for provider, keys in catalogue.provider_keys.items() if keys)


def _provider_item(name: str) -> dict[str, Any]:
    network: dict[str, Any] = {}
    if name == "ollama":
        network["base_url"] = "http://localhost:11434"  # upstream requires one for ollama
    network.update(
        {
            "default_request_timeout_in_seconds": 30,
            "max_retries": 0,
            "retry_backoff_initial": 500,
            "retry_backoff_max": 5000,
        }
    )
    return {
        "name": name,
        "network_config": network,
        "concurrency_and_buffer_size": {"concurrency": 1000, "buffer_size": 5000},
        "proxy_config": None,
        "send_back_raw_request": False,
        "send_back_raw_response": False,
        "store_raw_request_response": False,
        "provider_status": "active",
    }


@bp.get("/api/providers")
def list_providers() -> Response:
    items = [_provider_item(name) for name in _providers(_catalogue())]
    return reply({"providers": items, "total": len(items)})


def _secret_of(key: dict[str, Any]) -> str:
    """A believable secret for a key the world made (its real one is never kept): the provider's prefix,
    then characters drawn from the key's id; only its masked form is ever shown."""
    digest = hashlib.sha256(str(key.get("key_id", "")).encode()).hexdigest()
    return KEY_PREFIXES.get(str(key.get("provider")), "") + digest[:40]


def _table_key(key: dict[str, Any]) -> dict[str, Any]:
    value = key.get("value")
    stored = value.get("value", "") if isinstance(value, dict) else (value or "")
    secret = masked(stored) if stored and "*" not in stored else (stored or masked(_secret_of(key)))
    env = value if isinstance(value, dict) else {}
    models = key.get("models")
    return {
        "id": 0,
        "name": key.get("name", ""),
        "provider_id": 0,
        "provider": key.get("provider", ""),
        "key_id": key.get("key_id", ""),
        "value": {"value": secret, "env_var": env.get("env_var", ""), "from_env": bool(env.get("from_env"))},
        "weight": key.get("weight", 1),
        "created_at": "0001-01-01T00:00:00Z",  # upstream serves the in-memory copy, which has no timestamps
        "updated_at": "0001-01-01T00:00:00Z",
        "config_hash": key.get("config_hash", ""),
        "status": "",
        "models": list(models) if models else [],
        "blacklisted_models": list(key.get("blacklisted_models") or []),
    }


@bp.get("/api/keys")
def list_keys() -> Response:
    catalogue = _catalogue()
    return reply([_table_key(key) for provider in _providers(catalogue) for key in catalogue.keys_for(provider)])


def _client_id(client: dict[str, Any]) -> str:
    if client.get("client_id"):
        return str(client["client_id"])
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "vkmock-mcp:" + str(client.get("name"))))


def _tools(name: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = set(MCP_CLIENTS.get(name, ("", []))[1])
    if not names:  # a client only a fixture knows: the tools its keys name
        for vk in records:
            for mc in vk.get("mcp_configs") or []:
                if _mcp_name(mc) == name:
                    names.update(t for t in mc.get("tools_to_execute") or [] if t != "*")
    return [{"name": tool, "description": tool.replace("_", " ").capitalize()} for tool in sorted(names)]


def _mcp_name(mc: dict[str, Any]) -> str | None:
    return mc.get("mcp_client_name") or (mc.get("mcp_client") or {}).get("name")


def _client_config_of(client: dict[str, Any], paged: bool) -> dict[str, Any]:
    name = str(client.get("name"))
    connection = client.get("connection_type") or MCP_CLIENTS.get(name, ("http", []))[0]
    config: dict[str, Any] = {
        "client_id": _client_id(client),
        "name": name,
        "is_code_mode_client": False,
        "connection_type": connection,
    }
    if connection == "stdio":
        config["stdio_config"] = {
            "command": "npx",
            "args": ["-y", f"@modelcontextprotocol/server-{name}"],
            "envs": [],
        }
    else:
        url = MCP_URLS.get(name, f"https://mcp.{name}.example/mcp")
        config["connection_string"] = {"value": masked(url), "env_var": "", "from_env": False}
    config["auth_type"] = "none"
    config["tools_to_execute"] = ["*"]
    if paged:
        config["is_ping_available"] = True
    config["allow_on_all_virtual_keys"] = False
    return config


def _mcp_client_item(client: dict[str, Any], records: list[dict[str, Any]], paged: bool) -> dict[str, Any]:
    name = str(client.get("name"))
    vk_configs = [
        {"virtual_key_id": vk["id"], "virtual_key_name": vk.get("name", ""),
         "tools_to_execute": mc.get("tools_to_execute")}
        for vk in records
        for mc in vk.get("mcp_configs") or []
        if _mcp_name(mc) == name
    ]
    return {
        "config": _client_config_of(client, paged),
        "tools": _tools(name, records),
        "state": "connected",
        "vk_configs": vk_configs,
    }


def _paging_number(raw: str, name: str) -> int:
    try:
        number = int(raw)
    except ValueError:
        raise BadRequest(f"Invalid {name} parameter: must be a number") from None
    if number < 0:
        raise BadRequest(f"Invalid {name} parameter: must be non-negative")
    return number


@bp.get("/api/mcp/clients")
def list_mcp_clients() -> Response:
    st = state()
    catalogue = _catalogue()
    clients = sorted(catalogue.mcp_clients.values(), key=lambda c: (int(c.get("id") or 0), str(c.get("name"))))
    args = request.args
    limit_raw, offset_raw, search = args.get("limit", ""), args.get("offset", ""), args.get("search", "")
    paged = bool(limit_raw or offset_raw or search)
    limit = _paging_number(limit_raw, "limit") if limit_raw else 0
    offset = _paging_number(offset_raw, "offset") if offset_raw else 0
    records = st.store.records() if clients else []
    if not paged:
        items = [_mcp_client_item(c, records, paged=False) for c in clients]
        return reply({"clients": items, "count": len(items), "limit": len(items), "offset": 0,
                      "total_count": len(items)})
    matched = [c for c in clients if search.lower() in str(c.get("name", "")).lower()]
    size = 25 if limit <= 0 else min(limit, 100)
    page = [_mcp_client_item(c, records, paged=True) for c in matched[offset: offset + size]]
    return reply({"clients": page, "count": len(page), "limit": limit, "offset": offset,
                  "total_count": len(matched)})


def _provider_models(provider: str, catalogue: Any) -> list[str]:
    names = set(MODELS.get(provider, []))
    for key in catalogue.keys_for(provider):
        names.update(m for m in key.get("models") or [] if m != "*")
    return sorted(names)


def _matches(model: str, query: str) -> bool:
    """Upstream's model search: a case-insensitive substring, the same without ``-`` and ``_``, or the query's
    characters in order (a subsequence)."""
    if not query:
        return True
    q, m = query.lower(), model.lower()
    if q in m or q.replace("-", "").replace("_", "") in m.replace("-", "").replace("_", ""):
        return True
    position = 0
    for char in m:
        if position < len(q) and char == q[position]:
            position += 1
    return position == len(q)


def _uint(raw: str | None, default: int) -> int:
    return int(raw) if raw and raw.isdigit() else default


def _allows(models: list[str] | None, model: str) -> bool:
    return bool(models) and ("*" in models or model in models)  # type: ignore[operator]


def _scoping_key() -> dict[str, Any] | None:
    """The virtual key a request names in ``x-bf-vk``, ``x-api-key`` or ``x-goog-api-key``, if any."""
    for header in ("X-Bf-Vk", "X-Api-Key", "X-Goog-Api-Key"):
        value = (request.headers.get(header) or "").strip()
        if value.startswith("sk-bf-"):
            return next((vk for vk in state().store.records() if vk.get("value") == value), {"provider_configs": []})
    return None


@bp.get("/api/models")
def list_models() -> Response:
    catalogue = _catalogue()
    args = request.args
    query, limit = args.get("query", ""), _uint(args.get("limit"), 5)
    unfiltered = args.get("unfiltered") == "true"
    key_ids = [k.strip() for k in args.get("keys", "").split(",") if k.strip()]
    providers = [args["provider"]] if args.get("provider") else _providers(catalogue)
    scope = _scoping_key()
    if scope is not None:
        configs = {str(pc.get("provider", "")).lower(): pc for pc in scope.get("provider_configs") or []}
        providers = [p for p in providers if p.lower() in configs]
    found: list[dict[str, Any]] = []
    for provider in providers:
        models = _provider_models(provider, catalogue)
        if scope is not None:
            allowed = configs[provider.lower()].get("allowed_models")
            models = [m for m in models if _allows(allowed, m)]
        access: dict[str, list[str]] = {}
        keys = {k["key_id"]: k for k in catalogue.keys_for(provider) if k.get("enabled", True) is not False}
        valid = list(dict.fromkeys(k for k in key_ids if k in keys))
        if valid and not unfiltered:
            for model in models:
                granted = [k for k in valid if _key_allows(keys[k], model)]
                if granted:
                    access[model] = granted
            models = [m for m in models if m in access]
        for model in models:
            if _matches(model, query):
                item: dict[str, Any] = {"name": model, "provider": provider}
                if access.get(model):
                    item["accessible_by_keys"] = access[model]
                found.append(item)
    total = len(found)
    return reply({"models": found[:limit] if 0 < limit < total else found, "total": total})


def _key_allows(key: dict[str, Any], model: str) -> bool:
    if model in (key.get("blacklisted_models") or []):
        return False
    models = key.get("models") or []
    return not models or "*" in models or model in models


@bp.get("/api/models/base")
def list_base_models() -> Response:
    catalogue = _catalogue()
    args = request.args
    query, limit = args.get("query", ""), _uint(args.get("limit"), 20)
    names = sorted({m for p in _providers(catalogue) for m in _provider_models(p, catalogue)})
    names = [m for m in names if _matches(m, query)]
    total = len(names)
    return reply({"models": names[:limit] if 0 < limit < total else names, "total": total})


# ---- the dashboard's files ---------------------------------------------------------------------------------


def validate(settings: Settings) -> None:
    if settings.dashboard is None:
        return
    folder = Path(settings.dashboard)
    if not (folder / "index.html").is_file():
        raise ValueError(
            f"--dashboard {settings.dashboard!r}: no index.html there (point it at the folder a dashboard build "
            "writes, such as ui/out)"
        )


def _cache_control(relative: str) -> str:
    if relative.startswith("assets/"):
        return "public, max-age=31536000, immutable"
    if relative.endswith(".html"):
        return "no-cache"
    return "max-age=3600"


def _send(folder: str, relative: str) -> Response:
    path = os.path.join(folder, relative)
    mimetype = mimetypes.guess_type(path)[0] or "application/octet-stream"
    response = send_file(path, mimetype=mimetype, conditional=True, etag=True, max_age=None)
    response.headers["Cache-Control"] = _cache_control(relative)
    return response


def serve_page(filepath: str = "") -> Response:
    folder = state().extras["dashboard_dir"]
    if request.path.startswith(NOT_PAGES):  # an API path nobody serves: the API's 404, not the page
        raise NotFound(f"Route not found: {request.method} {request.path}")
    relative = filepath.strip("/")
    parts = relative.split("/") if relative else []
    if any(part.startswith(".") for part in parts) or (parts and parts[-1] in ("package.json", "package-lock.json")):
        raise NotFound("Static asset not found")
    if relative:
        target = safe_join(folder, relative)
        if target is None:
            raise NotFound("Static asset not found")
        if os.path.isfile(target):
            return _send(folder, relative)
        if "." in parts[-1]:
            raise NotFound("Static asset not found")
        for candidate in (f"{relative}/index.html", f"{relative}.html"):  # a static export's own pages
            joined = safe_join(folder, candidate)
            if joined is not None and os.path.isfile(joined):
                return _send(folder, candidate)
    return _send(folder, "index.html")


def init_app(app: Flask, state: Any) -> None:
    state.extras["sessions"] = Sessions(state.store)
    app.register_blueprint(bp)
    folder = getattr(state.settings, "dashboard", None)
    state.extras["dashboard_dir"] = os.path.abspath(folder) if folder else None
    if folder:
        # the least specific rules: every API route wins over them
        app.add_url_rule("/", "dashboard_index", serve_page, methods=["GET"])
        app.add_url_rule("/<path:filepath>", "dashboard_page", serve_page, methods=["GET"])
