"""The fulfilment planner: matching shipments to fulfilment orders, holds and conflicts."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncer.fulfillments.planner import (
    FulfillmentPlan,
    applied_verdict,
    plan_fulfillments,
    remaining_by_line,
    sent_quantities,
    several_locations,
    tracking_info,
)

MAIN = "gid://shopify/Location/1"
WEST = "gid://shopify/Location/2"


def shipment(
    number: str = "SS-1",
    *lines: tuple[str, Any],
    order_number: str = "SH-1001",
    status: str = "Dispatched",
    company: str | None = "NZ Post",
    tracking: str | None = "QB0667623375",
    warehouse: str = "MAIN",
) -> dict[str, Any]:
    return {
        "Guid": f"guid-{number}",
        "ShipmentNumber": number,
        "OrderNumber": order_number,
        "ShipmentStatus": status,
        "TrackingNumber": tracking,
        "ShippingCompany": company,
        "DispatchDate": "/Date(1764151200000)/",
        "Warehouse": {"WarehouseCode": warehouse},
        "SalesShipmentLines": [
            {"Product": {"ProductCode": sku}, "ShipmentQty": qty, "SalesOrderLineNumber": n}
            for n, (sku, qty) in enumerate(lines or [("TEE", 2), ("CAP", 1)], start=1)
        ],
    }


def fulfillment_order(
    fo_id: str, location: str, *lines: tuple[str, str, int], status: str = "OPEN"
) -> dict[str, Any]:
    """`lines` are (fulfilment order line item id, SKU, remaining quantity)."""
    return {
        "id": f"gid://shopify/FulfillmentOrder/{fo_id}",
        "status": status,
        "assignedLocation": {"location": {"id": location}},
        "lineItems": {
            "nodes": [
                {
                    "id": f"gid://shopify/FulfillmentOrderLineItem/{line_id}",
                    "remainingQuantity": remaining,
                    "totalQuantity": remaining,
                    "lineItem": {"id": f"gid://shopify/LineItem/{line_id}", "sku": sku},
                }
                for line_id, sku, remaining in lines
            ]
        },
    }


def shopify_order(*fulfillment_orders: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "id": "gid://shopify/Order/1001",
        "name": "#1001",
        "cancelledAt": None,
        "displayFulfillmentStatus": "UNFULFILLED",
        "fulfillmentOrders": {
            "nodes": list(fulfillment_orders)
            or [fulfillment_order("1", MAIN, ("11", "TEE", 2), ("12", "CAP", 1))]
        },
        **fields,
    }


def run(
    shipments: list[dict[str, Any]],
    order: dict[str, Any] | None = None,
    fulfilled: set[str] | None = None,
    **kwargs: Any,
) -> FulfillmentPlan:
    orders = {"SH-1001": order or shopify_order()}
    return plan_fulfillments(shipments, orders, fulfilled or set(), **kwargs)


def line_items(fo_id: str, *pairs: tuple[str, int]) -> dict[str, Any]:
    return {
        "fulfillmentOrderId": f"gid://shopify/FulfillmentOrder/{fo_id}",
        "fulfillmentOrderLineItems": [
            {"id": f"gid://shopify/FulfillmentOrderLineItem/{line_id}", "quantity": qty}
            for line_id, qty in pairs
        ],
    }


# --- creates ---------------------------------------------------------------------------------


def test_full_shipment_is_one_create_with_every_line() -> None:
    result = run([shipment()])
    [create] = result.creates
    assert create.input == {
        "lineItemsByFulfillmentOrder": [line_items("1", ("11", 2), ("12", 1))],
        "notifyCustomer": False,
        "trackingInfo": {"company": "New Zealand Post", "number": "QB0667623375"},
    }
    assert (create.shipment_guid, create.order_name, create.location_gid) == (
        "guid-SS-1",
        "#1001",
        MAIN,
    )
    assert create.ledger_key == f"guid-SS-1@{MAIN}"
    [item] = result.items
    assert (item.entity, item.key, item.action, item.error) == (
        "fulfillment",
        "#1001/SS-1",
        "create",
        None,
    )
    assert item.detail["lines"] == [{"sku": "TEE", "quantity": 2}, {"sku": "CAP", "quantity": 1}]


CREATE_CASES = [
    pytest.param(
        [shipment("SS-1", ("TEE", 1))],
        shopify_order(),
        [[line_items("1", ("11", 1))]],
        id="partial-only-its-lines-and-quantities",
    ),
    pytest.param(
        [shipment("SS-1", ("TEE", "1.0000"), ("TEE", 1.0))],
        shopify_order(),
        [[line_items("1", ("11", 2))]],
        id="decimal-quantities-and-repeated-sku-add-up",
    ),
    pytest.param(
        [shipment("SS-1", ("TEE", 3))],
        shopify_order(
            fulfillment_order("1", MAIN, ("11", "TEE", 1)),
            fulfillment_order("2", MAIN, ("21", "TEE", 5)),
        ),
        [[line_items("1", ("11", 1)), line_items("2", ("21", 2))]],
        id="split-across-fulfilment-orders-of-one-location",
    ),
    pytest.param(
        [shipment("SS-1", ("TEE", 2), ("CAP", 1))],
        shopify_order(
            fulfillment_order("1", MAIN, ("11", "TEE", 2)),
            fulfillment_order("2", WEST, ("21", "CAP", 1)),
        ),
        [[line_items("1", ("11", 2))], [line_items("2", ("21", 1))]],
        id="two-locations-two-creates",
    ),
    pytest.param(
        [shipment("SS-1", ("TEE", 1), ("CAP", 0))],
        shopify_order(),
        [[line_items("1", ("11", 1))]],
        id="zero-quantity-line-left-out",
    ),
    pytest.param(
        [shipment("SS-1", ("TEE", 1)), shipment("SS-2", ("TEE", 1))],
        shopify_order(),
        [[line_items("1", ("11", 1))], [line_items("1", ("11", 1))]],
        id="two-shipments-of-one-order",
    ),
    pytest.param(
        [shipment("SS-1", ("TEE", 1), warehouse="WEST")],
        shopify_order(
            fulfillment_order("1", MAIN, ("11", "TEE", 1)),
            fulfillment_order("2", WEST, ("21", "TEE", 1)),
        ),
        [[line_items("2", ("21", 1))]],
        id="shipment-warehouse-location-first",
    ),
    pytest.param(
        [shipment("SS-1", ("TEE", 1))],
        shopify_order(
            fulfillment_order("1", MAIN, ("11", "TEE", 1), status="CLOSED"),
            fulfillment_order("2", MAIN, ("21", "TEE", 1), status="IN_PROGRESS"),
        ),
        [[line_items("2", ("21", 1))]],
        id="closed-fulfilment-order-skipped",
    ),
]


@pytest.mark.parametrize(("shipments", "order", "expected"), CREATE_CASES)
def test_creates(
    shipments: list[dict[str, Any]], order: dict[str, Any], expected: list[list[dict[str, Any]]]
) -> None:
    result = run(shipments, order, locations={"MAIN": MAIN, "WEST": WEST})
    assert [c.input["lineItemsByFulfillmentOrder"] for c in result.creates] == expected
    assert {item.action for item in result.items} == {"create"}
    for create in result.creates:
        locations = {
            fo["assignedLocation"]["location"]["id"]
            for fo in order["fulfillmentOrders"]["nodes"]
            for group in create.input["lineItemsByFulfillmentOrder"]
            if fo["id"] == group["fulfillmentOrderId"]
        }
        assert locations == {create.location_gid}


# --- nothing to do ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shipments", "fulfilled", "counts"),
    [
        pytest.param(
            [shipment()], {"guid-SS-1"}, {"already_fulfilled": 1}, id="ledger-says-fulfilled"
        ),
        pytest.param(
            [shipment(order_number="SO-00000042")], set(), {"not_ours": 1}, id="not-our-order"
        ),
        pytest.param(
            [shipment(status="Packed"), shipment("SS-2", status="Placed")],
            set(),
            {"not_dispatched": 2},
            id="not-dispatched-yet",
        ),
    ],
)
def test_nothing_planned(
    shipments: list[dict[str, Any]], fulfilled: set[str], counts: dict[str, int]
) -> None:
    result = run(shipments, fulfilled=fulfilled)
    assert (result.creates, result.items) == ([], [])
    assert result.detail() == {"already_fulfilled": 0, "not_ours": 0, "not_dispatched": 0, **counts}


# --- reported, not forced --------------------------------------------------------------------

REPORT_CASES = [
    pytest.param(
        [shipment()],
        shopify_order(cancelledAt="2026-11-20T10:00:00Z"),
        "conflict",
        "was cancelled at 2026-11-20T10:00:00Z",
        id="order-cancelled",
    ),
    pytest.param(
        [shipment()],
        shopify_order(displayFulfillmentStatus="FULFILLED"),
        "conflict",
        "is already fulfilled",
        id="order-already-fulfilled",
    ),
    pytest.param(
        [shipment("SS-1", ("TEE", 2), ("HAT", 1))],
        shopify_order(),
        "hold",
        "SKU HAT is not on Shopify order #1001",
        id="unknown-sku",
    ),
    pytest.param(
        [shipment("SS-1", ("TEE", 3))],
        shopify_order(),
        "hold",
        "shipment has 3 x TEE but Shopify order #1001 has only 2 left to fulfil",
        id="more-than-remaining",
    ),
    pytest.param(
        [shipment("SS-1", ("TEE", 2))],
        shopify_order(fulfillment_order("1", MAIN, ("11", "TEE", 0))),
        "hold",
        "has only 0 left to fulfil",
        id="no-remaining-quantity",
    ),
    pytest.param(
        [shipment("SS-1", ("TEE", 1))],
        shopify_order(fulfillment_order("1", MAIN, ("11", "TEE", 2), status="ON_HOLD")),
        "hold",
        "1 of 1 x TEE are on a fulfilment order that is ON_HOLD in Shopify",
        id="fulfilment-order-on-hold",
    ),
    pytest.param(
        [shipment("SS-1", ("TEE", "1.5"))],
        shopify_order(),
        "hold",
        "ShipmentQty of TEE is 1.5; Shopify fulfils whole units only",
        id="fractional-quantity",
    ),
    pytest.param(
        [shipment("SS-1", ("", 1))],
        shopify_order(),
        "hold",
        "shipment line 1 has no Product.ProductCode",
        id="line-without-product",
    ),
    pytest.param(
        [shipment("SS-1", ("TEE", 0))],
        shopify_order(),
        "hold",
        "shipment SS-1 has no lines with a quantity",
        id="empty-shipment",
    ),
    pytest.param(
        [{**shipment(), "SalesShipmentLines": "TEE x 2"}],
        shopify_order(),
        "hold",
        "SalesShipmentLines is not a list of lines: 'TEE x 2'",
        id="lines-not-a-list",
    ),
    pytest.param(
        [{**shipment(), "SalesShipmentLines": {"x": 1}}],
        shopify_order(),
        "hold",
        "SalesShipmentLines is not a list of lines",
        id="lines-an-object",
    ),
    pytest.param(
        [{**shipment(), "SalesShipmentLines": ["TEE", None]}],
        shopify_order(),
        "hold",
        "shipment line 1 is not an object: 'TEE'; shipment line 2 is not an object: None",
        id="line-not-an-object",
    ),
    pytest.param(
        [{**shipment(), "SalesShipmentLines": [{"Product": "TEE", "ShipmentQty": 1}]}],
        shopify_order(),
        "hold",
        "shipment line 1 has a Product that is not an object",
        id="product-not-an-object",
    ),
    pytest.param(
        [{**shipment(), "Guid": None}],
        shopify_order(),
        "fail",
        "has no Guid",
        id="shipment-without-guid",
    ),
]


@pytest.mark.parametrize(("shipments", "order", "action", "reason"), REPORT_CASES)
def test_reported_with_a_reason(
    shipments: list[dict[str, Any]], order: dict[str, Any], action: str, reason: str
) -> None:
    result = run(shipments, order)
    assert result.creates == []
    [item] = result.items
    assert (item.key, item.action) == ("#1001/SS-1", action)
    assert item.error is not None
    assert reason in item.error


def test_held_shipment_takes_nothing_from_later_ones() -> None:
    result = run([shipment("SS-1", ("TEE", 1), ("HAT", 1)), shipment("SS-2", ("TEE", 2))])
    assert [(i.key, i.action) for i in result.items] == [
        ("#1001/SS-1", "hold"),
        ("#1001/SS-2", "create"),
    ]
    assert result.creates[0].input["lineItemsByFulfillmentOrder"] == [line_items("1", ("11", 2))]


def test_second_shipment_beyond_what_is_left_is_held() -> None:
    result = run([shipment("SS-1", ("TEE", 2)), shipment("SS-2", ("TEE", 1))])
    assert [(i.key, i.action) for i in result.items] == [
        ("#1001/SS-1", "create"),
        ("#1001/SS-2", "hold"),
    ]


def test_partly_fulfilled_shipment_is_held_for_a_person() -> None:
    result = run([shipment()], fulfilled={f"guid-SS-1@{WEST}"})
    [item] = result.items
    assert item.action == "hold"
    assert item.error is not None
    assert f"fulfilled in Shopify only at {WEST}" in item.error


def test_notify_customer_is_passed_on() -> None:
    [create] = run([shipment()], notify_customer=True).creates
    assert create.input["notifyCustomer"] is True


@pytest.mark.parametrize(
    ("company", "number", "expected"),
    [
        pytest.param(
            "NZ Post", "QB1", {"company": "New Zealand Post", "number": "QB1"}, id="alias"
        ),
        pytest.param("fedex", "7777", {"company": "FedEx", "number": "7777"}, id="case"),
        pytest.param("Mainfreight", "MF9", {"company": "Mainfreight", "number": "MF9"}, id="as-is"),
        pytest.param(None, "  QB2 ", {"number": "QB2"}, id="number-only"),
        pytest.param("", None, {}, id="none"),
    ],
)
def test_tracking_info(company: str | None, number: str | None, expected: dict[str, str]) -> None:
    assert tracking_info(shipment(company=company, tracking=number)) == expected


def test_no_tracking_leaves_tracking_info_out() -> None:
    [create] = run([shipment(company=None, tracking=None)]).creates
    assert "trackingInfo" not in create.input


def test_fulfillment_input_matches_shopify_schema(shopify_reference: Any) -> None:
    from graphql import coerce_input_value

    order = shopify_order(
        fulfillment_order("1", MAIN, ("11", "TEE", 2)),
        fulfillment_order("2", WEST, ("21", "CAP", 1)),
    )
    result = run([shipment()], order)
    assert len(result.creates) == 2
    input_type = shopify_reference.get_type("FulfillmentInput")
    for create in result.creates:
        coerced = coerce_input_value(create.input, input_type)
        assert coerced["trackingInfo"]["number"] == "QB0667623375"


# --- properties ------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    remaining=st.lists(
        st.tuples(
            st.sampled_from(["TEE", "CAP"]), st.sampled_from([MAIN, WEST]), st.integers(0, 4)
        ),
        min_size=1,
        max_size=5,
    ),
    shipped=st.lists(
        st.lists(st.tuples(st.sampled_from(["TEE", "CAP", "HAT"]), st.integers(0, 5)), max_size=3),
        min_size=1,
        max_size=4,
    ),
)
def test_allocation_properties(
    remaining: list[tuple[str, str, int]], shipped: list[list[tuple[str, int]]]
) -> None:
    order = shopify_order(
        *(
            fulfillment_order(str(n), location, (f"{n}1", sku, left))
            for n, (sku, location, left) in enumerate(remaining)
        )
    )
    shipments = [shipment(f"SS-{n}", *lines) for n, lines in enumerate(shipped) if lines]
    result = run(shipments, order)
    left = {
        f"gid://shopify/FulfillmentOrderLineItem/{n}1": r for n, (_, _, r) in enumerate(remaining)
    }
    sku_of = {
        f"gid://shopify/FulfillmentOrderLineItem/{n}1": s for n, (s, _, _) in enumerate(remaining)
    }
    created = {item.key for item in result.items if item.action == "create"}
    for number, lines in enumerate(shipped):
        creates = [c for c in result.creates if c.shipment_number == f"SS-{number}"]
        sent: dict[str, int] = {}
        for create in creates:
            assert len({c.location_gid for c in creates}) == len(creates)  # one per location
            for group in create.input["lineItemsByFulfillmentOrder"]:
                for line in group["fulfillmentOrderLineItems"]:
                    assert line["quantity"] > 0
                    left[line["id"]] -= line["quantity"]
                    sent[sku_of[line["id"]]] = sent.get(sku_of[line["id"]], 0) + line["quantity"]
        wanted: dict[str, int] = {}
        for sku, qty in lines:
            if qty:
                wanted[sku] = wanted.get(sku, 0) + qty
        if creates:
            assert f"#1001/SS-{number}" in created
            assert sent == wanted  # a shipment is fulfilled whole, never in part
    assert all(value >= 0 for value in left.values())  # never more than Shopify has left


@pytest.mark.parametrize(
    ("before", "sent", "now", "verdict"),
    [
        pytest.param({"a": 3, "b": 1}, {"a": 2, "b": 1}, {"a": 1, "b": 0}, "applied", id="applied"),
        pytest.param({"a": 3}, {"a": 2}, {"a": 0}, "applied", id="applied-and-more-since"),
        pytest.param(
            {"a": 3, "b": 1}, {"a": 2, "b": 1}, {"a": 3, "b": 1}, "not_applied", id="same"
        ),
        pytest.param({"a": 3, "b": 1}, {"a": 2, "b": 1}, {"a": 1, "b": 1}, "unclear", id="mixed"),
        pytest.param({"a": 3}, {"a": 2}, {"a": 2}, "unclear", id="dropped-by-less"),
        pytest.param({"a": 3}, {"a": 2}, {}, "unclear", id="line-gone"),
        pytest.param({}, {}, {}, "unclear", id="nothing-sent"),
    ],
)
def test_applied_verdict(
    before: dict[str, int], sent: dict[str, int], now: dict[str, int], verdict: str
) -> None:
    assert applied_verdict(before, sent, now) == verdict


def test_sent_quantities_sum_a_line_sent_in_two_groups() -> None:
    fulfillment_input = {
        "lineItemsByFulfillmentOrder": [
            {"fulfillmentOrderLineItems": [{"id": "a", "quantity": 2}, {"id": "b", "quantity": 1}]},
            {"fulfillmentOrderLineItems": [{"id": "a", "quantity": 1}]},
        ]
    }
    assert sent_quantities(fulfillment_input) == {"a": 3, "b": 1}
    assert sent_quantities({}) == {}


def test_remaining_by_line_reads_every_fulfillment_order() -> None:
    fulfillment_orders = [
        {"lineItems": {"nodes": [{"id": "a", "remainingQuantity": 2}, {"id": "b"}]}},
        {"lineItems": {"nodes": [{"id": "c", "remainingQuantity": 5}]}},
        {},
    ]
    assert remaining_by_line(fulfillment_orders) == {"a": 2, "b": 0, "c": 5}


def _at(*gids: str | None) -> dict[str, Any]:
    return {
        "fulfillmentOrders": {
            "nodes": [{"assignedLocation": {"location": {"id": gid}}} for gid in gids]
        }
    }


@pytest.mark.parametrize(
    ("orders", "expected"),
    [
        pytest.param({}, False, id="no-orders"),
        pytest.param({"SO-1": _at(MAIN, MAIN), "SO-2": _at(WEST)}, False, id="one-each"),
        pytest.param({"SO-1": _at(MAIN), "SO-2": _at(MAIN, WEST)}, True, id="one-order-split"),
        pytest.param({"SO-1": {}}, False, id="no-fulfillment-orders"),
    ],
)
def test_several_locations(orders: dict[str, Any], expected: bool) -> None:
    assert several_locations(orders) is expected
