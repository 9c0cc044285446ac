"""What every profile's rules work with, apart from any store: the id allocator of a write."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Ids:
    """Allocates integer ids (provider configs, MCP configs) inside a write transaction."""

    next_provider_config: int
    next_mcp_config: int

    def provider_config(self) -> int:
        self.next_provider_config += 1
        return self.next_provider_config - 1

    def mcp_config(self) -> int:
        self.next_mcp_config += 1
        return self.next_mcp_config - 1
