"""The shop: its records, how they are seeded from the world, and the Python control API.

The state is seeded from `syncer.sandbox.seed.make_world` with deliberate differences from the
seed (a changed price, a missing product, a Shopify-only product, shifted stock) so product and
inventory syncs have real work. Tests change it through the `Shop` methods.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from syncer.sandbox.seed import World, make_world
from syncer.sandbox.shopify.model import (
    Customer,
    Fulfillment,
    FulfillmentOrder,
    FulfillmentOrderLineItem,
    InventoryItem,
    InventoryLevel,
    LineItem,
    Location,
    Order,
    Product,
    Refund,
    RefundLineItem,
    RefundShippingLine,
    ShippingLine,
    Variant,
)
from syncer.sandbox.shopify.values import gid, money, parse_gid


class Shop:
    """The shop's state and the Python control API tests and the demo drive it with
    (add an order, pay, refund or cancel it, change a product, set stock).

    Thread-safe: every method holds `lock`, which the HTTP side shares."""

    def __init__(
        self,
        world: World | None = None,
        *,
        seed: int = 1,
        taxes_included: bool = True,
        drift: bool = True,
        shop_domain: str = "syncer-sandbox.myshopify.com",
    ) -> None:
        self.world = world or make_world(seed)
        self.lock = threading.RLock()
        self._seed_prices: dict[str, Decimal] | None = None
        self._counters: dict[str, int] = {}
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
        line_locations: Sequence[str] | None = None,
        pos: bool = False,
    ) -> Order:
        """Place an order for (sku, quantity) lines; open orders commit stock like Shopify.

        Its lines are assigned to `location`, or line by line to `line_locations` (one
        fulfilment order per location, as Shopify splits an order over locations). `pos`: a
        sale at the till of `location`, paid and fulfilled there at once (its fulfilment order
        closed, the units taken off hand), with `location` as its retail location."""
        with self.lock:
            at = created_at or self.now()
            num = self._next("Order")
            number = number or max([o.number for o in self.orders.values()] + [1000]) + 1
            order = Order(num, at, number, str(self.shop["currencyCode"]))
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
            where = list(line_locations or [location] * len(order.lines))
            if len(where) != len(order.lines):
                raise ValueError("line_locations needs one location per line")
            by_location: dict[int, FulfillmentOrder] = {}
            for line, ref in zip(order.lines, where, strict=True):
                loc = self.location(ref)
                fo = by_location.get(loc.num)
                if fo is None:
                    fo = FulfillmentOrder(self._next("FulfillmentOrder"), at, order, loc)
                    by_location[loc.num] = fo
                    order.fulfillment_orders.append(fo)
                    self.fulfillment_orders[fo.num] = fo
                fo_line = FulfillmentOrderLineItem(self._next("FulfillmentOrderLineItem"), at, line)
                fo.lines.append(fo_line)
                self.fo_lines[fo_line.num] = fo_line
                self._commit(line, loc, line.current_quantity, at)
            self.orders[order.num] = order
            if pos:
                self._fulfil_at_till(order, self.location(location), at)
            order.updated_at = at + timedelta(minutes=1) if created_at else at
            return order

    def _fulfil_at_till(self, order: Order, loc: Location, at: datetime) -> None:
        """A POS sale: handed over at once, so every line is fulfilled at the till's location
        and its fulfilment orders are closed; the units leave on hand (not just committed)."""
        order.retail_location = loc
        record = Fulfillment(self._next("Fulfillment"), at, order, loc)
        for fo in order.fulfillment_orders:
            for fo_line in fo.lines:
                quantity = fo_line.remaining_quantity
                fo_line.remaining_quantity = 0
                fo_line.line_item.fulfilled += quantity
                record.total_quantity += quantity
                variant = fo_line.line_item.variant
                if quantity and variant is not None and variant.inventory_item.tracked:
                    level = self._level(variant.inventory_item, fo.location, at)
                    level.change("committed", -quantity, at)
                    level.change("on_hand", -quantity, at)
            fo.status = "CLOSED"
        order.fulfillments.append(record)
        self.fulfillments[record.num] = record

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

    def set_shop_currency(self, code: str) -> None:
        """The shop's own currency, for `shop` and for orders placed from now on."""
        with self.lock:
            self.shop["currencyCode"] = code

    def set_presentment(self, ref: Order | str | int, currency: str, rate: Decimal) -> Order:
        """The customer paid in `currency`: `rate` units of it per unit of the shop's."""
        with self.lock:
            order = self.find_order(ref)
            order.presentment_currency = currency
            order.presentment_rate = rate
            order.updated_at = self.now()
            return order

    def add_custom_line(
        self,
        ref: Order | str | int,
        title: str,
        price: Decimal,
        quantity: int = 1,
        *,
        gift_card: bool = False,
        tip: bool = False,
        taxable: bool = True,
    ) -> LineItem:
        """A line without a product or SKU (a custom item, a tip, a gift card sold without a
        SKU); `price` is per unit in the order's pricing. A tip also counts as received."""
        with self.lock:
            order = self.find_order(ref)
            line = LineItem(self._next("LineItem"), order.updated_at, order, None)
            line.title = title
            line.unit_price = line.discounted_unit_price = price
            line.quantity = line.current_quantity = quantity
            line.is_gift_card = gift_card
            line.requires_shipping = not (gift_card or tip)
            line.taxable = taxable and not tip
            line.tax_rate = self.world.tax_rate if line.taxable else Decimal(0)
            order.lines.append(line)
            self.line_items[line.num] = line
            if tip:
                order.tip += price * quantity
            order.updated_at = self.now()
            return line

    def group_lines(self, ref: Order | str | int, title: str, skus: list[str]) -> dict[str, Any]:
        """Mark the lines of these SKUs as the components of one bundle sold as `title`."""
        with self.lock:
            order = self.find_order(ref)
            group = {
                "id": gid("LineItemGroup", self._next("LineItemGroup")),
                "title": title,
                "quantity": 1,
                "variantSku": None,
            }
            for line in order.lines:
                if line.sku in skus:
                    line.line_item_group = group
            order.updated_at = self.now()
            return group

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

    def make_bundle(self, sku: str) -> Variant:
        """Turn this SKU's variant into a Shopify Bundles parent (`requiresComponents`):
        Shopify derives its stock from its components and refuses API writes to it."""
        with self.lock:
            variant = self.variant_for(sku)
            variant.requires_components = True
            variant.updated_at = self.now()
            return variant

    def set_non_mutable(self, sku: str, non_mutable: bool = True) -> InventoryItem:
        """Make this SKU's inventory item refuse API quantity writes (NON_MUTABLE_INVENTORY_ITEM)
        although its variant is not a bundle parent, as Shopify does for some items."""
        with self.lock:
            item = self.variant_for(sku).inventory_item
            item.non_mutable = non_mutable
            return item

    def quantities(self, sku: str, location: str) -> dict[str, int]:
        with self.lock:
            item = self.variant_for(sku).inventory_item
            level = item.levels.get(self.location(location).num)
            return dict(level.quantities) if level else {}
