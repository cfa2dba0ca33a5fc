"""In-flight units shared between shops that sell from the same Unleashed warehouse.

One warehouse may feed a location in several shops. Unleashed's `AvailableQty` for it is one
figure, so every order any of those shops has taken and Unleashed has not yet allocated comes
out of that one figure: a shop's target for the warehouse subtracts the in-flight units of
every shop's orders assigned to a location mapped to it, its own buffer only. Pure: the jobs
read each shop's units (with that shop's client and state) and call this to add them up.
"""

from __future__ import annotations

from collections.abc import Mapping

from syncer.inventory.planner import StockKey


def shared_warehouses(own: Mapping[str, str], other: Mapping[str, str]) -> set[str]:
    """The warehouse codes both shops map to a location (code -> location gid or name)."""
    return set(own) & set(other)


def translate_units(
    own_locations: Mapping[str, str],
    other_locations: Mapping[str, str],
    other_units: Mapping[StockKey, int],
) -> dict[StockKey, int]:
    """Another shop's in-flight units (SKU, its location gid) as units at this shop's
    location of the same warehouse. Units at a location of the other shop that no shared
    warehouse maps are not this shop's concern and are dropped.

    `own_locations` and `other_locations` are each shop's resolved mapping, warehouse code ->
    location gid. When one of the other shop's locations is mapped from several warehouses,
    its units count once, for the first of them that this shop also maps.
    """
    warehouse_of: dict[str, str] = {}
    for code, gid in other_locations.items():
        if code in own_locations:
            warehouse_of.setdefault(gid, code)
    result: dict[StockKey, int] = {}
    for (sku, gid), quantity in other_units.items():
        warehouse = warehouse_of.get(gid)
        if warehouse is None or not quantity:
            continue
        key = (sku, own_locations[warehouse])
        result[key] = result.get(key, 0) + quantity
    return result


def add_units(total: dict[StockKey, int], more: Mapping[StockKey, int]) -> dict[StockKey, int]:
    """`total` with `more` added key by key (in place, and returned)."""
    for key, quantity in more.items():
        total[key] = total.get(key, 0) + quantity
    return total
