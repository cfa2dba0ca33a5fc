"""Shopify refund -> Unleashed free credit note (`refunds: credit_note`), pure.

`POST /CreditNotes/FreeCredit` is thinly documented, so this payload shape is an ASSUMPTION
that follows Unleashed's sales-order naming; it is defined here and nowhere else (the sandbox
imports the key constants below). Exact payload keys:

    Guid, CreditDate ("yyyy-MM-ddTHH:mm:ss" UTC), CustomerRef (the reference, see
    `credit_reference`), Comments, Customer {CustomerCode}, Warehouse {WarehouseCode},
    Currency {CurrencyCode}, ExchangeRate, Tax {TaxCode, TaxRate}, TaxRate,
    CreditLines [ {LineNumber, Product {ProductCode}, CreditQuantity, CreditPrice,
                   DiscountRate, LineTotal, LineTax, TaxRate} ],
    SubTotal, TaxTotal, Total

Refunded shipping is a line with `"LineType": "Charge"` and `Product {ProductDescription}`
(or, with `shipping.mode: product`, a product line for `shipping.product_code`).
Amounts follow the totals rule (syncer/money.py): CreditPrice is tax-exclusive, up to 4
decimal places, priced like sales-order lines (mapping.price_line).

Assumption on Shopify's side: `RefundLineItem.subtotalSet` and
`RefundShippingLine.subtotalAmountSet` are in the order's own pricing, i.e. tax-inclusive when
`taxesIncluded` is true, like the line prices; they are converted with the line's tax rate.
A refund with no refunded lines or shipping (an amount-only refund) cannot be itemised and is
a MappingError: credit it by hand.

Currency follows the sales order's rule: amounts in shop or presentment money per
`orders.currency`, `Currency` that money's currency, `ExchangeRate` given by the caller. A
refunded line without a SKU is a charge line (its title) when `lines_without_sku: charge`,
as it was on the sales order; otherwise it cannot be credited here.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from syncer.money import order_totals
from syncer.orders.mapping import (
    COMMENTS_MAX,
    MappingError,
    OrderSettings,
    PricedLine,
    charge_description,
    credit_note_guid,
    money,
    most_common_rate,
    nodes,
    order_currency,
    order_date,
    price_line,
    required,
    required_bool,
    required_int,
    required_str,
    shipping_line,
    tax_rate_of,
    text,
)

__all__ = [
    "LINES_KEY",
    "PRICE_KEY",
    "QUANTITY_KEY",
    "REFERENCE_KEY",
    "credit_note_guid",
    "credit_reference",
    "map_free_credit",
]

LINES_KEY = "CreditLines"
QUANTITY_KEY = "CreditQuantity"
PRICE_KEY = "CreditPrice"
REFERENCE_KEY = "CustomerRef"


def credit_reference(order_name: str, refund_gid: str) -> str:
    """The reference a credit note carries, e.g. "#1001 refund 998877"; syncer looks for it
    before re-posting after an ambiguous failure, so its format must stay fixed."""
    return f"{order_name} refund {refund_gid.rsplit('/', 1)[-1]}"


def _line_rates(order: Mapping[str, Any]) -> dict[str, Decimal]:
    """Tax rate per Shopify line item id, as the sales order mapping derives it."""
    rates = {}
    for index, item in enumerate(nodes(order, "lineItems", "order")):
        where = f"order.lineItems[{index}]"
        taxable = bool(item.get("taxable", True))
        rates[required_str(item, "id", where)] = tax_rate_of(item, where, taxable=taxable)
    return rates


def map_free_credit(
    refund: Mapping[str, Any],
    order: Mapping[str, Any],
    settings: OrderSettings,
    *,
    guid: str,
    customer_code: str,
    tax_rate_by_sku: Mapping[str, Decimal] | None = None,
    exchange_rate: Decimal = Decimal(1),
) -> dict[str, Any]:
    """The `POST /CreditNotes/FreeCredit` body for one refund of a sent order.

    A line's tax rate comes from the order's line item (its taxLines), else from
    `tax_rate_by_sku`, else 0 when the refund line carries no tax; otherwise MappingError.
    """
    if not isinstance(refund, Mapping) or not isinstance(order, Mapping):
        raise MappingError("refund and order must be objects")
    refund_id = required_str(refund, "id", "refund")
    name = required_str(order, "name", "order")
    taxes_included = required_bool(order, "taxesIncluded", "order")
    currency = order_currency(order, settings)
    half = settings.money_bag
    rates = _line_rates(order)

    lines: list[dict[str, Any]] = []
    priced: list[PricedLine] = []
    for index, item in enumerate(nodes(refund, "refundLineItems", "refund", need=False)):
        where = f"refund.refundLineItems[{index}]"
        quantity = required_int(item, "quantity", where)
        if quantity == 0:
            continue
        line_item = required(item, "lineItem", where)
        line_id = required_str(line_item, "id", f"{where}.lineItem")
        sku = text(line_item, "sku")
        if sku is None and settings.lines_without_sku != "charge":
            raise MappingError(
                f"{where}.lineItem.sku is missing (custom item {line_id}); "
                "a credit line needs a product code, so credit this refund by hand"
            )
        amount = money(item, "subtotalSet", where, half)
        refunded_tax = money(item, "totalTaxSet", where, half)
        rate = _rate_for(line_id, sku or line_id, rates, tax_rate_by_sku, refunded_tax)
        head: dict[str, Any]
        if sku is None:
            title = text(line_item, "title") or text(line_item, "name") or line_id
            line = price_line(1, amount, rate, taxes_included=taxes_included)
            head = {
                "LineType": "Charge",
                "Product": {"ProductDescription": charge_description(title, quantity)},
                QUANTITY_KEY: 1,
            }
        else:
            line = price_line(quantity, amount, rate, taxes_included=taxes_included)
            head = {"Product": {"ProductCode": sku}, QUANTITY_KEY: quantity}
        priced.append(line)
        lines.append(
            {
                "LineNumber": len(lines) + 1,
                **head,
                PRICE_KEY: line.unit_price,
                "DiscountRate": Decimal(0),
                "LineTotal": line.line_total,
                "LineTax": line.line_tax,
                "TaxRate": rate,
            }
        )

    for index, ship in enumerate(nodes(refund, "refundShippingLines", "refund", need=False)):
        where = f"refund.refundShippingLines[{index}]"
        amount = money(ship, "subtotalAmountSet", where, half)
        if amount == 0:
            continue
        shipping = required(ship, "shippingLine", where)
        rate = tax_rate_of(shipping, f"{where}.shippingLine")
        if rate == 0 and money(ship, "taxAmountSet", where, half) != 0:
            raise MappingError(
                f"{where}.shippingLine.taxLines give no rate but tax was refunded; "
                "query shippingLine { taxLines { rate } }"
            )
        line = price_line(1, amount, rate, taxes_included=taxes_included)
        priced.append(line)
        lines.append(
            shipping_line(len(lines) + 1, shipping, line, settings, QUANTITY_KEY, PRICE_KEY)
        )

    if not lines:
        raise MappingError(
            f"refund {refund_id} of {name} refunds no lines or shipping (an amount-only "
            "refund); it cannot be itemised as a credit note, credit it by hand"
        )
    sub_total, tax_total, total = order_totals([(p.line_total, p.line_tax) for p in priced])
    header_rate = most_common_rate([p.tax_rate for p in priced])
    note = text(refund, "note")
    comments = f"Shopify refund {refund_id} of order {name}"
    if note:
        comments = f"{comments}; note: {note}"
    return {
        "Guid": guid,
        "CreditDate": order_date(
            {"createdAt": refund.get("createdAt") or order.get("processedAt")}
        ),
        REFERENCE_KEY: credit_reference(name, refund_id),
        "Comments": comments[:COMMENTS_MAX],
        "Customer": {"CustomerCode": customer_code},
        "Warehouse": {"WarehouseCode": settings.warehouse},
        "Currency": {"CurrencyCode": currency},
        "ExchangeRate": exchange_rate,
        "Tax": {"TaxCode": settings.tax_code, "TaxRate": header_rate},
        "TaxRate": header_rate,
        LINES_KEY: lines,
        "SubTotal": sub_total,
        "TaxTotal": tax_total,
        "Total": total,
    }


def _rate_for(
    line_id: str,
    sku: str,
    rates: Mapping[str, Decimal],
    by_sku: Mapping[str, Decimal] | None,
    refunded_tax: Decimal,
) -> Decimal:
    if line_id in rates:
        return rates[line_id]
    if by_sku is not None and sku in by_sku:
        return by_sku[sku]
    if refunded_tax == 0:
        return Decimal(0)
    raise MappingError(
        f"no tax rate for refunded line {line_id} (sku {sku}): it is not among the order's "
        "lineItems; fetch all line items or pass tax_rate_by_sku"
    )


def with_shipping_tax(order: dict[str, Any]) -> None:
    """A refunded shipping line comes back as `shippingLine {id title}`; its tax rate (which
    a credit note needs) is on the order's own shipping line, read already: copy it over."""
    by_id = {str(line.get("id")): line for line in _dict_nodes(order.get("shippingLines"))}
    for refund in order.get("refunds") or []:
        if not isinstance(refund, Mapping):
            continue
        for node in _dict_nodes(refund.get("refundShippingLines")):
            line = node.get("shippingLine")
            if not isinstance(line, dict) or "taxLines" in line:
                continue
            source = by_id.get(str(line.get("id")))
            if source is not None:
                node["shippingLine"] = {**source, **line, "taxLines": source.get("taxLines")}


def _dict_nodes(value: Any) -> list[dict[str, Any]]:
    """The nodes of a connection (`{"nodes": [...]}`) or a plain list; dicts only."""
    items = value.get("nodes") if isinstance(value, Mapping) else value
    return [item for item in items or [] if isinstance(item, dict)]
