"""The soak's catalogue of bad inputs: mangled replies from each API (through the sandboxes'
reply rewriting), config values and CLI arguments. Each must end in a clear error, hold or
failure with the exit code SPEC section 2 gives, never a traceback, and lose nothing: after
the reply is sane again, a clean run brings every invariant back.

Payload cases share one sandbox pair and one state database per job (a long-lived install
that meets one bad reply after another); each case gives itself a fresh target record.
"""

from __future__ import annotations

import copy
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from syncer.cli import cli
from syncer.sandbox.runner import Sandboxes, start_sandboxes
from tests.conftest import minimal_config
from tests.faultkit import (
    Harness,
    assert_no_crash,
    check_fulfillments_once,
    check_inventory_writes_once,
    check_nothing_lost,
    check_orders_exactly_once,
    check_pending_reported,
    check_stock_formula,
    selected_order_names,
    tamper,
    walk,
)

MISSING = object()  # a mutation result meaning "delete the field"

# (name, mutation of the old value); a mutation returns the new value or MISSING.
MUTATIONS: dict[str, Callable[[Any], Any]] = {
    "null": lambda old: None,
    "missing": lambda old: MISSING,
    "wrong-type": lambda old: (
        "abc"
        if isinstance(old, int | float) and not isinstance(old, bool)
        else []
        if isinstance(old, dict)
        else {"x": 1}
        if isinstance(old, list)
        else "yes"
        if isinstance(old, bool)
        else 7
    ),
    "huge": lambda old: 1e30 if isinstance(old, int | float) else "Z" * 100_000,
    "negative": lambda old: -3 if isinstance(old, int | float) else "-5.00",
    "hostile-text": lambda old: "'; DROP TABLE runs;--\u0000\u202e<script>",
}


def set_path(node: Any, path: str, mutation: Callable[[Any], Any]) -> None:
    """Apply `mutation` at a dotted path ("lineItems.nodes.0.sku") inside `node`."""
    *parents, last = path.split(".")
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.get(part)
        if node is None:
            return
    key: Any = int(last) if isinstance(node, list) else last
    if isinstance(node, list) and key >= len(node):
        return
    if isinstance(node, dict) and key not in node:
        return
    new = mutation(node[key])
    if new is MISSING:
        del node[key]
    else:
        node[key] = new


@dataclass(frozen=True)
class Case:
    family: str  # orders | products | variants | stock | shipments | malformed | config | cli
    name: str
    run: Callable[[], None]


# -- payload cases ------------------------------------------------------------------------------

ORDER_PATHS = {
    "email": ("null", "wrong-type", "huge", "hostile-text"),
    "customer": ("null", "wrong-type"),
    "customer.firstName": ("null", "huge", "hostile-text"),
    "shippingAddress": ("null", "wrong-type"),
    "shippingAddress.countryCodeV2": ("null", "wrong-type", "hostile-text"),
    "shippingAddress.address1": ("huge", "hostile-text"),
    "currencyCode": ("null", "wrong-type", "hostile-text"),
    "taxesIncluded": ("null", "wrong-type"),
    "updatedAt": ("null", "wrong-type", "hostile-text"),
    "processedAt": ("null", "wrong-type"),
    "test": ("null", "wrong-type"),
    "displayFinancialStatus": ("null", "wrong-type", "hostile-text"),
    "currentTotalPriceSet.shopMoney.amount": ("null", "wrong-type", "negative", "huge"),
    "lineItems": ("null", "missing", "wrong-type"),
    "lineItems.nodes": ("null", "wrong-type"),
    "lineItems.nodes.0.sku": ("null", "wrong-type", "huge", "hostile-text"),
    "lineItems.nodes.0.quantity": ("null", "wrong-type", "negative", "huge"),
    "lineItems.nodes.0.currentQuantity": ("null", "wrong-type", "negative", "huge"),
    "lineItems.nodes.0.title": ("null", "huge", "hostile-text"),
    "lineItems.nodes.0.taxable": ("null", "wrong-type"),
    "lineItems.nodes.0.discountedUnitPriceAfterAllDiscountsSet.shopMoney.amount": (
        "null",
        "wrong-type",
        "negative",
        "huge",
    ),
    "lineItems.nodes.0.taxLines": ("null", "wrong-type"),
    "lineItems.nodes.0.taxLines.0.rate": ("null", "wrong-type", "negative", "huge"),
    "lineItems.nodes.0.taxLines.0.priceSet.shopMoney.amount": ("null", "wrong-type", "huge"),
}

PRODUCT_PATHS = {
    "ProductDescription": ("null", "wrong-type", "huge", "hostile-text"),
    "Notes": ("wrong-type", "huge", "hostile-text"),
    "DefaultSellPrice": ("null", "wrong-type", "negative", "huge"),
    "Barcode": ("wrong-type", "huge", "hostile-text"),
    "Weight": ("wrong-type", "negative", "huge"),
    "ProductGroup": ("null", "wrong-type"),
    "ProductGroup.GroupName": ("null", "wrong-type", "huge"),
    "Obsolete": ("null", "wrong-type"),
    "LastModifiedOn": ("null", "wrong-type", "hostile-text"),
    "Guid": ("null", "wrong-type"),
    "SellPriceTier1": ("null", "wrong-type"),
}

VARIANT_PATHS = {
    "price": ("null", "wrong-type", "negative", "huge"),
    "barcode": ("wrong-type", "huge"),
    "sku": ("wrong-type", "huge"),
    "product": ("null", "wrong-type"),
    "product.title": ("null", "wrong-type", "huge"),
    "inventoryItem": ("null", "wrong-type"),
    "inventoryItem.tracked": ("null", "wrong-type"),
    "inventoryItem.measurement.weight.value": ("null", "wrong-type", "negative"),
}

STOCK_PATHS = {
    "AvailableQty": ("null", "missing", "wrong-type", "negative", "huge"),
    "QtyOnHand": ("null", "wrong-type", "huge"),
    "AllocatedQty": ("null", "wrong-type"),
    "ProductCode": ("null", "wrong-type", "huge"),
    "ProductGuid": ("null", "wrong-type"),
    "WarehouseCode": ("null", "wrong-type", "hostile-text"),
    "LastModifiedOn": ("null", "wrong-type", "hostile-text"),
}

SHIPMENT_PATHS = {
    "TrackingNumber": ("wrong-type", "huge", "hostile-text"),
    "ShippingCompany": ("wrong-type", "huge"),
    "ShipmentStatus": ("null", "wrong-type", "hostile-text"),
    "OrderNumber": ("null", "wrong-type", "hostile-text"),
    "OrderGuid": ("null", "wrong-type"),
    "DispatchDate": ("null", "wrong-type", "hostile-text"),
    "SalesShipmentLines": ("null", "wrong-type"),
    "SalesShipmentLines.0.ShipmentQty": ("null", "wrong-type", "negative", "huge"),
    "SalesShipmentLines.0.Product": ("null", "wrong-type"),
    "SalesShipmentLines.0.SalesOrderLineNumber": ("null", "wrong-type"),
}

# (api, request match, job); each gets every body of MALFORMED.
MALFORMED_AT = [
    ("shopify", " orders", "orders"),
    ("shopify", " shop", "orders"),
    ("shopify", "productVariants", "products"),
    ("shopify", "productVariants", "inventory"),
    ("shopify", " locations", "inventory"),
    ("shopify", "productVariantsBulkUpdate", "products"),
    ("shopify", "inventorySetQuantities", "inventory"),
    ("shopify", "fulfillmentCreate", "fulfillments"),
    ("shopify", " nodes", "fulfillments"),
    ("unleashed", "GET /Products", "orders"),
    ("unleashed", "GET /Products", "products"),
    ("unleashed", "GET /Customers", "orders"),
    ("unleashed", "POST /SalesOrders/", "orders"),
    ("unleashed", "GET /StockOnHand", "inventory"),
    ("unleashed", "GET /SalesOrders", "inventory"),
    ("unleashed", "GET /SalesShipments", "fulfillments"),
]
MALFORMED = {
    "truncated": b'{"data": {"x": [{"id": "gid://shopify/Order/1", "na',
    "html": b"<html><body>502 Bad Gateway</body></html>",
    "json-array": b"[1, 2, 3]",
    "empty": b"",
    "json-null": b"null",
    "json-string": b'"ok"',
    "empty-object": b"{}",
}


class Install:
    """One sandbox pair and state database per job, shared by that job's payload cases."""

    def __init__(self, job: str, tmp: Path) -> None:
        self.job = job
        self.boxes: Sandboxes = start_sandboxes(seed=7, orders=6)
        self.patch = pytest.MonkeyPatch()
        folder = Path(tempfile.mkdtemp(prefix=f"{job}-", dir=tmp))
        self.h = Harness(self.boxes, folder, self.patch)
        self.counter = 0
        self.h.sync("orders")

    def close(self) -> None:
        self.patch.undo()
        self.boxes.stop()

    def variant(self, offset: int = 0) -> str:
        variants = self.boxes.world.variants()
        self.counter += 1
        return variants[(self.counter * 2 + offset) % len(variants)].sku

    def clean(self) -> None:
        """Replies sane again: a clean run of the job (and orders) restores every invariant."""
        for api in ("shopify", "unleashed"):
            tamper(self.boxes, api).clear()
        self.h.later()
        self.h.sync("orders")
        if self.job != "orders":
            self.h.sync(self.job, *(["--full"] if self.job == "inventory" else []))
        check_orders_exactly_once(self.boxes)
        check_nothing_lost(self.h)
        check_pending_reported(self.h)
        check_inventory_writes_once(self.boxes)
        if self.job == "inventory":
            check_stock_formula(self.boxes)
        if self.job == "fulfillments":
            check_fulfillments_once(self.boxes)


def bad_run(install: Install, *, allowed: tuple[int, ...] = (0, 1, 3)) -> int:
    """The run that meets the bad reply: a plain outcome, bounded errors, all reported."""
    h = install.h
    h.catch_up()  # records the sandbox stamped a moment ahead are in this run's window
    result = h.sync(install.job, allowed=allowed)
    if result.exit_code == 3:
        assert f"{install.job}: " in result.output, result.output[-2000:]
    store = h.store()
    try:
        run = store.runs(last=1, job=install.job)[0]
        for item in store.run_items(int(run["id"])):
            if item["action"] in ("hold", "fail"):
                error = item["error"] or ""
                assert error.strip(), f"{item['key']}: {item['action']} without a reason"
                assert len(error) < 3000, f"{item['key']}: the error repeats the bad value"
    finally:
        store.close()
    if install.job == "orders":
        check_nothing_lost(h)
    check_pending_reported(h)
    check_inventory_writes_once(install.boxes)
    return result.exit_code


def payload_cases(installs: Callable[[str], Install]) -> Iterator[Case]:
    for path, kinds in ORDER_PATHS.items():
        for kind in kinds:
            yield Case("orders", f"order {path} {kind}", order_case(installs, path, kind))
    for path, kinds in PRODUCT_PATHS.items():
        for kind in kinds:
            yield Case("products", f"product {path} {kind}", product_case(installs, path, kind))
    for job in ("products", "inventory"):
        for path, kinds in VARIANT_PATHS.items():
            for kind in kinds:
                run = variant_case(installs, job, path, kind)
                yield Case("variants", f"{job}: variant {path} {kind}", run)
    for path, kinds in STOCK_PATHS.items():
        for kind in kinds:
            yield Case("stock", f"stock {path} {kind}", stock_case(installs, path, kind))
    for path, kinds in SHIPMENT_PATHS.items():
        for kind in kinds:
            yield Case("shipments", f"shipment {path} {kind}", shipment_case(installs, path, kind))
    for api, match, job in MALFORMED_AT:
        for body_name, body in MALFORMED.items():
            run = malformed_case(installs, api, match, job, body_name, body)
            yield Case("malformed", f"{job}: {api} {match.strip()} {body_name}", run)


def order_case(installs: Callable[[str], Install], path: str, kind: str) -> Callable[[], None]:
    def run() -> None:
        install = installs("orders")
        boxes = install.boxes
        order = boxes.shopify.add_order(
            [(install.variant(), 2), (install.variant(1), 1)], email="soak@example.com"
        )
        neighbour = boxes.shopify.add_order([(install.variant(2), 1)], email=None)

        def rewrite(body: Any) -> Any:
            for node in walk(body):
                if node.get("name") == order.name and "lineItems" in node:
                    set_path(node, path, MUTATIONS[kind])
            return body

        wrapper = tamper(boxes, "shopify")
        wrapper.rewrite(" orders", rewrite)
        wrapper.rewrite(" nodes", rewrite)
        code = bad_run(install)
        if code != 3:
            check_orders_exactly_once(boxes, held={order.name})
            assert neighbour.name in set(selected_order_names(boxes)), neighbour.name
        install.clean()

    return run


def product_case(installs: Callable[[str], Install], path: str, kind: str) -> Callable[[], None]:
    def run() -> None:
        install = installs("products")
        boxes = install.boxes
        sku, good = install.variant(), install.variant(1)
        boxes.unleashed.update_product(sku, DefaultSellPrice=Decimal("12.34") + install.counter)
        boxes.unleashed.update_product(good, DefaultSellPrice=Decimal("23.45") + install.counter)

        def rewrite(body: Any) -> Any:
            for node in walk(body):
                if node.get("ProductCode") == sku:
                    set_path(node, path, MUTATIONS[kind])
            return body

        tamper(boxes, "unleashed").rewrite("GET /Products", rewrite)
        code = bad_run(install)
        if code != 3:
            price = boxes.shopify.variant_for(good).price
            want = ((Decimal("23.45") + install.counter) * Decimal("1.15")).quantize(
                Decimal("0.01")
            )
            assert price == want, f"{good} beside a bad product: Shopify price {price}, want {want}"
            assert boxes.shopify.variant_for(sku).price > 0, f"{sku}: a price of 0 or less"
        install.clean()

    return run


def variant_case(
    installs: Callable[[str], Install], job: str, path: str, kind: str
) -> Callable[[], None]:
    def run() -> None:
        install = installs(job)
        boxes = install.boxes
        sku = install.variant()
        if job == "products":
            boxes.unleashed.update_product(sku, DefaultSellPrice=Decimal("31.00") + install.counter)
        else:
            boxes.unleashed.set_stock(sku, "MAIN", 10 + install.counter % 40)

        def rewrite(body: Any) -> Any:
            for node in walk(body):
                if node.get("sku") == sku and "inventoryItem" in node:
                    set_path(node, path, MUTATIONS[kind])
            return body

        tamper(boxes, "shopify").rewrite("productVariants", rewrite)
        bad_run(install)
        install.clean()

    return run


def stock_case(installs: Callable[[str], Install], path: str, kind: str) -> Callable[[], None]:
    def run() -> None:
        install = installs("inventory")
        boxes = install.boxes
        sku, good = install.variant(), install.variant(1)
        boxes.unleashed.set_stock(sku, "MAIN", 5 + install.counter % 30)
        boxes.unleashed.set_stock(good, "MAIN", 7 + install.counter % 30)

        def rewrite(body: Any) -> Any:
            for node in walk(body):
                if node.get("ProductCode") == sku and node.get("WarehouseCode") == "MAIN":
                    set_path(node, path, MUTATIONS[kind])
            return body

        tamper(boxes, "unleashed").rewrite("GET /StockOnHand", rewrite)
        bad_run(install)
        install.clean()

    return run


def shipment_case(installs: Callable[[str], Install], path: str, kind: str) -> Callable[[], None]:
    def run() -> None:
        install = installs("fulfillments")
        boxes = install.boxes
        order = boxes.shopify.add_order([(install.variant(), 2)], email=None)
        install.h.catch_up()
        install.h.sync("orders")
        number = next(
            so["OrderNumber"]
            for so in boxes.unleashed.sales_orders()
            if so.get("CustomerRef") == order.name
        )
        shipment = boxes.unleashed.ship_order(number, "TRK-SOAK", "NZ Post")

        def rewrite(body: Any) -> Any:
            for node in walk(body):
                if node.get("Guid") == shipment["Guid"]:
                    set_path(node, path, MUTATIONS[kind])
            return body

        tamper(boxes, "unleashed").rewrite("GET /SalesShipments", rewrite)
        bad_run(install)
        check_fulfillments_once(boxes, held={order.name})
        install.clean()

    return run


def malformed_case(
    installs: Callable[[str], Install], api: str, match: str, job: str, name: str, body: bytes
) -> Callable[[], None]:
    def run() -> None:
        install = installs(job)
        boxes = install.boxes
        if job == "orders":
            boxes.shopify.add_order([(install.variant(), 1)], email="late@example.com")
        elif job == "products":
            boxes.unleashed.update_product(
                install.variant(), DefaultSellPrice=Decimal("40.00") + install.counter
            )
        elif job == "inventory":
            boxes.unleashed.set_stock(install.variant(), "MAIN", 3 + install.counter % 50)
        else:
            order = boxes.shopify.add_order([(install.variant(), 1)], email=None)
            install.h.catch_up()
            install.h.sync("orders")
            number = next(
                (
                    so["OrderNumber"]
                    for so in boxes.unleashed.sales_orders()
                    if so.get("CustomerRef") == order.name
                ),
                None,
            )
            if number is not None:  # else the malformed reply meets a run with nothing to do
                boxes.unleashed.ship_order(number, "TRK-M", "NZ Post")
        tamper(boxes, api).rewrite(match, lambda _: body, count=1)
        # A write whose reply is garbage may have been applied; a read that is garbage must
        # stop the run (1 or 3), except where the garbage happens to read as "nothing".
        bad_run(install)
        install.clean()

    return run


# -- config values --------------------------------------------------------------------------

BAD_CONFIG: list[tuple[str, Any, str]] = [
    # (dotted key, bad value, text the error must contain)
    ("shopify.shop", "not a domain!", "shopify.shop"),
    ("shopify.shop", [], "shopify.shop"),
    ("shopify.shop", "", "shopify.shop"),
    ("shopify.access_token", ["a"], "shopify.access_token"),
    ("shopify.access_token", "${NOT_SET_ANYWHERE_SOAK}", "NOT_SET_ANYWHERE_SOAK"),
    ("shopify.api_version", "2026-13", "shopify.api_version"),
    ("shopify.api_version", "latest", "shopify.api_version"),
    ("shopify.api_version", 2026, "shopify.api_version"),
    ("shopify.client_id", "only-an-id", "client_secret"),
    ("shopify.acess_token", "typo", "acess_token"),
    ("unleashed.base_url", "ftp://example.com", "unleashed.base_url"),
    ("unleashed.base_url", "api.unleashedsoftware.com", "unleashed.base_url"),
    ("unleashed.base_url", 7, "unleashed.base_url"),
    ("unleashed.api_id", "", "unleashed.api_id"),
    ("unleashed.api_id", [], "unleashed.api_id"),
    ("unleashed.api_key", None, "unleashed.api_key"),
    ("unleashed.api_key", {"a": 1}, "unleashed.api_key"),
    ("unleashed.client_type", [], "unleashed.client_type"),
    ("master", "both", "master"),
    ("master", 1, "master"),
    ("master", "", "master"),
    ("orders.enabled", "maybe", "orders.enabled"),
    ("orders.enabled", 2, "orders.enabled"),
    ("orders.financial_statuses", "paid", "orders.financial_statuses"),
    ("orders.financial_statuses", [], "orders.financial_statuses"),
    ("orders.financial_statuses", [1], "orders.financial_statuses"),
    ("orders.financial_statuses", ["paid_in_space"], "orders.financial_statuses"),
    ("orders.start", "yesterday", "orders.start"),
    ("orders.start", "2026-13-01T00:00:00Z", "orders.start"),
    ("orders.start", 5, "orders.start"),
    ("orders.include_test_orders", "nope", "orders.include_test_orders"),
    ("orders.order_number_prefix", "X" * 11, "orders.order_number_prefix"),
    ("orders.order_number_prefix", [], "orders.order_number_prefix"),
    ("orders.order_status", "Shipped", "orders.order_status"),
    ("orders.order_status", 1, "orders.order_status"),
    ("orders.warehouse", "W" * 16, "orders.warehouse"),
    ("orders.warehouse", [], "orders.warehouse"),
    ("orders.tax_code", [], "orders.tax_code"),
    ("orders.customer", "x", "orders.customer"),
    ("orders.customer.mode", "per_phone", "orders.customer.mode"),
    ("orders.customer.code", [], "orders.customer.code"),
    ("orders.shipping.mode", "free", "orders.shipping.mode"),
    ("orders.shipping", [1], "orders.shipping"),
    ("orders.refunds", "refund_all", "orders.refunds"),
    ("orders.finacial_statuses", ["paid"], "finacial_statuses"),
    ("products.fields", "title", "products.fields"),
    ("products.fields", [], "products.fields"),
    ("products.fields", ["colour"], "products.fields"),
    ("products.price_tier", 11, "products.price_tier"),
    ("products.price_tier", 0, "products.price_tier"),
    ("products.price_tier", "gold", "products.price_tier"),
    ("products.tax_rate", 15, "products.tax_rate"),
    ("products.tax_rate", -0.1, "products.tax_rate"),
    ("products.tax_rate", "x", "products.tax_rate"),
    ("products.create_missing", "yes please", "products.create_missing"),
    ("products.max_changes", 0, "products.max_changes"),
    ("products.max_changes", -5, "products.max_changes"),
    ("products.max_changes", "lots", "products.max_changes"),
    ("products.max_changes", 1.5, "products.max_changes"),
    ("products.enabled", [], "products.enabled"),
    ("inventory.buffer", -1, "inventory.buffer"),
    ("inventory.buffer", 10**40, "inventory.buffer"),
    ("inventory.buffer", 1.5, "inventory.buffer"),
    ("inventory.buffer", "x", "inventory.buffer"),
    ("inventory.locations", ["MAIN"], "inventory.locations"),
    ("inventory.locations", {}, "inventory.locations"),
    ("inventory.locations", "MAIN", "inventory.locations"),
    ("inventory.locations", None, "inventory.locations"),
    ("inventory.max_changes", 0, "inventory.max_changes"),
    ("inventory.unallocated_statuses", "Parked", "inventory.unallocated_statuses"),
    ("inventory.unallocated_statuses", [5], "inventory.unallocated_statuses"),
    ("inventory.enabled", "x", "inventory.enabled"),
    ("fulfillments.enabled", "x", "fulfillments.enabled"),
    ("fulfillments.notify_customer", 3, "fulfillments.notify_customer"),
    ("schedule.orders", "-5m", "schedule.orders"),
    ("schedule.orders", "often", "schedule.orders"),
    ("schedule.orders", 0, "schedule.orders"),
    ("schedule.products", "5 parsecs", "schedule.products"),
    ("schedule.inventory", [], "schedule.inventory"),
    ("state.path", "/dev/null/sub/state.db", "state.path"),
    ("state.path", [], "state.path"),
    ("shopfy", {"shop": "x"}, "shopfy"),
]
SECTIONS = (
    "shopify",
    "unleashed",
    "orders",
    "products",
    "inventory",
    "fulfillments",
    "schedule",
    "state",
)


def config_cases(tmp: Path) -> Iterator[Case]:
    for key, value, expect in BAD_CONFIG:
        yield Case(
            "config", f"config {key}={str(value)[:24]!r}", config_case(tmp, key, value, expect)
        )
    for section in SECTIONS:
        for value in ("a string", [1, 2], 5):
            label = f"config section {section} as {type(value).__name__}"
            yield Case("config", label, config_case(tmp, section, value, section))


def config_case(tmp: Path, key: str, value: Any, expect: str) -> Callable[[], None]:
    def run() -> None:
        data = copy.deepcopy(minimal_config())
        *parents, last = key.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
        path = tmp / "config-case.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        result = CliRunner().invoke(cli, ["--config", str(path), "status"])
        assert_no_crash(result.output, ["status"])
        assert result.exit_code == 2, f"exit {result.exit_code}, want 2:\n{result.output}"
        assert expect in result.output, f"the error does not name {expect}:\n{result.output}"

    return run


# -- CLI arguments ----------------------------------------------------------------------------

BAD_ARGS: list[list[str]] = [
    ["sync", "nothing"],
    ["sync", "orders", "--limit", "0"],
    ["sync", "orders", "--limit", "-1"],
    ["sync", "orders", "--limit", "abc"],
    ["sync", "orders", "--limit", "1.5"],
    ["sync", "orders", "--limit"],
    ["sync", "orders", "--since", "yesterday"],
    ["sync", "orders", "--since", "2026-13-45"],
    ["sync", "orders", "--since", ""],
    ["sync", "orders", "--since", "2026-01-01T25:00:00Z"],
    ["sync", "orders", "--bogus"],
    ["sync", "orders", "--full"],
    ["sync", "products", "--full=yes"],
    ["sync", "products", "--limit", "5"],
    ["sync", "inventory", "--dry-run", "extra"],
    ["sync", "inventory", "--since", "2026-01-01"],
    ["sync", "fulfillments", "--full"],
    ["sync", "all", "--limit", "5"],
    ["report", "abc"],
    ["report", "--last", "x"],
    ["report", "1", "2"],
    ["status", "--bogus"],
    ["status", "--json", "yes"],
    ["frobnicate"],
    ["schedule", "--once", "--bogus"],
    ["check", "--bogus"],
    ["init", "--bogus"],
    ["sandbox", "serve", "--shopify-port", "abc"],
    ["sandbox", "serve", "--seed", "x"],
    ["sandbox", "frobnicate"],
    ["demo", "--seed", "x"],
    ["-v", "--bogus", "status"],
]


def cli_cases(installs: Callable[[str], Install], tmp: Path) -> Iterator[Case]:
    for args in BAD_ARGS:
        yield Case("cli", "cli " + " ".join(args), cli_case(installs, args))
    missing = str(tmp / "no-such-folder" / "config.yaml")
    for args in (["--config", missing, "status"], ["--config", str(tmp), "status"]):
        yield Case("cli", "cli " + " ".join(args), raw_cli_case(args))


# click's own usage errors say "unexpected extra argument", so the CLI cases look for the
# crash markers that cannot be click's wording.
CLI_CRASH = ("Traceback (most recent call last)", "error: unexpected", "This is a bug in syncer")


def cli_case(installs: Callable[[str], Install], args: list[str]) -> Callable[[], None]:
    def run() -> None:
        install = installs("orders")
        raw_cli_case(["--config", str(install.h.config_path), *args])()

    return run


def raw_cli_case(args: list[str]) -> Callable[[], None]:
    def run() -> None:
        result = CliRunner().invoke(cli, args)
        for marker in CLI_CRASH:
            assert marker not in result.output, f"crashed ({marker!r}):\n{result.output}"
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(
            result.exception
        )
        assert result.exit_code == 2, f"exit {result.exit_code}, want 2:\n{result.output}"
        assert result.output.strip(), "a usage error with no message"

    return run


# -- driver ---------------------------------------------------------------------------------

# Bugs in syncer this catalogue found and that are not fixed yet: the case still runs; it is
# tallied as a known bug while it fails, and fails the soak once it passes (drop it from here).
KNOWN_BUGS: dict[str, str] = {}


def run_all(
    failures: list[str],
    guarded: Callable[[str, list[str], Callable[[], object]], object],
    say: Callable[[str], None],
) -> Counter[str]:
    """Every case once; returns how many of each family were tried."""
    tally: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="soak-bad-") as folder:
        tmp = Path(folder)
        opened: dict[str, Install] = {}

        def installs(job: str) -> Install:
            if job not in opened:
                opened[job] = Install(job, tmp)
            return opened[job]

        cases = [*config_cases(tmp), *cli_cases(installs, tmp), *payload_cases(installs)]
        say(f"soak: {len(cases)} bad inputs")
        try:
            for index, case in enumerate(cases, start=1):
                before = len(failures)
                guarded(case.name, failures, case.run)
                known = KNOWN_BUGS.get(case.name)
                if known is not None and len(failures) > before:
                    failures.pop()
                    tally["known bugs"] += 1
                    say(f"  known bug: {case.name}: {known}")
                elif known is not None:
                    failures.append(f"{case.name}: passes now; remove it from KNOWN_BUGS")
                if known is not None or (
                    len(failures) > before and case.family not in ("config", "cli")
                ):
                    # A failed case may leave its install in a state the next case would
                    # blame itself for: start that job's install afresh.
                    for job, install in list(opened.items()):
                        install.close()
                        del opened[job]
                tally[case.family] += 1
                if index % 50 == 0:
                    say(f"  {index}/{len(cases)} bad inputs, {len(failures)} failed")
        finally:
            for install in opened.values():
                install.close()
    return tally
