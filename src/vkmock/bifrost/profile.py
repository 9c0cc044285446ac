"""The profile registry: one ``Profile`` per Bifrost version vkmock speaks."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT = "1.4"


@dataclass(frozen=True)
class Profile:
    """One Bifrost version: its bundled spec, what ``GET /api/version`` says, the collections its world holds
    (keys alone, or keys with teams and customers) and the list envelope a fixture carries."""

    name: str
    spec_name: str
    version: str
    groups: bool  # teams and customers are resources of their own (1.5) rather than fixed references (1.4)
    list_fields: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"Bifrost {self.name}"

    def fits(self, body: object) -> bool:
        """Whether a list body (a fixture) is of this profile."""
        return detect(body) == self.name


def detect(body: object) -> str | None:
    """The profile a list body (a fixture) was saved from, or ``None`` when it is no list body.

    A fixture may say so itself (``"bifrost": "1.5"``); otherwise 1.5's list always has ``total_count`` and its
    keys have ``budgets``/``calendar_aligned``, which 1.4's never have."""
    if not isinstance(body, dict) or not isinstance(body.get("virtual_keys"), list):
        return None
    declared = body.get("bifrost")
    if isinstance(declared, str):
        return declared
    if "total_count" in body or "teams" in body or "customers" in body:
        return "1.5"
    keys = [k for k in body["virtual_keys"] if isinstance(k, dict)]
    return "1.5" if any("budgets" in k or "calendar_aligned" in k for k in keys) else "1.4"


PROFILES: dict[str, Profile] = {
    "1.4": Profile("1.4", "bifrost-governance.yaml", "v1.4.10", False, ("virtual_keys", "count")),
    "1.5": Profile(
        "1.5", "bifrost-1.5.yaml", "v1.5.0-prerelease7", True,
        ("count", "limit", "offset", "total_count", "virtual_keys"),
    ),
}


def get(name: str) -> Profile:
    """The profile called ``name`` (``1.4``, ``1.5``); ``ValueError`` listing the known ones otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown Bifrost profile {name!r}; known: {', '.join(PROFILES)}") from None
