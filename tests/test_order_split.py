"""orders.warehouse_by_location: which warehouse ships each line, and the split sales orders."""

from __future__ import annotations

import uuid
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncer.money import line_totals, order_totals
from syncer.orders.mapping import MappingError, OrderSettings, map_sales_order, sales_order_guid
from syncer.orders.split import (
    WarehouseRules,
    line_warehouses,
    split_order_number,
    split_sales_order,
    split_sales_order_guid,
)
from tests.order_factory import LineSpec, OrderSpec, ShipSpec, order_node, shopify_total

D = Decimal
SHOP = "example-store.myshopify.com"
GID = "gid://shopify/Order/1001"
MAIN_LOC = "gid://shopify/Location/1"
WEST_LOC = "gid://shopify/Location/2"
SHOP_LOC = "gid://shopify/Location/3"  # a retail location
ELSEWHERE = "gid://shopify/Location/9"  # mapped to no warehouse
RULES = WarehouseRules(
    by_location={MAIN_LOC: "MAIN", WEST_LOC: "WEST", SHOP_LOC: "STORE"},
    default="MAIN",
    order=("MAIN", "WEST", "STORE"),
)
SETTINGS = OrderSettings(order_number_prefix="SH-")


def fulfillment_order(location: str, line_ids: list[str], status: str = "OPEN") -> dict[str, Any]:
    return {
        "status": status,
        "assignedLocation": {"location": {"id": location}},
        "lineItems": {
            "nodes": [{"lineItem": {"id": line_id}, "totalQuantity": 1} for line_id in line_ids]
        },
    }


def line_id(n: int) -> str:
    return f"gid://shopify/LineItem/{n}"


def two_line_order(**overrides: Any) -> dict[str, Any]:
    spec = OrderSpec(
        lines=[LineSpec("TEE", 2, D("20.00")), LineSpec("MUG", 1, D("12.00"))],
        shipping=[ShipSpec(D("5.00"))],
    )
    return order_node(spec, **overrides)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        pytest.param({}, {1: "MAIN", 2: "MAIN"}, id="no-fulfilment-orders-fallback"),
        pytest.param(
            {
                "fulfillmentOrders": {
                    "nodes": [fulfillment_order(WEST_LOC, [line_id(1), line_id(2)])]
                }
            },
            {1: "WEST", 2: "WEST"},
            id="one-location",
        ),
        pytest.param(
            {
                "fulfillmentOrders": {
                    "nodes": [
                        fulfillment_order(WEST_LOC, [line_id(1)]),
                        fulfillment_order(MAIN_LOC, [line_id(2)], status="CLOSED"),
                    ]
                }
            },
            {1: "WEST", 2: "MAIN"},
            id="two-locations-closed-counts",
        ),
        pytest.param(
            {"fulfillmentOrders": {"nodes": [fulfillment_order(ELSEWHERE, [line_id(1)])]}},
            {1: "MAIN", 2: "MAIN"},
            id="unmapped-location-falls-back",
        ),
        pytest.param(
            {
                "fulfillmentOrders": {
                    "nodes": [
                        fulfillment_order(WEST_LOC, [line_id(1)], status="CANCELLED"),
                        fulfillment_order(MAIN_LOC, [line_id(1), line_id(2)]),
                    ]
                }
            },
            {1: "MAIN", 2: "MAIN"},
            id="cancelled-fulfilment-order-ignored",
        ),
        pytest.param(
            {
                "retailLocation": {"id": SHOP_LOC},
                "fulfillmentOrders": {"nodes": [fulfillment_order(WEST_LOC, [line_id(1)])]},
            },
            {1: "STORE", 2: "STORE"},
            id="pos-order-retail-location",
        ),
    ],
)
def test_line_warehouses(extra: dict[str, Any], expected: dict[int, str]) -> None:
    order = two_line_order(**extra)
    assert line_warehouses(order, RULES) == {line_id(n): code for n, code in expected.items()}


def test_a_line_split_over_locations_goes_to_the_warehouse_with_most_units() -> None:
    fos = [
        fulfillment_order(MAIN_LOC, [line_id(1)]),
        {
            "status": "OPEN",
            "assignedLocation": {"location": {"id": WEST_LOC}},
            "lineItems": {"nodes": [{"lineItem": {"id": line_id(1)}, "totalQuantity": 2}]},
        },
    ]
    order = two_line_order(fulfillmentOrders={"nodes": fos})
    assert line_warehouses(order, RULES)[line_id(1)] == "WEST"


def test_one_warehouse_keeps_the_guid_and_number() -> None:
    guid = sales_order_guid(SHOP, GID)
    mapped = map_sales_order(two_line_order(), SETTINGS, guid=guid, customer_code="C1")
    parts = split_sales_order(
        mapped, {line_id(1): "WEST", line_id(2): "WEST"}, RULES, shop=SHOP, order_gid=GID
    )
    assert len(parts) == 1
    assert parts[0].guid == guid
    assert parts[0].payload["Guid"] == guid
    assert parts[0].payload["OrderNumber"] == "SH-1001"
    assert parts[0].payload["Warehouse"] == {"WarehouseCode": "WEST"}
    assert parts[0].payload["Total"] == mapped.payload["Total"]


def test_two_warehouses_two_sales_orders_shipping_on_the_first_listed() -> None:
    guid = sales_order_guid(SHOP, GID)
    mapped = map_sales_order(two_line_order(), SETTINGS, guid=guid, customer_code="C1")
    parts = split_sales_order(
        mapped, {line_id(1): "WEST", line_id(2): "MAIN"}, RULES, shop=SHOP, order_gid=GID
    )
    main, west = parts
    assert [p.payload["OrderNumber"] for p in parts] == ["SH-1001-MAIN", "SH-1001-WEST"]
    assert [p.warehouse for p in parts] == ["MAIN", "WEST"]
    assert main.guid == split_sales_order_guid(SHOP, GID, "MAIN") != guid
    assert west.guid == str(
        uuid.uuid5(uuid.UUID("4b570609-ad2e-58be-ad63-f4c10bb4b9b5"), f"{SHOP}|{GID}|WEST")
    )
    # MUG and the shipping charge on MAIN (first in inventory.locations), TEE on WEST.
    main_lines = main.payload["SalesOrderLines"]
    assert [ln.get("Product", {}).get("ProductCode") for ln in main_lines] == ["MUG", None]
    assert main_lines[1]["LineType"] == "Charge"
    assert [ln["LineNumber"] for ln in main_lines] == [1, 2]
    assert [ln["Product"]["ProductCode"] for ln in west.payload["SalesOrderLines"]] == ["TEE"]
    assert main.skus == ("MUG",)
    assert west.skus == ("TEE",)
    assert set(main.lines_snapshot) == {line_id(2)}
    assert set(west.lines_snapshot) == {line_id(1)}
    # 12.00 + 1.80 + 5.00 + 0.75 and 40.00 + 6.00.
    assert (main.payload["SubTotal"], main.payload["TaxTotal"], main.payload["Total"]) == (
        D("17.00"),
        D("2.55"),
        D("19.55"),
    )
    assert west.payload["Total"] == D("46.00")
    assert main.payload["Total"] + west.payload["Total"] == mapped.payload["Total"]


@pytest.mark.parametrize(
    ("number", "warehouse", "expected"),
    [
        ("SH-1001", "WEST", "SH-1001-WEST"),
        ("SHOP-NZ-100234", "MAIN", "SHOP-NZ-100234-MAIN"),  # exactly 19
        ("SHOP-NZ-1002345", "MAIN", "SHOP-NZ-1002345-MAIN"),  # exactly 20
    ],
)
def test_split_order_number(number: str, warehouse: str, expected: str) -> None:
    assert split_order_number(number, warehouse) == expected


def test_split_order_number_over_20_characters_names_the_fix() -> None:
    with pytest.raises(MappingError) as caught:
        split_order_number("SHOP-NZ-10023456", "MAIN")
    assert str(caught.value) == (
        "OrderNumber 'SHOP-NZ-10023456-MAIN' (the order number + '-' + warehouse code MAIN, for "
        "an order split over several warehouses) is longer than Unleashed's 20 characters; "
        "shorten orders.order_number_prefix or the warehouse code"
    )


# --- property: the sales orders together are the Shopify order ---------------------------

line_specs = st.builds(
    LineSpec,
    sku=st.sampled_from(["TEE", "MUG", "CAP", "SOCK"]),
    quantity=st.integers(1, 20),
    unit_price=st.integers(1, 100_000).map(lambda c: D(c) / 100),
    rate=st.sampled_from([D(0), D("0.15"), D("0.1"), D("0.125")]),
    discount=st.sampled_from([D(0), D("0.1"), D("0.3333")]),
)
ship_specs = st.builds(ShipSpec, price=st.integers(1, 5_000).map(lambda c: D(c) / 100))
LOCATIONS = [MAIN_LOC, WEST_LOC, SHOP_LOC, ELSEWHERE]


@st.composite
def assigned_orders(draw: st.DrawFn) -> tuple[OrderSpec, dict[str, Any]]:
    spec = OrderSpec(
        lines=draw(st.lists(line_specs, min_size=1, max_size=8)),
        taxes_included=draw(st.booleans()),
        shipping=draw(st.lists(ship_specs, max_size=1)),
    )
    ids = [line_id(n + 1) for n in range(len(spec.lines))]
    by_location: dict[str, list[str]] = {}
    for lid in ids:
        if draw(st.integers(0, 9)) == 0:
            continue  # in no fulfilment order: the fallback warehouse
        by_location.setdefault(draw(st.sampled_from(LOCATIONS)), []).append(lid)
    extra: dict[str, Any] = {
        "fulfillmentOrders": {
            "nodes": [fulfillment_order(loc, lids) for loc, lids in by_location.items()]
        }
    }
    if draw(st.integers(0, 5)) == 0:
        extra["retailLocation"] = {"id": draw(st.sampled_from(LOCATIONS))}
    return spec, extra


def sold(payload_lines: list[dict[str, Any]]) -> Counter[str]:
    """Units per product code (charges by description), over sales-order lines."""
    units: Counter[str] = Counter()
    for line in payload_lines:
        product = line["Product"]
        units[product.get("ProductCode") or product["ProductDescription"]] += line["OrderQuantity"]
    return units


@settings(max_examples=200, deadline=None)
@given(assigned_orders())
def test_split_sales_orders_together_equal_the_shopify_order(
    case: tuple[OrderSpec, dict[str, Any]],
) -> None:
    spec, extra = case
    order = order_node(spec, **extra)
    whole = map_sales_order(order, SETTINGS, guid=sales_order_guid(SHOP, GID), customer_code="C")
    warehouses = line_warehouses(order, RULES)
    parts = split_sales_order(whole, warehouses, RULES, shop=SHOP, order_gid=GID)

    # One sales order per warehouse the lines landed in, each with its own Guid and number.
    assert sorted(p.warehouse for p in parts) == sorted(set(warehouses.values()))
    assert len({p.guid for p in parts}) == len(parts)
    assert len({p.payload["OrderNumber"] for p in parts}) == len(parts)
    if len(parts) == 1:
        assert parts[0].guid == whole.guid
        assert parts[0].payload["OrderNumber"] == "SH-1001"

    # The lines, taken together, are the Shopify order's lines (and its shipping).
    expected: Counter[str] = Counter()
    for line in spec.lines:
        expected[str(line.sku)] += line.quantity
    together: Counter[str] = Counter()
    for part in parts:
        together += sold(part.payload["SalesOrderLines"])
        for line in part.payload["SalesOrderLines"]:
            if line.get("LineType") == "Charge":
                assert part is parts[0]  # shipping only on the first sales order
    shipping = Counter({"Standard": len(spec.shipping)}) if spec.shipping else Counter()
    assert together == expected + shipping

    # Each passes Unleashed's totals rule; together they are the whole order's totals, which
    # are within a cent per line of Shopify's.
    for part in parts:
        pairs = []
        for line in part.payload["SalesOrderLines"]:
            expected_pair = line_totals(
                D(line["OrderQuantity"]), line["UnitPrice"], line["TaxRate"]
            )
            assert (line["LineTotal"], line["LineTax"]) == expected_pair
            pairs.append(expected_pair)
        totals = (part.payload["SubTotal"], part.payload["TaxTotal"], part.payload["Total"])
        assert totals == order_totals(pairs)
    assert sum((p.payload["Total"] for p in parts), D(0)) == whole.payload["Total"]
    assert sum((p.payload["TaxTotal"] for p in parts), D(0)) == whole.payload["TaxTotal"]
    tolerance = D("0.01") * (len(spec.lines) + 1)
    assert abs(sum((p.payload["Total"] for p in parts), D(0)) - shopify_total(spec)) <= tolerance
