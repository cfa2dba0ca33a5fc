"""After-import detection (issue 8): edits, cancellations and refunds, each reported once."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from order_factory import LineSpec, OrderSpec, ShipSpec, line_node, order_node, refund_node

from syncer.orders.events import OrderEvent, SentSnapshot, detect_events
from syncer.orders.mapping import MappingError, OrderSettings, map_sales_order

D = Decimal
SPEC = OrderSpec(
    [LineSpec("TEE", 3, D("20.00")), LineSpec("MUG", 2, D("9.00"))],
    shipping=[ShipSpec(D("5.00"))],
)


def sent_order() -> tuple[dict[str, Any], SentSnapshot]:
    node = order_node(SPEC)
    mapped = map_sales_order(node, OrderSettings(), guid="g", customer_code="C1")
    snapshot = SentSnapshot.from_json(SentSnapshot.from_mapped(mapped).to_json())  # via the store
    return node, snapshot


def line(node: dict[str, Any], index: int) -> dict[str, Any]:
    return node["lineItems"]["nodes"][index]


def keys(events: list[OrderEvent]) -> list[str]:
    return [event.key for event in events]


def test_unchanged_order_has_no_events() -> None:
    node, sent = sent_order()
    assert detect_events(node, sent, set()) == []


def test_edit_is_one_conflict_with_line_difference_reported_once() -> None:
    node, sent = sent_order()
    node["edited"] = True
    line(node, 0)["currentQuantity"] = 1
    events = detect_events(node, sent, set())
    assert len(events) == 1
    (event,) = events
    assert (event.entity, event.action) == ("order", "conflict")
    assert event.key.startswith("conflict:")
    assert event.detail["edited"] is True
    assert event.detail["lines"] == [
        {
            "line_id": "gid://shopify/LineItem/1",
            "sku": "TEE",
            "change": "quantity",
            "sent": 3,
            "refunded_since": 0,
            "expected": 3,
            "current": 1,
        }
    ]
    # The same state on the next run: already reported, nothing new.
    assert detect_events(node, sent, {event.key}) == []
    # A further edit is a new conflict.
    line(node, 1)["currentQuantity"] = 0
    again = detect_events(node, sent, {event.key})
    assert len(again) == 1
    assert again[0].key != event.key
    assert [d["change"] for d in again[0].detail["lines"]] == ["quantity", "removed"]


def test_added_line_and_price_change_are_conflicts() -> None:
    node, sent = sent_order()
    node["edited"] = True
    node["lineItems"]["nodes"].append(
        line_node(LineSpec("CAP", 1, D("15.00"), line_id="gid://shopify/LineItem/9"), 9, False)
    )
    line(node, 1)["discountedUnitPriceAfterAllDiscountsSet"]["shopMoney"]["amount"] = "8.00"
    (event,) = detect_events(node, sent, set())
    changes = {(d["sku"], d["change"]) for d in event.detail["lines"]}
    assert changes == {("CAP", "added"), ("MUG", "price")}


def test_edited_flag_alone_is_a_conflict() -> None:
    node, sent = sent_order()
    node["edited"] = True
    (event,) = detect_events(node, sent, set())
    assert event.action == "conflict"
    assert event.detail == {"edited": True, "lines": []}


def test_refund_is_reported_and_is_not_a_conflict() -> None:
    node, sent = sent_order()
    tee = line(node, 0)
    ship = node["shippingLines"]["nodes"][0]
    refund = refund_node(
        "gid://shopify/Refund/77",
        [(tee, 2, D("40.00"), D("6.00"))],
        [(ship, D("5.00"), D("0.75"))],
    )
    node["refunds"] = [refund]
    tee["currentQuantity"] = 1  # Shopify drops refunded units from currentQuantity
    events = detect_events(node, sent, set())
    assert keys(events) == ["refund:gid://shopify/Refund/77"]
    (event,) = events
    assert (event.entity, event.action) == ("refund", "refund")
    assert event.detail["lines"] == [
        {
            "line_id": "gid://shopify/LineItem/1",
            "sku": "TEE",
            "quantity": 2,
            "restock_type": "RETURN",
            "subtotal": "40.00",
            "tax": "6.00",
        }
    ]
    assert event.detail["shipping"] == [{"title": "Standard", "subtotal": "5.00", "tax": "0.75"}]
    assert event.detail["total"] == "51.75"
    assert detect_events(node, sent, {event.key}) == []


def test_refund_after_reported_edit_does_not_repeat_the_conflict() -> None:
    node, sent = sent_order()
    node["edited"] = True
    line(node, 1)["currentQuantity"] = 1  # edit: MUG 2 -> 1
    (conflict,) = detect_events(node, sent, set())
    tee = line(node, 0)
    node["refunds"] = [refund_node("gid://shopify/Refund/5", [(tee, 1, D("20.00"), D("3.00"))])]
    tee["currentQuantity"] = 2
    events = detect_events(node, sent, {conflict.key})
    assert keys(events) == ["refund:gid://shopify/Refund/5"]


def test_unexplained_drop_beyond_refund_is_a_conflict() -> None:
    node, sent = sent_order()
    tee = line(node, 0)
    node["refunds"] = [refund_node("gid://shopify/Refund/5", [(tee, 1, D("20.00"), D("3.00"))])]
    tee["currentQuantity"] = 0  # one unit refunded, two more removed by an edit
    events = detect_events(node, sent, set())
    assert [e.action for e in events] == ["refund", "conflict"]
    (difference,) = events[1].detail["lines"]
    assert (difference["expected"], difference["current"], difference["change"]) == (
        2,
        0,
        "removed",
    )


def test_refunds_present_when_sent_are_not_reported() -> None:
    node = order_node(SPEC)
    tee = line(node, 0)
    node["refunds"] = [refund_node("gid://shopify/Refund/1", [(tee, 1, D("20.00"), D("3.00"))])]
    tee["currentQuantity"] = 2
    mapped = map_sales_order(node, OrderSettings(), guid="g", customer_code="C1")
    sent = SentSnapshot.from_mapped(mapped)
    assert sent.lines["gid://shopify/LineItem/1"]["quantity"] == 2
    assert detect_events(node, sent, set()) == []


def test_cancellation_is_one_cancelled_event_without_conflict() -> None:
    node, sent = sent_order()
    node["cancelledAt"] = "2026-11-04T08:00:00Z"
    node["cancelReason"] = "CUSTOMER"
    for item in node["lineItems"]["nodes"]:
        item["currentQuantity"] = 0
    events = detect_events(node, sent, set())
    assert len(events) == 1
    (event,) = events
    assert (event.entity, event.action, event.key) == ("order", "cancelled", "cancelled")
    assert event.detail["cancelled_at"] == "2026-11-04T08:00:00Z"
    assert detect_events(node, sent, {"cancelled"}) == []


def test_event_becomes_a_report_item_keyed_by_order_name() -> None:
    node, sent = sent_order()
    node["cancelledAt"] = "2026-11-04T08:00:00Z"
    item = detect_events(node, sent, set())[0].to_item("#1001")
    assert (item.entity, item.key, item.action) == ("order", "#1001", "cancelled")
    assert item.detail["event"] == "cancelled"


@pytest.mark.parametrize(
    ("break_it", "field"),
    [
        pytest.param(lambda o: o.pop("refunds"), "order.refunds", id="no-refunds"),
        pytest.param(
            lambda o: o.update(refunds=[{"note": "x"}]), r"refunds\[0\].id", id="refund-id"
        ),
        pytest.param(
            lambda o: o["lineItems"]["nodes"][0].update(currentQuantity=None),
            "currentQuantity",
            id="quantity",
        ),
    ],
)
def test_bad_input_is_a_mapping_error(break_it: Any, field: str) -> None:
    node, sent = sent_order()
    broken = copy.deepcopy(node)
    break_it(broken)
    with pytest.raises(MappingError, match=field):
        detect_events(broken, sent, set())


def test_snapshot_from_json_rejects_foreign_data() -> None:
    with pytest.raises(ValueError, match="lines"):
        SentSnapshot.from_json({"quantity": 3})
