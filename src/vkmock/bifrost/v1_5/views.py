"""The read side of Bifrost 1.5: its three list paths, paging, search and sort, and the joined single reads.

Every list body is cached by the store until its next write, keyed by the normalised query, so the page the
dashboard polls every five seconds costs one dictionary look-up however large the world is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from vkmock.bifrost.v1_5 import shapes
from vkmock.errors import BadRequest, NotFound
from vkmock.jsonio import go_dumps_str

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
PAGED_BY = ("limit", "offset", "search", "customer_id", "team_id", "sort_by")
SORTS = ("name", "budget_spent", "created_at", "status")
_INT64 = 2**63
_ATOI = re.compile(r"^[+-]?[0-9]+$")


class Rows(Protocol):
    id: str
    name: str
    created_us: int
    is_active: bool
    team_id: str | None
    customer_id: str | None
    spent: float


class Reader(Protocol):
    """What the views read (``vkmock.serve.store.Store`` is one)."""

    def rows(self) -> list[Any]: ...
    def docs(self, ids: Any, from_memory: bool = False) -> list[str]: ...
    def get_doc(self, vk_id: str, from_memory: bool = False) -> str | None: ...
    def others(self, kind: str) -> list[tuple[str, str]]: ...
    def other(self, kind: str, other_id: str) -> str | None: ...
    def cached(self, key: Any, build: Callable[[], Any]) -> Any: ...


Args = Mapping[str, str]


# ---- query parameters -------------------------------------------------------------------------------------


def atoi(text: str) -> int | None:
    """Go's ``strconv.Atoi``: optional sign, decimal digits, within int64; ``None`` where it fails."""
    if not _ATOI.match(text):
        return None
    value = int(text)
    return value if -_INT64 <= value < _INT64 else None


def _number(args: Args, name: str) -> int:
    """A paging number of the key list, refused as upstream refuses it."""
    raw = args.get(name, "")
    if raw == "":
        return 0
    value = atoi(raw)
    if value is None:
        raise BadRequest(f"Invalid {name} parameter: must be a number")
    if value < 0:
        raise BadRequest(f"Invalid {name} parameter: must be non-negative")
    return value


def _lenient(args: Args, name: str) -> int:
    """A paging number of the team and customer lists: what does not parse is 0 (upstream ignores the error)."""
    return atoi(args.get(name, "")) or 0


def clamp(limit: int, offset: int) -> tuple[int, int]:
    if limit <= 0:
        limit = DEFAULT_LIMIT
    return min(limit, MAX_LIMIT), max(offset, 0)


def like(search: str) -> Callable[[str], bool]:
    """``LOWER(name) LIKE '%' || lower(search) || '%'``: ``%`` and ``_`` are wildcards, as upstream leaves them.

    Matched without backtracking: the pattern is cut at each ``%`` and the pieces are found left to right, each
    as early as it can be (right for ``%``-only wildcards), so a hostile ``%a%a%a...`` stays linear."""
    pieces = [
        re.compile("".join("." if c == "_" else re.escape(c) for c in piece), re.DOTALL)
        for piece in search.lower().split("%")
        if piece
    ]

    def matches(name: str) -> bool:
        lowered = name.lower()
        position = 0
        for piece in pieces:
            found = piece.search(lowered, position)
            if found is None:
                return False
            position = found.end()
        return True

    return matches


def _body(items: str, key: str, count: int, limit: int, offset: int, total: int) -> bytes:
    """A list envelope: a Go map, so its keys come out sorted."""
    fields = {"count": str(count), "limit": str(limit), "offset": str(offset), key: items, "total_count": str(total)}
    return ("{" + ",".join(f'"{k}":{fields[k]}' for k in sorted(fields)) + "}\n").encode()


# ---- virtual keys -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyQuery:
    limit: int
    offset: int
    search: str
    team_id: str
    customer_id: str
    sort_by: str
    descending: bool


def key_query(args: Args) -> KeyQuery | None:
    """The paged query of a key list, or ``None`` for the unpaged path; a bad number is a 400."""
    paged = any(args.get(name, "") != "" for name in PAGED_BY) or "true" in (
        args.get("export"), args.get("exclude_access_profile_managed_virtual")
    )
    if not paged:
        return None
    limit = _number(args, "limit")
    offset = _number(args, "offset")
    limit, offset = clamp(limit, offset)  # export's own cap of 10000 never sees more than the handler's 100
    sort_by = args.get("sort_by", "")
    return KeyQuery(
        limit, offset, args.get("search", ""), args.get("team_id", ""), args.get("customer_id", ""),
        sort_by if sort_by in SORTS else "", args.get("order", "").lower() == "desc",
    )


def _select(rows: list[Any], query: KeyQuery) -> list[Any]:
    if query.team_id and query.customer_id:
        rows = [r for r in rows if r.customer_id == query.customer_id or r.team_id == query.team_id]
    elif query.team_id:
        rows = [r for r in rows if r.team_id == query.team_id]
    elif query.customer_id:
        rows = [r for r in rows if r.customer_id == query.customer_id]
    if query.search:
        matches = like(query.search)
        rows = [r for r in rows if matches(r.name)]
    if query.sort_by:
        column = {
            "name": lambda r: r.name,
            "budget_spent": lambda r: r.spent,
            "created_at": lambda r: r.created_us,
            "status": lambda r: r.is_active,
        }[query.sort_by]
        rows = sorted(rows, key=lambda r: r.id)  # the tie-break is id ascending, whatever the order
        rows.sort(key=column, reverse=query.descending)  # stable: ties keep the id order
    return rows


def list_keys(store: Reader, args: Args) -> bytes:
    """``GET /api/governance/virtual-keys`` on any of its three paths."""
    if args.get("from_memory") == "true":
        return bytes(store.cached(("keys", "memory"), lambda: _all_keys(store, from_memory=True)))
    query = key_query(args)
    if query is None:
        return bytes(store.cached(("keys", "db"), lambda: _all_keys(store, from_memory=False)))
    return bytes(store.cached(("keys", query), lambda: _page(store, query)))


def _all_keys(store: Reader, from_memory: bool) -> bytes:
    docs = store.docs([r.id for r in store.rows()], from_memory=from_memory)
    return _body("[" + ",".join(docs) + "]", "virtual_keys", len(docs), len(docs), 0, len(docs))


def _page(store: Reader, query: KeyQuery) -> bytes:
    # the filtered, sorted selection is shared by every page of it: another offset costs only its own keys
    where = (query.search, query.team_id, query.customer_id, query.sort_by, query.descending)
    selected = store.cached(("selection", where), lambda: _select(store.rows(), query))
    page = selected[query.offset: query.offset + query.limit]
    docs = store.docs([r.id for r in page])
    return _body("[" + ",".join(docs) + "]", "virtual_keys", len(docs), query.limit, query.offset, len(selected))


def get_key(store: Reader, vk_id: str, from_memory: bool) -> bytes:
    """``{"virtual_key": ...}``: the detail view preloads the customer with its teams and keys."""
    doc = store.get_doc(vk_id, from_memory=from_memory)
    if doc is None:
        raise NotFound("Virtual key not found")
    return ('{"virtual_key":' + key_detail(store, doc) + "}\n").encode()


def key_detail(store: Reader, doc: str) -> str:
    """A stored key (list form) as create, update and GET one serve it."""
    if '"customer":' not in doc:
        return doc
    record = json.loads(doc)
    customer_doc = store.other("customer", record.get("customer_id") or "")
    if customer_doc is None:
        return doc
    record["customer"] = _customer(store, json.loads(customer_doc))
    return go_dumps_str(record)


def _ids_by_value(store: Reader) -> dict[str, str]:
    """Every key's id by its ``value``, built once per store version (not once per quota request)."""
    records = (json.loads(doc) for doc in store.docs([r.id for r in store.rows()]))
    return {str(record.get("value")): str(record["id"]) for record in records}


def find_by_value(store: Reader, value: str) -> dict[str, Any] | None:
    """The key whose ``value`` is ``value`` (the quota route's look-up)."""
    vk_id = store.cached(("ids by value",), lambda: _ids_by_value(store)).get(value)
    docs = store.docs([vk_id]) if vk_id is not None else []
    return dict(json.loads(docs[0])) if docs else None


# ---- teams and customers ----------------------------------------------------------------------------------


class _Joins:
    """What serving teams and customers joins, computed once per body: key counts per team, each customer's
    teams and keys, every customer by id."""

    def __init__(self, store: Reader) -> None:
        self.store = store
        self.counts: dict[str, int] = {}
        self.keys_of: dict[str, list[str]] = {}
        for row in store.rows():
            if row.team_id is not None:
                self.counts[row.team_id] = self.counts.get(row.team_id, 0) + 1
            if row.customer_id is not None:
                self.keys_of.setdefault(row.customer_id, []).append(row.id)
        self.teams_of: dict[str, list[dict[str, Any]]] = {}
        for _, doc in store.others("team"):
            team = json.loads(doc)
            if team.get("customer_id"):
                self.teams_of.setdefault(team["customer_id"], []).append(team)
        self.customers = {cid: json.loads(doc) for cid, doc in store.others("customer")}

    def team(self, team: dict[str, Any]) -> dict[str, Any]:
        customer = self.customers.get(team.get("customer_id") or "")
        return shapes.team_served(team, customer, self.counts.get(team["id"], 0))

    def customer(self, customer: dict[str, Any]) -> dict[str, Any]:
        keys = [json.loads(doc) for doc in self.store.docs(self.keys_of.get(customer["id"], []))]
        return shapes.customer_served(customer, self.teams_of.get(customer["id"], []), keys)


def _joins(store: Reader) -> _Joins:
    """The joins of the store's current version, computed once per version and shared by every read."""
    joins: _Joins = store.cached(("joins",), lambda: _Joins(store))
    return joins


def _customer(store: Reader, customer: dict[str, Any]) -> dict[str, Any]:
    return _joins(store).customer(customer)


def _group_list(store: Reader, args: Args, kind: str, key: str) -> bytes:
    items = [json.loads(doc) for _, doc in store.others(kind)]
    filter_customer = args.get("customer_id", "") if kind == "team" else ""
    if filter_customer:
        items = [t for t in items if t.get("customer_id") == filter_customer]
    joins = _joins(store)
    served = joins.team if kind == "team" else joins.customer
    if args.get("from_memory") == "true":
        body = "{" + ",".join(f"{json.dumps(i['id'])}:{go_dumps_str(served(i))}" for i in items) + "}"
        return _body(body, key, len(items), len(items), 0, len(items))
    paged = any(args.get(name, "") != "" for name in ("limit", "offset", "search"))
    if not paged:
        docs = [go_dumps_str(served(i)) for i in items]
        return _body("[" + ",".join(docs) + "]", key, len(docs), len(docs), 0, len(docs))
    limit, offset = clamp(_lenient(args, "limit"), _lenient(args, "offset"))
    if args.get("search", ""):
        matches = like(args["search"])
        items = [i for i in items if matches(i["name"])]
    page = items[offset: offset + limit]
    docs = [go_dumps_str(served(i)) for i in page]
    return _body("[" + ",".join(docs) + "]", key, len(docs), limit, offset, len(items))


def list_teams(store: Reader, args: Args) -> bytes:
    params = tuple(sorted((k, args.get(k, "")) for k in ("from_memory", "limit", "offset", "search", "customer_id")))
    return bytes(store.cached(("teams", params), lambda: _group_list(store, args, "team", "teams")))


def list_customers(store: Reader, args: Args) -> bytes:
    params = tuple(sorted((k, args.get(k, "")) for k in ("from_memory", "limit", "offset", "search")))
    return bytes(store.cached(("customers", params), lambda: _group_list(store, args, "customer", "customers")))


def get_team(store: Reader, team_id: str) -> dict[str, Any]:
    doc = store.other("team", team_id)
    if doc is None:
        raise NotFound("Team not found")
    return _joins(store).team(json.loads(doc))


def get_customer(store: Reader, customer_id: str) -> dict[str, Any]:
    doc = store.other("customer", customer_id)
    if doc is None:
        raise NotFound("Customer not found")
    return _customer(store, json.loads(doc))


def team_served(store: Reader, team: dict[str, Any]) -> dict[str, Any]:
    return _joins(store).team(team)


def customer_served(store: Reader, customer: dict[str, Any]) -> dict[str, Any]:
    return _customer(store, customer)
