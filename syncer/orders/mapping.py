"""Shopify order -> Unleashed sales order, as pure data.

Input is one Shopify `Order` node as the GraphQL Admin API 2026-10 returns it (plain dicts,
money as `{"shopMoney": {"amount": "12.30", "currencyCode": "NZD"}}`). Output is the exact JSON
body for `POST /SalesOrders/{guid}` plus what the caller needs to decide and to record.

Decisions and assumptions, kept here so they are stated once:
- Money values in payloads are `decimal.Decimal`; the Unleashed client serialises them as JSON
  numbers (never through float). Quantities are ints.
- `UnitPrice` carries up to 4 decimal places (assumed accepted by Unleashed; the totals rule
  rounds `OrderQuantity x UnitPrice` to cents anyway). 2 places are used when they suffice.
- Discounts are folded into unit prices (`discountedUnitPriceAfterAllDiscountsSet`);
  `DiscountRate` is always 0 (its semantics are unverified).
- A line's tax rate is the sum of its `taxLines[].rate` (else `ratePercentage` / 100; 0 when
  not taxable or without tax lines). Tax-inclusive prices become tax-exclusive by choosing the
  line total whose `LineTotal + round(LineTotal x rate, 2)` lands closest to Shopify's
  inclusive line amount.
- The order-level `TaxRate` (and `Tax.TaxRate`) is the most common rate among taxed lines
  (shipping included; ties go to the rate seen first), 0 when nothing is taxed; every line
  also carries its own `TaxRate`. `Tax.TaxCode` is always `orders.tax_code`.
- Shipping lines with a zero price after discounts are left out; removed ones (`isRemoved`)
  too.
- Lines without a SKU (custom items, tips, gift cards sold without one) hold the order
  (`lines_without_sku: hold`) or become charge lines (`charge`): quantity 1, the line's title
  (prefixed "3 x " for several units), its whole amount as the price and its own tax rate, the
  shape Unleashed itself returns for charges (`LineType: "Charge"`, no product code).
- Shopify has no field that marks a tip line: a SKU-less line that is not a gift card counts
  as the tip when the order received a tip (`totalTipReceivedSet`) and the line is titled
  "Tip" or its amount is exactly the tip received.
- Bundle components come as ordinary lines grouped by `lineItemGroup`; they map like any line
  and the item detail names the bundle each came from.
- Amounts are `shopMoney` (`orders.currency: shop`) or `presentmentMoney` (`presentment`), and
  `Currency` is that money's currency; the exchange rate is decided by the caller
  (orders/currency.py). What the after-import comparison keeps is always in shop money.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from syncer.money import CENT, cents, line_totals, order_totals, round_to, to_decimal

# uuid5(NAMESPACE_URL, "urn:syncer:<kind>"), frozen as literals: changing them would make
# syncer re-create every record it ever sent, so they must never change.
SALES_ORDER_NAMESPACE = uuid.UUID("4b570609-ad2e-58be-ad63-f4c10bb4b9b5")
CUSTOMER_NAMESPACE = uuid.UUID("62281293-ec40-58e0-8f62-a31478ab477c")
CREDIT_NOTE_NAMESPACE = uuid.UUID("77effa1c-ffba-5515-836b-d0aab9b67b36")

ORDER_NUMBER_MAX = 20  # Unleashed OrderNumber limit
CHARGE_DESCRIPTION_MAX = 255  # kept short: a charge's name shows on the invoice line
CUSTOMER_CODE_MAX = 20
COMMENTS_MAX = 2048
UNIT_PRICE_PLACES = 4
UNIT_PRICE_TICK = Decimal(1).scaleb(-UNIT_PRICE_PLACES)  # one step of the last unit-price place
CUSTOMER_CODE_PREFIX = "SH-"


class MappingError(ValueError):
    """One Shopify record cannot be mapped; the message names the field. Per-order, not fatal."""


# --- identifiers -------------------------------------------------------------------------


def _shop_key(shop: str) -> str:
    """Case and a trailing slash do not make a different shop."""
    return shop.strip().lower().rstrip("/")


def sales_order_guid(shop: str, order_gid: str) -> str:
    """The sales order Guid for a Shopify order: the same order always targets the same record."""
    return str(uuid.uuid5(SALES_ORDER_NAMESPACE, f"{_shop_key(shop)}|{order_gid}"))


def customer_guid(shop: str, email: str) -> str:
    """Guid for a customer syncer creates, so a retried create re-targets the same record."""
    return str(uuid.uuid5(CUSTOMER_NAMESPACE, f"{_shop_key(shop)}|{email.strip().lower()}"))


def credit_note_guid(shop: str, refund_gid: str) -> str:
    """Guid for the free credit note made from one Shopify refund."""
    return str(uuid.uuid5(CREDIT_NOTE_NAMESPACE, f"{_shop_key(shop)}|{refund_gid}"))


def customer_code_for(email: str, existing_codes: Collection[str] = ()) -> str:
    """A deterministic CustomerCode for an email: "SH-" + 10 hex digits of SHA-256(email).

    13 characters, well within Unleashed's 20. If that code is already taken (by another
    customer: the caller only asks after the email lookup found nobody), the email is hashed
    again with a counter ("email#1", "email#2", ...) until the code is free.
    """
    normalised = email.strip().lower()
    if not normalised:
        raise MappingError("cannot derive a customer code from an empty email")
    taken = {code.upper() for code in existing_codes}
    attempt = 0
    while True:
        source = normalised if attempt == 0 else f"{normalised}#{attempt}"
        digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:10].upper()
        code = f"{CUSTOMER_CODE_PREFIX}{digest}"
        if code not in taken:
            return code
        attempt += 1


# --- settings and selection ---------------------------------------------------------------


@dataclass(frozen=True)
class OrderSettings:
    """The `orders:` configuration the mapping needs (built by config.py)."""

    order_number_prefix: str = "SH-"
    order_status: Literal["Parked", "Placed"] = "Parked"
    warehouse: str = "MAIN"
    tax_code: str = "G.S.T."
    shipping_mode: Literal["charge", "product"] = "charge"
    shipping_product_code: str = "SHIPPING"
    financial_statuses: tuple[str, ...] = ("paid",)
    include_test_orders: bool = False
    lines_without_sku: Literal["hold", "charge"] = "hold"
    currency: Literal["shop", "presentment"] = "shop"

    @property
    def money_bag(self) -> str:
        """Which half of Shopify's MoneyBag the amounts are read from."""
        return "presentmentMoney" if self.currency == "presentment" else "shopMoney"


def is_selected(order: Mapping[str, Any], settings: OrderSettings) -> tuple[bool, str]:
    """Whether the order is to be sent; when not, the reason (not a failure, just skipped)."""
    if order.get("cancelledAt"):
        return False, f"cancelled at {order['cancelledAt']}"
    if order.get("test") and not settings.include_test_orders:
        return False, "test order (orders.include_test_orders is false)"
    status = order.get("displayFinancialStatus")
    wanted = {s.lower() for s in settings.financial_statuses}
    if not isinstance(status, str) or status.lower() not in wanted:
        return False, (
            f"financial status {status or 'unknown'} is not in "
            f"orders.financial_statuses {sorted(wanted)}"
        )
    return True, ""


# --- safe field access --------------------------------------------------------------------


def required(node: Any, key: str, where: str) -> Any:
    """node[key], or a MappingError naming the field when it is absent or null."""
    if not isinstance(node, Mapping):
        raise MappingError(f"{where} is not an object")
    value = node.get(key)
    if value is None:
        raise MappingError(f"{where}.{key} is missing")
    return value


def optional(node: Any, key: str) -> Any:
    return node.get(key) if isinstance(node, Mapping) else None


def text(node: Any, key: str) -> str | None:
    """An optional string field, stripped; empty becomes None."""
    value = optional(node, key)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def required_str(node: Any, key: str, where: str) -> str:
    value = required(node, key, where)
    if not isinstance(value, str) or not value.strip():
        raise MappingError(f"{where}.{key} must be a non-empty string, got {value!r}")
    return value.strip()


def required_int(node: Any, key: str, where: str) -> int:
    value = required(node, key, where)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MappingError(f"{where}.{key} must be a whole number >= 0, got {value!r}")
    return value


def required_bool(node: Any, key: str, where: str) -> bool:
    value = required(node, key, where)
    if not isinstance(value, bool):
        raise MappingError(f"{where}.{key} must be true or false, got {value!r}")
    return value


def money(node: Any, key: str, where: str, half: str = "shopMoney") -> Decimal:
    """The amount of a MoneyBag field in the shop's currency (or, with `half` set to
    "presentmentMoney", in the customer's)."""
    bag = required(node, key, where)
    shop_money = required(bag, half, f"{where}.{key}")
    amount = required(shop_money, "amount", f"{where}.{key}.{half}")
    try:
        return to_decimal(amount, f"{where}.{key}")
    except ValueError as exc:
        raise MappingError(str(exc)) from None


def nodes(node: Any, key: str, where: str, *, need: bool = True) -> list[Mapping[str, Any]]:
    """Items of a connection (`{"nodes": [...]}`) or a plain list field, each checked."""
    value = required(node, key, where) if need else optional(node, key)
    if value is None:
        return []
    items = value.get("nodes") if isinstance(value, Mapping) else value
    if not isinstance(items, list):
        raise MappingError(f"{where}.{key} is not a list or a connection with nodes")
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise MappingError(f"{where}.{key}[{index}] is not an object")
    return items


def _tax_line_rate(tax_line: Mapping[str, Any], where: str) -> Decimal | None:
    """A tax line's rate as a fraction: `rate`, else `ratePercentage` / 100 (Shopify gives
    both; a reply may carry only the percentage, e.g. `{"ratePercentage": 21}`)."""
    for key, scale in (("rate", Decimal(1)), ("ratePercentage", Decimal(100))):
        value = tax_line.get(key)
        if value is None:
            continue
        try:
            return to_decimal(value, f"{where}.{key}") / scale
        except ValueError as exc:
            raise MappingError(str(exc)) from None
    return None


def tax_rate_of(node: Mapping[str, Any], where: str, *, taxable: bool = True) -> Decimal:
    """Sum of a line's taxLines rates; 0 when not taxable or without tax lines."""
    if not taxable:
        return Decimal(0)
    rate = Decimal(0)
    for index, tax_line in enumerate(nodes(node, "taxLines", where, need=False)):
        tax_where = f"{where}.taxLines[{index}]"
        line_rate = _tax_line_rate(tax_line, tax_where)
        if line_rate is None:
            if money(tax_line, "priceSet", tax_where) == 0:
                continue
            raise MappingError(f"{tax_where}.rate is missing on a tax line that charges tax")
        if line_rate < 0 or line_rate > 1:
            raise MappingError(f"{tax_where}.rate {line_rate} is not a fraction between 0 and 1")
        rate += line_rate
    return rate


def order_date(order: Mapping[str, Any]) -> str:
    """processedAt (else createdAt) as Unleashed's "yyyy-MM-ddTHH:mm:ss" in UTC."""
    key = "processedAt" if order.get("processedAt") else "createdAt"
    value = required_str(order, key, "order")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MappingError(f"order.{key} is not an ISO-8601 date-time: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


# --- pricing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PricedLine:
    """A line priced under Unleashed's rule."""

    unit_price: Decimal
    line_total: Decimal
    line_tax: Decimal
    tax_rate: Decimal


def _unit_price_for(line_total: Decimal, qty: Decimal) -> Decimal:
    """The shortest unit price (2, else 4 places) whose qty x price rounds to line_total."""
    two = round_to(line_total / qty, 2)
    if cents(qty * two) == line_total:
        return two
    return round_to(line_total / qty, UNIT_PRICE_PLACES)


def price_line(
    quantity: int, amount: Decimal, rate: Decimal, *, taxes_included: bool
) -> PricedLine:
    """Price `quantity` units whose Shopify line amount is `amount` (after discounts, tax
    included when `taxes_included`) as a tax-exclusive Unleashed line.

    The line total is chosen among the cents around the exact tax-exclusive amount so that
    Unleashed's figures land closest to Shopify's: the tax-exclusive amount itself, or for
    tax-inclusive prices the inclusive amount (`LineTotal + LineTax`); ties go to the line
    total nearest the exact conversion.
    """
    if quantity <= 0:
        raise MappingError(f"quantity must be positive, got {quantity}")
    if amount < 0:
        raise MappingError(f"a line amount must not be negative, got {amount}")
    qty = Decimal(quantity)
    exact_ex = amount / (1 + rate) if taxes_included else amount
    centre = cents(exact_ex)
    best: tuple[tuple[Decimal, Decimal, int], Decimal, Decimal, Decimal] | None = None
    for step in (-1, 0, 1):
        wanted = centre + step * CENT
        if wanted < 0:
            continue
        base = _unit_price_for(wanted, qty)
        for unit_price in (base, base - UNIT_PRICE_TICK, base + UNIT_PRICE_TICK):
            if unit_price < 0:
                continue
            line_total, line_tax = line_totals(qty, unit_price, rate)
            landed = line_total + line_tax if taxes_included else line_total
            score = (
                abs(landed - amount),
                abs(line_total - exact_ex),
                0 if unit_price == round_to(unit_price, 2) else 1,  # fewer decimals win
            )
            if best is None or score < best[0]:
                best = (score, unit_price, line_total, line_tax)
    if best is None:  # step 0 always yields a candidate for a non-negative amount
        raise MappingError(f"no unit price gives the line amount {amount}")
    return PricedLine(best[1], best[2], best[3], rate)


def most_common_rate(rates: Sequence[Decimal]) -> Decimal:
    """The header tax rate: the most common non-zero line rate, 0 when nothing is taxed."""
    counts = Counter(rate for rate in rates if rate > 0)
    if not counts:
        return Decimal(0)
    return counts.most_common(1)[0][0]


# --- the sales order ----------------------------------------------------------------------


@dataclass(frozen=True)
class MappedOrder:
    """A mapped order: the payload and what the caller checks and records.

    `missing_skus` lists lines that have no SKU at all (as "<no sku: title>"); use
    `missing_from(known_codes)` for the full list of reasons to hold the order. An order
    with anything missing must not be sent.
    """

    name: str
    guid: str
    payload: dict[str, Any]
    skus: tuple[str, ...]
    missing_skus: tuple[str, ...]
    shopify_total: Decimal
    unleashed_total: Decimal
    lines_snapshot: dict[str, dict[str, Any]]
    refund_ids: tuple[str, ...] = ()
    edited: bool = False
    notes: Mapping[str, Any] = field(default_factory=dict)
    # Per payload line, in order: the Shopify line item id it came from, "" for shipping.
    line_sources: tuple[str, ...] = ()
    warehouse: str = ""

    @property
    def difference(self) -> Decimal:
        """Shopify's current total minus what Unleashed will hold (cents lost to rounding)."""
        return self.shopify_total - self.unleashed_total

    def missing_from(self, known_codes: Collection[str]) -> list[str]:
        """Lines without a SKU, then SKUs that have no Unleashed product."""
        return list(self.missing_skus) + [sku for sku in self.skus if sku not in known_codes]


def _delivery(address: Any) -> dict[str, Any]:
    if not isinstance(address, Mapping):
        return {}
    name = text(address, "name") or " ".join(
        part for part in (text(address, "firstName"), text(address, "lastName")) if part
    )
    fields = {
        "DeliveryName": name or text(address, "company"),
        "DeliveryStreetAddress": text(address, "address1"),
        "DeliveryStreetAddress2": text(address, "address2"),
        "DeliveryCity": text(address, "city"),
        "DeliveryRegion": text(address, "province") or text(address, "provinceCode"),
        "DeliveryPostCode": text(address, "zip"),
        "DeliveryCountry": text(address, "country") or text(address, "countryCodeV2"),
    }
    return {key: value for key, value in fields.items() if value}


def refunded_quantities(order: Mapping[str, Any]) -> dict[str, int]:
    """Units refunded so far per Shopify line item id, over all refunds."""
    totals: dict[str, int] = {}
    for r_index, refund in enumerate(nodes(order, "refunds", "order", need=False)):
        where = f"order.refunds[{r_index}]"
        for i, item in enumerate(nodes(refund, "refundLineItems", where, need=False)):
            item_where = f"{where}.refundLineItems[{i}]"
            line_id = required_str(required(item, "lineItem", item_where), "id", item_where)
            qty = required_int(item, "quantity", item_where)
            totals[line_id] = totals.get(line_id, 0) + qty
    return totals


def order_currency(order: Mapping[str, Any], settings: OrderSettings) -> str:
    """The currency the sales order is in: the shop's, or with `currency: presentment` the
    one the customer paid in."""
    if settings.currency == "presentment":
        return required_str(order, "presentmentCurrencyCode", "order").upper()
    return required_str(order, "currencyCode", "order").upper()


def line_kind(order: Mapping[str, Any], item: Mapping[str, Any], amount: Decimal) -> str:
    """What a line sells: "product", or for a line without a SKU "gift_card", "tip" or
    "custom" (`amount` is the line's whole amount in the shop's currency)."""
    if text(item, "sku") is not None:
        return "product"
    if item.get("isGiftCard") is True:
        return "gift_card"
    tip_bag = optional(order, "totalTipReceivedSet")
    if isinstance(tip_bag, Mapping):
        tip = money(order, "totalTipReceivedSet", "order")
        title = (text(item, "title") or "").casefold()
        if tip > 0 and (title == "tip" or amount == tip):
            return "tip"
    return "custom"


def charge_description(title: str, quantity: int) -> str:
    """A charge line's name: the line's title, with the count when there are several."""
    name = title if quantity == 1 else f"{quantity} x {title}"
    return name[:CHARGE_DESCRIPTION_MAX]


def bundle_of(item: Mapping[str, Any]) -> str | None:
    """The title of the bundle a component line came from, None for a line of its own."""
    group = optional(item, "lineItemGroup")
    if not isinstance(group, Mapping):
        return None
    return text(group, "title") or text(group, "id")


def map_sales_order(
    order: Mapping[str, Any],
    settings: OrderSettings,
    *,
    guid: str,
    customer_code: str,
    exchange_rate: Decimal = Decimal(1),
) -> MappedOrder:
    """Build the `POST /SalesOrders/{guid}` body; MappingError names any unusable field.

    `exchange_rate` is Unleashed's rate for the order's currency (orders/currency.py)."""
    if not isinstance(order, Mapping):
        raise MappingError("order is not an object")
    order_gid = required_str(order, "id", "order")
    name = required_str(order, "name", "order")
    number = settings.order_number_prefix + name.removeprefix("#")
    if len(number) > ORDER_NUMBER_MAX:
        raise MappingError(
            f"OrderNumber {number!r} (orders.order_number_prefix + order name {name!r}) is "
            f"longer than Unleashed's {ORDER_NUMBER_MAX} characters; shorten the prefix"
        )
    currency = order_currency(order, settings)
    half = settings.money_bag
    taxes_included = required_bool(order, "taxesIncluded", "order")
    shopify_total = money(order, "currentTotalPriceSet", "order", half)
    refunded = refunded_quantities(order)

    lines: list[dict[str, Any]] = []
    sources: list[str] = []
    priced: list[PricedLine] = []
    skus: list[str] = []
    missing: list[str] = []
    charges: list[dict[str, Any]] = []
    bundles: dict[str, list[str]] = {}
    snapshot: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(nodes(order, "lineItems", "order")):
        where = f"order.lineItems[{index}]"
        line_id = required_str(item, "id", where)
        quantity = required_int(item, "currentQuantity", where)
        if quantity == 0:
            continue
        # The after-import comparison reads shop money, whatever the order is sent in.
        unit_shop = money(item, "discountedUnitPriceAfterAllDiscountsSet", where)
        unit_sent = money(item, "discountedUnitPriceAfterAllDiscountsSet", where, half)
        if unit_shop < 0 or unit_sent < 0:
            raise MappingError(
                f"{where}.discountedUnitPriceAfterAllDiscountsSet is negative "
                f"({min(unit_shop, unit_sent)}): a line cannot be priced below 0; "
                "fix the discount in Shopify"
            )
        taxable = bool(item.get("taxable", True))
        rate = tax_rate_of(item, where, taxable=taxable)
        sku = text(item, "sku")
        title = text(item, "title") or text(item, "name") or line_id
        bundle = bundle_of(item)
        if bundle is not None:
            bundles.setdefault(bundle, []).append(sku or title)
        if sku is None:
            charges.append(
                {
                    "title": title,
                    "kind": line_kind(order, item, quantity * unit_shop),
                    "quantity": quantity,
                    "amount": str(quantity * unit_sent),
                }
            )
        if sku is None and settings.lines_without_sku == "charge":
            line = price_line(1, quantity * unit_sent, rate, taxes_included=taxes_included)
            description = charge_description(title, quantity)
            body: dict[str, Any] = {
                "LineNumber": len(lines) + 1,
                "LineType": "Charge",
                "Product": {"ProductDescription": description},
                "OrderQuantity": 1,
            }
        else:
            line = price_line(quantity, quantity * unit_sent, rate, taxes_included=taxes_included)
            if sku is None:
                missing.append(f"<no sku: {title}>")
            elif sku not in skus:
                skus.append(sku)
            body = {
                "LineNumber": len(lines) + 1,
                "Product": {"ProductCode": sku},
                "OrderQuantity": quantity,
            }
        priced.append(line)
        body.update(
            {
                "UnitPrice": line.unit_price,
                "DiscountRate": Decimal(0),
                "LineTotal": line.line_total,
                "LineTax": line.line_tax,
                "TaxRate": rate,
            }
        )
        lines.append(body)
        sources.append(line_id)
        snapshot[line_id] = {
            "sku": sku,
            "quantity": quantity,
            "unit_price": str(line.unit_price),
            "shopify_unit_price": str(unit_shop),
            "refunded": refunded.get(line_id, 0),
        }
    if not lines:
        raise MappingError("order has no line items with a current quantity above 0")

    shipping_page = order.get("shippingLines")
    if isinstance(shipping_page, Mapping) and (shipping_page.get("pageInfo") or {}).get(
        "hasNextPage"
    ):
        # Never send an order with a shipping charge silently left out.
        raise MappingError(
            "order.shippingLines has more lines than syncer reads (3): enter this order by hand"
        )
    for index, shipping in enumerate(nodes(order, "shippingLines", "order")):
        where = f"order.shippingLines[{index}]"
        if shipping.get("isRemoved"):
            continue
        amount = money(shipping, "discountedPriceSet", where, half)
        if amount == 0:
            continue
        rate = tax_rate_of(shipping, where)
        line = price_line(1, amount, rate, taxes_included=taxes_included)
        priced.append(line)
        lines.append(shipping_line(len(lines) + 1, shipping, line, settings, "OrderQuantity"))
        sources.append("")
        if settings.shipping_mode == "product" and settings.shipping_product_code not in skus:
            skus.append(settings.shipping_product_code)

    sub_total, tax_total, total = order_totals([(p.line_total, p.line_tax) for p in priced])
    header_rate = most_common_rate([p.tax_rate for p in priced])
    payload: dict[str, Any] = {
        "Guid": guid,
        "OrderNumber": number,
        "OrderDate": order_date(order),
        "OrderStatus": settings.order_status,
        "Customer": {"CustomerCode": customer_code},
        "CustomerRef": name,
        "Warehouse": {"WarehouseCode": settings.warehouse},
        "Currency": {"CurrencyCode": currency},
        "ExchangeRate": exchange_rate,
        "Tax": {"TaxCode": settings.tax_code, "TaxRate": header_rate},
        "TaxRate": header_rate,
        "DiscountRate": Decimal(0),
        "Comments": _comments(f"Shopify order {name} ({order_gid})", text(order, "note")),
        **_delivery(order.get("shippingAddress")),
        "SalesOrderLines": lines,
        "SubTotal": sub_total,
        "TaxTotal": tax_total,
        "Total": total,
    }
    return MappedOrder(
        name=name,
        guid=guid,
        payload=payload,
        skus=tuple(skus),
        missing_skus=tuple(missing),
        shopify_total=shopify_total,
        unleashed_total=total,
        lines_snapshot=snapshot,
        refund_ids=tuple(
            required_str(refund, "id", "order.refunds[]")
            for refund in nodes(order, "refunds", "order", need=False)
        ),
        edited=bool(order.get("edited")),
        notes=_notes(currency, exchange_rate, charges, bundles),
        line_sources=tuple(sources),
        warehouse=settings.warehouse,
    )


def _notes(
    currency: str,
    exchange_rate: Decimal,
    charges: list[dict[str, Any]],
    bundles: dict[str, list[str]],
) -> dict[str, Any]:
    """What the report shows beyond the totals: the currency and rate sent, the lines without
    a SKU (told apart: custom item, tip, gift card; held or sent as charges) and the bundles
    the lines came from."""
    notes: dict[str, Any] = {"currency": currency, "exchange_rate": str(exchange_rate)}
    if charges:
        notes["lines_without_sku"] = charges
    if bundles:
        notes["bundles"] = [{"bundle": name, "lines": lines} for name, lines in bundles.items()]
    return notes


def shipping_line(
    number: int,
    shipping: Mapping[str, Any],
    line: PricedLine,
    settings: OrderSettings,
    quantity_key: str,
    price_key: str = "UnitPrice",
) -> dict[str, Any]:
    """A shipping fee as a charge line, or as a product line when shipping.mode is product."""
    title = text(shipping, "title") or text(shipping, "code") or "Shipping"
    body: dict[str, Any] = {"LineNumber": number}
    if settings.shipping_mode == "charge":
        body["LineType"] = "Charge"
        body["Product"] = {"ProductDescription": title}
    else:
        body["Product"] = {"ProductCode": settings.shipping_product_code}
    body.update(
        {
            quantity_key: 1,
            price_key: line.unit_price,
            "DiscountRate": Decimal(0),
            "LineTotal": line.line_total,
            "LineTax": line.line_tax,
            "TaxRate": line.tax_rate,
        }
    )
    return body


def _comments(head: str, note: str | None) -> str:
    comments = f"{head}; note: {note}" if note else head
    return comments[:COMMENTS_MAX]


# --- customers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerAddress:
    name: str | None
    street: str | None
    street2: str | None
    city: str | None
    region: str | None
    postcode: str | None
    country: str | None


@dataclass(frozen=True)
class CustomerRequest:
    """Who ordered: what `per_email` looks up (email) and creates when nobody matches."""

    email: str | None
    name: str
    first_name: str | None
    last_name: str | None
    phone: str | None
    shipping: CustomerAddress | None = None
    billing: CustomerAddress | None = None


def normalise_email(value: Any) -> str | None:
    """Lower-case and strip an email; None when absent or not an address."""
    if not isinstance(value, str):
        return None
    email = value.strip().lower()
    return email if "@" in email else None


def _address(node: Any) -> CustomerAddress | None:
    if not isinstance(node, Mapping):
        return None
    full = text(node, "name") or " ".join(
        p for p in (text(node, "firstName"), text(node, "lastName")) if p
    )
    return CustomerAddress(
        name=full or text(node, "company"),
        street=text(node, "address1"),
        street2=text(node, "address2"),
        city=text(node, "city"),
        region=text(node, "province") or text(node, "provinceCode"),
        postcode=text(node, "zip"),
        country=text(node, "country") or text(node, "countryCodeV2"),
    )


def customer_request(order: Mapping[str, Any]) -> CustomerRequest:
    """The ordering customer from the order's email, customer and addresses (all optional)."""
    customer = order.get("customer") if isinstance(order, Mapping) else None
    shipping_node = optional(order, "shippingAddress")
    billing_node = optional(order, "billingAddress")
    email = normalise_email(optional(order, "email")) or normalise_email(
        optional(optional(customer, "defaultEmailAddress"), "emailAddress")
    )
    first = (
        text(customer, "firstName")
        or text(shipping_node, "firstName")
        or text(billing_node, "firstName")
    )
    last = (
        text(customer, "lastName")
        or text(shipping_node, "lastName")
        or text(billing_node, "lastName")
    )
    joined = " ".join(part for part in (first, last) if part)
    name = (
        text(customer, "displayName")
        or joined
        or text(shipping_node, "name")
        or text(billing_node, "name")
        or text(shipping_node, "company")
        or email
        or "Shopify customer"
    )
    phone = text(order, "phone") or text(shipping_node, "phone") or text(billing_node, "phone")
    return CustomerRequest(
        email=email,
        name=name,
        first_name=first,
        last_name=last,
        phone=phone,
        shipping=_address(shipping_node),
        billing=_address(billing_node),
    )


def _address_payload(kind: str, address: CustomerAddress) -> dict[str, Any]:
    fields = {
        "AddressType": kind,
        "AddressName": address.name,
        "StreetAddress": address.street,
        "StreetAddress2": address.street2,
        "City": address.city,
        "Region": address.region,
        "PostalCode": address.postcode,
        "Country": address.country,
    }
    return {key: value for key, value in fields.items() if value}


def new_customer_payload(
    guid: str, code: str, request: CustomerRequest, currency: str
) -> dict[str, Any]:
    """Body for `POST /Customers/{guid}`: shipping address as "Shipping", billing as "Postal"."""
    if not code or len(code) > CUSTOMER_CODE_MAX:
        raise MappingError(f"customer code {code!r} must be 1..{CUSTOMER_CODE_MAX} characters")
    payload: dict[str, Any] = {
        "Guid": guid,
        "CustomerCode": code,
        "CustomerName": request.name,
        "Currency": {"CurrencyCode": currency},
    }
    optional_fields = {
        "Email": request.email,
        "ContactFirstName": request.first_name,
        "ContactLastName": request.last_name,
        "PhoneNumber": request.phone,
    }
    payload.update({key: value for key, value in optional_fields.items() if value})
    addresses = []
    if request.shipping is not None:
        addresses.append(_address_payload("Shipping", request.shipping))
    if request.billing is not None:
        addresses.append(_address_payload("Postal", request.billing))
    if addresses:
        payload["Addresses"] = addresses
    return payload


def order_detail(mapped: MappedOrder, customer: str) -> dict[str, Any]:
    """What the report and the dry-run table show for one sales order."""
    payload = mapped.payload
    lines = payload.get("SalesOrderLines") or []
    detail: dict[str, Any] = {
        "order_number": payload.get("OrderNumber"),
        "guid": mapped.guid,
        "customer": customer,
        "lines": len(lines),
        "sub_total": _money_text(payload.get("SubTotal")),
        "tax_total": _money_text(payload.get("TaxTotal")),
        "total": _money_text(payload.get("Total")),
        "shopify_total": _money_text(mapped.shopify_total),
    }
    if mapped.difference:
        detail["difference"] = _money_text(mapped.difference)
    return detail


def _money_text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value) if isinstance(value, Decimal) else str(Decimal(str(value)))
