"""What the inventory job read, in the planner's terms, and the cursor it keeps.

- A StockOnHand row becomes a `StockRow`; Shopify levels gather into a `ShopifyView`, nested
  by location and SKU so that a catalogue of tens of thousands of levels costs no tuple or id
  copy per level.
- The cursor: one timestamp per warehouse, as JSON.
- Whether the light open-order query left out fulfilment orders or lines (`overflows`): such
  an order is read again in full before its in-flight units are counted.

Pure: the job does the reading and hands the raw nodes here.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from syncer.inventory.planner import LevelRow, StockKey, StockRow
from syncer.timeutil import parse_iso


def parse_cursor(value: str | None, warehouses: Iterable[str]) -> dict[str, datetime]:
    """The per-warehouse cursor; a plain timestamp (older format) applies to every warehouse.
    Anything unreadable means no cursor: that warehouse is read in full."""
    if not value:
        return {}
    try:
        data = json.loads(value)
    except ValueError:
        data = {code: value for code in warehouses}
    if not isinstance(data, dict):
        return {}
    result: dict[str, datetime] = {}
    for code, text in data.items():
        try:
            result[str(code)] = parse_iso(str(text))
        except ValueError:
            continue
    return result


def stock_row(
    raw: Mapping[str, Any], warehouse: str, decimals: dict[str, Decimal] | None = None
) -> StockRow | None:
    """A StockOnHand row as the planner takes it; None when it has no product code.
    `decimals` (text -> Decimal) lets the rows of a large read share their few quantities."""
    sku = str(raw.get("ProductCode") or "").strip()
    if not sku:
        return None
    sku = sys.intern(sku)  # shared with the Shopify view's keys and the plan's items
    value = raw.get("AvailableQty")
    text = str(value) if value is not None else "NaN"
    available = decimals.get(text) if decimals is not None else None
    if available is None:
        try:
            available = Decimal(text)
        except InvalidOperation:
            available = Decimal("NaN")
        if available.is_finite():  # Unleashed pads to four places: 20.0000 is 20
            whole = available.to_integral_value()
            available = whole if available == whole else available.normalize()
        if decimals is not None:
            decimals[text] = available
    return StockRow(sku, warehouse, available)


def level_row(
    item_id: str, location_gid: str, available: Any, tracked: Any, bundle: Any = False
) -> LevelRow:
    return LevelRow(
        inventory_item_id=item_id,
        location_gid=sys.intern(location_gid),  # one string per location, not per level
        available=None if available is None else int(available),
        tracked=bool(tracked),
        active=available is not None,
        bundle=bool(bundle),
    )


class LevelsAt(Mapping[StockKey, "LevelRow | list[LevelRow]"]):
    """One location's levels as the planner takes them, (SKU, location gid) -> level(s),
    read through the view's SKU -> level(s) dict instead of a tuple key per level."""

    def __init__(self, location_gid: str, by_sku: Mapping[str, LevelRow | list[LevelRow]]):
        self.location_gid = location_gid
        self.by_sku = by_sku

    def __getitem__(self, key: StockKey) -> LevelRow | list[LevelRow]:
        if key[1] != self.location_gid:
            raise KeyError(key)
        return self.by_sku[key[0]]

    def __iter__(self) -> Iterator[StockKey]:
        return ((sku, self.location_gid) for sku in self.by_sku)

    def __len__(self) -> int:
        return len(self.by_sku)


@dataclass
class ShopifyView:
    """What Shopify has for the SKUs in scope: location gid -> SKU -> its one level there,
    or a list when several inventory items carry the SKU there (rare). Nested dicts and one
    inventory item id string per item, so a large catalogue costs no tuple, list or id copy
    per level."""

    levels: dict[str, dict[str, LevelRow | list[LevelRow]]] = field(default_factory=dict)
    added: int = 0  # levels taken so far

    def carries(self, sku: str) -> bool:
        """Whether some Shopify variant carries this SKU (a level read, active or not)."""
        return any(sku in at_location for at_location in self.levels.values())

    def at(self, location_gid: str) -> LevelsAt:
        return LevelsAt(location_gid, self.levels.get(location_gid, {}))

    def add(self, sku: str, row: LevelRow) -> None:
        sku = sys.intern(sku)
        self.added += 1
        for at_location in self.levels.values():
            other = at_location.get(sku)
            if (
                isinstance(other, LevelRow)
                and other.inventory_item_id == row.inventory_item_id
                and other.inventory_item_id is not row.inventory_item_id
            ):
                # The same item at another location: keep one copy of its id.
                row = replace(row, inventory_item_id=other.inventory_item_id)
                break
        at_location = self.levels.setdefault(row.location_gid, {})
        held = at_location.get(sku)
        if held is None:
            at_location[sku] = row
        elif isinstance(held, LevelRow):
            if held.inventory_item_id != row.inventory_item_id:
                at_location[sku] = [held, row]
        elif all(r.inventory_item_id != row.inventory_item_id for r in held):
            held.append(row)


def overflows(order: Mapping[str, Any]) -> bool:
    """True when the light order query did not carry all fulfilment orders or lines."""
    fulfillment_orders = order.get("fulfillmentOrders") or {}
    if (fulfillment_orders.get("pageInfo") or {}).get("hasNextPage"):
        return True
    return any(
        ((fo.get("lineItems") or {}).get("pageInfo") or {}).get("hasNextPage")
        for fo in fulfillment_orders.get("nodes") or []
    )


def batched(
    rows: Iterable[tuple[str, str | None, str, dict[str, Any]]], size: int
) -> Iterator[list[tuple[str, str | None, str, dict[str, Any]]]]:
    """Link rows in lists of at most `size`, built one list at a time."""
    batch: list[tuple[str, str | None, str, dict[str, Any]]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
