"""One rule for finding a configured Shopify location, shared by `check` and the syncs.

A value of `inventory.locations` may be a location's gid or its name: the exact name first,
else the name ignoring case when only one location has it. `check` and `sync inventory` both
call `find_location`, so a mapping that `check` accepts is the one the sync uses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def find_location(
    wanted: str, locations: Sequence[Mapping[str, Any]]
) -> tuple[Mapping[str, Any] | None, str | None]:
    """(the location, None), or (None, why none fits)."""
    for location in locations:
        if str(location.get("id")) == wanted:
            return location, None
    exact = [loc for loc in locations if loc.get("name") == wanted]
    folded = [
        loc for loc in locations if str(loc.get("name") or "").casefold() == wanted.casefold()
    ]
    match = exact or folded
    if len(match) == 1:
        return match[0], None
    if match:
        return None, f"{len(match)} Shopify locations are named {wanted!r}"
    return None, f"Shopify has no location {wanted!r}"
