"""What happened to an order in Shopify after it was sent to Unleashed, pure.

Sent orders are never re-sent. Later edits, cancellations and refunds are reported once each
as report items (`conflict`, `cancelled`, `refund`) so someone can act in Unleashed:
- `cancelled` (key "cancelled") once the order has `cancelledAt`. A cancelled order gets no
  `conflict`: the cancellation explains its quantity changes.
- `refund` (key "refund:<refund gid>") per refund that did not exist when the order was sent
  (refunds present then are already reflected in the sent quantities).
- `conflict` (key "conflict:<digest>") when the order was edited after sending or a line's
  `currentQuantity` (or discounted unit price) differs from what was sent, after allowing for
  units refunded since. The digest covers only the unexplained difference, so the same edit
  is reported once, a further edit again, and a later refund does not re-report an edit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from typing import Any, Literal

from syncer.money import to_decimal
from syncer.orders.mapping import (
    MappedOrder,
    MappingError,
    money,
    nodes,
    refunded_quantities,
    required,
    required_int,
    required_str,
    text,
)
from syncer.report import Item


@dataclass(frozen=True)
class SentSnapshot:
    """What was sent for one order: per Shopify line id, the mapping's `lines_snapshot` entry
    (sku, quantity, unit_price, shopify_unit_price, refunded), plus the refunds and the
    `edited` flag as they were at sending time. JSON round-trips through to_json/from_json."""

    lines: dict[str, dict[str, Any]]
    refund_ids: tuple[str, ...] = ()
    edited: bool = False

    @classmethod
    def from_mapped(cls, mapped: MappedOrder) -> SentSnapshot:
        return cls(dict(mapped.lines_snapshot), mapped.refund_ids, mapped.edited)

    def to_json(self) -> dict[str, Any]:
        return {"lines": self.lines, "refund_ids": list(self.refund_ids), "edited": self.edited}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SentSnapshot:
        lines = data.get("lines")
        if not isinstance(lines, Mapping):
            raise ValueError("sent snapshot has no 'lines' object; it was not written by syncer")
        return cls(
            lines={str(k): dict(v) for k, v in lines.items()},
            refund_ids=tuple(data.get("refund_ids") or ()),
            edited=bool(data.get("edited")),
        )


@dataclass(frozen=True)
class OrderEvent:
    """One thing to report about a sent order; `key` de-duplicates it across runs."""

    entity: Literal["order", "refund"]
    action: Literal["conflict", "cancelled", "refund"]
    key: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_item(self, order_name: str) -> Item:
        """The report item: keyed by the order name (as every order item is), the event key in
        detail."""
        return Item(
            entity=self.entity,
            key=order_name,
            action=self.action,
            detail={"event": self.key, **self.detail},
        )


def detect_events(
    order: Mapping[str, Any], sent: SentSnapshot, reported: Set[str]
) -> list[OrderEvent]:
    """Events for `order` not yet in `reported` (keys), in order: cancelled, refunds, conflict."""
    if not isinstance(order, Mapping):
        raise MappingError("order is not an object")
    events: list[OrderEvent] = []
    cancelled_at = order.get("cancelledAt")
    if cancelled_at and "cancelled" not in reported:
        events.append(
            OrderEvent(
                "order",
                "cancelled",
                "cancelled",
                {"cancelled_at": cancelled_at, "reason": order.get("cancelReason")},
            )
        )
    for index, refund in enumerate(nodes(order, "refunds", "order")):
        refund_id = required_str(refund, "id", f"order.refunds[{index}]")
        key = f"refund:{refund_id}"
        if refund_id in sent.refund_ids or key in reported:
            continue
        events.append(OrderEvent("refund", "refund", key, refund_detail(refund, index)))
    if not cancelled_at:
        conflict = _conflict(order, sent)
        if conflict is not None and conflict.key not in reported:
            events.append(conflict)
    return events


def refund_detail(refund: Mapping[str, Any], index: int = 0) -> dict[str, Any]:
    """The refund's lines, shipping and total, as report detail (amounts as strings)."""
    where = f"order.refunds[{index}]"
    lines = []
    for i, item in enumerate(nodes(refund, "refundLineItems", where, need=False)):
        item_where = f"{where}.refundLineItems[{i}]"
        line_item = required(item, "lineItem", item_where)
        lines.append(
            {
                "line_id": required_str(line_item, "id", f"{item_where}.lineItem"),
                "sku": text(line_item, "sku"),
                "quantity": required_int(item, "quantity", item_where),
                "restock_type": item.get("restockType"),
                "subtotal": str(money(item, "subtotalSet", item_where)),
                "tax": str(money(item, "totalTaxSet", item_where)),
            }
        )
    shipping = []
    for i, ship in enumerate(nodes(refund, "refundShippingLines", where, need=False)):
        ship_where = f"{where}.refundShippingLines[{i}]"
        shipping.append(
            {
                "title": text(ship.get("shippingLine"), "title"),
                "subtotal": str(money(ship, "subtotalAmountSet", ship_where)),
                "tax": str(money(ship, "taxAmountSet", ship_where)),
            }
        )
    return {
        "refund_id": required_str(refund, "id", where),
        "created_at": refund.get("createdAt"),
        "note": refund.get("note"),
        "lines": lines,
        "shipping": shipping,
        "total": str(money(refund, "totalRefundedSet", where)),
    }


def _conflict(order: Mapping[str, Any], sent: SentSnapshot) -> OrderEvent | None:
    """A conflict event when the order differs from what was sent beyond its refunds."""
    refunded_now = refunded_quantities(order)
    current: dict[str, Mapping[str, Any]] = {}
    for index, item in enumerate(nodes(order, "lineItems", "order")):
        current[required_str(item, "id", f"order.lineItems[{index}]")] = item
    differences: list[dict[str, Any]] = []
    for index, (line_id, item) in enumerate(current.items()):
        where = f"order.lineItems[{index}]"
        quantity = required_int(item, "currentQuantity", where)
        was = sent.lines.get(line_id)
        if was is None:
            if quantity > 0:
                differences.append(
                    {
                        "line_id": line_id,
                        "sku": text(item, "sku"),
                        "change": "added",
                        "sent": 0,
                        "current": quantity,
                    }
                )
            continue
        refunded_since = max(0, refunded_now.get(line_id, 0) - int(was.get("refunded", 0)))
        expected = max(0, int(was.get("quantity", 0)) - refunded_since)
        if quantity != expected:
            differences.append(
                {
                    "line_id": line_id,
                    "sku": was.get("sku"),
                    "change": "removed" if quantity == 0 else "quantity",
                    "sent": int(was.get("quantity", 0)),
                    "refunded_since": refunded_since,
                    "expected": expected,
                    "current": quantity,
                }
            )
        sent_unit = was.get("shopify_unit_price")
        if sent_unit is not None and quantity > 0:
            unit_now = money(item, "discountedUnitPriceAfterAllDiscountsSet", where)
            if unit_now != to_decimal(sent_unit, f"sent unit price of {line_id}"):
                differences.append(
                    {
                        "line_id": line_id,
                        "sku": was.get("sku"),
                        "change": "price",
                        "sent_unit_price": sent_unit,
                        "current_unit_price": str(unit_now),
                    }
                )
    for line_id, was in sent.lines.items():
        if line_id not in current:
            differences.append(
                {
                    "line_id": line_id,
                    "sku": was.get("sku"),
                    "change": "removed",
                    "sent": int(was.get("quantity", 0)),
                    "current": 0,
                }
            )
    edited_since = bool(order.get("edited")) and not sent.edited
    if not differences and not edited_since:
        return None
    digest_source = [
        (
            d["line_id"],
            d["change"],
            d.get("current", 0) - d.get("expected", d.get("sent", 0)),
            d.get("current_unit_price"),
        )
        for d in differences
    ]
    digest = hashlib.sha256(
        json.dumps([edited_since, sorted(digest_source, key=str)], default=str).encode()
    ).hexdigest()[:16]
    return OrderEvent(
        "order",
        "conflict",
        f"conflict:{digest}",
        {"edited": bool(order.get("edited")), "lines": differences},
    )
