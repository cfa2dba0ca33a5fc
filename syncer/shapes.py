"""Small helpers for reading GraphQL-shaped data in pure code (no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def connection_nodes(connection: Any) -> list[Mapping[str, Any]]:
    """The items of a GraphQL connection (`{nodes: [...]}`), or of a plain list; [] for null."""
    if connection is None:
        return []
    if isinstance(connection, Mapping):
        return list(connection.get("nodes") or [])
    return list(connection)
