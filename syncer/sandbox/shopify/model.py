"""The shop's records (orders, products, variants, inventory, refunds, fulfilments).

Each record is a plain object; `resolve_field` reads a GraphQL field from the snake_case
attribute or property of the same name, or from a `gql_<field>(info, **args)` method where the
field takes arguments or is a connection. Change what Shopify reports for a record here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from graphql import GraphQLError

from syncer.sandbox.shopify.paging import offset_connection, sorted_connection
from syncer.sandbox.shopify.search import LEVEL_FIELDS, matches, parse_search
from syncer.sandbox.shopify.values import gid, money, parse_gid


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
        # Shopify refuses API writes to such an item's quantities (NON_MUTABLE_INVENTORY_ITEM),
        # as it does for a bundle parent's (see `Variant.requires_components`).
        self.non_mutable = False
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
        # A Shopify Bundles parent: its stock is derived from its components, never set.
        self.requires_components = False
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
        self.is_gift_card = False
        self.line_item_group: dict[str, Any] | None = None  # a bundle's {id title quantity}

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
        # Where a POS sale was made (Shopify's `retailLocation`); None for online orders.
        self.retail_location: Location | None = None
        self.tip = Decimal(0)  # tips received, in the shop's currency
        # The customer's currency and the units of it per unit of the shop's currency.
        self.presentment_currency = currency
        self.presentment_rate = Decimal(1)

    @property
    def name(self) -> str:
        return f"#{self.number}"

    @property
    def closed(self) -> bool:
        return self.cancelled_at is not None

    @property
    def currency_code(self) -> str:
        return self.currency

    @property
    def presentment_currency_code(self) -> str:
        return self.presentment_currency

    def bag(self, amount: Decimal) -> dict[str, Any]:
        value = {"amount": money(amount), "currencyCode": self.currency}
        presented = {
            "amount": money(amount * self.presentment_rate),
            "currencyCode": self.presentment_currency,
        }
        return {"shopMoney": value, "presentmentMoney": presented}

    @property
    def total_tip_received_set(self) -> dict[str, Any]:
        return self.bag(self.tip)

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
