"""One Shopify order, one Unleashed sales order per warehouse that ships it, pure.

With `orders.warehouse_by_location: true` each line goes to the warehouse that
`inventory.locations` maps to the Shopify location its fulfilment order is assigned to; a POS
order (one with a `retailLocation`) goes whole to its retail location's warehouse; a location
that no warehouse maps to, or a line in no fulfilment order, falls back to `orders.warehouse`.

Decisions, stated once:
- A line that Shopify split over fulfilment orders at several locations goes whole to the
  warehouse holding most of its units (ties: the warehouse first in `inventory.locations`):
  Unleashed cannot split one sales-order line, and the rest of syncer (after-import events,
  refunds) keys everything by Shopify line.
- An order whose lines all land in one warehouse is one sales order exactly as without the
  option (same Guid, same OrderNumber), only its warehouse differs.
- Otherwise there is one sales order per warehouse, ordered as `inventory.locations` lists the
  warehouses (an unlisted fallback warehouse last). Each has its own Guid (uuid5 of the shop,
  the order's GID and the warehouse code) and `OrderNumber` = the usual number + "-" + code.
  A number longer than Unleashed's 20 characters is a MappingError (the order fails, naming the
  fix: a shorter prefix or warehouse code), never a silently cut number that could collide.
- Shipping lines go on the first sales order. Lines keep their priced amounts, so the sales
  orders' totals (each following the totals rule) add up to the whole order's mapped totals,
  and any cent between those and Shopify's total stays recorded once, on the order's item.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from syncer.money import order_totals
from syncer.orders.mapping import (
    ORDER_NUMBER_MAX,
    SALES_ORDER_NAMESPACE,
    MappedOrder,
    MappingError,
    _shop_key,
    most_common_rate,
)
from syncer.shapes import connection_nodes

_IGNORED_FULFILLMENT_ORDER_STATUSES = frozenset({"CANCELLED"})


def split_sales_order_guid(shop: str, order_gid: str, warehouse: str) -> str:
    """The Guid of the sales order of one warehouse's share of a split order."""
    key = f"{_shop_key(shop)}|{order_gid}|{warehouse.strip().upper()}"
    return str(uuid.uuid5(SALES_ORDER_NAMESPACE, key))


@dataclass(frozen=True)
class WarehouseRules:
    """Which warehouse ships what: Shopify location gid -> warehouse code (from
    `inventory.locations`, names already resolved to gids), the fallback (`orders.warehouse`)
    and the warehouses in `inventory.locations` order (shipping goes on the first present)."""

    by_location: Mapping[str, str]
    default: str
    order: tuple[str, ...] = ()

    def rank(self, warehouse: str) -> tuple[int, str]:
        listed = self.order.index(warehouse) if warehouse in self.order else len(self.order)
        return (listed, warehouse)

    def warehouse_of(self, location_gid: str | None) -> str:
        if not location_gid:
            return self.default
        return self.by_location.get(location_gid, self.default)


def line_warehouses(order: Mapping[str, Any], rules: WarehouseRules) -> dict[str, str]:
    """Shopify line item id -> the warehouse code that ships it (see the module's rules)."""
    line_ids = [
        str(line["id"])
        for line in connection_nodes(order.get("lineItems"))
        if isinstance(line, Mapping) and line.get("id")
    ]
    retail = order.get("retailLocation")
    if isinstance(retail, Mapping) and retail.get("id"):
        warehouse = rules.warehouse_of(str(retail["id"]))
        return dict.fromkeys(line_ids, warehouse)
    units: dict[str, dict[str, int]] = {}
    for fulfillment_order in connection_nodes(order.get("fulfillmentOrders")):
        if fulfillment_order.get("status") in _IGNORED_FULFILLMENT_ORDER_STATUSES:
            continue
        location = (fulfillment_order.get("assignedLocation") or {}).get("location") or {}
        warehouse = rules.warehouse_of(str(location.get("id") or ""))
        for fo_line in connection_nodes(fulfillment_order.get("lineItems")):
            line_id = str((fo_line.get("lineItem") or {}).get("id") or "")
            if not line_id:
                continue
            count = fo_line.get("totalQuantity")
            quantity = int(count) if isinstance(count, int) and count > 0 else 1
            share = units.setdefault(line_id, {})
            share[warehouse] = share.get(warehouse, 0) + quantity
    result: dict[str, str] = {}
    for line_id in line_ids:
        counts = units.get(line_id) or {}
        if not counts:
            result[line_id] = rules.default
            continue
        result[line_id] = min(counts, key=lambda code: (-counts[code], rules.rank(code)))
    return result


def split_order_number(number: str, warehouse: str) -> str:
    """`OrderNumber` of one warehouse's sales order; MappingError when over 20 characters."""
    split = f"{number}-{warehouse}"
    if len(split) > ORDER_NUMBER_MAX:
        raise MappingError(
            f"OrderNumber {split!r} (the order number + '-' + warehouse code {warehouse}, for an "
            f"order split over several warehouses) is longer than Unleashed's {ORDER_NUMBER_MAX} "
            "characters; shorten orders.order_number_prefix or the warehouse code"
        )
    return split


def split_sales_order(
    mapped: MappedOrder,
    warehouses: Mapping[str, str],
    rules: WarehouseRules,
    *,
    shop: str,
    order_gid: str,
) -> list[MappedOrder]:
    """The sales orders to send for a mapped order, first (the one carrying shipping) first.

    `warehouses` is `line_warehouses`' answer; a payload line whose Shopify line is not in it
    goes to the fallback warehouse."""
    sources = mapped.line_sources
    lines = mapped.payload.get("SalesOrderLines") or []
    if len(sources) != len(lines):
        raise MappingError("the mapped order does not say which Shopify line each line came from")
    used = {warehouses.get(source, rules.default) for source in sources if source}
    ordered = sorted(used or {rules.default}, key=rules.rank)
    if len(ordered) == 1:
        return [_in_warehouse(mapped, ordered[0])]
    first = ordered[0]
    groups: dict[str, list[tuple[dict[str, Any], str]]] = {code: [] for code in ordered}
    for line, source in zip(lines, sources, strict=True):
        code = warehouses.get(source, rules.default) if source else first
        groups[code].append((line, source))
    number = str(mapped.payload.get("OrderNumber") or "")
    return [
        _part(
            mapped,
            code,
            groups[code],
            guid=split_sales_order_guid(shop, order_gid, code),
            number=split_order_number(number, code),
        )
        for code in ordered
    ]


def _in_warehouse(mapped: MappedOrder, warehouse: str) -> MappedOrder:
    payload = {**mapped.payload, "Warehouse": {"WarehouseCode": warehouse}}
    return dataclasses.replace(mapped, payload=payload, warehouse=warehouse)


def _part(
    mapped: MappedOrder,
    warehouse: str,
    entries: Sequence[tuple[dict[str, Any], str]],
    *,
    guid: str,
    number: str,
) -> MappedOrder:
    """One warehouse's sales order: its lines renumbered, its own totals and header rate.

    Its `shopify_total` is its own total: Shopify has no per-warehouse total, so the cents
    between Shopify's and Unleashed's totals are recorded once, for the whole order."""
    lines = [{**line, "LineNumber": index} for index, (line, _) in enumerate(entries, start=1)]
    sub_total, tax_total, total = order_totals([(ln["LineTotal"], ln["LineTax"]) for ln in lines])
    rate = most_common_rate([ln["TaxRate"] for ln in lines])
    payload = {
        **mapped.payload,
        "Guid": guid,
        "OrderNumber": number,
        "Warehouse": {"WarehouseCode": warehouse},
        "Tax": {**(mapped.payload.get("Tax") or {}), "TaxRate": rate},
        "TaxRate": rate,
        "SalesOrderLines": lines,
        "SubTotal": sub_total,
        "TaxTotal": tax_total,
        "Total": total,
    }
    sources = tuple(source for _, source in entries)
    codes: list[str] = []
    for line in lines:
        code = (line.get("Product") or {}).get("ProductCode")
        if code and code not in codes and code in mapped.skus:
            codes.append(str(code))
    return dataclasses.replace(
        mapped,
        guid=guid,
        payload=payload,
        skus=tuple(codes),
        missing_skus=(),
        shopify_total=total,
        unleashed_total=total,
        lines_snapshot={k: v for k, v in mapped.lines_snapshot.items() if k in sources},
        line_sources=sources,
        warehouse=warehouse,
    )


def refund_warehouse(
    refund: Mapping[str, Any], line_warehouses_sent: Mapping[str, str], default: str
) -> str:
    """The warehouse a refund of a split order is credited in: the one whose sales order had
    most of the refunded units (ties: the first refunded line's). A credit note has one
    warehouse, and returned goods go back to the warehouse that shipped them. A refund of
    shipping only, or of lines the split did not record, goes to `default` (the sales order
    that carried shipping)."""
    units: dict[str, int] = {}
    for item in connection_nodes(refund.get("refundLineItems")):
        line_id = str((item.get("lineItem") or {}).get("id") or "")
        warehouse = line_warehouses_sent.get(line_id)
        if warehouse is None:
            continue
        quantity = item.get("quantity")
        units[warehouse] = units.get(warehouse, 0) + (quantity if isinstance(quantity, int) else 0)
    if not units:
        return default
    return max(units, key=lambda code: units[code])  # max keeps the first of equal counts
