"""The Unleashed client against the Unleashed sandbox over real sockets."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from conftest import T0, Clock

from syncer.connectors.unleashed import UnleashedClient, parse_date, shipping_company_name
from syncer.errors import (
    ApiError,
    CredentialsError,
    DataError,
    OutcomeUnknown,
    RetryLater,
)
from syncer.http import CallCounter, Redactor, RetryPolicy
from syncer.sandbox.common import Fault, Reply, Request, SandboxServer
from syncer.sandbox.seed import make_world
from syncer.sandbox.unleashed import DEFAULT_API_ID, DEFAULT_API_KEY, UnleashedSandbox

POLICY = RetryPolicy(base_delay=0.01, max_delay=0.05, max_attempts=4, read_timeout=5)


@dataclass
class Setup:
    server: SandboxServer
    app: UnleashedSandbox
    client: UnleashedClient
    counter: CallCounter
    clock: Clock
    slept: list[float] = field(default_factory=list)

    def client_with(self, **overrides: Any) -> UnleashedClient:
        args: dict[str, Any] = {
            "base_url": self.server.url,
            "api_id": DEFAULT_API_ID,
            "api_key": DEFAULT_API_KEY,
            "client_type": "tests/syncer",
        }
        args.update(overrides)
        return UnleashedClient(
            **args,
            counter=self.counter,
            redactor=Redactor(),
            policy=POLICY,
            sleep=self.slept.append,
        )


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(UnleashedSandbox(make_world(5, products=2, orders=0))) as running:
        yield running


def _setup(server: SandboxServer, products: int = 12) -> Setup:
    clock = Clock()
    app = UnleashedSandbox(make_world(5, products=products, orders=0), clock=clock)
    server.app = app
    server.faults.clear()
    server.clear_log()
    counter = CallCounter()
    slept: list[float] = []
    client = UnleashedClient(
        server.url,
        DEFAULT_API_ID,
        DEFAULT_API_KEY,
        "tests/syncer",
        counter=counter,
        redactor=Redactor(),
        policy=POLICY,
        sleep=slept.append,
    )
    return Setup(server, app, client, counter, clock, slept)


@pytest.fixture
def env(server: SandboxServer) -> Setup:
    return _setup(server)


def order_body(number: str = "SH-1001", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "OrderNumber": number,
        "OrderStatus": "Parked",
        "Customer": {"CustomerCode": "SHOPIFY"},
        "Warehouse": {"WarehouseCode": "MAIN"},
        "Tax": {"TaxCode": "G.S.T.", "TaxRate": Decimal("0.15")},
        "TaxRate": Decimal("0.15"),
        "OrderDate": "2027-01-15T07:59:00",
        "SalesOrderLines": [
            {
                "LineNumber": 1,
                "Product": {"ProductCode": "P00001"},
                "OrderQuantity": 3,
                "UnitPrice": Decimal("8.6957"),
                "DiscountRate": 0,
                "LineTotal": Decimal("26.09"),
                "LineTax": Decimal("3.91"),
            }
        ],
        "SubTotal": Decimal("26.09"),
        "TaxTotal": Decimal("3.91"),
        "Total": Decimal("30.00"),
    }
    body.update(overrides)
    return body


# -- paging --------------------------------------------------------------------------------------


def test_pagination_across_pages_costs_one_call_a_page(server: SandboxServer) -> None:
    env = _setup(server, products=1250)  # 2,501 variants + SHIPPING
    expected = len(env.app.products())
    assert 2000 < expected <= 3000
    products = list(env.client.iter_products())
    assert len(products) == expected
    assert len({p["Guid"] for p in products}) == expected
    requests_made = env.server.requests("GET /Products")
    assert [r.path for r in requests_made] == ["/Products/1", "/Products/2", "/Products/3"]
    assert all(r.query == "pageSize=1000" for r in requests_made)
    assert env.counter.kinds[("unleashed", "products.list")] == 3


def test_paging_loop_is_detected(server: SandboxServer) -> None:
    """A server that ignores the page number in the path would make a naive loop spin."""

    class StuckApp:
        name = "stuck"

        def handle(self, request: Request) -> Reply:
            return Reply(
                200,
                {
                    "Pagination": {
                        "NumberOfItems": 3,
                        "PageSize": 1,
                        "PageNumber": 1,
                        "NumberOfPages": 3,
                    },
                    "Items": [{"Guid": "a"}],
                },
            )

    env = _setup(server)
    server.app = StuckApp()  # type: ignore[assignment]
    with pytest.raises(ApiError, match="asked for page 2 but got page 1"):
        list(env.client.iter_pages("Products"))


# -- retries and errors -------------------------------------------------------------------------


def test_429_retry_after_is_honoured(env: Setup) -> None:
    env.server.faults.add(Fault("status", match="GET /Warehouses", status=429, retry_after=0.2))
    warehouses = env.client.warehouses()
    assert [w["WarehouseCode"] for w in warehouses] == ["MAIN", "WEST"]
    assert env.slept == [0.05]  # Retry-After 0.2 capped by the test policy's max_delay
    env.slept.clear()
    slow_policy = RetryPolicy(base_delay=0.01, max_delay=5, max_attempts=3)
    client = UnleashedClient(
        env.server.url,
        DEFAULT_API_ID,
        DEFAULT_API_KEY,
        "t/s",
        counter=env.counter,
        redactor=Redactor(),
        policy=slow_policy,
        sleep=env.slept.append,
    )
    env.server.faults.add(Fault("status", match="GET /Warehouses", status=429, retry_after=0.2))
    client.warehouses()
    assert env.slept == [0.2]


def test_5xx_is_retried(env: Setup) -> None:
    env.server.faults.add(Fault("status", match="GET /Customers", status=503, count=2))
    customer = env.client.get_customer_by_code("SHOPIFY")
    assert customer is not None
    assert len(env.server.requests("GET /Customers")) == 3
    assert len(env.slept) == 2


def test_5xx_that_never_ends_is_retry_later(env: Setup) -> None:
    env.server.faults.add(Fault("status", match="GET /Customers", status=500, count=10))
    with pytest.raises(RetryLater):
        env.client.get_customer_by_code("SHOPIFY")
    assert len(env.server.requests("GET /Customers")) == POLICY.max_attempts


def test_bad_key_is_credentials_error_without_the_key(env: Setup) -> None:
    client = env.client_with(api_key="wrong-key-123456")
    with pytest.raises(CredentialsError) as caught:
        client.warehouses()
    assert "Method authentication failed" in str(caught.value)
    assert "wrong-key-123456" not in str(caught.value)
    assert caught.value.exit_code == 3
    assert len(env.server.requests("GET /Warehouses")) == 1  # not retried


def test_quota_exhausted_is_retry_later(env: Setup) -> None:
    env.app.set_quota(env.app.calls)
    with pytest.raises(RetryLater, match="quota"):
        env.client.warehouses()


def test_400_is_data_error_with_the_description_and_items(env: Setup) -> None:
    body = order_body(SubTotal=Decimal("26.10"), Total=Decimal("30.01"))
    with pytest.raises(DataError) as caught:
        env.client.create_sales_order(str(uuid.uuid4()), body)
    error = caught.value
    assert "SubTotal 26.10 should be 26.09" in str(error)
    assert error.status == 400
    assert any("SubTotal" in str(item.get("Description")) for item in error.errors)
    assert env.app.sales_orders() == []


def test_totals_rule_rejects_an_off_by_a_cent_line(env: Setup) -> None:
    body = order_body()
    body["SalesOrderLines"][0]["LineTotal"] = Decimal("26.08")  # 3 x 8.6957 = 26.0871 -> 26.09
    body.update(SubTotal=Decimal("26.08"), Total=Decimal("29.99"), TaxTotal=Decimal("3.91"))
    with pytest.raises(DataError, match=r"LineTotal 26\.08 should be 26\.09"):
        env.client.create_sales_order(str(uuid.uuid4()), body)


# -- sales orders ---------------------------------------------------------------------------------


def test_lost_reply_on_create_then_lookup_finds_exactly_one(env: Setup) -> None:
    guid = str(uuid.uuid4())
    env.server.faults.add(Fault("lost_reply", match="POST /SalesOrders"))
    with pytest.raises(OutcomeUnknown):
        env.client.create_sales_order(guid, order_body())
    assert len(env.server.requests("POST /SalesOrders")) == 1  # not re-sent blindly
    found = env.client.get_sales_order(guid)
    assert found is not None
    assert found["OrderNumber"] == "SH-1001"
    assert [o["Guid"] for o in env.app.sales_orders()] == [guid]


def test_create_and_read_back_a_sales_order(env: Setup) -> None:
    guid = str(uuid.uuid4())
    created = env.client.create_sales_order(guid, order_body())
    assert created["Guid"] == guid
    assert created["Total"] == Decimal("30.00")
    assert created["SalesOrderLines"][0]["UnitPrice"] == Decimal("8.6957")
    assert parse_date(created["OrderDate"]) == datetime(2027, 1, 15, 7, 59, tzinfo=UTC)
    assert env.client.get_sales_order(str(uuid.uuid4())) is None
    by_number = list(env.client.iter_sales_orders(order_number="SH-1001"))
    assert [o["Guid"] for o in by_number] == [guid]
    parked = list(env.client.iter_sales_orders(order_status=["Parked", "Placed"]))
    assert [o["Guid"] for o in parked] == [guid]
    with pytest.raises(ValueError, match="does not match"):
        env.client.create_sales_order(guid, {**order_body(), "Guid": str(uuid.uuid4())})


def test_order_number_with_a_hash_is_found(env: Setup) -> None:
    guid = str(uuid.uuid4())
    env.client.create_sales_order(guid, order_body("DTC#13633"))
    found = list(env.client.iter_sales_orders(order_number="DTC#13633"))
    assert [o["Guid"] for o in found] == [guid]
    assert env.server.requests("GET /SalesOrders")[-1].query.startswith("orderNumber=DTC%2313633")


def test_sales_orders_by_guids_and_modified_since(env: Setup) -> None:
    guids = [str(uuid.uuid4()) for _ in range(5)]
    for index, guid in enumerate(guids):
        env.clock.now = T0 + 600 * index
        env.client.create_sales_order(guid, order_body(f"SH-{index}"))
    few = env.client.sales_orders_by_guids([*guids[:2], str(uuid.uuid4())])
    assert set(few) == set(guids[:2])
    env.server.clear_log()
    many = env.client.sales_orders_by_guids(guids)
    assert set(many) == set(guids)
    assert len(env.server.requests("GET /SalesOrders")) == 1  # one page, not five GETs
    since = datetime.fromtimestamp(T0 + 600 * 3, tz=UTC)
    recent = list(env.client.iter_sales_orders(modified_since=since))
    assert [o["OrderNumber"] for o in recent] == ["SH-3", "SH-4"]
    env.app.set_day_granular(["SalesOrders"])
    whole_day = list(env.client.iter_sales_orders(modified_since=since))
    assert len(whole_day) == 5


def test_shipments_after_dispatch(env: Setup) -> None:
    guid = str(uuid.uuid4())
    env.client.create_sales_order(guid, order_body())
    env.clock.now += 3600
    env.app.ship_order(guid, "NZ123", "NZ Post")
    since = datetime.fromtimestamp(T0 + 1800, tz=UTC)
    shipments = list(
        env.client.iter_sales_shipments(modified_since=since, shipment_status="Dispatched")
    )
    assert len(shipments) == 1
    shipment = shipments[0]
    assert shipment["OrderGuid"] == guid
    assert shipment["TrackingNumber"] == "NZ123"
    assert shipping_company_name(shipment) == "NZ Post"
    assert shipment["SalesShipmentLines"][0]["ShipmentQty"] == 3
    dispatched = parse_date(shipment["DispatchDate"])
    assert dispatched is not None
    # the sandbox's clock ticks at least 1 ms per change, so allow a few
    assert abs(dispatched - datetime.fromtimestamp(T0 + 3600, tz=UTC)) < timedelta(seconds=1)
    assert list(env.client.iter_sales_shipments(order_number="SH-1001")) == shipments


# -- products ------------------------------------------------------------------------------------


def test_products_by_codes_compares_exactly(env: Setup) -> None:
    variant_codes = [v.sku for v in env.app.world.products[0].variants]
    base = variant_codes[0].split("-")[0]  # "P00000": a prefix of every variant, not a code
    found = env.client.products_by_codes([base, "P00001"])
    assert set(found) == {"P00001"}
    assert len(env.server.requests("GET /Products")) == 2  # one prefix request per code
    env.server.clear_log()
    many = env.client.products_by_codes([*variant_codes, "P00001", "MISSING"])
    assert set(many) == {*variant_codes, "P00001"}
    assert len(env.server.requests("GET /Products")) == 1  # one scan page
    env.server.clear_log()
    guids = {code: product["Guid"] for code, product in many.items()}
    again = env.client.products_by_codes(list(guids), known_guids=guids)
    assert set(again) == set(guids)
    requests_made = env.server.requests("GET /Products")
    assert len(requests_made) == 1
    assert "productId=" in requests_made[0].query


def test_obsolete_products_only_when_asked(env: Setup) -> None:
    env.app.obsolete_product("P00001")
    assert "P00001" not in {p["ProductCode"] for p in env.client.iter_products()}
    every = {p["ProductCode"]: p for p in env.client.iter_products(include_obsolete=True)}
    assert every["P00001"]["Obsolete"] is True
    assert "P00001" in env.client.products_by_codes(["P00001"])


def test_products_modified_since_and_upsert(env: Setup) -> None:
    env.clock.now += 3600
    env.app.update_product("P00002", Barcode="9400000000001")
    since = datetime.fromtimestamp(T0 + 1800, tz=UTC)
    changed = list(env.client.iter_products(modified_since=since))
    assert [p["ProductCode"] for p in changed] == ["P00002"]
    assert changed[0]["DefaultSellPrice"] == env.app.world.products[2].variants[0].price
    guid = str(uuid.uuid4())
    created = env.client.upsert_product(
        guid,
        {
            "ProductCode": "NEW 1#",
            "ProductDescription": "New",
            "DefaultSellPrice": Decimal("5.50"),
            "SellPriceTier1": {"Name": "Sell Price Tier 1", "Value": "6.33"},
        },
    )
    assert created["Guid"] == guid
    updated = env.client.upsert_product(guid, {"DefaultSellPrice": Decimal("5.75")})
    assert updated["DefaultSellPrice"] == Decimal("5.75")
    assert updated["ProductCode"] == "NEW 1#"
    assert [p["Guid"] for p in env.client.iter_products(product_codes=["NEW 1#"])] == [guid]
    with pytest.raises(DataError, match="already in use"):
        env.client.upsert_product(
            str(uuid.uuid4()), {"ProductCode": "P00001", "ProductDescription": "dup"}
        )


def test_upsert_is_retried_after_a_lost_reply(env: Setup) -> None:
    guid = str(uuid.uuid4())
    env.server.faults.add(Fault("lost_reply", match="POST /Products"))
    product = env.client.upsert_product(guid, {"ProductCode": "X1", "ProductDescription": "X"})
    assert product["ProductCode"] == "X1"
    assert len(env.server.requests("POST /Products")) == 2
    assert sum(1 for p in env.app.products() if p["ProductCode"] == "X1") == 1


# -- stock ---------------------------------------------------------------------------------------


def test_stock_on_hand_per_warehouse(env: Setup) -> None:
    env.app.set_stock("P00001", "MAIN", 10)
    guid = str(uuid.uuid4())
    env.client.create_sales_order(guid, order_body(OrderStatus="Placed"))
    rows = {r["ProductCode"]: r for r in env.client.iter_stock_on_hand("MAIN")}
    row = rows["P00001"]
    assert (row["QtyOnHand"], row["AllocatedQty"], row["AvailableQty"]) == (10, 3, 7)
    expected_codes = {
        sku
        for (sku, warehouse), qty in env.app.world.stock.items()
        if warehouse == "MAIN" and qty > 0
    } | {"P00001"}
    assert set(rows) == expected_codes
    since = datetime.fromtimestamp(T0 - 1, tz=UTC)
    recent = list(env.client.iter_stock_on_hand("MAIN", modified_since=since))
    assert [r["ProductCode"] for r in recent] == ["P00001"]
    company = {r["ProductCode"]: r for r in env.client.iter_stock_on_hand(None)}
    assert company["P00001"]["WarehouseCode"] is None


# -- customers -------------------------------------------------------------------------------------


def test_email_and_code_prefix_filters_are_compared_exactly(env: Setup) -> None:
    for code, email in (
        ("ANN1", "ann@example.com"),
        ("ANN2", "ann@example.com.au"),
        ("ANN3", "anna@example.com"),
    ):
        env.client.create_customer(
            str(uuid.uuid4()), {"CustomerCode": code, "CustomerName": code, "Email": email}
        )
    found = env.client.find_customers_by_email("Ann@Example.com")
    assert [c["CustomerCode"] for c in found] == ["ANN1"]
    assert env.client.find_customers_by_email("ann@example.co") == []
    assert env.client.get_customer_by_code("ANN") is None
    customer = env.client.get_customer_by_code("ANN2")
    assert customer is not None
    assert customer["Email"] == "ann@example.com.au"
    with pytest.raises(DataError, match="already in use"):
        env.client.create_customer(
            str(uuid.uuid4()), {"CustomerCode": "ANN1", "CustomerName": "again"}
        )


def test_customer_create_is_not_retried_blindly(env: Setup) -> None:
    env.server.faults.add(Fault("lost_reply", match="POST /Customers"))
    with pytest.raises(OutcomeUnknown):
        env.client.create_customer(str(uuid.uuid4()), {"CustomerCode": "Z1", "CustomerName": "Z"})
    assert env.client.get_customer_by_code("Z1") is not None


# -- credit notes ----------------------------------------------------------------------------------


def credit_body(guid: str) -> dict[str, Any]:
    return {
        "Guid": guid,
        "Customer": {"CustomerCode": "SHOPIFY"},
        "Tax": {"TaxCode": "G.S.T."},
        "TaxRate": Decimal("0.15"),
        "Reference": "refund gid://shopify/Refund/1",
        "Comments": "Shopify order #1001",
        "CreditLines": [
            {
                "LineNumber": 1,
                "LineType": "Charge",
                "Product": {"ProductDescription": "Shipping"},
                "CreditQuantity": 1,
                "CreditPrice": Decimal("6.52"),
                "LineTotal": Decimal("6.52"),
                "LineTax": Decimal("0.98"),
            },
        ],
        "SubTotal": Decimal("6.52"),
        "TaxTotal": Decimal("0.98"),
        "Total": Decimal("7.50"),
    }


def test_free_credit_lost_reply_then_lookup(env: Setup) -> None:
    guid = str(uuid.uuid4())
    env.server.faults.add(Fault("lost_reply", match="POST /CreditNotes/FreeCredit"))
    with pytest.raises(OutcomeUnknown):
        env.client.create_free_credit(credit_body(guid))
    credit = env.client.get_credit_note(guid)
    assert credit is not None
    assert credit["Total"] == Decimal("7.50")
    with pytest.raises(DataError, match="already exists"):
        env.client.create_free_credit(credit_body(guid))
    assert [c["Guid"] for c in env.client.iter_credit_notes()] == [guid]
    assert env.client.get_credit_note(str(uuid.uuid4())) is None
    with pytest.raises(ValueError, match="Guid"):
        env.client.create_free_credit({**credit_body(guid), "Guid": ""})


# -- reference data ------------------------------------------------------------------------------


def test_reference_data_for_check(env: Setup) -> None:
    taxes = {t["TaxCode"]: t["TaxRate"] for t in env.client.tax_codes()}
    assert taxes == {"G.S.T.": Decimal("0.15"), "NONE": 0}
    assert "NZD" in {c["CurrencyCode"] for c in env.client.currencies()}
    assert env.client.warehouses()[0]["WarehouseName"] == "Main warehouse"


def test_every_request_is_signed_and_identified(env: Setup) -> None:
    env.client.get_customer_by_code("SHOPIFY")
    env.client.create_sales_order(str(uuid.uuid4()), order_body())
    assert env.app.missing_client_type == 0
    assert all(seen.status in (200, 201) for seen in env.app.seen)
    assert {seen.client_type for seen in env.app.seen} == {"tests/syncer"}


def test_naive_modified_since_is_refused_before_sending(env: Setup) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        list(env.client.iter_products(modified_since=datetime(2027, 1, 1)))
    assert env.server.requests() == []


def test_page_size_is_validated() -> None:
    with pytest.raises(ValueError, match="page_size"):
        UnleashedClient(
            "http://x", "i", "k", "c", counter=CallCounter(), redactor=Redactor(), page_size=1001
        )


def test_since_window_overlap_example(env: Setup) -> None:
    """An overlap window re-reads the boundary record: callers dedupe on Guid+LastModifiedOn."""
    env.clock.now += 60
    changed = env.app.update_product("P00004", Barcode="1")
    moment = parse_date(changed["LastModifiedOn"])
    assert moment is not None
    window = list(env.client.iter_products(modified_since=moment - timedelta(minutes=10)))
    assert [p["ProductCode"] for p in window] == ["P00004"]


@pytest.mark.parametrize(
    ("replies", "expected"),
    [
        pytest.param(
            {
                "Currencies": {
                    "Items": [{"CurrencyCode": "AUD"}],
                    "Pagination": {"NumberOfPages": 1},
                }
            },
            ["AUD"],
            id="one-page-at-the-plain-path",
        ),
        pytest.param({"Currencies": [{"CurrencyCode": "USD"}]}, ["USD"], id="a-bare-list"),
        pytest.param(
            {
                "Currencies": {
                    "Items": [{"CurrencyCode": "AUD"}],
                    "Pagination": {"NumberOfPages": 2},
                },
                "Currencies/1": {
                    "Items": [{"CurrencyCode": "AUD", "Guid": "a"}],
                    "Pagination": {"PageNumber": 1, "NumberOfPages": 2},
                },
                "Currencies/2": {
                    "Items": [{"CurrencyCode": "GBP", "Guid": "g"}],
                    "Pagination": {"PageNumber": 2, "NumberOfPages": 2},
                },
            },
            ["AUD", "GBP"],
            id="pages-when-a-second-is-announced",
        ),
    ],
)
def test_currencies_read_the_plain_path_and_page_only_when_told(
    replies: dict[str, Any], expected: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = UnleashedClient(
        "http://127.0.0.1:9", "id", "key", "t", counter=CallCounter(), redactor=Redactor()
    )
    asked: list[str] = []

    def get(path: str, params: Any = (), *, kind: str) -> Any:
        asked.append(path)
        return replies[path]

    monkeypatch.setattr(client, "get", get)
    assert [c["CurrencyCode"] for c in client.currencies(in_use=True)] == expected
    assert asked[0] == "Currencies"
