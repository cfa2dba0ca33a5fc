"""Consistent Shopify Order nodes (Admin API 2026-10 GraphQL shape) for the order tests.

Totals are built the way Shopify builds them: tax per line rounded to cents; for tax-inclusive
orders the total is the sum of the inclusive line amounts plus shipping, for tax-exclusive
orders lines + shipping + their taxes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from syncer.money import cents

D = Decimal
GST = D("0.15")
ZERO = D(0)


def bag(amount: Decimal | str) -> dict[str, Any]:
    return {"shopMoney": {"amount": str(amount), "currencyCode": "NZD"}}


def shopify_tax(amount: Decimal, rate: Decimal, taxes_included: bool) -> Decimal:
    if taxes_included:
        return cents(amount * rate / (1 + rate))
    return cents(amount * rate)


def tax_lines(amount: Decimal, rate: Decimal, taxes_included: bool) -> list[dict[str, Any]]:
    if rate == 0:
        return []
    return [
        {
            "rate": float(rate),
            "title": "GST",
            "priceSet": bag(shopify_tax(amount, rate, taxes_included)),
        }
    ]


@dataclass
class LineSpec:
    sku: str | None
    quantity: int
    unit_price: Decimal  # original unit price in the order's pricing
    rate: Decimal = GST
    discount: Decimal = ZERO  # fraction taken off each unit
    current: int | None = None  # currentQuantity; defaults to quantity
    taxable: bool | None = None
    line_id: str | None = None

    @property
    def discounted_unit(self) -> Decimal:
        return cents(self.unit_price * (1 - self.discount))


@dataclass
class ShipSpec:
    price: Decimal
    rate: Decimal = GST
    title: str = "Standard"


@dataclass
class OrderSpec:
    lines: list[LineSpec]
    taxes_included: bool = False
    shipping: list[ShipSpec] = field(default_factory=list)
    name: str = "#1001"
    gid: str = "gid://shopify/Order/1001"
    status: str = "PAID"


def line_node(spec: LineSpec, index: int, taxes_included: bool) -> dict[str, Any]:
    current = spec.quantity if spec.current is None else spec.current
    amount = current * spec.discounted_unit
    taxable = spec.rate > 0 if spec.taxable is None else spec.taxable
    return {
        "id": spec.line_id or f"gid://shopify/LineItem/{index + 1}",
        "sku": spec.sku,
        "name": f"Item {index + 1}",
        "title": f"Item {index + 1}",
        "variantTitle": None,
        "quantity": spec.quantity,
        "currentQuantity": current,
        "taxable": taxable,
        "originalUnitPriceSet": bag(spec.unit_price),
        "discountedUnitPriceAfterAllDiscountsSet": bag(spec.discounted_unit),
        "taxLines": tax_lines(amount, spec.rate, taxes_included) if taxable else [],
    }


def shipping_node(spec: ShipSpec, taxes_included: bool) -> dict[str, Any]:
    return {
        "title": spec.title,
        "code": spec.title.upper(),
        "originalPriceSet": bag(spec.price),
        "discountedPriceSet": bag(spec.price),
        "taxLines": tax_lines(spec.price, spec.rate, taxes_included),
    }


def shopify_total(spec: OrderSpec) -> Decimal:
    """The order total as Shopify computes it."""
    total = D(0)
    for line in spec.lines:
        current = line.quantity if line.current is None else line.current
        amount = current * line.discounted_unit
        taxed = line.rate > 0 if line.taxable is None else line.taxable
        total += amount
        if taxed and not spec.taxes_included:
            total += shopify_tax(amount, line.rate, False)
    for ship in spec.shipping:
        total += ship.price
        if not spec.taxes_included:
            total += shopify_tax(ship.price, ship.rate, False)
    return total


def order_node(spec: OrderSpec, **overrides: Any) -> dict[str, Any]:
    total = shopify_total(spec)
    node: dict[str, Any] = {
        "id": spec.gid,
        "name": spec.name,
        "createdAt": "2026-11-01T09:00:00Z",
        "updatedAt": "2026-11-01T09:05:00Z",
        "processedAt": "2026-11-01T09:00:30+13:00",
        "cancelledAt": None,
        "edited": False,
        "test": False,
        "displayFinancialStatus": spec.status,
        "currencyCode": "NZD",
        "taxesIncluded": spec.taxes_included,
        "email": " Aroha.Ngata@Example.com ",
        "phone": None,
        "note": None,
        "customer": {
            "firstName": "Aroha",
            "lastName": "Ngata",
            "displayName": "Aroha Ngata",
            "defaultEmailAddress": {"emailAddress": "aroha.ngata@example.com"},
        },
        "shippingAddress": {
            "name": "Aroha Ngata",
            "firstName": "Aroha",
            "lastName": "Ngata",
            "company": None,
            "address1": "15 Ray St",
            "address2": None,
            "city": "Kaitaia",
            "province": "Northland",
            "provinceCode": "NTL",
            "zip": "0410",
            "country": "New Zealand",
            "countryCodeV2": "NZ",
            "phone": None,
        },
        "billingAddress": None,
        "totalPriceSet": bag(total),
        "currentTotalPriceSet": bag(total),
        "lineItems": {
            "nodes": [line_node(s, i, spec.taxes_included) for i, s in enumerate(spec.lines)]
        },
        "shippingLines": {"nodes": [shipping_node(s, spec.taxes_included) for s in spec.shipping]},
        "refunds": [],
    }
    node.update(overrides)
    return node


def refund_node(
    refund_id: str,
    lines: list[tuple[dict[str, Any], int, Decimal, Decimal]],
    shipping: Sequence[tuple[dict[str, Any], Decimal, Decimal]] = (),
    restock_type: str = "RETURN",
    taxes_included: bool = False,
) -> dict[str, Any]:
    """A Refund node: lines as (lineItem node, quantity, subtotal, tax); shipping as
    (shipping line node, subtotal, tax). Subtotals are in the order's own pricing."""
    amounts = [(s, t) for _, _, s, t in lines] + [(s, t) for _, s, t in shipping]
    # Subtotals are in the order's pricing: tax is on top only for tax-exclusive orders.
    total = sum((s if taxes_included else s + t for s, t in amounts), D(0))
    return {
        "id": refund_id,
        "createdAt": "2026-11-03T10:00:00Z",
        "note": "customer return",
        "totalRefundedSet": bag(total),
        "refundLineItems": {
            "nodes": [
                {
                    "quantity": qty,
                    "restockType": restock_type,
                    "lineItem": {"id": item["id"], "sku": item["sku"]},
                    "priceSet": bag(cents(subtotal / qty)),
                    "subtotalSet": bag(subtotal),
                    "totalTaxSet": bag(tax),
                }
                for item, qty, subtotal, tax in lines
            ]
        },
        "refundShippingLines": {
            "nodes": [
                {
                    "id": f"{refund_id}/shipping/{n}",
                    "shippingLine": ship,
                    "subtotalAmountSet": bag(subtotal),
                    "taxAmountSet": bag(tax),
                }
                for n, (ship, subtotal, tax) in enumerate(shipping)
            ]
        },
    }
