"""The Unleashed sandbox over real sockets, spoken to with hand-signed requests (not the client),
so a signing bug in the client cannot hide a matching bug in the sandbox."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest
import requests
from conftest import Clock

from syncer.sandbox.common import Request, SandboxServer
from syncer.sandbox.seed import make_world
from syncer.sandbox.unleashed import DEFAULT_API_ID, DEFAULT_API_KEY, UnleashedSandbox


@dataclass
class Api:
    """Hand-rolled signed requests against one sandbox."""

    server: SandboxServer
    app: UnleashedSandbox
    clock: Clock
    key: str = DEFAULT_API_KEY
    api_id: str = DEFAULT_API_ID

    def call(
        self,
        method: str,
        path: str,
        params: list[tuple[str, str]] | None = None,
        body: Any = None,
        *,
        signed: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        params = params or []
        decoded = "&".join(f"{k}={v}" for k, v in params)
        sent = "&".join(f"{k}={quote(v, safe=':,@')}" for k, v in params)
        message = decoded if signed is None else signed
        signature = base64.b64encode(
            hmac.new(self.key.encode(), message.encode(), hashlib.sha256).digest()
        ).decode()
        send_headers = {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "api-auth-id": self.api_id,
            "api-auth-signature": signature,
            "client-type": "tests/unleashed",
        }
        send_headers.update(headers or {})
        url = f"{self.server.url}{path}" + (f"?{sent}" if sent else "")
        data = None if body is None else body if isinstance(body, bytes) else _dumps(body)
        return requests.request(method, url, headers=send_headers, data=data, timeout=10)

    def json(
        self,
        method: str,
        path: str,
        params: list[tuple[str, str]] | None = None,
        body: Any = None,
        status: int = 200,
    ) -> Any:
        response = self.call(method, path, params, body)
        assert response.status_code == status, response.text
        return json.loads(response.text, parse_float=Decimal)


def _dumps(body: Any) -> str:
    from syncer.connectors.unleashed import dumps_json

    return dumps_json(body)


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    """One server per module (stopping one waits out its poll interval); each test swaps in
    a fresh app."""
    with SandboxServer(UnleashedSandbox(make_world(7, products=2, orders=0))) as running:
        yield running


@pytest.fixture
def api(server: SandboxServer) -> Api:
    clock = Clock()
    app = UnleashedSandbox(make_world(7, products=12, orders=0), clock=clock)
    server.app = app
    server.faults.clear()
    server.clear_log()
    return Api(server, app, clock)


def order_body(**overrides: Any) -> dict[str, Any]:
    """A valid order: 2 x 10.00 + a 5.00 charge line at 15 %."""
    body: dict[str, Any] = {
        "OrderNumber": "SH-1001",
        "OrderStatus": "Placed",
        "Customer": {"CustomerCode": "SHOPIFY"},
        "Warehouse": {"WarehouseCode": "MAIN"},
        "Tax": {"TaxCode": "G.S.T.", "TaxRate": Decimal("0.15")},
        "TaxRate": Decimal("0.15"),
        "CustomerRef": "#1001",
        "SalesOrderLines": [
            {
                "LineNumber": 1,
                "Product": {"ProductCode": "P00001"},
                "OrderQuantity": 2,
                "UnitPrice": Decimal("10.00"),
                "DiscountRate": 0,
                "LineTotal": Decimal("20.00"),
                "LineTax": Decimal("3.00"),
            },
            {
                "LineNumber": 2,
                "LineType": "Charge",
                "Product": {"ProductDescription": "Shipping"},
                "OrderQuantity": 1,
                "UnitPrice": Decimal("5.00"),
                "LineTotal": Decimal("5.00"),
                "LineTax": Decimal("0.75"),
            },
        ],
        "SubTotal": Decimal("25.00"),
        "TaxTotal": Decimal("3.75"),
        "Total": Decimal("28.75"),
    }
    body.update(overrides)
    return body


# -- authentication ----------------------------------------------------------------------------


def test_correct_signature_over_the_decoded_query_is_accepted(api: Api) -> None:
    response = api.call("GET", "/Customers", [("contactEmail", "a b@x.com"), ("pageSize", "5")])
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("change", "kwargs"),
    [
        pytest.param("wrong key", {"key": "not-the-key"}, id="wrong-key"),
        pytest.param("unknown id", {"api_id": "someone-else"}, id="unknown-id"),
        pytest.param("encoded text signed", {"signed": "contactEmail=a%20b%40x.com"}, id="encoded"),
        pytest.param("page signed", {"signed": "2?contactEmail=a b@x.com"}, id="page-in-signature"),
    ],
)
def test_bad_signatures_get_403(api: Api, change: str, kwargs: dict[str, str]) -> None:
    signed = kwargs.pop("signed", None)
    if kwargs:
        api = Api(api.server, api.app, api.clock, **kwargs)
    response = api.call("GET", "/Customers/2", [("contactEmail", "a b@x.com")], signed=signed)
    assert response.status_code == 403, change
    assert response.json() == {"Description": "Method authentication failed"}


def test_missing_signature_and_missing_client_type(api: Api) -> None:
    response = requests.get(f"{api.server.url}/Products", timeout=5)
    assert response.status_code == 403
    before = api.app.missing_client_type
    ok = api.call("GET", "/Warehouses", headers={"client-type": ""})
    assert ok.status_code == 200
    assert api.app.missing_client_type == before + 1


def test_post_signs_the_empty_string(api: Api) -> None:
    guid = str(uuid.uuid4())
    reply = api.json("POST", f"/SalesOrders/{guid}", body=order_body(), status=201)
    assert reply["Guid"] == guid


# -- paging and single records ----------------------------------------------------------------


def test_paging_envelope_defaults_and_limits(api: Api) -> None:
    total = len(api.app.products())  # 12 seed products -> 28 variants + SHIPPING
    first = api.json("GET", "/Products")
    assert first["Pagination"] == {
        "NumberOfItems": total,
        "PageSize": 200,
        "PageNumber": 1,
        "NumberOfPages": 1,
    }
    page3 = api.json("GET", "/Products/3", [("pageSize", "10")])
    assert page3["Pagination"]["PageNumber"] == 3
    assert page3["Pagination"]["NumberOfPages"] == -(-total // 10)
    assert len(page3["Items"]) == total - 20
    codes = [p["ProductCode"] for p in first["Items"]]
    assert codes == sorted(codes, key=str.upper)
    beyond = api.json("GET", "/Products/9", [("pageSize", "10")])
    assert beyond["Items"] == []
    too_big = api.call("GET", "/Products", [("pageSize", "1001")])
    assert too_big.status_code == 400
    assert "pageSize" in too_big.json()["Description"]


def test_single_record_is_bare_and_unknown_is_404(api: Api) -> None:
    product = api.json("GET", "/Products", [("productCode", "P00001")])["Items"][0]
    one = api.json("GET", f"/Products/{product['Guid']}")
    assert one["ProductCode"] == "P00001"
    assert "Pagination" not in one
    assert api.call("GET", f"/SalesOrders/{uuid.uuid4()}").status_code == 404
    assert api.call("GET", f"/CreditNotes/{uuid.uuid4()}").status_code == 404
    assert api.call("GET", "/SalesOrder").status_code == 404


def test_products_are_seeded_from_the_world(api: Api) -> None:
    world = api.app.world
    multi = next(p for p in world.products if len(p.variants) > 1)
    single = next(p for p in world.products if len(p.variants) == 1)
    variant = multi.variants[1]
    record = api.app.product(variant.sku)
    assert record is not None
    assert record["ProductDescription"] == f"{multi.title} - {variant.title}"
    assert record["DefaultSellPrice"] == variant.price
    assert record["SellPriceTier1"]["Value"] == f"{variant.price:.4f}"
    assert record["Barcode"] == variant.barcode
    assert record["Weight"] == variant.weight_kg
    assert record["ProductGroup"]["GroupName"] == multi.product_type
    assert record["Notes"] == multi.description_html
    single_record = api.app.product(single.variants[0].sku)
    assert single_record is not None
    assert single_record["ProductDescription"] == single.title
    shipping = api.app.product("SHIPPING")
    assert shipping is not None
    assert shipping["NeverDiminishing"] is True
    codes = {c["CustomerCode"] for c in api.app.customers()}
    assert {c.code for c in world.customers} | {"SHOPIFY"} == codes
    warehouses = api.json("GET", "/Warehouses")["Items"]
    assert [(w["WarehouseCode"], w["WarehouseName"]) for w in warehouses] == list(world.warehouses)


def test_dates_are_dotnet_style(api: Api) -> None:
    item = api.json("GET", "/Products", [("pageSize", "1")])["Items"][0]
    assert item["LastModifiedOn"].startswith("/Date(")
    assert item["LastModifiedOn"].endswith(")/")


# -- filters -----------------------------------------------------------------------------------


def test_product_filters(api: Api) -> None:
    prefix = api.json("GET", "/Products", [("productCode", "p00000")])["Items"]
    assert {p["ProductCode"] for p in prefix} == {v.sku for v in api.app.world.products[0].variants}
    wanted = [p["Guid"] for p in prefix[:2]]
    by_id = api.json("GET", "/Products", [("productId", ",".join(wanted))])["Items"]
    assert sorted(p["Guid"] for p in by_id) == sorted(wanted)
    title = api.app.world.products[1].title
    by_description = api.json("GET", "/Products", [("productDescription", title[:6])])["Items"]
    assert all(p["ProductDescription"].startswith(title[:6]) for p in by_description)
    assert by_description


def test_obsolete_products_are_hidden_unless_asked(api: Api) -> None:
    api.app.obsolete_product("P00001")
    plain = api.json("GET", "/Products", [("productCode", "P00001")])["Items"]
    assert plain == []
    shown = api.json("GET", "/Products", [("productCode", "P00001"), ("includeObsolete", "true")])[
        "Items"
    ]
    assert shown[0]["Obsolete"] is True


@pytest.mark.parametrize(
    ("granular", "expected"),
    [
        pytest.param(False, {"P00002"}, id="time-honoured"),
        pytest.param(True, {"P00001", "P00002"}, id="day-granular"),
    ],
)
def test_modified_since(api: Api, granular: bool, expected: set[str]) -> None:
    api.app.update_product("P00001", Barcode="111")  # 08:00:00
    api.clock.now += 3600
    api.app.update_product("P00002", Barcode="222")  # 09:00:00
    api.app.set_day_granular(granular)
    since = [("modifiedSince", "2027-01-15T08:30:00")]
    items = api.json("GET", "/Products", since)["Items"]
    assert {p["ProductCode"] for p in items} == expected
    date_only = api.json("GET", "/Products", [("modifiedSince", "2027-01-15")])["Items"]
    assert {p["ProductCode"] for p in date_only} == {"P00001", "P00002"}
    bad = api.call("GET", "/Products", [("modifiedSince", "15/01/2027")])
    assert bad.status_code == 400
    assert "modifiedSince" in bad.json()["Description"]


def test_day_granularity_can_be_limited_to_some_endpoints(api: Api) -> None:
    api.app.update_product("P00001", Barcode="111")
    api.clock.now += 3600
    api.app.set_day_granular(["SalesOrders"])
    items = api.json("GET", "/Products", [("modifiedSince", "2027-01-15T08:30:00")])["Items"]
    assert items == []


def test_customer_prefix_filters(api: Api) -> None:
    for code, email in (("ANN1", "ann@example.com"), ("ANN2", "ann@example.com.au")):
        api.json(
            "POST",
            f"/Customers/{uuid.uuid4()}",
            body={"CustomerCode": code, "CustomerName": f"Ann {code}", "Email": email},
            status=201,
        )
    by_email = api.json("GET", "/Customers", [("contactEmail", "ANN@example.com")])["Items"]
    assert sorted(c["CustomerCode"] for c in by_email) == ["ANN1", "ANN2"]
    by_code = api.json("GET", "/Customers", [("customerCode", "ANN")])["Items"]
    assert len(by_code) == 2


# -- writes ------------------------------------------------------------------------------------


def test_product_upsert_merges_and_validates(api: Api) -> None:
    guid = str(uuid.uuid4())
    created = api.json(
        "POST",
        f"/Products/{guid}",
        body={
            "ProductCode": "NEW-1",
            "ProductDescription": "New thing",
            "DefaultSellPrice": Decimal("12.50"),
            "SellPriceTier1": {"Name": "Retail", "Value": Decimal("14.00")},
        },
        status=201,
    )
    assert created["SellPriceTier1"] == {"Name": "Retail", "Value": "14.0000"}
    updated = api.json("POST", f"/Products/{guid}", body={"Barcode": "999"}, status=200)
    assert updated["ProductDescription"] == "New thing"
    assert updated["Barcode"] == "999"
    assert updated["LastModifiedOn"] != created["LastModifiedOn"]
    cases = [
        ({"ProductCode": "P00001", "ProductDescription": "dup"}, "already in use"),
        ({"ProductCode": "NEW-2"}, "ProductDescription is required"),
        (
            {"Guid": str(uuid.uuid4()), "ProductCode": "NEW-3", "ProductDescription": "x"},
            "does not match",
        ),
        (
            {"ProductCode": "NEW-4", "ProductDescription": "x", "DefaultSellPrice": "1.00"},
            "must be a number",
        ),
    ]
    for body, message in cases:
        response = api.call("POST", f"/Products/{uuid.uuid4()}", body=body)
        assert response.status_code == 400, body
        assert message in response.json()["Description"]


def test_sales_order_is_stored_with_server_fields(api: Api) -> None:
    guid = str(uuid.uuid4())
    stored = api.json("POST", f"/SalesOrders/{guid}", body=order_body(), status=201)
    assert stored["OrderStatus"] == "Placed"
    assert stored["CreatedOn"].startswith("/Date(")
    assert stored["Customer"]["CustomerName"] == "Shopify web orders"
    assert stored["Warehouse"]["WarehouseName"] == "Main warehouse"
    assert all(uuid.UUID(line["Guid"]) for line in stored["SalesOrderLines"])
    assert stored["SalesOrderLines"][1]["LineType"] == "Charge"
    assert stored["Total"] == Decimal("28.75")
    found = api.json("GET", "/SalesOrders", [("orderNumber", "SH-1001")])["Items"]
    assert [o["Guid"] for o in found] == [guid]
    assert api.json("GET", f"/SalesOrders/{guid}")["CustomerRef"] == "#1001"
    assert api.app.writes[-1]["path"] == f"/SalesOrders/{guid}"


def _line(**overrides: Any) -> dict[str, Any]:
    body = order_body()
    body["SalesOrderLines"][0].update(overrides)
    return body


def _long_number() -> dict[str, Any]:
    return order_body(OrderNumber="SH-" + "9" * 18)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(_line(Product={"ProductCode": "NOPE"}), "'NOPE' does not exist", id="product"),
        pytest.param(
            order_body(Customer={"CustomerCode": "NOBODY"}), "does not exist", id="customer"
        ),
        pytest.param(
            order_body(Warehouse={"WarehouseCode": "EAST"}), "'EAST' does not exist", id="warehouse"
        ),
        pytest.param(
            order_body(Tax={"TaxCode": "VAT", "TaxRate": Decimal("0.15")}),
            "'VAT' does not exist",
            id="tax-code",
        ),
        pytest.param(_long_number(), "longer than 20", id="order-number-length"),
        pytest.param(order_body(OrderStatus="Completed"), "OrderStatus must be", id="status"),
        pytest.param(
            _line(LineTotal=Decimal("20.01")),
            "LineTotal 20.01 should be 20.00",
            id="line-total-off-by-a-cent",
        ),
        pytest.param(_line(LineTax=Decimal("3.01")), "LineTax 3.01 should be 3.00", id="line-tax"),
        pytest.param(
            order_body(SubTotal=Decimal("25.01")), "SubTotal 25.01 should be 25.00", id="subtotal"
        ),
        pytest.param(
            order_body(TaxTotal=Decimal("3.74")), "TaxTotal 3.74 should be 3.75", id="taxtotal"
        ),
        pytest.param(order_body(Total=Decimal("28.76")), "Total 28.76 should be 28.75", id="total"),
        pytest.param(_line(UnitPrice="10.00"), "must be a number", id="string-money"),
        pytest.param(
            order_body(Guid=str(uuid.uuid4())), "does not match the path", id="guid-mismatch"
        ),
        pytest.param(order_body(SalesOrderLines=[]), "at least one line", id="no-lines"),
        pytest.param(_line(LineType="Service"), "Unknown LineType", id="line-type"),
    ],
)
def test_sales_order_validation(api: Api, body: dict[str, Any], message: str) -> None:
    response = api.call("POST", f"/SalesOrders/{uuid.uuid4()}", body=body)
    assert response.status_code == 400, response.text
    reply = response.json()
    assert message in reply["Description"]
    assert reply["Items"]
    assert api.app.sales_orders() == []


def test_duplicates_are_rejected(api: Api) -> None:
    guid = str(uuid.uuid4())
    api.json("POST", f"/SalesOrders/{guid}", body=order_body(), status=201)
    again = api.call("POST", f"/SalesOrders/{guid}", body=order_body(OrderNumber="SH-1002"))
    assert again.status_code == 400
    assert "already exists" in again.json()["Description"]
    number = api.call("POST", f"/SalesOrders/{uuid.uuid4()}", body=order_body())
    assert number.status_code == 400
    assert "'SH-1001' already exists" in number.json()["Description"]
    assert len(api.app.sales_orders()) == 1


def test_rounding_is_half_up_to_the_cent(api: Api) -> None:
    """3 x 0.125 = 0.375 -> 0.38 (half-up, not banker's 0.38/0.37 ambiguity), tax 0.06."""
    line = {
        "LineNumber": 1,
        "Product": {"ProductCode": "P00001"},
        "OrderQuantity": 3,
        "UnitPrice": Decimal("0.125"),
        "LineTotal": Decimal("0.38"),
        "LineTax": Decimal("0.06"),
    }
    body = order_body(
        SalesOrderLines=[line],
        SubTotal=Decimal("0.38"),
        TaxTotal=Decimal("0.06"),
        Total=Decimal("0.44"),
    )
    api.json("POST", f"/SalesOrders/{uuid.uuid4()}", body=body, status=201)
    line["LineTotal"] = Decimal("0.37")
    body.update(SubTotal=Decimal("0.37"), Total=Decimal("0.43"), OrderNumber="SH-2")
    assert api.call("POST", f"/SalesOrders/{uuid.uuid4()}", body=body).status_code == 400


# -- stock, allocation, shipments --------------------------------------------------------------


def _stock(api: Api, warehouse: str | None, code: str) -> dict[str, Any] | None:
    params = [("productCode", code)] + ([("warehouseCode", warehouse)] if warehouse else [])
    rows = [r for r in api.json("GET", "/StockOnHand", params)["Items"] if r["ProductCode"] == code]
    return rows[0] if rows else None


def test_stock_rows_per_warehouse_and_company_wide(api: Api) -> None:
    world = api.app.world
    sku = next(
        s
        for (s, w), q in world.stock.items()
        if w == "MAIN" and q > 0 and world.stock[(s, "WEST")] > 0
    )
    main = _stock(api, "MAIN", sku)
    west = _stock(api, "WEST", sku)
    total = _stock(api, None, sku)
    assert main is not None
    assert west is not None
    assert total is not None
    assert main["QtyOnHand"] == world.stock[(sku, "MAIN")]
    assert main["AvailableQty"] == main["QtyOnHand"] - main["AllocatedQty"]
    assert total["QtyOnHand"] == main["QtyOnHand"] + west["QtyOnHand"]
    assert (total["Warehouse"], total["WarehouseCode"], total["WarehouseId"]) == (None,) * 3
    assert main["WarehouseCode"] == "MAIN"


def test_never_transacted_products_are_absent(api: Api) -> None:
    api.app.add_product("FRESH-1", "Never stocked")
    assert _stock(api, "MAIN", "FRESH-1") is None
    api.app.set_stock("FRESH-1", "MAIN", 4)
    row = _stock(api, "MAIN", "FRESH-1")
    assert row is not None
    assert row["AvailableQty"] == 4
    assert _stock(api, "WEST", "FRESH-1") is None
    bad = api.call("GET", "/StockOnHand", [("warehouseCode", "EAST")])
    assert bad.status_code == 400


def raw_items(api: Api, path: str, params: list[tuple[str, str]] | None = None) -> str:
    """The reply text as sent (json.loads would hide how numbers are written)."""
    response = api.call("GET", path, params)
    assert response.status_code == 200, response.text
    return response.text


@pytest.mark.parametrize(
    ("fragment", "why"),
    [
        pytest.param('"OrderQuantity": 2.0000,', "quantity at four places", id="quantity"),
        pytest.param('"UnitPrice": 10.0000,', "product line price at four places", id="price"),
        pytest.param('"DiscountRate": 0.0000,', "discount at four places", id="discount"),
        pytest.param('"LineTotal": 20.00000000,', "line total at eight places", id="line-total"),
        pytest.param('"LineTax": 3.000,', "line tax at three places", id="line-tax"),
        pytest.param('"TaxRate": 0.150000,', "tax rate at six places", id="tax-rate"),
        pytest.param('"SubTotal": 25.000,', "order totals at three places", id="sub-total"),
        pytest.param('"Total": 28.750,', "order total at three places", id="total"),
        pytest.param('"ExchangeRate": 1.000000,', "exchange rate at six places", id="exchange"),
        pytest.param(
            '"Product": {"Guid": "00000000-0000-0000-0000-000000000000", "ProductCode": null, '
            '"ProductDescription": "Shipping"}',
            "a charge line names no product: the empty Guid and a null code",
            id="charge-product",
        ),
        pytest.param(
            '"UnitPrice": 5.00, "LineTotal": 5.00, "LineTax": 0.75,',
            "a charge line's money at two places",
            id="charge-money",
        ),
    ],
)
def test_sales_orders_come_back_written_like_unleashed(api: Api, fragment: str, why: str) -> None:
    guid = str(uuid.uuid4())
    assert api.call("POST", f"/SalesOrders/{guid}", body=order_body()).status_code == 201
    for text in (raw_items(api, f"/SalesOrders/{guid}"), raw_items(api, "/SalesOrders")):
        assert fragment in text, why


def test_stock_quantities_come_back_at_four_places(api: Api) -> None:
    text = raw_items(api, "/StockOnHand", [("warehouseCode", "MAIN")])
    rows = json.loads(text, parse_float=Decimal)["Items"]
    assert rows
    for name in ("QtyOnHand", "AvailableQty", "AllocatedQty", "OnPurchase"):
        for row in rows:
            assert row[name].as_tuple().exponent == -4, (name, row[name])
            assert f'"{name}": {row[name]:f}' in text


def test_sell_price_tiers_are_strings_or_null(api: Api) -> None:
    variant = api.app.world.products[0].variants[0]
    guid = api.app.product(variant.sku)["Guid"]
    product = json.loads(raw_items(api, f"/Products/{guid}"))
    assert product["SellPriceTier1"] == {
        "Name": "Sell Price Tier 1",
        "Value": f"{variant.price:.4f}",
    }
    assert product["SellPriceTier2"] == {"Name": "", "Value": "0.0000"}  # a blanked tier
    for tier in range(3, 11):
        assert product[f"SellPriceTier{tier}"] == {"Name": f"Sell Price Tier {tier}", "Value": None}


def test_placed_orders_allocate_and_dispatch_moves_stock(api: Api) -> None:
    api.app.set_stock("P00001", "MAIN", 10)
    parked = str(uuid.uuid4())
    api.json("POST", f"/SalesOrders/{parked}", body=order_body(OrderStatus="Parked"), status=201)
    row = _stock(api, "MAIN", "P00001")
    assert row is not None
    assert (row["QtyOnHand"], row["AllocatedQty"], row["AvailableQty"]) == (10, 0, 10)
    api.app.set_order_status(parked, "Placed")
    row = _stock(api, "MAIN", "P00001")
    assert row is not None
    assert (row["AllocatedQty"], row["AvailableQty"]) == (2, 8)
    partial = api.app.create_shipment(parked, {1: 1})
    api.app.dispatch_shipment(partial["Guid"], "TRACK-1", "NZ Post")
    row = _stock(api, "MAIN", "P00001")
    assert row is not None
    assert (row["QtyOnHand"], row["AllocatedQty"], row["AvailableQty"]) == (9, 1, 8)
    assert api.app.sales_order(parked)["OrderStatus"] == "Placed"
    rest = api.app.create_shipment(parked)
    assert rest["SalesShipmentLines"][0]["ShipmentQty"] == 1
    api.app.dispatch_shipment(rest["Guid"], "TRACK-2", "NZ Post")
    row = _stock(api, "MAIN", "P00001")
    assert row is not None
    assert (row["QtyOnHand"], row["AllocatedQty"], row["AvailableQty"]) == (8, 0, 8)
    assert api.app.sales_order(parked)["OrderStatus"] == "Dispatched"
    shipments = api.json("GET", "/SalesShipments", [("shipmentStatus", "Dispatched")])["Items"]
    assert {s["TrackingNumber"] for s in shipments} == {"TRACK-1", "TRACK-2"}
    first = next(s for s in shipments if s["TrackingNumber"] == "TRACK-1")
    assert first["OrderNumber"] == "SH-1001"
    assert first["OrderGuid"] == parked
    assert first["DispatchDate"].startswith("/Date(")
    assert first["SalesShipmentLines"][0]["SalesOrderLineNumber"] == 1
    assert first["SalesShipmentLines"][0]["Product"]["ProductCode"] == "P00001"
    by_order = api.json("GET", "/SalesShipments", [("orderNumber", "SH-1001")])["Items"]
    assert len(by_order) == 2
    with pytest.raises(ValueError, match="nothing left"):
        api.app.create_shipment(parked)


def test_parked_orders_cannot_ship(api: Api) -> None:
    guid = str(uuid.uuid4())
    api.json("POST", f"/SalesOrders/{guid}", body=order_body(OrderStatus="Parked"), status=201)
    with pytest.raises(ValueError, match="Parked"):
        api.app.create_shipment(guid)


def test_order_status_filter_hides_deleted(api: Api) -> None:
    for number, status in (("SH-1", "Parked"), ("SH-2", "Placed"), ("SH-3", "Placed")):
        api.json(
            "POST",
            f"/SalesOrders/{uuid.uuid4()}",
            body=order_body(OrderNumber=number, OrderStatus=status),
            status=201,
        )
    api.app.set_order_status("SH-3", "Deleted")
    everything = api.json("GET", "/SalesOrders")["Items"]
    assert {o["OrderNumber"] for o in everything} == {"SH-1", "SH-2"}
    parked = api.json("GET", "/SalesOrders", [("orderStatus", "Parked,Deleted")])["Items"]
    assert {o["OrderNumber"] for o in parked} == {"SH-1", "SH-3"}


# -- credit notes ------------------------------------------------------------------------------


def credit_body(guid: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Guid": guid,
        "Customer": {"CustomerCode": "SHOPIFY"},
        "Tax": {"TaxCode": "G.S.T."},
        "TaxRate": Decimal("0.15"),
        "Reference": "refund 123 #1001",
        "CreditLines": [
            {
                "LineNumber": 1,
                "Product": {"ProductCode": "P00001"},
                "CreditQuantity": 1,
                "CreditPrice": Decimal("8.70"),
                "LineTotal": Decimal("8.70"),
                "LineTax": Decimal("1.31"),
            }
        ],
        "SubTotal": Decimal("8.70"),
        "TaxTotal": Decimal("1.31"),
        "Total": Decimal("10.01"),
    }
    body.update(overrides)
    return body


def test_free_credit_create_read_and_duplicate(api: Api) -> None:
    guid = str(uuid.uuid4())
    created = api.json("POST", "/CreditNotes/FreeCredit", body=credit_body(guid), status=201)
    assert created["CreditNoteNumber"].startswith("CN-")
    assert created["Status"] == "Parked"
    assert api.json("GET", f"/CreditNotes/{guid}")["Reference"] == "refund 123 #1001"
    listed = api.json("GET", "/CreditNotes")["Items"]
    assert [c["Guid"] for c in listed] == [guid]
    again = api.call("POST", "/CreditNotes/FreeCredit", body=credit_body(guid))
    assert again.status_code == 400
    assert "already exists" in again.json()["Description"]
    wrong = api.call(
        "POST",
        "/CreditNotes/FreeCredit",
        body=credit_body(str(uuid.uuid4()), Customer={"CustomerCode": "NOBODY"}),
    )
    assert wrong.status_code == 400
    off = api.call(
        "POST", "/CreditNotes/FreeCredit", body=credit_body(str(uuid.uuid4()), Total="10.01")
    )
    assert off.status_code == 400
    assert len(api.app.credit_notes()) == 1


# -- quota, faults, control --------------------------------------------------------------------


def test_quota_blocks_every_call_past_it(api: Api) -> None:
    api.app.set_quota(api.app.calls + 2)
    assert api.call("GET", "/Warehouses").status_code == 200
    assert api.call("GET", "/Warehouses").status_code == 200
    blocked = api.call("GET", "/Warehouses")
    assert blocked.status_code == 403
    assert "usage limit" in blocked.json()["Description"]


def test_http_control_endpoints(api: Api) -> None:
    base = f"{api.server.url}/_control"
    stock = requests.post(
        f"{base}/stock", json={"code": "P00001", "warehouse": "WEST", "qty": 7}, timeout=5
    )
    assert stock.status_code == 200
    assert stock.json()["QtyOnHand"] == 7
    guid = str(uuid.uuid4())
    api.json("POST", f"/SalesOrders/{guid}", body=order_body(OrderStatus="Parked"), status=201)
    status = requests.post(
        f"{base}/order_status", json={"order": "SH-1001", "status": "Placed"}, timeout=5
    )
    assert status.json()["OrderStatus"] == "Placed"
    shipped = requests.post(
        f"{base}/ship_order", json={"order": guid, "tracking_number": "T9"}, timeout=5
    )
    assert shipped.json()["ShipmentStatus"] == "Dispatched"
    orders = requests.get(f"{base}/sales_orders", timeout=5).json()
    assert [o["Guid"] for o in orders] == [guid]
    changed = requests.post(
        f"{base}/products",
        json={"code": "P00002", "fields": {"DefaultSellPrice": 12.3}},
        timeout=5,
    ).json()
    assert changed["DefaultSellPrice"] == 12.3
    assert api.app.product("P00002")["DefaultSellPrice"] == Decimal("12.3")  # type: ignore[index]
    unknown = requests.post(
        f"{base}/order_status", json={"order": "nope", "status": "Placed"}, timeout=5
    )
    assert unknown.status_code == 400


# -- size --------------------------------------------------------------------------------------


def _signed(method: str, path: str, query: str = "", body: bytes = b"") -> Request:
    from urllib.parse import unquote_plus

    signature = base64.b64encode(
        hmac.new(DEFAULT_API_KEY.encode(), unquote_plus(query).encode(), hashlib.sha256).digest()
    ).decode()
    headers = {"api-auth-id": DEFAULT_API_ID, "api-auth-signature": signature, "client-type": "t"}
    return Request(method, path, query, headers, body)


def test_serves_10000_products_and_2000_orders() -> None:
    """The sandbox holds a benchmark-sized account; how fast it does so is `make bench`'s
    business, not a test's."""
    app = UnleashedSandbox(make_world(3, products=5000, orders=0))
    assert len(app.products()) > 10_000
    for index in range(2000):
        body = _dumps(order_body(OrderNumber=f"SH-{index}", OrderStatus="Parked"))
        reply = app.handle(_signed("POST", f"/SalesOrders/{uuid.uuid4()}", body=body.encode()))
        assert reply.status == 201
    reply = app.handle(_signed("GET", "/Products/7", "pageSize=1000"))
    page = json.loads(reply.encode())
    listing = app.handle(_signed("GET", "/SalesOrders/2", "pageSize=1000&orderStatus=Parked"))
    stock = app.handle(_signed("GET", "/StockOnHand/3", "pageSize=1000"))
    assert len(page["Items"]) == 1000
    assert len(json.loads(listing.encode())["Items"]) == 1000
    assert stock.status == 200
