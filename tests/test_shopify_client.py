"""The Shopify client against the Shopify sandbox over real sockets."""

from __future__ import annotations

import logging
import time
import uuid
from decimal import Decimal

import pytest

from syncer.connectors.shopify import ShopifyClient, shop_base_url, sku_query
from syncer.errors import CredentialsError, DataError, OutcomeUnknown
from syncer.http import CallCounter, Redactor, RetryPolicy
from syncer.sandbox.common import Fault, SandboxServer
from syncer.sandbox.seed import make_world
from syncer.sandbox.shopify import ShopifySandbox

POLICY = RetryPolicy(base_delay=0.01, max_delay=2.0, read_timeout=5.0)


@pytest.fixture
def sandbox():
    app = ShopifySandbox()
    with SandboxServer(app) as server:
        yield app, server


def make_client(server, **options):
    settings = {"access_token": "shpat_sandbox", "api_version": "2026-10"}
    settings.update(options)
    return ShopifyClient(
        server.url,
        settings.pop("api_version"),
        counter=CallCounter(),
        redactor=Redactor(),
        policy=POLICY,
        **settings,
    )


@pytest.mark.parametrize(
    ("shop", "url"),
    [
        pytest.param("acme.myshopify.com", "https://acme.myshopify.com", id="domain"),
        pytest.param("acme", "https://acme.myshopify.com", id="handle"),
        pytest.param("http://127.0.0.1:8701/", "http://127.0.0.1:8701", id="url"),
    ],
)
def test_shop_base_url(shop, url):
    assert shop_base_url(shop) == url


def test_sku_query_quotes_unusual_skus():
    assert sku_query(["A-1", 'B "2"']) == 'sku:A-1 OR sku:"B \\"2\\""'


def test_paginate_reads_every_page(sandbox):
    app, server = sandbox
    client = make_client(server)
    variants = list(client.iter_variants(page_size=5))
    assert {v["sku"] for v in variants} == set(app.by_sku)
    assert len(server.requests("productVariants")) == -(-len(app.variants) // 5)
    assert variants[0]["inventoryItem"]["measurement"]["weight"]["unit"] == "KILOGRAMS"


def test_orders_with_more_lines_than_a_page_are_read_completely(sandbox):
    app, server = sandbox
    skus = sorted(app.by_sku)[:23]
    big = app.add_order([(sku, 1) for sku in skus])
    client = make_client(server)
    orders = {o["id"]: o for o in client.iter_orders("status:any")}
    assert len(orders) == len(app.orders)
    lines = orders[big.id]["lineItems"]["nodes"]
    assert [li["sku"] for li in lines] == skus
    assert server.requests("OrderLineItems") or server.requests(" order")
    [again] = client.orders_by_ids([big.id])
    assert len(again["lineItems"]["nodes"]) == 23


def test_typed_reads(sandbox):
    app, server = sandbox
    client = make_client(server)
    assert client.shop_info()["currencyCode"] == "NZD"
    locations = {loc["name"]: loc["id"] for loc in client.locations()}
    assert set(locations) == {"Main warehouse", "West warehouse"}
    found = client.variants_by_skus(["P00001", "P00000-BLA-S", "NOT-THERE"])
    assert set(found) == {"P00001", "P00000-BLA-S"}
    levels = list(client.iter_inventory_levels(locations["Main warehouse"]))
    assert len(levels) == len(app.location("MAIN").levels)
    level = next(lv for lv in levels if lv["item"]["sku"] == "P00001")
    assert level["available"] == app.quantities("P00001", "MAIN")["available"]
    item_id = found["P00001"][0]["inventoryItem"]["id"]
    rows = client.inventory_levels_for_items([item_id], [locations["West warehouse"]])
    assert rows == [
        {
            "item_id": item_id,
            "sku": "P00001",
            "tracked": True,
            "bundle": False,
            "location_id": locations["West warehouse"],
            **app.quantities("P00001", "WEST"),
        }
    ]
    refunded = next(o for o in app.orders.values() if o.refunds)
    [refund] = client.refunds_by_ids([refunded.refunds[0].id])
    assert refund["order"]["id"] == refunded.id
    assert refund["refundLineItems"]["nodes"][0]["restockType"] == "RETURN"
    fos = client.fulfillment_orders_for([refunded.id, "gid://shopify/Order/999999"])
    assert list(fos) == [refunded.id]


class FakeClock:
    """A steady clock that moves only when the client sleeps or the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def throttle_reply(available: float, maximum: float = 1000.0, rate: float = 50.0) -> dict:
    status = {"maximumAvailable": maximum, "currentlyAvailable": available, "restoreRate": rate}
    return {"extensions": {"cost": {"throttleStatus": status}}}


@pytest.mark.parametrize(
    ("available", "elapsed", "cost", "wait"),
    [
        pytest.param(100.0, 0.0, 300, 4.0, id="short-by-200-at-50-a-second"),
        pytest.param(100.0, 2.0, 300, 2.0, id="refilled-while-away"),
        pytest.param(100.0, 10.0, 300, None, id="refilled-enough"),
        pytest.param(900.0, 0.0, 300, None, id="enough-already"),
        pytest.param(0.0, 0.0, 5000, 20.0, id="cost-above-bucket-waits-for-a-full-bucket"),
    ],
)
def test_pacing_waits_for_the_points_the_next_query_needs(available, elapsed, cost, wait):
    clock = FakeClock()
    client = ShopifyClient(
        "http://127.0.0.1:9",
        "2026-10",
        "shpat_sandbox",
        counter=CallCounter(),
        redactor=Redactor(),
        sleep=clock.sleep,
        clock=clock,
    )
    client._note_cost(throttle_reply(available))
    clock.now += elapsed
    client._pace(cost)
    assert clock.sleeps == ([] if wait is None else [pytest.approx(wait)])


def test_client_paces_itself_through_a_small_bucket():
    """Against the sandbox's real bucket: the client asks to wait at least as long as the
    bucket needs to refill, so Shopify never has to throttle it."""
    app = ShopifySandbox(make_world(2, products=1000, orders=0), maximum_available=300)
    app.set_bucket(maximum=300, restore_rate=3000)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    with SandboxServer(app) as server:
        client = make_client(server, sleep=sleep)
        levels = list(client.iter_inventory_levels(app.location("MAIN").id))
        assert len(levels) >= 2000
        throttled = [r for r in server.log if r.status == 200 and "Throttled" in r.body]
        assert not throttled  # the client waited instead of being throttled
        assert waits, "a 300-point bucket cannot serve 2,000 levels without waiting"


def test_throttled_replies_are_retried_after_the_computed_wait(sandbox):
    app, server = sandbox
    client = make_client(server)
    server.faults.add(Fault("throttle", match="shop", count=2))
    assert client.shop_info()["name"] == "Syncer Sandbox"
    app.throttle_status = 429
    server.faults.add(Fault("throttle", match="shop", count=1))
    assert client.shop_info()["name"] == "Syncer Sandbox"
    assert [kind for kind, _ in server.faults.injected] == ["throttle"] * 3


def test_429_with_retry_after_and_5xx_are_retried(sandbox):
    _, server = sandbox
    sleeps: list[float] = []
    client = ShopifyClient(
        server.url,
        "2026-10",
        "shpat_sandbox",
        counter=CallCounter(),
        redactor=Redactor(),
        policy=POLICY,
        sleep=lambda s: (sleeps.append(s), time.sleep(min(s, 0.05))),
    )
    server.faults.add(Fault("status", match="shop", status=429, retry_after=1.5))
    server.faults.add(Fault("status", match="shop", status=503, count=2))
    assert client.shop_info()["currencyCode"] == "NZD"
    assert sleeps[0] >= 1.5
    assert client.http.counter.total("shopify") == 4


def test_wrong_token_raises_credentials_error(sandbox):
    _, server = sandbox
    client = make_client(server, access_token="shpat_wrong")
    with pytest.raises(CredentialsError) as caught:
        client.shop_info()
    assert "shpat_wrong" not in str(caught.value)


def test_graphql_errors_raise_data_error(sandbox):
    _, server = sandbox
    client = make_client(server)
    with pytest.raises(DataError) as caught:
        client.execute("{ shop { nope } }", kind="bad")
    assert caught.value.errors[0]["extensions"]["code"] == "undefinedField"


def set_quantities(client, app, sku, quantity, change_from, key):
    variant = app.variant_for(sku)
    return client.set_inventory_quantities(
        [
            {
                "inventoryItemId": variant.inventory_item.id,
                "locationId": app.location("MAIN").id,
                "quantity": quantity,
                "changeFromQuantity": change_from,
            }
        ],
        reason="correction",
        reference_uri="gid://syncer/StockSync/test",
        idempotency_key=key,
    )


def test_lost_reply_on_set_quantities_is_retried_with_the_same_key_and_applies_once(sandbox):
    app, server = sandbox
    client = make_client(server)
    before = app.quantities("P00001", "MAIN")
    server.faults.add(Fault("lost_reply", match="inventorySetQuantities"))
    payload = set_quantities(
        client, app, "P00001", before["available"] + 4, before["available"], str(uuid.uuid4())
    )
    assert payload["userErrors"] == []
    assert len(server.requests("inventorySetQuantities")) == 2
    assert len(app.written("inventorySetQuantities")) == 1
    assert app.quantities("P00001", "MAIN")["on_hand"] == before["on_hand"] + 4


def test_stale_change_from_quantity_raises_data_error_with_the_code(sandbox):
    app, server = sandbox
    client = make_client(server)
    current = app.quantities("P00001", "MAIN")["available"]
    app.set_available("P00001", "MAIN", current + 2)  # someone else changed it
    with pytest.raises(DataError) as caught:
        set_quantities(client, app, "P00001", 10, current, str(uuid.uuid4()))
    assert [e["code"] for e in caught.value.errors] == ["CHANGE_FROM_QUANTITY_STALE"]
    assert app.quantities("P00001", "MAIN")["available"] == current + 2


def test_sandbox_rejects_set_quantities_without_idempotent(sandbox):
    app, server = sandbox
    client = make_client(server)
    document = (
        "mutation($input: InventorySetQuantitiesInput!) { inventorySetQuantities(input: $input)"
        " { userErrors { code } } }"
    )
    variant = app.variant_for("P00001")
    with pytest.raises(DataError, match="@idempotent"):
        client.execute(
            document,
            {
                "input": {
                    "name": "available",
                    "reason": "correction",
                    "quantities": [
                        {
                            "inventoryItemId": variant.inventory_item.id,
                            "locationId": app.location("MAIN").id,
                            "quantity": 1,
                            "changeFromQuantity": None,
                        }
                    ],
                }
            },
            kind="inventory.set",
        )


def test_client_credentials_token_is_renewed_before_expiry_and_after_a_401():
    app = ShopifySandbox(access_token=None, token_ttl=600)
    clock = FakeClock()
    with SandboxServer(app) as server:
        redactor = Redactor()
        client = ShopifyClient(
            server.url,
            "2026-10",
            client_id="sandbox-client",
            client_secret="sandbox-secret",
            counter=CallCounter(),
            redactor=redactor,
            policy=POLICY,
            clock=clock,
        )
        client.shop_info()
        clock.now += 301  # past half the lifetime: renewed before it runs out
        client.shop_info()
        assert len(server.requests("/admin/oauth/access_token")) == 2
        app.tokens.clear()  # revoked server-side
        client.shop_info()
        assert len(server.requests("/admin/oauth/access_token")) == 3
        token = client._token
        assert token
        assert redactor(f"token {token}") == "token ***"


def test_version_fall_forward_is_warned_once(sandbox, caplog):
    _, server = sandbox
    client = make_client(server, api_version="2024-01")
    with caplog.at_level(logging.WARNING, logger="syncer.shopify"):
        client.shop_info()
        client.shop_info()
    warnings = [r for r in caplog.records if "fell forward" in r.getMessage()]
    assert len(warnings) == 1
    assert client.answered_version == "2026-01"


def test_product_create_then_variant_update_then_product_update(sandbox):
    _, server = sandbox
    client = make_client(server)
    product = client.product_create(
        title="Alpine Flask", description_html="<p>Keeps tea hot.</p>", product_type="Homeware"
    )
    variant_id = product["variants"]["nodes"][0]["id"]
    [variant] = client.variants_bulk_update(
        product["id"],
        [
            {
                "id": variant_id,
                "price": Decimal("39.90"),
                "barcode": "9400000000001",
                "inventoryItem": {
                    "sku": "FLASK-1",
                    "tracked": True,
                    "measurement": {"weight": {"unit": "KILOGRAMS", "value": Decimal("0.65")}},
                },
            }
        ],
    )
    assert (variant["sku"], variant["price"], variant["barcode"]) == (
        "FLASK-1",
        "39.90",
        "9400000000001",
    )
    assert variant["inventoryItem"]["measurement"]["weight"]["value"] == 0.65
    updated = client.product_update(product["id"], title="Alpine Flask 1L", status="DRAFT")
    assert (updated["title"], updated["status"]) == ("Alpine Flask 1L", "DRAFT")
    with pytest.raises(DataError) as caught:
        client.variants_bulk_update(product["id"], [{"id": "gid://shopify/ProductVariant/0"}])
    assert caught.value.errors[0]["code"] == "PRODUCT_VARIANT_DOES_NOT_EXIST"


def test_fulfillment_create_and_an_ambiguous_failure(sandbox):
    app, server = sandbox
    order = app.add_order([("P00001", 1), ("P00004", 2)])
    client = make_client(server)
    [fo] = client.fulfillment_orders_for([order.id])[order.id]
    first_line = fo["lineItems"]["nodes"][0]
    fulfillment = client.fulfillment_create(
        {
            "lineItemsByFulfillmentOrder": [
                {
                    "fulfillmentOrderId": fo["id"],
                    "fulfillmentOrderLineItems": [{"id": first_line["id"], "quantity": 1}],
                }
            ],
            "trackingInfo": {"company": "NZ Post", "number": "QB123", "url": "https://t.nz/QB123"},
            "notifyCustomer": False,
        }
    )
    assert fulfillment["trackingInfo"][0]["number"] == "QB123"
    assert order.display_fulfillment_status == "PARTIALLY_FULFILLED"
    server.faults.add(Fault("lost_reply", match="fulfillmentCreate"))
    with pytest.raises(OutcomeUnknown):
        client.fulfillment_create(
            {"lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo["id"]}]}
        )
    assert len(app.written("fulfillmentCreate")) == 2  # applied once, never re-sent
    assert order.display_fulfillment_status == "FULFILLED"
