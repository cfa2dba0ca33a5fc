"""In flight: a sent order Unleashed has not allocated counts all its units, fulfilled in
Shopify or not, where it was sold or assigned."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncer.inventory.planner import in_flight, in_flight_lines

MAIN = "gid://shopify/Location/1"
WEST = "gid://shopify/Location/2"
STORE = "gid://shopify/Location/3"
GID = "gid://shopify/Order/1"


def order(
    lines: list[tuple[str, int, str | None, str]],
    *,
    retail: str | None = None,
    with_ids: bool = True,
) -> dict[str, Any]:
    """lines: (sku, currentQuantity, assigned location or None, fulfilment order status)."""
    fos: dict[tuple[str, str], list[dict[str, Any]]] = {}
    nodes = []
    for n, (sku, quantity, location, status) in enumerate(lines, start=1):
        line_id = f"gid://shopify/LineItem/{n}"
        nodes.append(
            {"id": line_id, "sku": sku, "currentQuantity": quantity}
            if with_ids
            else {"sku": sku, "currentQuantity": quantity}
        )
        if location is not None:
            fos.setdefault((location, status), []).append(
                {
                    "lineItem": {"id": line_id},
                    "totalQuantity": quantity,
                    "sku": sku,
                    "remainingQuantity": 0 if status == "CLOSED" else quantity,
                }
            )
    return {
        "id": GID,
        "cancelledAt": None,
        "displayFinancialStatus": "PAID",
        "retailLocation": {"id": retail} if retail else None,
        "lineItems": {"pageInfo": {"hasNextPage": False}, "nodes": nodes},
        "fulfillmentOrders": {
            "nodes": [
                {
                    "status": status,
                    "assignedLocation": {"location": {"id": loc}},
                    "lineItems": {"nodes": items},
                }
                for (loc, status), items in fos.items()
            ]
        },
    }


def units(node: dict[str, Any], status: str | None) -> dict[tuple[str, str], int]:
    lines = in_flight_lines(
        [node], {GID: status}, unallocated_statuses=["Parked"], default_location_gid=MAIN
    )
    return in_flight(lines)


@pytest.mark.parametrize(
    ("node", "status", "expected"),
    [
        pytest.param(
            order([("TEE", 3, STORE, "CLOSED")], retail=STORE),
            "Parked",
            {("TEE", STORE): 3},
            id="pos-sale-parked-counts-all",
        ),
        pytest.param(
            order([("TEE", 3, STORE, "CLOSED")], retail=STORE),
            "Placed",
            {},
            id="pos-sale-allocated-counts-nothing",
        ),
        pytest.param(
            order([("TEE", 2, WEST, "CLOSED"), ("MUG", 1, MAIN, "OPEN")]),
            "Parked",
            {("TEE", WEST): 2, ("MUG", MAIN): 1},
            id="fulfilled-in-shopify-parked-counts-all-at-assigned",
        ),
        pytest.param(
            order([("TEE", 2, None, "OPEN")]),
            "Parked",
            {("TEE", MAIN): 2},
            id="no-fulfilment-order-default-location",
        ),
        pytest.param(
            order([("TEE", 2, WEST, "CLOSED"), ("MUG", 1, MAIN, "OPEN")]),
            None,
            {("MUG", MAIN): 1},
            id="unsent-keeps-open-units-rule",
        ),
        pytest.param(
            order([("TEE", 2, WEST, "CLOSED"), ("MUG", 1, MAIN, "OPEN")], with_ids=False),
            "Parked",
            {("MUG", MAIN): 1},
            id="without-line-ids-open-units-rule",
        ),
    ],
)
def test_sent_unallocated_units(
    node: dict[str, Any], status: str | None, expected: dict[tuple[str, str], int]
) -> None:
    assert units(node, status) == expected


lines_strategy = st.lists(
    st.tuples(
        st.sampled_from(["TEE", "MUG", "CAP"]),
        st.integers(0, 9),
        st.sampled_from([MAIN, WEST, STORE, None]),
        st.sampled_from(["OPEN", "CLOSED", "IN_PROGRESS"]),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(lines_strategy, st.sampled_from([None, STORE]))
def test_parked_order_counts_every_current_unit_once(
    lines: list[tuple[str, int, str | None, str]], retail: str | None
) -> None:
    counted = units(order(lines, retail=retail), "Parked")
    # Every current unit, fulfilled or not, exactly once; never fewer than the open rule.
    assert sum(counted.values()) == sum(q for _, q, _, _ in lines)
    open_rule = units(order(lines, retail=retail), None)
    for sku in {s for s, _, _, _ in lines}:
        assert sum(v for (k, _), v in counted.items() if k == sku) >= sum(
            v for (k, _), v in open_rule.items() if k == sku
        )
    if retail:
        assert set(loc for _, loc in counted) <= {STORE}
