"""Compare two JSON answers to the same request, field by field, after mapping what differs by nature.

What each side generates itself (UUIDs, ``sk-bf-`` values, auto-increment ids of provider and MCP configs) is
never compared literally: the first time a pair of such values is met at the same place, A's value is paired
with B's (:class:`IdMap`), and from then on A's value must appear wherever B's does. That is how a key created
on A is followed on B through its own id, and how a budget that a PUT should have kept (same id) is told from
one it replaced (a new id on one side). Timestamps are compared by kind (an instant, a midnight period start
compared exactly, Go's zero time), never by value. Everything else must be equal.

Paths name fields with dots and array items with ``[]`` (``virtual_key.budgets[].max_limit``); the same path
for every item, so patterns in a sequence or an allow file match all of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

UUID_RE = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
GENERATED = re.compile(rf"^(?:sk-bf-)?{UUID_RE}$")
IN_TEXT = re.compile(rf"(?:sk-bf-)?{UUID_RE}")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$")
ZERO_TIME = "0001-01-01T00:00:00Z"
#: Integer fields whose values a deployment numbers itself (auto-increment rows).
INT_ID_FIELDS = ("id", "provider_config_id", "mcp_client_id", "provider_id")

#: The kinds of difference, in the order the summary shows them, with what each means.
KINDS = {
    "status": "HTTP status differs",
    "message": "error message differs",
    "content-type": "Content-Type differs",
    "not-json": "one side did not answer JSON",
    "missing": "field present on A, missing on B",
    "extra": "field present on B only",
    "type": "JSON type differs",
    "order": "field order differs",
    "length": "number of items differs",
    "value": "value differs",
    "id": "a generated id does not follow its pair",
    "timestamp": "timestamp of another kind",
    "skipped": "request could not run on one side",
}


def matches(path: str, pattern: str) -> bool:
    """``*`` matches any run of characters (dots too); everything else, ``[]`` included, stands for itself."""
    regex = _PATTERNS.get(pattern)
    if regex is None:
        regex = _PATTERNS[pattern] = re.compile("".join(".*" if c == "*" else re.escape(c) for c in pattern) + r"\Z")
    return bool(regex.match(path))


_PATTERNS: dict[str, re.Pattern[str]] = {}


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def show(value: Any, limit: int = 80) -> str:
    """A short JSON rendering for reports."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class Difference:
    kind: str
    path: str
    a: str
    b: str
    note: str = ""
    count: int = 1  # how many times it was found in one answer (once per list item, say)

    def line(self) -> str:
        where = f"{self.path}: " if self.path else ""
        text = f"{where}A {self.a} / B {self.b}"
        if self.count > 1:
            text += f" (x{self.count})"
        return text + (f" ({self.note})" if self.note else "")

    def as_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"kind": self.kind, "path": self.path, "a": self.a, "b": self.b}
        if self.note:
            doc["note"] = self.note
        if self.count > 1:
            doc["count"] = self.count
        return doc


def fold(found: list[Difference]) -> list[Difference]:
    """One difference per kind and path in an answer (list items repeat them), counted; the items a list
    has on one side only are listed together."""
    folded: dict[tuple[str, str, str], Difference] = {}
    for diff in found:
        key = (diff.kind, diff.path, diff.note)
        first = folded.get(key)
        if first is None:
            folded[key] = Difference(diff.kind, diff.path, diff.a, diff.b, diff.note)
            continue
        first.count += 1
        if diff.kind == "missing" and diff.path.endswith("[]") and len(first.a) < 160:
            first.a += ", " + diff.a
        elif diff.kind == "extra" and diff.path.endswith("[]") and len(first.b) < 160:
            first.b += ", " + diff.b
    return list(folded.values())


@dataclass
class IdMap:
    """Pairs of values that each side generated on its own: A's value <-> B's value, one to one."""

    a_to_b: dict[Any, Any] = field(default_factory=dict)
    b_to_a: dict[Any, Any] = field(default_factory=dict)
    #: values each side names its own way that stand for the same thing (a discovered MCP client's name)
    equivalent: set[tuple[Any, Any]] = field(default_factory=set)

    def pair(self, a: Any, b: Any) -> bool:
        """Pair ``a`` with ``b``, or check an earlier pairing; ``False`` when either is paired elsewhere."""
        known_b = self.a_to_b.get(a, _NOTHING)
        known_a = self.b_to_a.get(b, _NOTHING)
        if known_b is _NOTHING and known_a is _NOTHING:
            self.a_to_b[a] = b
            self.b_to_a[b] = a
            return True
        return bool(known_b == b and known_a == a)

    def knows_a(self, a: Any) -> bool:
        return a in self.a_to_b

    def knows_b(self, b: Any) -> bool:
        return b in self.b_to_a

    def translate_text(self, text: str, numbers: dict[str, str] | None = None) -> str:
        """A's text with every generated value it contains replaced by B's pair (for comparing messages)."""
        out = IN_TEXT.sub(lambda m: str(self.a_to_b.get(m.group(0), m.group(0))), text)
        for a_text, b_text in self.equivalent:
            if isinstance(a_text, str) and isinstance(b_text, str) and a_text:
                out = re.sub(rf"(?<![\w-]){re.escape(a_text)}(?![\w-])", b_text, out)
        for a_num, b_num in (numbers or {}).items():
            out = re.sub(rf"(?<![\w.]){re.escape(a_num)}(?![\w.])", b_num, out)
        return out


_NOTHING = object()


def is_generated(value: Any) -> bool:
    return isinstance(value, str) and bool(GENERATED.match(value))


def timestamp_kind(value: str) -> str:
    if value == ZERO_TIME:
        return "zero"
    zone = "Z" if value.endswith("Z") else value[-6:]
    if value[11:19] == "00:00:00" and "." not in value:
        return "midnight"
    return f"instant{zone}"


@dataclass
class Rules:
    """What one comparison leaves out: values that differ by nature, fields to skip, arrays without order."""

    nature: tuple[str, ...] = ()  # paths whose values are not compared (shape is)
    ignore: tuple[str, ...] = ()  # paths not compared at all
    unordered: tuple[str, ...] = ()  # arrays compared as sets of objects, matched by their id
    order: bool = True  # compare field order of objects
    own: str | None = None  # only array items (and keyed-map entries) this run created: name starts with it

    @staticmethod
    def _match(path: str, patterns: Iterable[str]) -> bool:
        return any(matches(path, p) for p in patterns)

    def is_ignored(self, path: str) -> bool:
        return self._match(path, self.ignore)

    def is_nature(self, path: str) -> bool:
        return self._match(path, self.nature)

    def is_unordered(self, path: str) -> bool:
        return self._match(path, self.unordered)


class Comparer:
    """Walks two documents side by side; collects :class:`Difference` s and learns the id pairs."""

    def __init__(self, ids: IdMap, rules: Rules) -> None:
        self.ids = ids
        self.rules = rules
        self.found: list[Difference] = []
        self._orders: set[str] = set()

    def add(self, kind: str, path: str, a: str, b: str, note: str = "") -> None:
        self.found.append(Difference(kind, path, a, b, note))

    def compare(self, a: Any, b: Any, path: str = "") -> list[Difference]:
        self._walk(a, b, path, path.rsplit(".", 1)[-1])
        return self.found

    # ---- the walk -----------------------------------------------------------------------------------------

    def _walk(self, a: Any, b: Any, path: str, name: str) -> None:
        if path and self.rules.is_ignored(path):
            return
        ta, tb = json_type(a), json_type(b)
        if ta != tb:
            self.add("type", path, f"{ta} {show(a, 40)}", f"{tb} {show(b, 40)}")
            return
        if ta == "object":
            self._object(a, b, path)
        elif ta == "array":
            self._array(a, b, path, name)
        else:
            self._scalar(a, b, path, name)

    def _object(self, a: dict[str, Any], b: dict[str, Any], path: str) -> None:
        if self._keyed_by_id(a) and self._keyed_by_id(b) and (a or b):
            self._keyed_map(a, b, path)
            return
        prefix = f"{path}." if path else ""
        for key in a:
            if key not in b and not self.rules.is_ignored(prefix + key):
                self.add("missing", prefix + key, show(a[key], 40), "(absent)")
        for key in b:
            if key not in a and not self.rules.is_ignored(prefix + key):
                self.add("extra", prefix + key, "(absent)", show(b[key], 40))
        common_a = [k for k in a if k in b and not self.rules.is_ignored(prefix + k)]
        common_b = [k for k in b if k in a and not self.rules.is_ignored(prefix + k)]
        if self.rules.order and common_a != common_b and path not in self._orders:
            self._orders.add(path)
            self.add("order", path or "(top)", ",".join(common_a), ",".join(common_b))
        for key in common_a:
            self._walk(a[key], b[key], prefix + key, key)

    @staticmethod
    def _keyed_by_id(doc: dict[str, Any]) -> bool:
        return all(GENERATED.match(k) for k in doc)

    def _owned(self, item: Any) -> bool:
        own = self.rules.own
        return isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"].startswith(own or "")

    def _keyed_map(self, a: dict[str, Any], b: dict[str, Any], path: str) -> None:
        """An object keyed by ids (from_memory teams): entries are paired through the ids, not by position."""
        item = f"{path}{{}}"
        if self.rules.own is not None:
            a = {k: v for k, v in a.items() if self._owned(v)}
            b = {k: v for k, v in b.items() if self._owned(v)}
        if len(a) != len(b):
            self.add("length", path, f"{len(a)} entries", f"{len(b)} entries")
        unmatched = [k for k in b if not self.ids.knows_b(k)]
        for key, value in a.items():
            partner = self.ids.a_to_b.get(key)
            if partner is None and unmatched:
                partner = unmatched.pop(0)
                self.ids.pair(key, partner)
            if partner in b:
                self._walk(value, b[partner], item, "")

    def _array(self, a: list[Any], b: list[Any], path: str, name: str) -> None:
        item = f"{path}[]"
        if self.rules.own is not None and (any(isinstance(x, dict) for x in a + b)):
            a = [x for x in a if self._owned(x)]
            b = [x for x in b if self._owned(x)]
        if not (a and b and all(isinstance(x, dict) for x in a + b)):
            if len(a) != len(b):
                self.add("length", path, f"{len(a)} items", f"{len(b)} items")
            for left, right in zip(a, b, strict=False):
                self._walk(left, right, item, name)
            return
        pairs, only_a, only_b = self._pair_items(a, b, item)
        for index in only_a:
            self.add("missing", item, _label(a[index]), "(absent)", "an item A has and B does not")
        for index in only_b:
            self.add("extra", item, "(absent)", _label(b[index]), "an item B has and A does not")
        order_b = [j for _, j in pairs]
        if order_b != sorted(order_b) and not self.rules.is_unordered(path):
            self.add("order", item, ", ".join(_label(a[i]) for i, _ in pairs),
                     ", ".join(_label(b[j]) for j in sorted(order_b)), "items come in another order")
        for i, j in pairs:
            self._walk(a[i], b[j], item, name)

    def _pair_items(self, a: list[Any], b: list[Any], item: str) -> tuple[list[tuple[int, int]], list[int], list[int]]:
        """Items of A paired with B's: through ids paired before, then by equal names, then the rest in order."""
        left = list(range(len(b)))
        pairs: list[tuple[int, int]] = []
        waiting: list[int] = []
        for i, x in enumerate(a):
            j = self._partner(x, b, left, item)
            if j is None:
                waiting.append(i)
            else:
                pairs.append((i, j))
                left.remove(j)
        # the rest in order, but never two items that both have names and the names differ
        nameless_a = [i for i in waiting if self._name(a[i], item) is None]
        nameless_b = [j for j in left if self._name(b[j], item) is None]
        for i, j in zip(nameless_a, nameless_b, strict=False):
            pairs.append((i, j))
            waiting.remove(i)
            left.remove(j)
        pairs.sort()
        return pairs, waiting, left

    def _partner(self, x: dict[str, Any], b: list[Any], left: list[int], item: str) -> int | None:
        ident = x.get("id")
        if isinstance(ident, str) and self.ids.knows_a(ident):
            partner = self.ids.a_to_b[ident]
            return next((j for j in left if b[j].get("id") == partner), None)
        if isinstance(ident, int) and not isinstance(ident, bool):
            space = id_space(f"{item}.id", "id")
            partner = self.ids.a_to_b.get((space, ident))
            if partner is not None:
                return next((j for j in left if (space, b[j].get("id")) == partner), None)
        label = self._name(x, item)
        if label is not None:
            return next((j for j in left if b[j].get("name") == label), None)
        return None

    def _name(self, x: dict[str, Any], item: str) -> str | None:
        """An item's name, when names tell items apart here (not where they are left out of the comparison)."""
        label = x.get("name")
        return label if isinstance(label, str) and not self.rules.is_ignored(f"{item}.name") else None

    def _scalar(self, a: Any, b: Any, path: str, name: str) -> None:
        if isinstance(a, str) and isinstance(b, str):
            if is_generated(a) or is_generated(b):
                self._generated(a, b, path)
                return
            if TIMESTAMP.match(a) or TIMESTAMP.match(b):
                self._timestamp(a, b, path)
                return
        elif name in INT_ID_FIELDS and isinstance(a, int) and isinstance(b, int) and not isinstance(a, bool):
            space = id_space(path, name)
            if not self.ids.pair((space, a), (space, b)):
                self.add("id", path, show(a), show(b), "paired with another id earlier")
            return
        if self.rules.is_nature(path) or (a, b) in self.ids.equivalent:
            return
        if a != b and not (isinstance(a, int | float) and isinstance(b, int | float) and abs(a - b) < 1e-9):
            self.add("value", path, show(a), show(b))

    def _generated(self, a: str, b: str, path: str) -> None:
        if not (is_generated(a) and is_generated(b)):
            if not self.rules.is_nature(path):
                self.add("value", path, show(a), show(b), "only one side is a generated id")
            return
        if a.startswith("sk-bf-") != b.startswith("sk-bf-"):
            self.add("value", path, show(a), show(b))
            return
        if not self.ids.pair(a, b):
            known = self.ids.a_to_b.get(a)
            note = "A's id stands for another object on B" if known is not None else "B's id was paired before"
            self.add("id", path, a, b, note)

    def _timestamp(self, a: str, b: str, path: str) -> None:
        if self.rules.is_nature(path):
            return
        if not (TIMESTAMP.match(a) and TIMESTAMP.match(b)):
            self.add("timestamp", path, show(a), show(b), "not an RFC 3339 timestamp on one side")
            return
        ka, kb = timestamp_kind(a), timestamp_kind(b)
        if ka != kb:
            self.add("timestamp", path, f"{ka} {a}", f"{kb} {b}")
        elif ka == "midnight" and a != b:
            self.add("value", path, a, b, "period starts differ")


def _label(item: Any) -> str:
    if isinstance(item, dict):
        for key in ("name", "reset_duration", "provider", "id"):
            if key in item:
                return show(item[key], 50)
    return show(item, 50)


def id_space(path: str, name: str) -> str:
    """Which kind of row an integer id numbers: ``provider_configs`` for ``...provider_configs[].id`` and for
    ``provider_config_id``, and so on, wherever in a document it appears."""
    if name != "id":
        return {"provider_config_id": "provider_configs", "mcp_client_id": "mcp_client"}.get(name, name)
    parent = path.rsplit(".", 2)[-2] if path.count(".") else ""
    return parent.removesuffix("[]").removesuffix("{}")
