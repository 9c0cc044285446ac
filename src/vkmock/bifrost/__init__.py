"""What differs by Bifrost version: each profile is data (its spec, its version string) plus a small rules
package (``v1_4``, ``v1_5``). The rest of vkmock asks ``get(name)`` and never branches on a version number."""

from __future__ import annotations

from vkmock.bifrost.profile import DEFAULT, PROFILES, Profile, detect, get

__all__ = ["DEFAULT", "PROFILES", "Profile", "detect", "get"]
