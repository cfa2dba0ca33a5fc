"""Which Shopify location each Unleashed warehouse stands for (`inventory.locations`).

Used by the inventory job before it reads anything, and by the products job to stock a new
product at every mapped location. Pure: it takes the shop's location list, read by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from syncer.errors import ConfigError, Problem


def resolve_locations(
    configured: Mapping[str, str], shop_locations: Sequence[Mapping[str, Any]]
) -> dict[str, str]:
    """Warehouse code -> location gid. A value may be a location's gid or its name (exact,
    else case-insensitive when that is unambiguous)."""
    by_gid = {str(loc["id"]): loc for loc in shop_locations}
    names = sorted(str(loc.get("name")) for loc in shop_locations)
    problems: list[Problem] = []
    resolved: dict[str, str] = {}
    for code, wanted in configured.items():
        if wanted in by_gid:
            resolved[code] = wanted
            continue
        exact = [str(loc["id"]) for loc in shop_locations if loc.get("name") == wanted]
        folded = [
            str(loc["id"])
            for loc in shop_locations
            if str(loc.get("name") or "").casefold() == str(wanted).casefold()
        ]
        match = exact or folded
        if len(match) == 1:
            resolved[code] = match[0]
            continue
        reason = (
            f"{len(match)} Shopify locations are named {wanted!r}"
            if match
            else f"Shopify has no location {wanted!r}"
        )
        problems.append(
            Problem(
                f"inventory.locations.{code}",
                reason,
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
