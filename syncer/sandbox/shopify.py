"""A local Shopify Admin GraphQL API (2026-10) for the demo, the tests and the benchmarks.

Documents are parsed, validated and executed with graphql-core against `shopify_schema.graphql`,
a faithful subset of Shopify's Admin schema. Around the executor sits what the real API does
and the client must cope with: access tokens (static or client-credentials, with expiry),
API-version fall-forward, query cost with a leaky bucket per token and `THROTTLED` replies,
cursor pagination, the search syntax in `query:` arguments, and the 2026-04+ inventory rules
(`@idempotent` required, `changeFromQuantity` required, compare-and-swap).

The state is seeded from `syncer.sandbox.seed.make_world` with deliberate differences from the
seed (a changed price, a missing product, a Shopify-only product, shifted stock) so product and
inventory syncs have real work. Tests drive it through the `ShopifySandbox` control methods.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    build_schema,
    execute_sync,
    extend_schema,
    get_named_type,
    parse,
    validate,
)
from graphql.language import parse as parse_document

from syncer.inventory.planner import SET_QUANTITY_REASONS
from syncer.sandbox import shopify_bulk as bulk
from syncer.sandbox.common import Reply, Request
from syncer.sandbox.seed import World, make_world
from syncer.sandbox.shopify_bulk import in_bulk_mode

SCHEMA_PATH = Path(__file__).with_name("shopify_schema.graphql")

# The derived reference SDL predates the 2026-04 error codes of inventorySetQuantities that
# Shopify's changelog documents (API-NOTES §5.2, §5.4). The served SDL stays a strict subset;
# these values are added at runtime only, so the executor can report them.
RUNTIME_EXTENSIONS = """
extend enum InventorySetQuantitiesUserErrorCode {
  CHANGE_FROM_QUANTITY_STALE
  IDEMPOTENCY_CONCURRENT_REQUEST
  IDEMPOTENCY_KEY_PARAMETER_MISMATCH
  IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED
}

extend enum BulkOperationUserErrorCode {
  LIMIT_REACHED
}
"""
# LIMIT_REACHED: 2026-01+ allows five concurrent bulk queries and reports the sixth with this
# code (API-NOTES §7); the derived reference enum predates it.

SUPPORTED_VERSIONS = ("2026-01", "2026-04", "2026-07", "2026-10", "2027-01")
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
RATE_LIMIT_DOCS = "https://shopify.dev/api/usage/rate-limits"
MAX_QUERY_COST = 1000
MAX_PAGE_SIZE = 250
MAX_INPUT_ARRAY = 250
CONNECTION_OVERHEAD = 2
MUTATION_COST = 10
COUNT_LIMIT = 10_000  # `*Count` fields stop counting here unless given a higher limit
# Shopify's documented reasons: one list for the client's planner and the sandbox.
INVENTORY_REASONS = SET_QUANTITY_REASONS
IDEMPOTENT_MUTATIONS = frozenset({"inventorySetQuantities"})
CENT = Decimal("0.01")


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def gid(kind: str, num: int) -> str:
    return f"gid://shopify/{kind}/{num}"


def parse_gid(value: str | None) -> tuple[str, int] | None:
    """("Order", 12) from "gid://shopify/Order/12" (query strings ignored); None when malformed."""
    if not value:
        return None
    match = re.fullmatch(r"gid://shopify/(\w+)/(\d+)(\?.*)?", value)
    return (match.group(1), int(match.group(2))) if match else None


def camel_to_snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# -- the model ------------------------------------------------------------------------------


class Node:
    """Base of every stored record: a number, a GraphQL type name and timestamps."""

    typename = ""

    def __init__(self, num: int, at: datetime) -> None:
        self.num = num
        self.created_at = at
        self.updated_at = at

    @property
    def id(self) -> str:
        return gid(self.typename, self.num)

    @property
    def legacy_resource_id(self) -> str:
        return str(self.num)


class Location(Node):
    typename = "Location"

    def __init__(self, num: int, at: datetime, name: str, primary: bool) -> None:
        super().__init__(num, at)
        self.name = name
        self.is_active = True
        self.is_primary = primary
        self.fulfills_online_orders = True
        self.ships_inventory = True
        self.has_active_inventory = True
        self.levels: dict[int, InventoryLevel] = {}  # inventory item num -> level

    def gql_inventoryLevels(self, info: Any, **args: Any) -> dict[str, Any]:
        groups = parse_search(args.get("query"))
        levels = [lv for lv in self.levels.values() if matches(lv, groups, LEVEL_FIELDS)]
        return sorted_connection(levels, args, lambda lv: lv.item.num, "ID")

    def gql_inventoryLevel(self, info: Any, inventoryItemId: str) -> InventoryLevel | None:
        parsed = parse_gid(inventoryItemId)
        return self.levels.get(parsed[1]) if parsed else None


class InventoryItem(Node):
    typename = "InventoryItem"

    def __init__(self, num: int, at: datetime, sku: str, tracked: bool) -> None:
        super().__init__(num, at)
        self.sku = sku
        self.tracked = tracked
        self.requires_shipping = True
        self.weight_unit = "KILOGRAMS"
        self.weight_value = Decimal(0)
        self.variant: Variant | None = None
        self.levels: dict[int, InventoryLevel] = {}  # location num -> level

    @property
    def measurement(self) -> dict[str, Any]:
        return {
            "id": gid("InventoryItemMeasurement", self.num),
            "weight": {"unit": self.weight_unit, "value": float(self.weight_value)},
        }

    def gql_inventoryLevels(self, info: Any, **args: Any) -> dict[str, Any]:
        levels = sorted(self.levels.values(), key=lambda lv: lv.location.num)
        return offset_connection(levels, args)

    def gql_inventoryLevel(self, info: Any, locationId: str) -> InventoryLevel | None:
        parsed = parse_gid(locationId)
        return self.levels.get(parsed[1]) if parsed else None


class InventoryLevel(Node):
    typename = "InventoryLevel"

    def __init__(self, at: datetime, item: InventoryItem, location: Location) -> None:
        super().__init__(item.num, at)
        self.item = item
        self.location = location
        self.quantities: dict[str, int] = {"available": 0, "on_hand": 0, "committed": 0}
        self.quantity_updated: dict[str, datetime] = {}

    @property
    def id(self) -> str:
        return f"gid://shopify/InventoryLevel/{self.location.num}?inventory_item_id={self.item.num}"

    def gql_quantities(self, info: Any, names: list[str]) -> list[dict[str, Any]]:
        return [
            {
                "id": f"{self.id}&name={name}",
                "name": name,
                "quantity": self.quantities.get(name, 0),
                "updatedAt": self.quantity_updated.get(name, self.updated_at),
            }
            for name in names
        ]

    def change(self, name: str, delta: int, at: datetime) -> None:
        self.quantities[name] = self.quantities.get(name, 0) + delta
        self.quantity_updated[name] = at
        self.updated_at = at
        self.item.updated_at = at


class Product(Node):
    typename = "Product"

    def __init__(self, num: int, at: datetime, title: str, handle: str) -> None:
        super().__init__(num, at)
        self.title = title
        self.handle = handle
        self.description_html = ""
        self.product_type = ""
        self.vendor = "Syncer Sandbox"
        self.status = "ACTIVE"
        self.tags: list[str] = []
        self.variants: list[Variant] = []

    def gql_variants(self, info: Any, **args: Any) -> dict[str, Any]:
        if (args.get("first") or 0) > 2000:
            raise GraphQLError("A single product's variants can be read at most 2000 at once.")
        variants = sorted(self.variants, key=lambda v: v.position)
        if args.get("reverse"):
            variants.reverse()
        return offset_connection(variants, {**args, "first": args.get("first")}, limit=2000)

    @property
    def variants_count(self) -> dict[str, Any]:
        return {"count": len(self.variants), "precision": "EXACT"}

    @property
    def has_only_default_variant(self) -> bool:
        return len(self.variants) == 1 and self.variants[0].title == "Default Title"

    @property
    def tracks_inventory(self) -> bool:
        return any(v.inventory_item.tracked for v in self.variants)

    @property
    def total_inventory(self) -> int:
        return sum(v.inventory_quantity for v in self.variants)


class Variant(Node):
    typename = "ProductVariant"

    def __init__(
        self, num: int, at: datetime, product: Product, item: InventoryItem, title: str
    ) -> None:
        super().__init__(num, at)
        self.product = product
        self.inventory_item = item
        self.title = title
        self.barcode: str | None = None
        self.price = Decimal("0.00")
        self.compare_at_price: Decimal | None = None
        self.taxable = True
        self.position = 1
        item.variant = self

    @property
    def sku(self) -> str:
        return self.inventory_item.sku

    @property
    def display_name(self) -> str:
        return f"{self.product.title} - {self.title}"

    @property
    def inventory_quantity(self) -> int:
        return sum(level.quantities["available"] for level in self.inventory_item.levels.values())


@dataclass(eq=False)
class Customer:
    num: int
    first_name: str
    last_name: str
    email: str | None

    @property
    def id(self) -> str:
        return gid("Customer", self.num)

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def default_email_address(self) -> dict[str, str] | None:
        return {"emailAddress": self.email} if self.email else None

    default_phone_number = None


class LineItem(Node):
    typename = "LineItem"

    def __init__(self, num: int, at: datetime, order: Order, variant: Variant | None) -> None:
        super().__init__(num, at)
        self.order = order
        self.variant = variant
        self.sku = ""
        self.title = ""
        self.variant_title: str | None = None
        self.quantity = 0
        self.current_quantity = 0
        self.unit_price = Decimal(0)  # in the order's pricing (incl. tax when taxes_included)
        self.discounted_unit_price = Decimal(0)
        self.tax_rate = Decimal(0)
        self.fulfilled = 0
        self.refunded = 0
        self.requires_shipping = True
        self.taxable = True
        self.vendor = "Syncer Sandbox"

    @property
    def name(self) -> str:
        return self.title if not self.variant_title else f"{self.title} - {self.variant_title}"

    @property
    def product(self) -> Product | None:
        return self.variant.product if self.variant else None

    @property
    def refundable_quantity(self) -> int:
        return max(0, self.quantity - self.refunded)

    @property
    def unfulfilled_quantity(self) -> int:
        return max(0, self.current_quantity - self.fulfilled)

    def tax_for(self, quantity: int) -> Decimal:
        gross = self.discounted_unit_price * quantity
        if self.order.taxes_included:
            return money(gross - gross / (1 + self.tax_rate))
        return money(gross * self.tax_rate)

    @property
    def original_unit_price_set(self) -> dict[str, Any]:
        return self.order.bag(self.unit_price)

    @property
    def discounted_unit_price_set(self) -> dict[str, Any]:
        return self.order.bag(self.discounted_unit_price)

    @property
    def discounted_unit_price_after_all_discounts_set(self) -> dict[str, Any]:
        return self.order.bag(self.discounted_unit_price)

    @property
    def original_total_set(self) -> dict[str, Any]:
        return self.order.bag(self.unit_price * self.quantity)

    def gql_discountedTotalSet(self, info: Any, **_: Any) -> dict[str, Any]:
        return self.order.bag(self.discounted_unit_price * self.quantity)

    @property
    def total_discount_set(self) -> dict[str, Any]:
        return self.order.bag((self.unit_price - self.discounted_unit_price) * self.quantity)

    def gql_taxLines(self, info: Any, **_: Any) -> list[dict[str, Any]]:
        # Shopify: "including taxes charged for refunded and removed quantities".
        if not self.taxable or not self.tax_rate:
            return []
        return [self.order.tax_line(self.tax_rate, self.tax_for(self.quantity))]


class ShippingLine(Node):
    typename = "ShippingLine"

    def __init__(self, num: int, at: datetime, order: Order, title: str, price: Decimal) -> None:
        super().__init__(num, at)
        self.order = order
        self.title = title
        self.code = title
        self.source = "shopify"
        self.price = price
        self.tax_rate = Decimal(0)
        self.is_removed = False

    @property
    def tax(self) -> Decimal:
        if self.order.taxes_included:
            return money(self.price - self.price / (1 + self.tax_rate))
        return money(self.price * self.tax_rate)

    @property
    def original_price_set(self) -> dict[str, Any]:
        return self.order.bag(self.price)

    discounted_price_set = original_price_set
    current_discounted_price_set = original_price_set

    @property
    def tax_lines(self) -> list[dict[str, Any]]:
        if not self.tax_rate:
            return []
        return [self.order.tax_line(self.tax_rate, self.tax)]


class RefundLineItem:
    def __init__(
        self, num: int, line: LineItem, quantity: int, restock_type: str, location: Location | None
    ) -> None:
        self.num = num
        self.line_item = line
        self.quantity = quantity
        self.restock_type = restock_type
        self.location = location

    @property
    def id(self) -> str:
        return gid("RefundLineItem", self.num)

    @property
    def restocked(self) -> bool:
        return self.restock_type in ("RETURN", "CANCEL", "LEGACY_RESTOCK")

    @property
    def price_set(self) -> dict[str, Any]:
        return self.line_item.order.bag(self.line_item.discounted_unit_price)

    @property
    def subtotal_set(self) -> dict[str, Any]:
        return self.line_item.order.bag(self.line_item.discounted_unit_price * self.quantity)

    @property
    def total_tax_set(self) -> dict[str, Any]:
        return self.line_item.order.bag(self.line_item.tax_for(self.quantity))

    @property
    def total(self) -> Decimal:
        gross = self.line_item.discounted_unit_price * self.quantity
        if self.line_item.order.taxes_included:
            return gross
        return gross + self.line_item.tax_for(self.quantity)


class RefundShippingLine(Node):
    typename = "RefundShippingLine"

    def __init__(self, num: int, at: datetime, line: ShippingLine) -> None:
        super().__init__(num, at)
        self.shipping_line = line

    # Like Order.subtotalPriceSet and RefundLineItem.subtotalSet, the subtotal is in the
    # order's own pricing: tax-inclusive when the order's taxesIncluded is true. (Shopify's
    # reference does not say; syncer/orders/credit.py documents the same assumption.)
    @property
    def subtotal_amount_set(self) -> dict[str, Any]:
        return self.shipping_line.order.bag(self.shipping_line.price)

    @property
    def tax_amount_set(self) -> dict[str, Any]:
        return self.shipping_line.order.bag(self.shipping_line.tax)


class Refund(Node):
    typename = "Refund"

    def __init__(self, num: int, at: datetime, order: Order, note: str | None) -> None:
        super().__init__(num, at)
        self.order = order
        self.note = note
        self.lines: list[RefundLineItem] = []
        self.shipping: list[RefundShippingLine] = []

    @property
    def total(self) -> Decimal:
        return sum((li.total for li in self.lines), Decimal(0)) + sum(
            (
                s.shipping_line.price
                if self.order.taxes_included
                else s.shipping_line.price + s.shipping_line.tax
            )
            for s in self.shipping
        )

    @property
    def total_refunded_set(self) -> dict[str, Any]:
        return self.order.bag(self.total)

    def gql_refundLineItems(self, info: Any, **args: Any) -> dict[str, Any]:
        return offset_connection(self.lines, args)

    def gql_refundShippingLines(self, info: Any, **args: Any) -> dict[str, Any]:
        return offset_connection(self.shipping, args)


class FulfillmentOrderLineItem(Node):
    typename = "FulfillmentOrderLineItem"

    def __init__(self, num: int, at: datetime, line: LineItem) -> None:
        super().__init__(num, at)
        self.line_item = line
        self.total_quantity = line.current_quantity
        self.remaining_quantity = line.current_quantity

    @property
    def sku(self) -> str:
        return self.line_item.sku

    @property
    def variant(self) -> Variant | None:
        return self.line_item.variant

    @property
    def inventory_item_id(self) -> str | None:
        variant = self.line_item.variant
        return variant.inventory_item.id if variant else None


class FulfillmentOrder(Node):
    typename = "FulfillmentOrder"

    def __init__(self, num: int, at: datetime, order: Order, location: Location) -> None:
        super().__init__(num, at)
        self.order = order
        self.location = location
        self.status = "OPEN"
        self.lines: list[FulfillmentOrderLineItem] = []

    @property
    def order_id(self) -> str:
        return self.order.id

    @property
    def order_name(self) -> str:
        return self.order.name

    @property
    def assigned_location(self) -> dict[str, Any]:
        return {"name": self.location.name, "location": self.location}

    def gql_lineItems(self, info: Any, **args: Any) -> dict[str, Any]:
        return offset_connection(self.lines, args)


class Fulfillment(Node):
    typename = "Fulfillment"

    def __init__(self, num: int, at: datetime, order: Order, location: Location) -> None:
        super().__init__(num, at)
        self.order = order
        self.location = location
        self.status = "SUCCESS"
        self.tracking: list[dict[str, Any]] = []
        self.total_quantity = 0

    @property
    def name(self) -> str:
        return f"{self.order.name}-F{self.order.fulfillments.index(self) + 1}"

    def gql_trackingInfo(self, info: Any, **args: Any) -> list[dict[str, Any]]:
        first = args.get("first")
        return self.tracking[:first] if first is not None else list(self.tracking)


class Order(Node):
    typename = "Order"

    def __init__(self, num: int, at: datetime, number: int, currency: str) -> None:
        super().__init__(num, at)
        self.number = number
        self.currency = currency
        self.processed_at = at
        self.cancelled_at: datetime | None = None
        self.cancel_reason: str | None = None
        self.edited = False
        self.test = False
        self.financial_status = "PENDING"
        self.taxes_included = True
        self.email: str | None = None
        self.phone: str | None = None
        self.note: str | None = None
        self.customer: Customer | None = None
        self.shipping_address: dict[str, Any] | None = None
        self.billing_address: dict[str, Any] | None = None
        self.lines: list[LineItem] = []
        self.shipping: list[ShippingLine] = []
        self.refunds: list[Refund] = []
        self.fulfillment_orders: list[FulfillmentOrder] = []
        self.fulfillments: list[Fulfillment] = []

    @property
    def name(self) -> str:
        return f"#{self.number}"

    @property
    def closed(self) -> bool:
        return self.cancelled_at is not None

    @property
    def currency_code(self) -> str:
        return self.currency

    presentment_currency_code = currency_code

    def bag(self, amount: Decimal) -> dict[str, Any]:
        value = {"amount": money(amount), "currencyCode": self.currency}
        return {"shopMoney": value, "presentmentMoney": dict(value)}

    def tax_line(self, rate: Decimal, amount: Decimal) -> dict[str, Any]:
        return {
            "rate": float(rate),
            "ratePercentage": float(rate * 100),
            "title": "GST",
            "priceSet": self.bag(amount),
            "channelLiable": False,
        }

    @property
    def display_financial_status(self) -> str:
        return self.financial_status

    @property
    def display_fulfillment_status(self) -> str:
        wanted = sum(li.current_quantity for li in self.lines)
        done = sum(min(li.fulfilled, li.current_quantity) for li in self.lines)
        if wanted and done >= wanted:
            return "FULFILLED"
        return "PARTIALLY_FULFILLED" if done else "UNFULFILLED"

    def _subtotal(self, current: bool) -> Decimal:
        return sum(
            (li.discounted_unit_price * (li.current_quantity if current else li.quantity))
            for li in self.lines
        ) or Decimal(0)

    def _tax(self, current: bool) -> Decimal:
        lines = sum(
            (li.tax_for(li.current_quantity if current else li.quantity) for li in self.lines),
            Decimal(0),
        )
        return lines + sum((s.tax for s in self.shipping), Decimal(0))

    def _shipping(self) -> Decimal:
        return sum((s.price for s in self.shipping), Decimal(0))

    def _total(self, current: bool) -> Decimal:
        total = self._subtotal(current) + self._shipping()
        return total if self.taxes_included else total + self._tax(current)

    @property
    def subtotal_price_set(self) -> dict[str, Any]:
        return self.bag(self._subtotal(False))

    @property
    def current_subtotal_price_set(self) -> dict[str, Any]:
        return self.bag(self._subtotal(True))

    @property
    def total_price_set(self) -> dict[str, Any]:
        return self.bag(self._total(False))

    @property
    def current_total_price_set(self) -> dict[str, Any]:
        return self.bag(self._total(True))

    @property
    def total_tax_set(self) -> dict[str, Any]:
        return self.bag(self._tax(False))

    @property
    def current_total_tax_set(self) -> dict[str, Any]:
        return self.bag(self._tax(True))

    @property
    def total_discounts_set(self) -> dict[str, Any]:
        return self.bag(
            sum(
                ((li.unit_price - li.discounted_unit_price) * li.quantity for li in self.lines),
                Decimal(0),
            )
        )

    @property
    def current_total_discounts_set(self) -> dict[str, Any]:
        return self.bag(
            sum(
                (
                    (li.unit_price - li.discounted_unit_price) * li.current_quantity
                    for li in self.lines
                ),
                Decimal(0),
            )
        )

    @property
    def total_shipping_price_set(self) -> dict[str, Any]:
        return self.bag(self._shipping())

    @property
    def total_refunded_set(self) -> dict[str, Any]:
        return self.bag(sum((r.total for r in self.refunds), Decimal(0)))

    @property
    def total_refunded_shipping_set(self) -> dict[str, Any]:
        return self.bag(
            sum(
                (s.shipping_line.price for r in self.refunds for s in r.shipping),
                Decimal(0),
            )
        )

    @property
    def tax_lines(self) -> list[dict[str, Any]]:
        rates: dict[Decimal, Decimal] = {}
        for li in self.lines:
            if li.taxable and li.tax_rate:
                rates[li.tax_rate] = rates.get(li.tax_rate, Decimal(0)) + li.tax_for(li.quantity)
        for s in self.shipping:
            if s.tax_rate:
                rates[s.tax_rate] = rates.get(s.tax_rate, Decimal(0)) + s.tax
        return [self.tax_line(rate, amount) for rate, amount in rates.items()]

    def gql_lineItems(self, info: Any, **args: Any) -> dict[str, Any]:
        return offset_connection(self.lines, args)

    def gql_shippingLines(self, info: Any, **args: Any) -> dict[str, Any]:
        lines = [s for s in self.shipping if args.get("includeRemovals") or not s.is_removed]
        return offset_connection(lines, args)

    def gql_refunds(self, info: Any, **args: Any) -> list[Refund]:
        first = args.get("first")
        return self.refunds[:first] if first is not None else list(self.refunds)

    def gql_fulfillmentOrders(self, info: Any, **args: Any) -> dict[str, Any]:
        return offset_connection(self.fulfillment_orders, args)

    def gql_fulfillments(self, info: Any, **args: Any) -> list[Fulfillment]:
        first = args.get("first")
        return self.fulfillments[:first] if first is not None else list(self.fulfillments)


class AdjustmentGroup(Node):
    typename = "InventoryAdjustmentGroup"

    def __init__(self, num: int, at: datetime, reason: str, uri: str | None) -> None:
        super().__init__(num, at)
        self.reason = reason
        self.reference_document_uri = uri
        self.change_list: list[dict[str, Any]] = []

    def gql_changes(self, info: Any, **args: Any) -> list[dict[str, Any]]:
        items = set(args.get("inventoryItemIds") or [])
        locations = set(args.get("locationIds") or [])
        names = set(args.get("quantityNames") or [])
        return [
            c
            for c in self.change_list
            if (not items or c["item"].id in items)
            and (not locations or c["location"].id in locations)
            and (not names or c["name"] in names)
        ]


# -- pagination -----------------------------------------------------------------------------


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Any:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError) as exc:
        raise GraphQLError(f"Invalid cursor for current pagination sort: {cursor!r}") from exc


def page_size(args: dict[str, Any], limit: int = MAX_PAGE_SIZE) -> int:
    if in_bulk_mode():
        return sys.maxsize  # a bulk query reads whole connections; `first` is ignored
    first = args.get("first")
    if first is None:
        raise GraphQLError("you must provide one of first or last")
    if first < 0 or first > limit:
        raise GraphQLError(f"The first argument must be between 0 and {limit} (got {first}).")
    return int(first)


def connection(
    nodes: list[Any], cursors: list[str], has_next: bool, has_previous: bool
) -> dict[str, Any]:
    return {
        "nodes": nodes,
        "edges": [{"cursor": c, "node": n} for c, n in zip(cursors, nodes, strict=True)],
        "pageInfo": {
            "hasNextPage": has_next,
            "hasPreviousPage": has_previous,
            "startCursor": cursors[0] if cursors else None,
            "endCursor": cursors[-1] if cursors else None,
        },
    }


def offset_connection(
    items: list[Any], args: dict[str, Any], limit: int = MAX_PAGE_SIZE
) -> dict[str, Any]:
    """A nested connection paged by position (line items, fulfillment orders, ...)."""
    size = page_size(args, limit)
    start = 0
    if args.get("after"):
        start = int(decode_cursor(args["after"])["p"]) + 1
    chunk = items[start : start + size]
    cursors = [encode_cursor({"p": start + i}) for i in range(len(chunk))]
    return connection(chunk, cursors, start + size < len(items), start > 0)


def sorted_connection(
    items: list[Any], args: dict[str, Any], sort_value: Any, sort_name: str
) -> dict[str, Any]:
    """A root connection in a stable order: (sort value, id), ties broken by id."""
    size = page_size(args)
    reverse = bool(args.get("reverse"))
    keyed = sorted(((sort_value(item), item.num), item) for item in items)
    if reverse:
        keyed.reverse()
    start = 0
    if args.get("after"):
        data = decode_cursor(args["after"])
        if data.get("s") != sort_name:
            raise GraphQLError("Invalid cursor for current pagination sort.")
        mark = (data["v"], data["id"])
        start = len(keyed)
        for index, (key, _) in enumerate(keyed):
            if (key > mark) if not reverse else (key < mark):
                start = index
                break
    chunk = keyed[start : start + size]
    cursors = [encode_cursor({"s": sort_name, "v": key[0], "id": key[1]}) for key, _ in chunk]
    return connection([item for _, item in chunk], cursors, start + size < len(keyed), start > 0)


def sort_key_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, Decimal):
        return float(value)
    return value


# -- search syntax --------------------------------------------------------------------------

_TOKEN = re.compile(r"""-?[\w.]+:(?:[<>]=?)?(?:'[^']*'|"[^"]*"|[^\s()]+)|\(|\)|\S+""")
_TERM = re.compile(r"""(-?)([\w.]+):(<=|>=|<|>)?(.*)""", re.S)


@dataclass
class Term:
    field: str
    op: str  # ":", "<", "<=", ">", ">="
    value: str
    negate: bool = False


def parse_search(query: str | None) -> list[list[Term]]:
    """Shopify search syntax as AND of OR-groups: `a:1 b:2 OR b:3` -> [[a:1], [b:2, b:3]]."""
    groups: list[list[Term]] = []
    join_next = False
    for token in _TOKEN.findall(query or ""):
        if token in ("(", ")", "AND"):
            continue
        if token == "OR":
            join_next = True
            continue
        match = _TERM.fullmatch(token)
        if match:
            negate, name, op, value = match.groups()
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            term = Term(name.lower(), op or ":", value, bool(negate))
        else:
            term = Term("default", ":", token.strip("'\""))
        if join_next and groups:
            groups[-1].append(term)
        else:
            groups.append([term])
        join_next = False
    return groups


def parse_when(value: str) -> datetime:
    text = value.strip().replace("Z", "+00:00")
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise GraphQLError(f"Invalid date in search query: {value!r}") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def compare(actual: Any, term: Term) -> bool:
    if actual is None:
        return False
    if isinstance(actual, (list, tuple, set)):
        return any(compare(a, term) for a in actual)
    target: Any
    if isinstance(actual, datetime):
        target = parse_when(term.value)
    elif isinstance(actual, bool):
        target = term.value.lower() in ("true", "1", "yes")
    elif isinstance(actual, int):
        parsed = parse_gid(term.value)
        try:
            target = parsed[1] if parsed else int(term.value)
        except ValueError:
            return False
    else:
        actual, target = str(actual).lower(), term.value.lower()
        if term.op == ":" and target.endswith("*"):
            return bool(actual.startswith(target[:-1]))
    if term.op == ":":
        return bool(actual == target)
    if term.op == ">":
        return bool(actual > target)
    if term.op == ">=":
        return bool(actual >= target)
    if term.op == "<":
        return bool(actual < target)
    return bool(actual <= target)


def matches(item: Any, groups: list[list[Term]], fields: dict[str, Any]) -> bool:
    for group in groups:
        ok = False
        for term in group:
            getter = fields.get(term.field)
            if getter is None:
                ok = True  # Shopify ignores unknown search fields (with a warning)
                break
            hit = compare(getter(item), term)
            if hit != term.negate:
                ok = True
                break
        if not ok:
            return False
    return True


def order_status_match(order: Order, value: str) -> bool:
    value = value.lower()
    if value == "any":
        return True
    if value == "cancelled":
        return order.cancelled_at is not None
    if value == "closed":
        return order.closed
    return not order.closed  # open / not_closed


# Shopify's `fulfillment_status` search values per displayFulfillmentStatus: `shipped` and
# `fulfilled` mean fully fulfilled, `unshipped` nothing fulfilled, `partial` some, and
# `unfulfilled` anything not yet fully fulfilled (unshipped or partial).
_FULFILLMENT_SEARCH_VALUES = {
    "FULFILLED": ["fulfilled", "shipped"],
    "PARTIALLY_FULFILLED": ["partial", "partially_fulfilled", "unfulfilled"],
    "UNFULFILLED": ["unshipped", "unfulfilled"],
}


def fulfillment_status_values(order: Order) -> list[str]:
    status = order.display_fulfillment_status
    return _FULFILLMENT_SEARCH_VALUES.get(status, [status.lower()])


ORDER_FIELDS: dict[str, Any] = {
    "id": lambda o: o.num,
    "updated_at": lambda o: o.updated_at,
    "created_at": lambda o: o.created_at,
    "processed_at": lambda o: o.processed_at,
    "name": lambda o: [o.name, str(o.number)],
    "financial_status": lambda o: o.financial_status.lower(),
    "fulfillment_status": lambda o: fulfillment_status_values(o),
    "test": lambda o: o.test,
    "email": lambda o: o.email,
    "sku": lambda o: [li.sku for li in o.lines],
    "default": lambda o: [o.name, o.email or ""],
}
PRODUCT_FIELDS: dict[str, Any] = {
    "id": lambda p: p.num,
    "updated_at": lambda p: p.updated_at,
    "created_at": lambda p: p.created_at,
    "title": lambda p: p.title,
    "handle": lambda p: p.handle,
    "status": lambda p: p.status.lower(),
    "product_type": lambda p: p.product_type,
    "sku": lambda p: [v.sku for v in p.variants],
    "barcode": lambda p: [v.barcode for v in p.variants if v.barcode],
    "default": lambda p: [p.title] + [v.sku for v in p.variants],
}
VARIANT_FIELDS: dict[str, Any] = {
    "id": lambda v: v.num,
    "updated_at": lambda v: v.updated_at,
    "created_at": lambda v: v.created_at,
    "sku": lambda v: v.sku,
    "barcode": lambda v: v.barcode,
    "title": lambda v: v.title,
    "product_id": lambda v: v.product.num,
    "product_status": lambda v: v.product.status.lower(),
    "default": lambda v: [v.sku, v.title, v.product.title],
}
ITEM_FIELDS: dict[str, Any] = {
    "id": lambda i: i.num,
    "updated_at": lambda i: i.updated_at,
    "created_at": lambda i: i.created_at,
    "sku": lambda i: i.sku,
    "default": lambda i: i.sku,
}
LEVEL_FIELDS: dict[str, Any] = {
    "updated_at": lambda lv: lv.updated_at,
    "inventory_item_id": lambda lv: lv.item.num,
    "sku": lambda lv: lv.item.sku,
}
LOCATION_FIELDS: dict[str, Any] = {
    "id": lambda loc: loc.num,
    "name": lambda loc: loc.name,
    "active": lambda loc: loc.is_active,
    "default": lambda loc: loc.name,
}


# -- query cost -----------------------------------------------------------------------------


class CostCalculator:
    """Shopify's documented cost rules: scalars and enums 0, objects 1, connections
    `first` x (1 + child cost) + 2, mutation fields 10. Requested cost reads the page sizes
    asked for; actual cost walks the data really returned."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def _arg(self, node: FieldNode, name: str) -> Any:
        for arg in node.arguments or ():
            if arg.name.value == name:
                return _ast_value(arg.value, self.variables)
        return None

    def _groups(
        self, parent: Any, selection: SelectionSetNode | None
    ) -> tuple[list[tuple[Any, FieldNode]], dict[str, list[tuple[Any, FieldNode]]]]:
        """Fields on the parent type, and fields of type-conditioned fragments by type."""
        common: list[tuple[Any, FieldNode]] = []
        by_type: dict[str, list[tuple[Any, FieldNode]]] = {}
        if selection is None:
            return common, by_type

        def walk(parent_type: Any, sel: SelectionSetNode, bucket: str | None) -> None:
            for item in sel.selections:
                if isinstance(item, FieldNode):
                    target = common if bucket is None else by_type.setdefault(bucket, [])
                    target.append((parent_type, item))
                    continue
                if isinstance(item, InlineFragmentNode):
                    cond, sub = item.type_condition, item.selection_set
                else:
                    assert isinstance(item, FragmentSpreadNode)
                    frag = self.fragments[item.name.value]
                    cond, sub = frag.type_condition, frag.selection_set
                name = cond.name.value if cond else parent_type.name
                inner = self.schema.get_type(name) or parent_type
                walk(inner, sub, bucket if name == parent_type.name else name)

        walk(parent, selection, None)
        return common, by_type

    def requested(self, parent: Any, selection: SelectionSetNode | None) -> int:
        common, by_type = self._groups(parent, selection)
        cost = sum(self._field_requested(p, f) for p, f in common)
        extra = [sum(self._field_requested(p, f) for p, f in fs) for fs in by_type.values()]
        return cost + (max(extra) if extra else 0)

    def _field_requested(self, parent: Any, node: FieldNode) -> int:
        name = node.name.value
        if name.startswith("__"):
            return 0
        definition = parent.fields[name]
        named = get_named_type(definition.type)
        if parent is self.schema.mutation_type:
            return MUTATION_COST
        if isinstance(named, (GraphQLScalarType, GraphQLEnumType)):
            return 0
        if name == "nodes" and parent is self.schema.query_type:
            ids = self._arg(node, "ids") or []
            return len(ids) * (1 + self.requested(named, node.selection_set))
        if named.name.endswith("Connection"):
            child = self._connection_child(named, node.selection_set, requested=True)
            return CONNECTION_OVERHEAD + int(self._arg(node, "first") or 0) * child
        child = 1 + self.requested(named, node.selection_set)
        if _is_list(definition.type) and self._arg(node, "first") is not None:
            return int(self._arg(node, "first")) * child
        return child

    def _connection_child(self, conn: Any, sel: SelectionSetNode | None, requested: bool) -> int:
        best = 0
        for _, node in self._groups(conn, sel)[0]:
            if node.name.value == "nodes":
                best = max(
                    best,
                    1
                    + self.requested(get_named_type(conn.fields["nodes"].type), node.selection_set),
                )
            elif node.name.value == "edges":
                edge = get_named_type(conn.fields["edges"].type)
                for _, inner in self._groups(edge, node.selection_set)[0]:
                    if inner.name.value == "node":
                        node_type = get_named_type(edge.fields["node"].type)
                        best = max(best, 1 + self.requested(node_type, inner.selection_set))
        return best

    def actual(self, parent: Any, selection: SelectionSetNode | None, data: Any) -> int:
        if data is None:
            return 0
        if isinstance(data, list):
            return sum(self.actual(parent, selection, item) for item in data)
        common, by_type = self._groups(parent, selection)
        cost = sum(self._field_actual(p, f, data) for p, f in common)
        extra = [
            sum(self._field_actual(p, f, data) for p, f in fs)
            for fs in by_type.values()
            if all(_key(f) in data for _, f in fs)
        ]
        return cost + (max(extra) if extra else 0)

    def _field_actual(self, parent: Any, node: FieldNode, data: dict[str, Any]) -> int:
        name = node.name.value
        if name.startswith("__"):
            return 0
        definition = parent.fields[name]
        named = get_named_type(definition.type)
        value = data.get(_key(node))
        if parent is self.schema.mutation_type:
            return MUTATION_COST
        if isinstance(named, (GraphQLScalarType, GraphQLEnumType)) or value is None:
            return 0
        if named.name.endswith("Connection"):
            total = CONNECTION_OVERHEAD
            for _, inner in self._groups(named, node.selection_set)[0]:
                items = value.get(_key(inner)) or []
                if inner.name.value == "nodes":
                    node_type = get_named_type(named.fields["nodes"].type)
                    total += len(items) + self.actual(node_type, inner.selection_set, items)
                elif inner.name.value == "edges":
                    edge = get_named_type(named.fields["edges"].type)
                    node_type = get_named_type(edge.fields["node"].type)
                    for _, sub in self._groups(edge, inner.selection_set)[0]:
                        if sub.name.value == "node":
                            nodes = [e.get(_key(sub)) for e in items]
                            total += len(nodes) + self.actual(node_type, sub.selection_set, nodes)
            return total
        if isinstance(value, list):
            return len(value) + self.actual(named, node.selection_set, value)
        return 1 + self.actual(named, node.selection_set, value)


def _key(node: FieldNode) -> str:
    return node.alias.value if node.alias else node.name.value


def _is_list(type_: Any) -> bool:
    while isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


def _ast_value(node: Any, variables: dict[str, Any]) -> Any:
    kind = node.kind
    if kind == "variable":
        return variables.get(node.name.value)
    if kind == "int_value":
        return int(node.value)
    if kind in ("string_value", "enum_value"):
        return node.value
    if kind == "list_value":
        return [_ast_value(v, variables) for v in node.values]
    if kind == "boolean_value":
        return node.value
    return None


# -- the application ------------------------------------------------------------------------


class GraphQLFailure(Exception):
    """A top-level GraphQL error reply (validation, cost, missing directive, ...)."""

    def __init__(self, message: str, code: str, **extra: Any) -> None:
        super().__init__(message)
        self.error: dict[str, Any] = {"message": message, "extensions": {"code": code, **extra}}


@dataclass
class Bucket:
    maximum: float
    restore_rate: float
    available: float
    stamp: float = field(default_factory=time.monotonic)

    def refill(self) -> None:
        now = time.monotonic()
        self.available = min(self.maximum, self.available + (now - self.stamp) * self.restore_rate)
        self.stamp = now

    def status(self) -> dict[str, Any]:
        return {
            "maximumAvailable": float(self.maximum),
            "currentlyAvailable": int(self.available),
            "restoreRate": float(self.restore_rate),
        }


@dataclass
class Token:
    value: str
    expires_at: float | None  # time.time(); None: never
    bucket_key: str


_SCHEMA: GraphQLSchema | None = None


def served_schema() -> GraphQLSchema:
    """The schema the sandbox executes: the SDL subset plus runtime enum values, built once."""
    global _SCHEMA
    if _SCHEMA is None:
        base = build_schema(SCHEMA_PATH.read_text(encoding="utf-8"))
        schema = extend_schema(base, parse_document(RUNTIME_EXTENSIONS))

        def serialize_datetime(value: Any) -> str:
            return iso(value) if isinstance(value, datetime) else str(value)

        def serialize_decimal(value: Any) -> str:
            return str(money(value)) if isinstance(value, Decimal) else str(value)

        for name, fn in (
            ("DateTime", serialize_datetime),
            ("Decimal", serialize_decimal),
            ("Money", serialize_decimal),
            ("UnsignedInt64", str),
            ("URL", str),
            ("HTML", str),
        ):
            scalar = schema.get_type(name)
            if isinstance(scalar, GraphQLScalarType):
                # graphql-core 3.2 calls `serialize`, 3.3 `coerce_output_value`.
                for hook in ("serialize", "coerce_output_value"):
                    if hasattr(scalar, hook):
                        setattr(scalar, hook, fn)
        _SCHEMA = schema
    return _SCHEMA


class ShopifySandbox:
    """The Shopify app for `SandboxServer`, and the control API tests call directly."""

    name = "shopify"

    def __init__(
        self,
        world: World | None = None,
        *,
        seed: int = 1,
        access_token: str | None = "shpat_sandbox",
        client_id: str | None = "sandbox-client",
        client_secret: str | None = "sandbox-secret",
        token_ttl: float = 86399,
        taxes_included: bool = True,
        drift: bool = True,
        maximum_available: float = 2000,
        restore_rate: float = 100,
        throttle_status: int = 200,
        shop_domain: str = "syncer-sandbox.myshopify.com",
    ) -> None:
        self.world = world or make_world(seed)
        self.lock = threading.RLock()
        self.schema = served_schema()
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl = token_ttl
        self.maximum_available = maximum_available
        self.restore_rate = restore_rate
        self.throttle_status = throttle_status
        self.tokens: dict[str, Token] = {}
        if access_token:
            self.tokens[access_token] = Token(access_token, None, access_token)
        self.buckets: dict[str, Bucket] = {}
        self._last_bucket: Bucket | None = None
        # Totals for the benchmark: sum of actualQueryCost, points the bucket really kept
        # (never more than requested) and THROTTLED replies.
        self.cost_spent = 0
        self.cost_charged = 0
        self.throttled = 0
        self.writes: list[dict[str, Any]] = []
        self.idempotency: dict[str, tuple[str, Any]] = {}
        self._doc_cache: dict[str, Any] = {}
        self._variables: dict[str, Any] = {}
        self._seed_prices: dict[str, Decimal] | None = None
        self._counters: dict[str, int] = {}
        # Bulk query operations (shopify_bulk.py): seconds until one completes, how many may
        # run at once, an errorCode the next one fails with, and the host the client called
        # (the result URL points back at this server).
        self.bulk_operations: dict[int, bulk.BulkOperation] = {}
        self.bulk_delay = bulk.DEFAULT_DELAY
        self.bulk_limit = bulk.CONCURRENT_QUERIES
        self.bulk_fail_next: str | None = None
        self._request_host = "127.0.0.1"
        self.shop: dict[str, Any] = {
            "id": gid("Shop", 1),
            "name": "Syncer Sandbox",
            "currencyCode": self.world.currency,
            "taxesIncluded": taxes_included,
            "myshopifyDomain": shop_domain,
            "ianaTimezone": "Pacific/Auckland",
            "weightUnit": "KILOGRAMS",
        }
        self.locations: dict[int, Location] = {}
        self.location_by_code: dict[str, Location] = {}
        self.products: dict[int, Product] = {}
        self.variants: dict[int, Variant] = {}
        self.items: dict[int, InventoryItem] = {}
        self.by_sku: dict[str, list[Variant]] = {}
        self.orders: dict[int, Order] = {}
        self.line_items: dict[int, LineItem] = {}
        self.refunds: dict[int, Refund] = {}
        self.fulfillment_orders: dict[int, FulfillmentOrder] = {}
        self.fo_lines: dict[int, FulfillmentOrderLineItem] = {}
        self.fulfillments: dict[int, Fulfillment] = {}
        self.customers: dict[str, Customer] = {}
        self._clock = datetime(2026, 10, 1, tzinfo=UTC)
        self._seed(drift)

    # -- clock and ids ----------------------------------------------------------------------

    def now(self) -> datetime:
        """Wall-clock UTC, but never earlier than any timestamp already handed out."""
        real = datetime.now(UTC).replace(microsecond=0)
        self._clock = max(real, self._clock + timedelta(seconds=1))
        return self._clock

    def _next(self, kind: str) -> int:
        self._counters[kind] = self._counters.get(kind, 0) + 1
        return self._counters[kind]

    # -- seeding ------------------------------------------------------------------------------

    def _price(self, exclusive: Decimal) -> Decimal:
        if self.shop["taxesIncluded"]:
            return money(exclusive * (1 + self.world.tax_rate))
        return money(exclusive)

    def _seed(self, drift: bool) -> None:
        at = self._clock
        for index, (code, name) in enumerate(self.world.warehouses):
            loc = Location(self._next("Location"), at, name, primary=index == 0)
            self.locations[loc.num] = loc
            self.location_by_code[code] = loc
        for index, seed_product in enumerate(self.world.products):
            if drift and index == 2:
                continue  # a seed product Shopify does not have
            product = self._new_product(
                seed_product.title, seed_product.handle, at, seed_product.product_type
            )
            product.description_html = seed_product.description_html
            for position, sv in enumerate(seed_product.variants, start=1):
                price = sv.price + (Decimal(1) if drift and index == 1 else 0)
                variant = self._new_variant(product, sv.sku, sv.title, at)
                variant.position = position
                variant.price = self._price(price)
                variant.barcode = sv.barcode
                variant.inventory_item.weight_value = sv.weight_kg
                variant.inventory_item.tracked = True
                for code, loc in self.location_by_code.items():
                    level = self._level(variant.inventory_item, loc, at)
                    on_hand = self.world.stock.get((sv.sku, code), 0)
                    if drift and (sv.sku[-1] in "05" or len(self.by_sku) % 5 == 0):
                        on_hand += 3
                    level.quantities.update(available=on_hand, on_hand=on_hand, committed=0)
        if drift:
            extra = self._new_product("Shopify Gift Wrap", "shopify-gift-wrap", at, "Services")
            extra.description_html = "<p>Only sold on Shopify.</p>"
            variant = self._new_variant(extra, "SHOP-ONLY-1", "Default Title", at)
            variant.price = self._price(Decimal("4.35"))
            variant.inventory_item.tracked = False
            self._level(variant.inventory_item, self.location_by_code["MAIN"], at)
        for seed_order in self.world.orders:
            self._seed_order(seed_order)

    def _new_product(self, title: str, handle: str, at: datetime, product_type: str) -> Product:
        product = Product(self._next("Product"), at, title, handle)
        product.product_type = product_type
        self.products[product.num] = product
        return product

    def _new_variant(self, product: Product, sku: str, title: str, at: datetime) -> Variant:
        item = InventoryItem(self._next("InventoryItem"), at, sku, tracked=False)
        self.items[item.num] = item
        variant = Variant(self._next("ProductVariant"), at, product, item, title)
        variant.position = len(product.variants) + 1
        product.variants.append(variant)
        self.variants[variant.num] = variant
        if sku:
            self.by_sku.setdefault(sku, []).append(variant)
        return variant

    def _level(self, item: InventoryItem, loc: Location, at: datetime) -> InventoryLevel:
        level = item.levels.get(loc.num)
        if level is None:
            level = InventoryLevel(at, item, loc)
            item.levels[loc.num] = level
            loc.levels[item.num] = level
        return level

    def _customer(self, first: str, last: str, email: str | None) -> Customer | None:
        if not email:
            return None
        if email not in self.customers:
            self.customers[email] = Customer(self._next("Customer"), first, last, email)
        return self.customers[email]

    def _seed_order(self, seed: Any) -> Order:
        city, province, zip_code = seed.city
        address = {
            "id": gid("MailingAddress", seed.number),
            "name": f"{seed.first_name} {seed.last_name}",
            "firstName": seed.first_name,
            "lastName": seed.last_name,
            "company": None,
            "address1": f"{seed.number % 90 + 1} Queen Street",
            "address2": None,
            "city": city,
            "province": None,
            "provinceCode": province,
            "zip": zip_code,
            "country": "New Zealand",
            "countryCodeV2": "NZ",
            "phone": None,
        }
        order = self.add_order(
            [(line.sku, line.quantity) for line in seed.lines],
            financial_status=seed.financial_status,
            email=seed.email,
            first_name=seed.first_name,
            last_name=seed.last_name,
            address=address,
            taxes_included=seed.taxes_included,
            discount_rate=seed.discount_rate,
            shipping=seed.shipping,
            test=seed.test,
            created_at=seed.created_at,
            number=seed.number,
        )
        if seed.cancelled:
            self.cancel_order(order, at=seed.created_at + timedelta(hours=1))
        elif seed.financial_status == "PARTIALLY_REFUNDED" and order.lines:
            first = order.lines[0]
            self.add_refund(
                order, {first.sku: 1}, at=seed.created_at + timedelta(hours=2), status=None
            )
        return order

    # -- control API (tests and the demo) -----------------------------------------------------

    def find_order(self, ref: Order | str | int) -> Order:
        with self.lock:
            if isinstance(ref, Order):
                return ref
            if isinstance(ref, int):
                found = [o for o in self.orders.values() if o.number == ref]
            else:
                parsed = parse_gid(ref)
                if parsed and parsed[0] == "Order" and parsed[1] in self.orders:
                    return self.orders[parsed[1]]
                found = [o for o in self.orders.values() if o.name == ref]
            if not found:
                raise KeyError(f"no sandbox order {ref!r}")
            return found[0]

    def variant_for(self, sku: str) -> Variant:
        with self.lock:
            found = self.by_sku.get(sku)
            if not found:
                raise KeyError(f"no sandbox variant with SKU {sku!r}")
            return found[0]

    def location(self, ref: str) -> Location:
        """A location by warehouse code ("MAIN"), name ("Main warehouse") or gid."""
        with self.lock:
            if ref in self.location_by_code:
                return self.location_by_code[ref]
            for loc in self.locations.values():
                if ref in (loc.name, loc.id):
                    return loc
            raise KeyError(f"no sandbox location {ref!r}")

    def add_order(
        self,
        lines: list[tuple[str, int]],
        *,
        financial_status: str = "PAID",
        email: str | None = "buyer@example.com",
        first_name: str = "Sam",
        last_name: str = "Buyer",
        address: dict[str, Any] | None = None,
        taxes_included: bool | None = None,
        discount_rate: Decimal = Decimal(0),
        shipping: Decimal = Decimal(0),
        test: bool = False,
        created_at: datetime | None = None,
        number: int | None = None,
        location: str = "MAIN",
    ) -> Order:
        """Place an order for (sku, quantity) lines; open orders commit stock like Shopify."""
        with self.lock:
            at = created_at or self.now()
            num = self._next("Order")
            number = number or max([o.number for o in self.orders.values()] + [1000]) + 1
            order = Order(num, at, number, self.world.currency)
            order.financial_status = financial_status
            order.taxes_included = (
                self.shop["taxesIncluded"] if taxes_included is None else taxes_included
            )
            order.email = email
            order.test = test
            order.customer = self._customer(first_name, last_name, email)
            order.shipping_address = address or {
                "id": gid("MailingAddress", num),
                "name": f"{first_name} {last_name}",
                "firstName": first_name,
                "lastName": last_name,
                "company": None,
                "address1": "1 Queen Street",
                "address2": None,
                "city": "Auckland",
                "province": None,
                "provinceCode": "AUK",
                "zip": "1010",
                "country": "New Zealand",
                "countryCodeV2": "NZ",
                "phone": None,
            }
            order.billing_address = dict(order.shipping_address)
            rate = self.world.tax_rate
            for sku, quantity in lines:
                variant = self.by_sku.get(sku, [None])[0]
                line = LineItem(self._next("LineItem"), at, order, variant)
                line.sku = sku
                line.title = variant.product.title if variant else f"Item {sku}"
                if variant and variant.title != "Default Title":
                    line.variant_title = variant.title
                exclusive = self._exclusive_price(sku, variant)
                line.unit_price = (
                    money(exclusive * (1 + rate)) if order.taxes_included else money(exclusive)
                )
                line.discounted_unit_price = money(line.unit_price * (1 - discount_rate))
                line.tax_rate = rate
                line.quantity = line.current_quantity = quantity
                order.lines.append(line)
                self.line_items[line.num] = line
            if shipping:
                ship = ShippingLine(self._next("ShippingLine"), at, order, "Standard", shipping)
                ship.tax_rate = rate
                order.shipping.append(ship)
            loc = self.location(location)
            fo = FulfillmentOrder(self._next("FulfillmentOrder"), at, order, loc)
            for line in order.lines:
                fo_line = FulfillmentOrderLineItem(self._next("FulfillmentOrderLineItem"), at, line)
                fo.lines.append(fo_line)
                self.fo_lines[fo_line.num] = fo_line
            order.fulfillment_orders.append(fo)
            self.fulfillment_orders[fo.num] = fo
            self.orders[order.num] = order
            for line in order.lines:
                self._commit(line, loc, line.current_quantity, at)
            order.updated_at = at + timedelta(minutes=1) if created_at else at
            return order

    def _exclusive_price(self, sku: str, variant: Variant | None) -> Decimal:
        if self._seed_prices is None:
            self._seed_prices = {v.sku: v.price for v in self.world.variants()}
        if sku in self._seed_prices:
            return self._seed_prices[sku]
        if variant is not None:
            price = variant.price
            return price / (1 + self.world.tax_rate) if self.shop["taxesIncluded"] else price
        return Decimal("10.00")

    def _commit(self, line: LineItem, loc: Location, quantity: int, at: datetime) -> None:
        """Move `quantity` of a line's item from available to committed (negative: back)."""
        if line.variant is None or not quantity or not line.variant.inventory_item.tracked:
            return
        level = self._level(line.variant.inventory_item, loc, at)
        level.change("available", -quantity, at)
        level.change("committed", quantity, at)

    def mark_paid(self, ref: Order | str | int) -> Order:
        with self.lock:
            order = self.find_order(ref)
            order.financial_status = "PAID"
            order.updated_at = self.now()
            return order

    def edit_order(self, ref: Order | str | int, changes: dict[str, int]) -> Order:
        """Set the current quantity of lines (by SKU or line gid), as an order edit would."""
        with self.lock:
            order = self.find_order(ref)
            at = self.now()
            loc = order.fulfillment_orders[0].location
            for key, quantity in changes.items():
                line = next((li for li in order.lines if key in (li.sku, li.id)), None)
                if line is None:
                    raise KeyError(f"order {order.name} has no line {key!r}")
                delta = quantity - line.current_quantity
                line.current_quantity = quantity
                line.updated_at = at
                for fo in order.fulfillment_orders:
                    for fo_line in fo.lines:
                        if fo_line.line_item is line:
                            fo_line.total_quantity += delta
                            fo_line.remaining_quantity = max(0, fo_line.remaining_quantity + delta)
                if order.cancelled_at is None:
                    self._commit(line, loc, delta, at)
            order.edited = True
            order.updated_at = at
            return order

    def cancel_order(self, ref: Order | str | int, *, at: datetime | None = None) -> Order:
        """Cancel and restock, as Shopify does."""
        with self.lock:
            order = self.find_order(ref)
            if order.cancelled_at is not None:
                return order
            when = at or self.now()
            order.cancelled_at = when
            order.cancel_reason = "CUSTOMER"
            for fo in order.fulfillment_orders:
                for fo_line in fo.lines:
                    self._commit(fo_line.line_item, fo.location, -fo_line.remaining_quantity, when)
                    fo_line.remaining_quantity = 0
                fo.status = "CLOSED"
                fo.updated_at = when
            order.updated_at = when + timedelta(minutes=1) if at else when
            return order

    def add_refund(
        self,
        ref: Order | str | int,
        lines: dict[str, int],
        *,
        shipping: bool = False,
        restock_type: str = "RETURN",
        note: str | None = None,
        at: datetime | None = None,
        status: str | None = "auto",
    ) -> Refund:
        """Refund quantities of lines (by SKU or line gid) and optionally the shipping."""
        with self.lock:
            order = self.find_order(ref)
            when = at or self.now()
            refund = Refund(self._next("Refund"), when, order, note)
            loc = order.fulfillment_orders[0].location
            for key, quantity in lines.items():
                line = next((li for li in order.lines if key in (li.sku, li.id)), None)
                if line is None:
                    raise KeyError(f"order {order.name} has no line {key!r}")
                refund.lines.append(
                    RefundLineItem(self._next("RefundLineItem"), line, quantity, restock_type, loc)
                )
                line.refunded += quantity
                if restock_type in ("RETURN", "CANCEL"):
                    unfulfilled = min(quantity, line.unfulfilled_quantity)
                    line.current_quantity -= quantity
                    for fo_line in order.fulfillment_orders[0].lines:
                        if fo_line.line_item is line:
                            fo_line.remaining_quantity = max(
                                0, fo_line.remaining_quantity - unfulfilled
                            )
                    if order.cancelled_at is None:
                        self._commit(line, loc, -unfulfilled, when)
                    shipped = quantity - unfulfilled
                    if shipped and line.variant is not None:
                        level = self._level(line.variant.inventory_item, loc, when)
                        level.change("available", shipped, when)
                        level.change("on_hand", shipped, when)
            if shipping:
                for ship in order.shipping:
                    refund.shipping.append(
                        RefundShippingLine(self._next("RefundShippingLine"), when, ship)
                    )
            order.refunds.append(refund)
            self.refunds[refund.num] = refund
            if status == "auto":
                fully = all(li.refunded >= li.quantity for li in order.lines)
                order.financial_status = "REFUNDED" if fully else "PARTIALLY_REFUNDED"
            order.updated_at = when + timedelta(minutes=1) if at else when
            return refund

    def update_product(self, ref: str | int, **fields: Any) -> Product:
        """Change product fields (snake_case attribute names: title, description_html, ...)."""
        with self.lock:
            product = self._product_ref(ref)
            for name, value in fields.items():
                if not hasattr(product, name):
                    raise AttributeError(f"products have no field {name!r}")
                setattr(product, name, value)
            product.updated_at = self.now()
            return product

    def update_variant(self, sku: str, **fields: Any) -> Variant:
        """Change a variant's price, barcode, weight_value, tracked or sku."""
        with self.lock:
            variant = self.variant_for(sku)
            at = self.now()
            for name, value in fields.items():
                if name in ("weight_value", "tracked"):
                    setattr(variant.inventory_item, name, value)
                elif name == "sku":
                    self._set_sku(variant, value)
                elif name == "price":
                    variant.price = Decimal(value)
                else:
                    setattr(variant, name, value)
            variant.updated_at = variant.inventory_item.updated_at = at
            return variant

    def delete_product(self, ref: str | int) -> None:
        with self.lock:
            product = self._product_ref(ref)
            for variant in product.variants:
                self.variants.pop(variant.num, None)
                self.by_sku.get(variant.sku, []).remove(variant)
            self.products.pop(product.num)

    def _product_ref(self, ref: str | int) -> Product:
        if isinstance(ref, int):
            return self.products[ref]
        parsed = parse_gid(ref)
        if parsed and parsed[1] in self.products:
            return self.products[parsed[1]]
        return self.variant_for(ref).product

    def _set_sku(self, variant: Variant, sku: str) -> None:
        old = self.by_sku.get(variant.sku)
        if old and variant in old:
            old.remove(variant)
            if not old:
                del self.by_sku[variant.sku]
        variant.inventory_item.sku = sku
        if sku:
            self.by_sku.setdefault(sku, []).append(variant)

    def set_available(self, sku: str, location: str, quantity: int) -> InventoryLevel:
        """Set `available` directly (a concurrent change made by someone else)."""
        with self.lock:
            variant = self.variant_for(sku)
            at = self.now()
            level = self._level(variant.inventory_item, self.location(location), at)
            delta = quantity - level.quantities["available"]
            level.change("available", delta, at)
            level.change("on_hand", delta, at)
            return level

    def quantities(self, sku: str, location: str) -> dict[str, int]:
        with self.lock:
            item = self.variant_for(sku).inventory_item
            level = item.levels.get(self.location(location).num)
            return dict(level.quantities) if level else {}

    def set_bucket(self, maximum: float | None = None, restore_rate: float | None = None) -> None:
        """Change the throttle for every token, starting each bucket full."""
        with self.lock:
            if maximum is not None:
                self.maximum_available = maximum
            if restore_rate is not None:
                self.restore_rate = restore_rate
            self.buckets.clear()

    # -- bulk query operations ----------------------------------------------------------------

    def set_bulk(
        self,
        *,
        delay: float | None = None,
        limit: int | None = None,
        fail_next: str | None = None,
    ) -> None:
        """Tune bulk operations for a test: seconds from creation to completion, how many
        may run at once, and an errorCode (ACCESS_DENIED, INTERNAL_SERVER_ERROR, TIMEOUT)
        the next operation fails with."""
        with self.lock:
            if delay is not None:
                self.bulk_delay = float(delay)
            if limit is not None:
                self.bulk_limit = int(limit)
            if fail_next is not None:
                self.bulk_fail_next = fail_next

    def start_bulk_query(self, text: str) -> dict[str, Any]:
        """`bulkOperationRunQuery`: check the query, refuse past the concurrency limit, then
        run it over the whole data set (connections un-paged) into JSONL served later."""
        with self.lock:
            try:
                document = bulk.check_query(self.schema, text)
            except bulk.InvalidBulkQuery as exc:
                return {
                    "bulkOperation": None,
                    "userErrors": [bulk_error(["query"], str(exc), "INVALID")],
                }
            running = [op for op in self.bulk_operations.values() if not op.finished]
            if len(running) >= self.bulk_limit:
                message = (
                    f"A maximum of {self.bulk_limit} bulk query operations can run at the same "
                    f"time; {', '.join(op.id for op in running)} are still running."
                )
                return {
                    "bulkOperation": None,
                    "userErrors": [bulk_error(["query"], message, "LIMIT_REACHED")],
                }
            with bulk.bulk_mode():
                result = execute_sync(
                    self.schema,
                    document,
                    root_value=Root(self),
                    field_resolver=resolve_field,
                    type_resolver=resolve_type,
                )
            failure, self.bulk_fail_next = self.bulk_fail_next, None
            objects: list[dict[str, Any]] = []
            if result.errors:
                failure = failure or "INTERNAL_SERVER_ERROR"
            if result.data is not None:
                objects = bulk.jsonl_objects(self.schema, document, result.data)
            op = bulk.BulkOperation(
                self._next("BulkOperation"),
                self.now(),
                text,
                bulk.encode_lines(objects),
                delay=self.bulk_delay,
                base_url=f"http://{self._request_host}",
                failure=failure,
            )
            self.bulk_operations[op.num] = op
            return {"bulkOperation": op, "userErrors": []}

    def current_bulk_operation(self, type_: str = "QUERY") -> bulk.BulkOperation | None:
        with self.lock:
            ops = [op for op in self.bulk_operations.values() if op.type == type_]
            return ops[-1] if ops else None

    def _bulk_download(self, num: int, partial: bool, query: str) -> Reply:
        """The result file; the signature in the URL stands in for Shopify's signed URL."""
        with self.lock:
            op = self.bulk_operations.get(num)
            signature = (parse_qs(query).get("sig") or [""])[0]
            if op is None or not secrets.compare_digest(signature, op.signature):
                return Reply(403, "<Error><Code>AccessDenied</Code></Error>")
            body = op.partial_body() if partial else op.body
            if (op.status != "FAILED") if partial else (op.url is None):
                return Reply(404, "<Error><Code>NoSuchKey</Code></Error>")
        return Reply(200, body, {"Content-Type": "application/jsonl"})

    def written(self, mutation: str | None = None) -> list[dict[str, Any]]:
        """Every mutation applied (not replays or rejected calls), oldest first."""
        with self.lock:
            return [dict(w) for w in self.writes if mutation in (None, w["mutation"])]

    def control(self, method: str, path: str, body: Any) -> Reply:
        """HTTP control endpoints under /_control/shopify/..."""
        body = body or {}
        try:
            if path == "/shopify/writes" and method == "GET":
                return Reply(200, {"writes": self.written()})
            if path == "/shopify/bucket" and method == "POST":
                self.set_bucket(body.get("maximum"), body.get("restore_rate"))
                return Reply(200, {"maximum": self.maximum_available, "rate": self.restore_rate})
            if path == "/shopify/available" and method == "POST":
                level = self.set_available(body["sku"], body["location"], int(body["quantity"]))
                return Reply(200, {"quantities": level.quantities})
            if path == "/shopify/token_ttl" and method == "POST":
                self.token_ttl = float(body["seconds"])
                return Reply(200, {"token_ttl": self.token_ttl})
            if path == "/shopify/bulk" and method == "POST":
                self.set_bulk(
                    delay=body.get("delay"),
                    limit=body.get("limit"),
                    fail_next=body.get("fail_next"),
                )
                return Reply(200, {"delay": self.bulk_delay, "limit": self.bulk_limit})
            match = re.fullmatch(r"/shopify/orders/([^/]+)/(paid|cancel)", path)
            if match and method == "POST":
                raw = match.group(1)
                ref: str | int = int(raw) if raw.isdigit() else f"#{raw.lstrip('#')}"
                order = (self.mark_paid if match.group(2) == "paid" else self.cancel_order)(ref)
                return Reply(200, {"id": order.id, "name": order.name})
        except (KeyError, ValueError) as exc:
            return Reply(400, {"error": str(exc)})
        return Reply(404, {"error": f"unknown control path {path}"})

    # -- HTTP ---------------------------------------------------------------------------------

    def describe(self, request: Request) -> str:
        text = f"{request.method} {request.path}"
        if request.path.endswith("/graphql.json"):
            try:
                document = self._parse(json.loads(request.body or b"{}").get("query") or "")
                names = [
                    f.name.value
                    for op in document.definitions
                    if isinstance(op, OperationDefinitionNode)
                    for f in op.selection_set.selections
                    if isinstance(f, FieldNode)
                ]
                text += " " + " ".join(names)
            except Exception:
                pass
        return text

    def handle(self, request: Request) -> Reply:
        if request.method == "POST" and request.path == "/admin/oauth/access_token":
            return self._grant(request)
        download = re.fullmatch(r"/_bulk/(\d+)(\.partial)?\.jsonl", request.path)
        if download and request.method == "GET":
            return self._bulk_download(
                int(download.group(1)), bool(download.group(2)), request.query
            )
        match = re.fullmatch(r"/admin/api/([\w-]+)/graphql\.json", request.path)
        if match is None or request.method != "POST":
            return Reply(404, {"errors": "Not Found"})
        token = self._authenticate(request.headers.get("x-shopify-access-token"))
        if token is None:
            return Reply(401, {"errors": INVALID_TOKEN})
        headers = {"X-Shopify-API-Version": self._version(match.group(1))}
        try:
            body = request.json() or {}
        except ValueError:
            return Reply(400, {"errors": "Invalid JSON in request body"}, headers)
        with self.lock:
            self._request_host = request.headers.get("host") or self._request_host
            status, payload = self._graphql(token, body)
        return Reply(status, payload, headers)

    def throttled_reply(self) -> Reply:
        """Shopify's THROTTLED answer for an injected fault: a nominal 10-point request
        meeting an empty bucket (the client should wait 10 / restoreRate seconds)."""
        bucket = self._last_bucket or Bucket(self.maximum_available, self.restore_rate, 0)
        status = {**bucket.status(), "currentlyAvailable": 0}
        cost = {"requestedQueryCost": 10, "actualQueryCost": None, "throttleStatus": status}
        return Reply(self.throttle_status, self._throttled_body(cost))

    @staticmethod
    def _throttled_body(cost: dict[str, Any]) -> dict[str, Any]:
        return {
            "errors": [
                {
                    "message": "Throttled",
                    "extensions": {"code": "THROTTLED", "documentation": RATE_LIMIT_DOCS},
                }
            ],
            "extensions": {"cost": cost},
        }

    def _version(self, requested: str) -> str:
        if requested in SUPPORTED_VERSIONS or requested == "unstable":
            return requested
        return SUPPORTED_VERSIONS[0]  # Shopify falls forward to the oldest supported version

    def _authenticate(self, value: str | None) -> Token | None:
        with self.lock:
            token = self.tokens.get(value or "")
            if token is None:
                return None
            if token.expires_at is not None and time.time() >= token.expires_at:
                return None
            return token

    def _grant(self, request: Request) -> Reply:
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8")).items()}
        if form.get("grant_type") != "client_credentials":
            return Reply(400, {"error": "unsupported_grant_type"})
        if not self.client_id or (form.get("client_id"), form.get("client_secret")) != (
            self.client_id,
            self.client_secret,
        ):
            return Reply(
                400,
                {
                    "error": "invalid_client",
                    "error_description": "Client authentication failed.",
                },
            )
        value = "shpca_" + secrets.token_hex(16)
        with self.lock:
            self.tokens[value] = Token(value, time.time() + self.token_ttl, f"app:{self.client_id}")
        return Reply(
            200,
            {
                "access_token": value,
                "scope": "read_orders,write_products,write_inventory,"
                "write_merchant_managed_fulfillment_orders",
                "expires_in": int(self.token_ttl) if self.token_ttl >= 1 else self.token_ttl,
            },
        )

    def _bucket(self, token: Token) -> Bucket:
        bucket = self.buckets.get(token.bucket_key)
        if bucket is None:
            bucket = Bucket(self.maximum_available, self.restore_rate, self.maximum_available)
            self.buckets[token.bucket_key] = bucket
        bucket.refill()
        self._last_bucket = bucket
        return bucket

    def _parse(self, text: str) -> Any:
        document = self._doc_cache.get(text)
        if document is None:
            document = parse(text)
            if len(self._doc_cache) > 256:
                self._doc_cache.clear()
            self._doc_cache[text] = document
        return document

    def _graphql(self, token: Token, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        text = body.get("query")
        variables = body.get("variables") or {}
        if not isinstance(text, str) or not text.strip():
            return 200, {"errors": [{"message": "No query string was present"}]}
        try:
            document = self._parse(text)
        except GraphQLError as exc:
            return 200, {"errors": [_error(exc, "parseError")]}
        problems = validate(self.schema, document)
        if problems:
            return 200, {"errors": [_error(p, _validation_code(p.message)) for p in problems]}
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        wanted = body.get("operationName")
        operation = next(
            (o for o in operations if wanted is None or (o.name and o.name.value == wanted)), None
        )
        if operation is None or (wanted is None and len(operations) > 1):
            message = "An operation name is required" if operation else "Unknown operation"
            return 200, {"errors": [{"message": message}]}
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        root = (
            self.schema.mutation_type
            if operation.operation.value == "mutation"
            else self.schema.query_type
        )
        calculator = CostCalculator(self.schema, fragments, variables)
        requested = calculator.requested(root, operation.selection_set)
        bucket = self._bucket(token)
        if requested > MAX_QUERY_COST:
            message = (
                f"Query cost is {requested}, which exceeds the single query max cost limit "
                f"({MAX_QUERY_COST}).\n\nSee {RATE_LIMIT_DOCS} for more information on how the "
                "cost of a query is calculated.\n\nTo query larger amounts of data with fewer "
                "limits, bulk operations should be used instead."
            )
            return 200, {
                "errors": [
                    {
                        "message": message,
                        "extensions": {
                            "code": "MAX_COST_EXCEEDED",
                            "cost": requested,
                            "maxCost": MAX_QUERY_COST,
                            "documentation": RATE_LIMIT_DOCS,
                        },
                    }
                ]
            }
        cost: dict[str, Any] = {"requestedQueryCost": requested, "actualQueryCost": None}
        if requested > bucket.available:
            cost["throttleStatus"] = bucket.status()
            self.throttled += 1
            return self.throttle_status, self._throttled_body(cost)
        bucket.available -= requested
        try:
            self._check_operation(operation, variables)
        except GraphQLFailure as failure:
            bucket.available = min(bucket.maximum, bucket.available + requested)
            cost["actualQueryCost"] = 0
            cost["throttleStatus"] = bucket.status()
            return 200, {"errors": [failure.error], "extensions": {"cost": cost}}
        self._variables = variables
        result = execute_sync(
            self.schema,
            document,
            root_value=Root(self),
            variable_values=variables,
            operation_name=wanted,
            field_resolver=resolve_field,
            type_resolver=resolve_type,
        )
        # Shopify refunds the difference down to the actual cost; it never charges more than
        # it asked for (the estimate is an upper bound).
        actual = min(requested, calculator.actual(root, operation.selection_set, result.data))
        bucket.available = min(bucket.maximum, bucket.available + max(0, requested - actual))
        cost["actualQueryCost"] = actual
        cost["throttleStatus"] = bucket.status()
        self.cost_spent += actual
        self.cost_charged += min(requested, actual)
        payload: dict[str, Any] = {}
        if result.errors:
            code = "INVALID_VARIABLE" if result.data is None else "INTERNAL_SERVER_ERROR"
            payload["errors"] = [_error(e, _execution_code(e, code)) for e in result.errors]
        payload["data"] = result.data
        payload["extensions"] = {"cost": cost}
        return 200, payload

    def _check_operation(
        self, operation: OperationDefinitionNode, variables: dict[str, Any]
    ) -> None:
        """Runtime rules the schema cannot express (Shopify checks them before executing)."""
        for selection in operation.selection_set.selections:
            if not isinstance(selection, FieldNode):
                continue
            name = selection.name.value
            if name in IDEMPOTENT_MUTATIONS and idempotency_key(selection, variables) is None:
                raise GraphQLFailure(
                    f"The @idempotent directive is required for the {name} mutation. "
                    'Add @idempotent(key: "<uuid>") to the field.',
                    "BAD_REQUEST",
                )


def idempotency_key(node: FieldNode, variables: dict[str, Any]) -> str | None:
    for directive in node.directives or ():
        if directive.name.value == "idempotent":
            for arg in directive.arguments or ():
                if arg.name.value == "key":
                    value = _ast_value(arg.value, variables)
                    return str(value) if value else None
    return None


def _error(exc: GraphQLError, code: str) -> dict[str, Any]:
    error: dict[str, Any] = {"message": exc.message}
    if exc.locations:
        error["locations"] = [{"line": loc.line, "column": loc.column} for loc in exc.locations]
    if exc.path:
        error["path"] = list(exc.path)
    extensions = dict(exc.extensions or {})
    extensions.setdefault("code", code)
    error["extensions"] = extensions
    return error


def _validation_code(message: str) -> str:
    for marker, code in (
        ("Cannot query field", "undefinedField"),
        ("Unknown argument", "argumentNotAccepted"),
        ("is required, but it was not provided", "missingRequiredArguments"),
        ("Unknown type", "undefinedType"),
        ("Variable", "variableMismatch"),
        ("must have a selection of subfields", "selectionMismatch"),
    ):
        if marker in message:
            return code
    return "GRAPHQL_VALIDATION_FAILED"


def _execution_code(exc: GraphQLError, default: str) -> str:
    original = exc.original_error
    if original is None or isinstance(original, GraphQLError):
        return "BAD_REQUEST" if default != "INVALID_VARIABLE" else default
    return default


# -- resolvers ------------------------------------------------------------------------------


def resolve_type(value: Any, info: Any, abstract: Any) -> str | None:
    return getattr(value, "typename", None) or None


def resolve_field(source: Any, info: Any, **args: Any) -> Any:
    """`gql_<field>(info, **args)` when the object has one, else the snake_case attribute,
    else the dict key."""
    name = info.field_name
    method = getattr(source, f"gql_{name}", None)
    if method is not None:
        return method(info, **args)
    if isinstance(source, dict):
        return source.get(name)
    return getattr(source, camel_to_snake(name), None)


class Root:
    """Query and mutation root fields over the sandbox state."""

    def __init__(self, app: ShopifySandbox) -> None:
        self.app = app

    # queries

    def gql_shop(self, info: Any) -> dict[str, Any]:
        return self.app.shop

    def _by_gid(self, value: str | None, kind: str, table: dict[int, Any]) -> Any:
        parsed = parse_gid(value)
        if parsed is None or parsed[0] != kind:
            return None
        return table.get(parsed[1])

    def gql_order(self, info: Any, id: str) -> Order | None:
        return self._by_gid(id, "Order", self.app.orders)

    def gql_product(self, info: Any, id: str) -> Product | None:
        return self._by_gid(id, "Product", self.app.products)

    def gql_productVariant(self, info: Any, id: str) -> Variant | None:
        return self._by_gid(id, "ProductVariant", self.app.variants)

    def gql_inventoryItem(self, info: Any, id: str) -> InventoryItem | None:
        return self._by_gid(id, "InventoryItem", self.app.items)

    def gql_location(self, info: Any, id: str | None = None) -> Location | None:
        if id is None:
            return next((loc for loc in self.app.locations.values() if loc.is_primary), None)
        return self._by_gid(id, "Location", self.app.locations)

    def gql_nodes(self, info: Any, ids: list[str]) -> list[Any]:
        if len(ids) > MAX_INPUT_ARRAY:
            raise GraphQLError(
                f"The input array size of {len(ids)} is greater than the maximum allowed of "
                f"{MAX_INPUT_ARRAY}.",
                extensions={"code": "MAX_INPUT_SIZE_EXCEEDED"},
            )
        tables: dict[str, dict[int, Any]] = {
            "Order": self.app.orders,
            "Product": self.app.products,
            "ProductVariant": self.app.variants,
            "InventoryItem": self.app.items,
            "Location": self.app.locations,
            "Refund": self.app.refunds,
            "FulfillmentOrder": self.app.fulfillment_orders,
            "LineItem": self.app.line_items,
            "Fulfillment": self.app.fulfillments,
        }
        found = []
        for value in ids:
            parsed = parse_gid(value)
            table = tables.get(parsed[0]) if parsed else None
            found.append(table.get(parsed[1]) if table is not None and parsed else None)
        return found

    def gql_orders(self, info: Any, **args: Any) -> dict[str, Any]:
        groups = parse_search(args.get("query"))
        status = [t for g in groups for t in g if t.field == "status"]
        others = [[t for t in g if t.field != "status"] for g in groups]
        others = [g for g in others if g]
        items = [
            o
            for o in self.app.orders.values()
            if matches(o, others, ORDER_FIELDS)
            and all(order_status_match(o, t.value) != t.negate for t in status)
        ]
        sort = args.get("sortKey") or "PROCESSED_AT"
        getters = {
            "UPDATED_AT": lambda o: o.updated_at,
            "CREATED_AT": lambda o: o.created_at,
            "PROCESSED_AT": lambda o: o.processed_at,
            "ORDER_NUMBER": lambda o: o.number,
            "ID": lambda o: o.num,
        }
        getter = getters.get(sort, getters["ID"])
        return sorted_connection(items, args, lambda o: sort_key_value(getter(o)), sort)

    def gql_products(self, info: Any, **args: Any) -> dict[str, Any]:
        groups = parse_search(args.get("query"))
        pool = self._sku_pool(groups, lambda v: v.product) or self.app.products.values()
        items = [p for p in set(pool) if matches(p, groups, PRODUCT_FIELDS)]
        sort = args.get("sortKey") or "ID"
        getters = {
            "UPDATED_AT": lambda p: p.updated_at,
            "CREATED_AT": lambda p: p.created_at,
            "TITLE": lambda p: p.title,
            "PRODUCT_TYPE": lambda p: p.product_type,
            "ID": lambda p: p.num,
        }
        getter = getters.get(sort, getters["ID"])
        return sorted_connection(items, args, lambda p: sort_key_value(getter(p)), sort)

    def _sku_pool(self, groups: list[list[Term]], pick: Any) -> list[Any] | None:
        """Candidates from the SKU index when one AND-group is all exact `sku:` terms."""
        for group in groups:
            if group and all(t.field == "sku" and t.op == ":" and not t.negate for t in group):
                found: list[Any] = []
                for term in group:
                    found.extend(pick(v) for v in self.app.by_sku.get(term.value, []))
                return found
        return None

    def gql_productVariants(self, info: Any, **args: Any) -> dict[str, Any]:
        groups = parse_search(args.get("query"))
        pool = self._sku_pool(groups, lambda v: v)
        if pool is None:
            pool = list(self.app.variants.values())
        items = [v for v in dict.fromkeys(pool) if matches(v, groups, VARIANT_FIELDS)]
        sort = args.get("sortKey") or "ID"
        getters = {
            "SKU": lambda v: v.sku,
            "TITLE": lambda v: v.title,
            "POSITION": lambda v: v.position,
            "ID": lambda v: v.num,
        }
        getter = getters.get(sort, getters["ID"])
        return sorted_connection(items, args, lambda v: sort_key_value(getter(v)), sort)

    def gql_inventoryItems(self, info: Any, **args: Any) -> dict[str, Any]:
        groups = parse_search(args.get("query"))
        pool = self._sku_pool(groups, lambda v: v.inventory_item)
        if pool is None:
            pool = list(self.app.items.values())
        items = [i for i in dict.fromkeys(pool) if matches(i, groups, ITEM_FIELDS)]
        return sorted_connection(items, args, lambda i: i.num, "ID")

    def gql_locations(self, info: Any, **args: Any) -> dict[str, Any]:
        groups = parse_search(args.get("query"))
        items = [
            loc
            for loc in self.app.locations.values()
            if matches(loc, groups, LOCATION_FIELDS)
            and (loc.is_active or args.get("includeInactive"))
        ]
        sort = args.get("sortKey") or "NAME"
        if sort == "NAME":
            return sorted_connection(items, args, lambda loc: loc.name, sort)
        return sorted_connection(items, args, lambda loc: loc.num, "ID")

    def gql_node(self, info: Any, id: str) -> Any:
        parsed = parse_gid(id)
        if parsed and parsed[0] == "BulkOperation":
            return self.app.bulk_operations.get(parsed[1])
        return self.gql_nodes(info, [id])[0]

    def gql_productVariantsCount(self, info: Any, query: str | None = None) -> dict[str, Any]:
        """Shopify counts up to 10,000 by default and says AT_LEAST beyond."""
        groups = parse_search(query)
        pool = self._sku_pool(groups, lambda v: v)
        if pool is None:
            pool = list(self.app.variants.values())
        count = sum(1 for v in dict.fromkeys(pool) if matches(v, groups, VARIANT_FIELDS))
        if count > COUNT_LIMIT:
            return {"count": COUNT_LIMIT, "precision": "AT_LEAST"}
        return {"count": count, "precision": "EXACT"}

    def gql_productsCount(
        self, info: Any, query: str | None = None, limit: int | None = None
    ) -> dict[str, Any]:
        """Products matching `query`, counted up to `limit` (10,000 by default), AT_LEAST
        beyond it."""
        groups = parse_search(query)
        pool = self._sku_pool(groups, lambda v: v.product) or self.app.products.values()
        count = sum(1 for p in set(pool) if matches(p, groups, PRODUCT_FIELDS))
        cap = COUNT_LIMIT if limit is None else max(0, limit)
        if count > cap:
            return {"count": cap, "precision": "AT_LEAST"}
        return {"count": count, "precision": "EXACT"}

    def gql_currentBulkOperation(self, info: Any, type: str = "QUERY") -> Any:
        return self.app.current_bulk_operation(type)

    def gql_bulkOperationRunQuery(self, info: Any, query: str) -> dict[str, Any]:
        return self.app.start_bulk_query(query)

    # mutations

    def _log(self, mutation: str, arguments: dict[str, Any], **extra: Any) -> None:
        self.app.writes.append(
            {"mutation": mutation, "input": _plain(arguments), "at": iso(self.app.now()), **extra}
        )

    def gql_productCreate(self, info: Any, product: dict[str, Any] | None = None, **_: Any) -> Any:
        app = self.app
        product = product or {}
        title = (product.get("title") or "").strip()
        if not title:
            return {"product": None, "userErrors": [user_error(["title"], "Title can't be blank")]}
        at = app.now()
        handle = product.get("handle") or re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        if any(p.handle == handle for p in app.products.values()):
            handle = f"{handle}-{app._counters.get('Product', 0) + 1}"
        record = app._new_product(title, handle, at, product.get("productType") or "")
        record.description_html = product.get("descriptionHtml") or ""
        record.vendor = product.get("vendor") or record.vendor
        record.status = product.get("status") or "ACTIVE"
        record.tags = list(product.get("tags") or [])
        variant = app._new_variant(record, "", "Default Title", at)
        primary = next(loc for loc in app.locations.values() if loc.is_primary)
        app._level(variant.inventory_item, primary, at)
        self._log("productCreate", {"product": product}, id=record.id)
        return {"product": record, "userErrors": []}

    def gql_productUpdate(self, info: Any, product: dict[str, Any] | None = None, **_: Any) -> Any:
        app = self.app
        product = product or {}
        record = self._by_gid(product.get("id"), "Product", app.products)
        if record is None:
            return {"product": None, "userErrors": [user_error(["id"], "Product does not exist")]}
        if "title" in product and not (product["title"] or "").strip():
            return {"product": None, "userErrors": [user_error(["title"], "Title can't be blank")]}
        for key, attr in (
            ("title", "title"),
            ("handle", "handle"),
            ("descriptionHtml", "description_html"),
            ("productType", "product_type"),
            ("vendor", "vendor"),
            ("status", "status"),
            ("tags", "tags"),
        ):
            if key in product and product[key] is not None:
                setattr(record, attr, product[key])
        record.updated_at = app.now()
        self._log("productUpdate", {"product": product}, id=record.id)
        return {"product": record, "userErrors": []}

    def gql_productVariantsBulkUpdate(
        self,
        info: Any,
        productId: str,
        variants: list[dict[str, Any]],
        allowPartialUpdates: bool = False,
    ) -> Any:
        app = self.app
        record = self._by_gid(productId, "Product", app.products)
        if record is None:
            return {
                "product": None,
                "productVariants": None,
                "userErrors": [
                    bulk_error(["productId"], "Product does not exist", "PRODUCT_DOES_NOT_EXIST")
                ],
            }
        if len(variants) > MAX_INPUT_ARRAY:
            raise GraphQLError(
                f"The input array size of {len(variants)} is greater than the maximum allowed "
                f"of {MAX_INPUT_ARRAY}.",
                extensions={"code": "MAX_INPUT_SIZE_EXCEEDED"},
            )
        errors: list[dict[str, Any]] = []
        plan: list[tuple[Variant, dict[str, Any]]] = []
        for index, change in enumerate(variants):
            path = ["variants", str(index)]
            if not change.get("id"):
                errors.append(
                    bulk_error(
                        [*path, "id"],
                        "Product variant is missing ID attribute",
                        "PRODUCT_VARIANT_ID_MISSING",
                    )
                )
                continue
            variant = self._by_gid(change["id"], "ProductVariant", app.variants)
            if variant is None or variant.product is not record:
                errors.append(
                    bulk_error(
                        [*path, "id"],
                        "Product variant does not exist",
                        "PRODUCT_VARIANT_DOES_NOT_EXIST",
                    )
                )
                continue
            if change.get("price") is not None and Decimal(str(change["price"])) < 0:
                errors.append(
                    bulk_error(
                        [*path, "price"],
                        "Price must be greater than or equal to 0",
                        "GREATER_THAN_OR_EQUAL_TO",
                    )
                )
                continue
            plan.append((variant, change))
        if errors and not allowPartialUpdates:
            return {"product": record, "productVariants": None, "userErrors": errors}
        at = app.now()
        for variant, change in plan:
            if change.get("price") is not None:
                variant.price = money(Decimal(str(change["price"])))
            if "compareAtPrice" in change:
                value = change["compareAtPrice"]
                variant.compare_at_price = money(Decimal(str(value))) if value else None
            if "barcode" in change:
                variant.barcode = change["barcode"] or None
            if change.get("taxable") is not None:
                variant.taxable = change["taxable"]
            item_input = change.get("inventoryItem") or {}
            item = variant.inventory_item
            if "sku" in item_input:
                app._set_sku(variant, item_input["sku"] or "")
            if item_input.get("tracked") is not None:
                item.tracked = item_input["tracked"]
            if item_input.get("requiresShipping") is not None:
                item.requires_shipping = item_input["requiresShipping"]
            weight = (item_input.get("measurement") or {}).get("weight")
            if weight:
                item.weight_unit = weight["unit"]
                item.weight_value = Decimal(str(weight["value"]))
            variant.updated_at = item.updated_at = at
        record.updated_at = at
        self._log(
            "productVariantsBulkUpdate",
            {"productId": productId, "variants": variants},
            id=record.id,
        )
        return {
            "product": record,
            "productVariants": [v for v, _ in plan],
            "userErrors": errors,
        }

    def gql_inventoryActivate(
        self,
        info: Any,
        inventoryItemId: str,
        locationId: str,
        available: int | None = None,
    ) -> Any:
        app = self.app
        item = self._by_gid(inventoryItemId, "InventoryItem", app.items)
        loc = self._by_gid(locationId, "Location", app.locations)
        if item is None or loc is None:
            field_name = "inventoryItemId" if item is None else "locationId"
            return {
                "inventoryLevel": None,
                "userErrors": [user_error([field_name], "The record could not be found")],
            }
        at = app.now()
        existed = loc.num in item.levels
        level = app._level(item, loc, at)
        if available is not None and not existed:
            level.change("available", available, at)
            level.change("on_hand", available, at)
        if not existed:
            self._log(
                "inventoryActivate",
                {
                    "inventoryItemId": inventoryItemId,
                    "locationId": locationId,
                    "available": available,
                },
            )
        return {"inventoryLevel": level, "userErrors": []}

    def gql_inventorySetQuantities(self, info: Any, input: dict[str, Any]) -> Any:
        app = self.app
        key = idempotency_key(info.field_nodes[0], app._variables)
        assert key is not None  # checked before execution
        fingerprint = json.dumps(_plain(input), sort_keys=True)
        previous = app.idempotency.get(key)
        if previous is not None:
            if previous[0] != fingerprint:
                return {
                    "inventoryAdjustmentGroup": None,
                    "userErrors": [
                        inv_error(
                            ["input"],
                            "The same idempotency key was used with different parameters.",
                            "IDEMPOTENCY_KEY_PARAMETER_MISMATCH",
                        )
                    ],
                }
            return previous[1]
        result = self._set_quantities(input)
        app.idempotency[key] = (fingerprint, result)
        if result["inventoryAdjustmentGroup"] is not None:
            self._log("inventorySetQuantities", {"input": input}, idempotency_key=key)
        return result

    def _set_quantities(self, data: dict[str, Any]) -> dict[str, Any]:
        app = self.app
        quantities = data["quantities"]
        if len(quantities) > MAX_INPUT_ARRAY:
            raise GraphQLError(
                f"The input array size of {len(quantities)} is greater than the maximum allowed "
                f"of {MAX_INPUT_ARRAY}.",
                extensions={"code": "MAX_INPUT_SIZE_EXCEEDED"},
            )
        for index, quantity in enumerate(quantities):
            if "changeFromQuantity" not in quantity:
                raise GraphQLError(
                    f"InventoryQuantityInput.changeFromQuantity is required (input.quantities."
                    f"{index}); pass null to skip the compare-and-swap check.",
                    extensions={"code": "BAD_REQUEST"},
                )
        errors: list[dict[str, Any]] = []
        name = data["name"]
        if name not in ("available", "on_hand"):
            errors.append(
                inv_error(
                    ["input", "name"],
                    "The quantity name must be either 'available' or 'on_hand'.",
                    "INVALID_NAME",
                )
            )
        if data["reason"] not in INVENTORY_REASONS:
            errors.append(
                inv_error(["input", "reason"], "The specified reason is invalid.", "INVALID_REASON")
            )
        uri = data.get("referenceDocumentUri")
        if uri is not None and not re.match(r"^[a-z][a-z0-9+.-]*://", uri):
            errors.append(
                inv_error(
                    ["input", "referenceDocumentUri"],
                    "The reference document URI is invalid.",
                    "INVALID_REFERENCE_DOCUMENT",
                )
            )
        plan: list[tuple[InventoryItem, Location, int]] = []
        seen: set[tuple[int, int]] = set()
        for index, quantity in enumerate(quantities):
            path = ["input", "quantities", str(index)]
            item = self._by_gid(quantity["inventoryItemId"], "InventoryItem", app.items)
            loc = self._by_gid(quantity["locationId"], "Location", app.locations)
            if item is None:
                errors.append(
                    inv_error(
                        [*path, "inventoryItemId"],
                        "The specified inventory item could not be found.",
                        "INVALID_INVENTORY_ITEM",
                    )
                )
                continue
            if loc is None:
                errors.append(
                    inv_error(
                        [*path, "locationId"],
                        "The specified location could not be found.",
                        "INVALID_LOCATION",
                    )
                )
                continue
            if (item.num, loc.num) in seen:
                errors.append(
                    inv_error(
                        [*path],
                        "The combination of inventoryItemId and locationId must be unique.",
                        "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR",
                    )
                )
                continue
            seen.add((item.num, loc.num))
            if quantity["quantity"] > 1_000_000_000:
                errors.append(
                    inv_error(
                        [*path, "quantity"],
                        "The quantity can't be higher than 1,000,000,000.",
                        "INVALID_QUANTITY_TOO_HIGH",
                    )
                )
                continue
            level = item.levels.get(loc.num)
            current = level.quantities.get(name, 0) if level else 0
            expected = quantity.get("changeFromQuantity")
            if expected is not None and expected != current and name in ("available", "on_hand"):
                errors.append(
                    inv_error(
                        [*path, "changeFromQuantity"],
                        f"The specified compare quantity does not match the current quantity "
                        f"({current}).",
                        "CHANGE_FROM_QUANTITY_STALE",
                    )
                )
                continue
            plan.append((item, loc, quantity["quantity"]))
        if errors:
            return {"inventoryAdjustmentGroup": None, "userErrors": errors}
        at = app.now()
        group = AdjustmentGroup(app._next("InventoryAdjustmentGroup"), at, data["reason"], uri)
        other = "on_hand" if name == "available" else "available"
        for item, loc, target in plan:
            level = app._level(item, loc, at)
            delta = target - level.quantities.get(name, 0)
            if not delta:
                continue
            level.change(name, delta, at)
            level.change(other, delta, at)
            for changed in (name, other):
                group.change_list.append(
                    {
                        "name": changed,
                        "delta": delta,
                        "quantityAfterChange": level.quantities[changed],
                        "ledgerDocumentUri": None,
                        "item": item,
                        "location": loc,
                    }
                )
        return {"inventoryAdjustmentGroup": group, "userErrors": []}

    def gql_fulfillmentCreate(
        self, info: Any, fulfillment: dict[str, Any], message: str | None = None
    ) -> Any:
        app = self.app
        groups = fulfillment["lineItemsByFulfillmentOrder"]
        errors: list[dict[str, Any]] = []
        plan: list[tuple[FulfillmentOrderLineItem, int]] = []
        orders: set[int] = set()
        locations: set[int] = set()
        fos: list[FulfillmentOrder] = []
        for index, group in enumerate(groups):
            path = ["fulfillment", "lineItemsByFulfillmentOrder", str(index)]
            fo = self._by_gid(
                group["fulfillmentOrderId"], "FulfillmentOrder", app.fulfillment_orders
            )
            if fo is None:
                errors.append(
                    user_error([*path, "fulfillmentOrderId"], "Fulfillment order does not exist.")
                )
                continue
            if fo.status not in ("OPEN", "IN_PROGRESS"):
                errors.append(
                    user_error(
                        [*path, "fulfillmentOrderId"],
                        f"Fulfillment order {fo.id} has an unfulfillable status= "
                        f"{fo.status.lower()}.",
                    )
                )
                continue
            fos.append(fo)
            orders.add(fo.order.num)
            locations.add(fo.location.num)
            wanted = group.get("fulfillmentOrderLineItems")
            if wanted is None:
                plan.extend((li, li.remaining_quantity) for li in fo.lines if li.remaining_quantity)
                continue
            for line_index, requested in enumerate(wanted):
                line = next((li for li in fo.lines if li.id == requested["id"]), None)
                line_path = [*path, "fulfillmentOrderLineItems", str(line_index)]
                if line is None:
                    errors.append(
                        user_error(
                            [*line_path, "id"], "Fulfillment order line item does not exist."
                        )
                    )
                elif requested["quantity"] <= 0 or requested["quantity"] > line.remaining_quantity:
                    errors.append(
                        user_error(
                            [*line_path, "quantity"],
                            "Invalid fulfillment order line item quantity requested.",
                        )
                    )
                else:
                    plan.append((line, requested["quantity"]))
        if len(orders) > 1 or len(locations) > 1:
            errors.append(
                user_error(
                    ["fulfillment"],
                    "All fulfillment orders must belong to the "
                    "same order and be assigned to the same location.",
                )
            )
        if not errors and not plan:
            errors.append(user_error(["fulfillment"], "Nothing left to fulfill."))
        if errors:
            return {"fulfillment": None, "userErrors": errors}
        at = app.now()
        order = fos[0].order
        record = Fulfillment(app._next("Fulfillment"), at, order, fos[0].location)
        tracking = fulfillment.get("trackingInfo")
        if tracking:
            record.tracking.append({k: tracking.get(k) for k in ("company", "number", "url")})
        for line, quantity in plan:
            line.remaining_quantity -= quantity
            line.line_item.fulfilled += quantity
            record.total_quantity += quantity
            variant = line.line_item.variant
            if variant is not None and variant.inventory_item.tracked:
                level = app._level(variant.inventory_item, fos[0].location, at)
                level.change("committed", -quantity, at)
                level.change("on_hand", -quantity, at)
        for fo in fos:
            fo.status = (
                "CLOSED" if all(li.remaining_quantity == 0 for li in fo.lines) else ("IN_PROGRESS")
            )
            fo.updated_at = at
        order.fulfillments.append(record)
        app.fulfillments[record.num] = record
        order.updated_at = at
        self._log(
            "fulfillmentCreate", {"fulfillment": fulfillment, "message": message}, id=record.id
        )
        return {"fulfillment": record, "userErrors": []}


def user_error(path: list[str], message: str) -> dict[str, Any]:
    return {"field": path, "message": message}


def bulk_error(path: list[str], message: str, code: str) -> dict[str, Any]:
    return {"field": path, "message": message, "code": code}


inv_error = bulk_error


def _plain(value: Any) -> Any:
    """Coerced GraphQL input as JSON-ready data (for logs and idempotency fingerprints)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


def serve(port: int = 0, seed: int = 1, **options: Any) -> Any:
    """Start a Shopify sandbox server (for `syncer sandbox serve` and the demo)."""
    from syncer.sandbox.common import SandboxServer

    return SandboxServer(ShopifySandbox(seed=seed, **options), port=port).start()
