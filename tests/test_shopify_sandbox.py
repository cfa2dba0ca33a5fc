"""The Shopify sandbox behaves like the Admin GraphQL API where the client depends on it."""

from __future__ import annotations

import dataclasses
import json
import time
from decimal import Decimal

import pytest
import requests

from syncer.sandbox.common import Request, SandboxServer
from syncer.sandbox.seed import make_world
from syncer.sandbox.shopify import ShopifySandbox

TOKEN = "shpat_sandbox"
SET_QUANTITIES = """
mutation Set($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { id changes { name delta quantityAfterChange } }
    userErrors { code field message }
  }
}
"""


def call(app, query, variables=None, *, token=TOKEN, version="2026-10"):
    request = Request(
        "POST",
        f"/admin/api/{version}/graphql.json",
        "",
        {"x-shopify-access-token": token} if token else {},
        json.dumps({"query": query, "variables": variables or {}}).encode(),
    )
    reply = app.handle(request)
    return reply.status, reply.headers, json.loads(reply.encode())


@pytest.fixture
def app():
    return ShopifySandbox()


def set_input(app, sku, location, quantity, change_from, name="available", reason="correction"):
    variant = app.variant_for(sku)
    return {
        "name": name,
        "reason": reason,
        "referenceDocumentUri": "gid://syncer/StockSync/1",
        "quantities": [
            {
                "inventoryItemId": variant.inventory_item.id,
                "locationId": app.location(location).id,
                "quantity": quantity,
                "changeFromQuantity": change_from,
            }
        ],
    }


@pytest.mark.parametrize(
    ("token", "status"),
    [
        pytest.param(None, 401, id="missing"),
        pytest.param("shpat_wrong", 401, id="wrong"),
        pytest.param(TOKEN, 200, id="right"),
    ],
)
def test_access_token_is_checked(app, token, status):
    code, _, body = call(app, "{ shop { name } }", token=token)
    assert code == status
    if status == 401:
        assert body == {
            "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
        }


@pytest.mark.parametrize(
    ("asked", "answered"),
    [
        pytest.param("2026-10", "2026-10", id="supported"),
        pytest.param("2027-01", "2027-01", id="release-candidate"),
        pytest.param("2024-01", "2026-01", id="falls-forward"),
    ],
)
def test_api_version_header(app, asked, answered):
    _, headers, _ = call(app, "{ shop { name } }", version=asked)
    assert headers["X-Shopify-API-Version"] == answered


def test_validation_errors_come_back_like_shopify(app):
    status, _, body = call(app, "{ shop { nope } }")
    assert status == 200
    [error] = body["errors"]
    assert "nope" in error["message"]
    assert error["locations"] == [{"line": 1, "column": 10}]
    assert error["extensions"]["code"] == "undefinedField"
    assert "data" not in body


def test_every_reply_carries_cost_and_refunds_unused_points(app):
    _, _, body = call(app, '{ orders(first: 50, query: "name:#1001") { nodes { id } } }')
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 52
    assert cost["actualQueryCost"] == 3
    assert cost["throttleStatus"] == {
        "maximumAvailable": 2000.0,
        "currentlyAvailable": 1997,
        "restoreRate": 100.0,
    }


@pytest.mark.parametrize("throttled", [False, True], ids=["granted", "throttled"])
def test_throttle_status_numbers_are_written_like_shopify(app, throttled):
    """maximumAvailable and restoreRate are floats (`1000.0`), currentlyAvailable an int."""
    app.set_bucket(maximum=60, restore_rate=1)
    query = "{ productVariants(first: 50) { nodes { id } } }"  # 52 points
    call(app, query)
    request = Request(
        "POST",
        "/admin/api/2026-10/graphql.json",
        "",
        {"x-shopify-access-token": TOKEN},
        json.dumps({"query": query if throttled else "{ shop { name } }"}).encode(),
    )
    text = app.handle(request).encode().decode()
    status = json.loads(text)["extensions"]["cost"]["throttleStatus"]
    assert '"maximumAvailable": 60.0' in text
    assert '"restoreRate": 1.0' in text
    assert type(status["currentlyAvailable"]) is int
    assert ('"data"' in text) is not throttled


def test_queries_over_1000_points_are_refused(app):
    _, _, body = call(
        app,
        "{ orders(first: 250) { nodes { id customer { id }"
        " lineItems(first: 5) { nodes { id } } } } }",
    )
    [error] = body["errors"]
    assert error["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert error["extensions"]["cost"] > 1000


def test_pages_are_capped_at_250(app):
    _, _, body = call(app, "{ locations(first: 251) { nodes { id } } }")
    assert "between 0 and 250" in body["errors"][0]["message"]


def test_throttled_reply_when_the_bucket_is_empty(app):
    app.set_bucket(maximum=60, restore_rate=1)
    query = "{ productVariants(first: 50) { nodes { id } } }"  # 52 points
    first = call(app, query)[2]
    assert "data" in first
    status, _, second = call(app, query)
    assert status == 200
    assert second["errors"] == [
        {
            "message": "Throttled",
            "extensions": {
                "code": "THROTTLED",
                "documentation": "https://shopify.dev/api/usage/rate-limits",
            },
        }
    ]
    assert "data" not in second  # a THROTTLED reply carries no data key at all
    assert second["extensions"]["cost"]["actualQueryCost"] is None
    assert second["extensions"]["cost"]["requestedQueryCost"] == 52
    app.throttle_status = 429
    assert call(app, query)[0] == 429
    assert app.throttled_reply().body["errors"][0]["extensions"]["code"] == "THROTTLED"


def test_pagination_with_many_equal_updated_at_is_complete_and_stable():
    app = ShopifySandbox(make_world(3, products=6, orders=0))
    same = app.now()
    made = {app.add_order([("P00001", 1)], created_at=same).id for _ in range(23)}
    seen: list[str] = []
    cursor = None
    while True:
        _, _, body = call(
            app,
            "query($after: String) { orders(first: 4, after: $after, sortKey: UPDATED_AT) {"
            " pageInfo { hasNextPage endCursor } nodes { id updatedAt } } }",
            {"after": cursor},
        )
        page = body["data"]["orders"]
        seen.extend(n["id"] for n in page["nodes"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        cursor = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == 23
    assert set(seen) == made


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("financial_status:paid", lambda o: o.financial_status == "PAID", id="paid"),
        pytest.param("status:cancelled", lambda o: o.cancelled_at is not None, id="cancelled"),
        pytest.param("status:any", lambda o: True, id="any"),
        pytest.param("test:false", lambda o: not o.test, id="not-test"),
        pytest.param(
            "updated_at:>='2026-11-01T01:00:00Z'",
            lambda o: o.updated_at.isoformat() >= "2026-11-01T01:00:00+00:00",
            id="updated-since",
        ),
        pytest.param(
            "updated_at:<'2026-11-01T01:00:00Z' financial_status:paid",
            lambda o: (
                o.updated_at.isoformat() < "2026-11-01T01:00:00+00:00"
                and o.financial_status == "PAID"
            ),
            id="and",
        ),
    ],
)
def test_order_search(app, query, expected):
    _, _, body = call(
        app,
        "query($q: String) { orders(first: 250, query: $q) { nodes { id } } }",
        {"q": query},
    )
    got = {n["id"] for n in body["data"]["orders"]["nodes"]}
    assert got == {o.id for o in app.orders.values() if expected(o)}
    assert got


def test_sku_search_with_or_groups_is_exact(app):
    _, _, body = call(
        app,
        '{ productVariants(first: 10, query: "sku:P00001 OR sku:P00000-BLA-S OR sku:P0000") {'
        " nodes { sku } } }",
    )
    assert sorted(n["sku"] for n in body["data"]["productVariants"]["nodes"]) == [
        "P00000-BLA-S",
        "P00001",
    ]


def test_seeded_shop_differs_from_the_seed_on_purpose(app):
    world = app.world
    seed_skus = {v.sku for v in world.variants()}
    shop_skus = set(app.by_sku)
    assert seed_skus - shop_skus  # a product Shopify lacks
    assert shop_skus - seed_skus == {"SHOP-ONLY-1"}
    changed = world.products[1].variants[0]
    assert app.variant_for(changed.sku).price == ((changed.price + 1) * Decimal("1.15")).quantize(
        Decimal("0.01")
    )
    same = world.products[0].variants[0]
    assert app.variant_for(same.sku).price == (same.price * Decimal("1.15")).quantize(
        Decimal("0.01")
    )
    differing = [
        sku
        for (sku, code), qty in world.stock.items()
        if sku in shop_skus and app.quantities(sku, code)["on_hand"] != qty
    ]
    assert differing


def test_open_orders_commit_stock_and_cancelling_restocks(app):
    sku = "P00001"
    before = app.quantities(sku, "MAIN")
    order = app.add_order([(sku, 2)])
    during = app.quantities(sku, "MAIN")
    assert during["available"] == before["available"] - 2
    assert during["committed"] == before["committed"] + 2
    assert during["on_hand"] == before["on_hand"]
    app.cancel_order(order)
    assert app.quantities(sku, "MAIN") == before


def test_order_totals_are_consistent(app):
    order = app.add_order(
        [("P00001", 2), ("P00004", 1)], shipping=Decimal("7.50"), taxes_included=True
    )
    _, _, body = call(
        app,
        "query($id: ID!) { order(id: $id) { totalPriceSet { shopMoney { amount } }"
        " totalTaxSet { shopMoney { amount } } lineItems(first: 5) { nodes {"
        " quantity discountedUnitPriceAfterAllDiscountsSet { shopMoney { amount } }"
        " taxLines { priceSet { shopMoney { amount } } } } }"
        " shippingLines(first: 5) { nodes { originalPriceSet { shopMoney { amount } }"
        " taxLines { priceSet { shopMoney { amount } } } } } } }",
        {"id": order.id},
    )
    data = body["data"]["order"]
    lines = data["lineItems"]["nodes"]
    ship = data["shippingLines"]["nodes"][0]
    gross = sum(
        Decimal(li["discountedUnitPriceAfterAllDiscountsSet"]["shopMoney"]["amount"])
        * li["quantity"]
        for li in lines
    ) + Decimal(ship["originalPriceSet"]["shopMoney"]["amount"])
    tax = sum(
        Decimal(t["priceSet"]["shopMoney"]["amount"])
        for item in [*lines, ship]
        for t in item["taxLines"]
    )
    assert Decimal(data["totalPriceSet"]["shopMoney"]["amount"]) == gross
    assert Decimal(data["totalTaxSet"]["shopMoney"]["amount"]) == tax


def test_inventory_set_quantities_requires_idempotent(app):
    document = SET_QUANTITIES.replace(" @idempotent(key: $key)", "").replace(", $key: String!", "")
    _, _, body = call(app, document, {"input": set_input(app, "P00001", "MAIN", 5, None)})
    assert "@idempotent" in body["errors"][0]["message"]
    assert app.written() == []


def test_change_from_quantity_must_be_present(app):
    data = set_input(app, "P00001", "MAIN", 5, None)
    del data["quantities"][0]["changeFromQuantity"]
    _, _, body = call(app, SET_QUANTITIES, {"input": data, "key": "k-1"})
    assert "changeFromQuantity is required" in body["errors"][0]["message"]
    assert app.written() == []


def test_stale_change_from_quantity_applies_nothing(app):
    current = app.quantities("P00001", "MAIN")["available"]
    data = set_input(app, "P00001", "MAIN", 40, current)
    data["quantities"].append(set_input(app, "P00004", "MAIN", 40, current + 1000)["quantities"][0])
    _, _, body = call(app, SET_QUANTITIES, {"input": data, "key": "k-2"})
    payload = body["data"]["inventorySetQuantities"]
    assert payload["inventoryAdjustmentGroup"] is None
    assert [e["code"] for e in payload["userErrors"]] == ["CHANGE_FROM_QUANTITY_STALE"]
    assert payload["userErrors"][0]["field"] == ["input", "quantities", "1", "changeFromQuantity"]
    assert app.quantities("P00001", "MAIN")["available"] == current


def test_same_key_same_input_applies_once_and_other_input_is_refused(app):
    before = app.quantities("P00001", "MAIN")
    data = set_input(app, "P00001", "MAIN", before["available"] + 5, before["available"])
    first = call(app, SET_QUANTITIES, {"input": data, "key": "k-3"})[2]
    again = call(app, SET_QUANTITIES, {"input": data, "key": "k-3"})[2]
    assert first["data"] == again["data"]
    after = app.quantities("P00001", "MAIN")
    assert after["available"] == before["available"] + 5
    assert after["on_hand"] == before["on_hand"] + 5
    assert len(app.written("inventorySetQuantities")) == 1
    other = set_input(app, "P00001", "MAIN", 1, None)
    mismatch = call(app, SET_QUANTITIES, {"input": other, "key": "k-3"})[2]
    [error] = mismatch["data"]["inventorySetQuantities"]["userErrors"]
    assert error["code"] == "IDEMPOTENCY_KEY_PARAMETER_MISMATCH"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        pytest.param({"name": "committed"}, "INVALID_NAME", id="name"),
        pytest.param({"reason": "because"}, "INVALID_REASON", id="reason"),
    ],
)
def test_set_quantities_input_rules(app, change, code):
    data = {**set_input(app, "P00001", "MAIN", 3, None), **change}
    _, _, body = call(app, SET_QUANTITIES, {"input": data, "key": f"k-{code}"})
    assert [e["code"] for e in body["data"]["inventorySetQuantities"]["userErrors"]] == [code]


def test_fulfillment_create_checks_quantities_and_closes_the_order(app):
    order = app.add_order([("P00001", 2), ("P00004", 1)])
    fo = order.fulfillment_orders[0]
    document = """
    mutation($f: FulfillmentInput!) { fulfillmentCreate(fulfillment: $f) {
      fulfillment { id status trackingInfo { company number } } userErrors { field message } } }
    """
    too_many = {
        "lineItemsByFulfillmentOrder": [
            {
                "fulfillmentOrderId": fo.id,
                "fulfillmentOrderLineItems": [{"id": fo.lines[0].id, "quantity": 3}],
            }
        ]
    }
    body = call(app, document, {"f": too_many})[2]
    assert body["data"]["fulfillmentCreate"]["userErrors"]
    committed = app.quantities("P00004", "MAIN")["committed"]
    everything = {
        "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo.id}],
        "trackingInfo": {"company": "NZ Post", "number": "QB1"},
    }
    body = call(app, document, {"f": everything})[2]
    created = body["data"]["fulfillmentCreate"]
    assert created["userErrors"] == []
    assert created["fulfillment"]["trackingInfo"] == [{"company": "NZ Post", "number": "QB1"}]
    assert fo.status == "CLOSED"
    assert order.display_fulfillment_status == "FULFILLED"
    assert app.quantities("P00004", "MAIN")["committed"] == committed - 1


def test_product_mutations_create_and_update(app):
    create = call(
        app,
        'mutation { productCreate(product: {title: "New Mug", productType: "Homeware"}) {'
        " product { id variants(first: 1) { nodes { id } } } userErrors { field message } } }",
    )[2]["data"]["productCreate"]
    product_id = create["product"]["id"]
    variant_id = create["product"]["variants"]["nodes"][0]["id"]
    update = call(
        app,
        "mutation($p: ID!, $v: [ProductVariantsBulkInput!]!) {"
        " productVariantsBulkUpdate(productId: $p, variants: $v) {"
        " productVariants { sku price barcode"
        " inventoryItem { tracked measurement { weight { unit value } } } }"
        " userErrors { code field message } } }",
        {
            "p": product_id,
            "v": [
                {
                    "id": variant_id,
                    "price": "12.50",
                    "barcode": "123",
                    "inventoryItem": {
                        "sku": "MUG-1",
                        "tracked": True,
                        "measurement": {"weight": {"unit": "KILOGRAMS", "value": 0.4}},
                    },
                }
            ],
        },
    )[2]["data"]["productVariantsBulkUpdate"]
    assert update["userErrors"] == []
    assert update["productVariants"] == [
        {
            "sku": "MUG-1",
            "price": "12.50",
            "barcode": "123",
            "inventoryItem": {
                "tracked": True,
                "measurement": {"weight": {"unit": "KILOGRAMS", "value": 0.4}},
            },
        }
    ]
    assert app.variant_for("MUG-1").product.id == product_id
    bad = call(
        app,
        'mutation { productVariantsBulkUpdate(productId: "gid://shopify/Product/1",'
        ' variants: [{id: "gid://shopify/ProductVariant/999999", price: "1"}]) {'
        " userErrors { code field } } }",
    )[2]["data"]["productVariantsBulkUpdate"]
    assert bad["userErrors"][0]["code"] == "PRODUCT_VARIANT_DOES_NOT_EXIST"
    assert [w["mutation"] for w in app.written()] == ["productCreate", "productVariantsBulkUpdate"]


def test_edit_refund_and_status_changes_bump_updated_at(app):
    order = app.add_order([("P00001", 3), ("P00004", 1)], shipping=Decimal("5"))
    stamps = [order.updated_at]
    app.edit_order(order, {"P00001": 2})
    stamps.append(order.updated_at)
    assert order.edited
    assert order.lines[0].current_quantity == 2
    refund = app.add_refund(order, {"P00004": 1}, shipping=True)
    stamps.append(order.updated_at)
    assert order.financial_status == "PARTIALLY_REFUNDED"
    assert refund.total > 0
    app.mark_paid(order)
    stamps.append(order.updated_at)
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)


def test_client_credentials_and_control_over_http():
    app = ShopifySandbox(token_ttl=3600)
    with SandboxServer(app) as server:
        grant = requests.post(
            f"{server.url}/admin/oauth/access_token",
            data={
                "grant_type": "client_credentials",
                "client_id": "sandbox-client",
                "client_secret": "sandbox-secret",
            },
            timeout=5,
        )
        body = grant.json()
        assert set(body) == {"access_token", "scope", "expires_in"}
        url = f"{server.url}/admin/api/2026-10/graphql.json"
        headers = {"X-Shopify-Access-Token": body["access_token"]}
        query = {"query": "{ shop { name } }"}
        assert requests.post(url, json=query, headers=headers, timeout=5).status_code == 200
        token = app.tokens[body["access_token"]]
        # Its hour is up (moved, not waited for): the same token is now refused.
        app.tokens[token.value] = dataclasses.replace(token, expires_at=time.time() - 1)
        assert requests.post(url, json=query, headers=headers, timeout=5).status_code == 401
        wrong = requests.post(
            f"{server.url}/admin/oauth/access_token",
            data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
            timeout=5,
        )
        assert wrong.status_code == 400
        control = f"{server.url}/_control/shopify"
        requests.post(f"{control}/bucket", json={"maximum": 50, "restore_rate": 5}, timeout=5)
        assert app.maximum_available == 50
        requests.post(
            f"{control}/available",
            json={"sku": "P00001", "location": "Main warehouse", "quantity": 17},
            timeout=5,
        )
        assert app.quantities("P00001", "MAIN")["available"] == 17
        assert requests.get(f"{control}/writes", timeout=5).json() == {"writes": []}


def test_answers_indexed_queries_over_10000_variants_and_2000_orders(
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = time.perf_counter()
    app = ShopifySandbox(make_world(5, products=5000, orders=2000))
    built = time.perf_counter() - started
    assert len(app.variants) >= 10_000
    assert len(app.orders) == 2000
    skus = " OR ".join(f"sku:{sku}" for sku in list(app.by_sku)[5000:5050])
    started = time.perf_counter()
    _, _, by_sku = call(
        app, f'{{ productVariants(first: 100, query: "{skus}") {{ nodes {{ id }} }} }}'
    )
    _, _, page = call(
        app,
        "{ orders(first: 50, sortKey: UPDATED_AT, query: \"updated_at:>='2026-11-05T00:00:00Z'\")"
        " { nodes { id lineItems(first: 5) { nodes { sku } } } } }",
    )
    levels = call(
        app,
        '{ location(id: "gid://shopify/Location/1") { inventoryLevels(first: 250) {'
        ' nodes { item { sku } quantities(names: ["available"]) { quantity } } } } }',
    )[2]
    elapsed = time.perf_counter() - started
    assert len(by_sku["data"]["productVariants"]["nodes"]) == 50
    assert len(page["data"]["orders"]["nodes"]) == 50
    assert len(levels["data"]["location"]["inventoryLevels"]["nodes"]) == 250
    # Timings are shown, not asserted: a test's outcome never depends on the machine's speed.
    with capsys.disabled():
        print(  # noqa: T201 - the scale figures, as the other scale tests show theirs
            f"\nsandbox: built 10,000 variants and 2,000 orders in {built:.1f}s; "
            f"three indexed queries in {elapsed:.2f}s"
        )
