"""Plan Shopify `available` levels from Unleashed stock.

Pure: it takes what the connectors read and returns the writes and the report items. It never
talks to an API, so a dry run and a real run plan exactly the same thing.

Glossary: a *level* is one (inventory item, location) pair in Shopify; *in flight* is stock that
Shopify has already taken for an order but Unleashed has not allocated yet, so Unleashed's
`AvailableQty` still counts it.
"""

from __future__ import annotations

import math
import sys
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from syncer.errors import ConfigError, Problem
from syncer.report import Item
from syncer.shapes import connection_nodes

SHOPIFY_BATCH_LIMIT = 250  # Shopify's cap on any input array, quantities included
SHOPIFY_MAX_QUANTITY = 2**31 - 1  # Shopify's `Int` is 32-bit: a larger quantity fails the call

# Shopify's documented values for `InventorySetQuantitiesInput.reason`; any other is refused.
SET_QUANTITY_REASONS = frozenset(
    {
        "correction",
        "cycle_count_available",
        "damaged",
        "movement_created",
        "movement_updated",
        "movement_received",
        "movement_canceled",
        "other",
        "promotion",
        "quality_control",
        "received",
        "reservation_created",
        "reservation_deleted",
        "reservation_updated",
        "restock",
        "safety_stock",
        "shrinkage",
    }
)

# Fulfilment orders in these states no longer hold stock for the order.
_FINISHED_FULFILLMENT_ORDER_STATUSES = frozenset({"CLOSED", "CANCELLED"})
# Only a label on the in-flight line: paid and unpaid open orders both count.
_PAID_FINANCIAL_STATUSES = frozenset({"PAID", "PARTIALLY_PAID", "PARTIALLY_REFUNDED", "REFUNDED"})

StockKey = tuple[str, str]  # (SKU, Shopify location gid)

# A bundle parent is never written: Shopify computes its availability from its components'
# levels (which syncer writes like any other SKU), and it needs no fix, so it is not held.
BUNDLE_NOTE = "bundle: Shopify derives its stock"

NOT_IN_SHOPIFY = (
    "not in Shopify: no variant has this SKU, and the products job has not linked it; "
    "nothing written"
)


@dataclass(frozen=True, slots=True)
class InFlightLine:
    """Units of one SKU that one Shopify order took at a location and Unleashed still counts.

    `reason` is one of `unsent_paid`, `unsent_unpaid`, `sent_unallocated`.
    """

    sku: str
    location_gid: str
    quantity: int
    reason: str
    order_gid: str = ""


@dataclass(frozen=True, slots=True)
class StockRow:
    """One Unleashed StockOnHand row for a warehouse (`AvailableQty` may be fractional)."""

    sku: str
    warehouse_code: str
    available: Decimal


@dataclass(frozen=True, slots=True)
class LevelRow:
    """One Shopify inventory level as read; `available` is None when the item has no level there.
    `bundle`: the item's variant is a Shopify Bundles parent (`requiresComponents`), whose
    stock Shopify derives from its components and refuses to take from an API."""

    inventory_item_id: str
    location_gid: str
    available: int | None
    tracked: bool
    active: bool
    bundle: bool = False


@dataclass(frozen=True, slots=True)
class SetQuantity:
    """One quantity of an `inventorySetQuantities` call (compare-and-swap on `change_from`)."""

    inventory_item_id: str
    location_gid: str
    quantity: int
    change_from: int
    key: str


@dataclass
class InventoryPlan:
    """The writes to make and one report item per SKU@WAREHOUSE looked at."""

    sets: list[SetQuantity] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    # StockOnHand rows for warehouses that `inventory.locations` does not map (or with no
    # warehouse at all: Unleashed's company-wide aggregate rows). Not ours to push.
    unmapped_rows: int = 0
    # location gid -> SKUs whose target was computed there, so in-flight units change it.
    # Levels held for another reason do not need in flight read at all. (Sets of SKUs, not
    # of (SKU, location) tuples: a catalogue would cost a tuple per level.)
    targeted_skus: dict[str, set[str]] = field(default_factory=dict)

    @property
    def targeted(self) -> set[StockKey]:
        """The (SKU, location gid) pairs whose target was computed."""
        return {(sku, gid) for gid, skus in self.targeted_skus.items() for sku in skus}


# --- in flight -------------------------------------------------------------------------------


def in_flight(lines: Iterable[InFlightLine]) -> dict[StockKey, int]:
    """Sum in-flight units per (SKU, location)."""
    totals: dict[StockKey, int] = defaultdict(int)
    for line in lines:
        if line.quantity < 0:
            raise ValueError(
                f"in-flight quantity for {line.sku} at {line.location_gid} is negative "
                f"({line.quantity}); the caller must pass units still taken from stock"
            )
        if line.quantity:
            totals[(line.sku, line.location_gid)] += line.quantity
    return dict(totals)


def in_flight_lines(
    orders: Iterable[Mapping[str, Any]],
    sent_status_by_order_gid: Mapping[str, str | None],
    *,
    unallocated_statuses: Collection[str],
    default_location_gid: str,
) -> list[InFlightLine]:
    """Which units of these Shopify orders are in flight.

    `orders` are Shopify order nodes: `{id, cancelledAt, displayFinancialStatus,
    lineItems{nodes[{sku, currentQuantity, unfulfilledQuantity?}]}, fulfillmentOrders?{nodes[
    {status, assignedLocation{location{id}}, lineItems{nodes[{sku?, remainingQuantity,
    lineItem{sku}}]}}]}}`. `sent_status_by_order_gid` maps an order gid to the Unleashed
    `OrderStatus` of the sales order syncer sent, or None (or no entry) when it was never sent.

    Rules, each with the sentence of the inventory contract it implements:
    - "not cancelled ones: Shopify restocks those": an order with `cancelledAt` counts nothing.
    - "paid orders held or not yet sent, unpaid open orders": an order never sent counts in
      full, whatever its financial status (held orders are paid orders not yet sent); the
      status only labels the reason.
    - "orders syncer sent whose Unleashed status is in `inventory.unallocated_statuses`":
      a sent order counts only while its Unleashed status is one of those; once Unleashed
      allocates it (e.g. Placed), Unleashed's AvailableQty already excludes it.
    - Fulfilled units are no longer in flight: Shopify took them off hand, and syncer only
      fulfils after Unleashed dispatched them. With fulfilment orders in the input, the units
      are each open fulfilment order's `remainingQuantity` at its assigned location (exact:
      Shopify reduces it for fulfilments, refunds and removals). Without them, the units are
      the line's `currentQuantity` (refunded and removed units excluded) at
      `default_location_gid`, capped by `unfulfilledQuantity` when the input carries it. That
      cap assumes `unfulfilledQuantity` = units not yet fulfilled; it can over-count a line
      that was both refunded and partly fulfilled, which errs on the side of not overselling.
    - "A sent order in an unallocated status counts all its units, whether or not Shopify has
      fulfilled them": a POS sale or an order a 3PL fulfilled in Shopify left the shelf, but
      Unleashed's AvailableQty counts those units until the sales order is allocated. When the
      order carries its lines with ids (`lineItems.nodes[{id, sku, currentQuantity}]`), each
      line counts its `currentQuantity` at the location it was sold or assigned: a POS order's
      `retailLocation`, else the location of the fulfilment order holding the line (closed ones
      too; not cancelled ones), else `default_location_gid`. Without line ids, or with more
      lines than were read (`pageInfo.hasNextPage`), the open-units rule above applies.
    - Lines without a SKU (custom items) cannot match Unleashed stock and are left out.
    """
    unallocated = set(unallocated_statuses)
    result: list[InFlightLine] = []
    for order in orders:
        order_gid = str(order.get("id") or "")
        if order.get("cancelledAt"):
            continue
        sent_status = sent_status_by_order_gid.get(order_gid)
        if sent_status is None:
            paid = order.get("displayFinancialStatus") in _PAID_FINANCIAL_STATUSES
            reason = "unsent_paid" if paid else "unsent_unpaid"
        elif sent_status in unallocated:
            reason = "sent_unallocated"
        else:
            continue
        units = _all_units(order, default_location_gid) if reason == "sent_unallocated" else None
        if units is None:
            units = _open_units(order, default_location_gid)
        for sku, location_gid, quantity in units:
            result.append(InFlightLine(sku, location_gid, quantity, reason, order_gid))
    return result


def sent_order_statuses(
    sent_links: Mapping[str, Mapping[str, Any]], status_by_guid: Mapping[str, str]
) -> dict[str, str | None]:
    """The Unleashed status to count each sent order by, for `in_flight_lines`.

    `sent_links` maps a Shopify order gid to the order link syncer keeps (`remote_id`: the
    sales order Guid, `status`); `status_by_guid` maps a lowercase Guid to the `OrderStatus`
    of the sales orders read in the unallocated statuses. A sales order found there counts by
    its status. One created in Unleashed and not found there has left those statuses, so it
    counts as allocated (Unleashed's AvailableQty excludes it already). One still "sending" or
    "failed" and not found is not in Unleashed yet: it gets no entry, so it counts as never
    sent and its units stay in flight.
    """
    result: dict[str, str | None] = {}
    for gid, link in sent_links.items():
        # An order split over warehouses counts by the first of its sales orders still in an
        # unallocated status: its units then stay in flight until every part is allocated,
        # which errs on the side of not overselling.
        guids = [str(link.get("remote_id") or "")] + [
            str(entry.get("guid") or "")
            for entry in (link.get("data") or {}).get("sales_orders") or []
        ]
        status = next(
            (status_by_guid[g.lower()] for g in guids if status_by_guid.get(g.lower())), None
        )
        if status:
            result[gid] = status
        elif link.get("status") == "created":
            result[gid] = "allocated"
    return result


def _open_units(order: Mapping[str, Any], default_location_gid: str) -> list[tuple[str, str, int]]:
    """(SKU, location, units) still waiting for fulfilment in one order."""
    units: list[tuple[str, str, int]] = []
    fulfillment_orders = connection_nodes(order.get("fulfillmentOrders"))
    if fulfillment_orders:
        for fulfillment_order in fulfillment_orders:
            if fulfillment_order.get("status") in _FINISHED_FULFILLMENT_ORDER_STATUSES:
                continue
            location_gid = _assigned_location(fulfillment_order) or default_location_gid
            for line in connection_nodes(fulfillment_order.get("lineItems")):
                sku = line.get("sku") or (line.get("lineItem") or {}).get("sku")
                quantity = int(line.get("remainingQuantity") or 0)
                if sku and quantity > 0:
                    units.append((str(sku), location_gid, quantity))
        return units
    for line in connection_nodes(order.get("lineItems")):
        sku = line.get("sku")
        quantity = int(line.get("currentQuantity") or 0)
        if line.get("unfulfilledQuantity") is not None:
            quantity = min(quantity, int(line["unfulfilledQuantity"]))
        if sku and quantity > 0:
            units.append((str(sku), default_location_gid, quantity))
    return units


def _all_units(
    order: Mapping[str, Any], default_location_gid: str
) -> list[tuple[str, str, int]] | None:
    """(SKU, location, units) of every current unit of a sent order, fulfilled or not; None
    when the order does not carry its lines with ids (the caller counts open units then)."""
    line_items = order.get("lineItems")
    if not isinstance(line_items, Mapping) or (line_items.get("pageInfo") or {}).get("hasNextPage"):
        return None
    lines = connection_nodes(line_items)
    if not lines or not all(line.get("id") for line in lines):
        return None
    retail = (order.get("retailLocation") or {}).get("id")
    where: dict[str, str] = {}
    for fulfillment_order in connection_nodes(order.get("fulfillmentOrders")):
        if fulfillment_order.get("status") == "CANCELLED":
            continue
        location_gid = _assigned_location(fulfillment_order)
        for fo_line in connection_nodes(fulfillment_order.get("lineItems")):
            line_id = (fo_line.get("lineItem") or {}).get("id")
            if line_id and location_gid:
                where.setdefault(str(line_id), location_gid)
    units: list[tuple[str, str, int]] = []
    for line in lines:
        sku = line.get("sku")
        quantity = int(line.get("currentQuantity") or 0)
        if sku and quantity > 0:
            location_gid = str(retail) if retail else where.get(str(line["id"]))
            units.append((str(sku), location_gid or default_location_gid, quantity))
    return units


def _assigned_location(fulfillment_order: Mapping[str, Any]) -> str | None:
    location = (fulfillment_order.get("assignedLocation") or {}).get("location") or {}
    gid = location.get("id")
    return str(gid) if gid else None


# --- plan ------------------------------------------------------------------------------------


def target_quantity(available: Decimal, buffer: int, in_flight_units: int) -> int:
    """What Shopify should show: floor(AvailableQty) - buffer - in flight, never below 0.

    Floor, because Shopify levels are whole units and a fraction of a unit (81.8 available,
    e.g. from assembly or a unit of measure) cannot be sold as a whole one: rounding up would
    let the shop sell a unit that does not exist.
    """
    return max(0, math.floor(available) - buffer - in_flight_units)


def plan_inventory(
    unleashed: Sequence[StockRow],
    shopify: Mapping[StockKey, LevelRow | Sequence[LevelRow]],
    *,
    locations: Mapping[str, str],
    buffer: int,
    in_flight: Mapping[StockKey, int],
    scope_skus: Collection[str] | None,
    known_unleashed_skus: Collection[str] | None = None,
) -> InventoryPlan:
    """Plan Shopify levels for every mapped warehouse row in scope.

    `shopify` maps (SKU, location gid) to the level read there; a list value (or different
    inventory items for one SKU across locations) means the SKU is on several variants, which
    holds it. `locations` maps Unleashed warehouse codes to Shopify location gids.
    `scope_skus` is None for a full run (`--full`), else the SKUs to look at.

    SKUs that Shopify stocks at a mapped location but StockOnHand does not list are reported
    only in a full run (an incremental read lists only what changed). Unleashed omits
    products that never had a stock transaction, so when `known_unleashed_skus` (the Unleashed
    product codes) contains the SKU its stock is 0 and it is planned like any row. Otherwise
    the SKU may not be an Unleashed product at all (a gift card, a Shopify-only item): writing
    0 on a guess could empty a level someone keeps by hand, and holding it would fail every
    cron run, so it is reported `unchanged` with a note that says why nothing was written.
    """
    return _plan(
        unleashed,
        shopify,
        locations=locations,
        buffer=buffer,
        in_flight=in_flight,
        scope_skus=scope_skus,
        known_unleashed_skus=known_unleashed_skus,
        build_items=True,
    )


def targeted_levels(
    unleashed: Sequence[StockRow],
    shopify: Mapping[StockKey, LevelRow | Sequence[LevelRow]],
    *,
    locations: Mapping[str, str],
    buffer: int,
    scope_skus: Collection[str] | None,
    known_unleashed_skus: Collection[str] | None = None,
) -> dict[str, set[str]]:
    """`plan_inventory(...).targeted_skus` (location gid -> SKUs whose target is computed)
    without building the plan's items: a job learns which levels need in flight before it
    reads in flight, and a large catalogue's items would only be built to be thrown away."""
    plan = _plan(
        unleashed,
        shopify,
        locations=locations,
        buffer=buffer,
        in_flight={},
        scope_skus=scope_skus,
        known_unleashed_skus=known_unleashed_skus,
        build_items=False,
    )
    return plan.targeted_skus


def _plan(
    unleashed: Sequence[StockRow],
    shopify: Mapping[StockKey, LevelRow | Sequence[LevelRow]],
    *,
    locations: Mapping[str, str],
    buffer: int,
    in_flight: Mapping[StockKey, int],
    scope_skus: Collection[str] | None,
    known_unleashed_skus: Collection[str] | None,
    build_items: bool,
) -> InventoryPlan:
    """plan_inventory; with `build_items` False only `targeted_skus` is complete."""
    if buffer < 0:
        raise ConfigError([Problem("inventory.buffer", f"is {buffer}", "use 0 or more")])
    _check_locations(locations)
    plan = InventoryPlan()
    levels, duplicates, skus_in_shopify = _index_levels(shopify)
    rows, failed = _unique_rows(unleashed, plan, locations)
    # Equal details of unchanged levels are one dict: a catalogue repeats a few hundred.
    details: dict[tuple[Any, ...], dict[str, Any]] = {}
    # Keys already reported: never report them again as missing from Unleashed.
    # location gid -> SKUs (no tuple per row).
    seen: dict[str, set[str]] = {}
    for sku, code in failed:
        if code in locations:
            seen.setdefault(locations[code], set()).add(sku)
    for row in rows:
        location_gid = locations.get(row.warehouse_code) if row.warehouse_code else None
        if location_gid is None:
            plan.unmapped_rows += 1
            continue
        if scope_skus is not None and row.sku not in scope_skus:
            continue
        seen.setdefault(location_gid, set()).add(row.sku)
        _plan_row(
            plan,
            row,
            location_gid,
            levels,
            duplicates,
            skus_in_shopify,
            buffer,
            in_flight,
            details if build_items else None,
        )

    if scope_skus is None:
        warehouse_by_location = {gid: code for code, gid in locations.items()}
        known: Collection[str] = (
            known_unleashed_skus
            if isinstance(known_unleashed_skus, AbstractSet)
            else frozenset(known_unleashed_skus or ())
        )
        # Only levels that exist: an item with no level at a location is not stocked there.
        missing = sorted(
            (sku, location_gid)
            for location_gid, at_location in levels.items()
            if location_gid in warehouse_by_location
            for sku, level in at_location.items()
            if sku not in seen.get(location_gid, ())
            and (sku in duplicates or level.available is not None)
        )
        del seen
        for sku, location_gid in missing:
            warehouse = warehouse_by_location[location_gid]
            if sku in known and sku not in duplicates:
                row = StockRow(sku, warehouse, Decimal(0))
                # A pool of its own: this item's detail is its own, so the note can be added.
                pool: dict[tuple[Any, ...], dict[str, Any]] | None = {} if build_items else None
                _plan_row(
                    plan,
                    row,
                    location_gid,
                    levels,
                    duplicates,
                    skus_in_shopify,
                    buffer,
                    in_flight,
                    pool,
                )
                if build_items:
                    # A bundle parent's item carries its own note already.
                    plan.items[-1].detail.setdefault(
                        "note", "not in StockOnHand: no stock transactions yet"
                    )
            elif build_items:
                _report_not_in_unleashed(plan, sku, warehouse, location_gid, levels, duplicates)
    return plan


def _plan_row(
    plan: InventoryPlan,
    row: StockRow,
    location_gid: str,
    levels: Mapping[str, Mapping[str, LevelRow]],
    duplicates: Mapping[str, list[str]],
    skus_in_shopify: Collection[str],
    buffer: int,
    in_flight: Mapping[StockKey, int],
    details: dict[tuple[Any, ...], dict[str, Any]] | None,
) -> None:
    """Plan one row's level. Unchanged levels share equal details through `details`, so
    an unchanged item's detail is replaced, never changed in place. With `details` None only
    `targeted_skus` is kept (targeted_levels) once the level is known to be targeted."""
    key = f"{row.sku}@{row.warehouse_code}"
    if row.sku in duplicates:
        plan.items.append(_duplicate_item(key, row.sku, duplicates[row.sku]))
        return
    if row.sku not in skus_in_shopify:
        plan.items.append(
            Item(
                "stock",
                key,
                "hold",
                {"unleashed_available": str(row.available)},
                error=f"SKU {row.sku} is not on any Shopify variant: create the product in "
                "Shopify (or fix its SKU) so its stock can be pushed",
            )
        )
        return
    level = levels.get(location_gid, {}).get(row.sku)
    if level is not None and level.bundle:
        plan.items.append(_bundle_item(key, level, str(row.available)))
        return
    if not row.available.is_finite():
        plan.items.append(_absurd_item(key, row, "is not a number"))
        return
    problem = _unwritable_reason(row.sku, location_gid, level)
    if problem is not None or level is None or level.available is None:
        plan.items.append(
            Item("stock", key, "hold", {"unleashed_available": str(row.available)}, error=problem)
        )
        return
    plan.targeted_skus.setdefault(location_gid, set()).add(row.sku)
    if details is None:
        return
    units_in_flight = in_flight.get((row.sku, location_gid), 0) if in_flight else 0
    target = target_quantity(row.available, buffer, units_in_flight)
    if target > SHOPIFY_MAX_QUANTITY:
        # One such quantity would make Shopify reject its whole batch of up to 250 levels.
        plan.items.append(
            _absurd_item(key, row, f"gives a level above Shopify's limit {SHOPIFY_MAX_QUANTITY}")
        )
        return
    # Interned: quantities repeat across a catalogue, and every item keeps its detail.
    unleashed_available = sys.intern(str(row.available))
    if target == level.available:
        shared = (level.available, unleashed_available, buffer, units_in_flight, target)
        detail = details.get(shared)
        if detail is None:
            detail = details[shared] = _level_detail(*shared)
        plan.items.append(Item("stock", key, "unchanged", detail))
        return
    detail = _level_detail(level.available, unleashed_available, buffer, units_in_flight, target)
    plan.sets.append(
        SetQuantity(level.inventory_item_id, location_gid, target, level.available, key)
    )
    plan.items.append(Item("stock", key, "update", detail))


def _level_detail(
    shopify_now: int, unleashed_available: str, buffer: int, in_flight_units: int, target: int
) -> dict[str, Any]:
    return {
        "shopify_now": shopify_now,
        "unleashed_available": unleashed_available,
        "buffer": buffer,
        "in_flight": in_flight_units,
        "target": target,
    }


def _absurd_item(key: str, row: StockRow, problem: str) -> Item:
    return Item(
        "stock",
        key,
        "hold",
        {"unleashed_available": str(row.available)},
        error=f"Unleashed AvailableQty for {key} is {row.available}, which {problem}: correct "
        "the stock in Unleashed; nothing written for this level",
    )


def _unwritable_reason(sku: str, location_gid: str, level: LevelRow | None) -> str | None:
    """Why this level cannot take a quantity, or None when it can."""
    if level is None:
        return (
            f"SKU {sku} is not stocked at Shopify location {location_gid}: activate its "
            "inventory at that location in Shopify, or remove the warehouse from "
            "inventory.locations"
        )
    if not level.tracked:
        return (
            f"SKU {sku} does not track inventory in Shopify: turn on 'Track quantity' for the "
            "variant so stock can be pushed"
        )
    if not level.active or level.available is None:
        return (
            f"SKU {sku} is not active at Shopify location {location_gid}: activate its "
            "inventory at that location in Shopify"
        )
    return None


def _report_not_in_unleashed(
    plan: InventoryPlan,
    sku: str,
    warehouse: str,
    location_gid: str,
    levels: Mapping[str, Mapping[str, LevelRow]],
    duplicates: Mapping[str, list[str]],
) -> None:
    key = f"{sku}@{warehouse}"
    if sku in duplicates:
        plan.items.append(_duplicate_item(key, sku, duplicates[sku]))
        return
    level = levels[location_gid][sku]
    if level.bundle:
        plan.items.append(_bundle_item(key, level, None))
        return
    plan.items.append(
        Item(
            "stock",
            key,
            "unchanged",
            {
                "shopify_now": level.available,
                "note": f"not in Unleashed StockOnHand for warehouse {warehouse} (not an "
                "Unleashed product, or one with no stock transactions): Shopify level left "
                "as it is",
            },
        )
    )


def _bundle_item(key: str, level: LevelRow, unleashed_available: str | None) -> Item:
    """A bundle parent's level, left to Shopify: `unchanged`, with the note that says why."""
    detail: dict[str, Any] = {"shopify_now": level.available, "note": BUNDLE_NOTE}
    if unleashed_available is not None:
        detail["unleashed_available"] = unleashed_available
    return Item("stock", key, "unchanged", detail)


def _duplicate_item(key: str, sku: str, inventory_item_ids: list[str]) -> Item:
    return Item(
        "stock",
        key,
        "hold",
        {"inventory_items": inventory_item_ids},
        error=f"SKU {sku} is on {len(inventory_item_ids)} Shopify variants "
        f"({', '.join(inventory_item_ids)}): give each variant its own SKU",
    )


def _index_levels(
    shopify: Mapping[StockKey, LevelRow | Sequence[LevelRow]],
) -> tuple[dict[str, dict[str, LevelRow]], dict[str, list[str]], Collection[str]]:
    """Single level per location and SKU (location gid -> SKU -> level: no tuple per level),
    the SKUs that map to more than one inventory item, and every SKU some level carries."""
    levels: dict[str, dict[str, LevelRow]] = {}
    # One item per SKU is the rule; a set is built only for the SKUs that break it, so a
    # large catalogue does not cost a set per SKU.
    first_item: dict[str, str] = {}
    items_by_sku: dict[str, set[str]] = {}
    for key, value in shopify.items():
        rows: Sequence[LevelRow] = (value,) if isinstance(value, LevelRow) else value
        sku = key[0]
        for row in rows:
            item_id = row.inventory_item_id
            first = first_item.setdefault(sku, item_id)
            if first != item_id:
                items_by_sku.setdefault(sku, {first}).add(item_id)
        if rows:
            levels.setdefault(key[1], {})[sku] = rows[0]
    duplicates = {sku: sorted(ids) for sku, ids in items_by_sku.items()}
    return levels, duplicates, first_item.keys()


def _unique_rows(
    unleashed: Sequence[StockRow], plan: InventoryPlan, locations: Mapping[str, str]
) -> tuple[list[StockRow], set[tuple[str, str]]]:
    """Drop repeated identical rows (page overlap); fail a SKU@WAREHOUSE listed with two values.
    Rows keep the order of their first listing."""
    # warehouse -> SKU -> first row: no tuple per row.
    first_rows: dict[str, dict[str, StockRow]] = {}
    unique: list[StockRow] = []
    conflicting: dict[tuple[str, str], list[StockRow]] = {}
    for row in unleashed:
        at_warehouse = first_rows.setdefault(row.warehouse_code, {})
        first = at_warehouse.get(row.sku)
        if first is None:
            at_warehouse[row.sku] = row
            unique.append(row)
        elif not _same_quantity(first.available, row.available):
            conflicting.setdefault((row.sku, row.warehouse_code), [first]).append(row)
    del first_rows
    if conflicting:
        unique = [r for r in unique if (r.sku, r.warehouse_code) not in conflicting]
    for (sku, warehouse), rows in conflicting.items():
        if warehouse not in locations:
            plan.unmapped_rows += 1
            continue
        plan.items.append(
            Item(
                "stock",
                f"{sku}@{warehouse}",
                "fail",
                {"unleashed_available": [str(r.available) for r in rows]},
                error=f"Unleashed StockOnHand lists {sku} at {warehouse} {len(rows)} times with "
                "different AvailableQty; nothing written, re-run to read it again",
            )
        )
    return unique, set(conflicting)


def _same_quantity(a: Decimal, b: Decimal) -> bool:
    """Equal, with NaN equal to NaN (a row listed twice as NaN is one bad row, not a clash)."""
    if a.is_nan() or b.is_nan():
        return a.is_nan() and b.is_nan()
    return a == b


def _check_locations(locations: Mapping[str, str]) -> None:
    warehouses_by_location: dict[str, list[str]] = defaultdict(list)
    for warehouse, gid in locations.items():
        warehouses_by_location[gid].append(warehouse)
    problems = [
        Problem(
            "inventory.locations",
            f"warehouses {', '.join(sorted(codes))} all map to {gid}",
            "map each warehouse to its own Shopify location",
        )
        for gid, codes in warehouses_by_location.items()
        if len(codes) > 1
    ]
    if problems:
        raise ConfigError(problems)


def split_not_in_shopify(
    rows: Iterable[StockRow], carries: Callable[[str], bool], linked: AbstractSet[str]
) -> tuple[list[Item], list[StockRow]]:
    """Rows whose SKU no Shopify variant carries become `unchanged` items noted "not in
    Shopify", so a raw material or a B2B-only product never makes a run fail; the rest go on
    to the plan. A SKU the products job linked stays: Shopify lost a product it should have,
    and the plan holds it. `carries` says whether some Shopify variant carries a SKU."""
    items: list[Item] = []
    kept: list[StockRow] = []
    for row in rows:
        if row.sku in linked or carries(row.sku):
            kept.append(row)
            continue
        items.append(
            Item(
                "stock",
                f"{row.sku}@{row.warehouse_code}",
                "unchanged",
                {"unleashed_available": str(row.available), "note": NOT_IN_SHOPIFY},
            )
        )
    return items, kept


# --- writes ----------------------------------------------------------------------------------


def batches(
    sets: Sequence[SetQuantity], size: int = SHOPIFY_BATCH_LIMIT
) -> list[list[SetQuantity]]:
    """Split the sets into calls of at most `size` quantities (Shopify caps inputs at 250)."""
    if not 1 <= size <= SHOPIFY_BATCH_LIMIT:
        raise ValueError(f"batch size must be between 1 and {SHOPIFY_BATCH_LIMIT}, got {size}")
    return [list(sets[start : start + size]) for start in range(0, len(sets), size)]


def mutation_input(
    batch: Sequence[SetQuantity], *, reason: str = "correction", reference_uri: str
) -> dict[str, Any]:
    """The `InventorySetQuantitiesInput` for one call; send it as `{"input": ...}`.

    `changeFromQuantity` is the level just read, so Shopify refuses the write
    (CHANGE_FROM_QUANTITY_STALE) if an order changed it meanwhile.
    """
    if reason not in SET_QUANTITY_REASONS:
        raise ValueError(
            f"reason {reason!r} is not one Shopify accepts; use one of "
            f"{', '.join(sorted(SET_QUANTITY_REASONS))}"
        )
    if not batch:
        raise ValueError("an inventorySetQuantities call needs at least one quantity")
    if len(batch) > SHOPIFY_BATCH_LIMIT:
        raise ValueError(
            f"{len(batch)} quantities in one call; Shopify takes at most {SHOPIFY_BATCH_LIMIT}: "
            "split them with batches()"
        )
    pairs = [(s.inventory_item_id, s.location_gid) for s in batch]
    if len(set(pairs)) != len(pairs):
        raise ValueError("the batch sets one inventory item at one location twice")
    return {
        "name": "available",
        "reason": reason,
        "referenceDocumentUri": reference_uri,
        "quantities": [
            {
                "inventoryItemId": s.inventory_item_id,
                "locationId": s.location_gid,
                "quantity": s.quantity,
                "changeFromQuantity": s.change_from,
            }
            for s in batch
        ],
    }


def refused_rows(errors: Iterable[Any], size: int) -> dict[int, Mapping[str, Any]] | None:
    """The rows of a refused `inventorySetQuantities` call of `size` quantities that Shopify
    named, by index (the first error naming each), or None when some error names no row.

    Shopify refuses the whole call when any quantity is wrong, and each userError's `field`
    is the path to what it refused: `["input", "quantities", "3", "inventoryItemId"]` names
    row 3. Rows it did not name were not wrong, only refused with the rest, so the caller can
    send them again; an error on the input as a whole (`["input", "reason"]`) refuses every
    row alike, and None says so.
    """
    named: dict[int, Mapping[str, Any]] = {}
    for error in errors:
        if not isinstance(error, Mapping):
            return None
        index = _quantity_index(error.get("field"))
        if index is None or not 0 <= index < size:
            return None
        named.setdefault(index, error)
    return named or None


def _quantity_index(path: Any) -> int | None:
    """The row a userError's `field` path names under `quantities` (a digit string, or an
    int), or None."""
    if not isinstance(path, Sequence) or isinstance(path, str):
        return None
    parts = list(path)
    for position, part in enumerate(parts[:-1]):
        if part == "quantities":
            index = parts[position + 1]
            if isinstance(index, int) and not isinstance(index, bool):
                return index
            if isinstance(index, str) and index.isdigit():
                return int(index)
            return None
    return None


def refusal_message(error: Mapping[str, Any]) -> str:
    """Shopify's own words for a refused row, with its code."""
    message = str(error.get("message") or "refused")
    code = error.get("code")
    return f"Shopify refused this level: {message}" + (f" [{code}]" if code else "")


def after_stale(quantity: SetQuantity, current: int) -> tuple[SetQuantity | None, int]:
    """What to send after Shopify refused `quantity` as stale because the level moved from
    `quantity.change_from` to `current` meanwhile: (the set to send, or None when the level
    is already at the new target; the new target).

    Units Shopify took in between are sales the plan did not see, so the target drops by them
    and nothing is oversold. Units it gained (a manual edit, a restock) are not added:
    Unleashed is the master, and the next full run corrects such an edit.
    """
    delta = current - quantity.change_from
    target = max(0, quantity.quantity + min(0, delta))
    if current == target:
        return None, target
    fresh = SetQuantity(
        quantity.inventory_item_id, quantity.location_gid, target, current, quantity.key
    )
    return fresh, target


def safety_check(
    plan: InventoryPlan,
    *,
    max_changes: int,
    force: bool,
    unleashed_rows: int | None,
    linked_count: int,
) -> str | None:
    """Why the plan must not be written without --force, or None when it may be.

    `unleashed_rows` is how many StockOnHand rows a full read returned; pass None for an
    incremental read, where an empty answer just means nothing changed.
    """
    if force:
        return None
    if unleashed_rows == 0 and linked_count > 0:
        return (
            f"safety stop: Unleashed StockOnHand listed no stock while {linked_count} products "
            "are linked; nothing was written. If Unleashed really has no stock, re-run with "
            "--force."
        )
    if len(plan.sets) > max_changes:
        return (
            f"safety stop: the inventory plan changes {len(plan.sets)} levels, more than "
            f"inventory.max_changes ({max_changes}); nothing was written. Check it with "
            "--dry-run, then re-run with --force to apply it."
        )
    return None
