"""Which Shopify location each Unleashed warehouse stands for (`inventory.locations`).

Used by the inventory job before it reads anything, and by the products job to stock a new
product at every mapped location. Pure: it takes the shop's location list, read by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from syncer.errors import ConfigError, Problem
from syncer.locations import find_location


def resolve_locations(
    configured: Mapping[str, str], shop_locations: Sequence[Mapping[str, Any]]
) -> dict[str, str]:
    """Warehouse code -> location gid. A value may be a location's gid or its name (exact,
    else case-insensitive when that is unambiguous)."""
    names = sorted(str(loc.get("name")) for loc in shop_locations)
    problems: list[Problem] = []
    resolved: dict[str, str] = {}
    for code, wanted in configured.items():
        location, reason = find_location(wanted, shop_locations)
        if location is not None:
            resolved[code] = str(location["id"])
            continue
        problems.append(
            Problem(
                f"inventory.locations.{code}",
                reason or f"Shopify has no location {wanted!r}",
                "use the name or gid of one of the shop's locations: "
                + (", ".join(repr(n) for n in names) or "the shop lists none"),
            )
        )
    seen: dict[str, str] = {}
    for code, gid in resolved.items():
        if gid in seen:
            problems.append(
                Problem(
                    f"inventory.locations.{code}",
                    f"maps to the same Shopify location as {seen[gid]}",
                    "map each warehouse to its own location",
                )
            )
        seen.setdefault(gid, code)
    if problems:
        raise ConfigError(problems)
    return resolved
